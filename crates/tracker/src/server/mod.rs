//! A tracker's state: the swarm table, keyed by info-hash, that the HTTP ([`crate::http::server`]),
//! UDP ([`crate::udp::server`]) and WebSocket ([`crate::ws::server`]) front ends share.
//!
//! Each swarm holds its peers in two sets that never mix: peers reached by address (HTTP and
//! UDP announces) and peers reached through a WebSocket (WebTorrent); an announce only ever gets
//! peers of its own set. A peer is keyed by its peer id within its set.
//!
//! Invariants (checked by the tests and the `tracker_server_ops` fuzz target):
//! - a swarm's `complete` and `incomplete` are the numbers of its seeders and leechers;
//! - every peer has exactly one entry in the expiry index, at its deadline, and a peer past its
//!   deadline is gone after the next [`SwarmTable::handle_timeout`];
//! - no swarm is empty, there are at most [`Config::max_swarms`] swarms, at most
//!   [`Config::max_peers_per_swarm`] peers in one swarm and [`Config::max_peers`] in all;
//! - an announce never gets the announcing peer back (same peer id, or same endpoint: a client
//!   that restarted with a new peer id), nor more than [`Config::max_numwant`] peers.
//!
//! The table reads no clock: deadlines are computed from the `now` of each call. Peer samples
//! come from a generator seeded by [`Config::rng_seed`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::rng::Rng;
use crate::{Event, Family, InfoHash, PeerId, ScrapeStats};

/// How the table behaves and how large it may grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The `interval` told to HTTP and UDP clients.
    pub interval: Duration,
    /// The `min interval` told to HTTP clients.
    pub min_interval: Duration,
    /// The `interval` told to WebSocket clients (bittorrent-tracker: a fifth of the HTTP one).
    pub ws_interval: Duration,
    /// Peers returned when the announce does not say (`numwant` absent or negative).
    pub default_numwant: u32,
    /// Most peers returned by one announce.
    pub max_numwant: u32,
    /// Most swarms; an announce for a new swarm beyond it is refused.
    pub max_swarms: usize,
    /// Most peers in one swarm; a new peer beyond it gets peers but is not stored.
    pub max_peers_per_swarm: usize,
    /// Most peers in all swarms together; as above beyond it.
    pub max_peers: usize,
    /// Whether a scrape without info-hashes returns every swarm.
    pub full_scrape: bool,
    /// Most info-hashes in one scrape.
    pub max_scrape_hashes: usize,
    /// Seed of the peer sampling.
    pub rng_seed: u64,
}

impl Default for Config {
    /// bittorrent-tracker's intervals (10 min, WebSocket 2 min), one minute's `min interval`,
    /// numwant 50 (at most 200), and room for 100 000 swarms and a million peers (about 100 MB).
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(600),
            min_interval: Duration::from_secs(60),
            ws_interval: Duration::from_secs(120),
            default_numwant: 50,
            max_numwant: 200,
            max_swarms: 100_000,
            max_peers_per_swarm: 50_000,
            max_peers: 1_000_000,
            full_scrape: false,
            max_scrape_hashes: 100,
            rng_seed: 0,
        }
    }
}

/// An opaque id the caller gives each WebSocket connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u64);

/// How a peer is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// At an address, learned from an HTTP or UDP announce.
    Addr(SocketAddr),
    /// Through a WebSocket connection to this tracker (WebTorrent signaling).
    WebSocket(SocketId),
}

impl Endpoint {
    /// Which set of a swarm a peer reached this way belongs to.
    pub fn kind(self) -> Kind {
        match self {
            Self::Addr(_) => Kind::Addr,
            Self::WebSocket(_) => Kind::WebSocket,
        }
    }
}

/// Which set of a swarm a peer is in: peers of one kind are only ever given to peers of the same
/// kind (an HTTP client cannot dial a WebSocket peer, a browser cannot dial an address).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Reached by address (HTTP and UDP announces).
    Addr,
    /// Reached through a WebSocket (WebTorrent).
    WebSocket,
}

/// An announce as the table sees it, whatever the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The announcing peer.
    pub peer_id: PeerId,
    /// Where it is reached (for HTTP and UDP: the packet's source address with the announced
    /// port).
    pub endpoint: Endpoint,
    /// The event.
    pub event: Event,
    /// Bytes it still misses; 0 makes it a seeder. `None` (not said) is a leecher, unless the
    /// event is `completed`.
    pub left: Option<u64>,
    /// Peers wanted; `None` for [`Config::default_numwant`].
    pub numwant: Option<u32>,
    /// Only peers of this family (UDP answers by the family of the packet); `None` for both.
    pub family: Option<Family>,
}

/// A peer of a swarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SwarmPeer {
    /// Its id.
    pub peer_id: PeerId,
    /// Where it is reached.
    pub endpoint: Endpoint,
    /// Whether it is a seeder.
    pub seeder: bool,
}

/// What an announce gets back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceReply {
    /// Seeders in the swarm (after this announce).
    pub complete: u32,
    /// Leechers in the swarm.
    pub incomplete: u32,
    /// Completed downloads counted.
    pub downloaded: u32,
    /// When to announce again.
    pub interval: Duration,
    /// Not more often than this.
    pub min_interval: Duration,
    /// A random sample of other peers of the same kind, at most the numwant asked.
    pub peers: Vec<SwarmPeer>,
    /// Whether the announcing peer is in the table now (false for `stopped`, and for a new peer
    /// beyond the limits).
    pub stored: bool,
}

/// A request the table declines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A new swarm would exceed [`Config::max_swarms`].
    #[error("tracker is full: too many torrents")]
    TooManySwarms,
    /// A scrape without info-hashes while [`Config::full_scrape`] is off.
    #[error("full scrape is disabled")]
    FullScrapeDisabled,
    /// A scrape for more than [`Config::max_scrape_hashes`] swarms.
    #[error("scrape of {0} torrents is over the limit")]
    TooManyHashes(usize),
}

/// The swarm table.
///
/// Methods: (A) getters taking `&self`; (B) [`handle_timeout`](Self::handle_timeout) for the
/// clock; (C) [`announce`](Self::announce), [`scrape`](Self::scrape) and
/// [`remove`](Self::remove) for requests; (D) [`poll_timeout`](Self::poll_timeout) for the next
/// peer expiry.
#[derive(Debug)]
pub struct SwarmTable {
    config: Config,
    swarms: BTreeMap<InfoHash, Swarm>,
    /// One entry per peer: (deadline, serial) → where the peer is.
    expiry: BTreeMap<(Instant, u64), (InfoHash, Kind, PeerId)>,
    next_serial: u64,
    total_peers: usize,
    rng: Rng,
}

impl SwarmTable {
    /// An empty table.
    pub fn new(config: Config) -> Self {
        Self {
            rng: Rng::new(config.rng_seed),
            config,
            swarms: BTreeMap::new(),
            expiry: BTreeMap::new(),
            next_serial: 0,
            total_peers: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many swarms have peers.
    pub fn num_swarms(&self) -> usize {
        self.swarms.len()
    }

    /// How many peers all swarms hold.
    pub fn num_peers(&self) -> usize {
        self.total_peers
    }

    /// A swarm's numbers, if it has peers.
    pub fn stats(&self, info_hash: &InfoHash) -> Option<ScrapeStats> {
        self.swarms.get(info_hash).map(Swarm::stats)
    }

    /// A swarm's peers (address peers first, then WebSocket peers).
    pub fn peers(&self, info_hash: &InfoHash) -> impl Iterator<Item = SwarmPeer> + '_ {
        self.swarms
            .get(info_hash)
            .into_iter()
            .flat_map(|s| s.addr.peers.iter().chain(&s.ws.peers))
            .map(PeerEntry::public)
    }

    /// One peer of a swarm, looked up by id among the peers of one kind.
    pub fn peer(&self, info_hash: &InfoHash, kind: Kind, peer_id: &PeerId) -> Option<SwarmPeer> {
        let swarm = self.swarms.get(info_hash)?;
        let set = match kind {
            Kind::Addr => &swarm.addr,
            Kind::WebSocket => &swarm.ws,
        };
        set.get(peer_id).map(PeerEntry::public)
    }

    /// Handles an announce at `now`: stores, updates or (`stopped`) removes the peer, then
    /// samples peers for it.
    ///
    /// `completed` counts a download once per peer that was not already a seeder. A peer stays
    /// for twice the interval of its kind after its last announce.
    pub fn announce(
        &mut self,
        now: Instant,
        announce: &Announce,
    ) -> Result<AnnounceReply, Refusal> {
        let kind = announce.endpoint.kind();
        let interval = match kind {
            Kind::Addr => self.config.interval,
            Kind::WebSocket => self.config.ws_interval,
        };
        let mut reply = AnnounceReply {
            complete: 0,
            incomplete: 0,
            downloaded: 0,
            interval,
            min_interval: self.config.min_interval.min(interval),
            peers: Vec::new(),
            stored: false,
        };
        if announce.event == Event::Stopped {
            self.remove_where(&announce.info_hash, kind, &announce.peer_id, |_| true);
            if let Some(stats) = self.stats(&announce.info_hash) {
                reply.fill_stats(stats);
            }
            return Ok(reply);
        }
        let exists = self.swarms.contains_key(&announce.info_hash);
        if !exists && self.swarms.len() >= self.config.max_swarms {
            return Err(Refusal::TooManySwarms);
        }
        let deadline = now + interval.saturating_mul(2);
        let seeder = match announce.left {
            Some(left) => left == 0,
            None => announce.event == Event::Completed,
        };
        let completed = announce.event == Event::Completed;
        let swarm = self.swarms.entry(announce.info_hash).or_default();
        let room = swarm.len() < self.config.max_peers_per_swarm
            && self.total_peers < self.config.max_peers;
        let set = swarm.set_mut(kind);
        if let Some(i) = set.position(&announce.peer_id) {
            let peer = &mut set.peers[i];
            let old = (peer.expires, peer.serial);
            let was_seeder = peer.seeder;
            peer.endpoint = announce.endpoint;
            peer.seeder = seeder;
            peer.expires = deadline;
            let entry = self.expiry.remove(&old);
            self.expiry.insert(
                (deadline, old.1),
                entry.unwrap_or((announce.info_hash, kind, announce.peer_id)),
            );
            swarm.count(was_seeder, -1);
            swarm.count(seeder, 1);
            if completed && !was_seeder {
                swarm.downloaded = swarm.downloaded.saturating_add(1);
            }
            reply.stored = true;
        } else if room {
            let serial = self.next_serial;
            self.next_serial += 1;
            set.insert(PeerEntry {
                id: announce.peer_id,
                endpoint: announce.endpoint,
                seeder,
                expires: deadline,
                serial,
            });
            self.expiry.insert(
                (deadline, serial),
                (announce.info_hash, kind, announce.peer_id),
            );
            self.total_peers += 1;
            swarm.count(seeder, 1);
            if completed {
                swarm.downloaded = swarm.downloaded.saturating_add(1);
            }
            reply.stored = true;
        }
        let wanted = announce
            .numwant
            .unwrap_or(self.config.default_numwant)
            .min(self.config.max_numwant) as usize;
        let stats = swarm.stats();
        let set = swarm.set_mut(kind);
        reply.peers = set.sample(wanted, announce, &mut self.rng);
        reply.fill_stats(stats);
        if swarm.len() == 0 {
            // A new swarm whose only announcer was not stored.
            self.swarms.remove(&announce.info_hash);
        }
        Ok(reply)
    }

    /// Numbers for each of `info_hashes` (zeros for an unknown swarm), or for every swarm when
    /// `info_hashes` is empty and [`Config::full_scrape`] allows it.
    pub fn scrape(
        &self,
        info_hashes: &[InfoHash],
    ) -> Result<Vec<(InfoHash, ScrapeStats)>, Refusal> {
        if info_hashes.is_empty() {
            if !self.config.full_scrape {
                return Err(Refusal::FullScrapeDisabled);
            }
            return Ok(self.swarms.iter().map(|(h, s)| (*h, s.stats())).collect());
        }
        if info_hashes.len() > self.config.max_scrape_hashes {
            return Err(Refusal::TooManyHashes(info_hashes.len()));
        }
        Ok(info_hashes
            .iter()
            .map(|h| (*h, self.stats(h).unwrap_or_default()))
            .collect())
    }

    /// Removes a peer reached at `endpoint` (the WebSocket server calls this when a connection
    /// closes); a peer of that id that has since announced from elsewhere stays. Returns whether
    /// a peer was removed.
    pub fn remove(&mut self, info_hash: &InfoHash, peer_id: &PeerId, endpoint: Endpoint) -> bool {
        self.remove_where(info_hash, endpoint.kind(), peer_id, |p| {
            p.endpoint == endpoint
        })
    }

    /// Removes every peer whose deadline is `now` or earlier.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (info_hash, kind, peer_id) = entry.remove();
            self.remove_where(&info_hash, kind, &peer_id, |_| true);
        }
    }

    /// When the next peer expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.expiry.first_key_value().map(|((at, _), _)| *at)
    }

    fn remove_where(
        &mut self,
        info_hash: &InfoHash,
        kind: Kind,
        peer_id: &PeerId,
        filter: impl FnOnce(&PeerEntry) -> bool,
    ) -> bool {
        let Some(swarm) = self.swarms.get_mut(info_hash) else {
            return false;
        };
        let set = swarm.set_mut(kind);
        let Some(i) = set.position(peer_id) else {
            return false;
        };
        if !filter(&set.peers[i]) {
            return false;
        }
        let peer = set.remove_at(i);
        self.expiry.remove(&(peer.expires, peer.serial));
        self.total_peers -= 1;
        swarm.count(peer.seeder, -1);
        if swarm.len() == 0 {
            self.swarms.remove(info_hash);
        }
        true
    }

    /// Checks every invariant of the module docs; panics with the broken one.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn check_invariants(&self) {
        let mut total = 0;
        assert!(
            self.swarms.len() <= self.config.max_swarms,
            "too many swarms"
        );
        for (hash, swarm) in &self.swarms {
            assert!(swarm.len() > 0, "empty swarm {hash:?}");
            assert!(
                swarm.len() <= self.config.max_peers_per_swarm,
                "swarm over its limit"
            );
            let seeders = swarm.peers().filter(|p| p.seeder).count();
            assert_eq!(swarm.seeders as usize, seeders, "seeder count");
            assert_eq!(
                swarm.leechers as usize,
                swarm.len() - seeders,
                "leecher count"
            );
            for (kind, set) in [(Kind::Addr, &swarm.addr), (Kind::WebSocket, &swarm.ws)] {
                assert_eq!(set.index.len(), set.peers.len(), "index size");
                for (i, p) in set.peers.iter().enumerate() {
                    assert_eq!(set.index.get(&p.id), Some(&i), "index entry");
                    assert_eq!(p.endpoint.kind(), kind, "peer in the wrong set");
                    assert_eq!(
                        self.expiry.get(&(p.expires, p.serial)),
                        Some(&(*hash, kind, p.id)),
                        "expiry entry"
                    );
                }
            }
            total += swarm.len();
        }
        assert_eq!(total, self.total_peers, "peer total");
        assert_eq!(self.expiry.len(), total, "one expiry entry per peer");
        assert!(total <= self.config.max_peers, "over the peer limit");
    }
}

impl AnnounceReply {
    fn fill_stats(&mut self, stats: ScrapeStats) {
        self.complete = stats.complete;
        self.incomplete = stats.incomplete;
        self.downloaded = stats.downloaded;
    }
}

#[derive(Debug, Default)]
struct Swarm {
    addr: PeerSet,
    ws: PeerSet,
    seeders: u32,
    leechers: u32,
    downloaded: u32,
}

impl Swarm {
    fn set_mut(&mut self, kind: Kind) -> &mut PeerSet {
        match kind {
            Kind::Addr => &mut self.addr,
            Kind::WebSocket => &mut self.ws,
        }
    }

    fn len(&self) -> usize {
        self.addr.peers.len() + self.ws.peers.len()
    }

    #[cfg(any(test, fuzzing))]
    fn peers(&self) -> impl Iterator<Item = &PeerEntry> {
        self.addr.peers.iter().chain(&self.ws.peers)
    }

    fn stats(&self) -> ScrapeStats {
        ScrapeStats {
            complete: self.seeders,
            downloaded: self.downloaded,
            incomplete: self.leechers,
        }
    }

    /// Adds `delta` (±1) to the seeder or leecher count. The counts cannot go below zero: each
    /// decrement undoes an earlier increment for the same peer.
    fn count(&mut self, seeder: bool, delta: i32) {
        let n = if seeder {
            &mut self.seeders
        } else {
            &mut self.leechers
        };
        *n = n.saturating_add_signed(delta);
    }
}

/// Peers in a vector (for O(1) random access when sampling) plus an index by id.
#[derive(Debug, Default)]
struct PeerSet {
    peers: Vec<PeerEntry>,
    index: BTreeMap<PeerId, usize>,
}

#[derive(Clone, Copy, Debug)]
struct PeerEntry {
    id: PeerId,
    endpoint: Endpoint,
    seeder: bool,
    expires: Instant,
    /// Makes the expiry key unique among peers with the same deadline.
    serial: u64,
}

impl PeerEntry {
    fn public(&self) -> SwarmPeer {
        SwarmPeer {
            peer_id: self.id,
            endpoint: self.endpoint,
            seeder: self.seeder,
        }
    }
}

impl PeerSet {
    fn position(&self, id: &PeerId) -> Option<usize> {
        self.index.get(id).copied()
    }

    fn get(&self, id: &PeerId) -> Option<&PeerEntry> {
        self.position(id).and_then(|i| self.peers.get(i))
    }

    fn insert(&mut self, peer: PeerEntry) {
        self.index.insert(peer.id, self.peers.len());
        self.peers.push(peer);
    }

    /// Swap-removes the peer at `i` (a valid position from the index).
    fn remove_at(&mut self, i: usize) -> PeerEntry {
        let peer = self.peers.swap_remove(i);
        self.index.remove(&peer.id);
        if let Some(moved) = self.peers.get(i) {
            self.index.insert(moved.id, i);
        }
        peer
    }

    fn swap(&mut self, i: usize, j: usize) {
        if i != j {
            self.peers.swap(i, j);
            self.index.insert(self.peers[i].id, i);
            self.index.insert(self.peers[j].id, j);
        }
    }

    /// Up to `wanted` peers other than the announcer, uniformly at random: a partial
    /// Fisher-Yates shuffle of the vector itself, so the cost is the number of peers looked at,
    /// not the size of the swarm.
    fn sample(&mut self, wanted: usize, announce: &Announce, rng: &mut Rng) -> Vec<SwarmPeer> {
        let mut out = Vec::with_capacity(wanted.min(self.peers.len()));
        let n = self.peers.len();
        let mut i = 0;
        while out.len() < wanted && i < n {
            let j = i + rng.index(n - i);
            self.swap(i, j);
            let p = &self.peers[i];
            let is_self = p.id == announce.peer_id || p.endpoint == announce.endpoint;
            let family_ok = match (announce.family, p.endpoint) {
                (Some(family), Endpoint::Addr(addr)) => Family::of(addr.ip()) == family,
                _ => true,
            };
            if !is_self && family_ok {
                out.push(p.public());
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests;
