//! Errors at the crate boundary, in the house's three kinds: malformed input ([`SdpError`]),
//! well-formed input that is illegal here ([`ProtocolViolation`], surfaced once as
//! [`crate::Event::Closed`]), caller bugs ([`UsageError`]).

use std::net::SocketAddr;

/// Why a remote SDP was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// Longer than [`crate::sdp::MAX_SDP_LEN`].
    #[error("SDP of {len} bytes is longer than the limit")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// Does not start with `v=0`.
    #[error("not an SDP description (no `v=0` first line)")]
    NotSdp,
    /// Has no `m=application … UDP/DTLS/SCTP webrtc-datachannel` section.
    #[error("the SDP offers no data channel")]
    NoDataChannel,
    /// An `a=max-message-size` whose value is not a decimal number.
    #[error("bad a=max-message-size on line {line}")]
    BadMaxMessageSize {
        /// 1-based line number.
        line: usize,
    },
    /// An `a=setup` whose value is none of RFC 8842's four.
    #[error("bad a=setup on line {line}")]
    BadSetup {
        /// 1-based line number.
        line: usize,
    },
    /// An answer that leaves the DTLS role open (`a=setup:actpass` or `holdconn`): RFC 8842
    /// §5.3 wants `active` or `passive`. An offer given where the answer belongs looks so.
    #[error("the answer does not choose a DTLS role (a=setup)")]
    AnswerWithoutRole,
    /// The WebRTC stack refused it (its own parse or its negotiation rules); its words.
    #[error("the WebRTC stack refused the SDP: {0}")]
    Refused(String),
}

/// A caller bug: a command that cannot be carried out in this state or with these arguments.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// A peer needs at least one local candidate to be reachable.
    #[error("no local candidate given")]
    NoCandidates,
    /// A candidate address no peer can send to (unspecified address or port 0).
    #[error("{0} cannot be a candidate")]
    BadCandidate(SocketAddr),
    /// `accept_answer` on an answerer, or a second time.
    #[error("not an offerer waiting for an answer")]
    NotAwaitingAnswer,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

/// Something that went wrong inside the WebRTC stack while building a peer (certificate
/// generation, a description it made itself); its words. Not caused by remote input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("WebRTC stack: {0}")]
pub struct StackError(pub String);

/// What [`crate::Peer`]'s constructors and [`crate::Peer::accept_answer`] can fail with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The remote SDP was refused.
    #[error(transparent)]
    Sdp(#[from] SdpError),
    /// A caller bug.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The stack failed on its own.
    #[error(transparent)]
    Stack(#[from] StackError),
}

/// Well-formed but illegal input from the remote; it closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// A text (string) message: the BitTorrent stream is binary only.
    #[error("text message on the BitTorrent channel")]
    TextMessage,
    /// The remote opened its channel unordered or partially reliable: the byte stream would
    /// arrive reordered or with holes.
    #[error("the remote's data channel is not reliable and ordered")]
    UnreliableChannel,
    /// A message longer than the `max-message-size` we advertised.
    #[error("message of {len} bytes is over our max-message-size")]
    MessageTooLarge {
        /// Its length in bytes.
        len: usize,
    },
}

/// Why a connection closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// [`crate::Peer::close`] was called.
    Local,
    /// The remote closed the channel or the connection.
    Remote,
    /// ICE found no path or lost it, or DTLS or SCTP failed.
    Failed,
    /// The remote broke a rule.
    Violation(ProtocolViolation),
}
