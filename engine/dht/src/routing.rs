//! The routing table (BEP 5): k-buckets split around our own id.
//!
//! Bucket `i` holds the nodes whose id shares exactly `i` leading bits with
//! ours; the last bucket holds everything closer. Only the last bucket can
//! split (BEP 5: "unless our own node ID falls within the range of the
//! bucket"), so the table is at most 160 buckets of [`K`] nodes plus a
//! replacement cache of [`K`] each: bounded whatever the network sends.
//!
//! Node states follow BEP 5: *good* if it answered one of our queries in
//! the last 15 minutes, or ever answered and queried us in the last 15
//! minutes; *bad* after [`MAX_FAILURES`] unanswered queries in a row;
//! *questionable* otherwise. Nodes we only heard of (from a `nodes` list or
//! an incoming query) enter a bucket only while it has room, marked
//! unverified, and the maintenance pass pings them; a node that answers
//! displaces a bad or unverified one, else waits in the replacement cache
//! while the least recently seen questionable node is pinged.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::id::NodeId;
use crate::krpc::NodeInfo;
use crate::rng::Rng;

/// Bucket size (BEP 5's K).
pub const K: usize = 8;
/// How long an answer keeps a node good, and a bucket fresh.
pub const GOOD_FOR: Duration = Duration::from_secs(15 * 60);
/// Unanswered queries in a row that make a node bad.
pub const MAX_FAILURES: u8 = 2;
const MAX_BUCKETS: usize = 160;

/// BEP 5 node state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Answered recently.
    Good,
    /// Not heard from in 15 minutes, never verified, or missed our last
    /// query.
    Questionable,
    /// Failed to answer [`MAX_FAILURES`] queries in a row.
    Bad,
}

/// How we came to know about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact {
    /// It answered one of our queries.
    Responded,
    /// It sent us a query.
    Queried,
    /// Another node listed it.
    Heard,
}

/// A routing table entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Id and address.
    pub info: NodeInfo,
    /// When it last answered one of our queries.
    pub last_response: Option<Instant>,
    /// When it last queried us.
    pub last_query: Option<Instant>,
    /// When we last heard anything from or about it.
    pub last_seen: Instant,
    /// Unanswered queries in a row.
    pub failures: u8,
}

impl Node {
    fn new(info: NodeInfo, now: Instant, contact: Contact) -> Node {
        let mut n = Node {
            info,
            last_response: None,
            last_query: None,
            last_seen: now,
            failures: 0,
        };
        n.touch(now, contact);
        n
    }

    fn touch(&mut self, now: Instant, contact: Contact) {
        match contact {
            Contact::Responded => {
                self.last_response = Some(now);
                self.failures = 0;
            }
            Contact::Queried => self.last_query = Some(now),
            Contact::Heard => return,
        }
        self.last_seen = now;
    }

    /// Whether it has ever answered us.
    pub fn verified(&self) -> bool {
        self.last_response.is_some()
    }

    /// The BEP 5 state at `now`.
    pub fn state(&self, now: Instant) -> NodeState {
        let recent =
            |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) < GOOD_FOR);
        if self.failures >= MAX_FAILURES {
            NodeState::Bad
        } else if self.failures == 0
            && (recent(self.last_response) || (self.verified() && recent(self.last_query)))
        {
            NodeState::Good
        } else {
            NodeState::Questionable
        }
    }
}

#[derive(Clone, Debug)]
struct Bucket {
    nodes: Vec<Node>,
    replacements: Vec<Node>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Bucket {
        Bucket {
            nodes: Vec::with_capacity(K),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// What [`RoutingTable::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// Now in a bucket.
    Added,
    /// Was there already; timestamps refreshed.
    Updated,
    /// Bucket full: kept in the replacement cache. Ping `ping` (the least
    /// recently seen questionable node) so that a dead one makes room.
    Cached {
        /// Node to ping, if any is questionable.
        ping: Option<NodeInfo>,
    },
    /// Not kept (our own id, or an id or address clash).
    Rejected,
}

/// The routing table.
#[derive(Clone, Debug)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Bucket>,
}

impl RoutingTable {
    /// An empty table (one bucket) centred on `own`.
    pub fn new(own: NodeId, now: Instant) -> RoutingTable {
        RoutingTable {
            own,
            buckets: vec![Bucket::new(now)],
        }
    }

    /// Our id.
    pub fn own_id(&self) -> NodeId {
        self.own
    }

    fn index(&self, id: &NodeId) -> usize {
        self.own
            .common_prefix(id)
            .min(self.buckets.len().saturating_sub(1))
    }

    /// Number of nodes in buckets (replacements not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    /// Whether no bucket holds a node.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of buckets.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// `(nodes, replacements)` per bucket, for tests and stats.
    pub fn bucket_sizes(&self) -> Vec<(usize, usize)> {
        self.buckets
            .iter()
            .map(|b| (b.nodes.len(), b.replacements.len()))
            .collect()
    }

    /// Every node in a bucket.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// The entry for `id`, if in a bucket.
    pub fn get(&self, id: &NodeId) -> Option<&Node> {
        self.buckets
            .get(self.index(id))?
            .nodes
            .iter()
            .find(|n| n.info.id == *id)
    }

    fn addr_taken(&self, addr: &SocketAddr, id: &NodeId) -> bool {
        self.nodes()
            .any(|n| n.info.addr == *addr && n.info.id != *id)
    }

    /// Records contact with a node and places it per BEP 5.
    pub fn insert(&mut self, info: NodeInfo, now: Instant, contact: Contact) -> Insert {
        if info.id == self.own || info.addr.port() == 0 {
            return Insert::Rejected;
        }
        let mut idx = self.index(&info.id);
        let Some(bucket) = self.buckets.get_mut(idx) else {
            return Insert::Rejected;
        };
        if let Some(n) = bucket.nodes.iter_mut().find(|n| n.info.id == info.id) {
            if n.info.addr != info.addr {
                // Same id from another address: keep the one we know
                // unless it stopped answering and the new one answers.
                if !(contact == Contact::Responded && n.failures > 0) {
                    return Insert::Rejected;
                }
                n.info.addr = info.addr;
            }
            n.touch(now, contact);
            if contact == Contact::Responded {
                bucket.last_changed = now;
            }
            return Insert::Updated;
        }
        if self.addr_taken(&info.addr, &info.id) {
            return Insert::Rejected;
        }
        let mut node = Node::new(info, now, contact);
        if let Some(bucket) = self.buckets.get_mut(idx) {
            if let Some(pos) = bucket
                .replacements
                .iter()
                .position(|n| n.info.id == info.id)
            {
                let old = bucket.replacements.remove(pos);
                node.last_response = node.last_response.or(old.last_response);
                node.last_query = node.last_query.or(old.last_query);
            }
        }
        loop {
            let count = self.buckets.len();
            let Some(bucket) = self.buckets.get_mut(idx) else {
                return Insert::Rejected;
            };
            if bucket.nodes.len() < K {
                bucket.nodes.push(node);
                bucket.last_changed = now;
                return Insert::Added;
            }
            if idx + 1 == count && count < MAX_BUCKETS {
                self.split(now);
                idx = self.index(&info.id);
                continue;
            }
            // Full and not splittable: displace a bad node, or an
            // unverified one when the newcomer has answered us.
            let victim = bucket
                .nodes
                .iter()
                .position(|n| n.state(now) == NodeState::Bad)
                .or_else(|| {
                    (node.verified())
                        .then(|| bucket.nodes.iter().position(|n| !n.verified()))
                        .flatten()
                });
            if let Some(pos) = victim {
                if let Some(slot) = bucket.nodes.get_mut(pos) {
                    *slot = node;
                    bucket.last_changed = now;
                    return Insert::Added;
                }
            }
            let ping = bucket
                .nodes
                .iter()
                .filter(|n| n.state(now) == NodeState::Questionable)
                .min_by_key(|n| n.last_seen)
                .map(|n| n.info);
            push_replacement(&mut bucket.replacements, node);
            return Insert::Cached { ping };
        }
    }

    fn split(&mut self, now: Instant) {
        let i = self.buckets.len().saturating_sub(1);
        let own = self.own;
        let Some(old) = self.buckets.pop() else {
            return;
        };
        let mut near = Bucket::new(now);
        let mut far = Bucket::new(old.last_changed);
        let closer = |n: &Node| own.common_prefix(&n.info.id) > i;
        for n in old.nodes {
            if closer(&n) {
                near.nodes.push(n);
            } else {
                far.nodes.push(n);
            }
        }
        for n in old.replacements {
            if closer(&n) {
                near.replacements.push(n);
            } else {
                far.replacements.push(n);
            }
        }
        self.buckets.push(far);
        self.buckets.push(near);
    }

    /// Records an unanswered query. A node that never answered is dropped
    /// at once; a verified one turns bad after [`MAX_FAILURES`]. Either way
    /// the best replacement takes its place when one is cached.
    pub fn failed(&mut self, id: &NodeId, addr: &SocketAddr, now: Instant) {
        let idx = self.index(id);
        let Some(bucket) = self.buckets.get_mut(idx) else {
            return;
        };
        if let Some(pos) = bucket.replacements.iter().position(|n| n.info.id == *id) {
            bucket.replacements.remove(pos);
            return;
        }
        let Some(pos) = bucket
            .nodes
            .iter()
            .position(|n| n.info.id == *id && n.info.addr == *addr)
        else {
            return;
        };
        let drop_it = match bucket.nodes.get_mut(pos) {
            Some(n) => {
                n.failures = n.failures.saturating_add(1);
                !n.verified() || n.state(now) == NodeState::Bad
            }
            None => false,
        };
        if !drop_it {
            return;
        }
        let best = bucket
            .replacements
            .iter()
            .enumerate()
            .max_by_key(|(_, n)| (n.verified(), n.last_seen))
            .map(|(i, _)| i);
        match best {
            Some(r) => {
                let rep = bucket.replacements.remove(r);
                if let Some(slot) = bucket.nodes.get_mut(pos) {
                    *slot = rep;
                }
                bucket.last_changed = now;
            }
            None if !bucket.nodes.get(pos).is_some_and(Node::verified) => {
                bucket.nodes.remove(pos);
            }
            None => {}
        }
    }

    /// Up to `count` non-bad nodes of the same family as `v6`, closest to
    /// `target` first; nodes that answered us come before unverified ones.
    pub fn closest(&self, target: &NodeId, count: usize, v6: bool, now: Instant) -> Vec<NodeInfo> {
        let mut all: Vec<&Node> = self
            .nodes()
            .filter(|n| n.info.addr.is_ipv6() == v6 && n.state(now) != NodeState::Bad)
            .collect();
        all.sort_by_key(|n| (!n.verified(), n.info.id.distance(target)));
        let mut out: Vec<NodeInfo> = all.iter().take(count).map(|n| n.info).collect();
        out.sort_by_key(|n| n.id.distance(target));
        out
    }

    /// Targets for buckets not changed in [`GOOD_FOR`]: a random id in each
    /// such bucket's range (BEP 5 refresh). Marks them refreshed.
    pub fn refresh_targets(&mut self, now: Instant, rng: &mut Rng) -> Vec<NodeId> {
        let last = self.buckets.len().saturating_sub(1);
        let own = self.own;
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if now.saturating_duration_since(b.last_changed) >= GOOD_FOR {
                b.last_changed = now;
                out.push(own.random_in_bucket(i, i != last, rng));
            }
        }
        out
    }

    /// Per bucket, the least recently seen node that is questionable
    /// (including never verified): what the maintenance pass pings.
    pub fn ping_candidates(&self, now: Instant) -> Vec<NodeInfo> {
        self.buckets
            .iter()
            .filter_map(|b| {
                b.nodes
                    .iter()
                    .filter(|n| n.state(now) == NodeState::Questionable)
                    .min_by_key(|n| n.last_seen)
                    .map(|n| n.info)
            })
            .collect()
    }
}

fn push_replacement(cache: &mut Vec<Node>, node: Node) {
    if let Some(n) = cache.iter_mut().find(|n| n.info.id == node.info.id) {
        *n = node;
        return;
    }
    if cache.len() >= K {
        // Evict the least useful: unverified first, then the stalest.
        if let Some(i) = cache
            .iter()
            .enumerate()
            .min_by_key(|(_, n)| (n.verified(), n.last_seen))
            .map(|(i, _)| i)
        {
            cache.remove(i);
        }
    }
    cache.push(node);
}

#[cfg(test)]
mod tests;
