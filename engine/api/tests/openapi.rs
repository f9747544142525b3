//! `openapi.json` against the real routes of a real node.
//!
//! Both ways: every route the server has is in the document, every
//! operation in the document is a route; and every operation, called on
//! a running seed (in process, on loopback), answers a status the
//! document lists for it, with a body that has the shape the document
//! gives (required fields present, types right, nested schemas followed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use seedcore_api::{routes::ROUTES, ApiConfig, ApiServer, OPENAPI};
use seedcore_runtime::{Config, Seeder, Span, TorrentSpec};
use support::*;

/// (method, documented path, real path, headers, body, expected status).
type Call<'a> = (
    &'a str,
    &'a str,
    String,
    &'a [(&'a str, &'a str)],
    Vec<u8>,
    u16,
);

fn spec() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    ops
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let documented = operations(&spec);
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.json documents routes that do not exist: {extra:?}"
    );
    // Public routes say so (no security), the others inherit the bearer.
    for r in ROUTES {
        let op = &spec["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
        assert_eq!(
            op.get("security") == Some(&serde_json::json!([])),
            r.public,
            "{} {}: security should match the route's need for a token",
            r.method,
            r.path
        );
    }
}

fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            let s = &spec["components"]["schemas"][name];
            assert!(!s.is_null(), "dangling $ref {r}");
            s
        }
        None => schema,
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other}"),
    }
}

/// Checks `v` against `schema`; `at` names the place for messages.
fn check(spec: &Value, schema: &Value, v: &Value, at: &str) {
    let s = resolve(spec, schema);
    if let Some(alts) = s.get("oneOf").and_then(Value::as_array) {
        let fits = alts.iter().any(|a| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(spec, a, v, at))).is_ok()
        });
        assert!(fits, "{at}: {v} fits none of {alts:?}");
        return;
    }
    match s.get("type") {
        Some(Value::String(t)) => assert!(type_ok(t, v), "{at}: {v} is not {t}"),
        Some(Value::Array(ts)) => assert!(
            ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
            "{at}: {v} is none of {ts:?}"
        ),
        _ => {}
    }
    if let (Some(obj), true) = (v.as_object(), v.is_object()) {
        for req in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let k = req.as_str().unwrap();
            assert!(
                obj.contains_key(k),
                "{at}: missing required field {k:?} in {v}"
            );
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, sub) in props {
                if let Some(x) = obj.get(k) {
                    check(spec, sub, x, &format!("{at}.{k}"));
                }
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check(spec, items, x, &format!("{at}[{i}]"));
        }
    }
}

/// Checks one answer against the operation's documented responses.
fn conforms(spec: &Value, method: &str, path: &str, r: &Reply) {
    let op = &spec["paths"][path][method.to_ascii_lowercase()];
    let resp = &op["responses"][r.status.to_string()];
    assert!(
        !resp.is_null(),
        "{method} {path} answered {} which openapi.json does not list: {}",
        r.status,
        r.text()
    );
    let ctype = r.header("content-type").unwrap_or("");
    let content = resp["content"].as_object().unwrap();
    let (media, body) = content
        .iter()
        .find(|(m, _)| ctype.starts_with(m.as_str()))
        .unwrap_or_else(|| panic!("{method} {path}: content type {ctype:?} not documented"));
    if media == "application/json" {
        check(
            spec,
            &body["schema"],
            &r.json(),
            &format!("{method} {path} {}", r.status),
        );
    }
}

#[test]
fn every_documented_operation_answers_as_described_on_a_real_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sample");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("a.bin"), vec![7u8; 300_000]).unwrap();
    let extra = dir.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(extra.join("b.bin"), vec![9u8; 100_000]).unwrap();
    let config = Config {
        port: 0,
        bind: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        shards: Some(1),
        status_interval: Span(Duration::ZERO),
        dht: false,
        torrents: vec![TorrentSpec {
            path: data.clone(),
            data: None,
        }],
        ..Config::default()
    };
    let seeder = Seeder::start(config).unwrap();
    let hash = seeder.torrents()[0].info_hash.clone();
    let api = ApiServer::start(
        ApiConfig::new("127.0.0.1:0".parse().unwrap()),
        Arc::new(seeder.node()),
    )
    .unwrap();
    let addr = api.local_addr();
    // The first status comes a second after the start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(addr, "/api/v1/status").status != 200 {
        assert!(Instant::now() < deadline, "no status");
        std::thread::sleep(Duration::from_millis(100));
    }
    let spec = spec();
    let json = [("Content-Type", "application/json")];
    let add_body = serde_json::json!({ "path": extra }).to_string();
    let t = |p: &str| format!("/api/v1/torrents/{hash}{p}");
    // (method, documented path, real path, headers, body, status); removal last.
    let none: &[(&str, &str)] = &[];
    #[rustfmt::skip]
    let calls: Vec<Call<'_>> = vec![
        ("GET", "/", "/".into(), none, vec![], 200),
        ("GET", "/app.js", "/app.js".into(), none, vec![], 200),
        ("GET", "/app.css", "/app.css".into(), none, vec![], 200),
        ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json".into(), none, vec![], 200),
        ("GET", "/metrics", "/metrics".into(), none, vec![], 200),
        ("GET", "/api/v1/status", "/api/v1/status".into(), none, vec![], 200),
        ("GET", "/api/v1/history", "/api/v1/history".into(), none, vec![], 200),
        ("GET", "/api/v1/torrents", "/api/v1/torrents".into(), none, vec![], 200),
        ("POST", "/api/v1/torrents", "/api/v1/torrents".into(), &json, add_body.into_bytes(), 201),
        ("POST", "/api/v1/torrents", "/api/v1/torrents".into(), &json, b"{".to_vec(), 400),
        ("GET", "/api/v1/torrents/{hash}", t(""), none, vec![], 200),
        ("GET", "/api/v1/torrents/{hash}", "/api/v1/torrents/xyz".into(), none, vec![], 400),
        ("GET", "/api/v1/torrents/{hash}", format!("/api/v1/torrents/{}", "0".repeat(40)), none, vec![], 404),
        ("PATCH", "/api/v1/torrents/{hash}", t(""), &json, br#"{"upload_limit": 0}"#.to_vec(), 200),
        ("GET", "/api/v1/torrents/{hash}/peers", t("/peers"), none, vec![], 200),
        ("POST", "/api/v1/torrents/{hash}/pause", t("/pause"), none, vec![], 200),
        ("POST", "/api/v1/torrents/{hash}/resume", t("/resume"), none, vec![], 200),
        ("POST", "/api/v1/torrents/{hash}/recheck", t("/recheck"), none, vec![], 200),
        ("GET", "/api/v1/limits", "/api/v1/limits".into(), none, vec![], 200),
        ("PATCH", "/api/v1/limits", "/api/v1/limits".into(), &json, br#"{"upload_slots": 0}"#.to_vec(), 200),
        ("PATCH", "/api/v1/limits", "/api/v1/limits".into(), &json, br#"{"slots": 0}"#.to_vec(), 400),
        ("GET", "/api/v1/blocklist", "/api/v1/blocklist".into(), none, vec![], 200),
        // No blocklist file and no configuration file on this node.
        ("POST", "/api/v1/blocklist/reload", "/api/v1/blocklist/reload".into(), none, vec![], 501),
        ("POST", "/api/v1/config/reload", "/api/v1/config/reload".into(), none, vec![], 501),
        ("DELETE", "/api/v1/torrents/{hash}", t(""), none, vec![], 200),
    ];
    let mut covered = BTreeSet::new();
    for (method, doc_path, real, headers, body, expected) in &calls {
        let r = request(addr, method, real, headers, body);
        conforms(&spec, method, doc_path, &r);
        assert_eq!(r.status, *expected, "{method} {real}: {}", r.text());
        covered.insert((method.to_string(), doc_path.to_string()));
    }
    assert_eq!(
        covered,
        operations(&spec),
        "every documented operation was called"
    );
    drop(api);
    seeder.shutdown();
}
