//! The streaming decoder: one pure function from "the bytes received so far"
//! to "one message and how many bytes it used", or "how many more bytes are
//! needed".
//!
//! Why it is shaped this way:
//! - **It borrows.** [`Message`] points into the caller's receive buffer, so a
//!   16 KiB block or a 1 MiB extension message is never copied by the codec.
//!   The caller drops `consumed` bytes from its buffer when it is done with
//!   the message.
//! - **Bounds come before bytes.** As soon as the 4-byte length prefix and
//!   the id are visible, the length is checked against the bound for that
//!   kind of message ([`Limits`]): fixed-size messages must be exactly their
//!   size, variable ones must fit their limit. An oversize prefix is an error
//!   at once, before the body arrives, so a peer cannot make the engine grow
//!   a buffer by announcing a huge message.
//! - **"Need more" is not an error.** Partial input is the normal case for a
//!   stream; [`Decoded::NeedMore`] says how many more bytes are needed at
//!   least, so the caller can size its next read.
//! - **Ids 20 and 21 are ambiguous** (BEP 10 / BEP 52 versus the old Azureus
//!   EXTENDED protocol); [`Limits::extension`] carries what the handshakes
//!   negotiated. Unknown ids decode as [`Message::Unknown`] so that the session
//!   can skip them, as BEP 3 asks.

use super::error::WireError;
use super::message::{
    id, BlockRequest, ExtensionProtocol, HashRequest, Message, HASH_LEN, HASH_REQUEST_LEN,
};

/// The largest block a `piece` message may carry by default: 16 KiB, the
/// block size every current client requests.
pub const DEFAULT_MAX_BLOCK: u32 = 16 * 1024;
/// Default bound on an extension message payload (BEP 10 or Azureus): 1 MiB.
pub const DEFAULT_MAX_EXTENDED: u32 = 1024 * 1024;
/// Default bound on the number of pieces a `bitfield` may describe
/// (libtorrent's default `max_pieces`, 2^21): a 256 KiB bitfield.
pub const DEFAULT_MAX_PIECES: u32 = 1 << 21;
/// Default bound on the hashes in one BEP 52 `hashes` message. BEP 52 lets
/// a peer refuse requests for more than 512 hashes; 8192 also covers
/// libtorrent's own limit plus proof layers.
pub const DEFAULT_MAX_HASHES: u32 = 8192;
/// Default bound on the payload of a message with an unknown id: 256 KiB.
pub const DEFAULT_MAX_UNKNOWN: u32 = 256 * 1024;

/// The per-kind bounds the decoder enforces, and the meaning of ids 20/21.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Most pieces a `bitfield` may describe: its payload may be at most
    /// `ceil(max_pieces / 8)` bytes. Set it to the torrent's piece count once
    /// the metadata is known.
    pub max_pieces: u32,
    /// Largest block in a `piece` message (the length prefix may be at most
    /// `9 + max_block`).
    pub max_block: u32,
    /// Largest extension payload: after the extended id byte (BEP 10), the
    /// whole body of `BT_EXTENDED_LST`, or after the int32 id of `BT_EXTENDED`.
    pub max_extended: u32,
    /// Most 32-byte hashes in a BEP 52 `hashes` message.
    pub max_hashes: u32,
    /// Largest payload of a message with an unknown id.
    pub max_unknown: u32,
    /// What ids 20 and 21 mean on this connection.
    pub extension: ExtensionProtocol,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_pieces: DEFAULT_MAX_PIECES,
            max_block: DEFAULT_MAX_BLOCK,
            max_extended: DEFAULT_MAX_EXTENDED,
            max_hashes: DEFAULT_MAX_HASHES,
            max_unknown: DEFAULT_MAX_UNKNOWN,
            extension: ExtensionProtocol::Ltep,
        }
    }
}

/// Inclusive bounds on the length prefix of one message kind.
#[derive(Clone, Copy, Debug)]
struct Bound {
    name: &'static str,
    min: u64,
    max: u64,
}

impl Bound {
    const fn exact(name: &'static str, len: u64) -> Bound {
        Bound {
            name,
            min: len,
            max: len,
        }
    }
    const fn range(name: &'static str, min: u64, max: u64) -> Bound {
        Bound { name, min, max }
    }
}

fn clamp32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

const HASH_FIXED: u64 = 1 + HASH_REQUEST_LEN as u64;

impl Limits {
    /// Limits for a torrent with `piece_count` pieces, other fields default.
    pub fn for_pieces(piece_count: u32) -> Limits {
        Limits {
            max_pieces: piece_count,
            ..Limits::default()
        }
    }

    /// The same limits with ids 20/21 read as `extension`.
    pub fn with_extension(self, extension: ExtensionProtocol) -> Limits {
        Limits { extension, ..self }
    }

    fn bitfield_max(&self) -> u64 {
        1 + u64::from(self.max_pieces).div_ceil(8)
    }

    /// The bound on the length prefix for message `id`.
    fn bound(&self, msg_id: u8) -> Bound {
        let azureus = self.extension == ExtensionProtocol::Azureus;
        let ext = u64::from(self.max_extended);
        match msg_id {
            id::CHOKE => Bound::exact("choke", 1),
            id::UNCHOKE => Bound::exact("unchoke", 1),
            id::INTERESTED => Bound::exact("interested", 1),
            id::NOT_INTERESTED => Bound::exact("not interested", 1),
            id::HAVE => Bound::exact("have", 5),
            id::BITFIELD => Bound::range("bitfield", 1, self.bitfield_max()),
            id::REQUEST => Bound::exact("request", 13),
            id::PIECE => Bound::range("piece", 9, 9 + u64::from(self.max_block)),
            id::CANCEL => Bound::exact("cancel", 13),
            id::PORT => Bound::exact("port", 3),
            id::SUGGEST => Bound::exact("suggest", 5),
            id::HAVE_ALL => Bound::exact("have all", 1),
            id::HAVE_NONE => Bound::exact("have none", 1),
            id::REJECT_REQUEST => Bound::exact("reject request", 13),
            id::ALLOWED_FAST => Bound::exact("allowed fast", 5),
            id::AZUREUS_EXTENDED_LIST if azureus => Bound::range("BT_EXTENDED_LST", 1, 1 + ext),
            id::EXTENDED => Bound::range("extended", 2, 2 + ext),
            id::AZUREUS_EXTENDED if azureus => Bound::range("BT_EXTENDED", 5, 5 + ext),
            id::HASH_REQUEST => Bound::exact("hash request", HASH_FIXED),
            id::HASHES => Bound::range(
                "hashes",
                HASH_FIXED,
                HASH_FIXED + HASH_LEN as u64 * u64::from(self.max_hashes),
            ),
            id::HASH_REJECT => Bound::exact("hash reject", HASH_FIXED),
            _ => Bound::range("unknown", 1, 1 + u64::from(self.max_unknown)),
        }
    }

    /// The largest length prefix any message may have under these limits:
    /// what a receive buffer must be able to hold, plus 4 for the prefix.
    pub fn max_frame(&self) -> u32 {
        let variable = [
            self.bitfield_max(),
            9 + u64::from(self.max_block),
            5 + u64::from(self.max_extended),
            HASH_FIXED + HASH_LEN as u64 * u64::from(self.max_hashes),
            1 + u64::from(self.max_unknown),
        ];
        clamp32(variable.into_iter().fold(HASH_FIXED, u64::max))
    }

    /// Checks a length prefix for message `msg_id` before the body is read.
    fn check(&self, msg_id: u8, len: u32) -> Result<(), WireError> {
        let b = self.bound(msg_id);
        let l = u64::from(len);
        if b.min == b.max && l != b.min {
            return Err(WireError::WrongLength {
                id: msg_id,
                name: b.name,
                expected: clamp32(b.min),
                len,
            });
        }
        if l < b.min {
            return Err(WireError::TooShort {
                id: msg_id,
                name: b.name,
                min: clamp32(b.min),
                len,
            });
        }
        if l > b.max {
            return Err(WireError::TooLong {
                id: msg_id,
                name: b.name,
                max: clamp32(b.max),
                len,
            });
        }
        if msg_id == id::HASHES {
            let hashes = l - HASH_FIXED;
            if !hashes.is_multiple_of(HASH_LEN as u64) {
                return Err(WireError::HashesNotMultipleOf32 {
                    len: clamp32(hashes),
                });
            }
        }
        Ok(())
    }
}

/// What [`decode`] found at the start of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// Not a whole message yet: at least `needed` more bytes must arrive.
    NeedMore {
        /// Lower bound on the bytes still missing (exact once the length
        /// prefix and id are in).
        needed: usize,
    },
    /// One message, which used the first `consumed` bytes of the buffer.
    Message {
        /// The message, borrowing from the buffer.
        msg: Message<'a>,
        /// Bytes of the buffer it occupied, length prefix included.
        consumed: usize,
    },
}

/// A little reader over a body whose length has already been checked.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn array<const N: usize>(&mut self) -> [u8; N] {
        match self.0.split_first_chunk::<N>() {
            Some((head, tail)) => {
                self.0 = tail;
                *head
            }
            // Unreachable after `Limits::check`; zeros keep it panic-free.
            None => [0; N],
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }
    fn block(&mut self) -> BlockRequest {
        BlockRequest {
            index: self.u32(),
            begin: self.u32(),
            length: self.u32(),
        }
    }
    fn hash_request(&mut self) -> HashRequest {
        HashRequest {
            pieces_root: self.array(),
            base_layer: self.u32(),
            index: self.u32(),
            length: self.u32(),
            proof_layers: self.u32(),
        }
    }
}

/// Decodes the message at the start of `buf`.
///
/// Returns [`Decoded::NeedMore`] while the message is incomplete (after
/// checking its length prefix as soon as that is visible), or the message and
/// the number of bytes it used. An error means the peer is broken or over a
/// limit: close the connection. Never panics, whatever `buf` holds.
pub fn decode<'a>(buf: &'a [u8], limits: &Limits) -> Result<Decoded<'a>, WireError> {
    let Some((prefix, rest)) = buf.split_first_chunk::<4>() else {
        return Ok(Decoded::NeedMore {
            needed: 4 - buf.len(),
        });
    };
    let len = u32::from_be_bytes(*prefix);
    if len == 0 {
        return Ok(Decoded::Message {
            msg: Message::KeepAlive,
            consumed: 4,
        });
    }
    let frame = len as usize;
    let Some((&msg_id, _)) = rest.split_first() else {
        // Only the prefix so far: refuse a length no kind allows, else wait
        // for the id (which selects the exact bound) and the whole frame.
        let max = limits.max_frame();
        if len > max {
            return Err(WireError::FrameTooLong { len, max });
        }
        return Ok(Decoded::NeedMore { needed: frame });
    };
    // Each kind's bound is within max_frame, so this one check suffices.
    limits.check(msg_id, len)?;
    let Some(body) = rest.get(1..frame) else {
        return Ok(Decoded::NeedMore {
            needed: frame - rest.len(),
        });
    };
    let mut b = Body(body);
    let azureus = limits.extension == ExtensionProtocol::Azureus;
    let msg = match msg_id {
        id::CHOKE => Message::Choke,
        id::UNCHOKE => Message::Unchoke,
        id::INTERESTED => Message::Interested,
        id::NOT_INTERESTED => Message::NotInterested,
        id::HAVE => Message::Have { index: b.u32() },
        id::BITFIELD => Message::Bitfield(body),
        id::REQUEST => Message::Request(b.block()),
        id::PIECE => Message::Piece {
            index: b.u32(),
            begin: b.u32(),
            data: b.0,
        },
        id::CANCEL => Message::Cancel(b.block()),
        id::PORT => Message::Port(b.u16()),
        id::SUGGEST => Message::Suggest { index: b.u32() },
        id::HAVE_ALL => Message::HaveAll,
        id::HAVE_NONE => Message::HaveNone,
        id::REJECT_REQUEST => Message::RejectRequest(b.block()),
        id::ALLOWED_FAST => Message::AllowedFast { index: b.u32() },
        id::AZUREUS_EXTENDED_LIST if azureus => Message::AzureusExtendedList(body),
        id::EXTENDED => {
            let [ext_id] = b.array();
            Message::Extended {
                id: ext_id,
                payload: b.0,
            }
        }
        id::AZUREUS_EXTENDED if azureus => Message::AzureusExtended {
            id: b.u32(),
            payload: b.0,
        },
        id::HASH_REQUEST => Message::HashRequest(b.hash_request()),
        id::HASHES => Message::Hashes {
            request: b.hash_request(),
            hashes: b.0,
        },
        id::HASH_REJECT => Message::HashReject(b.hash_request()),
        other => Message::Unknown {
            id: other,
            payload: body,
        },
    };
    Ok(Decoded::Message {
        msg,
        consumed: frame + 4,
    })
}

/// Decodes every whole message at the start of `buf`, returning them and the
/// bytes they used (the rest is an incomplete message). Convenient for tests
/// and tools; the engine calls [`decode`] in its own loop.
pub fn decode_all<'a>(
    mut buf: &'a [u8],
    limits: &Limits,
) -> Result<(Vec<Message<'a>>, usize), WireError> {
    let mut out = Vec::new();
    let mut used = 0;
    while let Decoded::Message { msg, consumed } = decode(buf, limits)? {
        out.push(msg);
        used += consumed;
        buf = buf.get(consumed..).unwrap_or_default();
    }
    Ok((out, used))
}
