//! Parsers for the text formats of `/proc` and `/sys`.
//!
//! Each takes the file's text as read and returns `None` (or skips a line)
//! on anything unexpected: a host check must report "could not read", never
//! fail, on a kernel whose format differs.

use std::collections::{BTreeMap, BTreeSet};

/// The most CPUs a list or mask may name (the kernel's own `NR_CPUS`
/// maximum); bounds what a malformed list can make us allocate.
pub const MAX_CPUS: usize = 8192;

/// A resource limit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// A finite limit.
    Finite(u64),
    /// `unlimited`.
    Unlimited,
}

impl Limit {
    /// Whether the limit allows at least `n`.
    pub fn at_least(self, n: u64) -> bool {
        match self {
            Limit::Finite(v) => v >= n,
            Limit::Unlimited => true,
        }
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Finite(v) => write!(f, "{v}"),
            Limit::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// The soft and hard limit named `name` (e.g. `"Max open files"`) in the
/// text of `/proc/<pid>/limits`.
pub fn limit(limits: &str, name: &str) -> Option<(Limit, Limit)> {
    let line = limits.lines().find(|l| l.starts_with(name))?;
    let rest = line.get(name.len()..)?;
    let mut words = rest.split_whitespace();
    let one = |w: Option<&str>| match w? {
        "unlimited" => Some(Limit::Unlimited),
        v => v.parse().ok().map(Limit::Finite),
    };
    let soft = one(words.next())?;
    let hard = one(words.next())?;
    Some((soft, hard))
}

/// The value of `Field:` in `/proc/<pid>/status`, trimmed.
pub fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == field).then(|| v.trim())
    })
}

/// The effective user id (second value of `Uid:`).
pub fn effective_uid(status: &str) -> Option<u32> {
    status_field(status, "Uid")?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The effective capability set (`CapEff:`, hex).
pub fn effective_caps(status: &str) -> Option<u64> {
    u64::from_str_radix(status_field(status, "CapEff")?, 16).ok()
}

/// The supplementary groups (`Groups:`).
pub fn groups(status: &str) -> Vec<u32> {
    status_field(status, "Groups")
        .map(|g| {
            g.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A CPU list as the kernel writes it: `0-3,8,10-11`. `None` if malformed
/// or naming a CPU at or past [`MAX_CPUS`].
pub fn cpu_list(s: &str) -> Option<BTreeSet<usize>> {
    let mut cpus = BTreeSet::new();
    let s = s.trim();
    if s.is_empty() {
        return Some(cpus);
    }
    for part in s.split(',') {
        let (a, b) = match part.trim().split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let n: usize = part.trim().parse().ok()?;
                (n, n)
            }
        };
        if a > b || b >= MAX_CPUS {
            return None;
        }
        cpus.extend(a..=b);
    }
    Some(cpus)
}

/// Writes a CPU set as a list: `0-3,8`.
pub fn format_cpu_list(cpus: &BTreeSet<usize>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = cpus.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

/// A CPU mask as the kernel writes it (`rps_cpus`, `smp_affinity`): hex,
/// in comma-separated groups of 32 bits, most significant first.
pub fn cpu_mask(s: &str) -> Option<BTreeSet<usize>> {
    let digits: String = s.trim().chars().filter(|&c| c != ',').collect();
    if digits.is_empty() || digits.len() > MAX_CPUS / 4 {
        return None;
    }
    let mut cpus = BTreeSet::new();
    for (i, c) in digits.chars().rev().enumerate() {
        let nibble = c.to_digit(16)?;
        for bit in 0..4 {
            if nibble & (1 << bit) != 0 {
                cpus.insert(i * 4 + bit);
            }
        }
    }
    Some(cpus)
}

/// Writes a CPU set as a kernel mask: hex in comma-separated groups of
/// 32 bits (`3`, `ffffffff,ffffffff`), what `rps_cpus` accepts.
pub fn format_cpu_mask(cpus: &BTreeSet<usize>) -> String {
    let top = cpus.iter().next_back().copied().unwrap_or(0);
    let groups = top / 32 + 1;
    let mut words = vec![0u32; groups];
    for &c in cpus {
        if let Some(w) = words.get_mut(c / 32) {
            *w |= 1 << (c % 32);
        }
    }
    let mut out = Vec::with_capacity(groups);
    for (i, w) in words.iter().rev().enumerate() {
        out.push(if i == 0 {
            format!("{w:x}")
        } else {
            format!("{w:08x}")
        });
    }
    out.join(",")
}

/// `(major, minor, patch)` from a kernel release such as `6.18.44-fc-v669`
/// or `5.15.0-91-generic` (a missing patch level reads as 0).
pub fn kernel_version(release: &str) -> Option<(u32, u32, u32)> {
    let mut nums = release.trim().split(['.', '-', '+', '_']).map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = nums.next()??;
    let minor = nums.next()??;
    let patch = nums.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// The selected word of a `/sys` choice file: `madvise` in
/// `always [madvise] never`.
pub fn bracketed(s: &str) -> Option<&str> {
    let start = s.find('[')?;
    let rest = s.get(start + 1..)?;
    let end = rest.find(']')?;
    rest.get(..end)
}

/// Whitespace-separated unsigned numbers (`tcp_wmem`, `ip_local_port_range`).
pub fn numbers(s: &str) -> Option<Vec<u64>> {
    s.split_whitespace().map(|w| w.parse().ok()).collect()
}

/// A list of port numbers and ranges (`ip_local_reserved_ports`):
/// `6881,8000-8010`. Whether `port` is in it.
pub fn port_listed(list: &str, port: u16) -> bool {
    list.split(',').any(|part| {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                (Ok(a), Ok(b)) => (a..=b).contains(&port),
                _ => false,
            },
            None => part.parse::<u16>() == Ok(port),
        }
    })
}

/// A size as the seed configuration writes it: a bare number of bytes, or
/// with a binary `K`, `M` or `G` (`"128K"`, `"10M"`).
pub fn size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" | "kb" => 10,
        "m" | "mib" | "mb" => 20,
        "g" | "gib" | "gb" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

/// One numbered line of `/proc/interrupts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrqLine {
    /// Interrupts served, per CPU column.
    pub per_cpu: Vec<u64>,
    /// The rest of the line: controller, type and device name(s).
    pub name: String,
}

impl IrqLine {
    /// All interrupts served.
    pub fn total(&self) -> u64 {
        self.per_cpu.iter().sum()
    }

    /// The CPUs that served at least one.
    pub fn busy_cpus(&self) -> BTreeSet<usize> {
        self.per_cpu
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, _)| i)
            .collect()
    }
}

/// The numbered lines of `/proc/interrupts` (named ones such as `NMI:`
/// are not device interrupts and are skipped).
pub fn interrupts(text: &str) -> BTreeMap<u32, IrqLine> {
    let mut lines = text.lines();
    let cpus = lines.next().map_or(0, |h| {
        h.split_whitespace()
            .filter(|w| w.starts_with("CPU"))
            .count()
    });
    let mut out = BTreeMap::new();
    for line in lines {
        let Some((num, rest)) = line.trim_start().split_once(':') else {
            continue;
        };
        let Ok(irq) = num.parse::<u32>() else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let per_cpu: Vec<u64> = words
            .by_ref()
            .take(cpus)
            .map_while(|w| w.parse().ok())
            .collect();
        let name = words.collect::<Vec<_>>().join(" ");
        out.insert(irq, IrqLine { per_cpu, name });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max open files            20000                40000                files     
Max locked memory         8388608              unlimited            bytes     
";

    #[test]
    fn limits_parse() {
        assert_eq!(
            limit(LIMITS, "Max open files"),
            Some((Limit::Finite(20000), Limit::Finite(40000)))
        );
        assert_eq!(
            limit(LIMITS, "Max locked memory"),
            Some((Limit::Finite(8 << 20), Limit::Unlimited))
        );
        assert_eq!(limit(LIMITS, "Max processes"), None);
        assert!(Limit::Unlimited.at_least(u64::MAX));
        assert!(!Limit::Finite(3).at_least(4));
    }

    #[test]
    fn status_fields_parse() {
        let s = "Name:\tx\nUid:\t1000\t0\t0\t0\nGroups:\t4 27 1001 \nCapEff:\t0000000000004000\n";
        assert_eq!(effective_uid(s), Some(0));
        assert_eq!(effective_caps(s), Some(1 << 14));
        assert_eq!(groups(s), vec![4, 27, 1001]);
        assert_eq!(effective_uid("Name: x"), None);
    }

    #[test]
    fn cpu_lists_and_masks() {
        let set: BTreeSet<usize> = [0, 1, 2, 3, 8, 10, 11].into();
        assert_eq!(cpu_list("0-3,8,10-11\n"), Some(set.clone()));
        assert_eq!(format_cpu_list(&set), "0-3,8,10-11");
        assert_eq!(cpu_list(""), Some(BTreeSet::new()));
        assert_eq!(cpu_list("3-1"), None);
        assert_eq!(cpu_list("0-99999"), None);
        assert_eq!(cpu_list("x"), None);
        assert_eq!(cpu_mask("0\n"), Some(BTreeSet::new()));
        assert_eq!(cpu_mask("00000000,00000003"), Some([0, 1].into()));
        assert_eq!(cpu_mask("1,00000000"), Some([32].into()));
        assert_eq!(cpu_mask("zz"), None);
        assert_eq!(format_cpu_mask(&[0, 1].into()), "3");
        assert_eq!(format_cpu_mask(&[32, 0].into()), "1,00000001");
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v669\n"), Some((6, 18, 44)));
        assert_eq!(kernel_version("5.15.0-91-generic"), Some((5, 15, 0)));
        assert_eq!(kernel_version("5.8"), Some((5, 8, 0)));
        assert_eq!(kernel_version("4.19.0+"), Some((4, 19, 0)));
        assert_eq!(kernel_version("linux"), None);
    }

    #[test]
    fn small_formats() {
        assert_eq!(bracketed("always [madvise] never\n"), Some("madvise"));
        assert_eq!(bracketed("always madvise"), None);
        assert_eq!(
            numbers("4096\t131072\t33554432\n"),
            Some(vec![4096, 131072, 33554432])
        );
        assert_eq!(numbers("4096 x"), None);
        assert!(port_listed("6881,8000-8010", 6881));
        assert!(port_listed("6881,8000-8010", 8005));
        assert!(!port_listed("", 6881));
        assert!(!port_listed("6000-6880", 6881));
        assert_eq!(size("128K"), Some(131_072));
        assert_eq!(size("10m"), Some(10 << 20));
        assert_eq!(size("4096"), Some(4096));
        assert_eq!(size("1T"), None);
        assert_eq!(size("99999999999999G"), None);
        assert_eq!(size(""), None);
    }

    #[test]
    fn interrupts_parse() {
        let text = "           CPU0       CPU1       \n \
            38:          0       5649 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0\n \
            39:       4991          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0\n\
            NMI:          0          0   Non-maskable interrupts\n";
        let irqs = interrupts(text);
        assert_eq!(irqs.len(), 2);
        let l = &irqs[&38];
        assert_eq!(l.per_cpu, vec![0, 5649]);
        assert_eq!(l.total(), 5649);
        assert_eq!(l.busy_cpus(), [1].into());
        assert!(l.name.ends_with("virtio2-input.0"), "{}", l.name);
    }

    proptest! {
        #[test]
        fn cpu_list_and_mask_round_trip(cpus in proptest::collection::btree_set(0usize..300, 0..40)) {
            prop_assert_eq!(cpu_list(&format_cpu_list(&cpus)), Some(cpus.clone()));
            prop_assert_eq!(cpu_mask(&format_cpu_mask(&cpus)), Some(cpus));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,80}") {
            let _ = cpu_list(&s);
            let _ = cpu_mask(&s);
            let _ = kernel_version(&s);
            let _ = bracketed(&s);
            let _ = interrupts(&s);
            let _ = limit(&s, "Max open files");
            let _ = port_listed(&s, 6881);
            let _ = size(&s);
        }
    }
}
