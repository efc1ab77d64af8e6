//! A deterministic simulated network whose peers are the real [`swarm::Swarm`] engine.
//!
//! Each peer has an upload and a download capacity (bytes per second) and a one-way latency to
//! the network's core. A message leaves through its sender's uplink (first in, first out, at
//! the upload rate), crosses both latencies, and enters through the receiver's downlink (first
//! in, first out, at the download rate). With probability `loss` a message is lost once and
//! retransmitted after a TCP-like timeout (at least 200 ms, or twice the round trip); a
//! connection delivers in order, so everything behind a lost message waits for it, as on TCP.
//!
//! Time is virtual: an event queue jumps from one event to the next, so a run is as fast as the
//! engines can process their messages. Messages travel as `peer_wire` messages (no encoding)
//! and blocks as shared `Bytes` (no copy). Storage is virtual too: every block read is the same
//! zero block and every hash check passes (peers in the simulator are honest).
//!
//! Everything random (tracker answers, loss, the engines' own choices) comes from one seed:
//! the same [`Network`] and the same seed give the same [`Report`], byte for byte.
//!
//! A tracker lives in the core: an announce is answered at once with up to `numwant` random
//! peers that are online.

mod net;
mod report;
mod rng;
pub mod scenarios;

pub use net::{Network, PeerSpec, PieceOrder, Sim};
pub use report::{PeerReport, Report};
