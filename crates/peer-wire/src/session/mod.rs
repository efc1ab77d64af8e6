//! One peer connection's protocol state machine.
//!
//! [`Session`] performs no I/O and reads no clock. The driver feeds it the bytes it reads and the
//! current time, writes out what it hands back, and calls [`Session::handle_timeout`] when
//! [`Session::poll_timeout`] says so.
//!
//! Methods: (A) getters taking `&self`; (B) `handle_*` for input from the network or clock;
//! (C) commands from the application; (D) `poll_*` for output. After any (B) or (C) call,
//! drain `poll_transmit`, then `poll_timeout`, then `poll_event`. Any call order is valid; an
//! extra `handle_timeout` is a no-op.
//!
//! ```text
//!  new ──▶ AwaitingHandshake ── peer's handshake (same info-hash) ──▶ Open ──┐
//!               │                                                            │
//!               └── timeout / not BitTorrent / other swarm ──▶ Closed ◀──────┘
//!                                     violation, malformed bytes, idle, close()
//! ```
//!
//! Invariants:
//! - `Event::Closed` is emitted exactly once, and nothing is sent or reported after it;
//! - every block in `requested` was asked for by [`Session::request`] and not yet answered,
//!   rejected, cancelled or dropped by a choke, and there are never more of them than the
//!   request depth;
//! - every entry of `peer_requests` is a block inside the torrent the peer asked for while we
//!   were allowed to serve it, and there are never more than [`Config::max_peer_requests`].
//!
//! # Before the info dictionary is known
//!
//! A magnet link names a swarm but not its size: [`Session::without_geometry`] makes a session
//! that can fetch the info dictionary over ut_metadata (BEP 9) without knowing how many pieces
//! there are. It has nothing and announces nothing (have none with the fast extension), never
//! requests, queues or serves a block, and so has no use for the peer's pieces: the bitfield,
//! have all and have none are read (already bounded by [`Limits`](crate::Limits)) and dropped,
//! and the indices of have, suggest, allowed fast and lt_donthave are not range-checked and
//! dropped. Every other check is the same, the bitfield window included; a block still has to
//! be one we requested (so any block closes the session). `config.geometry` is not read: the
//! piece-count checks of a normal session are untouched.

mod blocks;
mod config;
mod events;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use config::{Config, EXT_DONTHAVE, EXT_METADATA, EXT_PEX, Geometry, LocalPieces};
pub use events::{CloseReason, Event, ProtocolViolation, UsageError};

use crate::bitfield::{Bitfield, BitfieldError};
use crate::extended::{self, ExtendedHandshake, Metadata, Pex};
use crate::handshake::{Handshake, Reserved};
use crate::message::{self, HashRequest, Message};
use crate::{BlockRef, PieceIndex, Status};
use blocks::{Queue, Requested};

/// One peer connection.
#[derive(Debug)]
pub struct Session {
    config: Config,
    state: State,
    /// Bytes ready to send, in order: runs of small messages, and blocks as their own chunks.
    outbox: VecDeque<Outgoing>,
    /// Encoded size of everything in `outbox`.
    outbox_bytes: usize,
    /// Where [`Session::poll_transmit`] encodes runs of small messages.
    encode_buf: BytesMut,
    /// The block at the front of `outbox` has had its header handed out.
    block_header_sent: bool,
    events: VecDeque<Event>,

    /// What we announce once the peer's handshake is in (until then `have` updates it).
    local_pieces: Option<LocalPieces>,
    peer: Option<PeerState>,

    am_choking: bool,
    am_interested: bool,
    peer_choking: bool,
    peer_interested: bool,

    /// Our requests the peer has not answered.
    requested: Requested,
    /// Requests we cancelled or a choke dropped: a block for one of these may still arrive.
    cancelled: VecDeque<BlockRef>,
    /// Pieces the peer lets us request while choked.
    allowed_fast_in: Vec<PieceIndex>,
    /// Pieces we let the peer request while we choke it.
    allowed_fast_out: Vec<PieceIndex>,
    /// The peer's requests we may still serve.
    peer_requests: Queue,

    last_received: Instant,
    last_sent: Instant,
    last_block: Instant,
    snubbed: bool,
    opened_at: Instant,

    downloaded: u64,
    uploaded: u64,
    /// `false` for [`Session::without_geometry`]: `config.geometry` means nothing.
    geometry_known: bool,
}

/// What a session sends, before encoding ([`Session::poll_outgoing`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Our handshake (always first).
    Handshake(Handshake),
    /// A message.
    Message(Message),
}

#[derive(Debug)]
enum State {
    AwaitingHandshake,
    Open,
    Closed,
}

#[derive(Debug)]
struct PeerState {
    handshake: Handshake,
    common: Reserved,
    extended: Option<ExtendedHandshake>,
    /// `None` until the bitfield (or have all / have none / first other message).
    pieces: Option<Bitfield>,
    /// Whether a message that ends the bitfield window has arrived.
    past_first: bool,
}

impl Session {
    /// A session that has queued our handshake.
    pub fn new(config: Config, local_pieces: LocalPieces, now: Instant) -> Self {
        let mut s = Self {
            state: State::AwaitingHandshake,
            outbox: VecDeque::new(),
            outbox_bytes: 0,
            encode_buf: BytesMut::new(),
            block_header_sent: false,
            events: VecDeque::new(),
            local_pieces: Some(local_pieces),
            peer: None,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            requested: Requested::default(),
            cancelled: VecDeque::new(),
            allowed_fast_in: Vec::new(),
            allowed_fast_out: Vec::new(),
            peer_requests: Queue::default(),
            last_received: now,
            last_sent: now,
            last_block: now,
            snubbed: false,
            opened_at: now,
            downloaded: 0,
            uploaded: 0,
            geometry_known: true,
            config,
        };
        s.push_outbox(Outgoing::Handshake(s.config.local));
        s
    }

    /// A session for a swarm whose info dictionary we do not have yet (a magnet link): it
    /// fetches the dictionary over ut_metadata ([`Session::send_metadata`], BEP 9) and cannot
    /// take part in the piece exchange. `config.geometry` is ignored;
    /// [`Config::for_metadata`] gives a suitable config. See the module docs for what differs.
    pub fn without_geometry(config: Config, now: Instant) -> Self {
        let mut s = Self::new(config, LocalPieces::None, now);
        s.geometry_known = false;
        s
    }

    // (A) getters

    /// The peer's handshake, once received.
    pub fn peer_handshake(&self) -> Option<&Handshake> {
        self.peer.as_ref().map(|p| &p.handshake)
    }

    /// The peer's extended handshake, once received.
    pub fn peer_extended(&self) -> Option<&ExtendedHandshake> {
        self.peer.as_ref().and_then(|p| p.extended.as_ref())
    }

    /// Whether the session knows the torrent's piece sizes (not one made by
    /// [`Session::without_geometry`]).
    pub fn has_geometry(&self) -> bool {
        self.geometry_known
    }

    /// What the peer has, once known (never, without a geometry).
    pub fn peer_pieces(&self) -> Option<&Bitfield> {
        self.peer.as_ref().and_then(|p| p.pieces.as_ref())
    }

    /// Whether the handshakes are done and the session is not closed.
    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open)
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Whether we choke the peer.
    pub fn am_choking(&self) -> bool {
        self.am_choking
    }

    /// Whether we are interested in the peer.
    pub fn am_interested(&self) -> bool {
        self.am_interested
    }

    /// Whether the peer chokes us.
    pub fn peer_choking(&self) -> bool {
        self.peer_choking
    }

    /// Whether the peer is interested in us.
    pub fn peer_interested(&self) -> bool {
        self.peer_interested
    }

    /// Our outstanding requests.
    pub fn requested(&self) -> &[BlockRef] {
        self.requested.as_slice()
    }

    /// How many more requests the peer accepts now.
    pub fn request_slots(&self) -> usize {
        self.request_depth().saturating_sub(self.requested.len())
    }

    /// The peer's queued requests.
    pub fn peer_requests(&self) -> impl ExactSizeIterator<Item = &BlockRef> {
        self.peer_requests.iter()
    }

    /// Block bytes received and sent.
    pub fn payload_bytes(&self) -> (u64, u64) {
        (self.downloaded, self.uploaded)
    }

    /// Bytes queued to send and not yet handed out by `poll_transmit` or `poll_outgoing`:
    /// what a driver compares with its send-buffer budget before reading more blocks.
    pub fn queued_bytes(&self) -> usize {
        self.outbox_bytes
    }

    /// Pieces the peer lets us request while it chokes us (BEP 6 allowed fast).
    pub fn allowed_fast(&self) -> &[PieceIndex] {
        &self.allowed_fast_in
    }

    /// Whether the peer snubs us.
    pub fn is_snubbed(&self) -> bool {
        self.snubbed
    }

    /// Both sides' reserved bits, once the peer's handshake is in.
    pub fn common(&self) -> Option<Reserved> {
        self.peer.as_ref().map(|p| p.common)
    }

    // (B) input

    /// Consumes every complete handshake or message at the front of `buf`, leaving a partial
    /// one there.
    pub fn handle_bytes(&mut self, now: Instant, buf: &mut BytesMut) {
        if self.is_closed() {
            buf.clear();
            return;
        }
        if !buf.is_empty() {
            self.last_received = now;
        }
        if let Err(reason) = self.consume(now, buf) {
            self.close_with(reason);
            buf.clear();
        }
    }

    /// The peer's handshake, already decoded: for a transport that carries messages rather
    /// than bytes (the swarm simulator). Do not mix with [`Session::handle_bytes`].
    pub fn handle_handshake(&mut self, now: Instant, peer: Handshake) {
        if self.is_closed() || !matches!(self.state, State::AwaitingHandshake) {
            return;
        }
        self.last_received = now;
        if let Err(reason) = self.on_handshake(peer) {
            self.close_with(reason);
        }
    }

    /// A message, already decoded (see [`Session::handle_handshake`]). One that arrives
    /// before the peer's handshake is ignored.
    pub fn handle_message(&mut self, now: Instant, message: Message) {
        if !self.is_open() {
            return;
        }
        self.last_received = now;
        if let Err(reason) = self.on_message(now, message) {
            self.close_with(reason);
        }
    }

    /// Fires whatever timer is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if matches!(self.state, State::AwaitingHandshake)
            && now >= self.opened_at + self.config.handshake_timeout
        {
            return self.close_with(CloseReason::HandshakeTimeout);
        }
        if now >= self.last_received + self.config.idle_timeout {
            return self.close_with(CloseReason::Idle);
        }
        if self.is_open()
            && now >= self.last_sent + self.config.keepalive_interval
            && self.outbox.is_empty()
        {
            self.send(Message::KeepAlive);
        }
        if let Some(deadline) = self.snub_deadline()
            && now >= deadline
        {
            self.snubbed = true;
            self.events.push_back(Event::Snubbed {
                outstanding: self.requested.as_slice().to_vec(),
            });
        }
    }

    // (C) commands

    /// Stops serving the peer. With the fast extension, its queued requests are rejected
    /// (except for allowed-fast pieces); without, they are dropped.
    pub fn choke(&mut self) -> Result<(), UsageError> {
        self.check_open()?;
        if !self.am_choking {
            self.am_choking = true;
            self.send(Message::Choke);
            let fast = self.fast();
            let queued = self.peer_requests.take();
            for block in queued {
                if fast && self.allowed_fast_out.contains(&block.piece) {
                    self.peer_requests.push_back(block);
                } else if fast {
                    self.send(Message::Reject(block));
                }
            }
        }
        Ok(())
    }

    /// Lets the peer request.
    pub fn unchoke(&mut self) -> Result<(), UsageError> {
        self.check_open()?;
        if self.am_choking {
            self.am_choking = false;
            self.send(Message::Unchoke);
        }
        Ok(())
    }

    /// Tells the peer whether we want something it has.
    pub fn set_interested(&mut self, interested: bool) -> Result<(), UsageError> {
        self.check_open()?;
        if self.am_interested != interested {
            self.am_interested = interested;
            self.send(if interested {
                Message::Interested
            } else {
                Message::NotInterested
            });
        }
        Ok(())
    }

    /// Announces a verified piece (before the peer's handshake, it joins the bitfield sent
    /// then).
    pub fn have(&mut self, piece: PieceIndex) -> Result<(), UsageError> {
        self.check_not_closed()?;
        self.check_geometry()?;
        if piece.0 >= self.config.geometry.num_pieces {
            return Err(UsageError::OutOfRange);
        }
        match &mut self.local_pieces {
            Some(LocalPieces::Some(bits)) => {
                bits.insert(piece);
            }
            Some(LocalPieces::All) => {}
            Some(pieces @ LocalPieces::None) => {
                let mut bits = Bitfield::new(self.config.geometry.num_pieces);
                bits.insert(piece);
                *pieces = LocalPieces::Some(bits);
            }
            None => self.send(Message::Have(piece)),
        }
        Ok(())
    }

    /// Asks for a block.
    pub fn request(&mut self, block: BlockRef) -> Result<(), UsageError> {
        self.check_open()?;
        self.check_geometry()?;
        if !self.config.geometry.contains(&block) {
            return Err(UsageError::OutOfRange);
        }
        if self.peer_choking && !self.allowed_fast_in.contains(&block.piece) {
            return Err(UsageError::Choked);
        }
        if self.requested.contains(&block) {
            return Err(UsageError::AlreadyRequested);
        }
        if self.requested.len() >= self.request_depth() {
            return Err(UsageError::QueueFull);
        }
        if self.requested.is_empty() {
            // The snubbing clock starts with the first outstanding request.
            self.last_block = self.last_received;
        }
        self.requested.push(block);
        self.send(Message::Request(block));
        Ok(())
    }

    /// Withdraws a request; a block for it that is already on its way is dropped quietly.
    pub fn cancel(&mut self, block: BlockRef) -> Result<(), UsageError> {
        self.check_open()?;
        if !self.requested.remove(&block) {
            return Err(UsageError::NotRequested);
        }
        self.remember_cancelled(block);
        self.send(Message::Cancel(block));
        Ok(())
    }

    /// Serves one of the peer's requests. The block is sent as its own chunk: no copy.
    pub fn send_block(&mut self, block: BlockRef, data: Bytes) -> Result<(), UsageError> {
        self.check_open()?;
        if data.len() != block.len as usize {
            return Err(UsageError::OutOfRange);
        }
        if !self.peer_requests.remove(&block) {
            return Err(UsageError::NotRequested);
        }
        self.send(Message::Piece {
            piece: block.piece,
            offset: block.offset,
            data,
        });
        self.uploaded += u64::from(block.len);
        Ok(())
    }

    /// Declines one of the peer's requests (BEP 6 reject; without the fast extension the
    /// request is dropped silently).
    pub fn reject(&mut self, block: BlockRef) -> Result<(), UsageError> {
        self.check_open()?;
        if !self.peer_requests.remove(&block) {
            return Err(UsageError::NotRequested);
        }
        if self.fast() {
            self.send(Message::Reject(block));
        }
        Ok(())
    }

    /// Suggests a piece (BEP 6).
    pub fn suggest(&mut self, piece: PieceIndex) -> Result<(), UsageError> {
        self.check_open()?;
        if !self.fast() {
            return Err(UsageError::Unsupported);
        }
        self.check_geometry()?;
        if piece.0 >= self.config.geometry.num_pieces {
            return Err(UsageError::OutOfRange);
        }
        self.send(Message::Suggest(piece));
        Ok(())
    }

    /// Sends a ut_metadata message (BEP 9).
    pub fn send_metadata(&mut self, message: &Metadata) -> Result<(), UsageError> {
        self.send_extension(extended::name::UT_METADATA, message.encode())
    }

    /// Sends a ut_pex message (BEP 11).
    pub fn send_pex(&mut self, pex: &Pex) -> Result<(), UsageError> {
        self.send_extension(extended::name::UT_PEX, pex.encode())
    }

    /// Tells the peer we lost a piece (BEP 54).
    pub fn dont_have(&mut self, piece: PieceIndex) -> Result<(), UsageError> {
        let payload = extended::encode_dont_have(piece).to_vec();
        self.send_extension(extended::name::LT_DONTHAVE, payload)
    }

    /// Sends a raw message (BEP 52 hash messages, `port`, extensions this crate does not
    /// know).
    pub fn send_message(&mut self, message: &Message) -> Result<(), UsageError> {
        self.check_open()?;
        self.send(message.clone());
        Ok(())
    }

    /// Asks the peer for hashes of a file's merkle tree (BEP 52 `hash request`). The answer
    /// comes as [`Event::Hashes`] or [`Event::HashReject`]; matching it to the request, and
    /// checking the hashes, is the caller's (only it knows the file's tree).
    pub fn send_hash_request(&mut self, request: HashRequest) -> Result<(), UsageError> {
        self.check_open()?;
        self.send(Message::HashRequest(request));
        Ok(())
    }

    /// Answers a peer's [`Event::HashRequest`] (BEP 52 `hashes`): `hashes` is the requested
    /// hashes of the base layer then the uncle hashes, 32 bytes each.
    pub fn send_hashes(&mut self, request: HashRequest, hashes: Bytes) -> Result<(), UsageError> {
        self.check_open()?;
        if !hashes.len().is_multiple_of(32) {
            return Err(UsageError::NotWholeHashes);
        }
        self.send(Message::Hashes { request, hashes });
        Ok(())
    }

    /// Declines a peer's [`Event::HashRequest`] (BEP 52 `hash reject`: "Hash requests MUST be
    /// answered with either a 'hashes' or 'hash reject' message").
    pub fn send_hash_reject(&mut self, request: HashRequest) -> Result<(), UsageError> {
        self.check_open()?;
        self.send(Message::HashReject(request));
        Ok(())
    }

    /// Ends the session.
    pub fn close(&mut self) {
        if !self.is_closed() {
            self.close_with(CloseReason::Local);
        }
    }

    // (D) output

    /// The next bytes to send, in order, as of `now` (the keep-alive clock counts from the
    /// last bytes handed out). Blocks come as their own chunks, shared with the caller's
    /// `Bytes`, so a vectored write sends them without a copy.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        // A block already has its header in `encode_buf`: hand out its data.
        if let Some(Outgoing::Message(Message::Piece { data, .. })) = self.outbox.front()
            && self.encode_buf.is_empty()
            && self.block_header_sent
        {
            let data = data.clone();
            let _ = self.pop_outbox();
            self.block_header_sent = false;
            self.last_sent = now;
            return Some(data);
        }
        while let Some(next) = self.outbox.front() {
            match next {
                Outgoing::Handshake(h) => h.encode(&mut self.encode_buf),
                Outgoing::Message(Message::Piece {
                    piece,
                    offset,
                    data,
                }) => {
                    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                    message::encode_piece_header(*piece, *offset, len, &mut self.encode_buf);
                    self.block_header_sent = true;
                    break;
                }
                Outgoing::Message(m) => m.encode(&mut self.encode_buf),
            }
            let _ = self.pop_outbox();
        }
        if self.encode_buf.is_empty() {
            return None;
        }
        self.last_sent = now;
        Some(self.encode_buf.split().freeze())
    }

    /// The next handshake or message to send, not encoded: for a transport that carries
    /// messages rather than bytes (the swarm simulator). Do not mix with
    /// [`Session::poll_transmit`] on one session.
    #[must_use]
    pub fn poll_outgoing(&mut self, now: Instant) -> Option<Outgoing> {
        let next = self.pop_outbox();
        if next.is_some() {
            self.last_sent = now;
        }
        next
    }

    /// When [`Session::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let idle = self.last_received + self.config.idle_timeout;
        let state = match self.state {
            State::AwaitingHandshake => Some(self.opened_at + self.config.handshake_timeout),
            // Bytes waiting to be sent will reset the keep-alive clock when they go.
            _ if self.outbox.is_empty() => Some(self.last_sent + self.config.keepalive_interval),
            _ => None,
        };
        [Some(idle), state, self.snub_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // private

    fn consume(&mut self, now: Instant, buf: &mut BytesMut) -> Result<(), CloseReason> {
        if matches!(self.state, State::AwaitingHandshake) {
            match Handshake::decode(buf).map_err(CloseReason::Malformed)? {
                Status::Partial => return Ok(()),
                Status::Complete((peer, used)) => {
                    let _ = buf.split_to(used);
                    self.on_handshake(peer)?;
                }
            }
        }
        loop {
            if self.is_closed() {
                return Ok(());
            }
            match Message::decode(buf, &self.config.limits).map_err(CloseReason::Malformed)? {
                Status::Partial => return Ok(()),
                Status::Complete(m) => self.on_message(now, m)?,
            }
        }
    }

    fn on_handshake(&mut self, peer: Handshake) -> Result<(), CloseReason> {
        if peer.info_hash != self.config.local.info_hash {
            return Err(CloseReason::Violation(ProtocolViolation::WrongInfoHash));
        }
        if peer.peer_id == self.config.local.peer_id {
            return Err(CloseReason::Violation(ProtocolViolation::OwnPeerId));
        }
        let common = self.config.local.reserved.common(&peer.reserved);
        self.state = State::Open;
        self.peer = Some(PeerState {
            handshake: peer,
            common,
            extended: None,
            pieces: None,
            past_first: false,
        });
        self.events.push_back(Event::Handshake { peer, common });
        if common.extension_protocol() {
            let mut ours = self.config.extended.clone();
            if ours.your_ip.is_none() {
                ours.your_ip = self.config.peer_ip;
            }
            self.send(Message::Extended {
                id: 0,
                payload: Bytes::from(ours.encode()),
            });
        }
        let fast = common.fast();
        let geometry = self.config.geometry;
        match self.local_pieces.take() {
            Some(LocalPieces::All) if fast => self.send(Message::HaveAll),
            Some(LocalPieces::None) if fast => self.send(Message::HaveNone),
            Some(LocalPieces::All) => {
                let bits = Bitfield::full(geometry.num_pieces).to_bytes();
                self.send(Message::Bitfield(bits));
            }
            Some(LocalPieces::Some(bits)) if bits.len() == geometry.num_pieces => {
                self.send(Message::Bitfield(bits.to_bytes()));
            }
            _ => {}
        }
        if fast
            && self.geometry_known
            && let Some(ip) = self.config.peer_ip
        {
            let set = crate::fast::allowed_fast_set(
                ip,
                &self.config.local.info_hash,
                geometry.num_pieces,
                self.config.allowed_fast,
            );
            for piece in set {
                self.allowed_fast_out.push(piece);
                self.send(Message::AllowedFast(piece));
            }
        }
        Ok(())
    }

    fn on_message(&mut self, now: Instant, m: Message) -> Result<(), CloseReason> {
        use ProtocolViolation as V;
        let geometry = self.config.geometry;
        let known = self.geometry_known;
        let fast = self.fast();
        let violation = |v| Err(CloseReason::Violation(v));
        // Without a geometry there is no range to check, and nothing uses the index.
        let check_piece = |p: PieceIndex| {
            if !known || p.0 < geometry.num_pieces {
                Ok(p)
            } else {
                Err(CloseReason::Violation(V::PieceOutOfRange(p.0)))
            }
        };
        // BEP 6 messages need the fast extension on both sides.
        if let Some(id) = fast_id(&m)
            && !fast
        {
            return violation(V::FastNotNegotiated(id));
        }
        // The bitfield window: a bitfield, have all or have none normally comes before any
        // other message, extended ones (libtorrent sends its extended handshake first),
        // keep-alives and port aside; one that comes later adds to what the peer has.
        let opens_window = matches!(
            m,
            Message::KeepAlive | Message::Extended { .. } | Message::Port(_)
        );
        let peer = self.peer.as_mut().expect("Open implies a peer handshake");
        if let Message::Bitfield(_) | Message::HaveAll | Message::HaveNone = m {
            let late = peer.past_first;
            peer.past_first = true;
            if !known {
                // Nothing to check it against and nothing to use it for.
                return Ok(());
            }
            let pieces = match &m {
                Message::Bitfield(bytes) => Bitfield::from_wire(bytes, geometry.num_pieces)
                    .map_err(|e| match e {
                        BitfieldError::WrongLength { len, expected } => {
                            CloseReason::Violation(V::BitfieldLength { len, expected })
                        }
                        BitfieldError::SpareBits => CloseReason::Violation(V::BitfieldSpareBits),
                    })?,
                Message::HaveAll => Bitfield::full(geometry.num_pieces),
                _ => Bitfield::new(geometry.num_pieces),
            };
            if late {
                // aria2 sends a bitfield in the middle of a connection when it is shorter than
                // the haves it replaces, and have all once it is complete; libtorrent takes
                // them too. Pieces are never taken back this way (that is lt_donthave): what
                // is new counts as haves.
                if let Some(have) = peer.pieces.as_mut() {
                    for p in pieces.iter() {
                        if have.insert(p) {
                            self.events.push_back(Event::Have(p));
                        }
                    }
                }
                return Ok(());
            }
            peer.pieces = Some(pieces.clone());
            self.events.push_back(Event::PeerPieces(pieces));
            return Ok(());
        }
        if !opens_window && !peer.past_first {
            // No bitfield (BEP 3 lets a peer with nothing skip it): the peer has nothing yet.
            peer.past_first = true;
            if known {
                let nothing = Bitfield::new(geometry.num_pieces);
                peer.pieces = Some(nothing.clone());
                self.events.push_back(Event::PeerPieces(nothing));
            }
        }
        match m {
            Message::KeepAlive => {}
            Message::Choke => {
                if !self.peer_choking {
                    self.peer_choking = true;
                    // BEP 6: with the fast extension a choke no longer drops requests;
                    // the peer rejects the ones it will not serve.
                    let dropped = if fast {
                        Vec::new()
                    } else {
                        let dropped = self.requested.take();
                        for &b in &dropped {
                            self.remember_cancelled(b);
                        }
                        dropped
                    };
                    self.events.push_back(Event::Choked { dropped });
                }
            }
            Message::Unchoke => {
                if self.peer_choking {
                    self.peer_choking = false;
                    self.events.push_back(Event::Unchoked);
                }
            }
            Message::Interested => {
                if !self.peer_interested {
                    self.peer_interested = true;
                    self.events.push_back(Event::Interested);
                }
            }
            Message::NotInterested => {
                if self.peer_interested {
                    self.peer_interested = false;
                    self.events.push_back(Event::NotInterested);
                }
            }
            Message::Have(p) => {
                let p = check_piece(p)?;
                let peer = self.peer.as_mut().expect("Open implies a peer handshake");
                if peer.pieces.as_mut().is_some_and(|bits| bits.insert(p)) {
                    self.events.push_back(Event::Have(p));
                }
            }
            Message::Bitfield(_) | Message::HaveAll | Message::HaveNone => {
                unreachable!("handled above")
            }
            Message::Request(block) => self.on_request(block)?,
            Message::Piece {
                piece,
                offset,
                data,
            } => {
                let block = BlockRef {
                    piece,
                    offset,
                    len: u32::try_from(data.len()).unwrap_or(u32::MAX),
                };
                if self.requested.remove(&block) {
                    self.downloaded += u64::from(block.len);
                    self.last_block = now;
                    self.snubbed = false;
                    self.events.push_back(Event::Block { block, data });
                } else if let Some(i) = self.cancelled.iter().position(|b| *b == block) {
                    // Crossed our cancel (or a choke) on the wire: not the peer's fault.
                    self.cancelled.remove(i);
                } else {
                    return violation(V::UnrequestedBlock(block));
                }
            }
            Message::Cancel(block) => {
                if self.peer_requests.remove(&block) {
                    self.events.push_back(Event::Cancel(block));
                }
            }
            Message::Port(port) => self.events.push_back(Event::Port(port)),
            Message::Suggest(p) => {
                let p = check_piece(p)?;
                if known {
                    self.events.push_back(Event::Suggest(p));
                }
            }
            Message::Reject(block) => {
                // A reject for something we no longer wait for is harmless (it crossed a
                // cancel); libtorrent ignores those too.
                if self.requested.remove(&block) {
                    self.events.push_back(Event::Rejected(block));
                }
            }
            Message::AllowedFast(p) => {
                let p = check_piece(p)?;
                if known && !self.allowed_fast_in.contains(&p) && self.allowed_fast_in.len() < 256 {
                    self.allowed_fast_in.push(p);
                    self.events.push_back(Event::AllowedFast(p));
                }
            }
            Message::Extended { id, payload } => self.on_extended(id, payload)?,
            Message::HashRequest(r) => self.events.push_back(Event::HashRequest(r)),
            Message::Hashes { request, hashes } => {
                self.events.push_back(Event::Hashes { request, hashes });
            }
            Message::HashReject(r) => self.events.push_back(Event::HashReject(r)),
            // BEP 3 peers ignore messages they do not know.
            Message::Unknown { .. } => {}
        }
        Ok(())
    }

    fn on_request(&mut self, block: BlockRef) -> Result<(), CloseReason> {
        let inside = if self.geometry_known {
            self.config.geometry.contains(&block)
        } else {
            block.len > 0
        };
        if !inside || block.len > self.config.max_request_len {
            return Err(CloseReason::Violation(ProtocolViolation::InvalidRequest(
                block,
            )));
        }
        let fast = self.fast();
        // Without a geometry we have nothing: every request is declined.
        let allowed = self.geometry_known
            && (!self.am_choking || (fast && self.allowed_fast_out.contains(&block.piece)));
        if !allowed {
            // BEP 6: "reject requests when choking"; BEP 3 peers just ignore them.
            if fast {
                self.send(Message::Reject(block));
            }
            return Ok(());
        }
        if self.peer_requests.len() >= 2 * self.config.max_peer_requests {
            return Err(CloseReason::Violation(ProtocolViolation::TooManyRequests));
        }
        if self.peer_requests.len() >= self.config.max_peer_requests
            || self.peer_requests.contains(&block)
        {
            if fast {
                self.send(Message::Reject(block));
            }
            return Ok(());
        }
        self.peer_requests.push_back(block);
        self.events.push_back(Event::Request(block));
        Ok(())
    }

    fn on_extended(&mut self, id: u8, payload: Bytes) -> Result<(), CloseReason> {
        let peer = self.peer.as_mut().expect("Open implies a peer handshake");
        if !peer.common.extension_protocol() {
            return Err(CloseReason::Violation(
                ProtocolViolation::ExtensionsNotNegotiated,
            ));
        }
        let malformed = CloseReason::Malformed;
        match id {
            0 => {
                let h = ExtendedHandshake::decode(&payload).map_err(malformed)?;
                // A later extended handshake updates the first (BEP 10 allows it).
                peer.extended = Some(h.clone());
                self.events.push_back(Event::ExtendedHandshake(h));
            }
            EXT_METADATA if self.announced(extended::name::UT_METADATA) => {
                let m = Metadata::decode(&payload).map_err(malformed)?;
                if let Metadata::Data { total_size, .. } = m {
                    let announced = self.peer_extended().and_then(|e| e.metadata_size);
                    if total_size > self.config.max_metadata_size
                        || announced.is_some_and(|a| a != total_size)
                    {
                        return Err(CloseReason::Violation(ProtocolViolation::MetadataSize(
                            total_size,
                        )));
                    }
                }
                self.events.push_back(Event::Metadata(m));
            }
            EXT_PEX if self.announced(extended::name::UT_PEX) => {
                let pex = Pex::decode(&payload).map_err(malformed)?;
                self.events.push_back(Event::Pex(pex));
            }
            EXT_DONTHAVE if self.announced(extended::name::LT_DONTHAVE) => {
                let piece = extended::decode_dont_have(&payload).map_err(malformed)?;
                if self.geometry_known && piece.0 >= self.config.geometry.num_pieces {
                    return Err(CloseReason::Violation(ProtocolViolation::PieceOutOfRange(
                        piece.0,
                    )));
                }
                let peer = self.peer.as_mut().expect("Open implies a peer handshake");
                if peer.pieces.as_mut().is_some_and(|b| b.remove(piece)) {
                    self.events.push_back(Event::DontHave(piece));
                }
            }
            id => self.events.push_back(Event::Extended { id, payload }),
        }
        Ok(())
    }

    /// Whether our extended handshake announces `name` under its constant id.
    fn announced(&self, name: &str) -> bool {
        self.config.extended.extension_id(name).is_some()
    }

    fn send_extension(&mut self, name: &str, payload: Vec<u8>) -> Result<(), UsageError> {
        self.check_open()?;
        let id = self
            .peer
            .as_ref()
            .filter(|p| p.common.extension_protocol())
            .and_then(|p| p.extended.as_ref())
            .and_then(|e| e.extension_id(name))
            .ok_or(UsageError::Unsupported)?;
        self.send(Message::Extended {
            id,
            payload: Bytes::from(payload),
        });
        Ok(())
    }

    fn push_outbox(&mut self, item: Outgoing) {
        self.outbox_bytes += outgoing_len(&item);
        self.outbox.push_back(item);
    }

    fn pop_outbox(&mut self) -> Option<Outgoing> {
        let item = self.outbox.pop_front()?;
        self.outbox_bytes -= outgoing_len(&item);
        Some(item)
    }

    fn send(&mut self, m: Message) {
        self.push_outbox(Outgoing::Message(m));
    }

    fn remember_cancelled(&mut self, block: BlockRef) {
        // Enough to cover what can be in flight; the oldest are forgotten.
        if self.cancelled.len() >= 4 * self.config.max_outstanding.max(1) {
            self.cancelled.pop_front();
        }
        self.cancelled.push_back(block);
    }

    fn request_depth(&self) -> usize {
        let reqq = self
            .peer_extended()
            .and_then(|e| e.reqq)
            .map_or(self.config.default_peer_reqq, |q| q as usize);
        reqq.clamp(1, self.config.max_outstanding)
    }

    fn snub_deadline(&self) -> Option<Instant> {
        (!self.snubbed && !self.requested.is_empty())
            .then(|| self.last_block + self.config.request_timeout)
    }

    fn fast(&self) -> bool {
        self.peer.as_ref().is_some_and(|p| p.common.fast())
    }

    fn check_open(&self) -> Result<(), UsageError> {
        match self.state {
            State::Open => Ok(()),
            State::AwaitingHandshake => Err(UsageError::NotOpen),
            State::Closed => Err(UsageError::Closed),
        }
    }

    fn check_geometry(&self) -> Result<(), UsageError> {
        if self.geometry_known {
            Ok(())
        } else {
            Err(UsageError::NoGeometry)
        }
    }

    fn check_not_closed(&self) -> Result<(), UsageError> {
        if self.is_closed() {
            Err(UsageError::Closed)
        } else {
            Ok(())
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        self.state = State::Closed;
        self.outbox.clear();
        self.outbox_bytes = 0;
        self.encode_buf.clear();
        self.block_header_sent = false;
        self.requested.clear();
        self.peer_requests.clear();
        self.events.push_back(Event::Closed(reason));
    }
}

/// The id of a BEP 6 message.
fn fast_id(m: &Message) -> Option<u8> {
    Some(match m {
        Message::Suggest(_) => message::id::SUGGEST,
        Message::HaveAll => message::id::HAVE_ALL,
        Message::HaveNone => message::id::HAVE_NONE,
        Message::Reject(_) => message::id::REJECT,
        Message::AllowedFast(_) => message::id::ALLOWED_FAST,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;

/// Bytes an outgoing item takes on the wire.
fn outgoing_len(item: &Outgoing) -> usize {
    match item {
        Outgoing::Handshake(_) => crate::handshake::HANDSHAKE_LEN,
        Outgoing::Message(m) => m.encoded_len(),
    }
}
