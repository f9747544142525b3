//! Files changing under a running seed: never a crash, pieces withdrawn,
//! and served again once the file is back and re-verified.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

mod common;

use std::fs::OpenOptions;
use std::time::Duration;

use common::leecher::{download_and_check, Leecher};
use seedcore_protocol::geometry::Geometry;
use seedcore_runtime::{Seeder, SendPath, Span};

/// A file truncated behind the seed's back, before the watcher notices:
/// the block sent from it fails in the kernel (EFAULT from a mapping,
/// a short sendfile), the one connection closes, the process lives on.
#[test]
fn truncation_under_a_mapping_is_not_sigbus() {
    for path in SendPath::ALL {
        let dir = tempfile::tempdir().unwrap();
        let folder =
            common::make_folder(dir.path(), "t", &[("a.bin", 400_000), ("b.bin", 100_000)]);
        let mut cfg = common::config(&[&folder], 1);
        cfg.send_path = path;
        cfg.file_check_interval = Span(Duration::from_secs(3600));
        let seeder = Seeder::start(cfg).unwrap();
        let meta = common::meta_of(&seeder, 0);
        let geo = Geometry::from_info(&meta.info);
        let hash = meta.info_hashes.wire_hash();
        OpenOptions::new()
            .write(true)
            .open(folder.join("a.bin"))
            .unwrap()
            .set_len(1000)
            .unwrap();
        let mut l = Leecher::connect(common::addr(&seeder), hash, true).unwrap();
        l.interested().unwrap();
        // Piece 10 lies in the truncated part of a.bin.
        let r = l.fetch(&geo, &[10], 1, |_, _, _| {});
        assert!(r.is_err(), "{path}: the block cannot be served");
        // The seed still serves the other file.
        let last = meta.info.piece_count - 1;
        let mut l = Leecher::connect(common::addr(&seeder), hash, true).unwrap();
        l.interested().unwrap();
        download_and_check(&mut l, &meta, &[last]).unwrap();
        seeder.shutdown();
    }
}

/// With inotify (the default) the check interval is an hour: only the
/// events can make the seed notice in time.
#[test]
fn a_changed_file_is_withdrawn_then_served_again_after_a_recheck() {
    changed_file_round_trip(true, Duration::from_secs(3600));
}

/// Without inotify (`file_watch = false`, or where it cannot watch), the
/// fallback `stat` check on the helper thread notices.
#[test]
fn without_inotify_the_fallback_check_notices_changes() {
    changed_file_round_trip(false, Duration::from_millis(50));
}

fn changed_file_round_trip(inotify: bool, interval: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "w", &[("a.bin", 300_000), ("b.bin", 300_000)]);
    let original = std::fs::read(folder.join("a.bin")).unwrap();
    let mut cfg = common::config(&[&folder], 2);
    cfg.file_watch = inotify;
    cfg.file_check_interval = Span(interval);
    let seeder = Seeder::start(cfg).unwrap();
    let meta = common::meta_of(&seeder, 0);
    let geo = Geometry::from_info(&meta.info);
    let total = meta.info.piece_count as usize;
    let hash = meta.info_hashes.wire_hash();
    let mut l = Leecher::connect(common::addr(&seeder), hash, true).unwrap();
    l.interested().unwrap();
    download_and_check(&mut l, &meta, &[0]).unwrap();

    // Shrink a.bin: its pieces (0..=18 with 16 KiB pieces) are withdrawn.
    OpenOptions::new()
        .write(true)
        .open(folder.join("a.bin"))
        .unwrap()
        .set_len(10)
        .unwrap();
    let a_pieces = 300_000u64.div_ceil(u64::from(geo.piece_length())) as usize;
    common::wait_for(
        "the pieces of a.bin to be withdrawn",
        Duration::from_secs(10),
        || {
            seeder
                .status()
                .is_some_and(|s| s.torrents[0].pieces == total - a_pieces)
        },
    );
    // A Fast peer asking for one of them is refused, not disconnected.
    l.fetch(&geo, &[1], 2, |_, _, _| {
        panic!("a withdrawn piece was served")
    })
    .unwrap();
    assert!(!l.seen.rejects.is_empty());
    // b.bin is still served on the same connection.
    download_and_check(&mut l, &meta, &[(total - 1) as u32]).unwrap();

    // Put the data back: after a quiet interval it is re-verified and
    // announced with `have`.
    std::fs::write(folder.join("a.bin"), &original).unwrap();
    common::wait_for("a.bin to be served again", Duration::from_secs(10), || {
        seeder
            .status()
            .is_some_and(|s| s.torrents[0].pieces == total)
    });
    while l.seen.haves.len() < a_pieces {
        l.next(|_| ()).unwrap();
    }
    download_and_check(
        &mut l,
        &meta,
        &(0..meta.info.piece_count).collect::<Vec<_>>(),
    )
    .unwrap();
    seeder.shutdown();
}

/// An edit in place that keeps the size (the case a size check cannot
/// see, and that a 10 s `stat` poll served for up to 10 s): inotify's
/// `IN_MODIFY` withdraws the file's pieces at once, though the fallback
/// check would not run for an hour. Each piece is then either served with
/// the original bytes or refused; never the edited bytes.
#[test]
fn an_edit_in_place_is_withdrawn_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "e", &[("a.bin", 300_000), ("b.bin", 300_000)]);
    let original = std::fs::read(folder.join("a.bin")).unwrap();
    let mut cfg = common::config(&[&folder], 1);
    cfg.file_check_interval = Span(Duration::from_secs(3600));
    let seeder = Seeder::start(cfg).unwrap();
    let meta = common::meta_of(&seeder, 0);
    let geo = Geometry::from_info(&meta.info);
    let total = meta.info.piece_count as usize;
    let a_pieces = 300_000u64.div_ceil(u64::from(geo.piece_length())) as usize;
    common::wait_for("the first status", Duration::from_secs(10), || {
        seeder
            .status()
            .is_some_and(|s| s.torrents[0].pieces == total)
    });

    // Overwrite 100 bytes in the middle of a.bin, in place.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = OpenOptions::new()
            .write(true)
            .open(folder.join("a.bin"))
            .unwrap();
        f.seek(SeekFrom::Start(150_000)).unwrap();
        f.write_all(&[0xEE; 100]).unwrap();
    }
    // Withdrawn at once; a second later a re-check serves the pieces
    // that still match again, so the status (a snapshot a second) may
    // show either: all of a.bin gone, or only the edited piece.
    common::wait_for(
        "the pieces of a.bin to be withdrawn (inotify)",
        Duration::from_secs(10),
        || {
            seeder.status().is_some_and(|s| {
                let n = s.torrents[0].pieces;
                n == total - a_pieces || n == total - 1
            })
        },
    );
    let hash = meta.info_hashes.wire_hash();
    let mut l = Leecher::connect(common::addr(&seeder), hash, true).unwrap();
    l.interested().unwrap();
    let edited = (150_000 / u64::from(geo.piece_length())) as u32;
    l.fetch(&geo, &[edited], 2, |_, _, _| {
        panic!("a block of the edited file was served")
    })
    .unwrap();
    assert!(!l.seen.rejects.is_empty(), "refused, not served");

    // The original bytes come back the recommended way, a finished copy
    // renamed over the file (`IN_MOVED_TO` on its folder): re-verified
    // once quiet, mapped from the new inode, served again.
    let tmp = folder.join(".a.bin.new");
    std::fs::write(&tmp, &original).unwrap();
    std::fs::rename(&tmp, folder.join("a.bin")).unwrap();
    common::wait_for("a.bin to be served again", Duration::from_secs(20), || {
        seeder
            .status()
            .is_some_and(|s| s.torrents[0].pieces == total)
    });
    let mut l = Leecher::connect(common::addr(&seeder), hash, true).unwrap();
    l.interested().unwrap();
    download_and_check(
        &mut l,
        &meta,
        &(0..meta.info.piece_count).collect::<Vec<_>>(),
    )
    .unwrap();
    seeder.shutdown();
}
