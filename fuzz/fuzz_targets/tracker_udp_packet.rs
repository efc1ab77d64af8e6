//! UDP tracker packets (BEP 15). The input is one datagram, read as a request and as a response
//! of both families, then given to a server and to a client waiting for its connect and
//! announce answers.
//!
//! Nothing panics; whatever decodes re-encodes to bytes that decode to the same packet; the
//! server answers with a packet our decoder reads; the client turns at most one of its two
//! requests into an event per datagram and keeps its deadlines in the future.

#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use tracker::server::{Config as TableConfig, SwarmTable};
use tracker::udp::server::{Config as ServerConfig, Server};
use tracker::udp::{self, Request, Response};
use tracker::{AnnounceRequest, Family, InfoHash, PeerId};

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let now = origin();
    if let Ok(request) = Request::decode(data) {
        let mut again = Vec::new();
        request.encode(&mut again);
        assert_eq!(Request::decode(&again), Ok(request));
    }
    for family in [Family::V4, Family::V6] {
        if let Ok(response) = Response::decode(data, family) {
            let mut again = Vec::new();
            response.encode(&mut again);
            assert_eq!(Response::decode(&again, family), Ok(response));
        }
    }

    let mut table = SwarmTable::new(TableConfig::default());
    let server = Server::new(ServerConfig::new([1; 16]), now);
    for from in ["10.0.0.1:6881", "[2001:db8::1]:6881"] {
        let from = from.parse().expect("an address");
        let mut out = Vec::new();
        if server.handle_datagram(now, from, data, &mut table, &mut out) {
            let family = Family::of(std::net::SocketAddr::ip(&from));
            assert!(Response::decode(&out, family).is_ok(), "unreadable reply");
        }
    }

    // A client with a connect in flight (transaction id from seed 0), fed the datagram as it
    // is and with the first transaction id patched in.
    let mut client = udp::Client::new(
        udp::Config::default(),
        "10.0.0.9:6969".parse().expect("an address"),
    );
    let request = AnnounceRequest::new(InfoHash([1; 20]), PeerId([2; 20]), 1);
    client.announce(now, request).expect("room");
    client.scrape(now, vec![InfoHash([1; 20])]).expect("room");
    let connect = client.poll_transmit().expect("a connect");
    let mut patched = data.to_vec();
    if patched.len() >= 8 {
        patched[4..8].copy_from_slice(&connect[12..16]);
    }
    for packet in [data, &patched[..]] {
        client.handle_datagram(now, packet);
        while let Some(sent) = client.poll_transmit() {
            // After a connect answer: the two requests, with the new connection id.
            let mut answer = data.to_vec();
            if answer.len() >= 8 {
                answer[4..8].copy_from_slice(&sent[12..16]);
            }
            client.handle_datagram(now, &answer);
        }
    }
    let events = std::iter::from_fn(|| client.poll_event()).count();
    assert!(events <= 2);
    assert_eq!(client.num_requests() + events, 2);
    client.handle_timeout(now + Duration::from_secs(15));
    assert!(
        client
            .poll_timeout()
            .is_none_or(|t| t > now + Duration::from_secs(15))
    );
});
