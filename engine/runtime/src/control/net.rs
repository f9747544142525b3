//! The control core's sockets and its `mio` poller, set up before the
//! shards start (the DHT's port goes into every handshake's `port`
//! message, so it must be known first).
//!
//! # Why `mio` on the control thread
//!
//! The control loop waits for four things at once: datagrams for the DHT,
//! datagrams from UDP trackers, answers from the helper pool, and messages
//! from the shards. `mio` waits for the first three in one `epoll` call (the
//! helpers wake it through a `mio::Waker`); shard messages are drained at
//! every turn of the loop, which turns at least every 50 ms. The shards keep
//! their plain crossbeam sender: waking the control thread from a shard
//! would put a system call on the serving path for no gain (shard messages
//! are counters and peer lists, none of them urgent).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use mio::net::UdpSocket;
use mio::{Poll, Token, Waker};

use crate::config::Config;
use crate::RuntimeError;

/// The DHT socket's token.
pub(crate) const DHT: Token = Token(0);
/// The IPv4 UDP tracker socket's token.
pub(crate) const TRACKER4: Token = Token(1);
/// The IPv6 UDP tracker socket's token.
pub(crate) const TRACKER6: Token = Token(2);
/// The helper pool's wake-ups.
pub(crate) const WAKER: Token = Token(3);

/// What the control core listens on.
pub(crate) struct Net {
    pub(crate) poll: Poll,
    pub(crate) waker: Arc<Waker>,
    pub(crate) dht: Option<UdpSocket>,
    pub(crate) tracker4: Option<UdpSocket>,
    pub(crate) tracker6: Option<UdpSocket>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("dht", &self.dht)
            .field("tracker4", &self.tracker4)
            .field("tracker6", &self.tracker6)
            .finish_non_exhaustive()
    }
}

impl Net {
    /// The DHT's UDP port, when it runs.
    pub(crate) fn dht_port(&self) -> Option<u16> {
        self.dht
            .as_ref()
            .and_then(|s| s.local_addr().ok())
            .map(|a| a.port())
    }
}

/// Binds the DHT socket (when the DHT is on: the first IPv4 `bind`
/// address, `dht_port` or else the TCP `port`) and the UDP tracker sockets
/// (an ephemeral port on the first IPv4 and the first IPv6 `bind`
/// address), and makes the poller.
pub(crate) fn bind(config: &Config, tcp_port: u16) -> Result<Net, RuntimeError> {
    let poll = Poll::new().map_err(|e| RuntimeError::Config {
        what: format!("cannot create the control core's poller: {e}"),
    })?;
    let waker = Waker::new(poll.registry(), WAKER).map_err(|e| RuntimeError::Config {
        what: format!("cannot create the control core's waker: {e}"),
    })?;
    let v4 = config.bind.iter().copied().find(IpAddr::is_ipv4);
    let v6 = config.bind.iter().copied().find(IpAddr::is_ipv6);
    let dht = if config.dht {
        match v4 {
            Some(ip) => {
                let addr = SocketAddr::new(ip, config.dht_port.unwrap_or(tcp_port));
                Some(udp(addr, false).map_err(|e| RuntimeError::Config {
                    what: format!(
                        "cannot bind the DHT's UDP socket {addr}: {e} \
                         (choose another port with --dht-port, or turn the DHT off with --no-dht)"
                    ),
                })?)
            }
            None => {
                tracing::warn!("the DHT needs an IPv4 bind address; it is off");
                None
            }
        }
    } else {
        None
    };
    let tracker = |ip: Option<IpAddr>| {
        let ip = ip?;
        match udp(SocketAddr::new(ip, 0), ip.is_ipv6()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("no UDP tracker socket on {ip}: {e}; UDP trackers there fail");
                None
            }
        }
    };
    Ok(Net {
        poll,
        waker: Arc::new(waker),
        dht,
        tracker4: tracker(v4.or(v6.is_none().then_some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))),
        tracker6: tracker(v6),
    })
}

fn udp(addr: SocketAddr, v6only: bool) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if v6only {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    // Room for a burst of answers (and of a storm, which is dropped
    // by the kernel past this instead of by us).
    let _ = s.set_recv_buffer_size(1 << 20);
    s.bind(&addr.into())?;
    let std: std::net::UdpSocket = s.into();
    Ok(UdpSocket::from_std(std))
}
