#![doc = include_str!("../README.md")]

pub mod bencode;
pub mod create;
pub mod hash;
pub mod magnet;
pub mod merkle;
pub mod metainfo;
mod path;

pub use hash::{InfoHashV1, InfoHashV2, InfoHashes};
pub use magnet::Magnet;
pub use metainfo::{FileEntry, Metainfo, MetainfoError};
