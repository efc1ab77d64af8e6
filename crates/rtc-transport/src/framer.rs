//! The BitTorrent byte stream over data-channel messages.
//!
//! A data channel carries messages, BitTorrent a byte stream (BEP 3). WebTorrent's
//! `bittorrent-protocol` writes each wire message as one data-channel message and a `piece` as
//! two (its 13-byte header, then the block); a receiver must not care where the message
//! boundaries fall. So this framer forgets them:
//!
//! - **Send.** [`Framer::write`] copies bytes into one send queue; [`Framer::next_message`] cuts
//!   the queue into messages no longer than the caller's limit (the remote's
//!   `max-message-size`, capped by our own). Writes coalesce: ten 17-byte `have` messages leave
//!   as one data-channel message.
//! - **Backpressure.** The framer refuses bytes past [`Limits::max_buffered`], counting what it
//!   queues *and* what the caller reports as still in flight in the channel (bytes handed to
//!   SCTP and not yet acknowledged). A refused or shortened write owes the caller one
//!   "writable again" signal ([`Framer::poll_writable`]) once the total falls to half the limit,
//!   as simple-peer waits for `bufferedamountlow` after `bufferedAmount` passes 64 KiB.
//! - **Receive.** Messages are kept as they arrived ([`Bytes`], no copy) and read out as one
//!   stream in order. [`Framer::can_receive`] says when the caller should stop taking messages
//!   from the channel, so that a reader that falls behind throttles the remote through SCTP's
//!   receive window instead of growing this queue.
//!
//! Invariants: `send.len() <= max_buffered` after every call; `recv_len` is the sum of the
//! lengths of the queued messages minus `recv_offset`; the front message is never fully read.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

/// Bounds on the framer's queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes accepted by [`Framer::write`] and not yet acknowledged by the remote (queued here
    /// plus in flight in the channel) above which writes are refused.
    pub max_buffered: usize,
    /// Received bytes not yet read above which [`Framer::can_receive`] is false.
    pub max_receive_buffered: usize,
}

impl Default for Limits {
    /// 64 KiB to send (simple-peer's threshold), 1 MiB received and unread.
    fn default() -> Self {
        Self {
            max_buffered: 64 * 1024,
            max_receive_buffered: 1024 * 1024,
        }
    }
}

/// The byte stream ⇄ message framing of one data channel. Performs no I/O.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    send: BytesMut,
    blocked: bool,
    recv: VecDeque<Bytes>,
    recv_offset: usize,
    recv_len: usize,
}

impl Framer {
    /// An empty framer.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            send: BytesMut::new(),
            blocked: false,
            recv: VecDeque::new(),
            recv_offset: 0,
            recv_len: 0,
        }
    }

    /// The limits it was made with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Bytes queued to send, not yet cut into messages.
    pub fn queued(&self) -> usize {
        self.send.len()
    }

    /// Received bytes waiting to be read.
    pub fn readable(&self) -> usize {
        self.recv_len
    }

    /// Queues as much of `data` as the limit allows, given `in_flight` bytes already handed to
    /// the channel and not yet acknowledged, and returns how many bytes it took (0 when full).
    /// Taking fewer than `data.len()` owes the caller a [`Self::poll_writable`] signal.
    pub fn write(&mut self, data: &[u8], in_flight: usize) -> usize {
        let used = self.send.len().saturating_add(in_flight);
        let room = self.limits.max_buffered.saturating_sub(used);
        let n = room.min(data.len());
        if n < data.len() {
            self.blocked = true;
        }
        self.send.extend_from_slice(&data[..n]);
        n
    }

    /// The next message to send: the oldest queued bytes, at most `max_len` of them (`None` when
    /// nothing is queued or `max_len` is 0). Splits the queue without copying.
    pub fn next_message(&mut self, max_len: usize) -> Option<BytesMut> {
        let n = self.send.len().min(max_len);
        (n > 0).then(|| self.send.split_to(n))
    }

    /// True once after a refused or shortened [`Self::write`], when queued plus `in_flight`
    /// bytes have fallen to half of [`Limits::max_buffered`] or below.
    pub fn poll_writable(&mut self, in_flight: usize) -> bool {
        let used = self.send.len().saturating_add(in_flight);
        if self.blocked && used <= self.limits.max_buffered / 2 {
            self.blocked = false;
            return true;
        }
        false
    }

    /// Whether the caller should take another message from the channel: false while the unread
    /// bytes are at [`Limits::max_receive_buffered`] or above. One more message may overshoot
    /// the limit by its own length, which the channel's `max-message-size` bounds.
    pub fn can_receive(&self) -> bool {
        self.recv_len < self.limits.max_receive_buffered
    }

    /// Appends a received message to the stream. Returns true if the stream had nothing to
    /// read before (an edge for a "readable" signal). Empty messages add nothing.
    pub fn push_message(&mut self, message: Bytes) -> bool {
        if message.is_empty() {
            return false;
        }
        let was_empty = self.recv_len == 0;
        self.recv_len += message.len();
        self.recv.push_back(message);
        was_empty
    }

    /// Copies received bytes, in order, into `buf`; returns how many (0 when none are waiting).
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let Some(front) = self.recv.front() else {
                break;
            };
            let chunk = &front[self.recv_offset..];
            let n = chunk.len().min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&chunk[..n]);
            done += n;
            self.consume_front(n);
        }
        done
    }

    /// Appends every received byte, in order, to `out` (as `peer_wire::Session::handle_bytes`
    /// wants them); returns how many.
    pub fn read_into(&mut self, out: &mut BytesMut) -> usize {
        let total = self.recv_len;
        out.reserve(total);
        while let Some(mut front) = self.recv.pop_front() {
            front.advance(self.recv_offset);
            self.recv_offset = 0;
            out.extend_from_slice(&front);
        }
        self.recv_len = 0;
        total
    }

    /// Drops everything queued in both directions (the channel is gone).
    pub fn clear(&mut self) {
        self.send.clear();
        self.recv.clear();
        self.recv_offset = 0;
        self.recv_len = 0;
        self.blocked = false;
    }

    fn consume_front(&mut self, n: usize) {
        self.recv_offset += n;
        self.recv_len -= n;
        // Invariant: the front message is never fully read; pop it when it is.
        if self
            .recv
            .front()
            .is_some_and(|front| self.recv_offset == front.len())
        {
            self.recv.pop_front();
            self.recv_offset = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(max_buffered: usize, max_receive_buffered: usize) -> Limits {
        Limits {
            max_buffered,
            max_receive_buffered,
        }
    }

    #[test]
    fn writes_coalesce_and_split_at_the_message_limit() {
        let mut f = Framer::new(Limits::default());
        for _ in 0..10 {
            assert_eq!(f.write(&[7; 17], 0), 17);
        }
        assert_eq!(f.next_message(16 * 1024).map(|m| m.len()), Some(170));
        assert!(f.next_message(16 * 1024).is_none());

        let data: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        assert_eq!(f.write(&data, 0), 40_000);
        let lens: Vec<usize> = std::iter::from_fn(|| f.next_message(16_384))
            .map(|m| m.len())
            .collect();
        assert_eq!(lens, [16_384, 16_384, 7_232]);
        assert!(f.next_message(0).is_none());
    }

    #[test]
    fn refuses_past_the_limit_counting_bytes_in_flight() {
        let mut f = Framer::new(limits(100, 1000));
        assert_eq!(f.write(&[1; 60], 0), 60);
        // 60 queued + 30 in flight: room for 10.
        assert_eq!(f.write(&[2; 50], 30), 10);
        assert_eq!(f.queued(), 70);
        assert_eq!(f.write(&[3; 1], 30), 0);
        assert_eq!(f.write(&[], 30), 0);
        // In flight alone over the limit: nothing, and no underflow.
        let mut g = Framer::new(limits(100, 1000));
        assert_eq!(g.write(&[1; 5], 500), 0);
    }

    #[test]
    fn writable_is_signalled_once_at_half_the_limit() {
        let mut f = Framer::new(limits(100, 1000));
        assert_eq!(f.write(&[0; 100], 0), 100);
        assert!(!f.poll_writable(0), "no write was refused yet");
        assert_eq!(f.write(&[0; 1], 0), 0);
        let m = f.next_message(49).expect("queued");
        assert_eq!(m.len(), 49);
        // 51 queued, none in flight: still above half.
        assert!(!f.poll_writable(0));
        // 51 queued + 10 in flight.
        let _ = f.next_message(1);
        assert!(!f.poll_writable(11));
        assert!(f.poll_writable(0));
        assert!(!f.poll_writable(0), "only once");
    }

    #[test]
    fn a_write_that_fits_owes_no_signal() {
        let mut f = Framer::new(limits(100, 1000));
        assert_eq!(f.write(&[0; 100], 0), 100);
        let _ = f.next_message(100);
        assert!(!f.poll_writable(0));
    }

    #[test]
    fn reads_messages_as_one_stream() {
        let mut f = Framer::new(Limits::default());
        assert!(f.push_message(Bytes::from_static(b"\x00\x00\x00\x0d\x07")));
        assert!(!f.push_message(Bytes::from_static(b"")));
        assert!(!f.push_message(Bytes::from_static(b"abcdefgh")));
        assert!(!f.push_message(Bytes::from_static(b"ijkl")));
        assert_eq!(f.readable(), 17);
        let mut buf = [0; 3];
        assert_eq!(f.read(&mut buf), 3);
        assert_eq!(&buf, b"\x00\x00\x00");
        let mut rest = BytesMut::from(&b">"[..]);
        assert_eq!(f.read_into(&mut rest), 14);
        assert_eq!(&rest[..], b">\x0d\x07abcdefghijkl");
        assert_eq!(f.readable(), 0);
        assert_eq!(f.read(&mut buf), 0);
        assert!(
            f.push_message(Bytes::from_static(b"z")),
            "empty again: an edge"
        );
    }

    #[test]
    fn receive_stops_at_the_limit_and_resumes_when_read() {
        let mut f = Framer::new(limits(100, 10));
        f.push_message(Bytes::from_static(&[1; 9]));
        assert!(f.can_receive());
        f.push_message(Bytes::from_static(&[2; 5]));
        assert!(!f.can_receive());
        let mut buf = [0; 4];
        assert_eq!(f.read(&mut buf), 4);
        assert!(!f.can_receive(), "10 unread: at the limit");
        assert_eq!(f.read(&mut buf[..1]), 1);
        assert!(f.can_receive());
        f.clear();
        assert_eq!(f.readable(), 0);
        assert_eq!(f.queued(), 0);
    }

    proptest! {
        /// Any writes, cut at any limits, come out as the same bytes; any messages read in any
        /// pieces come out as their concatenation; the send queue never passes the limit.
        #[test]
        fn bytes_survive_any_framing(
            writes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
            max_buffered in 1usize..1000,
            cuts in proptest::collection::vec(1usize..200, 1..10),
            reads in proptest::collection::vec(1usize..100, 1..10),
        ) {
            let mut f = Framer::new(limits(max_buffered, 1 << 20));
            let mut sent = Vec::new();
            let mut accepted = Vec::new();
            let mut cut = cuts.iter().cycle();
            for w in &writes {
                let mut rest = &w[..];
                while !rest.is_empty() {
                    let n = f.write(rest, 0);
                    prop_assert!(f.queued() <= max_buffered);
                    accepted.extend_from_slice(&rest[..n]);
                    rest = &rest[n..];
                    if let Some(m) = f.next_message(*cut.next().unwrap_or(&1)) {
                        sent.extend_from_slice(&m);
                        f.push_message(m.freeze());
                    }
                }
            }
            while let Some(m) = f.next_message(*cut.next().unwrap_or(&1)) {
                sent.extend_from_slice(&m);
                f.push_message(m.freeze());
            }
            let all: Vec<u8> = writes.concat();
            prop_assert_eq!(&accepted, &all);
            prop_assert_eq!(&sent, &all);
            let mut got = Vec::new();
            let mut size = reads.iter().cycle();
            loop {
                let mut buf = vec![0; *size.next().unwrap_or(&1)];
                let n = f.read(&mut buf);
                got.extend_from_slice(&buf[..n]);
                if f.readable() == 0 {
                    break;
                }
            }
            prop_assert_eq!(&got, &all);
        }
    }
}
