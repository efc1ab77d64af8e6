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
pub mod signaling;
pub mod storage;
pub mod torrent;
pub mod tracker_server;
pub mod trackers;
mod udp;
pub mod webrtc;
pub mod webseed;
pub mod webserver;

/// The clock: the one place the runtime reads it, to hand `now` to the sans-IO state machines
/// (sessions, the swarm, trackers, rate limits).
#[expect(
    clippy::disallowed_methods,
    reason = "the runtime reads the clock and hands it to the sans-IO crates"
)]
pub(crate) fn clock() -> std::time::Instant {
    std::time::Instant::now()
}

/// Locks a mutex, ignoring poisoning: every mutex of this crate guards data that each critical
/// section leaves whole (one insert or removal, one call into a sans-IO state machine), so a
/// panic elsewhere does not make it unusable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
