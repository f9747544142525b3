//! Debian's opentracker on 127.0.0.1 for the interop tests, and a wait for
//! the seed's first successful announce.
//!
//! opentracker serves only whitelisted hashes (`-w`, hex, one a line); as
//! root it chroots into `-d` and then drops to `nobody`, so the whitelist
//! path is relative to that folder and both must be readable by `nobody`.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::clients::require_exe;
use crate::live::Live;
use crate::seed::{free_port, loopback, RunningSeed};

/// opentracker on 127.0.0.1 (HTTP on a free TCP port, UDP on a free UDP
/// port), serving `hash_hex` only.
pub fn opentracker(dir: &Path, hash_hex: &str) -> (Live, u16, u16) {
    let exe = require_exe("opentracker", "opentracker");
    let root = dir.join("opentracker");
    let must = |what: &str, r: std::io::Result<()>| {
        if let Err(e) = r {
            panic!("opentracker: {what}: {e}");
        }
    };
    must("mkdir", std::fs::create_dir_all(&root));
    must(
        "whitelist",
        std::fs::write(root.join("whitelist"), format!("{hash_hex}\n")),
    );
    must(
        "chmod",
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)),
    );
    must(
        "chmod",
        std::fs::set_permissions(
            root.join("whitelist"),
            std::fs::Permissions::from_mode(0o644),
        ),
    );
    let http = free_port(loopback(1));
    let udp = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free UDP port: {e}"));
    let mut cmd = Command::new(exe);
    cmd.current_dir(&root)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &http.to_string(),
            "-P",
            &udp.to_string(),
        ])
        .arg("-d")
        .arg(&root)
        .args(["-w", "whitelist", "-u", "nobody"]);
    let mut live = Live::spawn("opentracker", &mut cmd);
    let addr = SocketAddr::from(([127, 0, 0, 1], http));
    live.wait_until("listening", Duration::from_secs(20), |_| {
        TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
    });
    (live, http, udp)
}

/// Waits until the seed's `--json` status says its tracker answered.
pub fn wait_announced(seed: &RunningSeed, tracker: &Live) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = seed.json_statuses().last().is_some_and(|s| {
            s["torrents"][0]["trackers"]
                .as_array()
                .is_some_and(|t| !t.is_empty() && t.iter().all(|t| t["ok"] == true))
        });
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the seed's announce should succeed\n{seed}\n{tracker}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
