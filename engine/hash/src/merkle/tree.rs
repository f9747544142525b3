//! Answering BEP 52 `hash request`s: a file's merkle tree kept above its
//! piece layer (or its leaves), plus the proof rules of the spec.
//!
//! A request names a *base layer* (layers above the leaves: 0 = leaves), an
//! *index* and *length* in that layer, and a number of *proof layers*. The
//! answer is the `length` hashes, then one uncle hash per proof layer,
//! lowest first, where an uncle is the sibling of the requested range's
//! ancestor at that layer. The first `log2(length) - 1` proof layers are
//! omitted from the answer because the requester can compute them from the
//! hashes themselves (they still count towards `proof layers`). Nodes past
//! the end of the file are zero hashes at the leaf layer and pad hashes
//! above it. This mirrors libtorrent's `merkle_tree::get_hashes`, including
//! its limits (base layer below the root, `proof layers` at most up to the
//! root's children, at most 8192 hashes).
//!
//! A seeder knows the piece layer of each file from the torrent, so
//! [`MerkleTree::from_piece_layer`] keeps the tree from there up (about two
//! hashes per piece). Requests for layers below it (leaf hashes) need the
//! leaf hashes of the pieces involved, hashed from the data on demand and
//! passed to [`MerkleTree::hashes_with_leaves`], which also checks them
//! against the stored piece hashes so corrupt data is never vouched for.

use super::{pad_hash, piece_layer_height, reduce, BLOCK_SIZE};
use crate::Sha256Digest;

/// The most hashes one request may ask for in its base layer (libtorrent's
/// limit: a whole 128 MiB piece of leaves). BEP 52 says requesters should
/// not ask for more than 512.
pub const MAX_HASH_REQUEST_LENGTH: u32 = 8192;

/// The geometry of a BEP 52 `hash request` (the pieces root, which picks the
/// file, is resolved by the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashRequest {
    /// Layers above the leaves of the first requested hash (0 = leaves).
    pub base_layer: u32,
    /// Index of the first requested hash within the base layer.
    pub index: u32,
    /// Number of hashes requested from the base layer.
    pub length: u32,
    /// Number of ancestor layers whose uncle hashes to include.
    pub proof_layers: u32,
}

/// Why a tree could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// Empty files have no pieces root and no tree.
    #[error("an empty file has no merkle tree; skip it (it has no pieces root)")]
    EmptyFile,
    /// The layer does not have one hash per piece.
    #[error(
        "piece layer has {got} hashes but a {file_length}-byte file in {piece_length}-byte pieces has {expected} pieces; the torrent's piece layers are wrong for this file"
    )]
    WrongLayerLength {
        /// Hashes given.
        got: usize,
        /// Pieces in the file.
        expected: u64,
        /// File length in bytes.
        file_length: u64,
        /// Piece length in bytes.
        piece_length: u64,
    },
}

/// Why a hash request cannot be answered. Each of these is answered with a
/// `hash reject` message; only [`HashRequestError::LeavesMismatch`] says
/// something about our own data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HashRequestError {
    /// `length` is 0 or too large.
    #[error("hash request length {length} is outside 1..={max}; reject it")]
    BadLength {
        /// Requested length.
        length: u32,
        /// [`MAX_HASH_REQUEST_LENGTH`].
        max: u32,
    },
    /// The base layer is the root layer or above it.
    #[error("base layer {base_layer} is not below the root layer {root_layer} of this file's tree; reject it")]
    BadBaseLayer {
        /// Requested base layer.
        base_layer: u32,
        /// Height of the root above the leaves.
        root_layer: u32,
    },
    /// The hashes run past the end of the (padded) layer.
    #[error("hashes {index}..{index}+{length} are outside the {layer_width} nodes of layer {base_layer}; reject it")]
    OutOfRange {
        /// Requested base layer.
        base_layer: u32,
        /// Requested index.
        index: u32,
        /// Requested length.
        length: u32,
        /// Nodes in that layer of the padded tree.
        layer_width: u64,
    },
    /// `index` is not a multiple of `length` rounded up to a power of two.
    #[error("index {index} is not a multiple of {span} (the length rounded up to a power of two), as BEP 52 requires; reject it")]
    Misaligned {
        /// Requested index.
        index: u32,
        /// `length` rounded up to a power of two.
        span: u64,
    },
    /// The proof would need an uncle of the root.
    #[error("{proof_layers} proof layers reach past the root; at most {max} from base layer {base_layer}; reject it")]
    TooManyProofLayers {
        /// Requested proof layers.
        proof_layers: u32,
        /// The most this base layer allows.
        max: u32,
        /// Requested base layer.
        base_layer: u32,
    },
    /// The request needs hashes below the stored layer and no leaves were given.
    #[error("hashes of layer {height} are below the stored layer {stored_layer}; hash the pieces involved and call hashes_with_leaves")]
    NeedLeaves {
        /// Layer of a node that was needed.
        height: u32,
        /// Lowest layer this tree stores.
        stored_layer: u32,
    },
    /// The leaves given are misaligned or do not cover the request.
    #[error("leaf hashes {first_leaf}..{first_leaf}+{count} do not cover the request or do not start at a piece boundary ({leaves_per_node} leaves); pass the leaves of whole pieces covering it")]
    LeavesDoNotCover {
        /// First leaf index given.
        first_leaf: u64,
        /// Number of leaves given.
        count: usize,
        /// Leaves under one node of the stored layer.
        leaves_per_node: u64,
    },
    /// Leaves hashed from our data disagree with the stored piece layer.
    #[error("leaf hashes under node {index} of layer {stored_layer} do not match the torrent's hash: the data on disk is corrupt; re-verify that piece and stop serving it")]
    LeavesMismatch {
        /// Layer of the stored node that disagreed.
        stored_layer: u32,
        /// Index of that node.
        index: u64,
    },
}

/// A file's merkle tree above one stored layer, for answering hash requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MerkleTree {
    /// 16 KiB leaves in the file (not padded).
    leaf_count: u64,
    /// Height of the root above the leaves: log2 of the padded leaf count.
    root_layer: u32,
    /// Height above the leaves of `levels[0]`.
    stored_layer: u32,
    /// `levels[i]` holds the real nodes at height `stored_layer + i`; nodes
    /// past them are pad hashes. The last level is `[root]`.
    levels: Vec<Vec<Sha256Digest>>,
}

impl MerkleTree {
    /// The whole tree of a file from its leaf hashes ([`super::block_hashes`]).
    pub fn from_leaves(leaves: &[Sha256Digest]) -> Result<MerkleTree, MerkleError> {
        if leaves.is_empty() {
            return Err(MerkleError::EmptyFile);
        }
        let leaf_count = leaves.len() as u64;
        Ok(Self::build(leaf_count, 0, leaves.to_vec()))
    }

    /// The tree of a `file_length`-byte file above its piece layer: the
    /// torrent's `piece layers` entry, one hash per piece. For a file of at
    /// most one piece (no entry in the torrent), pass `[pieces root]`.
    ///
    /// The caller checks [`MerkleTree::root`] against the file's pieces root.
    pub fn from_piece_layer(
        layer: &[Sha256Digest],
        piece_length: u64,
        file_length: u64,
    ) -> Result<MerkleTree, MerkleError> {
        if file_length == 0 {
            return Err(MerkleError::EmptyFile);
        }
        let piece_height = piece_layer_height(piece_length);
        let normalized_piece = (BLOCK_SIZE as u64) << piece_height;
        let expected = file_length.div_ceil(normalized_piece);
        if layer.len() as u64 != expected {
            return Err(MerkleError::WrongLayerLength {
                got: layer.len(),
                expected,
                file_length,
                piece_length,
            });
        }
        let leaf_count = file_length.div_ceil(BLOCK_SIZE as u64);
        let root_layer = ceil_log2(leaf_count);
        // A one-piece file's tree may be lower than a piece: its root is the
        // only node we know.
        let stored = piece_height.min(root_layer);
        Ok(Self::build(leaf_count, stored, layer.to_vec()))
    }

    fn build(leaf_count: u64, stored_layer: u32, base: Vec<Sha256Digest>) -> MerkleTree {
        let mut levels = vec![base];
        let mut height = stored_layer;
        while let Some(top) = levels.last() {
            if top.len() <= 1 {
                break;
            }
            let next = reduce(top, height);
            levels.push(next);
            height += 1;
        }
        MerkleTree {
            leaf_count,
            root_layer: ceil_log2(leaf_count),
            stored_layer,
            levels,
        }
    }

    /// The root: the file's pieces root.
    pub fn root(&self) -> Sha256Digest {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or([0; 32])
    }

    /// Number of 16 KiB leaves in the file.
    pub fn leaf_count(&self) -> u64 {
        self.leaf_count
    }

    /// Height of the root above the leaves (0 for a one-block file).
    pub fn root_layer(&self) -> u32 {
        self.root_layer
    }

    /// The lowest layer this tree stores (0 when built from leaves).
    pub fn stored_layer(&self) -> u32 {
        self.stored_layer
    }

    /// The node at `height` layers above the leaves and `index` in that
    /// layer, including pad hashes past the end of the file. `None` outside
    /// the padded tree or below the stored layer.
    pub fn node(&self, height: u32, index: u64) -> Option<Sha256Digest> {
        if index >= self.layer_width(height)? {
            return None;
        }
        let level = self
            .levels
            .get(usize::try_from(height.checked_sub(self.stored_layer)?).ok()?)?;
        let i = usize::try_from(index).ok()?;
        Some(level.get(i).copied().unwrap_or_else(|| pad_hash(height)))
    }

    /// Nodes in layer `height` of the padded tree; `None` above the root.
    fn layer_width(&self, height: u32) -> Option<u64> {
        1u64.checked_shl(self.root_layer.checked_sub(height)?)
    }

    /// The answer to a hash request whose hashes all lie at or above the
    /// stored layer: the `length` requested hashes, then the uncle hashes
    /// from the lowest proof layer to the highest (see the module docs).
    pub fn hashes(&self, req: &HashRequest) -> Result<Vec<Sha256Digest>, HashRequestError> {
        self.answer(req, None)
    }

    /// The answer to a hash request that may reach below the stored layer
    /// (typically leaf hashes of a piece): `leaves` are the leaf hashes
    /// starting at leaf `first_leaf`, covering whole pieces (the last piece
    /// of the file may be short) that include the requested range. They are
    /// checked against the stored layer first.
    pub fn hashes_with_leaves(
        &self,
        req: &HashRequest,
        first_leaf: u64,
        leaves: &[Sha256Digest],
    ) -> Result<Vec<Sha256Digest>, HashRequestError> {
        let lower = self.lower_tree(first_leaf, leaves)?;
        self.answer(req, Some(&lower))
    }

    fn answer(
        &self,
        req: &HashRequest,
        lower: Option<&Lower>,
    ) -> Result<Vec<Sha256Digest>, HashRequestError> {
        let HashRequest {
            base_layer,
            index,
            length,
            proof_layers,
        } = *req;
        if length == 0 || length > MAX_HASH_REQUEST_LENGTH {
            return Err(HashRequestError::BadLength {
                length,
                max: MAX_HASH_REQUEST_LENGTH,
            });
        }
        let layer_width = match self.layer_width(base_layer) {
            Some(w) if base_layer < self.root_layer => w,
            _ => {
                return Err(HashRequestError::BadBaseLayer {
                    base_layer,
                    root_layer: self.root_layer,
                });
            }
        };
        if u64::from(index) + u64::from(length) > layer_width {
            return Err(HashRequestError::OutOfRange {
                base_layer,
                index,
                length,
                layer_width,
            });
        }
        let span = u64::from(length).next_power_of_two();
        if !u64::from(index).is_multiple_of(span) {
            return Err(HashRequestError::Misaligned { index, span });
        }
        let max = self.root_layer - base_layer - 1;
        if proof_layers > max {
            return Err(HashRequestError::TooManyProofLayers {
                proof_layers,
                max,
                base_layer,
            });
        }

        let node = |height: u32, i: u64| -> Result<Sha256Digest, HashRequestError> {
            // A subtree wholly past the end of the file is padding at any height.
            let first_leaf_under = i.checked_shl(height).filter(|f| f >> height == i);
            if first_leaf_under.is_none_or(|f| f >= self.leaf_count) {
                return Ok(pad_hash(height));
            }
            if height >= self.stored_layer {
                return self.node(height, i).ok_or(HashRequestError::NeedLeaves {
                    height,
                    stored_layer: self.stored_layer,
                });
            }
            match lower {
                Some(lower) => lower.node(height, i),
                None => Err(HashRequestError::NeedLeaves {
                    height,
                    stored_layer: self.stored_layer,
                }),
            }
        };

        // The layers the requested hashes determine on their own.
        let implied = span.trailing_zeros();
        let mut out = Vec::with_capacity(length as usize + proof_layers as usize);
        for i in u64::from(index)..u64::from(index) + u64::from(length) {
            out.push(node(base_layer, i)?);
        }
        for j in 1..=proof_layers {
            if j < implied {
                continue;
            }
            let ancestor = u64::from(index) >> j;
            out.push(node(base_layer + j, ancestor ^ 1)?);
        }
        Ok(out)
    }

    /// Builds the layers below the stored one over `leaves`, checking them
    /// against the stored nodes.
    fn lower_tree(
        &self,
        first_leaf: u64,
        leaves: &[Sha256Digest],
    ) -> Result<Lower, HashRequestError> {
        let per_node = 1u64 << self.stored_layer;
        let end = first_leaf.saturating_add(leaves.len() as u64);
        let whole = (leaves.len() as u64).is_multiple_of(per_node) || end == self.leaf_count;
        if !first_leaf.is_multiple_of(per_node)
            || leaves.is_empty()
            || !whole
            || end > self.leaf_count
        {
            return Err(HashRequestError::LeavesDoNotCover {
                first_leaf,
                count: leaves.len(),
                leaves_per_node: per_node,
            });
        }
        let mut levels = vec![leaves.to_vec()];
        for height in 0..self.stored_layer {
            let next = levels.last().map(|l| reduce(l, height)).unwrap_or_default();
            levels.push(next);
        }
        let first_stored = first_leaf >> self.stored_layer;
        let top = levels.last().map(Vec::as_slice).unwrap_or_default();
        for (offset, computed) in top.iter().enumerate() {
            let index = first_stored + offset as u64;
            if self.node(self.stored_layer, index).as_ref() != Some(computed) {
                return Err(HashRequestError::LeavesMismatch {
                    stored_layer: self.stored_layer,
                    index,
                });
            }
        }
        Ok(Lower {
            first_leaf,
            count: leaves.len(),
            levels,
        })
    }
}

/// Layers 0..=stored over a run of whole pieces, for leaf-level requests.
struct Lower {
    first_leaf: u64,
    count: usize,
    /// `levels[h]`: nodes at height `h`, starting at index `first_leaf >> h`.
    levels: Vec<Vec<Sha256Digest>>,
}

impl Lower {
    fn node(&self, height: u32, index: u64) -> Result<Sha256Digest, HashRequestError> {
        let uncovered = || HashRequestError::LeavesDoNotCover {
            first_leaf: self.first_leaf,
            count: self.count,
            leaves_per_node: 1u64 << (self.levels.len() - 1),
        };
        let level = self.levels.get(height as usize).ok_or_else(uncovered)?;
        let start = self.first_leaf >> height;
        let offset = index.checked_sub(start).ok_or_else(uncovered)?;
        let width = 1u64 << (self.levels.len() - 1 - height as usize);
        let in_pieces = (level.len() as u64).div_ceil(width) * width;
        if offset >= in_pieces {
            return Err(uncovered());
        }
        // Past the real nodes but inside the last piece: past the file's end.
        let real = usize::try_from(offset).ok().and_then(|o| level.get(o));
        Ok(real.copied().unwrap_or_else(|| pad_hash(height)))
    }
}

/// Smallest `k` with `2^k >= n` (0 for n <= 1).
fn ceil_log2(n: u64) -> u32 {
    match n.checked_next_power_of_two() {
        Some(p) => p.trailing_zeros(),
        None => 64,
    }
}

/// Recomputes the root from a hash-request answer that carries a full proof,
/// for tests: what a downloader does with a `hashes` message. Needs a length
/// of at least 2 (BEP 52's minimum; with one hash its sibling is missing).
#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn root_from_answer(
    req: &HashRequest,
    answer: &[Sha256Digest],
) -> Option<(Sha256Digest, u32)> {
    if req.length < 2 {
        return None;
    }
    let length = req.length as usize;
    let span = u64::from(req.length).next_power_of_two();
    let implied = span.trailing_zeros();
    let (base, uncles) = answer.split_at(length.min(answer.len()));
    // A range truncated by the end of the layer: the rest are pad hashes.
    let mut layer = base.to_vec();
    layer.resize(span as usize, pad_hash(req.base_layer));
    let mut height = req.base_layer;
    let mut index = u64::from(req.index);
    while layer.len() > 1 {
        layer = reduce(&layer, height);
        height += 1;
        index >>= 1;
    }
    let mut node = *layer.first()?;
    let mut uncles = uncles.iter();
    // Climb from the subtree root (height base + implied) with the uncles.
    for _ in implied..=req.proof_layers {
        let uncle = uncles.next()?;
        node = if index & 1 == 0 {
            super::hash_pair(&node, uncle)
        } else {
            super::hash_pair(uncle, &node)
        };
        index >>= 1;
        height += 1;
    }
    uncles.next().is_none().then_some((node, height))
}
