//! Each real leecher, set up to download one torrent from a seeder that
//! dials it.
//!
//! Why the seeder dials every client: aria2 cannot be handed a peer
//! address at all, Transmission 3.00 drops loopback peers it learns from
//! a tracker, and rtorrent and qBittorrent have no command-line way to
//! add one. All of them accept incoming connections, and both seeders can
//! dial (`seedcore seed --peer`, `lt_seed.py --peer`), so one method fits
//! all five and the comparison is the same for every pair. Each client
//! listens on its own 127.0.0.x (see [`LeecherKind::ip`]) and a free port,
//! with DHT, local discovery, PEX and uTP off and no speed limits, and
//! writes into a fresh folder. How completion is seen differs:
//! [`Done`].

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::args::LeecherKind;
use crate::compare::transmission::parse_response;

/// How the bench knows a download finished. Every client stays alive
/// after completion (its CPU time is read then), until it is stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    /// A file appears: libtorrent's script (`--done-file`), transmission's
    /// `--finish` script, aria2's `--on-bt-download-complete`, rtorrent's
    /// `event.download.finished`.
    Marker(PathBuf),
    /// qBittorrent's Web API reports progress 1 (polled).
    QbitApi(SocketAddr),
}

/// A client ready to start.
#[derive(Clone, Debug)]
pub(crate) struct Prepared {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Where it listens (the seeder dials this).
    pub addr: SocketAddr,
    /// The folder it downloads into.
    pub save: PathBuf,
    /// How completion shows.
    pub done: Done,
}

/// What every client needs.
pub(crate) struct Setup<'a> {
    /// Scratch folder of this run (fresh).
    pub dir: &'a Path,
    /// The torrent.
    pub torrent: &'a Path,
    /// The same torrent with a tracker URL (rtorrent refuses torrents
    /// without one when its DHT is off; the URL is never reachable).
    pub torrent_with_tracker: &'a Path,
    /// Python with libtorrent.
    pub python: &'a Path,
    /// Hard limit of the download.
    pub timeout: Duration,
}

fn mkdir(p: &Path) -> Result<(), String> {
    fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))
}

fn write(p: &Path, text: &str) -> Result<(), String> {
    fs::write(p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A TCP port free on `ip` right now.
fn free_port(ip: [u8; 4]) -> Result<u16, String> {
    TcpListener::bind(SocketAddr::from((ip, 0)))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on {ip:?}: {e}"))
}

/// Transmission 3.00's settings: listen on `addr` only; no DHT, LPD,
/// PEX, uTP, port mapping, blocklist, preallocation or limits;
/// encryption preferred off (it then answers plaintext).
pub(crate) fn transmission_settings(addr: SocketAddr, save: &Path) -> Value {
    json!({
        "bind-address-ipv4": addr.ip().to_string(),
        "bind-address-ipv6": "::1",
        "peer-port": addr.port(),
        "peer-port-random-on-start": false,
        "dht-enabled": false,
        "lpd-enabled": false,
        "pex-enabled": false,
        "utp-enabled": false,
        "port-forwarding-enabled": false,
        "blocklist-enabled": false,
        "encryption": 0,
        "preallocation": 0,
        "rename-partial-files": false,
        "speed-limit-down-enabled": false,
        "speed-limit-up-enabled": false,
        "alt-speed-enabled": false,
        "ratio-limit-enabled": false,
        "download-dir": s(save),
        "incomplete-dir-enabled": false,
        "message-level": 2,
    })
}

/// rtorrent's headless configuration: daemon mode, its own address and
/// port, no DHT, PEX or UDP trackers, and `touch DONE` when finished.
pub(crate) fn rtorrent_rc(addr: SocketAddr, save: &Path, session: &Path, done: &Path) -> String {
    let ip = addr.ip();
    let port = addr.port();
    format!(
        "directory.default.set = {save}\n\
         session.path.set = {session}\n\
         network.port_range.set = {port}-{port}\n\
         network.port_random.set = no\n\
         network.bind_address.set = {ip}\n\
         network.local_address.set = {ip}\n\
         dht.mode.set = disable\n\
         protocol.pex.set = no\n\
         trackers.use_udp.set = no\n\
         system.daemon.set = true\n\
         method.set_key = event.download.finished,bench_done,\"execute.nothrow=touch,{done}\"\n",
        save = s(save),
        session = s(session),
        done = s(done),
    )
}

/// qBittorrent 4.5's configuration: legal notice accepted, listening on
/// `addr`'s address and port, no DHT, LSD, PEX or queueing, Web API on
/// 127.0.0.1:`webui` without authentication for localhost.
pub(crate) fn qbittorrent_conf(addr: SocketAddr, webui: u16, save: &Path) -> String {
    format!(
        "[LegalNotice]\nAccepted=true\n\n\
         [BitTorrent]\n\
         Session\\Port={port}\n\
         Session\\InterfaceAddress={ip}\n\
         Session\\DHTEnabled=false\n\
         Session\\LSDEnabled=false\n\
         Session\\PeXEnabled=false\n\
         Session\\QueueingSystemEnabled=false\n\
         Session\\Preallocation=false\n\
         Session\\DefaultSavePath={save}\n\n\
         [Preferences]\n\
         WebUI\\Port={webui}\n\
         WebUI\\Address=127.0.0.1\n\
         WebUI\\LocalHostAuth=false\n\
         WebUI\\CSRFProtection=false\n\
         WebUI\\HostHeaderValidation=false\n",
        port = addr.port(),
        ip = addr.ip(),
        save = s(save),
    )
}

/// Writes `kind`'s configuration under `setup.dir` and returns how to
/// start it.
pub(crate) fn prepare(kind: LeecherKind, setup: &Setup<'_>) -> Result<Prepared, String> {
    let dir = setup.dir;
    let save = dir.join("download");
    mkdir(&save)?;
    let ip = kind.ip();
    let addr = SocketAddr::from((ip, free_port(ip)?));
    let secs = setup.timeout.as_secs().max(1).to_string();
    let v = |a: &[&str]| a.iter().map(|x| (*x).to_string()).collect::<Vec<_>>();
    let marker = dir.join("DONE");
    let script = dir.join("finished.sh");
    write(
        &script,
        &format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    )?;
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", script.display()))?;
    }
    Ok(match kind {
        LeecherKind::Libtorrent => Prepared {
            program: setup.python.to_path_buf(),
            args: vec![
                s(&super::args::Plan::script("lt_leech.py")),
                "--torrent".into(),
                s(setup.torrent),
                "--save".into(),
                s(&save),
                "--listen".into(),
                addr.to_string(),
                "--max-seconds".into(),
                secs,
                "--done-file".into(),
                s(&marker),
            ],
            addr,
            save,
            done: Done::Marker(marker),
        },
        LeecherKind::Transmission => {
            let config = dir.join("config");
            mkdir(&config)?;
            let text = serde_json::to_string_pretty(&transmission_settings(addr, &save))
                .map_err(|e| e.to_string())?;
            write(&config.join("settings.json"), &text)?;
            let mut args = v(&["-g"]);
            args.push(s(&config));
            args.extend(["-p".into(), addr.port().to_string(), "-w".into(), s(&save)]);
            args.extend(["-f".into(), s(&script), s(setup.torrent)]);
            Prepared {
                program: PathBuf::from("transmission-cli"),
                args,
                addr,
                save,
                done: Done::Marker(marker),
            }
        }
        LeecherKind::Aria2 => {
            let mut args = vec![
                format!("--dir={}", s(&save)),
                format!("--listen-port={}", addr.port()),
                format!("--interface={}", addr.ip()),
                format!("--stop={secs}"),
                format!("--stop-with-process={}", std::process::id()),
                // Runs when the last piece passed its check, before
                // seeding (which lasts until the bench stops it).
                format!("--on-bt-download-complete={}", s(&script)),
                "--seed-time=600".into(),
            ];
            args.extend(v(&[
                "--disable-ipv6=true",
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--file-allocation=none",
                "--bt-save-metadata=false",
                "--max-overall-download-limit=0",
                "--summary-interval=5",
                "--console-log-level=notice",
                "--enable-color=false",
            ]));
            args.push(s(setup.torrent));
            Prepared {
                program: PathBuf::from("aria2c"),
                args,
                addr,
                save,
                done: Done::Marker(marker),
            }
        }
        LeecherKind::Rtorrent => {
            let session = dir.join("session");
            mkdir(&session)?;
            let rc = dir.join("rtorrent.rc");
            write(&rc, &rtorrent_rc(addr, &save, &session, &marker))?;
            let mut args = v(&["-n", "-o"]);
            args.push(format!("import={}", s(&rc)));
            args.push(s(setup.torrent_with_tracker));
            Prepared {
                program: PathBuf::from("rtorrent"),
                args,
                addr,
                save,
                done: Done::Marker(marker),
            }
        }
        LeecherKind::Qbittorrent => {
            let profile = dir.join("profile");
            let conf_dir = profile.join("qBittorrent").join("config");
            mkdir(&conf_dir)?;
            let webui = free_port([127, 0, 0, 1])?;
            write(
                &conf_dir.join("qBittorrent.conf"),
                &qbittorrent_conf(addr, webui, &save),
            )?;
            let args = vec![
                format!("--profile={}", s(&profile)),
                format!("--save-path={}", s(&save)),
                "--skip-dialog=true".into(),
                s(setup.torrent),
            ];
            Prepared {
                program: PathBuf::from("qbittorrent-nox"),
                args,
                addr,
                save,
                done: Done::QbitApi(SocketAddr::from(([127, 0, 0, 1], webui))),
            }
        }
    })
}

/// The Debian package that has `kind`'s program.
pub(crate) fn package(kind: LeecherKind) -> &'static str {
    match kind {
        LeecherKind::Libtorrent => "python3-libtorrent",
        LeecherKind::Transmission => "transmission-cli",
        LeecherKind::Aria2 => "aria2",
        LeecherKind::Rtorrent => "rtorrent",
        LeecherKind::Qbittorrent => "qbittorrent-nox",
    }
}

/// One HTTP GET on loopback, bounded in time and size; the body.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let t = Duration::from_secs(2);
    let mut c = TcpStream::connect_timeout(&addr, t).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(t))
        .and_then(|()| c.set_write_timeout(Some(t)))
        .map_err(|e| e.to_string())?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    c.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    // qBittorrent keeps the connection open whatever we ask: read until
    // the body's Content-Length is in (1 MiB at most), or the close.
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = c.read(&mut buf).map_err(|e| e.to_string())?;
        raw.extend_from_slice(buf.get(..n).unwrap_or_default());
        if n == 0 || raw.len() > 1 << 20 || body_complete(&raw) {
            break;
        }
    }
    let r = parse_response(&raw).ok_or("not an HTTP response")?;
    if r.status != 200 {
        return Err(format!("HTTP {}", r.status));
    }
    Ok(r.body)
}

/// Whether `raw` holds a whole response: headers, and as many body bytes
/// as their `Content-Length` says (no length: only the close ends it).
fn body_complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default());
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    len.is_some_and(|n| raw.len() >= end + 4 + n)
}

/// qBittorrent's progress of its one torrent (0 to 1), from
/// `/api/v2/torrents/info`.
pub(crate) fn qbit_progress(api: SocketAddr) -> Result<f64, String> {
    let body = http_get(api, "/api/v2/torrents/info")?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("bad JSON: {e}"))?;
    qbit_progress_of(&v)
}

/// The progress in a `/api/v2/torrents/info` answer (one torrent).
pub(crate) fn qbit_progress_of(v: &Value) -> Result<f64, String> {
    let t = v
        .as_array()
        .and_then(|a| a.first())
        .ok_or("no torrent listed yet")?;
    let state = t.get("state").and_then(Value::as_str).unwrap_or("");
    let progress = t.get("progress").and_then(Value::as_f64).unwrap_or(0.0);
    if state.starts_with("checking") || state == "moving" {
        return Ok(progress.min(0.999));
    }
    if state == "error" || state == "missingFiles" {
        return Err(format!("qBittorrent reports state {state}"));
    }
    Ok(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_keep_each_client_on_its_address() {
        let addr: SocketAddr = "127.0.0.22:5000".parse().unwrap();
        let t = transmission_settings(addr, Path::new("/s"));
        assert_eq!(t["bind-address-ipv4"], "127.0.0.22");
        assert_eq!(t["peer-port"], 5000);
        assert_eq!(t["dht-enabled"], false);
        let rc = rtorrent_rc(addr, Path::new("/s"), Path::new("/x"), Path::new("/d"));
        assert!(rc.contains("network.port_range.set = 5000-5000\n"));
        assert!(rc.contains("network.bind_address.set = 127.0.0.22\n"));
        assert!(rc.contains("execute.nothrow=touch,/d"));
        let q = qbittorrent_conf(addr, 6000, Path::new("/s"));
        assert!(q.contains("Session\\Port=5000\n"));
        assert!(q.contains("Session\\InterfaceAddress=127.0.0.22\n"));
        assert!(q.contains("WebUI\\Port=6000\n"));
        assert!(q.contains("Accepted=true"));
    }

    #[test]
    fn responses_end_at_their_length() {
        assert!(!body_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab"
        ));
        assert!(body_complete(
            b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nabcd"
        ));
        assert!(
            !body_complete(b"HTTP/1.1 200 OK\r\n\r\nabcd"),
            "no length: wait for the close"
        );
        assert!(!body_complete(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"));
    }

    #[test]
    fn qbit_states() {
        let v = |state: &str, p: f64| json!([{ "state": state, "progress": p }]);
        assert_eq!(qbit_progress_of(&v("downloading", 0.5)), Ok(0.5));
        assert_eq!(qbit_progress_of(&v("stalledUP", 1.0)), Ok(1.0));
        assert!(qbit_progress_of(&v("checkingUP", 1.0)).unwrap() < 1.0);
        assert!(qbit_progress_of(&v("error", 0.1)).is_err());
        assert!(qbit_progress_of(&json!([])).is_err());
    }

    #[test]
    fn every_client_prepares() {
        let dir = tempfile::tempdir().unwrap();
        for kind in LeecherKind::ALL {
            let d = dir.path().join(kind.name());
            let setup = Setup {
                dir: &d,
                torrent: Path::new("/t.torrent"),
                torrent_with_tracker: Path::new("/t-tracker.torrent"),
                python: Path::new("/usr/bin/python3"),
                timeout: Duration::from_secs(60),
            };
            let p = prepare(kind, &setup).unwrap();
            assert_eq!(p.addr.ip().to_string(), format!("127.0.0.{}", kind.ip()[3]));
            assert!(p.save.is_dir());
            let joined = p.args.join(" ");
            match kind {
                LeecherKind::Rtorrent => assert!(joined.ends_with("/t-tracker.torrent")),
                _ => assert!(joined.contains("/t.torrent")),
            }
        }
    }
}
