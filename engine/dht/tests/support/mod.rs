//! An in-memory network of `Dht` nodes with virtual time: datagrams are
//! queued with a per-link latency and delivered in time order; nodes whose
//! `poll_timeout` has come get `handle_timeout`. Deterministic: same seeds,
//! same run.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use seedcore_dht::{Config, Dht, Event, NodeId, Rng};

/// A datagram on the wire: (arrival, sequence, sender index, to, bytes).
type InFlight = (Instant, u64, usize, SocketAddr, Vec<u8>);

pub struct Net {
    pub nodes: Vec<Dht>,
    pub addrs: Vec<SocketAddr>,
    pub events: Vec<Vec<Event>>,
    pub offline: HashSet<usize>,
    index: HashMap<SocketAddr, usize>,
    queue: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    pub start: Instant,
    pub now: Instant,
    pub delivered: u64,
}

pub fn addr_of(i: usize) -> SocketAddr {
    let [_, a, b, c] = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
    SocketAddr::from(([10, a, b, c], 6881))
}

pub fn config(i: usize, bootstrap: Vec<SocketAddr>) -> Config {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    let mut c = Config::new(seed);
    c.bootstrap = bootstrap;
    c
}

impl Net {
    /// `n` nodes; node 0 has no bootstrap, every other bootstraps from
    /// node 0 (and node 1 for a little redundancy).
    pub fn new(n: usize) -> Net {
        let start = Instant::now();
        let mut net = Net {
            nodes: Vec::new(),
            addrs: Vec::new(),
            events: Vec::new(),
            offline: HashSet::new(),
            index: HashMap::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            start,
            now: start,
            delivered: 0,
        };
        for i in 0..n {
            let boot = match i {
                0 => vec![],
                1 => vec![addr_of(0)],
                _ => vec![addr_of(0), addr_of(1)],
            };
            net.add(Dht::new(config(i, boot), start));
        }
        net
    }

    pub fn add(&mut self, dht: Dht) -> usize {
        let i = self.nodes.len();
        self.nodes.push(dht);
        self.addrs.push(addr_of(i));
        self.index.insert(addr_of(i), i);
        self.events.push(Vec::new());
        i
    }

    pub fn replace(&mut self, i: usize, dht: Dht) {
        self.nodes[i] = dht;
        self.events[i].clear();
    }

    fn latency(from: usize, to: usize) -> Duration {
        Duration::from_millis(10 + ((from * 31 + to * 17) % 40) as u64)
    }

    fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some((to, bytes)) = self.nodes[i].poll_transmit(self.now) {
                let Some(&j) = self.index.get(&to) else {
                    continue;
                };
                let at = self.now + Self::latency(i, j);
                self.seq += 1;
                self.queue.push(Reverse((at, self.seq, i, to, bytes)));
            }
            while let Some(ev) = self.nodes[i].poll_event() {
                self.events[i].push(ev);
            }
        }
    }

    /// Runs until virtual time `until`.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.collect();
            let next_msg = self.queue.peek().map(|Reverse((at, ..))| *at);
            let next_timer = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.offline.contains(i))
                .filter_map(|(_, n)| n.poll_timeout())
                .min();
            let next = match (next_msg, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(until),
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            while self
                .queue
                .peek()
                .is_some_and(|Reverse((at, ..))| *at <= self.now)
            {
                let Some(Reverse((_, _, from, to, bytes))) = self.queue.pop() else {
                    break;
                };
                let j = self.index[&to];
                if self.offline.contains(&j) || self.offline.contains(&from) {
                    continue;
                }
                self.delivered += 1;
                self.nodes[j].handle_datagram(self.now, self.addrs[from], &bytes);
            }
            for i in 0..self.nodes.len() {
                if self.offline.contains(&i) {
                    continue;
                }
                if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                    self.nodes[i].handle_timeout(self.now);
                }
            }
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs until `pred` holds on node `i`'s events (checked after each
    /// step), at most `limit` of virtual time; returns whether it held.
    pub fn run_until_event(
        &mut self,
        i: usize,
        limit: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> bool {
        let deadline = self.now + limit;
        while self.now < deadline {
            if self.events[i].iter().any(&mut pred) {
                return true;
            }
            let step = self.now + Duration::from_millis(100);
            self.run_until(step.min(deadline));
        }
        self.events[i].iter().any(&mut pred)
    }

    /// Ids of all online nodes sorted by distance to `target`.
    pub fn true_closest(&self, target: &NodeId) -> Vec<NodeId> {
        let mut ids: Vec<NodeId> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.offline.contains(i))
            .map(|(_, n)| n.id())
            .collect();
        ids.sort_by_key(|id| id.distance(target));
        ids
    }

    pub fn random_id(rng: &mut Rng) -> NodeId {
        NodeId::random(rng)
    }
}
