//! The eight reserved bytes of the handshake, where clients advertise what
//! they speak beyond BEP 3.
//!
//! Every bit that is known to be in use (the official ones and the historic,
//! unofficial ones from `000_*.txt`) has a named constant, a getter and a
//! setter, so the session code never writes `reserved[7] & 0x04` by hand.
//! Bits are named as (byte, mask) with byte 0 the first byte on the wire, the
//! way every spec table lists them.
//!
//! Two clashes are deliberate and documented on the items involved:
//! - XBT metadata exchange uses `reserved[7] & 0x01`, the same bit as the DHT.
//!   Nobody but XBT ever implemented it, so a set bit means "DHT"; the XBT
//!   getter exists only so that the clash is visible in code.
//! - BitComet sets all of `reserved[0]` and `reserved[1]` to `0xFF`, which
//!   includes the Azureus bit (`reserved[0] & 0x80`) and the high bits of
//!   nothing else we care about. Check [`Reserved::bitcomet`] before trusting
//!   [`Reserved::azureus_extended`].

use std::fmt;

/// One flag in the reserved bytes: `reserved[byte] & mask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReservedBit {
    /// Index of the byte, 0 = first reserved byte on the wire.
    pub byte: u8,
    /// Mask within that byte.
    pub mask: u8,
}

impl ReservedBit {
    /// A bit at `reserved[byte] & mask`.
    pub const fn new(byte: u8, mask: u8) -> ReservedBit {
        ReservedBit { byte, mask }
    }
}

/// The reserved bytes of a handshake (bytes 20..28 of the 68-byte handshake).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Reserved(pub [u8; 8]);

macro_rules! reserved_bits {
    ($( $(#[$doc:meta])* $konst:ident = ($byte:literal, $mask:literal), $get:ident, $set:ident; )*) => {
        impl Reserved {
            $(
                $(#[$doc])*
                pub const $konst: ReservedBit = ReservedBit::new($byte, $mask);
            )*
            $(
                #[doc = concat!("Whether [`Reserved::", stringify!($konst), "`] is set.")]
                pub fn $get(&self) -> bool {
                    self.get(Self::$konst)
                }
                #[doc = concat!("Sets or clears [`Reserved::", stringify!($konst), "`].")]
                pub fn $set(&mut self, on: bool) -> &mut Self {
                    self.set(Self::$konst, on)
                }
            )*
            /// Every named bit with its constant name, for logging a peer's capabilities.
            pub const NAMED_BITS: &'static [(&'static str, ReservedBit)] = &[
                $( (stringify!($konst), Self::$konst), )*
            ];
        }
    };
}

reserved_bits! {
    /// BEP 10 extension protocol (LTEP): `reserved[5] & 0x10`. Official.
    EXTENSION_PROTOCOL = (5, 0x10), extension_protocol, set_extension_protocol;
    /// BEP 5 DHT: `reserved[7] & 0x01`; a peer that sees it sends `port` (id 9). Official.
    /// Same bit as [`Reserved::XBT_METADATA`].
    DHT = (7, 0x01), dht, set_dht;
    /// BEP 6 fast extension (suggest, have all, have none, reject request,
    /// allowed fast): `reserved[7] & 0x04`. Official.
    FAST = (7, 0x04), fast, set_fast;
    /// BEP 52 hybrid torrent "upgrade to v2": `reserved[7] & 0x10`. Official.
    V2_UPGRADE = (7, 0x10), v2_upgrade, set_v2_upgrade;
    /// Azureus "EXTENDED" messaging (`001_*.txt`): `reserved[0] & 0x80`. Unofficial.
    /// BitComet's `0xFF` in `reserved[0]` also sets it: see [`Reserved::bitcomet`].
    AZUREUS_EXTENDED = (0, 0x80), azureus_extended, set_azureus_extended;
    /// BitTorrent location-aware protocol: `reserved[2] & 0x08`. Unofficial, no
    /// known implementation.
    LOCATION_AWARE = (2, 0x08), location_aware, set_location_aware;
    /// Extension negotiation protocol, high bit: `reserved[5] & 0x02`. Unofficial.
    EXTENSION_NEGOTIATION_HIGH = (5, 0x02), extension_negotiation_high, set_extension_negotiation_high;
    /// Extension negotiation protocol, low bit: `reserved[5] & 0x01`. Unofficial.
    EXTENSION_NEGOTIATION_LOW = (5, 0x01), extension_negotiation_low, set_extension_negotiation_low;
    /// XBT metadata exchange: `reserved[7] & 0x01`. Unofficial, XBT only.
    /// **Clashes with [`Reserved::DHT`]**: it is the same bit, so this getter
    /// and [`Reserved::dht`] always agree, and setting one sets the other.
    /// Treat a set bit as DHT.
    XBT_METADATA = (7, 0x01), xbt_metadata, set_xbt_metadata;
    /// XBT peer exchange: `reserved[7] & 0x02`. Unofficial.
    XBT_PEX = (7, 0x02), xbt_pex, set_xbt_pex;
    /// NAT traversal: `reserved[7] & 0x08`. Unofficial.
    NAT_TRAVERSAL = (7, 0x08), nat_traversal, set_nat_traversal;
}

impl Reserved {
    /// No bits set.
    pub const EMPTY: Reserved = Reserved([0; 8]);

    /// BitComet's extension protocol marks itself with `reserved[0] == 0xFF`
    /// and `reserved[1] == 0xFF` (a byte pattern, not a single bit).
    pub const BITCOMET_BYTES: [u8; 2] = [0xFF, 0xFF];

    /// Whether `bit` is set.
    pub fn get(&self, bit: ReservedBit) -> bool {
        self.0
            .get(usize::from(bit.byte))
            .is_some_and(|b| b & bit.mask == bit.mask && bit.mask != 0)
    }

    /// Sets (`on`) or clears `bit`. A bit whose byte index is out of range
    /// (only possible with a hand-made [`ReservedBit`]) is ignored.
    pub fn set(&mut self, bit: ReservedBit, on: bool) -> &mut Self {
        if let Some(b) = self.0.get_mut(usize::from(bit.byte)) {
            if on {
                *b |= bit.mask;
            } else {
                *b &= !bit.mask;
            }
        }
        self
    }

    /// BitComet extension protocol: `reserved[0] == 0xFF && reserved[1] == 0xFF`.
    pub fn bitcomet(&self) -> bool {
        matches!(self.0, [0xFF, 0xFF, ..])
    }

    /// Sets both BitComet bytes to `0xFF`, or clears them to `0x00` (which
    /// also clears the Azureus bit, since it lives in `reserved[0]`).
    pub fn set_bitcomet(&mut self, on: bool) -> &mut Self {
        let v = if on { 0xFF } else { 0x00 };
        let [b0, b1, ..] = &mut self.0;
        *b0 = v;
        *b1 = v;
        self
    }

    /// The bits both sides set: what a connection may actually use.
    pub fn common(&self, other: &Reserved) -> Reserved {
        let mut out = [0u8; 8];
        for ((o, a), b) in out.iter_mut().zip(self.0).zip(other.0) {
            *o = a & b;
        }
        Reserved(out)
    }

    /// The reserved bytes seedcore sends: LTEP, Fast and DHT (the DHT bit
    /// promises a `port` message, which the engine sends when its DHT runs).
    pub fn seedcore_default() -> Reserved {
        let mut r = Reserved::EMPTY;
        r.set_extension_protocol(true).set_fast(true).set_dht(true);
        r
    }
}

impl fmt::Debug for Reserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reserved({}", hex::encode(self.0))?;
        if self.bitcomet() {
            f.write_str(" BITCOMET")?;
        }
        for (name, bit) in Reserved::NAMED_BITS {
            // XBT_METADATA is the DHT bit; naming it twice only confuses logs.
            if self.get(*bit) && *name != "XBT_METADATA" {
                write!(f, " {name}")?;
            }
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_bits_are_where_the_specs_put_them() {
        let mut r = Reserved::EMPTY;
        r.set_extension_protocol(true);
        assert_eq!(r.0, [0, 0, 0, 0, 0, 0x10, 0, 0]);
        let mut r = Reserved::EMPTY;
        r.set_dht(true).set_fast(true).set_v2_upgrade(true);
        assert_eq!(r.0, [0, 0, 0, 0, 0, 0, 0, 0x15]);
    }

    #[test]
    fn unofficial_bits() {
        let mut r = Reserved::EMPTY;
        r.set_azureus_extended(true)
            .set_location_aware(true)
            .set_extension_negotiation_high(true)
            .set_extension_negotiation_low(true)
            .set_xbt_pex(true)
            .set_nat_traversal(true);
        assert_eq!(r.0, [0x80, 0, 0x08, 0, 0, 0x03, 0, 0x0A]);
        assert!(r.azureus_extended() && r.location_aware() && r.xbt_pex());
        assert!(r.nat_traversal() && r.extension_negotiation_low());
        assert!(!r.dht() && !r.bitcomet());
    }

    #[test]
    fn xbt_metadata_is_the_dht_bit() {
        let mut r = Reserved::EMPTY;
        r.set_xbt_metadata(true);
        assert!(r.dht());
        r.set_dht(false);
        assert!(!r.xbt_metadata());
    }

    #[test]
    fn bitcomet_pattern_implies_azureus_bit() {
        let mut r = Reserved::EMPTY;
        r.set_bitcomet(true);
        assert_eq!(r.0, [0xFF, 0xFF, 0, 0, 0, 0, 0, 0]);
        assert!(r.bitcomet() && r.azureus_extended());
        r.set_bitcomet(false);
        assert_eq!(r, Reserved::EMPTY);
        let mut only_first = Reserved::EMPTY;
        only_first.0[0] = 0xFF;
        assert!(!only_first.bitcomet());
    }

    #[test]
    fn every_named_bit_round_trips_through_its_setter() {
        for (name, bit) in Reserved::NAMED_BITS {
            let mut r = Reserved::EMPTY;
            r.set(*bit, true);
            assert!(r.get(*bit), "{name}");
            assert_eq!(r.0.iter().map(|b| b.count_ones()).sum::<u32>(), 1, "{name}");
            r.set(*bit, false);
            assert_eq!(r, Reserved::EMPTY, "{name}");
        }
    }

    #[test]
    fn common_and_debug() {
        let ours = Reserved::seedcore_default();
        let mut theirs = Reserved::EMPTY;
        theirs
            .set_extension_protocol(true)
            .set_azureus_extended(true);
        let both = ours.common(&theirs);
        assert!(both.extension_protocol() && !both.fast() && !both.azureus_extended());
        assert_eq!(
            format!("{both:?}"),
            "Reserved(0000000000100000 EXTENSION_PROTOCOL)"
        );
    }

    #[test]
    fn out_of_range_bit_is_ignored() {
        let mut r = Reserved::EMPTY;
        r.set(ReservedBit::new(8, 0x01), true);
        assert_eq!(r, Reserved::EMPTY);
        assert!(!r.get(ReservedBit::new(8, 0x01)));
    }
}
