//! Network sysctls: accept queue, socket buffers, unsent data, ports,
//! congestion control and queueing discipline.

use super::{Check, Status};
use crate::link::{bytes_human, bytes_short, Link};
use crate::parse;
use crate::reading::NicReading;

/// The wanted `net.core.somaxconn`: the runtime asks for a backlog of 1024
/// per listener; the kernel default since 5.4 (4096) leaves room to grow.
pub const SOMAXCONN: u64 = 4096;

/// The fewest ephemeral ports wanted (the kernel default range,
/// 32768-60999).
pub const MIN_PORT_RANGE: u64 = 28_232;

/// The wanted `net.ipv4.tcp_notsent_lowat`: 128 KiB, as Cloudflare and
/// Google run their bulk senders.
///
/// With the mark set, a socket stops taking data once this much is queued
/// but unsent, and wakes its writer when half of it is left. So a peer
/// holds at most about this much unsent memory, instead of up to its whole
/// autotuned buffer (10,000 peers x 4 MiB = 40 GB in the worst case). It
/// does not follow the link: 64 KiB lasts 0.5 ms at 1 Gbit/s and 52 us at
/// 10 Gbit/s for one connection, both longer than a shard takes to come
/// back to a writable socket; a fast link is filled by many connections.
pub const NOTSENT_LOWAT: u64 = 128 << 10;

/// The accepted range for `tcp_notsent_lowat`: below it a shard wakes for
/// every block or two; above it, unsent data costs memory again.
const LOWAT_OK: std::ops::RangeInclusive<u64> = (16 << 10)..=(1 << 20);

fn path(name: &str) -> String {
    format!("/proc/sys/{}", name.replace('.', "/"))
}

fn number(v: Option<&str>) -> Option<u64> {
    v?.trim().parse().ok()
}

/// `net.core.somaxconn`: caps every listener's accept queue.
pub fn somaxconn(value: Option<&str>) -> Check {
    const ID: &str = "net.core.somaxconn";
    let why = "caps each listener's accept queue: a burst of new peers past it is dropped";
    let wanted = format!(">= {SOMAXCONN}");
    let Some(v) = number(value) else {
        return Check::unreadable(ID, &path(ID), wanted, why);
    };
    if v >= SOMAXCONN {
        Check::new(ID, Status::Ok, v.to_string(), wanted, why)
    } else {
        Check::new(ID, Status::Warn, v.to_string(), wanted, why)
            .sysctl_fix(ID, &SOMAXCONN.to_string())
    }
}

/// `net.core.wmem_max` / `rmem_max`: the most a program may ask for with
/// `SO_SNDBUF` / `SO_RCVBUF`.
pub fn socket_buffer_max(name: &str, value: Option<&str>, link: Link) -> Check {
    let why = "caps SO_SNDBUF/SO_RCVBUF that a program sets itself (benchmarks, iperf3); \
               sized to one connection's bandwidth-delay product";
    let want = link.buffer_max();
    let wanted = format!(">= {want} ({}, the BDP at {link})", bytes_short(want));
    let Some(v) = number(value) else {
        return Check::unreadable(name, &path(name), wanted, why);
    };
    if v >= want {
        Check::new(name, Status::Ok, bytes_human(v), wanted, why)
    } else {
        Check::new(name, Status::Warn, bytes_human(v), wanted, why)
            .sysctl_fix(name, &want.to_string())
    }
}

/// `net.ipv4.tcp_wmem` / `tcp_rmem` (`min default max`): the maximum is
/// how far autotuning grows a socket's buffer.
pub fn tcp_buffers(name: &str, value: Option<&str>, link: Link) -> Check {
    let why = if name.ends_with("wmem") {
        "autotuning grows a send buffer up to the third value: below the BDP, \
         a far peer cannot be sent to at full speed"
    } else {
        "autotuning grows a receive buffer up to the third value (a seed receives \
         little, but benchmarks and downloads on this host do)"
    };
    let want = link.buffer_max();
    let wanted = format!("max >= {want} ({}, the BDP at {link})", bytes_short(want));
    let Some(v) = value.and_then(parse::numbers).filter(|v| v.len() == 3) else {
        return Check::unreadable(name, &path(name), wanted, why);
    };
    let (min, default, max) = match v.as_slice() {
        [a, b, c] => (*a, *b, *c),
        _ => return Check::unreadable(name, &path(name), wanted, why),
    };
    let found = format!("{min} {default} {max}");
    if max >= want {
        Check::new(name, Status::Ok, found, wanted, why)
    } else {
        Check::new(name, Status::Warn, found, wanted, why)
            .sysctl_fix(name, &format!("{min} {default} {want}"))
    }
}

/// `net.ipv4.tcp_notsent_lowat`: how much unsent data a socket holds
/// before it stops being writable (see [`NOTSENT_LOWAT`]).
pub fn notsent_lowat(value: Option<&str>) -> Check {
    const ID: &str = "net.ipv4.tcp_notsent_lowat";
    let why = "bounds data queued but not yet sent per socket: the default (unlimited) \
               lets thousands of peers each hold megabytes of memory for nothing";
    let wanted = format!(
        "{} ({}..={} is fine)",
        bytes_human(NOTSENT_LOWAT),
        LOWAT_OK.start(),
        LOWAT_OK.end()
    );
    let Some(v) = number(value) else {
        return Check::unreadable(ID, &path(ID), wanted, why);
    };
    let found = if v >= u64::from(u32::MAX) {
        format!("{v} (unlimited)")
    } else {
        bytes_human(v)
    };
    if LOWAT_OK.contains(&v) {
        Check::new(ID, Status::Ok, found, wanted, why)
    } else {
        Check::new(ID, Status::Warn, found, wanted, why).sysctl_fix(ID, &NOTSENT_LOWAT.to_string())
    }
}

/// `net.ipv4.ip_local_port_range`: ports for outgoing dials; the listen
/// port must not be among them.
pub fn port_range(range: Option<&str>, reserved: Option<&str>, port: u16) -> Check {
    const ID: &str = "net.ipv4.ip_local_port_range";
    let why = "outgoing dials take ports from this range: a range holding the listen \
               port can hand it to a dial and make the seed's bind fail";
    let wanted = format!(">= {MIN_PORT_RANGE} ports, not holding port {port}");
    let Some((lo, hi)) = range
        .and_then(parse::numbers)
        .and_then(|v| match v.as_slice() {
            [lo, hi] if lo <= hi => Some((*lo, *hi)),
            _ => None,
        })
    else {
        return Check::unreadable(ID, &path(ID), wanted, why);
    };
    let width = hi - lo + 1;
    let holds_port = (lo..=hi).contains(&u64::from(port));
    let reserved_port = reserved.is_some_and(|r| parse::port_listed(r, port));
    let found = format!("{lo} {hi} ({width} ports)");
    if holds_port && !reserved_port {
        return Check::new(ID, Status::Warn, found, wanted, why)
            .fix(format!("sysctl -w net.ipv4.ip_local_reserved_ports={port}"))
            .persist(format!(
                "net.ipv4.ip_local_reserved_ports = {port}  # in /etc/sysctl.d/90-seedcore.conf"
            ));
    }
    if width < MIN_PORT_RANGE {
        return Check::new(ID, Status::Warn, found, wanted, why).sysctl_fix(ID, "32768 60999");
    }
    Check::new(ID, Status::Ok, found, wanted, why)
}

/// `net.ipv4.tcp_congestion_control`: BBR where the kernel has it.
pub fn congestion_control(current: Option<&str>, available: Option<&str>, module: bool) -> Check {
    const ID: &str = "net.ipv4.tcp_congestion_control";
    let why = "BBR paces by measured bandwidth and keeps throughput on lossy long paths \
               where loss-based cubic backs off";
    let wanted = "bbr (where the kernel has it)";
    let Some(cur) = current.map(str::trim) else {
        return Check::unreadable(ID, &path(ID), wanted, why);
    };
    let loaded = available.is_some_and(|a| a.split_whitespace().any(|w| w == "bbr"));
    if cur == "bbr" {
        return Check::new(ID, Status::Ok, cur, wanted, why);
    }
    if !loaded && !module {
        return Check::new(
            ID,
            Status::Ok,
            format!("{cur} (this kernel has no bbr)"),
            wanted,
            why,
        );
    }
    let fix = if loaded {
        "sysctl -w net.ipv4.tcp_congestion_control=bbr".to_string()
    } else {
        "modprobe tcp_bbr && sysctl -w net.ipv4.tcp_congestion_control=bbr".to_string()
    };
    let mut persist =
        "net.ipv4.tcp_congestion_control = bbr  # in /etc/sysctl.d/90-seedcore.conf".to_string();
    if !loaded {
        persist.push_str("; tcp_bbr in /etc/modules-load.d/bbr.conf");
    }
    Check::new(ID, Status::Warn, cur, wanted, why)
        .fix(fix)
        .persist(persist)
}

/// `net.core.default_qdisc`: fq, which paces each flow and keeps
/// thousands of flows fair.
pub fn default_qdisc(value: Option<&str>, nics: &[NicReading]) -> Check {
    const ID: &str = "net.core.default_qdisc";
    let why = "fq paces every flow (cheap pacing for BBR, per-flow fairness across \
               thousands of peers)";
    let wanted = "fq";
    let Some(v) = value.map(str::trim) else {
        return Check::unreadable(ID, &path(ID), wanted, why);
    };
    if v == "fq" {
        return Check::new(ID, Status::Ok, v, wanted, why);
    }
    // The default applies to qdiscs created later: replace each NIC's root
    // (mq creates one child per transmit queue with the new default).
    let mut fix = String::from("sysctl -w net.core.default_qdisc=fq");
    for n in nics {
        let root = if n.tx_queues > 1 { "mq" } else { "fq" };
        fix.push_str(&format!(" && tc qdisc replace dev {} root {root}", n.name));
    }
    Check::new(ID, Status::Warn, v, wanted, why)
        .fix(fix)
        .persist("net.core.default_qdisc = fq  # in /etc/sysctl.d/90-seedcore.conf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn somaxconn_verdicts() {
        assert_eq!(somaxconn(Some("4096\n")).status, Status::Ok);
        let low = somaxconn(Some("128"));
        assert_eq!(low.status, Status::Warn);
        assert_eq!(
            low.fix.as_deref(),
            Some("sysctl -w net.core.somaxconn=4096")
        );
        assert!(low
            .persist
            .unwrap()
            .starts_with("net.core.somaxconn = 4096"));
        assert_eq!(somaxconn(Some("lots")).status, Status::Warn);
        assert_eq!(somaxconn(None).status, Status::Warn);
    }

    #[test]
    fn buffer_maxima_scale_with_the_link() {
        let name = "net.core.wmem_max";
        // 4 MiB (this VM) is short for every class.
        let c = socket_buffer_max(name, Some("4194304"), Link::G1);
        assert_eq!(c.status, Status::Warn);
        assert_eq!(
            c.fix.as_deref(),
            Some("sysctl -w net.core.wmem_max=16777216")
        );
        assert_eq!(
            socket_buffer_max(name, Some("16777216"), Link::G1).status,
            Status::Ok
        );
        let c = socket_buffer_max(name, Some("16777216"), Link::G10);
        assert_eq!(c.status, Status::Warn);
        assert_eq!(
            c.fix.as_deref(),
            Some("sysctl -w net.core.wmem_max=134217728")
        );
        assert_eq!(
            socket_buffer_max(name, Some("134217728"), Link::G100).status,
            Status::Ok
        );
    }

    #[test]
    fn tcp_buffers_keep_min_and_default() {
        let c = tcp_buffers("net.ipv4.tcp_wmem", Some("4096\t16384\t4194304"), Link::G10);
        assert_eq!(c.status, Status::Warn);
        assert_eq!(c.found, "4096 16384 4194304");
        assert_eq!(
            c.fix.as_deref(),
            Some("sysctl -w net.ipv4.tcp_wmem=\"4096 16384 134217728\"")
        );
        assert_eq!(
            c.persist.as_deref(),
            Some("net.ipv4.tcp_wmem = 4096 16384 134217728  # in /etc/sysctl.d/90-seedcore.conf")
        );
        let ok = tcp_buffers("net.ipv4.tcp_rmem", Some("4096 131072 33554432"), Link::G1);
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(
            tcp_buffers("net.ipv4.tcp_rmem", Some("4096 1"), Link::G1).status,
            Status::Warn
        );
        assert!(tcp_buffers("net.ipv4.tcp_rmem", None, Link::G1)
            .found
            .contains("/proc/sys/net/ipv4/tcp_rmem"));
    }

    #[test]
    fn notsent_lowat_verdicts() {
        let c = notsent_lowat(Some("4294967295"));
        assert_eq!(c.status, Status::Warn);
        assert!(c.found.contains("unlimited"));
        assert_eq!(
            c.fix.as_deref(),
            Some("sysctl -w net.ipv4.tcp_notsent_lowat=131072")
        );
        assert_eq!(notsent_lowat(Some("131072")).status, Status::Ok);
        assert_eq!(notsent_lowat(Some("16384")).status, Status::Ok);
        assert_eq!(notsent_lowat(Some("1048576")).status, Status::Ok);
        assert_eq!(notsent_lowat(Some("4096")).status, Status::Warn);
        assert_eq!(notsent_lowat(Some("2097152")).status, Status::Warn);
    }

    #[test]
    fn port_range_verdicts() {
        let ok = port_range(Some("32768\t60999"), Some(""), 6881);
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        assert_eq!(ok.found, "32768 60999 (28232 ports)");

        let holds = port_range(Some("1024 65535"), Some(""), 6881);
        assert_eq!(holds.status, Status::Warn);
        assert_eq!(
            holds.fix.as_deref(),
            Some("sysctl -w net.ipv4.ip_local_reserved_ports=6881")
        );
        assert_eq!(
            port_range(Some("1024 65535"), Some("6881"), 6881).status,
            Status::Ok
        );

        let narrow = port_range(Some("50000 51000"), None, 6881);
        assert_eq!(narrow.status, Status::Warn);
        assert_eq!(
            narrow.fix.as_deref(),
            Some("sysctl -w net.ipv4.ip_local_port_range=\"32768 60999\"")
        );
        assert_eq!(port_range(Some("9 1"), None, 6881).status, Status::Warn);
    }

    #[test]
    fn congestion_control_suggests_bbr_only_where_it_exists() {
        let av = Some("reno bbr cubic");
        assert_eq!(
            congestion_control(Some("bbr"), av, false).status,
            Status::Ok
        );
        let c = congestion_control(Some("cubic"), av, false);
        assert_eq!(c.status, Status::Warn);
        assert_eq!(
            c.fix.as_deref(),
            Some("sysctl -w net.ipv4.tcp_congestion_control=bbr")
        );
        let m = congestion_control(Some("cubic"), Some("reno cubic"), true);
        assert_eq!(m.status, Status::Warn);
        assert!(m.fix.unwrap().starts_with("modprobe tcp_bbr && "));
        assert!(m.persist.unwrap().contains("modules-load.d"));
        let none = congestion_control(Some("cubic"), Some("reno cubic"), false);
        assert_eq!(none.status, Status::Ok);
        assert!(none.found.contains("no bbr"));
        assert_eq!(congestion_control(None, None, false).status, Status::Warn);
    }

    #[test]
    fn qdisc_fix_replaces_each_nic_root() {
        assert_eq!(default_qdisc(Some("fq"), &[]).status, Status::Ok);
        let nics = [
            NicReading {
                name: "eth0".into(),
                tx_queues: 1,
                ..NicReading::default()
            },
            NicReading {
                name: "ens5".into(),
                tx_queues: 8,
                ..NicReading::default()
            },
        ];
        let c = default_qdisc(Some("fq_codel"), &nics);
        assert_eq!(c.status, Status::Warn);
        assert_eq!(
            c.fix.as_deref(),
            Some(
                "sysctl -w net.core.default_qdisc=fq && tc qdisc replace dev eth0 root fq \
                 && tc qdisc replace dev ens5 root mq"
            )
        );
    }
}
