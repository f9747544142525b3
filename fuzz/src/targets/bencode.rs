//! The bencode reader on its own: any input gives a value or an error,
//! never a panic; the random-access view and the streaming reader agree on
//! what was read and where it ends; the canonical check never panics; and
//! what was read survives a write and a second read, in canonical form.

use seedcore_protocol::bencode::{self, check_canonical, Decoder, Limits, OwnedValue, Value};

/// See the module docs.
pub fn run(data: &[u8]) {
    let limits = Limits {
        max_len: 1 << 20,
        max_depth: 64,
    };
    let canonical = check_canonical(data, limits);
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
    let unlimited = Limits {
        max_len: usize::MAX,
        ..limits
    };
    assert_eq!(check_canonical(&written, unlimited), Ok(()));
    let reread = bencode::read(&written, unlimited).expect("own output reads");
    assert_eq!(OwnedValue::from(reread), owned);
    // A canonical value is written back byte for byte, unless it holds an
    // integer the writer cannot: negative (`i-02e` passes the check, as in
    // libtorrent) or past i64 (saturated).
    if canonical.is_ok() && !raw.windows(2).any(|w| w == b"i-") && !has_huge_int(raw) {
        assert_eq!(written, raw);
    }
}

/// Whether `raw` has an `i...e` token of 19 digits or more (possibly past
/// i64; a false positive only skips a check).
fn has_huge_int(raw: &[u8]) -> bool {
    raw.split(|&b| b == b'i')
        .any(|t| t.iter().take_while(|b| b.is_ascii_digit()).count() >= 19)
}
