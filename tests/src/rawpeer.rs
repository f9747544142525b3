//! Hand-written peers for the hostile-peer tests: plain `std::net` sockets
//! that send exactly the bytes a test names, with the engine's own wire
//! encoder, from a chosen loopback address (`127.0.0.x`), so a test can be
//! one address or many.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use seedcore_protocol::wire::{
    decode, BlockRequest, Decoded, Handshake, Limits, Message, Reserved,
};
use socket2::{Domain, Socket, Type};

/// A torrent as the raw peers see it.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The seed.
    pub addr: SocketAddr,
    /// The torrent's v1 info-hash.
    pub info_hash: [u8; 20],
    /// Pieces in the torrent.
    pub piece_count: u32,
}

/// Hex to 20 bytes (an info-hash from `seedcore info --json`).
pub fn hash20(hex: &str) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2).unwrap_or("zz"), 16)
            .unwrap_or_else(|_| panic!("not a 40-digit hex info-hash: {hex}"));
    }
    out
}

/// Connects to `to` from `from` (a local address: `127.0.0.x`), with a
/// receive buffer of `rcvbuf` bytes when given.
pub fn connect_from(
    from: IpAddr,
    to: SocketAddr,
    rcvbuf: Option<usize>,
) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect_timeout(&to.into(), Duration::from_secs(5))?;
    let s: TcpStream = socket.into();
    s.set_nodelay(true)?;
    Ok(s)
}

/// A handshake for `info_hash` with no extension bits (no Fast, no LTEP,
/// as rtorrent without its extensions), peer id ending in `tag`.
pub fn plain_handshake(info_hash: [u8; 20], tag: u32) -> Vec<u8> {
    let mut id = *b"-XX0001-rawpeer00000";
    for (o, b) in id[16..].iter_mut().zip(tag.to_be_bytes()) {
        *o = b;
    }
    Handshake::new(Reserved::EMPTY, info_hash, id)
        .to_bytes()
        .to_vec()
}

/// The wire form of `msgs`.
pub fn encode(msgs: &[Message<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        m.encode(&mut out).expect("encodable message");
    }
    out
}

/// `n` requests for whole 16 KiB blocks, spread over every piece but the
/// last (which may be shorter than a block), `piece_length` bytes each.
pub fn requests(n: u32, piece_count: u32, piece_length: u32) -> Vec<u8> {
    let per_piece = (piece_length / 16_384).max(1);
    let full = piece_count.saturating_sub(1).max(1);
    let mut out = Vec::with_capacity(n as usize * 17);
    for i in 0..n {
        let block = i % (full * per_piece);
        Message::Request(BlockRequest {
            index: block / per_piece,
            begin: (block % per_piece) * 16_384,
            length: 16_384,
        })
        .encode(&mut out)
        .expect("encodable request");
    }
    out
}

/// Reads the seed's handshake and messages until it unchokes us.
pub fn read_until_unchoked(s: &mut TcpStream, t: &Target, bound: Duration) -> Result<(), String> {
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let deadline = Instant::now() + bound;
    let limits = Limits::for_pieces(t.piece_count);
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    let mut handshake_seen = false;
    loop {
        if !handshake_seen && buf.len() >= 68 {
            buf.drain(..68);
            handshake_seen = true;
        }
        while handshake_seen && !buf.is_empty() {
            match decode(&buf, &limits) {
                Ok(Decoded::Message { msg, consumed }) => {
                    let unchoked = msg == Message::Unchoke;
                    buf.drain(..consumed);
                    if unchoked {
                        return Ok(());
                    }
                }
                Ok(Decoded::NeedMore { .. }) => break,
                Err(e) => return Err(format!("the seed sent a frame we cannot decode: {e}")),
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => return Err("the seed closed before unchoking us".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("read failed before the unchoke: {e}")),
        }
        if Instant::now() >= deadline {
            return Err(format!("not unchoked within {bound:?}"));
        }
    }
}

/// Whether the seed closed `s`, found without reading what it sent: a
/// keep-alive written to a closed connection fails (the first one may
/// still be accepted; the reset it provokes fails the next).
pub fn closed_without_reading(s: &mut TcpStream) -> bool {
    s.set_nonblocking(true).ok();
    let r = s.write(&[0u8; 4]);
    s.set_nonblocking(false).ok();
    match r {
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
    }
}

/// Kernel memory held by TCP sockets, system wide, in KiB (the `mem` pages
/// of `/proc/net/sockstat`'s TCP line). Other processes count too: a figure
/// to report, not to assert on.
pub fn tcp_mem_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = text.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "mem" {
            return words.next()?.parse::<u64>().ok().map(|pages| pages * 4);
        }
    }
    None
}

/// The send queue (bytes written, not acknowledged) of every established
/// TCP socket whose local port is `port`, from `ss -tn` (iproute2): what
/// the seed's kernel holds for each peer.
pub fn send_queues(port: u16) -> Vec<u64> {
    let out = std::process::Command::new("ss")
        .args([
            "-tnH",
            "state",
            "established",
            "sport",
            "=",
            &format!(":{port}"),
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ss` (apt-get install iproute2): {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect()
}
