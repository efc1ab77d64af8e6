//! `peercdn download` when things go wrong: killed with SIGKILL in the middle, and a disk that
//! fills up. Real processes on 127.0.0.1, a rate-limited `peercdn seed` so that there is a
//! middle to kill in.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::{Proc, TempDir, content, make_torrent, peercdn_download, peercdn_seed};

fn seed(dir: &Path, torrent: &Path, name: &str, rate: &str) -> (Proc, String) {
    let (seed, started) = peercdn_seed(
        torrent,
        &dir.join("seed").join(name),
        "127.0.0.1:0",
        &["--upload-rate", rate],
    );
    let addr = started["listen"]
        .as_str()
        .expect("listen address")
        .to_string();
    (seed, addr)
}

fn download(torrent: &Path, out: &Path, peer: &str) -> Proc {
    peercdn_download(torrent, out, "127.0.0.1:0", &["--peer", peer])
}

#[test]
fn a_download_killed_with_sigkill_resumes_without_losing_verified_pieces() {
    const SIZE: usize = 32 << 20;
    let dir = TempDir::new("kill9");
    let torrent = make_torrent(dir.path(), "big.bin", SIZE, "256K", &[]);
    // 2 MiB/s: about 16 s for the whole file, so that a resume state is saved (every 10 s)
    // well before the kill.
    let (_seed, addr) = seed(dir.path(), &torrent, "big.bin", "2M");
    let out = dir.path().join("out");
    let mut first = download(&torrent, &out, &addr);
    let pieces = first.wait_event(Duration::from_secs(60), "started")["pieces"]
        .as_u64()
        .expect("pieces");
    // Past the first periodic save, and not done: kill it.
    let before_kill = first.wait_line(Duration::from_secs(120), false, |l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
            v["event"] == "progress" && v["have"].as_u64().is_some_and(|h| h * 100 >= pieces * 55)
        })
    });
    first.kill();
    let had: u64 = serde_json::from_str::<serde_json::Value>(&before_kill).expect("JSON")["have"]
        .as_u64()
        .expect("have");
    assert!(had < pieces, "killed before the end");

    let mut second = download(&torrent, &out, &addr);
    let started = second.wait_event(Duration::from_secs(60), "started");
    let have_at_restart = started["have"].as_u64().expect("have");
    assert!(
        have_at_restart >= had,
        "every piece verified before the kill is kept: {have_at_restart} < {had}"
    );
    let complete = second.wait_event(Duration::from_secs(120), "complete");
    assert_eq!(second.wait_exit(Duration::from_secs(30)), Some(0));
    let downloaded = complete["downloaded"].as_u64().expect("downloaded");
    assert!(
        downloaded <= (pieces - have_at_restart) * (256 << 10) + (1 << 20),
        "the restart fetched only what was missing: {downloaded} bytes"
    );
    assert!(
        std::fs::read(out.join("big.bin")).expect("downloaded") == content(SIZE, 7),
        "byte-exact after the crash"
    );
}

/// A tmpfs of `size` mounted at `dir`, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(dir).expect("writable");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .expect("mount runs");
        assert!(status.success(), "remount failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_stops_the_download_with_a_clear_error_and_it_resumes_once_there_is_space() {
    const SIZE: usize = 12 << 20;
    let dir = TempDir::new("diskfull");
    let torrent = make_torrent(dir.path(), "fill.bin", SIZE, "256K", &[]);
    let mount = dir.path().join("small");
    let Some(fs) = Tmpfs::mount(&mount, "4m") else {
        assert!(
            std::env::var_os("PEERCDN_SKIP_MOUNT_TESTS").is_some(),
            "mounting a tmpfs needs root; set PEERCDN_SKIP_MOUNT_TESTS=1 to skip this test"
        );
        eprintln!("skipped: cannot mount a tmpfs (PEERCDN_SKIP_MOUNT_TESTS is set)");
        return;
    };
    let (_seed, addr) = seed(dir.path(), &torrent, "fill.bin", "100M");
    let mut dl = download(&torrent, &mount, &addr);
    let warning = dl.wait_event(Duration::from_secs(60), "warning");
    let message = warning["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("disk full"), "a clear error: {message}");
    // Space comes back: the download finishes, and every byte is right.
    fs.resize("32m");
    dl.wait_event(Duration::from_secs(120), "complete");
    assert_eq!(dl.wait_exit(Duration::from_secs(30)), Some(0));
    assert!(
        std::fs::read(mount.join("fill.bin")).expect("downloaded") == content(SIZE, 7),
        "no corrupt byte after the full disk"
    );
}

#[test]
fn a_download_with_no_peers_says_so_and_what_to_do() {
    let dir = TempDir::new("nopeers");
    let torrent = make_torrent(dir.path(), "lonely.bin", 1 << 20, "256K", &[]);
    let out = dir.path().join("out");
    let mut dl = peercdn_download(&torrent, &out, "127.0.0.1:0", &[]);
    // A peer that is known but never answers (nothing listens on its port) is another story.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let mut refused = peercdn_download(
        &torrent,
        &dir.path().join("out2"),
        "127.0.0.1:0",
        &["--peer", &gone],
    );
    let warning = dl.wait_event(Duration::from_secs(90), "warning");
    let message = warning["message"].as_str().unwrap_or_default();
    assert!(message.contains("no peers"), "{message}");
    assert!(message.contains("--peer"), "it says what to do: {message}");
    let warning = refused.wait_event(Duration::from_secs(90), "warning");
    let message = warning["message"].as_str().unwrap_or_default();
    assert!(message.contains("1 known, none would connect"), "{message}");
    assert!(message.contains("--encryption"), "{message}");
}
