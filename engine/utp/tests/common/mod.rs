//! A simulated link with virtual time between two endpoints (shared by
//! the integration tests): loss, duplication, reordering (per-datagram
//! random delay), all from a seed.

#![allow(dead_code, clippy::unwrap_used, clippy::cast_possible_truncation)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedcore_utp::{Endpoint, Transmits};

/// External payload in the simulation: a range of a shared buffer.
pub type Ext = Arc<Vec<u8>>;

/// Link behaviour, one direction.
#[derive(Clone, Copy, Debug)]
pub struct LinkSpec {
    pub delay: Duration,
    pub jitter: Duration,
    pub loss: f64,
    pub dup: f64,
    /// Datagrams larger than this are dropped if they carry the
    /// don't-fragment bit (else IP fragments them and they arrive).
    pub path_mtu: usize,
    /// Drop exactly these datagrams (by their index on this link).
    pub drop_nth: &'static [u64],
}

impl LinkSpec {
    pub fn perfect() -> LinkSpec {
        LinkSpec {
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            dup: 0.0,
            path_mtu: usize::MAX,
            drop_nth: &[],
        }
    }
}

/// xorshift64*
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 > 1.0 - p
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

/// A datagram on the wire: arrival, tie-break, towards b, bytes.
type InFlight = (Instant, u64, bool, Vec<u8>);

pub struct Sim {
    pub t0: Instant,
    pub now: Instant,
    pub a: Endpoint<Ext>,
    pub b: Endpoint<Ext>,
    pub a_addr: SocketAddr,
    pub b_addr: SocketAddr,
    pub ab: LinkSpec,
    pub ba: LinkSpec,
    pub rng: Rng,
    /// (arrival, sequence, towards b, bytes)
    queue: BinaryHeap<Reverse<InFlight>>,
    n: u64,
    out: Transmits<Ext>,
    pub datagrams: u64,
    pub dropped: u64,
    /// Datagrams the link carried per direction, with their sizes.
    pub sizes_ab: Vec<usize>,
    /// Datagrams put on each link so far (a->b, b->a).
    pub carried: [u64; 2],
    /// When a datagram last reached a, and b.
    pub last_delivery: [Instant; 2],
}

impl Sim {
    pub fn new(
        a: Endpoint<Ext>,
        b: Endpoint<Ext>,
        t0: Instant,
        ab: LinkSpec,
        ba: LinkSpec,
        seed: u64,
    ) -> Sim {
        Sim {
            t0,
            now: t0,
            a,
            b,
            a_addr: "10.0.0.1:6881".parse().unwrap(),
            b_addr: "10.0.0.2:6881".parse().unwrap(),
            ab,
            ba,
            rng: Rng(seed),
            queue: BinaryHeap::new(),
            n: 0,
            out: Transmits::new(),
            datagrams: 0,
            dropped: 0,
            sizes_ab: Vec::new(),
            carried: [0; 2],
            last_delivery: [t0; 2],
        }
    }

    fn flush(&mut self, from_a: bool) {
        for round in 0.. {
            assert!(round < 100_000, "an endpoint never stops sending");
            self.out.clear();
            let ep = if from_a { &mut self.a } else { &mut self.b };
            let k = ep.poll_transmit(self.now, 64, &mut self.out);
            if k == 0 {
                break;
            }
            let spec = if from_a { self.ab } else { self.ba };
            for i in 0..self.out.len() {
                let mut d = Vec::new();
                self.out.assemble(i, &mut d, |ext, off, dst| {
                    let off = off as usize;
                    dst.copy_from_slice(&ext[off..off + dst.len()]);
                });
                assert_eq!(d.len(), self.out.datagrams()[i].len);
                if round > 99_990 {
                    eprintln!(
                        "{}",
                        seedcore_utp::packet::Packet::parse(&d)
                            .map(|p| format!("{:?} {}", p.header, p.payload.len()))
                            .unwrap_or_default()
                    );
                }
                if from_a {
                    self.sizes_ab.push(d.len());
                }
                self.datagrams += 1;
                let nth = self.carried[usize::from(!from_a)];
                self.carried[usize::from(!from_a)] += 1;
                if spec.drop_nth.contains(&nth)
                    || (self.out.datagrams()[i].dont_fragment && d.len() > spec.path_mtu)
                {
                    self.dropped += 1;
                    continue;
                }
                let copies = if self.rng.chance(spec.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    let lost = self.rng.chance(spec.loss);
                    if std::env::var_os("UTP_TRACE").is_some() {
                        let p = seedcore_utp::packet::Packet::parse(&d).unwrap();
                        let h = p.header;
                        eprintln!(
                            "{:>10?} {} {:?} id {} seq {} ack {} wnd {} len {} sack {:?}{}",
                            self.now - self.t0,
                            if from_a { "a->b" } else { "b->a" },
                            h.kind,
                            h.conn_id,
                            h.seq_nr,
                            h.ack_nr,
                            h.wnd_size,
                            p.payload.len(),
                            p.sack,
                            if lost { " LOST" } else { "" }
                        );
                    }
                    if lost {
                        self.dropped += 1;
                        continue;
                    }
                    let j = self.rng.below(spec.jitter.as_micros() as u64 + 1);
                    let at = self.now + spec.delay + Duration::from_micros(j);
                    self.n += 1;
                    self.queue.push(Reverse((at, self.n, from_a, d.clone())));
                }
            }
        }
    }

    /// Sends what both sides have, then advances virtual time to the
    /// next arrival or deadline (at most `cap`) and handles it.
    pub fn step(&mut self, cap: Duration) {
        self.flush(true);
        self.flush(false);
        let mut next = self.now + cap;
        if let Some(Reverse((t, ..))) = self.queue.peek() {
            next = next.min(*t);
        }
        for t in [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
        {
            next = next.min(t);
        }
        self.now = next.max(self.now);
        while let Some(Reverse((t, ..))) = self.queue.peek() {
            if *t > self.now {
                break;
            }
            let Some(Reverse((_, _, to_b, d))) = self.queue.pop() else {
                break;
            };
            if to_b {
                self.b.handle_datagram(self.now, self.a_addr, &d);
                self.last_delivery[1] = self.now;
            } else {
                self.a.handle_datagram(self.now, self.b_addr, &d);
                self.last_delivery[0] = self.now;
            }
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
    }

    /// Injects a raw datagram towards b as if from `from`.
    pub fn inject_b(&mut self, from: SocketAddr, d: &[u8]) {
        self.b.handle_datagram(self.now, from, d);
    }
}
