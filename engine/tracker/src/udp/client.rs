//! One UDP tracker, as a state machine: the connect handshake, connection-id
//! reuse, retransmission with BEP 15's back-off, transaction-id matching.
//!
//! The control core owns the socket and the clock. It feeds the machine
//! datagrams ([`UdpTrackerClient::handle_datagram`]) and timer expiries
//! ([`UdpTrackerClient::handle_timeout`]), sends what
//! [`UdpTrackerClient::poll_transmit`] returns, sleeps until
//! [`UdpTrackerClient::poll_timeout`], and collects results from
//! [`UdpTrackerClient::poll_event`]. One machine serves every torrent that
//! announces to the same tracker address, so thousands of announces share
//! one connection id and one connect round-trip a minute.
//!
//! Rules (BEP 15):
//! - A connection id is used for [`UdpConfig::connection_lifetime`] (one
//!   minute) after it was received, then a new one is asked for; a
//!   retransmission after expiry reconnects first.
//! - A request unanswered after `15 * 2^n` seconds is sent again, `n`
//!   starting at 0 and growing by one per retransmission up to 8 (3840 s);
//!   when the last wait also passes the request fails with
//!   [`TrackerError::Timeout`], about two hours after the first send. The
//!   connect request and each announce or scrape count their own `n`.
//! - A transaction id is random per request and kept across its
//!   retransmissions, so a late answer to an earlier copy still counts.
//! - A datagram whose transaction id is not outstanding, or whose action
//!   does not answer the request with that id, is ignored: spoofed or stale
//!   packets change nothing. One exception: a too-short packet with our
//!   transaction id and the right action fails the request
//!   ([`TrackerError::Malformed`]), because opentracker answers an announce
//!   for a hash it does not serve with exactly that (an 8-byte header), and
//!   waiting two hours for a better answer would be pointless.
//!
//! Cost: `poll_timeout` and `handle_timeout` scan the outstanding requests
//! of this one tracker (tens at a time when the scheduler spreads
//! announces); lookups by transaction id are hashed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::packet::{
    response_header, Action, IpFamily, PacketError, Request, Response, MAX_SCRAPE_HASHES,
};
use crate::error::TrackerError;
use crate::rng::Rng;
use crate::types::{AnnounceRequest, AnnounceResponse, ScrapeResponse};

/// Timing of one UDP tracker client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpConfig {
    /// First retransmission timeout; doubles per retransmission (BEP 15: 15 s).
    pub base_timeout: Duration,
    /// Retransmissions before giving up (BEP 15: up to n = 8, so 9 sends).
    pub max_retransmits: u32,
    /// How long a connection id is used after it arrives (BEP 15: 1 minute).
    pub connection_lifetime: Duration,
}

impl Default for UdpConfig {
    /// The values BEP 15 gives.
    fn default() -> UdpConfig {
        UdpConfig {
            base_timeout: Duration::from_secs(15),
            max_retransmits: 8,
            connection_lifetime: Duration::from_secs(60),
        }
    }
}

impl UdpConfig {
    /// How long to wait after the `sends`-th transmission (1-based).
    fn wait_after(&self, sends: u32) -> Duration {
        let n = sends.saturating_sub(1).min(self.max_retransmits).min(20);
        self.base_timeout.saturating_mul(1 << n)
    }
}

/// Names one announce or scrape handed to a [`UdpTrackerClient`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// What a [`UdpTrackerClient`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpEvent {
    /// An announce succeeded. BEP 15 has no `min interval`, tracker id or
    /// warning, so those are `None`.
    Announced {
        /// The announce.
        op: OpId,
        /// The tracker's answer.
        response: AnnounceResponse,
    },
    /// A scrape succeeded.
    Scraped {
        /// The scrape.
        op: OpId,
        /// Counts per requested info-hash, in request order.
        response: ScrapeResponse,
    },
    /// An announce or scrape failed (error packet, timeout, malformed answer).
    Failed {
        /// The announce or scrape.
        op: OpId,
        /// Why.
        error: TrackerError,
    },
}

#[derive(Clone, Debug)]
enum Work {
    Announce(AnnounceRequest),
    Scrape(Vec<[u8; 20]>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Needs a connection id first.
    AwaitConnection,
    /// In the transmit queue.
    Queued,
    /// Sent; retransmit (or give up) at the deadline.
    Sent { deadline: Instant },
}

#[derive(Debug)]
struct Op {
    work: Work,
    tid: u32,
    stage: Stage,
    sends: u32,
    first_sent: Option<Instant>,
}

#[derive(Debug)]
enum Conn {
    Idle,
    Connecting {
        tid: u32,
        stage: Stage,
        sends: u32,
        first_sent: Option<Instant>,
    },
    Connected {
        id: u64,
        expires: Instant,
    },
}

#[derive(Clone, Copy, Debug)]
enum Tx {
    Connect,
    Op(OpId),
}

/// The BEP 15 client for one tracker address; see the module docs.
#[derive(Debug)]
pub struct UdpTrackerClient {
    family: IpFamily,
    config: UdpConfig,
    rng: Rng,
    conn: Conn,
    ops: BTreeMap<OpId, Op>,
    by_tid: HashMap<u32, OpId>,
    next_op: u64,
    transmit: VecDeque<Tx>,
    events: VecDeque<UdpEvent>,
}

impl UdpTrackerClient {
    /// A client for a tracker reached over `family` (which decides how
    /// announce responses' peers are read). `rng` draws transaction ids.
    pub fn new(family: IpFamily, config: UdpConfig, rng: Rng) -> UdpTrackerClient {
        UdpTrackerClient {
            family,
            config,
            rng,
            conn: Conn::Idle,
            ops: BTreeMap::new(),
            by_tid: HashMap::new(),
            next_op: 0,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Queues an announce; its result comes back as an event for the id.
    pub fn announce(&mut self, now: Instant, request: AnnounceRequest) -> OpId {
        self.start(now, Work::Announce(request))
    }

    /// Queues a scrape of 1 to [`MAX_SCRAPE_HASHES`] torrents.
    pub fn scrape(
        &mut self,
        now: Instant,
        info_hashes: Vec<[u8; 20]>,
    ) -> Result<OpId, TrackerError> {
        if info_hashes.is_empty() || info_hashes.len() > MAX_SCRAPE_HASHES {
            return Err(TrackerError::TooManyHashes {
                count: info_hashes.len(),
                max: MAX_SCRAPE_HASHES,
            });
        }
        Ok(self.start(now, Work::Scrape(info_hashes)))
    }

    /// Forgets an announce or scrape (a torrent was removed); a late answer
    /// is then ignored. Returns whether it was outstanding.
    pub fn cancel(&mut self, op: OpId) -> bool {
        match self.ops.remove(&op) {
            Some(o) => {
                self.by_tid.remove(&o.tid);
                true
            }
            None => false,
        }
    }

    /// Announces and scrapes not yet answered.
    pub fn outstanding(&self) -> usize {
        self.ops.len()
    }

    /// The connection id in use at `now`, if one is.
    pub fn connection_id(&self, now: Instant) -> Option<u64> {
        match self.conn {
            Conn::Connected { id, expires } if now < expires => Some(id),
            _ => None,
        }
    }

    /// The next datagram to send to the tracker, if any. Call until `None`
    /// after every other call. Deadlines run from the `now` given here.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        while let Some(tx) = self.transmit.pop_front() {
            match tx {
                Tx::Connect => {
                    let wait = self.config.wait_after(self.conn_sends() + 1);
                    if let Conn::Connecting {
                        tid,
                        stage: stage @ Stage::Queued,
                        sends,
                        first_sent,
                    } = &mut self.conn
                    {
                        *sends += 1;
                        first_sent.get_or_insert(now);
                        *stage = Stage::Sent {
                            deadline: deadline(now, wait),
                        };
                        return Some(
                            Request::Connect {
                                transaction_id: *tid,
                            }
                            .to_bytes(),
                        );
                    }
                }
                Tx::Op(id) => {
                    let connection = self.connection_id(now);
                    let Some(op) = self.ops.get_mut(&id) else {
                        continue;
                    };
                    if op.stage != Stage::Queued {
                        continue;
                    }
                    let Some(connection_id) = connection else {
                        op.stage = Stage::AwaitConnection;
                        self.ensure_connecting(now);
                        continue;
                    };
                    op.sends += 1;
                    op.first_sent.get_or_insert(now);
                    op.stage = Stage::Sent {
                        deadline: deadline(now, self.config.wait_after(op.sends)),
                    };
                    let request = match &op.work {
                        Work::Announce(r) => Request::Announce {
                            connection_id,
                            transaction_id: op.tid,
                            request: r.clone(),
                        },
                        Work::Scrape(h) => Request::Scrape {
                            connection_id,
                            transaction_id: op.tid,
                            info_hashes: h.clone(),
                        },
                    };
                    return Some(request.to_bytes());
                }
            }
        }
        None
    }

    /// When [`Self::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn = match self.conn {
            Conn::Connecting {
                stage: Stage::Sent { deadline },
                ..
            } => Some(deadline),
            _ => None,
        };
        self.ops
            .values()
            .filter_map(|op| match op.stage {
                Stage::Sent { deadline } => Some(deadline),
                _ => None,
            })
            .chain(conn)
            .min()
    }

    /// Retransmits or gives up on every request whose deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Conn::Connecting {
            stage: stage @ Stage::Sent { .. },
            sends,
            first_sent,
            ..
        } = &mut self.conn
        {
            if matches!(*stage, Stage::Sent { deadline } if deadline <= now) {
                if *sends > self.config.max_retransmits {
                    let error = TrackerError::Timeout {
                        attempts: *sends,
                        waited: now.saturating_duration_since(first_sent.unwrap_or(now)),
                    };
                    self.conn = Conn::Idle;
                    self.fail_waiting(&error);
                } else {
                    *stage = Stage::Queued;
                    self.transmit.push_back(Tx::Connect);
                }
            }
        }
        let expired: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, op)| matches!(op.stage, Stage::Sent { deadline } if deadline <= now))
            .map(|(id, _)| *id)
            .collect();
        let connected = self.connection_id(now).is_some();
        for id in expired {
            let Some(op) = self.ops.get_mut(&id) else {
                continue;
            };
            if op.sends > self.config.max_retransmits {
                let error = TrackerError::Timeout {
                    attempts: op.sends,
                    waited: now.saturating_duration_since(op.first_sent.unwrap_or(now)),
                };
                self.finish(id, Err(error));
            } else if connected {
                op.stage = Stage::Queued;
                self.transmit.push_back(Tx::Op(id));
            } else {
                op.stage = Stage::AwaitConnection;
                self.ensure_connecting(now);
            }
        }
    }

    /// Feeds one datagram received from the tracker's address. Anything
    /// that does not answer an outstanding request is ignored.
    pub fn handle_datagram(&mut self, now: Instant, data: &[u8]) {
        let Some((action, tid)) = response_header(data) else {
            return;
        };
        if let Conn::Connecting {
            tid: connect_tid,
            sends,
            ..
        } = self.conn
        {
            if connect_tid == tid && sends > 0 {
                match Response::decode(data, self.family) {
                    Ok(Response::Connect { connection_id, .. }) => {
                        self.conn = Conn::Connected {
                            id: connection_id,
                            expires: deadline(now, self.config.connection_lifetime),
                        };
                        self.release_waiting();
                    }
                    Ok(Response::Error { message, .. }) => {
                        self.conn = Conn::Idle;
                        self.fail_waiting(&TrackerError::Failure {
                            reason: message,
                            retry_in: None,
                        });
                    }
                    _ => {}
                }
                return;
            }
        }
        let Some(&id) = self.by_tid.get(&tid) else {
            return;
        };
        let Some(op) = self.ops.get(&id) else {
            return;
        };
        if op.sends == 0 {
            return; // never sent: this cannot be its answer
        }
        let expected = match op.work {
            Work::Announce(_) => Action::Announce,
            Work::Scrape(_) => Action::Scrape,
        };
        let outcome = match (Response::decode(data, self.family), &op.work) {
            (
                Ok(Response::Announce {
                    interval,
                    leechers,
                    seeders,
                    peers,
                    ..
                }),
                Work::Announce(_),
            ) => Ok(UdpOk::Announced(AnnounceResponse {
                interval: Some(interval),
                complete: Some(seeders),
                incomplete: Some(leechers),
                peers,
                ..AnnounceResponse::default()
            })),
            (Ok(Response::Scrape { stats, .. }), Work::Scrape(hashes)) => {
                Ok(UdpOk::Scraped(ScrapeResponse {
                    files: hashes.iter().copied().zip(stats).collect(),
                    min_request_interval: None,
                }))
            }
            (Ok(Response::Error { message, .. }), _) => {
                // The error may be about our connection id (a restarted
                // tracker); the next request gets a fresh one. A connect
                // already under way is left alone: others wait on it.
                if matches!(self.conn, Conn::Connected { .. }) {
                    self.conn = Conn::Idle;
                }
                Err(TrackerError::Failure {
                    reason: message,
                    retry_in: None,
                })
            }
            (Err(PacketError::TooShort { .. }), _) if action == expected.code() => {
                Err(TrackerError::Malformed {
                    action: expected.name(),
                    len: data.len(),
                })
            }
            _ => return,
        };
        match outcome {
            Ok(ok) => self.finish(id, Ok(ok)),
            Err(e) => self.finish(id, Err(e)),
        }
    }

    /// The next result, if any.
    pub fn poll_event(&mut self) -> Option<UdpEvent> {
        self.events.pop_front()
    }

    fn start(&mut self, now: Instant, work: Work) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        let tid = self.fresh_tid();
        let connected = self.connection_id(now).is_some();
        let stage = if connected {
            self.transmit.push_back(Tx::Op(id));
            Stage::Queued
        } else {
            Stage::AwaitConnection
        };
        self.ops.insert(
            id,
            Op {
                work,
                tid,
                stage,
                sends: 0,
                first_sent: None,
            },
        );
        self.by_tid.insert(tid, id);
        if !connected {
            self.ensure_connecting(now);
        }
        id
    }

    /// A transaction id not used by any outstanding request.
    fn fresh_tid(&mut self) -> u32 {
        loop {
            let tid = self.rng.next_u32();
            let connect_tid = match self.conn {
                Conn::Connecting { tid, .. } => Some(tid),
                _ => None,
            };
            if !self.by_tid.contains_key(&tid) && connect_tid != Some(tid) {
                return tid;
            }
        }
    }

    fn conn_sends(&self) -> u32 {
        match self.conn {
            Conn::Connecting { sends, .. } => sends,
            _ => 0,
        }
    }

    fn ensure_connecting(&mut self, now: Instant) {
        if matches!(self.conn, Conn::Connecting { .. }) || self.connection_id(now).is_some() {
            return;
        }
        let tid = self.fresh_tid();
        self.conn = Conn::Connecting {
            tid,
            stage: Stage::Queued,
            sends: 0,
            first_sent: None,
        };
        self.transmit.push_back(Tx::Connect);
    }

    fn release_waiting(&mut self) {
        for (id, op) in &mut self.ops {
            if op.stage == Stage::AwaitConnection {
                op.stage = Stage::Queued;
                self.transmit.push_back(Tx::Op(*id));
            }
        }
    }

    fn fail_waiting(&mut self, error: &TrackerError) {
        let waiting: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, op)| op.stage == Stage::AwaitConnection)
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.finish(id, Err(error.clone()));
        }
    }

    fn finish(&mut self, id: OpId, outcome: Result<UdpOk, TrackerError>) {
        if let Some(op) = self.ops.remove(&id) {
            self.by_tid.remove(&op.tid);
        }
        self.events.push_back(match outcome {
            Ok(UdpOk::Announced(response)) => UdpEvent::Announced { op: id, response },
            Ok(UdpOk::Scraped(response)) => UdpEvent::Scraped { op: id, response },
            Err(error) => UdpEvent::Failed { op: id, error },
        });
    }
}

enum UdpOk {
    Announced(AnnounceResponse),
    Scraped(ScrapeResponse),
}

/// `now + wait`, saturating at `now + 1 day` rather than overflowing.
fn deadline(now: Instant, wait: Duration) -> Instant {
    let wait = wait.min(Duration::from_secs(86_400));
    now.checked_add(wait).unwrap_or(now)
}
