#![doc = include_str!("../README.md")]

mod config;
mod engine;
pub mod metadata;

pub use config::Config;
pub use engine::{Action, AnnounceEvent, Event, Refused, Swarm};
pub use metadata::MetadataFetch;
pub use piece_picker::PeerKey;
