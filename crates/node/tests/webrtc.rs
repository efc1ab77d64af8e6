//! `peercdn` peers over WebRTC data channels, signaled through WebSocket trackers on 127.0.0.1:
//! `peercdn tracker --ws` and bittorrent-tracker (npm). The torrents name only the WebSocket
//! tracker and nobody is given a TCP address, so every byte moves over WebRTC.

mod support;

use std::path::Path;
use std::time::Duration;

use support::coturn::Coturn;
use support::{
    Proc, TempDir, completes, content, have_node_packages, have_program, make_torrent, node_script,
    peercdn, peercdn_download, peercdn_seed,
};

const SIZE: usize = 6 * 1024 * 1024 + 777;

/// `peercdn tracker --ws ADDR`; returns it and its WebSocket URL.
fn ws_tracker() -> (Proc, String) {
    let mut p = Proc::spawn(
        "peercdn tracker",
        peercdn().args(["tracker", "--ws", "127.0.0.1:0"]),
    );
    let line = p.wait_line(Duration::from_secs(20), true, |l| {
        l.starts_with("WebSocket tracker: ")
    });
    (
        p,
        line.trim_start_matches("WebSocket tracker: ").to_string(),
    )
}

/// bittorrent-tracker with its WebSocket server; returns it and its URL, or `None` without
/// the npm packages.
fn bittorrent_tracker() -> Option<(Proc, String)> {
    bittorrent_tracker_with(&[])
}

/// [`bittorrent_tracker`] with more switches (`--interval SECS`).
fn bittorrent_tracker_with(extra: &[&str]) -> Option<(Proc, String)> {
    if !have_node_packages(&["bittorrent-tracker"]) {
        return None;
    }
    let mut p = Proc::spawn(
        "bittorrent-tracker",
        node_script("bittorrent_tracker.mjs")
            .arg("--ws")
            .args(extra),
    );
    let ready = p.wait_event(Duration::from_secs(30), "listening");
    let url = ready["ws"].as_str().expect("a ws URL").to_string();
    Some((p, url))
}

const RTC: [&str; 2] = ["--webrtc-ip", "127.0.0.1"];

/// A peercdn seed and a peercdn download of `torrent`, both with only the WebSocket tracker.
fn download_over_webrtc(dir: &Path, torrent: &Path, name: &str) {
    let (_seed, _) = peercdn_seed(torrent, &dir.join("seed"), "127.0.0.1:0", &RTC);
    let out = dir.join("out");
    let mut download = peercdn_download(torrent, &out, "127.0.0.1:0", &RTC);
    let complete = completes(&mut download);
    assert!(
        std::fs::read(out.join(name)).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact: {complete}"
    );
}

#[test]
fn peercdn_downloads_from_peercdn_over_webrtc_through_our_tracker() {
    let dir = TempDir::new("rtc-ours");
    let (_tracker, url) = ws_tracker();
    let torrent = make_torrent(dir.path(), "clip.bin", SIZE, "256K", &[&url]);
    download_over_webrtc(dir.path(), &torrent, "clip.bin");
}

#[test]
fn peercdn_downloads_from_peercdn_over_webrtc_through_bittorrent_tracker() {
    let Some((_tracker, url)) = bittorrent_tracker() else {
        return;
    };
    let dir = TempDir::new("rtc-btt");
    let torrent = make_torrent(dir.path(), "clip.bin", SIZE, "256K", &[&url]);
    download_over_webrtc(dir.path(), &torrent, "clip.bin");
}

/// Whether `p` printed a JSON `progress` event that `want` accepts.
fn printed_progress(p: &Proc, want: impl Fn(&serde_json::Value) -> bool) -> bool {
    p.seen.iter().any(|l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| v["event"] == "progress" && want(&v))
    })
}

/// A hybrid peer: one seed reached over TCP (`--peer`, its WebRTC off), one reached only
/// over WebRTC (through the WebSocket tracker), both upload-limited so that neither can do it
/// all; the download takes from both in the same swarm engine.
#[test]
fn a_download_takes_from_a_tcp_seed_and_a_webrtc_seed_at_once() {
    let dir = TempDir::new("rtc-hybrid");
    let (_tracker, url) = ws_tracker();
    let torrent = make_torrent(dir.path(), "clip.bin", SIZE, "256K", &[&url]);
    let data = dir.path().join("seed");
    let limit = ["--upload-rate", "1M"];
    let (mut tcp_seed, started) = peercdn_seed(
        &torrent,
        &data,
        "127.0.0.1:0",
        &[&limit[..], &["--no-webrtc"]].concat(),
    );
    let tcp_addr = started["listen"].as_str().expect("listen").to_string();
    let (mut rtc_seed, _) =
        peercdn_seed(&torrent, &data, "127.0.0.1:0", &[&limit[..], &RTC].concat());
    let out = dir.path().join("out");
    let mut download = peercdn_download(
        &torrent,
        &out,
        "127.0.0.1:0",
        &[&RTC[..], &["--peer", &tcp_addr]].concat(),
    );
    completes(&mut download);
    assert!(
        std::fs::read(out.join("clip.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
    assert!(
        printed_progress(&download, |v| v["peers"] == 2 && v["webrtc_peers"] == 1),
        "two peers at once, one over WebRTC:\n{}",
        download.seen.join("\n")
    );
    // Each seed uploaded some of it (or this waits in vain and fails).
    for seed in [&mut tcp_seed, &mut rtc_seed] {
        seed.wait_line(Duration::from_secs(10), false, |l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v["event"] == "progress" && v["uploaded"].as_u64() > Some(0))
        });
    }
}

/// Peers that may use relayed candidates only (`--relay-only`): every byte goes through a real
/// TURN server (coturn on 127.0.0.1), which reports the relayed bytes in its log. Two
/// downloaders at once: the seed tells its relayed peers apart although every datagram of
/// theirs comes from the same server address.
#[test]
fn peercdn_peers_connect_through_a_turn_server_with_relay_candidates_only() {
    if !have_program("turnserver", "coturn") {
        return;
    }
    let mut turn = Coturn::start();
    let dir = TempDir::new("rtc-turn");
    let (_tracker, url) = ws_tracker();
    let torrent = make_torrent(dir.path(), "clip.bin", SIZE, "256K", &[&url]);
    let server = turn.url();
    let relay = [
        "--webrtc-ip",
        "127.0.0.1",
        "--ice-server",
        &server,
        "--ice-username",
        "u",
        "--ice-credential",
        "p",
        "--relay-only",
    ];
    // Slow enough that the seed's progress shows both at once.
    let seed_options = [&relay[..], &["--upload-rate", "4M"]].concat();
    let (mut seed, _) = peercdn_seed(
        &torrent,
        &dir.path().join("seed"),
        "127.0.0.1:0",
        &seed_options,
    );
    let outs = [dir.path().join("out-a"), dir.path().join("out-b")];
    let mut downloads: Vec<Proc> = outs
        .iter()
        .map(|out| peercdn_download(&torrent, out, "127.0.0.1:0", &relay))
        .collect();
    for (download, out) in downloads.iter_mut().zip(&outs) {
        completes(download);
        assert!(
            std::fs::read(out.join("clip.bin")).expect("downloaded") == content(SIZE, 7),
            "the download is byte-exact"
        );
    }
    seed.kill();
    seed.drain();
    assert!(
        printed_progress(&seed, |v| v["webrtc_peers"] == 2),
        "the seed served both at once:\n{}",
        seed.seen.join("\n")
    );
    turn.proc.kill();
    turn.proc.drain();
    // coturn's `usage` lines count what each allocation's client sent it (`rb`): the seed's
    // blocks, relayed to the downloaders. Reports are periodic, so the last moments before the
    // kill may be missing from them: most of one copy, at least.
    let relayed: u64 = turn
        .proc
        .seen
        .iter()
        .filter(|l| l.contains(": usage: "))
        .filter_map(|l| {
            l.split(", rb=")
                .nth(1)?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        relayed >= SIZE as u64 / 2,
        "coturn relayed {relayed} bytes:\n{}",
        turn.proc.seen.join("\n")
    );
}

/// WebTorrent 3 in Node with its own WebRTC stack (node-datachannel), connecting only over
/// WebRTC through `trackers` (`conformance/external/webtorrent_rtc.mjs`); `None` without the
/// npm packages.
fn webtorrent_rtc(dir: &Path, torrent: &Path, seed: bool, tracker: &str) -> Option<Proc> {
    if !have_node_packages(&["webtorrent", "node-datachannel"]) {
        return None;
    }
    let mut cmd = node_script("webtorrent_rtc.mjs");
    cmd.arg("--save")
        .arg(dir)
        .arg("--torrent")
        .arg(torrent)
        .args(["--announce", tracker, "--timeout", "90"]);
    if seed {
        cmd.arg("--seed");
    }
    let name = if seed {
        "webtorrent seed"
    } else {
        "webtorrent"
    };
    Some(Proc::spawn(name, &mut cmd))
}

/// WebTorrent in Node downloads from a peercdn seed over WebRTC: every byte from our peer id.
fn webtorrent_downloads_from_peercdn(name: &str, tracker: &str) {
    let dir = TempDir::new(name);
    let torrent = make_torrent(dir.path(), "clip.bin", SIZE, "256K", &[tracker]);
    let (_seed, started) = peercdn_seed(&torrent, &dir.path().join("seed"), "127.0.0.1:0", &RTC);
    let out = dir.path().join("out");
    let Some(mut leecher) = webtorrent_rtc(&out, &torrent, false, tracker) else {
        return;
    };
    let finished = leecher.wait_event(Duration::from_secs(90), "finished");
    assert!(
        std::fs::read(out.join("clip.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
    let ours = started["peer_id"].as_str().expect("the seed's peer id");
    assert_eq!(
        finished["by_peer"][ours], SIZE,
        "every byte from our seed, over WebRTC: {finished}"
    );
}

/// peercdn downloads from a WebTorrent seed in Node over WebRTC.
fn peercdn_downloads_from_webtorrent(name: &str, tracker: &str) {
    let dir = TempDir::new(name);
    let torrent = make_torrent(dir.path(), "clip.bin", SIZE, "256K", &[tracker]);
    let Some(mut seed) = webtorrent_rtc(&dir.path().join("seed"), &torrent, true, tracker) else {
        return;
    };
    seed.wait_event(Duration::from_secs(60), "ready");
    let out = dir.path().join("out");
    completes(&mut peercdn_download(&torrent, &out, "127.0.0.1:0", &RTC));
    assert!(
        std::fs::read(out.join("clip.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
    // The seed saw our connection as a WebRTC wire.
    seed.wait_event(Duration::from_secs(10), "wire");
}

#[test]
fn webtorrent_in_node_downloads_from_peercdn_over_webrtc_through_our_tracker() {
    let (_tracker, url) = ws_tracker();
    webtorrent_downloads_from_peercdn("rtc-to-wt-ours", &url);
}

#[test]
fn webtorrent_in_node_downloads_from_peercdn_over_webrtc_through_bittorrent_tracker() {
    let Some((_tracker, url)) = bittorrent_tracker() else {
        return;
    };
    webtorrent_downloads_from_peercdn("rtc-to-wt-btt", &url);
}

#[test]
fn peercdn_downloads_from_webtorrent_in_node_over_webrtc_through_our_tracker() {
    let (_tracker, url) = ws_tracker();
    peercdn_downloads_from_webtorrent("rtc-from-wt-ours", &url);
}

#[test]
fn peercdn_downloads_from_webtorrent_in_node_over_webrtc_through_bittorrent_tracker() {
    let Some((_tracker, url)) = bittorrent_tracker() else {
        return;
    };
    peercdn_downloads_from_webtorrent("rtc-from-wt-btt", &url);
}

/// Glare: once connected, each peer's next announce sends the other an offer (the tracker
/// forwards offers to the peers it knows). Both keep the connection whose offerer has the lower
/// peer id, so the two stay on one connection: the download never shows a second WebRTC peer.
/// bittorrent-tracker with `--interval 150` tells WebSocket clients to announce every 30 s
/// (a fifth of it, and the client's floor); the download is slowed to outlast that.
#[test]
fn two_peers_that_offer_to_each_other_keep_one_connection() {
    let Some((mut tracker, url)) = bittorrent_tracker_with(&["--interval", "150"]) else {
        return;
    };
    let dir = TempDir::new("rtc-glare");
    let torrent = make_torrent(dir.path(), "clip.bin", SIZE, "256K", &[&url]);
    let (mut seed, _) = peercdn_seed(&torrent, &dir.path().join("seed"), "127.0.0.1:0", &RTC);
    let out = dir.path().join("out");
    let slow = [&RTC[..], &["--download-rate", "160K"]].concat();
    let mut download = peercdn_download(&torrent, &out, "127.0.0.1:0", &slow);
    completes(&mut download);
    assert!(
        std::fs::read(out.join("clip.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
    seed.kill();
    seed.drain();
    tracker.kill();
    tracker.drain();
    // Each re-announced (with its offers) while they were connected.
    let reannounces = tracker
        .seen
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        // (An answer travels as an `update` without `left`.)
        .filter(|v| v["event"] == "announce" && v["kind"] == "update" && v["left"].is_u64())
        .count();
    assert!(
        reannounces >= 2,
        "both peers re-announced:\n{}",
        tracker.seen.join("\n")
    );
    for (name, p) in [("download", &download), ("seed", &seed)] {
        let most = p
            .seen
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == "progress")
            .filter_map(|v| v["webrtc_peers"].as_u64())
            .max();
        assert_eq!(
            most,
            Some(1),
            "the {name} had one WebRTC peer at most:\n{}",
            p.seen.join("\n")
        );
    }
}
