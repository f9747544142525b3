//! BEP 15 packet layouts, byte by byte.

use std::net::SocketAddr;

use super::packet::*;
use crate::types::{AnnounceEvent, AnnounceRequest};

#[test]
fn connect_request_layout() {
    let b = Request::Connect {
        transaction_id: 0x1122_3344,
    }
    .to_bytes();
    assert_eq!(
        b,
        [0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44]
    );
}

#[test]
fn announce_request_layout() {
    let request = AnnounceRequest {
        info_hash: [0xaa; 20],
        peer_id: [0xbb; 20],
        port: 0x1ae1,
        uploaded: 3,
        downloaded: 1,
        left: 2,
        event: AnnounceEvent::Stopped,
        num_want: None,
        key: 0xdead_beef,
        tracker_id: Some(b"dropped".to_vec()),
    };
    let b = Request::Announce {
        connection_id: 0x0102_0304_0506_0708,
        transaction_id: 9,
        request: request.clone(),
    }
    .to_bytes();
    assert_eq!(b.len(), ANNOUNCE_REQUEST_LEN);
    assert_eq!(&b[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(&b[8..16], &[0, 0, 0, 1, 0, 0, 0, 9]);
    assert_eq!(&b[16..36], &[0xaa; 20]);
    assert_eq!(&b[36..56], &[0xbb; 20]);
    assert_eq!(&b[56..64], &1u64.to_be_bytes()); // downloaded
    assert_eq!(&b[64..72], &2u64.to_be_bytes()); // left
    assert_eq!(&b[72..80], &3u64.to_be_bytes()); // uploaded
    assert_eq!(&b[80..84], &[0, 0, 0, 3]); // stopped
    assert_eq!(&b[84..88], &[0, 0, 0, 0]); // ip
    assert_eq!(&b[88..92], &[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(&b[92..96], &[0xff; 4]); // num_want -1
    assert_eq!(&b[96..98], &[0x1a, 0xe1]);
    let Ok(Request::Announce { request: back, .. }) = Request::decode(&b) else {
        panic!("announce did not decode");
    };
    assert_eq!(
        back,
        AnnounceRequest {
            tracker_id: None,
            ..request
        }
    );
}

#[test]
fn announce_response_v4_and_v6() {
    let mut b = vec![
        0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0x07, 0x08, 0, 0, 0, 2, 0, 0, 0, 5,
    ];
    b.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1]);
    match Response::decode(&b, IpFamily::V4) {
        Ok(Response::Announce {
            transaction_id: 7,
            interval: 1800,
            leechers: 2,
            seeders: 5,
            peers,
        }) => assert_eq!(peers, vec!["127.0.0.1:6881".parse::<SocketAddr>().unwrap()]),
        other => panic!("{other:?}"),
    }
    let mut b6 = b[..20].to_vec();
    b6.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    b6.extend_from_slice(&[0x1a, 0xe1]);
    let Ok(Response::Announce { peers, .. }) = Response::decode(&b6, IpFamily::V6) else {
        panic!("v6 announce did not decode");
    };
    assert_eq!(peers, vec!["[::1]:6881".parse::<SocketAddr>().unwrap()]);
    // The same bytes read as IPv4 are three 6-byte entries.
    let Ok(Response::Announce { peers, .. }) = Response::decode(&b6, IpFamily::V4) else {
        panic!("v4 announce did not decode");
    };
    // ::1 is 15 zero bytes and a 1: the two all-zero entries have port 0.
    assert_eq!(peers, vec!["0.0.0.1:6881".parse::<SocketAddr>().unwrap()]);
}

#[test]
fn short_and_unknown_packets() {
    assert!(matches!(
        Response::decode(&[0, 0, 0], IpFamily::V4),
        Err(PacketError::TooShort {
            action: "packet",
            ..
        })
    ));
    assert!(matches!(
        Response::decode(&[0, 0, 0, 1, 1, 2, 3, 4], IpFamily::V4),
        Err(PacketError::TooShort {
            action: "announce",
            ..
        })
    ));
    assert!(matches!(
        Response::decode(&[0, 0, 0, 0, 1, 2, 3, 4, 0], IpFamily::V4),
        Err(PacketError::TooShort {
            action: "connect",
            ..
        })
    ));
    assert_eq!(
        Response::decode(&[0, 0, 0, 9, 1, 2, 3, 4], IpFamily::V4),
        Err(PacketError::UnknownAction(9))
    );
    let mut bad_magic = Request::Connect { transaction_id: 1 }.to_bytes();
    bad_magic[0] = 1;
    assert_eq!(Request::decode(&bad_magic), Err(PacketError::BadProtocolId));
    let mut scrape = Request::Scrape {
        connection_id: 1,
        transaction_id: 2,
        info_hashes: vec![[1; 20]; 75],
    }
    .to_bytes();
    assert_eq!(
        Request::decode(&scrape),
        Err(PacketError::BadScrapeCount(75))
    );
    scrape.truncate(16 + 20 * 3 + 1);
    assert_eq!(
        Request::decode(&scrape),
        Err(PacketError::BadScrapeCount(3))
    );
}

#[test]
fn error_packet_text() {
    let mut b = vec![0, 0, 0, 3, 0, 0, 0, 42];
    b.extend_from_slice(b"bad\x01conn");
    assert_eq!(
        Response::decode(&b, IpFamily::V4),
        Ok(Response::Error {
            transaction_id: 42,
            message: "bad conn".into()
        })
    );
}
