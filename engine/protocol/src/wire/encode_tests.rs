//! Unit tests of the encoder with hand-written byte vectors.

use super::message::*;
use super::reserved::Reserved;
use super::EncodeError;

fn enc(m: Message<'_>) -> Vec<u8> {
    let v = m.to_vec().unwrap();
    assert_eq!(v.len(), m.encoded_len(), "{m:?}");
    v
}

#[test]
fn fixed_messages_match_the_spec_bytes() {
    assert_eq!(enc(Message::KeepAlive), [0, 0, 0, 0]);
    assert_eq!(enc(Message::Choke), [0, 0, 0, 1, 0]);
    assert_eq!(enc(Message::Unchoke), [0, 0, 0, 1, 1]);
    assert_eq!(enc(Message::Interested), [0, 0, 0, 1, 2]);
    assert_eq!(enc(Message::NotInterested), [0, 0, 0, 1, 3]);
    assert_eq!(
        enc(Message::Have { index: 0x01020304 }),
        [0, 0, 0, 5, 4, 1, 2, 3, 4]
    );
    let b = BlockRequest {
        index: 1,
        begin: 0x4000,
        length: 0x4000,
    };
    let body = [0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0];
    for (m, id) in [
        (Message::Request(b), 6u8),
        (Message::Cancel(b), 8),
        (Message::RejectRequest(b), 0x10),
    ] {
        let mut want = vec![0, 0, 0, 13, id];
        want.extend_from_slice(&body);
        assert_eq!(enc(m), want);
    }
    assert_eq!(enc(Message::Port(6881)), [0, 0, 0, 3, 9, 0x1A, 0xE1]);
    assert_eq!(
        enc(Message::Suggest { index: 7 }),
        [0, 0, 0, 5, 0x0D, 0, 0, 0, 7]
    );
    assert_eq!(enc(Message::HaveAll), [0, 0, 0, 1, 0x0E]);
    assert_eq!(enc(Message::HaveNone), [0, 0, 0, 1, 0x0F]);
    assert_eq!(
        enc(Message::AllowedFast { index: 7 }),
        [0, 0, 0, 5, 0x11, 0, 0, 0, 7]
    );
}

#[test]
fn variable_messages() {
    assert_eq!(
        enc(Message::Bitfield(&[0xFF, 0x80])),
        [0, 0, 0, 3, 5, 0xFF, 0x80]
    );
    assert_eq!(
        enc(Message::Piece {
            index: 2,
            begin: 16,
            data: b"abc"
        }),
        [0, 0, 0, 12, 7, 0, 0, 0, 2, 0, 0, 0, 16, b'a', b'b', b'c']
    );
    assert_eq!(
        enc(Message::Extended {
            id: 0,
            payload: b"de"
        }),
        [0, 0, 0, 4, 20, 0, b'd', b'e']
    );
    assert_eq!(
        enc(Message::AzureusExtended {
            id: 66,
            payload: b"x"
        }),
        [0, 0, 0, 6, 21, 0, 0, 0, 66, b'x']
    );
    assert_eq!(
        enc(Message::Unknown {
            id: 0x42,
            payload: b"zz"
        }),
        [0, 0, 0, 3, 0x42, b'z', b'z']
    );
}

#[test]
fn hash_messages() {
    let r = HashRequest {
        pieces_root: [0x11; 32],
        base_layer: 1,
        index: 2,
        length: 3,
        proof_layers: 4,
    };
    let v = enc(Message::HashRequest(r));
    assert_eq!(&v[..5], &[0, 0, 0, 49, 0x15]);
    assert_eq!(&v[5..37], &[0x11; 32]);
    assert_eq!(&v[37..], &[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
    assert_eq!(enc(Message::HashReject(r))[4], 0x17);
    let hashes = [0x22; 64];
    let v = enc(Message::Hashes {
        request: r,
        hashes: &hashes,
    });
    assert_eq!(&v[..5], &[0, 0, 0, 49 + 64, 0x16]);
    assert_eq!(split_hashes(&v[53..]).count(), 2);
    assert_eq!(
        Message::Hashes {
            request: r,
            hashes: &[0; 33]
        }
        .to_vec(),
        Err(EncodeError::HashesNotMultipleOf32 { len: 33 })
    );
}

#[test]
fn negotiation_of_ids_20_and_21() {
    let ltep = Reserved::seedcore_default();
    let mut az = Reserved::EMPTY;
    az.set_azureus_extended(true);
    let mut both = az;
    both.set_extension_protocol(true);
    let mut bitcomet = Reserved::EMPTY;
    bitcomet.set_bitcomet(true);
    use ExtensionProtocol::{Azureus, Ltep};
    assert_eq!(ExtensionProtocol::negotiate(&ltep, &ltep), Ltep);
    assert_eq!(ExtensionProtocol::negotiate(&az, &az), Azureus);
    assert_eq!(ExtensionProtocol::negotiate(&both, &both), Ltep);
    assert_eq!(ExtensionProtocol::negotiate(&both, &az), Azureus);
    assert_eq!(ExtensionProtocol::negotiate(&ltep, &az), Ltep);
    assert_eq!(ExtensionProtocol::negotiate(&az, &bitcomet), Ltep);
}

#[test]
fn piece_header_matches_encoder() {
    let data = vec![9u8; 16384];
    let full = enc(Message::Piece {
        index: 5,
        begin: 32768,
        data: &data,
    });
    assert_eq!(piece_header(5, 32768, 16384), full[..13]);
}

#[test]
fn debug_elides_big_payloads() {
    let data = vec![0u8; 100];
    let s = format!(
        "{:?}",
        Message::Piece {
            index: 1,
            begin: 2,
            data: &data
        }
    );
    assert_eq!(s, "Piece { index: 1, begin: 2, data: <100 bytes> }");
    assert_eq!(
        format!("{:?}", Message::Bitfield(&[0xF0])),
        "Bitfield([f0])"
    );
}
