#![doc = include_str!("../README.md")]

pub mod framer;
pub mod sdp;

mod error;
mod peer;

pub use error::{CloseReason, Error, ProtocolViolation, SdpError, StackError, UsageError};
pub use peer::{Config, Event, Peer, Role, State, Transmit};
