//! The BEP 29 packet: a 20-byte header, a chain of extensions, the payload.
//!
//! ```text
//!  0       4       8               16              24              32
//!  +-------+-------+---------------+---------------+---------------+
//!  | type  | ver=1 | extension     | connection_id                 |
//!  +-------+-------+---------------+---------------+---------------+
//!  | timestamp_microseconds                                        |
//!  | timestamp_difference_microseconds                             |
//!  | wnd_size                                                      |
//!  | seq_nr                        | ack_nr                        |
//!  +-------+-------+---------------+---------------+---------------+
//!  then per extension: next extension type (u8), length (u8), bytes
//! ```
//!
//! Parsing borrows from the datagram and never allocates. Everything is
//! checked against the datagram's length before it is read; a malformed
//! packet is a [`PacketError`], never a panic (`fuzz_utp_packet` in the
//! crate root drives this parser with arbitrary bytes).
//!
//! Extensions we understand: 1, the selective ACK bitmask (any length:
//! BEP 29 says a multiple of four bytes, libtorrent sends
//! `ceil(span / 8)` bytes), and 3, libtorrent's close reason (two reserved
//! bytes and a `u16`). Others (2, the old extension bits) are skipped.

use thiserror::Error;

/// Size of the fixed header.
pub const HEADER_LEN: usize = HEADER_SIZE as usize;

/// The same, as a packet size.
pub const HEADER_SIZE: u16 = 20;

/// The protocol version BEP 29 defines (the only one in use).
pub const VERSION: u8 = 1;

/// Extension type of the selective ACK bitmask.
pub const EXT_SACK: u8 = 1;

/// Extension type of libtorrent's close reason.
pub const EXT_CLOSE_REASON: u8 = 3;

/// Most extensions one packet may carry before we call it malformed
/// (real peers send at most two).
pub const MAX_EXTENSIONS: usize = 8;

/// The five packet types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Payload.
    Data = 0,
    /// The sender's last packet (it consumes a sequence number).
    Fin = 1,
    /// An acknowledgement without payload.
    State = 2,
    /// Terminate the connection at once.
    Reset = 3,
    /// Open a connection.
    Syn = 4,
}

impl PacketType {
    fn from_nibble(v: u8) -> Option<PacketType> {
        Some(match v {
            0 => PacketType::Data,
            1 => PacketType::Fin,
            2 => PacketType::State,
            3 => PacketType::Reset,
            4 => PacketType::Syn,
            _ => return None,
        })
    }
}

/// The fixed 20-byte header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What kind of packet this is.
    pub kind: PacketType,
    /// The first extension's type (0: none).
    pub extension: u8,
    /// The connection id (for a SYN, the id its sender receives on).
    pub conn_id: u16,
    /// The sender's clock when it sent the packet, microseconds, wrapping.
    pub timestamp: u32,
    /// The sender's last one-way delay sample of our packets
    /// (its receive time minus our timestamp), microseconds, wrapping.
    pub timestamp_diff: u32,
    /// Bytes the sender can still receive.
    pub wnd_size: u32,
    /// This packet's sequence number (STATE: the next one the sender uses).
    pub seq_nr: u16,
    /// The last sequence number the sender received in order.
    pub ack_nr: u16,
}

impl Header {
    /// Writes the header (with `self.extension` as the first extension
    /// type) into `out`.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        let b = |v: u32| v.to_be_bytes();
        let [c0, c1] = self.conn_id.to_be_bytes();
        let [t0, t1, t2, t3] = b(self.timestamp);
        let [d0, d1, d2, d3] = b(self.timestamp_diff);
        let [w0, w1, w2, w3] = b(self.wnd_size);
        let [s0, s1] = self.seq_nr.to_be_bytes();
        let [a0, a1] = self.ack_nr.to_be_bytes();
        *out = [
            ((self.kind as u8) << 4) | VERSION,
            self.extension,
            c0,
            c1,
            t0,
            t1,
            t2,
            t3,
            d0,
            d1,
            d2,
            d3,
            w0,
            w1,
            w2,
            w3,
            s0,
            s1,
            a0,
            a1,
        ];
    }

    /// Reads the fixed header only (no extension walk): enough for the
    /// demultiplexer to route a datagram.
    pub fn decode(data: &[u8]) -> Result<Header, PacketError> {
        let Some(h) = data.first_chunk::<HEADER_LEN>() else {
            return Err(PacketError::TooShort { len: data.len() });
        };
        let [tv, ext, c0, c1, t0, t1, t2, t3, d0, d1, d2, d3, w0, w1, w2, w3, s0, s1, a0, a1] = *h;
        let version = tv & 0x0f;
        if version != VERSION {
            return Err(PacketError::Version { version });
        }
        let kind = PacketType::from_nibble(tv >> 4).ok_or(PacketError::Type { kind: tv >> 4 })?;
        Ok(Header {
            kind,
            extension: ext,
            conn_id: u16::from_be_bytes([c0, c1]),
            timestamp: u32::from_be_bytes([t0, t1, t2, t3]),
            timestamp_diff: u32::from_be_bytes([d0, d1, d2, d3]),
            wnd_size: u32::from_be_bytes([w0, w1, w2, w3]),
            seq_nr: u16::from_be_bytes([s0, s1]),
            ack_nr: u16::from_be_bytes([a0, a1]),
        })
    }
}

/// Why a datagram is not a uTP packet we accept.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PacketError {
    /// Shorter than the 20-byte header.
    #[error("{len} bytes is shorter than the 20-byte uTP header")]
    TooShort {
        /// The datagram's length.
        len: usize,
    },
    /// Not version 1.
    #[error("uTP version {version} (only version 1 exists)")]
    Version {
        /// The version nibble.
        version: u8,
    },
    /// A type nibble above 4.
    #[error("unknown uTP packet type {kind}")]
    Type {
        /// The type nibble.
        kind: u8,
    },
    /// An extension runs past the end of the datagram.
    #[error("uTP extension {ext} runs past the end of the datagram")]
    Extension {
        /// The extension's type.
        ext: u8,
    },
    /// More extensions than [`MAX_EXTENSIONS`].
    #[error("more than {MAX_EXTENSIONS} uTP extensions")]
    TooManyExtensions,
}

/// A parsed packet, borrowing from the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The fixed header.
    pub header: Header,
    /// The selective ACK bitmask: bit `i` (byte `i / 8`, bit `i % 8` from
    /// the least significant) acknowledges `ack_nr + 2 + i`.
    pub sack: Option<&'a [u8]>,
    /// libtorrent's close reason, if sent.
    pub close_reason: Option<u16>,
    /// The payload (empty for everything but DATA).
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses a whole datagram.
    pub fn parse(data: &'a [u8]) -> Result<Packet<'a>, PacketError> {
        let header = Header::decode(data)?;
        let mut rest = data.get(HEADER_LEN..).unwrap_or_default();
        let mut ext = header.extension;
        let mut sack = None;
        let mut close_reason = None;
        let mut count = 0;
        while ext != 0 {
            count += 1;
            if count > MAX_EXTENSIONS {
                return Err(PacketError::TooManyExtensions);
            }
            let Some((&[next, len], tail)) = rest.split_first_chunk::<2>() else {
                return Err(PacketError::Extension { ext });
            };
            let Some((body, tail)) = tail.split_at_checked(usize::from(len)) else {
                return Err(PacketError::Extension { ext });
            };
            match ext {
                EXT_SACK => sack = Some(body),
                EXT_CLOSE_REASON => {
                    if let &[_, _, hi, lo] = body {
                        close_reason = Some(u16::from_be_bytes([hi, lo]));
                    }
                }
                _ => {}
            }
            ext = next;
            rest = tail;
        }
        Ok(Packet {
            header,
            sack,
            close_reason,
            payload: rest,
        })
    }
}

/// Appends a packet's header and (optionally) a selective ACK extension to
/// `out`; the caller appends the payload. Returns the bytes written.
pub fn write_header(out: &mut Vec<u8>, header: &Header, sack: Option<&[u8]>) -> usize {
    let mut h = *header;
    let sack = sack.filter(|s| !s.is_empty() && s.len() <= usize::from(u8::MAX));
    h.extension = if sack.is_some() { EXT_SACK } else { 0 };
    let mut raw = [0u8; HEADER_LEN];
    h.encode(&mut raw);
    out.extend_from_slice(&raw);
    let mut n = HEADER_LEN;
    if let Some(s) = sack {
        // The length fits: checked by the filter above.
        out.extend_from_slice(&[0, u8::try_from(s.len()).unwrap_or(u8::MAX)]);
        out.extend_from_slice(s);
        n += 2 + s.len();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: PacketType) -> Header {
        Header {
            kind,
            extension: 0,
            conn_id: 0x1234,
            timestamp: 0xdead_beef,
            timestamp_diff: 7,
            wnd_size: 1 << 20,
            seq_nr: 65535,
            ack_nr: 1,
        }
    }

    #[test]
    fn round_trip_with_sack() {
        let mut out = Vec::new();
        let n = write_header(
            &mut out,
            &header(PacketType::State),
            Some(&[0b101, 0, 0, 0x80]),
        );
        assert_eq!(n, 26);
        out.extend_from_slice(b"xyz");
        let p = Packet::parse(&out).unwrap();
        assert_eq!(p.header.kind, PacketType::State);
        assert_eq!(p.header.conn_id, 0x1234);
        assert_eq!(p.header.seq_nr, 65535);
        assert_eq!(p.sack, Some(&[0b101, 0, 0, 0x80][..]));
        assert_eq!(p.payload, b"xyz");
    }

    /// A SYN python3-libtorrent 2.0.8 sent to a UDP socket on 127.0.0.1
    /// (`connect_peer` with TCP disabled): type 4, version 1, no
    /// extension, window 0, ack_nr 0.
    #[test]
    fn libtorrent_syn() {
        let raw = [
            0x41, 0x00, 0xde, 0x52, 0xce, 0xdc, 0x16, 0x76, 0, 0, 0, 0, 0, 0, 0, 0, 0xc2, 0x7e, 0,
            0,
        ];
        let p = Packet::parse(&raw).unwrap();
        assert_eq!(p.header.kind, PacketType::Syn);
        assert_eq!(p.header.conn_id, 0xde52);
        assert_eq!(p.header.timestamp, 0xcedc_1676);
        assert_eq!(p.header.seq_nr, 0xc27e);
        assert_eq!(p.header.wnd_size, 0);
        assert!(p.payload.is_empty());
    }

    #[test]
    fn close_reason_and_unknown_extension() {
        let mut raw = Vec::new();
        let mut h = [0u8; HEADER_LEN];
        let mut hd = header(PacketType::Fin);
        hd.extension = 2;
        hd.encode(&mut h);
        raw.extend_from_slice(&h);
        raw.extend_from_slice(&[3, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
        raw.extend_from_slice(&[0, 4, 0, 0, 0, 9]);
        let p = Packet::parse(&raw).unwrap();
        assert_eq!(p.close_reason, Some(9));
        assert!(p.sack.is_none());
        assert!(p.payload.is_empty());
    }

    #[test]
    fn malformed() {
        assert_eq!(
            Packet::parse(&[0x41; 19]),
            Err(PacketError::TooShort { len: 19 })
        );
        let mut raw = [0u8; HEADER_LEN];
        header(PacketType::Data).encode(&mut raw);
        raw[0] = 0x02;
        assert_eq!(
            Packet::parse(&raw),
            Err(PacketError::Version { version: 2 })
        );
        raw[0] = 0x51;
        assert_eq!(Packet::parse(&raw), Err(PacketError::Type { kind: 5 }));
        raw[0] = 0x01;
        raw[1] = 1;
        assert_eq!(Packet::parse(&raw), Err(PacketError::Extension { ext: 1 }));
        let mut long = raw.to_vec();
        long.extend_from_slice(&[0, 9, 1]);
        assert_eq!(Packet::parse(&long), Err(PacketError::Extension { ext: 1 }));
        let mut chain = raw.to_vec();
        for _ in 0..20 {
            chain.extend_from_slice(&[1, 0]);
        }
        assert_eq!(Packet::parse(&chain), Err(PacketError::TooManyExtensions));
    }
}
