//! One point of a sweep: start the seed with the point's settings, wait
//! until it answers a handshake, run the load generator against it, stop
//! it. Every wait is bounded by the sweep's deadline.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use seedcore_protocol::wire::{Handshake, Reserved, HANDSHAKE_LEN};
use seedcore_runtime::{Config, TorrentSpec};
use seedcore_tuning::sweep::report::Outcome as PointOutcome;
use seedcore_tuning::sweep::{self, LoadReport, Point, Slot};

use super::proc::{Proc, WorkDir};
use super::{LOAD_GRACE, POLL, PROBE_PEER_ID, READY_TIMEOUT, STOP_RESERVE, STOP_TIMEOUT};

/// What every point shares.
pub(super) struct Ctx {
    pub(super) seedcore: PathBuf,
    pub(super) bench: PathBuf,
    pub(super) work: WorkDir,
    pub(super) torrent: PathBuf,
    pub(super) data: PathBuf,
    pub(super) info_hash: [u8; 20],
    pub(super) base: Config,
    pub(super) port: Option<u16>,
    pub(super) peers: u32,
    pub(super) depth: Option<u32>,
    pub(super) deadline: Instant,
    /// Where the planned points end: the deadline less a tail reserve.
    pub(super) plan_end: Instant,
}

/// How a point ended, and the load it ran.
pub(super) struct PointRun {
    pub(super) outcome: PointOutcome,
    pub(super) load: Option<Duration>,
}

pub(super) fn failed(why: String) -> PointRun {
    PointRun {
        outcome: PointOutcome::Failed(why),
        load: None,
    }
}

/// Whether a process answers a handshake for `info_hash` on the port.
fn serves(port: u16, info_hash: [u8; 20]) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
    let hs = Handshake::new(Reserved::EMPTY, info_hash, PROBE_PEER_ID);
    if s.write_all(&hs.to_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; HANDSHAKE_LEN];
    if s.read_exact(&mut buf).is_err() {
        return false;
    }
    matches!(Handshake::decode(&buf), Ok(Some(h)) if h.info_hash == info_hash)
}

/// A port free on 127.0.0.1: the one asked for (refused if something
/// listens there: a seed with `SO_REUSEPORT` would share our connections),
/// else one the kernel picks.
pub(super) fn pick_port(asked: Option<u16>) -> anyhow::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, asked.unwrap_or(0))).with_context(|| {
        format!(
            "port {} on 127.0.0.1 is in use (another seed?); pick another with --port or leave it out",
            asked.unwrap_or(0)
        )
    })?;
    Ok(l.local_addr().context("cannot read a port")?.port())
}

/// Runs one point: seed up, load, seed down.
pub(super) fn run_point(
    ctx: &Ctx,
    i: usize,
    n: usize,
    point: &Point,
    slot: Slot,
) -> anyhow::Result<PointRun> {
    let port = pick_port(ctx.port)?;
    let mut cfg = ctx.base.clone();
    cfg.torrents = vec![TorrentSpec {
        path: ctx.torrent.clone(),
        data: Some(ctx.data.clone()),
    }];
    cfg.bind = vec![Ipv4Addr::LOCALHOST.into()];
    cfg.port = port;
    cfg.dht = false;
    cfg.peers = Vec::new();
    cfg.trackers = Vec::new();
    cfg.max_outgoing = 0;
    cfg.json = false;
    cfg.resume_dir = Some(ctx.work.0.join("resume"));
    cfg.shards = Some(point.shards);
    cfg.reqq = point.reqq;
    cfg.send_path = point
        .send_path
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    cfg.validate().context("the point's settings are refused")?;
    let cfg_path = ctx.work.0.join(format!("point-{}.toml", i + 1));
    fs::write(&cfg_path, cfg.to_toml())
        .with_context(|| format!("cannot write {}", cfg_path.display()))?;

    let mut cmd = Command::new(&ctx.seedcore);
    cmd.arg("seed")
        .arg("--config")
        .arg(&cfg_path)
        .arg("--no-dht");
    let log = ctx.work.0.join(format!("seed-{}.log", i + 1));
    let mut seed = Proc::spawn(cmd, "seed", log, None)?;
    eprintln!(
        "point {}/{n}: seed pid {} on 127.0.0.1:{port} ({point})",
        i + 1,
        seed.pid()
    );
    let ready_by = (Instant::now() + READY_TIMEOUT).min(ctx.plan_end);
    loop {
        if let Some(s) = seed.exited() {
            return Ok(failed(format!(
                "seed exited ({s}) before serving{}",
                seed.last_words()
            )));
        }
        if serves(port, ctx.info_hash) {
            break;
        }
        if Instant::now() >= ready_by {
            seed.stop();
            if ready_by == ctx.plan_end {
                return Ok(PointRun {
                    outcome: PointOutcome::Skipped,
                    load: None,
                });
            }
            return Ok(failed(format!(
                "seed did not answer a handshake within {}s{}",
                READY_TIMEOUT.as_secs(),
                seed.last_words()
            )));
        }
        std::thread::sleep(POLL);
    }
    // A slow start may have eaten into the budget: shrink the load to fit.
    let left = ctx.plan_end.saturating_duration_since(Instant::now());
    let slot = if slot.load() + STOP_RESERVE <= left {
        slot
    } else if let Some(s) = sweep::slot(left, 1, STOP_RESERVE) {
        s
    } else {
        seed.stop();
        return Ok(PointRun {
            outcome: PointOutcome::Skipped,
            load: None,
        });
    };

    let depth = ctx.depth.unwrap_or(point.reqq);
    let mut cmd = Command::new(&ctx.bench);
    cmd.arg("load")
        .arg("--torrent")
        .arg(&ctx.torrent)
        .arg("--target")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--peers")
        .arg(ctx.peers.to_string())
        .arg("--duration")
        .arg(format!("{:.1}", slot.measure.as_secs_f64()))
        .arg("--warmup")
        .arg(format!("{:.1}", slot.warmup.as_secs_f64()))
        .arg("--depth")
        .arg(depth.to_string())
        .arg("--pid")
        .arg(seed.pid().to_string())
        .arg("--json");
    let json_path = ctx.work.0.join(format!("load-{}.json", i + 1));
    let log = ctx.work.0.join(format!("load-{}.log", i + 1));
    let mut load = Proc::spawn(cmd, "load generator", log, Some(json_path.as_path()))?;
    eprintln!(
        "point {}/{n}: load pid {}, {} peers at depth {depth}, {:.1} s warm-up + {:.1} s",
        i + 1,
        load.pid(),
        ctx.peers,
        slot.warmup.as_secs_f64(),
        slot.measure.as_secs_f64()
    );
    let hard = ctx
        .deadline
        .checked_sub(STOP_RESERVE)
        .unwrap_or(ctx.deadline);
    let until = (Instant::now() + slot.load() + LOAD_GRACE).min(hard);
    let status = load.wait_until(until);
    let seed_died = seed.exited();
    if !seed.stop() {
        eprintln!(
            "point {}/{n}: seed pid {} ignored SIGTERM for {}s and was killed",
            i + 1,
            seed.pid(),
            STOP_TIMEOUT.as_secs()
        );
    }
    let Some(status) = status else {
        load.kill();
        return Ok(failed(format!(
            "load generator still running at {}; killed",
            if until == hard {
                "the end of the budget"
            } else {
                "its deadline"
            }
        )));
    };
    if let Some(s) = seed_died {
        return Ok(failed(format!(
            "seed exited ({s}) during the load{}",
            seed.last_words()
        )));
    }
    let text = fs::read_to_string(&json_path).unwrap_or_default();
    let report: LoadReport = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            return Ok(failed(format!(
                "load generator exited ({status}) without a report ({e}){}",
                load.last_words()
            )))
        }
    };
    Ok(match report.figures() {
        Ok(f) => PointRun {
            outcome: PointOutcome::Ok(f),
            load: Some(slot.load()),
        },
        Err(why) => failed(why),
    })
}
