#![doc = include_str!("../README.md")]

mod machine;
pub mod rank;
mod rng;
pub mod super_seed;

pub use machine::{Action, Choker, Config, Rates, Totals};
pub use rank::{PeerView, Policy, SeedMode, Slots, compare, rank, slot_count};
pub use super_seed::SuperSeed;
pub use torrent_format::layout::PieceIndex;

/// The caller's name for a peer connection: any `u32` it likes, unique among the peers it has
/// added and not removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u32);

impl std::fmt::Display for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer {}", self.0)
    }
}

/// A command the choker or the super-seeder cannot carry out: a bug in the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// `add_peer` with a key already in use.
    #[error("{0} is already added")]
    DuplicatePeer(PeerKey),
    /// A command for a key never added, or removed.
    #[error("{0} is unknown")]
    UnknownPeer(PeerKey),
}
