//! Incoming connections: one TCP listener for every torrent of a node. A connection opens with
//! a BEP 3 handshake, or with an MSE/PE handshake and then one ([`crate::mse_io`]); it is handed
//! to the torrent its handshake names. A handshake for no torrent of ours, or none within
//! [`crate::conn::HANDSHAKE_TIMEOUT`], closes it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use peer_wire::InfoHash;
use peer_wire::mse::StreamKeyHash;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::mse_io::{self, Policy};
use crate::torrent::Command;

/// The torrents a listener serves, by info-hash (and by MSE stream-key hash, which an
/// encrypted handshake names a torrent with).
#[derive(Clone, Debug, Default)]
pub struct Registry {
    torrents: Arc<Mutex<Torrents>>,
}

#[derive(Debug, Default)]
struct Torrents {
    by_info_hash: HashMap<InfoHash, mpsc::Sender<Command>>,
    by_stream_key: HashMap<StreamKeyHash, InfoHash>,
}

impl Registry {
    /// Routes connections for `info_hash` to `commands`.
    pub fn insert(&self, info_hash: InfoHash, commands: mpsc::Sender<Command>) {
        let mut torrents = self.lock();
        torrents.by_info_hash.insert(info_hash, commands);
        torrents
            .by_stream_key
            .insert(StreamKeyHash::of(&info_hash), info_hash);
    }

    /// Stops routing `info_hash`.
    pub fn remove(&self, info_hash: &InfoHash) {
        let mut torrents = self.lock();
        torrents.by_info_hash.remove(info_hash);
        torrents.by_stream_key.remove(&StreamKeyHash::of(info_hash));
    }

    /// The torrent whose MSE stream-key hash (`HASH('req2', info-hash)`) is `hash`.
    pub fn find_stream_key(&self, hash: &StreamKeyHash) -> Option<InfoHash> {
        self.lock().by_stream_key.get(hash).copied()
    }

    fn get(&self, info_hash: &InfoHash) -> Option<mpsc::Sender<Command>> {
        self.lock().by_info_hash.get(info_hash).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Torrents> {
        crate::lock(&self.torrents)
    }
}

/// A bound listener.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    registry: Registry,
    policy: Policy,
}

impl Listener {
    /// Binds `addr` (port 0: any free port); connections are accepted by `policy`.
    pub async fn bind(
        addr: SocketAddr,
        registry: Registry,
        policy: Policy,
    ) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            registry,
            policy,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until the task is dropped.
    pub async fn run(self) {
        loop {
            let Ok((mut stream, addr)) = self.listener.accept().await else {
                // Out of descriptors and the like: let the moment pass.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let registry = self.registry.clone();
            let policy = self.policy;
            tokio::spawn(async move {
                let find = |hash: &StreamKeyHash| registry.find_stream_key(hash);
                let Ok(incoming) = mse_io::accept(&mut stream, policy, find).await else {
                    return;
                };
                if let Some(torrent) = registry.get(&incoming.handshake.info_hash) {
                    let _ = torrent
                        .send(Command::Incoming {
                            stream,
                            cipher: incoming.cipher,
                            addr,
                            handshake: incoming.handshake,
                            rest: incoming.rest,
                        })
                        .await;
                }
            });
        }
    }
}
