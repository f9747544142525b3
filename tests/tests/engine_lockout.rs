//! Lock-out (issue 8): connections that fill the node must not keep a good
//! leecher out. Before the fix, 2,100 silent handshaken connections from
//! one address filled `--max-peers 2000` and a good leecher could not get
//! in; 10,000 connections that never handshake kept it waiting for 18 s.
//!
//! - one address: 2,100 silent connections that handshake for the torrent.
//!   The per-address limits (100 connections, 1 per torrent) refuse all
//!   but a few; a libtorrent leecher (another address) downloads
//!   everything;
//! - many addresses, 4 shards on 2 cores: 600 silent handshaken
//!   connections against `max_peers = 300` (a count shared by the shards,
//!   whichever one the kernel hands a connection to). The node fills, the
//!   rest are refused, and the good leecher, coming later, evicts an idle
//!   peer that never asked for anything and downloads everything;
//! - 3,000 connections that never handshake, from 300 addresses, against
//!   `max_peers = 500`: while the node is crowded new connections get the
//!   short handshake deadline (2 s here, 20 s otherwise) and the oldest
//!   silent ones are evicted for newcomers; the good leecher, started in
//!   the middle of the flood, downloads everything, and every silent
//!   connection ends closed.
//!
//! Nothing asserts a duration: the leecher must finish within its usual
//! bounded wait, and the counts come from the seed's status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use seedcore_tests::rawpeer::*;
use seedcore_tests::*;

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    data: PathBuf,
    top: PathBuf,
    files: Vec<TreeFile>,
    torrent: PathBuf,
    info_hash: [u8; 20],
}

fn fixture(seed: u64) -> Fixture {
    let tmp = temp_dir();
    let dir = tmp.path().to_path_buf();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, seed);
    let torrent = dir.join("nested.torrent");
    let info = seedcore_create(&top, &torrent, &["--piece-size", "32768"]);
    let info_hash = hash20(json_str(&info, "info_hash_v1"));
    Fixture {
        _tmp: tmp,
        dir,
        data,
        top,
        files,
        torrent,
        info_hash,
    }
}

/// The `n`-th address of a flood: 127.0.x.y with x from 10 up.
fn flood_addr(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        u8::try_from(10 + n / 250).unwrap(),
        u8::try_from(2 + n % 250).unwrap(),
    ))
}

/// Sum of one guard counter over the shards of the seed's last status.
fn guard(seed: &RunningSeed, name: &str) -> u64 {
    seed.json_statuses().last().map_or(0, |s| {
        s["shards"].as_array().map_or(0, |a| {
            a.iter().filter_map(|x| x["guard"][name].as_u64()).sum()
        })
    })
}

/// Peers the seed's last status shows.
fn peers(seed: &RunningSeed) -> u64 {
    seed.json_statuses()
        .last()
        .and_then(|s| s["peers"].as_u64())
        .unwrap_or(0)
}

/// How many of `conns` the seed has closed: a read (without waiting)
/// returns end-of-file or a reset. What a handshaken one was sent is
/// drained on the way.
fn count_closed(conns: &mut [TcpStream]) -> usize {
    let mut buf = [0u8; 64 << 10];
    conns
        .iter_mut()
        .map(|s| {
            s.set_nonblocking(true).ok();
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return true,
                    Ok(_) => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                    Err(_) => return true,
                }
            }
        })
        .filter(|closed| *closed)
        .count()
}

/// Opens `n` connections from `from(i)`, each sending `hello` (nothing if
/// empty). A connection refused at once still counts: it is returned and
/// reads as closed.
fn open_many(to: SocketAddr, n: u32, from: impl Fn(u32) -> IpAddr, hello: &[u8]) -> Vec<TcpStream> {
    (0..n)
        .filter_map(|i| {
            let mut s = connect_from(from(i), to, Some(4096)).ok()?;
            if !hello.is_empty() {
                let _ = s.write_all(hello);
            }
            Some(s)
        })
        .collect()
}

fn good_leecher(f: &Fixture, seed: &RunningSeed) -> LtLeech {
    LtLeech::start(
        &[seed.addr()],
        &[LtJob {
            name: "good".into(),
            source: LtSource::Torrent(f.torrent.clone()),
            save: f.dir.join("leech"),
        }],
        Duration::from_secs(90),
    )
}

fn finish(f: &Fixture, leech: LtLeech, seed: &RunningSeed) {
    let report = leech.finish(&|| seed.to_string());
    assert_eq!(report["leechers"][0]["hash_failures"], 0, "{report}");
    assert_same_files(&f.top, &f.dir.join("leech").join("nested"), &f.files, false);
}

/// Waits (bounded) until `done` holds for the seed's status.
fn wait_status(seed: &RunningSeed, what: &str, done: impl Fn(&RunningSeed) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(seed) {
        assert!(Instant::now() < deadline, "{what}\n{seed}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn silent_handshaken_connections_from_one_address_cannot_keep_a_leecher_out() {
    let f = fixture(961);
    let seed = Seed::new(&f.torrent)
        .data(&f.data)
        .config("max_peers = 2000")
        .config("max_outgoing = 0")
        .json()
        .start(&f.dir);
    let one = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));
    let hello = plain_handshake(f.info_hash, 7);
    let mut silent = open_many(seed.addr(), 2_100, |_| one, &hello);
    let leech = good_leecher(&f, &seed);
    finish(&f, leech, &seed);
    // Refused at accept (per address) or closed at the handshake (per
    // torrent): all but the one connection its address may have.
    wait_status(&seed, "the one-address flood should be refused", |s| {
        guard(s, "refused_per_ip") >= 2_099
    });
    let closed = count_closed(&mut silent);
    eprintln!(
        "2,100 silent connections from one address: {closed} closed, refused per address {}, \
         peers now {}",
        guard(&seed, "refused_per_ip"),
        peers(&seed)
    );
    assert!(closed >= 2_099, "{closed} of 2,100 closed\n{seed}");
    seed.stop();
}

#[test]
fn a_full_node_evicts_an_idle_peer_for_a_good_leecher() {
    let f = fixture(962);
    let seed = Seed::new(&f.torrent)
        .data(&f.data)
        .shards(4)
        .config("max_peers = 300")
        .config("max_outgoing = 0")
        .json()
        .start(&f.dir);
    let hello = plain_handshake(f.info_hash, 8);
    let mut silent = open_many(seed.addr(), 600, flood_addr, &hello);
    wait_status(&seed, "the node should fill and refuse the rest", |s| {
        peers(s) >= 290 && guard(s, "refused_full") >= 250
    });
    // Idle for more than a second: evictable now.
    std::thread::sleep(Duration::from_millis(1500));
    let leech = good_leecher(&f, &seed);
    finish(&f, leech, &seed);
    // The status is a second old at most: wait for the eviction to show.
    wait_status(&seed, "the leecher should have evicted an idle peer", |s| {
        guard(s, "evicted") >= 1
    });
    let evicted = guard(&seed, "evicted");
    let closed = count_closed(&mut silent);
    eprintln!(
        "600 silent handshaken connections, max_peers 300, 4 shards: refused {}, evicted \
         {evicted}, {closed} closed, peers now {}",
        guard(&seed, "refused_full"),
        peers(&seed)
    );
    assert!(closed >= 300, "{closed} of 600 closed\n{seed}");
    seed.stop();
}

#[test]
fn connections_that_never_handshake_do_not_keep_a_leecher_waiting() {
    let f = fixture(963);
    let seed = Seed::new(&f.torrent)
        .data(&f.data)
        .config("max_peers = 500")
        .config("handshake_timeout_crowded = \"2s\"")
        .config("max_outgoing = 0")
        .json()
        .start(&f.dir);
    // 300 addresses, 10 connections each, sending nothing.
    let from = |i: u32| flood_addr(i % 300);
    let mut silent = open_many(seed.addr(), 1_500, from, &[]);
    let leech = good_leecher(&f, &seed);
    silent.extend(open_many(seed.addr(), 1_500, |i| from(i + 1_500), &[]));
    finish(&f, leech, &seed);
    wait_status(&seed, "every silent connection should be closed", |s| {
        guard(s, "refused_full") + guard(s, "evicted") + guard(s, "closed_handshake_timeout")
            >= 3_000
    });
    let closed = count_closed(&mut silent);
    eprintln!(
        "3,000 connections that never handshake, max_peers 500: refused {}, evicted {}, \
         handshake timeouts {}, {closed} closed",
        guard(&seed, "refused_full"),
        guard(&seed, "evicted"),
        guard(&seed, "closed_handshake_timeout"),
    );
    assert_eq!(closed, silent.len(), "{seed}");
    seed.stop();
}
