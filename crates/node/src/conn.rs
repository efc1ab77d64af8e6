//! One connection to a peer: a reader task that decodes the wire protocol, and a writer task
//! that sends what the engine produced. The connection is TCP, or any other byte stream that
//! carries the wire protocol ([`Transport`]: a WebRTC data channel's, for one).
//!
//! The reader decodes on its own task (so decoding spreads over the runtime's threads) and
//! hands the engine whole messages whose blocks share the receive buffer (no copy). Its channel
//! to the engine is bounded, so a busy engine stops the reads and TCP's flow control slows the
//! peer down. The writer sends chunks in order with vectored writes; the bytes it holds are
//! counted in [`Outbox`], which the engine consults before producing more for this peer.
//!
//! A connection whose MSE handshake chose RC4 ([`crate::mse_io`]) runs the same tasks: the
//! reader decrypts each read in place before decoding, the writer encrypts each chunk as it
//! takes it (in place when the engine's buffer is not shared, else on a copy).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use peer_wire::mse::{Rc4, Rc4Pair};
use peer_wire::{Handshake, Limits, Message, Status};
use swarm::PeerKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::rate::RateLimiter;

/// Bytes the engine may queue to one connection before it waits for the writer.
pub const HIGH_WATER: usize = 256 << 10;
/// The writer wakes the engine when its queue falls below this.
pub const LOW_WATER: usize = 64 << 10;
/// Most bytes a rate-limited connection reads or writes at a time (a block and its header).
const LIMITED_CHUNK: usize = 16 << 10 | 64;
/// How long a peer may take to send its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// Something the wire produced, for the engine.
#[derive(Debug)]
pub enum Frame {
    /// The peer's handshake.
    Handshake(Handshake),
    /// A message.
    Message(Message),
}

/// The rate limits a connection is subject to (shared with other connections).
#[derive(Clone, Debug, Default)]
pub struct Rates {
    /// Bytes we send.
    pub upload: Option<Arc<RateLimiter>>,
    /// Bytes we receive.
    pub download: Option<Arc<RateLimiter>>,
}

/// What a connection tells its torrent.
#[derive(Debug)]
pub enum ConnEvent {
    /// Decoded frames, in order.
    Frames(PeerKey, Vec<Frame>),
    /// The connection ended: end of stream, an error, or bytes that break the protocol.
    Closed(PeerKey, String),
    /// The writer's queue fell below [`LOW_WATER`] after the engine found it full.
    Writable(PeerKey),
}

/// The engine's side of a connection's writer.
#[derive(Debug)]
pub struct Outbox {
    tx: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
    /// The engine stopped at [`HIGH_WATER`] and wants a [`ConnEvent::Writable`].
    waiting: Arc<AtomicBool>,
    reader: tokio::task::AbortHandle,
}

impl Outbox {
    /// Whether the writer can take more now; if not, a [`ConnEvent::Writable`] will come.
    pub fn has_room(&self) -> bool {
        if self.queued.load(Ordering::Acquire) < HIGH_WATER {
            return true;
        }
        self.waiting.store(true, Ordering::Release);
        // The writer may have drained in between: look again.
        self.queued.load(Ordering::Acquire) < HIGH_WATER
    }

    /// Queues bytes for the peer.
    pub fn send(&self, bytes: Bytes) {
        self.queued.fetch_add(bytes.len(), Ordering::AcqRel);
        let _ = self.tx.send(bytes);
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Dropping the sender ends the writer once it has sent what it holds; the reader
        // stops at once.
        self.reader.abort();
    }
}

/// A byte stream a connection runs on, split into a half for the reader and one for the
/// writer.
pub trait Transport: Send + 'static {
    /// The reader's half.
    type Read: AsyncRead + Send + Unpin + 'static;
    /// The writer's half.
    type Write: AsyncWrite + Send + Unpin + 'static;
    /// Splits it.
    fn split(self) -> (Self::Read, Self::Write);
}

impl Transport for TcpStream {
    type Read = OwnedReadHalf;
    type Write = OwnedWriteHalf;

    /// Without Nagle's delay (a request must not wait for the next one), and without the lock
    /// a generic split needs.
    fn split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let _ = self.set_nodelay(true);
        self.into_split()
    }
}

/// Any byte stream, boxed.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

impl std::fmt::Debug for dyn ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ByteStream")
    }
}

impl Transport for Box<dyn ByteStream> {
    type Read = tokio::io::ReadHalf<Self>;
    type Write = tokio::io::WriteHalf<Self>;

    fn split(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
}

/// Starts the tasks of a connection. `buf` holds bytes already read (after a handshake the
/// listener decoded; decrypted if the connection is encrypted); `expect_handshake` says whether
/// the peer's handshake is still to come; `cipher` is the RC4 state of a connection whose MSE
/// handshake chose RC4 (`None`: plaintext).
#[expect(
    clippy::too_many_arguments,
    reason = "each is one independent part of a connection's set-up"
)]
pub fn spawn<T: Transport>(
    stream: T,
    cipher: Option<Box<Rc4Pair>>,
    key: PeerKey,
    buf: BytesMut,
    expect_handshake: bool,
    limits: Limits,
    rates: Rates,
    events: mpsc::Sender<ConnEvent>,
) -> Outbox {
    let (decrypt, encrypt) = match cipher {
        Some(pair) => {
            let Rc4Pair { send, receive } = *pair;
            (Some(receive), Some(send))
        }
        None => (None, None),
    };
    let (rd, wr) = stream.split();
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let waiting = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_loop(
        Half {
            io: rd,
            rc4: decrypt,
        },
        key,
        buf,
        expect_handshake,
        limits,
        rates.download,
        events.clone(),
    ));
    tokio::spawn(write_loop(
        Half {
            io: wr,
            rc4: encrypt,
        },
        key,
        rx,
        Arc::clone(&queued),
        Arc::clone(&waiting),
        rates.upload,
        events,
    ));
    Outbox {
        tx,
        queued,
        waiting,
        reader: reader.abort_handle(),
    }
}

/// One direction of a connection: its socket half and, when MSE chose RC4, its keystream.
struct Half<T> {
    io: T,
    rc4: Option<Rc4>,
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: Half<R>,
    key: PeerKey,
    mut buf: BytesMut,
    mut expect_handshake: bool,
    limits: Limits,
    rate: Option<Arc<RateLimiter>>,
    events: mpsc::Sender<ConnEvent>,
) {
    let reason = loop {
        let mut frames = Vec::new();
        if let Err(e) = decode(&mut buf, &mut expect_handshake, &limits, &mut frames) {
            if !frames.is_empty() {
                let _ = events.send(ConnEvent::Frames(key, frames)).await;
            }
            break e;
        }
        if !frames.is_empty() && events.send(ConnEvent::Frames(key, frames)).await.is_err() {
            return;
        }
        // Room for a few blocks at a time; a message's body is read into the same buffer.
        if buf.capacity() - buf.len() < 32 << 10 {
            buf.reserve(128 << 10);
        }
        let start = buf.len();
        // Limited: wait until the shared bucket is out of debt, then read a little at a
        // time, so that no connection runs far ahead of what it pays afterwards.
        let most = match &rate {
            Some(rate) => {
                rate.consume(0).await;
                LIMITED_CHUNK as u64
            }
            None => u64::MAX,
        };
        let read = if expect_handshake {
            match tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                (&mut rd.io).take(most).read_buf(&mut buf),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => break "no handshake in time".to_string(),
            }
        } else {
            (&mut rd.io).take(most).read_buf(&mut buf).await
        };
        match read {
            Ok(0) => break "connection closed by peer".to_string(),
            Ok(n) => {
                if let Some(rc4) = &mut rd.rc4 {
                    rc4.apply(&mut buf[start..]);
                }
                if let Some(rate) = &rate {
                    rate.consume(n).await;
                }
            }
            Err(e) => break e.to_string(),
        }
    };
    let _ = events.send(ConnEvent::Closed(key, reason)).await;
}

/// Decodes what `buf` holds completely.
fn decode(
    buf: &mut BytesMut,
    expect_handshake: &mut bool,
    limits: &Limits,
    out: &mut Vec<Frame>,
) -> Result<(), String> {
    if *expect_handshake {
        match Handshake::decode(buf) {
            Ok(Status::Complete((handshake, used))) => {
                buf.advance(used);
                *expect_handshake = false;
                out.push(Frame::Handshake(handshake));
            }
            Ok(Status::Partial) => return Ok(()),
            Err(e) => return Err(format!("bad handshake: {e}")),
        }
    }
    loop {
        match Message::decode(buf, limits) {
            Ok(Status::Complete(m)) => out.push(Frame::Message(m)),
            Ok(Status::Partial) => return Ok(()),
            Err(e) => return Err(format!("bad message: {e}")),
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: Half<W>,
    key: PeerKey,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
    waiting: Arc<AtomicBool>,
    rate: Option<Arc<RateLimiter>>,
    events: mpsc::Sender<ConnEvent>,
) {
    let mut batch: Vec<Bytes> = Vec::new();
    // Limited: small batches, paid for before they go out.
    let most = if rate.is_some() {
        LIMITED_CHUNK
    } else {
        usize::MAX
    };
    while let Some(first) = rx.recv().await {
        let mut total = first.len();
        batch.push(first);
        while batch.len() < 64 && total < most {
            match rx.try_recv() {
                Ok(b) => {
                    total += b.len();
                    batch.push(b);
                }
                Err(_) => break,
            }
        }
        if let Some(rc4) = &mut wr.rc4 {
            // Every byte once, in the order it goes out.
            for chunk in &mut batch {
                *chunk = encrypted(std::mem::take(chunk), rc4);
            }
        }
        if let Some(rate) = &rate {
            rate.consume(total).await;
        }
        if let Err(e) = write_all_vectored(&mut wr.io, &mut batch).await {
            let _ = events.send(ConnEvent::Closed(key, e.to_string())).await;
            return;
        }
        let before = queued.fetch_sub(total, Ordering::AcqRel);
        if before - total < LOW_WATER && waiting.swap(false, Ordering::AcqRel) {
            let _ = events.send(ConnEvent::Writable(key)).await;
        }
    }
    let _ = wr.io.shutdown().await;
}

/// `bytes` through `rc4`: in place when nothing else holds the buffer (the usual case: the
/// engine's encoded messages and blocks read from disk), else on a copy.
fn encrypted(bytes: Bytes, rc4: &mut Rc4) -> Bytes {
    let mut owned = bytes
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
    rc4.apply(&mut owned);
    owned.freeze()
}

/// Writes every chunk of `batch` (emptying it) with as few system calls as it takes.
async fn write_all_vectored<W: AsyncWrite + Unpin>(
    wr: &mut W,
    batch: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    let mut first = 0;
    while first < batch.len() {
        let slices: Vec<std::io::IoSlice<'_>> = batch[first..]
            .iter()
            .map(|b| std::io::IoSlice::new(b))
            .collect();
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let len = batch[first].len();
            if n >= len {
                n -= len;
                first += 1;
            } else {
                batch[first].advance(n);
                n = 0;
            }
        }
    }
    batch.clear();
    Ok(())
}

/// Reads a peer's handshake from a fresh incoming connection (with a timeout); returns it and
/// whatever followed it.
pub async fn read_handshake(stream: &mut TcpStream) -> Result<(Handshake, BytesMut), String> {
    let mut buf = BytesMut::with_capacity(1024);
    let read = async {
        loop {
            match Handshake::decode(&buf) {
                Ok(Status::Complete((h, used))) => {
                    buf.advance(used);
                    return Ok(h);
                }
                Ok(Status::Partial) => {}
                Err(e) => return Err(format!("bad handshake: {e}")),
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) => return Err("closed before the handshake".to_string()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, read).await {
        Ok(Ok(h)) => Ok((h, buf)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("no handshake in time".to_string()),
    }
}

/// The address to show for a connection.
pub fn peer_addr(stream: &TcpStream) -> Option<SocketAddr> {
    stream.peer_addr().ok()
}
