//! The peer wire decoder and the handshake decoders.
//!
//! The first byte picks the limits (tiny ones make every bound reachable)
//! and the meaning of ids 20/21; the rest is a byte stream. Beyond "never
//! panics" it checks the decoder's contract: `consumed` stays inside the
//! buffer, a decoded frame re-encodes to exactly the bytes it came from
//! (and says its own length), an oversize length prefix is refused before
//! its body arrives, and "need more" is never a request for zero bytes.

use seedcore_protocol::wire::{
    decode, Decoded, ExtensionProtocol, Handshake, HandshakePrefix, Limits, Message,
};

/// See the module docs.
pub fn run(data: &[u8]) {
    let Some((&cfg, mut buf)) = data.split_first() else {
        return;
    };
    if let Ok(Some(hs)) = Handshake::decode(buf) {
        assert_eq!(&hs.to_bytes()[..], &buf[..68]);
        let prefix = HandshakePrefix::decode(buf).expect("a handshake's prefix decodes");
        assert_eq!(prefix, Some(hs.prefix()));
    }
    let _ = HandshakePrefix::decode(buf);

    let mut limits = if cfg & 0x01 != 0 {
        Limits::default()
    } else {
        Limits {
            max_pieces: u32::from(cfg >> 2) * 3,
            max_block: u32::from(cfg) * 7,
            max_extended: u32::from(cfg) * 5,
            max_hashes: u32::from(cfg >> 4),
            max_unknown: u32::from(cfg),
            extension: ExtensionProtocol::Ltep,
        }
    };
    if cfg & 0x02 != 0 {
        limits.extension = ExtensionProtocol::Azureus;
    }

    loop {
        match decode(buf, &limits) {
            Ok(Decoded::Message { msg, consumed }) => {
                assert!(consumed >= 4 && consumed <= buf.len());
                let frame = &buf[..consumed];
                let mut again = Vec::new();
                msg.encode(&mut again).expect("decoded messages re-encode");
                assert_eq!(again, frame, "re-encoding {msg:?}");
                assert_eq!(msg.encoded_len(), consumed);
                // A prefix of a frame is never an error, only "need more".
                if consumed > 4 {
                    let cut = 4 + (usize::from(cfg) % (consumed - 4));
                    match decode(&buf[..cut], &limits) {
                        Ok(Decoded::NeedMore { needed }) => assert!(needed > 0),
                        other => panic!("a cut frame gave {other:?}"),
                    }
                }
                if let Message::Bitfield(bits) = msg {
                    assert!(bits.len() as u64 <= u64::from(limits.max_pieces).div_ceil(8));
                }
                buf = &buf[consumed..];
            }
            Ok(Decoded::NeedMore { needed }) => {
                assert!(needed > 0);
                // The decoder never asks to buffer past its own bound.
                let frame_bound = limits.max_frame() as usize + 4;
                assert!(
                    buf.len() + needed <= frame_bound,
                    "needs {needed} after {}",
                    buf.len()
                );
                break;
            }
            Err(_) => break,
        }
    }
}
