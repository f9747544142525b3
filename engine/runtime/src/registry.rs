//! The connection limits that must hold across shards: `max_peers` in all,
//! connections per IP address, and peers per torrent per IP address.
//!
//! # Why one shared registry, and why it does not slow serving
//!
//! `SO_REUSEPORT` hashes each connection's 4-tuple to a listener, so one
//! address's connections land on every shard: a per-shard count would let
//! an address hold `shards` times its limit, and `max_peers` split evenly
//! per shard refuses newcomers on a full shard while another has room. So
//! the counts live here, shared by all shards: an atomic total and a small
//! map per address behind a mutex. It is touched only when a connection is
//! accepted or dialled, when its handshake names a torrent, and when it
//! ends; never per message or per block, which stay shard-local.
//!
//! IPv6 addresses are counted by their /64: one host usually has a whole
//! /64, and would otherwise have 2^64 addresses to spread over.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use seedcore_protocol::session::TorrentId;

/// The limits, from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RegistryLimits {
    /// Connections in all, every shard together.
    pub(crate) max_peers: usize,
    /// Connections from one address (one IPv6 /64), handshaken or not;
    /// 0: no limit.
    pub(crate) per_ip: u32,
    /// Connections from one address to one torrent (libtorrent allows one
    /// unless `allow_multiple_connections_per_ip`); 0: no limit.
    pub(crate) per_ip_torrent: u32,
}

/// An address as the limits count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum IpKey {
    V4(u32),
    V6Net(u64),
}

impl IpKey {
    fn of(ip: IpAddr) -> IpKey {
        match ip {
            IpAddr::V4(v4) => IpKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey::V4(u32::from(v4)),
                None => {
                    let bits = u128::from(v6) >> 64;
                    IpKey::V6Net(u64::try_from(bits).unwrap_or(u64::MAX))
                }
            },
        }
    }
}

#[derive(Debug, Default)]
struct IpEntry {
    conns: u32,
    /// Handshaken connections per torrent (few per address: a small list).
    torrents: Vec<(TorrentId, u32)>,
}

/// Why a connection may not be admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Its address holds its share already.
    PerIp,
    /// The node holds `max_peers` connections.
    Full,
}

/// The shared counts (one per seed, behind an `Arc`).
#[derive(Debug)]
pub(crate) struct PeerRegistry {
    limits: RegistryLimits,
    total: AtomicUsize,
    ips: Mutex<HashMap<IpKey, IpEntry>>,
}

impl PeerRegistry {
    pub(crate) fn new(limits: RegistryLimits) -> PeerRegistry {
        PeerRegistry {
            limits,
            total: AtomicUsize::new(0),
            ips: Mutex::new(HashMap::new()),
        }
    }

    fn ips(&self) -> std::sync::MutexGuard<'_, HashMap<IpKey, IpEntry>> {
        // A shard that panicked while holding the lock left consistent
        // counts (every update is one statement): keep using them.
        self.ips.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connections open now, every shard together.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether the node is at least three quarters full: new connections
    /// then get the short handshake deadline.
    pub(crate) fn crowded(&self) -> bool {
        self.total().saturating_mul(4) >= self.limits.max_peers.saturating_mul(3)
    }

    /// Counts a new connection from `ip`, unless its address is at its
    /// limit or (`full_ok` false) the node is full.
    pub(crate) fn admit(&self, ip: IpAddr, full_ok: bool) -> Result<(), Refusal> {
        let mut ips = self.ips();
        let entry = ips.entry(IpKey::of(ip)).or_default();
        if self.limits.per_ip > 0 && entry.conns >= self.limits.per_ip {
            return Err(Refusal::PerIp);
        }
        if !full_ok && self.total() >= self.limits.max_peers {
            if entry.conns == 0 && entry.torrents.is_empty() {
                ips.remove(&IpKey::of(ip));
            }
            return Err(Refusal::Full);
        }
        entry.conns += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Counts an admitted connection's handshake for `torrent`; `false`
    /// (nothing counted) when its address already has its share of that
    /// torrent.
    pub(crate) fn bind(&self, ip: IpAddr, torrent: TorrentId) -> bool {
        let mut ips = self.ips();
        let entry = ips.entry(IpKey::of(ip)).or_default();
        let slot = match entry.torrents.iter_mut().find(|(t, _)| *t == torrent) {
            Some((_, n)) => n,
            None => {
                entry.torrents.push((torrent, 0));
                match entry.torrents.last_mut() {
                    Some((_, n)) => n,
                    None => return false,
                }
            }
        };
        if self.limits.per_ip_torrent > 0 && *slot >= self.limits.per_ip_torrent {
            return false;
        }
        *slot += 1;
        true
    }

    /// Forgets an admitted connection (and its torrent, if it was bound).
    pub(crate) fn release(&self, ip: IpAddr, torrent: Option<TorrentId>) {
        let key = IpKey::of(ip);
        let mut ips = self.ips();
        let Some(entry) = ips.get_mut(&key) else {
            return;
        };
        entry.conns = entry.conns.saturating_sub(1);
        if let Some(t) = torrent {
            if let Some(i) = entry.torrents.iter().position(|(x, _)| *x == t) {
                if let Some((_, n)) = entry.torrents.get_mut(i) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        entry.torrents.swap_remove(i);
                    }
                }
            }
        }
        if entry.conns == 0 && entry.torrents.is_empty() {
            ips.remove(&key);
        }
        let _ = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn limits_per_address_per_torrent_and_in_all() {
        let r = PeerRegistry::new(RegistryLimits {
            max_peers: 3,
            per_ip: 2,
            per_ip_torrent: 1,
        });
        let (a, b) = (ip("10.0.0.1"), ip("10.0.0.2"));
        assert_eq!(r.admit(a, false), Ok(()));
        assert_eq!(r.admit(a, false), Ok(()));
        assert_eq!(r.admit(a, false), Err(Refusal::PerIp));
        assert!(r.bind(a, TorrentId(0)));
        assert!(!r.bind(a, TorrentId(0)), "one per torrent per address");
        assert!(r.bind(a, TorrentId(1)));
        assert_eq!(r.admit(b, false), Ok(()));
        assert_eq!(r.total(), 3);
        assert_eq!(r.admit(ip("10.0.0.3"), false), Err(Refusal::Full));
        assert_eq!(r.admit(ip("10.0.0.3"), true), Ok(()), "after an eviction");
        r.release(a, Some(TorrentId(0)));
        assert!(r.bind(a, TorrentId(0)), "its share is free again");
        r.release(a, Some(TorrentId(0)));
        r.release(a, Some(TorrentId(1)));
        r.release(b, None);
        r.release(ip("10.0.0.3"), None);
        assert_eq!(r.total(), 0);
        assert!(r.ips().is_empty());
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_v4_as_v4() {
        let r = PeerRegistry::new(RegistryLimits {
            max_peers: 100,
            per_ip: 1,
            per_ip_torrent: 0,
        });
        assert_eq!(r.admit(ip("2001:db8:1:2::1"), false), Ok(()));
        assert_eq!(
            r.admit(ip("2001:db8:1:2::ffff"), false),
            Err(Refusal::PerIp)
        );
        assert_eq!(r.admit(ip("2001:db8:1:3::1"), false), Ok(()));
        assert_eq!(r.admit(ip("192.0.2.7"), false), Ok(()));
        assert_eq!(r.admit(ip("::ffff:192.0.2.7"), false), Err(Refusal::PerIp));
    }
}
