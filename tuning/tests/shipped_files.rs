//! The files shipped in tuning/ agree with the code that reads them: the
//! presets load with the runtime's own config loader (so a renamed key
//! breaks this test), the sysctl profile passes `seedcore tune` at every
//! link speed, and the systemd unit's limits cover every preset.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::path::{Path, PathBuf};

use seedcore_runtime::Config;
use seedcore_tuning::checks::{self, DEFAULT_IO_MEMORY, DEFAULT_MAX_PEERS, DEFAULT_PORT};
use seedcore_tuning::reading::SYSCTLS;
use seedcore_tuning::{check_all, Link, Readings, Status, Target};

fn file(rel: &str) -> (PathBuf, String) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (p, text)
}

const PRESETS: [(&str, Link); 3] = [
    ("presets/1g.toml", Link::G1),
    ("presets/10g.toml", Link::G10),
    ("presets/100g.toml", Link::G100),
];

/// `key = value` lines (not comments, not `[[table]]` headers), each with
/// the line above it.
fn settings<'a>(text: &'a str, sep: &str) -> Vec<(&'a str, &'a str, &'a str)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with('[') {
            continue;
        }
        let (k, v) = t
            .split_once(sep)
            .unwrap_or_else(|| panic!("not a setting: {t:?}"));
        let above = if i == 0 { "" } else { lines[i - 1].trim() };
        out.push((k.trim(), v.trim(), above));
    }
    out
}

#[test]
fn every_preset_loads_with_the_runtime_loader_and_validates() {
    for (rel, _) in PRESETS {
        let (path, _) = file(rel);
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
        config.validate().unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            config.resume_dir.as_deref(),
            Some(Path::new("/var/lib/seedcore/resume")),
            "{rel}: resume data must go where the unit lets it write"
        );
    }
}

#[test]
fn every_preset_setting_has_a_reason_and_a_known_key() {
    // The keys `--print-config` shows, plus the optional ones it leaves
    // out when unset.
    let printed = Config::default().to_toml();
    let mut known: Vec<String> = settings(&printed, "=")
        .into_iter()
        .map(|(k, _, _)| k.to_string())
        .collect();
    known.extend(["shards".into(), "resume_dir".into()]);
    for (rel, _) in PRESETS {
        let (_, text) = file(rel);
        let set = settings(&text, "=");
        assert!(set.len() >= 15, "{rel}: only {} settings", set.len());
        for (key, _, above) in set {
            assert!(
                above.starts_with("# "),
                "{rel}: `{key}` has no reason above it"
            );
            assert!(known.iter().any(|k| k == key), "{rel}: unknown key `{key}`");
        }
    }
}

#[test]
fn presets_scale_with_the_link() {
    let loaded: Vec<Config> = PRESETS
        .iter()
        .map(|(rel, _)| Config::load(&file(rel).0).unwrap())
        .collect();
    for pair in loaded.windows(2) {
        assert!(pair[0].max_peers < pair[1].max_peers);
        assert!(pair[0].reqq < pair[1].reqq);
    }
}

#[test]
fn tuning_defaults_match_the_runtime() {
    let d = Config::default();
    assert_eq!(d.max_peers, DEFAULT_MAX_PEERS);
    assert_eq!(d.io_memory.0, DEFAULT_IO_MEMORY);
    assert_eq!(d.port, DEFAULT_PORT);
    assert_eq!(Target::default().port, d.port);
}

#[test]
fn the_sysctl_profile_passes_tune_at_every_link() {
    let (_, text) = file("sysctl/90-seedcore.conf");
    let set = settings(&text, "=");
    let mut r = Readings::default();
    for (key, value, above) in &set {
        assert!(above.starts_with("# "), "`{key}` has no reason above it");
        assert!(
            SYSCTLS.contains(key),
            "`{key}` is not read by `seedcore tune`"
        );
        r.sysctls.insert((*key).to_string(), (*value).to_string());
    }
    for link in Link::ALL {
        let report = check_all(
            &r,
            &Target {
                link: Some(link),
                ..Target::default()
            },
        );
        for (key, _, _) in &set {
            if let Some(c) = report.checks.iter().find(|c| c.id == *key) {
                assert_eq!(c.status, Status::Ok, "{link}: {c:?}");
            }
        }
        let ports = report
            .checks
            .iter()
            .find(|c| c.id == "net.ipv4.ip_local_port_range")
            .unwrap();
        assert_eq!(ports.status, Status::Ok, "{ports:?}");
    }
}

fn unit_value<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    settings(unit, "=")
        .into_iter()
        .filter(|(k, _, _)| *k == key)
        .map(|(_, v, _)| v)
        .collect()
}

#[test]
fn the_unit_runs_the_seed_hardened() {
    let (_, unit) = file("systemd/seedcore.service");
    let one = |k: &str| {
        let v = unit_value(&unit, k);
        assert_eq!(v.len(), 1, "{k}: {v:?}");
        v[0]
    };
    assert!(one("ExecStart").ends_with("/seedcore seed --config /etc/seedcore/seedcore.toml"));
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("ProtectHome"), "yes");
    assert_eq!(one("PrivateTmp"), "yes");
    assert_eq!(one("CapabilityBoundingSet"), "");
    assert_eq!(one("AmbientCapabilities"), "");
    assert!(one("SystemCallFilter").contains("io_uring_setup"));
    // Every preset's resume folder is writable.
    let writable = one("ReadWritePaths");
    for (rel, _) in PRESETS {
        let c = Config::load(&file(rel).0).unwrap();
        let dir = c.resume_dir.unwrap();
        assert!(
            dir.starts_with(writable),
            "{rel}: {} not under {writable}",
            dir.display()
        );
    }
}

#[test]
fn the_unit_limits_cover_every_preset() {
    let (_, unit) = file("systemd/seedcore.service");
    let nofile = unit_value(&unit, "LimitNOFILE")[0];
    let memlock = unit_value(&unit, "LimitMEMLOCK")[0];
    let memlock = seedcore_tuning::parse::size(memlock).unwrap();
    let limits = format!(
        "Max open files  {nofile}  {nofile}  files\nMax locked memory  {memlock}  {memlock}  bytes\n"
    );
    for (rel, _) in PRESETS {
        let c = Config::load(&file(rel).0).unwrap();
        let n = checks::nofile(Some(&limits), Some(1 << 20), c.max_peers);
        assert_eq!(n.status, Status::Ok, "{rel}: {n:?}");
        // Unset shards: every core but one of a 64-core host.
        let shards = c.shards.unwrap_or(63);
        let m = checks::memlock(Some(&limits), Some(0), shards, c.io_memory.0);
        assert_eq!(m.status, Status::Ok, "{rel}: {m:?}");
    }
}
