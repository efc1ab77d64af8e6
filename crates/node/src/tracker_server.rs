//! The embedded tracker: one swarm table served over HTTP (BEP 3, 23, 7, 48), UDP (BEP 15) and
//! WebSocket (WebTorrent's signaling: announces, and offers and answers relayed between
//! browsers), through the sans-IO `tracker` crate.
//!
//! Peers are keyed by peer id and stored with the address the connection came from and the
//! port they announced; the announcing peer itself is never in its own answer. Peers that stop
//! announcing expire after two intervals.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracker::http::server::{RequestLimits, respond};
use tracker::server::{Config, SwarmTable};
use tracker::udp::server::{Config as UdpConfig, Server as UdpServer};

use crate::clock;
use crate::http::{read_request, write_response};

/// A swarm table shared by the tracker's transports.
#[derive(Clone, Debug)]
pub struct Table {
    inner: Arc<Mutex<SwarmTable>>,
}

impl Table {
    /// An empty table.
    pub fn new(config: Config) -> Self {
        Self {
            inner: Arc::new(Mutex::new(SwarmTable::new(config))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SwarmTable> {
        crate::lock(&self.inner)
    }

    /// Expires peers that stopped announcing, forever (run it as a task).
    pub async fn expire(self) {
        loop {
            let next = self.lock().poll_timeout();
            let wake = next.unwrap_or_else(|| clock() + Duration::from_secs(60));
            tokio::time::sleep_until(wake.max(clock() + Duration::from_millis(100)).into()).await;
            self.lock().handle_timeout(clock());
        }
    }

    /// Seeders, completed downloads and leechers of a swarm.
    pub fn stats(&self, info_hash: [u8; 20]) -> Option<tracker::ScrapeStats> {
        self.lock().stats(&tracker::InfoHash(info_hash))
    }

    /// The bencoded answer to an HTTP announce or scrape whose request target is `target`,
    /// from `remote`.
    pub fn respond_http(&self, target: &str, remote: std::net::IpAddr) -> Vec<u8> {
        respond(
            clock(),
            target,
            remote,
            &mut self.lock(),
            &RequestLimits::default(),
        )
    }
}

/// Serves HTTP announces and scrapes on `listener` until the task is dropped.
pub async fn serve_http(listener: TcpListener, table: Table) {
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let table = table.clone();
        tokio::spawn(async move {
            let _ = http_connection(stream, remote, &table).await;
        });
    }
}

async fn http_connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    table: &Table,
) -> Result<(), crate::http::HttpError> {
    let mut stream = BufReader::new(stream);
    loop {
        let request =
            match tokio::time::timeout(Duration::from_secs(30), read_request(&mut stream)).await {
                Ok(Ok(Some(r))) => r,
                Ok(Ok(None)) | Err(_) => return Ok(()),
                Ok(Err(e)) => return Err(e),
            };
        if request.method != "GET" {
            write_response(stream.get_mut(), 405, "text/plain", "", b"GET only").await?;
            continue;
        }
        let body = table.respond_http(&request.target, remote.ip());
        write_response(stream.get_mut(), 200, "text/plain", "", &body).await?;
    }
}

/// Serves BEP 15 on `socket` until the task is dropped. `secret` keys the connection ids:
/// random, from the operating system.
pub async fn serve_udp(socket: UdpSocket, table: Table, secret: [u8; 16]) {
    let server = UdpServer::new(UdpConfig::new(secret), clock());
    let mut buf = vec![0u8; 2048];
    let mut reply = Vec::new();
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        reply.clear();
        let answer =
            server.handle_datagram(clock(), from, &buf[..n], &mut table.lock(), &mut reply);
        if answer {
            let _ = socket.send_to(&reply, from).await;
        }
    }
}

/// WebTorrent's WebSocket signaling relay: the sans-IO server and a way to reach each of
/// its sockets, shared by the sockets of one tracker.
#[derive(Clone, Debug)]
pub struct WsRelay(Arc<Mutex<Relay>>);

#[derive(Debug)]
struct Relay {
    server: tracker::ws::server::Server,
    sockets:
        std::collections::HashMap<tracker::server::SocketId, tokio::sync::mpsc::Sender<String>>,
    next: u64,
}

/// Messages waiting for one socket: a client that does not read loses what is beyond, as on a
/// lossy network, rather than growing our memory.
const WS_QUEUE: usize = 256;

impl Relay {
    /// Sends what the server produced to the sockets it names.
    fn flush(&mut self) {
        while let Some((socket, text)) = self.server.poll_transmit() {
            if let Some(tx) = self.sockets.get(&socket) {
                let _ = tx.try_send(text);
            }
        }
    }
}

impl Default for WsRelay {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Relay {
            server: tracker::ws::server::Server::new(tracker::ws::server::Config::default()),
            sockets: std::collections::HashMap::new(),
            next: 0,
        })))
    }
}

impl WsRelay {
    /// Relays signaling messages on `ws`, an open WebSocket, until it closes; announces go
    /// into `table`.
    pub async fn serve<S>(
        &self,
        ws: WebSocketStream<S>,
        table: &Table,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (mut sink, mut source) = ws.split();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(WS_QUEUE);
        let id = {
            let mut r = crate::lock(&self.0);
            r.next += 1;
            let id = tracker::server::SocketId(r.next);
            r.sockets.insert(id, tx);
            id
        };
        let result = loop {
            tokio::select! {
                incoming = source.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let mut r = crate::lock(&self.0);
                        r.server.handle_text(clock(), id, text.as_str(), &mut table.lock());
                        r.flush();
                    }
                    Some(Ok(Message::Ping(p))) => {
                        if let Err(e) = sink.send(Message::Pong(p)).await {
                            break Err(e);
                        }
                    }
                    Some(Ok(Message::Close(_))) | None => break Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break Err(e),
                },
                outgoing = rx.recv() => match outgoing {
                    Some(text) => {
                        if let Err(e) = sink.send(Message::text(text)).await {
                            break Err(e);
                        }
                    }
                    None => break Ok(()),
                },
            }
        };
        let mut r = crate::lock(&self.0);
        r.sockets.remove(&id);
        r.server.handle_close(id, &mut table.lock());
        r.flush();
        result
    }
}

/// The limits of a WebSocket tracker's messages (an offer's SDP is a few KiB).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(64 << 10))
        .max_frame_size(Some(64 << 10))
}

/// Serves WebTorrent's WebSocket tracker protocol on `listener` until the task is dropped.
pub async fn serve_ws(listener: TcpListener, table: Table) {
    let relay = WsRelay::default();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let (relay, table) = (relay.clone(), table.clone());
        tokio::spawn(async move {
            let accepting = tokio_tungstenite::accept_async_with_config(stream, Some(ws_config()));
            if let Ok(Ok(ws)) = tokio::time::timeout(Duration::from_secs(20), accepting).await {
                let _ = relay.serve(ws, &table).await;
            }
        });
    }
}
