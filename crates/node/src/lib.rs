//! The I/O half of `peercdn`: what the sans-IO protocol crates leave to a runtime — files on
//! disk, sockets, clocks and HTTP. The `peercdn` binary is built on it; its modules are also
//! usable on their own by a program that embeds a peer.

pub mod client;
pub mod conn;
pub mod disk;
pub mod http;
pub mod listen;
pub mod magnet;
pub mod mse_io;
pub mod rate;
pub mod storage;
pub mod torrent;
pub mod tracker_server;
pub mod trackers;
pub mod webseed;
pub mod webserver;
