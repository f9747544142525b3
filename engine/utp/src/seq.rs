//! Sequence numbers and timestamps wrap: comparisons go through these.

/// `a` comes before `b` in the 16-bit sequence space (half the space
/// ahead counts as "after").
pub(crate) fn seq_lt(a: u16, b: u16) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000
}

/// `a` is `b` or comes before it.
pub(crate) fn seq_le(a: u16, b: u16) -> bool {
    a == b || seq_lt(a, b)
}

/// `a` comes before `b` on a wrapping 32-bit microsecond clock.
pub(crate) fn ts_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_order() {
        assert!(seq_lt(1, 2));
        assert!(seq_lt(65535, 0));
        assert!(seq_lt(65000, 100));
        assert!(!seq_lt(100, 65000));
        assert!(!seq_lt(5, 5));
        assert!(seq_le(5, 5));
        assert!(ts_lt(u32::MAX, 3));
        assert!(!ts_lt(3, u32::MAX));
    }
}
