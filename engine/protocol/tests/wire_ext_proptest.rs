//! Property tests of the extension messages: encode then decode gives the
//! same value, and no input makes a decoder panic.

// Test code: a failed expectation should panic with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use proptest::prelude::*;
use seedcore_protocol::bencode::{self, Limits};
use seedcore_protocol::ext::{
    AzureusExtendedList, ExtendedHandshake, LtDontHave, LtMetadata, PexFlags, UtMetadata, UtPex,
};

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn handshake() -> impl Strategy<Value = ExtendedHandshake> {
    (
        prop::collection::btree_map("[a-zA-Z_]{1,20}", any::<u8>(), 0..12),
        prop::option::of(any::<u16>()),
        prop::option::of("\\PC{0,40}"),
        prop::option::of(ip()),
        prop::option::of(any::<[u8; 4]>().prop_map(Ipv4Addr::from)),
        prop::option::of(any::<[u8; 16]>().prop_map(Ipv6Addr::from)),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(m, p, v, yourip, ipv4, ipv6, reqq, e, metadata_size, upload_only)| {
                ExtendedHandshake {
                    m,
                    p,
                    v,
                    yourip,
                    ipv4,
                    ipv6,
                    reqq,
                    e,
                    metadata_size,
                    upload_only,
                }
            },
        )
}

fn pex() -> impl Strategy<Value = UtPex> {
    let v4 = (any::<[u8; 4]>(), any::<u16>()).prop_map(|(i, p)| SocketAddrV4::new(i.into(), p));
    let v6 =
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(i, p)| SocketAddrV6::new(i.into(), p, 0, 0));
    let flags = any::<u8>().prop_map(PexFlags);
    (
        prop::collection::vec((v4.clone(), flags.clone()), 0..60),
        prop::collection::vec((v6.clone(), flags), 0..60),
        prop::collection::vec(v4, 0..60),
        prop::collection::vec(v6, 0..60),
    )
        .prop_map(|(added, added6, dropped, dropped6)| UtPex {
            added,
            added6,
            dropped,
            dropped6,
        })
}

/// Bytes drawn mostly from bencode's alphabet, so decoders get past the
/// first byte and into the interesting paths.
fn bencodeish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(b"deil:-0123456789".to_vec()),
            1 => any::<u8>(),
        ],
        0..300,
    )
}

proptest! {
    #[test]
    fn extended_handshake_round_trips(h in handshake()) {
        let bytes = h.to_bytes().unwrap();
        prop_assert_eq!(ExtendedHandshake::decode(&bytes).unwrap(), h);
    }

    #[test]
    fn ut_pex_round_trips(p in pex()) {
        let bytes = p.to_vec().unwrap();
        prop_assert_eq!(UtPex::decode(&bytes).unwrap(), p);
    }

    #[test]
    fn ut_metadata_round_trips(
        kind in 0u8..3,
        piece in any::<u32>(),
        total in any::<u32>(),
        data in prop::collection::vec(any::<u8>(), 0..=16384),
    ) {
        let m = match kind {
            0 => UtMetadata::Request { piece },
            1 => UtMetadata::Reject { piece },
            _ => UtMetadata::Data { piece, total_size: total, data: &data },
        };
        let bytes = m.to_vec().unwrap();
        prop_assert_eq!(UtMetadata::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn lt_metadata_round_trips(
        kind in 0u8..3,
        start in any::<u8>(),
        size in 1u16..=256,
        total in 0u32..=i32::MAX as u32,
        offset in 0u32..=i32::MAX as u32,
        data in prop::collection::vec(any::<u8>(), 0..2000),
    ) {
        let m = match kind {
            0 => LtMetadata::Request { start, size },
            1 => LtMetadata::Metadata { total_size: total, offset, data: &data },
            _ => LtMetadata::DontHave,
        };
        let bytes = m.to_vec().unwrap();
        prop_assert_eq!(LtMetadata::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn lt_donthave_round_trips(piece in any::<u32>()) {
        let m = LtDontHave { piece };
        prop_assert_eq!(LtDontHave::decode(&m.to_bytes()).unwrap(), m);
    }

    #[test]
    fn azureus_list_round_trips(caps in prop::collection::btree_map("[A-Z_]{1,24}", any::<i32>(), 0..10)) {
        let l = AzureusExtendedList { capabilities: caps };
        prop_assert_eq!(AzureusExtendedList::decode(&l.to_vec().unwrap()).unwrap(), l);
    }

    #[test]
    fn extension_decoders_never_panic(buf in prop_oneof![bencodeish(), prop::collection::vec(any::<u8>(), 0..300)]) {
        let _ = ExtendedHandshake::decode(&buf);
        let _ = UtPex::decode(&buf);
        let _ = UtMetadata::decode(&buf);
        let _ = LtMetadata::decode(&buf);
        let _ = LtDontHave::decode(&buf);
        let _ = AzureusExtendedList::decode(&buf);
        if let Ok((value, used)) = bencode::read_prefix(&buf, Limits::EXTENSION) {
            prop_assert!(used <= buf.len());
            // Walking whatever was parsed must not panic either.
            if let bencode::Value::Dict(d) = value {
                for (_, v) in d.iter() {
                    if let bencode::Value::List(l) = v {
                        let _ = l.iter().count();
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_keys_do_not_change_the_handshake(h in handshake(), junk in "[a-z]{3,8}", n in any::<i64>()) {
        // Insert one unknown integer key into the encoded dictionary: the
        // decoded handshake is unchanged (BEP 10: unknown keys are ignored).
        let known = ["ipv4", "ipv6", "metadata_size", "reqq", "upload_only", "yourip"];
        prop_assume!(!known.contains(&junk.as_str()));
        let bytes = h.to_bytes().unwrap();
        let mut with_junk = vec![b'd'];
        with_junk.extend_from_slice(format!("{}:{}i{}e", junk.len(), junk, n).as_bytes());
        with_junk.extend_from_slice(&bytes[1..]);
        prop_assert_eq!(ExtendedHandshake::decode(&with_junk).unwrap(), h);
    }
}

#[test]
fn m_with_many_entries_in_random_order_is_read() {
    // Keys deliberately unsorted: the reader keeps every entry.
    let mut raw = b"d1:md".to_vec();
    let mut want = BTreeMap::new();
    for (i, name) in ["zz", "yy", "aa", "mm"].iter().enumerate() {
        raw.extend_from_slice(format!("2:{name}i{}e", i + 1).as_bytes());
        want.insert(name.to_string(), i as u8 + 1);
    }
    raw.extend_from_slice(b"ee");
    assert_eq!(ExtendedHandshake::decode(&raw).unwrap().m, want);
}
