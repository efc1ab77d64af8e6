//! The embedded tracker: one swarm table served over HTTP (BEP 3, 23, 7, 48) and UDP (BEP 15),
//! through the sans-IO `tracker` crate.
//!
//! Peers are keyed by peer id and stored with the address the connection came from and the
//! port they announced; the announcing peer itself is never in its own answer. Peers that stop
//! announcing expire after two intervals.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::BufReader;
use tokio::net::{TcpListener, UdpSocket};
use tracker::http::server::{RequestLimits, respond};
use tracker::server::{Config, SwarmTable};
use tracker::udp::server::{Config as UdpConfig, Server as UdpServer};

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
        // Every change to the table is a single call that either completes or panics before
        // changing anything we rely on: a poisoned lock still guards good data.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
}

#[expect(
    clippy::disallowed_methods,
    reason = "the tracker's runtime reads the clock for the sans-IO table"
)]
fn clock() -> Instant {
    Instant::now()
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
    let limits = RequestLimits::default();
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
        let body = respond(
            clock(),
            &request.target,
            remote.ip(),
            &mut table.lock(),
            &limits,
        );
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
