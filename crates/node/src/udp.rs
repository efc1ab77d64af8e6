//! A WebRTC connection's UDP socket with batched I/O (quinn-udp): datagrams of one size to one
//! destination leave in one system call (UDP GSO on Linux), and one receive takes several
//! datagrams (`recvmmsg`, and UDP GRO where the kernel coalesces them).
//!
//! An SCTP sender's datagrams are mostly the same size (full DATA chunks): a window's worth
//! leaves as a few segmented sends instead of one `sendto` each, which was most of a seed's
//! time on loopback. Where the platform has neither GSO nor GRO, quinn-udp sends and receives
//! one datagram per call, as before.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams (or GRO-coalesced runs of them) taken per receive call.
pub(crate) const RECV_BATCH: usize = 4;
/// The most bytes of one receive buffer: a coalesced run is at most one IP packet's worth.
const RECV_BUFFER: usize = 1 << 16;
/// The most bytes of one segmented send (below the 64 KiB of one IP packet with its headers).
const SEND_BYTES: usize = 60 << 10;

/// A UDP socket sending and receiving in batches.
pub(crate) struct BatchSocket {
    socket: UdpSocket,
    state: UdpSocketState,
    /// Datagrams queued for one segmented send: all to `to`, all `segment` bytes but the last.
    queue: Vec<u8>,
    to: Option<SocketAddr>,
    segment: usize,
    segments: usize,
    /// Receive buffers (empty until the first receive), and what each received.
    buffers: [Vec<u8>; RECV_BATCH],
    meta: [RecvMeta; RECV_BATCH],
}

impl BatchSocket {
    /// Takes over `socket` (turning on GRO where the system has it: datagrams received from
    /// now on may come coalesced, which [`BatchSocket::try_recv`] splits), asking for `buffer`
    /// bytes of receive and send buffer.
    pub(crate) fn new(socket: UdpSocket, buffer: usize) -> io::Result<Self> {
        let state = UdpSocketState::new((&socket).into())?;
        // Best effort: the system caps both, and a smaller buffer still works.
        let _ = state.set_recv_buffer_size((&socket).into(), buffer);
        let _ = state.set_send_buffer_size((&socket).into(), buffer);
        Ok(Self {
            socket,
            state,
            queue: Vec::with_capacity(SEND_BYTES),
            to: None,
            segment: 0,
            segments: 0,
            buffers: Default::default(),
            meta: [RecvMeta::default(); RECV_BATCH],
        })
    }

    /// Queues `datagram` for `to`; sends what was queued first when the two cannot go in one
    /// segmented send. [`BatchSocket::flush`] sends the rest.
    pub(crate) async fn send(&mut self, to: SocketAddr, datagram: &[u8]) {
        let fits = self.to == Some(to)
            && datagram.len() <= self.segment
            && self.queue.len() + datagram.len() <= SEND_BYTES
            && self.segments < self.state.max_gso_segments()
            // Only the last segment may be shorter than the others.
            && self.queue.len() == self.segment * self.segments;
        if !fits {
            self.flush().await;
            self.to = Some(to);
            self.segment = datagram.len();
        }
        self.queue.extend_from_slice(datagram);
        self.segments += 1;
    }

    /// Sends whatever is queued. A datagram the system refuses is lost, as UDP datagrams may
    /// be: the protocols above retransmit.
    pub(crate) async fn flush(&mut self) {
        let Some(destination) = self.to.take() else {
            return;
        };
        let transmit = Transmit {
            destination,
            ecn: None,
            contents: &self.queue,
            segment_size: (self.segments > 1).then_some(self.segment),
            src_ip: None,
        };
        loop {
            let sent = self.socket.try_io(Interest::WRITABLE, || {
                self.state.send((&self.socket).into(), &transmit)
            });
            match sent {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.socket.writable().await.is_err() {
                        break;
                    }
                }
                // quinn-udp reports nothing but WouldBlock (others are lost datagrams).
                _ => break,
            }
        }
        self.queue.clear();
        self.segments = 0;
    }

    /// Waits until a datagram may be waiting.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Receives what is waiting, without waiting: calls `each(from, datagram)` for every
    /// datagram of one batch; returns how many, or `WouldBlock` when none was waiting.
    pub(crate) fn try_recv(
        &mut self,
        mut each: impl FnMut(SocketAddr, &[u8]),
    ) -> io::Result<usize> {
        if self.buffers[0].is_empty() {
            // Allocated on the first receive: a connection that never opens costs nothing.
            self.buffers = std::array::from_fn(|_| vec![0u8; RECV_BUFFER]);
        }
        let mut slices = self.buffers.each_mut().map(|b| IoSliceMut::new(b));
        let (socket, state, meta) = (&self.socket, &self.state, &mut self.meta);
        let n = socket.try_io(Interest::READABLE, || {
            state.recv(socket.into(), &mut slices, meta)
        })?;
        let mut datagrams = 0;
        for (meta, buffer) in self.meta[..n].iter().zip(&self.buffers) {
            let stride = meta.stride.max(1);
            for datagram in buffer[..meta.len].chunks(stride) {
                each(meta.addr, datagram);
                datagrams += 1;
            }
        }
        Ok(datagrams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Datagrams of mixed sizes to two destinations, queued back to back, arrive as sent: each
    /// whole, in order, at the right socket, however the batches were cut.
    #[tokio::test]
    async fn batches_keep_datagrams_whole_and_in_order() {
        let bind = || async {
            let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            let a = s.local_addr().expect("addr");
            (BatchSocket::new(s, 1 << 20).expect("socket"), a)
        };
        let (mut sender, from) = bind().await;
        let (mut one, one_addr) = bind().await;
        let (mut two, two_addr) = bind().await;
        let mut sent: [Vec<Vec<u8>>; 2] = Default::default();
        // Runs of equal sizes with a short one at the end, a longer one after a short one,
        // a change of destination, and a run longer than one segmented send.
        let sizes = [1200, 1200, 1200, 300, 1200, 1200, 5, 1300, 1300, 1]
            .into_iter()
            .chain([1200; 80])
            .chain([700]);
        for (i, size) in sizes.enumerate() {
            let to = if i % 17 == 9 { 1 } else { 0 };
            let datagram: Vec<u8> = (0..size).map(|j| (i * 31 + j) as u8).collect();
            let addr = [one_addr, two_addr][to];
            sender.send(addr, &datagram).await;
            sent[to].push(datagram);
        }
        sender.flush().await;
        for (receiver, expected) in [&mut one, &mut two].into_iter().zip(&sent) {
            let mut got = Vec::new();
            let receive = async {
                while got.len() < expected.len() {
                    receiver.readable().await.expect("readable");
                    let _ = receiver.try_recv(|addr, d| {
                        assert_eq!(addr, from);
                        got.push(d.to_vec());
                    });
                }
            };
            // A lost datagram would leave the loop waiting.
            let waited = tokio::time::timeout(std::time::Duration::from_secs(20), receive).await;
            assert!(
                waited.is_ok(),
                "{} of {} datagrams",
                got.len(),
                expected.len()
            );
            assert_eq!(&got, expected);
        }
    }
}
