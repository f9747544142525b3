//! Byte vectors captured from a real client: libtorrent 2.0.8 (Debian
//! python3-libtorrent) seeding on loopback, decoded with seedcore's codec.
//!
//! How they were obtained (2026, this machine, `/usr/bin/python3`):
//! 1. A 40000-byte file whose byte `i` is `i % 251`, made into a v1 torrent
//!    with `lt.create_torrent(fs, 16384, flags=v1_only)`, added to a session
//!    listening on 127.0.0.1 with encryption disabled (`in_enc_policy` and
//!    `out_enc_policy` = 2), DHT/LSD/UPnP/NAT-PMP off.
//! 2. A plain TCP socket connected to it and sent: our handshake (reserved
//!    `0000000000100005`, peer id `-SC0001-capture00001`), an extended
//!    handshake `d1:md11:lt_donthavei7e11:ut_metadatai3e6:ut_pexi1ee1:pi6881e
//!    4:reqqi250e1:v14:seedcore 0.1.0e`, `interested`; once libtorrent's
//!    extended handshake arrived, a `ut_metadata` request for piece 0 and a
//!    `request` for 64 bytes at offset 100 of piece 1. Everything received
//!    in 4 seconds is [`SEEDER_STREAM`].
//! 3. For [`UT_PEX_FRAME`], three such sockets (bound to 127.0.0.2, .3, .4,
//!    each advertising `ut_pex` as id 1 and listen ports 6882..6884) stayed
//!    connected until libtorrent sent the first one a `ut_pex` message.

// Test code: a failed expectation should panic with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::net::{IpAddr, SocketAddrV4};

use seedcore_protocol::ext::{ExtendedHandshake, PexFlags, UtMetadata, UtPex};
use seedcore_protocol::wire::{decode_all, Handshake, Limits, Message, HANDSHAKE_LEN};

const SEEDER_STREAM: &str = concat!(
    "13426974546f7272656e742070726f746f636f6c0000000000100005118e4d696e346e760764f9e66cfabed3cdcbbc22",
    "2d4c54323038302d4d2e53584d52296651564c4e000000d414006431323a636f6d706c6574655f61676f692d3165313a",
    "6d6431313a6c745f646f6e746861766569376531303a73686172655f6d6f646569386531313a75706c6f61645f6f6e6c",
    "7969336531323a75745f686f6c6570756e636869346531313a75745f6d65746164617461693265363a75745f70657869",
    "31656531333a6d657461646174615f73697a656931323365343a7265717169323030306531313a75706c6f61645f6f6e",
    "6c79693165313a7631383a6c6962746f7272656e742f322e302e382e30363a796f75726970343a7f0000016500000001",
    "0e00000001010000000511000000000000000511000000010000000511000000020000000101000000a8140364383a6d",
    "73675f74797065693165353a706965636569306531303a746f74616c5f73697a6569313233656564363a6c656e677468",
    "69343030303065343a6e616d65353a662e62696e31323a7069656365206c656e67746869313633383465363a70696563",
    "657336303a68f3b81a11de1e1629e81555b4e70aed955d1140de9ee0222cd528efc5e01227e4bf16cf6ac6836a7b9d67",
    "e14ed5a5e1695fac5611004b00d76da5ae6500000049070000000100000064a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9",
    "babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8",
);

const UT_PEX_FRAME: &str = concat!(
    "0000005b140164353a616464656431383a7f0000021ae27f0000031ae37f0000041ae4373a61646465642e66333a0000",
    "00363a616464656436303a383a6164646564362e66303a373a64726f70706564303a383a64726f7070656436303a65",
);

const INFO_HASH: &str = "118e4d696e346e760764f9e66cfabed3cdcbbc22";

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn libtorrent_handshake() {
    let stream = unhex(SEEDER_STREAM);
    let h = Handshake::decode(&stream).unwrap().unwrap();
    assert!(h.reserved.extension_protocol());
    assert!(h.reserved.fast());
    assert!(h.reserved.dht());
    assert!(!h.reserved.v2_upgrade() && !h.reserved.azureus_extended());
    assert_eq!(h.reserved.0, [0, 0, 0, 0, 0, 0x10, 0, 0x05]);
    assert_eq!(hex::encode(h.info_hash), INFO_HASH);
    assert!(h.peer_id.starts_with(b"-LT2080-"));
    // Our encoder produces the same 68 bytes.
    assert_eq!(h.to_bytes(), stream[..HANDSHAKE_LEN]);
}

#[test]
fn libtorrent_seeder_stream() {
    let stream = unhex(SEEDER_STREAM);
    let body = &stream[HANDSHAKE_LEN..];
    let (msgs, used) = decode_all(body, &Limits::for_pieces(3)).unwrap();
    assert_eq!(used, body.len(), "the capture ends on a message boundary");

    let names: Vec<&str> = msgs.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        [
            "extended",
            "have all",
            "unchoke",
            "allowed fast",
            "allowed fast",
            "allowed fast",
            "unchoke",
            "extended",
            "piece"
        ]
    );
    assert_eq!(msgs[3], Message::AllowedFast { index: 0 });
    assert_eq!(msgs[5], Message::AllowedFast { index: 2 });

    // Re-encoding every decoded message gives libtorrent's exact bytes.
    let mut again = Vec::new();
    for m in &msgs {
        m.encode(&mut again).unwrap();
    }
    assert_eq!(again, body);

    // The extended handshake.
    let Message::Extended { id: 0, payload } = msgs[0] else {
        panic!("first message is not the extended handshake: {:?}", msgs[0]);
    };
    let hs = ExtendedHandshake::decode(payload).unwrap();
    assert_eq!(hs.id_of("ut_metadata"), Some(2));
    assert_eq!(hs.id_of("ut_pex"), Some(1));
    assert_eq!(hs.id_of("lt_donthave"), Some(7));
    assert_eq!(hs.id_of("ut_holepunch"), Some(4));
    assert_eq!(hs.id_of("upload_only"), Some(3));
    assert_eq!(hs.id_of("share_mode"), Some(8));
    assert_eq!(hs.metadata_size, Some(123));
    assert_eq!(hs.reqq, Some(2000));
    assert_eq!(hs.upload_only, Some(true));
    assert_eq!(hs.v.as_deref(), Some("libtorrent/2.0.8.0"));
    assert_eq!(hs.yourip, Some(IpAddr::from([127, 0, 0, 1])));
    assert_eq!((hs.p, hs.e, hs.ipv4, hs.ipv6), (None, None, None, None));

    // ut_metadata data, sent under the id *we* gave ut_metadata (3): a dict
    // followed by the raw info dictionary, whose SHA-1 is the info-hash.
    let Message::Extended { id: 3, payload } = msgs[7] else {
        panic!("expected ut_metadata under our id 3: {:?}", msgs[7]);
    };
    let UtMetadata::Data {
        piece: 0,
        total_size: 123,
        data,
    } = UtMetadata::decode(payload).unwrap()
    else {
        panic!("not a data message");
    };
    assert_eq!(data.len(), 123);
    assert_eq!(hex::encode(seedcore_hash::sha1(data)), INFO_HASH);
    assert_eq!(
        UtMetadata::Data {
            piece: 0,
            total_size: 123,
            data
        }
        .to_vec()
        .unwrap(),
        payload
    );

    // The 64-byte block at offset 100 of piece 1.
    let Message::Piece {
        index: 1,
        begin: 100,
        data,
    } = msgs[8]
    else {
        panic!("expected the requested block: {:?}", msgs[8]);
    };
    let want: Vec<u8> = (16384 + 100..16384 + 164)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    assert_eq!(data, want);
}

#[test]
fn libtorrent_ut_pex() {
    let frame = unhex(UT_PEX_FRAME);
    let (msgs, used) = decode_all(&frame, &Limits::default()).unwrap();
    assert_eq!(used, frame.len());
    let [Message::Extended { id: 1, payload }] = msgs[..] else {
        panic!("expected one ut_pex message under our id 1: {msgs:?}");
    };
    let pex = UtPex::decode(payload).unwrap();
    let want: Vec<(SocketAddrV4, PexFlags)> =
        ["127.0.0.2:6882", "127.0.0.3:6883", "127.0.0.4:6884"]
            .iter()
            .map(|a| (a.parse().unwrap(), PexFlags(0)))
            .collect();
    assert_eq!(pex.added, want);
    assert!(pex.added6.is_empty() && pex.dropped.is_empty() && pex.dropped6.is_empty());
    // libtorrent writes all six keys, as our encoder does: byte-identical.
    assert_eq!(pex.to_vec().unwrap(), payload);
}
