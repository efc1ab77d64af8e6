//! What a [`MetadataFetch`] tells: its events, why a peer is of no use, why it gave up.

use bytes::Bytes;
use piece_picker::PeerKey;

#[cfg(doc)]
use super::{Config, MetadataFetch};

/// Something that happened, for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The info dictionary, exactly as hashed: its SHA-1 is the v1 info-hash and its SHA-256
    /// the v2 one (whichever were given). The fetch is over.
    Done(Bytes),
    /// A peer cannot give us the dictionary; the fetch has forgotten it (the driver may close
    /// the connection).
    Unusable {
        /// The peer.
        peer: PeerKey,
        /// Why.
        reason: Unusable,
    },
    /// An assembled dictionary did not hash to the info-hash: it was discarded, and these
    /// peers, which sent pieces of it, got a strike (they are asked again only when no peer
    /// with fewer strikes is left). Nobody is banned: at least one of them lied.
    HashMismatch {
        /// The peers that sent pieces of it, in key order.
        contributors: Vec<PeerKey>,
    },
    /// The fetch gave up. It is over.
    Failed {
        /// Why.
        reason: Failure,
    },
}

/// Why a peer cannot give us the dictionary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unusable {
    /// Its extended handshake does not offer ut_metadata.
    NoMetadataExtension,
    /// It announced (or sent pieces of) a dictionary over [`Config::max_size`].
    TooLarge {
        /// The size it gave.
        size: u32,
    },
}

/// Why a fetch gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// No peer offered the dictionary (none came, or none speaks ut_metadata).
    #[error("no peer offered the metadata")]
    NoPeers,
    /// The only peers that offered it announced a dictionary over the limit.
    #[error("peers announced metadata of {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The largest size announced.
        size: u32,
        /// [`Config::max_size`].
        limit: u32,
    },
    /// [`Config::timeout`] passed first.
    #[error("timed out with {received} of {total} metadata pieces")]
    TimedOut {
        /// Pieces of the current attempt received.
        received: u32,
        /// Pieces in it (0: no size known yet).
        total: u32,
    },
    /// The application gave up ([`MetadataFetch::give_up`]).
    #[error("gave up with {received} of {total} metadata pieces")]
    GaveUp {
        /// Pieces of the current attempt received.
        received: u32,
        /// Pieces in it (0: no size known yet).
        total: u32,
    },
    /// [`Config::max_hash_failures`] dictionaries did not hash to the info-hash.
    #[error("{attempts} assembled dictionaries did not match the info-hash")]
    HashMismatches {
        /// How many.
        attempts: u32,
    },
}

/// A command the fetch cannot carry out: a bug in the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// Neither a v1 nor a v2 info-hash: nothing to verify against.
    #[error("no info-hash to verify the metadata against")]
    NoInfoHash,
}
