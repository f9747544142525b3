//! transmission-cli 3.00 finding seedcore through a tracker (issue 8).
//!
//! Transmission drops 127.0.0.0/8 and ::1 peers it learns from a tracker
//! ("invalid" addresses in its source), so on loopback it can only be
//! dialled. Here it runs in a network namespace of the test's own
//! (`seedcore_tests::netns`), joined to the host by a veth pair with
//! private 10.213.x.y addresses: opentracker and seedcore listen on the
//! host end, transmission on the namespace end. seedcore announces first
//! (opentracker's interval is half an hour), then transmission announces,
//! gets seedcore's 10.x address, connects and downloads a few MiB, which
//! are compared byte for byte and run through `seedcore verify`.
//!
//! seedcore dials nobody (`max_outgoing = 0`), so the only way the bytes
//! can flow is transmission connecting to the address the tracker gave
//! it. The namespace, its veth pair and every process are removed by
//! their guards however the test ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use seedcore_tests::*;

#[test]
fn transmission_finds_seedcore_through_opentracker() {
    // Dropped last: every process inside is stopped before it goes.
    let ns = NetNs::create("trtr");
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, mut files) = make_tree(&data, "nested", Shape::Nested, 811);
    let extra = 3 * 1024 * 1024 + 4321;
    write_pseudo_random(&top.join("big/payload.bin"), extra, 812);
    files.push(TreeFile {
        rel: "big/payload.bin".into(),
        len: extra,
    });
    let probe = seedcore_create(&top, &dir.join("probe.torrent"), &["--piece-size", "65536"]);
    let hash = json_str(&probe, "info_hash_v1").to_string();
    let tracker = Opentracker::start(dir, ns.host_ip(), &hash);
    let torrent = dir.join("nested.torrent");
    let info = seedcore_create(
        &top,
        &torrent,
        &["--piece-size", "65536", "--tracker", &tracker.http_url()],
    );
    assert_eq!(json_str(&info, "info_hash_v1"), hash);

    let seed = Seed::new(&torrent)
        .data(&data)
        .bind_ip(ns.host_ip())
        .config("max_outgoing = 0")
        .json()
        .start(dir);
    wait_announced(&seed, &tracker);

    let mut client = Listener::transmission_in(&dir.join("transmission"), &ns, &torrent);
    // Its announce, then its 10 s choke/interest timer before the first
    // byte: the bound is generous for a loaded 2-core machine.
    client.wait_done(Duration::from_secs(120), &|| format!("{seed}\n{tracker}"));
    assert_same_files(&top, &client.save.join("nested"), &files, true);
    assert_verifies(&torrent, &client.save);
    // The seed served it: its status (once a second) counts the bytes.
    let total: u64 = files.iter().map(|f| f.len).sum();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent = seed
            .json_statuses()
            .last()
            .and_then(|s| s["torrents"][0]["uploaded"].as_u64())
            .unwrap_or(0);
        if sent >= total {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the seed's status should count at least {total} bytes sent, not {sent}\n{seed}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    seed.stop();
    drop(tracker);
    drop(ns);
}
