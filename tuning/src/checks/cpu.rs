//! The CPU: SHA-1 speed, SIMD for multi-buffer hashing, cores for shards.

use std::collections::BTreeSet;

use super::{effective_shards, Check, Status};
use crate::parse::format_cpu_list;
use crate::reading::CpuReading;

fn features(cpu: &CpuReading) -> String {
    let have: Vec<&str> = cpu
        .features
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| n.as_str())
        .collect();
    if have.is_empty() {
        format!("{}: none of sha, avx2, avx512", cpu.arch)
    } else {
        format!("{}: {}", cpu.arch, have.join(" "))
    }
}

/// The single-stream SHA-1 backend (start-up verification, one-off checks).
pub fn sha1(cpu: &CpuReading) -> Check {
    const ID: &str = "cpu.sha1";
    let why = "verifying data at start-up and creating torrents hash every byte: SHA-NI \
               runs about 1.6 GB/s per core, the fallbacks 0.65-0.75";
    let wanted = "sha-ni";
    let found = format!("{} ({})", cpu.sha1_backend, features(cpu));
    if cpu.sha1_backend == "sha-ni" {
        Check::new(ID, Status::Ok, found, wanted, why)
    } else {
        Check::new(ID, Status::Warn, found, wanted, why).fix(
            "no setting fixes this: a CPU with SHA extensions (Intel Ice Lake or Goldmont \
             and later, AMD Zen) verifies twice as fast; serving is not affected",
        )
    }
}

/// The multi-buffer SHA-1 backend (bulk verification and creation).
pub fn simd(cpu: &CpuReading) -> Check {
    const ID: &str = "cpu.simd";
    let why = "multi-buffer SHA-1 hashes 8 (AVX2) or 16 (AVX-512) pieces at once for full \
               rechecks and torrent creation";
    let wanted = "avx512-x16 (avx2-x8 is fine)";
    match &cpu.multi_backend {
        Some(b) => Check::new(
            ID,
            Status::Ok,
            format!("{b} ({})", features(cpu)),
            wanted,
            why,
        ),
        None => Check::new(
            ID,
            Status::Warn,
            format!("none ({})", features(cpu)),
            wanted,
            why,
        )
        .fix("no setting fixes this: bulk hashing falls back to one piece at a time per core"),
    }
}

/// Cores against shards: one pinned executor per core, plus one core for
/// the control thread (DHT, trackers, dials) and interrupts.
pub fn cores(cpus: &BTreeSet<usize>, shards: Option<usize>) -> Check {
    const ID: &str = "cpu.cores";
    let why = "each shard is pinned to a core (shard i on core i % cores): two shards on one \
               core take turns, and the control thread wants a core of its own";
    let n = cpus.len().max(1);
    let s = effective_shards(shards, n);
    let best = n.saturating_sub(1).max(1);
    let wanted = format!("shards <= {best} (cores - 1)");
    let how = if shards.is_some() {
        "--shards"
    } else {
        "default"
    };
    let plural = if s == 1 { "" } else { "s" };
    let found = format!(
        "{s} shard{plural} ({how}) on {n} cores ({})",
        format_cpu_list(cpus)
    );
    let fix = format!("--shards {best} (or shards = {best} in the config)");
    if n == 1 {
        return Check::new(ID, Status::Warn, found, wanted, why)
            .fix("give the seed more than one core (shards and control share the only one)");
    }
    if s > n {
        return Check::new(ID, Status::Warn, found, wanted, why).fix(fix);
    }
    if s == n {
        return Check::new(
            ID,
            Status::Warn,
            found,
            wanted,
            "no core is left for the control thread and interrupts: they preempt a shard",
        )
        .fix(fix);
    }
    Check::new(ID, Status::Ok, found, wanted, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(backend: &str, multi: Option<&str>, feats: &[(&str, bool)]) -> CpuReading {
        CpuReading {
            arch: "x86_64".into(),
            sha1_backend: backend.into(),
            multi_backend: multi.map(Into::into),
            features: feats.iter().map(|(n, b)| ((*n).to_string(), *b)).collect(),
        }
    }

    #[test]
    fn sha1_backends() {
        let fast = cpu(
            "sha-ni",
            Some("avx512-x16"),
            &[("sha", true), ("avx2", true)],
        );
        let c = sha1(&fast);
        assert_eq!(c.status, Status::Ok);
        assert_eq!(c.found, "sha-ni (x86_64: sha avx2)");
        let slow = sha1(&cpu("sha1-asm", None, &[("sha", false)]));
        assert_eq!(slow.status, Status::Warn);
        assert!(slow.found.contains("none of sha"));
        assert!(slow.fix.is_some());
    }

    #[test]
    fn simd_backends() {
        assert_eq!(
            simd(&cpu("sha-ni", Some("avx512-x16"), &[])).status,
            Status::Ok
        );
        assert_eq!(
            simd(&cpu("sha-ni", Some("avx2-x8"), &[])).status,
            Status::Ok
        );
        let arm = CpuReading {
            arch: "aarch64".into(),
            sha1_backend: "portable".into(),
            ..CpuReading::default()
        };
        let c = simd(&arm);
        assert_eq!(c.status, Status::Warn);
        assert!(c.found.starts_with("none (aarch64"), "{}", c.found);
    }

    #[test]
    fn cores_against_shards() {
        let eight: BTreeSet<usize> = (0..8).collect();
        let ok = cores(&eight, None);
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(ok.found, "7 shards (default) on 8 cores (0-7)");
        assert_eq!(cores(&eight, Some(4)).status, Status::Ok);
        let all = cores(&eight, Some(8));
        assert_eq!(all.status, Status::Warn);
        assert_eq!(
            all.fix.as_deref(),
            Some("--shards 7 (or shards = 7 in the config)")
        );
        assert_eq!(cores(&eight, Some(12)).status, Status::Warn);
        assert_eq!(cores(&[3].into(), None).status, Status::Warn);
        let two: BTreeSet<usize> = [0, 1].into();
        assert_eq!(cores(&two, None).status, Status::Ok);
    }
}
