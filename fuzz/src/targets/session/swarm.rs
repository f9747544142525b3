//! The torrents the session target serves (built once per process: the
//! large one's context costs milliseconds) and the swarm around them,
//! whose piece availability the fuzz input changes.

use std::sync::OnceLock;

use seedcore_hash::{merkle, sha1};
use seedcore_protocol::metainfo::build::TorrentBuilder;
use seedcore_protocol::metainfo::{MetaVersion, Metainfo};
use seedcore_protocol::session::{Swarm, TorrentContext, TorrentId};

/// Deterministic test bytes.
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8 ^ seed)
        .collect()
}

fn v1(len: usize, piece_length: u32, private: bool, fake_hashes: bool) -> Metainfo {
    let pieces = if fake_hashes {
        let count = len.div_ceil(piece_length as usize);
        (0..count).map(|i| [(i % 251) as u8; 20]).collect()
    } else {
        bytes(len, 1)
            .chunks(piece_length as usize)
            .map(sha1)
            .collect()
    };
    TorrentBuilder::new("data.bin", piece_length)
        .file(vec![], len as u64)
        .v1_pieces(pieces)
        .private(private)
        .build_metainfo()
        .expect("a valid v1 torrent")
        .1
}

fn v2(len: usize, piece_length: u32, version: MetaVersion) -> Metainfo {
    let data = bytes(len, 2);
    let leaves = merkle::block_hashes(&data);
    let root = merkle::root(&leaves);
    let layer = merkle::piece_layer(&leaves, u64::from(piece_length));
    let mut b = TorrentBuilder::new("data.bin", piece_length)
        .version(version)
        .file(vec![], len as u64)
        .v2_file(0, root, layer);
    if version == MetaVersion::Hybrid {
        b = b.v1_pieces(data.chunks(piece_length as usize).map(sha1).collect());
    }
    b.build_metainfo().expect("a valid v2 torrent").1
}

/// The torrents, by the index the fuzz input picks, and every v2 file's
/// pieces root (for hash requests that name a real file).
fn built() -> &'static (Vec<TorrentContext>, Vec<[u8; 32]>) {
    static T: OnceLock<(Vec<TorrentContext>, Vec<[u8; 32]>)> = OnceLock::new();
    T.get_or_init(|| {
        let metas = [
            // Small v1: 10 whole pieces and a 3-byte one.
            v1(10 * 16384 + 3, 16384, false, false),
            // Private: no PEX, no DHT.
            v1(3 * 32768 + 5000, 32768, true, false),
            // Hybrid: v1 and v2 hashes, hash requests answered.
            v2(4 * 32768 + 100, 32768, MetaVersion::Hybrid),
            // Pure v2 with a short tail (padded geometry).
            v2(5 * 16384 + 1000, 16384, MetaVersion::V2),
            // 6,000 pieces: a 120 KB info dictionary, for metadata answers
            // that are large next to the request.
            v1(6000 * 16384, 16384, false, true),
        ];
        let roots = metas
            .iter()
            .flat_map(|m| m.info.files.iter().filter_map(|f| f.pieces_root))
            .collect();
        let contexts = metas
            .iter()
            .map(|m| TorrentContext::from_metainfo(m).expect("a servable torrent"))
            .collect();
        (contexts, roots)
    })
}

/// The torrents the session target serves.
pub fn torrents() -> &'static [TorrentContext] {
    &built().0
}

/// The `k`-th v2 pieces root (cycling), if any torrent has one.
pub fn v2_root(k: u8) -> Option<[u8; 32]> {
    let roots = &built().1;
    (!roots.is_empty()).then(|| roots[usize::from(k) % roots.len()])
}

/// The swarm: every torrent above, with availability the input changes.
pub struct FuzzSwarm {
    pub ctx: &'static [TorrentContext],
    pub have: Vec<Vec<bool>>,
}

impl FuzzSwarm {
    /// Every piece of every torrent available.
    pub fn new() -> FuzzSwarm {
        let ctx = torrents();
        let have = ctx
            .iter()
            .map(|c| vec![true; c.piece_count() as usize])
            .collect();
        FuzzSwarm { ctx, have }
    }

    /// Sets piece `piece` of torrent `t` (ignored when out of range).
    pub fn set(&mut self, t: TorrentId, piece: u32, on: bool) {
        if let Some(p) = self
            .have
            .get_mut(t.0 as usize)
            .and_then(|h| h.get_mut(piece as usize))
        {
            *p = on;
        }
    }
}

impl Swarm for FuzzSwarm {
    fn lookup(&self, wire_hash: &[u8; 20]) -> Option<TorrentId> {
        self.ctx
            .iter()
            .position(|c| c.matches(wire_hash))
            .map(|i| TorrentId(i as u32))
    }
    fn torrent(&self, id: TorrentId) -> Option<&TorrentContext> {
        self.ctx.get(id.0 as usize)
    }
    fn has_piece(&self, id: TorrentId, piece: u32) -> bool {
        self.have
            .get(id.0 as usize)
            .and_then(|h| h.get(piece as usize))
            .copied()
            .unwrap_or(false)
    }
    fn have_count(&self, id: TorrentId) -> u32 {
        self.have
            .get(id.0 as usize)
            .map_or(0, |h| h.iter().filter(|x| **x).count() as u32)
    }
}
