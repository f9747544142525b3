//! CPU time and memory of a process, from `/proc` and `getrusage`.
//!
//! The efficiency figure that matters when the seeder and the load share a
//! few cores is CPU seconds per GiB moved, not GB/s: both ends compete for
//! the same cores, so throughput alone says little about either. The
//! target's CPU comes from `/proc/PID/stat` (utime + stime, in clock ticks)
//! sampled before and after the run; its memory from `/proc/PID/status`
//! (VmHWM is the kernel's own peak-RSS record, VmRSS the current value).
//! The load generator's own CPU comes from `getrusage(RUSAGE_SELF)`, which
//! covers all its threads.

use std::fs;
use std::io;
use std::time::Duration;

use nix::sys::resource::{getrusage, UsageWho};

/// User and system CPU time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    /// User-mode seconds.
    pub user: f64,
    /// Kernel-mode seconds.
    pub sys: f64,
}

impl CpuTimes {
    /// User + system seconds.
    pub fn total(&self) -> f64 {
        self.user + self.sys
    }

    /// The time spent between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user: (self.user - earlier.user).max(0.0),
            sys: (self.sys - earlier.sys).max(0.0),
        }
    }
}

/// This process's CPU time so far, all threads.
pub fn own_cpu() -> io::Result<CpuTimes> {
    let u = getrusage(UsageWho::RUSAGE_SELF).map_err(io::Error::from)?;
    let secs = |t: nix::sys::time::TimeVal| {
        Duration::new(
            u64::try_from(t.tv_sec()).unwrap_or(0),
            u32::try_from(t.tv_usec()).unwrap_or(0).saturating_mul(1000),
        )
        .as_secs_f64()
    };
    Ok(CpuTimes {
        user: secs(u.user_time()),
        sys: secs(u.system_time()),
    })
}

/// Clock ticks per second for `/proc/PID/stat` times (100 on Linux).
pub fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100)
}

/// utime and stime (clock ticks) from the text of `/proc/PID/stat`. The
/// command name (field 2) is in parentheses and may hold spaces or `)`,
/// so fields are counted from the last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<(u64, u64)> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    // After ")": state is field 3, so utime (14) and stime (15) are the
    // 12th and 13th fields from here.
    let mut fields = after.split_whitespace().skip(11);
    let utime = fields.next()?.parse().ok()?;
    let stime = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// The value in KiB of a `Key:   123 kB` line of `/proc/PID/status`.
pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// CPU time of process `pid` so far (all its threads).
pub fn proc_cpu(pid: u32) -> io::Result<CpuTimes> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (u, s) = parse_stat_ticks(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("/proc/{pid}/stat has no utime/stime fields"),
        )
    })?;
    let hz = clock_ticks() as f64;
    Ok(CpuTimes {
        user: u as f64 / hz,
        sys: s as f64 / hz,
    })
}

/// Memory figures of process `pid` in KiB: (VmRSS now, VmHWM peak).
pub fn proc_rss_kib(pid: u32) -> io::Result<(Option<u64>, Option<u64>)> {
    let text = fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok((
        parse_status_kib(&text, "VmRSS"),
        parse_status_kib(&text, "VmHWM"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let line = "1234 (a b) c)) S 1 2 3 4 5 6 7 8 9 10 250 31 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(line), Some((250, 31)));
        assert_eq!(parse_stat_ticks("1 (x) S 1 2"), None);
        assert_eq!(parse_stat_ticks("no parens"), None);
    }

    #[test]
    fn status_lines() {
        let s = "Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n";
        assert_eq!(parse_status_kib(s, "VmHWM"), Some(2048));
        assert_eq!(parse_status_kib(s, "VmRSS"), Some(1024));
        assert_eq!(parse_status_kib(s, "VmSwap"), None);
    }

    #[test]
    fn own_process_is_readable_both_ways() {
        let me = std::process::id();
        let _ = proc_cpu(me).unwrap();
        let (rss, hwm) = proc_rss_kib(me).unwrap();
        assert!(rss.unwrap() > 0 && hwm.unwrap() >= rss.unwrap());
        assert!(own_cpu().unwrap().total() >= 0.0);
        assert!(clock_ticks() > 0);
    }
}
