//! Compact peer lists (BEP 23 for IPv4, BEP 7 for IPv6), shared by the HTTP
//! `peers`/`peers6` strings and UDP announce responses, which use the same
//! layout: the address in network order, then the port, big-endian.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Bytes per compact IPv4 peer.
pub const COMPACT_V4_LEN: usize = 6;
/// Bytes per compact IPv6 peer.
pub const COMPACT_V6_LEN: usize = 18;

/// Appends the peers in `data` (6-byte IPv4 entries) to `out` until it holds
/// `cap` peers. A trailing partial entry is ignored, and so is port 0 (no
/// one listens there).
pub fn read_compact_v4(data: &[u8], cap: usize, out: &mut Vec<SocketAddr>) {
    for chunk in data.chunks_exact(COMPACT_V4_LEN) {
        if out.len() >= cap {
            return;
        }
        if let Ok(b) = <[u8; COMPACT_V4_LEN]>::try_from(chunk) {
            let [a, b1, c, d, p0, p1] = b;
            let port = u16::from_be_bytes([p0, p1]);
            if port != 0 {
                let ip = Ipv4Addr::new(a, b1, c, d);
                out.push(SocketAddr::V4(SocketAddrV4::new(ip, port)));
            }
        }
    }
}

/// As [`read_compact_v4`] for 18-byte IPv6 entries.
pub fn read_compact_v6(data: &[u8], cap: usize, out: &mut Vec<SocketAddr>) {
    for chunk in data.chunks_exact(COMPACT_V6_LEN) {
        if out.len() >= cap {
            return;
        }
        let (ip, port) = chunk.split_at(16);
        let (Ok(ip), Ok(port)) = (<[u8; 16]>::try_from(ip), <[u8; 2]>::try_from(port)) else {
            continue;
        };
        let port = u16::from_be_bytes(port);
        if port != 0 {
            let ip = Ipv6Addr::from(ip);
            out.push(SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)));
        }
    }
}

/// Writes `peer` in compact form (6 or 18 bytes by address family).
pub fn write_compact(peer: &SocketAddr, out: &mut Vec<u8>) {
    match peer {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    out.extend_from_slice(&peer.port().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_round_trip_and_cap() {
        let v4: SocketAddr = "10.1.2.3:6881".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:51413".parse().unwrap();
        let mut b4 = Vec::new();
        write_compact(&v4, &mut b4);
        assert_eq!(b4, [10, 1, 2, 3, 0x1a, 0xe1]);
        let mut b6 = Vec::new();
        write_compact(&v6, &mut b6);
        assert_eq!(b6.len(), COMPACT_V6_LEN);
        let mut out = Vec::new();
        read_compact_v4(
            &[b4.clone(), b4.clone(), vec![1, 2, 3]].concat(),
            10,
            &mut out,
        );
        read_compact_v6(&b6, 10, &mut out);
        assert_eq!(out, vec![v4, v4, v6]);
        let mut capped = Vec::new();
        read_compact_v4(&b4.repeat(5), 3, &mut capped);
        assert_eq!(capped.len(), 3);
        let mut zero_port = Vec::new();
        read_compact_v4(&[1, 2, 3, 4, 0, 0], 10, &mut zero_port);
        assert!(zero_port.is_empty());
    }
}
