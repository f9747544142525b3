//! Debian's opentracker for tests, and waiting for the seed to announce.
//!
//! opentracker serves only whitelisted hashes (`-w`, hex, one a line); as
//! root it chroots into `-d` and then drops to `nobody`, so the whitelist
//! path is relative to that folder and both must be readable by `nobody`.
//! Its announce interval is about half an hour, so a leecher that
//! announces before the seed waits that long for a second list: tests
//! start leechers only once [`wait_announced`] saw the seed's announce
//! succeed.

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::clients::require_exe;
use crate::live::Live;
use crate::seed::{free_port, RunningSeed};

/// A running opentracker.
pub struct Opentracker {
    /// The process (killed on drop).
    pub live: Live,
    /// The address it listens on.
    pub ip: IpAddr,
    /// Its HTTP (TCP) port.
    pub http_port: u16,
    /// Its UDP port.
    pub udp_port: u16,
}

impl Opentracker {
    /// opentracker on `ip` (HTTP on a free TCP port, UDP on a free UDP
    /// port), serving `hash_hex` only; its files live under `dir`.
    #[track_caller]
    pub fn start(dir: &Path, ip: IpAddr, hash_hex: &str) -> Opentracker {
        let exe = require_exe("opentracker", "opentracker");
        let root = dir.join("opentracker");
        std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("mkdir {}: {e}", root.display()));
        let list = root.join("whitelist");
        std::fs::write(&list, format!("{hash_hex}\n"))
            .unwrap_or_else(|e| panic!("write {}: {e}", list.display()));
        for (p, mode) in [(&root, 0o755), (&list, 0o644)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
        }
        let http_port = free_port(ip);
        let udp_port = UdpSocket::bind(SocketAddr::new(ip, 0))
            .and_then(|s| s.local_addr())
            .unwrap_or_else(|e| panic!("no free UDP port on {ip}: {e}"))
            .port();
        let mut cmd = Command::new(exe);
        cmd.current_dir(&root)
            .args([
                "-i",
                &ip.to_string(),
                "-p",
                &http_port.to_string(),
                "-P",
                &udp_port.to_string(),
            ])
            .arg("-d")
            .arg(&root)
            .args(["-w", "whitelist", "-u", "nobody"]);
        let mut live = Live::spawn("opentracker", &mut cmd);
        let addr = SocketAddr::new(ip, http_port);
        live.wait_until("listening", Duration::from_secs(20), |_| {
            TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
        });
        Opentracker {
            live,
            ip,
            http_port,
            udp_port,
        }
    }

    /// The HTTP announce URL.
    pub fn http_url(&self) -> String {
        format!(
            "http://{}/announce",
            SocketAddr::new(self.ip, self.http_port)
        )
    }

    /// The UDP announce URL.
    pub fn udp_url(&self) -> String {
        format!("udp://{}/announce", SocketAddr::new(self.ip, self.udp_port))
    }
}

impl std::fmt::Display for Opentracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.live, f)
    }
}

/// Waits (30 s at most) until the seed's `--json` status says every
/// tracker of its first torrent answered; panics with both logs if not.
#[track_caller]
pub fn wait_announced(seed: &RunningSeed, tracker: &dyn std::fmt::Display) {
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
