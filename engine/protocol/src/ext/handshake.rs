//! The BEP 10 extended handshake (extended message id 0).
//!
//! Every key is optional and unknown keys are ignored, as BEP 10 requires. A
//! known key with the wrong type or an impossible value (a port over 65535, a
//! 5-byte IP address) is treated as absent, the way libtorrent does: one odd
//! field should not cost the whole connection. Only malformed bencode, or an
//! `m` dictionary with more entries than there are extended ids, is an error.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::ExtError;
use crate::bencode::{self, OwnedValue, Value};

const MSG: &str = "extended handshake";

/// Most entries accepted in `m`: ids are one byte, so 255 usable ids plus
/// disabled (0) entries is already generous.
pub const MAX_M_ENTRIES: usize = 256;
/// Longest client name (`v`) kept; a longer one is ignored.
pub const MAX_CLIENT_NAME: usize = 256;

/// The BEP 10 handshake dictionary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtendedHandshake {
    /// Extension name to the id the *sender* wants to receive it under; 0
    /// means "disabled" (in a later handshake: "turn it off").
    pub m: BTreeMap<String, u8>,
    /// The sender's TCP listen port.
    pub p: Option<u16>,
    /// Client name and version, e.g. "seedcore 0.1.0".
    pub v: Option<String>,
    /// The address the sender sees the receiver at (4 or 16 bytes on the wire).
    pub yourip: Option<IpAddr>,
    /// The sender's IPv4 address, if it has one.
    pub ipv4: Option<Ipv4Addr>,
    /// The sender's IPv6 address, if it has one.
    pub ipv6: Option<Ipv6Addr>,
    /// How many outstanding requests the sender queues without dropping any.
    pub reqq: Option<u32>,
    /// The sender prefers encrypted connections (used for PEX `added.f`).
    pub e: Option<bool>,
    /// BEP 9: size of the info dictionary in bytes, when the sender has it.
    pub metadata_size: Option<u32>,
    /// BEP 21: the sender will not download (a seed or partial seed).
    pub upload_only: Option<bool>,
}

/// The keys this codec reads, in the order of [`KEYS`].
#[derive(Clone, Copy)]
enum Key {
    M,
    P,
    V,
    YourIp,
    Ipv4,
    Ipv6,
    Reqq,
    E,
    MetadataSize,
    UploadOnly,
}

const KEYS: [&[u8]; 10] = [
    b"m",
    b"p",
    b"v",
    b"yourip",
    b"ipv4",
    b"ipv6",
    b"reqq",
    b"e",
    b"metadata_size",
    b"upload_only",
];

fn ip_from(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(b) = <[u8; 4]>::try_from(bytes) {
        Some(IpAddr::from(b))
    } else if let Ok(b) = <[u8; 16]>::try_from(bytes) {
        Some(IpAddr::from(b))
    } else {
        None
    }
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

impl ExtendedHandshake {
    /// Decodes the payload of an extended message with id 0.
    pub fn decode(payload: &[u8]) -> Result<ExtendedHandshake, ExtError> {
        let d = bencode::read_dict(payload, super::LIMITS).map_err(ExtError::bencode(MSG))?;
        // One pass over the entries, keeping the first value of each known
        // key (a lookup per key would re-read the dictionary ten times).
        let mut first: [Option<Value<'_>>; KEYS.len()] = [None; KEYS.len()];
        for (key, value) in d.iter() {
            if let Some(slot) = KEYS
                .iter()
                .position(|k| *k == key)
                .and_then(|i| first.get_mut(i))
            {
                slot.get_or_insert(value);
            }
        }
        let get = |k: Key| first.get(k as usize).copied().flatten();
        let int = |k: Key| get(k).and_then(|v| v.as_int());
        let bytes = |k: Key| get(k).and_then(|v| v.as_bytes());

        let mut m = BTreeMap::new();
        if let Some(md) = get(Key::M).and_then(|v| v.as_dict()) {
            let count = md.len();
            if count > MAX_M_ENTRIES {
                return Err(ExtError::TooMany {
                    msg: MSG,
                    field: "m",
                    count,
                    max: MAX_M_ENTRIES,
                });
            }
            for (name, value) in md.iter() {
                let id = value.as_int().and_then(|i| u8::try_from(i).ok());
                if let (Ok(name), Some(id)) = (std::str::from_utf8(name), id) {
                    // First occurrence wins, as for every other key.
                    m.entry(name.to_owned()).or_insert(id);
                }
            }
        }
        Ok(ExtendedHandshake {
            m,
            p: int(Key::P).and_then(|i| u16::try_from(i).ok()),
            v: bytes(Key::V)
                .filter(|v| v.len() <= MAX_CLIENT_NAME)
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            yourip: bytes(Key::YourIp).and_then(ip_from),
            ipv4: bytes(Key::Ipv4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(Ipv4Addr::from),
            ipv6: bytes(Key::Ipv6)
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .map(Ipv6Addr::from),
            reqq: int(Key::Reqq).and_then(|i| u32::try_from(i).ok()),
            e: int(Key::E).map(|i| i != 0),
            metadata_size: int(Key::MetadataSize).and_then(|i| u32::try_from(i).ok()),
            upload_only: int(Key::UploadOnly).map(|i| i != 0),
        })
    }

    /// The id the sender assigned to extension `name`, if it is enabled.
    pub fn id_of(&self, name: &str) -> Option<u8> {
        self.m.get(name).copied().filter(|&id| id != 0)
    }

    /// The dictionary this handshake encodes to (absent fields omitted).
    fn to_value(&self) -> OwnedValue {
        let mut d = OwnedValue::dict();
        let m = self.m.iter().fold(OwnedValue::dict(), |m, (name, id)| {
            m.with(name, OwnedValue::int(*id))
        });
        d.insert("m", m);
        let ints = [
            ("e", self.e.map(i64::from)),
            ("metadata_size", self.metadata_size.map(i64::from)),
            ("p", self.p.map(i64::from)),
            ("reqq", self.reqq.map(i64::from)),
            ("upload_only", self.upload_only.map(i64::from)),
        ];
        for (key, value) in ints {
            if let Some(n) = value {
                d.insert(key, OwnedValue::Int(n));
            }
        }
        let strings = [
            ("ipv4", self.ipv4.map(|ip| ip.octets().to_vec())),
            ("ipv6", self.ipv6.map(|ip| ip.octets().to_vec())),
            ("v", self.v.as_ref().map(|v| v.as_bytes().to_vec())),
            ("yourip", self.yourip.as_ref().map(ip_bytes)),
        ];
        for (key, value) in strings {
            if let Some(b) = value {
                d.insert(key, OwnedValue::Bytes(b));
            }
        }
        d
    }

    /// Appends the bencoded dictionary (keys sorted, absent fields omitted).
    /// Never fails; the `Result` is kept for callers written against the
    /// fallible encoder this replaced.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), ExtError> {
        self.to_value().encode_into(out);
        Ok(())
    }

    /// The bencoded dictionary in a new vector (never fails, see
    /// [`ExtendedHandshake::encode`]).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ExtError> {
        super::collect(|out| self.encode(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep10_example() {
        // The example from BEP 10 (004_*.txt).
        let raw = b"d1:md11:LT_metadatai1e6:ut_pexi2ee1:pi6881e1:v12:uTorrent 1.2e";
        let h = ExtendedHandshake::decode(raw).unwrap();
        assert_eq!(h.id_of("LT_metadata"), Some(1));
        assert_eq!(h.id_of("ut_pex"), Some(2));
        assert_eq!(h.id_of("ut_metadata"), None);
        assert_eq!(h.p, Some(6881));
        assert_eq!(h.v.as_deref(), Some("uTorrent 1.2"));
        assert_eq!(h.to_bytes().unwrap(), raw);
    }

    #[test]
    fn disabling_message_keeps_the_zero() {
        // BEP 10: "d11:LT_metadatai0ee" inside m turns the extension off.
        let h = ExtendedHandshake::decode(b"d1:md11:LT_metadatai0eee").unwrap();
        assert_eq!(h.m.get("LT_metadata"), Some(&0));
        assert_eq!(h.id_of("LT_metadata"), None);
    }

    #[test]
    fn odd_fields_are_ignored_not_fatal() {
        let raw = b"d1:ei1e4:ipv43:abc1:md1:ai300e1:bi-1e1:c1:x1:di3ee1:pi70000e\
                    4:reqqi250e11:upload_onlyi1e6:yourip4:\x7f\x00\x00\x01\
                    7:unknownld1:xi1eeee";
        let h = ExtendedHandshake::decode(raw).unwrap();
        assert_eq!(h.e, Some(true));
        assert_eq!(h.ipv4, None);
        assert_eq!(h.m.len(), 1);
        assert_eq!(h.id_of("d"), Some(3));
        assert_eq!(h.p, None);
        assert_eq!(h.reqq, Some(250));
        assert_eq!(h.upload_only, Some(true));
        assert_eq!(h.yourip, Some(IpAddr::from([127, 0, 0, 1])));
    }

    #[test]
    fn unsorted_keys_are_accepted() {
        let h = ExtendedHandshake::decode(b"d1:v1:x1:pi1e1:md1:bi2e1:ai1eee").unwrap();
        assert_eq!(
            (h.p, h.id_of("a"), h.id_of("b")),
            (Some(1), Some(1), Some(2))
        );
    }

    #[test]
    fn full_round_trip() {
        let mut h = ExtendedHandshake {
            p: Some(51413),
            v: Some("seedcore 0.1.0".into()),
            yourip: Some("2001:db8::1".parse().unwrap()),
            ipv4: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ipv6: Some("::1".parse().unwrap()),
            reqq: Some(500),
            e: Some(false),
            metadata_size: Some(12345),
            upload_only: Some(true),
            ..Default::default()
        };
        h.m.insert("ut_metadata".into(), 3);
        h.m.insert("ut_pex".into(), 1);
        let bytes = h.to_bytes().unwrap();
        assert_eq!(ExtendedHandshake::decode(&bytes).unwrap(), h);
    }

    #[test]
    fn too_many_m_entries() {
        let mut raw = b"d1:md".to_vec();
        for i in 0..=MAX_M_ENTRIES {
            raw.extend_from_slice(format!("4:{i:04}i1e").as_bytes());
        }
        raw.extend_from_slice(b"ee");
        assert!(matches!(
            ExtendedHandshake::decode(&raw),
            Err(ExtError::TooMany { field: "m", .. })
        ));
    }
}
