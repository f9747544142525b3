//! The control thread: everything that is not serving a block.
//!
//! It dials `--peer` addresses (through the least-loaded shard), collects
//! the shards' counters for the status line, keeps the per-torrent peer
//! lists for PEX, watches the files being seeded, and stops everything on
//! SIGINT/SIGTERM. Trackers and the DHT will live here too. It is a plain
//! thread with a short `recv_timeout` loop: nothing it does is on the
//! serving path, and a slow DNS lookup or re-check here never delays a
//! block.

mod dial;
mod pex;
pub mod status;
mod watch;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::config::Config;
use crate::mailbox::MailSender;
use crate::msg::{FromShard, ShardStats, ToShard};
use crate::torrents::Loaded;
use dial::Dialer;
use pex::PexLists;
use status::{Status, StatusReport, TorrentLabel};
use watch::{Change, Recheck, Watcher};

/// Longest sleep of the control loop (how fast a stop request is seen).
const TICK: Duration = Duration::from_millis(50);

/// How long to wait for shards to close their connections on stop.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What the control thread runs with.
pub(crate) struct Control {
    pub(crate) config: Config,
    pub(crate) shards: Vec<MailSender<ToShard>>,
    pub(crate) threads: Vec<JoinHandle<()>>,
    pub(crate) from_shards: Receiver<FromShard>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) latest: Arc<Mutex<Option<StatusReport>>>,
}

impl Control {
    /// Runs until the stop flag is raised, then stops the shards.
    pub(crate) fn run(self, torrents: Vec<Loaded>) {
        let now = Instant::now();
        let n = self.shards.len();
        let (recheck_tx, recheck_rx) = crossbeam_channel::unbounded::<Recheck>();
        let mut watcher = Watcher::new(recheck_tx);
        let mut labels = Vec::new();
        let mut private = Vec::new();
        for t in &torrents {
            labels.push(TorrentLabel {
                name: t.meta.info.name.clone(),
                info_hash: t.hash_hex(),
                piece_count: t.have.len(),
            });
            private.push(t.meta.info.private);
            watcher.add(Arc::clone(&t.meta), t.root.clone(), &t.data, t.have.clone());
        }
        drop(torrents);
        let cfg = &self.config;
        let mut dialer = Dialer::new(&cfg.peers, labels.len(), cfg.dial_max_backoff.0, now);
        let mut pex = PexLists::new(private);
        let mut stats = vec![ShardStats::default(); n];
        let mut status = Status::new(now, n);
        let mut snapshot = Status::new(now, n);
        let status_every = cfg.status_interval.0;
        let mut next_status = now + status_every;
        let mut next_snapshot = now + Duration::from_secs(1);
        let mut next_pex = now + cfg.pex_interval.0.min(Duration::from_secs(5));
        let mut next_watch = now + cfg.file_check_interval.0;

        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut wake = now + TICK;
            if let Some(d) = dialer.next_due() {
                wake = wake.min(d);
            }
            match self
                .from_shards
                .recv_timeout(wake.saturating_duration_since(now))
            {
                Ok(msg) => {
                    let mut msg = Some(msg);
                    while let Some(m) = msg.take().or_else(|| self.from_shards.try_recv().ok()) {
                        self.handle(m, &mut stats, &mut dialer, &mut pex);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            while let Ok(r) = recheck_rx.try_recv() {
                if let Some(c) = watcher.finished(r) {
                    self.apply(c);
                }
            }
            let load: Vec<u32> = stats.iter().map(|s| s.connections).collect();
            for o in dialer.due(now, &load) {
                if let Some(s) = self.shards.get(o.shard) {
                    s.send(ToShard::Dial {
                        dial: o.dial,
                        torrent: o.torrent,
                        addr: o.addr,
                    });
                }
            }
            if now >= next_snapshot {
                let r = snapshot.report(now, &stats, &labels, &watcher.have);
                if let Ok(mut l) = self.latest.lock() {
                    *l = Some(r);
                }
                next_snapshot = now + Duration::from_secs(1);
            }
            if !status_every.is_zero() && now >= next_status {
                let r = status.report(now, &stats, &labels, &watcher.have);
                print_status(&r, cfg.json);
                next_status = now + status_every;
            }
            if now >= next_pex {
                for r in pex.round() {
                    for s in &self.shards {
                        s.send(ToShard::Pex {
                            torrent: r.torrent,
                            all: Arc::clone(&r.all),
                            added: Arc::clone(&r.added),
                            dropped: Arc::clone(&r.dropped),
                        });
                    }
                }
                next_pex = now + cfg.pex_interval.0;
            }
            if now >= next_watch {
                for c in watcher.check() {
                    self.apply(c);
                }
                next_watch = now + cfg.file_check_interval.0;
            }
        }
        self.shutdown(&mut stats, &labels, &watcher.have, &mut status);
    }

    fn handle(
        &self,
        msg: FromShard,
        stats: &mut [ShardStats],
        dialer: &mut Dialer,
        pex: &mut PexLists,
    ) {
        let now = Instant::now();
        match msg {
            FromShard::Stats { shard, stats: s } => {
                if let Some(slot) = stats.get_mut(shard) {
                    *slot = s;
                }
            }
            FromShard::Dialed { dial, result } => dialer.dialed(dial, result, now),
            FromShard::DialClosed { dial, lasted } => dialer.closed(dial, lasted, now),
            FromShard::PeerUp { torrent, addr } => pex.up(torrent, addr),
            FromShard::PeerDown { torrent, addr } => pex.down(torrent, addr),
            FromShard::Failed { shard, what } => {
                tracing::error!("shard {shard} failed: {what}");
            }
            FromShard::Ready { .. } | FromShard::Stopped { .. } => {}
        }
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

    fn shutdown(
        self,
        stats: &mut [ShardStats],
        labels: &[TorrentLabel],
        have: &[Vec<bool>],
        status: &mut Status,
    ) {
        tracing::info!("stopping: closing every connection");
        for s in &self.shards {
            s.send(ToShard::Stop);
        }
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
                Ok(FromShard::Stats { shard, stats: s }) => {
                    if let Some(slot) = stats.get_mut(shard) {
                        *slot = s;
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
        let r = status.report(Instant::now(), stats, labels, have);
        if let Ok(mut l) = self.latest.lock() {
            *l = Some(r.clone());
        }
        if !self.config.status_interval.0.is_zero() {
            print_status(&r, self.config.json);
        }
    }
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
