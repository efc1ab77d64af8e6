//! `peercdn tracker --ws`: WebTorrent's WebSocket tracker over a real WebSocket. Two clients
//! announce to one swarm; an offer of the second is relayed to the first, and the first's
//! answer is routed back to the second, in the JSON shapes bittorrent-tracker uses.

mod support;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use support::{Proc, peercdn};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A 20-byte id as a "binary string" (here all ASCII).
fn id(c: char) -> String {
    c.to_string().repeat(20)
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("JSON");
        }
    }
}

async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string()))
        .await
        .expect("sent");
}

#[tokio::test]
async fn offers_and_answers_are_relayed_between_two_peers() {
    let mut tracker = Proc::spawn(
        "peercdn tracker --ws",
        peercdn().args(["tracker", "--ws", "127.0.0.1:0"]),
    );
    let line = tracker.wait_line(Duration::from_secs(20), true, |l| {
        l.starts_with("WebSocket tracker: ")
    });
    let url = line.trim_start_matches("WebSocket tracker: ").to_string();
    let (mut a, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connects");
    let (mut b, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connects");
    let info_hash = id('h');

    send(
        &mut a,
        json!({"action": "announce", "info_hash": info_hash, "peer_id": id('a'), "numwant": 5,
               "uploaded": 0, "downloaded": 0, "left": 100, "event": "started", "offers": []}),
    )
    .await;
    let reply = next_json(&mut a).await;
    assert_eq!(reply["action"], "announce");
    assert_eq!(reply["info_hash"], info_hash);
    assert!(reply["interval"].as_u64().is_some());

    send(
        &mut b,
        json!({"action": "announce", "info_hash": info_hash, "peer_id": id('b'), "numwant": 5,
               "uploaded": 0, "downloaded": 0, "left": 100, "event": "started",
               "offers": [{"offer_id": id('o'), "offer": {"type": "offer", "sdp": "v=0 b"}}]}),
    )
    .await;
    let reply = next_json(&mut b).await;
    assert_eq!(reply["action"], "announce");
    // The offer reaches the other peer, with the offerer's id.
    let offer = next_json(&mut a).await;
    assert_eq!(offer["offer"]["sdp"], "v=0 b");
    assert_eq!(offer["offer_id"], id('o'));
    assert_eq!(offer["peer_id"], id('b'));
    // The answer goes back to the offerer.
    send(
        &mut a,
        json!({"action": "announce", "info_hash": info_hash, "peer_id": id('a'),
               "to_peer_id": id('b'), "offer_id": id('o'),
               "answer": {"type": "answer", "sdp": "v=0 a"}}),
    )
    .await;
    let answer = next_json(&mut b).await;
    assert_eq!(answer["answer"]["sdp"], "v=0 a");
    assert_eq!(answer["offer_id"], id('o'));
    assert_eq!(answer["peer_id"], id('a'));
}
