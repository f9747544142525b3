//! Peer lists for PEX (BEP 11): which reachable peers each torrent has, on
//! any shard. Shards report peers as they come and go; about once a minute
//! the control thread sends each shard the changes since the last round
//! (and a sample of the whole list for peers that have had none yet).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use seedcore_protocol::ext::PexFlags;
use seedcore_protocol::session::{PexEntry, TorrentId};

/// Most peers in one PEX message (BEP 11 suggests at most 50 added).
const SAMPLE: usize = 50;

/// One round's message for a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Round {
    pub(crate) torrent: TorrentId,
    pub(crate) all: Arc<[PexEntry]>,
    pub(crate) added: Arc<[PexEntry]>,
    pub(crate) dropped: Arc<[SocketAddr]>,
}

#[derive(Debug, Default)]
struct Swarm {
    /// Reachable address -> connections reporting it (a peer can be
    /// connected to several shards, or twice).
    known: HashMap<SocketAddr, u32>,
    /// What the last round announced.
    sent: BTreeSet<SocketAddr>,
    /// Where the next sample starts (so large swarms rotate).
    offset: usize,
    /// Private torrents never use PEX (BEP 27).
    private: bool,
}

/// The peer lists of every torrent being served.
#[derive(Debug, Default)]
pub(crate) struct PexLists {
    swarms: HashMap<TorrentId, Swarm>,
}

impl PexLists {
    /// Lists for torrents `0..private.len()` (tests).
    #[cfg(test)]
    pub(crate) fn new(private: Vec<bool>) -> PexLists {
        let mut p = PexLists::default();
        for (i, private) in (0u32..).zip(private) {
            p.add(TorrentId(i), private);
        }
        p
    }

    /// A torrent starts being served.
    pub(crate) fn add(&mut self, torrent: TorrentId, private: bool) {
        self.swarms.insert(
            torrent,
            Swarm {
                private,
                ..Swarm::default()
            },
        );
    }

    /// A torrent stops being served: its list is dropped.
    pub(crate) fn remove(&mut self, torrent: TorrentId) {
        self.swarms.remove(&torrent);
    }

    pub(crate) fn up(&mut self, torrent: TorrentId, addr: SocketAddr) {
        if let Some(s) = self.swarms.get_mut(&torrent) {
            *s.known.entry(addr).or_insert(0) += 1;
        }
    }

    pub(crate) fn down(&mut self, torrent: TorrentId, addr: SocketAddr) {
        if let Some(s) = self.swarms.get_mut(&torrent) {
            if let Some(n) = s.known.get_mut(&addr) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    s.known.remove(&addr);
                }
            }
        }
    }

    /// The messages of one round (torrents with nothing to say are left out).
    pub(crate) fn round(&mut self) -> Vec<Round> {
        let mut out = Vec::new();
        for (&t, s) in &mut self.swarms {
            // Private torrents, and swarms nobody is in, have nothing to say.
            if s.private || (s.known.is_empty() && s.sent.is_empty()) {
                continue;
            }
            let now: BTreeSet<SocketAddr> = s.known.keys().copied().collect();
            let entry = |a: &SocketAddr| (*a, PexFlags::default());
            let added: Vec<PexEntry> = now.difference(&s.sent).take(SAMPLE).map(entry).collect();
            let dropped: Vec<SocketAddr> = s.sent.difference(&now).take(SAMPLE).copied().collect();
            let n = now.len();
            let start = if n == 0 { 0 } else { s.offset % n };
            let all: Vec<PexEntry> = now
                .iter()
                .cycle()
                .skip(start)
                .take(n.min(SAMPLE))
                .map(entry)
                .collect();
            s.offset = start + SAMPLE;
            s.sent = now;
            if all.is_empty() && added.is_empty() && dropped.is_empty() {
                continue;
            }
            out.push(Round {
                torrent: t,
                all: all.into(),
                added: added.into(),
                dropped: dropped.into(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    #[test]
    fn rounds_carry_changes_and_skip_private_torrents() {
        let mut p = PexLists::new(vec![false, true]);
        p.up(TorrentId(0), a(1));
        p.up(TorrentId(0), a(2));
        p.up(TorrentId(0), a(2));
        p.up(TorrentId(1), a(3));
        let r = p.round();
        assert_eq!(r.len(), 1, "the private torrent has no round");
        assert_eq!(r[0].added.len(), 2);
        assert_eq!(r[0].all.len(), 2);
        assert!(r[0].dropped.is_empty());
        p.down(TorrentId(0), a(2));
        let r = p.round();
        assert!(r[0].added.is_empty(), "a(2) is still connected once");
        p.down(TorrentId(0), a(2));
        p.up(TorrentId(0), a(4));
        let r = p.round();
        assert_eq!(&*r[0].dropped, &[a(2)]);
        assert_eq!(
            r[0].added.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![a(4)]
        );
    }

    #[test]
    fn samples_rotate_through_large_swarms() {
        let mut p = PexLists::new(vec![false]);
        for port in 0..120 {
            p.up(TorrentId(0), a(port));
        }
        let first = p.round();
        let second = p.round();
        assert_eq!(first[0].all.len(), 50);
        assert_eq!(second[0].all.len(), 50);
        assert_ne!(first[0].all[0], second[0].all[0]);
        assert!(second[0].added.is_empty());
    }
}
