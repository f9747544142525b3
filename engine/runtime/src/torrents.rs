//! Getting torrents ready to serve: read or make the `.torrent`, open the
//! data, verify it (or trust a still-valid resume file), and open the file
//! handles the `sendfile` path reads from.
//!
//! # Why verification decides what is served
//!
//! Only pieces whose hash matched are ever handed to a peer: a seed that
//! serves a damaged piece poisons every leecher that takes it. A resume file
//! saves the full re-read on restart, and is trusted only while every
//! file's size and modification time are what they were when it was
//! written (`seedcore_storage::resume`).

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::magnet::Magnet;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_protocol::session::TorrentContext;
use seedcore_storage::create::{self, CreateMode};
use seedcore_storage::resume::{ResumeData, ResumeError};
use seedcore_storage::{FileStamp, FileState, FileVerdict, Storage, VerifyOptions};

use crate::config::{Config, TorrentSpec};
use crate::RuntimeError;

/// The largest `.torrent` read from disk: the parser's own bound.
const MAX_TORRENT_FILE: u64 = seedcore_protocol::metainfo::limits::MAX_TORRENT_SIZE as u64;

/// A torrent's data as the shards read it: the mappings, and a plain file
/// handle per mapped file for `sendfile`.
#[derive(Debug)]
pub struct TorrentData {
    /// The read-only mappings.
    pub storage: Storage,
    /// Per file of the torrent: an open handle when the file is mapped
    /// (same size and modification time as the mapping saw), else `None`.
    pub files: Vec<Option<File>>,
}

impl TorrentData {
    /// Opens the data of `meta` under `root`.
    pub fn open(meta: &Metainfo, root: &Path) -> Result<TorrentData, RuntimeError> {
        let storage = Storage::open(&meta.info, root).map_err(|source| RuntimeError::Storage {
            torrent: meta.info.name.clone(),
            source,
        })?;
        let files = (0..meta.info.files.len())
            .map(|i| open_handle(&storage, i))
            .collect();
        Ok(TorrentData { storage, files })
    }
}

/// A second handle on a mapped file, checked to be the same file state the
/// mapping saw (a file replaced in between gets no handle, so its pieces
/// cannot be sent with `sendfile`).
fn open_handle(storage: &Storage, index: usize) -> Option<File> {
    if storage.file_status().get(index) != Some(&FileState::Ok) {
        return None;
    }
    let stamp = storage.file_stamp(index)?;
    if stamp.size == 0 {
        return None;
    }
    let (file, meta) = seedcore_storage::regular::open(storage.file_path(index)?).ok()?;
    let now = FileStamp::of(&meta);
    (now == stamp).then_some(file)
}

/// A torrent ready to be served.
#[derive(Debug)]
pub struct Loaded {
    /// The `.torrent` file (made now, or given).
    pub torrent_path: PathBuf,
    /// The folder the data is saved into.
    pub root: PathBuf,
    /// The parsed torrent.
    pub meta: Arc<Metainfo>,
    /// What sessions need, shared by all shards.
    pub ctx: Arc<TorrentContext>,
    /// The data.
    pub data: Arc<TorrentData>,
    /// Per piece: verified and servable.
    pub have: Vec<bool>,
    /// The torrent was made for a file or folder by this run.
    pub created: bool,
    /// Verification was skipped thanks to a valid resume file.
    pub from_resume: bool,
}

impl Loaded {
    /// The magnet link.
    pub fn magnet(&self) -> String {
        Magnet::from_metainfo(&self.meta).to_uri()
    }

    /// Number of pieces that can be served.
    pub fn have_count(&self) -> usize {
        self.have.iter().filter(|h| **h).count()
    }

    /// The info-hash as hex (v1 when there is one, else v2).
    pub fn hash_hex(&self) -> String {
        hash_hex(&self.meta)
    }
}

/// The hex info-hash that names a torrent in logs and resume file names.
pub fn hash_hex(meta: &Metainfo) -> String {
    match (meta.info_hashes.v1, meta.info_hashes.v2) {
        (Some(v1), _) => v1.to_string(),
        (None, Some(v2)) => v2.to_string(),
        (None, None) => hex::encode(meta.info_hashes.wire_hash()),
    }
}

/// Reads and parses a `.torrent` (at most
/// [`MAX_TORRENT_SIZE`](seedcore_protocol::metainfo::limits::MAX_TORRENT_SIZE)
/// bytes; a FIFO or device in its place is refused, never waited on).
pub fn read_torrent(path: &Path) -> Result<Metainfo, RuntimeError> {
    let bytes = seedcore_storage::regular::read(path, MAX_TORRENT_FILE, "a .torrent")?;
    Metainfo::from_bytes(&bytes).map_err(|source| RuntimeError::Metainfo {
        path: path.to_path_buf(),
        source,
    })
}

/// Whether `path` names a `.torrent` to load (rather than data to make one
/// for): its name ends in `.torrent` and it is not a folder. A missing
/// file, a FIFO or a device of that name is then reported as such by
/// [`read_torrent`] instead of being scanned as data.
fn is_torrent_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("torrent"))
        && !path.is_dir()
}

/// Where the resume file of `meta` lives.
pub fn resume_path(config: &Config, meta: &Metainfo, root: &Path) -> PathBuf {
    let dir = config
        .resume_dir
        .clone()
        .unwrap_or_else(|| root.join(".seedcore"));
    dir.join(format!("{}.resume", hash_hex(meta)))
}

/// Loads one torrent: parse or make it, open, verify or resume. Every
/// problem that stops this one torrent (a bad or unreadable `.torrent`, a
/// missing data folder, a folder that cannot be made into a torrent) is
/// the `Err`; problems with single files are not (their pieces are not
/// served and they are logged). This is the one entry point for adding a
/// torrent, at start-up and later.
pub fn load(spec: &TorrentSpec, config: &Config) -> Result<Loaded, RuntimeError> {
    load_until(spec, config, &AtomicBool::new(false))
}

/// [`load`], given up with [`RuntimeError::Stopped`] as soon as `stop` is
/// raised (a signal while a big torrent is verified or made). Nothing is
/// written for a load that stopped: no resume file, no `.torrent`.
pub fn load_until(
    spec: &TorrentSpec,
    config: &Config,
    stop: &AtomicBool,
) -> Result<Loaded, RuntimeError> {
    let (torrent_path, meta, root, made) = if is_torrent_file(&spec.path) {
        let meta = read_torrent(&spec.path)?;
        let root = match &spec.data {
            Some(d) => d.clone(),
            None => spec
                .path
                .parent()
                .map(Path::to_path_buf)
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from(".")),
        };
        if !root.is_dir() {
            return Err(RuntimeError::DataFolder {
                torrent: spec.path.clone(),
                path: root,
            });
        }
        (spec.path.clone(), meta, root, None)
    } else {
        let made = make_torrent_until(&spec.path, config.verify_threads, stop)?;
        (
            made.torrent_path.clone(),
            made.meta.clone(),
            made.root.clone(),
            Some(made),
        )
    };
    let name = meta.info.name.clone();
    let ctx = TorrentContext::from_metainfo(&meta).map_err(|e| RuntimeError::Create {
        path: torrent_path.clone(),
        what: e.to_string(),
    })?;
    let data = TorrentData::open(&meta, &root)?;
    report_files(&meta, &data.storage);
    let resume_file = resume_path(config, &meta, &root);
    let geo = Geometry::from_info(&meta.info);

    // A torrent just made from these very files: its hashes are the check,
    // as long as no file changed between hashing and opening.
    if let Some(m) = &made {
        let unchanged = (0..meta.info.files.len()).all(|i| {
            meta.info.files.get(i).is_some_and(|f| f.attr.pad)
                || data.storage.file_stamp(i) == m.stamps.get(i).copied().flatten()
        });
        if unchanged && data.storage.all_ok() {
            let have = vec![true; geo.piece_count() as usize];
            save_resume(
                &resume_file,
                &ResumeData::new(&meta, m.stamps.clone(), have.clone()),
            );
            return Ok(finish(
                torrent_path,
                root,
                meta,
                ctx,
                data,
                have,
                true,
                false,
            ));
        }
    }

    let resumed = match ResumeData::load(&resume_file) {
        Ok(r) => Some(r),
        Err(ResumeError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            None
        }
        Err(e) => {
            tracing::warn!("{name}: not using resume data: {e}");
            None
        }
    };
    if let Some(r) = resumed {
        if r.valid_for(&meta, &root) && r.have.len() == geo.piece_count() as usize {
            tracing::info!(
                "{name}: resume data {} is current: {} of {} pieces, no verification needed",
                resume_file.display(),
                r.have_count(),
                r.have.len()
            );
            let have = r.have;
            return Ok(finish(
                torrent_path,
                root,
                meta,
                ctx,
                data,
                have,
                made.is_some(),
                true,
            ));
        }
        tracing::info!(
            "{name}: files changed since {} was written; verifying",
            resume_file.display()
        );
    }

    let started = std::time::Instant::now();
    tracing::info!(
        "{name}: verifying {} MiB in {} pieces",
        meta.info.total_length >> 20,
        geo.piece_count()
    );
    let opts = VerifyOptions {
        threads: config.verify_threads,
        progress: None,
        stop: Some(stop),
    };
    let report = seedcore_storage::verify_storage(&meta, &data.storage, &opts).map_err(
        |source| match source {
            seedcore_storage::StorageError::Stopped => RuntimeError::Stopped,
            source => RuntimeError::Storage {
                torrent: name.clone(),
                source,
            },
        },
    )?;
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    tracing::info!(
        "{name}: verified {} MiB in {secs:.2} s: {} of {} pieces good",
        report.bytes_hashed >> 20,
        report.have.len() - report.bad_pieces.len(),
        report.have.len()
    );
    for f in &report.files {
        if let FileVerdict::Damaged { bad_pieces } = f.state {
            tracing::warn!(
                "{name}: {} is damaged: {bad_pieces} bad pieces are not served",
                f.path.join("/")
            );
        }
    }
    save_resume(&resume_file, &ResumeData::from_report(&meta, &report));
    let have = report.have;
    Ok(finish(
        torrent_path,
        root,
        meta,
        ctx,
        data,
        have,
        made.is_some(),
        false,
    ))
}

#[allow(clippy::too_many_arguments)]
fn finish(
    torrent_path: PathBuf,
    root: PathBuf,
    meta: Metainfo,
    ctx: TorrentContext,
    data: TorrentData,
    mut have: Vec<bool>,
    created: bool,
    from_resume: bool,
) -> Loaded {
    // A piece is servable only if every file under it is mapped now.
    let geo = Geometry::from_info(&meta.info);
    for (i, f) in meta.info.files.iter().enumerate() {
        if !f.attr.pad && f.length > 0 && data.files.get(i).is_none_or(Option::is_none) {
            for p in pieces_of(&geo, f.offset, f.length) {
                if let Some(h) = have.get_mut(p as usize) {
                    *h = false;
                }
            }
        }
    }
    Loaded {
        torrent_path,
        root,
        meta: Arc::new(meta),
        ctx: Arc::new(ctx),
        data: Arc::new(data),
        have,
        created,
        from_resume,
    }
}

/// The pieces that hold bytes of `[offset, offset + len)`.
pub fn pieces_of(geo: &Geometry, offset: u64, len: u64) -> std::ops::Range<u32> {
    let pl = u64::from(geo.piece_length()).max(1);
    if len == 0 {
        return 0..0;
    }
    let first = offset / pl;
    let last = (offset + len - 1) / pl;
    let first = u32::try_from(first).unwrap_or(u32::MAX);
    let end = u32::try_from(last + 1)
        .unwrap_or(u32::MAX)
        .min(geo.piece_count());
    first.min(end)..end
}

fn report_files(meta: &Metainfo, storage: &Storage) {
    let name = &meta.info.name;
    for (f, state) in meta.info.files.iter().zip(storage.file_status()) {
        if f.attr.pad || f.length == 0 || *state == FileState::Ok {
            continue;
        }
        tracing::warn!(
            "{name}: {} is {state}; its pieces are not served",
            f.path.join("/")
        );
    }
}

fn save_resume(path: &Path, data: &ResumeData) {
    if let Some(dir) = path.parent() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            tracing::warn!(
                "cannot create {}: {e}; the next start verifies again",
                dir.display()
            );
            return;
        }
    }
    if let Err(e) = data.save(path) {
        tracing::warn!("cannot write resume data: {e}; the next start verifies again");
    }
}

/// A torrent made (or found up to date) for a file or folder.
#[derive(Debug)]
pub struct Made {
    /// `<parent>/<name>.torrent`.
    pub torrent_path: PathBuf,
    /// The parsed torrent.
    pub meta: Metainfo,
    /// The folder holding the data (the scanned path's parent).
    pub root: PathBuf,
    /// Per file, the stamp taken before hashing (`None` for pads).
    pub stamps: Vec<Option<FileStamp>>,
}

/// Makes a v1 torrent for a file or folder and writes it beside it as
/// `<name>.torrent`. An existing `<name>.torrent` that lists exactly the
/// same files and sizes is kept (its hashes are then checked by verification
/// like any other torrent's) so that a restart does not hash everything twice.
pub fn make_torrent(path: &Path, threads: usize) -> Result<Made, RuntimeError> {
    make_torrent_until(path, threads, &AtomicBool::new(false))
}

/// [`make_torrent`], given up with [`RuntimeError::Stopped`] (and nothing
/// written) as soon as `stop` is raised.
pub fn make_torrent_until(
    path: &Path,
    threads: usize,
    stop: &AtomicBool,
) -> Result<Made, RuntimeError> {
    let fail = |what: String| RuntimeError::Create {
        path: path.to_path_buf(),
        what,
    };
    let scanned = create::scan(path).map_err(|e| fail(e.to_string()))?;
    for s in &scanned.skipped {
        tracing::warn!("left out {}: {}", s.path.display(), s.reason);
    }
    let target = scanned.base.join(format!("{}.torrent", scanned.name));
    let stamp_of = |p: &[String]| {
        let mut full = scanned.base.clone();
        full.extend(p);
        FileStamp::read(&full)
    };
    if let Ok(existing) = read_torrent(&target) {
        let same = existing.info.name == scanned.name
            && existing.info.files.iter().filter(|f| !f.attr.pad).count() == scanned.files.len()
            && existing
                .info
                .files
                .iter()
                .filter(|f| !f.attr.pad)
                .zip(&scanned.files)
                .all(|(a, b)| a.path == b.path && a.length == b.length);
        if same {
            tracing::info!("{}: using the existing {}", scanned.name, target.display());
            // No stamps: the data is verified against the existing hashes.
            let stamps = vec![None; existing.info.files.len()];
            return Ok(Made {
                torrent_path: target,
                meta: existing,
                root: scanned.base,
                stamps,
            });
        }
        tracing::warn!(
            "{} does not match {} any more; making it again",
            target.display(),
            path.display()
        );
    }
    let stamps: Vec<Option<FileStamp>> = scanned.files.iter().map(|f| stamp_of(&f.path)).collect();
    let total = scanned.total_length();
    let piece_length = create::auto_piece_length(total);
    let started = std::time::Instant::now();
    let threads = if threads == 0 {
        crate::sys::online_cpus().len()
    } else {
        threads
    };
    let hashed = create::hash_until(
        &scanned,
        piece_length,
        CreateMode::V1,
        threads,
        None,
        Some(stop),
    )
    .map_err(|e| match e {
        seedcore_storage::StorageError::Stopped => RuntimeError::Stopped,
        e => fail(e.to_string()),
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (bytes, meta) = hashed
        .builder()
        .created_by(concat!("seedcore/", env!("CARGO_PKG_VERSION")))
        .creation_date(i64::try_from(now).unwrap_or(i64::MAX))
        .build_metainfo()
        .map_err(|e| fail(e.to_string()))?;
    write_atomically(&target, &bytes)?;
    tracing::info!(
        "{}: made {} ({} MiB hashed in {:.2} s)",
        scanned.name,
        target.display(),
        total >> 20,
        started.elapsed().as_secs_f64()
    );
    // v1 torrents made here have no pad files: the stamps line up with
    // `info.files`.
    Ok(Made {
        torrent_path: target,
        meta,
        root: scanned.base,
        stamps,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RuntimeError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|source| RuntimeError::Io {
        op: "write torrent",
        path: path.to_path_buf(),
        source,
    })
}

/// A torrent of the configuration that is not served, and why.
#[derive(Debug)]
pub struct Failed {
    /// The entry as configured.
    pub spec: TorrentSpec,
    /// Why it could not be loaded.
    pub error: RuntimeError,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.spec.path.display(), self.error)
    }
}

/// What [`load_all`] could and could not load.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Ready to serve, in the configuration's order.
    pub loaded: Vec<Loaded>,
    /// Skipped, each with its error (already logged).
    pub failed: Vec<Failed>,
}

/// Loads every torrent of the configuration, one at a time. A torrent that
/// cannot be loaded (malformed or unreadable `.torrent`, missing data
/// folder, a second entry with the same info-hash) is logged and skipped,
/// so one bad entry among thousands does not stop the others from being
/// served. Fails when nothing could be loaded (with the one error itself
/// when there was one entry), when `config.strict` is set and anything
/// failed, or with [`RuntimeError::Stopped`] once `stop` is raised.
pub fn load_all(config: &Config, stop: &AtomicBool) -> Result<LoadReport, RuntimeError> {
    if config.torrents.is_empty() {
        return Err(RuntimeError::NoTorrents);
    }
    let mut report = LoadReport::default();
    // Info-hash -> the .torrent that has it, to refuse duplicates in O(1).
    let mut seen: HashMap<[u8; 20], PathBuf> = HashMap::with_capacity(config.torrents.len());
    for spec in &config.torrents {
        if stop.load(Ordering::Relaxed) {
            return Err(RuntimeError::Stopped);
        }
        let result = load_until(spec, config, stop).and_then(|t| {
            let hash = t.meta.info_hashes.wire_hash();
            match seen.get(&hash) {
                Some(other) => Err(RuntimeError::Duplicate {
                    path: t.torrent_path.clone(),
                    other: other.clone(),
                    hash: hex::encode(hash),
                }),
                None => {
                    seen.insert(hash, t.torrent_path.clone());
                    Ok(t)
                }
            }
        });
        match result {
            Ok(t) => report.loaded.push(t),
            Err(RuntimeError::Stopped) => return Err(RuntimeError::Stopped),
            Err(error) => {
                let failed = Failed {
                    spec: spec.clone(),
                    error,
                };
                if config.strict {
                    return Err(RuntimeError::Strict {
                        failed: failed.to_string(),
                    });
                }
                if config.torrents.len() > 1 {
                    // With one entry, the error is the start's own error.
                    tracing::error!("not seeding {failed}");
                }
                report.failed.push(failed);
            }
        }
    }
    if report.loaded.is_empty() {
        let n = report.failed.len();
        return Err(match report.failed.pop() {
            Some(one) if n == 1 => one.error,
            _ => RuntimeError::NothingToServe { failed: n },
        });
    }
    if !report.failed.is_empty() {
        tracing::warn!(
            "seeding {} of {} torrents; {} could not be loaded (see the errors above)",
            report.loaded.len(),
            config.torrents.len(),
            report.failed.len()
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_ranges_of_files() {
        let geo = Geometry::new(16384, 100_000).unwrap();
        assert_eq!(pieces_of(&geo, 0, 0), 0..0);
        assert_eq!(pieces_of(&geo, 0, 1), 0..1);
        assert_eq!(pieces_of(&geo, 16383, 2), 0..2);
        assert_eq!(pieces_of(&geo, 16384, 16384), 1..2);
        assert_eq!(pieces_of(&geo, 99_999, 1), 6..7);
        assert_eq!(
            pieces_of(&geo, 99_999, 100),
            6..7,
            "clamped to the piece count"
        );
    }
}
