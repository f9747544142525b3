//! Peers that ask and never read (issue 8): 100 peers, each asking for 250
//! blocks (4 MiB) and then reading nothing. Before the fix none was closed
//! by the stall timeout, because all they asked for fit in kernel socket
//! buffers: every byte had been written, so nothing looked stalled, and
//! the seed's kernel held up to 4 MiB per peer (821 MiB for 200 peers).
//!
//! Now "stalled" means the peer took no bytes (its acknowledged count did
//! not grow, `TCP_INFO`) for `stall_timeout` while its socket still held
//! bytes for it (`SIOCOUTQ`), and `TCP_NOTSENT_LOWAT` keeps the unsent
//! part of each socket's queue small. Checked: every one of them is closed
//! by the stall timeout (the seed's status counts `closed_stalled`, and
//! each client sees its connection closed without reading a byte), and
//! the seed's send queue for each peer (`ss -tn`'s Send-Q) stays far below
//! the 4 MiB it would hold without the low-water mark. Kernel TCP memory
//! (`/proc/net/sockstat`, system wide, so other processes count too) is
//! reported, not asserted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::{Duration, Instant};

use seedcore_protocol::wire::Message;
use seedcore_tests::live::rss_kib_of;
use seedcore_tests::rawpeer::*;
use seedcore_tests::*;

/// Peers that never read.
const PEERS: u32 = 100;
/// Blocks each asks for (4 MiB).
const REQUESTS: u32 = 250;
/// A send queue above what the low-water mark (1 MiB) and a receive
/// window allow, well below the 4 MiB each peer asked for.
const SEND_QUEUE_BOUND: u64 = 2 << 20;

#[test]
fn peers_that_never_read_are_closed_and_hold_little_kernel_memory() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("blob.bin");
    write_pseudo_random(&file, 4 * 1_048_576 + 1_000, 901);
    let torrent = dir.join("blob.torrent");
    let info = seedcore_create(&file, &torrent, &["--piece-size", "65536"]);
    let target_hash = hash20(json_str(&info, "info_hash_v1"));
    let piece_count = u32::try_from(json_u64(&info, "piece_count")).unwrap();

    let mut seed = Seed::new(&torrent)
        .data(&data)
        .config("stall_timeout = \"3s\"")
        .config("max_outgoing = 0")
        .json()
        .start(dir);
    let seed_pid = seed.live().pid();
    let t = Target {
        addr: seed.addr(),
        info_hash: target_hash,
        piece_count,
    };
    let mem_before = tcp_mem_kib();
    let rss_before = rss_kib_of(seed_pid).unwrap();

    // Each from its own loopback address, as distinct hosts would be.
    let mut peers: Vec<TcpStream> = (0..PEERS)
        .map(|i| {
            let from = IpAddr::V4(Ipv4Addr::new(127, 0, 1, u8::try_from(2 + i).unwrap()));
            let mut s = connect_from(from, t.addr, None).unwrap();
            let mut hello = plain_handshake(t.info_hash, i);
            hello.extend(encode(&[Message::Interested]));
            s.write_all(&hello).unwrap();
            s
        })
        .collect();
    for s in &mut peers {
        read_until_unchoked(s, &t, Duration::from_secs(20)).unwrap();
    }
    let asks = requests(REQUESTS, piece_count, 65_536);
    for s in &mut peers {
        s.write_all(&asks).unwrap();
    }
    // From here on nobody reads. Wait for the seed to close them all.
    let started = Instant::now();
    let (mut mem_peak, mut rss_peak, mut queue_peak) = (mem_before, rss_before, 0u64);
    let closed_stalled = |seed: &RunningSeed| {
        seed.json_statuses().last().map_or(0, |s| {
            s["shards"].as_array().map_or(0, |a| {
                a.iter()
                    .filter_map(|x| x["guard"]["closed_stalled"].as_u64())
                    .sum::<u64>()
            })
        })
    };
    while closed_stalled(&seed) < u64::from(PEERS) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "only {} of {PEERS} never-reading peers closed\n{seed}",
            closed_stalled(&seed)
        );
        mem_peak = mem_peak.max(tcp_mem_kib());
        rss_peak = rss_peak.max(rss_kib_of(seed_pid).unwrap_or(0));
        queue_peak = queue_peak.max(send_queues(seed.port()).into_iter().max().unwrap_or(0));
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every client sees its connection closed, without reading a byte.
    let mut open = 0;
    for s in &mut peers {
        if !(closed_without_reading(s) || closed_without_reading(s)) {
            open += 1;
        }
    }
    drop(peers);
    std::thread::sleep(Duration::from_millis(200));
    eprintln!(
        "{PEERS} peers x {REQUESTS} requests, never reading: all closed as stalled after {:.1} s; \
         largest seed send queue {} KiB (bound {} KiB, 4096 KiB asked per peer); \
         kernel TCP memory (system wide) {:?} KiB before, peak {:?}, after {:?}; \
         seed RSS {rss_before} KiB before, peak {rss_peak} KiB",
        started.elapsed().as_secs_f64(),
        queue_peak >> 10,
        SEND_QUEUE_BOUND >> 10,
        mem_before,
        mem_peak,
        tcp_mem_kib(),
    );
    assert_eq!(open, 0, "{open} connections still open\n{seed}");
    assert!(
        queue_peak <= SEND_QUEUE_BOUND,
        "the seed queued {queue_peak} bytes for one peer that does not read\n{seed}"
    );
    seed.stop();
}
