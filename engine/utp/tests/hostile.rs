//! What strangers and broken peers can make an endpoint do: each case
//! bounded, and an honest connection keeps working beside it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly; test data is generated from truncated PRNG output

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{LinkSpec, Rng, Sim};
use seedcore_utp::packet::{Header, PacketType, HEADER_LEN};
use seedcore_utp::{CloseReason, Config, ConnHandle, Endpoint, Event, State, Transmits};

fn raw(kind: PacketType, conn_id: u16, seq_nr: u16, ack_nr: u16, wnd: u32) -> Vec<u8> {
    let mut b = [0u8; HEADER_LEN];
    Header {
        kind,
        extension: 0,
        conn_id,
        timestamp: 1,
        timestamp_diff: 0,
        wnd_size: wnd,
        seq_nr,
        ack_nr,
    }
    .encode(&mut b);
    b.to_vec()
}

fn pair(cfg: Config, seed: u64) -> Sim {
    let t0 = Instant::now();
    let a = Endpoint::with_seed(cfg.clone(), t0, seed).unwrap();
    let b = Endpoint::with_seed(cfg, t0, seed + 1).unwrap();
    Sim::new(a, b, t0, LinkSpec::perfect(), LinkSpec::perfect(), seed)
}

/// Runs an honest transfer of `size` bytes a -> b, calling `meddle`
/// before every step; returns the bytes b got.
fn honest_transfer(sim: &mut Sim, size: usize, mut meddle: impl FnMut(&mut Sim, u32)) -> Vec<u8> {
    let src: Arc<Vec<u8>> = Arc::new((0..size).map(|i| (i * 7 % 251) as u8).collect());
    let dial = sim.a.connect(sim.now, sim.b_addr).unwrap();
    let mut wrote = 0;
    let mut got = Vec::new();
    let mut acc: Option<ConnHandle> = None;
    for step in 0..200_000u32 {
        meddle(sim, step);
        if let Some(c) = sim.a.conn_mut(dial) {
            let k = (size - wrote).min(c.send_space());
            if k > 0 && c.write_external(Arc::clone(&src), wrote as u64, k as u32) {
                wrote += k;
            }
        }
        while let Some(ev) = sim.b.poll_event() {
            if let Event::Incoming(h) = ev {
                acc = Some(h);
            }
        }
        if let Some(c) = acc.and_then(|h| sim.b.conn_mut(h)) {
            let mut buf = vec![0; 65536];
            let n = c.read(&mut buf);
            got.extend_from_slice(&buf[..n]);
        }
        if got.len() == size {
            break;
        }
        sim.step(Duration::from_millis(100));
    }
    assert_eq!(got, *src);
    got
}

#[test]
fn garbage_datagrams_are_counted_and_dropped() {
    let mut sim = pair(Config::default(), 1);
    let mut r = Rng(99);
    let evil: SocketAddr = "10.9.9.9:4000".parse().unwrap();
    let mut sent = 0u64;
    honest_transfer(&mut sim, 200_000, |sim, step| {
        let burst = if step == 0 { 20_000 } else { 100 };
        for _ in 0..burst {
            let len = r.below(200) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
            // Half of them with a valid-looking first byte.
            if len > 0 && r.chance(0.5) {
                d[0] = 0x01 | ((r.below(5) as u8) << 4);
            }
            sim.inject_b(evil, &d);
            sent += 1;
        }
    });
    let st = sim.b.stats();
    assert!(st.invalid > 10_000, "{st:?}");
    // Only the honest connection (and whatever half-open SYNs the
    // garbage happened to hold) is held.
    assert!(sim.b.len() <= 1 + sim.b.half_open());
    assert!(sim.b.half_open() <= Config::default().max_half_open);
    assert!(sent > 20_000);
}

#[test]
fn syn_flood_from_10000_ports_costs_no_state_and_honest_peers_get_in() {
    let cfg = Config {
        max_half_open: 64,
        ..Config::default()
    };
    let mut sim = pair(cfg, 2);
    let mut port = 10_000u16;
    honest_transfer(&mut sim, 300_000, |sim, step| {
        // 10,000 SYNs from distinct ports over the first steps.
        if step < 10 {
            for _ in 0..1000 {
                let from: SocketAddr = SocketAddr::new("10.7.7.7".parse().unwrap(), port);
                port = port.wrapping_add(1);
                sim.inject_b(from, &raw(PacketType::Syn, port, port, 0, 0));
            }
        }
        assert!(sim.b.half_open() <= 64);
        assert!(sim.b.len() <= 65);
    });
    let st = sim.b.stats();
    assert_eq!(st.syns, 10_000 + 1);
    assert!(st.cookies_sent >= 10_000 - 64, "{st:?}");
    // The honest dial may have met a full table and come in by cookie.
    assert!(st.accepted >= 65);
    // Half-open entries expire.
    let later = sim.now + Config::default().half_open_timeout + Duration::from_secs(1);
    while sim.now < later {
        sim.step(Duration::from_secs(1));
    }
    assert_eq!(sim.b.half_open(), 0);
    assert!(sim.b.len() <= 1);
}

#[test]
fn honest_dial_by_cookie_when_the_half_open_table_is_full() {
    let cfg = Config {
        max_half_open: 1,
        ..Config::default()
    };
    let mut sim = pair(cfg, 3);
    // Fill the one half-open slot.
    sim.inject_b(
        "10.1.1.1:1".parse().unwrap(),
        &raw(PacketType::Syn, 77, 5, 0, 0),
    );
    assert_eq!(sim.b.half_open(), 1);
    honest_transfer(&mut sim, 100_000, |_, _| {});
    assert_eq!(sim.b.stats().cookies_accepted, 1);
}

#[test]
fn wrong_connection_ids_get_rate_limited_resets() {
    let mut sim = pair(Config::default(), 4);
    let evil: SocketAddr = "10.2.2.2:9".parse().unwrap();
    let mut r = Rng(5);
    honest_transfer(&mut sim, 100_000, |sim, _| {
        for _ in 0..200 {
            let id = r.next() as u16;
            sim.inject_b(evil, &raw(PacketType::Data, id, 1, 1, 1000));
        }
    });
    let st = sim.b.stats();
    assert!(st.unknown > 1000);
    let secs = (sim.now - sim.t0).as_secs() + 1;
    assert!(
        st.resets_sent <= secs * u64::from(Config::default().resets_per_second),
        "{st:?}"
    );
    assert!(st.resets_suppressed > 0);
}

#[test]
fn acks_for_data_never_sent_are_ignored() {
    let mut sim = pair(Config::default(), 6);
    let mut forged = 0;
    honest_transfer(&mut sim, 200_000, |sim, step| {
        // Once b has a connection: forge STATEs from a's address that
        // acknowledge packets a never sent, with a huge window.
        if step % 3 != 0 {
            return;
        }
        let ids: Vec<u16> = sim.b.iter().map(|(_, c)| c.recv_id()).collect();
        for id in ids {
            for ack in [100u16, 30_000, 65_000] {
                let a_addr = sim.a_addr;
                sim.inject_b(a_addr, &raw(PacketType::State, id, 0, ack, u32::MAX));
                forged += 1;
            }
        }
        // And towards a, acknowledging far beyond what a sent.
        let ids: Vec<u16> = sim.a.iter().map(|(_, c)| c.recv_id()).collect();
        for id in ids {
            let b_addr = sim.b_addr;
            sim.a
                .handle_datagram(sim.now, b_addr, &raw(PacketType::State, id, 0, 40_000, 0));
        }
    });
    assert!(forged > 0);
    let ignored: u64 = sim.a.iter().map(|(_, c)| c.stats().packets_ignored).sum();
    assert!(ignored > 0);
}

#[test]
fn zero_window_forever_is_bounded() {
    // b accepts and never reads: its window closes and stays shut.
    let cfg = Config {
        recv_buffer: 16 << 10,
        ..Config::default()
    };
    let mut sim = pair(cfg, 7);
    let dial = sim.a.connect(sim.now, sim.b_addr).unwrap();
    let big = vec![7u8; 1 << 20];
    let mut wrote = 0;
    let mut acc = None;
    for _ in 0..20_000 {
        if let Some(c) = sim.a.conn_mut(dial) {
            wrote += c.write(&big[wrote..]);
        }
        while let Some(ev) = sim.b.poll_event() {
            if let Event::Incoming(h) = ev {
                acc = Some(h);
            }
        }
        sim.step(Duration::from_secs(1));
        if sim.now - sim.t0 > Duration::from_secs(600) {
            break;
        }
    }
    let h = acc.expect("accepted");
    let b = sim.b.conn(h).unwrap();
    // b holds at most its window.
    assert_eq!(b.readable(), 16 << 10);
    let a = sim.a.conn(dial).unwrap();
    assert_eq!(a.state(), State::Connected);
    assert_eq!(a.peer_window(), 0);
    // Ten minutes of a shut window: probes back off, so few datagrams.
    assert!(sim.datagrams < 500, "{} datagrams", sim.datagrams);
    // a holds at most its send buffer.
    assert!(a.send_queued() <= u64::from(Config::default().send_buffer));
}

#[test]
fn half_open_expires_and_reset_closes() {
    let mut sim = pair(Config::default(), 8);
    sim.inject_b(
        "10.3.3.3:3".parse().unwrap(),
        &raw(PacketType::Syn, 500, 9, 0, 0),
    );
    assert_eq!(sim.b.len(), 1);
    let until = sim.now + Config::default().half_open_timeout + Duration::from_secs(1);
    while sim.now < until {
        sim.step(Duration::from_secs(1));
    }
    assert_eq!(sim.b.len(), 0);
    assert_eq!(sim.b.stats().half_open_expired, 1);

    // A connection, then a RESET from the peer.
    let dial = sim.a.connect(sim.now, sim.b_addr).unwrap();
    sim.a.conn_mut(dial).unwrap().write(b"hi");
    for _ in 0..20 {
        sim.step(Duration::from_millis(100));
    }
    let acc = loop {
        match sim.b.poll_event() {
            Some(Event::Incoming(h)) => break h,
            Some(_) => continue,
            None => panic!("no incoming connection"),
        }
    };
    sim.b.conn_mut(acc).unwrap().abort();
    for _ in 0..20 {
        sim.step(Duration::from_millis(100));
    }
    assert_eq!(
        sim.a.conn(dial).unwrap().close_reason(),
        Some(CloseReason::Reset)
    );
    assert_eq!(
        sim.b.conn(acc).unwrap().close_reason(),
        Some(CloseReason::Aborted)
    );
    sim.a.release(dial);
    sim.b.release(acc);
    assert!(sim.a.is_empty() && sim.b.is_empty());
}

#[test]
fn batches_respect_max() {
    let mut sim = pair(Config::default(), 9);
    let dial = sim.a.connect(sim.now, sim.b_addr).unwrap();
    for _ in 0..10 {
        sim.step(Duration::from_millis(100));
    }
    sim.a.conn_mut(dial).unwrap().write(&vec![1u8; 500_000]);
    let mut out = Transmits::new();
    let n = sim.a.poll_transmit(sim.now, 3, &mut out);
    assert!(n <= 3);
    assert_eq!(out.len(), n);
}

#[test]
fn a_repeated_syn_is_answered_again() {
    let mut sim = pair(Config::default(), 10);
    let from: SocketAddr = "10.4.4.4:4".parse().unwrap();
    let mut out = Transmits::new();
    let mut answers = 0;
    for _ in 0..3 {
        sim.inject_b(from, &raw(PacketType::Syn, 900, 42, 0, 0));
        out.clear();
        sim.b.poll_transmit(sim.now, 16, &mut out);
        for i in 0..out.len() {
            let mut d = Vec::new();
            out.assemble(i, &mut d, |_, _, _| {});
            let p = seedcore_utp::packet::Packet::parse(&d).unwrap();
            assert_eq!(p.header.kind, PacketType::State);
            assert_eq!(p.header.conn_id, 900);
            assert_eq!(p.header.ack_nr, 42);
            answers += 1;
        }
    }
    assert_eq!(answers, 3);
    assert_eq!(sim.b.len(), 1);
}
