//! Peer exchange (BEP 11) from one engine to peers that are plain `peer_wire` sessions, under a
//! virtual clock: when each peer gets its first ut_pex message, how far apart the next ones
//! are, and what they hold.
//!
//! The limits come from libtorrent (ut_pex.cpp): it sends a peer its first message at the
//! first one-second tick after the extended handshake, then at most one a minute; and it
//! disconnects a peer that sends it a seventh message within a minute of six earlier ones.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use peer_wire::extended::{Pex, PexFlags, name};
use peer_wire::session::{Config as SessionConfig, EXT_PEX, LocalPieces};
use peer_wire::{
    Bitfield, Event as WireEvent, Geometry, Handshake, InfoHash, Message, Outgoing, PeerId,
    Reserved, Session,
};
use swarm::{Action, Config, PeerKey, Swarm};

const HASH: InfoHash = InfoHash([7; 20]);
const INTERVAL: Duration = Duration::from_secs(60);

#[expect(clippy::disallowed_methods, reason = "an origin for a virtual clock")]
fn origin() -> Instant {
    Instant::now()
}

fn geometry() -> Geometry {
    Geometry::new(4 * 32 * 1024, 32 * 1024).expect("a valid geometry")
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 1, (i / 250) as u8, (i % 250) as u8 + 1], 6881))
}

/// A peer on the other end: a session of its own, and the PEX messages it received, when.
struct Remote {
    addr: SocketAddr,
    key: PeerKey,
    session: Session,
    pex: Vec<(Instant, Pex)>,
}

/// The engine under test (a seed, so that no data moves), its peers, a virtual clock.
struct Harness {
    swarm: Swarm,
    remotes: Vec<Remote>,
    now: Instant,
    /// Addresses the engine asked to dial on its own, when.
    dials: Vec<(Instant, SocketAddr)>,
}

impl Harness {
    fn new(pex_interval: Option<Duration>, max_connections: usize) -> Self {
        let now = origin();
        let mut config = Config::new(HASH, PeerId([b'S'; 20]), geometry()).with_seed(1);
        config.pex_interval = pex_interval;
        config.max_connections = max_connections;
        let mut swarm = Swarm::new(config, Bitfield::full(geometry().num_pieces), now);
        while swarm.poll_action().is_some() {}
        Self {
            swarm,
            remotes: Vec::new(),
            now,
            dials: Vec::new(),
        }
    }

    /// The engine dials peer `i` and both ends exchange what they have to say.
    fn connect(&mut self, i: usize) {
        let addr = addr(i);
        self.swarm.handle_peers(self.now, [addr]);
        assert_eq!(self.swarm.poll_action(), Some(Action::Connect(addr)));
        let key = self.swarm.add_peer(self.now, addr).expect("room for it");
        let mut id = [b'-'; 20];
        id[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let local = Handshake {
            reserved: Reserved::ours(),
            info_hash: HASH,
            peer_id: PeerId(id),
        };
        let session = Session::new(
            SessionConfig::new(local, geometry()),
            LocalPieces::None,
            self.now,
        );
        self.remotes.push(Remote {
            addr,
            key,
            session,
            pex: Vec::new(),
        });
        self.pump();
    }

    /// Peer `i`'s connection ends.
    fn disconnect(&mut self, i: usize) {
        let at = self.index(i);
        let remote = self.remotes.remove(at);
        self.swarm.handle_disconnected(self.now, remote.key);
        self.pump();
    }

    fn index(&self, i: usize) -> usize {
        self.remotes
            .iter()
            .position(|r| r.addr == addr(i))
            .expect("a connected peer")
    }

    fn remote(&self, i: usize) -> &Remote {
        &self.remotes[self.index(i)]
    }

    /// Moves messages both ways until neither end has anything more to say.
    fn pump(&mut self) {
        let now = self.now;
        loop {
            let mut progress = false;
            while let Some(action) = self.swarm.poll_action() {
                match action {
                    Action::Announce(_) => {}
                    Action::Connect(addr) => self.dials.push((now, addr)),
                    other => panic!("unexpected {other:?}"),
                }
            }
            while let Some((key, out)) = self.swarm.poll_outgoing(now) {
                progress = true;
                let Some(r) = self.remotes.iter_mut().find(|r| r.key == key) else {
                    continue;
                };
                match out {
                    Outgoing::Handshake(h) => r.session.handle_handshake(now, h),
                    Outgoing::Message(m) => r.session.handle_message(now, m),
                }
            }
            for r in &mut self.remotes {
                while let Some(out) = r.session.poll_outgoing(now) {
                    progress = true;
                    match out {
                        Outgoing::Handshake(h) => self.swarm.handle_handshake(now, r.key, h),
                        Outgoing::Message(m) => self.swarm.handle_message(now, r.key, m),
                    }
                }
                while let Some(event) = r.session.poll_event() {
                    match event {
                        WireEvent::Pex(pex) => r.pex.push((now, pex)),
                        WireEvent::Closed(reason) => panic!("{} closed: {reason:?}", r.addr),
                        _ => {}
                    }
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// Runs every timer, on both ends, until `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            let next = self
                .remotes
                .iter()
                .filter_map(|r| r.session.poll_timeout())
                .chain(self.swarm.poll_timeout())
                .min()
                .map_or(until, |t| t.min(until));
            self.now = self.now.max(next);
            let now = self.now;
            for r in &mut self.remotes {
                if r.session.poll_timeout().is_some_and(|t| t <= now) {
                    r.session.handle_timeout(now);
                }
            }
            if self.swarm.poll_timeout().is_some_and(|t| t <= now) {
                self.swarm.handle_timeout(now);
            }
            self.pump();
            if now >= until {
                return;
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }
}

fn added(pex: &Pex) -> Vec<SocketAddr> {
    let mut a: Vec<SocketAddr> = pex.added.iter().map(|&(a, _)| a).collect();
    a.sort();
    a
}

#[test]
fn the_first_pex_message_comes_seconds_after_the_handshake_then_one_per_interval() {
    let mut h = Harness::new(Some(INTERVAL), 50);
    let t0 = h.now;
    h.connect(1);
    h.connect(2);
    h.run_for(Duration::from_secs(10));
    for (me, other) in [(1, 2), (2, 1)] {
        let pex = &h.remote(me).pex;
        assert_eq!(pex.len(), 1, "peer {me}: {pex:?}");
        let (at, first) = &pex[0];
        // PEX_FIRST_DELAY (2 s), at the first one-second tick after it.
        assert!(
            *at - t0 <= Duration::from_secs(3),
            "peer {me}'s first PEX message came {:?} after its handshake",
            *at - t0
        );
        assert_eq!(added(first), vec![addr(other)], "it names the other peer");
        assert!(first.dropped.is_empty());
    }
    let first_at = h.remote(1).pex[0].0;

    // A newcomer gets its first message as promptly, naming everyone; the others hear of it
    // only an interval after their own last message.
    let t1 = h.now;
    h.connect(3);
    h.run_for(Duration::from_secs(5));
    let pex = &h.remote(3).pex;
    assert_eq!(pex.len(), 1);
    assert!(
        pex[0].0 - t1 <= Duration::from_secs(3),
        "{:?}",
        pex[0].0 - t1
    );
    assert_eq!(added(&pex[0].1), vec![addr(1), addr(2)]);
    h.run_until(first_at + INTERVAL - Duration::from_secs(1));
    assert_eq!(
        h.remote(1).pex.len(),
        1,
        "nothing before the interval is up"
    );
    h.run_until(first_at + INTERVAL + Duration::from_secs(2));
    let pex = &h.remote(1).pex;
    assert_eq!(pex.len(), 2, "{pex:?}");
    let gap = pex[1].0 - pex[0].0;
    assert!(
        gap >= INTERVAL && gap <= INTERVAL + Duration::from_secs(1),
        "the second message came {gap:?} after the first"
    );
    assert_eq!(added(&pex[1].1), vec![addr(3)]);

    // Peers come and go every 5 s for ten minutes: peer 1 hears of it once an interval, never
    // more often (libtorrent would disconnect us), never much later.
    for i in 0..120 {
        let n = 10 + i;
        h.connect(n);
        if i >= 3 {
            h.disconnect(n - 3);
        }
        h.run_for(Duration::from_secs(5));
    }
    let times: Vec<Instant> = h.remote(1).pex.iter().map(|&(t, _)| t).collect();
    assert!(times.len() >= 11, "{} messages in ten minutes", times.len());
    for w in times.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= INTERVAL && gap <= INTERVAL + Duration::from_secs(1),
            "two PEX messages {gap:?} apart"
        );
    }
    for w in times.windows(7) {
        assert!(
            w[6] - w[0] > Duration::from_secs(60),
            "libtorrent's flood limit"
        );
    }
}

#[test]
fn a_peer_alone_with_us_hears_of_the_next_one_at_once() {
    let mut h = Harness::new(Some(INTERVAL), 50);
    h.connect(1);
    h.run_for(Duration::from_secs(30));
    assert!(h.remote(1).pex.is_empty(), "nobody to tell it about");
    let t1 = h.now;
    h.connect(2);
    h.run_for(Duration::from_secs(5));
    let pex = &h.remote(1).pex;
    assert_eq!(pex.len(), 1);
    assert!(
        pex[0].0 - t1 <= Duration::from_secs(1),
        "{:?}",
        pex[0].0 - t1
    );
    assert_eq!(added(&pex[0].1), vec![addr(2)]);
}

#[test]
fn a_pex_message_names_at_most_50_peers_and_the_rest_follow_an_interval_later() {
    let mut h = Harness::new(Some(INTERVAL), 100);
    for i in 0..71 {
        h.connect(i);
    }
    h.run_for(Duration::from_secs(5));
    let others: Vec<SocketAddr> = (1..71).map(addr).collect();
    let pex = &h.remote(0).pex;
    assert_eq!(pex.len(), 1);
    assert_eq!(pex[0].1.added.len(), 50, "at most 50 added per message");
    // Nobody comes or goes: the other 20 still come, one interval later.
    h.run_for(INTERVAL);
    let pex = &h.remote(0).pex;
    assert_eq!(pex.len(), 2);
    assert!(pex[1].0 - pex[0].0 >= INTERVAL);
    let mut told: Vec<SocketAddr> = pex.iter().flat_map(|(_, p)| added(p)).collect();
    told.sort();
    assert_eq!(told, others, "every other peer, once");
    h.run_for(3 * INTERVAL);
    assert_eq!(h.remote(0).pex.len(), 2, "then nothing new, nothing sent");

    // 60 leave: 50 dropped in one message, 10 in the next.
    for i in 11..71 {
        h.disconnect(i);
    }
    h.run_for(INTERVAL + Duration::from_secs(2));
    h.run_for(INTERVAL);
    let pex = &h.remote(0).pex;
    assert_eq!(pex.len(), 4, "{:?}", pex.len());
    assert_eq!(pex[2].1.dropped.len(), 50);
    assert_eq!(pex[3].1.dropped.len(), 10);
}

#[test]
fn with_pex_off_ut_pex_is_neither_offered_nor_sent() {
    // A private torrent (BEP 27) runs with PEX off.
    let mut h = Harness::new(None, 50);
    h.connect(1);
    h.connect(2);
    h.run_for(Duration::from_secs(300));
    for i in [1, 2] {
        let r = h.remote(i);
        let ours = r.session.peer_extended().expect("our extended handshake");
        assert_eq!(ours.extension_id(name::UT_PEX), None, "{ours:?}");
        assert!(ours.extension_id(name::UT_METADATA).is_some());
        assert!(r.pex.is_empty());
    }
}

#[test]
fn whom_a_pex_message_names_is_dialed_at_once() {
    let mut h = Harness::new(Some(INTERVAL), 50);
    h.connect(1);
    let at = h.now + Duration::from_millis(300);
    h.run_until(at);
    let i = h.index(1);
    let pex = Pex {
        added: vec![(addr(9), PexFlags(PexFlags::SEED))],
        dropped: Vec::new(),
    };
    h.remotes[i]
        .session
        .send_pex(&pex)
        .expect("we offer ut_pex");
    h.pump();
    assert_eq!(h.dials, vec![(at, addr(9))], "dialed when the message came");
}

#[test]
fn with_pex_off_a_pex_message_is_ignored() {
    let mut h = Harness::new(None, 50);
    h.connect(1);
    // A peer that sends ut_pex anyway, under the id we would give it.
    let pex = Pex {
        added: vec![(addr(9), PexFlags(PexFlags::SEED))],
        dropped: Vec::new(),
    };
    let i = h.index(1);
    let message = Message::Extended {
        id: EXT_PEX,
        payload: pex.encode().into(),
    };
    h.remotes[i].session.send_message(&message).expect("open");
    h.pump();
    h.run_for(Duration::from_secs(300));
    assert!(h.dials.is_empty(), "{:?}", h.dials);
    assert_eq!(h.swarm.num_peers(), 1);
}
