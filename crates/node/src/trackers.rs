//! A torrent's trackers at run time: HTTP (BEP 3, 23, 7) and UDP (BEP 15) announces through
//! the sans-IO `tracker` crate, in BEP 12 tier order.
//!
//! Each announce tries the tiers in order and, within a tier, the trackers in order; the first
//! that answers wins and moves to the front of its tier. WebSocket trackers (`ws://`, `wss://`)
//! belong to WebRTC peers and are skipped here.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracker::http::{Limits as ResponseLimits, announce_url, parse_announce_response};
use tracker::udp;
use tracker::{AnnounceResponse, Event, InfoHash, PeerId, Reply};

use crate::http;
use crate::torrent::{Announce, AnnounceFuture, AnnounceReply, AnnounceRequest};
use crate::{clock, lock};

/// The trackers of one torrent.
#[derive(Clone, Debug)]
pub struct Trackers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tiers: Mutex<Vec<Vec<String>>>,
    info_hash: InfoHash,
    peer_id: PeerId,
    port: u16,
    key: u32,
    numwant: u32,
    /// `tracker id`s trackers gave us, by URL.
    tracker_ids: Mutex<HashMap<String, Vec<u8>>>,
    /// Time allowed for one UDP tracker (two retransmissions: 15 + 30 s).
    udp_retransmissions: u32,
}

impl Trackers {
    /// The trackers of `tiers` (BEP 12: each tier shuffled by the caller if it wants), for the
    /// swarm `info_hash`, announcing `peer_id` and our listening `port`. `key` identifies us
    /// across address changes.
    pub fn new(
        tiers: Vec<Vec<String>>,
        info_hash: [u8; 20],
        peer_id: [u8; 20],
        port: u16,
        key: u32,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                tiers: Mutex::new(tiers),
                info_hash: InfoHash(info_hash),
                peer_id: PeerId(peer_id),
                port,
                key,
                numwant: 50,
                tracker_ids: Mutex::new(HashMap::new()),
                udp_retransmissions: 1,
            }),
        }
    }

    /// Whether there is any tracker this module can announce to.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner.tiers)
            .iter()
            .flatten()
            .all(|url| !is_supported(url))
    }
}

fn is_supported(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("udp://")
}

impl Announce for Trackers {
    fn announce(&self, request: AnnounceRequest) -> AnnounceFuture {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move { inner.announce(request).await })
    }
}

impl Inner {
    async fn announce(&self, request: AnnounceRequest) -> Result<AnnounceReply, String> {
        let tiers = lock(&self.tiers).clone();
        let mut errors = Vec::new();
        for (t, tier) in tiers.iter().enumerate() {
            for url in tier {
                if !is_supported(url) {
                    continue;
                }
                match self.announce_one(url, &request).await {
                    Ok(response) => {
                        let mut tiers = lock(&self.tiers);
                        if let Some(tier) = tiers.get_mut(t)
                            && let Some(i) = tier.iter().position(|u| u == url)
                        {
                            let u = tier.remove(i);
                            tier.insert(0, u);
                        }
                        if let Some(id) = response.tracker_id.clone() {
                            lock(&self.tracker_ids).insert(url.clone(), id);
                        }
                        return Ok(AnnounceReply {
                            peers: response
                                .peers
                                .iter()
                                .filter(|p| p.peer_id != Some(self.peer_id))
                                .map(|p| p.addr)
                                .collect(),
                            interval: response.interval,
                        });
                    }
                    Err(e) => errors.push(format!("{url}: {e}")),
                }
            }
        }
        if errors.is_empty() {
            Err("no HTTP or UDP tracker".to_string())
        } else {
            Err(errors.join("; "))
        }
    }

    fn request(&self, url: &str, r: &AnnounceRequest) -> tracker::AnnounceRequest {
        let mut request = tracker::AnnounceRequest::new(self.info_hash, self.peer_id, self.port);
        request.uploaded = r.uploaded;
        request.downloaded = r.downloaded;
        request.left = r.left;
        request.event = match r.event {
            swarm::AnnounceEvent::Started => Event::Started,
            swarm::AnnounceEvent::Periodic => Event::None,
            swarm::AnnounceEvent::Completed => Event::Completed,
            swarm::AnnounceEvent::Stopped => Event::Stopped,
        };
        request.numwant = Some(if r.event == swarm::AnnounceEvent::Stopped {
            0
        } else {
            self.numwant
        });
        request.key = Some(self.key);
        request.tracker_id = lock(&self.tracker_ids).get(url).cloned();
        request
    }

    async fn announce_one(
        &self,
        url: &str,
        r: &AnnounceRequest,
    ) -> Result<AnnounceResponse, String> {
        let request = self.request(url, r);
        if url.starts_with("udp://") {
            return self.announce_udp(url, request).await;
        }
        let full = announce_url(url, &request);
        let response = http::get(&full, None, &http::Limits::default())
            .await
            .map_err(|e| e.to_string())?;
        match parse_announce_response(&response.body, &ResponseLimits::default()) {
            Ok(Reply::Success(r)) => Ok(r),
            Ok(Reply::Failure(f)) => Err(format!("tracker refused: {}", f.reason)),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn announce_udp(
        &self,
        url: &str,
        request: tracker::AnnounceRequest,
    ) -> Result<AnnounceResponse, String> {
        let rest = url.strip_prefix("udp://").unwrap_or(url);
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let parsed = http::Url::parse(&format!("http://{authority}/"))
            .map_err(|_| format!("bad UDP tracker URL `{url}`"))?;
        let addr = http::resolve(&parsed.host, parsed.port)
            .await
            .map_err(|e| format!("cannot resolve: {e}"))?;
        let bind: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().map_err(|_| "bind address")?
        } else {
            "[::]:0".parse().map_err(|_| "bind address")?
        };
        let socket = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| e.to_string())?;
        let config = udp::Config {
            rng_seed: u64::from(self.key) ^ 0x7261_636b,
            max_retransmissions: self.udp_retransmissions,
            url_data: udp::url_data(url),
            ..udp::Config::default()
        };
        let mut client = udp::Client::new(config, addr);
        client
            .announce(clock(), request)
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 2048];
        loop {
            while let Some(datagram) = client.poll_transmit() {
                socket
                    .send_to(&datagram, addr)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            while let Some(event) = client.poll_event() {
                match event {
                    udp::Event::Announced { response, .. } => return Ok(response),
                    udp::Event::Failed { error, .. } => return Err(error.to_string()),
                    udp::Event::Scraped { .. } => {}
                }
            }
            let wake = client
                .poll_timeout()
                .unwrap_or_else(|| clock() + Duration::from_secs(60));
            tokio::select! {
                received = socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = received
                        && from == addr
                    {
                        client.handle_datagram(clock(), &buf[..n]);
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => client.handle_timeout(clock()),
            }
        }
    }
}
