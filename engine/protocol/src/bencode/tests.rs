use proptest::prelude::*;

use super::*;

const EXT: Limits = Limits::EXTENSION;

#[test]
fn reads_values_and_keeps_input_order() {
    let d = read_dict(b"d1:zi-3e1:al1:xi0ee1:dd1:ki1eee", EXT).unwrap();
    let keys: Vec<&[u8]> = d.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, [&b"z"[..], b"a", b"d"]);
    assert_eq!(d.int(b"z"), Some(-3));
    let l = d.get(b"a").and_then(|v| v.as_list()).unwrap();
    assert_eq!(l.raw(), b"l1:xi0ee");
    let items: Vec<_> = l.iter().collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], Value::Bytes(b"x"));
    assert_eq!(items[1].as_int(), Some(0));
    assert_eq!(l.len(), 2);
    let inner = d.get(b"d").and_then(|v| v.as_dict()).unwrap();
    assert_eq!((inner.int(b"k"), inner.raw()), (Some(1), &b"d1:ki1ee"[..]));
    assert_eq!(d.len(), 3);
    assert_eq!(d.bytes(b"z"), None);
    assert_eq!(d.raw().len(), 31);
}

#[test]
fn repeated_keys_first_wins() {
    let d = read_dict(b"d1:ai1e1:bi2e1:ai3ee", EXT).unwrap();
    assert_eq!(d.int(b"a"), Some(1));
    assert_eq!(d.len(), 3);
    assert_eq!(
        OwnedValue::from(Value::Dict(d)),
        OwnedValue::dict()
            .with("a", OwnedValue::Int(1))
            .with("b", OwnedValue::Int(2))
    );
}

#[test]
fn integers_as_libtorrent_reads_them() {
    // Leading zeros and -0 are accepted (libtorrent 2.0.8 does); 20 digits
    // is the most, even where the value does not fit an i64.
    let d = read_dict(b"d1:ai007e1:bi-0e1:ci-05e1:di18446744073709551615ee", EXT).unwrap();
    assert_eq!(
        (d.int(b"a"), d.int(b"b"), d.int(b"c")),
        (Some(7), Some(0), Some(-5))
    );
    let big = d.get(b"d").and_then(|v| v.as_integer()).unwrap();
    assert_eq!(big.to_u64(), Ok(u64::MAX));
    assert_eq!(big.to_i64(), Err(IntError::TooLarge));
    assert_eq!(d.int(b"d"), None);
    let neg0 = d.get(b"b").and_then(|v| v.as_integer()).unwrap();
    assert_eq!(neg0.to_u64(), Ok(0));
    let neg = d.get(b"c").and_then(|v| v.as_integer()).unwrap();
    assert_eq!(
        (neg.to_u64(), neg.as_str()),
        (Err(IntError::Negative), "-05")
    );
    assert!(read(b"i99999999999999999999e", EXT).is_ok());
    assert_eq!(
        read(b"i999999999999999999999e", EXT),
        Err(BencodeError::BadNumber { at: 0 })
    );
    assert_eq!(
        read(b"i-999999999999999999999e", EXT),
        Err(BencodeError::BadNumber { at: 0 })
    );
    for bad in [&b"ie"[..], b"i-e", b"i+1e", b"i1-e", b"i 1e", b"i1.0e"] {
        assert_eq!(
            read(bad, EXT),
            Err(BencodeError::BadNumber { at: 0 }),
            "{bad:?}"
        );
    }
    // A string length may have leading zeros too.
    assert_eq!(read(b"03:abc", EXT), Ok(Value::Bytes(b"abc")));
}

#[test]
fn prefix_reports_where_the_dict_ends() {
    let (d, n) = read_dict_prefix(b"d1:ai1eeRAW", EXT).unwrap();
    assert_eq!((d.int(b"a"), n), (Some(1), 8));
    assert_eq!(
        read_dict(b"d1:ai1eeRAW", EXT),
        Err(BencodeError::Trailing { extra: 3 })
    );
    let (v, n) = read_prefix(b"4:spami1e", EXT).unwrap();
    assert_eq!((v, n), (Value::Bytes(b"spam"), 6));
}

#[test]
fn malformed_inputs() {
    let cases: [(&[u8], BencodeError); 12] = [
        (b"", BencodeError::Truncated { at: 0 }),
        (b"d1:a", BencodeError::Truncated { at: 4 }),
        (b"d1:ai1e", BencodeError::Truncated { at: 7 }),
        (b"di1ei2ee", BencodeError::KeyNotString { at: 1 }),
        (b"d1:ai1eli1eee", BencodeError::KeyNotString { at: 7 }),
        (b"d1:aiee", BencodeError::BadNumber { at: 4 }),
        (b"d1:ai1-ee", BencodeError::BadNumber { at: 4 }),
        (
            b"d1:a99999999999999999999:xe",
            BencodeError::BadNumber { at: 4 },
        ),
        (b"d1:a5:abce", BencodeError::Truncated { at: 10 }),
        (b"d1:axe", BencodeError::Unexpected { at: 4, byte: b'x' }),
        (b"d1:ae", BencodeError::Unexpected { at: 4, byte: b'e' }),
        (b"i1e", BencodeError::Unexpected { at: 0, byte: b'i' }),
    ];
    for (input, err) in cases {
        assert_eq!(
            read_dict(input, EXT),
            Err(err),
            "{:?}",
            input.escape_ascii()
        );
    }
    assert_eq!(
        read(b"e", EXT),
        Err(BencodeError::Unexpected { at: 0, byte: b'e' })
    );
    assert_eq!(
        read(b"l1:ae1:b", EXT),
        Err(BencodeError::Trailing { extra: 3 })
    );
}

#[test]
fn depth_is_bounded() {
    let nest = |n: usize| {
        let mut v = b"d1:a".to_vec();
        v.extend(std::iter::repeat_n(b'l', n));
        v.extend(std::iter::repeat_n(b'e', n + 1));
        v
    };
    let max = EXT.max_depth;
    assert_eq!(
        read_dict(&nest(max), EXT),
        Err(BencodeError::TooDeep { max })
    );
    assert!(read_dict(&nest(max - 1), EXT).is_ok());
    // Past the cap, the cap applies.
    let huge = Limits {
        max_len: usize::MAX,
        max_depth: usize::MAX,
    };
    assert_eq!(
        read_dict(&nest(Limits::DEPTH_CAP), huge),
        Err(BencodeError::TooDeep {
            max: Limits::DEPTH_CAP
        })
    );
    assert!(read_dict(&nest(Limits::DEPTH_CAP - 1), huge).is_ok());
}

#[test]
fn length_is_bounded() {
    let big = vec![b'd'; EXT.max_len + 1];
    assert_eq!(
        read_dict(&big, EXT),
        Err(BencodeError::TooLong {
            len: EXT.max_len + 1,
            max: EXT.max_len
        })
    );
}

#[test]
fn streaming_skips_what_is_not_read_and_keeps_raw_spans() {
    let input = b"d1:bli1eli2eee1:ad1:xi1e1:wi2ee1:ci3ee";
    let mut dec = Decoder::new(input, EXT).unwrap();
    let Some(Object::Dict(mut d)) = dec.next_object().unwrap() else {
        panic!("a dict")
    };
    let mut seen = Vec::new();
    while let Some((key, value)) = d.next_pair().unwrap() {
        match (key, value) {
            // Read one item of the list and drop the rest.
            (b"b", Object::List(mut l)) => {
                let first = l.next_object().unwrap().map(|o| o.kind_name());
                seen.push(format!("b:{first:?}"));
            }
            (b"a", Object::Dict(inner)) => {
                seen.push(format!(
                    "a:{:?}",
                    inner.into_raw().unwrap().escape_ascii().to_string()
                ));
            }
            (k, Object::Int(i)) => seen.push(format!("{}:{}", k.escape_ascii(), i.as_str())),
            _ => panic!("unexpected entry"),
        }
    }
    assert_eq!(
        seen,
        ["b:Some(\"an integer\")", "a:\"d1:xi1e1:wi2ee\"", "c:3"]
    );
    assert_eq!(d.into_raw().unwrap(), input);
    assert!(dec.next_object().unwrap().is_none());
}

#[test]
fn streaming_errors_stick() {
    let mut dec = Decoder::new(b"d1:ali1e?e1:bi1ee", EXT).unwrap();
    let Some(Object::Dict(mut d)) = dec.next_object().unwrap() else {
        panic!("a dict")
    };
    assert!(matches!(d.next_pair(), Ok(Some((b"a", Object::List(_))))));
    let err = BencodeError::Unexpected { at: 8, byte: b'?' };
    // The unread list is skipped, and its bad byte found, on the next call.
    assert!(matches!(d.next_pair(), Err(e) if e == err));
    assert!(matches!(d.next_pair(), Err(e) if e == err));
    assert_eq!(d.into_raw(), Err(err.clone()));
    assert!(matches!(dec.next_object(), Err(e) if e == err));
}

#[test]
fn canonical_check() {
    assert_eq!(check_canonical(b"d1:ai1e1:bld1:xi0eeee", EXT), Ok(()));
    assert_eq!(
        check_canonical(b"i-0e", EXT),
        Ok(()),
        "libtorrent lets -0 pass"
    );
    assert_eq!(
        check_canonical(b"d1:bi1e1:ai2ee", EXT),
        Err(BencodeError::UnsortedKey {
            at: 7,
            key: "a".into(),
            previous: "b".into()
        })
    );
    assert_eq!(
        check_canonical(b"d1:al1:xe1:bd1:ai1e1:ai2eee", EXT),
        Err(BencodeError::DuplicateKey {
            at: 19,
            key: "a".into()
        })
    );
    assert_eq!(
        check_canonical(b"d1:ai01ee", EXT),
        Err(BencodeError::LeadingZero { at: 4 })
    );
    assert_eq!(
        check_canonical(b"d02:abi1ee", EXT),
        Err(BencodeError::LeadingZero { at: 1 })
    );
    assert_eq!(
        check_canonical(b"d1:a", EXT),
        Err(BencodeError::Truncated { at: 4 })
    );
    let long = [b'k'; 100];
    let mut d = b"d1:zi1e100:".to_vec();
    d.extend_from_slice(&long);
    d.extend_from_slice(b"i1ee");
    let Err(BencodeError::UnsortedKey { key, .. }) = check_canonical(&d, EXT) else {
        panic!("unsorted")
    };
    assert_eq!(key.len(), 67, "cut at 64 bytes: {key}");
}

#[test]
fn writes_canonical_order() {
    let v = OwnedValue::dict()
        .with("zeta", OwnedValue::Int(-3))
        .with(
            "alpha",
            OwnedValue::List(vec![OwnedValue::str("x"), OwnedValue::int(0u8)]),
        )
        .with("mid", OwnedValue::bytes(b"\x00\xff"));
    let bytes = v.to_bytes();
    assert_eq!(
        bytes,
        b"d5:alphal1:xi0ee3:mid2:\x00\xff4:zetai-3ee".to_vec()
    );
    assert_eq!(check_canonical(&bytes, EXT), Ok(()));
    assert_eq!(OwnedValue::from(read(&bytes, EXT).unwrap()), v);
}

fn owned() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(OwnedValue::Int),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(OwnedValue::Bytes),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(OwnedValue::List),
            prop::collection::btree_map(prop::collection::vec(any::<u8>(), 0..4), inner, 0..4)
                .prop_map(OwnedValue::Dict),
        ]
    })
}

/// Writes `v` with every dictionary's entries in reverse order.
fn write_reversed(v: &OwnedValue, out: &mut Vec<u8>) {
    match v {
        OwnedValue::Dict(map) => {
            out.push(b'd');
            for (k, v) in map.iter().rev() {
                OwnedValue::bytes(k).encode_into(out);
                write_reversed(v, out);
            }
            out.push(b'e');
        }
        OwnedValue::List(items) => {
            out.push(b'l');
            for item in items {
                write_reversed(item, out);
            }
            out.push(b'e');
        }
        other => other.encode_into(out),
    }
}

proptest! {
    #[test]
    fn written_values_read_back(v in owned()) {
        let bytes = v.to_bytes();
        let read_back = read(&bytes, EXT).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(OwnedValue::from(read_back), v.clone());
        prop_assert_eq!(check_canonical(&bytes, EXT), Ok(()));
        // The same value with every dictionary reversed reads the same, and
        // is canonical exactly when no dictionary has two keys.
        let mut rev = Vec::new();
        write_reversed(&v, &mut rev);
        prop_assert_eq!(rev.len(), bytes.len());
        let read_rev = read(&rev, EXT).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(OwnedValue::from(read_rev), v);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok((v, n)) = read_prefix(&bytes, EXT) {
            prop_assert!(n <= bytes.len());
            // What was read is what a streaming pass validates.
            let mut dec = Decoder::new(&bytes[..n], EXT).unwrap();
            let obj = dec.next_object().unwrap().unwrap();
            prop_assert_eq!(obj.into_value().unwrap(), v);
            if let Value::Dict(d) = v {
                prop_assert_eq!(d.raw(), &bytes[..n]);
                let _ = d.iter().count();
            }
        }
        let _ = check_canonical(&bytes, EXT);
    }
}
