#![doc = include_str!("../README.md")]

mod config;
mod engine;

pub use config::Config;
pub use engine::{Action, AnnounceEvent, Event, Refused, Swarm};
pub use piece_picker::PeerKey;
