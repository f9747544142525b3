//! BEP 9 `ut_metadata`: fetching the info dictionary from peers, 16 KiB at a
//! time, so that a magnet link is enough to join a swarm.
//!
//! Each message is a bencoded dictionary (`msg_type`, `piece`, and for data
//! `total_size`); a data message is followed by the raw metadata bytes, right
//! after the dictionary's closing `e` and with no length of their own. So the
//! decoder has to find where the dictionary ends, which is why it reads the
//! dictionary with [`bencode::read_dict_prefix`] and hands back the rest as
//! borrowed bytes.

use super::error::ExtError;
use crate::bencode::{self, BencodeError, OwnedValue};

const MSG: &str = "ut_metadata";

/// Metadata is exchanged in pieces of 16 KiB (the last may be shorter).
pub const METADATA_PIECE_SIZE: usize = 16 * 1024;

/// `msg_type` values.
pub mod msg_type {
    /// Ask for a piece.
    pub const REQUEST: i64 = 0;
    /// A piece, followed by its bytes.
    pub const DATA: i64 = 1;
    /// Refusal of a request.
    pub const REJECT: i64 = 2;
}

/// One `ut_metadata` message. The piece index is unchecked: compare it with
/// `metadata_size` before use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UtMetadata<'a> {
    /// `msg_type` 0: send me piece `piece`.
    Request {
        /// Metadata piece index.
        piece: u32,
    },
    /// `msg_type` 1: piece `piece` of a `total_size`-byte info dictionary.
    Data {
        /// Metadata piece index.
        piece: u32,
        /// Size of the whole info dictionary.
        total_size: u32,
        /// The piece's bytes (at most 16 KiB).
        data: &'a [u8],
    },
    /// `msg_type` 2: I will not send piece `piece`.
    Reject {
        /// Metadata piece index.
        piece: u32,
    },
}

fn required<T: TryFrom<i64>>(d: &bencode::Dict<'_>, field: &'static str) -> Result<T, ExtError> {
    let value = d.int(field.as_bytes()).ok_or(ExtError::MissingField {
        msg: MSG,
        field,
        expected: "an integer",
    })?;
    T::try_from(value).map_err(|_| ExtError::OutOfRange {
        msg: MSG,
        field,
        value,
    })
}

impl<'a> UtMetadata<'a> {
    /// Decodes the payload of a `ut_metadata` extended message. Unknown
    /// `msg_type`s are [`ExtError::UnknownType`], which BEP 9 says to ignore.
    /// Bytes after the dictionary are only allowed (and required to be at
    /// most 16 KiB) for a data message.
    pub fn decode(payload: &'a [u8]) -> Result<UtMetadata<'a>, ExtError> {
        let (d, used) =
            bencode::read_dict_prefix(payload, super::LIMITS).map_err(ExtError::bencode(MSG))?;
        let rest = payload.get(used..).unwrap_or_default();
        let kind: i64 = required(&d, "msg_type")?;
        let piece = required(&d, "piece")?;
        let msg = match kind {
            msg_type::REQUEST => UtMetadata::Request { piece },
            msg_type::REJECT => UtMetadata::Reject { piece },
            msg_type::DATA => {
                if rest.len() > METADATA_PIECE_SIZE {
                    return Err(ExtError::TooLong {
                        msg: MSG,
                        len: rest.len(),
                        max: METADATA_PIECE_SIZE,
                    });
                }
                return Ok(UtMetadata::Data {
                    piece,
                    total_size: required(&d, "total_size")?,
                    data: rest,
                });
            }
            other => {
                return Err(ExtError::UnknownType {
                    msg: MSG,
                    msg_type: other,
                })
            }
        };
        if !rest.is_empty() {
            return Err(ExtError::Bencode {
                msg: MSG,
                source: BencodeError::Trailing { extra: rest.len() },
            });
        }
        Ok(msg)
    }

    /// Appends the payload: the dictionary, then the data for a data
    /// message. Never fails; the `Result` is kept for existing callers.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), ExtError> {
        let (kind, piece, total, data) = match *self {
            UtMetadata::Request { piece } => (msg_type::REQUEST, piece, None, &[][..]),
            UtMetadata::Reject { piece } => (msg_type::REJECT, piece, None, &[][..]),
            UtMetadata::Data {
                piece,
                total_size,
                data,
            } => (msg_type::DATA, piece, Some(total_size), data),
        };
        let mut d = OwnedValue::dict()
            .with("msg_type", OwnedValue::Int(kind))
            .with("piece", OwnedValue::int(piece));
        if let Some(total) = total {
            d.insert("total_size", OwnedValue::int(total));
        }
        d.encode_into(out);
        out.extend_from_slice(data);
        Ok(())
    }

    /// The payload in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, ExtError> {
        super::collect(|out| self.encode(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bep9_examples() {
        let req = b"d8:msg_typei0e5:piecei0ee";
        assert_eq!(
            UtMetadata::decode(req),
            Ok(UtMetadata::Request { piece: 0 })
        );
        assert_eq!(UtMetadata::Request { piece: 0 }.to_vec().unwrap(), req);
        let rej = b"d8:msg_typei2e5:piecei0ee";
        assert_eq!(UtMetadata::decode(rej), Ok(UtMetadata::Reject { piece: 0 }));
        let data = b"d8:msg_typei1e5:piecei0e10:total_sizei34256eexxxxxxxx";
        let m = UtMetadata::decode(data).unwrap();
        assert_eq!(
            m,
            UtMetadata::Data {
                piece: 0,
                total_size: 34256,
                data: b"xxxxxxxx"
            }
        );
        assert_eq!(m.to_vec().unwrap(), data);
    }

    #[test]
    fn data_that_looks_like_bencode_is_not_parsed() {
        let payload = b"d8:msg_typei1e5:piecei1e10:total_sizei20000eed1:ai1ee";
        let Ok(UtMetadata::Data { data, .. }) = UtMetadata::decode(payload) else {
            panic!()
        };
        assert_eq!(data, b"d1:ai1ee");
    }

    #[test]
    fn errors() {
        assert!(matches!(
            UtMetadata::decode(b"d5:piecei0ee"),
            Err(ExtError::MissingField {
                field: "msg_type",
                ..
            })
        ));
        assert!(matches!(
            UtMetadata::decode(b"d8:msg_typei9e5:piecei0ee"),
            Err(ExtError::UnknownType { msg_type: 9, .. })
        ));
        assert!(matches!(
            UtMetadata::decode(b"d8:msg_typei0e5:piecei-1ee"),
            Err(ExtError::OutOfRange { field: "piece", .. })
        ));
        assert!(matches!(
            UtMetadata::decode(b"d8:msg_typei1e5:piecei0ee"),
            Err(ExtError::MissingField {
                field: "total_size",
                ..
            })
        ));
        assert!(matches!(
            UtMetadata::decode(b"d8:msg_typei0e5:piecei0eeXX"),
            Err(ExtError::Bencode { .. })
        ));
        let mut big = b"d8:msg_typei1e5:piecei0e10:total_sizei99999ee".to_vec();
        big.resize(big.len() + METADATA_PIECE_SIZE + 1, 0);
        assert!(matches!(
            UtMetadata::decode(&big),
            Err(ExtError::TooLong { .. })
        ));
    }
}
