//! The control core: one thread, pinned to a core no shard uses (when
//! there are enough cores), owning everything that is not serving a block.
//!
//! It announces to trackers ([`trackers`], HTTP through the helper pool in
//! [`http`], UDP on its own socket), runs the DHT node ([`dht`]), dials
//! peers (`--peer` addresses in [`dial`]; peers found by trackers, the DHT
//! and PEX in [`outgoing`]) through the least-loaded shard, collects the
//! shards' counters for the status line, keeps the per-torrent peer lists
//! for PEX, watches the files being seeded, and stops everything on
//! SIGINT/SIGTERM.
//!
//! # Why nothing here can stall a shard
//!
//! The shards and this thread share no lock and no buffer: shards send
//! typed messages over unbounded channels and never wait for an answer;
//! this thread sends them work the same way. Nothing this thread does
//! blocks it either: sockets are non-blocking and read under a budget,
//! HTTP requests and DNS lookups run on helper threads with timeouts, and
//! file re-checks on their own threads. A dead tracker costs one helper
//! thread until its timeout; a DHT storm costs this core's time and is cut
//! by the node's per-IP rate limit; in both cases the shards serve on.

mod commands;
mod dht;
mod dial;
mod http;
pub(crate) mod live;
pub(crate) mod net;
mod outgoing;
mod pex;
mod scrape;
pub mod status;
mod trackers;
mod watch;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use seedcore_tracker::{announce_hashes, TierSettings};

use crate::config::Config;
use crate::mailbox::MailSender;
use crate::msg::{FromShard, ShardStats, ToShard};
use crate::node::TorrentSource;
use crate::torrents::Loaded;
use dht::DhtNode;
use dial::{DialOrder, Dialer};
use http::Pool;
use live::{Command, Live, Phase, Prepared};
use net::Net;
use outgoing::{Outgoing, Source};
use pex::PexLists;
use status::{Extra, FileCheckCounters, OutgoingStatus, Status, StatusReport};
use trackers::{Found, Trackers};
use watch::{Change, Watcher};

/// Longest sleep of the control loop (how fast a stop request and shard
/// messages are seen).
const TICK: Duration = Duration::from_millis(50);

/// How long to wait for shards to close their connections on stop.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// How long the `stopped` announces may hold up the exit.
pub(crate) const STOP_ANNOUNCE_WAIT: Duration = Duration::from_secs(2);

/// What the control thread runs with.
pub(crate) struct Control {
    pub(crate) config: Config,
    pub(crate) shards: Vec<MailSender<ToShard>>,
    pub(crate) threads: Vec<JoinHandle<()>>,
    pub(crate) from_shards: Receiver<FromShard>,
    pub(crate) stop: Arc<AtomicBool>,
    /// Raised by SIGHUP (or a [`crate::ReloadHandle`]); taken each turn.
    pub(crate) reload: Arc<AtomicBool>,
    pub(crate) latest: Arc<Mutex<Option<StatusReport>>>,
    /// Our peer id (for announces).
    pub(crate) peer_id: [u8; 20],
    /// Our TCP listen port.
    pub(crate) port: u16,
    /// Our listen addresses (never dialled).
    pub(crate) listen: Vec<SocketAddr>,
    /// The sockets and poller made before the shards started.
    pub(crate) net: Net,
    /// The core this thread is pinned to (the helpers go there too).
    pub(crate) cpu: Option<usize>,
    /// Calls from [`crate::Node`] handles.
    pub(crate) commands: Receiver<Command>,
    /// Reload requests, to the reloader thread ([`crate::sighup`]).
    pub(crate) reloads: crossbeam_channel::Sender<()>,
    /// The registry's starting point (ids of the torrents loaded at start,
    /// state folder, limits, blocklist).
    pub(crate) live: LiveStart,
}

/// What the live side starts with.
pub(crate) struct LiveStart {
    pub(crate) ids: crate::ids::Ids,
    pub(crate) state: Option<Arc<crate::state::StateDir>>,
    pub(crate) global: Arc<crate::limits::SharedBucket>,
    pub(crate) blocklist: Arc<crate::blocklist::Blocklist>,
}

/// The state of the loop, apart from the thread's inputs.
struct Core {
    pool: Pool,
    trackers: Trackers,
    dht: Option<DhtNode>,
    dialer: Dialer,
    outgoing: Outgoing,
    pex: PexLists,
    live: Live,
    watcher: Watcher,
    stats: Vec<ShardStats>,
    connect_timeout: Duration,
    /// Peers from trackers, and from the DHT, not yet queued for dials.
    found: Found,
    found_dht: Found,
    more_dht: bool,
    more_udp: [bool; 2],
    /// What the file watcher saw (for metrics).
    file_checks: FileCheckCounters,
}

impl Control {
    /// Runs until the stop flag is raised, then stops the shards.
    pub(crate) fn run(mut self, torrents: Vec<(seedcore_protocol::session::TorrentId, Loaded)>) {
        let now = Instant::now();
        let n = self.shards.len();
        let waker = Arc::clone(&self.net.waker);
        let watcher = Watcher::new(
            self.config.file_watch,
            self.config.file_check_interval.0,
            Arc::new(move || {
                let _ = waker.wake();
            }),
        );
        let Some(mut core) = self.core(now, &torrents, watcher) else {
            // No helper threads: nothing can be announced; serve anyway.
            return self.shutdown(&mut None);
        };
        self.restore(&mut core, now);
        let mut status = Status::new(now, n);
        let mut snapshot = Status::new(now, n);
        let status_every = self.config.status_interval.0;
        let mut next_status = now + status_every;
        let mut next_snapshot = now + Duration::from_secs(1);
        let mut last_snapshot = now;
        let mut next_pex = now + self.config.pex_interval.0.min(Duration::from_secs(5));
        let mut events = mio::Events::with_capacity(64);

        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if !self.drain_shards(&mut core, now) {
                break;
            }
            self.live_turn(&mut core, now);
            self.turn(&mut core, now);
            if self.reload.swap(false, Ordering::Relaxed) {
                self.reload_requested();
            }
            for c in core.watcher.poll(now) {
                core.file_checks.count(&c);
                self.apply(c);
            }
            if now >= next_snapshot {
                core.live
                    .rates(now.saturating_duration_since(last_snapshot));
                last_snapshot = now;
                self.rebalance_slots(&mut core);
                let rows = core.rows();
                let r = snapshot.report(now, &core.stats, rows, &core.extra());
                if let Ok(mut l) = self.latest.lock() {
                    *l = Some(r);
                }
                next_snapshot = now + Duration::from_secs(1);
            }
            if !status_every.is_zero() && now >= next_status {
                let rows = core.rows();
                let r = status.report(now, &core.stats, rows, &core.extra());
                print_status(&r, self.config.json);
                next_status = now + status_every;
            }
            if now >= next_pex {
                for r in core.pex.round() {
                    for s in &self.shards {
                        s.send(ToShard::Pex {
                            torrent: r.torrent,
                            all: Arc::clone(&r.all),
                            added: Arc::clone(&r.added),
                            dropped: Arc::clone(&r.dropped),
                        });
                    }
                }
                next_pex = now + self.config.pex_interval.0;
            }
            self.wait(&mut core, &mut events, now, next_snapshot);
        }
        let mut core = Some(core);
        self.shutdown_with(&mut core, &mut status);
    }

    /// Sets up the helpers, trackers, DHT and dialers, and registers the
    /// torrents loaded at start as active.
    fn core(
        &mut self,
        now: Instant,
        torrents: &[(seedcore_protocol::session::TorrentId, Loaded)],
        mut watcher: Watcher,
    ) -> Option<Core> {
        let cfg = &self.config;
        let waker = Arc::clone(&self.net.waker);
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            let _ = waker.wake();
        });
        let pool = match Pool::start(cfg.tracker_workers, self.cpu, Arc::clone(&wake)) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("cannot start the tracker helper threads: {e}; no announces");
                return None;
            }
        };
        let seed = random_bytes::<40>();
        let (dht_seed, rest) = seed.split_at(32);
        let mut tracker_seed = [0u8; 8];
        tracker_seed.copy_from_slice(rest);
        let metas: Vec<(
            seedcore_protocol::session::TorrentId,
            &seedcore_protocol::metainfo::Metainfo,
        )> = torrents.iter().map(|(id, t)| (*id, &*t.meta)).collect();
        let mut trackers = Trackers::new(
            now,
            trackers::Settings {
                peer_id: self.peer_id,
                port: self.port,
                num_want: cfg.num_want,
                tiers: TierSettings {
                    announce_to_all_tiers: cfg.announce_to_all_tiers,
                    announce_to_all_trackers: cfg.announce_to_all_trackers,
                },
                timeout: cfg.tracker_timeout.0,
                spread: cfg.announce_spread.0,
                extra: cfg.trackers.clone(),
                seed: u64::from_le_bytes(tracker_seed),
                scrape_interval: cfg.scrape_interval.0,
            },
            &metas,
            self.net.tracker4.take(),
            self.net.tracker6.take(),
        );
        let registry = self.net.poll.registry();
        for (socket, token) in trackers
            .sockets()
            .into_iter()
            .zip([net::TRACKER4, net::TRACKER6])
        {
            if let Some(s) = socket {
                if let Err(e) = registry.register(s, token, mio::Interest::READABLE) {
                    tracing::warn!("cannot poll the UDP tracker socket: {e}");
                }
            }
        }
        let dht = self.net.dht.take().map(|socket| {
            let hashes = torrents
                .iter()
                .filter(|(_, t)| !t.meta.info.private)
                .flat_map(|(id, t)| {
                    let id = *id;
                    announce_hashes(&t.meta.info_hashes)
                        .into_iter()
                        .map(move |h| (id, h))
                })
                .collect();
            let state_path = cfg
                .resume_dir
                .clone()
                .or_else(|| self.live.state.as_ref().map(|s| s.root().to_path_buf()))
                .or_else(|| torrents.first().map(|(_, t)| t.root.join(".seedcore")));
            let mut seed = [0u8; 32];
            seed.copy_from_slice(dht_seed);
            let mut node = DhtNode::new(
                now,
                socket,
                dht::Settings {
                    tcp_port: self.port,
                    bootstrap: cfg.dht_bootstrap.clone(),
                    interval: cfg.dht_announce_interval.0,
                    state_path: state_path.map(|d| d.join("dht.state")),
                    seed,
                },
                hashes,
                &pool,
            );
            if let Err(e) = registry.register(node.socket(), net::DHT, mio::Interest::READABLE) {
                tracing::warn!("cannot poll the DHT socket: {e}");
            }
            node
        });
        let n = self.shards.len();
        let ids: Vec<seedcore_protocol::session::TorrentId> =
            torrents.iter().map(|(id, _)| *id).collect();
        let mut outgoing = Outgoing::new(
            cfg.max_outgoing,
            cfg.max_outgoing_per_torrent,
            outgoing::DialRates {
                total: cfg.dial_rate,
                per_torrent: cfg.dial_rate_per_torrent,
            },
            self.listen.clone(),
        );
        let mut pex = PexLists::default();
        let resume_dir = cfg
            .resume_dir
            .clone()
            .or_else(|| self.live.state.as_ref().map(|s| s.resume_dir()));
        let mut live = Live::new(
            self.live.state.clone(),
            resume_dir,
            cfg.verify_threads,
            Arc::clone(&self.live.global),
            cfg.upload_slots,
            n,
            Arc::clone(&self.live.blocklist),
            cfg.max_peers,
            std::mem::take(&mut self.live.ids),
            wake,
        );
        for (id, t) in torrents {
            outgoing.add_torrent(*id);
            pex.add(*id, t.meta.info.private);
            watcher.add(
                *id,
                Arc::clone(&t.meta),
                t.root.clone(),
                &t.data,
                t.have.clone(),
            );
            let key = crate::node::TorrentKey(t.meta.info_hashes.wire_hash());
            let e = live.insert(
                Prepared {
                    key,
                    meta: Arc::clone(&t.meta),
                    bytes: None,
                    root: t.root.clone(),
                    torrent_path: Some(t.torrent_path.clone()),
                    source: TorrentSource::Config,
                    paused: false,
                    upload_limit: 0,
                    watch_file: None,
                    made_stamps: None,
                },
                Phase::Active(*id),
            );
            e.ctx = Some(Arc::clone(&t.ctx));
            e.data = Some(Arc::clone(&t.data));
            live.by_id.insert(*id, key);
        }
        Some(Core {
            pool,
            trackers,
            dht,
            dialer: Dialer::new(&cfg.peers, &ids, cfg.dial_max_backoff.0, now),
            outgoing,
            pex,
            live,
            watcher,
            stats: vec![ShardStats::default(); n],
            connect_timeout: cfg.connect_timeout.0,
            found: Vec::new(),
            found_dht: Vec::new(),
            more_dht: false,
            more_udp: [false; 2],
            file_checks: FileCheckCounters::default(),
        })
    }

    /// Takes every message the shards sent; false when they are all gone.
    fn drain_shards(&self, core: &mut Core, now: Instant) -> bool {
        loop {
            match self.from_shards.try_recv() {
                Ok(m) => self.handle(core, m, now),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// One turn of the network side: helper results, sockets with work
    /// left over, timers, found peers, dials.
    fn turn(&self, core: &mut Core, now: Instant) {
        while let Some(done) = core.pool.try_done() {
            let done = core
                .trackers
                .on_done(now, done, &core.pool, &mut core.found);
            if let (Some(done), Some(d)) = (done, core.dht.as_mut()) {
                let _ = d.on_done(now, done);
            }
        }
        if core.more_dht {
            if let Some(d) = core.dht.as_mut() {
                core.more_dht = d.readable(now, &mut core.found_dht);
            }
        }
        for (i, v6) in [(0usize, false), (1, true)] {
            if core.more_udp.get(i).copied().unwrap_or(false) {
                let more = core.trackers.readable(now, v6, &mut core.found);
                if let Some(m) = core.more_udp.get_mut(i) {
                    *m = more;
                }
            }
        }
        core.trackers.tick(now, &core.pool, &mut core.found);
        if let Some(d) = core.dht.as_mut() {
            d.tick(now, &mut core.found_dht);
        }
        for (torrent, mut peers) in std::mem::take(&mut core.found) {
            peers.retain(|a| !core.live.blocklist.blocks(a.ip()));
            core.outgoing.add(now, torrent, &peers, Source::Tracker);
        }
        for (torrent, mut peers) in std::mem::take(&mut core.found_dht) {
            peers.retain(|a| !core.live.blocklist.blocks(a.ip()));
            core.outgoing.add(now, torrent, &peers, Source::Dht);
        }
        self.dial(core, now);
    }

    /// Hands due dials to the least-loaded shards.
    fn dial(&self, core: &mut Core, now: Instant) {
        let n = self.shards.len();
        let mut load: Vec<u32> = core.stats.iter().map(|s| s.connections).collect();
        for (l, o) in load.iter_mut().zip(core.outgoing.load(n)) {
            *l += o;
        }
        let mut orders = core.dialer.due(now, &load);
        orders.extend(core.outgoing.due(now, &load));
        for o in orders {
            self.send_dial(o, core.connect_timeout);
        }
    }

    fn send_dial(&self, o: DialOrder, timeout: Duration) {
        if let Some(s) = self.shards.get(o.shard) {
            s.send(ToShard::Dial {
                dial: o.dial,
                torrent: o.torrent,
                addr: o.addr,
                timeout,
            });
        }
    }

    /// Sleeps until a socket is readable, a helper finishes, a timer is
    /// due, or [`TICK`] passes.
    fn wait(&mut self, core: &mut Core, events: &mut mio::Events, now: Instant, snapshot: Instant) {
        let busy = core.more_dht || core.more_udp.iter().any(|m| *m);
        let mut wake = (now + TICK).min(snapshot);
        for t in [
            core.dialer.next_due(),
            core.trackers.next_timeout(),
            core.dht.as_ref().and_then(DhtNode::next_timeout),
        ]
        .into_iter()
        .flatten()
        {
            wake = wake.min(t);
        }
        let timeout = if busy {
            Duration::ZERO
        } else {
            wake.saturating_duration_since(Instant::now())
        };
        if let Err(e) = self.net.poll.poll(events, Some(timeout)) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                tracing::warn!("control poll: {e}");
                std::thread::sleep(TICK);
            }
            return;
        }
        let now = Instant::now();
        for ev in events.iter() {
            match ev.token() {
                net::DHT => {
                    if let Some(d) = core.dht.as_mut() {
                        core.more_dht = d.readable(now, &mut core.found_dht);
                    }
                }
                net::TRACKER4 => {
                    core.more_udp[0] = core.trackers.readable(now, false, &mut core.found);
                }
                net::TRACKER6 => {
                    core.more_udp[1] = core.trackers.readable(now, true, &mut core.found);
                }
                _ => {}
            }
        }
    }

    fn handle(&self, core: &mut Core, msg: FromShard, now: Instant) {
        match msg {
            FromShard::Stats {
                shard,
                stats: mut s,
            } => {
                for d in std::mem::take(&mut s.torrents) {
                    if let Some((id, total)) = core.live.count(d.id, d.peers, d.uploaded) {
                        core.trackers.set_uploaded(id, total);
                    }
                }
                if let Some(slot) = core.stats.get_mut(shard) {
                    *slot = *s;
                }
            }
            FromShard::Detached { shard, id } => {
                tracing::trace!("shard {shard} detached torrent {}", id.0);
                core.live.detached(id);
            }
            FromShard::Dialed { dial, result } => {
                if core.outgoing.owns(dial) {
                    core.outgoing.dialed(dial, result, now);
                } else {
                    core.dialer.dialed(dial, result, now);
                }
            }
            FromShard::DialClosed { dial, lasted } => {
                if core.outgoing.owns(dial) {
                    core.outgoing.closed(dial, now);
                } else {
                    core.dialer.closed(dial, lasted, now);
                }
            }
            FromShard::PeerUp { torrent, addr } => {
                if !core.live.by_id.contains_key(&torrent) {
                    return;
                }
                core.pex.up(torrent, addr);
                core.outgoing.up(torrent, addr);
            }
            FromShard::PeerDown { torrent, addr } => {
                core.pex.down(torrent, addr);
                core.outgoing.down(torrent, addr);
            }
            FromShard::DhtPort { addr } => {
                if let Some(d) = core.dht.as_mut() {
                    d.ping(now, addr);
                }
            }
            FromShard::PexPeers { torrent, mut added } => {
                let private = core
                    .live
                    .by_id
                    .get(&torrent)
                    .and_then(|k| core.live.entries.get(k))
                    .map(|e| e.meta.info.private);
                if private == Some(false) {
                    added.retain(|a| !core.live.blocklist.blocks(a.ip()));
                    core.outgoing.add(now, torrent, &added, Source::Pex);
                }
            }
            FromShard::Failed { shard, what } => {
                tracing::error!("shard {shard} failed: {what}");
            }
            FromShard::Ready { .. } | FromShard::Stopped { .. } => {}
        }
    }

    /// A reload was asked for (SIGHUP, or a [`crate::ReloadHandle`]): the
    /// reloader thread reads the configuration and the blocklist again and
    /// hands them back through [`crate::Node`] (this thread must not wait
    /// for a file or a parse).
    fn reload_requested(&self) {
        tracing::info!(
            "reload requested (SIGHUP): reading the configuration and the blocklist again"
        );
        let _ = self.reloads.send(());
    }

    fn apply(&self, change: Change) {
        for s in &self.shards {
            let msg = match &change {
                Change::Lost(t, pieces) => ToShard::PiecesLost {
                    torrent: *t,
                    pieces: pieces.clone().into(),
                },
                Change::Added(t, pieces, data) => ToShard::PiecesAdded {
                    torrent: *t,
                    pieces: pieces.clone().into(),
                    data: Arc::clone(data),
                },
            };
            s.send(msg);
        }
    }

    fn shutdown(self, core: &mut Option<Core>) {
        let mut status = Status::new(Instant::now(), self.shards.len());
        self.shutdown_with(core, &mut status);
    }

    /// Stops the shards, sends `stopped` to the trackers (waiting at most
    /// [`STOP_ANNOUNCE_WAIT`]), saves the DHT's routing table, waits for
    /// the shards, prints the last status.
    fn shutdown_with(mut self, core: &mut Option<Core>, status: &mut Status) {
        tracing::info!("stopping: closing every connection");
        for s in &self.shards {
            s.send(ToShard::Stop);
        }
        if let Some(c) = core.as_mut() {
            self.stop_announces(c);
            c.pool.close();
            c.live.close();
            if let Some(d) = &c.dht {
                d.save();
            }
        }
        let mut stats = core.as_ref().map_or_else(
            || vec![ShardStats::default(); self.shards.len()],
            |c| c.stats.clone(),
        );
        let deadline = Instant::now() + STOP_WAIT;
        let mut stopped = vec![false; self.shards.len()];
        while stopped.iter().any(|s| !s) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_shards.recv_timeout(left) {
                Ok(FromShard::Stopped { shard }) => {
                    if let Some(s) = stopped.get_mut(shard) {
                        *s = true;
                    }
                }
                Ok(FromShard::Stats {
                    shard,
                    stats: mut s,
                }) => {
                    if let Some(c) = core.as_mut() {
                        for d in std::mem::take(&mut s.torrents) {
                            let _ = c.live.count(d.id, d.peers, d.uploaded);
                        }
                    }
                    if let Some(slot) = stats.get_mut(shard) {
                        *slot = *s;
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    tracing::warn!("some shards did not stop within {STOP_WAIT:?}");
                    break;
                }
            }
        }
        for t in self.threads {
            let _ = t.join();
        }
        let extra = core.as_ref().map(Core::extra).unwrap_or_default();
        let rows = core.as_ref().map(Core::rows).unwrap_or_default();
        let r = status.report(Instant::now(), &stats, rows, &extra);
        if let Ok(mut l) = self.latest.lock() {
            *l = Some(r.clone());
        }
        if !self.config.status_interval.0.is_zero() {
            print_status(&r, self.config.json);
        }
    }

    /// `stopped` to every tracker that may list us, answers awaited for
    /// at most [`STOP_ANNOUNCE_WAIT`].
    fn stop_announces(&mut self, core: &mut Core) {
        let start = Instant::now();
        let deadline = start + STOP_ANNOUNCE_WAIT;
        let sent = core.trackers.stop_all(start, &core.pool);
        if sent == 0 {
            return;
        }
        let mut events = mio::Events::with_capacity(16);
        let mut found = Vec::new();
        while core.trackers.stops_pending() > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let wait = deadline.saturating_duration_since(now).min(TICK);
            if self.net.poll.poll(&mut events, Some(wait)).is_err() {
                std::thread::sleep(wait);
            }
            let now = Instant::now();
            for ev in events.iter() {
                match ev.token() {
                    net::TRACKER4 => {
                        let _ = core.trackers.readable(now, false, &mut found);
                    }
                    net::TRACKER6 => {
                        let _ = core.trackers.readable(now, true, &mut found);
                    }
                    _ => {}
                }
            }
            while let Some(done) = core.pool.try_done() {
                let _ = core.trackers.on_done(now, done, &core.pool, &mut found);
            }
            core.trackers.tick(now, &core.pool, &mut found);
        }
        let left = core.trackers.stops_pending();
        if left > 0 {
            tracing::info!(
                "{left} of {sent} trackers did not answer `stopped` within {STOP_ANNOUNCE_WAIT:?}"
            );
        } else {
            tracing::info!("sent `stopped` to {sent} trackers");
        }
    }
}

impl Core {
    fn extra(&self) -> Extra {
        let c = self.outgoing.counts();
        Extra {
            dht: self.dht.as_ref().map(DhtNode::status),
            outgoing: OutgoingStatus {
                candidates: c.candidates,
                dialing: c.dialing,
                connected: c.connected,
                from_trackers: c.found_tracker,
                from_dht: c.found_dht,
                from_pex: c.found_pex,
                dials: c.dials,
            },
            live: self.live_status(),
            announces: self.trackers.counts,
            file_checks: FileCheckCounters {
                rechecks: self.watcher.rechecks_done,
                ..self.file_checks
            },
        }
    }
}

impl FileCheckCounters {
    fn count(&mut self, c: &Change) {
        match c {
            Change::Lost(_, pieces) => {
                self.files_changed += 1;
                self.pieces_lost += pieces.len() as u64;
            }
            Change::Added(_, pieces, _) => self.pieces_restored += pieces.len() as u64,
        }
    }
}

/// `N` random bytes from the OS (the clock and pid if that fails: these
/// seed jitter, transaction ids and DHT tokens, which must be hard to
/// guess off-path but need no more).
fn random_bytes<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut b = [0u8; N];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if ok.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut x = t ^ (u128::from(std::process::id()) << 64);
        for o in &mut b {
            x = x.wrapping_mul(0x2545_F491_4F6C_DD1D_2545_F491_4F6C_DD1D) ^ (x >> 61);
            *o = x.to_le_bytes().first().copied().unwrap_or(0);
        }
    }
    b
}

fn print_status(r: &StatusReport, json: bool) {
    use std::io::Write;
    eprintln!("{}", r.line());
    if json {
        if let Ok(text) = serde_json::to_string(r) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }
}
