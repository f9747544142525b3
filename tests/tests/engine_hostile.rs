//! Hostile peers against the engine, in the same run as a good libtorrent
//! leecher: whatever a peer sends (or does not send), the engine closes
//! that one connection, keeps its memory bounded, keeps serving everyone
//! else, and never panics.
//!
//! The peers are hand-written here with `std::net` and the engine's own
//! wire encoder (`seedcore_protocol::wire`), so each sends exactly the bytes
//! named:
//! - a garbage handshake (an HTTP request);
//! - a valid handshake for an info-hash the seed does not have;
//! - a valid handshake, then a length prefix of 4 GiB;
//! - a request that runs past the end of its piece (no Fast extension, so
//!   it cannot be answered with `reject request`);
//! - a bitfield too long, and one too short, for the torrent's pieces;
//! - 100,000 requests from a peer that never reads, and 250 requests
//!   from a peer that never reads through a 4 KiB receive buffer (the
//!   seed's sends back up: closed by the stall timeout, set to 3 s): both
//!   connections must be closed, and the seed's resident memory (`VmRSS`)
//!   must stay within 64 MiB of what it was before the attack;
//! - a peer that connects and never sends a byte: closed after the
//!   handshake timeout, set to 2 s through the configuration file.
//!
//! "Closed" means a read returns end-of-file or a reset (or, for the peer
//! that never reads, a write fails) within a bound; every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use seedcore_protocol::wire::{BlockRequest, Handshake, Message, Reserved};
use seedcore_tests::live::rss_kib_of;
use seedcore_tests::*;
use socket2::{Domain, Socket, Type};

/// The seed's handshake timeout in this test.
const HANDSHAKE_TIMEOUT: &str = "2s";
/// The seed's stalled-send timeout in this test.
const STALL_TIMEOUT: &str = "3s";
/// How long a misbehaving connection may stay open.
const CLOSE_BOUND: Duration = Duration::from_secs(15);
/// Requests the never-reading peer sends.
const FLOOD: u32 = 100_000;
/// How much the seed's memory may grow during the attack.
const RSS_BOUND_KIB: u64 = 64 << 10;

#[derive(Clone, Copy)]
struct Target {
    addr: SocketAddr,
    info_hash: [u8; 20],
    piece_length: u32,
    piece_count: u32,
}

fn connect(t: &Target) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&t.addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot connect: {e}"))?;
    s.set_nodelay(true).ok();
    Ok(s)
}

/// A plain handshake (no extension bits: no Fast, no LTEP).
fn handshake(info_hash: [u8; 20], tag: u8) -> Vec<u8> {
    let mut id = *b"-XX0001-hostilepeer0";
    id[19] = tag;
    Handshake::new(Reserved::EMPTY, info_hash, id)
        .to_bytes()
        .to_vec()
}

fn encode(msgs: &[Message<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        m.encode(&mut out).expect("encodable message");
    }
    out
}

/// Reads (and drops) whatever the seed sends until it closes the
/// connection: `Ok` says how, `Err` when it is still open after `bound`.
fn wait_closed(s: &mut TcpStream, bound: Duration) -> Result<String, String> {
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let deadline = Instant::now() + bound;
    let mut buf = vec![0u8; 64 << 10];
    let mut got = 0usize;
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(format!("closed (EOF after {got} bytes from the seed)")),
            Ok(n) => got += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted) => {}
            Err(e) => return Ok(format!("closed ({e} after {got} bytes from the seed)")),
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "still open after {bound:?} ({got} bytes from the seed)"
            ));
        }
    }
}

/// Sends `bytes`, then waits for the seed to close the connection.
fn send_then_closed(t: &Target, bytes: &[u8]) -> Result<String, String> {
    let mut s = connect(t)?;
    // The seed may close before all of it is written: that is a close too.
    if let Err(e) = s.write_all(bytes) {
        return Ok(format!("closed while we wrote ({e})"));
    }
    wait_closed(&mut s, CLOSE_BOUND)
}

fn garbage_handshake(t: &Target) -> Result<String, String> {
    let mut junk = b"GET /announce?info_hash=x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec();
    junk.resize(68, b'!');
    send_then_closed(t, &junk)
}

fn unknown_info_hash(t: &Target) -> Result<String, String> {
    send_then_closed(t, &handshake([0x5A; 20], b'u'))
}

fn four_gib_length_prefix(t: &Target) -> Result<String, String> {
    let mut b = handshake(t.info_hash, b'l');
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    b.push(7); // "piece", then nothing of the 4 GiB announced
    b.extend_from_slice(&[0u8; 64]);
    send_then_closed(t, &b)
}

fn request_past_piece_end(t: &Target) -> Result<String, String> {
    let mut b = handshake(t.info_hash, b'r');
    b.extend(encode(&[
        Message::Interested,
        Message::Request(BlockRequest {
            index: 0,
            begin: t.piece_length - 8192,
            length: 16_384,
        }),
    ]));
    send_then_closed(t, &b)
}

fn bitfield_of(t: &Target, tag: u8, len: usize) -> Result<String, String> {
    let mut b = handshake(t.info_hash, tag);
    let bits = vec![0u8; len];
    b.extend(encode(&[Message::Bitfield(&bits)]));
    send_then_closed(t, &b)
}

fn long_bitfield(t: &Target) -> Result<String, String> {
    bitfield_of(t, b'b', t.piece_count.div_ceil(8) as usize + 9)
}

fn short_bitfield(t: &Target) -> Result<String, String> {
    bitfield_of(
        t,
        b'c',
        (t.piece_count.div_ceil(8) as usize)
            .saturating_sub(3)
            .max(1),
    )
}

fn silent_peer(t: &Target) -> Result<String, String> {
    let mut s = connect(t)?;
    wait_closed(&mut s, CLOSE_BOUND)
}

/// Reads the seed's handshake and messages until it unchokes us.
fn read_until_unchoked(s: &mut TcpStream, t: &Target) -> Result<(), String> {
    let target = seedcore_tests::rawpeer::Target {
        addr: t.addr,
        info_hash: t.info_hash,
        piece_count: t.piece_count,
    };
    seedcore_tests::rawpeer::read_until_unchoked(s, &target, CLOSE_BOUND)
}

/// A peer that asks for `requests` blocks once unchoked and then never
/// reads again (with `rcvbuf`, through a receive buffer that small, so the
/// seed's sends back up at once). Returns how the connection ended.
fn never_reads(
    t: &Target,
    tag: u8,
    requests: u32,
    rcvbuf: Option<usize>,
) -> Result<String, String> {
    let socket =
        Socket::new(Domain::IPV4, Type::STREAM, None).map_err(|e| format!("socket: {e}"))?;
    if let Some(size) = rcvbuf {
        socket
            .set_recv_buffer_size(size)
            .map_err(|e| format!("SO_RCVBUF: {e}"))?;
    }
    socket
        .connect_timeout(&t.addr.into(), Duration::from_secs(5))
        .map_err(|e| format!("cannot connect: {e}"))?;
    let mut s: TcpStream = socket.into();
    let mut hello = handshake(t.info_hash, tag);
    hello.extend(encode(&[Message::Interested]));
    s.write_all(&hello).map_err(|e| format!("handshake: {e}"))?;
    read_until_unchoked(&mut s, t)?;

    // Every piece but the last (which may be shorter than a block).
    let full_pieces = t.piece_count.saturating_sub(1).max(1);
    let mut out = Vec::with_capacity(requests as usize * 17);
    for i in 0..requests {
        Message::Request(BlockRequest {
            index: i % full_pieces,
            begin: 0,
            length: 16_384,
        })
        .encode(&mut out)
        .expect("encodable request");
    }
    // Writes block once the seed stops reading: a timeout makes each one
    // return so the deadline is checked. After the requests come
    // keep-alives: a write to a connection the seed has closed fails,
    // which tells us so without reading.
    s.set_write_timeout(Some(Duration::from_millis(200))).ok();
    let bound = CLOSE_BOUND + Duration::from_secs(10);
    let deadline = Instant::now() + bound;
    let mut at = 0usize;
    let keepalive = [0u8; 4];
    loop {
        let rest = out.get(at..).unwrap_or(&[]);
        let chunk = if rest.is_empty() {
            &keepalive[..]
        } else {
            rest
        };
        match s.write(chunk) {
            Ok(_) if rest.is_empty() => thread::sleep(Duration::from_millis(100)),
            Ok(n) => at += n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                return Ok(format!(
                    "closed ({e}) after {} of {requests} requests were written",
                    at / 17
                ))
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "still open {bound:?} after the requests started ({} of {requests} written, \
                 none of the seed's data read since)",
                at / 17
            ));
        }
    }
}

fn request_flood(t: &Target) -> Result<String, String> {
    never_reads(t, b'f', FLOOD, None)
}

fn stalled_reader(t: &Target) -> Result<String, String> {
    never_reads(t, b's', 250, Some(4096))
}

#[test]
fn hostile_peers_are_closed_while_a_good_leecher_finishes() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, 601);
    let torrent = data.join("nested.torrent");
    let info = seedcore_create(&top, &torrent, &["--piece-size", "32768"]);
    let v1 = json_opt_hex(&info, "info_hash_v1").expect("v1 torrent");
    let mut info_hash = [0u8; 20];
    for (i, b) in info_hash.iter_mut().enumerate() {
        *b = u8::from_str_radix(&v1[2 * i..2 * i + 2], 16).unwrap();
    }

    let mut seed = Seed::new(&torrent)
        .config(&format!("handshake_timeout = \"{HANDSHAKE_TIMEOUT}\""))
        .config(&format!("stall_timeout = \"{STALL_TIMEOUT}\""))
        // Every peer here, the good leecher too, connects from 127.0.0.1:
        // the per-address limit would refuse them before their behaviour
        // is exercised (engine_lockout tests that limit).
        .config("max_peers_per_ip = 0")
        .start(dir);
    let seed_pid = seed.live().pid();
    let target = Target {
        addr: seed.addr(),
        info_hash,
        piece_length: u32::try_from(json_u64(&info, "piece_length")).unwrap(),
        piece_count: u32::try_from(json_u64(&info, "piece_count")).unwrap(),
    };

    // The good leecher runs through all of it.
    let save = dir.join("leech");
    let leech = LtLeech::start(
        &[seed.addr()],
        &[LtJob {
            name: "good".into(),
            source: LtSource::Torrent(torrent.clone()),
            save: save.clone(),
        }],
        Duration::from_secs(50),
    );

    type Peer = fn(&Target) -> Result<String, String>;
    let peers: [(&str, Peer); 9] = [
        ("garbage handshake", garbage_handshake),
        ("unknown info-hash", unknown_info_hash),
        ("4 GiB length prefix", four_gib_length_prefix),
        ("request past the end of a piece", request_past_piece_end),
        ("bitfield too long", long_bitfield),
        ("bitfield too short", short_bitfield),
        ("silent peer (handshake timeout)", silent_peer),
        ("100,000 requests, never reading", request_flood),
        (
            "250 requests, 4 KiB receive buffer, never reading (stall timeout)",
            stalled_reader,
        ),
    ];
    let before = rss_kib_of(seed_pid).expect("the seed's RSS");
    let handles: Vec<_> = peers
        .iter()
        .map(|&(name, f)| (name, thread::spawn(move || f(&target))))
        .collect();
    // The seed's memory while they all run.
    let mut peak = before;
    while handles.iter().any(|(_, h)| !h.is_finished()) {
        if let Some(kib) = rss_kib_of(seed_pid) {
            peak = peak.max(kib);
        }
        thread::sleep(Duration::from_millis(50));
    }
    let mut results: Vec<(String, Result<String, String>)> = handles
        .into_iter()
        .map(|(name, h)| {
            let r = h
                .join()
                .unwrap_or_else(|_| Err("the peer thread panicked".into()));
            (name.to_string(), r)
        })
        .collect();
    let growth = peak.saturating_sub(before);
    let rss = format!("RSS {before} KiB before, peak {peak} KiB");
    results.push((
        "seed memory under attack".into(),
        if growth < RSS_BOUND_KIB {
            Ok(rss)
        } else {
            Err(format!(
                "{rss}: grew by {growth} KiB, over the {RSS_BOUND_KIB} KiB bound"
            ))
        },
    ));
    let summary: String = results
        .iter()
        .map(|(n, r)| match r {
            Ok(how) => format!("  ok   {n}: {how}\n"),
            Err(why) => format!("  FAIL {n}: {why}\n"),
        })
        .collect();
    eprintln!("hostile peers:\n{summary}");
    seed.assert_alive();
    assert!(
        results.iter().all(|(_, r)| r.is_ok()),
        "every hostile connection should be closed by the seed:\n{summary}\n{seed}"
    );

    let report = leech.finish(&|| seed.to_string());
    assert_eq!(report["leechers"][0]["hash_failures"], 0, "{report}");
    assert_same_files(&top, &save.join("nested"), &files, false);
    assert_verifies(&torrent, &save);
    seed.stop();
}
