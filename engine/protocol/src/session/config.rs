//! Per-engine session settings, shared by every session through an `Arc`.

use std::time::Duration;

/// The peer-id prefix of this engine, Azureus style: `-SC0100-` means
/// seedcore 0.1.0.0.
pub const PEER_ID_PREFIX: &[u8; 8] = b"-SC0100-";

/// The extended message ids this engine asks peers to use when they send to
/// it (our `m` dictionary). Fixed for the life of a connection, which keeps
/// dispatch a plain `match`. The values are libtorrent's, which helps
/// clients that (wrongly) assume them.
pub mod ext_ids {
    /// `ut_pex`.
    pub const UT_PEX: u8 = 1;
    /// `ut_metadata`.
    pub const UT_METADATA: u8 = 2;
    /// `lt_donthave`.
    pub const LT_DONTHAVE: u8 = 7;
    /// `LT_metadata`.
    pub const LT_METADATA: u8 = 14;
}

/// Settings for every session of one engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our peer id (see [`SessionConfig::peer_id_from`]).
    pub peer_id: [u8; 20],
    /// Client name sent as BEP 10 `v`.
    pub client_name: String,
    /// Our TCP listen port, sent as BEP 10 `p` (`None`: not sent).
    pub listen_port: Option<u16>,
    /// Our DHT node's UDP port: when set, the handshake advertises the DHT
    /// bit and peers that also set it get a `port` message.
    pub dht_port: Option<u16>,
    /// Requests queued per Fast peer, advertised as BEP 10 `reqq`; a Fast
    /// peer's requests past it are rejected (BEP 6). Peers without the Fast
    /// extension cannot be told "no" for one request and some (rtorrent)
    /// ignore `reqq`, so their queue may grow past it as far as
    /// [`SessionConfig::peer_budget`] allows; past that their input waits
    /// unread in the socket until the queue drains
    /// ([`super::PeerSession::wants_input`]), never dropped. Default 2000
    /// (libtorrent's seed preset).
    pub reqq: u32,
    /// Size of the BEP 6 allowed-fast set sent to Fast IPv4 peers. Default 10;
    /// 0 sends none.
    pub allowed_fast: u32,
    /// Close the connection when the peer has not completed its handshake
    /// after this long. Default 20 s.
    pub handshake_timeout: Duration,
    /// Send a keep-alive when nothing was sent for this long. Default 120 s.
    pub keepalive_interval: Duration,
    /// Close the connection when nothing arrived from the peer for this
    /// long (peers send keep-alives every 2 minutes). Default 300 s.
    pub idle_timeout: Duration,
    /// Close the connection when the peer took no bytes for this long while
    /// bytes for it waited: handed to the runtime and not written
    /// ([`super::PeerSession::on_sent`]), or written and unacknowledged in
    /// its socket ([`super::PeerSession::on_socket_progress`]). `None`
    /// disables the check. Default 120 s.
    pub send_stall_timeout: Option<Duration>,
    /// Close when more than this many requests in a row were refused
    /// (rejected or dropped) without a block being sent in between.
    /// Default `10 * reqq`.
    pub max_refused_requests: u32,
    /// The peer's byte budget: the most bytes one peer can make its session
    /// hold or owe ahead of the socket. It counts encoded messages not yet
    /// handed to the runtime, extension answers accepted but not yet built
    /// (at their full wire size: metadata pieces, BEP 52 hashes) and queued
    /// block requests (at their size in memory,
    /// [`super::QUEUED_REQUEST_COST`] each: a block is never read before
    /// the socket has room for it). It is checked before each message is
    /// encoded. What the peer asked for and we accepted (queued requests,
    /// extension answers) may take half of it; a request past that is
    /// refused (rejected), and a message that does not fit the whole
    /// budget closes the peer ([`super::SessionError::OverBudget`]): a
    /// peer that asks without reading. Default 1 MiB.
    pub peer_budget: usize,
    /// Largest extension message accepted from a peer. Default 128 KiB.
    pub max_extended: u32,
    /// Close the connection when a message longer than
    /// [`super::SLOW_FRAME_MIN`] has not arrived whole this long after it
    /// began: a peer that dribbles a large message in holds its buffer for
    /// this long at most, not for the whole idle timeout. Default 20 s
    /// (128 KiB in 20 s is 6.5 KB/s).
    pub slow_frame_timeout: Duration,
    /// Bad extension messages (undecodable PEX or metadata messages)
    /// tolerated before closing. Default 16.
    pub max_bad_extension_messages: u32,
}

impl SessionConfig {
    /// A peer id: [`PEER_ID_PREFIX`] then 12 bytes the runtime picks at
    /// random (this crate has no source of randomness).
    pub fn peer_id_from(random: [u8; 12]) -> [u8; 20] {
        let mut id = [0u8; 20];
        for (o, b) in id
            .iter_mut()
            .zip(PEER_ID_PREFIX.iter().chain(random.iter()))
        {
            *o = *b;
        }
        id
    }

    /// The defaults, with the given peer id.
    pub fn new(peer_id: [u8; 20]) -> SessionConfig {
        let reqq = 2000;
        SessionConfig {
            peer_id,
            client_name: format!("seedcore {}", env!("CARGO_PKG_VERSION")),
            listen_port: None,
            dht_port: None,
            reqq,
            allowed_fast: 10,
            handshake_timeout: Duration::from_secs(20),
            keepalive_interval: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(300),
            send_stall_timeout: Some(Duration::from_secs(120)),
            max_refused_requests: reqq * 10,
            peer_budget: 1 << 20,
            max_extended: 128 * 1024,
            slow_frame_timeout: Duration::from_secs(20),
            max_bad_extension_messages: 16,
        }
    }
}

impl Default for SessionConfig {
    /// The defaults with a fixed, recognisable peer id (`-SC0100-` then
    /// zeros); real runtimes use [`SessionConfig::peer_id_from`].
    fn default() -> SessionConfig {
        SessionConfig::new(SessionConfig::peer_id_from([b'0'; 12]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_has_prefix() {
        let id = SessionConfig::peer_id_from(*b"abcdefghijkl");
        assert_eq!(&id, b"-SC0100-abcdefghijkl");
        let c = SessionConfig::default();
        assert_eq!(c.reqq, 2000);
        assert_eq!(c.max_refused_requests, 20_000);
    }
}
