#![allow(clippy::cast_possible_truncation)] // test data is built from truncated counters
use proptest::prelude::*;

use super::tree::root_from_answer;
use super::*;

/// The test file contents: byte `i` is the top byte of `i * 2654435761`
/// (mod 2^32), so no 16 KiB block repeats.
fn data(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn unhex_layer(s: &str) -> Vec<Sha256Digest> {
    hex::decode(s)
        .unwrap()
        .chunks(32)
        .map(|c| c.try_into().unwrap())
        .collect()
}

/// (file length, piece length, pieces root, piece layer) as libtorrent 2.0.8
/// computed them. Produced once with /usr/bin/python3 (python3-libtorrent):
///
/// ```text
/// data = bytes((((i * 2654435761) & 0xffffffff) >> 24) for i in range(n))
/// fs = lt.file_storage(); lt.add_files(fs, path_of_a_file_with(data))
/// t = lt.create_torrent(fs, piece_length, flags=lt.create_torrent.v2_only)
/// lt.set_piece_hashes(t, folder); e = t.generate()
/// root = e[b'info'][b'file tree'][b'f.bin'][b''][b'pieces root']
/// layer = e.get(b'piece layers', {}).get(root, b'')   # hex of both below
/// ```
const LIBTORRENT: &[(usize, u64, &str, &str)] = &[
    (
        100_000,
        32768,
        "7810a6d39cd290110b79b510fabd4d6856998efb754045647061ba9b7485c60d",
        "84935094e4d5f78de913e7f353fe7327277ddfc313929c51cdeddeacb44f8f96\
         93cda584539d1a2210e8ec3ddeeba70a313f883ae09fcb0be80686aa9f452c13\
         e51f34de77a14712543f9455b47df4f101b8c8df6095bfff8921e22eafbed189\
         18ee12463b817b312e5fa202d08e06dddf41b7e330cd918add640fda95f24cd6",
    ),
    (
        5000,
        16384,
        "7234cfea54fc6bcd85f9284a81b0edf342d27c1aa87431e5b2a5c3a6f02116e0",
        "",
    ),
    (
        49153,
        131_072,
        "317c8ac707535f122bed90437413de58425881421a3a290fe2cdbb574325fb3e",
        "",
    ),
    (
        1_060_921,
        65536,
        "fedee2d9935d6fbe1ab6851dc1d03c2e766051b82e0223da0cb9421492d6f9a6",
        "b0fadd6d59464b356f9a58a19050975ff0bbf3e814d262f42343a761780ed1ee\
         74d2ae028384ae9957085b6fd170a54e1ea808a0df23ed09d52ef91b73c1b5c2\
         a1d743259c7a8b017518f275c26eb67afe76d534127d2ae813f6e39688d02b26\
         354c3334d99ad4017102cb2f251ccc0971e8d0257f669e529feab1b71aeda4f8\
         08f308832b4f16b25e4571cdcb79ba51d359160aadc86638e4f2abe0c28c423b\
         c8adf190c1172a397461027607a0a8d62cf2919f102adaaceb3ad4378bea429d\
         135cb99aa91c4182ce725205a753dfb509480a6d2471a1b4d185d392203f2c74\
         c27be19be3eb274d64e35fcc87e33cd4ddefd9adf52f4e410758d4dcd771a252\
         72a4d097047b6b77b687d278669e5ebdb9381d5962c240805c252517a931db7f\
         6770755ce8881a3c578ae823829926f03916d9a46df701c7d5ef49f21893999f\
         9003e3101a903a3fb266a2e427e4f94e586e7a87bc7aac79feee33d0a002fcba\
         7e3e651706401f9e394952c97182cbd0eac059ecc9ecbef824332e924c299cd4\
         30e14eed6fa783fb45e8b0aa255832cd0752975a55d5811aafca3a5eee937e4b\
         27da9af258230fee6a3100e07b8eb7f755e559fc70417bd983842f201f9da363\
         4f2b97918b5e6ff3564192e1173bee9546cc246283176563c49b5380c274e89c\
         c829b205eb86a5f77bbb561856d00d8e21c3b42c443242d4ebf8d1304073af6e\
         24cb849617e1558c46c93c7aec454b33a7d79e3bf63d61003b0c1bd2f1b91727",
    ),
    (
        65536,
        16384,
        "b0fadd6d59464b356f9a58a19050975ff0bbf3e814d262f42343a761780ed1ee",
        "8d5a927da22402130e8b3197f1be29eba10ca80071426f10eed00cb5fa4c4cbb\
         3ea51041662ba8a4de4b1e35e52aa5ff43ff13786f14a011b71824a78dea3bf6\
         fc05a9259ea59316aab8f4ca181b4edfdc4776bc825fc528cc90211fed2e2a9a\
         6e3db74849e2b4b31df0816b43157b750d451456b7a8ea238044f69a4d30529b",
    ),
];

#[test]
fn matches_libtorrent() {
    for &(len, piece_length, want_root, want_layer) in LIBTORRENT {
        let leaves = block_hashes(&data(len));
        assert_eq!(leaves.len(), len.div_ceil(BLOCK_SIZE));
        let got_root = root(&leaves);
        assert_eq!(hex::encode(got_root), want_root, "root of {len} bytes");

        let layer = piece_layer(&leaves, piece_length);
        if want_layer.is_empty() {
            // At most one piece: no piece layer in the torrent; ours is [root].
            assert_eq!(layer, vec![got_root]);
        } else {
            assert_eq!(layer, unhex_layer(want_layer), "piece layer of {len} bytes");
        }
        assert_eq!(root_from_piece_layer(&layer, piece_length), got_root);
        let tree = MerkleTree::from_piece_layer(&layer, piece_length, len as u64).unwrap();
        assert_eq!(tree.root(), got_root);
        assert_eq!(MerkleTree::from_leaves(&leaves).unwrap().root(), got_root);
    }
}

#[test]
fn small_trees_by_hand() {
    let l: Vec<Sha256Digest> = (1..=3u8).map(|i| [i; 32]).collect();
    assert_eq!(root(&l[..1]), l[0]);
    assert_eq!(root(&l[..2]), hash_pair(&l[0], &l[1]));
    assert_eq!(
        root(&l),
        hash_pair(&hash_pair(&l[0], &l[1]), &hash_pair(&l[2], &ZERO_HASH))
    );
    assert_eq!(root(&[]), ZERO_HASH);
    assert!(block_hashes(&[]).is_empty());
    assert!(piece_layer(&[], 32768).is_empty());
    assert_eq!(root_from_piece_layer(&[], 32768), ZERO_HASH);
    assert_eq!(
        block_hashes(&[7u8; 16385]),
        vec![sha256(&[7u8; 16384]), sha256(&[7u8])]
    );
}

#[test]
fn pad_hashes_and_piece_roots() {
    assert_eq!(pad_hash(0), ZERO_HASH);
    assert_eq!(pad_hash(1), hash_pair(&ZERO_HASH, &ZERO_HASH));
    assert_eq!(pad_hash(2), hash_pair(&pad_hash(1), &pad_hash(1)));
    assert_eq!(pad_hash(200), pad_hash(64));
    // 64 KiB pieces: a short last piece is padded with zero leaves to four.
    let l: Vec<Sha256Digest> = (1..=3u8).map(|i| [i; 32]).collect();
    assert_eq!(piece_root(&l, 65536), root(&[l[0], l[1], l[2], ZERO_HASH]));
    assert_eq!(
        piece_root(&l[..1], 65536),
        root(&[l[0], ZERO_HASH, ZERO_HASH, ZERO_HASH])
    );
    assert_eq!(piece_root(&[], 65536), pad_hash(2));
    // The piece layer pads with whole-piece pad hashes.
    let leaves: Vec<Sha256Digest> = (1..=9u8).map(|i| [i; 32]).collect();
    let layer = piece_layer(&leaves, 32768);
    assert_eq!(layer.len(), 5);
    assert_eq!(layer[4], hash_pair(&leaves[8], &ZERO_HASH));
    let padded = [&layer[..], &[pad_hash(1); 3][..]].concat();
    assert_eq!(
        root_from_piece_layer(&layer, 32768),
        root_of_layer(&padded, 1)
    );
}

#[test]
fn piece_length_normalization() {
    assert_eq!(piece_layer_height(16384), 0);
    assert_eq!(piece_layer_height(1), 0);
    assert_eq!(piece_layer_height(32768), 1);
    assert_eq!(piece_layer_height(40000), 2); // rounded up to 64 KiB
    assert_eq!(piece_layer_height(4 << 20), 8);
    assert_eq!(piece_layer_height(u64::MAX), 49);
    assert_eq!(blocks_per_piece(1 << 20), 64);
}

/// Four leaves, by hand: the answer is the two hashes plus their uncle.
#[test]
fn hash_request_by_hand() {
    let l: Vec<Sha256Digest> = (1..=4u8).map(|i| [i; 32]).collect();
    let tree = MerkleTree::from_leaves(&l).unwrap();
    assert_eq!(tree.root_layer(), 2);
    let req = HashRequest {
        base_layer: 0,
        index: 2,
        length: 2,
        proof_layers: 1,
    };
    assert_eq!(
        tree.hashes(&req).unwrap(),
        vec![l[2], l[3], hash_pair(&l[0], &l[1])]
    );
    // All four: the one proof layer is implied, so no uncles.
    let req = HashRequest {
        base_layer: 0,
        index: 0,
        length: 4,
        proof_layers: 1,
    };
    assert_eq!(tree.hashes(&req).unwrap(), l);
    let req = HashRequest {
        base_layer: 1,
        index: 0,
        length: 1,
        proof_layers: 0,
    };
    assert_eq!(tree.hashes(&req).unwrap(), vec![hash_pair(&l[0], &l[1])]);
}

#[test]
fn hash_request_rejections() {
    let leaves: Vec<Sha256Digest> = (0..10u8).map(|i| [i; 32]).collect(); // 16 padded leaves
    let tree = MerkleTree::from_leaves(&leaves).unwrap();
    let req = |base_layer, index, length, proof_layers| HashRequest {
        base_layer,
        index,
        length,
        proof_layers,
    };
    use HashRequestError as E;
    assert!(matches!(
        tree.hashes(&req(0, 0, 0, 0)),
        Err(E::BadLength { .. })
    ));
    assert!(matches!(
        tree.hashes(&req(0, 0, 8193, 0)),
        Err(E::BadLength { .. })
    ));
    assert!(matches!(
        tree.hashes(&req(4, 0, 1, 0)),
        Err(E::BadBaseLayer { .. })
    ));
    assert!(matches!(
        tree.hashes(&req(40, 0, 1, 0)),
        Err(E::BadBaseLayer { .. })
    ));
    assert!(matches!(
        tree.hashes(&req(0, 16, 2, 0)),
        Err(E::OutOfRange { .. })
    ));
    assert!(matches!(
        tree.hashes(&req(0, u32::MAX, 2, 0)),
        Err(E::OutOfRange { .. })
    ));
    assert!(matches!(
        tree.hashes(&req(0, 2, 4, 0)),
        Err(E::Misaligned { .. })
    ));
    assert!(matches!(
        tree.hashes(&req(0, 0, 2, 4)),
        Err(E::TooManyProofLayers { max: 3, .. })
    ));
    assert!(tree.hashes(&req(0, 0, 2, 3)).is_ok());
    // Past the file, inside the padded layer: zero leaves.
    assert_eq!(tree.hashes(&req(0, 12, 4, 0)).unwrap(), vec![ZERO_HASH; 4]);
    assert_eq!(tree.hashes(&req(1, 6, 2, 0)).unwrap(), vec![pad_hash(1); 2]);

    // A tree above 32 KiB pieces needs the leaves for leaf requests.
    let layer = piece_layer(&leaves, 32768);
    let upper = MerkleTree::from_piece_layer(&layer, 32768, 10 * 16384).unwrap();
    assert_eq!(upper.stored_layer(), 1);
    assert!(matches!(
        upper.hashes(&req(0, 0, 2, 3)),
        Err(E::NeedLeaves { .. })
    ));
    assert_eq!(
        upper
            .hashes_with_leaves(&req(0, 2, 2, 3), 2, &leaves[2..4])
            .unwrap(),
        tree.hashes(&req(0, 2, 2, 3)).unwrap()
    );
    // Leaves not covering the request, misaligned, or corrupt.
    assert!(matches!(
        upper.hashes_with_leaves(&req(0, 4, 2, 3), 2, &leaves[2..4]),
        Err(E::LeavesDoNotCover { .. })
    ));
    assert!(matches!(
        upper.hashes_with_leaves(&req(0, 2, 2, 3), 1, &leaves[1..3]),
        Err(E::LeavesDoNotCover { .. })
    ));
    assert!(matches!(
        upper.hashes_with_leaves(&req(0, 2, 2, 3), 2, &leaves[2..3]),
        Err(E::LeavesDoNotCover { .. })
    ));
    let mut corrupt = leaves[2..4].to_vec();
    corrupt[1][0] ^= 1;
    assert_eq!(
        upper.hashes_with_leaves(&req(0, 2, 2, 3), 2, &corrupt),
        Err(E::LeavesMismatch {
            stored_layer: 1,
            index: 1
        })
    );
    // The short last piece (leaf 9 alone) is accepted at the end of the file.
    assert_eq!(
        upper
            .hashes_with_leaves(&req(0, 8, 2, 3), 8, &leaves[8..])
            .unwrap(),
        tree.hashes(&req(0, 8, 2, 3)).unwrap()
    );
}

#[test]
fn tree_construction_errors() {
    assert_eq!(MerkleTree::from_leaves(&[]), Err(MerkleError::EmptyFile));
    assert_eq!(
        MerkleTree::from_piece_layer(&[], 16384, 0),
        Err(MerkleError::EmptyFile)
    );
    assert!(matches!(
        MerkleTree::from_piece_layer(&[[0; 32]; 2], 16384, 16384 * 3),
        Err(MerkleError::WrongLayerLength {
            got: 2,
            expected: 3,
            ..
        })
    ));
    // A one-piece file keeps just its root.
    let leaves = block_hashes(&data(3 * 16384 + 1));
    let r = root(&leaves);
    let tree = MerkleTree::from_piece_layer(&[r], 1 << 20, 3 * 16384 + 1).unwrap();
    assert_eq!(
        (tree.root(), tree.root_layer(), tree.stored_layer()),
        (r, 2, 2)
    );
    let req = HashRequest {
        base_layer: 0,
        index: 0,
        length: 4,
        proof_layers: 1,
    };
    assert_eq!(tree.hashes_with_leaves(&req, 0, &leaves).unwrap(), leaves);
}

fn arb_leaves(max: usize) -> impl Strategy<Value = Vec<Sha256Digest>> {
    proptest::collection::vec(any::<[u8; 32]>(), 1..max)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random files and piece lengths: the root rebuilt from the piece layer
    /// is the root of the leaves.
    #[test]
    fn root_from_piece_layer_matches_data(len in 0usize..400_000, piece_shift in 0u32..6) {
        let piece_length = 16384u64 << piece_shift;
        let leaves = block_hashes(&data(len));
        let layer = piece_layer(&leaves, piece_length);
        prop_assert_eq!(layer.len() as u64, (len as u64).div_ceil(piece_length));
        prop_assert_eq!(root_from_piece_layer(&layer, piece_length), root(&leaves));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The same on random leaf layers, many more shapes.
    #[test]
    fn root_from_piece_layer_matches_leaves(leaves in arb_leaves(700), piece_shift in 0u32..9) {
        let piece_length = 16384u64 << piece_shift;
        let layer = piece_layer(&leaves, piece_length);
        prop_assert_eq!(root_from_piece_layer(&layer, piece_length), root(&leaves));
        let tree = MerkleTree::from_piece_layer(&layer, piece_length, leaves.len() as u64 * 16384);
        prop_assert_eq!(tree.map(|t| t.root()), Ok(root(&leaves)));
    }

    /// Any valid request: the answer proves its hashes against the root, and
    /// the tree kept above the piece layer (given the leaves of the pieces
    /// involved) answers exactly like the full tree.
    #[test]
    fn hash_request_answers_prove_to_root(
        leaves in arb_leaves(300),
        piece_shift in 0u32..5,
        base_pick in any::<prop::sample::Index>(),
        len_shift in 1u32..8,
        index_pick in any::<prop::sample::Index>(),
    ) {
        let full = MerkleTree::from_leaves(&leaves).unwrap();
        let top = full.root_layer();
        prop_assume!(top >= 1);
        let base = base_pick.index(top as usize) as u32; // 0..top
        let width = 1u64 << (top - base);
        let span = (1u64 << len_shift).min(width).max(2.min(width));
        let index = index_pick.index((width / span) as usize) as u64 * span;
        let proof_layers = top - base - 1;
        let req = HashRequest { base_layer: base, index: index as u32, length: span as u32, proof_layers };
        let answer = full.hashes(&req).unwrap();
        let uncles = (proof_layers + 1).saturating_sub(span.trailing_zeros().max(1));
        prop_assert_eq!(answer.len() as u64, span + u64::from(uncles));
        if span >= 2 {
            prop_assert_eq!(root_from_answer(&req, &answer), Some((full.root(), top)));
        }

        // The same from a tree above the piece layer.
        let piece_length = 16384u64 << piece_shift;
        let layer = piece_layer(&leaves, piece_length);
        let upper = MerkleTree::from_piece_layer(&layer, piece_length, leaves.len() as u64 * 16384).unwrap();
        prop_assert_eq!(upper.root(), full.root());
        let per_piece = 1u64 << upper.stored_layer();
        // Leaves of the whole pieces under the requested range.
        let first = ((index << base) / per_piece) * per_piece;
        let end = (((index + span) << base).div_ceil(per_piece) * per_piece).min(leaves.len() as u64);
        let got = if first < end {
            upper.hashes_with_leaves(&req, first, &leaves[first as usize..end as usize])
        } else {
            // The range is all padding: no leaves exist there.
            upper.hashes(&req)
        };
        if base >= upper.stored_layer() || first < end {
            prop_assert_eq!(got, Ok(answer));
        }
    }
}
