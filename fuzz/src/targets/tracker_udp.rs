//! UDP tracker packets (BEP 15) and the client state machine.
//!
//! The first byte picks a mode. Packet mode decodes the rest as a response
//! (both address families) and as a request: whatever decodes re-encodes
//! to a packet that decodes to the same value. Client mode runs a
//! [`UdpTrackerClient`] on virtual time with announces and scrapes, fed
//! datagrams that carry the transaction id it is waiting for (or not) and
//! fuzzed bodies, with timers between: nothing panics, every datagram it
//! sends decodes as a request, every operation ends in exactly one event,
//! and nothing it holds grows past what was asked.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use seedcore_tracker::udp::{Request, Response};
use seedcore_tracker::{
    AnnounceEvent, AnnounceRequest, IpFamily, Rng, UdpConfig, UdpEvent, UdpTrackerClient, MAX_PEERS,
};

use crate::bytes::Bytes;

/// See the module docs.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        packets(rest);
    } else {
        client(rest);
    }
}

fn packets(data: &[u8]) {
    for family in [IpFamily::V4, IpFamily::V6] {
        if let Ok(r) = Response::decode(data, family) {
            if let Response::Announce { peers, .. } = &r {
                assert!(peers.len() <= MAX_PEERS);
                assert!(peers
                    .iter()
                    .all(|p| IpFamily::of(p) == family && p.port() != 0));
            }
            let mut out = Vec::new();
            r.encode(family, &mut out);
            assert_eq!(Response::decode(&out, family).as_ref(), Ok(&r));
        }
    }
    if let Ok(r) = Request::decode(data) {
        let bytes = r.to_bytes();
        assert_eq!(Request::decode(&bytes).as_ref(), Ok(&r));
    }
}

fn announce(b: &mut Bytes<'_>) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: [b.u8(); 20],
        peer_id: [7; 20],
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 0,
        event: AnnounceEvent::Started,
        num_want: Some(50),
        key: 1,
        tracker_id: None,
    }
}

fn client(data: &[u8]) {
    let mut b = Bytes::new(data);
    let family = if b.bool() { IpFamily::V6 } else { IpFamily::V4 };
    let config = UdpConfig {
        base_timeout: Duration::from_secs(15),
        max_retransmits: u32::from(b.u8() % 4),
        connection_lifetime: Duration::from_secs(60),
    };
    let mut c = UdpTrackerClient::new(family, config, Rng::new(u64::from(b.u8())));
    let mut now = Instant::now();
    // Transaction ids of what the client sent, newest last.
    let mut sent: Vec<u32> = Vec::new();
    let mut open = HashSet::new();
    let mut started = 0usize;
    let mut steps = 0;
    while !b.is_empty() && steps < 1000 {
        steps += 1;
        match b.u8() % 6 {
            0 => {
                open.insert(c.announce(now, announce(&mut b)));
                started += 1;
            }
            1 => {
                let n = b.below(80);
                let hashes = (0..n).map(|i| [i as u8; 20]).collect();
                if let Ok(op) = c.scrape(now, hashes) {
                    open.insert(op);
                    started += 1;
                }
            }
            2 => {
                // A datagram carrying a transaction id the client used.
                let mut d = b.chunk().to_vec();
                if let Some(tid) = sent.get(b.below(sent.len())) {
                    let action = u32::from(b.u8() % 4);
                    if d.len() < 8 {
                        d.resize(8, 0);
                    }
                    d[..4].copy_from_slice(&action.to_be_bytes());
                    d[4..8].copy_from_slice(&tid.to_be_bytes());
                }
                c.handle_datagram(now, &d);
            }
            3 => c.handle_datagram(now, b.chunk()),
            4 => {
                now += Duration::from_secs(u64::from(b.u16()) % 4000);
                c.handle_timeout(now);
            }
            _ => {
                if let Some(&op) = open.iter().next() {
                    if b.bool() {
                        assert!(c.cancel(op));
                        open.remove(&op);
                    }
                }
            }
        }
        while let Some(d) = c.poll_transmit(now) {
            let r = Request::decode(&d).expect("the client sends BEP 15 requests");
            let tid = match r {
                Request::Connect { transaction_id }
                | Request::Announce { transaction_id, .. }
                | Request::Scrape { transaction_id, .. } => transaction_id,
            };
            sent.push(tid);
            if sent.len() > 64 {
                sent.remove(0);
            }
        }
        while let Some(e) = c.poll_event() {
            let op = match e {
                UdpEvent::Announced { op, response } => {
                    assert!(response.peers.len() <= MAX_PEERS);
                    op
                }
                UdpEvent::Scraped { op, response } => {
                    assert!(response.files.len() <= 74);
                    op
                }
                UdpEvent::Failed { op, .. } => op,
            };
            assert!(open.remove(&op), "event for {op:?}, which is not open");
        }
        assert_eq!(c.outstanding(), open.len());
        assert!(c.outstanding() <= started);
        if let Some(t) = c.poll_timeout() {
            // A deadline is never more than the longest back-off away.
            assert!(t <= now + Duration::from_secs(15 << 20));
        }
    }
}
