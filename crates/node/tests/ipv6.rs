//! A download over IPv6 (::1): the seed listens there and the downloader dials it.

mod support;

use std::time::Duration;

use support::{Proc, TempDir, content, make_torrent, peercdn};

#[test]
fn a_download_works_over_ipv6_loopback() {
    let dir = TempDir::new("ipv6");
    let torrent = make_torrent(dir.path(), "v6.bin", 3 << 20, "256K", &[]);
    let mut seed = Proc::spawn(
        "peercdn seed",
        peercdn()
            .arg("seed")
            .arg(&torrent)
            .arg(dir.path().join("seed/v6.bin"))
            .args(["--listen", "[::1]:0", "--json"]),
    );
    let started = seed.wait_event(Duration::from_secs(60), "started");
    let addr = started["listen"].as_str().expect("listen").to_string();
    assert!(addr.starts_with("[::1]:"), "{addr}");
    let out = dir.path().join("out");
    let mut dl = Proc::spawn(
        "peercdn download",
        peercdn()
            .arg("download")
            .arg(&torrent)
            .arg("-o")
            .arg(&out)
            .args(["--listen", "[::1]:0", "--json", "--peer", &addr]),
    );
    dl.wait_event(Duration::from_secs(60), "complete");
    assert_eq!(dl.wait_exit(Duration::from_secs(30)), Some(0));
    assert!(std::fs::read(out.join("v6.bin")).expect("downloaded") == content(3 << 20, 7));
}
