//! LEDBAT congestion control (RFC 6817 as BEP 29 applies it).
//!
//! The window grows while the measured queueing delay is below the
//! target and shrinks above it, in proportion to how far off target it is
//! and to the share of the window an ACK covers, at most `gain` bytes per
//! round trip. Like libtorrent (and unlike BEP 29's text) it starts in a
//! slow start that doubles per round trip until the delay nears the
//! target or a loss, and it never shrinks the window below one packet, so
//! a connection never has to wait for a timeout to send again. Loss halves
//! the window (`loss_multiplier`), at most once per round trip.
//!
//! The window is kept in bytes with 16 fractional bits: a 1 kB-per-RTT
//! gain spread over 700 ACKs is 1.4 bytes each and must not round away.

use std::time::{Duration, Instant};

use crate::seq::seq_lt;

const FRAC: u32 = 16;

/// The window is not cut twice within this (libtorrent's
/// `utp_cwnd_reduce_timer`).
const LOSS_HOLDOFF: Duration = Duration::from_millis(100);

/// Congestion state of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Ledbat {
    cwnd: i64,
    slow_start: bool,
    ssthresh: u32,
    /// Losses of packets sent before this sequence number were already
    /// answered with a cut.
    loss_seq: u16,
    next_cut: Option<Instant>,
    /// The last three delay samples; the current delay is their minimum.
    recent: [u32; 3],
    recent_len: usize,
    recent_at: usize,
}

/// Inputs of one ACK.
pub(crate) struct Ack {
    /// Payload bytes it newly acknowledged.
    pub(crate) acked: u32,
    /// Bytes in flight before it.
    pub(crate) in_flight_before: u32,
    /// The one-way delay sample (already less the base), microseconds.
    pub(crate) delay: u32,
    /// The smallest RTT of the packets it acknowledged (the delay can
    /// never be larger).
    pub(crate) min_rtt: Option<Duration>,
    /// Whether we had more to send than the window allowed.
    pub(crate) window_limited: bool,
}

impl Ledbat {
    pub(crate) fn new(initial: u32, seq_nr: u16) -> Ledbat {
        Ledbat {
            cwnd: i64::from(initial) << FRAC,
            slow_start: true,
            ssthresh: 0,
            loss_seq: seq_nr,
            next_cut: None,
            recent: [0; 3],
            recent_len: 0,
            recent_at: 0,
        }
    }

    /// The window in bytes.
    pub(crate) fn window(&self) -> u32 {
        u32::try_from(self.cwnd >> FRAC).unwrap_or(u32::MAX)
    }

    #[cfg(test)]
    pub(crate) fn in_slow_start(&self) -> bool {
        self.slow_start
    }

    /// The current queueing delay estimate (µs), if any sample exists.
    pub(crate) fn delay(&self) -> Option<u32> {
        self.recent.iter().take(self.recent_len).copied().min()
    }

    /// Records a delay sample (on every packet that carries one).
    pub(crate) fn delay_sample(&mut self, delay: u32) {
        if let Some(slot) = self.recent.get_mut(self.recent_at) {
            *slot = delay;
        }
        self.recent_at = (self.recent_at + 1) % self.recent.len();
        self.recent_len = (self.recent_len + 1).min(self.recent.len());
    }

    /// Applies one ACK. `target` in microseconds, `mss` the packet
    /// payload size, `max` the ceiling (the send buffer).
    pub(crate) fn on_ack(&mut self, ack: &Ack, target: u32, gain: u32, mss: u32, max: u32) {
        if ack.acked == 0 || ack.in_flight_before == 0 {
            return;
        }
        let mut delay = self.delay().unwrap_or(ack.delay);
        if let Some(rtt) = ack.min_rtt {
            delay = delay.min(u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX));
        }
        let target = i64::from(target.max(1));
        let window_factor = (i64::from(ack.acked) << FRAC) / i64::from(ack.in_flight_before);
        let delay_factor = ((target - i64::from(delay)) << FRAC) / target;
        if i64::from(delay) >= target && self.slow_start {
            self.ssthresh = self.window() / 2;
            self.slow_start = false;
        }
        let linear = ((window_factor * delay_factor) >> FRAC) * i64::from(gain);
        let gain = if !ack.window_limited {
            // Not using the window: growing it would only mean a burst later.
            0
        } else if self.slow_start {
            let exponential = i64::from(ack.acked) << FRAC;
            if self.ssthresh != 0 && ((self.cwnd + exponential) >> FRAC) > i64::from(self.ssthresh)
            {
                self.slow_start = false;
                linear
            } else {
                exponential.max(linear)
            }
        } else {
            linear
        };
        let floor = i64::from(mss) << FRAC;
        let ceiling = i64::from(max) << FRAC;
        self.cwnd = (self.cwnd.saturating_add(gain)).clamp(floor, ceiling.max(floor));
    }

    /// A packet sent as `seq` was lost (fast retransmit); `seq_nr` is the
    /// next sequence number we would send.
    pub(crate) fn on_loss(&mut self, now: Instant, seq: u16, seq_nr: u16, percent: u8, mss: u32) {
        if seq_lt(seq, self.loss_seq) {
            return;
        }
        if self.next_cut.is_some_and(|t| now < t) {
            return;
        }
        self.next_cut = Some(now + LOSS_HOLDOFF);
        self.cwnd = (self.cwnd * i64::from(percent) / 100).max(i64::from(mss) << FRAC);
        self.loss_seq = seq_nr;
        if self.slow_start {
            self.ssthresh = self.window();
            self.slow_start = false;
        }
    }

    /// The retransmission timer fired. With nothing in flight the window
    /// only decays (an idle sender); otherwise it restarts from one packet
    /// in slow start.
    pub(crate) fn on_timeout(&mut self, in_flight: u32, seq_nr: u16, mss: u32) {
        let floor = i64::from(mss) << FRAC;
        if in_flight == 0 && self.cwnd >= floor {
            self.cwnd = (self.cwnd * 2 / 3).max(floor);
        } else {
            self.cwnd = floor;
            self.slow_start = true;
        }
        self.loss_seq = seq_nr;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(acked: u32, in_flight: u32, delay: u32) -> Ack {
        Ack {
            acked,
            in_flight_before: in_flight,
            delay,
            min_rtt: None,
            window_limited: true,
        }
    }

    #[test]
    fn slow_start_doubles_then_linear_above_target() {
        let mut c = Ledbat::new(3000, 0);
        c.delay_sample(1000);
        c.on_ack(&ack(3000, 3000, 1000), 100_000, 3000, 1400, 1 << 20);
        assert_eq!(c.window(), 6000);
        // Delay above target: leaves slow start and shrinks.
        c.delay_sample(150_000);
        c.delay_sample(150_000);
        c.delay_sample(150_000);
        c.on_ack(&ack(6000, 6000, 150_000), 100_000, 3000, 1400, 1 << 20);
        assert!(!c.in_slow_start());
        assert!(c.window() < 6000);
        assert_eq!(c.window(), 6000 - 1500);
    }

    #[test]
    fn never_below_one_packet_never_above_the_ceiling() {
        let mut c = Ledbat::new(1400, 0);
        for _ in 0..100 {
            c.delay_sample(1_000_000);
            c.on_ack(&ack(1400, 1400, 1_000_000), 100_000, 3000, 1400, 1 << 20);
        }
        assert_eq!(c.window(), 1400);
        let mut c = Ledbat::new(1400, 0);
        for _ in 0..1000 {
            c.delay_sample(0);
            c.on_ack(&ack(60_000, 60_000, 0), 100_000, 3000, 1400, 100_000);
        }
        assert_eq!(c.window(), 100_000);
    }

    #[test]
    fn loss_halves_once_per_window() {
        let t = Instant::now();
        let mut c = Ledbat::new(100_000, 10);
        c.on_loss(t, 12, 50, 50, 1400);
        assert_eq!(c.window(), 50_000);
        // Another loss from the same flight: ignored.
        c.on_loss(t + Duration::from_secs(1), 20, 60, 50, 1400);
        assert_eq!(c.window(), 50_000);
        // A loss of a later packet, after the hold-off: cut again.
        c.on_loss(t + Duration::from_secs(1), 55, 70, 50, 1400);
        assert_eq!(c.window(), 25_000);
    }

    #[test]
    fn idle_decays_and_not_limited_does_not_grow() {
        let mut c = Ledbat::new(30_000, 0);
        c.on_timeout(0, 0, 1400);
        assert_eq!(c.window(), 20_000);
        let mut a = ack(3000, 3000, 0);
        a.window_limited = false;
        c.on_ack(&a, 100_000, 3000, 1400, 1 << 20);
        assert_eq!(c.window(), 20_000);
        c.on_timeout(5000, 0, 1400);
        assert_eq!(c.window(), 1400);
        assert!(c.in_slow_start());
    }
}
