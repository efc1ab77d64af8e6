#![doc = include_str!("../README.md")]

pub mod framer;
pub mod sdp;

pub mod ice;

mod error;
mod gather;
mod peer;
mod relay;
mod stack;

pub use error::{
    CloseReason, Error, IceServerError, ProtocolViolation, SdpError, StackError, UsageError,
};
pub use gather::{FailureReason, GatherConfig, Gathered, Gatherer, ServerFailure};
pub use ice::{Candidate, CandidateKind, IcePolicy, IceServer, ResolvedServer, ServerUrl};
pub use peer::{Config, Event, Peer, Role, State, Transmit};
