//! Hostile API clients against the real binary, all at once, while a
//! libtorrent leecher downloads: slowloris heads, a 1 GB body (declared,
//! and streamed without a length), bad JSON, a wrong token, a flood of
//! idle connections. Each gets its error or is cut off; the node keeps
//! answering good requests and the leecher finishes on its one
//! connection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use seedcore_tests::http::{closed_within, connect, get_with_token, read_reply, request};
use seedcore_tests::*;

const TOKEN: &str = "hostile-test-token-0123456789abcdef";

fn auth() -> (&'static str, String) {
    ("Authorization", format!("Bearer {TOKEN}"))
}

/// A good request still gets its answer.
#[track_caller]
fn still_answers(api: SocketAddr) {
    let r = get_with_token(api, "/api/v1/status", TOKEN);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn hostile_clients_get_errors_and_the_node_keeps_serving() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    write_pseudo_random(&data.join("served.bin"), 4 << 20, 41);
    let torrent = dir.join("served.torrent");
    seedcore_create(&data.join("served.bin"), &torrent, &[]);
    // Held to 64 KiB/s until the attacks are over (then the limit is
    // lifted through the API): the download overlaps them all.
    let seed = Seed::new(&torrent)
        .data(&data)
        .config("upload_limit = \"64K\"")
        .config("api_max_connections = 16")
        .api(Some(TOKEN))
        .start(dir);
    let api = seed.api();
    // The node's first status comes a second after the start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while get_with_token(api, "/api/v1/status", TOKEN).status == 503 {
        assert!(Instant::now() < deadline, "no status\n{seed}");
        thread::sleep(Duration::from_millis(100));
    }
    still_answers(api);
    let leech = LtLeech::start(
        &[seed.addr()],
        &[LtJob {
            name: "lt".into(),
            source: LtSource::Torrent(torrent.clone()),
            save: dir.join("leech"),
        }],
        Duration::from_secs(120),
    );
    // The attacks start once the leecher is connected and downloading.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = get_with_token(api, "/api/v1/status", TOKEN).json();
        if s["torrents"][0]["peers"] == 1 && s["torrents"][0]["uploaded"].as_u64() > Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the leecher never started\n{seed}"
        );
        thread::sleep(Duration::from_millis(100));
    }

    // Slowloris: heads that never end, a byte now and then.
    let mut slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = connect(api);
            s.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    let trickle = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut closed = 0;
        while Instant::now() < deadline && closed < slow.len() {
            closed = 0;
            for s in &mut slow {
                if s.write_all(b"a").is_err() || closed_within(s, Duration::from_millis(50)) {
                    closed += 1;
                }
            }
            thread::sleep(Duration::from_millis(500));
        }
        closed
    });

    // A 1 GB body, declared: refused before it is read.
    let (k, v) = auth();
    let mut s = connect(api);
    s.write_all(
        format!(
            "POST /api/v1/torrents HTTP/1.1\r\nHost: 127.0.0.1\r\n{k}: {v}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let _ = s.write_all(&[b' '; 64 << 10]);
    let r = read_reply(&mut s).expect("an answer to the 1 GB body");
    assert_eq!(r.status, 413, "{}", r.text());

    // 1 GB streamed without a length: cut off at the limit (16 MiB),
    // long before a gigabyte.
    let mut s = connect(api);
    s.write_all(
        format!(
            "POST /api/v1/torrents HTTP/1.1\r\nHost: 127.0.0.1\r\n{k}: {v}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let chunk = vec![b' '; 1 << 20];
    let mut sent = 0u64;
    while sent < 1 << 30 {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(&chunk);
        c.extend_from_slice(b"\r\n");
        if s.write_all(&c).is_err() {
            break;
        }
        sent += chunk.len() as u64;
    }
    assert!(
        sent < 256 << 20,
        "the node read {sent} bytes of an over-long body"
    );
    if let Some(r) = read_reply(&mut s) {
        assert_eq!(r.status, 413, "{}", r.text());
    }

    // Bad JSON, a wrong token, no token.
    let json = [("Content-Type", "application/json"), (k, v.as_str())];
    for bad in [&b"{\"path\": "[..], b"nonsense", b"{\"path\": [1,2]}"] {
        let r = request(api, "POST", "/api/v1/torrents", &json, bad);
        assert_eq!(r.status, 400, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "bad_request");
    }
    let r = request(
        api,
        "GET",
        "/api/v1/torrents",
        &[("Authorization", "Bearer wrong-token-0123456789abcdef01")],
        b"",
    );
    assert_eq!(r.status, 401);
    let r = request(api, "DELETE", "/api/v1/torrents/00", &[], b"");
    assert_eq!(
        r.status, 401,
        "no token: refused before the route's own checks"
    );
    still_answers(api);

    // A flood of idle connections past the limit: the extra ones get 503 at
    // once; the node still answers once they go.
    let mut flood: Vec<TcpStream> = (0..24).map(|_| connect(api)).collect();
    thread::sleep(Duration::from_millis(500));
    let mut busy = 0;
    for s in &mut flood {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 256];
        if let Ok(n) = std::io::Read::read(s, &mut buf) {
            if buf[..n].starts_with(b"HTTP/1.1 503") {
                busy += 1;
            }
        }
    }
    assert!(busy >= 1, "connections past api_max_connections get 503");
    drop(flood);

    // The slowloris heads were cut off (header timeout).
    let closed = trickle.join().unwrap();
    assert_eq!(closed, 8, "every never-ending head is closed");
    still_answers(api);

    // The node counted what it refused.
    let metrics = get_with_token(api, "/metrics", TOKEN).text();
    let value = |line: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {line} in\n{metrics}"))
    };
    assert!(value("seedcore_api_rejected_total{reason=\"unauthorized\"}") >= 2.0);
    assert!(value("seedcore_api_rejected_total{reason=\"body_too_large\"}") >= 1.0);
    assert!(value("seedcore_api_connections_total{result=\"busy\"}") >= 1.0);

    // And the leecher, still downloading, finishes once the limit is
    // lifted, never having reconnected.
    let s = get_with_token(api, "/api/v1/status", TOKEN).json();
    assert!(
        s["torrents"][0]["uploaded"].as_u64().unwrap() < 4 << 20,
        "{s}"
    );
    let (k, v) = auth();
    let r = request(
        api,
        "PATCH",
        "/api/v1/limits",
        &[("Content-Type", "application/json"), (k, v.as_str())],
        br#"{"upload_rate": 0}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["upload_rate"], 0);
    let report = leech.finish(&|| seed.to_string());
    let r = &report["leechers"][0];
    assert_eq!(r["hash_failures"], 0, "{report}");
    assert_eq!(r["connects"], 1, "{report}");
    seed.stop();
}
