#![doc = include_str!("../README.md")]

pub mod bencode;
#[cfg(feature = "fs")]
pub mod create;
pub mod hash;
pub mod layout;
pub mod magnet;
pub mod merkle;
pub mod metainfo;
mod path;
#[cfg(feature = "fs")]
pub mod verify;

pub use hash::{InfoHashV1, InfoHashV2, InfoHashes};
pub use magnet::Magnet;
pub use metainfo::{FileEntry, Metainfo, MetainfoError};
