#![doc = include_str!("../README.md")]

pub mod bitfield;
pub mod extended;
pub mod fast;
pub mod handshake;
pub mod message;
pub mod mse;
pub mod session;

pub use bitfield::Bitfield;
pub use handshake::{Handshake, Reserved};
pub use message::{HashRequest, Limits, Message};
pub use session::{
    CloseReason, Config, Event, Geometry, LocalPieces, Outgoing, ProtocolViolation, Session,
    UsageError,
};
pub use torrent_format::layout::PieceIndex;

/// "Need more bytes" is a status, not an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// Decoded.
    Complete(T),
    /// The input ends inside the item; call again with more bytes.
    Partial,
}

/// A block of a piece: what `request`, `cancel` and `reject` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    /// The piece.
    pub piece: PieceIndex,
    /// Byte offset in the piece.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

/// The 20 bytes that name a swarm in the handshake: a v1 info-hash, or a v2 info-hash truncated
/// to 20 bytes (BEP 52).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl From<torrent_format::InfoHashV1> for InfoHash {
    fn from(h: torrent_format::InfoHashV1) -> Self {
        Self(h.0)
    }
}

impl From<&torrent_format::InfoHashV2> for InfoHash {
    fn from(h: &torrent_format::InfoHashV2) -> Self {
        Self(h.truncated())
    }
}

/// A peer's 20-byte id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

/// Malformed bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first bytes are not `\x13BitTorrent protocol`.
    #[error("not a BitTorrent handshake")]
    NotBitTorrent,
    /// A length prefix over [`Limits::max_message_len`].
    #[error("message of {len} bytes is over the limit of {limit}")]
    MessageTooLong {
        /// The prefix.
        len: u32,
        /// The limit.
        limit: u32,
    },
    /// A payload whose length does not fit its message id.
    #[error("message id {id} with a payload of {len} bytes")]
    WrongLength {
        /// Message id.
        id: u8,
        /// Payload length (after the id).
        len: usize,
    },
    /// An extended message whose payload is not what its extension defines.
    #[error("malformed {extension} payload: {what}")]
    Extension {
        /// Which extension (`handshake`, `ut_metadata`, `ut_pex`, `lt_donthave`).
        extension: &'static str,
        /// What is wrong.
        what: &'static str,
    },
}
