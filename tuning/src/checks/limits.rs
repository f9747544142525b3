//! Per-process limits: open files and locked memory.

use super::{Check, Status};
use crate::link::bytes_short;
use crate::parse::{self, Limit};

/// Descriptors beyond one per peer: listeners (one per shard and address),
/// torrent files held open for `sendfile`, io_uring rings, dials in
/// progress, logs.
pub const NOFILE_HEADROOM: u64 = 1024;

/// The limit suggested when raising it: a million descriptors cost nothing
/// until used (and equal the usual `fs.nr_open`).
pub const NOFILE_SUGGESTED: u64 = 1 << 20;

/// glommio refuses to start an executor below this `RLIMIT_MEMLOCK`
/// (its `MIN_MEMLOCK_LIMIT`), whatever the process's privileges.
pub const GLOMMIO_MIN_MEMLOCK: u64 = 512 << 10;

/// glommio's smallest `io_memory` slab (it rounds up to this).
const GLOMMIO_MIN_IO_MEMORY: u64 = 64 << 10;

/// `CAP_IPC_LOCK`'s bit in the capability sets.
const CAP_IPC_LOCK: u64 = 1 << 14;

const LIMITS: &str = "/proc/self/limits";

/// Open files (`RLIMIT_NOFILE`): every peer is a socket.
pub fn nofile(limits: Option<&str>, nr_open: Option<u64>, max_peers: u32) -> Check {
    const ID: &str = "limits.nofile";
    let why =
        "every peer is a socket: below max_peers, accept fails with EMFILE and peers are lost";
    let wanted_n = u64::from(max_peers) + NOFILE_HEADROOM;
    let wanted = format!(">= {wanted_n} (max_peers {max_peers} + {NOFILE_HEADROOM})");
    let Some((soft, hard)) = limits.and_then(|l| parse::limit(l, "Max open files")) else {
        return Check::unreadable(ID, LIMITS, wanted, why);
    };
    let found = format!("soft {soft}, hard {hard}");
    if soft.at_least(wanted_n) {
        return Check::new(ID, Status::Ok, found, wanted, why);
    }
    let status = if soft.at_least(u64::from(max_peers)) {
        Status::Warn
    } else {
        Status::Fail
    };
    let suggested = NOFILE_SUGGESTED
        .min(nr_open.unwrap_or(NOFILE_SUGGESTED))
        .max(wanted_n);
    let fix = match hard {
        Limit::Finite(h) if h >= wanted_n => format!("ulimit -n {}", h.min(suggested)),
        Limit::Unlimited => format!("ulimit -n {suggested}"),
        Limit::Finite(_) => format!("ulimit -n {suggested}  # as root: raises the hard limit too"),
    };
    Check::new(ID, status, found, wanted, why)
        .fix(fix)
        .persist(format!(
            "LimitNOFILE={suggested} in the systemd unit, or `seedcore - nofile {suggested}` \
             in /etc/security/limits.d/seedcore.conf"
        ))
}

/// Locked memory a seed's shards register with io_uring: each shard's
/// `io_memory` slab (at least 64 KiB, page-aligned) in three rings.
pub fn memlock_needed(shards: usize, io_memory: u64) -> u64 {
    let slab = io_memory.max(GLOMMIO_MIN_IO_MEMORY).next_multiple_of(4096);
    slab.saturating_mul(3)
        .saturating_mul(u64::try_from(shards).unwrap_or(u64::MAX))
}

/// Locked memory (`RLIMIT_MEMLOCK`) against what glommio registers.
pub fn memlock(limits: Option<&str>, caps: Option<u64>, shards: usize, io_memory: u64) -> Check {
    const ID: &str = "limits.memlock";
    let why = "glommio locks 3 x io_memory per shard for io_uring and will not start below 512 KiB";
    let need = memlock_needed(shards, io_memory);
    let wanted_n = need.max(GLOMMIO_MIN_MEMLOCK);
    let wanted = format!(
        ">= {} ({shards} x 3 x io_memory {}, at least 512 KiB)",
        bytes_short(wanted_n),
        bytes_short(io_memory)
    );
    let Some((soft, hard)) = limits.and_then(|l| parse::limit(l, "Max locked memory")) else {
        return Check::unreadable(ID, LIMITS, wanted, why);
    };
    let ipc_lock = caps.is_some_and(|c| c & CAP_IPC_LOCK != 0);
    let shown = |l: Limit| match l {
        Limit::Finite(v) => bytes_short(v),
        Limit::Unlimited => "unlimited".into(),
    };
    let mut found = format!("soft {}, hard {}", shown(soft), shown(hard));
    if ipc_lock {
        found.push_str(", CAP_IPC_LOCK");
    }
    let kib = wanted_n.div_ceil(1024);
    let mib = wanted_n.div_ceil(1 << 20);
    let fixed = |c: Check| {
        c.fix(format!("ulimit -l {kib}"))
            .persist(format!("LimitMEMLOCK={mib}M in the systemd unit"))
    };
    if !soft.at_least(GLOMMIO_MIN_MEMLOCK) {
        return fixed(Check::new(ID, Status::Fail, found, wanted, why));
    }
    // With CAP_IPC_LOCK the kernel does not count io_uring registrations
    // against the limit; only glommio's own 512 KiB floor applies.
    if soft.at_least(need) || ipc_lock {
        return Check::new(ID, Status::Ok, found, wanted, why);
    }
    fixed(Check::new(
        ID,
        Status::Warn,
        found,
        wanted,
        "over the limit, io_uring buffer registration fails on some shards \
         (logged; serving does not use it): raise the limit or lower io_memory",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(nofile: &str, memlock: &str) -> String {
        format!(
            "Limit                     Soft Limit           Hard Limit           Units\n\
             Max open files            {nofile}      files\n\
             Max locked memory         {memlock}      bytes\n"
        )
    }

    #[test]
    fn nofile_verdicts() {
        let ok = nofile(Some(&limits("20000 20000", "0 0")), None, 10_000);
        assert_eq!(ok.status, Status::Ok, "{ok:?}");
        assert_eq!(ok.fix, None);

        let warn = nofile(Some(&limits("10500 1048576", "0 0")), None, 10_000);
        assert_eq!(warn.status, Status::Warn);
        assert_eq!(warn.fix.as_deref(), Some("ulimit -n 1048576"));

        let fail = nofile(Some(&limits("1024 4096", "0 0")), Some(524_288), 10_000);
        assert_eq!(fail.status, Status::Fail);
        assert_eq!(fail.found, "soft 1024, hard 4096");
        let fix = fail.fix.unwrap();
        assert!(fix.starts_with("ulimit -n 524288"), "{fix}");
        assert!(fail.persist.unwrap().contains("LimitNOFILE=524288"));

        let unlimited = nofile(Some(&limits("unlimited unlimited", "0 0")), None, 10_000);
        assert_eq!(unlimited.status, Status::Ok);

        let unreadable = nofile(None, None, 10_000);
        assert_eq!(unreadable.status, Status::Warn);
        assert!(unreadable.found.contains("/proc/self/limits"));
    }

    #[test]
    fn memlock_needs_three_slabs_per_shard() {
        assert_eq!(memlock_needed(1, 128 << 10), 384 << 10);
        assert_eq!(memlock_needed(4, 10 << 20), 120 << 20);
        assert_eq!(memlock_needed(2, 1), 384 << 10, "64 KiB minimum slab");
        assert_eq!(memlock_needed(1, 65_537), 3 * 69_632, "page-aligned");
    }

    #[test]
    fn memlock_verdicts() {
        // 8 MiB covers 20 shards of 128 KiB.
        let ok = memlock(
            Some(&limits("0 0", "8388608 8388608")),
            Some(0),
            20,
            128 << 10,
        );
        assert_eq!(ok.status, Status::Ok, "{ok:?}");

        // 4 shards x 3 x 10 MiB = 120 MiB > 8 MiB, unprivileged: warn.
        let warn = memlock(
            Some(&limits("0 0", "8388608 8388608")),
            Some(0),
            4,
            10 << 20,
        );
        assert_eq!(warn.status, Status::Warn);
        assert_eq!(warn.fix.as_deref(), Some("ulimit -l 122880"));
        assert_eq!(
            warn.persist.as_deref(),
            Some("LimitMEMLOCK=120M in the systemd unit")
        );

        // The same with CAP_IPC_LOCK: registrations are not counted.
        let cap = memlock(
            Some(&limits("0 0", "8388608 8388608")),
            Some(1 << 14),
            4,
            10 << 20,
        );
        assert_eq!(cap.status, Status::Ok);
        assert!(cap.found.ends_with("CAP_IPC_LOCK"));

        // Below glommio's floor nothing starts, capability or not.
        let fail = memlock(
            Some(&limits("0 0", "65536 65536")),
            Some(u64::MAX),
            1,
            128 << 10,
        );
        assert_eq!(fail.status, Status::Fail);
        assert_eq!(fail.fix.as_deref(), Some("ulimit -l 512"));

        let unlimited = memlock(
            Some(&limits("0 0", "unlimited unlimited")),
            None,
            64,
            1 << 30,
        );
        assert_eq!(unlimited.status, Status::Ok);
        assert_eq!(memlock(None, None, 1, 1).status, Status::Warn);
    }
}
