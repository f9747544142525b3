//! libtorrent's deprecated `LT_metadata` extension (`004_*.txt`), superseded
//! by BEP 9 `ut_metadata` but still spoken by old clients. Binary, not
//! bencoded: a type byte, then fixed fields.
//!
//! Requests address the metadata in 256ths of its total size, because the
//! requester does not know the size yet; `size` travels as "size - 1" so that
//! one byte can say 1..=256. This codec exposes the real size (1..=256) and
//! does the off-by-one on the wire.

use super::error::ExtError;

const MSG: &str = "LT_metadata";

/// Largest metadata block accepted in one message: 1 MiB (the default bound
/// on extension messages).
pub const MAX_BLOCK: usize = 1024 * 1024;

/// One `LT_metadata` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LtMetadata<'a> {
    /// Type 0: send me `size`/256 of the metadata starting at `start`/256.
    Request {
        /// Start, in 256ths of the total size.
        start: u8,
        /// Size, in 256ths of the total size: 1..=256 (sent as size - 1).
        size: u16,
    },
    /// Type 1: a block of the metadata.
    Metadata {
        /// Size of the whole metadata in bytes (an int32 on the wire).
        total_size: u32,
        /// Byte offset of this block (an int32 on the wire).
        offset: u32,
        /// The block.
        data: &'a [u8],
    },
    /// Type 2: I do not have the metadata.
    DontHave,
}

fn int32(bytes: [u8; 4], field: &'static str) -> Result<u32, ExtError> {
    let v = i32::from_be_bytes(bytes);
    u32::try_from(v).map_err(|_| ExtError::OutOfRange {
        msg: MSG,
        field,
        value: i64::from(v),
    })
}

fn to_int32(v: u32, field: &'static str) -> Result<[u8; 4], ExtError> {
    i32::try_from(v)
        .map(i32::to_be_bytes)
        .map_err(|_| ExtError::Encode {
            msg: MSG,
            reason: format!("{field} = {v} does not fit an int32"),
        })
}

impl<'a> LtMetadata<'a> {
    /// Decodes the payload of an `LT_metadata` extended message.
    pub fn decode(payload: &'a [u8]) -> Result<LtMetadata<'a>, ExtError> {
        let wrong = |expected| ExtError::WrongSize {
            msg: MSG,
            len: payload.len(),
            expected,
        };
        match payload {
            [0, start, size_minus_one] => Ok(LtMetadata::Request {
                start: *start,
                size: u16::from(*size_minus_one) + 1,
            }),
            [0, ..] => Err(wrong(3)),
            [1, rest @ ..] => {
                let (total, rest) = rest.split_first_chunk::<4>().ok_or(wrong(9))?;
                let (offset, data) = rest.split_first_chunk::<4>().ok_or(wrong(9))?;
                if data.len() > MAX_BLOCK {
                    return Err(ExtError::TooLong {
                        msg: MSG,
                        len: data.len(),
                        max: MAX_BLOCK,
                    });
                }
                Ok(LtMetadata::Metadata {
                    total_size: int32(*total, "total_size")?,
                    offset: int32(*offset, "offset")?,
                    data,
                })
            }
            [2] => Ok(LtMetadata::DontHave),
            [2, ..] => Err(wrong(1)),
            [other, ..] => Err(ExtError::UnknownType {
                msg: MSG,
                msg_type: i64::from(*other),
            }),
            [] => Err(wrong(1)),
        }
    }

    /// Appends the payload. Fails for a request size outside 1..=256 or a
    /// size/offset over `i32::MAX`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), ExtError> {
        match *self {
            LtMetadata::Request { start, size } => {
                let wire = size
                    .checked_sub(1)
                    .and_then(|s| u8::try_from(s).ok())
                    .ok_or_else(|| ExtError::Encode {
                        msg: MSG,
                        reason: format!("request size {size}/256 is not in 1..=256"),
                    })?;
                out.extend_from_slice(&[0, start, wire]);
            }
            LtMetadata::Metadata {
                total_size,
                offset,
                data,
            } => {
                let total = to_int32(total_size, "total_size")?;
                let offset = to_int32(offset, "offset")?;
                out.push(1);
                out.extend_from_slice(&total);
                out.extend_from_slice(&offset);
                out.extend_from_slice(data);
            }
            LtMetadata::DontHave => out.push(2),
        }
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
    fn layouts() {
        let whole = LtMetadata::Request {
            start: 0,
            size: 256,
        };
        assert_eq!(whole.to_vec().unwrap(), [0, 0, 255]);
        assert_eq!(LtMetadata::decode(&[0, 0, 255]), Ok(whole));
        assert_eq!(
            LtMetadata::decode(&[0, 16, 0]),
            Ok(LtMetadata::Request { start: 16, size: 1 })
        );
        let m = LtMetadata::Metadata {
            total_size: 300,
            offset: 256,
            data: b"abc",
        };
        let raw = [1, 0, 0, 1, 44, 0, 0, 1, 0, b'a', b'b', b'c'];
        assert_eq!(m.to_vec().unwrap(), raw);
        assert_eq!(LtMetadata::decode(&raw), Ok(m));
        assert_eq!(LtMetadata::decode(&[2]), Ok(LtMetadata::DontHave));
        assert_eq!(LtMetadata::DontHave.to_vec().unwrap(), [2]);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            LtMetadata::decode(&[0, 1]),
            Err(ExtError::WrongSize { expected: 3, .. })
        ));
        assert!(matches!(
            LtMetadata::decode(&[1, 0, 0, 0]),
            Err(ExtError::WrongSize { expected: 9, .. })
        ));
        assert!(matches!(
            LtMetadata::decode(&[1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]),
            Err(ExtError::OutOfRange {
                field: "total_size",
                value: -1,
                ..
            })
        ));
        assert!(matches!(
            LtMetadata::decode(&[7]),
            Err(ExtError::UnknownType { msg_type: 7, .. })
        ));
        assert!(LtMetadata::decode(&[]).is_err());
        assert!(LtMetadata::decode(&[2, 0]).is_err());
        assert!(LtMetadata::Request { start: 0, size: 0 }.to_vec().is_err());
        assert!(LtMetadata::Request {
            start: 0,
            size: 257
        }
        .to_vec()
        .is_err());
        assert!(LtMetadata::Metadata {
            total_size: u32::MAX,
            offset: 0,
            data: &[]
        }
        .to_vec()
        .is_err());
    }
}
