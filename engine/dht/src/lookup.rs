//! One iterative Kademlia lookup, as pure state (no sending).
//!
//! The node ([`crate::Dht`]) asks [`Lookup::next_queries`] whom to query,
//! feeds back answers and timeouts, and finishes the lookup when
//! [`Lookup::is_done`]: the [`K`] closest nodes that have not failed have
//! all answered (none is new or in flight). At most `alpha` queries to
//! those K are in flight at once; a query to a node that has since fallen
//! out of the K closest no longer holds a slot, so one slow node cannot
//! stall the search. Everything is bounded: candidates to
//! [`MAX_CANDIDATES`], queries to [`MAX_QUERIES`], peers to [`MAX_PEERS`].

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::id::NodeId;
use crate::krpc::NodeInfo;
use crate::routing::K;

/// Most candidates remembered (the closest are kept).
pub const MAX_CANDIDATES: usize = 64;
/// Most queries one lookup sends.
pub const MAX_QUERIES: usize = 256;
/// Most distinct peers one lookup collects.
pub const MAX_PEERS: usize = 2000;

/// Identifies a lookup in events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(pub u64);

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// `find_node` for an id (user request).
    FindNode,
    /// `get_peers` for an info-hash.
    GetPeers,
    /// `get_peers`, then `announce_peer` to the closest nodes that gave a
    /// token.
    Announce {
        /// Our TCP port (ignored by receivers when `implied_port`).
        port: u16,
        /// Ask receivers to use the datagram's source port.
        implied_port: bool,
    },
    /// `find_node` for our own id with the bootstrap nodes.
    Bootstrap,
    /// `find_node` for a random id in a stale bucket.
    Refresh,
}

impl LookupKind {
    /// Whether the lookup sends `get_peers` (else `find_node`).
    pub fn wants_peers(&self) -> bool {
        matches!(self, LookupKind::GetPeers | LookupKind::Announce { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    New,
    InFlight,
    Responded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    info: NodeInfo,
    state: State,
    token: Option<Vec<u8>>,
}

/// Whom to query next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A node whose id we know.
    Node(NodeInfo),
    /// A bootstrap address (id unknown until it answers).
    Seed(SocketAddr),
}

/// One iterative lookup.
#[derive(Clone, Debug)]
pub struct Lookup {
    /// Its id.
    pub id: LookupId,
    /// The id or info-hash sought.
    pub target: NodeId,
    /// What it is for.
    pub kind: LookupKind,
    candidates: Vec<Candidate>,
    seeds: Vec<SocketAddr>,
    seeds_in_flight: HashSet<SocketAddr>,
    peers: HashSet<SocketAddr>,
    queries: usize,
}

impl Lookup {
    /// A lookup starting from `start` (known nodes) and `seeds` (addresses).
    pub fn new(
        id: LookupId,
        target: NodeId,
        kind: LookupKind,
        start: &[NodeInfo],
        seeds: &[SocketAddr],
    ) -> Lookup {
        let mut l = Lookup {
            id,
            target,
            kind,
            candidates: Vec::new(),
            seeds: seeds.iter().rev().copied().collect(),
            seeds_in_flight: HashSet::new(),
            peers: HashSet::new(),
            queries: 0,
        };
        l.add_nodes(start);
        l
    }

    /// Adds contacts from a response (or the table), closest first.
    pub fn add_nodes(&mut self, nodes: &[NodeInfo]) {
        for n in nodes {
            if self
                .candidates
                .iter()
                .any(|c| c.info.id == n.id || c.info.addr == n.addr)
            {
                continue;
            }
            self.candidates.push(Candidate {
                info: *n,
                state: State::New,
                token: None,
            });
        }
        let target = self.target;
        self.candidates.sort_by_key(|c| c.info.id.distance(&target));
        while self.candidates.len() > MAX_CANDIDATES {
            // Drop the farthest candidate not awaiting an answer.
            match self
                .candidates
                .iter()
                .rposition(|c| c.state != State::InFlight)
            {
                Some(i) => {
                    self.candidates.remove(i);
                }
                None => break,
            }
        }
    }

    /// Indices of the K closest candidates that have not failed.
    fn closest_live(&self) -> impl Iterator<Item = usize> + '_ {
        self.candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.state != State::Failed)
            .take(K)
            .map(|(i, _)| i)
    }

    /// Marks and returns up to `budget` nodes to query now, keeping at most
    /// `alpha` in flight among the K closest (seeds count as in flight).
    pub fn next_queries(&mut self, alpha: usize, budget: usize) -> Vec<Target> {
        let mut out = Vec::new();
        let in_flight = |l: &Lookup| {
            l.seeds_in_flight.len()
                + l.closest_live()
                    .filter(|&i| {
                        l.candidates
                            .get(i)
                            .is_some_and(|c| c.state == State::InFlight)
                    })
                    .count()
        };
        let mut busy = in_flight(self);
        while busy < alpha && out.len() < budget && self.queries < MAX_QUERIES {
            if let Some(seed) = self.seeds.pop() {
                self.seeds_in_flight.insert(seed);
                out.push(Target::Seed(seed));
            } else {
                let next = self.closest_live().find(|&i| {
                    self.candidates
                        .get(i)
                        .is_some_and(|c| c.state == State::New)
                });
                let Some(c) = next.and_then(|i| self.candidates.get_mut(i)) else {
                    break;
                };
                c.state = State::InFlight;
                out.push(Target::Node(c.info));
            }
            self.queries += 1;
            busy += 1;
        }
        out
    }

    /// Records an answer from `from` (id `id`); returns the peers in
    /// `values` not seen before in this lookup.
    pub fn on_response(
        &mut self,
        from: SocketAddr,
        id: NodeId,
        token: Option<Vec<u8>>,
        nodes: &[NodeInfo],
        values: &[SocketAddr],
    ) -> Vec<SocketAddr> {
        if self.seeds_in_flight.remove(&from) {
            self.add_nodes(&[NodeInfo { id, addr: from }]);
        }
        if let Some(c) = self
            .candidates
            .iter_mut()
            .find(|c| c.info.addr == from && c.info.id == id)
        {
            c.state = State::Responded;
            c.token = token;
        }
        self.add_nodes(nodes);
        let mut fresh = Vec::new();
        for v in values {
            if self.peers.len() >= MAX_PEERS {
                break;
            }
            if self.peers.insert(*v) {
                fresh.push(*v);
            }
        }
        fresh
    }

    /// Records that `from` did not answer (timeout or error).
    pub fn on_failure(&mut self, from: SocketAddr) {
        self.seeds_in_flight.remove(&from);
        for c in self.candidates.iter_mut().filter(|c| c.info.addr == from) {
            if c.state == State::InFlight {
                c.state = State::Failed;
            }
        }
    }

    /// Whether the lookup has converged (or run out of queries).
    pub fn is_done(&self) -> bool {
        if !self.seeds.is_empty() && self.queries < MAX_QUERIES {
            return false;
        }
        if !self.seeds_in_flight.is_empty() {
            return false;
        }
        let pending = self.closest_live().any(|i| {
            self.candidates.get(i).is_some_and(|c| {
                c.state == State::InFlight || (c.state == State::New && self.queries < MAX_QUERIES)
            })
        });
        !pending
    }

    /// The K closest nodes that answered, closest first.
    pub fn closest_responded(&self) -> Vec<NodeInfo> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Responded)
            .take(K)
            .map(|c| c.info)
            .collect()
    }

    /// The K closest nodes that answered with a token, with the token.
    pub fn announce_targets(&self) -> Vec<(NodeInfo, Vec<u8>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == State::Responded)
            .filter_map(|c| Some((c.info, c.token.clone()?)))
            .take(K)
            .collect()
    }

    /// Distinct peers found so far.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> NodeInfo {
        let mut id = [0u8; 20];
        id[0] = b;
        NodeInfo {
            id: NodeId(id),
            addr: SocketAddr::from(([10, 0, 0, b], 1000)),
        }
    }

    #[test]
    fn converges_on_the_closest_and_respects_alpha() {
        let target = NodeId([0; 20]);
        let start: Vec<NodeInfo> = (100..120).map(node).collect();
        let mut l = Lookup::new(LookupId(1), target, LookupKind::GetPeers, &start, &[]);
        let first = l.next_queries(3, 100);
        assert_eq!(first.len(), 3);
        assert_eq!(first[0], Target::Node(node(100)));
        assert!(l.next_queries(3, 100).is_empty(), "alpha reached");
        // 100 answers with closer nodes 1..=10 and a peer.
        let peer: SocketAddr = "1.1.1.1:1".parse().unwrap();
        let closer: Vec<NodeInfo> = (1..=10).map(node).collect();
        let got = l.on_response(
            node(100).addr,
            node(100).id,
            Some(b"tk".to_vec()),
            &closer,
            &[peer],
        );
        assert_eq!(got, vec![peer]);
        assert!(l
            .on_response(node(100).addr, node(100).id, None, &[], &[peer])
            .is_empty());
        // 101 and 102 are no longer among the 8 closest: slots free up.
        let next = l.next_queries(3, 100);
        assert_eq!(
            next,
            vec![
                Target::Node(node(1)),
                Target::Node(node(2)),
                Target::Node(node(3))
            ]
        );
        // Everyone answers: done once the 8 closest have answered.
        let mut rounds = 0;
        let mut outstanding = next;
        while !l.is_done() {
            outstanding.extend(l.next_queries(3, 100));
            for t in std::mem::take(&mut outstanding) {
                if let Target::Node(n) = t {
                    if n.id.0[0] == 5 {
                        l.on_failure(n.addr);
                    } else {
                        l.on_response(n.addr, n.id, Some(vec![n.id.0[0]]), &[], &[]);
                    }
                }
            }
            rounds += 1;
            assert!(rounds < 20);
        }
        let closest: Vec<u8> = l.closest_responded().iter().map(|n| n.id.0[0]).collect();
        assert_eq!(closest, vec![1, 2, 3, 4, 6, 7, 8, 9]);
        assert_eq!(l.announce_targets().len(), 8);
    }

    #[test]
    fn seeds_are_queried_first_and_learn_their_id() {
        let seed: SocketAddr = "10.9.9.9:6881".parse().unwrap();
        let mut l = Lookup::new(
            LookupId(2),
            NodeId([0; 20]),
            LookupKind::Bootstrap,
            &[],
            &[seed],
        );
        assert!(!l.is_done());
        assert_eq!(l.next_queries(3, 10), vec![Target::Seed(seed)]);
        l.on_response(seed, node(50).id, None, &[node(7)], &[]);
        assert_eq!(l.next_queries(3, 10), vec![Target::Node(node(7))]);
        l.on_failure(node(7).addr);
        assert!(l.is_done());
        assert_eq!(
            l.closest_responded(),
            vec![NodeInfo {
                id: node(50).id,
                addr: seed
            }]
        );
    }

    #[test]
    fn candidates_are_bounded() {
        let mut l = Lookup::new(LookupId(3), NodeId([0; 20]), LookupKind::FindNode, &[], &[]);
        let many: Vec<NodeInfo> = (1..=200u8).map(node).collect();
        l.add_nodes(&many);
        assert!(l.candidates.len() <= MAX_CANDIDATES);
    }
}
