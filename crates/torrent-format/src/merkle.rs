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
