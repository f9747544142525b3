//! The HTTP layer's bounds against slow and hostile clients, in process,
//! with a node that only records what it is asked: slowloris heads, huge
//! and slow bodies, bad JSON, wrong tokens, too many connections, idle
//! connections. Each must get its error (or be cut off) while other
//! clients keep being answered. `tests/tests/api_hostile.rs` does the same
//! against the real binary while a leecher downloads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use seedcore_api::{ApiConfig, ApiServer, Backend, StartError};
use seedcore_runtime::{
    AddRequest, AddSource, NodeError, StatusReport, TorrentInfo, TorrentKey, TorrentSource,
    TorrentState, TorrentStatus,
};
use support::*;

#[derive(Default)]
struct Recorder {
    added: Mutex<Vec<AddRequest>>,
}

fn info() -> TorrentInfo {
    TorrentInfo {
        key: TorrentKey([0xab; 20]),
        info_hash: "ab".repeat(20),
        info_hash_v2: None,
        name: "t".into(),
        state: TorrentState::Seeding,
        error: None,
        source: TorrentSource::Api,
        data: "/srv".into(),
        torrent_path: None,
        size: 10,
        piece_count: 2,
        pieces: 2,
        private: false,
        verify: None,
        peers: 0,
        uploaded: 0,
        upload_rate: 0.0,
        upload_limit: 0,
        trackers: Vec::new(),
        added_at: 0,
        magnet: String::new(),
    }
}

impl Backend for Recorder {
    fn status(&self) -> Result<StatusReport, NodeError> {
        Ok(StatusReport {
            uptime: 3.0,
            torrents: vec![TorrentStatus {
                name: "t".into(),
                info_hash: "ab".repeat(20),
                pieces: 2,
                piece_count: 2,
                ..TorrentStatus::default()
            }],
            ..StatusReport::default()
        })
    }

    fn add(&self, req: AddRequest) -> Result<TorrentInfo, NodeError> {
        self.added.lock().unwrap().push(req);
        Ok(info())
    }
}

fn config() -> ApiConfig {
    let mut c = ApiConfig::new("127.0.0.1:0".parse().unwrap());
    c.header_timeout = Duration::from_secs(1);
    c.body_timeout = Duration::from_secs(1);
    c.idle_timeout = Duration::from_secs(2);
    c.max_body = 64 << 10;
    c.max_connections = 8;
    c
}

fn start(c: ApiConfig) -> (ApiServer, Arc<Recorder>) {
    let node = Arc::new(Recorder::default());
    let api = ApiServer::start(c, Arc::clone(&node) as Arc<dyn Backend>).unwrap();
    (api, node)
}

/// The server still answers a normal request.
fn still_serving(addr: SocketAddr) {
    let r = get(addr, "/api/v1/status");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["uptime"], 3.0);
}

#[test]
fn slowloris_heads_are_cut_off() {
    let (api, _) = start(config());
    let addr = api.local_addr();
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut s = connect(addr);
        s.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: ")
            .unwrap();
        slow.push(s);
    }
    still_serving(addr);
    for s in &mut slow {
        // A byte now and then does not keep a head alive forever.
        let _ = s.write_all(b"a");
        assert!(
            closed_within(s, Duration::from_secs(10)),
            "a head that never ends is closed"
        );
    }
    still_serving(addr);
}

#[test]
fn huge_bodies_are_refused_before_they_are_read() {
    let (api, node) = start(config());
    let addr = api.local_addr();
    // A 1 GB declared body: 413 at once, nothing buffered.
    let mut s = connect(addr);
    s.write_all(
        b"POST /api/v1/torrents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 1000000000\r\n\r\n{\"path\":",
    )
    .unwrap();
    let r = read_reply(&mut s).expect("an answer before the body");
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "body_too_large");
    // A chunked body with no length: cut when it passes the limit.
    let mut s = connect(addr);
    s.write_all(
        b"POST /api/v1/torrents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    let chunk = vec![b' '; 16 << 10];
    let mut answered = None;
    for _ in 0..64 {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(&chunk);
        c.extend_from_slice(b"\r\n");
        if s.write_all(&c).is_err() {
            break;
        }
    }
    if let Some(r) = read_reply(&mut s) {
        answered = Some(r.status);
    }
    assert_eq!(answered, Some(413));
    assert!(node.added.lock().unwrap().is_empty());
    assert!(
        api.stats()
            .too_large
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    still_serving(addr);
}

#[test]
fn slow_bodies_time_out() {
    let (api, _) = start(config());
    let addr = api.local_addr();
    let mut s = connect(addr);
    s.write_all(
        b"POST /api/v1/torrents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"pa",
    )
    .unwrap();
    let r = read_reply(&mut s).expect("an answer");
    assert_eq!(r.status, 408, "{}", r.text());
    still_serving(addr);
}

#[test]
fn bad_json_and_bad_forms_are_400_and_good_ones_reach_the_node() {
    let (api, node) = start(config());
    let addr = api.local_addr();
    let json = [("Content-Type", "application/json")];
    for bad in [
        &b"{"[..],
        b"[]",
        b"{\"path\": 5}",
        b"{\"path\": \"x\", \"evil\": 1}",
        b"\xff\xfe",
    ] {
        let r = request(addr, "POST", "/api/v1/torrents", &json, bad);
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(bad),
            r.text()
        );
        assert_eq!(r.json()["error"]["code"], "bad_request");
    }
    let r = request(
        addr,
        "POST",
        "/api/v1/torrents",
        &[("Content-Type", "text/plain")],
        b"x",
    );
    assert_eq!(r.status, 415);
    let r = request(
        addr,
        "PATCH",
        "/api/v1/limits",
        &json,
        b"{\"upload_rate\": \"fast\"}",
    );
    assert_eq!(r.status, 400);

    let r = request(
        addr,
        "POST",
        "/api/v1/torrents",
        &json,
        br#"{"path": "/srv/a", "data": "/srv", "upload_limit": 5}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(&*format!("/api/v1/torrents/{}", "ab".repeat(20)))
    );
    let form =
        b"--XyZ\r\nContent-Disposition: form-data; name=\"torrent\"; filename=\"a.torrent\"\r\n\
Content-Type: application/x-bittorrent\r\n\r\nd4:infod4:name1:aee\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"data\"\r\n\r\n/srv/data\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"paused\"\r\n\r\ntrue\r\n--XyZ--\r\n";
    let r = request(
        addr,
        "POST",
        "/api/v1/torrents",
        &[("Content-Type", "multipart/form-data; boundary=XyZ")],
        form,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let broken = &form[..form.len() - 12];
    let r = request(
        addr,
        "POST",
        "/api/v1/torrents",
        &[("Content-Type", "multipart/form-data; boundary=XyZ")],
        broken,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let added = node.added.lock().unwrap().clone();
    assert_eq!(
        added,
        vec![
            AddRequest {
                source: AddSource::Make("/srv/a".into()),
                data: Some("/srv".into()),
                paused: false,
                upload_limit: 5,
            },
            AddRequest {
                source: AddSource::TorrentBytes(b"d4:infod4:name1:aee".to_vec()),
                data: Some("/srv/data".into()),
                paused: true,
                upload_limit: 0,
            },
        ]
    );
    // Routes the node does not offer say so; unknown paths and methods too.
    let r = request(
        addr,
        "POST",
        &format!("/api/v1/torrents/{}/pause", "ab".repeat(20)),
        &[],
        b"",
    );
    assert_eq!(r.status, 404, "the stand-in knows no torrent: {}", r.text());
    assert_eq!(get(addr, "/api/v1/limits").status, 501);
    let r = request(addr, "POST", "/api/v1/torrents/nothex/pause", &[], b"");
    assert_eq!(r.status, 400);
    assert_eq!(get(addr, "/api/v1/nothing").status, 404);
    let r = request(addr, "PUT", "/api/v1/torrents", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
}

#[test]
fn tokens_and_origins() {
    let mut c = config();
    c.token = Some("correct-horse-battery-staple".into());
    let (api, node) = start(c);
    let addr = api.local_addr();
    let r = get(addr, "/api/v1/status");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let wrong = [("Authorization", "Bearer correct-horse-battery-stapl")];
    assert_eq!(request(addr, "GET", "/metrics", &wrong, b"").status, 401);
    let right = [("Authorization", "Bearer correct-horse-battery-staple")];
    assert_eq!(
        request(addr, "GET", "/api/v1/status", &right, b"").status,
        200
    );
    // The page's files hold no data: no token needed.
    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("<svg id=\"chart\""));
    // A browser page elsewhere cannot change the node, token or not.
    let r = request(
        addr,
        "POST",
        "/api/v1/torrents",
        &[
            ("Authorization", "Bearer correct-horse-battery-staple"),
            ("Origin", "http://evil.example"),
            ("Content-Type", "application/json"),
        ],
        br#"{"path": "/etc"}"#,
    );
    assert_eq!(r.status, 403);
    assert!(node.added.lock().unwrap().is_empty());
    assert!(
        api.stats()
            .unauthorized
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );

    // Without a token, a rebound host name is refused.
    let (open, _) = start(config());
    let mut s = connect(open.local_addr());
    s.write_all(
        b"GET /api/v1/status HTTP/1.1\r\nHost: attacker.example:80\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_reply(&mut s).unwrap().status, 403);
}

#[test]
fn beyond_loopback_a_token_is_required() {
    let c = ApiConfig::new("0.0.0.0:0".parse().unwrap());
    let e = ApiServer::start(c.clone(), Arc::new(Recorder::default())).unwrap_err();
    assert!(matches!(e, StartError::TokenRequired { .. }), "{e}");
    let mut weak = c;
    weak.token = Some("short".into());
    let e = ApiServer::start(weak, Arc::new(Recorder::default())).unwrap_err();
    assert!(matches!(e, StartError::WeakToken { .. }), "{e}");
}

#[test]
fn too_many_connections_get_503_and_idle_ones_are_closed() {
    let mut c = config();
    c.max_connections = 3;
    let (api, _) = start(c);
    let addr = api.local_addr();
    let mut held: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    // Give the server a moment to accept them all.
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = connect(addr);
    let r = read_reply(&mut extra).expect("a 503 answer");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["code"], "busy");
    // The idle ones are closed by the watchdog (or header timeout), and
    // then the server answers again.
    for s in &mut held {
        assert!(closed_within(s, Duration::from_secs(10)));
    }
    still_serving(addr);
    assert!(
        api.stats()
            .refused_busy
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

#[test]
fn metrics_and_history_answer() {
    let (api, _) = start(config());
    let addr = api.local_addr();
    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(r.text().contains("seedcore_torrent_peers{info_hash=\"abab"));
    // The sampler runs twice a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let h = get(addr, "/api/v1/history").json();
        if h.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no history sample");
        std::thread::sleep(Duration::from_millis(100));
    }
}
