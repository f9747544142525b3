//! `ut_pex` peer exchange (BEP 11): peers added and dropped since the last
//! message, in compact form (6 bytes per IPv4 peer, 18 per IPv6 peer), with
//! one flag byte per added peer.
//!
//! The number of peers is bounded before anything is allocated: the count is
//! the string length divided by the entry size, checked against the caller's
//! limit ([`DEFAULT_MAX_PEERS`] by default). uTorrent keeps at most 200 peers
//! per message and libtorrent sends at most 50 added, so a message over the
//! bound is not from a well-behaved client.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use super::error::ExtError;
use crate::bencode::{self, Dict, OwnedValue};

const MSG: &str = "ut_pex";

/// Default bound on entries in each of the six lists.
pub const DEFAULT_MAX_PEERS: usize = 1000;

/// The `added.f` flag byte of a peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PexFlags(pub u8);

impl PexFlags {
    /// The peer prefers encryption.
    pub const ENCRYPTION: u8 = 0x01;
    /// The peer is a seed or upload-only.
    pub const SEED: u8 = 0x02;
    /// The peer supports uTP.
    pub const UTP: u8 = 0x04;
    /// The peer supports the holepunch extension (BEP 55).
    pub const HOLEPUNCH: u8 = 0x08;
    /// The peer is reachable: the sender connected to it (outgoing).
    pub const REACHABLE: u8 = 0x10;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    /// Whether [`PexFlags::ENCRYPTION`] is set.
    pub fn encryption(self) -> bool {
        self.has(Self::ENCRYPTION)
    }
    /// Whether [`PexFlags::SEED`] is set.
    pub fn seed(self) -> bool {
        self.has(Self::SEED)
    }
    /// Whether [`PexFlags::UTP`] is set.
    pub fn utp(self) -> bool {
        self.has(Self::UTP)
    }
    /// Whether [`PexFlags::HOLEPUNCH`] is set.
    pub fn holepunch(self) -> bool {
        self.has(Self::HOLEPUNCH)
    }
    /// Whether [`PexFlags::REACHABLE`] is set.
    pub fn reachable(self) -> bool {
        self.has(Self::REACHABLE)
    }
}

/// One `ut_pex` message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UtPex {
    /// `added` + `added.f`: IPv4 peers and their flags.
    pub added: Vec<(SocketAddrV4, PexFlags)>,
    /// `added6` + `added6.f`: IPv6 peers and their flags.
    pub added6: Vec<(SocketAddrV6, PexFlags)>,
    /// `dropped`: IPv4 peers gone.
    pub dropped: Vec<SocketAddrV4>,
    /// `dropped6`: IPv6 peers gone.
    pub dropped6: Vec<SocketAddrV6>,
}

fn v4(c: &[u8]) -> Option<SocketAddrV4> {
    let (ip, port) = c.split_first_chunk::<4>()?;
    let port = <[u8; 2]>::try_from(port).ok()?;
    Some(SocketAddrV4::new(
        Ipv4Addr::from(*ip),
        u16::from_be_bytes(port),
    ))
}

fn v6(c: &[u8]) -> Option<SocketAddrV6> {
    let (ip, port) = c.split_first_chunk::<16>()?;
    let port = <[u8; 2]>::try_from(port).ok()?;
    Some(SocketAddrV6::new(
        Ipv6Addr::from(*ip),
        u16::from_be_bytes(port),
        0,
        0,
    ))
}

fn put_v4(out: &mut Vec<u8>, a: &SocketAddrV4) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn put_v6(out: &mut Vec<u8>, a: &SocketAddrV6) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

/// Reads one compact list, bounded by `max` entries before allocating.
fn compact<T>(
    d: &Dict<'_>,
    field: &'static str,
    unit: usize,
    max: usize,
    parse: fn(&[u8]) -> Option<T>,
) -> Result<Vec<T>, ExtError> {
    let Some(raw) = d.bytes(field.as_bytes()) else {
        return Ok(Vec::new());
    };
    if raw.len() % unit != 0 {
        return Err(ExtError::BadLength {
            msg: MSG,
            field,
            len: raw.len(),
            unit,
        });
    }
    let count = raw.len() / unit;
    if count > max {
        return Err(ExtError::TooMany {
            msg: MSG,
            field,
            count,
            max,
        });
    }
    Ok(raw.chunks_exact(unit).filter_map(parse).collect())
}

/// Pairs peers with their flags; missing flags (a short or absent `.f`
/// string, as some clients send) count as no flags.
fn with_flags<T>(peers: Vec<T>, flags: Option<&[u8]>) -> Vec<(T, PexFlags)> {
    let flags = flags.unwrap_or_default();
    peers
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, PexFlags(flags.get(i).copied().unwrap_or(0))))
        .collect()
}

impl UtPex {
    /// Decodes a `ut_pex` payload with the default bound on peers per list.
    pub fn decode(payload: &[u8]) -> Result<UtPex, ExtError> {
        UtPex::decode_with_limit(payload, DEFAULT_MAX_PEERS)
    }

    /// Decodes a `ut_pex` payload, refusing any list with more than
    /// `max_peers` entries.
    pub fn decode_with_limit(payload: &[u8], max_peers: usize) -> Result<UtPex, ExtError> {
        let d = bencode::read_dict(payload, super::LIMITS).map_err(ExtError::bencode(MSG))?;
        let added = compact(&d, "added", 6, max_peers, v4)?;
        let added6 = compact(&d, "added6", 18, max_peers, v6)?;
        Ok(UtPex {
            added: with_flags(added, d.bytes(b"added.f")),
            added6: with_flags(added6, d.bytes(b"added6.f")),
            dropped: compact(&d, "dropped", 6, max_peers, v4)?,
            dropped6: compact(&d, "dropped6", 18, max_peers, v6)?,
        })
    }

    /// Whether the message carries nothing (then it need not be sent).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.added6.is_empty()
            && self.dropped.is_empty()
            && self.dropped6.is_empty()
    }

    /// Appends the bencoded payload. All six keys are always written, as
    /// libtorrent does, so receivers that expect them find them. Never
    /// fails; the `Result` is kept for existing callers.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), ExtError> {
        let mut added = Vec::with_capacity(self.added.len() * 6);
        let mut added6 = Vec::with_capacity(self.added6.len() * 18);
        let mut dropped = Vec::with_capacity(self.dropped.len() * 6);
        let mut dropped6 = Vec::with_capacity(self.dropped6.len() * 18);
        self.added.iter().for_each(|(a, _)| put_v4(&mut added, a));
        self.added6.iter().for_each(|(a, _)| put_v6(&mut added6, a));
        self.dropped.iter().for_each(|a| put_v4(&mut dropped, a));
        self.dropped6.iter().for_each(|a| put_v6(&mut dropped6, a));
        let added_f: Vec<u8> = self.added.iter().map(|(_, f)| f.0).collect();
        let added6_f: Vec<u8> = self.added6.iter().map(|(_, f)| f.0).collect();
        OwnedValue::dict()
            .with("added", OwnedValue::Bytes(added))
            .with("added.f", OwnedValue::Bytes(added_f))
            .with("added6", OwnedValue::Bytes(added6))
            .with("added6.f", OwnedValue::Bytes(added6_f))
            .with("dropped", OwnedValue::Bytes(dropped))
            .with("dropped6", OwnedValue::Bytes(dropped6))
            .encode_into(out);
        Ok(())
    }

    /// The payload in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, ExtError> {
        super::collect(|out| self.encode(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_compact_peers_and_flags() {
        let raw = b"d5:added12:\x7f\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x507:added.f2:\x03\x12\
                    7:dropped6:\x01\x02\x03\x04\x00\x01e";
        let p = UtPex::decode(raw).unwrap();
        assert_eq!(p.added.len(), 2);
        assert_eq!(p.added[0].0, "127.0.0.1:6881".parse().unwrap());
        assert!(p.added[0].1.encryption() && p.added[0].1.seed() && !p.added[0].1.utp());
        assert_eq!(p.added[1].0, "10.0.0.2:80".parse().unwrap());
        assert!(p.added[1].1.reachable() && p.added[1].1.seed() && !p.added[1].1.holepunch());
        assert_eq!(p.dropped, vec!["1.2.3.4:1".parse().unwrap()]);
        assert!(p.added6.is_empty() && p.dropped6.is_empty());
    }

    #[test]
    fn missing_flags_mean_none() {
        let raw = b"d5:added6:\x7f\x00\x00\x01\x1a\xe1e";
        let p = UtPex::decode(raw).unwrap();
        assert_eq!(p.added[0].1, PexFlags(0));
    }

    #[test]
    fn round_trip_v6() {
        let p = UtPex {
            added6: vec![(
                "[2001:db8::7]:51413".parse().unwrap(),
                PexFlags(PexFlags::UTP | PexFlags::HOLEPUNCH),
            )],
            dropped6: vec!["[::1]:1".parse().unwrap()],
            ..Default::default()
        };
        let raw = p.to_vec().unwrap();
        assert!(raw.starts_with(b"d5:added0:7:added.f0:6:added618:"));
        assert_eq!(UtPex::decode(&raw).unwrap(), p);
        assert!(!p.is_empty() && UtPex::default().is_empty());
    }

    #[test]
    fn bounds_and_bad_lengths() {
        let mut raw = b"d5:added".to_vec();
        raw.extend_from_slice(b"18:");
        raw.extend_from_slice(&[1; 18]);
        raw.push(b'e');
        assert!(UtPex::decode_with_limit(&raw, 3).is_ok());
        assert_eq!(
            UtPex::decode_with_limit(&raw, 2),
            Err(ExtError::TooMany {
                msg: "ut_pex",
                field: "added",
                count: 3,
                max: 2
            })
        );
        assert_eq!(
            UtPex::decode(b"d8:dropped65:abcdee"),
            Err(ExtError::BadLength {
                msg: "ut_pex",
                field: "dropped6",
                len: 5,
                unit: 18
            })
        );
    }
}
