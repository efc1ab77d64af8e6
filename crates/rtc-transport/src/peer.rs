//! One WebRTC connection carrying one BitTorrent byte stream.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rtc::data_channel::{RTCDataChannelId, RTCDataChannelInit};
use rtc::peer_connection::RTCPeerConnection;
use rtc::peer_connection::event::{RTCDataChannelEvent, RTCPeerConnectionEvent};
use rtc::peer_connection::message::RTCMessage;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::{RTCIceConnectionState, RTCPeerConnectionState};
use rtc::sansio::Protocol;

use crate::framer::{Framer, Limits};
use crate::gather::{Gathered, check_hosts};
use crate::ice::IcePolicy;
use crate::relay::{Allocation, Inbound, Relays};
use crate::sdp::{self, RemoteSdp, Setup};
use crate::stack::{self, Fault, refused, udp_packet};
use crate::{CloseReason, Error, ProtocolViolation, SdpError, StackError, UsageError};

/// Settings of a [`Peer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Label of the channel an offerer creates. Meaningless to WebTorrent (which uses 40 random
    /// hex digits); libtorrent uses `webtorrent`. An answerer accepts any label.
    pub label: String,
    /// Largest message we send; the remote's `max-message-size` lowers it further.
    /// INTEROP-NOTES.md: keep messages at 16 KiB to be safe with every browser.
    pub max_message_size: usize,
    /// Bytes written and not yet acknowledged by the remote (queued plus in flight) above
    /// which [`Peer::write`] takes nothing. It is also the SCTP send window in practice, so a
    /// path with a long round trip wants more (64 KiB over 50 ms is 1.3 MB/s), together with a
    /// larger socket receive buffer on both sides.
    pub max_buffered: usize,
    /// Received bytes not yet read above which the peer stops taking messages from SCTP, so
    /// that the remote is throttled by the receive window.
    pub max_receive_buffered: usize,
    /// The `max-message-size` we advertise: the largest message we accept (RFC 8841 §6). It
    /// also bounds what a remote can make us hold: rtc keeps up to 256 received messages in
    /// its pipeline before SCTP's receive window (1 MiB) pushes back, so 16 MiB at 64 KiB.
    pub local_max_message_size: u32,
}

impl Default for Config {
    /// Label `webtorrent`, 16 KiB messages, 64 KiB buffered, 1 MiB unread, 64 KiB accepted.
    fn default() -> Self {
        Self {
            label: "webtorrent".to_owned(),
            max_message_size: 16 * 1024,
            max_buffered: 64 * 1024,
            max_receive_buffered: 1024 * 1024,
            local_max_message_size: 64 * 1024,
        }
    }
}

/// Which side of the offer/answer exchange a peer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Made the offer and the data channel.
    Offerer,
    /// Answered a remote offer.
    Answerer,
}

/// Where a connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// ICE, DTLS, SCTP or DCEP still under way.
    Connecting,
    /// ICE and DTLS are up; the channel may not be open yet.
    Connected,
    /// The channel is open: bytes flow.
    Open,
    /// Closed; see the [`Event::Closed`] reason.
    Closed,
}

/// Something that happened, from [`Peer::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// ICE found a path and DTLS finished its handshake.
    Connected,
    /// The data channel is open; its label (any label is accepted from a remote offerer).
    ChannelOpen {
        /// The channel's label.
        label: String,
    },
    /// Received bytes are waiting (edge: fired when the stream goes from empty to non-empty).
    /// Read until [`Peer::read`] gives 0.
    Readable,
    /// A refused or shortened [`Peer::write`] may be retried: the buffered amount fell to half
    /// of [`Config::max_buffered`].
    Writable,
    /// The connection is closed; fired once.
    Closed(CloseReason),
}

/// A UDP datagram to send, from [`Peer::poll_transmit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The local candidate address to send from.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// The datagram.
    pub contents: Bytes,
}

/// One WebRTC connection with one reliable, ordered data channel carrying a byte stream.
///
/// Methods: (A) getters taking `&self`; (B) `handle_*` for input from the network or clock;
/// (C) commands from the application; (D) `poll_*` for output. After any (B) or (C) call,
/// drain `poll_transmit`, then `poll_timeout`, then `poll_event`. Any call order is valid; an
/// early `handle_timeout` is a no-op.
///
/// Invariants: `state` moves only forward (`Connecting` → `Connected` → `Open` → `Closed`,
/// any of them straight to `Closed`); `Event::Closed` is queued exactly once, when `state`
/// becomes `Closed`; after that nothing is read from or written to the stack but the
/// transmits it had queued (its goodbye).
///
/// A panic inside the stack (a bug in it that a remote can reach: rtc 0.21.1 panics on a
/// DCEP message of type 0x00 shorter than 6 bytes) is caught, never passed to the caller:
/// every call into the peer connection and the TURN clients goes through one guard
/// (`std::panic::catch_unwind`). The peer then closes with [`CloseReason::StackPanic`] and
/// never calls into the peer connection again (it is dropped unused: no goodbye); TURN
/// clients that did not panic give their allocations back at once and are dropped too. From
/// then on [`Self::poll_transmit`] gives only the datagrams already taken out (those
/// releases), [`Self::poll_timeout`] is `None`, and every other call is a harmless no-op.
/// The panic hook still runs (by default a message on stderr); the guard needs the default
/// `panic = "unwind"`.
pub struct Peer {
    /// `None` once the stack panicked: never called again.
    pc: Option<RTCPeerConnection>,
    config: Config,
    role: Role,
    awaiting_answer: bool,
    state: State,
    local_sdp: String,
    remote: Option<RemoteSdp>,
    channel: Option<RTCDataChannelId>,
    send_limit: usize,
    in_flight: usize,
    framer: Framer,
    events: VecDeque<Event>,
    timeout: Option<Instant>,
    dropped_datagrams: u64,
    remote_addr: Option<SocketAddr>,
    ice_connected: bool,
    early_dtls: Vec<(SocketAddr, SocketAddr, Bytes)>,
    replay_early_dtls: bool,
    /// TURN allocations behind our relay candidates, and the policy.
    relays: Relays,
    pc_timeout: Option<Instant>,
    /// Datagrams taken out at closing: the stack's goodbye, wrapped before the allocations
    /// were released; after a panic, the releases.
    goodbye: VecDeque<Transmit>,
    /// The latest `now` given: [`Self::close`] takes none, and releasing an allocation is a
    /// TURN transaction.
    last_now: Instant,
}

impl Peer {
    /// An offerer: creates the data channel (as WebTorrent does, before the offer) and returns
    /// the complete offer, with a host candidate for each of `candidates` (non-trickle: send it
    /// once, as it is).
    pub fn offer(
        config: Config,
        candidates: &[SocketAddr],
        now: Instant,
    ) -> Result<(Self, String), Error> {
        check_hosts(candidates)?;
        Self::offer_gathered(config, Gathered::hosts(candidates), IcePolicy::All, now)
    }

    /// An offerer with the candidates a [`crate::Gatherer`] found (those `policy` allows):
    /// the peer keeps the TURN allocations behind relay candidates alive and relays through
    /// them on the same socket(s).
    pub fn offer_gathered(
        config: Config,
        gathered: Gathered,
        policy: IcePolicy,
        now: Instant,
    ) -> Result<(Self, String), Error> {
        type Built = (RTCPeerConnection, Vec<Allocation>, RTCDataChannelId, String);
        let (pc, relays, channel, sdp) = stack::catch(|| -> Result<Built, Error> {
            let (mut pc, relays) = stack::build(&config, gathered, policy, now)?;
            let init = RTCDataChannelInit::default(); // ordered, reliable, in-band DCEP
            let channel = pc
                .create_data_channel(&config.label, Some(init))
                .map_err(stack::stack)?
                .id();
            let offer = pc.create_offer(None).map_err(stack::stack)?;
            pc.set_local_description(now, offer).map_err(stack::stack)?;
            let sdp = local_description(&pc)?;
            Ok((pc, relays, channel, sdp))
        })??;
        let mut peer = Self::new(pc, config, Role::Offerer, relays, policy, now);
        peer.channel = Some(channel);
        peer.awaiting_answer = true;
        peer.local_sdp.clone_from(&sdp);
        peer.pump(now);
        Ok((peer, sdp))
    }

    /// An answerer to a remote offer: returns the complete answer, with a host candidate for
    /// each of `candidates`.
    pub fn answer(
        config: Config,
        candidates: &[SocketAddr],
        offer: &str,
        now: Instant,
    ) -> Result<(Self, String), Error> {
        check_hosts(candidates)?;
        Self::answer_gathered(
            config,
            Gathered::hosts(candidates),
            IcePolicy::All,
            offer,
            now,
        )
    }

    /// An answerer with the candidates a [`crate::Gatherer`] found (those `policy` allows).
    pub fn answer_gathered(
        config: Config,
        gathered: Gathered,
        policy: IcePolicy,
        offer: &str,
        now: Instant,
    ) -> Result<(Self, String), Error> {
        let remote = sdp::scan(offer)?;
        type Built = (RTCPeerConnection, Vec<Allocation>, String);
        // The remote's offer goes to the stack's parser here: a panic in it is an error too.
        let (pc, relays, sdp) = stack::catch(|| -> Result<Built, Error> {
            let (mut pc, relays) = stack::build(&config, gathered, policy, now)?;
            let description = RTCSessionDescription::offer(offer.to_owned()).map_err(refused)?;
            pc.set_remote_description(now, description)
                .map_err(refused)?;
            let answer = pc.create_answer(None).map_err(refused)?;
            pc.set_local_description(now, answer)
                .map_err(stack::stack)?;
            let sdp = local_description(&pc)?;
            Ok((pc, relays, sdp))
        })??;
        let mut peer = Self::new(pc, config, Role::Answerer, relays, policy, now);
        peer.remote = Some(remote);
        peer.relays.permit(now, offer);
        peer.local_sdp.clone_from(&sdp);
        peer.pump(now);
        Ok((peer, sdp))
    }

    /// Takes the remote's answer to our offer. A panic of the stack on it closes the peer
    /// ([`CloseReason::StackPanic`]) and is returned as a [`StackError`].
    pub fn accept_answer(&mut self, now: Instant, answer: &str) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(UsageError::Closed.into());
        }
        if !self.awaiting_answer {
            return Err(UsageError::NotAwaitingAnswer.into());
        }
        let remote = sdp::scan(answer)?;
        if matches!(remote.setup, Some(Setup::ActPass | Setup::HoldConn)) {
            return Err(SdpError::AnswerWithoutRole.into());
        }
        let description =
            stack::catch(|| RTCSessionDescription::answer(answer.to_owned()))?.map_err(refused)?;
        match self.with_pc(|pc| pc.set_remote_description(now, description)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(refused(e).into()),
            Err(fault) => return Err(StackError::from(fault).into()),
        }
        self.awaiting_answer = false;
        self.remote = Some(remote);
        self.relays.permit(now, answer);
        self.pump(now);
        Ok(())
    }

    // (A) getters

    /// Offerer or answerer.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Where the connection is.
    pub fn state(&self) -> State {
        self.state
    }

    /// The SDP we produced (the offer, or the answer).
    pub fn local_sdp(&self) -> &str {
        &self.local_sdp
    }

    /// What we read from the remote's SDP, once we have it.
    pub fn remote_sdp(&self) -> Option<&RemoteSdp> {
        self.remote.as_ref()
    }

    /// The largest message we send: our [`Config::max_message_size`], lowered to the remote's
    /// `max-message-size` (16 KiB when it gave none) and to what the stack negotiated.
    pub fn max_send_message_size(&self) -> usize {
        self.send_limit
    }

    /// Bytes written and not yet acknowledged by the remote (queued plus in flight).
    pub fn buffered_amount(&self) -> usize {
        self.framer.queued().saturating_add(self.in_flight)
    }

    /// Received bytes waiting for [`Self::read`].
    pub fn readable(&self) -> usize {
        self.framer.readable()
    }

    /// Where the remote's datagrams come from, as the ICE agent sees them (through a TURN
    /// relay: the remote's address at the relay, not the server's): the last address the stack
    /// took a datagram from before the channel opened, then fixed. `None` before any.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// Datagrams the stack refused (not STUN, DTLS or SRTP it could use: stray or hostile).
    pub fn dropped_datagrams(&self) -> u64 {
        self.dropped_datagrams
    }

    // (B) input

    /// A UDP datagram that arrived from `from` on the local address `to`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        datagram: &[u8],
    ) {
        if self.state == State::Closed {
            return;
        }
        // No UDP payload is longer (RFC 768's 16-bit length); checked before the copy.
        if datagram.is_empty() || datagram.len() > MAX_DATAGRAM {
            self.dropped_datagrams += 1;
            return;
        }
        match self.relays.receive(now, from, to, datagram) {
            // From our TURN server: what it relayed arrives on the relay candidate.
            Inbound::Relayed {
                local,
                datagrams,
                dropped,
            } => {
                self.dropped_datagrams += dropped;
                for (remote, data) in datagrams {
                    if self.state == State::Closed {
                        break;
                    }
                    self.receive(now, remote, local, data);
                }
            }
            Inbound::Direct if self.relays.only() => {
                // Relay policy: nothing reaches the stack but through the TURN server.
                self.dropped_datagrams += 1;
                return;
            }
            Inbound::Direct => self.receive(now, from, to, BytesMut::from(datagram)),
        }
        self.pump(now);
    }

    /// One datagram for the stack, from `from` on our candidate address `to`.
    fn receive(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, datagram: BytesMut) {
        // RFC 7983 §7: a first byte in 20..=63 is DTLS. The remote's first flight can arrive
        // before our ICE agent has picked a pair (the remote's agent finished first), and rtc
        // 0.21 then drops it without a word; the client retransmits only after 1 s. Keep a
        // few, and replay them once ICE connects.
        if !self.ice_connected
            && (20..=63).contains(&datagram[0])
            && self.early_dtls.len() < MAX_EARLY_DTLS
        {
            self.early_dtls
                .push((from, to, Bytes::copy_from_slice(&datagram)));
        }
        let packet = udp_packet(now, from, to, datagram);
        // A datagram the stack cannot use is dropped, not fatal: anyone can send UDP to our
        // port. Fatal conditions (a DTLS alert, an SCTP ABORT) arrive as state changes.
        match self.with_pc(|pc| pc.handle_read(packet)) {
            Ok(Err(_)) => self.dropped_datagrams += 1,
            Ok(Ok(())) if self.state != State::Open => self.remote_addr = Some(from),
            _ => {}
        }
    }

    /// The clock reached [`Self::poll_timeout`] (or not: then nothing happens).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed || self.timeout.is_none_or(|t| now < t) {
            return;
        }
        self.relays.handle_timeout(now);
        if self.pc_timeout.is_some_and(|t| now >= t)
            && matches!(self.with_pc(|pc| pc.handle_timeout(now)), Ok(Err(_)))
        {
            self.close_with(CloseReason::Failed);
        }
        self.pump(now);
    }

    // (C) commands

    /// Queues as much of `data` for the remote as [`Config::max_buffered`] allows and returns
    /// how many bytes it took; 0 when full, then [`Event::Writable`] says when to try again.
    /// Bytes written before the channel opens are sent when it does.
    pub fn write(&mut self, now: Instant, data: &[u8]) -> Result<usize, UsageError> {
        if self.state == State::Closed {
            return Err(UsageError::Closed);
        }
        let n = self.framer.write(data, self.in_flight);
        self.pump(now);
        Ok(n)
    }

    /// Copies received bytes, in order, into `buf`; returns how many (0 when none wait).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = self.framer.read(buf);
        self.after_read();
        n
    }

    /// Appends every received byte, in order, to `out`; returns how many.
    pub fn read_into(&mut self, out: &mut BytesMut) -> usize {
        let n = self.framer.read_into(out);
        self.after_read();
        n
    }

    /// Closes the connection: the stack says goodbye to the remote (SCTP ABORT) through the
    /// transmits still queued. Unsent bytes are dropped.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    // (D) output

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            if let Some(t) = self.relays.poll_transmit() {
                return Some(t);
            }
            if let Some(t) = self.goodbye.pop_front() {
                return Some(t);
            }
            let Ok(Some(packet)) = self.with_pc(|pc| pc.poll_write()) else {
                // Queuing packets can arm timers (SCTP's retransmission timer, a TURN
                // ChannelBind): refresh the deadline once the queue is drained, as callers ask
                // for it next.
                self.refresh_timeout();
                if let Some(t) = self.goodbye.pop_front() {
                    return Some(t); // a panic just now: the releases
                }
                return None;
            };
            // From a relay candidate: to the TURN server, wrapped (taken on the next turn).
            if let Some(t) = self.relays.route(packet) {
                return Some(t);
            }
        }
    }

    /// When to call [`Self::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timeout
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn new(
        pc: RTCPeerConnection,
        config: Config,
        role: Role,
        relays: Vec<Allocation>,
        policy: IcePolicy,
        now: Instant,
    ) -> Self {
        let framer = Framer::new(Limits {
            max_buffered: config.max_buffered,
            max_receive_buffered: config.max_receive_buffered,
        });
        Self {
            pc: Some(pc),
            role,
            awaiting_answer: false,
            state: State::Connecting,
            local_sdp: String::new(),
            remote: None,
            channel: None,
            send_limit: config.max_message_size,
            in_flight: 0,
            framer,
            events: VecDeque::new(),
            timeout: None,
            dropped_datagrams: 0,
            remote_addr: None,
            ice_connected: false,
            early_dtls: Vec::new(),
            replay_early_dtls: false,
            relays: Relays::new(relays, policy),
            pc_timeout: None,
            goodbye: VecDeque::new(),
            last_now: now,
            config,
        }
    }

    /// Calls into the peer connection through the panic guard ([`stack::call`]). A panic
    /// closes the peer with [`CloseReason::StackPanic`]; the connection is gone then, and
    /// every later call is `Err(Fault::Gone)` without reaching it.
    fn with_pc<T>(&mut self, f: impl FnOnce(&mut RTCPeerConnection) -> T) -> Result<T, Fault> {
        let result = stack::call(&mut self.pc, f);
        if matches!(result, Err(Fault::Panicked(_))) {
            self.close_with(CloseReason::StackPanic);
        }
        result
    }

    /// Moves everything the stack has for us into our queues, after any input or command.
    fn pump(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        for _ in 0..PUMP_ROUNDS {
            let mut any_event = false;
            while let Ok(Some(event)) = self.with_pc(|pc| pc.poll_event()) {
                any_event = true;
                self.on_stack_event(event);
            }
            if std::mem::take(&mut self.replay_early_dtls) {
                self.replay(now);
            }
            self.take_messages();
            self.flush(now);
            if !any_event || self.state == State::Closed {
                break;
            }
            // rtc 0.21 queues some packets only on its next `handle_timeout`: the DTLS client's
            // first flight after ICE selects a pair waits for the next timer (200 ms on
            // loopback) otherwise. Handling its events is what queued them: give it one now.
            if matches!(self.with_pc(|pc| pc.handle_timeout(now)), Ok(Err(_))) {
                self.close_with(CloseReason::Failed);
            }
        }
        self.refresh_in_flight();
        if self.framer.poll_writable(self.in_flight) && self.state != State::Closed {
            self.events.push_back(Event::Writable);
        }
        self.refresh_timeout();
    }

    fn on_stack_event(&mut self, event: RTCPeerConnectionEvent) {
        match event {
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => match state {
                RTCPeerConnectionState::Connected if self.state == State::Connecting => {
                    self.state = State::Connected;
                    self.events.push_back(Event::Connected);
                }
                RTCPeerConnectionState::Failed => self.close_with(CloseReason::Failed),
                RTCPeerConnectionState::Closed => self.close_with(CloseReason::Remote),
                // Disconnected may recover (ICE consent); the stack moves to Failed if not.
                _ => {}
            },
            RTCPeerConnectionEvent::OnIceConnectionStateChangeEvent(
                RTCIceConnectionState::Connected,
            ) if !self.ice_connected => {
                self.ice_connected = true;
                self.replay_early_dtls = !self.early_dtls.is_empty();
            }
            RTCPeerConnectionEvent::OnDataChannel(RTCDataChannelEvent::OnOpen(id)) => {
                self.on_channel_open(id);
            }
            RTCPeerConnectionEvent::OnDataChannel(
                RTCDataChannelEvent::OnClosing(id) | RTCDataChannelEvent::OnClose(id),
            ) if self.channel == Some(id) => self.close_with(CloseReason::Remote),
            _ => {}
        }
    }

    fn on_channel_open(&mut self, id: RTCDataChannelId) {
        if self.state == State::Closed {
            return;
        }
        match self.channel {
            Some(ours) if ours != id => {
                // WebTorrent opens one channel per connection; a second one is not read.
                let _ = self.with_pc(|pc| pc.data_channel(id).map(|mut extra| extra.close()));
                return;
            }
            Some(_) => {}
            None => self.channel = Some(id),
        }
        let Ok(Some((reliable_ordered, label, negotiated))) = self.with_pc(|pc| {
            let channel = pc.data_channel(id)?;
            let reliable_ordered = channel.ordered()
                && channel.max_retransmits().is_none()
                && channel.max_packet_life_time().is_none();
            let label = channel.label().to_owned();
            let negotiated = pc.sctp().and_then(|s| s.max_message_size());
            Some((reliable_ordered, label, negotiated))
        }) else {
            return;
        };
        if !reliable_ordered {
            self.close_with(CloseReason::Violation(ProtocolViolation::UnreliableChannel));
            return;
        }
        let remote_limit = self
            .remote
            .map_or(sdp::DEFAULT_REMOTE_MAX_MESSAGE_SIZE, |r| r.send_limit());
        let negotiated = negotiated.map_or(usize::MAX, |n| n as usize);
        self.send_limit = self
            .config
            .max_message_size
            .min(remote_limit)
            .min(negotiated)
            .max(1);
        if self.state == State::Connecting {
            // The channel can only open over a connected transport; the state event may come
            // after it.
            self.events.push_back(Event::Connected);
        }
        self.state = State::Open;
        self.events.push_back(Event::ChannelOpen { label });
    }

    /// Moves received messages into the framer while it has room: a reader that falls behind
    /// leaves them in SCTP, whose receive window then throttles the remote.
    fn take_messages(&mut self) {
        while self.state != State::Closed && self.framer.can_receive() {
            let Ok(Some(message)) = self.with_pc(|pc| pc.poll_read()) else {
                break;
            };
            let RTCMessage::DataChannelMessage(id, message) = message.message else {
                continue; // no media is negotiated
            };
            if self.channel != Some(id) || self.state != State::Open {
                continue;
            }
            if message.is_string {
                self.close_with(CloseReason::Violation(ProtocolViolation::TextMessage));
                return;
            }
            let len = message.data.len();
            if len > self.config.local_max_message_size as usize {
                self.close_with(CloseReason::Violation(ProtocolViolation::MessageTooLarge {
                    len,
                }));
                return;
            }
            if self.framer.push_message(message.data.freeze()) {
                self.events.push_back(Event::Readable);
            }
        }
    }

    /// Hands queued bytes to the channel. The framer never holds more than `max_buffered`
    /// queued plus in flight, so everything queued may go.
    fn flush(&mut self, now: Instant) {
        if self.state != State::Open {
            return;
        }
        let Some(id) = self.channel else {
            return;
        };
        let limit = self.send_limit;
        while let Some(message) = self.framer.next_message(limit) {
            let sent = self.with_pc(|pc| {
                pc.data_channel(id)
                    .map(|mut channel| channel.send(now, message).is_ok())
            });
            if sent != Ok(Some(true)) {
                // The bytes left the framer: the stream has a hole now, so it cannot go on (a
                // panic has closed the peer already).
                self.close_with(CloseReason::Failed);
                return;
            }
        }
    }

    /// Feeds the stack the DTLS datagrams it dropped before ICE connected. One it had taken
    /// after all is a retransmission to DTLS, which handles those.
    fn replay(&mut self, now: Instant) {
        for (from, to, datagram) in std::mem::take(&mut self.early_dtls) {
            let packet = udp_packet(now, from, to, BytesMut::from(&datagram[..]));
            let _ = self.with_pc(|pc| pc.handle_read(packet));
        }
    }

    fn after_read(&mut self) {
        if self.state == State::Closed {
            return;
        }
        self.take_messages();
        self.refresh_timeout();
    }

    fn refresh_in_flight(&mut self) {
        if let Some(id) = self.channel
            && self.state == State::Open
            && let Ok(Some(n)) =
                self.with_pc(|pc| pc.data_channel(id).map(|c| c.outstanding_bytes()))
        {
            self.in_flight = n;
        }
    }

    fn refresh_timeout(&mut self) {
        if self.relays.has_panicked() {
            self.close_with(CloseReason::StackPanic);
        }
        if self.state != State::Closed {
            self.pc_timeout = self.with_pc(|pc| pc.poll_timeout()).ok().flatten();
        }
        if self.state == State::Closed {
            self.timeout = None;
            return;
        }
        self.timeout = self
            .relays
            .poll_timeout()
            .into_iter()
            .chain(self.pc_timeout)
            .min();
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        self.state = State::Closed;
        self.framer.clear();
        self.in_flight = 0;
        self.timeout = None;
        if reason == CloseReason::StackPanic {
            // A stack that panicked (here a TURN client, or the connection itself, gone
            // already) is not trusted with a goodbye: the connection is dropped unused.
            stack::discard(&mut self.pc);
        }
        // Queues the goodbye (an SCTP ABORT, a DTLS close_notify) for poll_transmit.
        let _ = self.with_pc(|pc| pc.close());
        if !self.relays.is_empty() {
            // Wrap the goodbye while the allocations live, then give them back.
            while let Ok(Some(packet)) = self.with_pc(|pc| pc.poll_write()) {
                let direct = self.relays.route(packet);
                self.goodbye.extend(direct);
            }
            self.relays.release(self.last_now);
        }
        // Whatever the stack says about its own closing is no news now.
        while let Ok(Some(_)) = self.with_pc(|pc| pc.poll_event()) {}
        if self.pc.is_none() {
            // The stack panicked: nothing of it is called from now on. What the TURN clients
            // queued (the releases) is taken out now.
            self.goodbye.extend(self.relays.drain_and_drop());
        }
        self.events.push_back(Event::Closed(reason));
    }
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("buffered", &self.buffered_amount())
            .field("readable", &self.readable())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The SDP the stack made for us.
fn local_description(pc: &RTCPeerConnection) -> Result<String, StackError> {
    pc.local_description()
        .map(|d| d.sdp)
        .ok_or_else(|| StackError("no local description".to_owned()))
}

/// Rounds of "events, then one more timeout" per pump; two suffice for the DTLS kick, the
/// rest is slack for a chain of events.
const PUMP_ROUNDS: usize = 4;

/// DTLS datagrams kept from before ICE connects: a client's first flight is one or two.
const MAX_EARLY_DTLS: usize = 4;

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

#[cfg(test)]
mod tests;
