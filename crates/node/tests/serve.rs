//! `peercdn serve DIR` without a browser: the torrents it makes of the folder's files, the
//! index, the files with ranges, the page's resources, the HTTP and WebSocket trackers on the
//! same port, and downloads by `peercdn` itself from a .torrent URL and from a magnet link.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use support::http::{Reply, request};
use support::{Proc, TempDir, completes, content, peercdn, peercdn_download, wait_for_seeds};
use torrent_format::Metainfo;

/// `peercdn serve DIR` on loopback, started; returns it, its `started` event and its HTTP
/// address.
fn serve(dir: &Path) -> (Proc, serde_json::Value, SocketAddr) {
    serve_with(dir, &[])
}

/// [`serve`] with more switches.
fn serve_with(dir: &Path, extra: &[&str]) -> (Proc, serde_json::Value, SocketAddr) {
    let mut p = Proc::spawn(
        "peercdn serve",
        peercdn()
            .arg("serve")
            .arg(dir)
            .args(["--http", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--json"])
            .args(extra),
    );
    let started = p.wait_event(Duration::from_secs(60), "started");
    let http = started["http"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("an HTTP address");
    (p, started, http)
}

fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", path, headers, b"").unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A folder with a file in a subfolder (a space in its name), a small one, a link to it, an
/// empty file and a link out of the folder; returns the big file's bytes.
fn site(dir: &Path) -> Vec<u8> {
    let www = dir.join("www");
    std::fs::create_dir_all(www.join("sub")).expect("writable");
    let data = content(1024 * 1024 + 777, 7);
    std::fs::write(www.join("sub/a b.bin"), &data).expect("writable");
    std::fs::write(www.join("hello.txt"), b"hello\n").expect("writable");
    std::fs::write(www.join("empty"), b"").expect("writable");
    std::fs::write(dir.join("secret"), b"outside").expect("writable");
    std::os::unix::fs::symlink(dir.join("secret"), www.join("out")).expect("symlink");
    std::os::unix::fs::symlink(www.join("hello.txt"), www.join("in")).expect("symlink");
    data
}

#[test]
fn each_file_is_a_v1_torrent_with_its_own_url_as_web_seed_listed_in_the_index() {
    let dir = TempDir::new("serve-index");
    let data = site(dir.path());
    let (p, started, http) = serve(&dir.path().join("www"));
    let base = format!("http://{http}/");
    assert_eq!(started["url"], base);
    assert_eq!(started["announce"], format!("{base}announce"));
    assert_eq!(started["websocket"], format!("ws://{http}/ws"));
    assert_eq!(started["files"], 3);
    // What was left out, and why.
    let warnings = p.seen.join("\n");
    assert!(
        warnings.contains("out: a link out of the folder"),
        "{warnings}"
    );
    assert!(warnings.contains("empty: empty"), "{warnings}");

    let index = get(http, "/index.json", &[]);
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some("application/json"));
    let index: serde_json::Value = serde_json::from_slice(&index.body).expect("JSON");
    let files = index["files"].as_array().expect("files");
    let paths: Vec<&str> = files.iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(paths, ["hello.txt", "in", "sub/a b.bin"]);

    let f = &files[2];
    assert_eq!(f["size"], data.len());
    assert_eq!(f["url"], format!("{base}f/sub/a%20b.bin"));
    assert_eq!(f["page"], format!("{base}p/sub/a%20b.bin"));
    assert_eq!(f["torrent"], format!("{base}t/sub/a%20b.bin.torrent"));
    let torrent = get(http, "/t/sub/a%20b.bin.torrent", &[]);
    assert_eq!(torrent.status, 200);
    assert_eq!(
        torrent.header("content-type"),
        Some("application/x-bittorrent")
    );
    let meta = Metainfo::from_bytes(&torrent.body).expect("a valid torrent");
    let hashes = meta.info_hashes();
    assert!(hashes.v2.is_none(), "v1 only, for WebTorrent");
    assert_eq!(
        hashes.v1.map(|h| h.to_hex()).as_deref(),
        f["info_hash"].as_str()
    );
    assert_eq!(meta.name(), "a b.bin");
    assert_eq!(meta.total_size(), data.len() as u64);
    assert_eq!(meta.web_seeds(), [f["url"].as_str().expect("a URL")]);
    assert_eq!(
        meta.trackers(),
        [
            vec![format!("{base}announce")],
            vec![format!("ws://{http}/ws")]
        ]
    );
    let magnet = torrent_format::Magnet::parse(f["magnet"].as_str().expect("a magnet"))
        .expect("a valid magnet link");
    assert_eq!(magnet.info_hashes, hashes);
    assert_eq!(magnet.web_seeds, [f["url"].as_str().expect("a URL")]);

    // The link inside the folder is served as its own file, the same bytes.
    let link = get(http, "/t/in.torrent", &[]);
    let link = Metainfo::from_bytes(&link.body).expect("a valid torrent");
    assert_eq!((link.name(), link.total_size()), ("in", 6));
    for missing in [
        "/t/out.torrent",
        "/t/empty.torrent",
        "/t/nope.torrent",
        "/t/in",
    ] {
        assert_eq!(get(http, missing, &[]).status, 404, "{missing}");
    }
}

/// The ICE servers of the origin's peer go to the page too, as a browser's `RTCConfiguration`
/// (TURN credentials included); a server URL the transport cannot use is a usage error.
#[test]
fn the_page_gets_the_ice_servers_and_a_bad_one_is_refused() {
    let dir = TempDir::new("serve-ice");
    site(dir.path());
    let www = dir.path().join("www");
    let (_p, _, http) = serve_with(
        &www,
        &[
            "--ice-server",
            "stun:127.0.0.1:3478",
            "--ice-server",
            "turn:127.0.0.1:3479?transport=udp",
            "--ice-username",
            "u",
            "--ice-credential",
            "p",
            "--relay-only",
        ],
    );
    let index = get(http, "/index.json", &[]);
    let index: serde_json::Value = serde_json::from_slice(&index.body).expect("JSON");
    assert_eq!(
        index["rtc_config"],
        serde_json::json!({
            "iceServers": [
                {"urls": "stun:127.0.0.1:3478"},
                {"urls": "turn:127.0.0.1:3479?transport=udp", "username": "u", "credential": "p"},
            ],
            "iceTransportPolicy": "relay",
        })
    );
    for bad in [
        "turns:127.0.0.1:5349",
        "http://127.0.0.1/",
        "turn:127.0.0.1:3479?transport=tcp",
    ] {
        let out = peercdn()
            .arg("serve")
            .arg(&www)
            .args(["--http", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--json"])
            .args(["--ice-server", bad])
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{bad}");
        // (After the walk's warnings.)
        let error = serde_json::Deserializer::from_slice(&out.stdout)
            .into_iter::<serde_json::Value>()
            .filter_map(Result::ok)
            .find(|v| v.get("error").is_some())
            .expect("a JSON error");
        assert_eq!(error["error"], "usage", "{bad}: {error}");
        assert!(
            error["message"].as_str().is_some_and(|m| m.contains(bad)),
            "{bad}: {error}"
        );
    }
}

#[test]
fn files_are_served_with_ranges_and_nothing_outside_the_folder() {
    let dir = TempDir::new("serve-ranges");
    let data = site(dir.path());
    let (_p, _, http) = serve(&dir.path().join("www"));
    let path = "/f/sub/a%20b.bin";
    let whole = get(http, path, &[]);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, data);
    let part = get(http, path, &[("Range", "bytes=1000-1999")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &data[1000..2000]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 1000-1999/{}", data.len()).as_str())
    );
    let tail = get(http, path, &[("Range", "bytes=-10")]);
    assert_eq!(
        (tail.status, tail.body.as_slice()),
        (206, &data[data.len() - 10..])
    );
    let beyond = get(http, path, &[("Range", "bytes=99999999-")]);
    assert_eq!(beyond.status, 416);
    assert_eq!(get(http, "/f/in", &[]).body, b"hello\n");
    for refused in ["/f/out", "/f/../secret", "/f/%2e%2e/secret", "/f/nope"] {
        assert_eq!(get(http, refused, &[]).status, 404, "{refused}");
    }
}

#[test]
fn the_page_and_its_scripts_are_served_and_bad_requests_are_refused() {
    let dir = TempDir::new("serve-page");
    site(dir.path());
    let (_p, _, http) = serve(&dir.path().join("www"));
    let page = get(http, "/", &[]);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(html.contains(r#"<base href="/">"#), "{html}");
    assert!(html.contains(r#"src="peercdn-page.js""#), "{html}");
    assert_eq!(get(http, "/p/sub/a%20b.bin", &[]).body, page.body);
    assert_eq!(get(http, "/p/nope.bin", &[]).status, 404);
    let script = get(http, "/peercdn-page.js", &[]);
    assert!(
        script
            .text()
            .contains("import WebTorrent from './webtorrent.min.js'")
    );
    let webtorrent = get(http, "/webtorrent.min.js", &[]);
    assert_eq!(
        webtorrent.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let js = webtorrent.text();
    assert!(js.starts_with("/*! WebTorrent 3.0.21"), "{}", &js[..80]);
    assert!(js.contains("export{"), "an ES module");
    let license = get(http, "/webtorrent.LICENSE.txt", &[]).text();
    assert!(license.contains("Copyright (c) Feross Aboukhadijeh and WebTorrent, LLC"));
    assert!(license.contains("bittorrent-protocol 5.0.9 (MIT)"));

    let post = request(http, "POST", "/index.json", &[], b"").expect("an answer");
    assert_eq!(post.status, 405);
    for bad in [
        "GARBAGE\r\n\r\n".to_string(),
        format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000)),
        "GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".to_string(),
    ] {
        assert!(
            raw(http, bad.as_bytes()).starts_with("HTTP/1.1 400 "),
            "{:?}",
            &bad[..20]
        );
    }
    // Still serving.
    assert_eq!(get(http, "/index.json", &[]).status, 200);
}

/// Sends `bytes` and reads until the server closes.
fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    // The server may answer and close before reading everything (a head too large).
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn peercdn_downloads_a_served_file_by_its_torrent_url_and_by_its_magnet_link() {
    let dir = TempDir::new("serve-download");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("writable");
    let data = content(2 * 1024 * 1024 + 1, 9);
    std::fs::write(www.join("big.bin"), &data).expect("writable");
    let (_p, started, http) = serve(&www);
    let index = get(http, "/index.json", &[]);
    let index: serde_json::Value = serde_json::from_slice(&index.body).expect("JSON");
    let file = &index["files"][0];
    let announce = started["announce"].as_str().expect("an announce URL");
    // The origin's TCP seed announced itself to the HTTP tracker on the same port.
    wait_for_seeds(
        announce,
        file["info_hash"].as_str().expect("an info-hash"),
        1,
        Duration::from_secs(30),
    );

    let torrent = dir.path().join("big.torrent");
    std::fs::write(&torrent, get(http, "/t/big.bin.torrent", &[]).body).expect("writable");
    let out = dir.path().join("by-torrent");
    completes(&mut peercdn_download(&torrent, &out, "127.0.0.1:0", &[]));
    assert!(std::fs::read(out.join("big.bin")).expect("downloaded") == data);

    // A magnet link carries no piece hashes: the info dictionary comes from a peer (the
    // origin's seed, found through the tracker), which a web seed cannot give.
    let out = dir.path().join("by-magnet");
    let magnet = file["magnet"].as_str().expect("a magnet link");
    completes(&mut peercdn_download(magnet, &out, "127.0.0.1:0", &[]));
    assert!(std::fs::read(out.join("big.bin")).expect("downloaded") == data);
}

#[tokio::test]
async fn the_websocket_tracker_on_the_same_port_relays_offers() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let dir = TempDir::new("serve-ws");
    site(dir.path());
    let (_p, started, _) = serve(&dir.path().join("www"));
    let url = started["websocket"].as_str().expect("a WebSocket URL");
    let hash = "h".repeat(20);
    let announce = |peer: &str| {
        serde_json::json!({
            "action": "announce", "info_hash": hash, "peer_id": peer.repeat(20), "numwant": 1,
            "uploaded": 0, "downloaded": 0, "left": 1, "event": "started",
            "offers": [{"offer_id": "o".repeat(20), "offer": {"type": "offer", "sdp": "v=0"}}],
        })
        .to_string()
    };
    let next = async |ws: &mut tokio_tungstenite::WebSocketStream<_>| -> serde_json::Value {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a frame");
        serde_json::from_str(message.to_text().expect("text")).expect("JSON")
    };
    let (mut a, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    a.send(Message::text(announce("a"))).await.expect("sent");
    let reply = next(&mut a).await;
    assert_eq!(reply["action"], "announce");
    assert!(reply["interval"].as_u64().is_some(), "{reply}");
    let (mut b, _) = tokio_tungstenite::connect_async(url.replace("/ws", "/"))
        .await
        .expect("connects at / too");
    b.send(Message::text(announce("b"))).await.expect("sent");
    assert_eq!(next(&mut b).await["action"], "announce");
    // b's offer went to a, the only other WebSocket peer of the swarm.
    let offer = next(&mut a).await;
    assert_eq!(offer["peer_id"], "b".repeat(20), "{offer}");
    assert_eq!(offer["offer"]["sdp"], "v=0");
}

#[test]
fn a_folder_with_too_many_files_is_refused_with_a_clear_error() {
    let dir = TempDir::new("serve-many");
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).expect("writable");
    for i in 0..=2000 {
        std::fs::write(www.join(format!("f{i}")), b"x").expect("writable");
    }
    let out = peercdn()
        .arg("serve")
        .arg(&www)
        .args(["--http", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--json"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON error");
    assert_eq!(error["error"], "too_many_files");
    let message = error["message"].as_str().expect("a message");
    assert!(message.contains("more than 2000 files"), "{message}");

    let empty = dir.path().join("nothing");
    std::fs::create_dir_all(&empty).expect("writable");
    let out = peercdn()
        .arg("serve")
        .arg(&empty)
        .args(["--http", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no file to serve"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
