//! Incoming connections: one TCP listener for every torrent of a node. A connection is handed
//! to the torrent its handshake names; a handshake for no torrent of ours, or none within
//! [`crate::conn::HANDSHAKE_TIMEOUT`], closes it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use peer_wire::InfoHash;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::conn::read_handshake;
use crate::torrent::Command;

/// The torrents a listener serves, by info-hash.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    torrents: Arc<Mutex<HashMap<InfoHash, mpsc::Sender<Command>>>>,
}

impl Registry {
    /// Routes connections for `info_hash` to `commands`.
    pub fn insert(&self, info_hash: InfoHash, commands: mpsc::Sender<Command>) {
        self.lock().insert(info_hash, commands);
    }

    /// Stops routing `info_hash`.
    pub fn remove(&self, info_hash: &InfoHash) {
        self.lock().remove(info_hash);
    }

    fn get(&self, info_hash: &InfoHash) -> Option<mpsc::Sender<Command>> {
        self.lock().get(info_hash).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InfoHash, mpsc::Sender<Command>>> {
        // A panic while holding the lock cannot leave the map half-changed (one insert or
        // remove): the data is still good.
        self.torrents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A bound listener.
#[derive(Debug)]
pub struct Listener {
    listener: TcpListener,
    registry: Registry,
}

impl Listener {
    /// Binds `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr, registry: Registry) -> std::io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            registry,
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
            tokio::spawn(async move {
                let Ok((handshake, rest)) = read_handshake(&mut stream).await else {
                    return;
                };
                if let Some(torrent) = registry.get(&handshake.info_hash) {
                    let _ = torrent
                        .send(Command::Incoming {
                            stream,
                            addr,
                            handshake,
                            rest,
                        })
                        .await;
                }
            });
        }
    }
}
