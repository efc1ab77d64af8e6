//! The listener's side of MSE/PE over real TCP on 127.0.0.1, with peercdn's own initiator and
//! a stand-in torrent that receives what the listener hands over: an RC4 connection reaches
//! its torrent and runs RC4 both ways through `conn`; a public key that happens to start with
//! byte 19 is not taken for a BitTorrent handshake; strangers and hostile bytes are dropped.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use peer_wire::mse::{self, Config, Entropy, Initiator, Methods};
use peer_wire::{Handshake, InfoHash, Limits, Message, PeerId, Reserved, Status};
use peercdn::conn::{self, ConnEvent, Frame, Rates};
use peercdn::listen::{Listener, Registry};
use peercdn::mse_io::{self, Encryption, Policy};
use peercdn::torrent::Command;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const IH: InfoHash = InfoHash([0x42; 20]);

/// A listener serving one stand-in torrent for `IH`; returns its address and the torrent's
/// command queue.
async fn listener() -> (SocketAddr, mpsc::Receiver<Command>) {
    listener_with(Policy::Enabled).await
}

/// [`listener`] with an encryption policy.
async fn listener_with(policy: Policy) -> (SocketAddr, mpsc::Receiver<Command>) {
    let registry = Registry::default();
    let (tx, rx) = mpsc::channel(4);
    registry.insert(IH, tx);
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), registry, policy)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(listener.run());
    (addr, rx)
}

fn handshake(info_hash: InfoHash) -> Handshake {
    Handshake {
        reserved: Reserved::ours(),
        info_hash,
        peer_id: PeerId(*b"-PC0001-mse-listener"),
    }
}

type Incoming = (
    TcpStream,
    Option<Box<peer_wire::mse::Rc4Pair>>,
    Handshake,
    BytesMut,
);

async fn incoming(rx: &mut mpsc::Receiver<Command>) -> Incoming {
    match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
        Ok(Some(Command::Incoming {
            stream,
            cipher,
            handshake,
            rest,
            ..
        })) => (stream, cipher, handshake, rest),
        other => panic!("no incoming connection: {other:?}"),
    }
}

/// Reads until the peer closes; panics if it sends anything or stays open.
async fn closed_by_peer(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {} // its step 2, before it found out
            Err(_) => panic!("the listener kept the connection open"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rc4_connection_reaches_its_torrent_and_runs_rc4_both_ways() {
    let (addr, mut torrent) = listener().await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let rc4_only = Config {
        allowed: Methods::RC4,
        prefer_rc4: false,
    };
    let mut dialed = mse_io::connect(&mut stream, rc4_only, &handshake(IH))
        .await
        .expect("the listener answers MSE");
    assert_eq!(dialed.encryption, Encryption::MseRc4);
    let mut cipher = dialed.cipher.take().expect("RC4 keystreams");
    // Our first message, a keep-alive, encrypted; it may reach the listener before or after
    // the torrent takes the connection.
    let mut keep_alive = [0u8; 4];
    cipher.send.apply(&mut keep_alive);
    stream.write_all(&keep_alive).await.unwrap();

    let (theirs, their_cipher, handshake, rest) = incoming(&mut torrent).await;
    assert!(
        their_cipher.is_some(),
        "the torrent gets the connection's RC4 state"
    );
    assert_eq!(handshake.info_hash, IH);
    assert_eq!(handshake.peer_id.0, *b"-PC0001-mse-listener");
    let (events_tx, mut events) = mpsc::channel(16);
    let outbox = conn::spawn(
        theirs,
        their_cipher,
        swarm::PeerKey(7),
        rest,
        false,
        Limits::default(),
        Rates::default(),
        events_tx,
    );
    // The torrent's side decrypts what we sent...
    let frames = match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
        Ok(Some(ConnEvent::Frames(_, frames))) => frames,
        other => panic!("no frames: {other:?}"),
    };
    assert!(
        matches!(frames[..], [Frame::Message(Message::KeepAlive)]),
        "{frames:?}"
    );
    // ...and encrypts what it sends, in order, across chunks.
    let mut sent = Vec::new();
    for i in 0..50u8 {
        let chunk = vec![i; 1000 + usize::from(i)];
        sent.extend_from_slice(&chunk);
        outbox.send(Bytes::from(chunk));
    }
    let mut got = dialed.rest.to_vec();
    cipher.receive.apply(&mut got);
    while got.len() < sent.len() {
        let mut buf = vec![0u8; 65536];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("the torrent's bytes arrive")
            .unwrap();
        assert!(n > 0, "closed early");
        cipher.receive.apply(&mut buf[..n]);
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got == sent, "the stream decrypts to what was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_that_starts_with_19_is_still_mse() {
    let (addr, mut torrent) = listener().await;
    // About one key in 256 starts like a BitTorrent handshake's length byte.
    let entropy = (1u8..=255)
        .flat_map(|a| (1u8..=255).map(move |b| (a, b)))
        .map(|(a, b)| {
            let mut key = [a; 20];
            key[19] = b;
            Entropy::new(key, Vec::new(), Vec::new()).unwrap()
        })
        .find(|e| {
            let mut a = Initiator::new(Config::default(), e.clone(), IH, Vec::new()).unwrap();
            let mut first = Vec::new();
            let _ = a.poll_transmit(&mut first);
            first[0] == 19
        })
        .expect("a key whose public key starts with 19");
    let mut ia = Vec::new();
    handshake(IH).encode(&mut ia);
    let mut a = Initiator::new(Config::default(), entropy, IH, ia).unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    loop {
        out.clear();
        let _ = a.poll_transmit(&mut out);
        stream.write_all(&out).await.unwrap();
        match a.handle_bytes(&mut buf).expect("the listener answers MSE") {
            Status::Complete(done) => {
                assert!(matches!(done.crypto, mse::Crypto::Plaintext));
                break;
            }
            Status::Partial => {
                // What this step produced goes out before we wait for the answer to it.
                out.clear();
                let _ = a.poll_transmit(&mut out);
                if !out.is_empty() {
                    stream.write_all(&out).await.unwrap();
                    out.clear();
                    continue;
                }
                let n = tokio::time::timeout(Duration::from_secs(10), stream.read_buf(&mut buf))
                    .await
                    .expect("an answer")
                    .unwrap();
                assert!(n > 0, "the listener closed the connection");
            }
        }
    }
    let (_, cipher, handshake, _) = incoming(&mut torrent).await;
    assert!(cipher.is_none(), "plaintext after the handshake");
    assert_eq!(handshake.info_hash, IH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_and_hostile_bytes_are_dropped() {
    let (addr, mut torrent) = listener().await;
    // An encrypted handshake for a torrent the node does not serve.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let err = mse_io::connect(
        &mut stream,
        Config::default(),
        &handshake(InfoHash([9; 20])),
    )
    .await
    .expect_err("unknown torrent");
    assert!(err.contains("closed"), "{err}");
    // Noise: a "public key" and 600 bytes with no sync marker.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&[0x77; 96 + 600]).await.unwrap();
    closed_by_peer(&mut stream).await;
    // A degenerate public key (1).
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut one = [0u8; 96];
    one[95] = 1;
    stream.write_all(&one).await.unwrap();
    closed_by_peer(&mut stream).await;
    // Nothing reached the torrent.
    assert!(torrent.try_recv().is_err());
    // A plain handshake still does.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut plain = Vec::new();
    handshake(IH).encode(&mut plain);
    stream.write_all(&plain).await.unwrap();
    let (_, cipher, handshake, _) = incoming(&mut torrent).await;
    assert!(cipher.is_none(), "plaintext after the handshake");
    assert_eq!(handshake.info_hash, IH);
}

/// `--encryption forced` accepts only encrypted handshakes, `--encryption disabled` only plain
/// ones; either way the other kind never reaches a torrent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_decides_which_handshakes_are_accepted() {
    let mut plain = Vec::new();
    handshake(IH).encode(&mut plain);

    let (addr, mut torrent) = listener_with(Policy::Forced).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&plain).await.unwrap();
    closed_by_peer(&mut stream).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    mse_io::connect(&mut stream, Config::default(), &handshake(IH))
        .await
        .expect("an encrypted handshake is accepted");
    let (_, _, theirs, _) = incoming(&mut torrent).await;
    assert_eq!(theirs.info_hash, IH);

    let (addr, mut torrent) = listener_with(Policy::Disabled).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let err = mse_io::connect(&mut stream, Config::default(), &handshake(IH))
        .await
        .expect_err("an encrypted handshake is refused");
    assert!(err.contains("closed"), "{err}");
    assert!(torrent.try_recv().is_err());
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&plain).await.unwrap();
    let (_, cipher, theirs, _) = incoming(&mut torrent).await;
    assert!(cipher.is_none());
    assert_eq!(theirs.info_hash, IH);
}
