//! Readings of the seed process and the kernel, taken every few seconds.

use std::collections::HashSet;
use std::fs;

use serde::Serialize;

/// One reading.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sample {
    /// Seconds since the run started.
    pub t: f64,
    /// Resident memory (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Anonymous resident memory (`smaps_rollup` `Anonymous`): the heap
    /// and the executors' buffers, without mapped files, KiB.
    pub anon_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// TCP connections of the seed (sockets in /proc/net/tcp{,6} it owns).
    pub tcp_sockets: u64,
    /// Bytes queued in the kernel on the seed's TCP sockets: unsent or
    /// unacknowledged (`tx_queue`) plus received and unread (`rx_queue`).
    pub tcp_queued_bytes: u64,
    /// Whole-machine TCP memory from /proc/net/sockstat (`mem`, pages of
    /// 4 KiB): the kernel's socket memory, every process's.
    pub sockstat_tcp_mem_pages: u64,
    /// Whole-machine TCP sockets in use (/proc/net/sockstat `inuse`).
    pub sockstat_tcp_inuse: u64,
    /// The seed's CPU time so far (user + system), seconds.
    pub seed_cpu_s: f64,
    /// The seed's major page faults so far: data read from disk because
    /// it was not in the page cache (cumulative).
    pub seed_majflt: u64,
    /// Bytes the seed made the kernel read from storage so far
    /// (/proc/PID/io `read_bytes`, cumulative).
    pub seed_read_bytes: u64,
    /// The machine's 1-minute load average: other jobs share it, and a
    /// slow download with a busy machine and an idle seed is the machine's
    /// doing, not the seed's.
    pub load1: f64,
}

fn status_kib(pid: u32, file: &str, key: &str) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                let rest = l.strip_prefix(key)?.trim_start_matches(':').trim();
                rest.split_whitespace().next()?.parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Socket inodes of `pid`'s open file descriptors, and how many fds.
fn socket_inodes(pid: u32) -> (HashSet<u64>, u64) {
    let mut inodes = HashSet::new();
    let mut fds = 0;
    if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in dir.flatten() {
            fds += 1;
            if let Ok(target) = fs::read_link(e.path()) {
                let t = target.to_string_lossy();
                if let Some(n) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
                    if let Ok(n) = n.parse() {
                        inodes.insert(n);
                    }
                }
            }
        }
    }
    (inodes, fds)
}

/// Sums `tx_queue` and `rx_queue` of the sockets in `inodes`; counts them.
fn tcp_queues(inodes: &HashSet<u64>) -> (u64, u64) {
    let mut bytes = 0;
    let mut count = 0;
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
            let (Some(queues), Some(inode)) = (f.get(4), f.get(9)) else {
                continue;
            };
            if !inode.parse::<u64>().is_ok_and(|i| inodes.contains(&i)) {
                continue;
            }
            count += 1;
            if let Some((tx, rx)) = queues.split_once(':') {
                bytes += u64::from_str_radix(tx, 16).unwrap_or(0)
                    + u64::from_str_radix(rx, 16).unwrap_or(0);
            }
        }
    }
    (bytes, count)
}

fn sockstat() -> (u64, u64) {
    let text = fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let tcp = text
        .lines()
        .find(|l| l.starts_with("TCP:"))
        .unwrap_or_default();
    let f: Vec<&str> = tcp.split_whitespace().collect();
    let field = |k: &str| {
        f.iter()
            .position(|x| *x == k)
            .and_then(|i| f.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("mem"), field("inuse"))
}

/// Reads everything for `pid` at time `t`; `None` once the process is gone.
pub fn take(pid: u32, t: f64) -> Option<Sample> {
    let rss_kib = status_kib(pid, "status", "VmRSS");
    if rss_kib == 0 {
        return None;
    }
    let (inodes, fds) = socket_inodes(pid);
    let (tcp_queued_bytes, tcp_sockets) = tcp_queues(&inodes);
    let (mem, inuse) = sockstat();
    let seed_cpu_s = crate::procstat::proc_cpu(pid)
        .map(|c| c.total())
        .unwrap_or(0.0);
    let load1 = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    // Field 12 of /proc/PID/stat, counted after the command name's ')'.
    let seed_majflt = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|st| {
            let rest = st.rsplit_once(')')?.1;
            rest.split_whitespace().nth(9)?.parse().ok()
        })
        .unwrap_or(0);
    let seed_read_bytes = status_kib(pid, "io", "read_bytes");
    Some(Sample {
        seed_majflt,
        seed_read_bytes,
        seed_cpu_s,
        load1,
        t,
        rss_kib,
        anon_kib: status_kib(pid, "smaps_rollup", "Anonymous"),
        fds,
        tcp_sockets,
        tcp_queued_bytes,
        sockstat_tcp_mem_pages: mem,
        sockstat_tcp_inuse: inuse,
    })
}
