//! Packet-size search (BEP 29 leaves it open; libutp and libtorrent probe).
//!
//! Ordinary packets use the largest size known to work (`floor`); one
//! packet at a time may be a *probe* of a larger size, sent with the
//! don't-fragment bit. An acknowledged probe raises the floor; a lost one
//! (timeout with only the probe outstanding, or a fast retransmit of it)
//! lowers the ceiling. Unlike libtorrent, whose first probe is the midpoint,
//! our first probe is the ceiling itself: on the Ethernet-sized paths
//! nearly all peers sit behind, the search ends after one round trip
//! instead of six. A lost probe is resent without the bit, so IP
//! fragments it and nothing has to be re-packetized.

/// The search stops when ceiling and floor are this close.
const DONE_WITHIN: u16 = 16;

/// State of one connection's search.
#[derive(Clone, Debug)]
pub(crate) struct MtuSearch {
    floor: u16,
    ceiling: u16,
    next_probe: u16,
    /// Sequence number and size of the probe in flight.
    probe: Option<(u16, u16)>,
}

impl MtuSearch {
    /// A search between `floor` and `ceiling` (whole uTP packet sizes);
    /// with `enabled` false, every packet is `ceiling`.
    pub(crate) fn new(floor: u16, ceiling: u16, enabled: bool) -> MtuSearch {
        let floor = if enabled { floor.min(ceiling) } else { ceiling };
        MtuSearch {
            floor,
            ceiling,
            next_probe: ceiling,
            probe: None,
        }
    }

    /// The size of ordinary packets.
    pub(crate) fn packet_size(&self) -> u16 {
        self.floor
    }

    /// Whether the search is over.
    pub(crate) fn done(&self) -> bool {
        self.ceiling.saturating_sub(self.floor) < DONE_WITHIN
    }

    /// The size of the next packet if it should be a probe: none in flight,
    /// search not over, and a window of at least three ordinary packets
    /// (so that ordinary packets around the probe tell its loss from
    /// congestion).
    pub(crate) fn probe_size(&self, cwnd: u32) -> Option<u16> {
        (!self.done() && self.probe.is_none() && cwnd > 3 * u32::from(self.floor))
            .then_some(self.next_probe)
    }

    /// The probe of `size` bytes went out as `seq`.
    pub(crate) fn probe_sent(&mut self, seq: u16, size: u16) {
        self.probe = Some((seq, size));
    }

    /// Whether `seq` is the probe in flight.
    pub(crate) fn is_probe(&self, seq: u16) -> bool {
        matches!(self.probe, Some((s, _)) if s == seq)
    }

    /// `seq` was acknowledged.
    pub(crate) fn acked(&mut self, seq: u16) {
        if let Some((s, size)) = self.probe {
            if s == seq {
                self.probe = None;
                self.floor = self.floor.max(size);
                self.update();
            }
        }
    }

    /// `seq` was found lost.
    pub(crate) fn lost(&mut self, seq: u16) {
        if let Some((s, size)) = self.probe {
            if s == seq {
                self.probe = None;
                self.ceiling = size.saturating_sub(1).max(self.floor);
                self.update();
            }
        }
    }

    fn update(&mut self) {
        if self.done() {
            self.ceiling = self.floor;
        }
        self.next_probe = self.floor + (self.ceiling - self.floor).div_ceil(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_probe_is_the_ceiling() {
        let mut m = MtuSearch::new(548, 1472, true);
        assert_eq!(m.packet_size(), 548);
        assert_eq!(m.probe_size(1000), None);
        assert_eq!(m.probe_size(100_000), Some(1472));
        m.probe_sent(7, 1472);
        assert_eq!(m.probe_size(100_000), None);
        m.acked(7);
        assert_eq!(m.packet_size(), 1472);
        assert!(m.done());
        assert_eq!(m.probe_size(100_000), None);
    }

    #[test]
    fn binary_search_after_a_loss() {
        // A path that carries 1400 bytes at most.
        let mut m = MtuSearch::new(548, 1472, true);
        let mut seq = 0;
        while let Some(size) = m.probe_size(1 << 20) {
            seq += 1;
            m.probe_sent(seq, size);
            if size <= 1400 {
                m.acked(seq);
            } else {
                m.lost(seq);
            }
        }
        assert!(m.packet_size() <= 1400 && m.packet_size() > 1400 - DONE_WITHIN);
        assert!(seq < 10);
    }

    #[test]
    fn disabled_uses_the_ceiling() {
        let m = MtuSearch::new(548, 1472, false);
        assert_eq!(m.packet_size(), 1472);
        assert_eq!(m.probe_size(1 << 20), None);
    }
}
