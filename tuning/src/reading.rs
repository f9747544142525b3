//! What the host says: the raw text of the files the checks look at.
//!
//! Reading is kept apart from judging so that every check can be tested
//! with made-up readings (a kernel without BBR, a NIC with one queue, a
//! 1 MiB memlock limit) on any machine. [`Readings::read`] takes a root
//! folder, so a fake `/proc` + `/sys` tree works as well as the real one.
//! A file that is missing or unreadable is `None` (or absent from a map);
//! the checks say so rather than guess.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::parse;

/// The sysctls read, by their dotted names (`/proc/sys/` + dots as slashes).
pub const SYSCTLS: &[&str] = &[
    "fs.nr_open",
    "kernel.io_uring_disabled",
    "kernel.io_uring_group",
    "kernel.osrelease",
    "net.core.default_qdisc",
    "net.core.rmem_max",
    "net.core.somaxconn",
    "net.core.wmem_max",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_available_congestion_control",
    "net.ipv4.tcp_congestion_control",
    "net.ipv4.tcp_notsent_lowat",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

/// The CPU as this process sees it (detected at run time, not read from a
/// file, so tests fill it in by hand).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CpuReading {
    /// `std::env::consts::ARCH`.
    pub arch: String,
    /// The SHA-1 backend `seedcore_hash` picks (`Sha1Backend::best().name()`).
    pub sha1_backend: String,
    /// The multi-buffer SHA-1 backend, if the CPU has one
    /// (`MultiBackend::best()`).
    pub multi_backend: Option<String>,
    /// The x86 features that matter here and whether each was detected
    /// (`sha`, `avx2`, `avx512f`, `avx512bw`); empty on other architectures.
    pub features: Vec<(String, bool)>,
}

impl CpuReading {
    /// Detects the running CPU.
    pub fn detect() -> CpuReading {
        let mut features = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            features.push(("sha".into(), std::arch::is_x86_feature_detected!("sha")));
            features.push(("avx2".into(), std::arch::is_x86_feature_detected!("avx2")));
            features.push((
                "avx512f".into(),
                std::arch::is_x86_feature_detected!("avx512f"),
            ));
            features.push((
                "avx512bw".into(),
                std::arch::is_x86_feature_detected!("avx512bw"),
            ));
        }
        CpuReading {
            arch: std::env::consts::ARCH.into(),
            sha1_backend: seedcore_hash::Sha1Backend::best().name().into(),
            multi_backend: seedcore_hash::MultiBackend::best().map(|b| b.name().to_string()),
            features,
        }
    }
}

/// One network interface backed by a device (physical or virtio; `lo`,
/// bridges, veth and ifb have no `device` and are left out).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NicReading {
    /// Interface name (`eth0`).
    pub name: String,
    /// `/sys/class/net/NAME/speed` in Mbit/s (`-1` or absent: unknown).
    pub speed_mbit: Option<i64>,
    /// Receive queues (`queues/rx-*`).
    pub rx_queues: usize,
    /// Transmit queues (`queues/tx-*`).
    pub tx_queues: usize,
    /// `queues/rx-N/rps_cpus` of each receive queue, in queue order.
    pub rps_cpus: Vec<String>,
    /// The device's interrupts: its `msi_irqs`, else the lines of
    /// `/proc/interrupts` that name the interface.
    pub irqs: Vec<u32>,
    /// `/proc/irq/N/effective_affinity_list` (else `smp_affinity_list`)
    /// of each interrupt that could be read.
    pub irq_affinity: BTreeMap<u32, String>,
}

/// Everything the checks look at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Readings {
    /// `/proc/self/limits`.
    pub limits: Option<String>,
    /// `/proc/self/status` (uid, capabilities, groups, allowed CPUs).
    pub status: Option<String>,
    /// The [`SYSCTLS`] that could be read, trimmed.
    pub sysctls: BTreeMap<String, String>,
    /// `/sys/kernel/mm/transparent_hugepage/enabled`.
    pub thp_enabled: Option<String>,
    /// `/sys/kernel/mm/transparent_hugepage/defrag`.
    pub thp_defrag: Option<String>,
    /// `/proc/interrupts`.
    pub interrupts: Option<String>,
    /// Interfaces with a device, by name.
    pub nics: Vec<NicReading>,
    /// A `tcp_bbr` module exists for the running kernel (built in or
    /// loadable), even if it is not loaded yet.
    pub bbr_module: bool,
    /// An `irqbalance` process is running.
    pub irqbalance: bool,
    /// `std::thread::available_parallelism()`, the fallback when the status
    /// file has no `Cpus_allowed_list`.
    pub parallelism: usize,
    /// The CPU.
    pub cpu: CpuReading,
}

fn text(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

/// File names in a folder, sorted; empty if it cannot be read.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `rx-10` sorts after `rx-2`.
fn queue_index(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.parse().ok()
}

impl Readings {
    /// Reads this host (`/`) and detects the CPU.
    pub fn from_host() -> Readings {
        Readings::read(Path::new("/"), CpuReading::detect())
    }

    /// Reads `root/proc/...` and `root/sys/...`; `root` is `/` for the real
    /// host, a folder of fake files in tests.
    pub fn read(root: &Path, cpu: CpuReading) -> Readings {
        let proc_ = root.join("proc");
        let mut sysctls = BTreeMap::new();
        for &name in SYSCTLS {
            let path = proc_.join("sys").join(name.replace('.', "/"));
            if let Some(v) = text(&path) {
                sysctls.insert(name.to_string(), v.trim().to_string());
            }
        }
        let interrupts = text(&proc_.join("interrupts"));
        let irq_lines = interrupts
            .as_deref()
            .map(parse::interrupts)
            .unwrap_or_default();
        let nics = names(&root.join("sys/class/net"))
            .into_iter()
            .filter_map(|name| read_nic(root, &name, &irq_lines))
            .collect();
        let bbr_module = sysctls
            .get("kernel.osrelease")
            .is_some_and(|rel| bbr_module_exists(root, rel));
        let thp = root.join("sys/kernel/mm/transparent_hugepage");
        Readings {
            limits: text(&proc_.join("self/limits")),
            status: text(&proc_.join("self/status")),
            sysctls,
            thp_enabled: text(&thp.join("enabled")),
            thp_defrag: text(&thp.join("defrag")),
            interrupts,
            nics,
            bbr_module,
            irqbalance: process_running(&proc_, "irqbalance"),
            parallelism: std::thread::available_parallelism().map_or(1, usize::from),
            cpu,
        }
    }
}

fn read_nic(
    root: &Path,
    name: &str,
    irq_lines: &BTreeMap<u32, parse::IrqLine>,
) -> Option<NicReading> {
    let dir = root.join("sys/class/net").join(name);
    let device = dir.join("device");
    if !device.exists() {
        return None;
    }
    let queues = dir.join("queues");
    let mut rx: Vec<(u32, String)> = names(&queues)
        .into_iter()
        .filter_map(|q| queue_index(&q, "rx-").map(|i| (i, q)))
        .collect();
    rx.sort();
    let tx_queues = names(&queues)
        .iter()
        .filter(|q| queue_index(q, "tx-").is_some())
        .count();
    let rps_cpus = rx
        .iter()
        .map(|(_, q)| {
            text(&queues.join(q).join("rps_cpus"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        })
        .collect();
    // A PCI NIC lists its vectors in device/msi_irqs; a virtio NIC's
    // `device` is the virtio device, whose PCI parent holds them.
    let mut irqs: Vec<u32> = [device.join("msi_irqs"), device.join("../msi_irqs")]
        .iter()
        .map(|p| names(p))
        .find(|v| !v.is_empty())
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    if irqs.is_empty() {
        irqs = irqs_named(irq_lines, name);
    }
    irqs.sort_unstable();
    let mut irq_affinity = BTreeMap::new();
    for &irq in &irqs {
        let base = root.join("proc/irq").join(irq.to_string());
        let aff = text(&base.join("effective_affinity_list"))
            .filter(|s| !s.trim().is_empty())
            .or_else(|| text(&base.join("smp_affinity_list")));
        if let Some(a) = aff {
            irq_affinity.insert(irq, a.trim().to_string());
        }
    }
    Some(NicReading {
        name: name.to_string(),
        speed_mbit: text(&dir.join("speed")).and_then(|s| s.trim().parse().ok()),
        rx_queues: rx.len(),
        tx_queues,
        rps_cpus,
        irqs,
        irq_affinity,
    })
}

/// Interrupts whose name carries the interface name as a word (`eth0`,
/// `eth0-TxRx-3`, `eth0-rx-0`), for drivers without `msi_irqs`.
pub fn irqs_named(lines: &BTreeMap<u32, parse::IrqLine>, nic: &str) -> Vec<u32> {
    lines
        .iter()
        .filter(|(_, l)| {
            l.name.split_whitespace().any(|w| {
                w == nic
                    || w.strip_prefix(nic)
                        .is_some_and(|rest| rest.starts_with(['-', '@', ':']))
            })
        })
        .map(|(&irq, _)| irq)
        .collect()
}

fn bbr_module_exists(root: &Path, release: &str) -> bool {
    let dir: PathBuf = root.join("lib/modules").join(release);
    let loadable = ["", ".xz", ".zst", ".gz"].iter().any(|ext| {
        dir.join(format!("kernel/net/ipv4/tcp_bbr.ko{ext}"))
            .exists()
    });
    let builtin = text(&dir.join("modules.builtin")).is_some_and(|t| t.contains("tcp_bbr.ko"));
    loadable || builtin
}

/// Whether a process with this `comm` runs (scans `/proc/[0-9]*/comm`).
fn process_running(proc_: &Path, comm: &str) -> bool {
    fs::read_dir(proc_)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    e.file_name()
                        .to_str()
                        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
                })
                .any(|e| text(&e.path().join("comm")).is_some_and(|c| c.trim() == comm))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, rel: &str, body: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }

    /// A fake tree shaped like a virtio VM: eth0's `device` is a symlink
    /// to a virtio device whose PCI parent lists the vectors.
    #[test]
    fn reads_a_fake_host() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        put(r, "proc/self/limits", "Max open files  1024  4096  files\n");
        put(r, "proc/self/status", "Uid:\t1000\t1000\t1000\t1000\n");
        put(r, "proc/sys/net/core/somaxconn", "4096\n");
        put(r, "proc/sys/kernel/osrelease", "6.1.0-test\n");
        put(
            r,
            "lib/modules/6.1.0-test/kernel/net/ipv4/tcp_bbr.ko.xz",
            "",
        );
        put(
            r,
            "sys/kernel/mm/transparent_hugepage/enabled",
            "[always] madvise never\n",
        );
        put(
            r,
            "proc/interrupts",
            "  CPU0 CPU1\n 38: 0 9 PCI-MSIX virtio2-input.0\n",
        );
        put(r, "proc/irq/38/effective_affinity_list", "1\n");
        put(r, "proc/irq/39/smp_affinity_list", "0-1\n");
        put(r, "proc/7/comm", "irqbalance\n");
        put(r, "sys/devices/pci/0000:00:03.0/msi_irqs/38", "msix");
        put(r, "sys/devices/pci/0000:00:03.0/msi_irqs/39", "msix");
        fs::create_dir_all(r.join("sys/devices/pci/0000:00:03.0/virtio2")).unwrap();
        put(r, "sys/class/net/eth0/speed", "-1\n");
        put(r, "sys/class/net/eth0/queues/rx-0/rps_cpus", "0\n");
        fs::create_dir_all(r.join("sys/class/net/eth0/queues/tx-0")).unwrap();
        std::os::unix::fs::symlink(
            r.join("sys/devices/pci/0000:00:03.0/virtio2"),
            r.join("sys/class/net/eth0/device"),
        )
        .unwrap();
        fs::create_dir_all(r.join("sys/class/net/lo")).unwrap();

        let got = Readings::read(r, CpuReading::default());
        assert_eq!(
            got.sysctls.get("net.core.somaxconn").map(String::as_str),
            Some("4096")
        );
        assert!(!got.sysctls.contains_key("net.core.wmem_max"));
        assert!(got.limits.unwrap().contains("1024"));
        assert!(got.bbr_module);
        assert!(got.irqbalance);
        assert_eq!(got.thp_defrag, None);
        assert_eq!(got.nics.len(), 1, "lo has no device");
        let nic = &got.nics[0];
        assert_eq!(nic.name, "eth0");
        assert_eq!(nic.speed_mbit, Some(-1));
        assert_eq!((nic.rx_queues, nic.tx_queues), (1, 1));
        assert_eq!(nic.rps_cpus, vec!["0".to_string()]);
        assert_eq!(nic.irqs, vec![38, 39]);
        assert_eq!(nic.irq_affinity.get(&38).map(String::as_str), Some("1"));
        assert_eq!(nic.irq_affinity.get(&39).map(String::as_str), Some("0-1"));
    }

    #[test]
    fn irqs_found_by_name_without_msi_irqs() {
        let lines = parse::interrupts(
            "  CPU0\n 50: 1 PCI-MSI eth0-TxRx-0\n 51: 1 PCI-MSI eth0-TxRx-1\n 52: 1 PCI-MSI eth10-TxRx-0\n 53: 1 X eth0\n",
        );
        assert_eq!(irqs_named(&lines, "eth0"), vec![50, 51, 53]);
        assert_eq!(irqs_named(&lines, "eth1"), Vec::<u32>::new());
    }

    #[test]
    fn the_real_host_reads_without_panicking() {
        let r = Readings::from_host();
        assert!(r.parallelism >= 1);
        assert!(!r.cpu.sha1_backend.is_empty());
    }
}
