//! BEP 52 hash requests: which hashes of a file's merkle tree a request names, the answer a
//! peer with the tree gives, and the check of an answer against the file's `pieces root`.
//!
//! BEP 52: "The base layer defines the lowest requested layer of the hash tree. It is the
//! number of layers above the leaf layer that the hash list should start at. [...] Index MUST
//! be a multiple of length, this includes zero. Length MUST be equal-to-or-greater-than two
//! and a power of two unless it gets truncated by the end of the layer. Length SHOULD NOT be
//! greater than 512. Proof layers is the number of ancestor layers to include."
//!
//! And of the answer: "Hashes starts with the base layer and ends with the uncle hash closest
//! to the root. A proof layer is omitted if the requested hashes include the entire child
//! layer. In other words, the first log2(length)-1 proof layers are omitted."
//!
//! So `length = 2^k` hashes of the base layer are the leaves of a subtree whose root is `k`
//! layers up; its first `k - 1` proof layers can be computed from them, and each further
//! proof layer adds one uncle: the sibling of the subtree's root, then of its parent, and so
//! on. That is `proof_layers - (k - 1)` uncles ([`uncle_count`]), which is what libtorrent
//! 2.0 expects in a `hashes` message (`bt_peer_connection::on_hashes`), for `length = 1` too
//! (libtorrent asks for one hash when one piece is left at the end of a long layer).

use peer_wire::HashRequest;
use torrent_format::merkle::{self, PieceTree};

/// Most hashes of the base layer one request may name. BEP 52: "Length SHOULD NOT be greater
/// than 512"; libtorrent never asks for more at the piece layer, and refuses to take more in
/// one reply there (`hash_picker::add_hashes`). (libtorrent serves up to 8192, for requests of
/// a whole piece's leaf hashes, which we cannot serve: we keep no leaf hashes.)
pub const MAX_REQUEST_LENGTH: u32 = 512;

/// Why a hash request is not answered with hashes (it gets a `hash reject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unanswerable {
    /// No file of the torrent has this `pieces root` with a piece layer (a file of one piece,
    /// another torrent's file, or a v1 torrent).
    #[error("no piece layer for this pieces root")]
    UnknownRoot,
    /// The base layer is below the piece layer: we keep no leaf hashes (BEP 52 lets a client
    /// answer only what it has).
    #[error("base layer below the piece layer")]
    BelowPieceLayer,
    /// Length 0, not a power of two, or over [`MAX_REQUEST_LENGTH`].
    #[error("length {0} is not a power of two of at most 512")]
    BadLength(u32),
    /// The index is not a multiple of the length (BEP 52: "Index MUST be a multiple of
    /// length").
    #[error("index is not a multiple of the length")]
    Misaligned,
    /// The base layer is the root's or above, or the hashes run past the end of their layer.
    #[error("hashes outside the file's tree")]
    OutOfRange,
    /// More proof layers than there are layers between the base layer and the root.
    #[error("more proof layers than the tree has")]
    TooManyProofLayers,
    /// The peer has not read our earlier answers yet.
    #[error("too many answers queued for this peer")]
    Busy,
}

/// Uncle hashes in the answer to a request of `length` (a power of two) hashes with
/// `proof_layers` proof layers: `proof_layers - (log2(length) - 1)`, at least 0.
pub fn uncle_count(length: u32, proof_layers: u32) -> u32 {
    proof_layers
        .saturating_add(1)
        .saturating_sub(length.trailing_zeros())
}

/// Checks a request against the shape of a file's tree: its root at layer `num_layers`, hashes
/// kept from layer `lowest` up. Returns `log2(length)`.
pub(super) fn check(
    request: &HashRequest,
    num_layers: u32,
    lowest: u32,
) -> Result<u32, Unanswerable> {
    let length = request.length;
    if length == 0 || !length.is_power_of_two() || length > MAX_REQUEST_LENGTH {
        return Err(Unanswerable::BadLength(length));
    }
    // libtorrent refuses the root's layer as a base too (`validate_hash_request`).
    if request.base_layer >= num_layers {
        return Err(Unanswerable::OutOfRange);
    }
    if request.base_layer < lowest {
        return Err(Unanswerable::BelowPieceLayer);
    }
    let height = num_layers - request.base_layer;
    let width = 1u64.checked_shl(height).ok_or(Unanswerable::OutOfRange)?;
    if !request.index.is_multiple_of(length) {
        return Err(Unanswerable::Misaligned);
    }
    if u64::from(request.index) + u64::from(length) > width {
        return Err(Unanswerable::OutOfRange);
    }
    if request.proof_layers >= height {
        return Err(Unanswerable::TooManyProofLayers);
    }
    Ok(length.trailing_zeros())
}

/// The payload of the `hashes` message answering `request` from `tree`: the base layer's
/// hashes, then the uncles, 32 bytes each.
pub(super) fn answer(tree: &PieceTree, request: &HashRequest) -> Result<Vec<u8>, Unanswerable> {
    let k = check(request, tree.num_layers(), tree.piece_layer())?;
    let base = request.base_layer;
    let index = u64::from(request.index);
    let uncles = uncle_count(request.length, request.proof_layers);
    let mut out = Vec::with_capacity((request.length + uncles) as usize * 32);
    for i in index..index + u64::from(request.length) {
        // `check` kept the range inside the layer.
        out.extend_from_slice(&tree.node(base, i).ok_or(Unanswerable::OutOfRange)?);
    }
    for j in 0..uncles {
        // The sibling of the subtree root's ancestor `j` layers up: below the root, since
        // `base + k + j <= base + proof_layers < num_layers` (checked).
        let up = k + j;
        let sibling = (index >> up) ^ 1;
        out.extend_from_slice(
            &tree
                .node(base + up, sibling)
                .ok_or(Unanswerable::TooManyProofLayers)?,
        );
    }
    Ok(out)
}

/// Why an answer to one of our requests is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadHashes {
    /// Not the number of hashes the request calls for.
    #[error("{got} bytes of hashes, expected {expected}")]
    WrongLength {
        /// Bytes received.
        got: usize,
        /// Bytes the request calls for.
        expected: usize,
    },
    /// The hashes and their uncles do not hash up to the file's root.
    #[error("the hashes do not prove to the file's root")]
    WrongRoot,
}

/// Checks `hashes`, the answer to our `request` for a file whose root is `root` at layer
/// `num_layers`, and returns the base layer's hashes. The request must ask for every proof
/// layer up to the root (`proof_layers = num_layers - base_layer - 1`) and pass [`check`].
pub(super) fn verify(
    root: &[u8; 32],
    num_layers: u32,
    request: &HashRequest,
    hashes: &[u8],
) -> Result<Vec<[u8; 32]>, BadHashes> {
    if !request.length.is_power_of_two() || request.length > MAX_REQUEST_LENGTH {
        // Not a request of ours: nothing to check it against.
        return Err(BadHashes::WrongRoot);
    }
    let length = request.length as usize;
    let uncles = uncle_count(request.length, request.proof_layers);
    // At most 512 + 2^32 hashes: no overflow in u64.
    let expected = (length as u64 + u64::from(uncles)) * 32;
    if hashes.len() as u64 != expected {
        let expected = usize::try_from(expected).unwrap_or(usize::MAX);
        return Err(BadHashes::WrongLength {
            got: hashes.len(),
            expected,
        });
    }
    let all: Vec<[u8; 32]> = hashes
        .chunks_exact(32)
        .map(|h| {
            h.try_into()
                .expect("chunks_exact(32) yields 32-byte chunks")
        })
        .collect();
    let (base, proof) = all.split_at(length);
    // `length` is a power of two: the subtree needs no padding.
    let k = request.length.trailing_zeros();
    let top = u64::from(request.base_layer) + u64::from(k) + u64::from(uncles);
    if top != u64::from(num_layers) {
        // Not a proof up to the root: nothing to check it against.
        return Err(BadHashes::WrongRoot);
    }
    let subtree = merkle::merkle_root(base, length, [0; 32]);
    let index = u64::from(request.index) >> k;
    if merkle::root_from_uncles(subtree, index, proof) != *root {
        return Err(BadHashes::WrongRoot);
    }
    Ok(base.to_vec())
}
