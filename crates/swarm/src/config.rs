//! Settings of a swarm.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use peer_wire::{Geometry, Handshake, InfoHash, PeerId, Reserved};

use crate::PieceLayers;

/// Settings of one torrent's engine. [`Config::new`] gives libtorrent-like defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Every connection's settings; its handshake (swarm, peer id, reserved bits) and
    /// geometry are the torrent's.
    pub session: peer_wire::Config,
    /// Who gets our upload slots.
    pub choker: choker::Config,
    /// What to request.
    pub picker: piece_picker::Config,
    /// Most open connections (both directions).
    pub max_connections: usize,
    /// Most connection attempts under way at once.
    pub max_connecting: usize,
    /// Each peer is sent enough requests to keep it busy this long at its current rate
    /// (libtorrent's `request_queue_time`, 3 s), and at least [`Config::min_pipeline`].
    pub request_queue_time: Duration,
    /// Fewest requests kept outstanding with an unchoking peer.
    pub min_pipeline: usize,
    /// How often rates and pipelines are updated.
    pub tick: Duration,
    /// A peer that sent blocks of this many pieces that failed their hash check is banned; a
    /// peer that sent every block of a failed piece is banned at once.
    pub ban_strikes: u32,
    /// Time between announces until a tracker says otherwise.
    pub announce_interval: Duration,
    /// A failed connection attempt to an address is retried after this, doubled each time.
    pub reconnect_backoff: Duration,
    /// The info dictionary, to serve ut_metadata (BEP 9) requests; `None` rejects them.
    pub metadata: Option<Bytes>,
    /// The v2 piece layers (BEP 52), to answer hash requests from peers that came by a v2
    /// magnet link ([`PieceLayers::from_metainfo`]); `None` rejects them.
    pub piece_layers: Option<Arc<PieceLayers>>,
    /// Seed of every random choice (choker, picker): the same seed and inputs give the same
    /// actions.
    pub rng_seed: u64,
    /// Download pieces in order (streaming) instead of rarest first.
    pub sequential: bool,
    /// Origin offload: once complete, decline (BEP 6 reject) a request for a piece that at
    /// least this many connected peers already have, so that the requester gets it from
    /// them and our upload goes to the pieces only we can give. `None` serves everything.
    pub origin_max_copies: Option<u32>,
    /// Super-seeding (BEP 16) when the engine starts complete: peers are told we have nothing,
    /// then each is offered a piece that no other peer was offered, and the next only once
    /// that one has spread to another peer; requests for other pieces are refused. For an
    /// origin whose upload is the swarm's scarce resource: each piece leaves it about once.
    /// Peers that do not pass pieces on then wait, so it is off by default.
    pub super_seed: bool,
    /// Peer exchange (BEP 11): how often each peer that supports ut_pex is told which peers
    /// we connected to and dropped since (libtorrent: once a minute), after a first message
    /// two seconds after its extended handshake. Intervals under 15 s count as 15 s
    /// (libtorrent disconnects a peer that sends seven messages within a minute). `None` turns
    /// PEX off both ways, as a private torrent (BEP 27) requires.
    pub pex_interval: Option<Duration>,
}

impl Config {
    /// Defaults for a torrent: 50 connections, 8 attempts at a time, 3 s of requests queued,
    /// four regular upload slots and one optimistic, rarest first.
    pub fn new(info_hash: InfoHash, peer_id: PeerId, geometry: Geometry) -> Self {
        let handshake = Handshake {
            reserved: Reserved::ours(),
            info_hash,
            peer_id,
        };
        let piece_length = geometry.piece_length;
        Self {
            session: peer_wire::Config::new(handshake, geometry),
            choker: choker::Config::new(geometry.num_pieces, piece_length),
            picker: piece_picker::Config::default(),
            max_connections: 50,
            max_connecting: 8,
            request_queue_time: Duration::from_secs(3),
            min_pipeline: 4,
            tick: Duration::from_secs(1),
            ban_strikes: 3,
            announce_interval: Duration::from_secs(1800),
            reconnect_backoff: Duration::from_secs(30),
            metadata: None,
            piece_layers: None,
            rng_seed: 0,
            sequential: false,
            origin_max_copies: None,
            super_seed: false,
            pex_interval: Some(Duration::from_secs(60)),
        }
    }

    /// The torrent's piece sizes.
    pub fn geometry(&self) -> Geometry {
        self.session.geometry
    }

    /// The same settings with every random choice seeded from `seed`.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self.choker.seed = seed ^ 0x00c4_0ce5;
        self.picker.rng_seed = seed ^ 0x0091_c4e5;
        self
    }
}
