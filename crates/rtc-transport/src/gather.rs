//! Candidate gathering before a non-trickle offer or answer: a server-reflexive candidate from
//! each STUN (and TURN) server, a relay candidate from each TURN server, for each local socket,
//! within a deadline. Sans-IO like [`crate::Peer`]: datagrams and `now` go in, datagrams and the
//! next deadline come out, on the same UDP socket(s) the peer will use.
//!
//! Every call into a TURN client goes through the panic guard (`crate::stack::call`): a client
//! that panics is dropped, and its server counts as failed ([`FailureReason::StackPanic`]),
//! with whatever candidate it had given withdrawn.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::crypto::RTCCryptoProvider;
use rtc::sansio::Protocol;
use rtc::shared::TransportProtocol;
use rtc::stun::message::TransactionId;
use rtc::turn::client::{Client, ClientConfig, Event};

use crate::ice::{Candidate, CandidateKind, ResolvedServer};
use crate::relay::{Allocation, REFRESH_CAP};
use crate::stack::{call, udp_packet};
use crate::{Error, StackError, Transmit, UsageError};

/// Settings of a [`Gatherer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatherConfig {
    /// How long to wait for the servers: a server that has not answered by then is skipped
    /// (reported in [`Gathered::failures`]) and gathering finishes with what it has.
    pub timeout: Duration,
}

impl Default for GatherConfig {
    /// 5 seconds: simple-peer's `iceCompleteTimeout`, what WebTorrent waits for a complete
    /// description.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
        }
    }
}

/// Why a server gave us no candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// No answer before the deadline (or the request ran out of retransmissions).
    Timeout,
    /// The TURN server refused the Allocate: a wrong credential (401), a quota (486), ...;
    /// the server's words.
    AllocateRefused(String),
    /// The server refused the Binding request; its words.
    BindingRefused(String),
    /// The stack's TURN client panicked (a bug in it); it was dropped.
    StackPanic,
}

/// A server that gave no candidate from one local socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFailure {
    /// The server.
    pub server: SocketAddr,
    /// The local socket we asked from.
    pub local: SocketAddr,
    /// What was asked: `true` for a TURN allocation, `false` for a STUN binding.
    pub allocate: bool,
    /// Why.
    pub reason: FailureReason,
}

/// What gathering found: the candidates (host first) for [`crate::Peer::offer_gathered`] or
/// [`crate::Peer::answer_gathered`], and the TURN allocations behind the relay ones, which the
/// peer keeps alive.
pub struct Gathered {
    pub(crate) candidates: Vec<Candidate>,
    pub(crate) allocations: Vec<Allocation>,
    failures: Vec<ServerFailure>,
}

impl Gathered {
    /// Host candidates only, without any server (what [`crate::Peer::offer`] takes).
    pub fn hosts(addrs: &[SocketAddr]) -> Self {
        Self {
            candidates: addrs.iter().copied().map(Candidate::host).collect(),
            allocations: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Every candidate: host, then server-reflexive and relay in the order found. A
    /// server-reflexive address equal to a host one (no NAT, as on loopback) is listed here
    /// but left out of the SDP (RFC 8445 §5.1.3: redundant).
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The servers that gave nothing, and why.
    pub fn failures(&self) -> &[ServerFailure] {
        &self.failures
    }
}

impl std::fmt::Debug for Gathered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gathered")
            .field("candidates", &self.candidates)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

/// Gathers server-reflexive and relay candidates for a set of local sockets.
///
/// Methods: (A) getters taking `&self`; (B) `handle_*` for input from the network or clock;
/// (D) `poll_*` for output; then [`Self::finish`]. After any (B) call, drain `poll_transmit`,
/// then `poll_timeout`. Gathering is done when [`Self::is_done`]: every server answered or the
/// deadline passed (then `poll_timeout` is `None`).
///
/// One request pair per (local socket, server address): a STUN server gets a Binding request,
/// a TURN server a Binding request and an Allocate. A TURN allocation belongs to its 5-tuple
/// (RFC 8656 §2.2), so a socket can hold one allocation per TURN server: a peer relayed
/// through a server wants a socket of its own, as a browser gives each connection its own.
pub struct Gatherer {
    probes: Vec<Probe>,
    candidates: Vec<Candidate>,
    failures: Vec<ServerFailure>,
    deadline: Instant,
    /// The earliest retransmission or the deadline, while not done.
    next_timeout: Option<Instant>,
    done: bool,
}

impl Gatherer {
    /// Starts gathering from `hosts` (the local sockets' addresses, each a host candidate)
    /// through `servers` (resolved by the caller), each server asked from every host of its
    /// address family. Requests are in [`Self::poll_transmit`] at once.
    pub fn new(
        config: &GatherConfig,
        hosts: &[SocketAddr],
        servers: &[ResolvedServer],
        now: Instant,
    ) -> Result<Self, Error> {
        check_hosts(hosts)?;
        let crypto = crate::stack::catch(rtc::crypto::default_provider)?.map_err(stack)?;
        let mut probes: Vec<Probe> = Vec::new();
        for server in servers {
            for &host in hosts {
                let addr = server.addr();
                if addr.is_ipv4() != host.is_ipv4() {
                    continue;
                }
                let turn = match server {
                    ResolvedServer::Turn {
                        username,
                        credential,
                        ..
                    } => Some((username.as_str(), credential.as_str())),
                    ResolvedServer::Stun(_) => None,
                };
                if let Some(p) = probes
                    .iter_mut()
                    .find(|p| p.host == host && p.server == addr)
                {
                    // `stun:X` and `turn:X` on one address: one client does both (else the
                    // two could not tell whose response is whose).
                    if p.allocation == Allocate::NotAsked
                        && let Some((u, c)) = turn
                    {
                        p.allocate(now, u, c, &crypto)?;
                    }
                    continue;
                }
                probes.push(Probe::new(host, addr, turn, &crypto, now)?);
            }
        }
        let mut gatherer = Self {
            probes,
            candidates: hosts.iter().copied().map(Candidate::host).collect(),
            failures: Vec::new(),
            deadline: now + config.timeout,
            next_timeout: None,
            done: false,
        };
        gatherer.settle(now);
        Ok(gatherer)
    }

    // (A) getters

    /// Every server answered, or the deadline passed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The candidates found so far, host first.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// The servers that gave nothing so far.
    pub fn failures(&self) -> &[ServerFailure] {
        &self.failures
    }

    // (B) input

    /// A UDP datagram from `from` on local address `to`. Returns whether it was for the
    /// gatherer (from a server it asked); any other datagram is left to the caller. A
    /// malformed one from a server changes nothing.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let Some(probe) = self
            .probes
            .iter_mut()
            .find(|p| p.server == from && p.host == to)
        else {
            return false;
        };
        if datagram.len() <= MAX_DATAGRAM {
            let packet = udp_packet(now, from, to, BytesMut::from(datagram));
            let _ = call(&mut probe.client, |c| c.handle_read(packet));
        }
        self.settle(now);
        true
    }

    /// The clock reached [`Self::poll_timeout`] (or not: then only what is due happens).
    pub fn handle_timeout(&mut self, now: Instant) {
        for probe in &mut self.probes {
            let _ = call(&mut probe.client, |c| c.handle_timeout(now));
        }
        self.settle(now);
    }

    // (D) output

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.probes.iter_mut().find_map(|p| {
            let packet = call(&mut p.client, |c| c.poll_write()).ok().flatten()?;
            Some(Transmit {
                source: packet.transport.local_addr,
                destination: packet.transport.peer_addr,
                contents: packet.message.freeze(),
            })
        })
    }

    /// When to call [`Self::handle_timeout`] next; `None` once done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout
    }

    /// Ends gathering (done or not: servers still silent count as timed out) and hands over
    /// the candidates and allocations.
    pub fn finish(mut self) -> Gathered {
        self.expire();
        let allocations = self
            .probes
            .into_iter()
            .filter_map(|p| match (p.allocation, p.client) {
                (Allocate::Granted(relayed), Some(client)) => {
                    Some(Allocation::new(client, p.host, p.server, relayed))
                }
                _ => None,
            })
            .collect();
        Gathered {
            candidates: self.candidates,
            allocations,
            failures: self.failures,
        }
    }

    /// Takes every probe's news, then decides whether gathering is over.
    fn settle(&mut self, now: Instant) {
        for probe in &mut self.probes {
            while let Ok(Some(event)) = call(&mut probe.client, |c| c.poll_event()) {
                probe.on_event(event, &mut self.candidates, &mut self.failures);
            }
            if probe.client.is_none() {
                probe.on_panic(&mut self.candidates, &mut self.failures);
            }
        }
        if now >= self.deadline {
            self.expire();
        }
        self.done = self.done || self.probes.iter().all(Probe::settled);
        self.next_timeout = if self.done {
            None
        } else {
            let retransmit = self
                .probes
                .iter_mut()
                .filter(|p| !p.settled())
                .filter_map(|p| call(&mut p.client, |c| c.poll_timeout()).ok().flatten())
                .min();
            Some(retransmit.map_or(self.deadline, |t| t.min(self.deadline)))
        };
    }

    /// The deadline: whatever is still asked is a timeout (but what a client that panicked
    /// asked, whose news `settle` has not taken yet, is a panic).
    fn expire(&mut self) {
        for probe in &mut self.probes {
            if probe.client.is_none() {
                probe.on_panic(&mut self.candidates, &mut self.failures);
            }
            probe.give_up(&mut self.failures, FailureReason::Timeout);
        }
        self.done = true;
    }
}

impl std::fmt::Debug for Gatherer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatherer")
            .field("candidates", &self.candidates)
            .field("failures", &self.failures)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A host candidate must be an address a peer can send to.
pub(crate) fn check_hosts(hosts: &[SocketAddr]) -> Result<(), UsageError> {
    if hosts.is_empty() {
        return Err(UsageError::NoCandidates);
    }
    match hosts
        .iter()
        .find(|a| a.ip().is_unspecified() || a.port() == 0)
    {
        Some(&bad) => Err(UsageError::BadCandidate(bad)),
        None => Ok(()),
    }
}

/// The requests to one server from one local socket, through one TURN client (which also
/// does plain STUN Binding).
struct Probe {
    host: SocketAddr,
    server: SocketAddr,
    /// `None` once a call into it panicked.
    client: Option<Client>,
    binding: Option<TransactionId>,
    allocation: Allocate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Allocate {
    NotAsked,
    Asked,
    Granted(SocketAddr),
    Failed,
}

impl Probe {
    fn new(
        host: SocketAddr,
        server: SocketAddr,
        turn: Option<(&str, &str)>,
        crypto: &Arc<dyn RTCCryptoProvider>,
        now: Instant,
    ) -> Result<Self, StackError> {
        let mut probe = Self {
            host,
            server,
            client: Some(client(host, server, "", "", crypto)?),
            binding: None,
            allocation: Allocate::NotAsked,
        };
        if let Some((username, credential)) = turn {
            probe.allocate(now, username, credential, crypto)?;
        }
        let tid = call(&mut probe.client, |c| {
            c.send_binding_request_to(now, server)
        })?
        .map_err(stack)?;
        probe.binding = Some(tid);
        Ok(probe)
    }

    /// Starts the Allocate, with a client that carries the credential.
    fn allocate(
        &mut self,
        now: Instant,
        username: &str,
        credential: &str,
        crypto: &Arc<dyn RTCCryptoProvider>,
    ) -> Result<(), StackError> {
        if self.binding.is_none() {
            self.client = Some(client(
                self.host,
                self.server,
                username,
                credential,
                crypto,
            )?);
        } else {
            // A binding is in flight on the credential-less client: keep it, and let the
            // credential apply to the Allocate's 401 round (it signs only after the 401).
            call(&mut self.client, |c| {
                c.update_credentials(username.to_owned(), credential.to_owned())
            })?
            .map_err(stack)?;
        }
        call(&mut self.client, |c| c.allocate(now))?.map_err(stack)?;
        self.allocation = Allocate::Asked;
        Ok(())
    }

    fn settled(&self) -> bool {
        self.binding.is_none() && self.allocation != Allocate::Asked
    }

    fn on_event(
        &mut self,
        event: Event,
        candidates: &mut Vec<Candidate>,
        failures: &mut Vec<ServerFailure>,
    ) {
        let fail = |allocate, reason| ServerFailure {
            server: self.server,
            local: self.host,
            allocate,
            reason,
        };
        match event {
            Event::BindingResponse(tid, mapped) if self.binding == Some(tid) => {
                self.binding = None;
                let candidate = Candidate {
                    kind: CandidateKind::ServerReflexive {
                        base: self.host,
                        server: self.server,
                    },
                    address: mapped,
                };
                let known = candidates.iter().any(|c| {
                    c.address == mapped
                        && matches!(c.kind, CandidateKind::ServerReflexive { base, .. } if base == self.host)
                });
                if !known {
                    candidates.push(candidate);
                }
            }
            Event::BindingError(tid, e) if self.binding == Some(tid) => {
                self.binding = None;
                failures.push(fail(false, FailureReason::BindingRefused(e.to_string())));
            }
            Event::TransactionTimeout(tid) if self.binding == Some(tid) => {
                self.binding = None;
                failures.push(fail(false, FailureReason::Timeout));
            }
            // One Allocate per client: any answer to one is about ours.
            Event::AllocateResponse(_, relayed) if self.allocation == Allocate::Asked => {
                self.allocation = Allocate::Granted(relayed);
                candidates.push(Candidate {
                    kind: CandidateKind::Relay {
                        base: self.host,
                        server: self.server,
                    },
                    address: relayed,
                });
            }
            Event::AllocateError(_, e) if self.allocation == Allocate::Asked => {
                self.allocation = Allocate::Failed;
                failures.push(fail(true, FailureReason::AllocateRefused(e.to_string())));
            }
            Event::TransactionTimeout(_) if self.allocation == Allocate::Asked => {
                self.allocation = Allocate::Failed;
                failures.push(fail(true, FailureReason::Timeout));
            }
            _ => {}
        }
    }

    /// The client panicked: what was asked failed, and a relay candidate it had given is
    /// withdrawn (no allocation stands behind it now).
    fn on_panic(&mut self, candidates: &mut Vec<Candidate>, failures: &mut Vec<ServerFailure>) {
        if let Allocate::Granted(relayed) = self.allocation {
            candidates.retain(|c| {
                !(c.address == relayed && matches!(c.kind, CandidateKind::Relay { .. }))
            });
            self.allocation = Allocate::Asked;
        }
        self.give_up(failures, FailureReason::StackPanic);
    }

    /// Whatever is still asked fails for `reason`.
    fn give_up(&mut self, failures: &mut Vec<ServerFailure>, reason: FailureReason) {
        let fail = |allocate| ServerFailure {
            server: self.server,
            local: self.host,
            allocate,
            reason: reason.clone(),
        };
        if self.binding.take().is_some() {
            failures.push(fail(false));
        }
        if self.allocation == Allocate::Asked {
            self.allocation = Allocate::Failed;
            failures.push(fail(true));
        }
    }
}

/// A TURN client from `host` to `server` (the addresses are given as text that needs no DNS:
/// the client parses them with `ToSocketAddrs`, which resolves nothing for an IP literal).
fn client(
    host: SocketAddr,
    server: SocketAddr,
    username: &str,
    credential: &str,
    crypto: &Arc<dyn RTCCryptoProvider>,
) -> Result<Client, StackError> {
    let config = ClientConfig {
        stun_serv_addr: server.to_string(),
        turn_serv_addr: server.to_string(),
        local_addr: host,
        transport_protocol: TransportProtocol::UDP,
        username: username.to_owned(),
        password: credential.to_owned(),
        // Learned from the server's 401 (RFC 8489 §9.2.3).
        realm: String::new(),
        software: String::new(),
        rto_in_ms: 0,
        allocation_refresh_interval_cap: Some(REFRESH_CAP),
    };
    crate::stack::catch(|| Client::new(config, Arc::clone(crypto)))?.map_err(stack)
}

fn stack(e: impl std::fmt::Display) -> StackError {
    StackError(e.to_string())
}

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe whose client panicked (the guard left `None`) after its server had granted an
    /// allocation, with its binding still asked.
    fn panicked_probe(host: SocketAddr, server: SocketAddr) -> Probe {
        Probe {
            host,
            server,
            client: None,
            binding: Some(TransactionId([7; 12])),
            allocation: Allocate::Granted("192.0.2.9:50000".parse().expect("addr")),
        }
    }

    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "any instant will do: no time passes"
    )]
    fn a_client_that_panicked_fails_its_server_and_withdraws_its_relay_candidate() {
        let host: SocketAddr = "192.0.2.1:4000".parse().expect("addr");
        let server: SocketAddr = "192.0.2.2:3478".parse().expect("addr");
        let relay = Candidate {
            kind: CandidateKind::Relay { base: host, server },
            address: "192.0.2.9:50000".parse().expect("addr"),
        };
        let gatherer = Gatherer {
            probes: vec![panicked_probe(host, server)],
            candidates: vec![Candidate::host(host), relay],
            failures: Vec::new(),
            deadline: std::time::Instant::now(),
            next_timeout: None,
            done: false,
        };
        let gathered = gatherer.finish();
        assert_eq!(gathered.candidates(), [Candidate::host(host)]);
        assert!(gathered.allocations.is_empty());
        let failures: Vec<_> = gathered
            .failures()
            .iter()
            .map(|f| (f.allocate, f.reason.clone()))
            .collect();
        assert_eq!(
            failures,
            [
                (false, FailureReason::StackPanic),
                (true, FailureReason::StackPanic)
            ]
        );
    }
}
