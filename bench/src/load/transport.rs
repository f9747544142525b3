//! The byte pipe under a simulated leecher's BitTorrent session.
//!
//! The worker's event loop knows sockets only through [`Transport`]: it
//! registers it with its `mio::Poll`, asks whether the connection is up,
//! reads and writes bytes, and deregisters it. The session above never
//! sees which transport carries its bytes. Plain TCP ([`Tcp`]) is the
//! one built in; an encrypted (MSE/PE) or uTP transport is another
//! implementation of the same trait plus a [`TransportKind`] variant, with
//! no change to the session or the worker's loop. A transport that must
//! negotiate before BitTorrent bytes flow (MSE's key exchange) reports
//! "not connected" from [`Transport::poll_connected`] until it is done,
//! driving its negotiation from inside that call.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::net;

/// Which transport the peers use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransportKind {
    /// Plain TCP.
    #[default]
    Tcp,
}

impl TransportKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            TransportKind::Tcp => "tcp",
        }
    }

    /// Starts a non-blocking connection from `source` (when given) to
    /// `target`; completion shows as readiness on the registered token.
    pub(crate) fn connect(
        self,
        source: Option<IpAddr>,
        target: SocketAddr,
    ) -> io::Result<Box<dyn Transport>> {
        match self {
            TransportKind::Tcp => Ok(Box::new(Tcp {
                stream: net::connect_from(source, target)?,
            })),
        }
    }
}

/// A connection the worker drives: non-blocking, edge-triggered through
/// `mio` (a read or write that returns `WouldBlock` re-arms it).
pub(crate) trait Transport {
    /// Registers for read and write readiness under `token`.
    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()>;
    /// Stops readiness events (errors ignored: the connection is going).
    fn deregister(&mut self, registry: &Registry);
    /// `Ok(true)` once bytes can flow, `Ok(false)` while still connecting,
    /// `Err` when the connection failed.
    fn poll_connected(&mut self) -> io::Result<bool>;
    /// Reads received bytes (`Ok(0)`: the peer closed).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes bytes to send.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
}

/// Plain TCP.
struct Tcp {
    stream: TcpStream,
}

impl Transport for Tcp {
    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut self.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }

    fn poll_connected(&mut self) -> io::Result<bool> {
        match self.stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match self.stream.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) => Err(e),
            },
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
}
