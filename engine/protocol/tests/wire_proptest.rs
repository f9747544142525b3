//! Property tests of the wire codec: every message round-trips, arbitrary
//! bytes never panic the decoder, and decoding a stream split at random
//! points gives the same messages as decoding it whole.

// Test code: a failed expectation should panic with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use proptest::prelude::*;
use seedcore_protocol::wire::{
    decode, decode_all, BlockRequest, Decoded, ExtensionProtocol, HashRequest, Limits, Message,
};

/// An owned stand-in for a [`Message`], which borrows.
#[derive(Clone, Debug)]
struct Owned {
    tag: u8,
    a: u32,
    b: u32,
    c: u32,
    d: u32,
    root: [u8; 32],
    bytes: Vec<u8>,
}

/// Ids no decoder mode assigns a meaning to.
fn unknown_id(raw: u8) -> u8 {
    const KNOWN: [u8; 20] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x14, 0x15, 0x16, 0x17, 0x0A,
    ];
    if KNOWN.contains(&raw) {
        0x42
    } else {
        raw
    }
}

const TAGS: u8 = 23;

impl Owned {
    /// The message, and whether it needs Azureus mode to decode back.
    fn view(&self) -> (Message<'_>, ExtensionProtocol) {
        let block = BlockRequest {
            index: self.a,
            begin: self.b,
            length: self.c,
        };
        let hash = HashRequest {
            pieces_root: self.root,
            base_layer: self.a,
            index: self.b,
            length: self.c,
            proof_layers: self.d,
        };
        let whole = self.bytes.len() / 32 * 32;
        let ltep = ExtensionProtocol::Ltep;
        let msg = match self.tag {
            0 => Message::KeepAlive,
            1 => Message::Choke,
            2 => Message::Unchoke,
            3 => Message::Interested,
            4 => Message::NotInterested,
            5 => Message::Have { index: self.a },
            6 => Message::Bitfield(&self.bytes),
            7 => Message::Request(block),
            8 => Message::Piece {
                index: self.a,
                begin: self.b,
                data: &self.bytes,
            },
            9 => Message::Cancel(block),
            10 => Message::Port(self.d as u16),
            11 => Message::Suggest { index: self.a },
            12 => Message::HaveAll,
            13 => Message::HaveNone,
            14 => Message::RejectRequest(block),
            15 => Message::AllowedFast { index: self.a },
            16 => Message::Extended {
                id: self.d as u8,
                payload: &self.bytes,
            },
            17 => Message::HashRequest(hash),
            18 => Message::Hashes {
                request: hash,
                hashes: &self.bytes[..whole],
            },
            19 => Message::HashReject(hash),
            20 => {
                return (
                    Message::AzureusExtendedList(&self.bytes),
                    ExtensionProtocol::Azureus,
                )
            }
            21 => {
                return (
                    Message::AzureusExtended {
                        id: self.a,
                        payload: &self.bytes,
                    },
                    ExtensionProtocol::Azureus,
                )
            }
            _ => Message::Unknown {
                id: unknown_id(self.d as u8),
                payload: &self.bytes,
            },
        };
        (msg, ltep)
    }
}

fn owned() -> impl Strategy<Value = Owned> {
    (
        0..TAGS,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<[u8; 32]>(),
        prop::collection::vec(any::<u8>(), 0..600),
    )
        .prop_map(|(tag, a, b, c, d, root, bytes)| Owned {
            tag,
            a,
            b,
            c,
            d,
            root,
            bytes,
        })
}

fn encode(m: &Message<'_>) -> Vec<u8> {
    m.to_vec().expect("test messages are encodable")
}

proptest! {
    #[test]
    fn every_message_round_trips(o in owned()) {
        let (msg, mode) = o.view();
        let bytes = encode(&msg);
        prop_assert_eq!(bytes.len(), msg.encoded_len());
        let limits = Limits::default().with_extension(mode);
        let got = decode(&bytes, &limits).unwrap();
        prop_assert_eq!(got, Decoded::Message { msg, consumed: bytes.len() });
        // Every strict prefix asks for more, never errors.
        for cut in [0, 1, 3, 4, 5, bytes.len() / 2, bytes.len() - 1] {
            if cut < bytes.len() {
                let partial = decode(&bytes[..cut], &limits);
                let ok = matches!(partial, Ok(Decoded::NeedMore { needed })
                    if needed > 0 && cut + needed <= bytes.len());
                prop_assert!(ok, "prefix of {} bytes gave {:?}", cut, partial);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        buf in prop::collection::vec(any::<u8>(), 0..2048),
        max_pieces in 0u32..100_000,
        max_block in 0u32..40_000,
        max_extended in 0u32..4096,
        max_hashes in 0u32..64,
        max_unknown in 0u32..4096,
        azureus in any::<bool>(),
    ) {
        let limits = Limits {
            max_pieces, max_block, max_extended, max_hashes, max_unknown,
            extension: if azureus { ExtensionProtocol::Azureus } else { ExtensionProtocol::Ltep },
        };
        match decode(&buf, &limits) {
            Ok(Decoded::Message { msg, consumed }) => {
                prop_assert!((4..=buf.len()).contains(&consumed));
                // The wire form of a decoded frame is canonical.
                prop_assert_eq!(encode(&msg), &buf[..consumed]);
            }
            Ok(Decoded::NeedMore { needed }) => prop_assert!(needed > 0),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
        let _ = decode_all(&buf, &limits);
    }

    #[test]
    fn length_prefixes_with_plausible_ids_never_panic(
        len in prop_oneof![3 => 0u32..140, 1 => any::<u32>()],
        id in prop_oneof![3 => 0u8..0x18, 1 => any::<u8>()],
        body in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut buf = len.to_be_bytes().to_vec();
        buf.push(id);
        buf.extend_from_slice(&body);
        for mode in [ExtensionProtocol::Ltep, ExtensionProtocol::Azureus] {
            let limits = Limits::default().with_extension(mode);
            if let Ok(Decoded::Message { msg, consumed }) = decode(&buf, &limits) {
                prop_assert_eq!(encode(&msg), &buf[..consumed]);
            }
        }
    }

    #[test]
    fn random_chunking_gives_the_same_messages(
        msgs in prop::collection::vec(owned(), 1..20),
        cuts in prop::collection::vec(1usize..700, 1..40),
        azureus in any::<bool>(),
    ) {
        let mode = if azureus { ExtensionProtocol::Azureus } else { ExtensionProtocol::Ltep };
        let limits = Limits::default().with_extension(mode);
        // Keep the messages that decode back under this mode.
        let frames: Vec<Vec<u8>> = msgs
            .iter()
            .filter_map(|o| {
                let (m, needs) = o.view();
                let clash = matches!(m.id(), Some(20 | 21));
                (!clash || needs == mode).then(|| encode(&m))
            })
            .collect();
        let stream: Vec<u8> = frames.concat();

        // Feed the stream in chunks through a receive buffer, as a session would.
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut cut = cuts.iter().cycle();
        let mut promised = 0usize; // buffer length NeedMore said is required
        while fed < stream.len() || !buf.is_empty() {
            if fed < stream.len() {
                let n = (*cut.next().unwrap()).min(stream.len() - fed);
                buf.extend_from_slice(&stream[fed..fed + n]);
                fed += n;
            }
            let mut used = 0;
            loop {
                match decode(&buf[used..], &limits).unwrap() {
                    Decoded::Message { msg, consumed } => {
                        prop_assert!(buf.len() - used >= promised);
                        got.push(encode(&msg));
                        used += consumed;
                        promised = 0;
                    }
                    Decoded::NeedMore { needed } => {
                        promised = buf.len() - used + needed;
                        break;
                    }
                }
            }
            buf.drain(..used);
            if fed == stream.len() && used == 0 && !buf.is_empty() {
                prop_assert!(false, "stream ended with {} undecodable bytes", buf.len());
            }
        }
        prop_assert_eq!(got, frames);
    }
}
