//! The BEP 6 allowed-fast set: pieces a choked peer may still request.
//!
//! The set is a deterministic function of the peer's IPv4 address (its /24
//! network) and the info-hash, so a peer that reconnects, or reconnects from
//! another address in the same /24, gets the same pieces and cannot farm
//! different sets. BEP 6 defines it for IPv4 only.

use std::net::Ipv4Addr;

use seedcore_hash::sha1;

/// The canonical BEP 6 allowed-fast set of `k` pieces (fewer when the
/// torrent has fewer pieces) for a peer at `ip` on the torrent `info_hash`
/// with `piece_count` pieces, in the order the algorithm generates them.
///
/// ```
/// use std::net::Ipv4Addr;
/// use seedcore_protocol::session::allowed_fast_set;
///
/// // The test vector of BEP 6.
/// let set = allowed_fast_set(Ipv4Addr::new(80, 4, 4, 200), &[0xaa; 20], 1313, 7);
/// assert_eq!(set, [1059, 431, 808, 1217, 287, 376, 1188]);
/// ```
pub fn allowed_fast_set(ip: Ipv4Addr, info_hash: &[u8; 20], piece_count: u32, k: u32) -> Vec<u32> {
    let k = k.min(piece_count) as usize;
    let mut out: Vec<u32> = Vec::with_capacity(k);
    if k == 0 {
        return out;
    }
    let masked = u32::from(ip) & 0xFFFF_FF00;
    let mut x = Vec::with_capacity(24);
    x.extend_from_slice(&masked.to_be_bytes());
    x.extend_from_slice(info_hash);
    // Each round yields five candidates; with k <= piece_count it ends with
    // probability 1, and the round bound keeps a pathological case finite.
    let max_rounds = 64 + 16 * k;
    for _ in 0..max_rounds {
        if out.len() >= k {
            break;
        }
        let digest = sha1(&x);
        for chunk in digest.chunks_exact(4) {
            if out.len() >= k {
                break;
            }
            let Ok(word) = <[u8; 4]>::try_from(chunk) else {
                continue;
            };
            let index = u32::from_be_bytes(word) % piece_count;
            if !out.contains(&index) {
                out.push(index);
            }
        }
        x.clear();
        x.extend_from_slice(&digest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep6_vectors() {
        let ip = Ipv4Addr::new(80, 4, 4, 200);
        assert_eq!(
            allowed_fast_set(ip, &[0xaa; 20], 1313, 7),
            [1059, 431, 808, 1217, 287, 376, 1188]
        );
        assert_eq!(
            allowed_fast_set(ip, &[0xaa; 20], 1313, 9),
            [1059, 431, 808, 1217, 287, 376, 1188, 353, 508]
        );
        // Same /24, same set.
        assert_eq!(
            allowed_fast_set(Ipv4Addr::new(80, 4, 4, 1), &[0xaa; 20], 1313, 7),
            allowed_fast_set(ip, &[0xaa; 20], 1313, 7)
        );
    }

    #[test]
    fn small_torrents_get_every_piece_at_most_once() {
        let ip = Ipv4Addr::new(10, 0, 0, 1);
        let mut set = allowed_fast_set(ip, &[1; 20], 3, 10);
        set.sort_unstable();
        assert_eq!(set, [0, 1, 2]);
        assert!(allowed_fast_set(ip, &[1; 20], 0, 10).is_empty());
        assert!(allowed_fast_set(ip, &[1; 20], 100, 0).is_empty());
    }
}
