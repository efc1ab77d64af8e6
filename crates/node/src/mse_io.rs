//! Message Stream Encryption (MSE/PE) on TCP, around the sans-IO [`peer_wire::mse`].
//!
//! [`accept`] is what the listener runs on every connection: a peer that opens with
//! `\x13BitTorrent protocol` is plaintext; anything else is an MSE initiator, answered as
//! responder (WebTorrent's default `secure: 1` and libtorrent's default `pe_enabled` both try
//! MSE first when they dial). Both offer plaintext and RC4; we select plaintext, as libtorrent
//! does unless `prefer_rc4` (the handshake itself is still encrypted, the bulk transfer is not
//! worth the CPU). A peer that offers only RC4 gets RC4, and the connection carries the cipher
//! on ([`crate::conn`]).
//!
//! [`connect`] is the initiator. [`dial`] is what a torrent runs to reach a peer, by
//! [`Policy`]: with the default ([`Policy::Enabled`], as libtorrent and Transmission), MSE
//! first and, if the peer does not speak it, a second connection with a plain handshake.
//!
//! The random choices of each handshake (private key, padding) come from the operating system
//! ([`crate::client::random_bytes`]).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use peer_wire::mse::{
    self, Crypto, ENTROPY_LEN, Entropy, Initiator, Rc4, Rc4Pair, Responder, StreamKeyHash,
};
use peer_wire::{Handshake, InfoHash, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::random_bytes;
use crate::conn::HANDSHAKE_TIMEOUT;

/// What an accepted connection opened with.
#[derive(Debug)]
pub struct Incoming {
    /// The peer's BEP 3 handshake.
    pub handshake: Handshake,
    /// The bytes that followed it, decrypted.
    pub rest: BytesMut,
    /// Whether the peer came through MSE, and with which method.
    pub encryption: Encryption,
    /// The keystreams, when the method is RC4.
    pub cipher: Option<Box<Rc4Pair>>,
}

/// How a connection started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encryption {
    /// A plain BEP 3 handshake.
    None,
    /// An MSE handshake that selected plaintext for the stream.
    MsePlaintext,
    /// An MSE handshake that selected RC4.
    MseRc4,
}

/// Protocol encryption (MSE/PE): what a node dials with and what it accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Dial with MSE, and again with a plain handshake if the peer does not speak MSE; accept
    /// both. libtorrent's and Transmission's default.
    #[default]
    Enabled,
    /// MSE only, both ways: plain handshakes are neither sent nor accepted. (The stream after
    /// the handshake may still be plaintext if the peer selects it.)
    Forced,
    /// Plain handshakes only, both ways.
    Disabled,
}

/// Reads a fresh incoming connection's handshake, answering MSE first if the peer starts with
/// it (unless `policy` refuses either kind); `torrents` finds the torrent an MSE initiator
/// names (see [`StreamKeyHash`]). Everything must arrive within [`HANDSHAKE_TIMEOUT`].
pub async fn accept(
    stream: &mut TcpStream,
    policy: Policy,
    torrents: impl FnMut(&StreamKeyHash) -> Option<InfoHash>,
) -> Result<Incoming, String> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept_inner(stream, policy, torrents)).await {
        Ok(r) => r,
        Err(_) => Err("no handshake in time".to_string()),
    }
}

/// An outgoing connection, ready for the BEP 3 handshake.
#[derive(Debug)]
pub struct Outgoing {
    /// The connection.
    pub stream: TcpStream,
    /// What the peer already sent (after MSE, decrypted).
    pub rest: BytesMut,
    /// The keystreams, when MSE selected RC4.
    pub cipher: Option<Box<Rc4Pair>>,
    /// MSE failed and the connection is a second one with a plain handshake: the peer does
    /// not speak MSE (dial it plainly next time).
    pub fell_back: bool,
}

/// Connects to `addr` for the torrent `info_hash` by `policy` (`plain_known`: the peer is
/// known not to speak MSE, so [`Policy::Enabled`] dials it plainly at once). Each TCP connect
/// gets `connect_timeout`, MSE [`HANDSHAKE_TIMEOUT`]. Our BEP 3 handshake is not sent here:
/// with MSE it follows the encrypted handshake (an empty initial payload), as the first bytes
/// of the stream.
pub async fn dial(
    addr: SocketAddr,
    info_hash: InfoHash,
    policy: Policy,
    plain_known: bool,
    connect_timeout: Duration,
) -> std::io::Result<Outgoing> {
    let tcp = || async {
        tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    };
    let plain = |stream, fell_back| Outgoing {
        stream,
        rest: BytesMut::new(),
        cipher: None,
        fell_back,
    };
    let mut stream = tcp().await?;
    if policy == Policy::Disabled || (policy == Policy::Enabled && plain_known) {
        return Ok(plain(stream, false));
    }
    match handshake_as_initiator(&mut stream, mse::Config::default(), info_hash, Vec::new()).await {
        Ok(dialed) => Ok(Outgoing {
            stream,
            rest: dialed.rest,
            cipher: dialed.cipher,
            fell_back: false,
        }),
        Err(e) if policy == Policy::Forced => Err(std::io::Error::other(e)),
        Err(_) => {
            drop(stream);
            Ok(plain(tcp().await?, true))
        }
    }
}

async fn accept_inner(
    stream: &mut TcpStream,
    policy: Policy,
    mut torrents: impl FnMut(&StreamKeyHash) -> Option<InfoHash>,
) -> Result<Incoming, String> {
    let mut buf = BytesMut::with_capacity(1024);
    // A BEP 3 handshake is told from an MSE public key by its first 20 bytes, not the first
    // one: one key in 256 starts with 19 too.
    loop {
        match Handshake::decode(&buf) {
            Ok(Status::Complete((handshake, used))) => {
                if policy == Policy::Forced {
                    return Err("a plain handshake, and encryption is required".to_string());
                }
                buf.advance(used);
                return Ok(Incoming {
                    handshake,
                    rest: buf,
                    encryption: Encryption::None,
                    cipher: None,
                });
            }
            Ok(Status::Partial) => read_more(stream, &mut buf, None).await?,
            Err(_) => break,
        }
    }
    if policy == Policy::Disabled {
        return Err("not a BitTorrent handshake (and encryption is disabled)".to_string());
    }
    let entropy = Entropy::from_random(&random_bytes::<ENTROPY_LEN>());
    let mut responder = Responder::new(mse::Config::default(), entropy);
    let mut out = Vec::new();
    let established = loop {
        let status = responder
            .handle_bytes(&mut buf, &mut torrents)
            .map_err(|e| format!("encrypted handshake: {e}"))?;
        send(stream, &mut out, |out| responder.poll_transmit(out)).await?;
        if let Status::Complete(e) = status {
            break e;
        }
        read_more(stream, &mut buf, None).await?;
    };
    let (encryption, mut cipher) = split(established.crypto);
    // The stream after IA, as it came: decrypt it, behind IA's bytes (already decrypted).
    if let Some(c) = &mut cipher {
        c.receive.apply(&mut buf);
    }
    let mut plain = BytesMut::from(&established.initial_payload[..]);
    plain.extend_from_slice(&buf);
    let handshake =
        read_handshake(stream, &mut plain, cipher.as_mut().map(|c| &mut c.receive)).await?;
    // MSE: the info-hash in the BEP 3 handshake must be the SKEY of the encrypted one.
    if handshake.info_hash != established.info_hash {
        return Err("the handshake names another torrent than the encrypted handshake".into());
    }
    Ok(Incoming {
        handshake,
        rest: plain,
        encryption,
        cipher,
    })
}

/// A connection dialed with MSE.
#[derive(Debug)]
pub struct Dialed {
    /// What the peer sent after the encrypted handshake, decrypted: its BEP 3 handshake
    /// first (ours went in the initial payload).
    pub rest: BytesMut,
    /// The method the peer selected.
    pub encryption: Encryption,
    /// The keystreams, when the method is RC4.
    pub cipher: Option<Box<Rc4Pair>>,
}

/// Runs MSE as initiator on a fresh outgoing connection, with our BEP 3 handshake as initial
/// payload; `config` says which methods to offer. Everything must happen within
/// [`HANDSHAKE_TIMEOUT`].
pub async fn connect(
    stream: &mut TcpStream,
    config: mse::Config,
    ours: &Handshake,
) -> Result<Dialed, String> {
    let mut ia = Vec::with_capacity(68);
    ours.encode(&mut ia);
    handshake_as_initiator(stream, config, ours.info_hash, ia).await
}

/// MSE as initiator for the torrent `info_hash`, with `ia` as initial payload.
async fn handshake_as_initiator(
    stream: &mut TcpStream,
    config: mse::Config,
    info_hash: InfoHash,
    ia: Vec<u8>,
) -> Result<Dialed, String> {
    let connect = async {
        let entropy = Entropy::from_random(&random_bytes::<ENTROPY_LEN>());
        let mut initiator = Initiator::new(config, entropy, info_hash, ia)
            .map_err(|e| format!("cannot start an encrypted handshake: {e}"))?;
        let mut out = Vec::new();
        let mut buf = BytesMut::with_capacity(1024);
        // Step 1 goes out before anything comes in; then each answer right after its input.
        send(stream, &mut out, |out| initiator.poll_transmit(out)).await?;
        let established = loop {
            read_more(stream, &mut buf, None).await?;
            let status = initiator
                .handle_bytes(&mut buf)
                .map_err(|e| format!("encrypted handshake: {e}"))?;
            send(stream, &mut out, |out| initiator.poll_transmit(out)).await?;
            if let Status::Complete(e) = status {
                break e;
            }
        };
        let (encryption, mut cipher) = split(established.crypto);
        if let Some(c) = &mut cipher {
            c.receive.apply(&mut buf);
        }
        Ok(Dialed {
            rest: buf,
            encryption,
            cipher,
        })
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await {
        Ok(r) => r,
        Err(_) => Err("no encrypted handshake in time".to_string()),
    }
}

/// Reads until `buf` (plaintext so far) starts with a whole BEP 3 handshake, decrypting what
/// is read with `decrypt`; returns it and leaves what follows in `buf`.
pub async fn read_handshake(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    mut decrypt: Option<&mut Rc4>,
) -> Result<Handshake, String> {
    loop {
        match Handshake::decode(buf) {
            Ok(Status::Complete((handshake, used))) => {
                buf.advance(used);
                return Ok(handshake);
            }
            Ok(Status::Partial) => read_more(stream, buf, decrypt.as_deref_mut()).await?,
            Err(e) => return Err(format!("bad handshake: {e}")),
        }
    }
}

fn split(crypto: Crypto) -> (Encryption, Option<Box<Rc4Pair>>) {
    match crypto {
        Crypto::Plaintext => (Encryption::MsePlaintext, None),
        Crypto::Rc4(pair) => (Encryption::MseRc4, Some(pair)),
    }
}

/// Writes what `poll` produces, if anything.
async fn send(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    poll: impl FnOnce(&mut Vec<u8>) -> usize,
) -> Result<(), String> {
    out.clear();
    if poll(out) > 0 {
        stream.write_all(out).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Appends one read to `buf`, decrypting it with `decrypt`.
async fn read_more(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    decrypt: Option<&mut Rc4>,
) -> Result<(), String> {
    buf.reserve(4096);
    let start = buf.len();
    match stream.read_buf(buf).await {
        Ok(0) => Err("closed before the handshake".to_string()),
        Ok(_) => {
            if let Some(rc4) = decrypt {
                rc4.apply(&mut buf[start..]);
            }
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}
