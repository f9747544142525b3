//! The old Azureus "EXTENDED" protocol (`001_*.txt`), advertised with
//! `reserved[0] & 0x80`. The wire layer frames its two messages
//! (`Message::AzureusExtendedList`, id 20, and `Message::AzureusExtended`,
//! id 21 with an int32 capability id, in Azureus mode); this module reads and
//! writes the `BT_EXTENDED_LST` body: a bencoded dictionary of capability
//! name to message id.
//!
//! The example in the spec is itself unsorted
//! (`PEER_EXCHANGE`, `PEER_MESSAGE`, `NEW_INCREDIBLE_FEATURE`), which is why
//! the crate's bencode reader accepts any key order (see [`crate::bencode`]).

use std::collections::BTreeMap;

use super::error::ExtError;
use crate::bencode::{self, OwnedValue};

const MSG: &str = "BT_EXTENDED_LST";

/// Most capabilities accepted in one list.
pub const MAX_CAPABILITIES: usize = 256;

/// A `BT_EXTENDED_LST` body: capability name to the int32 id that later
/// `BT_EXTENDED` messages for it carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AzureusExtendedList {
    /// Capability name to message id.
    pub capabilities: BTreeMap<String, i32>,
}

impl AzureusExtendedList {
    /// Decodes the body of a `BT_EXTENDED_LST` message. Entries with a
    /// non-UTF-8 name or a non-int32 id are skipped.
    pub fn decode(payload: &[u8]) -> Result<AzureusExtendedList, ExtError> {
        let d = bencode::read_dict(payload, super::LIMITS).map_err(ExtError::bencode(MSG))?;
        let count = d.len();
        if count > MAX_CAPABILITIES {
            return Err(ExtError::TooMany {
                msg: MSG,
                field: "capabilities",
                count,
                max: MAX_CAPABILITIES,
            });
        }
        let mut capabilities = BTreeMap::new();
        for (name, value) in d.iter() {
            let id = value.as_int().and_then(|i| i32::try_from(i).ok());
            if let (Ok(name), Some(id)) = (std::str::from_utf8(name), id) {
                capabilities.entry(name.to_owned()).or_insert(id);
            }
        }
        Ok(AzureusExtendedList { capabilities })
    }

    /// The id assigned to capability `name`.
    pub fn id_of(&self, name: &str) -> Option<i32> {
        self.capabilities.get(name).copied()
    }

    /// Appends the bencoded dictionary (keys sorted). Never fails; the
    /// `Result` is kept for existing callers.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), ExtError> {
        self.capabilities
            .iter()
            .fold(OwnedValue::dict(), |d, (name, id)| {
                d.with(name, OwnedValue::int(*id))
            })
            .encode_into(out);
        Ok(())
    }

    /// The bencoded dictionary in a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, ExtError> {
        super::collect(|out| self.encode(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode, Decoded, ExtensionProtocol, Limits, Message};

    #[test]
    fn spec_example_through_the_wire_decoder() {
        let dict = b"d13:PEER_EXCHANGEi66e12:PEER_MESSAGEi67e22:NEW_INCREDIBLE_FEATUREi68ee";
        let frame = Message::AzureusExtendedList(dict).to_vec().unwrap();
        let limits = Limits::default().with_extension(ExtensionProtocol::Azureus);
        let Ok(Decoded::Message {
            msg: Message::AzureusExtendedList(body),
            ..
        }) = decode(&frame, &limits)
        else {
            panic!("not decoded as BT_EXTENDED_LST");
        };
        let list = AzureusExtendedList::decode(body).unwrap();
        assert_eq!(list.id_of("PEER_EXCHANGE"), Some(66));
        assert_eq!(list.id_of("PEER_MESSAGE"), Some(67));
        assert_eq!(list.id_of("NEW_INCREDIBLE_FEATURE"), Some(68));
        // Re-encoded sorted.
        assert_eq!(
            list.to_vec().unwrap(),
            b"d22:NEW_INCREDIBLE_FEATUREi68e13:PEER_EXCHANGEi66e12:PEER_MESSAGEi67ee"
        );
    }

    #[test]
    fn bt_extended_example() {
        // int32(length) byte(21) int32(66) d7:PEER_ID20:...e
        let payload =
            b"d7:PEER_ID20:20_byte_peer_id_here7:PEER_IP14:141.168.99.2149:PEER_PORTi6861ee";
        let frame = Message::AzureusExtended { id: 66, payload }
            .to_vec()
            .unwrap();
        assert_eq!(&frame[4..9], &[21, 0, 0, 0, 66]);
        let limits = Limits::default().with_extension(ExtensionProtocol::Azureus);
        assert_eq!(
            decode(&frame, &limits),
            Ok(Decoded::Message {
                msg: Message::AzureusExtended { id: 66, payload },
                consumed: frame.len()
            })
        );
        let d = bencode::read_dict(payload, super::super::LIMITS).unwrap();
        assert_eq!(d.int(b"PEER_PORT"), Some(6861));
    }
}
