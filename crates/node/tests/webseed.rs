//! `peercdn download` from an HTTP web seed alone (BEP 19): a plain Python `http.server` on
//! 127.0.0.1 serving the files, no peer, no tracker. Python's server ignores `Range` and
//! answers with whole files, which the client must cope with.

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{Proc, TempDir, completes, content, peercdn, peercdn_download};

/// `python3 -m http.server` serving `root` on a free port; returns it and its base URL.
fn http_server(root: &Path) -> (Proc, String) {
    // A free port now; the server binds it right after (nothing else here binds ports).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut server = Proc::spawn(
        "http.server",
        Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .arg("--directory")
            .arg(root),
    );
    server.wait_line(Duration::from_secs(20), true, |l| {
        l.contains("Serving HTTP")
    });
    (server, format!("http://127.0.0.1:{port}/"))
}

fn create(input: &Path, torrent: &Path, web_seed: &str) {
    let out = peercdn()
        .arg("create")
        .arg(input)
        .arg("-o")
        .arg(torrent)
        .args(["--piece-size", "64K", "--web-seed", web_seed])
        .output()
        .expect("peercdn create runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn download(torrent: &Path, out: &Path) {
    completes(&mut peercdn_download(torrent, out, "127.0.0.1:0", &[]));
}

#[test]
fn a_single_file_comes_from_a_web_seed_alone() {
    let dir = TempDir::new("webseed-single");
    let served = dir.path().join("www");
    std::fs::create_dir_all(&served).expect("writable");
    let data = content(3 * 1024 * 1024 + 777, 11);
    std::fs::write(served.join("page.bin"), &data).expect("writable");
    let (_server, base) = http_server(&served);
    let torrent = dir.path().join("page.torrent");
    // A URL ending in `/` gets the torrent's name appended (BEP 19).
    create(&served.join("page.bin"), &torrent, &base);
    let out = dir.path().join("out");
    download(&torrent, &out);
    assert!(std::fs::read(out.join("page.bin")).expect("downloaded") == data);
}

#[test]
fn a_folder_comes_from_a_web_seed_alone() {
    let dir = TempDir::new("webseed-multi");
    let served = dir.path().join("www");
    let site = served.join("site");
    std::fs::create_dir_all(site.join("img")).expect("writable");
    let files = [
        ("index.html", content(70_000, 1)),
        ("img/a b.png", content(300_000, 2)),
        ("img/c.png", content(5, 3)),
    ];
    for (name, bytes) in &files {
        std::fs::write(site.join(name), bytes).expect("writable");
    }
    let (_server, base) = http_server(&served);
    let torrent = dir.path().join("site.torrent");
    create(&site, &torrent, &base);
    let out = dir.path().join("out");
    download(&torrent, &out);
    for (name, bytes) in &files {
        assert!(
            std::fs::read(out.join("site").join(name)).expect("downloaded") == *bytes,
            "{name} is byte-exact"
        );
    }
}
