//! libtorrent's `lt_donthave` (`004_*.txt`): "I no longer have piece N", the
//! inverse of `have`, carried in an extended message as one big-endian u32.
//! A seeder sends it when a piece fails a re-check (a file changed on disk)
//! so that peers stop requesting it.

use super::error::ExtError;

const MSG: &str = "lt_donthave";

/// One `lt_donthave` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LtDontHave {
    /// The piece the sender no longer has.
    pub piece: u32,
}

impl LtDontHave {
    /// Decodes the 4-byte payload.
    pub fn decode(payload: &[u8]) -> Result<LtDontHave, ExtError> {
        let bytes = <[u8; 4]>::try_from(payload).map_err(|_| ExtError::WrongSize {
            msg: MSG,
            len: payload.len(),
            expected: 4,
        })?;
        Ok(LtDontHave {
            piece: u32::from_be_bytes(bytes),
        })
    }

    /// The 4-byte payload.
    pub fn to_bytes(&self) -> [u8; 4] {
        self.piece.to_be_bytes()
    }

    /// Appends the 4-byte payload.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Message;

    #[test]
    fn whole_message_is_six_bytes_after_the_prefix() {
        // "The length of this message (including the extension message
        // prefix) is 6 bytes": id 20, extended id, u32 piece.
        let payload = LtDontHave { piece: 0x0102_0304 }.to_bytes();
        let msg = Message::Extended {
            id: 7,
            payload: &payload,
        }
        .to_vec()
        .unwrap();
        assert_eq!(msg, [0, 0, 0, 6, 20, 7, 1, 2, 3, 4]);
        assert_eq!(
            LtDontHave::decode(&payload),
            Ok(LtDontHave { piece: 0x0102_0304 })
        );
        assert!(matches!(
            LtDontHave::decode(&[1, 2, 3]),
            Err(ExtError::WrongSize {
                len: 3,
                expected: 4,
                ..
            })
        ));
    }
}
