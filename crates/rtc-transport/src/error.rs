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
    /// [`crate::IcePolicy::Relay`] with no relay candidate: gathering allocated nothing (a TURN
    /// server refused the credential or did not answer; see [`crate::Gathered::failures`]).
    #[error("relay-only policy but no relay candidate was gathered")]
    NoRelayCandidate,
}

/// Why an ICE server's URL or entry was refused ([`crate::IceServer`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IceServerError {
    /// Not `scheme:...`, an unknown query, or longer than 1 KiB.
    #[error("{url:?} is not a stun: or turn: URL")]
    BadUrl {
        /// The URL as given.
        url: String,
    },
    /// A scheme other than `stun`, `turn`, `stuns` and `turns`.
    #[error("{url:?}: unknown scheme (stun: and turn: are supported)")]
    UnknownScheme {
        /// The URL as given.
        url: String,
    },
    /// `stuns:` or `turns:`: TLS to the server is not supported, only UDP.
    #[error("{url:?}: stuns:/turns: (TLS) is not supported, only UDP")]
    TlsUnsupported {
        /// The URL as given.
        url: String,
    },
    /// `?transport=tcp`: only UDP to the server is supported.
    #[error("{url:?}: transport=tcp is not supported, only udp")]
    TcpUnsupported {
        /// The URL as given.
        url: String,
    },
    /// A missing or malformed host.
    #[error("{url:?}: bad host")]
    BadHost {
        /// The URL as given.
        url: String,
    },
    /// A port that is not 1..=65535.
    #[error("{url:?}: bad port")]
    BadPort {
        /// The URL as given.
        url: String,
    },
    /// A `turn:` URL in an entry without a username or credential.
    #[error("{url:?}: a TURN server needs a username and a credential")]
    MissingCredential {
        /// The URL as given.
        url: String,
    },
    /// The caller's resolver found no address for the host.
    #[error("{url:?}: the host resolved to no address")]
    Unresolved {
        /// The URL as given.
        url: String,
    },
}

/// Something that went wrong inside the WebRTC stack while building a peer (certificate
/// generation, a description it made itself); its words. Or a panic inside the stack, caught
/// (`"panicked: …"`), which remote input can cause: see
/// [`CloseReason::StackPanic`].
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
    /// The WebRTC stack panicked (a bug in it, which a remote can reach: rtc-datachannel 0.21.1
    /// on a short DCEP message of type 0x00). The peer caught the panic and dropped the peer
    /// connection unused, so nothing more is sent to the remote (TURN allocations are still
    /// given back).
    StackPanic,
}
