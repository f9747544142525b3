//! A `Dht` on a real UDP socket, for interop checks against real clients
//! (see `libtorrent_check.py` beside this file). Not part of the engine:
//! the runtime drives the node from its control core the same way.
//!
//! ```text
//! udp_node --bind 127.0.0.1:7001 [--bootstrap ADDR]... [--announce HEX PORT]...
//!          [--lookup HEX]... [--seconds N]
//! ```
//!
//! It announces after bootstrapping, looks the `--lookup` hashes up every
//! few seconds, and prints one line per event (`BOOTSTRAPPED n`,
//! `ANNOUNCED hex n`, `PEER hex addr`, `STORED hashes peers` when the
//! store for other nodes changes) and `STATS ...` at the end.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use seedcore_dht::{Config, Dht, Event, LookupKind, NodeId};

/// `println!` that ignores a closed stdout (the driving script may exit first).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

struct Args {
    bind: SocketAddr,
    bootstrap: Vec<SocketAddr>,
    announce: Vec<(NodeId, u16)>,
    lookup: Vec<NodeId>,
    seconds: u64,
}

fn hex_id(s: &str) -> Option<NodeId> {
    if s.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(NodeId(out))
}

fn parse_args() -> Option<Args> {
    let mut it = std::env::args().skip(1);
    let mut a = Args {
        bind: "127.0.0.1:0".parse().ok()?,
        bootstrap: Vec::new(),
        announce: Vec::new(),
        lookup: Vec::new(),
        seconds: 60,
    };
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--bind" => a.bind = it.next()?.parse().ok()?,
            "--bootstrap" => a.bootstrap.push(it.next()?.parse().ok()?),
            "--announce" => a
                .announce
                .push((hex_id(&it.next()?)?, it.next()?.parse().ok()?)),
            "--lookup" => a.lookup.push(hex_id(&it.next()?)?),
            "--seconds" => a.seconds = it.next()?.parse().ok()?,
            _ => return None,
        }
    }
    Some(a)
}

fn seed() -> [u8; 32] {
    // An example may use the clock; the engine seeds from the OS.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut s = [0u8; 32];
    s.iter_mut()
        .zip(
            nanos
                .to_le_bytes()
                .iter()
                .chain(std::process::id().to_le_bytes().iter()),
        )
        .for_each(|(o, b)| *o = *b);
    s
}

fn main() -> ExitCode {
    let Some(args) = parse_args() else {
        eprintln!("usage: udp_node --bind ADDR [--bootstrap ADDR]... [--announce HEX PORT]... [--lookup HEX]... [--seconds N]");
        return ExitCode::from(2);
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("udp_node: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> std::io::Result<()> {
    let socket = UdpSocket::bind(args.bind)?;
    say!("LISTENING {}", socket.local_addr()?);
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut cfg = Config::new(seed());
    cfg.bootstrap = args.bootstrap.clone();
    let mut dht = Dht::new(cfg, start);
    say!("ID {}", dht.id());
    let mut announced = false;
    let mut next_lookup = start + Duration::from_secs(3);
    let mut seen: HashSet<(NodeId, SocketAddr)> = HashSet::new();
    let mut buf = vec![0u8; 65536];
    let mut last_stored = (0, 0);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        while let Some((to, bytes)) = dht.poll_transmit(now) {
            // A send error (unreachable peer) is that peer's problem.
            let _ = socket.send_to(&bytes, to);
        }
        while let Some(ev) = dht.poll_event() {
            match ev {
                Event::Bootstrapped { nodes } => say!("BOOTSTRAPPED {nodes}"),
                Event::Peers {
                    info_hash, peers, ..
                } => {
                    for p in peers {
                        if seen.insert((info_hash, p)) {
                            say!("PEER {info_hash} {p}");
                        }
                    }
                }
                Event::LookupDone {
                    kind: LookupKind::Announce { .. },
                    target,
                    announced,
                    ..
                } => say!("ANNOUNCED {target} {announced}"),
                _ => {}
            }
        }
        let stored = dht.stored_peers();
        if stored != last_stored {
            last_stored = stored;
            say!("STORED {} {}", stored.0, stored.1);
        }
        if !announced && (!dht.table().is_empty() || now >= start + Duration::from_secs(5)) {
            announced = true;
            for (ih, port) in &args.announce {
                if let Err(e) = dht.announce(now, *ih, Some(*port)) {
                    say!("ERROR announce {e}");
                }
            }
        }
        if now >= next_lookup {
            next_lookup = now + Duration::from_secs(3);
            for ih in &args.lookup {
                // Refused while too many run: the next round retries.
                let _ = dht.get_peers(now, *ih);
            }
        }
        let wake = dht
            .poll_timeout()
            .unwrap_or(end)
            .min(end)
            .min(next_lookup)
            .max(now + Duration::from_millis(1));
        socket.set_read_timeout(Some(wake.saturating_duration_since(now)))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Some(data) = buf.get(..n) {
                    dht.handle_datagram(Instant::now(), from, data);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // ICMP port unreachable surfaces here on Linux: ignore.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e),
        }
        dht.handle_timeout(Instant::now());
    }
    let s = dht.stats();
    let (hashes, peers) = dht.stored_peers();
    say!(
        "STATS table={} answered={} sent={} responses={} timeouts={} malformed={} bad_tokens={} stored_hashes={hashes} stored_peers={peers}",
        dht.table().len(),
        s.queries_answered,
        s.queries_sent,
        s.responses,
        s.timeouts,
        s.malformed,
        s.bad_tokens,
    );
    Ok(())
}
