//! A packet arrives: acknowledgements, selective ACKs, delay samples,
//! payload.

use std::time::{Duration, Instant};

use super::{CloseReason, Connection, Events, Kind, State, DUP_ACKS};
use crate::ledbat::Ack;
use crate::packet::{Packet, PacketType};
use crate::recv_buf::MAX_REORDER;
use crate::seq::{seq_le, seq_lt, ts_lt};

/// Most packets resent because of one selective ACK.
const MAX_SACK_RESENDS: usize = 4;

/// A clock-drift correction larger than this is not trusted.
const MAX_DRIFT_SHIFT: u32 = 10_000;

impl<E> Connection<E> {
    /// Handles a packet the endpoint routed here (its connection id
    /// matched).
    pub(crate) fn handle_packet(&mut self, now: Instant, p: &Packet<'_>) {
        if self.state == State::Closed {
            return;
        }
        let h = &p.header;
        self.stats.packets_received += 1;
        match h.kind {
            PacketType::Reset => {
                // Only a RESET that acknowledges something we could have
                // sent counts (a blind spoofer must guess our numbers).
                if seq_le(h.ack_nr, self.seq_nr.wrapping_sub(1)) || self.state == State::SynSent {
                    let reason = if self.state == State::SynSent {
                        CloseReason::Refused
                    } else {
                        CloseReason::Reset
                    };
                    self.finish(reason);
                }
                return;
            }
            PacketType::Syn => {
                // A repeated SYN: our SYN-ACK was lost. The peer is still
                // trying, so the half-open deadline starts again.
                if self.state == State::SynRecv && h.seq_nr == self.peer_isn {
                    self.syn_ack_pending = true;
                    self.created = now;
                }
                return;
            }
            _ => {}
        }
        if self.state == State::SynSent {
            // Only the ACK of our SYN (or data carrying it) connects.
            if h.ack_nr != self.acked_seq.wrapping_add(1) {
                self.stats.packets_ignored += 1;
                return;
            }
            self.state = if self.close_requested {
                State::Closing
            } else {
                State::Connected
            };
            self.events |= Events::CONNECTED;
            // A STATE carries the acceptor's first sequence number; a DATA
            // that overtook it is that first packet.
            self.ack_nr = h.seq_nr.wrapping_sub(1);
            self.peer_isn = self.ack_nr;
        }
        // An ACK of something never sent, or far older than anything in
        // flight: a confused or spoofing sender. Drop the whole packet.
        let last_sent = self.seq_nr.wrapping_sub(1);
        let oldest = self.acked_seq.wrapping_sub(DUP_ACKS);
        if seq_lt(last_sent, h.ack_nr) || seq_lt(h.ack_nr, oldest) {
            self.stats.packets_ignored += 1;
            return;
        }
        // Data too far ahead to hold.
        let dist = h.seq_nr.wrapping_sub(self.ack_nr).wrapping_sub(1);
        let carries = matches!(h.kind, PacketType::Data | PacketType::Fin);
        if carries && usize::from(dist) > MAX_REORDER && dist < 0x8000 {
            self.stats.packets_ignored += 1;
            return;
        }
        self.last_recv = now;
        // The peer is alive, whatever its window says.
        self.timeouts = 0;
        self.delays(now, p);
        if h.kind != PacketType::Syn {
            self.peer_wnd = h.wnd_size;
            if self.peer_wnd >= u32::from(self.mtu.packet_size()) {
                self.zero_window_probe = false;
            }
        }
        self.acks(now, p);
        if carries {
            if self.state == State::SynRecv {
                self.state = State::Connected;
            }
            self.payload(h.kind, h.seq_nr, dist, p.payload);
        }
    }

    /// Timestamps: what we echo, and LEDBAT's delay samples.
    fn delays(&mut self, now: Instant, p: &Packet<'_>) {
        let h = &p.header;
        if h.timestamp != 0 {
            self.reply_micro = self.micros(now).wrapping_sub(h.timestamp);
            let prev = self
                .their_delay
                .initialized()
                .then(|| self.their_delay.base());
            self.their_delay.add(now, self.reply_micro);
            // Their base went down: our clock is slower than theirs, and
            // our samples drift up by the same amount without queueing.
            if let Some(prev) = prev {
                let new = self.their_delay.base();
                if ts_lt(new, prev) && prev.wrapping_sub(new) <= MAX_DRIFT_SHIFT {
                    self.our_delay.shift(prev.wrapping_sub(new));
                }
            }
        }
        // uTorrent sends i32::MAX when it has no sample yet.
        if h.timestamp_diff != 0 && h.timestamp_diff != i32::MAX as u32 {
            let d = self.our_delay.add(now, h.timestamp_diff);
            self.cc.delay_sample(d);
        }
    }

    /// Cumulative and selective acknowledgements, fast retransmit, the
    /// congestion window and the timer.
    fn acks(&mut self, now: Instant, p: &Packet<'_>) {
        let h = &p.header;
        let in_flight_before = self.in_flight;
        let mut acked = 0u32;
        let mut min_rtt: Option<Duration> = None;
        let progress = seq_lt(self.acked_seq, h.ack_nr);
        while seq_lt(self.acked_seq, h.ack_nr) {
            self.acked_seq = self.acked_seq.wrapping_add(1);
            if let Some(Some(sent)) = self.outbuf.pop_front() {
                self.ack_one(now, self.acked_seq, sent, &mut acked, &mut min_rtt);
            }
        }
        if seq_lt(self.fast_resend_seq, self.acked_seq.wrapping_add(1)) {
            self.fast_resend_seq = self.acked_seq.wrapping_add(1);
        }
        let outstanding = self.outbuf.iter().any(Option::is_some);
        if progress {
            self.dup_acks = 0;
        } else if h.kind == PacketType::State && outstanding {
            self.dup_acks += 1;
        }
        let mut lost = Vec::new();
        if let Some(mask) = p.sack {
            self.sack(now, h.ack_nr, mask, &mut acked, &mut min_rtt, &mut lost);
        }
        // Three duplicate ACKs: the oldest packet is lost.
        let first = self.acked_seq.wrapping_add(1);
        if self.dup_acks >= DUP_ACKS
            && seq_le(self.fast_resend_seq, first)
            && outstanding
            && !lost.contains(&first)
        {
            lost.insert(0, first);
        }
        let any_lost = !lost.is_empty();
        for seq in lost {
            self.fast_resend(now, seq);
        }
        if acked > 0 || progress {
            self.backoff = 0;
            let mss = u32::from(self.mtu.packet_size());
            if !any_lost {
                self.cc.on_ack(
                    &Ack {
                        acked,
                        in_flight_before,
                        delay: self.cc.delay().unwrap_or(0),
                        min_rtt,
                        window_limited: self.window_limited
                            || self.in_flight + acked + mss > self.cc.window(),
                    },
                    u32::try_from(self.cfg.target_delay.as_micros()).unwrap_or(u32::MAX),
                    self.cfg.gain,
                    mss,
                    self.cfg.send_buffer,
                );
            }
            let before = self.send.space();
            self.send.release(self.acked_offset());
            if self.send.space() > before && self.state != State::Closing {
                self.events |= Events::WRITABLE;
            }
            self.rto_at = if self.outbuf.iter().any(Option::is_some) {
                Some(now + self.rto())
            } else {
                None
            };
        }
        if self.state == State::Closing {
            if let Some(fin) = self.fin_seq {
                if seq_le(fin, self.acked_seq) {
                    self.finish(CloseReason::Closed);
                }
            }
        }
    }

    fn ack_one(
        &mut self,
        now: Instant,
        seq: u16,
        sent: super::Sent,
        acked: &mut u32,
        min_rtt: &mut Option<Duration>,
    ) {
        if !sent.lost {
            self.in_flight = self.in_flight.saturating_sub(u32::from(sent.len));
        }
        *acked += u32::from(sent.len);
        self.stats.bytes_acked += u64::from(sent.len);
        let rtt = now.saturating_duration_since(sent.sent_at);
        *min_rtt = Some(min_rtt.map_or(rtt, |m| m.min(rtt)));
        // Karn: a resent packet's ACK could answer either sending.
        if sent.transmissions == 1 && sent.kind != Kind::Syn {
            self.rtt.sample(rtt);
        }
        self.mtu.acked(seq);
    }

    /// A selective ACK: bit `i` of `mask` acknowledges `ack_nr + 2 + i`.
    /// A packet not acknowledged while at least [`DUP_ACKS`] packets after
    /// it are is lost.
    fn sack(
        &mut self,
        now: Instant,
        ack_nr: u16,
        mask: &[u8],
        acked: &mut u32,
        min_rtt: &mut Option<Duration>,
        lost: &mut Vec<u16>,
    ) {
        let base = ack_nr.wrapping_add(2);
        let bits = mask.len().min(256) * 8;
        let mut set = Vec::new();
        for i in 0..bits {
            let seq = base.wrapping_add(u16::try_from(i).unwrap_or(u16::MAX));
            if !seq_lt(seq, self.seq_nr) {
                break;
            }
            let on = mask.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0);
            if !on {
                continue;
            }
            set.push(seq);
            let idx = usize::from(seq.wrapping_sub(self.acked_seq).wrapping_sub(1));
            if idx >= self.outbuf.len() || seq_le(seq, self.acked_seq) {
                continue;
            }
            if let Some(slot) = self.outbuf.get_mut(idx) {
                if let Some(sent) = slot.take() {
                    self.ack_one(now, seq, sent, acked, min_rtt);
                }
            }
        }
        // Holes below the DUP_ACKS-th highest acknowledged packet.
        let Some(&limit) = set.iter().rev().nth(usize::from(DUP_ACKS) - 1) else {
            return;
        };
        let mut seq = ack_nr.wrapping_add(1);
        while seq_lt(seq, limit) && lost.len() < MAX_SACK_RESENDS {
            if seq_le(self.fast_resend_seq, seq) && seq_lt(self.acked_seq, seq) {
                let idx = usize::from(seq.wrapping_sub(self.acked_seq).wrapping_sub(1));
                if matches!(self.outbuf.get(idx), Some(Some(_))) {
                    lost.push(seq);
                }
            }
            seq = seq.wrapping_add(1);
        }
    }

    /// Resends `seq` at the next transmit, whatever the window, and cuts
    /// the window (unless it was the MTU probe: too big, not congestion).
    fn fast_resend(&mut self, now: Instant, seq: u16) {
        let idx = usize::from(seq.wrapping_sub(self.acked_seq).wrapping_sub(1));
        let Some(Some(p)) = self.outbuf.get_mut(idx) else {
            return;
        };
        if !p.queued {
            p.queued = true;
            self.resend.push_back(seq);
        }
        self.stats.fast_retransmits += 1;
        if seq_le(self.fast_resend_seq, seq) {
            self.fast_resend_seq = seq.wrapping_add(1);
        }
        self.dup_acks = 0;
        if self.mtu.is_probe(seq) {
            self.mtu.lost(seq);
        } else {
            let mss = u32::from(self.mtu.packet_size());
            self.cc
                .on_loss(now, seq, self.seq_nr, self.cfg.loss_multiplier, mss);
        }
    }

    /// DATA or FIN `seq`, `dist` packets after the next expected one.
    fn payload(&mut self, kind: PacketType, seq: u16, dist: u16, payload: &[u8]) {
        self.need_ack = true;
        if dist >= 0x8000 {
            // Already received: our ACK was probably lost; it goes again.
            return;
        }
        if let Some(eof) = self.eof_seq {
            if seq_lt(eof, seq) {
                return;
            }
        }
        let body: &[u8] = if kind == PacketType::Fin {
            if self.eof_seq.is_none() {
                self.eof_seq = Some(seq);
            }
            &[]
        } else {
            payload
        };
        if dist == 0 {
            if !self.recv.push_in_order(body) {
                // No room (the peer ignored our window, or probes a shut
                // one): not taken; the ACK we send says where we are.
                return;
            }
            self.stats.bytes_received += body.len() as u64;
            self.ack_nr = seq;
            let mut delivered = !body.is_empty();
            while let Some(p) = self.recv.advance() {
                self.ack_nr = self.ack_nr.wrapping_add(1);
                self.stats.bytes_received += p.len() as u64;
                delivered |= !p.is_empty();
            }
            if self.eof_seq == Some(self.ack_nr) && !self.peer_closed {
                self.peer_closed = true;
                delivered = true;
            }
            if delivered {
                self.events |= Events::READABLE;
            }
        } else {
            self.recv.push_ahead(usize::from(dist), body);
        }
    }
}
