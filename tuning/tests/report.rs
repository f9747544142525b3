//! Whole reports on made-up hosts: a stock distribution install, and the
//! same host after applying tuning/sysctl/90-seedcore.conf and the unit's
//! limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use seedcore_tuning::{check_all, CpuReading, Link, NicReading, Readings, Status, Target};

fn stock() -> Readings {
    let mut r = Readings {
        limits: Some(
            "Limit  Soft Limit  Hard Limit  Units\n\
             Max open files            1024                 524288               files\n\
             Max locked memory         8388608              8388608              bytes\n"
                .into(),
        ),
        status: Some(
            "Name:\tseedcore\nUid:\t1000\t1000\t1000\t1000\nGroups:\t1000\n\
             Cpus_allowed_list:\t0-7\nCapEff:\t0000000000000000\nSeccomp:\t0\n"
                .into(),
        ),
        thp_enabled: Some("[always] madvise never\n".into()),
        thp_defrag: Some("always defer defer+madvise [madvise] never\n".into()),
        interrupts: Some(
            "  CPU0 CPU1 CPU2 CPU3 CPU4 CPU5 CPU6 CPU7\n \
             70: 900 0 0 0 0 0 0 0 PCI-MSI-edge eno1-TxRx-0\n \
             71: 0 800 0 0 0 0 0 0 PCI-MSI-edge eno1-TxRx-1\n"
                .into(),
        ),
        nics: vec![NicReading {
            name: "eno1".into(),
            speed_mbit: Some(10_000),
            rx_queues: 2,
            tx_queues: 2,
            rps_cpus: vec!["00".into(), "00".into()],
            irqs: vec![70, 71],
            irq_affinity: [(70, "0".into()), (71, "1".into())].into(),
        }],
        bbr_module: true,
        irqbalance: true,
        parallelism: 8,
        cpu: CpuReading {
            arch: "x86_64".into(),
            sha1_backend: "sha-ni".into(),
            multi_backend: Some("avx2-x8".into()),
            features: vec![("sha".into(), true), ("avx2".into(), true)],
        },
        ..Readings::default()
    };
    for (k, v) in [
        ("fs.nr_open", "1048576"),
        ("kernel.osrelease", "6.1.0-18-amd64"),
        ("kernel.io_uring_disabled", "0"),
        ("net.core.default_qdisc", "fq_codel"),
        ("net.core.rmem_max", "212992"),
        ("net.core.somaxconn", "4096"),
        ("net.core.wmem_max", "212992"),
        ("net.ipv4.ip_local_port_range", "32768\t60999"),
        ("net.ipv4.ip_local_reserved_ports", ""),
        ("net.ipv4.tcp_available_congestion_control", "reno cubic"),
        ("net.ipv4.tcp_congestion_control", "cubic"),
        ("net.ipv4.tcp_notsent_lowat", "4294967295"),
        ("net.ipv4.tcp_rmem", "4096\t131072\t6291456"),
        ("net.ipv4.tcp_wmem", "4096\t16384\t4194304"),
    ] {
        r.sysctls.insert(k.into(), v.into());
    }
    r
}

fn status_of(report: &seedcore_tuning::Report, id: &str) -> Status {
    report
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no item {id}"))
        .status
}

#[test]
fn a_stock_host_gets_specific_advice() {
    let report = check_all(&stock(), &Target::default());
    assert_eq!(report.link, Link::G10, "from eno1's 10000 Mb/s");
    assert!(
        report.link_source.contains("eno1"),
        "{}",
        report.link_source
    );
    assert_eq!(report.shards, 7);
    assert_eq!(report.cores, 8);
    assert_eq!(report.uid, Some(1000));
    assert_eq!(status_of(&report, "limits.nofile"), Status::Fail);
    assert_eq!(
        status_of(&report, "limits.memlock"),
        Status::Ok,
        "7 x 384 KiB < 8 MiB"
    );
    for id in [
        "net.core.wmem_max",
        "net.core.rmem_max",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_notsent_lowat",
        "net.ipv4.tcp_congestion_control",
        "net.core.default_qdisc",
        "mm.transparent_hugepage",
    ] {
        assert_eq!(status_of(&report, id), Status::Warn, "{id}");
    }
    for id in [
        "kernel.version",
        "kernel.io_uring_disabled",
        "net.core.somaxconn",
        "net.ipv4.ip_local_port_range",
        "cpu.sha1",
        "cpu.simd",
        "cpu.cores",
        "irq.eno1",
    ] {
        assert_eq!(status_of(&report, id), Status::Ok, "{id}");
    }
    assert_eq!(report.worst(), Status::Fail);
    let s = report.summary;
    assert_eq!(s.ok + s.warn + s.fail, report.checks.len());
    assert_eq!(s.fail, 1);
    // Every item that is not OK says how to fix it.
    for c in &report.checks {
        assert_eq!(c.status == Status::Ok, c.fix.is_none(), "{c:?}");
    }
    let bbr = report
        .checks
        .iter()
        .find(|c| c.id == "net.ipv4.tcp_congestion_control")
        .unwrap();
    assert!(bbr.fix.as_deref().unwrap().starts_with("modprobe tcp_bbr"));
}

#[test]
fn the_same_host_tuned_is_all_ok() {
    let mut r = stock();
    r.limits = Some(
        "Max open files  1048576  1048576  files\nMax locked memory  67108864  67108864  bytes\n"
            .into(),
    );
    r.thp_enabled = Some("always [madvise] never".into());
    let profile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sysctl/90-seedcore.conf"),
    )
    .unwrap();
    for line in profile.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if let Some((k, v)) = line.split_once('=') {
            r.sysctls.insert(k.trim().into(), v.trim().into());
        }
    }
    r.sysctls.insert(
        "net.ipv4.tcp_available_congestion_control".into(),
        "reno cubic bbr".into(),
    );
    for link in Link::ALL {
        let report = check_all(
            &r,
            &Target {
                link: Some(link),
                ..Target::default()
            },
        );
        let bad: Vec<_> = report
            .checks
            .iter()
            .filter(|c| c.status != Status::Ok)
            .collect();
        assert!(bad.is_empty(), "{link}: {bad:#?}");
    }
}

#[test]
fn json_has_the_documented_shape() {
    let report = check_all(
        &stock(),
        &Target {
            shards: Some(3),
            ..Target::default()
        },
    );
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["link"], "10g");
    assert_eq!(v["shards"], 3);
    let first = &v["checks"][0];
    assert_eq!(first["id"], "limits.nofile");
    assert_eq!(first["status"], "fail");
    for key in ["found", "wanted", "fix", "persist", "why"] {
        assert!(first.get(key).is_some(), "{key}");
    }
    assert_eq!(v["summary"]["fail"], 1);
}

#[test]
fn an_empty_reading_warns_and_never_panics() {
    let report = check_all(&Readings::default(), &Target::default());
    assert_eq!(
        report.link_source,
        "default: no NIC reports its speed; pass --link"
    );
    assert!(
        report.checks.iter().all(|c| c.status != Status::Fail),
        "{report:#?}"
    );
    assert!(report
        .checks
        .iter()
        .any(|c| c.found.starts_with("could not read")));
}
