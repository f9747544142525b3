//! The remote peer's side of the session target: what the session read from
//! it (parsed again from exactly the bytes the session consumed), and a
//! checker for everything the session writes, as a strict peer would read
//! it.

use std::collections::{BTreeSet, HashMap};

use seedcore_protocol::ext::{ExtendedHandshake, LtDontHave, LtMetadata, UtMetadata, UtPex};
use seedcore_protocol::session::{SessionConfig, TorrentContext};
use seedcore_protocol::wire::{
    decode, piece_header, BlockRequest, Decoded, Handshake, Limits, Message, HANDSHAKE_LEN,
};

/// What the session consumed from the peer, parsed.
#[derive(Default)]
pub struct Consumed {
    /// Handshake bytes consumed so far (the first 68).
    handshake: usize,
    /// Whole messages consumed after the handshake, not yet parsed.
    buf: Vec<u8>,
    /// Requests the peer sent that got neither a block nor a reject yet.
    pub open_requests: HashMap<BlockRequest, u32>,
    /// Every extension name the peer ever gave each id (its `m`).
    pub ext_ids: HashMap<u8, BTreeSet<String>>,
}

impl Consumed {
    /// `bytes` were consumed by the session (always whole messages after
    /// the handshake: the session never consumes a partial frame).
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if self.handshake < HANDSHAKE_LEN {
            let n = (HANDSHAKE_LEN - self.handshake).min(bytes.len());
            self.handshake += n;
            bytes = &bytes[n..];
        }
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        loop {
            match decode(&self.buf[at..], &Limits::default()) {
                Ok(Decoded::Message { msg, consumed }) => {
                    at += consumed;
                    match msg {
                        Message::Request(r) => *self.open_requests.entry(r).or_default() += 1,
                        Message::Extended { id: 0, payload } => {
                            if let Ok(hs) = ExtendedHandshake::decode(payload) {
                                for (name, &id) in hs.m.iter().filter(|(_, &i)| i != 0) {
                                    self.ext_ids.entry(id).or_default().insert(name.clone());
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Ok(Decoded::NeedMore { .. }) => break,
                Err(e) => panic!("the session consumed bytes that do not decode: {e}"),
            }
        }
        assert_eq!(at, self.buf.len(), "the session consumed part of a frame");
        self.buf.clear();
    }

    /// Takes one open request (a block or a reject answered it).
    fn answer(&mut self, r: &BlockRequest, what: &str) {
        match self.open_requests.get_mut(r) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.open_requests.remove(r);
            }
            None => panic!("{what} {r:?} answers no open request"),
        }
    }
}

/// What the peer negotiated, for checking our side of it.
pub struct Expect {
    pub ctx: &'static TorrentContext,
    /// The info-hash the handshake must carry.
    pub info_hash: [u8; 20],
    pub fast: bool,
    pub ltep: bool,
    /// Both sides set the DHT bit and we have a port.
    pub dht: bool,
    pub config: SessionConfig,
}

/// Reads everything the session sends and checks it.
pub struct Output {
    handshake: bool,
    messages: u64,
    /// We sent `choke` more recently than `unchoke`.
    pub choked: bool,
    /// Pieces we told the peer it may request while choked.
    allowed_fast: BTreeSet<u32>,
}

impl Output {
    pub fn new() -> Output {
        Output {
            handshake: false,
            messages: 0,
            choked: true,
            allowed_fast: BTreeSet::new(),
        }
    }

    /// Whether anything was sent yet.
    pub fn started(&self) -> bool {
        self.handshake
    }

    /// One `Transmit::Bytes`: whole control messages (the first one starts
    /// with our handshake).
    pub fn bytes(&mut self, bytes: &[u8], e: &Expect, peer: &mut Consumed) {
        assert!(!bytes.is_empty(), "an empty transmit");
        let buf = bytes;
        let mut at = 0;
        if !self.handshake {
            let hs = Handshake::decode(buf)
                .expect("our handshake decodes")
                .expect("a transmit starts with the whole handshake");
            assert_eq!(hs.info_hash, e.info_hash, "handshake for another torrent");
            assert_eq!(hs.peer_id, e.config.peer_id);
            let r = hs.reserved;
            assert!(r.fast() && r.extension_protocol());
            assert_eq!(r.dht(), e.config.dht_port.is_some() && !e.ctx.private());
            assert_eq!(r.v2_upgrade(), e.ctx.has_v2());
            self.handshake = true;
            at = HANDSHAKE_LEN;
        }
        let limits = Limits {
            max_pieces: e.ctx.piece_count(),
            max_extended: 64 * 1024 * 1024,
            ..Limits::default()
        };
        loop {
            match decode(&buf[at..], &limits) {
                Ok(Decoded::Message { msg, consumed }) => {
                    self.message(&msg, e, peer);
                    at += consumed;
                }
                Ok(Decoded::NeedMore { .. }) => break,
                Err(err) => panic!("we sent a frame a peer cannot decode: {err}"),
            }
        }
        assert_eq!(at, buf.len(), "a transmit ended inside a message");
    }

    /// One `Transmit::Block`.
    pub fn block(
        &mut self,
        header: &[u8; 13],
        r: BlockRequest,
        servable: bool,
        peer: &mut Consumed,
    ) {
        assert!(
            self.handshake && self.messages > 0,
            "a block before the opening messages"
        );
        assert_eq!(*header, piece_header(r.index, r.begin, r.length));
        assert!(
            servable,
            "block of piece {} sent while the swarm cannot serve it",
            r.index
        );
        assert!(
            !self.choked || self.allowed_fast.contains(&r.index),
            "block {r:?} sent to a choked peer outside its allowed-fast set"
        );
        peer.answer(&r, "block");
        self.messages += 1;
    }

    fn message(&mut self, msg: &Message<'_>, e: &Expect, peer: &mut Consumed) {
        let first = self.messages == 0;
        self.messages += 1;
        let count = e.ctx.piece_count();
        let fast_only = |name: &str| assert!(e.fast, "{name} sent to a peer without Fast");
        match *msg {
            Message::KeepAlive => {}
            Message::Choke => self.choked = true,
            Message::Unchoke => self.choked = false,
            Message::Have { index } => assert!(index < count),
            Message::Bitfield(bits) => {
                assert!(first, "bitfield after other messages");
                assert_eq!(bits.len(), count.div_ceil(8) as usize);
                let spare = (bits.len() * 8) as u32 - count;
                let last = bits.last().copied().unwrap_or(0);
                assert_eq!(u32::from(last) & ((1u32 << spare) - 1), 0, "spare bits set");
            }
            Message::HaveAll | Message::HaveNone => {
                fast_only("have all/none");
                assert!(first, "have all/none after other messages");
            }
            Message::RejectRequest(r) => {
                fast_only("reject request");
                peer.answer(&r, "reject");
            }
            Message::AllowedFast { index } => {
                fast_only("allowed fast");
                assert!(index < count);
                self.allowed_fast.insert(index);
            }
            Message::Port(_) => assert!(e.dht, "port sent without DHT on both sides"),
            Message::Extended { id, payload } => {
                assert!(e.ltep, "extended message to a peer without BEP 10");
                if id == 0 {
                    let hs = ExtendedHandshake::decode(payload).expect("our extended handshake");
                    assert_eq!(hs.metadata_size, Some(e.ctx.metadata_size()));
                    assert_eq!(e.ctx.private(), hs.id_of("ut_pex").is_none());
                } else {
                    let names = peer.ext_ids.get(&id);
                    let names = names.unwrap_or_else(|| panic!("extended id {id} never assigned"));
                    // An id the peer gave to one extension only: check
                    // what we said with that extension's codec.
                    if let [name] = names.iter().collect::<Vec<_>>()[..] {
                        check_extension(name, payload, e.ctx);
                    }
                }
            }
            Message::Hashes { request, hashes } => {
                assert!(e.ctx.has_v2(), "hashes for a v1 torrent");
                let l = request.length;
                assert!(
                    l >= 2 && l.is_power_of_two(),
                    "answered a hash request of length {l}"
                );
                assert_eq!(request.index % l, 0, "answered a misaligned hash request");
                assert!(hashes.len() / 32 >= l as usize);
            }
            Message::HashReject(_) => {}
            Message::Interested
            | Message::NotInterested
            | Message::Request(_)
            | Message::Cancel(_)
            | Message::Piece { .. }
            | Message::Suggest { .. }
            | Message::HashRequest(_)
            | Message::AzureusExtendedList(_)
            | Message::AzureusExtended { .. }
            | Message::Unknown { .. } => panic!("a seed sent {msg:?}"),
        }
    }
}

/// An extension message we sent (by the peer's id): whichever codec reads
/// it, what it says must be true of the torrent.
fn check_extension(name: &str, payload: &[u8], ctx: &TorrentContext) {
    let info = ctx.info_bytes();
    match name {
        "ut_metadata" => match UtMetadata::decode(payload).expect("our ut_metadata decodes") {
            UtMetadata::Data {
                piece,
                total_size,
                data,
            } => {
                assert_eq!(total_size, ctx.metadata_size());
                let from = piece as usize * 16384;
                assert_eq!(Some(data), info.get(from..(from + 16384).min(info.len())));
            }
            // A reject may answer any piece: out of range, or over budget.
            UtMetadata::Reject { .. } => {}
            UtMetadata::Request { .. } => panic!("a seed asked for metadata"),
        },
        "LT_metadata" => match LtMetadata::decode(payload).expect("our LT_metadata decodes") {
            LtMetadata::Metadata {
                total_size,
                offset,
                data,
            } => {
                assert_eq!(total_size, ctx.metadata_size());
                let from = offset as usize;
                assert_eq!(Some(data), info.get(from..from + data.len()));
            }
            LtMetadata::DontHave => {}
            LtMetadata::Request { .. } => panic!("a seed asked for metadata"),
        },
        "ut_pex" => {
            let p = UtPex::decode(payload).expect("our ut_pex decodes");
            assert!(!ctx.private(), "PEX on a private torrent");
            assert!(p.added.len() + p.added6.len() <= 50);
            assert!(p.dropped.len() + p.dropped6.len() <= 50);
        }
        "lt_donthave" => {
            let d = LtDontHave::decode(payload).expect("our lt_donthave decodes");
            assert!(d.piece < ctx.piece_count());
        }
        _ => {}
    }
}
