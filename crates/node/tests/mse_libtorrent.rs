//! Message Stream Encryption (MSE/PE) against a real libtorrent (python3-libtorrent 2.0) on
//! 127.0.0.1: libtorrent downloads from a peercdn seed with encryption forced (RC4 only,
//! plaintext only, either), and with its default settings its first, encrypted, connection
//! attempt succeeds; peercdn's initiator dials libtorrent seeds that require encryption.
//!
//! The seed is given to libtorrent with `--peer` (`connect_peer`), which marks it as a peer
//! that supports encryption: libtorrent's default policy (`pe_enabled`) then opens with MSE.
//! What happened on the wire is read from libtorrent's own peer log (`--log-encryption`).

mod support;

use std::time::Duration;

use peer_wire::{Handshake, InfoHash, PeerId, Reserved};
use peercdn::mse_io::{self, Encryption};
use support::{
    Proc, TempDir, content, download_from_peer, have_libtorrent, libtorrent_peer,
    libtorrent_seed_with, make_torrent, peercdn_seed,
};

const SIZE: usize = 8 * 1024 * 1024 + 4321;

#[test]
fn libtorrent_forcing_rc4_downloads_from_a_peercdn_seed() {
    let log = libtorrent_downloads("mse-rc4", &["--encryption", "forced", "--enc-level", "rc4"]);
    assert_first_connection_worked(&log, "crypto select : [ rc4 ]");
}

#[test]
fn libtorrent_forcing_encryption_with_plaintext_payload_downloads_from_a_peercdn_seed() {
    let log = libtorrent_downloads(
        "mse-plain",
        &["--encryption", "forced", "--enc-level", "plaintext"],
    );
    assert_first_connection_worked(&log, "crypto select : [ plaintext ]");
}

#[test]
fn libtorrent_forcing_encryption_gets_plaintext_payload_when_it_offers_both() {
    let log = libtorrent_downloads("mse-both", &["--encryption", "forced"]);
    assert_first_connection_worked(&log, "crypto select : [ plaintext ]");
}

/// libtorrent's defaults: MSE first for a peer marked as supporting it, a plaintext retry
/// about a second later if that connection fails. The first one must not fail.
#[test]
fn libtorrent_with_default_settings_keeps_its_first_encrypted_connection() {
    let log = libtorrent_downloads("mse-default", &[]);
    assert!(
        log.iter()
            .any(|l| l.contains("outgoing encryption policy: enabled")),
        "libtorrent runs with its default policy"
    );
    assert_first_connection_worked(&log, "crypto select : [ plaintext ]");
}

/// A peercdn seed of a trackerless torrent, then a libtorrent leecher (with `lt_args`) given
/// its address; checks the copy and returns libtorrent's log up to its `finished` event.
fn libtorrent_downloads(name: &str, lt_args: &[&str]) -> Vec<String> {
    if !have_libtorrent() {
        return Vec::new();
    }
    let dir = TempDir::new(name);
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[]);
    let (_seed, started) = peercdn_seed(
        &torrent,
        &dir.path().join("seed/movie.bin"),
        "127.0.0.1:0",
        &[],
    );
    let addr = started["listen"]
        .as_str()
        .expect("the seed says where it listens");
    let out = dir.path().join("lt");
    std::fs::create_dir_all(&out).expect("writable");
    let mut leech = Proc::spawn(
        "libtorrent leecher",
        libtorrent_peer()
            .arg("--save")
            .arg(&out)
            .arg("--torrent")
            .arg(&torrent)
            .args(["--peer", addr, "--log-encryption"])
            .args(lt_args),
    );
    leech.wait_event(Duration::from_secs(120), "finished");
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "libtorrent's copy is byte-exact"
    );
    leech.seen.clone()
}

/// In libtorrent's log until it has every piece: one connection, which ran the encrypted
/// handshake to `select` (libtorrent's line for our `crypto_select`) and was never closed.
fn assert_first_connection_worked(log: &[String], select: &str) {
    if log.is_empty() {
        return; // skipped: no libtorrent
    }
    // (Once finished, libtorrent closes its connections to seeds.)
    let end = log
        .iter()
        .position(|l| l.contains("torrent_finished_alert"))
        .unwrap_or(log.len());
    let log = &log[..end];
    let dump = || log.join("\n");
    let count = |needle: &str| log.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(
        count("peer_connect_alert"),
        1,
        "one connection:\n{}",
        dump()
    );
    assert_eq!(count("initiating encrypted handshake"), 1, "{}", dump());
    assert_eq!(count(select), 1, "{select}:\n{}", dump());
    for closed in [
        "peer_disconnected_alert",
        "CONNECTION FAILED",
        "CONNECTION CLOSED",
    ] {
        assert_eq!(count(closed), 0, "{closed} before the end:\n{}", dump());
    }
    // The events in order: the key exchange, our answer, then the BitTorrent handshake.
    let at = |needle: &str| {
        log.iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{}", dump()))
    };
    assert!(at("received DH key") < at(select));
    assert!(at(select) < at("<<< HANDSHAKE [ received peer_id"));
}

/// peercdn's initiator (`mse_io::connect`) dials a libtorrent seed that accepts encrypted
/// connections only, offering RC4 only, then plaintext only: libtorrent answers with its
/// handshake through the selected method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peercdn_dials_libtorrent_seeds_that_require_encryption() {
    if !have_libtorrent() {
        return;
    }
    for (level, offer, want) in [
        ("rc4", peer_wire::mse::Methods::RC4, Encryption::MseRc4),
        (
            "plaintext",
            peer_wire::mse::Methods::PLAINTEXT,
            Encryption::MsePlaintext,
        ),
        (
            "both",
            peer_wire::mse::Methods::BOTH,
            Encryption::MsePlaintext,
        ),
    ] {
        let dir = TempDir::new(&format!("mse-dial-{level}"));
        let torrent = make_torrent(dir.path(), "movie.bin", 1 << 20, "256K", &[]);
        let mut seed = Proc::spawn(
            "libtorrent seed",
            libtorrent_peer()
                .arg("--save")
                .arg(dir.path().join("seed"))
                .arg("--torrent")
                .arg(&torrent)
                .args(["--seed", "--encryption", "forced", "--enc-level", level])
                .arg("--log-encryption"),
        );
        let ready =
            tokio::task::block_in_place(|| seed.wait_event(Duration::from_secs(60), "ready"));
        let port = ready["port"].as_u64().expect("a port");
        let info_hash = info_hash_of(ready["info_hash"].as_str().expect("an info-hash"));
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port as u16))
            .await
            .expect("libtorrent listens");
        let ours = Handshake {
            reserved: Reserved::ours(),
            info_hash,
            peer_id: PeerId(*b"-PC0001-mse-dial-tst"),
        };
        let config = peer_wire::mse::Config {
            allowed: offer,
            prefer_rc4: false,
        };
        let mut dialed = match mse_io::connect(&mut stream, config, &ours).await {
            Ok(d) => d,
            Err(e) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = tokio::task::block_in_place(|| {
                    seed.wait_line(Duration::from_millis(300), true, |_| false)
                });
                panic!("{level}: {e}");
            }
        };
        assert_eq!(dialed.encryption, want, "{level}");
        let theirs = mse_io::read_handshake(
            &mut stream,
            &mut dialed.rest,
            dialed.cipher.as_mut().map(|c| &mut c.receive),
        )
        .await
        .unwrap_or_else(|e| panic!("{level}: {e}"));
        assert_eq!(theirs.info_hash, info_hash);
        assert_eq!(&theirs.peer_id.0[..3], b"-LT", "libtorrent's peer id");
    }
}

/// 40 hex digits as an info-hash.
fn info_hash_of(hex: &str) -> InfoHash {
    assert_eq!(hex.len(), 40, "{hex}");
    InfoHash(std::array::from_fn(|i| {
        u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex digits")
    }))
}

/// `peercdn download` with its default policy gets the whole file from a libtorrent seed that
/// accepts only encrypted connections (so our dial must be MSE), and from one that accepts
/// only plain ones (so it must fall back to a plain handshake).
#[test]
fn peercdn_downloads_from_seeds_that_require_or_refuse_encryption() {
    if !have_libtorrent() {
        return;
    }
    for policy in ["forced", "disabled"] {
        let dir = TempDir::new(&format!("mse-download-{policy}"));
        let size = 3 * 1024 * 1024 + 77;
        let torrent = make_torrent(dir.path(), "movie.bin", size, "256K", &[]);
        let (_seed, port) = libtorrent_seed_with(dir.path(), &torrent, &["--encryption", policy]);
        let peer = format!("127.0.0.1:{port}");
        download_from_peer(&torrent, &dir.path().join("out"), &peer, "movie.bin", size);
    }
}
