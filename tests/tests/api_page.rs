//! The status page in a real browser: headless Chromium (Debian's
//! `chromium`) opens `GET /` of a node that has served a libtorrent
//! leecher, runs the page's script, and the test reads the DOM it built:
//! the chart's line drawn from the ten-minute history, the seeded torrent
//! in the table, the shards. A screenshot is kept under the test's temp
//! folder (and copied to `target/tmp/status-page.png` for a person to
//! look at).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use seedcore_tests::http::{get, poll};
use seedcore_tests::*;

/// Chromium, headless, with nothing reaching beyond loopback.
fn chromium(profile: &Path, extra: &[&str], url: &str) -> RunOutput {
    let bin = require_exe("chromium", "chromium");
    Cmd::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        // Virtual time runs the page's timers; network fetches hold it.
        .arg("--virtual-time-budget=8000")
        .args(extra)
        .arg(url)
        .timeout(Duration::from_secs(120))
        .run()
}

fn attr<'a>(dom: &'a str, element_id: &str, name: &str) -> Option<&'a str> {
    let at = dom.find(&format!("id=\"{element_id}\""))?;
    let start = dom[..at].rfind('<')?;
    let end = at + dom[at..].find('>')?;
    let tag = &dom[start..end];
    let key = format!(" {name}=\"");
    let v = tag.find(&key)? + key.len();
    Some(&tag[v..v + tag[v..].find('"')?])
}

#[test]
fn the_status_page_shows_the_node_in_chromium() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_pseudo_random(&data.join("page-demo.bin"), 4 << 20, 5);
    let torrent = dir.join("page-demo.torrent");
    let info = seedcore_create(&data.join("page-demo.bin"), &torrent, &[]);
    let hash = json_str(&info, "info_hash_v1").to_string();

    let seed = Seed::new(&torrent).data(&data).api(None).start(dir);
    let api: SocketAddr = seed.api();
    LtLeech::start(
        &[seed.addr()],
        &[LtJob {
            name: "lt".into(),
            source: LtSource::Torrent(torrent.clone()),
            save: dir.join("leech"),
        }],
        Duration::from_secs(60),
    )
    .finish(&|| seed.to_string());
    // A few seconds of history, the download among them.
    let h = poll(api, "/api/v1/history", Duration::from_secs(30), |r| {
        r.status == 200 && r.json().as_array().is_some_and(|a| a.len() >= 4)
    });
    assert!(
        h.json().as_array().is_some_and(|a| a.len() >= 4),
        "{}",
        h.text()
    );
    let page = get(api, "/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));

    let url = format!("http://{api}/");
    let out = chromium(&dir.join("profile"), &["--dump-dom"], &url);
    out.expect_code(0);
    let dom = &out.stdout;
    let ready = dom.contains("data-ready=\"1\"");
    assert!(ready, "the page never rendered the node\n{out}");
    let line = attr(dom, "upload-line", "d").unwrap_or("");
    let points: usize = attr(dom, "upload-line", "data-points")
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    assert!(
        line.starts_with('M') && points >= 4,
        "the chart has no line: {line:?} ({points} points)\n{dom}"
    );
    assert!(
        dom.contains(&format!("data-info-hash=\"{hash}\"")),
        "the torrent's row is missing\n{dom}"
    );
    assert!(
        dom.contains(">page-demo.bin<"),
        "the torrent's name is missing\n{dom}"
    );
    let shards = &dom[dom.find("id=\"shards\"").unwrap()..];
    assert!(shards.contains("<td>0</td>"), "shard 0 is missing\n{dom}");
    assert!(
        !dom.contains("cannot read the node"),
        "the page reported an error\n{dom}"
    );

    let shot = dir.join("status-page.png");
    let out = chromium(
        &dir.join("profile2"),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,900",
        ],
        &url,
    );
    out.expect_code(0);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e})\n{out}"));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a blank screenshot?"
    );
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::write(&keep, &png);
    seed.stop();
}
