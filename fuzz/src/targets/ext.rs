//! Extension message decoders: the BEP 10 extended handshake, ut_metadata
//! (BEP 9), ut_pex (BEP 11), LT_metadata, lt_donthave and the Azureus
//! extended-messaging list.
//!
//! The first byte picks the decoder (so each gets the fuzzer's full
//! attention); the rest is the payload. Whatever decodes must encode, and
//! its encoding must decode to the same value (the codecs agree with
//! themselves, so what we send is what we meant).

use seedcore_protocol::ext::{
    AzureusExtendedList, ExtendedHandshake, LtDontHave, LtMetadata, UtMetadata, UtPex,
};

/// See the module docs.
pub fn run(data: &[u8]) {
    let Some((&which, payload)) = data.split_first() else {
        return;
    };
    match which % 6 {
        0 => {
            if let Ok(hs) = ExtendedHandshake::decode(payload) {
                let bytes = hs.to_bytes().expect("a decoded handshake encodes");
                assert_eq!(ExtendedHandshake::decode(&bytes).as_ref(), Ok(&hs));
                for (name, id) in &hs.m {
                    assert_eq!(hs.id_of(name), Some(*id).filter(|&i| i != 0));
                }
            }
        }
        1 => {
            if let Ok(m) = UtMetadata::decode(payload) {
                let bytes = m.to_vec().expect("a decoded ut_metadata encodes");
                assert_eq!(UtMetadata::decode(&bytes), Ok(m));
                if let UtMetadata::Data { data, .. } = m {
                    assert!(data.len() <= seedcore_protocol::ext::METADATA_PIECE_SIZE);
                }
            }
        }
        2 => {
            if let Ok(p) = UtPex::decode(payload) {
                let bytes = p.to_vec().expect("a decoded ut_pex encodes");
                assert_eq!(UtPex::decode(&bytes), Ok(p.clone()));
                let max = seedcore_protocol::ext::DEFAULT_MAX_PEERS;
                assert!(p.added.len() <= max && p.added6.len() <= max);
                assert!(p.dropped.len() <= max && p.dropped6.len() <= max);
            }
            if let Ok(p) = UtPex::decode_with_limit(payload, 3) {
                assert!(p.added.len() <= 3 && p.dropped6.len() <= 3);
            }
        }
        3 => {
            if let Ok(m) = LtMetadata::decode(payload) {
                let bytes = m.to_vec().expect("a decoded LT_metadata encodes");
                assert_eq!(LtMetadata::decode(&bytes), Ok(m));
                if let LtMetadata::Request { size, .. } = m {
                    assert!((1..=256).contains(&size));
                }
            }
        }
        4 => {
            if let Ok(d) = LtDontHave::decode(payload) {
                assert_eq!(LtDontHave::decode(&d.to_bytes()), Ok(d));
                assert_eq!(&d.to_bytes()[..], payload);
            }
        }
        _ => {
            if let Ok(l) = AzureusExtendedList::decode(payload) {
                let bytes = l.to_vec().expect("a decoded Azureus list encodes");
                assert_eq!(AzureusExtendedList::decode(&bytes), Ok(l));
            }
        }
    }
}
