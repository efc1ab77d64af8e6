#![doc = include_str!("../README.md")]

mod bookkeeping;
mod buckets;
mod downloads;
mod files;
#[cfg(any(test, fuzzing, feature = "check-invariants"))]
mod invariants;
mod pick;
mod picker;
mod util;

#[cfg(test)]
mod tests;

pub use files::piece_priorities;
pub use peer_wire::{Bitfield, BlockRef, Geometry, PieceIndex};
pub use picker::Picker;

/// Bytes per block: what we request at a time, except for the short last block of a piece.
/// BEP 3: "All current implementations use 2^14 (16 kiB), and close connections which request
/// an amount greater than that."
pub const BLOCK_LEN: u32 = 16 * 1024;

/// A peer, as the caller names it. The picker never interprets it; keys are reusable after
/// [`Picker::peer_left`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u32);

/// How much a piece is wanted: 0 skips it, 1 is lowest, 7 highest (libtorrent's scale, where 4
/// is the default). A higher priority is always picked before a lower one, whatever the
/// availability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(u8);

impl Priority {
    /// Never downloaded.
    pub const SKIP: Self = Self(0);
    /// The lowest priority that is still downloaded.
    pub const LOW: Self = Self(1);
    /// The default.
    pub const NORMAL: Self = Self(4);
    /// The highest.
    pub const HIGH: Self = Self(7);

    /// `level` if it is at most 7.
    pub const fn new(level: u8) -> Option<Self> {
        if level <= 7 { Some(Self(level)) } else { None }
    }

    /// The level, 0 to 7.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Self::NORMAL
    }
}

/// Settings of a [`Picker`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Seed of the random tie-breaking (quinn's `rng_seed`): the same seed and the same calls
    /// give the same picks.
    pub rng_seed: u64,
    /// Until this many pieces are verified, new pieces are picked at random instead of rarest
    /// first: a rare piece is slow to get (few peers have it), and the first pieces are what a
    /// newcomer trades with. libtorrent's `initial_picker_threshold` is 4.
    pub initial_random_pieces: u32,
    /// Whether to request blocks already in flight once every block we want is requested.
    pub endgame: bool,
    /// In endgame, the most peers one block is requested from at a time (2: one duplicate).
    pub endgame_max_requesters: u16,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            rng_seed: 0x5eed,
            initial_random_pieces: 4,
            endgame: true,
            endgame_max_requesters: 2,
        }
    }
}

/// What [`Picker::pick`] may choose from, besides the peer's pieces.
#[derive(Clone, Copy, Debug, Default)]
pub struct PickOptions<'a> {
    /// `Some(set)` when the peer chokes us: only these pieces, the allowed-fast set it sent
    /// (BEP 6: pieces it serves even while it chokes us), are requested.
    pub choked_with_allowed_fast: Option<&'a [PieceIndex]>,
}

/// What a block's arrival means, from [`Picker::block_received`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Received {
    /// Whether the bytes are new: `false` for a duplicate (endgame, or a block that crossed a
    /// cancel) or a block of a piece already verified, whose bytes must not be written.
    pub write: bool,
    /// Other peers this block was also requested from: send each a `cancel` (endgame).
    pub cancel: Vec<PeerKey>,
    /// Set when this was the piece's last missing block: hash it, then report
    /// [`Picker::piece_verified`] or [`Picker::piece_failed`].
    pub piece_complete: Option<PieceIndex>,
}

/// Where one block is, from [`Picker::block_state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockState {
    /// Nobody has been asked for it.
    Free,
    /// Asked of this many peers (more than one only in endgame); see [`Picker::requesters`].
    Requested(u16),
    /// Its bytes arrived; the piece is not verified yet.
    Received,
    /// Part of a verified piece.
    Verified,
}

/// The caller broke the picker's contract. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A geometry whose pieces are not all non-empty, or whose last piece is longer than the
    /// others.
    #[error("invalid geometry: {0:?}")]
    Geometry(Geometry),
    /// A peer key that did not join, or already left.
    #[error("unknown peer {0:?}")]
    UnknownPeer(PeerKey),
    /// [`Picker::peer_joined`] or [`Picker::peer_has_all`] for a peer already there.
    #[error("peer {0:?} already joined")]
    PeerExists(PeerKey),
    /// A piece index past the end.
    #[error("piece {} out of range", .0.0)]
    PieceOutOfRange(PieceIndex),
    /// A block that is not one of this torrent's 16 KiB blocks.
    #[error("not a block of this torrent: {0:?}")]
    NotABlock(BlockRef),
    /// A bitfield for a torrent of another size.
    #[error("bitfield of {len} pieces, the torrent has {expected}")]
    BitfieldLength {
        /// The bitfield's piece count.
        len: u32,
        /// The torrent's.
        expected: u32,
    },
    /// [`Picker::peer_left`] with a bitfield whose piece count is not the number of pieces
    /// the picker counted for that peer.
    #[error("peer {peer:?} announced {counted} pieces, its bitfield has {given}")]
    BitfieldMismatch {
        /// The peer.
        peer: PeerKey,
        /// Pieces counted through `peer_joined` and `peer_have`.
        counted: u32,
        /// Pieces in the bitfield given.
        given: u32,
    },
    /// [`Picker::peer_dont_have`] for a piece the peer was never counted for.
    #[error("peer {peer:?} did not have piece {}", .piece.0)]
    NotAnnounced {
        /// The peer.
        peer: PeerKey,
        /// The piece.
        piece: PieceIndex,
    },
    /// [`Picker::piece_failed`] for a piece whose blocks have not all arrived.
    #[error("piece {} is not complete", .0.0)]
    PieceNotComplete(PieceIndex),
    /// [`Picker::set_piece_priorities`] with a slice that is not one per piece.
    #[error("{len} priorities for {expected} pieces")]
    PriorityCount {
        /// Priorities given.
        len: usize,
        /// Pieces.
        expected: u32,
    },
}
