//! What goes out: RESET, SYN-ACK, retransmissions, new data within the
//! windows, the FIN, and an ACK when nothing else carries one.

use std::time::Instant;

use super::{Connection, Kind, Sent, State, MAX_IN_FLIGHT};
use crate::packet::{write_header, Header, PacketType, HEADER_LEN};
use crate::send_buf::PartRef;
use crate::transmit::Transmits;

const HEADER: u16 = crate::packet::HEADER_SIZE;

impl<E: Clone> Connection<E> {
    /// Appends up to `max` datagrams to `out`; returns how many.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut Transmits<E>,
        max: usize,
    ) -> usize {
        let mut n = 0;
        if self.reset_pending && max > 0 {
            self.reset_pending = false;
            self.emit(
                now,
                out,
                PacketType::Reset,
                self.seq_nr,
                None,
                false,
                u16::MAX,
            );
            return 1;
        }
        if self.state == State::Closed {
            return 0;
        }
        if self.syn_ack_pending && n < max {
            self.syn_ack_pending = false;
            self.emit(
                now,
                out,
                PacketType::State,
                self.seq_nr,
                None,
                false,
                u16::MAX,
            );
            n += 1;
        }
        n += self.resends(now, out, max - n);
        if matches!(
            self.state,
            State::SynRecv | State::Connected | State::Closing
        ) {
            n += self.new_data(now, out, max - n);
        }
        if self.state == State::Closing
            && self.fin_seq.is_none()
            && self.send.unsent() == 0
            && n < max
            && self.outbuf.len() < MAX_IN_FLIGHT
        {
            let seq = self.seq_nr;
            self.emit(now, out, PacketType::Fin, seq, None, false, u16::MAX);
            self.track(now, Kind::Fin, u64::MAX, 0, HEADER);
            self.fin_seq = Some(seq);
            n += 1;
        }
        if self.need_ack && n < max && self.state != State::SynSent {
            self.emit(
                now,
                out,
                PacketType::State,
                self.seq_nr,
                None,
                false,
                u16::MAX,
            );
            n += 1;
        }
        n
    }

    /// Packets queued for a resend (and the SYN's first sending).
    fn resends(&mut self, now: Instant, out: &mut Transmits<E>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(&seq) = self.resend.front() else {
                break;
            };
            let idx = usize::from(seq.wrapping_sub(self.acked_seq).wrapping_sub(1));
            let Some(Some(p)) = self.outbuf.get(idx) else {
                self.resend.pop_front();
                continue;
            };
            if !p.queued {
                self.resend.pop_front();
                continue;
            }
            // A packet declared lost by a timeout waits for the window
            // (but one always goes when nothing is in flight); one resent
            // on duplicate ACKs is still counted in flight and goes now.
            let room = self.cc.window().min(self.peer_wnd.max(u32::from(p.len)));
            if p.lost && self.in_flight > 0 && self.in_flight + u32::from(p.len) > room {
                self.window_limited = true;
                break;
            }
            let (kind, start, len, size, first) =
                (p.kind, p.start, p.len, p.size, p.transmissions == 0);
            self.resend.pop_front();
            let ptype = match kind {
                Kind::Syn => PacketType::Syn,
                Kind::Data => PacketType::Data,
                Kind::Fin => PacketType::Fin,
            };
            let payload = (len > 0).then_some((start, len));
            self.emit(now, out, ptype, seq, payload, false, size);
            if let Some(Some(p)) = self.outbuf.get_mut(idx) {
                p.queued = false;
                p.transmissions = p.transmissions.saturating_add(1);
                p.sent_at = now;
                if p.lost {
                    p.lost = false;
                    self.in_flight += u32::from(p.len);
                }
            }
            if !first {
                self.stats.bytes_retransmitted += u64::from(len);
            }
            if self.rto_at.is_none() {
                self.rto_at = Some(now + self.rto());
            }
            n += 1;
        }
        n
    }

    /// New packets cut from the send buffer while the windows allow.
    fn new_data(&mut self, now: Instant, out: &mut Transmits<E>, max: usize) -> usize {
        let mut n = 0;
        while n < max && self.outbuf.len() < MAX_IN_FLIGHT {
            let unsent = self.send.unsent();
            if unsent == 0 {
                break;
            }
            let header = HEADER + u16::try_from(self.sack_len()).unwrap_or(0);
            let cwnd = self.cc.window();
            let probe = self
                .mtu
                .probe_size(cwnd)
                .filter(|&s| unsent >= u64::from(s.saturating_sub(header)));
            let size = probe.unwrap_or(self.mtu.packet_size());
            let want = unsent.min(u64::from(size.saturating_sub(header)));
            let mut want = u32::try_from(want).unwrap_or(u32::MAX);
            if self.in_flight > 0 && self.in_flight + want > cwnd.min(self.peer_wnd) {
                self.window_limited = true;
                break;
            }
            if self.in_flight == 0 && self.peer_wnd < want {
                if self.zero_window_probe {
                    // One packet the size of what is open, at least a byte.
                    want = self.peer_wnd.max(1);
                } else {
                    // The peer's window is (nearly) shut: wait for it to
                    // open, probing once per (backed-off) timeout.
                    if self.rto_at.is_none() {
                        self.rto_at = Some(now + self.rto());
                    }
                    break;
                }
            }
            self.zero_window_probe = false;
            self.window_limited = false;
            let Some((start, len)) = self.send.cut(want as usize) else {
                break;
            };
            let seq = self.seq_nr;
            let wrote = self.emit(
                now,
                out,
                PacketType::Data,
                seq,
                Some((start, len)),
                probe.is_some(),
                size,
            );
            if let Some(size) = probe {
                self.mtu.probe_sent(seq, size);
            }
            self.track(
                now,
                Kind::Data,
                start,
                len,
                u16::try_from(wrote).unwrap_or(size),
            );
            self.in_flight += u32::from(len);
            n += 1;
        }
        n
    }

    /// Records a packet just sent for the first time as `seq_nr`.
    fn track(&mut self, now: Instant, kind: Kind, start: u64, len: u16, size: u16) {
        self.outbuf.push_back(Some(Sent {
            kind,
            start,
            len,
            size,
            transmissions: 1,
            sent_at: now,
            lost: false,
            queued: false,
        }));
        self.seq_nr = self.seq_nr.wrapping_add(1);
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rto());
        }
    }

    /// Writes one datagram; returns its size. A selective ACK rides along
    /// when packets wait past a gap and it fits within `max_size`.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        now: Instant,
        out: &mut Transmits<E>,
        kind: PacketType,
        seq: u16,
        payload: Option<(u64, u16)>,
        dont_fragment: bool,
        max_size: u16,
    ) -> usize {
        let wnd = self.recv.window();
        let header = Header {
            kind,
            extension: 0,
            conn_id: if kind == PacketType::Syn {
                self.recv_id
            } else {
                self.send_id
            },
            timestamp: self.micros(now),
            timestamp_diff: self.reply_micro,
            wnd_size: wnd,
            seq_nr: seq,
            ack_nr: if kind == PacketType::Syn {
                0
            } else {
                self.ack_nr
            },
        };
        let mut mask = [0u8; 8];
        let sack_bytes = if matches!(kind, PacketType::Syn | PacketType::Reset) {
            0
        } else {
            self.recv.sack(&mut mask)
        };
        let body = payload.map_or(0, |(_, l)| usize::from(l));
        let sack = mask
            .get(..sack_bytes)
            .filter(|s| !s.is_empty() && HEADER_LEN + 2 + s.len() + body <= usize::from(max_size));
        out.begin(self.peer, dont_fragment);
        let from = out.inline_buf().len();
        let mut size = write_header(out.inline_buf(), &header, sack);
        out.inline_done(from);
        if let Some((start, len)) = payload {
            self.send.parts(start, len, |part| match part {
                PartRef::Inline(bytes) => {
                    let f = out.inline_buf().len();
                    out.inline_buf().extend_from_slice(bytes);
                    out.inline_done(f);
                }
                PartRef::External { ext, offset, len } => {
                    out.push_external(ext.clone(), offset, len)
                }
            });
            size += usize::from(len);
        }
        self.need_ack = false;
        self.adv_wnd = wnd;
        self.last_sent = now;
        self.stats.packets_sent += 1;
        size
    }
}
