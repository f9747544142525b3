//! transmission-daemon: a fresh config folder per run and its JSON-RPC.
//!
//! The daemon starts with no torrents from `settings.json` (loopback only,
//! no DHT/LSD/PEX/uTP/port mapping, no speed or ratio limits, peer limits
//! and upload slots raised to [`PEER_LIMIT`], in the spirit of
//! libtorrent's `high_performance_seed`); the torrent is then added over RPC with the
//! data folder as its download folder, and the daemon checks the data.
//! Facts that shape the results (see `shared/platform-notes.md`): it
//! accepts incoming loopback peers, allows one connection per IP (the load
//! generator's peers each have their own 127.x.y.z), runs its choker every
//! 10 s (hence the longer warm-up), and lowers its own open-file limit to
//! 1024 whatever `ulimit -n` says, which caps the peers it can hold: with
//! more connections than that it can no longer open the data file.
//!
//! The RPC client is HTTP/1.0 over a `TcpStream`: one POST per call, with
//! the `X-Transmission-Session-Id` handshake (a 409 carries the id to
//! send); every call has a 5 s timeout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// TR_STATUS_SEED in transmission's RPC.
const STATUS_SEEDING: i64 = 6;
const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Peers (and upload slots) allowed: below the 1024 open files
/// transmission allows itself.
pub(crate) const PEER_LIMIT: u32 = 900;

/// `settings.json` for a seeding-only daemon on loopback.
pub(crate) fn settings(peer_port: u16, rpc_port: u16, download_dir: &Path) -> Value {
    json!({
        "bind-address-ipv4": "127.0.0.1",
        "bind-address-ipv6": "::1",
        "dht-enabled": false,
        "lpd-enabled": false,
        "pex-enabled": false,
        "utp-enabled": false,
        "port-forwarding-enabled": false,
        "peer-port": peer_port,
        "peer-port-random-on-start": false,
        // It lowers its own open-file limit to 1024 whatever `ulimit -n`
        // says; with more peers than that it cannot open the data file
        // ("Too many open files") and serves nothing. 900 leaves room.
        "peer-limit-global": PEER_LIMIT,
        "peer-limit-per-torrent": PEER_LIMIT,
        "upload-slots-per-torrent": PEER_LIMIT,
        "rpc-enabled": true,
        "rpc-bind-address": "127.0.0.1",
        "rpc-port": rpc_port,
        "rpc-authentication-required": false,
        "rpc-whitelist-enabled": true,
        "rpc-whitelist": "127.0.0.1",
        "rpc-host-whitelist-enabled": false,
        "download-dir": download_dir.display().to_string(),
        "incomplete-dir-enabled": false,
        "start-added-torrents": true,
        "speed-limit-up-enabled": false,
        "speed-limit-down-enabled": false,
        "alt-speed-enabled": false,
        "ratio-limit-enabled": false,
        "idle-seeding-limit-enabled": false,
        "queue-stalled-enabled": false,
        "seed-queue-enabled": false,
        "message-level": 2
    })
}

/// A parsed HTTP response.
#[derive(Debug, PartialEq)]
pub(crate) struct Response {
    pub status: u16,
    pub session_id: Option<String>,
    pub body: String,
}

/// Splits a raw HTTP/1.x response into status, session id and body.
pub(crate) fn parse_response(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let session_id = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("x-transmission-session-id")
            .then(|| v.trim().to_string())
    });
    Some(Response {
        status,
        session_id,
        body: body.to_string(),
    })
}

/// The RPC endpoint of one daemon.
pub(crate) struct Rpc {
    addr: SocketAddr,
    session_id: String,
}

impl Rpc {
    pub(crate) fn new(addr: SocketAddr) -> Rpc {
        Rpc {
            addr,
            session_id: String::new(),
        }
    }

    fn post(&self, body: &str) -> Result<Response, String> {
        let mut s = TcpStream::connect_timeout(&self.addr, RPC_TIMEOUT)
            .map_err(|e| format!("RPC connect: {e}"))?;
        s.set_read_timeout(Some(RPC_TIMEOUT))
            .and_then(|()| s.set_write_timeout(Some(RPC_TIMEOUT)))
            .map_err(|e| format!("RPC socket: {e}"))?;
        let req = format!(
            "POST /transmission/rpc HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\n\
             X-Transmission-Session-Id: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            self.session_id,
            body.len()
        );
        s.write_all(req.as_bytes())
            .map_err(|e| format!("RPC send: {e}"))?;
        let mut raw = Vec::new();
        // Bounded: a response larger than 1 MiB is not one we asked for.
        s.take(1 << 20)
            .read_to_end(&mut raw)
            .map_err(|e| format!("RPC read: {e}"))?;
        parse_response(&raw).ok_or_else(|| "RPC: not an HTTP response".to_string())
    }

    /// One call; follows the session-id handshake once.
    pub(crate) fn call(&mut self, method: &str, arguments: Value) -> Result<Value, String> {
        let body = json!({ "method": method, "arguments": arguments }).to_string();
        let mut r = self.post(&body)?;
        if r.status == 409 {
            self.session_id = r
                .session_id
                .ok_or("RPC: 409 without X-Transmission-Session-Id")?;
            r = self.post(&body)?;
        }
        if r.status != 200 {
            return Err(format!("RPC {method}: HTTP {}", r.status));
        }
        let v: Value =
            serde_json::from_str(&r.body).map_err(|e| format!("RPC {method}: bad JSON: {e}"))?;
        match v.get("result").and_then(Value::as_str) {
            Some("success") => Ok(v.get("arguments").cloned().unwrap_or(Value::Null)),
            other => Err(format!("RPC {method}: {}", other.unwrap_or("no result"))),
        }
    }
}

/// Waits for the RPC port, adds `torrent` with `data` as its folder and
/// waits until the daemon seeds it (data checked, 100 %).
pub(crate) fn add_and_wait(
    rpc_addr: SocketAddr,
    torrent: &Path,
    data: &Path,
    limit: Duration,
    alive: &mut dyn FnMut() -> bool,
) -> Result<(), String> {
    let t0 = Instant::now();
    let mut rpc = Rpc::new(rpc_addr);
    while let Err(last) = rpc.call("session-get", json!({})) {
        if !alive() || t0.elapsed() > limit {
            return Err(format!("RPC never answered: {last}"));
        }
        thread::sleep(Duration::from_millis(100));
    }
    let added = rpc.call(
        "torrent-add",
        json!({
            "filename": torrent.display().to_string(),
            "download-dir": data.display().to_string(),
            "paused": false,
        }),
    )?;
    let id = added
        .get("torrent-added")
        .or_else(|| added.get("torrent-duplicate"))
        .and_then(|t| t.get("id"))
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("torrent-add gave no id: {added}"))?;
    loop {
        let got = rpc.call(
            "torrent-get",
            json!({ "ids": [id], "fields": ["status", "percentDone", "error", "errorString"] }),
        )?;
        let t = got
            .get("torrents")
            .and_then(|t| t.get(0))
            .cloned()
            .unwrap_or(Value::Null);
        if t.get("error").and_then(Value::as_i64).unwrap_or(0) != 0 {
            return Err(format!(
                "transmission: {}",
                t.get("errorString").and_then(Value::as_str).unwrap_or("?")
            ));
        }
        let status = t.get("status").and_then(Value::as_i64);
        let done = t.get("percentDone").and_then(Value::as_f64).unwrap_or(0.0);
        if status == Some(STATUS_SEEDING) && done >= 1.0 {
            return Ok(());
        }
        if !alive() || t0.elapsed() > limit {
            return Err(format!(
                "not seeding after {:.0} s (status {status:?}, {:.1} % done)",
                t0.elapsed().as_secs_f64(),
                done * 100.0
            ));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_responses() {
        let r = parse_response(
            b"HTTP/1.0 409 Conflict\r\nServer: x\r\nX-Transmission-Session-Id: abc123\r\n\r\n<h1>409</h1>",
        )
        .unwrap();
        assert_eq!(r.status, 409);
        assert_eq!(r.session_id.as_deref(), Some("abc123"));
        assert_eq!(r.body, "<h1>409</h1>");
        let r = parse_response(b"HTTP/1.1 200 OK\r\n\r\n{\"result\":\"success\"}").unwrap();
        assert_eq!((r.status, r.session_id), (200, None));
        assert!(parse_response(b"garbage").is_none());
    }

    #[test]
    fn settings_keep_it_on_loopback_without_limits() {
        let s = settings(51413, 9091, Path::new("/data"));
        assert_eq!(s["bind-address-ipv4"], "127.0.0.1");
        assert_eq!(s["rpc-bind-address"], "127.0.0.1");
        assert_eq!(s["dht-enabled"], false);
        assert_eq!(s["speed-limit-up-enabled"], false);
        assert_eq!(s["peer-port"], 51413);
        assert_eq!(s["download-dir"], "/data");
    }
}
