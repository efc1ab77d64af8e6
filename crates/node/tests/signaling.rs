//! WebSocket tracker signaling over real sockets: `peercdn tracker --ws` and bittorrent-tracker
//! (npm, the server WebTorrent's authors run) relay our offers and answers between two nodes'
//! `WsTracker`s, and a node whose tracker went away reconnects and announces again once it is
//! back.

mod support;

use std::time::Duration;

use peercdn::signaling::{Signal, WsOptions, WsTracker};
use support::{Proc, have_node_packages, node_script, peercdn};
use tokio::sync::mpsc::UnboundedReceiver;
use tracker::PeerId;
use tracker::ws::Stats;

const IH: [u8; 20] = [0x5a; 20];

/// `peercdn tracker --ws ADDR` (port 0: any); returns it and its URL.
fn ws_tracker(addr: &str) -> (Proc, String) {
    let mut p = Proc::spawn("peercdn tracker", peercdn().args(["tracker", "--ws", addr]));
    let line = p.wait_line(Duration::from_secs(20), true, |l| {
        l.starts_with("WebSocket tracker: ")
    });
    (
        p,
        line.trim_start_matches("WebSocket tracker: ").to_string(),
    )
}

fn options(id: &[u8; 20]) -> WsOptions {
    let mut o = WsOptions::new(*id);
    // A test's tracker comes back at once: so may the node.
    o.reconnect_min = Duration::from_millis(100);
    o.reconnect_jitter = Duration::ZERO;
    o
}

/// The next signal that `pick` takes, within 20 s; the others are dropped.
async fn next<T>(
    signals: &mut UnboundedReceiver<Signal>,
    mut pick: impl FnMut(Signal) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            let signal = signals.recv().await.expect("the tracker task runs");
            if let Some(t) = pick(signal) {
                return t;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .expect("the signal in time")
}

fn stats() -> Stats {
    Stats {
        uploaded: 0,
        downloaded: 0,
        left: Some(1000),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_and_answers_go_through_our_tracker() {
    let (_tracker, url) = tokio::task::block_in_place(|| ws_tracker("127.0.0.1:0"));
    relay_through(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_and_answers_go_through_bittorrent_tracker() {
    if !have_node_packages(&["bittorrent-tracker"]) {
        return;
    }
    let (_tracker, url) = tokio::task::block_in_place(|| {
        let mut p = Proc::spawn(
            "bittorrent-tracker",
            node_script("bittorrent_tracker.mjs").arg("--ws"),
        );
        let ready = p.wait_event(Duration::from_secs(30), "listening");
        let url = ready["ws"].as_str().expect("a WebSocket URL").to_string();
        (p, url)
    });
    relay_through(&url).await;
}

/// Two nodes in one swarm at `url`: A's offers reach B, B's answer reaches A, and a second
/// torrent shares A's socket.
async fn relay_through(url: &str) {
    let (a_id, b_id) = (*b"-PC0001-signal-aaaaa", *b"-PC0001-signal-bbbbb");
    let a = WsTracker::spawn(url, options(&a_id));
    let b = WsTracker::spawn(url, options(&b_id));

    // B is in the swarm first, with no offers of its own.
    let mut b_signals = b.join(IH);
    let count = next(&mut b_signals, |s| match s {
        Signal::NeedOffers { count } => Some(count),
        _ => None,
    })
    .await;
    assert_eq!(count, 5, "WebTorrent's five offers an announce");
    assert!(b.announce(IH, stats(), Vec::new()).await.is_empty());
    next(&mut b_signals, |s| {
        matches!(s, Signal::Announced { .. }).then_some(())
    })
    .await;

    // A announces with two offers: the tracker hands them to B, the only other peer.
    let mut a_signals = a.join(IH);
    next(&mut a_signals, |s| {
        matches!(s, Signal::NeedOffers { .. }).then_some(())
    })
    .await;
    let sdps = vec!["v=0 offer one".to_string(), "v=0 offer two".to_string()];
    let ids = a.announce(IH, stats(), sdps.clone()).await;
    assert_eq!(ids.len(), 2);
    let (from, offer_id, sdp) = next(&mut b_signals, |s| match s {
        Signal::Offer {
            peer_id,
            offer_id,
            sdp,
        } => Some((peer_id, offer_id, sdp)),
        _ => None,
    })
    .await;
    assert_eq!(from, PeerId(a_id));
    assert!(ids.contains(&offer_id), "an offer of A's announce");
    assert!(sdps.contains(&sdp), "its SDP as sent: {sdp:?}");

    // B's answer comes back to A, for that offer.
    b.answer(IH, from, offer_id, "v=0 answer".to_string());
    let (by, answered, sdp) = next(&mut a_signals, |s| match s {
        Signal::Answer {
            peer_id,
            offer_id,
            sdp,
        } => Some((peer_id, offer_id, sdp)),
        _ => None,
    })
    .await;
    assert_eq!(
        (by, answered, sdp.as_str()),
        (PeerId(b_id), offer_id, "v=0 answer")
    );

    // A second torrent shares A's socket and gets its own announce.
    let other = [0x77; 20];
    let mut other_signals = a.join(other);
    next(&mut other_signals, |s| {
        matches!(s, Signal::NeedOffers { .. }).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reconnects_and_announces_again_when_its_tracker_comes_back() {
    let (mut tracker, url) = tokio::task::block_in_place(|| ws_tracker("127.0.0.1:0"));
    let addr = url.trim_start_matches("ws://").to_string();
    let a = WsTracker::spawn(&url, options(b"-PC0001-signal-recon"));
    let mut signals = a.join(IH);
    next(&mut signals, |s| {
        matches!(s, Signal::NeedOffers { .. }).then_some(())
    })
    .await;
    let ids = a
        .announce(IH, stats(), vec!["v=0 pending".to_string()])
        .await;
    assert_eq!(ids.len(), 1);
    next(&mut signals, |s| {
        matches!(s, Signal::Announced { .. }).then_some(())
    })
    .await;

    // The tracker goes away: the pending offer can no longer be answered.
    tokio::task::block_in_place(|| tracker.kill());
    let expired = next(&mut signals, |s| match s {
        Signal::OfferExpired(id) => Some(id),
        _ => None,
    })
    .await;
    assert_eq!(expired, ids[0]);

    // Back on the same address: the node reconnects by itself and announces anew.
    let (_tracker, again) = tokio::task::block_in_place(|| ws_tracker(&addr));
    assert_eq!(again, url);
    next(&mut signals, |s| {
        matches!(s, Signal::NeedOffers { .. }).then_some(())
    })
    .await;
    assert!(
        a.announce(IH, stats(), Vec::new()).await.is_empty(),
        "announced without offers"
    );
    next(&mut signals, |s| {
        matches!(s, Signal::Announced { .. }).then_some(())
    })
    .await;
}
