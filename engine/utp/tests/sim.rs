//! Delivery over a simulated link with virtual time: random loss,
//! duplication and reordering, both directions, owned and external
//! payload mixed, then a graceful close.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly; test data is generated from truncated PRNG output

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{LinkSpec, Rng, Sim};
use proptest::prelude::*;
use seedcore_utp::{CloseReason, Config, ConnHandle, Endpoint, Event, State};

struct Outcome {
    received: Vec<u8>,
    reply: Vec<u8>,
    a_reason: Option<CloseReason>,
    elapsed: Duration,
    sim_datagrams: u64,
}

fn data(n: usize, seed: u64) -> Arc<Vec<u8>> {
    let mut r = Rng(seed | 1);
    Arc::new((0..n).map(|_| r.next() as u8).collect())
}

/// a dials b, sends `size` bytes (owned and external writes of random
/// sizes), closes; b answers `reply_len` bytes, reads to EOF, closes.
fn transfer(
    ab: LinkSpec,
    ba: LinkSpec,
    size: usize,
    reply_len: usize,
    seed: u64,
    cfg: Config,
) -> Outcome {
    let t0 = Instant::now();
    let a = Endpoint::with_seed(cfg.clone(), t0, seed).unwrap();
    let b = Endpoint::with_seed(cfg, t0, seed ^ 0xabcdef).unwrap();
    let mut sim = Sim::new(a, b, t0, ab, ba, seed);
    let src = data(size, seed);
    let reply_src = data(reply_len, seed + 1);
    let dial = sim.a.connect(t0, sim.b_addr).unwrap();
    let mut wrote = 0usize;
    let mut a_closed = false;
    let mut reply = Vec::new();
    let mut received = Vec::new();
    let mut accepted: Option<ConnHandle> = None;
    let mut reply_wrote = 0usize;
    let mut b_closed = false;
    let mut wr = Rng(seed ^ 0x55);
    for _ in 0..2_000_000 {
        if sim.now - t0 > Duration::from_secs(3600) {
            break;
        }
        // a: write while there is room, then close.
        if let Some(c) = sim.a.conn_mut(dial) {
            while wrote < size && c.send_space() > 0 {
                let k = (1 + wr.below(20_000) as usize)
                    .min(size - wrote)
                    .min(c.send_space());
                if wr.chance(0.5) {
                    assert!(c.write_external(Arc::clone(&src), wrote as u64, k as u32));
                    wrote += k;
                } else {
                    wrote += c.write(&src[wrote..wrote + k]);
                }
            }
            let mut buf = [0u8; 4096];
            loop {
                let n = c.read(&mut buf);
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(&buf[..n]);
            }
            if wrote == size && !a_closed && reply.len() == reply_len {
                c.close();
                a_closed = true;
            }
        }
        while let Some(ev) = sim.b.poll_event() {
            if let Event::Incoming(h) = ev {
                assert!(accepted.is_none(), "one connection only");
                accepted = Some(h);
            }
        }
        if let Some(h) = accepted {
            if let Some(c) = sim.b.conn_mut(h) {
                while reply_wrote < reply_len && c.send_space() > 0 {
                    reply_wrote += c.write(&reply_src[reply_wrote..]);
                }
                let (x, y) = c.recv_slices();
                let n = x.len() + y.len();
                received.extend_from_slice(x);
                received.extend_from_slice(y);
                c.consume(n);
                if c.at_eof() && !b_closed {
                    c.close();
                    b_closed = true;
                }
            }
        }
        let a_done = sim.a.conn(dial).is_none_or(|c| c.is_closed());
        let b_done = accepted.is_some_and(|h| sim.b.conn(h).is_none_or(|c| c.is_closed()));
        if a_done && b_done {
            break;
        }
        sim.step(Duration::from_secs(1));
    }
    Outcome {
        received,
        reply,
        a_reason: sim.a.conn(dial).and_then(|c| c.close_reason()),
        elapsed: sim.now - t0,
        sim_datagrams: sim.datagrams,
    }
}

#[test]
fn perfect_link_delivers_and_closes() {
    let o = transfer(
        LinkSpec::perfect(),
        LinkSpec::perfect(),
        300_000,
        5_000,
        1,
        Config::default(),
    );
    assert_eq!(o.received.len(), 300_000);
    assert_eq!(o.received, *data(300_000, 1));
    assert_eq!(o.reply, *data(5_000, 2));
    assert_eq!(o.a_reason, Some(CloseReason::Closed));
    // 300 kB at 1472-byte packets is ~210 packets; acks and probes add
    // some, but a lossless link needs no retransmission storm.
    assert!(o.sim_datagrams < 1_000, "{} datagrams", o.sim_datagrams);
}

#[test]
fn mtu_search_reaches_the_configured_maximum() {
    let t0 = Instant::now();
    let cfg = Config::default();
    let a = Endpoint::with_seed(cfg.clone(), t0, 3).unwrap();
    let b = Endpoint::with_seed(cfg, t0, 4).unwrap();
    let mut sim = Sim::new(a, b, t0, LinkSpec::perfect(), LinkSpec::perfect(), 9);
    let src = data(200_000, 3);
    let dial = sim.a.connect(t0, sim.b_addr).unwrap();
    let mut wrote = 0;
    for _ in 0..10_000 {
        if let Some(c) = sim.a.conn_mut(dial) {
            wrote += c.write(&src[wrote..]);
        }
        while let Some(ev) = sim.b.poll_event() {
            {
                let (Event::Incoming(h) | Event::Connection(h, _)) = ev;
                let c = sim.b.conn_mut(h).unwrap();
                let n = c.readable();
                c.consume(n);
            }
        }
        sim.step(Duration::from_secs(1));
        if wrote == src.len() && sim.a.conn(dial).unwrap().send_queued() == 0 {
            break;
        }
    }
    assert_eq!(sim.a.conn(dial).unwrap().packet_size(), 1472);
    assert_eq!(sim.sizes_ab.iter().max(), Some(&1472));
}

#[test]
fn refused_dial_times_out() {
    // b never answers: a gives up after its SYN retransmissions.
    let t0 = Instant::now();
    let mut a: Endpoint<()> = Endpoint::with_seed(Config::default(), t0, 5).unwrap();
    let h = a.connect(t0, "10.0.0.9:1".parse().unwrap()).unwrap();
    let mut out = seedcore_utp::Transmits::new();
    let mut now = t0;
    let mut syns = 0;
    for _ in 0..100 {
        out.clear();
        syns += a.poll_transmit(now, 8, &mut out);
        let Some(t) = a.poll_timeout() else { break };
        now = t;
        a.handle_timeout(now);
    }
    let c = a.conn(h).unwrap();
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.close_reason(), Some(CloseReason::TimedOut));
    assert_eq!(syns, 1 + Config::default().syn_resends as usize);
    assert!(now - t0 < Duration::from_secs(30));
}

/// Sends `size` bytes a -> b on links `ab`/`ba`; returns a's connection
/// stats, its final packet size and the sizes a sent.
fn one_way(ab: LinkSpec, size: usize, seed: u64) -> (seedcore_utp::ConnStats, u16, Vec<usize>) {
    let addrs = (
        "10.0.0.1:6881".parse().unwrap(),
        "10.0.0.2:6881".parse().unwrap(),
    );
    one_way_from(ab, size, seed, addrs)
}

fn one_way_from(
    ab: LinkSpec,
    size: usize,
    seed: u64,
    (a_addr, b_addr): (std::net::SocketAddr, std::net::SocketAddr),
) -> (seedcore_utp::ConnStats, u16, Vec<usize>) {
    let t0 = Instant::now();
    let a = Endpoint::with_seed(Config::default(), t0, seed).unwrap();
    let b = Endpoint::with_seed(Config::default(), t0, seed + 1).unwrap();
    let mut sim = Sim::new(a, b, t0, ab, LinkSpec::perfect(), seed);
    sim.a_addr = a_addr;
    sim.b_addr = b_addr;
    let src = data(size, seed);
    let dial = sim.a.connect(t0, sim.b_addr).unwrap();
    let mut wrote = 0;
    let mut got = Vec::new();
    for _ in 0..100_000 {
        if let Some(c) = sim.a.conn_mut(dial) {
            wrote += c.write(&src[wrote..]);
        }
        while let Some(ev) = sim.b.poll_event() {
            let (Event::Incoming(h) | Event::Connection(h, _)) = ev;
            let c = sim.b.conn_mut(h).unwrap();
            let mut buf = vec![0; c.readable()];
            c.read(&mut buf);
            got.extend_from_slice(&buf);
        }
        if got.len() == size {
            break;
        }
        sim.step(Duration::from_secs(1));
    }
    assert!(got == *src, "{} of {size} bytes", got.len());
    let c = sim.a.conn(dial).unwrap();
    (c.stats(), c.packet_size(), sim.sizes_ab.clone())
}

#[test]
fn a_lost_packet_is_resent_on_selective_acks_without_a_timeout() {
    // The 20th datagram a sends (a data packet well into the transfer).
    let ab = LinkSpec {
        drop_nth: &[20],
        ..LinkSpec::perfect()
    };
    let (stats, _, _) = one_way(ab, 300_000, 21);
    assert_eq!(stats.fast_retransmits, 1, "{stats:?}");
    assert_eq!(stats.timeouts, 0, "{stats:?}");
    assert!(stats.bytes_retransmitted > 0 && stats.bytes_retransmitted <= 1500);
}

#[test]
fn mtu_search_settles_below_a_smaller_path_mtu() {
    // Probes (don't-fragment) above 1400 bytes vanish; ordinary packets
    // get through fragmented. The search must settle at or below 1400
    // and the lost probes must not stall the transfer.
    let ab = LinkSpec {
        path_mtu: 1400,
        ..LinkSpec::perfect()
    };
    let (stats, size, sizes) = one_way(ab, 500_000, 22);
    assert!(size <= 1400 && size > 1400 - 16, "settled at {size}");
    // After the search, packets are the settled size.
    let tail = &sizes[sizes.len() - 50..];
    assert!(tail.iter().all(|&s| s <= 1400), "{tail:?}");
    assert!(stats.timeouts <= 2, "{stats:?}");
}

#[test]
fn ipv6_packets_are_20_bytes_smaller() {
    let (_, size, sizes) = one_way_from(
        LinkSpec::perfect(),
        200_000,
        23,
        (
            "[fd00::1]:6881".parse().unwrap(),
            "[fd00::2]:6881".parse().unwrap(),
        ),
    );
    assert_eq!(size, 1452);
    assert_eq!(sizes.iter().max(), Some(&1452));
}

#[test]
fn random_bytes_never_panic_the_fuzz_entry() {
    let mut r = Rng(1234);
    for _ in 0..2000 {
        let len = r.below(80) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        if let Some(b) = d.first_mut() {
            *b = (*b & 0x70) | 1;
        }
        seedcore_utp::fuzz_utp_packet(&d);
    }
}

fn spec() -> impl Strategy<Value = LinkSpec> {
    (1u64..120, 0u64..80, 0.0f64..0.15, 0.0f64..0.1).prop_map(|(d, j, loss, dup)| LinkSpec {
        delay: Duration::from_millis(d),
        jitter: Duration::from_millis(j),
        loss,
        dup,
        ..LinkSpec::perfect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn delivers_under_loss_reordering_and_duplication(
        ab in spec(),
        ba in spec(),
        size in 1usize..120_000,
        reply in 0usize..6_000,
        seed in any::<u64>(),
    ) {
        let o = transfer(ab, ba, size, reply, seed, Config::default());
        prop_assert_eq!(o.received.len(), size, "after {:?}", o.elapsed);
        prop_assert!(o.received == *data(size, seed), "bytes differ");
        prop_assert!(o.reply == *data(reply, seed + 1), "reply differs");
        prop_assert!(o.a_reason.is_some(), "a never closed");
    }
}
