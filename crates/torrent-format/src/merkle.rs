//! BEP 52 merkle trees: SHA-256 over 16 KiB blocks, padded to a power of two.
//!
//! Pure functions shared by torrent creation and by metainfo validation (checking a file's
//! `piece layers` entry against its `pieces root`).
//!
//! BEP 52, "pieces root": "For non-empty files this is the the root hash of a merkle tree with a
//! branching factor of 2, constructed from 16KiB blocks of the file. The last block may be
//! shorter than 16KiB. The remaining leaf hashes beyond the end of the file required to
//! construct upper layers of the merkle tree are set to zero."
//!
//! So the padding leaves are 32 zero *bytes*, not the hash of a zero-filled block, and a node
//! whose subtree is all padding is the hash of hashes of zeros ([`zero_subtree_hash`]).
//!
//! BEP 52, "piece layers": "The layer is chosen so that one hash covers piece length bytes. [...]
//! Layer hashes which exclusively cover data beyond the end of file, i.e. are only needed to
//! balance the tree, are omitted." A file's root is therefore rebuilt from its piece layer by
//! padding that layer with the hash of an all-padding subtree of one piece
//! ([`root_from_piece_layer`]).

use sha2::{Digest, Sha256};

/// The merkle leaf size: every leaf hash covers 16 KiB of a file (the last leaf may cover less).
pub const BLOCK_SIZE: u64 = 16 * 1024;

/// The parent of two nodes: SHA-256 of `left || right`.
pub fn hash_pair(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of a tree whose bottom layer is `hashes` followed by copies of `pad_hash` up to
/// `pad_to` entries.
///
/// The bottom layer's width is `max(pad_to, hashes.len())` rounded up to a power of two (so a
/// `pad_to` that is too small or not a power of two never panics). Padding is never
/// materialised: each layer needs at most one pad node, whose value doubles up the tree
/// (`pad' = H(pad || pad)`).
///
/// With no hashes the result is the root of a tree made only of padding.
pub fn merkle_root(hashes: &[[u8; 32]], pad_to: usize, pad_hash: [u8; 32]) -> [u8; 32] {
    let width = pad_to.max(hashes.len()).max(1).next_power_of_two();
    let mut pad = pad_hash;
    let mut layer: Vec<[u8; 32]> = hashes.to_vec();
    let mut w = width;
    while w > 1 {
        if layer.len() % 2 == 1 {
            layer.push(pad);
        }
        // Halving in place: node i of the next layer reads nodes 2i and 2i+1, both at or after
        // index i, so no node is overwritten before it is read.
        let n = layer.len() / 2;
        for i in 0..n {
            layer[i] = hash_pair(&layer[2 * i], &layer[2 * i + 1]);
        }
        layer.truncate(n);
        pad = hash_pair(&pad, &pad);
        w /= 2;
    }
    layer.first().copied().unwrap_or(pad)
}

/// The root of a subtree of `leaves` padding leaves (each 32 zero bytes, per BEP 52), rounded up
/// to a power of two. `zero_subtree_hash(1)` is `[0; 32]`.
///
/// With `leaves = piece_length / 16 KiB` this is the hash that pads a piece layer.
pub fn zero_subtree_hash(leaves: usize) -> [u8; 32] {
    let mut h = [0u8; 32];
    let mut n = leaves.max(1).next_power_of_two();
    while n > 1 {
        h = hash_pair(&h, &h);
        n /= 2;
    }
    h
}

/// The `pieces root` of a non-empty file from its 16 KiB leaf hashes: the leaf layer padded with
/// zero hashes to the next power of two.
pub fn root_from_leaves(leaves: &[[u8; 32]]) -> [u8; 32] {
    merkle_root(leaves, leaves.len().next_power_of_two(), [0; 32])
}

/// The hash of one piece of a file *longer* than one piece, from that piece's leaf hashes (fewer
/// than `piece_length / 16 KiB` only for the file's last piece, which is padded with zero hashes).
///
/// A file no longer than one piece has no piece layer; its root is [`root_from_leaves`].
pub fn piece_hash(leaves: &[[u8; 32]], piece_length: u64) -> [u8; 32] {
    merkle_root(leaves, blocks_per_piece(piece_length), [0; 32])
}

/// A file's piece layer from its leaf hashes: one [`piece_hash`] per `piece_length` bytes.
pub fn piece_layer(leaves: &[[u8; 32]], piece_length: u64) -> Vec<[u8; 32]> {
    leaves
        .chunks(blocks_per_piece(piece_length))
        .map(|piece| piece_hash(piece, piece_length))
        .collect()
}

/// The `pieces root` of a file from its piece layer (as stored under `piece layers`): the layer
/// padded to a power of two with the root of an all-padding piece.
///
/// `piece_length` must be a power of two of at least 16 KiB (BEP 52); other values are rounded
/// up as in [`zero_subtree_hash`].
pub fn root_from_piece_layer(layer: &[[u8; 32]], piece_length: u64) -> [u8; 32] {
    let pad = zero_subtree_hash(blocks_per_piece(piece_length));
    merkle_root(layer, layer.len().next_power_of_two(), pad)
}

/// The part of a file's merkle tree from its piece layer up to its root, with BEP 52's
/// padding: what a peer that has a file's piece layer (but not its 16 KiB leaf hashes) can
/// answer BEP 52 hash requests from.
///
/// Layers are numbered as BEP 52's `base layer` numbers them: 0 is the leaf layer (one hash
/// per 16 KiB block), the piece layer is `log2(piece_length / 16 KiB)`, and the root is the
/// only node of layer [`PieceTree::num_layers`]. Layer `l` of the padded tree has
/// `2^(num_layers - l)` nodes; those past the file's data are padding
/// ([`zero_subtree_hash`] of the leaves they cover), never stored.
///
/// Holds about twice the piece layer (each layer above is half the one below).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PieceTree {
    /// BEP 52 layer number of the piece layer.
    piece_layer: u32,
    /// `layers[k]`: the stored (non-padding) nodes of layer `piece_layer + k`, left to right;
    /// the last layer holds the root alone. Never empty, and no layer is empty.
    layers: Vec<Vec<[u8; 32]>>,
    /// `pads[k]`: the hash of an all-padding node of layer `piece_layer + k`.
    pads: Vec<[u8; 32]>,
}

impl PieceTree {
    /// The tree above a file's piece layer (as stored under `piece layers`, one hash per
    /// piece). `None` for an empty layer. A file of one piece has no piece layer in a torrent;
    /// given its root as a layer of one, the tree is that root alone.
    ///
    /// `piece_length` must be a power of two of at least 16 KiB (BEP 52); other values are
    /// rounded up as in [`root_from_piece_layer`], whose result [`PieceTree::root`] equals.
    pub fn from_piece_layer(layer: &[[u8; 32]], piece_length: u64) -> Option<Self> {
        if layer.is_empty() {
            return None;
        }
        let blocks = blocks_per_piece(piece_length).next_power_of_two();
        let mut pad = zero_subtree_hash(blocks);
        let mut layers = vec![layer.to_vec()];
        let mut pads = vec![pad];
        let mut width = layer.len().next_power_of_two();
        while width > 1 {
            let below = layers.last().map_or(&[][..], Vec::as_slice);
            let next: Vec<[u8; 32]> = below
                .chunks(2)
                .map(|pair| hash_pair(&pair[0], pair.get(1).unwrap_or(&pad)))
                .collect();
            pad = hash_pair(&pad, &pad);
            layers.push(next);
            pads.push(pad);
            width /= 2;
        }
        Some(Self {
            piece_layer: blocks.trailing_zeros(),
            layers,
            pads,
        })
    }

    /// The file's `pieces root`.
    pub fn root(&self) -> [u8; 32] {
        // `from_piece_layer` never builds an empty layer.
        self.layers
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// BEP 52 layer number of the piece layer: `log2(piece_length / 16 KiB)`.
    pub fn piece_layer(&self) -> u32 {
        self.piece_layer
    }

    /// The layer of the root: the number of layers above the leaves in the file's padded tree
    /// (`log2` of its padded leaf count).
    pub fn num_layers(&self) -> u32 {
        // At most 64 layers above the piece layer (widths are `usize`).
        self.piece_layer + (self.layers.len() as u32 - 1)
    }

    /// The piece layer, without padding.
    pub fn pieces(&self) -> &[[u8; 32]] {
        &self.layers[0]
    }

    /// Nodes in `layer` of the padded tree (padding included); `None` below the piece layer
    /// or above the root.
    pub fn width(&self, layer: u32) -> Option<u64> {
        let k = layer.checked_sub(self.piece_layer)?;
        let height = self.num_layers() - self.piece_layer;
        (k <= height).then(|| 1u64 << (height - k))
    }

    /// Node `index` of `layer` (a padding node past the file's data); `None` below the piece
    /// layer, above the root, or past the layer's width.
    pub fn node(&self, layer: u32, index: u64) -> Option<[u8; 32]> {
        if index >= self.width(layer)? {
            return None;
        }
        let k = (layer - self.piece_layer) as usize;
        let stored = usize::try_from(index)
            .ok()
            .and_then(|i| self.layers[k].get(i));
        Some(stored.copied().unwrap_or(self.pads[k]))
    }
}

/// The root reached from a node by hashing it with its uncles (its sibling, then its
/// parent's sibling, and so on): `index` is the node's position in its layer, whose low bit
/// says on which side each uncle goes.
///
/// With as many uncles as the node is layers below the root, the result is the root; a proof
/// checks out if it equals the known one.
pub fn root_from_uncles(node: [u8; 32], index: u64, uncles: &[[u8; 32]]) -> [u8; 32] {
    let mut hash = node;
    let mut index = index;
    for uncle in uncles {
        hash = if index.is_multiple_of(2) {
            hash_pair(&hash, uncle)
        } else {
            hash_pair(uncle, &hash)
        };
        index /= 2;
    }
    hash
}

/// Leaves per piece; at least 1.
fn blocks_per_piece(piece_length: u64) -> usize {
    usize::try_from(piece_length / BLOCK_SIZE)
        .unwrap_or(usize::MAX)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256;

    /// The obvious definition: materialise every padding leaf, then halve.
    fn naive_root(hashes: &[[u8; 32]], pad_to: usize, pad_hash: [u8; 32]) -> [u8; 32] {
        let width = pad_to.max(hashes.len()).max(1).next_power_of_two();
        let mut layer = hashes.to_vec();
        layer.resize(width, pad_hash);
        while layer.len() > 1 {
            layer = layer.chunks(2).map(|p| hash_pair(&p[0], &p[1])).collect();
        }
        layer[0]
    }

    fn leaf(i: usize) -> [u8; 32] {
        sha256(&i.to_le_bytes())
    }

    #[test]
    fn merkle_root_matches_naive_for_all_small_shapes() {
        for n in 0..=33 {
            let hashes: Vec<_> = (0..n).map(leaf).collect();
            for pad_to in [0, 1, 2, 3, 4, 8, 16, 64] {
                for pad in [[0u8; 32], [7u8; 32]] {
                    assert_eq!(
                        merkle_root(&hashes, pad_to, pad),
                        naive_root(&hashes, pad_to, pad),
                        "n={n} pad_to={pad_to}"
                    );
                }
            }
        }
    }

    #[test]
    fn zero_subtree_is_all_zero_leaves() {
        for leaves in [1usize, 2, 4, 64, 1024] {
            assert_eq!(zero_subtree_hash(leaves), naive_root(&[], leaves, [0; 32]));
        }
        // BEP 52 pads with zero hashes, not with the hash of a zero block.
        assert_eq!(zero_subtree_hash(1), [0; 32]);
        assert_ne!(
            zero_subtree_hash(2),
            hash_pair(&sha256(&[0; 16384]), &sha256(&[0; 16384]))
        );
    }

    #[test]
    fn root_from_piece_layer_equals_root_from_leaves() {
        // Files longer than one piece: rebuilding from the piece layer must give the same root
        // as hashing all the leaves directly.
        for piece_length in [16384u64, 32768, 65536, 262_144] {
            let bpp = (piece_length / BLOCK_SIZE) as usize;
            for n in (bpp + 1)..(bpp * 5 + 2) {
                let leaves: Vec<_> = (0..n).map(leaf).collect();
                let layer = piece_layer(&leaves, piece_length);
                assert_eq!(layer.len(), n.div_ceil(bpp));
                assert_eq!(
                    root_from_piece_layer(&layer, piece_length),
                    root_from_leaves(&leaves),
                    "piece_length={piece_length} leaves={n}"
                );
            }
        }
    }

    #[test]
    fn piece_tree_nodes_match_a_materialised_tree() {
        // Every shape of a few pieces, at three piece sizes: each node of the tree built from
        // the piece layer equals the node of the full leaf tree (padding materialised).
        for piece_length in [16384u64, 32768, 131_072] {
            let bpp = (piece_length / BLOCK_SIZE) as usize;
            for n in (bpp + 1)..(bpp * 9 + 2) {
                let leaves: Vec<_> = (0..n).map(leaf).collect();
                let mut layer = leaves.clone();
                layer.resize(n.next_power_of_two(), [0; 32]);
                let mut full = vec![layer];
                while full[full.len() - 1].len() > 1 {
                    let below = &full[full.len() - 1];
                    let next = below.chunks(2).map(|p| hash_pair(&p[0], &p[1])).collect();
                    full.push(next);
                }
                let pieces = piece_layer(&leaves, piece_length);
                let tree = PieceTree::from_piece_layer(&pieces, piece_length).unwrap();
                assert_eq!(tree.root(), root_from_leaves(&leaves));
                assert_eq!(tree.num_layers() as usize, full.len() - 1);
                assert_eq!(tree.piece_layer(), bpp.trailing_zeros());
                assert_eq!(tree.pieces(), &pieces[..]);
                for (l, nodes) in full.iter().enumerate() {
                    let l = l as u32;
                    if l < tree.piece_layer() {
                        assert_eq!(tree.node(l, 0), None);
                        continue;
                    }
                    assert_eq!(tree.width(l), Some(nodes.len() as u64));
                    for (i, node) in nodes.iter().enumerate() {
                        assert_eq!(tree.node(l, i as u64), Some(*node), "l={l} i={i} n={n}");
                    }
                    assert_eq!(tree.node(l, nodes.len() as u64), None);
                }
                assert_eq!(tree.width(tree.num_layers() + 1), None);
            }
        }
        assert_eq!(PieceTree::from_piece_layer(&[], 16384), None);
    }

    #[test]
    fn every_node_proves_to_the_root_with_its_uncles() {
        let leaves: Vec<_> = (0..37).map(leaf).collect();
        let tree = PieceTree::from_piece_layer(&piece_layer(&leaves, 32768), 32768).unwrap();
        let top = tree.num_layers();
        for l in tree.piece_layer()..=top {
            for i in 0..tree.width(l).unwrap() {
                let uncles: Vec<_> = (l..top)
                    .map(|u| tree.node(u, (i >> (u - l)) ^ 1).unwrap())
                    .collect();
                let node = tree.node(l, i).unwrap();
                assert_eq!(root_from_uncles(node, i, &uncles), tree.root());
                // A wrong node, or its uncles on the wrong side, does not.
                let mut bad = node;
                bad[0] ^= 1;
                assert_ne!(root_from_uncles(bad, i, &uncles), tree.root());
                if uncles.first().is_some_and(|u| *u != node) {
                    assert_ne!(root_from_uncles(node, i ^ 1, &uncles), tree.root());
                }
            }
        }
    }

    #[test]
    fn vector_zero_filled_64k_file() {
        // libtorrent's test_torrents/v2.torrent describes a 64 KiB file of zeros ("test64K"), and
        // v2_multipiece_file.torrent a 1 MiB one ("test1MB") with 64 KiB pieces; their pieces
        // roots are these.
        let block = sha256(&[0u8; 16384]);
        let root64k = root_from_leaves(&[block; 4]);
        assert_eq!(
            crate::hash::encode_hex(&root64k),
            "60aae9c7b428f87e0713e88229e18f0adf12cd7b22a0dd8a92bb2485eb7af242"
        );
        let layer = piece_layer(&[block; 64], 65536);
        assert_eq!(layer, vec![root64k; 16]);
        assert_eq!(
            crate::hash::encode_hex(&root_from_piece_layer(&layer, 65536)),
            "515ea9181744b817744ded9d2e8e9dc6a8450c0b0c52e24b5077f302ffbd9008"
        );
    }
}
