//! Our queries: transaction ids, answers, timeouts, and lookup progress.
//!
//! A transaction id is two bytes, unique among pending queries. An answer
//! counts only if its `t` matches a pending query *and* it comes from the
//! address that query went to, so a third party cannot answer for a node.

use std::net::SocketAddr;
use std::time::Instant;

use super::{Dht, Event, Pending, Purpose};
use crate::id::NodeId;
use crate::krpc::{Body, Message, NodeInfo, Query, Response, Want};
use crate::lookup::{LookupKind, Target};
use crate::routing::{Contact, Insert};

impl Dht {
    fn query_message(&self, t: u16, body: Query) -> Message {
        Message {
            transaction: t.to_be_bytes().to_vec(),
            version: self.config.version.map(|v| v.to_vec()),
            read_only: self.config.read_only,
            requester_ip: None,
            body: Body::Query(body),
        }
    }

    fn want(&self) -> Option<Want> {
        self.config.ipv6.then_some(Want { v4: true, v6: true })
    }

    /// Sends `q` to `addr`; `false` when the pending table is full or the
    /// address family is not in use.
    fn send_query(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        id: Option<NodeId>,
        q: Query,
        purpose: Purpose,
    ) -> bool {
        if self.pending.len() >= self.config.max_pending
            || (addr.is_ipv6() && !self.config.ipv6)
            || addr.port() == 0
        {
            return false;
        }
        let mut t = self.next_tid;
        while self.pending.contains_key(&t) {
            t = t.wrapping_add(1);
        }
        self.next_tid = t.wrapping_add(1);
        let msg = self.query_message(t, q);
        self.pending.insert(
            t,
            Pending {
                addr,
                id,
                deadline: now + self.config.query_timeout,
                purpose,
            },
        );
        self.stats.queries_sent += 1;
        self.send_message(addr, msg);
        true
    }

    pub(super) fn send_ping(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        id: Option<NodeId>,
        explicit: bool,
    ) -> bool {
        let q = Query::Ping { id: self.id };
        self.send_query(now, addr, id, q, Purpose::Ping { explicit })
    }

    fn take_pending(&mut self, from: SocketAddr, t: &[u8]) -> Option<Pending> {
        let t = u16::from_be_bytes(<[u8; 2]>::try_from(t).ok()?);
        if self.pending.get(&t)?.addr != from {
            return None;
        }
        self.pending.remove(&t)
    }

    pub(super) fn on_response(&mut self, now: Instant, from: SocketAddr, t: &[u8], r: Response) {
        let Some(p) = self.take_pending(from, t) else {
            self.stats.unexpected += 1;
            return;
        };
        if r.id == self.id || p.id.is_some_and(|id| id != r.id) {
            // Not the node we asked for (or ourselves): no answer at all.
            self.query_failed(now, p);
            return;
        }
        self.stats.responses += 1;
        let node = NodeInfo {
            id: r.id,
            addr: from,
        };
        if let Insert::Cached { ping: Some(q) } = self.table.insert(node, now, Contact::Responded) {
            if !self.pending.values().any(|x| x.addr == q.addr) {
                self.send_ping(now, q.addr, Some(q.id), false);
            }
        }
        match p.purpose {
            Purpose::Ping { explicit: true } => self.push_event(Event::NodeVerified { node }),
            Purpose::Ping { explicit: false } | Purpose::Announce => {}
            Purpose::Lookup(lid) => {
                let mut nodes = r.nodes;
                if self.config.ipv6 {
                    nodes.extend(r.nodes6);
                }
                for n in &nodes {
                    self.table.insert(*n, now, Contact::Heard);
                }
                let Some(l) = self.lookups.iter_mut().find(|l| l.id == lid) else {
                    return;
                };
                let fresh = l.on_response(from, r.id, r.token, &nodes, &r.values);
                if !fresh.is_empty() && l.kind.wants_peers() {
                    let ev = Event::Peers {
                        lookup: lid,
                        info_hash: l.target,
                        peers: fresh,
                    };
                    self.push_event(ev);
                }
                self.drive_lookups(now);
            }
        }
    }

    pub(super) fn on_error(&mut self, now: Instant, from: SocketAddr, t: &[u8]) {
        match self.take_pending(from, t) {
            // It is alive but gave nothing useful: a failed lookup step,
            // not a strike against the node.
            Some(Pending {
                purpose: Purpose::Lookup(lid),
                ..
            }) => {
                if let Some(l) = self.lookups.iter_mut().find(|l| l.id == lid) {
                    l.on_failure(from);
                }
                self.drive_lookups(now);
            }
            Some(_) => {}
            None => self.stats.unexpected += 1,
        }
    }

    fn query_failed(&mut self, now: Instant, p: Pending) {
        if let Some(id) = p.id {
            self.table.failed(&id, &p.addr, now);
        }
        if let Purpose::Lookup(lid) = p.purpose {
            if let Some(l) = self.lookups.iter_mut().find(|l| l.id == lid) {
                l.on_failure(p.addr);
            }
        }
    }

    pub(super) fn expire_pending(&mut self, now: Instant) {
        let expired: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in expired {
            if let Some(p) = self.pending.remove(&t) {
                self.stats.timeouts += 1;
                self.query_failed(now, p);
            }
        }
    }

    /// Sends what each lookup wants sent and finishes converged ones.
    pub(super) fn drive_lookups(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.lookups.len() {
            let budget = self.config.max_pending.saturating_sub(self.pending.len());
            let Some(l) = self.lookups.get_mut(i) else {
                break;
            };
            let (lid, target, wants_peers) = (l.id, l.target, l.kind.wants_peers());
            let targets = l.next_queries(self.config.alpha, budget);
            for t in targets {
                let (addr, id) = match t {
                    Target::Node(n) => (n.addr, Some(n.id)),
                    Target::Seed(a) => (a, None),
                };
                let q = if wants_peers {
                    Query::GetPeers {
                        id: self.id,
                        info_hash: target,
                        want: self.want(),
                    }
                } else {
                    Query::FindNode {
                        id: self.id,
                        target,
                        want: self.want(),
                    }
                };
                if !self.send_query(now, addr, id, q, Purpose::Lookup(lid)) {
                    if let Some(l) = self.lookups.get_mut(i) {
                        l.on_failure(addr);
                    }
                }
            }
            if self.lookups.get(i).is_some_and(|l| l.is_done()) {
                let l = self.lookups.swap_remove(i);
                self.finish_lookup(now, l);
            } else {
                i += 1;
            }
        }
    }

    fn finish_lookup(&mut self, now: Instant, l: crate::lookup::Lookup) {
        let mut announced = 0;
        if let LookupKind::Announce { port, implied_port } = l.kind {
            for (n, token) in l.announce_targets() {
                let q = Query::AnnouncePeer {
                    id: self.id,
                    info_hash: l.target,
                    port,
                    implied_port,
                    token,
                };
                if self.send_query(now, n.addr, Some(n.id), q, Purpose::Announce) {
                    announced += 1;
                }
            }
        }
        self.push_event(Event::LookupDone {
            lookup: l.id,
            target: l.target,
            kind: l.kind,
            closest: l.closest_responded(),
            announced,
        });
        if l.kind == LookupKind::Bootstrap {
            let nodes = self.table.len();
            self.push_event(Event::Bootstrapped { nodes });
        }
    }
}
