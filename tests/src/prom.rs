//! Prometheus from Debian's `prometheus` package, as the metrics tests run
//! it: `promtool check metrics` on an exposition, and a real server on
//! loopback (a free port, a config the test writes, its own storage folder)
//! scraping a node every second, read back through its HTTP query API.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::clients::require_exe;
use crate::http;
use crate::live::Live;
use crate::seed::{free_port, loopback};

/// `promtool check metrics` on `text`: `Err` with promtool's complaints.
pub fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write;
    let promtool = require_exe("promtool", "prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run promtool: {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("promtool check metrics ({}): {said}", out.status))
    }
}

/// A Prometheus server the test started.
pub struct Prometheus {
    live: Live,
    addr: SocketAddr,
}

impl Prometheus {
    /// Starts Prometheus scraping `target`'s `/metrics` every second (with
    /// `token` as a bearer token when given), keeping its data in `dir`.
    pub fn start(dir: &Path, target: SocketAddr, token: Option<&str>) -> Prometheus {
        let bin = require_exe("prometheus", "prometheus");
        let ip = loopback(1);
        let port = free_port(ip);
        let addr = SocketAddr::new(ip, port);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let auth = token.map_or(String::new(), |t| {
            format!("    authorization:\n      type: Bearer\n      credentials: \"{t}\"\n")
        });
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: seedcore\n    metrics_path: /metrics\n{auth}\
             \x20   static_configs:\n      - targets: [\"{target}\"]\n"
        );
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--storage.tsdb.retention.time=1h")
            .arg("--log.level=warn");
        let mut live = Live::spawn("prometheus", &mut cmd);
        live.wait_until("prometheus ready", Duration::from_secs(60), |_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
                && http::get(addr, "/-/ready").status == 200
        });
        Prometheus { live, addr }
    }

    /// Runs an instant query; the `data.result` array.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let q = percent_encode(promql);
        let r = http::get(self.addr, &format!("/api/v1/query?query={q}"));
        assert_eq!(r.status, 200, "query {promql}: {}", r.text());
        let v = r.json();
        assert_eq!(v["status"], "success", "query {promql}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of an instant query, when it has one.
    pub fn value(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql);
        let first = result.first()?;
        first["value"][1].as_str()?.parse().ok()
    }

    /// Waits until `promql` has a value for which `ok` holds; returns it.
    #[track_caller]
    pub fn wait_value(
        &mut self,
        promql: &str,
        timeout: Duration,
        mut ok: impl FnMut(f64) -> bool,
    ) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.value(promql);
            if let Some(v) = v.filter(|v| ok(*v)) {
                return v;
            }
            assert!(
                self.live.is_running(),
                "prometheus ended while waiting for {promql}\n{}",
                self.live
            );
            assert!(
                Instant::now() < deadline,
                "prometheus gave {v:?} for {promql} within {timeout:?}\n{}",
                self.live
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The process, for failure messages.
    pub fn live(&self) -> &Live {
        &self.live
    }
}

/// Query-string escaping (everything but unreserved characters).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
