//! WebSocket tracker JSON (WebTorrent signaling). The input is one text frame (lossily UTF-8),
//! read as a client message and as a server message, then given to our relay and to a client
//! with an offer waiting.
//!
//! Nothing panics; whatever parses writes back JSON that parses to the same message; the relay
//! answers only with frames our client parser reads; the client never reports an answer to an
//! offer it did not make.

#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use tracker::server::{Config as TableConfig, SocketId, SwarmTable};
use tracker::ws::{self, ClientMessage, Limits, ServerMessage};
use tracker::{InfoHash, PeerId};

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let now = origin();
    let text = String::from_utf8_lossy(data);
    let limits = Limits::default();
    if let Ok(m) = ClientMessage::from_json(&text, &limits) {
        assert_eq!(ClientMessage::from_json(&m.to_json(), &limits), Ok(m));
    }
    if let Ok(m) = ServerMessage::from_json(&text, &limits) {
        assert_eq!(ServerMessage::from_json(&m.to_json(), &limits), Ok(m));
    }

    let mut table = SwarmTable::new(TableConfig::default());
    let mut relay = ws::server::Server::new(ws::server::Config::default());
    // A peer already in the swarm of the all-'a' info-hash, to receive offers and answers.
    let join = format!(
        r#"{{"action":"announce","info_hash":"{}","peer_id":"{}","left":1}}"#,
        "a".repeat(20),
        "p".repeat(20)
    );
    relay.handle_text(now, SocketId(1), &join, &mut table);
    relay.handle_text(now, SocketId(2), &text, &mut table);
    while let Some((_, frame)) = relay.poll_transmit() {
        assert!(
            ServerMessage::from_json(&frame, &limits).is_ok(),
            "unreadable: {frame}"
        );
    }
    relay.handle_close(SocketId(2), &mut table);

    let mut client = ws::Client::new(ws::Config::new(InfoHash([b'a'; 20]), PeerId([b'q'; 20])));
    client.start(now);
    client.handle_open(now);
    let offers = client
        .announce(now, ws::Stats::default(), vec!["v=0".into()])
        .expect("open");
    client.handle_text(now, &text);
    while let Some(event) = client.poll_event() {
        if let ws::Event::Answer { offer_id, .. } = event {
            assert!(offers.contains(&offer_id));
        }
    }
});
