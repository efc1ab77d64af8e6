#![doc = include_str!("../README.md")]

mod config;
mod engine;
mod late;
pub mod metadata;
pub mod piece_layers;

pub use config::Config;
pub use engine::{Action, AnnounceEvent, Event, Refused, Swarm};
pub use metadata::MetadataFetch;
pub use piece_layers::{PieceLayers, PieceLayersFetch};
pub use piece_picker::PeerKey;
