//! Unit tests of the decoder with hand-written byte vectors.

use super::*;

fn one<'a>(buf: &'a [u8], limits: &Limits) -> (Message<'a>, usize) {
    match decode(buf, limits).unwrap() {
        Decoded::Message { msg, consumed } => (msg, consumed),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn keep_alive_and_fixed_messages() {
    let l = Limits::default();
    assert_eq!(one(&[0, 0, 0, 0, 9, 9], &l), (Message::KeepAlive, 4));
    assert_eq!(one(&[0, 0, 0, 1, 0], &l), (Message::Choke, 5));
    assert_eq!(one(&[0, 0, 0, 1, 1], &l), (Message::Unchoke, 5));
    assert_eq!(one(&[0, 0, 0, 1, 2], &l), (Message::Interested, 5));
    assert_eq!(one(&[0, 0, 0, 1, 3], &l), (Message::NotInterested, 5));
    assert_eq!(
        one(&[0, 0, 0, 5, 4, 0, 0, 1, 0], &l),
        (Message::Have { index: 256 }, 9)
    );
    assert_eq!(
        one(&[0, 0, 0, 3, 9, 0x1A, 0xE1], &l),
        (Message::Port(6881), 7)
    );
    assert_eq!(one(&[0, 0, 0, 1, 0x0E], &l), (Message::HaveAll, 5));
    assert_eq!(one(&[0, 0, 0, 1, 0x0F], &l), (Message::HaveNone, 5));
    assert_eq!(
        one(&[0, 0, 0, 5, 0x0D, 0, 0, 0, 3], &l),
        (Message::Suggest { index: 3 }, 9)
    );
    assert_eq!(
        one(&[0, 0, 0, 5, 0x11, 0, 0, 0, 3], &l),
        (Message::AllowedFast { index: 3 }, 9)
    );
    let req = [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0];
    let b = BlockRequest {
        index: 1,
        begin: 0x4000,
        length: 0x4000,
    };
    assert_eq!(one(&req, &l), (Message::Request(b), 17));
    let mut cancel = req;
    cancel[4] = 8;
    assert_eq!(one(&cancel, &l), (Message::Cancel(b), 17));
    let mut reject = req;
    reject[4] = 0x10;
    assert_eq!(one(&reject, &l), (Message::RejectRequest(b), 17));
}

#[test]
fn variable_messages_borrow_their_bodies() {
    let l = Limits::default();
    let buf = [0, 0, 0, 3, 5, 0xFF, 0xC0];
    let (m, n) = one(&buf, &l);
    assert_eq!((m, n), (Message::Bitfield(&[0xFF, 0xC0]), 7));
    if let Message::Bitfield(b) = m {
        assert!(std::ptr::eq(b.as_ptr(), buf[5..].as_ptr()));
    }
    let piece = [0, 0, 0, 11, 7, 0, 0, 0, 2, 0, 0, 0x40, 0, b'h', b'i'];
    assert_eq!(
        one(&piece, &l),
        (
            Message::Piece {
                index: 2,
                begin: 0x4000,
                data: b"hi"
            },
            15
        )
    );
    let ext = b"\x00\x00\x00\x04\x14\x03de";
    assert_eq!(
        one(ext, &l),
        (
            Message::Extended {
                id: 3,
                payload: b"de"
            },
            8
        )
    );
}

#[test]
fn unknown_ids_are_skippable() {
    let l = Limits::default();
    let buf = [0, 0, 0, 3, 0x42, 1, 2, 0, 0, 0, 1, 1];
    let (msgs, used) = decode_all(&buf, &l).unwrap();
    assert_eq!(
        msgs,
        vec![
            Message::Unknown {
                id: 0x42,
                payload: &[1, 2]
            },
            Message::Unchoke
        ]
    );
    assert_eq!(used, buf.len());
}

#[test]
fn need_more_counts_missing_bytes() {
    let l = Limits::default();
    let msg = Message::Piece {
        index: 1,
        begin: 0,
        data: &[7; 100],
    }
    .to_vec()
    .unwrap();
    for cut in 0..msg.len() {
        let want = match cut {
            0..=3 => 4 - cut,
            _ => msg.len() - cut,
        };
        assert_eq!(
            decode(&msg[..cut], &l).unwrap(),
            Decoded::NeedMore { needed: want },
            "cut at {cut}"
        );
    }
}

#[test]
fn oversize_prefix_fails_before_the_body_arrives() {
    let l = Limits::default();
    // A piece announcing a 16 KiB + 1 block: refused on seeing 5 bytes.
    let len = 9 + DEFAULT_MAX_BLOCK + 1;
    let mut head = len.to_be_bytes().to_vec();
    head.push(7);
    assert_eq!(
        decode(&head, &l),
        Err(WireError::TooLong {
            id: 7,
            name: "piece",
            max: 9 + DEFAULT_MAX_BLOCK,
            len
        })
    );
    // Bigger than anything: refused on the prefix alone.
    assert_eq!(
        decode(&[0xFF, 0xFF, 0xFF, 0xFF], &l),
        Err(WireError::FrameTooLong {
            len: u32::MAX,
            max: l.max_frame()
        })
    );
    // An extended message over 1 MiB.
    let len = 2 + DEFAULT_MAX_EXTENDED + 1;
    let mut head = len.to_be_bytes().to_vec();
    head.push(20);
    assert!(matches!(
        decode(&head, &l),
        Err(WireError::TooLong { id: 20, .. })
    ));
}

#[test]
fn fixed_messages_must_have_exactly_their_length() {
    let l = Limits::default();
    assert_eq!(
        decode(&[0, 0, 0, 2, 0], &l),
        Err(WireError::WrongLength {
            id: 0,
            name: "choke",
            expected: 1,
            len: 2
        })
    );
    assert_eq!(
        decode(&[0, 0, 0, 14, 6], &l),
        Err(WireError::WrongLength {
            id: 6,
            name: "request",
            expected: 13,
            len: 14
        })
    );
    assert_eq!(
        decode(&[0, 0, 0, 4, 4], &l),
        Err(WireError::WrongLength {
            id: 4,
            name: "have",
            expected: 5,
            len: 4
        })
    );
    assert_eq!(
        decode(&[0, 0, 0, 8, 7], &l),
        Err(WireError::TooShort {
            id: 7,
            name: "piece",
            min: 9,
            len: 8
        })
    );
    assert_eq!(
        decode(&[0, 0, 0, 1, 20], &l),
        Err(WireError::TooShort {
            id: 20,
            name: "extended",
            min: 2,
            len: 1
        })
    );
}

#[test]
fn bitfield_bound_follows_piece_count() {
    let l = Limits::for_pieces(9); // 2 bytes
    assert!(decode(&[0, 0, 0, 3, 5, 0xFF, 0x80], &l).is_ok());
    assert_eq!(
        decode(&[0, 0, 0, 4, 5], &l),
        Err(WireError::TooLong {
            id: 5,
            name: "bitfield",
            max: 3,
            len: 4
        })
    );
}

#[test]
fn hash_messages() {
    let l = Limits::default();
    let r = HashRequest {
        pieces_root: [3; 32],
        base_layer: 0,
        index: 512,
        length: 2,
        proof_layers: 1,
    };
    let hashes = [9u8; 96];
    for m in [
        Message::HashRequest(r),
        Message::HashReject(r),
        Message::Hashes {
            request: r,
            hashes: &hashes,
        },
    ] {
        let v = m.to_vec().unwrap();
        assert_eq!(one(&v, &l), (m, v.len()));
    }
    let mut bad = (49u32 + 33).to_be_bytes().to_vec();
    bad.push(0x16);
    assert_eq!(
        decode(&bad, &l),
        Err(WireError::HashesNotMultipleOf32 { len: 33 })
    );
    let too_many = Limits { max_hashes: 2, ..l };
    let mut big = (49u32 + 96).to_be_bytes().to_vec();
    big.push(0x16);
    assert!(matches!(
        decode(&big, &too_many),
        Err(WireError::TooLong { id: 0x16, .. })
    ));
}

#[test]
fn ids_20_and_21_follow_the_negotiated_protocol() {
    let ltep = Limits::default();
    let az = ltep.with_extension(ExtensionProtocol::Azureus);
    // From 001_*.txt: byte(20) followed by the capability dictionary.
    let dict = b"d13:PEER_EXCHANGEi66e12:PEER_MESSAGEi67e22:NEW_INCREDIBLE_FEATUREi68ee";
    let mut lst = u32::try_from(dict.len() + 1)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    lst.push(20);
    lst.extend_from_slice(dict);
    assert_eq!(one(&lst, &az).0, Message::AzureusExtendedList(dict));
    assert_eq!(
        one(&lst, &ltep).0,
        Message::Extended {
            id: b'd',
            payload: &dict[1..]
        }
    );
    // byte(21) int32(66) payload
    let body = b"d7:PEER_ID20:20_byte_peer_id_heree";
    let mut ext = u32::try_from(body.len() + 5)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    ext.extend_from_slice(&[21, 0, 0, 0, 66]);
    ext.extend_from_slice(body);
    assert_eq!(
        one(&ext, &az).0,
        Message::AzureusExtended {
            id: 66,
            payload: body
        }
    );
    // Under LTEP, 21 is a BEP 52 hash request, which has a fixed length.
    assert!(matches!(
        decode(&ext, &ltep),
        Err(WireError::WrongLength { id: 21, .. })
    ));
}

#[test]
fn max_frame_covers_every_kind() {
    let l = Limits::default();
    assert_eq!(l.max_frame(), 5 + DEFAULT_MAX_EXTENDED);
    let tiny = Limits {
        max_pieces: 8,
        max_block: 16,
        max_extended: 0,
        max_hashes: 0,
        max_unknown: 0,
        extension: ExtensionProtocol::Ltep,
    };
    assert_eq!(tiny.max_frame(), 49);
}
