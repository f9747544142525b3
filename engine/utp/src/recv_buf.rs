//! Received bytes: those in order, waiting for the application, and
//! packets that arrived ahead of a gap. Both count against one budget, the
//! window we advertise, so a peer cannot make us hold more than that
//! however it orders or repeats its packets.

use std::collections::VecDeque;

/// Packets held ahead of a gap, at most (their bytes are bounded by the
/// window too).
pub(crate) const MAX_REORDER: usize = 1024;

/// Room packets ahead of a gap must leave free: the packet that fills the
/// gap must always fit, or a buffer full of reordered packets would wait
/// for it forever (the largest payload is 1452 bytes).
const GAP_ROOM: usize = 1500;

#[derive(Debug)]
pub(crate) struct RecvBuf {
    data: VecDeque<u8>,
    /// `ahead[i]` is the packet `i + 1` after the next expected one.
    ahead: VecDeque<Option<Vec<u8>>>,
    ahead_bytes: usize,
    cap: usize,
}

impl RecvBuf {
    pub(crate) fn new(cap: u32) -> RecvBuf {
        RecvBuf {
            data: VecDeque::new(),
            ahead: VecDeque::new(),
            ahead_bytes: 0,
            cap: cap as usize,
        }
    }

    /// The window to advertise.
    pub(crate) fn window(&self) -> u32 {
        u32::try_from(self.cap.saturating_sub(self.data.len() + self.ahead_bytes))
            .unwrap_or(u32::MAX)
    }

    /// Bytes ready to read.
    pub(crate) fn readable(&self) -> usize {
        self.data.len()
    }

    /// Takes the next expected packet's payload, if it fits.
    pub(crate) fn push_in_order(&mut self, payload: &[u8]) -> bool {
        if payload.len() > self.window() as usize {
            return false;
        }
        self.data.extend(payload);
        true
    }

    /// Stores a packet `dist` (1..) after the next expected one; false if
    /// it does not fit (it will come again).
    pub(crate) fn push_ahead(&mut self, dist: usize, payload: &[u8]) -> bool {
        if dist == 0 || dist > MAX_REORDER || payload.len() + GAP_ROOM > self.window() as usize {
            return false;
        }
        if self.ahead.len() < dist {
            self.ahead.resize(dist, None);
        }
        match self.ahead.get_mut(dist - 1) {
            Some(slot @ None) => {
                self.ahead_bytes += payload.len();
                *slot = Some(payload.to_vec());
                true
            }
            _ => true, // a duplicate: already held
        }
    }

    /// The next expected packet was taken (in order): shifts the ahead
    /// queue and returns the packet that is now next, if held.
    pub(crate) fn advance(&mut self) -> Option<Vec<u8>> {
        let next = self.ahead.pop_front().flatten();
        if let Some(p) = &next {
            self.ahead_bytes -= p.len();
            self.data.extend(p.iter());
        }
        next
    }

    /// Bitmask of packets held after the gap: bit `i` is the packet
    /// `i + 2` after the last in-order one (BEP 29's SACK), at most 8
    /// bytes, in whole 4-byte words.
    pub(crate) fn sack(&self, out: &mut [u8; 8]) -> usize {
        *out = [0; 8];
        let mut last = None;
        for (i, slot) in self.ahead.iter().take(64).enumerate() {
            if slot.is_some() {
                if let Some(b) = out.get_mut(i / 8) {
                    *b |= 1 << (i % 8);
                }
                last = Some(i);
            }
        }
        last.map_or(0, |i| (i / 32 + 1) * 4)
    }

    /// Copies out up to `buf.len()` bytes.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.data.len());
        for (d, s) in buf.iter_mut().zip(self.data.drain(..n)) {
            *d = s;
        }
        n
    }

    /// The readable bytes, in (at most) two slices.
    pub(crate) fn slices(&self) -> (&[u8], &[u8]) {
        self.data.as_slices()
    }

    /// Drops `n` readable bytes.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.data.len());
        self.data.drain(..n);
        if self.data.is_empty() && self.data.capacity() > 64 << 10 {
            self.data = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorder_and_sack() {
        let mut r = RecvBuf::new(2000);
        // The packet after next (dist 1) and dist 3 arrive first.
        assert!(r.push_ahead(1, b"bb"));
        assert!(r.push_ahead(3, b"dd"));
        assert!(r.push_ahead(3, b"dd"));
        assert_eq!(r.window(), 1996);
        let mut m = [0; 8];
        assert_eq!(r.sack(&mut m), 4);
        assert_eq!(m[0], 0b101);
        assert!(r.push_in_order(b"aa"));
        assert_eq!(r.advance().as_deref(), Some(&b"bb"[..]));
        assert_eq!(r.advance(), None);
        assert_eq!(r.sack(&mut m), 4);
        let mut buf = [0; 10];
        assert_eq!(r.read(&mut buf), 4);
        assert_eq!(&buf[..4], b"aabb");
    }

    #[test]
    fn bounded_by_the_window() {
        let mut r = RecvBuf::new(10);
        assert!(r.push_in_order(&[0; 8]));
        assert!(!r.push_in_order(&[0; 3]));
        assert!(!r.push_ahead(2, &[0; 3]));
        // Reordered packets leave room for the one that fills the gap.
        let mut r = RecvBuf::new(4000);
        assert!(r.push_ahead(1, &[0; 1400]));
        assert!(!r.push_ahead(2, &[0; 1400]));
        assert!(r.push_in_order(&[0; 1400]));
        assert!(!r.push_ahead(MAX_REORDER + 1, &[]));
    }
}
