//! Fuzz the peer wire decoder and the extension decoders behind it.
//!
//! The first byte picks the limits (tiny ones make every bound reachable) and
//! the meaning of ids 20/21; the rest is a byte stream. Beyond "never panics",
//! it checks the decoder's contract: `consumed` stays inside the buffer, a
//! decoded frame re-encodes to exactly the bytes it came from, and asking for
//! more is never an empty request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedcore_protocol::ext::{
    AzureusExtendedList, ExtendedHandshake, LtDontHave, LtMetadata, UtMetadata, UtPex,
};
use seedcore_protocol::wire::{
    decode, Decoded, ExtensionProtocol, Handshake, HandshakePrefix, Limits, Message,
};

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut buf)) = data.split_first() else {
        return;
    };
    let _ = HandshakePrefix::decode(buf);
    let _ = Handshake::decode(buf);

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
                match msg {
                    Message::Extended { payload, .. } => {
                        let _ = ExtendedHandshake::decode(payload);
                        let _ = UtMetadata::decode(payload);
                        let _ = UtPex::decode(payload);
                        let _ = LtMetadata::decode(payload);
                        let _ = LtDontHave::decode(payload);
                    }
                    Message::AzureusExtendedList(body) => {
                        let _ = AzureusExtendedList::decode(body);
                    }
                    _ => {}
                }
                buf = &buf[consumed..];
            }
            Ok(Decoded::NeedMore { needed }) => {
                assert!(needed > 0);
                break;
            }
            Err(_) => break,
        }
    }
});
