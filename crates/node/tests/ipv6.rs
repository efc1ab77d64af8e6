//! A download over IPv6 (::1): the seed listens there and the downloader dials it.

mod support;

use support::{TempDir, completes, content, make_torrent, peercdn_download, peercdn_seed};

#[test]
fn a_download_works_over_ipv6_loopback() {
    let dir = TempDir::new("ipv6");
    let torrent = make_torrent(dir.path(), "v6.bin", 3 << 20, "256K", &[]);
    let (_seed, started) = peercdn_seed(&torrent, &dir.path().join("seed/v6.bin"), "[::1]:0", &[]);
    let addr = started["listen"].as_str().expect("listen").to_string();
    assert!(addr.starts_with("[::1]:"), "{addr}");
    let out = dir.path().join("out");
    completes(&mut peercdn_download(
        &torrent,
        &out,
        "[::1]:0",
        &["--peer", &addr],
    ));
    assert!(std::fs::read(out.join("v6.bin")).expect("downloaded") == content(3 << 20, 7));
}
