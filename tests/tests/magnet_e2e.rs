//! `seedcore magnet` end to end, checked against libtorrent's parser.
//!
//! A magnet link must carry the v1 info-hash as `xt=urn:btih:` (v1 and
//! hybrid), the v2 one as `xt=urn:btmh:1220<sha-256>` (v2 and hybrid, BEP
//! 9/52), the name as `dn` and each tracker as `tr`, all percent-encoded so
//! that a name with `&` or a space survives. libtorrent reading the link
//! back to the same hashes, name and trackers is the proof.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use seedcore_tests::*;
use serde_json::json;

fn magnet_of(torrent: &std::path::Path) -> String {
    let out = seedcore().arg("magnet").arg(torrent).run();
    out.expect_code(0).expect_no_panic();
    let uri = out.stdout.trim().to_string();
    assert!(uri.starts_with("magnet:?"), "not a magnet link\n{out}");
    assert_eq!(uri.lines().count(), 1, "one line expected\n{out}");
    uri
}

/// The query parameters of a magnet URI, undecoded.
fn params(uri: &str) -> Vec<(String, String)> {
    uri.trim_start_matches("magnet:?")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn magnet_carries_hashes_and_name_in_every_mode() {
    let tmp = temp_dir();
    let (top, _) = make_tree(&tmp.path().join("data"), "nested", Shape::Nested, 41);
    for mode in LtMode::ALL {
        let torrent = tmp.path().join(format!("{}.torrent", mode.name()));
        let info = seedcore_create(
            &top,
            &torrent,
            &[mode.seedcore_flag(), "--piece-size", "32768"],
        );
        let uri = magnet_of(&torrent);
        let lower = uri.to_ascii_lowercase();
        let ctx = format!("{}: {uri}", mode.name());
        let v1 = json_opt_hex(&info, "info_hash_v1");
        let v2 = json_opt_hex(&info, "info_hash_v2");
        match &v1 {
            Some(h) => assert!(lower.contains(&format!("xt=urn:btih:{h}")), "{ctx}"),
            None => assert!(!lower.contains("urn:btih:"), "{ctx}"),
        }
        match &v2 {
            Some(h) => assert!(lower.contains(&format!("xt=urn:btmh:1220{h}")), "{ctx}"),
            None => assert!(!lower.contains("urn:btmh:"), "{ctx}"),
        }
        assert!(
            params(&uri).contains(&("dn".into(), "nested".into())),
            "{ctx}"
        );
        // `info --json` reports the same link.
        assert_eq!(json_str(&info, "magnet"), uri, "{ctx}");

        let lt = lt_magnet(&uri);
        assert_eq!(json_opt_hex(&lt, "v1"), v1, "{ctx}");
        assert_eq!(json_opt_hex(&lt, "v2"), v2, "{ctx}");
        assert_eq!(lt["name"], json!("nested"), "{ctx}");
    }
}

/// Names and tracker URLs with characters that mean something in a query
/// string are percent-encoded, and libtorrent decodes them back.
#[test]
fn names_and_trackers_survive_percent_encoding() {
    let tmp = temp_dir();
    let name = "a&b c=d+é";
    let (top, _) = make_tree(&tmp.path().join("data"), name, Shape::SingleFile, 42);
    let t1 = "http://127.0.0.1:6969/announce?key=a&x=1";
    let t2 = "udp://tracker.example:1337/announce";
    let torrent = tmp.path().join("t.torrent");
    seedcore_create(
        &top,
        &torrent,
        &["--hybrid", "--tracker", t1, "--tracker", t2],
    );
    let uri = magnet_of(&torrent);
    let lt = lt_magnet(&uri);
    assert_eq!(lt["name"], json!(name), "{uri}");
    assert_eq!(lt["trackers"], json!([t1, t2]), "{uri}");
    let tr = params(&uri).iter().filter(|(k, _)| k == "tr").count();
    assert_eq!(tr, 2, "{uri}");
}

#[test]
fn magnet_of_malformed_torrent_is_bad_input() {
    let tmp = temp_dir();
    let torrent = tmp.path().join("bad.torrent");
    std::fs::write(&torrent, b"d4:infod4:name1:aee").unwrap();
    let out = seedcore().arg("magnet").arg(&torrent).run();
    out.expect_code(2).expect_no_panic();
    assert!(
        out.stdout.trim().is_empty(),
        "no link for a bad torrent\n{out}"
    );
    assert!(!out.stderr.trim().is_empty(), "{out}");
}
