//! Tracker announces on the control core: the sans-IO `seedcore-tracker`
//! scheduler and UDP clients, driven by the control loop.
//!
//! - **When and where** come from [`Scheduler`]: first announces spread over
//!   `announce_spread` (10 ms per torrent up to it), re-announces at the
//!   tracker's interval plus jitter, exponential back-off with jitter after
//!   errors, BEP 12 tiers with the two `announce_to_all_*` settings, and
//!   `stopped` to every tracker that heard `started` when the seed stops.
//! - **HTTP(S)** announces are GETs on the helper pool ([`super::http`]):
//!   the loop only builds the URL and reads the answer's body.
//! - **UDP** announces go through one [`UdpTrackerClient`] per tracker
//!   address over one non-blocking socket per address family, read when
//!   `mio` says it is readable. BEP 15 allows retransmitting for two hours
//!   before giving up; a tracker that silent is dead for our purposes, so
//!   we give up after three sends (15 + 30 + 60 s) and let BEP 12 move on
//!   to the next tracker, as libtorrent does.
//! - **Names** of UDP trackers are resolved on the helper pool and cached
//!   for ten minutes; announces wait for the answer.
//!
//! - **Scrapes** (BEP 48 over HTTP, BEP 15's over UDP) of trackers that
//!   answered an announce: [`super::scrape`] decides when and what; they
//!   go out the same two ways.
//!
//! A hybrid torrent announces its v1 and its truncated v2 hash, each as its
//! own scheduler entry (trackers see two swarms). Peers from any answer go
//! to [`super::outgoing`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_protocol::session::TorrentId;
use seedcore_tracker::udp::IpFamily;
use seedcore_tracker::{
    announce_hashes, http, Announce, AnnounceEvent, Rng, ScheduleConfig, Scheduler, TierSettings,
    Tiers, TorrentKey, TrackerError, TrackerKey, TrackerUrl, UdpConfig, UdpEvent, UdpTrackerClient,
};

use super::http::{Done, Job, Pool};
use super::scrape::{Batch, Scrapes};
use crate::control::status::{AnnounceCounters, ScrapeReport, TrackerReport};

/// How long a resolved tracker name is used.
const DNS_TTL: Duration = Duration::from_secs(600);
/// How long a failed lookup is remembered.
const DNS_NEGATIVE_TTL: Duration = Duration::from_secs(60);
/// Datagrams read per readiness event before other work gets a turn.
const READ_BUDGET: usize = 256;

/// UDP tracker timing: BEP 15's 15 s first wait, three sends in all.
const UDP: UdpConfig = UdpConfig {
    base_timeout: Duration::from_secs(15),
    max_retransmits: 2,
    connection_lifetime: Duration::from_secs(60),
};

/// What the tracker side is told at start.
pub(crate) struct Settings {
    pub(crate) peer_id: [u8; 20],
    pub(crate) port: u16,
    pub(crate) num_want: u32,
    pub(crate) tiers: TierSettings,
    pub(crate) timeout: Duration,
    pub(crate) spread: Duration,
    pub(crate) extra: Vec<String>,
    pub(crate) seed: u64,
    /// Zero: no scrapes.
    pub(crate) scrape_interval: Duration,
}

/// Peers some source found for a torrent.
pub(crate) type Found = Vec<(TorrentId, Vec<SocketAddr>)>;

#[derive(Debug)]
enum Dns {
    Pending(Vec<Announce>),
    Ready(SocketAddr, Instant),
    Failed(String, Instant),
}

#[derive(Debug, Clone, Copy)]
struct Origin {
    torrent: TorrentKey,
    tracker: TrackerKey,
    /// A `stopped` announce at shutdown (nobody waits for its answer but
    /// the shutdown itself).
    stop: bool,
}

#[derive(Debug)]
enum JobFor {
    Http(Origin),
    Resolve(String, u16),
    /// A scrape of the tracker with this announce URL.
    Scrape(String),
}

/// Every torrent's trackers.
pub(crate) struct Trackers {
    sched: Scheduler,
    owner: HashMap<TorrentKey, TorrentId>,
    /// Per torrent: its scheduler entries (one per announced hash) and the
    /// peers its trackers returned, ever.
    keys: HashMap<TorrentId, (Vec<TorrentKey>, u64)>,
    rng_tiers: Rng,
    extra: Vec<String>,
    socket4: Option<UdpSocket>,
    socket6: Option<UdpSocket>,
    udp: HashMap<SocketAddr, UdpTrackerClient>,
    udp_ops: HashMap<(SocketAddr, seedcore_tracker::OpId), Origin>,
    scrapes: Scrapes,
    scrape_ops: HashMap<(SocketAddr, seedcore_tracker::OpId), String>,
    dns: HashMap<(String, u16), Dns>,
    jobs: HashMap<u64, JobFor>,
    rng: Rng,
    timeout: Duration,
    stops_pending: usize,
    buf: Vec<u8>,
    /// Announces answered and failed, ever (for metrics).
    pub(crate) counts: AnnounceCounters,
}

impl Trackers {
    /// Schedules every torrent's trackers (private torrents: only their
    /// own). `sockets`: the IPv4 and IPv6 UDP sockets, when bound.
    pub(crate) fn new(
        now: Instant,
        settings: Settings,
        torrents: &[(TorrentId, &Metainfo)],
        socket4: Option<UdpSocket>,
        socket6: Option<UdpSocket>,
    ) -> Trackers {
        let mut rng = Rng::new(settings.seed);
        let config = ScheduleConfig {
            peer_id: settings.peer_id,
            port: settings.port,
            key: rng.next_u32(),
            num_want: Some(settings.num_want),
            tiers: settings.tiers,
            ..ScheduleConfig::default()
        };
        let sched = Scheduler::new(config, Rng::new(rng.next_u64()));
        let spread = settings.spread.min(
            Duration::from_millis(10)
                .saturating_mul(u32::try_from(torrents.len()).unwrap_or(u32::MAX)),
        );
        let rng_tiers = Rng::new(rng.next_u64());
        let mut t = Trackers {
            sched,
            owner: HashMap::new(),
            keys: HashMap::new(),
            rng_tiers,
            extra: settings.extra,
            socket4,
            socket6,
            udp: HashMap::new(),
            udp_ops: HashMap::new(),
            scrapes: Scrapes::new(settings.scrape_interval),
            scrape_ops: HashMap::new(),
            dns: HashMap::new(),
            jobs: HashMap::new(),
            rng,
            timeout: settings.timeout,
            stops_pending: 0,
            buf: vec![0u8; 64 << 10],
            counts: AnnounceCounters::default(),
        };
        for &(id, meta) in torrents {
            t.add_torrent(now, id, meta, spread);
        }
        t
    }

    /// Schedules a torrent's trackers (a private torrent: only its own),
    /// its first announce within `spread`.
    pub(crate) fn add_torrent(
        &mut self,
        now: Instant,
        torrent: TorrentId,
        meta: &Metainfo,
        spread: Duration,
    ) {
        let mut list: Vec<Vec<String>> = if meta.announce_list.iter().any(|t| !t.is_empty()) {
            meta.announce_list.clone()
        } else {
            meta.announce.iter().map(|a| vec![a.clone()]).collect()
        };
        if !meta.info.private {
            list.extend(self.extra.iter().map(|u| vec![u.clone()]));
        } else if !self.extra.is_empty() {
            tracing::info!(
                "{}: private torrent: only the trackers of its metainfo are used",
                meta.info.name
            );
        }
        let mut mine = Vec::new();
        for (h, hash) in announce_hashes(&meta.info_hashes).into_iter().enumerate() {
            let tiers = Tiers::new(&list, &mut self.rng_tiers);
            if tiers.is_empty() {
                continue;
            }
            let key = TorrentKey(u64::from(torrent.0) << 1 | h as u64);
            self.sched.add_torrent(now, key, hash, tiers, 0, spread);
            self.scrapes.add_torrent(key, hash);
            self.owner.insert(key, torrent);
            mine.push(key);
        }
        self.keys.insert(torrent, (mine, 0));
    }

    /// A torrent stops being served: `stopped` goes to every tracker that
    /// may list it (answers are not waited for), and it is forgotten.
    pub(crate) fn remove_torrent(&mut self, now: Instant, torrent: TorrentId, pool: &Pool) {
        let Some((keys, _)) = self.keys.remove(&torrent) else {
            return;
        };
        for k in keys {
            self.owner.remove(&k);
            self.scrapes.remove_torrent(k);
            for a in self.sched.remove_torrent(k) {
                self.start(now, a, pool, true);
            }
        }
        let mut ignored = Vec::new();
        self.flush_udp(now, &mut ignored);
    }

    /// The UDP sockets, for registering with `mio`.
    pub(crate) fn sockets(&mut self) -> [Option<&mut UdpSocket>; 2] {
        [self.socket4.as_mut(), self.socket6.as_mut()]
    }

    /// The bytes uploaded for a torrent, sent with its next announces.
    pub(crate) fn set_uploaded(&mut self, torrent: TorrentId, uploaded: u64) {
        if let Some((keys, _)) = self.keys.get(&torrent) {
            for &k in keys {
                self.sched.set_stats(k, uploaded, 0);
            }
        }
    }

    /// When [`Self::tick`] next has work.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        self.udp
            .values()
            .filter_map(UdpTrackerClient::poll_timeout)
            .chain(self.sched.poll_timeout())
            .chain(self.scrapes.next_timeout())
            .min()
    }

    /// Runs what is due: timeouts of UDP requests, announces the scheduler
    /// hands out; sends datagrams; collects outcomes.
    pub(crate) fn tick(&mut self, now: Instant, pool: &Pool, found: &mut Found) {
        for c in self.udp.values_mut() {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
        // An outcome can make the next tracker of a tier due at once.
        for _ in 0..8 {
            let due = self.sched.next_due(now);
            if due.is_empty() {
                break;
            }
            for a in due {
                self.start(now, a, pool, false);
            }
            self.flush_udp(now, found);
        }
        for b in self.scrapes.due(now) {
            self.scrape(now, b, pool);
        }
        self.flush_udp(now, found);
    }

    /// Reads the UDP socket that `mio` reported readable. Returns true when
    /// the read budget ran out with datagrams perhaps still waiting.
    pub(crate) fn readable(&mut self, now: Instant, v6: bool, found: &mut Found) -> bool {
        let mut more = false;
        for n in 0.. {
            if n == READ_BUDGET {
                more = true;
                break;
            }
            let socket = if v6 {
                self.socket6.as_ref()
            } else {
                self.socket4.as_ref()
            };
            let Some(socket) = socket else {
                break;
            };
            match socket.recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    let from = unmap(from);
                    if let (Some(c), Some(data)) = (self.udp.get_mut(&from), self.buf.get(..len)) {
                        c.handle_datagram(now, data);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // ICMP errors (port unreachable) surface here; the
                    // client's own timeout handles the tracker.
                    tracing::trace!("tracker socket: {e}");
                }
            }
        }
        self.flush_udp(now, found);
        more
    }

    /// Takes a finished helper job if it is ours; returns it otherwise.
    pub(crate) fn on_done(
        &mut self,
        now: Instant,
        done: Done,
        pool: &Pool,
        found: &mut Found,
    ) -> Option<Done> {
        let id = match &done {
            Done::Got { id, .. } | Done::Resolved { id, .. } => *id,
        };
        let Some(job) = self.jobs.remove(&id) else {
            return Some(done);
        };
        match (job, done) {
            (JobFor::Http(o), Done::Got { result, .. }) => {
                let outcome = result
                    .map_err(TrackerError::Transport)
                    .and_then(|body| http::parse_announce_response(&body));
                self.outcome(now, o, outcome, found);
            }
            (JobFor::Scrape(url), Done::Got { result, .. }) => {
                match result
                    .map_err(TrackerError::Transport)
                    .and_then(|body| http::parse_scrape_response(&body))
                {
                    Ok(r) => self.scrapes.scraped(now, &url, &r),
                    Err(e) => self.scrapes.failed(now, &url, &e.to_string()),
                }
            }
            (JobFor::Resolve(host, port), Done::Resolved { result, .. }) => {
                let waiting = match self.dns.remove(&(host.clone(), port)) {
                    Some(Dns::Pending(w)) => w,
                    _ => Vec::new(),
                };
                let entry = match result {
                    Ok(addrs) => {
                        let pick = addrs
                            .iter()
                            .find(|a| self.socket_for(a).is_some())
                            .or(addrs.first())
                            .copied();
                        match pick {
                            Some(a) => Dns::Ready(a, now + DNS_TTL),
                            None => Dns::Failed(
                                format!("{host} has no address"),
                                now + DNS_NEGATIVE_TTL,
                            ),
                        }
                    }
                    Err(e) => Dns::Failed(e, now + DNS_NEGATIVE_TTL),
                };
                self.dns.insert((host, port), entry);
                for a in waiting {
                    let stop = a.request.event == AnnounceEvent::Stopped;
                    if stop {
                        self.stops_pending = self.stops_pending.saturating_sub(1);
                    }
                    self.start(now, a, pool, stop);
                }
                self.flush_udp(now, found);
            }
            _ => {}
        }
        None
    }

    fn socket_for(&self, addr: &SocketAddr) -> Option<&UdpSocket> {
        if addr.is_ipv4() {
            self.socket4.as_ref()
        } else {
            self.socket6.as_ref()
        }
    }

    /// Starts one announce (a regular one, or a `stopped` at shutdown).
    fn start(&mut self, now: Instant, a: Announce, pool: &Pool, stop: bool) {
        let origin = Origin {
            torrent: a.torrent,
            tracker: a.tracker,
            stop,
        };
        if stop {
            self.stops_pending += 1;
        }
        let url = match TrackerUrl::parse(&a.url) {
            Ok(u) => u,
            Err(e) => return self.fail(now, origin, e),
        };
        match url {
            TrackerUrl::Http(base) => match http::announce_url(&base, &a.request) {
                Ok(url) => {
                    let id = pool.next_id();
                    self.jobs.insert(id, JobFor::Http(origin));
                    let timeout = if stop {
                        self.timeout.min(super::STOP_ANNOUNCE_WAIT)
                    } else {
                        self.timeout
                    };
                    tracing::debug!("announce {:?} to {base}", a.request.event);
                    pool.submit(Job::Get { id, url, timeout });
                }
                Err(e) => self.fail(now, origin, e),
            },
            TrackerUrl::Udp { host, port } => {
                let addr = match host.parse::<IpAddr>() {
                    Ok(ip) => SocketAddr::new(ip, port),
                    Err(_) => match self.dns.get_mut(&(host.clone(), port)) {
                        Some(Dns::Ready(addr, until)) if *until > now => *addr,
                        Some(Dns::Failed(e, until)) if *until > now => {
                            let e = TrackerError::Transport(e.clone());
                            return self.fail(now, origin, e);
                        }
                        Some(Dns::Pending(waiting)) => {
                            waiting.push(a);
                            return;
                        }
                        _ => {
                            let id = pool.next_id();
                            self.jobs.insert(id, JobFor::Resolve(host.clone(), port));
                            pool.submit(Job::Resolve {
                                id,
                                host: host.clone(),
                                port,
                            });
                            self.dns.insert((host, port), Dns::Pending(vec![a]));
                            return;
                        }
                    },
                };
                if self.socket_for(&addr).is_none() {
                    let e = TrackerError::Transport(format!(
                        "no UDP socket for {addr} (the seed is not bound to that address family)"
                    ));
                    return self.fail(now, origin, e);
                }
                tracing::debug!("announce {:?} to udp {addr}", a.request.event);
                let op = self.udp_client(addr).announce(now, a.request);
                self.udp_ops.insert((addr, op), origin);
            }
        }
    }

    /// The UDP client of a tracker address, made on first use.
    fn udp_client(&mut self, addr: SocketAddr) -> &mut UdpTrackerClient {
        let family = if addr.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        };
        let seed = self.rng.next_u64();
        self.udp
            .entry(addr)
            .or_insert_with(|| UdpTrackerClient::new(family, UDP, Rng::new(seed)))
    }

    /// Sends one scrape: HTTP on the helper pool, UDP through the tracker's
    /// client (at the address its announces resolved to).
    fn scrape(&mut self, now: Instant, b: Batch, pool: &Pool) {
        match TrackerUrl::parse(&b.url) {
            Ok(TrackerUrl::Http(base)) => {
                let Some(scrape) = http::scrape_url(&base) else {
                    return self.scrapes.failed(now, &b.url, "no scrape URL");
                };
                match http::scrape_request_url(&scrape, &b.hashes) {
                    Ok(url) => {
                        let id = pool.next_id();
                        self.jobs.insert(id, JobFor::Scrape(b.url));
                        let timeout = self.timeout;
                        pool.submit(Job::Get { id, url, timeout });
                    }
                    Err(e) => self.scrapes.failed(now, &b.url, &e.to_string()),
                }
            }
            Ok(TrackerUrl::Udp { host, port }) => {
                let addr = match host.parse::<IpAddr>() {
                    Ok(ip) => Some(SocketAddr::new(ip, port)),
                    Err(_) => match self.dns.get(&(host, port)) {
                        Some(Dns::Ready(addr, _)) => Some(*addr),
                        _ => None,
                    },
                };
                let Some(addr) = addr.filter(|a| self.socket_for(a).is_some()) else {
                    return self.scrapes.deferred(now, &b.url);
                };
                match self.udp_client(addr).scrape(now, b.hashes) {
                    Ok(op) => {
                        self.scrape_ops.insert((addr, op), b.url);
                    }
                    Err(e) => self.scrapes.failed(now, &b.url, &e.to_string()),
                }
            }
            Err(e) => self.scrapes.failed(now, &b.url, &e.to_string()),
        }
    }

    fn fail(&mut self, now: Instant, origin: Origin, e: TrackerError) {
        let mut found = Vec::new();
        self.outcome(now, origin, Err(e), &mut found);
    }

    fn outcome(
        &mut self,
        now: Instant,
        o: Origin,
        outcome: Result<seedcore_tracker::AnnounceResponse, TrackerError>,
        found: &mut Found,
    ) {
        if o.stop {
            self.stops_pending = self.stops_pending.saturating_sub(1);
            return;
        }
        match outcome {
            Ok(r) => {
                self.counts.ok += 1;
                if let Some(w) = &r.warning {
                    tracing::info!("tracker warning: {w}");
                }
                if let Some(&t) = self.owner.get(&o.torrent) {
                    if let Some((_, n)) = self.keys.get_mut(&t) {
                        *n += r.peers.len() as u64;
                    }
                    if !r.peers.is_empty() {
                        found.push((t, r.peers.clone()));
                    }
                }
                let news = self
                    .sched
                    .trackers(o.torrent)
                    .get(usize::from(o.tracker.0))
                    .is_some_and(|t| t.fails > 0 || t.swarm.is_none());
                let url = self.url(o);
                self.scrapes.announced(now, &url, o.torrent);
                if news {
                    tracing::info!("tracker {url}: announced, {} peers", r.peers.len());
                } else {
                    tracing::debug!("tracker {url}: announced, {} peers", r.peers.len());
                }
                self.sched.on_response(now, o.torrent, o.tracker, &r);
            }
            Err(e) => {
                self.counts.failed += 1;
                let first = self
                    .sched
                    .trackers(o.torrent)
                    .get(usize::from(o.tracker.0))
                    .is_some_and(|t| t.fails == 0);
                let url = self.url(o);
                if first {
                    tracing::warn!("tracker {url}: {e}; backing off");
                } else {
                    tracing::debug!("tracker {url}: {e}");
                }
                self.sched.on_error(now, o.torrent, o.tracker, &e);
            }
        }
    }

    fn url(&self, o: Origin) -> String {
        self.sched
            .trackers(o.torrent)
            .get(usize::from(o.tracker.0))
            .map(|t| t.url.clone())
            .unwrap_or_default()
    }

    /// Sends what the UDP clients have to send and takes their results.
    fn flush_udp(&mut self, now: Instant, found: &mut Found) {
        let mut results = Vec::new();
        for (addr, c) in &mut self.udp {
            let socket = if addr.is_ipv4() {
                self.socket4.as_ref()
            } else {
                self.socket6.as_ref()
            };
            while let Some(bytes) = c.poll_transmit(now) {
                if let Some(s) = socket {
                    // A full socket buffer drops the datagram; the client
                    // retransmits on its timer.
                    let _ = s.send_to(&bytes, *addr);
                }
            }
            while let Some(ev) = c.poll_event() {
                results.push((*addr, ev));
            }
        }
        for (addr, ev) in results {
            let (op, outcome) = match ev {
                UdpEvent::Announced { op, response } => (op, Ok(response)),
                UdpEvent::Failed { op, error } => (op, Err(error)),
                UdpEvent::Scraped { op, response } => {
                    if let Some(url) = self.scrape_ops.remove(&(addr, op)) {
                        self.scrapes.scraped(now, &url, &response);
                    }
                    continue;
                }
            };
            if let Some(o) = self.udp_ops.remove(&(addr, op)) {
                self.outcome(now, o, outcome, found);
            } else if let (Err(e), Some(url)) = (outcome, self.scrape_ops.remove(&(addr, op))) {
                self.scrapes.failed(now, &url, &e.to_string());
            }
        }
    }

    /// Shutdown: sends `stopped` to every tracker that may list us.
    /// Returns how many answers are awaited ([`Self::stops_pending`]).
    pub(crate) fn stop_all(&mut self, now: Instant, pool: &Pool) -> usize {
        self.scrapes.stop();
        let stops = self.sched.shutdown();
        for a in stops {
            self.start(now, a, pool, true);
        }
        let mut ignored = Vec::new();
        self.flush_udp(now, &mut ignored);
        self.stops_pending
    }

    /// `stopped` announces not yet answered.
    pub(crate) fn stops_pending(&self) -> usize {
        self.stops_pending
    }

    /// Per torrent: its trackers' state, for the status report.
    pub(crate) fn report(&self, torrent: TorrentId) -> Vec<TrackerReport> {
        let Some((keys, _)) = self.keys.get(&torrent) else {
            return Vec::new();
        };
        keys.iter()
            .flat_map(|k| self.sched.trackers(*k).into_iter().map(move |t| (*k, t)))
            .map(|(k, t)| TrackerReport {
                scrape: self.scrapes.record(&t.url, k).map(|r| ScrapeReport {
                    complete: r.complete,
                    incomplete: r.incomplete,
                    downloaded: r.downloaded,
                    scraped_at: r.at,
                }),
                url: t.url,
                ok: t.fails == 0 && t.swarm.is_some(),
                fails: t.fails,
                error: t.last_error.map(|e| e.to_string()),
                seeders: t.swarm.and_then(|s| s.0),
                leechers: t.swarm.and_then(|s| s.1),
            })
            .collect()
    }

    /// Peers received from trackers for a torrent, ever.
    pub(crate) fn received(&self, torrent: TorrentId) -> u64 {
        self.keys.get(&torrent).map_or(0, |(_, n)| *n)
    }
}

/// An IPv4-mapped IPv6 source address as the IPv4 address it is.
fn unmap(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        SocketAddr::V4(_) => a,
    }
}
