//! Known answers computed by an independent implementation (Python's
//! built-in big integers, `hashlib.sha1` and a textbook RC4), for fixed
//! private keys: the DH public keys, the shared secret, the handshake
//! hashes and the first RC4-drop1024 keystream bytes of both directions.

use seedcore_mse::dh::PrivateKey;
use seedcore_mse::rc4::Rc4;
use seedcore_mse::*;

const YA: &str = "5b0f381995185a8274de870762723baca33676e9420990f83d53413aa25e233f83a89f8316889bfcba543e8f56326807181883fa09eab567d06b0d9228fb302ae298bc88db9e9f7fa7adf7d82df21dc48b8dbc349a649f222315464d457a11f9";
const YB: &str = "5697cee519699d77baa532dcd0d61a12701f4d15d692f578e3d41f59e44fa9f71021243d76710def7a81ecf94a83668164d1037046a127fe5c803deaaea2823c3779f3de44012d91eb52dd6b78c41fd78efd87fcdf2d788ba199020fb8af74a4";
const S: &str = "b8e8dfce6b9ea8b51ef1d931f918964323671149295519d33fc52943ec37a3d4d7ffad79778bd09b9443abac73167e5dec38dd39215d5eb6796c2cd88d43e71d670717fffc59a6e7e91cab051c4aeef09a931d6cd96c682be53847f48dde1d9e";

#[test]
fn dh_keys_and_secret() {
    let a = PrivateKey::from_bytes([0x31; 20]);
    let b = PrivateKey::from_bytes([0x61; 20]);
    assert_eq!(hex::encode(a.public_key()), YA);
    assert_eq!(hex::encode(b.public_key()), YB);
    let yb: [u8; 96] = hex::decode(YB).unwrap().try_into().unwrap();
    assert_eq!(hex::encode(a.shared_secret(&yb).unwrap()), S);
}

#[test]
fn handshake_hashes_and_keystreams() {
    let s: [u8; 96] = hex::decode(S).unwrap().try_into().unwrap();
    let skey = [0x42; 20];
    assert_eq!(
        hex::encode(req1(&s)),
        "225457b586385834eb5eb13a127e081b453c1903"
    );
    assert_eq!(
        hex::encode(req2(&skey)),
        "54c968b6fda36f273651e1ab30add7f6f3e87982"
    );
    assert_eq!(
        hex::encode(req3(&s)),
        "f468ad0cab08d5565085cf7fd6ec73d4e4c7dc68"
    );
    let ka = key_a(&s, &skey);
    let kb = key_b(&s, &skey);
    assert_eq!(hex::encode(ka), "2ed2041548672399740fc669eac76d619c49e8a2");
    assert_eq!(hex::encode(kb), "a10141be5a101eef7af0f0152cff8ed5564bc212");
    let mut ks = [0u8; 16];
    Rc4::mse(&ka).apply(&mut ks);
    assert_eq!(hex::encode(ks), "50d61fc745e12f96adb7859b3f5b7bb6");
    let mut ks = [0u8; 16];
    Rc4::mse(&kb).apply(&mut ks);
    assert_eq!(hex::encode(ks), "74b4d09fdff0b7c2aeebf890edfb7d6e");
}
