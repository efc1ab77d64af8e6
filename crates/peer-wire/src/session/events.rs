//! What a session tells: its events, and the errors and reasons it ends with.

use bytes::Bytes;

use crate::bitfield::Bitfield;
use crate::extended::{ExtendedHandshake, Metadata, Pex};
use crate::handshake::{Handshake, Reserved};
use crate::message::HashRequest;
use crate::{BlockRef, DecodeError, PieceIndex};

#[cfg(doc)]
use super::{Config, Session};

/// Well-formed but illegal here: the peer breaks the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// The handshake names another swarm.
    #[error("handshake for another torrent")]
    WrongInfoHash,
    /// The handshake carries our own peer id: we connected to ourselves.
    #[error("connected to ourselves")]
    OwnPeerId,
    /// A bitfield of the wrong size.
    #[error("bitfield of {len} bytes, expected {expected}")]
    BitfieldLength {
        /// Received.
        len: usize,
        /// Expected.
        expected: usize,
    },
    /// A bitfield with bits set past the last piece.
    #[error("bitfield has spare bits set")]
    BitfieldSpareBits,
    /// A piece index past the end (have, suggest, allowed fast, lt_donthave).
    #[error("piece {0} out of range")]
    PieceOutOfRange(u32),
    /// A request outside its piece, empty, or over the size limit.
    #[error("invalid request {0:?}")]
    InvalidRequest(BlockRef),
    /// More requests queued than twice what we advertised.
    #[error("too many requests")]
    TooManyRequests,
    /// A block we did not ask for (and did not cancel).
    #[error("unrequested block {0:?}")]
    UnrequestedBlock(BlockRef),
    /// A BEP 6 message without the fast extension.
    #[error("fast-extension message {0} without the fast extension")]
    FastNotNegotiated(u8),
    /// A BEP 10 message without the extension protocol.
    #[error("extended message without the extension protocol")]
    ExtensionsNotNegotiated,
    /// A ut_metadata piece whose `total_size` is over [`Config::max_metadata_size`] or is not
    /// the `metadata_size` of the peer's extended handshake.
    #[error("metadata of {0} bytes: over the limit or not what the peer announced")]
    MetadataSize(u32),
}

/// A command the session cannot carry out: a bug in the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The session is closed.
    #[error("session is closed")]
    Closed,
    /// The handshakes are not done yet.
    #[error("handshake not finished")]
    NotOpen,
    /// The block is not inside the torrent.
    #[error("block outside the torrent")]
    OutOfRange,
    /// The peer chokes us and has not allowed this piece fast.
    #[error("peer chokes us")]
    Choked,
    /// As many requests outstanding as the peer accepts.
    #[error("request queue full")]
    QueueFull,
    /// Already requested.
    #[error("already requested")]
    AlreadyRequested,
    /// The peer did not request this block (or cancelled it, or we choked it since).
    #[error("block not requested by the peer")]
    NotRequested,
    /// The peer did not negotiate what the command needs.
    #[error("peer does not support this")]
    Unsupported,
    /// The session was made by [`Session::without_geometry`]: it knows no pieces.
    #[error("the torrent's pieces are not known yet")]
    NoGeometry,
    /// BEP 52 `hashes` whose length is not a whole number of 32-byte hashes.
    #[error("hashes must be 32 bytes each")]
    NotWholeHashes,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// Malformed bytes.
    #[error("malformed: {0}")]
    Malformed(DecodeError),
    /// The peer broke the protocol.
    #[error("protocol violation: {0}")]
    Violation(ProtocolViolation),
    /// No handshake in time.
    #[error("no handshake in time")]
    HandshakeTimeout,
    /// Nothing received for [`Config::idle_timeout`].
    #[error("peer idle")]
    Idle,
    /// [`Session::close`].
    #[error("closed locally")]
    Local,
}

/// What happened, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer's handshake: same swarm; `common` is what both sides support.
    Handshake {
        /// The peer's handshake.
        peer: Handshake,
        /// Reserved bits both sides set.
        common: Reserved,
    },
    /// The peer's extended handshake (BEP 10).
    ExtendedHandshake(ExtendedHandshake),
    /// What the peer has at the start: its bitfield, have all, have none (an empty bitfield),
    /// or, when its first message is something else, an empty bitfield. Exactly once per
    /// session, before any `Have` or `DontHave`.
    PeerPieces(Bitfield),
    /// The peer has a new piece.
    Have(PieceIndex),
    /// The peer no longer has a piece (BEP 54).
    DontHave(PieceIndex),
    /// The peer chokes us. Without the fast extension every outstanding request is dropped;
    /// they are listed here for the picker.
    Choked {
        /// Requests the choke dropped.
        dropped: Vec<BlockRef>,
    },
    /// The peer unchokes us.
    Unchoked,
    /// The peer is interested in us.
    Interested,
    /// The peer is no longer interested.
    NotInterested,
    /// The peer asks for a block we may serve: answer with [`Session::send_block`] or
    /// [`Session::reject`].
    Request(BlockRef),
    /// The peer cancelled a request still queued.
    Cancel(BlockRef),
    /// A block we asked for.
    Block {
        /// Which.
        block: BlockRef,
        /// The bytes (shared with the receive buffer).
        data: Bytes,
    },
    /// The peer will not serve a request (BEP 6).
    Rejected(BlockRef),
    /// Requests outstanding and no block for [`Config::request_timeout`]: the peer snubs us.
    /// Reported once until a block arrives. The requests stay outstanding here (a late block
    /// is still welcome); `outstanding` lists them so that the picker can ask other peers
    /// too, or [`Session::cancel`] them.
    Snubbed {
        /// Our requests at the time.
        outstanding: Vec<BlockRef>,
    },
    /// The peer suggests a piece (BEP 6).
    Suggest(PieceIndex),
    /// We may request this piece while choked (BEP 6).
    AllowedFast(PieceIndex),
    /// The peer's DHT port (BEP 5).
    Port(u16),
    /// ut_metadata (BEP 9).
    Metadata(Metadata),
    /// ut_pex (BEP 11).
    Pex(Pex),
    /// An extended message under an id we did not announce.
    Extended {
        /// The id.
        id: u8,
        /// The payload.
        payload: Bytes,
    },
    /// BEP 52 messages, for the application.
    HashRequest(HashRequest),
    /// BEP 52.
    Hashes {
        /// What the hashes are.
        request: HashRequest,
        /// The hashes and proof.
        hashes: Bytes,
    },
    /// BEP 52.
    HashReject(HashRequest),
    /// The session is over.
    Closed(CloseReason),
}
