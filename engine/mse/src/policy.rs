//! What an operator chooses: when to speak MSE and which payload
//! encryption to accept, with libtorrent's names and meanings.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// When to use MSE, for one direction (libtorrent's `in_enc_policy` /
/// `out_enc_policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Never: incoming MSE handshakes are refused, dials are plain.
    Disabled,
    /// Both: incoming plain and MSE handshakes are accepted; a dial tries
    /// one and, when it fails, the other.
    Enabled,
    /// Only MSE: a plain incoming handshake is refused, dials are MSE only.
    Forced,
}

/// Which payload encryption may be agreed in `crypto_provide` /
/// `crypto_select` (libtorrent's `allowed_enc_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// Only the handshake is obfuscated; the payload goes in the clear.
    Plaintext,
    /// The whole stream is RC4.
    Rc4,
    /// Either, as the peer allows (the default).
    Both,
}

/// Which method to select when the peer offers both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prefer {
    /// Plaintext (the default): blocks keep the zero-copy send path.
    Plaintext,
    /// RC4 (libtorrent's `prefer_rc4`).
    Rc4,
}

/// `crypto_provide` / `crypto_select` bits.
pub mod method {
    /// Plaintext payload after the handshake.
    pub const PLAINTEXT: u32 = 0x01;
    /// RC4 payload.
    pub const RC4: u32 = 0x02;
}

impl Level {
    /// The `crypto_provide` bits for this level.
    pub fn bits(self) -> u32 {
        match self {
            Level::Plaintext => method::PLAINTEXT,
            Level::Rc4 => method::RC4,
            Level::Both => method::PLAINTEXT | method::RC4,
        }
    }
}

/// Every setting of the MSE layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MseConfig {
    /// Incoming connections.
    pub incoming: Mode,
    /// Our dials.
    pub outgoing: Mode,
    /// Payload encryption we accept.
    pub level: Level,
    /// What to select when the peer offers both.
    pub prefer: Prefer,
    /// Each step of the handshake (a DH key, the synchronisation point, a
    /// padding) must arrive within this time of the previous one.
    pub step_timeout: Duration,
    /// And the whole handshake within this time.
    pub handshake_timeout: Duration,
}

impl Default for MseConfig {
    fn default() -> MseConfig {
        MseConfig {
            incoming: Mode::Enabled,
            outgoing: Mode::Enabled,
            level: Level::Both,
            prefer: Prefer::Plaintext,
            step_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(20),
        }
    }
}

impl MseConfig {
    /// The method a receiver selects from the initiator's `crypto_provide`,
    /// or `None` when nothing offered is allowed.
    pub fn select(&self, provide: u32) -> Option<u32> {
        let common = provide & self.level.bits();
        let both = method::PLAINTEXT | method::RC4;
        match (common & both, self.prefer) {
            (0, _) => None,
            (x, _) if x != both => Some(x),
            (_, Prefer::Plaintext) => Some(method::PLAINTEXT),
            (_, Prefer::Rc4) => Some(method::RC4),
        }
    }
}

/// A policy name that is not one of the accepted ones.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {got:?}: expected one of {expected}")]
pub struct ParseError {
    what: &'static str,
    got: String,
    expected: &'static str,
}

macro_rules! names {
    ($ty:ident, $what:literal, $($variant:ident => $name:literal),+) => {
        impl $ty {
            /// The name used in configuration files and on the command line.
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl FromStr for $ty {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<$ty, ParseError> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(ParseError {
                        what: $what,
                        got: s.to_owned(),
                        expected: concat!($($name, " "),+),
                    }),
                }
            }
        }
    };
}

names!(Mode, "encryption mode", Disabled => "disabled", Enabled => "enabled", Forced => "forced");
names!(Level, "encryption level", Plaintext => "plaintext", Rc4 => "rc4", Both => "both");
names!(Prefer, "preference", Plaintext => "plaintext", Rc4 => "rc4");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_follows_level_and_preference() {
        let mut c = MseConfig::default();
        assert_eq!(c.select(3), Some(method::PLAINTEXT));
        assert_eq!(c.select(2), Some(method::RC4));
        assert_eq!(c.select(1), Some(method::PLAINTEXT));
        assert_eq!(c.select(0), None);
        assert_eq!(c.select(0xffff_fff0), None);
        c.prefer = Prefer::Rc4;
        assert_eq!(c.select(3 | 0x100), Some(method::RC4));
        c.level = Level::Plaintext;
        assert_eq!(c.select(2), None);
        assert_eq!(c.select(3), Some(method::PLAINTEXT));
        c.level = Level::Rc4;
        assert_eq!(c.select(1), None);
    }

    #[test]
    fn names_round_trip() {
        for m in [Mode::Disabled, Mode::Enabled, Mode::Forced] {
            assert_eq!(m.name().parse::<Mode>(), Ok(m));
        }
        for l in [Level::Plaintext, Level::Rc4, Level::Both] {
            assert_eq!(l.to_string().parse::<Level>(), Ok(l));
        }
        let e = "maybe".parse::<Mode>().unwrap_err().to_string();
        assert!(e.contains("disabled enabled forced"), "{e}");
    }
}
