//! BEP 15 packets, both directions: what we send (connect, announce,
//! scrape requests) and what a tracker sends back (connect, announce,
//! scrape responses and errors). All integers are big-endian.
//!
//! Both directions are here so that tests can play the tracker and
//! round-trip every packet; the engine itself only encodes requests and
//! decodes responses. Decoding never panics and never trusts a length: a
//! response's entry count comes from the datagram's size, capped.

use std::net::SocketAddr;

use thiserror::Error;

use crate::peers::{read_compact_v4, read_compact_v6, write_compact};
use crate::types::{text, AnnounceEvent, AnnounceRequest, ScrapeStats};
use crate::MAX_PEERS;

/// The magic `protocol_id` of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Most info-hashes in one scrape request: BEP 15's "about 74", which
/// keeps the request (16 + 74 * 20 bytes) inside a 1500-byte MTU.
pub const MAX_SCRAPE_HASHES: usize = 74;
/// Length of a connect request and of a connect response.
pub const CONNECT_LEN: usize = 16;
/// Length of an announce request without BEP 41 options.
pub const ANNOUNCE_REQUEST_LEN: usize = 98;
/// Length of an announce response header (before the peers).
pub const ANNOUNCE_RESPONSE_HEADER_LEN: usize = 20;

/// The `action` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// 0.
    Connect,
    /// 1.
    Announce,
    /// 2.
    Scrape,
    /// 3 (responses only).
    Error,
}

impl Action {
    /// The wire value.
    pub fn code(self) -> u32 {
        match self {
            Action::Connect => 0,
            Action::Announce => 1,
            Action::Scrape => 2,
            Action::Error => 3,
        }
    }

    /// The action for a wire value.
    pub fn from_code(code: u32) -> Option<Action> {
        Some(match code {
            0 => Action::Connect,
            1 => Action::Announce,
            2 => Action::Scrape,
            3 => Action::Error,
            _ => return None,
        })
    }

    /// "connect", "announce", "scrape" or "error".
    pub fn name(self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::Announce => "announce",
            Action::Scrape => "scrape",
            Action::Error => "error",
        }
    }
}

/// The address family of the socket a packet travels on. BEP 15 announce
/// responses carry 6-byte peers over IPv4 and 18-byte peers over IPv6, with
/// nothing in the packet to say which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpFamily {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of `addr`.
    pub fn of(addr: &SocketAddr) -> IpFamily {
        match addr {
            SocketAddr::V4(_) => IpFamily::V4,
            SocketAddr::V6(_) => IpFamily::V6,
        }
    }
}

/// A packet that is not a well-formed BEP 15 packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PacketError {
    /// Shorter than its action needs.
    #[error("UDP tracker {action} packet of {len} bytes is too short")]
    TooShort {
        /// What the packet claims to be ("packet" when even that is missing).
        action: &'static str,
        /// Its length.
        len: usize,
    },
    /// An action this side of the protocol does not use.
    #[error("UDP tracker packet with unknown action {0}")]
    UnknownAction(u32),
    /// A connect request without the protocol magic.
    #[error("UDP connect request without the protocol id 0x41727101980")]
    BadProtocolId,
    /// A scrape request with no info-hash or more than [`MAX_SCRAPE_HASHES`].
    #[error("UDP scrape request with {0} info-hashes (1 to 74 allowed)")]
    BadScrapeCount(usize),
}

/// A client-to-tracker packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Ask for a connection id.
    Connect {
        /// Transaction id.
        transaction_id: u32,
    },
    /// Announce. The request's `tracker_id` has no place in BEP 15 and is
    /// not sent; `num_want: None` is sent as -1.
    Announce {
        /// From the connect response.
        connection_id: u64,
        /// Transaction id.
        transaction_id: u32,
        /// The announce.
        request: AnnounceRequest,
    },
    /// Scrape up to [`MAX_SCRAPE_HASHES`] torrents.
    Scrape {
        /// From the connect response.
        connection_id: u64,
        /// Transaction id.
        transaction_id: u32,
        /// The torrents.
        info_hashes: Vec<[u8; 20]>,
    },
}

/// A tracker-to-client packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// A connection id, valid for a minute.
    Connect {
        /// Echoed transaction id.
        transaction_id: u32,
        /// The id to put in the next requests.
        connection_id: u64,
    },
    /// Announce result.
    Announce {
        /// Echoed transaction id.
        transaction_id: u32,
        /// Seconds until the next announce.
        interval: u32,
        /// Leechers.
        leechers: u32,
        /// Seeders.
        seeders: u32,
        /// Peers, of the socket's family, at most [`MAX_PEERS`].
        peers: Vec<SocketAddr>,
    },
    /// Scrape result: one entry per requested info-hash, in order.
    Scrape {
        /// Echoed transaction id.
        transaction_id: u32,
        /// Counts (`seeders, completed, leechers` on the wire).
        stats: Vec<ScrapeStats>,
    },
    /// The tracker refused; the message is safe to log (see `TrackerError`).
    Error {
        /// Echoed transaction id.
        transaction_id: u32,
        /// Its message.
        message: String,
    },
}

impl Response {
    /// The transaction id the response answers.
    pub fn transaction_id(&self) -> u32 {
        match self {
            Response::Connect { transaction_id, .. }
            | Response::Announce { transaction_id, .. }
            | Response::Scrape { transaction_id, .. }
            | Response::Error { transaction_id, .. } => *transaction_id,
        }
    }
}

/// Big-endian reads at fixed offsets, `None` past the end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn array<const N: usize>(&self, at: usize) -> Option<[u8; N]> {
        self.0.get(at..at.checked_add(N)?)?.try_into().ok()
    }
    fn u16(&self, at: usize) -> Option<u16> {
        self.array(at).map(u16::from_be_bytes)
    }
    fn u32(&self, at: usize) -> Option<u32> {
        self.array(at).map(u32::from_be_bytes)
    }
    fn u64(&self, at: usize) -> Option<u64> {
        self.array(at).map(u64::from_be_bytes)
    }
}

/// The action and transaction id of any BEP 15 response, if it has them
/// (the first 8 bytes).
pub fn response_header(buf: &[u8]) -> Option<(u32, u32)> {
    let r = Reader(buf);
    Some((r.u32(0)?, r.u32(4)?))
}

impl Request {
    /// Appends the packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Request::Connect { transaction_id } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&Action::Connect.code().to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
            }
            Request::Announce {
                connection_id,
                transaction_id,
                request: r,
            } => {
                out.reserve(ANNOUNCE_REQUEST_LEN);
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&Action::Announce.code().to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                out.extend_from_slice(&r.info_hash);
                out.extend_from_slice(&r.peer_id);
                out.extend_from_slice(&r.downloaded.to_be_bytes());
                out.extend_from_slice(&r.left.to_be_bytes());
                out.extend_from_slice(&r.uploaded.to_be_bytes());
                out.extend_from_slice(&r.event.udp_code().to_be_bytes());
                out.extend_from_slice(&0u32.to_be_bytes()); // IP: the sender's
                out.extend_from_slice(&r.key.to_be_bytes());
                let num_want = r
                    .num_want
                    .map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX));
                out.extend_from_slice(&num_want.to_be_bytes());
                out.extend_from_slice(&r.port.to_be_bytes());
            }
            Request::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&Action::Scrape.code().to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                for h in info_hashes {
                    out.extend_from_slice(h);
                }
            }
        }
    }

    /// The packet as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Reads a request (the tracker's side; used by tests and tools).
    /// BEP 41 options after an announce are ignored; a scrape's trailing
    /// partial hash is an error.
    pub fn decode(buf: &[u8]) -> Result<Request, PacketError> {
        let r = Reader(buf);
        let short = |action: &'static str| PacketError::TooShort {
            action,
            len: buf.len(),
        };
        let (Some(first), Some(action), Some(transaction_id)) = (r.u64(0), r.u32(8), r.u32(12))
        else {
            return Err(short("request"));
        };
        match Action::from_code(action) {
            Some(Action::Connect) if first == PROTOCOL_ID => {
                Ok(Request::Connect { transaction_id })
            }
            Some(Action::Connect) => Err(PacketError::BadProtocolId),
            Some(Action::Announce) => {
                let read = || -> Option<AnnounceRequest> {
                    let num_want = i32::from_be_bytes(r.array(92)?);
                    Some(AnnounceRequest {
                        info_hash: r.array(16)?,
                        peer_id: r.array(36)?,
                        downloaded: r.u64(56)?,
                        left: r.u64(64)?,
                        uploaded: r.u64(72)?,
                        event: AnnounceEvent::from_udp_code(r.u32(80)?)
                            .unwrap_or(AnnounceEvent::None),
                        key: r.u32(88)?,
                        num_want: u32::try_from(num_want).ok(),
                        port: r.u16(96)?,
                        tracker_id: None,
                    })
                };
                let request = read().ok_or_else(|| short("announce"))?;
                Ok(Request::Announce {
                    connection_id: first,
                    transaction_id,
                    request,
                })
            }
            Some(Action::Scrape) => {
                let body = buf.get(16..).unwrap_or_default();
                let count = body.len() / 20;
                if body.len() % 20 != 0 || count == 0 || count > MAX_SCRAPE_HASHES {
                    return Err(PacketError::BadScrapeCount(count));
                }
                let info_hashes = body
                    .chunks_exact(20)
                    .filter_map(|c| <[u8; 20]>::try_from(c).ok())
                    .collect();
                Ok(Request::Scrape {
                    connection_id: first,
                    transaction_id,
                    info_hashes,
                })
            }
            Some(Action::Error) | None => Err(PacketError::UnknownAction(action)),
        }
    }
}

impl Response {
    /// Appends the packet to `out`; announce peers not of `family` are left
    /// out (a tracker answers each family on its own socket).
    pub fn encode(&self, family: IpFamily, out: &mut Vec<u8>) {
        let head = |out: &mut Vec<u8>, action: Action, tid: u32| {
            out.extend_from_slice(&action.code().to_be_bytes());
            out.extend_from_slice(&tid.to_be_bytes());
        };
        match self {
            Response::Connect {
                transaction_id,
                connection_id,
            } => {
                head(out, Action::Connect, *transaction_id);
                out.extend_from_slice(&connection_id.to_be_bytes());
            }
            Response::Announce {
                transaction_id,
                interval,
                leechers,
                seeders,
                peers,
            } => {
                head(out, Action::Announce, *transaction_id);
                for n in [interval, leechers, seeders] {
                    out.extend_from_slice(&n.to_be_bytes());
                }
                for p in peers.iter().filter(|p| IpFamily::of(p) == family) {
                    write_compact(p, out);
                }
            }
            Response::Scrape {
                transaction_id,
                stats,
            } => {
                head(out, Action::Scrape, *transaction_id);
                for s in stats {
                    for n in [s.complete, s.downloaded, s.incomplete] {
                        out.extend_from_slice(&n.to_be_bytes());
                    }
                }
            }
            Response::Error {
                transaction_id,
                message,
            } => {
                head(out, Action::Error, *transaction_id);
                out.extend_from_slice(message.as_bytes());
            }
        }
    }

    /// Reads a response received on a socket of `family`. Peers beyond
    /// [`MAX_PEERS`], a trailing partial peer or scrape entry, and port-0
    /// peers are dropped.
    pub fn decode(buf: &[u8], family: IpFamily) -> Result<Response, PacketError> {
        let r = Reader(buf);
        let Some((action, transaction_id)) = response_header(buf) else {
            return Err(PacketError::TooShort {
                action: "packet",
                len: buf.len(),
            });
        };
        let action = Action::from_code(action).ok_or(PacketError::UnknownAction(action))?;
        let short = PacketError::TooShort {
            action: action.name(),
            len: buf.len(),
        };
        match action {
            Action::Connect => Ok(Response::Connect {
                transaction_id,
                connection_id: r.u64(8).ok_or(short)?,
            }),
            Action::Announce => {
                let (Some(interval), Some(leechers), Some(seeders)) =
                    (r.u32(8), r.u32(12), r.u32(16))
                else {
                    return Err(short);
                };
                let rest = buf.get(ANNOUNCE_RESPONSE_HEADER_LEN..).unwrap_or_default();
                let mut peers = Vec::new();
                match family {
                    IpFamily::V4 => read_compact_v4(rest, MAX_PEERS, &mut peers),
                    IpFamily::V6 => read_compact_v6(rest, MAX_PEERS, &mut peers),
                }
                Ok(Response::Announce {
                    transaction_id,
                    interval,
                    leechers,
                    seeders,
                    peers,
                })
            }
            Action::Scrape => {
                let rest = buf.get(8..).unwrap_or_default();
                let stats = rest
                    .chunks_exact(12)
                    .take(MAX_SCRAPE_HASHES)
                    .filter_map(|c| {
                        let c = Reader(c);
                        Some(ScrapeStats {
                            complete: c.u32(0)?,
                            downloaded: c.u32(4)?,
                            incomplete: c.u32(8)?,
                        })
                    })
                    .collect();
                Ok(Response::Scrape {
                    transaction_id,
                    stats,
                })
            }
            Action::Error => Ok(Response::Error {
                transaction_id,
                message: text(buf.get(8..).unwrap_or_default()),
            }),
        }
    }
}
