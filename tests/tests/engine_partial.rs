//! Peers that hold partial messages (issue 8): each sends the start of a
//! 120 KiB extended message and then nothing. Before the fix each such
//! peer held its part (up to the 128 KiB frame bound) for the whole idle
//! timeout: 500 peers cost 66 MB, 10,000 would cost 1.3 GB.
//!
//! Now the incomplete messages of one shard share a budget
//! (`partial_budget`, 2M per shard here): a peer whose partial message
//! grows while it is spent is closed at once, and the rest are closed
//! when their message is not whole `slow_frame_timeout` (3 s here) after
//! it began. Checked, while a libtorrent leecher downloads everything: all
//! 500 are closed for one of those two reasons (the seed's status counts
//! them), and the seed's resident memory grows by far less than the 50 MB
//! they sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use seedcore_protocol::wire::{Handshake, Reserved};
use seedcore_tests::live::rss_kib_of;
use seedcore_tests::rawpeer::*;
use seedcore_tests::*;

const PEERS: u32 = 500;
/// The message each announces, and what each sends of it.
const ANNOUNCED: u32 = 120 << 10;
const SENT: usize = 100 << 10;
/// Resident memory the seed may grow by: the budgets (2M per shard, 2
/// shards) and some slack, against the 50 MB the peers sent.
const RSS_BOUND_KIB: u64 = 20 << 10;

fn guard_sum(seed: &RunningSeed, name: &str) -> u64 {
    seed.json_statuses().last().map_or(0, |s| {
        s["shards"].as_array().map_or(0, |a| {
            a.iter().filter_map(|x| x["guard"][name].as_u64()).sum()
        })
    })
}

#[test]
fn partial_messages_are_bounded_per_shard_and_in_time() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, 931);
    let torrent = dir.join("nested.torrent");
    let info = seedcore_create(&top, &torrent, &["--piece-size", "32768"]);
    let info_hash = hash20(json_str(&info, "info_hash_v1"));

    let mut seed = Seed::new(&torrent)
        .data(&data)
        .shards(2)
        .config("partial_budget = \"2M\"")
        .config("slow_frame_timeout = \"3s\"")
        .config("max_outgoing = 0")
        .json()
        .start(dir);
    let pid = seed.live().pid();
    let rss_before = rss_kib_of(pid).unwrap();

    let save = dir.join("leech");
    let leech = LtLeech::start(
        &[seed.addr()],
        &[LtJob {
            name: "good".into(),
            source: LtSource::Torrent(torrent.clone()),
            save: save.clone(),
        }],
        Duration::from_secs(60),
    );

    let mut ltep = Reserved::EMPTY;
    ltep.set_extension_protocol(true);
    let mut head = Handshake::new(ltep, info_hash, *b"-XX0001-partialpeer0")
        .to_bytes()
        .to_vec();
    head.extend_from_slice(&(ANNOUNCED + 2).to_be_bytes());
    head.extend_from_slice(&[20, 0]);
    head.resize(head.len() + SENT, b'd');
    let started = Instant::now();
    let mut rss_peak = rss_before;
    let mut peers: Vec<TcpStream> = Vec::new();
    for i in 0..PEERS {
        let from = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            u8::try_from(2 + i / 250).unwrap(),
            u8::try_from(2 + i % 250).unwrap(),
        ));
        let Ok(mut s) = connect_from(from, seed.addr(), None) else {
            continue;
        };
        // The seed may close it while we write: that is a close too.
        let _ = s.write_all(&head);
        peers.push(s);
        if i % 50 == 0 {
            rss_peak = rss_peak.max(rss_kib_of(pid).unwrap_or(0));
        }
    }
    let closed = |seed: &RunningSeed| guard_sum(seed, "closed_slow_frames");
    while closed(&seed) < u64::from(PEERS) {
        rss_peak = rss_peak.max(rss_kib_of(pid).unwrap_or(0));
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "only {} of {PEERS} peers holding partial messages were closed\n{seed}",
            closed(&seed)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut open = 0;
    for s in &mut peers {
        if !(closed_without_reading(s) || closed_without_reading(s)) {
            open += 1;
        }
    }
    let growth = rss_peak.saturating_sub(rss_before);
    eprintln!(
        "{PEERS} peers each holding {SENT} bytes of a {ANNOUNCED}-byte message: all closed \
         after {:.1} s; seed RSS {rss_before} KiB before, peak {rss_peak} KiB (+{growth} KiB, \
         {} KiB sent)",
        started.elapsed().as_secs_f64(),
        (u64::from(PEERS) * SENT as u64) >> 10
    );
    assert_eq!(open, 0, "{open} still open\n{seed}");
    assert!(
        growth < RSS_BOUND_KIB,
        "the seed grew by {growth} KiB holding partial messages\n{seed}"
    );
    drop(peers);

    let report = leech.finish(&|| seed.to_string());
    assert_eq!(report["leechers"][0]["hash_failures"], 0, "{report}");
    assert_same_files(&top, &save.join("nested"), &files, false);
    seed.stop();
}
