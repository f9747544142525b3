//! The checks: pure functions from readings to verdicts.
//!
//! Each check takes the raw text it needs (so a test can hand it any
//! kernel's answer) and returns a [`Check`]: what was found, what a seed
//! server wants, and, when the two differ, the command that fixes it now
//! and the line that keeps it fixed after a reboot.

mod cpu;
mod irq;
mod kernel;
mod limits;
mod net;

pub use cpu::{cores, sha1, simd};
pub use irq::{irq, IRQ_NONE_ID};
pub use kernel::{io_uring, kernel_version, thp, MIN_KERNEL};
pub use limits::{
    memlock, memlock_needed, nofile, GLOMMIO_MIN_MEMLOCK, NOFILE_HEADROOM, NOFILE_SUGGESTED,
};
pub use net::{
    congestion_control, default_qdisc, notsent_lowat, port_range, socket_buffer_max, somaxconn,
    tcp_buffers, MIN_PORT_RANGE, NOTSENT_LOWAT, SOMAXCONN,
};

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::link::Link;
use crate::parse;
use crate::reading::Readings;

/// How a setting stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As a seed server wants it.
    Ok,
    /// Works, but costs throughput, memory or robustness.
    Warn,
    /// The engine will not run as configured, or will refuse peers.
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// One item of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A stable name: the sysctl's dotted name, or `limits.nofile`,
    /// `cpu.sha1`, `irq.eth0`, ...
    pub id: String,
    /// The verdict.
    pub status: Status,
    /// What the host has.
    pub found: String,
    /// What a seed server wants.
    pub wanted: String,
    /// A command that fixes it now (absent when OK).
    pub fix: Option<String>,
    /// The line that keeps the fix across reboots, and where it goes.
    pub persist: Option<String>,
    /// Why a seed server cares, in one line.
    pub why: String,
}

impl Check {
    /// A check without a fix.
    pub fn new(
        id: impl Into<String>,
        status: Status,
        found: impl Into<String>,
        wanted: impl Into<String>,
        why: impl Into<String>,
    ) -> Check {
        Check {
            id: id.into(),
            status,
            found: found.into(),
            wanted: wanted.into(),
            fix: None,
            persist: None,
            why: why.into(),
        }
    }

    /// Adds the command that fixes it now.
    pub fn fix(mut self, cmd: impl Into<String>) -> Check {
        self.fix = Some(cmd.into());
        self
    }

    /// Adds the line that keeps it fixed.
    pub fn persist(mut self, line: impl Into<String>) -> Check {
        self.persist = Some(line.into());
        self
    }

    /// A file that could not be read: a warning that says which.
    pub fn unreadable(id: &str, path: &str, wanted: impl Into<String>, why: &str) -> Check {
        Check::new(
            id,
            Status::Warn,
            format!("could not read {path}"),
            wanted,
            why,
        )
    }

    /// The usual fix for a sysctl: `sysctl -w` now, a line in the profile.
    pub(crate) fn sysctl_fix(self, name: &str, value: &str) -> Check {
        let arg = if value.contains(char::is_whitespace) {
            format!("{name}=\"{value}\"")
        } else {
            format!("{name}={value}")
        };
        self.fix(format!("sysctl -w {arg}")).persist(format!(
            "{name} = {value}  # in /etc/sysctl.d/90-seedcore.conf"
        ))
    }
}

/// The default `max_peers` of a seed (kept equal to
/// `seedcore_runtime::Config::default()`; a test checks).
pub const DEFAULT_MAX_PEERS: u32 = 10_000;
/// The default `io_memory` of a seed, in bytes (same check).
pub const DEFAULT_IO_MEMORY: u64 = 128 << 10;
/// The default listen port of a seed (same check).
pub const DEFAULT_PORT: u16 = 6881;

/// What the host is checked for: the seed's settings that bear on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The link speed class; `None`: from the fastest NIC's reported
    /// speed, else 10g.
    pub link: Option<Link>,
    /// Serving shards; `None`: the seed's default, every core but one.
    pub shards: Option<usize>,
    /// Each shard's `io_memory`, in bytes.
    pub io_memory: u64,
    /// The seed's `max_peers`.
    pub max_peers: u32,
    /// The seed's listen port.
    pub port: u16,
}

impl Default for Target {
    fn default() -> Target {
        Target {
            link: None,
            shards: None,
            io_memory: DEFAULT_IO_MEMORY,
            max_peers: DEFAULT_MAX_PEERS,
            port: DEFAULT_PORT,
        }
    }
}

/// Counts of each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Items as wanted.
    pub ok: usize,
    /// Items worth fixing.
    pub warn: usize,
    /// Items that stop the engine or lose peers.
    pub fail: usize,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The link class the buffers were sized for.
    pub link: Link,
    /// Where that class came from.
    pub link_source: String,
    /// The shards checked against.
    pub shards: usize,
    /// The CPUs this process may run on.
    pub cores: usize,
    /// The effective uid the limits were read as.
    pub uid: Option<u32>,
    /// Every item, in a fixed order.
    pub checks: Vec<Check>,
    /// Counts per status.
    pub summary: Summary,
}

impl Report {
    /// The worst status of any item.
    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }
}

/// The CPUs this process may use: `Cpus_allowed_list` of the status file,
/// else `0..parallelism`.
pub fn allowed_cpus(r: &Readings) -> BTreeSet<usize> {
    r.status
        .as_deref()
        .and_then(|s| parse::status_field(s, "Cpus_allowed_list"))
        .and_then(parse::cpu_list)
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| (0..r.parallelism.max(1)).collect())
}

/// The shards a seed runs with `shards` set as given: the setting, else
/// every core but one, at least one (as `seedcore_runtime::Config::shard_count`).
pub fn effective_shards(shards: Option<usize>, cores: usize) -> usize {
    shards
        .filter(|&n| n > 0)
        .unwrap_or_else(|| cores.saturating_sub(1).max(1))
}

/// The link class to size for, and why.
pub fn resolve_link(given: Option<Link>, r: &Readings) -> (Link, String) {
    if let Some(l) = given {
        return (l, "--link".into());
    }
    let fastest = r
        .nics
        .iter()
        .filter_map(|n| Some((n.speed_mbit.filter(|&s| s > 0)?, n.name.as_str())))
        .max();
    match fastest {
        Some((mbit, name)) => {
            let l = Link::from_mbit(u64::try_from(mbit).unwrap_or(0));
            (l, format!("{name} reports {mbit} Mb/s"))
        }
        None => (
            Link::G10,
            "default: no NIC reports its speed; pass --link".into(),
        ),
    }
}

fn sysctl<'a>(r: &'a Readings, name: &str) -> Option<&'a str> {
    r.sysctls.get(name).map(String::as_str)
}

/// Runs every check.
pub fn check_all(r: &Readings, t: &Target) -> Report {
    let (link, link_source) = resolve_link(t.link, r);
    let cpus = allowed_cpus(r);
    let shards = effective_shards(t.shards, cpus.len());
    let status = r.status.as_deref();
    let caps = status.and_then(parse::effective_caps);
    let uid = status.and_then(parse::effective_uid);
    let limits = r.limits.as_deref();
    let nr_open = sysctl(r, "fs.nr_open").and_then(|v| v.parse().ok());

    let mut checks = vec![
        nofile(limits, nr_open, t.max_peers),
        memlock(limits, caps, shards, t.io_memory),
        kernel_version(sysctl(r, "kernel.osrelease")),
        io_uring(
            sysctl(r, "kernel.io_uring_disabled"),
            sysctl(r, "kernel.io_uring_group"),
            status,
        ),
        somaxconn(sysctl(r, "net.core.somaxconn")),
        socket_buffer_max("net.core.wmem_max", sysctl(r, "net.core.wmem_max"), link),
        socket_buffer_max("net.core.rmem_max", sysctl(r, "net.core.rmem_max"), link),
        tcp_buffers("net.ipv4.tcp_wmem", sysctl(r, "net.ipv4.tcp_wmem"), link),
        tcp_buffers("net.ipv4.tcp_rmem", sysctl(r, "net.ipv4.tcp_rmem"), link),
        notsent_lowat(sysctl(r, "net.ipv4.tcp_notsent_lowat")),
        congestion_control(
            sysctl(r, "net.ipv4.tcp_congestion_control"),
            sysctl(r, "net.ipv4.tcp_available_congestion_control"),
            r.bbr_module,
        ),
        default_qdisc(sysctl(r, "net.core.default_qdisc"), &r.nics),
        port_range(
            sysctl(r, "net.ipv4.ip_local_port_range"),
            sysctl(r, "net.ipv4.ip_local_reserved_ports"),
            t.port,
        ),
        sha1(&r.cpu),
        simd(&r.cpu),
        cores(&cpus, t.shards),
        thp(r.thp_enabled.as_deref(), r.thp_defrag.as_deref()),
    ];
    let lines = r
        .interrupts
        .as_deref()
        .map(parse::interrupts)
        .unwrap_or_default();
    let with_irqs: Vec<_> = r.nics.iter().filter(|n| !n.irqs.is_empty()).collect();
    if with_irqs.is_empty() {
        checks.push(Check::new(
            IRQ_NONE_ID,
            Status::Ok,
            "no NIC interrupts visible (no device-backed NIC, or a container)",
            "NIC queue interrupts spread over the shard cores",
            "receive and ACK processing runs on the CPU that takes the interrupt",
        ));
    }
    for nic in with_irqs {
        checks.push(irq(nic, &lines, &cpus, shards, r.irqbalance));
    }

    let mut summary = Summary::default();
    for c in &checks {
        match c.status {
            Status::Ok => summary.ok += 1,
            Status::Warn => summary.warn += 1,
            Status::Fail => summary.fail += 1,
        }
    }
    Report {
        link,
        link_source,
        shards,
        cores: cpus.len(),
        uid,
        checks,
        summary,
    }
}
