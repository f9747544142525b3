//! Where a NIC's interrupts land.
//!
//! Receive processing (and with it the ACKs that open a sender's window)
//! runs in softirq context on the CPU that took the interrupt. Shards split
//! peers by `SO_REUSEPORT` hash, so with several shards the receive work
//! should be spread too: one interrupt vector per queue on different
//! cores (RSS), or, for a single-queue NIC, Receive Packet Steering.

use std::collections::{BTreeMap, BTreeSet};

use super::{Check, Status};
use crate::parse::{self, format_cpu_list, format_cpu_mask, IrqLine};
use crate::reading::NicReading;

/// The id of the item reported when no NIC interrupts are visible.
pub const IRQ_NONE_ID: &str = "irq";

const WANTED: &str = "queue interrupts spread over the shard cores (RSS), or RPS on a \
                      single-queue NIC";
const WHY: &str = "receive and ACK processing runs on the CPU that takes the interrupt: \
                   with all of it on one core, that core limits every shard";

/// One NIC's interrupts against the cores the shards use.
pub fn irq(
    nic: &NicReading,
    lines: &BTreeMap<u32, IrqLine>,
    cpus: &BTreeSet<usize>,
    shards: usize,
    irqbalance: bool,
) -> Check {
    let id = format!("irq.{}", nic.name);
    // Vectors that never fired (configuration, events) say nothing.
    let mut active: Vec<u32> = nic
        .irqs
        .iter()
        .copied()
        .filter(|i| lines.get(i).is_some_and(|l| l.total() > 0))
        .collect();
    if active.is_empty() {
        active.clone_from(&nic.irqs);
    }
    let mut handled = BTreeSet::new();
    for i in &active {
        let from_affinity = nic.irq_affinity.get(i).and_then(|a| parse::cpu_list(a));
        match from_affinity {
            Some(set) if !set.is_empty() => handled.extend(set),
            _ => handled.extend(lines.get(i).map(IrqLine::busy_cpus).unwrap_or_default()),
        }
    }
    let rps: BTreeSet<usize> = nic
        .rps_cpus
        .iter()
        .filter_map(|m| parse::cpu_mask(m))
        .flatten()
        .collect();
    let mut found = format!(
        "{} rx queue(s), {} active IRQ(s) on CPU {}",
        nic.rx_queues,
        active.len(),
        if handled.is_empty() {
            "?".to_string()
        } else {
            format_cpu_list(&handled)
        }
    );
    if nic.rx_queues <= 1 {
        if rps.is_empty() {
            found.push_str(", RPS off");
        } else {
            found.push_str(&format!(", RPS on CPU {}", format_cpu_list(&rps)));
        }
    }
    if irqbalance {
        found.push_str(", irqbalance running");
    }
    let ok = |found: String| Check::new(&id, Status::Ok, found, WANTED, WHY);
    // One core, or one shard: there is nothing to spread the work over.
    if cpus.len() <= 1 || shards <= 1 {
        return ok(found);
    }
    let balancer = if irqbalance {
        " (stop irqbalance, or it may move them back)"
    } else {
        ""
    };
    if nic.rx_queues <= 1 {
        if !rps.is_empty() || handled.len() > 1 {
            return ok(found);
        }
        let mask = format_cpu_mask(cpus);
        return Check::new(&id, Status::Warn, found, WANTED, WHY)
            .fix(format!(
                "echo {mask} > /sys/class/net/{}/queues/rx-0/rps_cpus",
                nic.name
            ))
            .persist("the same echo at boot (a oneshot unit or a udev rule for the NIC)");
    }
    if handled.len() > 1 || active.len() <= 1 {
        return ok(found);
    }
    let fix: Vec<String> = active
        .iter()
        .zip(cpus.iter().cycle())
        .map(|(irq, cpu)| format!("echo {cpu} > /proc/irq/{irq}/smp_affinity_list"))
        .collect();
    Check::new(&id, Status::Warn, found, WANTED, WHY)
        .fix(format!("{}{balancer}", fix.join(" && ")))
        .persist(
            "the same echoes at boot (a oneshot unit), with irqbalance off or told to skip them",
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> BTreeMap<u32, IrqLine> {
        parse::interrupts(text)
    }

    /// This VM: virtio, one queue pair, input on CPU 1, output on CPU 0.
    fn virtio() -> (NicReading, BTreeMap<u32, IrqLine>) {
        let nic = NicReading {
            name: "eth0".into(),
            rx_queues: 1,
            tx_queues: 1,
            rps_cpus: vec!["0".into()],
            irqs: vec![37, 38, 39],
            irq_affinity: [(37, "0"), (38, "1"), (39, "0")]
                .into_iter()
                .map(|(i, a)| (i, a.to_string()))
                .collect(),
            ..NicReading::default()
        };
        let l = lines(
            "  CPU0 CPU1\n 37: 0 0 PCI-MSIX virtio2-config\n \
             38: 0 5649 PCI-MSIX virtio2-input.0\n 39: 4991 0 PCI-MSIX virtio2-output.0\n",
        );
        (nic, l)
    }

    #[test]
    fn one_shard_needs_no_spreading() {
        let (nic, l) = virtio();
        let c = irq(&nic, &l, &[0, 1].into(), 1, false);
        assert_eq!(c.status, Status::Ok);
        assert_eq!(c.id, "irq.eth0");
        assert_eq!(
            c.found,
            "1 rx queue(s), 2 active IRQ(s) on CPU 0-1, RPS off"
        );
    }

    #[test]
    fn single_queue_on_one_core_wants_rps() {
        let (mut nic, l) = virtio();
        nic.irq_affinity.insert(38, "0".into());
        let cpus: BTreeSet<usize> = (0..4).collect();
        let c = irq(&nic, &l, &cpus, 3, false);
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert_eq!(
            c.fix.as_deref(),
            Some("echo f > /sys/class/net/eth0/queues/rx-0/rps_cpus")
        );
        nic.rps_cpus = vec!["e".into()];
        let on = irq(&nic, &l, &cpus, 3, false);
        assert_eq!(on.status, Status::Ok);
        assert!(on.found.contains("RPS on CPU 1-3"), "{}", on.found);
    }

    #[test]
    fn multi_queue_all_on_one_core_gets_spread() {
        let nic = NicReading {
            name: "ens5".into(),
            rx_queues: 4,
            tx_queues: 4,
            irqs: vec![60, 61, 62, 63, 64],
            irq_affinity: (60..=64).map(|i| (i, "0".to_string())).collect(),
            ..NicReading::default()
        };
        let l = lines(
            "  CPU0 CPU1 CPU2 CPU3\n 60: 5 0 0 0 x ens5-TxRx-0\n 61: 5 0 0 0 x ens5-TxRx-1\n \
             62: 5 0 0 0 x ens5-TxRx-2\n 63: 5 0 0 0 x ens5-TxRx-3\n 64: 0 0 0 0 x ens5\n",
        );
        let cpus: BTreeSet<usize> = (0..4).collect();
        let c = irq(&nic, &l, &cpus, 3, true);
        assert_eq!(c.status, Status::Warn);
        assert!(c.found.ends_with("irqbalance running"), "{}", c.found);
        let fix = c.fix.unwrap();
        assert!(
            fix.starts_with(
                "echo 0 > /proc/irq/60/smp_affinity_list && echo 1 > /proc/irq/61/smp_affinity_list \
                 && echo 2 > /proc/irq/62/smp_affinity_list && echo 3 > /proc/irq/63/smp_affinity_list"
            ),
            "{fix}"
        );
        assert!(
            !fix.contains("/64/"),
            "the idle vector is left alone: {fix}"
        );
        assert!(fix.contains("irqbalance"));

        let mut spread = nic.clone();
        for (n, i) in (60..=63).enumerate() {
            spread.irq_affinity.insert(i, n.to_string());
        }
        assert_eq!(irq(&spread, &l, &cpus, 3, false).status, Status::Ok);
    }

    #[test]
    fn counts_stand_in_for_unreadable_affinity() {
        let (mut nic, l) = virtio();
        nic.irq_affinity.clear();
        let c = irq(&nic, &l, &[0, 1].into(), 1, false);
        assert!(c.found.contains("on CPU 0-1"), "{}", c.found);
    }
}
