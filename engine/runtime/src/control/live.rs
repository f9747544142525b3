//! The live node on the control core: the registry of every torrent (in
//! any state), the commands of [`crate::Node`], the loader threads that
//! open and verify torrents added at run time, and the writer thread that
//! keeps the state folder.
//!
//! # A torrent's life
//!
//! ```text
//!  add ──► Loading ──► (Checking) ──► Seeding ◄──► Paused
//!             │  loader thread:          │  Attach to every shard, trackers,
//!             │  open, resume or verify  │  DHT, PEX, dials, file watcher
//!             ▼                          ▼
//!           Error               pause / remove / recheck: Detach from every
//!                               shard (its peers closed), `stopped` to its
//!                               trackers, DHT and PEX forget it
//! ```
//!
//! The registry is keyed by [`TorrentKey`]; a torrent being served also has
//! a [`TorrentId`] (`crate::ids`), new at every activation and released
//! once every shard confirmed the detach.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};
use seedcore_protocol::metainfo::Metainfo;
use seedcore_protocol::session::{TorrentContext, TorrentId};
use seedcore_storage::{FileStamp, VerifyOptions};

use crate::blocklist::Blocklist;
use crate::limits::SharedBucket;
use crate::node::{
    BlocklistInfo, Limits, LimitsUpdate, NodeError, PeerInfo, TorrentInfo, TorrentKey,
    TorrentSource, TorrentState, VerifyProgress,
};
use crate::state::{Record, StateDir};
use crate::torrents::TorrentData;

/// Where a call's answer goes.
pub(crate) type Reply<T> = Sender<Result<T, NodeError>>;

/// A torrent ready to be handed to the control core: parsed, its data
/// folder known (the slow parts of an add happen on the caller's thread).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) key: TorrentKey,
    pub(crate) meta: Arc<Metainfo>,
    /// The `.torrent` bytes, to keep in the state folder.
    pub(crate) bytes: Option<Arc<[u8]>>,
    pub(crate) root: PathBuf,
    pub(crate) torrent_path: Option<PathBuf>,
    pub(crate) source: TorrentSource,
    pub(crate) paused: bool,
    pub(crate) upload_limit: u64,
    pub(crate) watch_file: Option<PathBuf>,
    /// For a torrent just made: the files' stamps when they were hashed.
    pub(crate) made_stamps: Option<Vec<Option<FileStamp>>>,
}

/// What [`crate::Node`] asks the control core.
#[derive(Debug)]
pub(crate) enum Command {
    List(Reply<Vec<TorrentInfo>>),
    Get(TorrentKey, Reply<TorrentInfo>),
    Add(Box<Prepared>, Reply<TorrentInfo>),
    Remove(TorrentKey, Reply<()>),
    Pause(TorrentKey, Reply<TorrentInfo>),
    Resume(TorrentKey, Reply<TorrentInfo>),
    Recheck(TorrentKey, Reply<TorrentInfo>),
    TorrentLimit(TorrentKey, u64, Reply<TorrentInfo>),
    /// Asks the shards; answers how many will reply on the sender.
    Peers(TorrentKey, Sender<(usize, Vec<PeerInfo>)>, Reply<usize>),
    Limits(Reply<Limits>),
    SetLimits(LimitsUpdate, Reply<Limits>),
    /// The blocklist in force and the file to reload it from.
    Blocklist(Reply<(BlocklistInfo, Option<PathBuf>)>),
    /// A new blocklist; each shard sends its index on the sender once it
    /// applied it; answers how many will.
    SetBlocklist(Arc<Blocklist>, Sender<usize>, Reply<(BlocklistInfo, usize)>),
    /// Torrents added from the watch folder: file and key.
    Watched(Reply<Vec<(PathBuf, TorrentKey)>>),
    /// A reloaded configuration to apply what can change live.
    Reload(Box<crate::Config>, Reply<crate::node::ReloadReport>),
}

/// Where a torrent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Loading,
    Active(TorrentId),
    Paused,
    Error,
}

/// How far a loader got (shared with its thread).
#[derive(Debug, Default)]
pub(crate) struct Progress {
    checking: AtomicBool,
    bytes: AtomicU64,
}

/// One torrent of the node.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: TorrentKey,
    seq: u64,
    pub(crate) meta: Arc<Metainfo>,
    pub(crate) root: PathBuf,
    torrent_path: Option<PathBuf>,
    pub(crate) source: TorrentSource,
    pub(crate) watch_file: Option<PathBuf>,
    added_at: u64,
    pub(crate) paused: bool,
    pub(crate) upload_limit: u64,
    pub(crate) limit: Option<Arc<SharedBucket>>,
    pub(crate) phase: Phase,
    error: Option<String>,
    /// The current load job (results of older ones are dropped).
    job: u64,
    progress: Arc<Progress>,
    made_stamps: Option<Vec<Option<FileStamp>>>,
    /// Data of the active torrent.
    pub(crate) ctx: Option<Arc<TorrentContext>>,
    pub(crate) data: Option<Arc<TorrentData>>,
    /// Counters, all shards.
    pub(crate) peers: i64,
    pub(crate) uploaded: u64,
    last_uploaded: u64,
    pub(crate) rate: f64,
    /// Pieces servable when last known (paused and errored torrents keep
    /// their last figure).
    pieces: u32,
}

impl Entry {
    fn state(&self) -> TorrentState {
        match self.phase {
            Phase::Loading if self.progress.checking.load(Ordering::Relaxed) => {
                TorrentState::Checking
            }
            Phase::Loading => TorrentState::Loading,
            Phase::Active(_) => TorrentState::Seeding,
            Phase::Paused => TorrentState::Paused,
            Phase::Error => TorrentState::Error,
        }
    }

    fn record(&self) -> Record {
        Record {
            data: self.root.clone(),
            paused: self.paused,
            upload_limit: self.upload_limit,
            source: self.source,
            watch_file: self.watch_file.clone(),
            added_at: self.added_at,
        }
    }

    /// Whether the state folder keeps it.
    fn persisted(&self) -> bool {
        self.source != TorrentSource::Config
    }
}

/// A load job for a loader thread.
#[derive(Debug)]
pub(crate) struct LoadJob {
    key: TorrentKey,
    job: u64,
    meta: Arc<Metainfo>,
    root: PathBuf,
    resume_file: PathBuf,
    made_stamps: Option<Vec<Option<FileStamp>>>,
    force: bool,
    progress: Arc<Progress>,
    verify_threads: usize,
}

/// What a loader thread found.
#[derive(Debug)]
pub(crate) struct LoadDone {
    pub(crate) key: TorrentKey,
    pub(crate) job: u64,
    pub(crate) result: Result<(TorrentContext, TorrentData, Vec<bool>), String>,
}

/// A write to the state folder, done on the writer thread; `done` gets
/// the outcome (and answers the caller).
pub(crate) struct WriteJob {
    op: WriteOp,
    done: Box<dyn FnOnce(Result<(), NodeError>) + Send>,
}

enum WriteOp {
    Save {
        key: TorrentKey,
        bytes: Option<Arc<[u8]>>,
        record: Record,
    },
    Forget(TorrentKey),
}

/// The registry and its helpers.
pub(crate) struct Live {
    pub(crate) entries: HashMap<TorrentKey, Entry>,
    order: BTreeMap<u64, TorrentKey>,
    /// Active torrents by id (for messages from the shards).
    pub(crate) by_id: HashMap<TorrentId, TorrentKey>,
    /// Ids detached but not yet confirmed by every shard.
    detaching: HashMap<TorrentId, usize>,
    pub(crate) ids: crate::ids::Ids,
    next_seq: u64,
    next_job: u64,
    loader: Option<Sender<LoadJob>>,
    pub(crate) loaded: Receiver<LoadDone>,
    writer: Option<Sender<WriteJob>>,
    /// Adds whose state-folder write failed: to undo.
    pub(crate) rollback_tx: Sender<TorrentKey>,
    pub(crate) rollback: Receiver<TorrentKey>,
    pub(crate) state: Option<Arc<StateDir>>,
    pub(crate) resume_dir: Option<PathBuf>,
    pub(crate) verify_threads: usize,
    /// The node's upload limit.
    pub(crate) global: Arc<SharedBucket>,
    /// Upload slots in all (0: unlimited) and each shard's share now.
    pub(crate) slots: u32,
    pub(crate) shares: Vec<Option<usize>>,
    pub(crate) blocklist: Arc<Blocklist>,
    pub(crate) blocklist_at: u64,
    pub(crate) max_peers: u32,
}

impl Live {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        state: Option<Arc<StateDir>>,
        resume_dir: Option<PathBuf>,
        verify_threads: usize,
        global: Arc<SharedBucket>,
        slots: u32,
        shards: usize,
        blocklist: Arc<Blocklist>,
        max_peers: u32,
        ids: crate::ids::Ids,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Live {
        let (loaded_tx, loaded) = crossbeam_channel::unbounded();
        let loader = start_loaders(loaded_tx, Arc::clone(&wake));
        let writer = state.as_ref().and_then(|s| start_writer(Arc::clone(s)));
        let (rollback_tx, rollback) = crossbeam_channel::unbounded();
        Live {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            by_id: HashMap::new(),
            detaching: HashMap::new(),
            ids,
            next_seq: 0,
            next_job: 0,
            loader,
            loaded,
            writer,
            rollback_tx,
            rollback,
            state,
            resume_dir,
            verify_threads,
            global,
            slots,
            shares: even_shares(slots, shards),
            blocklist,
            blocklist_at: unix_now(),
            max_peers,
        }
    }

    /// Registers a torrent (not yet loaded, or already active).
    pub(crate) fn insert(&mut self, p: Prepared, phase: Phase) -> &mut Entry {
        let seq = self.next_seq;
        self.next_seq += 1;
        let limit = (p.upload_limit > 0).then(|| Arc::new(SharedBucket::new(p.upload_limit)));
        let entry = Entry {
            key: p.key,
            seq,
            pieces: 0,
            meta: p.meta,
            root: p.root,
            torrent_path: p.torrent_path,
            source: p.source,
            watch_file: p.watch_file,
            added_at: unix_now(),
            paused: p.paused,
            upload_limit: p.upload_limit,
            limit,
            phase,
            error: None,
            job: 0,
            progress: Arc::new(Progress::default()),
            made_stamps: p.made_stamps,
            ctx: None,
            data: None,
            peers: 0,
            uploaded: 0,
            last_uploaded: 0,
            rate: 0.0,
        };
        self.order.insert(seq, p.key);
        self.entries.entry(p.key).or_insert(entry)
    }

    /// Forgets a torrent entirely.
    pub(crate) fn forget(&mut self, key: TorrentKey) -> Option<Entry> {
        let e = self.entries.remove(&key)?;
        self.order.remove(&e.seq);
        Some(e)
    }

    /// Starts (or restarts) loading a torrent on a loader thread.
    pub(crate) fn load(&mut self, key: TorrentKey, force: bool) {
        let Some(e) = self.entries.get_mut(&key) else {
            return;
        };
        self.next_job += 1;
        e.job = self.next_job;
        e.phase = Phase::Loading;
        e.error = None;
        e.progress = Arc::new(Progress::default());
        let resume_dir = self
            .resume_dir
            .clone()
            .unwrap_or_else(|| e.root.join(".seedcore"));
        let job = LoadJob {
            key,
            job: e.job,
            meta: Arc::clone(&e.meta),
            root: e.root.clone(),
            resume_file: resume_dir.join(format!("{}.resume", crate::torrents::hash_hex(&e.meta))),
            made_stamps: e.made_stamps.take(),
            force,
            progress: Arc::clone(&e.progress),
            verify_threads: self.verify_threads,
        };
        let sent = self.loader.as_ref().is_some_and(|l| l.send(job).is_ok());
        if !sent {
            e.phase = Phase::Error;
            e.error = Some("no loader thread could be started".into());
        }
    }

    /// Whether a load result is the current job of a torrent still here.
    pub(crate) fn is_current(&self, d: &LoadDone) -> bool {
        self.entries
            .get(&d.key)
            .is_some_and(|e| e.job == d.job && e.phase == Phase::Loading)
    }

    /// Writes to the state folder (on the writer thread); `done` gets the
    /// outcome. Without a state folder, `done(Ok)` at once.
    pub(crate) fn persist_save(
        &self,
        key: TorrentKey,
        bytes: Option<Arc<[u8]>>,
        done: Box<dyn FnOnce(Result<(), NodeError>) + Send>,
    ) {
        let Some(e) = self.entries.get(&key) else {
            return done(Ok(()));
        };
        if !e.persisted() {
            return done(Ok(()));
        }
        let job = WriteJob {
            op: WriteOp::Save {
                key,
                bytes,
                record: e.record(),
            },
            done,
        };
        self.write(job);
    }

    /// Forgets a torrent in the state folder.
    pub(crate) fn persist_forget(
        &self,
        key: TorrentKey,
        done: Box<dyn FnOnce(Result<(), NodeError>) + Send>,
    ) {
        self.write(WriteJob {
            op: WriteOp::Forget(key),
            done,
        });
    }

    fn write(&self, job: WriteJob) {
        match &self.writer {
            Some(w) => {
                if let Err(e) = w.send(job) {
                    (e.0.done)(Err(NodeError::Stopping));
                }
            }
            None => (job.done)(Ok(())),
        }
    }

    /// A shard confirmed it detached `id`; true once every shard did.
    pub(crate) fn detached(&mut self, id: TorrentId) {
        if let Some(n) = self.detaching.get_mut(&id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.detaching.remove(&id);
                self.ids.release(id);
            }
        }
    }

    /// An id was detached from `shards` shards.
    pub(crate) fn detaching(&mut self, id: TorrentId, shards: usize) {
        self.by_id.remove(&id);
        if shards == 0 {
            self.ids.release(id);
        } else {
            self.detaching.insert(id, shards);
        }
    }

    /// Adds shard counters' differences.
    pub(crate) fn count(
        &mut self,
        id: TorrentId,
        peers: i64,
        uploaded: u64,
    ) -> Option<(TorrentId, u64)> {
        let key = self.by_id.get(&id)?;
        let e = self.entries.get_mut(key)?;
        e.peers += peers;
        e.uploaded += uploaded;
        (uploaded > 0).then_some((id, e.uploaded))
    }

    /// Per-torrent rates, over `dt` since the last call.
    pub(crate) fn rates(&mut self, dt: Duration) {
        let secs = dt.as_secs_f64().max(1e-3);
        for e in self.entries.values_mut() {
            e.rate = e.uploaded.saturating_sub(e.last_uploaded) as f64 / secs;
            e.last_uploaded = e.uploaded;
        }
    }

    /// Every entry in the order they were added.
    pub(crate) fn ordered(&self) -> impl Iterator<Item = &Entry> {
        self.order.values().filter_map(|k| self.entries.get(k))
    }

    /// What the API shows for one entry.
    pub(crate) fn info(
        &self,
        e: &Entry,
        have: Option<&Vec<bool>>,
        trackers: Vec<crate::control::status::TrackerReport>,
    ) -> TorrentInfo {
        let meta = &e.meta;
        let piece_count = meta.info.piece_count;
        let pieces = match (e.phase, have) {
            (Phase::Active(_), Some(h)) => {
                u32::try_from(h.iter().filter(|x| **x).count()).unwrap_or(u32::MAX)
            }
            _ => e.pieces,
        };
        let verify = (e.phase == Phase::Loading && e.progress.checking.load(Ordering::Relaxed))
            .then(|| {
                let pl = u64::from(meta.info.piece_length.get()).max(1);
                let done =
                    (e.progress.bytes.load(Ordering::Relaxed) / pl).min(u64::from(piece_count));
                VerifyProgress {
                    pieces_checked: done,
                    pieces_total: u64::from(piece_count),
                    fraction: if piece_count == 0 {
                        1.0
                    } else {
                        done as f64 / f64::from(piece_count)
                    },
                }
            });
        TorrentInfo {
            key: e.key,
            info_hash: crate::torrents::hash_hex(meta),
            info_hash_v2: meta.info_hashes.v2.map(|h| h.to_string()),
            name: meta.info.name.clone(),
            state: e.state(),
            error: e.error.clone(),
            source: e.source,
            data: e.root.clone(),
            torrent_path: e.torrent_path.clone(),
            size: meta.info.total_length,
            piece_count,
            pieces,
            private: meta.info.private,
            verify,
            peers: u32::try_from(e.peers.max(0)).unwrap_or(u32::MAX),
            uploaded: e.uploaded,
            upload_rate: e.rate,
            upload_limit: e.upload_limit,
            trackers,
            added_at: e.added_at,
            magnet: seedcore_protocol::magnet::Magnet::from_metainfo(meta).to_uri(),
        }
    }

    /// Limits in force.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            upload_rate: self.global.rate(),
            upload_slots: self.slots,
            max_peers: self.max_peers,
        }
    }

    /// The blocklist as the API shows it.
    pub(crate) fn blocklist_info(&self) -> BlocklistInfo {
        BlocklistInfo {
            path: self.blocklist.path().map(std::path::Path::to_path_buf),
            ranges_v4: self.blocklist.ranges_v4(),
            ranges_v6: self.blocklist.ranges_v6(),
            skipped_lines: self.blocklist.skipped(),
            loaded_at: self.blocklist_at,
        }
    }

    /// Sets an entry's last known piece count.
    pub(crate) fn set_pieces(&mut self, key: TorrentKey, pieces: u32) {
        if let Some(e) = self.entries.get_mut(&key) {
            e.pieces = pieces;
        }
    }

    /// Marks a load failure.
    pub(crate) fn failed(&mut self, key: TorrentKey, why: String) {
        if let Some(e) = self.entries.get_mut(&key) {
            tracing::warn!("{}: cannot be served: {why}", e.meta.info.name);
            e.phase = Phase::Error;
            e.error = Some(why);
        }
    }

    /// Stops the helper threads (they end once their queues are empty).
    pub(crate) fn close(&mut self) {
        self.loader = None;
        self.writer = None;
    }

    /// Each shard's share of the upload slots, by demand (`interested[i]`:
    /// shard `i`'s interested peers): proportional, largest remainders
    /// first, summing to the total exactly. Returns the shares to send.
    ///
    /// Shares that shrink are sent at once; shares that grow wait for a
    /// call that shrinks none (the next second's), so that a shard given
    /// more never unchokes before the one given less has choked: the sum
    /// of what the shards use stays within the total through the move.
    pub(crate) fn rebalance(&mut self, interested: &[u32]) -> Vec<(usize, Option<usize>)> {
        let n = interested.len();
        let target: Vec<Option<usize>> = if self.slots == 0 {
            vec![None; n]
        } else {
            demand_shares(self.slots as usize, interested)
                .into_iter()
                .map(Some)
                .collect()
        };
        if self.shares.len() != n {
            self.shares = vec![Some(0); n];
        }
        // Unlimited counts as the largest share.
        let size = |s: Option<usize>| s.unwrap_or(usize::MAX);
        let lowers: Vec<usize> = (0..n)
            .filter(|&i| {
                let (cur, new) = (
                    self.shares.get(i).copied().flatten(),
                    target.get(i).copied().flatten(),
                );
                size(new) < size(cur)
            })
            .collect();
        let mut changed = Vec::new();
        if lowers.is_empty() {
            for (i, t) in target.iter().enumerate() {
                if self.shares.get(i) != Some(t) {
                    changed.push((i, *t));
                }
            }
        } else {
            for i in lowers {
                if let Some(t) = target.get(i) {
                    changed.push((i, *t));
                }
            }
        }
        for &(i, t) in &changed {
            if let Some(s) = self.shares.get_mut(i) {
                *s = t;
            }
        }
        changed
    }
}

/// `slots` split evenly (for the start, before any demand is known).
pub(crate) fn even_shares(slots: u32, shards: usize) -> Vec<Option<usize>> {
    if slots == 0 {
        return vec![None; shards];
    }
    demand_shares(slots as usize, &vec![1; shards])
        .into_iter()
        .map(Some)
        .collect()
}

/// Splits `slots` between shards in proportion to `demand`; the slots
/// left by rounding go first to shards with demand and no slot, then to
/// the largest remainders. With no demand anywhere, an even split.
pub(crate) fn demand_shares(slots: usize, demand: &[u32]) -> Vec<usize> {
    let n = demand.len();
    if n == 0 {
        return Vec::new();
    }
    let total: u64 = demand.iter().map(|d| u64::from(*d)).sum();
    let demand: Vec<u64> = if total == 0 {
        vec![1; n]
    } else {
        demand.iter().map(|d| u64::from(*d)).collect()
    };
    let total: u64 = demand.iter().sum();
    let mut out: Vec<usize> = Vec::with_capacity(n);
    let mut rest: Vec<(u64, usize)> = Vec::with_capacity(n);
    for (i, d) in demand.iter().enumerate() {
        let exact = (slots as u64) * d;
        out.push(usize::try_from(exact / total).unwrap_or(slots));
        rest.push((exact % total, i));
    }
    let mut left = slots.saturating_sub(out.iter().sum());
    // Shards with demand and no slot first, then the largest remainders.
    rest.sort_by_key(|&(r, i)| {
        let starved = demand.get(i).is_some_and(|d| *d > 0) && out.get(i) == Some(&0);
        (std::cmp::Reverse(starved), std::cmp::Reverse(r), i)
    });
    for (_, i) in rest {
        if left == 0 {
            break;
        }
        if let Some(o) = out.get_mut(i) {
            *o += 1;
            left -= 1;
        }
    }
    out
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Loader threads: two, so one long verification does not hold up every
/// other add (each verification itself uses `verify_threads` workers).
const LOADERS: usize = 2;

fn start_loaders(
    done: Sender<LoadDone>,
    wake: Arc<dyn Fn() + Send + Sync>,
) -> Option<Sender<LoadJob>> {
    let (tx, rx) = crossbeam_channel::unbounded::<LoadJob>();
    let mut started = 0;
    for i in 0..LOADERS {
        let rx = rx.clone();
        let done = done.clone();
        let wake = Arc::clone(&wake);
        let spawned = std::thread::Builder::new()
            .name(format!("seedcore-loader-{i}"))
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let key = job.key;
                    let n = job.job;
                    let result = run_load(job);
                    if done
                        .send(LoadDone {
                            key,
                            job: n,
                            result,
                        })
                        .is_err()
                    {
                        return;
                    }
                    wake();
                }
            });
        match spawned {
            Ok(_) => started += 1,
            Err(e) => tracing::warn!("cannot start a loader thread: {e}"),
        }
    }
    (started > 0).then_some(tx)
}

fn run_load(job: LoadJob) -> Result<(TorrentContext, TorrentData, Vec<bool>), String> {
    let progress = Arc::clone(&job.progress);
    let cb = move |n: u64| {
        progress.checking.store(true, Ordering::Relaxed);
        progress.bytes.fetch_add(n, Ordering::Relaxed);
    };
    let threads = if job.verify_threads == 0 {
        crate::sys::online_cpus().len()
    } else {
        job.verify_threads
    };
    // Workers take runs of 32 pieces: a small torrent gets one thread
    // rather than paying to start several that find nothing to do.
    let threads = threads.min((job.meta.info.piece_count as usize / 64).max(1));
    let opts = VerifyOptions {
        threads,
        progress: Some(&cb),
        stop: None,
    };
    if let Some(dir) = job.resume_file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let v = crate::torrents::open_verified(
        &job.meta,
        &job.root,
        &job.resume_file,
        job.made_stamps.as_deref(),
        job.force,
        &opts,
    )
    .map_err(|e| e.to_string())?;
    let mut have = v.have;
    crate::torrents::servable(&job.meta, &v.data, &mut have);
    Ok((v.ctx, v.data, have))
}

/// Most writes committed together (one pair of folder fsyncs).
const WRITE_BATCH: usize = 256;

fn start_writer(state: Arc<StateDir>) -> Option<Sender<WriteJob>> {
    let (tx, rx) = crossbeam_channel::unbounded::<WriteJob>();
    let spawned = std::thread::Builder::new()
        .name("seedcore-state".into())
        .spawn(move || {
            // Group commit: whatever queued up while the last batch was
            // being written goes in the next one.
            while let Ok(first) = rx.recv() {
                let mut jobs = vec![first];
                jobs.extend(rx.try_iter().take(WRITE_BATCH - 1));
                let ops: Vec<crate::state::Op<'_>> = jobs
                    .iter()
                    .map(|j| match &j.op {
                        WriteOp::Save { key, bytes, record } => crate::state::Op::Save {
                            key: *key,
                            torrent: bytes.as_deref(),
                            record,
                        },
                        WriteOp::Forget(key) => crate::state::Op::Forget(*key),
                    })
                    .collect();
                let results = state.apply(&ops);
                drop(ops);
                for (job, result) in jobs.into_iter().zip(results) {
                    if let Err(e) = &result {
                        tracing::error!("state folder: {e}");
                    }
                    (job.done)(result);
                }
            }
        });
    match spawned {
        Ok(_) => Some(tx),
        Err(e) => {
            tracing::error!("cannot start the state folder's writer thread: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_demand_and_sum_to_the_total() {
        assert_eq!(demand_shares(8, &[0, 0]), vec![4, 4], "no demand: even");
        assert_eq!(demand_shares(8, &[30, 10]), vec![6, 2]);
        assert_eq!(demand_shares(8, &[100, 0]), vec![8, 0]);
        let s = demand_shares(3, &[1, 1, 1, 1]);
        assert_eq!(s.iter().sum::<usize>(), 3);
        let s = demand_shares(4, &[1000, 1, 1, 1]);
        assert_eq!(s, vec![3, 1, 0, 0], "remainders go to starved shards first");
        for slots in [1usize, 7, 64, 513] {
            for d in [vec![3u32, 5, 0, 9], vec![1; 64], vec![0; 5]] {
                assert_eq!(demand_shares(slots, &d).iter().sum::<usize>(), slots);
            }
        }
        assert_eq!(even_shares(0, 3), vec![None; 3]);
    }

    #[test]
    fn a_share_grows_only_after_the_others_shrank() {
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(|| {});
        let mut live = Live::new(
            None,
            None,
            1,
            Arc::new(SharedBucket::new(0)),
            4,
            2,
            Arc::new(Blocklist::default()),
            100,
            crate::ids::Ids::default(),
            wake,
        );
        assert_eq!(live.shares, vec![Some(2), Some(2)]);
        // All demand moves to shard 0: shard 1 shrinks first...
        let c = live.rebalance(&[10, 0]);
        assert_eq!(c, vec![(1, Some(0))]);
        assert_eq!(live.shares.iter().flatten().sum::<usize>(), 2);
        // ...and shard 0 grows the next time.
        let c = live.rebalance(&[10, 0]);
        assert_eq!(c, vec![(0, Some(4))]);
        assert_eq!(live.rebalance(&[10, 0]), vec![]);
        // Unlimited again: every share grows at once (nothing shrinks).
        live.slots = 0;
        assert_eq!(live.rebalance(&[10, 0]), vec![(0, None), (1, None)]);
        assert_eq!(even_shares(5, 2), vec![Some(3), Some(2)]);
    }
}
