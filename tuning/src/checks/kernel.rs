//! The kernel: version, io_uring, transparent huge pages.

use super::{Check, Status};
use crate::parse;

/// The oldest kernel glommio runs on.
pub const MIN_KERNEL: (u32, u32) = (5, 8);

/// `CAP_SYS_ADMIN`'s bit: such a process may use io_uring even when
/// `io_uring_disabled` is 1.
const CAP_SYS_ADMIN: u64 = 1 << 21;

/// The running kernel against glommio's minimum.
pub fn kernel_version(osrelease: Option<&str>) -> Check {
    const ID: &str = "kernel.version";
    let why = "glommio needs io_uring features of Linux 5.8 or later";
    let wanted = format!(">= {}.{}", MIN_KERNEL.0, MIN_KERNEL.1);
    let Some(release) = osrelease.map(str::trim) else {
        return Check::unreadable(ID, "/proc/sys/kernel/osrelease", wanted, why);
    };
    match parse::kernel_version(release) {
        Some((major, minor, _)) if (major, minor) >= MIN_KERNEL => {
            Check::new(ID, Status::Ok, release, wanted, why)
        }
        Some(_) => Check::new(ID, Status::Fail, release, wanted, why)
            .fix("upgrade the kernel (a distribution's HWE/backports kernel is >= 5.8)"),
        None => Check::new(
            ID,
            Status::Warn,
            format!("{release} (unparsed)"),
            wanted,
            why,
        ),
    }
}

/// `kernel.io_uring_disabled` (Linux 6.6+): 0 everyone, 1 only members of
/// `kernel.io_uring_group` (and CAP_SYS_ADMIN), 2 nobody.
pub fn io_uring(disabled: Option<&str>, group: Option<&str>, status: Option<&str>) -> Check {
    const ID: &str = "kernel.io_uring_disabled";
    let why = "every shard is a glommio executor on io_uring: without it the seed cannot start";
    let wanted = "0 (io_uring allowed)";
    let fix = "sysctl -w kernel.io_uring_disabled=0";
    let persist = "kernel.io_uring_disabled = 0  # in /etc/sysctl.d/90-seedcore.conf";
    let seccomp = status
        .and_then(|s| parse::status_field(s, "Seccomp"))
        .is_some_and(|m| m == "2");
    let note = if seccomp {
        "; a seccomp filter is active: a container profile may still block io_uring_setup"
    } else {
        ""
    };
    let Some(v) = disabled.map(str::trim) else {
        return Check::new(
            ID,
            Status::Ok,
            format!("no such switch (kernel before 6.6): allowed{note}"),
            wanted,
            why,
        );
    };
    match v {
        "0" => Check::new(ID, Status::Ok, format!("0{note}"), wanted, why),
        "1" => {
            let gid: Option<u32> = group.and_then(|g| g.trim().parse().ok());
            let member = match (gid, status) {
                (Some(g), Some(s)) => parse::groups(s).contains(&g),
                _ => false,
            };
            let admin = status
                .and_then(parse::effective_caps)
                .is_some_and(|c| c & CAP_SYS_ADMIN != 0);
            let found = format!("1 (only group {}){note}", group.unwrap_or("?").trim());
            if member || admin {
                Check::new(ID, Status::Ok, found, wanted, why)
            } else {
                Check::new(ID, Status::Fail, found, wanted, why)
                    .fix(format!(
                        "{fix}  # or add the seed's user to group {}",
                        group.unwrap_or("?").trim()
                    ))
                    .persist(persist)
            }
        }
        other => Check::new(ID, Status::Fail, format!("{other} (disabled)"), wanted, why)
            .fix(fix)
            .persist(persist),
    }
}

/// Transparent huge pages: `madvise` or `never`, and no synchronous
/// compaction.
pub fn thp(enabled: Option<&str>, defrag: Option<&str>) -> Check {
    const ID: &str = "mm.transparent_hugepage";
    let why = "a seed serves from the page cache (4 KiB pages either way); `always` only adds \
               compaction stalls and memory bloat to its anonymous memory";
    let wanted = "enabled madvise (or never), defrag not always";
    let Some(e) = enabled.and_then(parse::bracketed) else {
        return Check::unreadable(
            ID,
            "/sys/kernel/mm/transparent_hugepage/enabled",
            wanted,
            why,
        );
    };
    let d = defrag.and_then(parse::bracketed);
    let found = format!("enabled {e}, defrag {}", d.unwrap_or("?"));
    let base = "/sys/kernel/mm/transparent_hugepage";
    let mut fixes = Vec::new();
    if e == "always" {
        fixes.push(format!("echo madvise > {base}/enabled"));
    }
    if d == Some("always") {
        fixes.push(format!("echo madvise > {base}/defrag"));
    }
    if fixes.is_empty() {
        return Check::new(ID, Status::Ok, found, wanted, why);
    }
    Check::new(ID, Status::Warn, found, wanted, why)
        .fix(fixes.join(" && "))
        .persist("transparent_hugepage=madvise on the kernel command line")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version(Some("6.18.44-fc-v669\n")).status, Status::Ok);
        assert_eq!(kernel_version(Some("5.8.0")).status, Status::Ok);
        let old = kernel_version(Some("5.4.0-150-generic"));
        assert_eq!(old.status, Status::Fail);
        assert!(old.fix.is_some());
        assert_eq!(kernel_version(Some("weird")).status, Status::Warn);
        assert_eq!(kernel_version(None).status, Status::Warn);
    }

    #[test]
    fn io_uring_switch() {
        let user = "Uid:\t1000\t1000\t1000\t1000\nGroups:\t100 990\nCapEff:\t0000000000000000\nSeccomp:\t0\n";
        assert_eq!(
            io_uring(Some("0"), Some("-1"), Some(user)).status,
            Status::Ok
        );
        let none = io_uring(None, None, Some(user));
        assert_eq!(none.status, Status::Ok);
        assert!(none.found.contains("before 6.6"));

        assert_eq!(
            io_uring(Some("1"), Some("990"), Some(user)).status,
            Status::Ok
        );
        let out = io_uring(Some("1"), Some("991"), Some(user));
        assert_eq!(out.status, Status::Fail);
        assert!(out.fix.unwrap().contains("group 991"));
        let admin = "Groups:\nCapEff:\t0000000000200000\n";
        assert_eq!(
            io_uring(Some("1"), Some("991"), Some(admin)).status,
            Status::Ok
        );

        let off = io_uring(Some("2"), None, Some(user));
        assert_eq!(off.status, Status::Fail);
        assert_eq!(
            off.fix.as_deref(),
            Some("sysctl -w kernel.io_uring_disabled=0")
        );

        let boxed = io_uring(Some("0"), None, Some("Seccomp:\t2\n"));
        assert_eq!(boxed.status, Status::Ok);
        assert!(boxed.found.contains("seccomp"));
    }

    #[test]
    fn thp_verdicts() {
        let ok = thp(
            Some("always [madvise] never\n"),
            Some("always defer defer+madvise [madvise] never"),
        );
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(ok.found, "enabled madvise, defrag madvise");
        assert_eq!(thp(Some("always madvise [never]"), None).status, Status::Ok);

        let bad = thp(
            Some("[always] madvise never"),
            Some("[always] defer madvise never"),
        );
        assert_eq!(bad.status, Status::Warn);
        assert_eq!(
            bad.fix.as_deref(),
            Some(
                "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled && \
                 echo madvise > /sys/kernel/mm/transparent_hugepage/defrag"
            )
        );
        assert_eq!(thp(None, None).status, Status::Warn);
    }
}
