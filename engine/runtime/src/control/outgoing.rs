//! Peers found by trackers, the DHT and PEX, and the connections the seed
//! makes to them.
//!
//! A seed mostly waits for leechers, but dialling the peers it learns of
//! reaches those that cannot be dialled back (behind a NAT that lets them
//! out but nobody in, or clients such as Transmission that ignore loopback
//! peers from trackers). The rules:
//!
//! - **Limits.** At most `max_outgoing` dials in flight or connected, all
//!   torrents together, and `max_outgoing_per_torrent` per torrent; the
//!   rest wait as candidates (a bounded queue per torrent, newest dropped
//!   when full). Torrents take turns, so one big swarm cannot starve the
//!   others.
//! - **No duplicates.** A peer already connected to this torrent (either
//!   way: shards report every peer's reachable address as it joins), or
//!   already being dialled, is not dialled again.
//! - **Never ourselves.** Our own listen addresses are refused here; a
//!   connection that still reaches us (through an address we do not know
//!   is ours) is closed by the session when the handshake carries our peer
//!   id.
//! - **Back-off.** A peer that failed is not tried again for a minute,
//!   doubling per failure up to an hour; one whose connection ended waits
//!   a minute. Trackers and the DHT repeat peers all the time; this keeps
//!   the repeats from becoming dial storms.
//! - **Dial rate.** Back-off is per address, and PEX hands out fresh
//!   addresses by the hundred: with dials to closed ports failing at once
//!   and freeing their slot, one torrent made about 400 dials a second.
//!   So dials are also paced by token buckets, one for all torrents
//!   (`dial_rate`, 30 a second by default: libtorrent's
//!   `connection_speed`) and one per torrent (`dial_rate_per_torrent`,
//!   10), each allowing a burst of one second's worth. A candidate that
//!   finds no token waits in its queue for the next turn.
//!
//! Dials go to the least-loaded shard, as `--peer` dials do ([`super::dial`]),
//! and share its message path: the shard connects with its own
//! non-blocking connect and the `connect_timeout` it is given.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use seedcore_protocol::session::TorrentId;

use super::dial::DialOrder;
use crate::msg::DialId;

/// Candidates kept per torrent.
const MAX_CANDIDATES: usize = 1000;
/// Peers remembered per torrent for back-off (oldest forgotten first).
const MAX_TRIED: usize = 4096;
/// Back-off after a first failure; doubled per failure.
const RETRY: Duration = Duration::from_secs(60);
/// Longest back-off.
const MAX_RETRY: Duration = Duration::from_secs(3600);
/// Ids of these dials start here (the `--peer` dialer counts from 0).
pub(crate) const FIRST_ID: u64 = 1 << 40;

/// Where a peer was learned (for counters and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Tracker,
    Dht,
    Pex,
}

/// A token bucket: `rate` tokens a second, at most `rate` (one second's
/// worth) saved up. Kept in thousandths of a token so that integer
/// arithmetic refills it exactly at any rate. The caller passes the time
/// in, so tests drive it with virtual time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bucket {
    /// Tokens per second; 0: no limit.
    rate: u64,
    milli: u64,
    last: Option<Instant>,
}

impl Bucket {
    pub(crate) fn new(rate: u32) -> Bucket {
        Bucket {
            rate: u64::from(rate),
            milli: u64::from(rate) * 1000,
            last: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let ms =
                u64::try_from(now.saturating_duration_since(last).as_millis()).unwrap_or(u64::MAX);
            self.milli = self
                .milli
                .saturating_add(ms.saturating_mul(self.rate))
                .min(self.rate * 1000);
            // Whole milliseconds only: the remainder counts next time.
            self.last = Some(last + Duration::from_millis(ms));
        } else {
            self.last = Some(now);
        }
    }

    /// Whether a token is there now (refilling first).
    pub(crate) fn ready(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.rate == 0 || self.milli >= 1000
    }

    /// Spends a token (after [`Bucket::ready`] said yes).
    pub(crate) fn take(&mut self) {
        self.milli = self.milli.saturating_sub(1000);
    }
}

#[derive(Debug)]
struct Swarm {
    /// Waiting to be dialled, oldest first.
    queue: VecDeque<SocketAddr>,
    queued: HashSet<SocketAddr>,
    /// Dialling or connected through us.
    ours: HashMap<SocketAddr, DialId>,
    /// Connected, either way, as the shards report them (with counts: a
    /// peer can be connected twice).
    connected: HashMap<SocketAddr, u32>,
    /// Not before this instant, and the failures so far.
    retry: HashMap<SocketAddr, (Instant, u32)>,
    retry_order: VecDeque<SocketAddr>,
    /// This torrent's dial pace.
    bucket: Bucket,
}

impl Swarm {
    fn new(rate: u32) -> Swarm {
        Swarm {
            queue: VecDeque::new(),
            queued: HashSet::new(),
            ours: HashMap::new(),
            connected: HashMap::new(),
            retry: HashMap::new(),
            retry_order: VecDeque::new(),
            bucket: Bucket::new(rate),
        }
    }
}

#[derive(Debug)]
struct Dial {
    torrent: TorrentId,
    addr: SocketAddr,
    shard: usize,
    connected: bool,
}

/// Counters for the status report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) candidates: usize,
    pub(crate) dialing: usize,
    pub(crate) connected: usize,
    pub(crate) found_tracker: u64,
    pub(crate) found_dht: u64,
    pub(crate) found_pex: u64,
    /// Dials started since the start.
    pub(crate) dials: u64,
}

/// Every torrent's candidates and our dials.
#[derive(Debug)]
pub(crate) struct Outgoing {
    swarms: Vec<Swarm>,
    dials: HashMap<DialId, Dial>,
    next_id: u64,
    max_total: usize,
    max_per_torrent: usize,
    own: Vec<SocketAddr>,
    /// Which torrent gets the next free slot first.
    turn: usize,
    counts: Counts,
    /// The dial pace of all torrents together.
    bucket: Bucket,
}

/// How fast dials may start: per second, all torrents and per torrent
/// (0: no limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DialRates {
    pub(crate) total: u32,
    pub(crate) per_torrent: u32,
}

impl Outgoing {
    /// `own`: our listen addresses (an unspecified IP stands for every
    /// local address on that port).
    pub(crate) fn new(
        torrents: usize,
        max_total: u32,
        max_per_torrent: u32,
        rates: DialRates,
        own: Vec<SocketAddr>,
    ) -> Outgoing {
        Outgoing {
            swarms: (0..torrents)
                .map(|_| Swarm::new(rates.per_torrent))
                .collect(),
            dials: HashMap::new(),
            next_id: FIRST_ID,
            max_total: max_total as usize,
            max_per_torrent: max_per_torrent as usize,
            own,
            turn: 0,
            counts: Counts::default(),
            bucket: Bucket::new(rates.total),
        }
    }

    /// Whether `dial` is one of ours.
    pub(crate) fn owns(&self, dial: DialId) -> bool {
        dial.0 >= FIRST_ID
    }

    fn is_own(&self, addr: SocketAddr) -> bool {
        self.own.iter().any(|o| {
            o.port() == addr.port()
                && (o.ip() == addr.ip()
                    || (o.ip().is_unspecified() && is_local(addr.ip()))
                    || (o.ip().is_loopback() && addr.ip().is_unspecified()))
        })
    }

    /// Peers learned for `torrent`; those worth dialling are queued.
    pub(crate) fn add(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        peers: &[SocketAddr],
        source: Source,
    ) {
        if self.max_total == 0 || self.max_per_torrent == 0 {
            return;
        }
        let own: Vec<bool> = peers.iter().map(|a| self.is_own(*a)).collect();
        let Some(s) = self.swarms.get_mut(torrent.0 as usize) else {
            return;
        };
        let mut added = 0u64;
        for (&addr, own) in peers.iter().zip(own) {
            if own
                || addr.port() == 0
                || addr.ip().is_unspecified()
                || addr.ip().is_multicast()
                || s.queued.contains(&addr)
                || s.ours.contains_key(&addr)
                || s.connected.contains_key(&addr)
                || s.retry.get(&addr).is_some_and(|(at, _)| *at > now)
            {
                continue;
            }
            if s.queue.len() >= MAX_CANDIDATES {
                break;
            }
            s.queue.push_back(addr);
            s.queued.insert(addr);
            added += 1;
        }
        let c = match source {
            Source::Tracker => &mut self.counts.found_tracker,
            Source::Dht => &mut self.counts.found_dht,
            Source::Pex => &mut self.counts.found_pex,
        };
        *c += added;
    }

    /// A shard reports a peer connected to `torrent` (either way).
    pub(crate) fn up(&mut self, torrent: TorrentId, addr: SocketAddr) {
        if let Some(s) = self.swarms.get_mut(torrent.0 as usize) {
            *s.connected.entry(addr).or_insert(0) += 1;
            if s.queued.remove(&addr) {
                s.queue.retain(|a| *a != addr);
            }
        }
    }

    /// That peer left.
    pub(crate) fn down(&mut self, torrent: TorrentId, addr: SocketAddr) {
        if let Some(s) = self.swarms.get_mut(torrent.0 as usize) {
            if let Some(n) = s.connected.get_mut(&addr) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    s.connected.remove(&addr);
                }
            }
        }
    }

    /// Dials to start now; `load[i]` is shard `i`'s connections (and dials)
    /// as far as the caller knows. At most as many as the dial buckets
    /// hold tokens for at `now`.
    pub(crate) fn due(&mut self, now: Instant, load: &[u32]) -> Vec<DialOrder> {
        let mut out = Vec::new();
        let n = self.swarms.len();
        if n == 0 {
            return out;
        }
        let mut load = load.to_vec();
        if load.is_empty() {
            load.push(0);
        }
        let mut idle_rounds = 0;
        while self.dials.len() < self.max_total && idle_rounds < n && self.bucket.ready(now) {
            let t = self.turn % n;
            self.turn = (self.turn + 1) % n;
            let Some(s) = self.swarms.get_mut(t) else {
                break;
            };
            if s.ours.len() >= self.max_per_torrent || s.queue.is_empty() || !s.bucket.ready(now) {
                idle_rounds += 1;
                continue;
            }
            let Some(addr) = s.queue.pop_front() else {
                idle_rounds += 1;
                continue;
            };
            s.bucket.take();
            self.bucket.take();
            self.counts.dials += 1;
            s.queued.remove(&addr);
            idle_rounds = 0;
            let shard = load
                .iter()
                .enumerate()
                .min_by_key(|(_, l)| **l)
                .map_or(0, |(i, _)| i);
            if let Some(l) = load.get_mut(shard) {
                *l += 1;
            }
            let dial = DialId(self.next_id);
            self.next_id += 1;
            let torrent = TorrentId(u32::try_from(t).unwrap_or(u32::MAX));
            s.ours.insert(addr, dial);
            self.dials.insert(
                dial,
                Dial {
                    torrent,
                    addr,
                    shard,
                    connected: false,
                },
            );
            out.push(DialOrder {
                dial,
                torrent,
                addr,
                shard,
            });
        }
        out
    }

    /// A shard finished one of our dials.
    pub(crate) fn dialed(&mut self, dial: DialId, result: Result<(), String>, now: Instant) {
        match result {
            Ok(()) => {
                if let Some(d) = self.dials.get_mut(&dial) {
                    tracing::debug!("connected to found peer {}", d.addr);
                    d.connected = true;
                }
            }
            Err(e) => {
                if let Some(d) = self.dials.remove(&dial) {
                    tracing::debug!("found peer {}: {e}", d.addr);
                    self.finish(&d, now, true);
                }
            }
        }
    }

    /// One of our connections ended.
    pub(crate) fn closed(&mut self, dial: DialId, now: Instant) {
        if let Some(d) = self.dials.remove(&dial) {
            self.finish(&d, now, false);
        }
    }

    fn finish(&mut self, d: &Dial, now: Instant, failed: bool) {
        let Some(s) = self.swarms.get_mut(d.torrent.0 as usize) else {
            return;
        };
        s.ours.remove(&d.addr);
        let fails = s.retry.get(&d.addr).map_or(0, |(_, f)| *f);
        let (wait, fails) = if failed {
            let doublings = fails.min(6);
            ((RETRY * (1 << doublings)).min(MAX_RETRY), fails + 1)
        } else {
            (RETRY, 0)
        };
        if s.retry.insert(d.addr, (now + wait, fails)).is_none() {
            s.retry_order.push_back(d.addr);
            while s.retry_order.len() > MAX_TRIED {
                if let Some(old) = s.retry_order.pop_front() {
                    s.retry.remove(&old);
                }
            }
        }
    }

    /// Dials in flight or connected per shard (for load balancing).
    pub(crate) fn load(&self, shards: usize) -> Vec<u32> {
        let mut load = vec![0u32; shards];
        for d in self.dials.values() {
            if let Some(l) = load.get_mut(d.shard) {
                *l += 1;
            }
        }
        load
    }

    /// Counters for the status report.
    pub(crate) fn counts(&self) -> Counts {
        let connected = self.dials.values().filter(|d| d.connected).count();
        Counts {
            candidates: self.swarms.iter().map(|s| s.queue.len()).sum(),
            dialing: self.dials.len() - connected,
            connected,
            ..self.counts
        }
    }
}

/// Whether `ip` is one of this host's addresses as seen by a socket bound
/// to the unspecified address: loopback always; other local addresses
/// cannot be known without listing interfaces, and a dial to one of them
/// is caught by the peer-id check instead.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const FREE: DialRates = DialRates {
        total: 0,
        per_torrent: 0,
    };

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limits_duplicates_and_ourselves() {
        let now = Instant::now();
        let mut o = Outgoing::new(2, 3, 2, FREE, vec![a("127.0.0.1:6881")]);
        let t0 = TorrentId(0);
        let t1 = TorrentId(1);
        o.add(
            now,
            t0,
            &[
                a("127.0.0.1:6881"), // ourselves
                a("10.0.0.1:1"),
                a("10.0.0.1:1"), // repeated
                a("10.0.0.2:0"), // no port
                a("10.0.0.3:1"),
                a("10.0.0.4:1"),
            ],
            Source::Tracker,
        );
        o.add(now, t1, &[a("10.0.0.9:1")], Source::Dht);
        o.up(t0, a("10.0.0.4:1")); // connected to us already
        let orders = o.due(now, &[4, 0]);
        assert_eq!(orders.len(), 3, "{orders:?}");
        assert!(orders.iter().all(|d| d.shard == 1 || d.shard == 0));
        assert_eq!(orders.iter().filter(|d| d.torrent == t0).count(), 2);
        assert_eq!(orders.iter().filter(|d| d.torrent == t1).count(), 1);
        assert_eq!(orders[0].shard, 1, "least loaded shard first");
        assert!(orders.iter().all(|d| d.addr != a("127.0.0.1:6881")));
        assert!(orders.iter().all(|d| d.addr != a("10.0.0.4:1")));
        assert!(o.due(now, &[0, 0]).is_empty(), "global limit reached");
        let c = o.counts();
        assert_eq!((c.dialing, c.candidates, c.found_tracker), (3, 0, 3));
        // Already being dialled: not queued again.
        o.add(now, t0, &[a("10.0.0.1:1")], Source::Pex);
        assert_eq!(o.counts().candidates, 0);
    }

    #[test]
    fn failures_back_off_and_ended_connections_wait() {
        let now = Instant::now();
        let mut o = Outgoing::new(1, 10, 10, FREE, Vec::new());
        let t = TorrentId(0);
        let p = a("10.0.0.1:1");
        o.add(now, t, &[p], Source::Dht);
        let d = o.due(now, &[0])[0].dial;
        assert!(o.owns(d));
        o.dialed(d, Err("refused".into()), now);
        o.add(now + Duration::from_secs(59), t, &[p], Source::Dht);
        assert!(o.due(now, &[0]).is_empty(), "backing off");
        o.add(now + Duration::from_secs(61), t, &[p], Source::Dht);
        let d = o.due(now, &[0])[0].dial;
        o.dialed(d, Err("refused".into()), now + Duration::from_secs(61));
        o.add(now + Duration::from_secs(150), t, &[p], Source::Dht);
        assert!(
            o.due(now, &[0]).is_empty(),
            "second failure waits 2 minutes"
        );
        o.add(now + Duration::from_secs(182), t, &[p], Source::Dht);
        let d = o.due(now, &[0])[0].dial;
        o.dialed(d, Ok(()), now);
        assert_eq!(o.counts().connected, 1);
        o.closed(d, now + Duration::from_secs(200));
        assert_eq!(o.counts().connected, 0);
        o.add(now + Duration::from_secs(261), t, &[p], Source::Dht);
        assert_eq!(
            o.due(now, &[0]).len(),
            1,
            "a minute after the connection ended"
        );
    }

    #[test]
    fn dials_are_paced_per_torrent_and_in_all() {
        // 3 torrents, 10,000 fresh PEX peers each, every dial failing at
        // once (a closed port) so that slots never run out: only the
        // buckets limit the pace. 20 virtual seconds in 10 ms steps.
        let rates = DialRates {
            total: 25,
            per_torrent: 10,
        };
        let mut o = Outgoing::new(3, 200, 20, rates, Vec::new());
        let start = Instant::now();
        for t in 0..3u32 {
            let peers: Vec<SocketAddr> = (0..10_000u32)
                .map(|i| SocketAddr::from((Ipv4Addr::from(0x0A00_0000 | (t << 16) | i), 6881)))
                .collect();
            o.add(start, TorrentId(t), &peers[..1000], Source::Pex);
        }
        let mut per_torrent = [0u64; 3];
        let mut per_second = [0u64; 20];
        for step in 0..2000u64 {
            let now = start + Duration::from_millis(step * 10);
            for d in o.due(now, &[0]) {
                per_torrent[d.torrent.0 as usize] += 1;
                per_second[(step / 100) as usize] += 1;
                o.dialed(d.dial, Err("refused".into()), now);
            }
        }
        let total: u64 = per_torrent.iter().sum();
        assert_eq!(total, o.counts().dials);
        // A burst of one second's worth, then the rate.
        assert!(total <= 25 + 25 * 20, "{total} dials in 20 s");
        assert!(total >= 25 * 19, "the limit is a pace, not a stop: {total}");
        for (t, n) in per_torrent.iter().enumerate() {
            assert!(*n <= 10 + 10 * 20, "torrent {t}: {n} dials in 20 s");
        }
        for (sec, n) in per_second.iter().enumerate().skip(1) {
            assert!(*n <= 26, "second {sec}: {n} dials");
        }
        // Torrents share the global pace fairly (turns).
        let (min, max) = (per_torrent.iter().min(), per_torrent.iter().max());
        assert!(max.unwrap() - min.unwrap() <= 2, "{per_torrent:?}");

        // One torrent alone is held to its own rate.
        let mut o = Outgoing::new(1, 200, 20, rates, Vec::new());
        let peers: Vec<SocketAddr> = (0..1000u32)
            .map(|i| SocketAddr::from((Ipv4Addr::from(0x0A09_0000 | i), 1)))
            .collect();
        o.add(start, TorrentId(0), &peers, Source::Pex);
        let mut n = 0;
        for step in 0..1000u64 {
            let now = start + Duration::from_millis(step * 10);
            for d in o.due(now, &[0]) {
                n += 1;
                o.dialed(d.dial, Err("refused".into()), now);
            }
        }
        assert!((95..=10 + 100).contains(&n), "{n} dials in 10 s at 10/s");
    }

    #[test]
    fn zero_limit_never_dials() {
        let now = Instant::now();
        let mut o = Outgoing::new(1, 0, 10, FREE, Vec::new());
        o.add(now, TorrentId(0), &[a("10.0.0.1:1")], Source::Pex);
        assert!(o.due(now, &[0]).is_empty());
        assert_eq!(o.counts().candidates, 0);
    }
}
