//! Fuzzes the bencode reader on its own: any input gives a value or an
//! error, never a panic; the random-access view and the streaming reader
//! agree on what was read and where it ends; the canonical check never
//! panics; and what was read survives a write and a second read.
//! Run from engine/protocol: `cargo +nightly fuzz run bencode`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedcore_protocol::bencode::{self, check_canonical, Decoder, Limits, OwnedValue, Value};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_len: 1 << 20,
        max_depth: 64,
    };
    let _ = check_canonical(data, limits);
    let Ok((value, used)) = bencode::read_prefix(data, limits) else {
        return;
    };
    assert!(used <= data.len());
    let raw = &data[..used];
    let mut dec = Decoder::new(raw, limits).expect("within limits");
    let again = dec
        .next_object()
        .expect("read once, reads again")
        .expect("a value")
        .into_value()
        .expect("read once, reads again");
    assert_eq!(again, value);
    assert_eq!(dec.position(), used);
    match value {
        Value::Dict(d) => assert_eq!(d.raw(), raw),
        Value::List(l) => assert_eq!(l.raw(), raw),
        _ => {}
    }
    let owned = OwnedValue::from(value);
    let written = owned.to_bytes();
    assert_eq!(
        check_canonical(
            &written,
            Limits {
                max_len: usize::MAX,
                ..limits
            }
        ),
        Ok(())
    );
    let reread = bencode::read(
        &written,
        Limits {
            max_len: usize::MAX,
            ..limits
        },
    )
    .expect("own output reads");
    assert_eq!(OwnedValue::from(reread), owned);
});
