//! One uTP connection: the BEP 29 state machine with LEDBAT, selective
//! ACKs, fast retransmit, RTT-based timeouts and MTU probing.
//!
//! A connection is driven by its [`crate::Endpoint`]: datagrams in
//! (`handle_packet`), datagrams out (`poll_transmit`), one deadline
//! (`poll_timeout` / `handle_timeout`). The application sees a byte
//! stream: [`Connection::write`] / [`Connection::write_external`] in,
//! [`Connection::read`] out, bounded both ways by the configured buffers.
//!
//! ```text
//!            connect()                         SYN received
//!   SynSent ─────────── STATE acks SYN ──┐  ┌── SynRecv (SYN-ACK sent, half-open)
//!      │ no answer after syn_resends     ▼  ▼        │ first DATA from the peer
//!      ▼                              Connected ◄────┘
//!    Closed(TimedOut)                    │ close(): queued bytes, then FIN
//!                                        ▼
//!                                     Closing ── FIN acked / FIN timeouts ──► Closed
//!   RESET from the peer, abort(), num_resends timeouts: ───────────────────► Closed
//! ```
//!
//! Sequence numbers follow libutp and libtorrent: the SYN consumes the
//! initiator's first number, the SYN-ACK is a STATE whose `seq_nr` is the
//! acceptor's first, a FIN consumes a number, and a STATE carries the next
//! number its sender will use.

mod input;
mod output;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::delay::DelayHistory;
use crate::ledbat::Ledbat;
use crate::mtu::MtuSearch;
use crate::recv_buf::RecvBuf;
use crate::rtt::Rtt;
use crate::send_buf::SendBuf;

/// Packets in flight at most (well inside half the 16-bit space, so
/// wrapping comparisons stay unambiguous).
pub(crate) const MAX_IN_FLIGHT: usize = 1024;

/// A SYN is retransmitted after this (no RTT is known yet; libtorrent
/// uses the same 3 s).
const SYN_TIMEOUT: Duration = Duration::from_secs(3);

/// A connected peer is declared dead only after this long without a
/// packet from it (besides the timeout count).
const DEAD_SILENCE: Duration = Duration::from_secs(30);

/// Duplicate ACKs (or SACKed packets past a hole) that mean "lost".
pub(crate) const DUP_ACKS: u16 = 3;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// We sent a SYN and wait for its ACK.
    SynSent,
    /// We answered a SYN and wait for the peer's first data.
    SynRecv,
    /// Both ways open.
    Connected,
    /// [`Connection::close`] was called: queued bytes go out, then a FIN.
    Closing,
    /// Over; [`Connection::close_reason`] says why.
    Closed,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// Our FIN was acknowledged (or, after the peer's FIN, we closed).
    #[error("closed")]
    Closed,
    /// The peer sent RESET.
    #[error("reset by the peer")]
    Reset,
    /// The peer answered our SYN with RESET.
    #[error("connection refused")]
    Refused,
    /// Packets went unacknowledged through every retransmission.
    #[error("timed out")]
    TimedOut,
    /// The application aborted it (a RESET was sent).
    #[error("aborted")]
    Aborted,
    /// An accepted connection's peer never sent data.
    #[error("half-open connection expired")]
    HalfOpenExpired,
}

/// Counters of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Payload bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Payload bytes sent again.
    pub bytes_retransmitted: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Datagrams sent (all kinds).
    pub packets_sent: u64,
    /// Datagrams received for this connection.
    pub packets_received: u64,
    /// Retransmission timer expiries.
    pub timeouts: u64,
    /// Packets resent on duplicate or selective ACKs.
    pub fast_retransmits: u64,
    /// Packets dropped as invalid for this connection (bad ack number,
    /// too far ahead).
    pub packets_ignored: u64,
}

/// What happened since the endpoint last asked (bit flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events(pub(crate) u8);

impl Events {
    pub(crate) const CONNECTED: u8 = 1;
    pub(crate) const READABLE: u8 = 2;
    pub(crate) const WRITABLE: u8 = 4;
    pub(crate) const CLOSED: u8 = 8;

    /// An outgoing connection was accepted by the peer.
    pub fn connected(self) -> bool {
        self.0 & Self::CONNECTED != 0
    }
    /// Bytes (or the end of the stream) can be read.
    pub fn readable(self) -> bool {
        self.0 & Self::READABLE != 0
    }
    /// Send space opened.
    pub fn writable(self) -> bool {
        self.0 & Self::WRITABLE != 0
    }
    /// The connection closed.
    pub fn closed(self) -> bool {
        self.0 & Self::CLOSED != 0
    }
    /// No event.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Syn,
    Data,
    Fin,
}

/// A packet we sent that is not acknowledged yet.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub(crate) kind: Kind,
    /// Stream offset of its payload.
    pub(crate) start: u64,
    pub(crate) len: u16,
    /// Datagram size when first sent (a resend never exceeds it).
    pub(crate) size: u16,
    pub(crate) transmissions: u8,
    pub(crate) sent_at: Instant,
    /// Declared lost by a timeout: not counted in flight until resent.
    pub(crate) lost: bool,
    /// Queued for a resend.
    pub(crate) queued: bool,
}

/// One uTP connection. `E` is the type of external payload references
/// (see [`Connection::write_external`]).
#[derive(Debug)]
pub struct Connection<E> {
    pub(crate) cfg: Arc<Config>,
    pub(crate) peer: SocketAddr,
    pub(crate) recv_id: u16,
    pub(crate) send_id: u16,
    pub(crate) state: State,
    pub(crate) reason: Option<CloseReason>,
    pub(crate) epoch: Instant,
    pub(crate) created: Instant,

    // Sending.
    /// The next sequence number we use.
    pub(crate) seq_nr: u16,
    /// The last sequence number the peer acknowledged cumulatively.
    pub(crate) acked_seq: u16,
    /// `outbuf[i]` is packet `acked_seq + 1 + i` (None: selectively acked).
    pub(crate) outbuf: VecDeque<Option<Sent>>,
    pub(crate) resend: VecDeque<u16>,
    pub(crate) in_flight: u32,
    pub(crate) send: SendBuf<E>,
    pub(crate) peer_wnd: u32,
    pub(crate) cc: Ledbat,
    pub(crate) rtt: Rtt,
    pub(crate) mtu: MtuSearch,
    pub(crate) dup_acks: u16,
    /// Packets before this were already fast-resent once.
    pub(crate) fast_resend_seq: u16,
    pub(crate) rto_at: Option<Instant>,
    /// Consecutive timeouts without hearing from the peer: the
    /// connection dies past the `*_resends` limits.
    pub(crate) timeouts: u8,
    /// Consecutive timeouts without progress: the timeout doubles with
    /// each (a live peer with a shut window is probed less and less often
    /// but not declared dead).
    pub(crate) backoff: u8,
    pub(crate) window_limited: bool,
    /// One packet may go past a zero window (a probe).
    pub(crate) zero_window_probe: bool,
    pub(crate) fin_seq: Option<u16>,
    /// `close` was called before the connection was established: it
    /// closes (queued bytes, then FIN) as soon as it is.
    pub(crate) close_requested: bool,
    pub(crate) reset_pending: bool,
    pub(crate) syn_ack_pending: bool,
    pub(crate) last_sent: Instant,

    // Receiving.
    /// The last sequence number we received in order.
    pub(crate) ack_nr: u16,
    /// The peer's SYN sequence number (to recognise a repeated SYN).
    pub(crate) peer_isn: u16,
    pub(crate) recv: RecvBuf,
    pub(crate) eof_seq: Option<u16>,
    pub(crate) peer_closed: bool,
    pub(crate) need_ack: bool,
    pub(crate) adv_wnd: u32,
    pub(crate) reply_micro: u32,
    pub(crate) their_delay: DelayHistory,
    pub(crate) our_delay: DelayHistory,
    pub(crate) last_recv: Instant,

    pub(crate) events: u8,
    pub(crate) stats: ConnStats,
}

impl<E> Connection<E> {
    fn new(
        cfg: Arc<Config>,
        epoch: Instant,
        now: Instant,
        peer: SocketAddr,
        recv_id: u16,
        send_id: u16,
        isn: u16,
    ) -> Connection<E> {
        let v6 = peer.is_ipv6();
        let mtu = MtuSearch::new(cfg.min_packet(v6), cfg.max_packet(v6), cfg.mtu_probing);
        let initial = u32::from(mtu.packet_size()) * 2;
        Connection {
            peer,
            recv_id,
            send_id,
            state: State::SynSent,
            reason: None,
            epoch,
            created: now,
            seq_nr: isn,
            acked_seq: isn.wrapping_sub(1),
            outbuf: VecDeque::new(),
            resend: VecDeque::new(),
            in_flight: 0,
            send: SendBuf::new(cfg.send_buffer),
            peer_wnd: cfg.recv_buffer,
            cc: Ledbat::new(initial, isn),
            rtt: Rtt::default(),
            mtu,
            dup_acks: 0,
            fast_resend_seq: isn,
            rto_at: None,
            timeouts: 0,
            backoff: 0,
            window_limited: false,
            zero_window_probe: false,
            fin_seq: None,
            close_requested: false,
            reset_pending: false,
            syn_ack_pending: false,
            last_sent: now,
            ack_nr: 0,
            peer_isn: 0,
            recv: RecvBuf::new(cfg.recv_buffer),
            eof_seq: None,
            peer_closed: false,
            need_ack: false,
            adv_wnd: cfg.recv_buffer,
            reply_micro: 0,
            their_delay: DelayHistory::new(),
            our_delay: DelayHistory::new(),
            last_recv: now,
            events: 0,
            stats: ConnStats::default(),
            cfg,
        }
    }

    /// A connection we open: its SYN goes out at the next transmit.
    pub(crate) fn connect(
        cfg: Arc<Config>,
        epoch: Instant,
        now: Instant,
        peer: SocketAddr,
        recv_id: u16,
        isn: u16,
    ) -> Connection<E> {
        let mut c = Connection::new(cfg, epoch, now, peer, recv_id, recv_id.wrapping_add(1), isn);
        c.outbuf.push_back(Some(Sent {
            kind: Kind::Syn,
            start: 0,
            len: 0,
            size: crate::packet::HEADER_SIZE,
            transmissions: 0,
            sent_at: now,
            lost: false,
            queued: true,
        }));
        c.resend.push_back(isn);
        c.seq_nr = isn.wrapping_add(1);
        c.fast_resend_seq = c.seq_nr;
        c
    }

    /// A connection a SYN (`conn_id`, `syn_seq`) opened; `isn` is our first
    /// sequence number. `confirmed`: opened by a SYN cookie, the peer's
    /// data already arrived.
    #[allow(clippy::too_many_arguments)] // all plain values of one SYN
    pub(crate) fn accept(
        cfg: Arc<Config>,
        epoch: Instant,
        now: Instant,
        peer: SocketAddr,
        conn_id: u16,
        syn_seq: u16,
        isn: u16,
        confirmed: bool,
    ) -> Connection<E> {
        let mut c = Connection::new(cfg, epoch, now, peer, conn_id.wrapping_add(1), conn_id, isn);
        c.state = if confirmed {
            State::Connected
        } else {
            State::SynRecv
        };
        c.syn_ack_pending = !confirmed;
        c.ack_nr = syn_seq;
        c.peer_isn = syn_seq;
        c
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The id this connection receives on.
    pub fn recv_id(&self) -> u16 {
        self.recv_id
    }

    /// Where it is in its life.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether it is over.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Why it ended, once closed.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.reason
    }

    /// Bytes that can be written now.
    pub fn send_space(&self) -> usize {
        if self.close_requested {
            return 0;
        }
        match self.state {
            State::SynSent | State::SynRecv | State::Connected => self.send.space(),
            State::Closing | State::Closed => 0,
        }
    }

    /// Bytes written and not yet acknowledged (queued or in flight).
    pub fn send_queued(&self) -> u64 {
        self.send.held()
    }

    /// Copies as much of `data` as fits in the send buffer; returns how
    /// much was taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.send_space() == 0 {
            return 0;
        }
        self.send.write(data)
    }

    /// Queues `len` bytes at `offset` of `ext` without copying them: the
    /// datagrams that carry them will hold [`crate::Part::External`]
    /// references for the caller to send from. All or nothing: false when
    /// they do not fit in [`Connection::send_space`].
    pub fn write_external(&mut self, ext: E, offset: u64, len: u32) -> bool {
        if (len as usize) > self.send_space() {
            return false;
        }
        self.send.write_external(ext, offset, len)
    }

    /// Bytes ready to read.
    pub fn readable(&self) -> usize {
        self.recv.readable()
    }

    /// Whether the peer closed its side and every byte before its FIN was
    /// read.
    pub fn at_eof(&self) -> bool {
        self.peer_closed && self.recv.readable() == 0
    }

    /// Copies received bytes out; returns how many.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.recv.read(buf);
        self.after_read();
        n
    }

    /// The readable bytes in place (two slices, as a ring buffer holds
    /// them); [`Connection::consume`] drops what was used.
    pub fn recv_slices(&self) -> (&[u8], &[u8]) {
        self.recv.slices()
    }

    /// Drops `n` readable bytes.
    pub fn consume(&mut self, n: usize) {
        self.recv.consume(n);
        self.after_read();
    }

    /// A read opened the window: tell the peer if it was nearly shut.
    fn after_read(&mut self) {
        let wnd = self.recv.window();
        let mss = u32::from(self.mtu.packet_size());
        if self.adv_wnd < mss.max(self.cfg.recv_buffer / 4) && wnd >= self.cfg.recv_buffer / 2 {
            self.need_ack = true;
        }
    }

    /// Closes gracefully: bytes already written are delivered, then a FIN.
    /// A dial still waiting for its answer closes that way once it is
    /// answered (or at once, with nothing written).
    pub fn close(&mut self) {
        match self.state {
            State::SynSent if self.send.held() > 0 => self.close_requested = true,
            State::SynSent | State::SynRecv => self.abort(),
            State::Connected => self.state = State::Closing,
            State::Closing | State::Closed => {}
        }
    }

    /// Closes at once with a RESET (bytes not yet acknowledged are lost).
    pub fn abort(&mut self) {
        if self.state == State::Closed {
            return;
        }
        // A connection that never saw a packet from the peer (our SYN is
        // unanswered) has nobody to reset.
        self.reset_pending = self.state != State::SynSent || self.stats.packets_received > 0;
        self.finish(CloseReason::Aborted);
    }

    /// The current congestion window, bytes.
    pub fn congestion_window(&self) -> u32 {
        self.cc.window()
    }

    /// The window the peer last advertised.
    pub fn peer_window(&self) -> u32 {
        self.peer_wnd
    }

    /// The smoothed round-trip time, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// The size of ordinary packets now (MTU search floor).
    pub fn packet_size(&self) -> u16 {
        self.mtu.packet_size()
    }

    /// The LEDBAT queueing delay estimate.
    pub fn queuing_delay(&self) -> Option<Duration> {
        self.cc.delay().map(|d| Duration::from_micros(u64::from(d)))
    }

    /// Counters.
    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// Payload bytes that went out and are not acknowledged.
    pub fn bytes_in_flight(&self) -> u32 {
        self.in_flight
    }

    pub(crate) fn take_events(&mut self) -> Events {
        Events(std::mem::take(&mut self.events))
    }

    pub(crate) fn finish(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.reason = Some(reason);
        self.events |= Events::CLOSED;
        self.rto_at = None;
        self.resend.clear();
    }

    /// Microseconds on our wrapping packet clock.
    pub(crate) fn micros(&self, now: Instant) -> u32 {
        let us = now.saturating_duration_since(self.epoch).as_micros();
        u32::try_from(us % (1 << 32)).unwrap_or(0)
    }

    /// The payload a new packet of total size `size` carries, given the
    /// header it will have.
    pub(crate) fn sack_len(&self) -> usize {
        let mut m = [0; 8];
        match self.recv.sack(&mut m) {
            0 => 0,
            n => 2 + n,
        }
    }

    /// The deadline of the next thing to do without input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.rto_at;
        let mut at = |d: Instant| t = Some(t.map_or(d, |t| t.min(d)));
        match self.state {
            State::Closed => return None,
            State::SynRecv => at(self.created + self.cfg.half_open_timeout),
            // (Once an ACK is pending the keepalive is as good as sent.)
            State::Connected if !self.need_ack => at(self.last_sent + self.cfg.keepalive),
            State::Connected => {}
            State::SynSent | State::Closing => {}
        }
        t
    }

    /// The retransmission timeout for a packet sent now.
    pub(crate) fn rto(&self) -> Duration {
        if self.state == State::SynSent {
            SYN_TIMEOUT.saturating_mul(1 << self.backoff.min(4))
        } else {
            self.rtt.rto(self.cfg.min_timeout, self.backoff)
        }
    }

    /// Handles whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Closed => return,
            State::SynRecv if now >= self.created + self.cfg.half_open_timeout => {
                self.finish(CloseReason::HalfOpenExpired);
                return;
            }
            State::Connected if now >= self.last_sent + self.cfg.keepalive => {
                self.need_ack = true;
            }
            _ => {}
        }
        if self.rto_at.is_some_and(|t| now >= t) {
            self.on_rto(now);
        }
    }

    fn on_rto(&mut self, now: Instant) {
        self.stats.timeouts += 1;
        // The oldest unacknowledged packet (a late selective ACK may have
        // covered the one right after the cumulative ACK).
        let oldest = self
            .outbuf
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.as_ref().map(|p| (i, p)));
        let Some((oldest_at, oldest)) = oldest else {
            // Nothing unacknowledged. If a zero window stops us, let one
            // packet through as a probe; else the timer is stale.
            if self.peer_wnd < u32::from(self.mtu.packet_size()) && self.send.unsent() > 0 {
                self.zero_window_probe = true;
                self.backoff = self.backoff.saturating_add(1).min(8);
                self.rto_at = Some(now + self.rto());
            } else {
                self.rto_at = None;
            }
            return;
        };
        let oldest_kind = oldest.kind;
        let limit = match (self.state, oldest_kind) {
            (State::SynSent, _) => self.cfg.syn_resends,
            (_, Kind::Fin) => self.cfg.fin_resends,
            _ => self.cfg.num_resends,
        };
        // Dead: `limit` timeouts in a row without a word from the peer,
        // and (once connected) silent for DEAD_SILENCE too. The count
        // alone (libtorrent's and libutp's rule) kills a connection after
        // four losses of one packet in about 8 s, which a path with 10 %
        // loss produces now and then; the peer's keepalive (29 s) or any
        // other packet resets the count. A connection that never heard
        // from its peer after accepting has nobody to retransmit to
        // (libtorrent's "unconfirmed" rule).
        let silent = now.saturating_duration_since(self.last_recv) >= DEAD_SILENCE;
        let dead = self.timeouts >= limit && (self.state == State::SynSent || silent);
        if dead || self.state == State::SynRecv {
            self.finish(CloseReason::TimedOut);
            return;
        }
        // Only the MTU probe was outstanding: it was probably too big.
        let first = self
            .acked_seq
            .wrapping_add(1)
            .wrapping_add(u16::try_from(oldest_at).unwrap_or(0));
        let only = self.outbuf.iter().flatten().count() == 1;
        let probe_lost = only && self.mtu.is_probe(first);
        if probe_lost {
            self.mtu.lost(first);
        } else {
            self.timeouts = self.timeouts.saturating_add(1);
            self.backoff = self.backoff.saturating_add(1).min(8);
            let mss = u32::from(self.mtu.packet_size());
            self.cc.on_timeout(self.in_flight, self.seq_nr, mss);
        }
        // Everything in flight is lost; they go again oldest first (the
        // queue is rebuilt in sequence order: an older resend still
        // waiting for the window must not trail a newer one).
        self.resend.clear();
        let mut seq = self.acked_seq.wrapping_add(1);
        for slot in self.outbuf.iter_mut() {
            if let Some(p) = slot {
                if !p.lost {
                    p.lost = true;
                    self.in_flight = self.in_flight.saturating_sub(u32::from(p.len));
                }
                p.queued = true;
                self.resend.push_back(seq);
            }
            seq = seq.wrapping_add(1);
        }
        self.dup_acks = 0;
        self.fast_resend_seq = self.seq_nr;
        self.rto_at = Some(now + self.rto());
    }

    /// The stream offset below which every byte is acknowledged.
    pub(crate) fn acked_offset(&self) -> u64 {
        self.outbuf
            .iter()
            .flatten()
            .map(|p| p.start)
            .next()
            .unwrap_or(u64::MAX)
    }
}
