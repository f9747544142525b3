//! A blocking BitTorrent peer for the hostile populations: just enough of
//! the wire protocol to misbehave on purpose (every read and write has a
//! timeout; nothing here waits for ever).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use seedcore_protocol::ext::ExtendedHandshake;
use seedcore_protocol::wire::{
    decode, Decoded, Handshake, Limits, Message, Reserved, HANDSHAKE_LEN,
};
use socket2::{Domain, Protocol, Socket, Type};

/// A connection to the seed.
pub struct Peer {
    /// The socket (blocking, with timeouts).
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// Connects from `source` (a 127.x.y.z address, so per-IP limits see
/// many hosts) with an optional small receive buffer (a peer that reads
/// slowly or never).
pub fn connect(
    source: Option<IpAddr>,
    target: SocketAddr,
    rcvbuf: Option<usize>,
) -> io::Result<Peer> {
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if let Some(n) = rcvbuf {
        socket.set_recv_buffer_size(n)?;
    }
    if let Some(ip) = source {
        socket.set_reuse_address(true)?;
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    socket.connect_timeout(&target.into(), Duration::from_secs(5))?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    socket.set_write_timeout(Some(Duration::from_secs(5)))?;
    socket.set_tcp_nodelay(true)?;
    Ok(Peer {
        stream: socket.into(),
        buf: Vec::new(),
    })
}

/// Reserved bits: extension protocol and Fast (and the v2 bit when asked).
pub fn reserved(v2: bool) -> Reserved {
    let mut r = Reserved::EMPTY;
    r.set_extension_protocol(true)
        .set_fast(true)
        .set_v2_upgrade(v2);
    r
}

impl Peer {
    /// Writes our handshake and reads the seed's.
    pub fn handshake(
        &mut self,
        info_hash: [u8; 20],
        peer_id: [u8; 20],
        v2: bool,
    ) -> io::Result<()> {
        self.stream
            .write_all(&Handshake::new(reserved(v2), info_hash, peer_id).to_bytes())?;
        let mut hs = [0u8; HANDSHAKE_LEN];
        self.stream.read_exact(&mut hs)?;
        match Handshake::decode(&hs) {
            Ok(Some(_)) => Ok(()),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad handshake from the seed",
            )),
        }
    }

    /// Sends one message.
    pub fn send(&mut self, m: &Message<'_>) -> io::Result<()> {
        let bytes = m
            .to_vec()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.stream.write_all(&bytes)
    }

    /// Our BEP 10 handshake naming the metadata extensions.
    pub fn extended_handshake(&mut self) -> io::Result<()> {
        let mut hs = ExtendedHandshake::default();
        hs.m.insert("ut_metadata".into(), 3);
        hs.m.insert("LT_metadata".into(), 4);
        hs.m.insert("ut_pex".into(), 5);
        let payload = hs
            .to_bytes()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.send(&Message::Extended {
            id: 0,
            payload: &payload,
        })
    }

    /// Reads until one whole message is buffered; returns its id (`None`
    /// for a keep-alive) and payload length. `Ok(None)` on a timeout.
    pub fn read_message(&mut self) -> io::Result<Option<(Option<u8>, usize)>> {
        let limits = Limits::default();
        loop {
            match decode(&self.buf, &limits) {
                Ok(Decoded::Message { msg, consumed }) => {
                    let id = msg.id();
                    self.buf.drain(..consumed);
                    return Ok(Some((id, consumed.saturating_sub(5))));
                }
                Ok(Decoded::NeedMore { .. }) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads and discards up to `max` bytes; `Ok(0)` on a timeout.
    pub fn drain(&mut self, max: usize) -> io::Result<usize> {
        let mut chunk = vec![0u8; max.min(1 << 20)];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// Sets the read timeout.
    pub fn read_timeout(&self, t: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(t))
    }
}
