//! A TURN allocation kept alive for one connection, wrapping the ICE agent's datagrams from a
//! relay candidate into Send indications or ChannelData towards the TURN server and unwrapping
//! what the server relays back.
//!
//! The TURN protocol itself (Allocate with the long-term credential's 401 round, Refresh at
//! half the lifetime, CreatePermission and its refresh every 2 minutes, ChannelBind on the
//! first datagram to a peer, then ChannelData) is webrtc-rs's sans-IO client (`rtc::turn`).
//! This wrapper adds what the ICE agent needs around it: a permission for each remote address
//! before the first datagram to it (RFC 8656 §9), datagrams held (a few) until the server
//! grants it, and a bounded refresh interval so that one refresh lost to a stale nonce is
//! retried well before the allocation expires.
//!
//! [`Relays`] is a peer's set of them: which datagrams are the servers', which of the stack's
//! go out wrapped, the permissions for the remote's candidates, release on close. Every call
//! into a TURN client goes through the panic guard (`crate::stack::call`): a client that
//! panicked is dropped, its allocation stays (so its server's datagrams are still recognized
//! and dropped) without it, and [`Relays::has_panicked`] tells the peer, which closes.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rtc::sansio::Protocol;
use rtc::shared::TaggedBytesMut;
use rtc::stun::message::TransactionId;
use rtc::turn::client::{Client, Event};

use crate::Transmit;
use crate::ice::IcePolicy;
use crate::sdp;
use crate::stack::{call, udp_packet};

/// The TURN allocations behind a peer's relay candidates, and its policy.
pub(crate) struct Relays {
    allocations: Vec<Allocation>,
    /// [`IcePolicy::Relay`]: only relayed datagrams reach the stack.
    only: bool,
}

/// What [`Relays::receive`] made of a datagram.
pub(crate) enum Inbound {
    /// Not from one of our TURN servers.
    Direct,
    /// From a TURN server: what it relayed, each (remote address, datagram), arriving on our
    /// relayed address `local`; `dropped` counts the datagram if the TURN client refused it,
    /// and empty datagrams it relayed.
    Relayed {
        local: SocketAddr,
        datagrams: Vec<(SocketAddr, BytesMut)>,
        dropped: u64,
    },
}

impl Relays {
    pub(crate) fn new(allocations: Vec<Allocation>, policy: IcePolicy) -> Self {
        Self {
            allocations,
            only: policy == IcePolicy::Relay,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.allocations.is_empty()
    }

    /// Relay-only: a datagram not through a TURN server is not for the stack.
    pub(crate) fn only(&self) -> bool {
        self.only
    }

    /// Whether a TURN client panicked (the peer then closes).
    pub(crate) fn has_panicked(&self) -> bool {
        self.allocations.iter().any(|a| a.client.is_none())
    }

    /// A datagram from `from` on our address `to`: a TURN server's (its responses, and what it
    /// relays from the remote, which the stack sees as arriving on the relay candidate), or not.
    pub(crate) fn receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        datagram: &[u8],
    ) -> Inbound {
        let Some(relay) = self.allocations.iter_mut().find(|r| r.is_server(from, to)) else {
            return Inbound::Direct;
        };
        let mut datagrams = Vec::new();
        let malformed = relay.handle_receive(now, datagram, &mut datagrams).is_err();
        let count = datagrams.len();
        datagrams.retain(|(_, d)| !d.is_empty());
        Inbound::Relayed {
            local: relay.relayed,
            dropped: u64::from(malformed) + (count - datagrams.len()) as u64,
            datagrams,
        }
    }

    /// A datagram of the stack's: from a relay candidate, the allocation takes it (to the TURN
    /// server, wrapped, in [`Self::poll_transmit`]); from a host candidate, it is returned to
    /// be sent as it is.
    pub(crate) fn route(&mut self, packet: TaggedBytesMut) -> Option<Transmit> {
        let (source, destination) = (packet.transport.local_addr, packet.transport.peer_addr);
        match self.allocations.iter_mut().find(|r| r.relayed == source) {
            Some(relay) => {
                relay.send(packet.now, destination, &packet.message);
                None
            }
            None => Some(Transmit {
                source,
                destination,
                contents: packet.message.freeze(),
            }),
        }
    }

    /// Asks each allocation to let the remote's candidates through (RFC 8656 §9).
    pub(crate) fn permit(&mut self, now: Instant, remote_sdp: &str) {
        if self.allocations.is_empty() {
            return;
        }
        for remote in sdp::candidate_addresses(remote_sdp) {
            for relay in &mut self.allocations {
                relay.permit(now, remote);
            }
        }
    }

    /// The TURN clients' timers (retransmissions, refreshes) act only when due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        for relay in &mut self.allocations {
            relay.handle_timeout(now);
        }
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.allocations
            .iter_mut()
            .find_map(Allocation::poll_transmit)
    }

    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        self.allocations
            .iter_mut()
            .filter_map(Allocation::poll_timeout)
            .min()
    }

    /// Gives every allocation back.
    pub(crate) fn release(&mut self, now: Instant) {
        for relay in &mut self.allocations {
            relay.release(now);
        }
    }

    /// Takes what the clients have queued and drops them: nothing calls them after.
    pub(crate) fn drain_and_drop(&mut self) -> Vec<Transmit> {
        let transmits = std::iter::from_fn(|| self.poll_transmit()).collect();
        self.allocations.clear();
        transmits
    }
}

/// One live allocation on a TURN server, from one local socket.
pub(crate) struct Allocation {
    /// `None` once a call into it panicked.
    client: Option<Client>,
    /// The local socket (the relay candidate's base).
    pub(crate) host: SocketAddr,
    /// The TURN server.
    pub(crate) server: SocketAddr,
    /// The relayed address (the relay candidate).
    pub(crate) relayed: SocketAddr,
    /// CreatePermission requests in flight, by transaction.
    requested: HashMap<TransactionId, SocketAddr>,
    /// Remote addresses the server forwards to and from.
    permitted: HashSet<SocketAddr>,
    /// Datagrams for remotes whose permission is not granted yet, oldest first.
    held: VecDeque<(SocketAddr, Bytes)>,
    released: bool,
}

impl Allocation {
    pub(crate) fn new(
        client: Client,
        host: SocketAddr,
        server: SocketAddr,
        relayed: SocketAddr,
    ) -> Self {
        Self::with_client(Some(client), host, server, relayed)
    }

    /// An allocation whose client panicked, for tests.
    #[cfg(test)]
    pub(crate) fn panicked(host: SocketAddr, server: SocketAddr, relayed: SocketAddr) -> Self {
        Self::with_client(None, host, server, relayed)
    }

    fn with_client(
        client: Option<Client>,
        host: SocketAddr,
        server: SocketAddr,
        relayed: SocketAddr,
    ) -> Self {
        Self {
            client,
            host,
            server,
            relayed,
            requested: HashMap::new(),
            permitted: HashSet::new(),
            held: VecDeque::new(),
            released: false,
        }
    }

    /// Whether a datagram from `from` on local address `to` comes from this allocation's
    /// server.
    pub(crate) fn is_server(&self, from: SocketAddr, to: SocketAddr) -> bool {
        from == self.server && to == self.host
    }

    /// Asks the server to forward to and from `peer` (a remote candidate), unless asked or
    /// granted already.
    pub(crate) fn permit(&mut self, now: Instant, peer: SocketAddr) {
        if self.released
            || peer.is_ipv4() != self.relayed.is_ipv4()
            || self.permitted.contains(&peer)
            || self.requested.values().any(|&p| p == peer)
        {
            return;
        }
        let relayed = self.relayed;
        let asked = call(&mut self.client, |c| {
            let mut relay = c.relay(relayed).ok()?;
            relay.create_permission(now, peer).ok().flatten()
        });
        if let Ok(Some(tid)) = asked {
            self.requested.insert(tid, peer);
        }
    }

    /// Relays `datagram` to `peer`: at once when permitted, else held until it is.
    pub(crate) fn send(&mut self, now: Instant, peer: SocketAddr, datagram: &[u8]) {
        if self.released {
            return;
        }
        if self.permitted.contains(&peer) {
            let relayed = self.relayed;
            let _ = call(&mut self.client, |c| {
                if let Ok(mut relay) = c.relay(relayed) {
                    // Fails only without a permission, checked above: then the datagram is
                    // lost, as UDP may lose it anyway.
                    let _ = relay.send_to(now, datagram, peer);
                }
            });
            return;
        }
        self.permit(now, peer);
        if self.held.len() == MAX_HELD {
            // ICE retransmits its checks; the oldest is the most stale.
            self.held.pop_front();
        }
        self.held
            .push_back((peer, Bytes::copy_from_slice(datagram)));
    }

    /// A datagram from the server: responses go to the TURN client; relayed data is appended
    /// to `relayed` as (remote address, datagram). Errors mean the datagram was malformed or
    /// unexpected (it changed nothing), or that the client panicked on it.
    pub(crate) fn handle_receive(
        &mut self,
        now: Instant,
        datagram: &[u8],
        relayed: &mut Vec<(SocketAddr, BytesMut)>,
    ) -> Result<(), ()> {
        let packet = udp_packet(now, self.server, self.host, BytesMut::from(datagram));
        let read = call(&mut self.client, |c| c.handle_read(packet).is_ok());
        self.drain_events(now, relayed);
        match read {
            Ok(true) => Ok(()),
            _ => Err(()),
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let _ = call(&mut self.client, |c| c.handle_timeout(now));
        self.drain_events(now, &mut Vec::new());
    }

    pub(crate) fn poll_timeout(&mut self) -> Option<Instant> {
        call(&mut self.client, |c| c.poll_timeout()).ok().flatten()
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        let packet = call(&mut self.client, |c| c.poll_write()).ok().flatten()?;
        Some(Transmit {
            source: packet.transport.local_addr,
            destination: packet.transport.peer_addr,
            contents: packet.message.freeze(),
        })
    }

    /// Gives the allocation back (a Refresh with lifetime 0, RFC 8656 §7) and stops.
    pub(crate) fn release(&mut self, now: Instant) {
        if self.released {
            return;
        }
        self.released = true;
        self.held.clear();
        let relayed = self.relayed;
        let _ = call(&mut self.client, |c| {
            if let Ok(mut relay) = c.relay(relayed) {
                let _ = relay.close(now);
            }
        });
    }

    fn drain_events(&mut self, now: Instant, relayed: &mut Vec<(SocketAddr, BytesMut)>) {
        while let Ok(Some(event)) = call(&mut self.client, |c| c.poll_event()) {
            match event {
                Event::DataIndicationOrChannelData(_, from, data) => relayed.push((from, data)),
                Event::CreatePermissionResponse(tid, peer) => {
                    self.requested.remove(&tid);
                    self.permitted.insert(peer);
                    self.flush_held(now, peer);
                }
                // Refused (a stale nonce, which the client took the new one from) or lost:
                // the next datagram for that peer asks again.
                Event::CreatePermissionError(tid, _) | Event::TransactionTimeout(tid) => {
                    self.requested.remove(&tid);
                }
                _ => {}
            }
        }
    }

    fn flush_held(&mut self, now: Instant, peer: SocketAddr) {
        let (ready, rest): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(p, _)| *p == peer);
        self.held = rest;
        for (peer, datagram) in ready {
            self.send(now, peer, &datagram);
        }
    }
}

/// Datagrams held for remotes without a permission yet: a round of ICE checks.
const MAX_HELD: usize = 32;

/// Upper bound on the allocation refresh interval given to the TURN client. It refreshes at
/// half the lifetime (5 of coturn's 10 minutes) by default and does not retry a refresh that
/// met a stale nonce (438): at 2 minutes, one lost refresh still leaves time for another.
pub(crate) const REFRESH_CAP: Duration = Duration::from_secs(120);
