//! Magnet links: any text parses or gives an error, never a panic, and a
//! parsed link written back out parses to the same link.

use seedcore_protocol::magnet::Magnet;

/// See the module docs.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(m) = Magnet::parse(&text) {
        let uri = m.to_uri();
        let again = Magnet::parse(&uri).expect("own magnet parses");
        assert_eq!(again, m, "{uri}");
        assert_eq!(again.to_uri(), uri);
    }
}
