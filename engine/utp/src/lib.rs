//! seedcore's uTP (BEP 29): the peer protocol's second transport, as pure
//! code over datagrams and a clock that is passed in.
//!
//! # Shape
//!
//! An [`Endpoint`] is one UDP socket's worth of uTP: it routes datagrams
//! to [`Connection`]s by connection id and peer address, accepts SYNs
//! (bounded, with SYN cookies under a flood), and collects what all its
//! connections have to send. It never touches a socket or reads a clock,
//! in the quinn-proto model:
//!
//! ```text
//!   datagram received ─► handle_datagram(now, from, bytes)
//!   socket writable ───► poll_transmit(now, max, &mut Transmits) ─► up to `max` datagrams (sendmmsg / GSO)
//!   timer ─────────────► poll_timeout() / handle_timeout(now)
//!   anything new? ─────► poll_event() ─► Incoming(handle) | Connection(handle, events)
//!   the byte stream ───► conn_mut(handle): write / write_external / read / close
//! ```
//!
//! Payload the application holds elsewhere (a block in a mapped file) is
//! queued by reference with [`Connection::write_external`] and comes back
//! out as a [`Part::External`] of the datagram, so the caller can let the
//! kernel copy it straight from the mapping: one copy, the floor.
//!
//! # Example: two endpoints over a perfect link
//!
//! ```
//! use std::time::{Duration, Instant};
//! use seedcore_utp::{Config, Endpoint, Event, Transmits};
//!
//! let t0 = Instant::now();
//! let (a_addr, b_addr) = ("127.0.0.1:1000".parse()?, "127.0.0.1:2000".parse()?);
//! let mut a: Endpoint<()> = Endpoint::with_seed(Config::default(), t0, 1)?;
//! let mut b: Endpoint<()> = Endpoint::with_seed(Config::default(), t0, 2)?;
//! let dial = a.connect(t0, b_addr)?;
//! a.conn_mut(dial).unwrap().write(b"hello over uTP");
//!
//! // Moves every datagram `from` has for `to`.
//! fn pump(now: Instant, from: &mut Endpoint<()>, from_addr: std::net::SocketAddr, to: &mut Endpoint<()>) {
//!     let mut out = Transmits::new();
//!     from.poll_transmit(now, 64, &mut out);
//!     let mut d = Vec::new();
//!     for i in 0..out.len() {
//!         out.assemble(i, &mut d, |_, _, _| {});
//!         to.handle_datagram(now, from_addr, &d);
//!     }
//! }
//!
//! let mut got = Vec::new();
//! for round in 0..10 {
//!     let now = t0 + Duration::from_millis(round);
//!     pump(now, &mut a, a_addr, &mut b);
//!     pump(now, &mut b, b_addr, &mut a);
//!     while let Some(ev) = b.poll_event() {
//!         let (Event::Incoming(h) | Event::Connection(h, _)) = ev;
//!         let c = b.conn_mut(h).unwrap();
//!         let mut buf = [0; 64];
//!         let n = c.read(&mut buf);
//!         got.extend_from_slice(&buf[..n]);
//!     }
//! }
//! assert_eq!(got, b"hello over uTP");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod config;
mod conn;
mod delay;
mod endpoint;
mod ledbat;
mod mtu;
pub mod packet;
mod recv_buf;
mod rtt;
mod send_buf;
mod seq;
mod transmit;

pub use config::{Config, ConfigError, IPV4_OVERHEAD, IPV6_OVERHEAD, MIN_PACKET_V4, MIN_PACKET_V6};
pub use conn::{CloseReason, ConnStats, Connection, Events, State};
pub use endpoint::{ConnHandle, ConnectError, Endpoint, EndpointStats, Event};
pub use send_buf::PartRef;
pub use transmit::{Datagram, Part, Transmits};

/// Fuzz entry point: parses `data` as a uTP packet, then feeds it to an
/// endpoint twice, as a stray and to an established connection (with
/// every id and sequence number taken from the input), and polls
/// whatever that makes it send. Nothing may panic or grow without bound.
pub fn fuzz_utp_packet(data: &[u8]) {
    use std::time::{Duration, Instant};
    let _ = Packet::parse(data);
    let t0 = Instant::now();
    let Ok(mut ep) = Endpoint::<()>::with_seed(Config::default(), t0, 7) else {
        return;
    };
    let peer: std::net::SocketAddr = ([127, 0, 0, 1], 6881).into();
    let mut out = Transmits::new();
    ep.handle_datagram(t0, peer, data);
    // An established connection whose ids and numbers match the input's
    // header, so the body reaches the connection's state machine.
    if let Ok(h) = packet::Header::decode(data) {
        let mut syn = [0u8; packet::HEADER_LEN];
        packet::Header {
            kind: packet::PacketType::Syn,
            extension: 0,
            conn_id: h.conn_id.wrapping_sub(1),
            timestamp: 1,
            timestamp_diff: 0,
            wnd_size: 1 << 16,
            seq_nr: h.seq_nr.wrapping_sub(1),
            ack_nr: 0,
        }
        .encode(&mut syn);
        ep.handle_datagram(t0, peer, &syn);
        ep.poll_transmit(t0, 16, &mut out);
        ep.handle_datagram(t0, peer, data);
    }
    for step in 1..4u64 {
        let now = t0 + Duration::from_secs(step * 20);
        ep.handle_timeout(now);
        while ep.poll_event().is_some() {}
        out.clear();
        ep.poll_transmit(now, 64, &mut out);
    }
}

use packet::Packet;
