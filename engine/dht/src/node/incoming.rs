//! Datagrams in: answering queries, and dispatching answers to `rpc`.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::Dht;
use crate::krpc::{Body, ErrorCode, Message, NodeInfo, Query, Response, Want, MAX_INPUT};
use crate::routing::{Contact, K};

impl Dht {
    /// Handles one datagram from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if data.len() > MAX_INPUT || from.port() == 0 {
            self.stats.malformed += 1;
            return;
        }
        let msg = match Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                if let Some(reply) = e.reply() {
                    if !self.config.read_only && self.limiter.allow(from.ip(), now) {
                        self.stats.errors_sent += 1;
                        self.send_message(from, reply);
                    }
                }
                return;
            }
        };
        match msg.body {
            Body::Query(q) => self.on_query(now, from, msg.transaction, msg.read_only, q),
            Body::Response(r) => self.on_response(now, from, &msg.transaction, r),
            Body::Error(_) => self.on_error(now, from, &msg.transaction),
        }
    }

    fn on_query(&mut self, now: Instant, from: SocketAddr, t: Vec<u8>, ro: bool, q: Query) {
        if self.config.read_only {
            return;
        }
        if !self.limiter.allow(from.ip(), now) {
            self.stats.rate_limited += 1;
            return;
        }
        let sender = q.sender_id();
        if sender == self.id {
            return;
        }
        if !ro && (self.config.ipv6 || from.is_ipv4()) {
            self.table.insert(
                NodeInfo {
                    id: sender,
                    addr: from,
                },
                now,
                Contact::Queried,
            );
        }
        let mut r = Response {
            id: self.id,
            ..Response::default()
        };
        match q {
            Query::Ping { .. } => {}
            Query::FindNode { target, want, .. } => {
                self.fill_nodes(&mut r, &target, want, from, now)
            }
            Query::GetPeers {
                info_hash, want, ..
            } => {
                r.token = Some(self.tokens.issue(from.ip()));
                r.values = self.store.peers(
                    &info_hash,
                    from.is_ipv6(),
                    self.config.max_values,
                    now,
                    &mut self.rng,
                );
                // Nodes too, as libtorrent does: lets the lookup go on
                // towards the nodes that hold most of the peers.
                self.fill_nodes(&mut r, &info_hash, want, from, now);
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
                ..
            } => {
                if !self.tokens.validate(from.ip(), &token) {
                    self.stats.bad_tokens += 1;
                    self.stats.errors_sent += 1;
                    self.send_message(from, Message::error(t, ErrorCode::Protocol, "bad token"));
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if port == 0 {
                    self.stats.errors_sent += 1;
                    self.send_message(from, Message::error(t, ErrorCode::Protocol, "port 0"));
                    return;
                }
                self.store
                    .insert(info_hash, SocketAddr::new(unmap(from.ip()), port), now);
            }
        }
        self.stats.queries_answered += 1;
        let msg = Message {
            transaction: t,
            version: self.config.version.map(|v| v.to_vec()),
            read_only: false,
            requester_ip: Some(from),
            body: Body::Response(r),
        };
        self.send_message(from, msg);
    }

    fn fill_nodes(
        &self,
        r: &mut Response,
        target: &crate::NodeId,
        want: Option<Want>,
        from: SocketAddr,
        now: Instant,
    ) {
        let want = want.unwrap_or(Want {
            v4: from.is_ipv4(),
            v6: from.is_ipv6(),
        });
        // The requester is left out: telling a node about itself only
        // makes it query itself.
        let pick = |v6| -> Vec<NodeInfo> {
            let mut n = self.table.closest(target, K + 1, v6, now);
            n.retain(|n| n.addr != from);
            n.truncate(K);
            n
        };
        if want.v4 {
            r.nodes = pick(false);
        }
        if want.v6 && self.config.ipv6 {
            r.nodes6 = pick(true);
        }
    }

    pub(super) fn send_message(&mut self, to: SocketAddr, msg: Message) {
        let bytes = msg.encode();
        self.push_transmit(to, bytes);
    }
}

/// An IPv4-mapped IPv6 address as IPv4 (a dual-stack socket reports them).
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}
