//! Byte-exact format and every decoding check of the resume file.
#![allow(clippy::unwrap_used, clippy::panic)] // test code: fail loudly

use super::*;

fn sample() -> ResumeData {
    ResumeData {
        version: FORMAT_VERSION,
        info_hash_v1: Some([1; 20]),
        info_hash_v2: Some([2; 32]),
        piece_length: 16384,
        files: vec![
            None,
            Some(FileStamp {
                size: 5,
                mtime_secs: -3,
                mtime_nanos: 999_999_999,
            }),
        ],
        have: vec![true, false, true, false, false, false, false, false, true],
    }
}

/// The exact bytes of the format, written out by hand: any change to
/// the encoder that alters them breaks every saved resume file.
fn golden() -> Vec<u8> {
    let mut p = b"d5:fileslded5:mtimei-3e4:nseci999999999e4:sizei5eee4:have2:\xa0\x80".to_vec();
    p.extend_from_slice(b"12:info hash v120:");
    p.extend_from_slice(&[1; 20]);
    p.extend_from_slice(b"12:info hash v232:");
    p.extend_from_slice(&[2; 32]);
    p.extend_from_slice(b"11:piece counti9e12:piece lengthi16384e7:versioni1ee");
    let mut out = b"d8:checksum32:".to_vec();
    out.extend_from_slice(&seedcore_hash::sha256(&p));
    out.extend_from_slice(format!("7:payload{}:", p.len()).as_bytes());
    out.extend_from_slice(&p);
    out.push(b'e');
    out
}

#[test]
fn encoding_is_byte_exact() {
    assert_eq!(sample().encode(), golden());
    assert_eq!(ResumeData::decode(&golden()).unwrap(), sample());
}

/// Wraps a hand-written payload with a valid checksum.
fn wrap(p: &[u8]) -> Vec<u8> {
    OwnedValue::dict()
        .with("checksum", OwnedValue::bytes(&seedcore_hash::sha256(p)))
        .with("payload", OwnedValue::bytes(p))
        .to_bytes()
}

fn what(data: &[u8]) -> String {
    match ResumeData::decode(data) {
        Err(ResumeError::Malformed { what }) => what,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn every_check_still_applies() {
    let file = golden();
    let p = split_payload(&file).1;
    let broken = |from: &[u8], to: &[u8]| what(&wrap(&replace(p, from, to)));
    assert!(broken(b"2:\xa0\x80", b"2:\xa0\x81").contains("spare bits"));
    assert!(broken(b"counti9e", b"counti17e").contains("does not match"));
    assert!(broken(b"counti9e", b"counti-1e").contains("piece count"));
    assert!(broken(b"lengthi16384e", b"lengthi0e").contains("piece length"));
    assert!(broken(b"nseci999999999e", b"nseci1000000000e").contains("nsec out of range"));
    assert!(broken(b"sizei5e", b"sizei-5e").contains("negative file size"));
    assert!(broken(b"4:sizei5e", b"").contains("lacks mtime, nsec or size"));
    assert!(broken(b"sizei5e", b"size1:5").contains("size is not an integer"));
    assert!(
        broken(b"versioni1e", b"versioni99999999999999999999e").contains("not a 64-bit integer")
    );
    let short = |n: u8, len: usize| {
        let mut b = format!("v{n}{len}:").into_bytes();
        b.extend(std::iter::repeat_n(n, len));
        b
    };
    assert!(broken(&short(1, 20), &short(1, 19)).contains("not 20 bytes"));
    assert!(broken(&short(2, 32), &short(2, 33)).contains("not 32 bytes"));
    for (p, msg) in [
        (&b"d5:filesi0ee"[..], "files is not a list"),
        (b"d4:havei0ee", "have is not a string"),
        (b"d12:info hash v1i0ee", "v1 info-hash is not a string"),
        (b"d7:version0:e", "version is not an integer"),
    ] {
        assert!(what(&wrap(p)).contains(msg), "{msg}");
    }
    assert!(broken(b"lde", b"li0e").contains("file entry is not a dictionary"));
    assert!(matches!(
        ResumeData::decode(&wrap(&replace(p, b"versioni1e", b"versioni2e"))),
        Err(ResumeError::Version { found: 2, .. })
    ));
    let mut flipped = file.clone();
    let n = flipped.len();
    flipped[n - 3] ^= 1;
    assert!(what(&flipped).contains("checksum mismatch"));
    // Unknown keys, at each level, are named.
    assert!(what(&wrap(b"d3:zzzi1ee")).contains("unknown key \"zzz\" in payload"));
    assert!(broken(b"4:sizei5e", b"4:sizei5e1:zi0e").contains("key \"z\" in file entry"));
    let mut extra = golden();
    extra.pop();
    extra.extend_from_slice(b"1:xi0ee");
    assert!(what(&extra).contains("unexpected key \"x\""));
    // Missing pieces of the payload.
    assert!(what(&wrap(b"de")).contains("version missing"));
    assert!(what(b"de").contains("checksum or payload missing"));
    assert!(what(b"le").contains("not a bencoded dictionary"));
    // No info-hash at all.
    let v = ResumeData {
        info_hash_v1: None,
        info_hash_v2: None,
        ..sample()
    };
    assert!(what(&v.encode()).contains("no info-hash"));
}

#[test]
fn non_canonical_bencode_is_refused() {
    let p = split_payload(&golden()).1.to_vec();
    // Leading zero, keys out of order, a repeated key.
    for q in [
        replace(&p, b"piece lengthi16384e", b"piece lengthi016384e"),
        replace(&p, b"4:have2:", b"04:have2:"),
        replace(
            &p,
            b"4:nseci999999999e4:sizei5e",
            b"4:sizei5e4:nseci999999999e",
        ),
        replace(&p, b"7:versioni1e", b"7:versioni1e7:versioni1e"),
    ] {
        assert_ne!(q, p);
        assert!(ResumeData::decode(&wrap(&q)).is_err());
    }
    let mut swapped = b"d7:payload".to_vec();
    swapped.extend_from_slice(format!("{}:", p.len()).as_bytes());
    swapped.extend_from_slice(&p);
    swapped.extend_from_slice(b"8:checksum32:");
    swapped.extend_from_slice(&seedcore_hash::sha256(&p));
    swapped.push(b'e');
    assert!(what(&swapped).contains("byte order"));
}

#[test]
fn too_deep_or_huge_keys_stay_short_errors() {
    assert!(ResumeData::decode(b"d1:xld1:xleeee").is_err());
    let key = vec![b'k'; 10_000];
    let p = OwnedValue::dict()
        .with("files", OwnedValue::List(Vec::new()))
        .to_bytes();
    let mut q = p.clone();
    q.pop();
    q.extend_from_slice(b"10000:");
    q.extend_from_slice(&key);
    q.extend_from_slice(b"i0ee");
    assert!(what(&wrap(&q)).len() < 100);
}

fn split_payload(file: &[u8]) -> (&[u8], &[u8]) {
    let d = bencode::read_dict(file, Limits::EXTENSION).unwrap();
    (d.bytes(b"checksum").unwrap(), d.bytes(b"payload").unwrap())
}

fn replace(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = hay.windows(from.len()).position(|w| w == from).unwrap();
    [&hay[..at], to, &hay[at + from.len()..]].concat()
}
