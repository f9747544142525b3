//! The link a host is tuned for, and the buffer sizes that follow from it.
//!
//! # The arithmetic
//!
//! A TCP sender can have at most one socket buffer of data in flight, so a
//! connection that should run at rate `R` over a path with round-trip time
//! `RTT` needs a buffer of at least the bandwidth-delay product
//! `BDP = R x RTT / 8` bytes. The kernel grows each socket's buffer on its
//! own (autotuning) up to the third value of `net.ipv4.tcp_wmem` /
//! `tcp_rmem`; `net.core.wmem_max` / `rmem_max` cap what a program may ask
//! for with `SO_SNDBUF` / `SO_RCVBUF`. A high maximum costs nothing for a
//! connection that does not need it: only connections to far, fast peers
//! grow that large, and `net.ipv4.tcp_mem` still bounds the total.
//!
//! - `RTT` is [`DESIGN_RTT_MS`] (100 ms): a peer on another continent.
//! - `R` is the link speed, but at most [`PER_CONNECTION_CAP_BPS`]
//!   (10 Gbit/s): no single remote peer takes more across a WAN; past that
//!   a link is filled by many peers, which needs more connections, not
//!   bigger buffers.
//! - The result is rounded up to a power of two.
//!
//! | link | R | BDP at 100 ms | buffer maximum |
//! | --- | --- | --- | --- |
//! | 1g | 1 Gbit/s | 12.5 MB | 16 MiB (16777216) |
//! | 10g | 10 Gbit/s | 125 MB | 128 MiB (134217728) |
//! | 100g | 10 Gbit/s (cap) | 125 MB | 128 MiB (134217728) |
//!
//! `net.ipv4.tcp_notsent_lowat` is not a buffer size and does not follow
//! the link: see `checks::notsent_lowat`.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The round-trip time buffers are sized for, in milliseconds.
pub const DESIGN_RTT_MS: u64 = 100;

/// The most one connection is expected to carry, in bits per second.
pub const PER_CONNECTION_CAP_BPS: u64 = 10_000_000_000;

/// A link speed class (`--link`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Link {
    /// 1 Gbit/s.
    #[serde(rename = "1g")]
    G1,
    /// 10 Gbit/s.
    #[serde(rename = "10g")]
    G10,
    /// 100 Gbit/s.
    #[serde(rename = "100g")]
    G100,
}

/// A `--link` value that is not `1g`, `10g` or `100g`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("link speed {given:?}: expected 1g, 10g or 100g")]
pub struct BadLink {
    /// What was given.
    pub given: String,
}

impl Link {
    /// Every class, slowest first.
    pub const ALL: [Link; 3] = [Link::G1, Link::G10, Link::G100];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Link::G1 => "1g",
            Link::G10 => "10g",
            Link::G100 => "100g",
        }
    }

    /// The link's rate in bits per second.
    pub fn bits_per_second(self) -> u64 {
        match self {
            Link::G1 => 1_000_000_000,
            Link::G10 => 10_000_000_000,
            Link::G100 => 100_000_000_000,
        }
    }

    /// The class for a NIC's reported speed (`/sys/class/net/*/speed`, in
    /// Mbit/s): the smallest class at least that fast.
    pub fn from_mbit(mbit: u64) -> Link {
        match mbit {
            0..=1_000 => Link::G1,
            1_001..=10_000 => Link::G10,
            _ => Link::G100,
        }
    }

    /// The rate one connection is planned for: the link, capped at
    /// [`PER_CONNECTION_CAP_BPS`].
    pub fn per_connection_bps(self) -> u64 {
        self.bits_per_second().min(PER_CONNECTION_CAP_BPS)
    }

    /// The bandwidth-delay product of one connection, in bytes.
    pub fn bdp_bytes(self) -> u64 {
        self.per_connection_bps() / 8 * DESIGN_RTT_MS / 1000
    }

    /// The wanted maximum socket buffer (`rmem_max`, `wmem_max` and the
    /// third value of `tcp_rmem` / `tcp_wmem`), in bytes.
    pub fn buffer_max(self) -> u64 {
        self.bdp_bytes().next_power_of_two()
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Link {
    type Err = BadLink;
    fn from_str(s: &str) -> Result<Link, BadLink> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_suffix("bit").unwrap_or(&t);
        Link::ALL
            .into_iter()
            .find(|l| l.name() == t)
            .ok_or_else(|| BadLink { given: s.into() })
    }
}

/// `134217728 (128 MiB)`: a byte count as the kernel wants it, and as
/// people read it.
pub fn bytes_human(n: u64) -> String {
    match binary_unit(n) {
        Some((v, u)) => format!("{n} ({v} {u})"),
        None => n.to_string(),
    }
}

/// `128 MiB`, or the plain number when it is not a whole number of KiB.
pub fn bytes_short(n: u64) -> String {
    match binary_unit(n) {
        Some((v, u)) => format!("{v} {u}"),
        None => n.to_string(),
    }
}

fn binary_unit(n: u64) -> Option<(u64, &'static str)> {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        Some((n >> 30, "GiB"))
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        Some((n >> 20, "MiB"))
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        Some((n >> 10, "KiB"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_sizes_follow_the_documented_table() {
        assert_eq!(Link::G1.bdp_bytes(), 12_500_000);
        assert_eq!(Link::G1.buffer_max(), 16 << 20);
        assert_eq!(Link::G10.bdp_bytes(), 125_000_000);
        assert_eq!(Link::G10.buffer_max(), 128 << 20);
        assert_eq!(Link::G100.per_connection_bps(), PER_CONNECTION_CAP_BPS);
        assert_eq!(Link::G100.buffer_max(), 128 << 20);
    }

    #[test]
    fn links_parse_and_classify() {
        assert_eq!("10g".parse::<Link>(), Ok(Link::G10));
        assert_eq!("100G".parse::<Link>(), Ok(Link::G100));
        assert_eq!("1gbit".parse::<Link>(), Ok(Link::G1));
        assert!("40g".parse::<Link>().is_err());
        assert!("".parse::<Link>().is_err());
        assert_eq!(Link::from_mbit(100), Link::G1);
        assert_eq!(Link::from_mbit(1000), Link::G1);
        assert_eq!(Link::from_mbit(2500), Link::G10);
        assert_eq!(Link::from_mbit(25_000), Link::G100);
        for l in Link::ALL {
            assert_eq!(l.to_string().parse::<Link>(), Ok(l));
        }
    }

    #[test]
    fn bytes_read_both_ways() {
        assert_eq!(bytes_human(134_217_728), "134217728 (128 MiB)");
        assert_eq!(bytes_human(131_072), "131072 (128 KiB)");
        assert_eq!(bytes_human(1 << 30), "1073741824 (1 GiB)");
        assert_eq!(bytes_human(4095), "4095");
        assert_eq!(bytes_human(0), "0");
        assert_eq!(bytes_short(8 << 20), "8 MiB");
        assert_eq!(bytes_short(1000), "1000");
    }
}
