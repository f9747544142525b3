//! Why a handshake failed. Every error closes that one connection.

use std::fmt;

/// A step of the handshake (for timeouts and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Incoming: the first bytes, to tell MSE from a plain handshake.
    Detect,
    /// The peer's 96-byte public key.
    PublicKey,
    /// Incoming: `HASH('req1', S)` after PadA.
    SyncHash,
    /// Incoming: the obfuscated SKEY, VC, `crypto_provide`, `len(PadC)`.
    Provide,
    /// Incoming: PadC and `len(IA)`.
    PadC,
    /// Outgoing: the encrypted VC after PadB.
    SyncVc,
    /// Outgoing: `crypto_select` and `len(PadD)`.
    Select,
    /// Outgoing: PadD.
    PadD,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Detect => "the first bytes",
            Step::PublicKey => "the peer's DH public key",
            Step::SyncHash => "the req1 synchronisation hash",
            Step::Provide => "the stream key and crypto_provide",
            Step::PadC => "PadC and len(IA)",
            Step::SyncVc => "the verification constant",
            Step::Select => "crypto_select",
            Step::PadD => "PadD",
        })
    }
}

/// Why an MSE handshake was given up. Each closes this connection only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MseError {
    /// A plain BitTorrent handshake arrived while incoming encryption is
    /// `forced`.
    #[error("plaintext handshake refused: incoming encryption is forced (set it to 'enabled' to accept plain peers)")]
    PlaintextRefused,
    /// Something other than a plain handshake arrived while incoming
    /// encryption is `disabled`.
    #[error("encrypted (MSE) handshake refused: incoming encryption is disabled")]
    EncryptedRefused,
    /// Dialling with MSE while outgoing encryption is `disabled`.
    #[error("outgoing encryption is disabled")]
    OutgoingDisabled,
    /// The initial payload we were asked to send is over 65,535 bytes.
    #[error("initial payload of {len} bytes is over the 65,535 MSE allows")]
    PayloadTooLong {
        /// Its length.
        len: usize,
    },
    /// The peer's DH public key is 0, 1, P-1 or not below P.
    #[error("the peer's DH public key is degenerate or out of range")]
    BadPublicKey,
    /// No `HASH('req1', S)` within the 512 bytes PadA may take: not an MSE
    /// peer, a wrong shared secret, or too much padding.
    #[error(
        "no synchronisation hash within {searched} bytes after the DH key (PadA is at most 512)"
    )]
    SyncHashNotFound {
        /// Bytes searched.
        searched: usize,
    },
    /// No encrypted VC within the 512 bytes PadB may take.
    #[error(
        "no verification constant within {searched} bytes after the DH key (PadB is at most 512)"
    )]
    VcNotFound {
        /// Bytes searched.
        searched: usize,
    },
    /// `HASH('req2', SKEY)` names no torrent served here.
    #[error("the peer asked for a torrent not served here")]
    UnknownTorrent,
    /// The decrypted VC is not eight zero bytes.
    #[error("wrong verification constant: the peer's keys do not match ours")]
    WrongVc,
    /// The peer offered no method our level allows.
    #[error("no common encryption method: the peer offers {offered:#x}, we allow {allowed:#x}")]
    NoCommonMethod {
        /// Its `crypto_provide`.
        offered: u32,
        /// Our level's bits.
        allowed: u32,
    },
    /// The peer selected something we did not offer, or not exactly one
    /// method.
    #[error("the peer selected {selected:#x}, which is not one method we offered ({offered:#x})")]
    BadSelect {
        /// Its `crypto_select`.
        selected: u32,
        /// Our `crypto_provide`.
        offered: u32,
    },
    /// PadC or PadD longer than the spec's 512 bytes.
    #[error("{step} announces {len} bytes of padding; at most 512 are allowed")]
    PadTooLong {
        /// Which padding.
        step: Step,
        /// The announced length.
        len: u16,
    },
    /// A step did not complete in time.
    #[error("timed out waiting for {step}")]
    TimedOut {
        /// The step that was awaited.
        step: Step,
    },
    /// Input after the handshake finished, or a call out of order (a bug
    /// of the caller, reported instead of panicking).
    #[error("handshake already finished")]
    Finished,
}

impl MseError {
    /// Whether the peer broke the protocol (worth a log line), as opposed
    /// to a policy refusal, an unknown torrent or a timeout.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            MseError::BadPublicKey
                | MseError::SyncHashNotFound { .. }
                | MseError::VcNotFound { .. }
                | MseError::WrongVc
                | MseError::BadSelect { .. }
                | MseError::PadTooLong { .. }
        )
    }
}
