//! The IP blocklist: address ranges whose peers are refused before a byte
//! of their handshake is read, and never dialled.
//!
//! # Formats
//!
//! The two text formats qBittorrent loads (and that lists made for
//! libtorrent-based clients come in), IPv4 and IPv6 ranges in both, mixed
//! freely in one file:
//!
//! - **eMule `ipfilter.dat`**: `FIRST - LAST , ACCESS , DESCRIPTION`.
//!   Addresses may carry leading zeros (`001.002.003.004`). As in eMule and
//!   qBittorrent, a range blocks only when its access level is 127 or less
//!   (a level above 127 means "allowed").
//! - **PeerGuardian P2P text**: `DESCRIPTION:FIRST-LAST`; the description
//!   may itself hold colons.
//!
//! Empty lines and lines starting with `#` or `//` are comments. A line in
//! neither format is skipped and counted (the count is reported), never
//! fatal: one bad line in a 300,000-line list must not leave the node
//! unprotected. Ranges are sorted and merged, so a lookup is one binary
//! search (about 18 steps for a large list). IPv4-mapped IPv6 addresses are
//! looked up as the IPv4 address they are.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// The largest blocklist file read (large public lists are about 10 MiB).
pub const MAX_BLOCKLIST_BYTES: u64 = 256 << 20;

/// A loaded blocklist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blocklist {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    skipped: usize,
    path: Option<PathBuf>,
}

/// Why a blocklist could not be loaded (the old one stays in force).
#[derive(Debug, thiserror::Error)]
pub enum BlocklistError {
    /// The file could not be read.
    #[error("cannot read the blocklist {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_BLOCKLIST_BYTES`].
    #[error("the blocklist {path} is {size} bytes, over the {MAX_BLOCKLIST_BYTES}-byte limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Not one line of the file was a range.
    #[error("the blocklist {path} holds no range in the eMule ipfilter.dat or P2P format ({skipped} lines skipped)")]
    Empty {
        /// The file.
        path: PathBuf,
        /// Lines that were not ranges.
        skipped: usize,
    },
}

impl Blocklist {
    /// Reads a blocklist file.
    pub fn load(path: &Path) -> Result<Blocklist, BlocklistError> {
        use std::io::Read;
        let io = |source| BlocklistError::Io {
            path: path.to_path_buf(),
            source,
        };
        let f = crate::fsutil::open_regular(path).map_err(io)?;
        let size = f.metadata().map_err(io)?.len();
        if size > MAX_BLOCKLIST_BYTES {
            return Err(BlocklistError::TooLarge {
                path: path.to_path_buf(),
                size,
            });
        }
        let mut bytes = Vec::new();
        f.take(MAX_BLOCKLIST_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut list = Blocklist::parse(&text);
        if list.is_empty() {
            return Err(BlocklistError::Empty {
                path: path.to_path_buf(),
                skipped: list.skipped,
            });
        }
        list.path = Some(path.to_path_buf());
        Ok(list)
    }

    /// Parses the text of a blocklist (both formats, see the module doc).
    pub fn parse(text: &str) -> Blocklist {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        let mut skipped = 0;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
                continue;
            }
            match parse_line(line) {
                Some(Some((IpAddr::V4(a), IpAddr::V4(b)))) => {
                    let (a, b) = (u32::from(a), u32::from(b));
                    v4.push((a.min(b), a.max(b)));
                }
                Some(Some((IpAddr::V6(a), IpAddr::V6(b)))) => {
                    let (a, b) = (u128::from(a), u128::from(b));
                    v6.push((a.min(b), a.max(b)));
                }
                // An allowed range (access level above 127).
                Some(None) => {}
                _ => skipped += 1,
            }
        }
        Blocklist {
            v4: merge(v4),
            v6: merge(v6),
            skipped,
            path: None,
        }
    }

    /// Whether `ip` is blocked.
    pub fn blocks(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => contains(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => contains(&self.v4, u32::from(v4)),
                None => contains(&self.v6, u128::from(a)),
            },
        }
    }

    /// No range at all.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// IPv4 ranges after merging.
    pub fn ranges_v4(&self) -> usize {
        self.v4.len()
    }

    /// IPv6 ranges after merging.
    pub fn ranges_v6(&self) -> usize {
        self.v6.len()
    }

    /// Lines that were not understood.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The file it came from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

/// One line: `Some(Some(range))` blocks, `Some(None)` is an allowed range,
/// `None` is not understood.
fn parse_line(line: &str) -> Option<Option<(IpAddr, IpAddr)>> {
    // eMule: "FIRST - LAST , ACCESS , DESCRIPTION".
    let mut fields = line.splitn(3, ',');
    let range = fields.next()?;
    if let Some(access) = fields.next() {
        if let Some((a, b)) = range.split_once(" - ").or_else(|| range.split_once('-')) {
            if let (Some(a), Some(b)) = (ip(a), ip(b)) {
                let level: u32 = access.trim().parse().ok()?;
                return Some((level <= 127 && same_family(a, b)).then_some((a, b)));
            }
        }
    }
    // P2P: "DESCRIPTION:FIRST-LAST" (the description may hold ':').
    let (head, last) = line.rsplit_once('-')?;
    let b = ip(last)?;
    let a = head
        .match_indices(':')
        .find_map(|(i, _)| head.get(i + 1..).and_then(ip))?;
    same_family(a, b).then_some(Some((a, b)))
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// An address, IPv4 with leading zeros allowed (`001.002.003.004`).
fn ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::from(octets)))
}

/// Sorts ranges and merges those that overlap or touch.
fn merge<T: Copy + Ord + num::Step>(mut v: Vec<(T, T)>) -> Vec<(T, T)> {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.next_or_max() => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out.shrink_to_fit();
    out
}

fn contains<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|(a, _)| *a <= x);
    i > 0 && ranges.get(i - 1).is_some_and(|(_, b)| x <= *b)
}

mod num {
    /// The next value, saturating (merging `[a, b]` with `[b + 1, c]`).
    pub(super) trait Step {
        fn next_or_max(self) -> Self;
    }
    impl Step for u32 {
        fn next_or_max(self) -> u32 {
            self.saturating_add(1)
        }
    }
    impl Step for u128 {
        fn next_or_max(self) -> u128 {
            self.saturating_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn emule_and_p2p_lines_ipv4_and_ipv6() {
        let text = "\
# comment
// another
001.002.003.000 - 001.002.003.255 , 000 , Some ISP
010.000.000.000 - 010.000.000.009 , 200 , allowed (level > 127)
2001:db8:: - 2001:db8::ffff , 100 , v6 in dat
Evil corp: ranges:127.0.0.5-127.0.0.6
v6 p2p:2001:db8:1::-2001:db8:1::ff
garbage line
1.2.3.4 - 1.2.3.5 , abc , bad level
";
        let b = Blocklist::parse(text);
        assert_eq!(b.skipped(), 2, "{b:?}");
        assert!(b.blocks(ip("1.2.3.0")) && b.blocks(ip("1.2.3.255")));
        assert!(!b.blocks(ip("1.2.4.0")) && !b.blocks(ip("1.2.2.255")));
        assert!(!b.blocks(ip("10.0.0.5")), "level 200 allows");
        assert!(b.blocks(ip("127.0.0.5")) && b.blocks(ip("127.0.0.6")));
        assert!(!b.blocks(ip("127.0.0.1")) && !b.blocks(ip("127.0.0.7")));
        assert!(b.blocks(ip("2001:db8::1")) && !b.blocks(ip("2001:db8::1:0")));
        assert!(b.blocks(ip("2001:db8:1::80")));
        assert!(
            b.blocks(ip("::ffff:127.0.0.5")),
            "v4-mapped is looked up as v4"
        );
        assert_eq!(b.ranges_v4(), 2);
        assert_eq!(b.ranges_v6(), 2);
    }

    #[test]
    fn overlapping_and_touching_ranges_merge() {
        let b = Blocklist::parse(
            "a:1.0.0.0-1.0.0.10\nb:1.0.0.5-1.0.0.20\nc:1.0.0.21-1.0.0.30\nd:0.0.0.0-0.0.0.0\ne:255.255.255.255-255.255.255.255\n",
        );
        assert_eq!(b.ranges_v4(), 3);
        for x in [
            "1.0.0.0",
            "1.0.0.15",
            "1.0.0.30",
            "0.0.0.0",
            "255.255.255.255",
        ] {
            assert!(b.blocks(ip(x)), "{x}");
        }
        assert!(!b.blocks(ip("1.0.0.31")));
    }

    #[test]
    fn a_file_with_no_range_is_refused_and_a_missing_one_too() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("list.p2p");
        std::fs::write(&p, "nothing here\n").unwrap();
        assert!(matches!(
            Blocklist::load(&p),
            Err(BlocklistError::Empty { skipped: 1, .. })
        ));
        assert!(matches!(
            Blocklist::load(&dir.path().join("missing")),
            Err(BlocklistError::Io { .. })
        ));
        std::fs::write(&p, "x:127.0.0.2-127.0.0.2\n").unwrap();
        let b = Blocklist::load(&p).unwrap();
        assert_eq!(b.path(), Some(p.as_path()));
        assert!(b.blocks(ip("127.0.0.2")));
    }
}
