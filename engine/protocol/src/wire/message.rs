//! Every peer message, as a value that borrows its variable-length part from
//! the buffer it was decoded from, and its encoder.
//!
//! Encoding is split into a small fixed header (length prefix, id, fixed
//! fields: at most 53 bytes) and a borrowed body. A piece
//! message is therefore "13 header bytes + a slice of the mmap", which is what
//! the zero-copy send path writes with one vectored send; [`piece_header`]
//! gives it that header without building a [`Message`] at all.

use std::fmt;

use super::error::EncodeError;
use super::reserved::Reserved;

/// Message ids (the byte after the length prefix).
pub mod id {
    /// BEP 3 `choke`.
    pub const CHOKE: u8 = 0x00;
    /// BEP 3 `unchoke`.
    pub const UNCHOKE: u8 = 0x01;
    /// BEP 3 `interested`.
    pub const INTERESTED: u8 = 0x02;
    /// BEP 3 `not interested`.
    pub const NOT_INTERESTED: u8 = 0x03;
    /// BEP 3 `have`.
    pub const HAVE: u8 = 0x04;
    /// BEP 3 `bitfield`.
    pub const BITFIELD: u8 = 0x05;
    /// BEP 3 `request`.
    pub const REQUEST: u8 = 0x06;
    /// BEP 3 `piece`.
    pub const PIECE: u8 = 0x07;
    /// BEP 3 `cancel`.
    pub const CANCEL: u8 = 0x08;
    /// BEP 5 `port` (DHT).
    pub const PORT: u8 = 0x09;
    /// BEP 6 `suggest piece`.
    pub const SUGGEST: u8 = 0x0D;
    /// BEP 6 `have all`.
    pub const HAVE_ALL: u8 = 0x0E;
    /// BEP 6 `have none`.
    pub const HAVE_NONE: u8 = 0x0F;
    /// BEP 6 `reject request`.
    pub const REJECT_REQUEST: u8 = 0x10;
    /// BEP 6 `allowed fast`.
    pub const ALLOWED_FAST: u8 = 0x11;
    /// BEP 10 `extended` (when LTEP was negotiated).
    pub const EXTENDED: u8 = 0x14;
    /// Azureus `BT_EXTENDED_LST` (same byte as [`EXTENDED`]; only in Azureus mode).
    pub const AZUREUS_EXTENDED_LIST: u8 = 0x14;
    /// Azureus `BT_EXTENDED` (same byte as [`HASH_REQUEST`]; only in Azureus mode).
    pub const AZUREUS_EXTENDED: u8 = 0x15;
    /// BEP 52 `hash request`.
    pub const HASH_REQUEST: u8 = 0x15;
    /// BEP 52 `hashes`.
    pub const HASHES: u8 = 0x16;
    /// BEP 52 `hash reject`.
    pub const HASH_REJECT: u8 = 0x17;
}

/// Length of a piece message header: prefix (4), id (1), index (4), begin (4).
pub const PIECE_HEADER_LEN: usize = 13;
/// Length of the fixed part of the BEP 52 hash messages after the id:
/// pieces root (32) and four u32 fields.
pub const HASH_REQUEST_LEN: usize = 48;
/// Length of one BEP 52 hash.
pub const HASH_LEN: usize = 32;

/// The (index, begin, length) triple of `request`, `cancel` and `reject
/// request`. Unvalidated: check it against the torrent's geometry
/// (`geometry::Geometry::block`) before use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRequest {
    /// Piece index.
    pub index: u32,
    /// Byte offset within the piece.
    pub begin: u32,
    /// Number of bytes.
    pub length: u32,
}

/// The fields shared by the BEP 52 `hash request`, `hashes` and `hash reject`
/// messages, in wire order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashRequest {
    /// Merkle root of the file the hashes belong to.
    pub pieces_root: [u8; 32],
    /// Tree layer of the requested hashes (0 = 16 KiB leaf layer).
    pub base_layer: u32,
    /// Index of the first hash in that layer.
    pub index: u32,
    /// Number of hashes from the base layer.
    pub length: u32,
    /// Number of uncle-hash layers to include above the requested ones.
    pub proof_layers: u32,
}

/// Which meaning ids 20 and 21 have on a connection.
///
/// Id 20 is BEP 10's `extended` and also Azureus' `BT_EXTENDED_LST`; id 21 is
/// BEP 52's `hash request` and also Azureus' `BT_EXTENDED`. The bytes do not
/// say which one is meant: only what the two handshakes negotiated does, so
/// the session passes that choice to the decoder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ExtensionProtocol {
    /// BEP 10 (LTEP) and BEP 52: 20 = `extended`, 21 = `hash request`. The
    /// normal case, and the default.
    #[default]
    Ltep,
    /// The old Azureus EXTENDED protocol (`reserved[0] & 0x80`, without LTEP):
    /// 20 = `BT_EXTENDED_LST`, 21 = `BT_EXTENDED`. BEP 52 hash requests are
    /// not available on such a connection.
    Azureus,
}

impl ExtensionProtocol {
    /// What two handshakes' reserved bytes make ids 20/21 mean: Azureus only
    /// when both sides set the Azureus bit, neither is BitComet (whose 0xFF
    /// byte sets that bit by accident) and they do not share LTEP, which wins
    /// whenever both support it.
    pub fn negotiate(ours: &Reserved, theirs: &Reserved) -> ExtensionProtocol {
        let both = ours.common(theirs);
        if !both.extension_protocol()
            && both.azureus_extended()
            && !ours.bitcomet()
            && !theirs.bitcomet()
        {
            ExtensionProtocol::Azureus
        } else {
            ExtensionProtocol::Ltep
        }
    }
}

/// One peer message. Variable-length parts borrow from the decoded buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// Zero-length message.
    KeepAlive,
    /// 0: the sender will not serve requests.
    Choke,
    /// 1: the sender will serve requests.
    Unchoke,
    /// 2: the sender wants data.
    Interested,
    /// 3: the sender wants no data.
    NotInterested,
    /// 4: the sender has completed a piece.
    Have {
        /// Piece index.
        index: u32,
    },
    /// 5: which pieces the sender has, high bit of the first byte = piece 0.
    Bitfield(&'a [u8]),
    /// 6: ask for a block.
    Request(BlockRequest),
    /// 7: a block of data.
    Piece {
        /// Piece index.
        index: u32,
        /// Byte offset within the piece.
        begin: u32,
        /// The block.
        data: &'a [u8],
    },
    /// 8: withdraw a request.
    Cancel(BlockRequest),
    /// 9 (BEP 5): the sender's DHT UDP port.
    Port(u16),
    /// 0x0D (BEP 6): a piece the receiver might want to request.
    Suggest {
        /// Piece index.
        index: u32,
    },
    /// 0x0E (BEP 6): the sender has every piece (a seed).
    HaveAll,
    /// 0x0F (BEP 6): the sender has no piece.
    HaveNone,
    /// 0x10 (BEP 6): a request that will not be served.
    RejectRequest(BlockRequest),
    /// 0x11 (BEP 6): a piece the receiver may request even while choked.
    AllowedFast {
        /// Piece index.
        index: u32,
    },
    /// 0x14 (BEP 10): an extension message; `id` 0 is the extended handshake,
    /// others are the ids the receiver assigned in its handshake.
    Extended {
        /// Extended message id.
        id: u8,
        /// The extension's payload (usually bencoded; see [`crate::ext`]).
        payload: &'a [u8],
    },
    /// 0x15 (BEP 52): ask for merkle hashes.
    HashRequest(HashRequest),
    /// 0x16 (BEP 52): merkle hashes, `hashes` is a whole number of 32-byte hashes.
    Hashes {
        /// The request being answered.
        request: HashRequest,
        /// The requested hashes then the proof (uncle) hashes.
        hashes: &'a [u8],
    },
    /// 0x17 (BEP 52): a hash request that will not be served.
    HashReject(HashRequest),
    /// 20 in Azureus mode: `BT_EXTENDED_LST`, a bencoded dict of capability
    /// name to message id (see [`crate::ext::azureus`]).
    AzureusExtendedList(&'a [u8]),
    /// 21 in Azureus mode: `BT_EXTENDED`, an int32 capability id then payload.
    AzureusExtended {
        /// Capability id from the peer's `BT_EXTENDED_LST`.
        id: u32,
        /// The capability's payload.
        payload: &'a [u8],
    },
    /// Any other id: decoded only so that it can be skipped.
    Unknown {
        /// Message id.
        id: u8,
        /// Everything after the id.
        payload: &'a [u8],
    },
}

/// The 13-byte header of a `piece` message carrying `len` bytes of block
/// data at `begin` in piece `index`. Send it followed by the block itself
/// (zero-copy: the block never passes through an encode buffer). `len` is a
/// block length (at most a few hundred KiB in any real client); a value
/// within 9 of `u32::MAX` cannot be framed and saturates.
pub fn piece_header(index: u32, begin: u32, len: u32) -> [u8; PIECE_HEADER_LEN] {
    let [l0, l1, l2, l3] = len.saturating_add(9).to_be_bytes();
    let [i0, i1, i2, i3] = index.to_be_bytes();
    let [b0, b1, b2, b3] = begin.to_be_bytes();
    [l0, l1, l2, l3, id::PIECE, i0, i1, i2, i3, b0, b1, b2, b3]
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_block(out: &mut Vec<u8>, b: &BlockRequest) {
    put_u32(out, b.index);
    put_u32(out, b.begin);
    put_u32(out, b.length);
}

fn put_hash(out: &mut Vec<u8>, h: &HashRequest) {
    out.extend_from_slice(&h.pieces_root);
    put_u32(out, h.base_layer);
    put_u32(out, h.index);
    put_u32(out, h.length);
    put_u32(out, h.proof_layers);
}

impl<'a> Message<'a> {
    /// The message id, `None` for a keep-alive.
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have { .. } => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request(_) => id::REQUEST,
            Message::Piece { .. } => id::PIECE,
            Message::Cancel(_) => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::Suggest { .. } => id::SUGGEST,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::RejectRequest(_) => id::REJECT_REQUEST,
            Message::AllowedFast { .. } => id::ALLOWED_FAST,
            Message::Extended { .. } => id::EXTENDED,
            Message::HashRequest(_) => id::HASH_REQUEST,
            Message::Hashes { .. } => id::HASHES,
            Message::HashReject(_) => id::HASH_REJECT,
            Message::AzureusExtendedList(_) => id::AZUREUS_EXTENDED_LIST,
            Message::AzureusExtended { .. } => id::AZUREUS_EXTENDED,
            Message::Unknown { id, .. } => *id,
        })
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Message::KeepAlive => "keep-alive",
            Message::Choke => "choke",
            Message::Unchoke => "unchoke",
            Message::Interested => "interested",
            Message::NotInterested => "not interested",
            Message::Have { .. } => "have",
            Message::Bitfield(_) => "bitfield",
            Message::Request(_) => "request",
            Message::Piece { .. } => "piece",
            Message::Cancel(_) => "cancel",
            Message::Port(_) => "port",
            Message::Suggest { .. } => "suggest",
            Message::HaveAll => "have all",
            Message::HaveNone => "have none",
            Message::RejectRequest(_) => "reject request",
            Message::AllowedFast { .. } => "allowed fast",
            Message::Extended { .. } => "extended",
            Message::HashRequest(_) => "hash request",
            Message::Hashes { .. } => "hashes",
            Message::HashReject(_) => "hash reject",
            Message::AzureusExtendedList(_) => "BT_EXTENDED_LST",
            Message::AzureusExtended { .. } => "BT_EXTENDED",
            Message::Unknown { .. } => "unknown",
        }
    }

    /// Bytes between the length prefix and the variable body: the id and
    /// the fixed fields.
    fn fixed_len(&self) -> usize {
        match self {
            Message::KeepAlive => 0,
            Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone
            | Message::Bitfield(_)
            | Message::AzureusExtendedList(_)
            | Message::Unknown { .. } => 1,
            Message::Extended { .. } => 2,
            Message::Port(_) => 3,
            Message::Have { .. }
            | Message::Suggest { .. }
            | Message::AllowedFast { .. }
            | Message::AzureusExtended { .. } => 5,
            Message::Piece { .. } => 9,
            Message::Request(_) | Message::Cancel(_) | Message::RejectRequest(_) => 13,
            Message::HashRequest(_) | Message::Hashes { .. } | Message::HashReject(_) => {
                1 + HASH_REQUEST_LEN
            }
        }
    }

    /// The borrowed variable part (empty for fixed-size messages).
    fn body(&self) -> &'a [u8] {
        match *self {
            Message::Bitfield(body)
            | Message::AzureusExtendedList(body)
            | Message::Piece { data: body, .. }
            | Message::Extended { payload: body, .. }
            | Message::AzureusExtended { payload: body, .. }
            | Message::Hashes { hashes: body, .. }
            | Message::Unknown { payload: body, .. } => body,
            _ => &[],
        }
    }

    /// Writes the id and the fixed fields.
    fn write_fixed(&self, out: &mut Vec<u8>) {
        if let Some(id) = self.id() {
            out.push(id);
        }
        match *self {
            Message::Have { index }
            | Message::Suggest { index }
            | Message::AllowedFast { index } => put_u32(out, index),
            Message::Request(b) | Message::Cancel(b) | Message::RejectRequest(b) => {
                put_block(out, &b)
            }
            Message::Port(port) => out.extend_from_slice(&port.to_be_bytes()),
            Message::Piece { index, begin, .. } => {
                put_u32(out, index);
                put_u32(out, begin);
            }
            Message::Extended { id, .. } => out.push(id),
            Message::AzureusExtended { id, .. } => put_u32(out, id),
            Message::HashRequest(r)
            | Message::HashReject(r)
            | Message::Hashes { request: r, .. } => put_hash(out, &r),
            _ => {}
        }
    }

    /// Bytes this message takes on the wire, length prefix included.
    pub fn encoded_len(&self) -> usize {
        (4 + self.fixed_len()).saturating_add(self.body().len())
    }

    /// Appends the wire form of this message to `out`. Fails only for
    /// messages no valid peer could receive: a body over 4 GiB, or a `hashes`
    /// list that is not whole 32-byte hashes.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let body = self.body();
        if let Message::Hashes { hashes, .. } = self {
            if hashes.len() % HASH_LEN != 0 {
                return Err(EncodeError::HashesNotMultipleOf32 { len: hashes.len() });
            }
        }
        let fixed = self.fixed_len();
        let frame = fixed
            .checked_add(body.len())
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(EncodeError::TooLong {
                id: self.id().unwrap_or(0),
                len: body.len(),
            })?;
        out.reserve(4 + fixed + body.len());
        put_u32(out, frame);
        self.write_fixed(out);
        out.extend_from_slice(body);
        Ok(())
    }

    /// The wire form in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode(&mut out)?;
        Ok(out)
    }
}

/// Splits a `hashes` body into 32-byte hashes (a trailing partial hash, which
/// the decoder never lets through, is dropped).
pub fn split_hashes(hashes: &[u8]) -> impl Iterator<Item = &[u8; HASH_LEN]> + '_ {
    hashes
        .chunks_exact(HASH_LEN)
        .filter_map(|c| <&[u8; HASH_LEN]>::try_from(c).ok())
}

/// Debug output that shows lengths, not 16 KiB of block data.
struct Len<'a>(&'a [u8]);

impl fmt::Debug for Len<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 16 {
            write!(f, "[{}]", hex::encode(self.0))
        } else {
            write!(f, "<{} bytes>", self.0.len())
        }
    }
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::KeepAlive => f.write_str("KeepAlive"),
            Message::Choke => f.write_str("Choke"),
            Message::Unchoke => f.write_str("Unchoke"),
            Message::Interested => f.write_str("Interested"),
            Message::NotInterested => f.write_str("NotInterested"),
            Message::HaveAll => f.write_str("HaveAll"),
            Message::HaveNone => f.write_str("HaveNone"),
            Message::Have { index } => write!(f, "Have({index})"),
            Message::Suggest { index } => write!(f, "Suggest({index})"),
            Message::AllowedFast { index } => write!(f, "AllowedFast({index})"),
            Message::Port(p) => write!(f, "Port({p})"),
            Message::Bitfield(b) => f.debug_tuple("Bitfield").field(&Len(b)).finish(),
            Message::Request(b) => f.debug_tuple("Request").field(b).finish(),
            Message::Cancel(b) => f.debug_tuple("Cancel").field(b).finish(),
            Message::RejectRequest(b) => f.debug_tuple("RejectRequest").field(b).finish(),
            Message::Piece { index, begin, data } => f
                .debug_struct("Piece")
                .field("index", index)
                .field("begin", begin)
                .field("data", &Len(data))
                .finish(),
            Message::Extended { id, payload } => f
                .debug_struct("Extended")
                .field("id", id)
                .field("payload", &Len(payload))
                .finish(),
            Message::HashRequest(r) => f.debug_tuple("HashRequest").field(r).finish(),
            Message::HashReject(r) => f.debug_tuple("HashReject").field(r).finish(),
            Message::Hashes { request, hashes } => f
                .debug_struct("Hashes")
                .field("request", request)
                .field("hashes", &Len(hashes))
                .finish(),
            Message::AzureusExtendedList(b) => {
                f.debug_tuple("AzureusExtendedList").field(&Len(b)).finish()
            }
            Message::AzureusExtended { id, payload } => f
                .debug_struct("AzureusExtended")
                .field("id", id)
                .field("payload", &Len(payload))
                .finish(),
            Message::Unknown { id, payload } => f
                .debug_struct("Unknown")
                .field("id", id)
                .field("payload", &Len(payload))
                .finish(),
        }
    }
}
