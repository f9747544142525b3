//! The per-shard choker: which interested peers get upload slots.
//!
//! A seed has nothing to gain from tit-for-tat (it downloads nothing), so the
//! question is only how to share upload capacity fairly. This choker is a
//! pure function of the peers' [`PeerStats`] plus a little memory (when
//! each peer's last turn ended), called by the runtime every
//! [`RECHOKE_INTERVAL`]; it returns the changes, which the runtime applies
//! with [`super::PeerSession::set_choked`].
//!
//! - **Unlimited slots** (`slots: None`, the default, like libtorrent's
//!   `high_performance_seed`): every interested peer is unchoked; the send
//!   path's back-pressure shares the bandwidth.
//! - **Limited slots**: round-robin. An unchoked peer keeps its slot for
//!   one turn ([`ChokerConfig::turn`], or until it received
//!   [`ChokerConfig::turn_bytes`]); after that it yields to the peer that
//!   has waited longest. One slot is optimistic: every
//!   [`ChokerConfig::optimistic_interval`] it goes to the longest-waiting
//!   peer that the regular slots did not pick.
//! - **Anti-leech** ([`ChokerConfig::anti_leech`]): waiting time is weighted
//!   by how close the peer is to either end of the download (just starting
//!   or nearly done: up to 4x), so those peers get turns more often, which
//!   spreads new pieces and finishes downloads, while peers in the middle
//!   still get turns (no starvation).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::PeerStats;

/// How often the runtime should call [`Choker::rechoke`] (and also when a
/// peer's interest changes, or a peer leaves).
pub const RECHOKE_INTERVAL: Duration = Duration::from_secs(10);

/// Choker settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChokerConfig {
    /// Upload slots for this shard; `None` = unlimited (the default).
    pub slots: Option<usize>,
    /// How long an unchoked peer keeps its slot when others wait. Default 30 s.
    pub turn: Duration,
    /// A turn also ends once the peer received this many payload bytes
    /// (`None`: time only). Default 16 MiB.
    pub turn_bytes: Option<u64>,
    /// How often the optimistic slot moves on. Default 30 s.
    pub optimistic_interval: Duration,
    /// Favour peers that are just starting or nearly done. Default off.
    pub anti_leech: bool,
}

impl Default for ChokerConfig {
    fn default() -> ChokerConfig {
        ChokerConfig {
            slots: None,
            turn: Duration::from_secs(30),
            turn_bytes: Some(16 * 1024 * 1024),
            optimistic_interval: Duration::from_secs(30),
            anti_leech: false,
        }
    }
}

/// One peer as the choker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChokePeer<K> {
    /// The runtime's key for the session.
    pub key: K,
    /// Its counters ([`super::PeerSession::stats`]).
    pub stats: PeerStats,
}

/// A change to apply: `set_choked(now, choke)` on the session `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChokeDecision<K> {
    /// The session.
    pub key: K,
    /// `true`: choke it; `false`: unchoke it.
    pub choke: bool,
}

/// The choker of one shard. `K` is the runtime's session key.
#[derive(Clone, Debug)]
pub struct Choker<K> {
    config: ChokerConfig,
    /// When each peer last lost its slot (its wait started).
    turn_ended: HashMap<K, Instant>,
    optimistic: Option<K>,
    optimistic_since: Option<Instant>,
}

impl<K: Clone + Eq + Hash + Ord> Choker<K> {
    /// A choker with `config`.
    pub fn new(config: ChokerConfig) -> Choker<K> {
        Choker {
            config,
            turn_ended: HashMap::new(),
            optimistic: None,
            optimistic_since: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ChokerConfig {
        &self.config
    }

    /// The peer holding the optimistic slot, if any.
    pub fn optimistic(&self) -> Option<&K> {
        self.optimistic.as_ref()
    }

    /// Decides who is unchoked at `now` among `peers` (every session of the
    /// shard that finished its handshake) and returns the changes.
    pub fn rechoke(&mut self, now: Instant, peers: &[ChokePeer<K>]) -> Vec<ChokeDecision<K>> {
        self.turn_ended
            .retain(|k, _| peers.iter().any(|p| &p.key == k));
        if self
            .optimistic
            .as_ref()
            .is_some_and(|o| !peers.iter().any(|p| &p.key == o && p.stats.interested))
        {
            self.optimistic = None;
        }
        let Some(slots) = self.config.slots else {
            return peers
                .iter()
                .filter(|p| p.stats.interested && p.stats.choked)
                .map(|p| ChokeDecision {
                    key: p.key.clone(),
                    choke: false,
                })
                .collect();
        };
        let interested: Vec<&ChokePeer<K>> = peers.iter().filter(|p| p.stats.interested).collect();
        let optimistic_slots = usize::from(slots >= 2);
        let regular = slots.saturating_sub(optimistic_slots);
        let due = self
            .optimistic_since
            .is_none_or(|t| now.saturating_duration_since(t) >= self.config.optimistic_interval);
        // The optimistic peer keeps its slot until the interval is over; then
        // its turn counts as used, so it does not slip into a regular slot.
        let reserved = self
            .optimistic
            .clone()
            .filter(|_| !due && optimistic_slots > 0);
        let previous = self.optimistic.clone();

        // Rank: peers in their turn, then waiting peers (longest weighted
        // wait first), then peers whose turn is over (longest unchoked last).
        let mut ranked: Vec<((u8, f64), &ChokePeer<K>)> = interested
            .iter()
            .filter(|p| Some(&p.key) != reserved.as_ref())
            .map(|p| {
                let rank = if Some(&p.key) == previous.as_ref() {
                    (2, 0.0)
                } else {
                    self.rank(now, p)
                };
                (rank, *p)
            })
            .collect();
        // Ties (peers whose turns ended together) go to the peer served
        // least so far, so no key order is favoured turn after turn.
        ranked.sort_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.1.stats.uploaded.cmp(&b.1.stats.uploaded))
                .then_with(|| a.1.key.cmp(&b.1.key))
        });
        let mut unchoke: Vec<K> = ranked
            .iter()
            .take(regular)
            .map(|(_, p)| p.key.clone())
            .collect();

        if optimistic_slots > 0 {
            let pick = reserved.or_else(|| {
                // The longest-waiting peer the regular slots left out; the
                // previous optimistic peer only when nobody else is left.
                let waiting = interested
                    .iter()
                    .filter(|p| !unchoke.contains(&p.key) && Some(&p.key) != previous.as_ref())
                    .max_by(|a, b| {
                        self.waited(now, a)
                            .cmp(&self.waited(now, b))
                            .then_with(|| b.stats.uploaded.cmp(&a.stats.uploaded))
                            .then_with(|| b.key.cmp(&a.key))
                    })
                    .map(|p| p.key.clone());
                waiting.or_else(|| {
                    previous
                        .clone()
                        .filter(|o| !unchoke.contains(o) && interested.iter().any(|p| &p.key == o))
                })
            });
            if due {
                self.optimistic_since = Some(now);
            }
            self.optimistic = pick.clone();
            if let Some(k) = pick {
                unchoke.push(k);
            }
        }

        let mut out = Vec::new();
        for p in peers {
            let want_unchoked = p.stats.interested && unchoke.contains(&p.key);
            if want_unchoked && p.stats.choked {
                out.push(ChokeDecision {
                    key: p.key.clone(),
                    choke: false,
                });
            } else if !want_unchoked && !p.stats.choked {
                self.turn_ended.insert(p.key.clone(), now);
                out.push(ChokeDecision {
                    key: p.key.clone(),
                    choke: true,
                });
            }
        }
        out
    }

    /// How long the peer has waited for a slot (zero while it has one).
    fn waited(&self, now: Instant, p: &ChokePeer<K>) -> Duration {
        if !p.stats.choked {
            return Duration::ZERO;
        }
        let since = self
            .turn_ended
            .get(&p.key)
            .copied()
            .unwrap_or(p.stats.connected_at);
        now.saturating_duration_since(since)
    }

    /// Sort key (lower first): (tier, secondary).
    fn rank(&self, now: Instant, p: &ChokePeer<K>) -> (u8, f64) {
        let s = &p.stats;
        if !s.choked {
            let held = s
                .unchoked_at
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
            let turn_over = held >= self.config.turn
                || self
                    .config
                    .turn_bytes
                    .is_some_and(|q| s.uploaded_since_unchoke >= q);
            if !turn_over {
                return (0, held.as_secs_f64());
            }
            return (2, -held.as_secs_f64());
        }
        let mut weight = 1.0;
        if self.config.anti_leech && s.piece_count > 0 {
            let p = f64::from(s.peer_pieces) / f64::from(s.piece_count);
            weight += 3.0 * ((p - 0.5).abs() * 2.0);
        }
        (1, -(self.waited(now, p).as_secs_f64() * weight))
    }
}

#[cfg(test)]
#[path = "choke_tests.rs"]
mod tests;
