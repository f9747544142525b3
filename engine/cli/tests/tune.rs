//! `seedcore tune` as a user runs it: advice with exit code 0, bad input
//! with exit code 2, settings taken from flags and from a seed config.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::path::Path;
use std::process::{Command, Output};

fn tune(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seedcore"))
        .arg("tune")
        .args(args)
        // The command also reads SEEDCORE_* like `seed`; keep the test's
        // environment from leaking in.
        .env_remove("SEEDCORE_CONFIG")
        .env_remove("SEEDCORE_SHARDS")
        .env_remove("SEEDCORE_IO_MEMORY")
        .env_remove("SEEDCORE_MAX_PEERS")
        .env_remove("SEEDCORE_PORT")
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = tune(&all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn item<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no item {id}"))
}

#[test]
fn json_report_covers_every_item_and_exits_zero() {
    let r = json(&["--link", "1g", "--shards", "3", "--max-peers", "123"]);
    assert_eq!(r["link"], "1g");
    assert_eq!(r["link_source"], "--link");
    assert_eq!(r["shards"], 3);
    for id in [
        "limits.nofile",
        "limits.memlock",
        "kernel.version",
        "kernel.io_uring_disabled",
        "net.core.somaxconn",
        "net.core.wmem_max",
        "net.core.rmem_max",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_notsent_lowat",
        "net.ipv4.tcp_congestion_control",
        "net.core.default_qdisc",
        "net.ipv4.ip_local_port_range",
        "cpu.sha1",
        "cpu.simd",
        "cpu.cores",
        "mm.transparent_hugepage",
    ] {
        let c = item(&r, id);
        for key in ["status", "found", "wanted", "why"] {
            assert!(c[key].is_string(), "{id}.{key}: {c}");
        }
        if c["status"] != "ok" {
            assert!(c["fix"].is_string(), "{id} has no fix: {c}");
        }
    }
    assert!(item(&r, "limits.nofile")["wanted"]
        .as_str()
        .unwrap()
        .contains("max_peers 123"));
    assert!(item(&r, "net.core.wmem_max")["wanted"]
        .as_str()
        .unwrap()
        .contains("16777216"));
}

#[test]
fn the_table_is_the_default() {
    let out = tune(&["--link", "100g"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("seedcore tune: "), "{text}");
    assert!(text.contains("STATUS  ITEM"), "{text}");
    assert!(text.contains(" OK, "), "{text}");
}

#[test]
fn settings_come_from_a_seed_config_and_flags_override_them() {
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tuning/presets/100g.toml");
    let preset = preset.to_str().unwrap();
    let r = json(&["--config", preset]);
    assert!(item(&r, "limits.nofile")["wanted"]
        .as_str()
        .unwrap()
        .contains("max_peers 50000"));
    let r = json(&["--config", preset, "--max-peers", "7"]);
    assert!(item(&r, "limits.nofile")["wanted"]
        .as_str()
        .unwrap()
        .contains("max_peers 7"));
}

#[test]
fn bad_input_exits_two() {
    for args in [
        &["--link", "40g"][..],
        &["--shards", "0"],
        &["--io-memory", "lots"],
        &["--config", "/nonexistent/seedcore.toml"],
    ] {
        let out = tune(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
