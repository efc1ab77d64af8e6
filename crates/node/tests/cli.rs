//! End-to-end tests of the `peercdn` binary: create, inspect and verify on temporary folders,
//! and inspect on libtorrent's test torrents against libtorrent's verdicts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

/// A temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("peercdn-cli-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `peercdn` in `cwd`.
fn peercdn(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_peercdn"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(out)))
}

/// The value after `label: ` on a line of `text`.
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(label)?.strip_prefix(": "))
}

/// Deterministic, non-repeating content.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

/// `content/` with three files: a.txt (5 B), c.dat (100000 B), sub/b.bin (40000 B).
fn make_content(dir: &Path) -> PathBuf {
    let content = dir.join("content");
    std::fs::create_dir_all(content.join("sub")).unwrap();
    std::fs::write(content.join("a.txt"), b"hello").unwrap();
    std::fs::write(content.join("c.dat"), pattern(100_000, 1)).unwrap();
    std::fs::write(content.join("sub/b.bin"), pattern(40_000, 2)).unwrap();
    content
}

#[test]
fn create_inspect_verify_round_trip() {
    let tmp = TempDir::new("roundtrip");
    make_content(tmp.path());

    let out = peercdn(tmp.path(), &["create", "content", "--piece-size", "16K"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let v1 = field(&text, "Info-hash v1").expect("create prints the v1 info-hash");
    assert!(field(&text, "Info-hash v2").is_none(), "v1 is the default");
    assert!(text.contains("content.torrent"), "{text}");
    assert!(tmp.path().join("content.torrent").is_file());

    let out = peercdn(tmp.path(), &["inspect", "--json", "content.torrent"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j = json_of(&out);
    assert_eq!(j["magnet"], false);
    assert_eq!(j["info_hash_v1"], v1);
    assert_eq!(j["info_hash_v2"], Value::Null);
    assert_eq!(j["version"], "v1");
    assert_eq!(j["name"], "content");
    assert_eq!(j["total_size"], 140_005);
    assert_eq!(j["piece_length"], 16_384);
    assert_eq!(j["num_pieces"], 9); // ceil(140005 / 16384)
    assert_eq!(j["private"], false);
    assert_eq!(
        j["created_by"],
        format!("peercdn {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(j["creation_date"], Value::Null);
    let files: Vec<(String, u64, bool)> = j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["size"].as_u64().unwrap(),
                f["pad"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("content/a.txt".to_owned(), 5, false),
            ("content/c.dat".to_owned(), 100_000, false),
            ("content/sub/b.bin".to_owned(), 40_000, false),
        ]
    );

    // The human form shows the same.
    let out = peercdn(tmp.path(), &["inspect", "content.torrent"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(field(&text, "Name"), Some("content"));
    assert_eq!(field(&text, "Info-hash v1"), Some(v1));
    assert_eq!(field(&text, "Size"), Some("137 KiB (140,005 bytes)"));
    assert!(text.contains("content/sub/b.bin (39.1 KiB)"), "{text}");

    let out = peercdn(tmp.path(), &["verify", "content.torrent", "content"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("9 of 9 pieces good"),
        "{}",
        stdout(&out)
    );
    let out = peercdn(
        tmp.path(),
        &["verify", "--json", "content.torrent", "content"],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        json_of(&out),
        json!({"complete": true, "good_pieces": 9, "num_pieces": 9, "bad_pieces": [],
               "missing_files": [], "wrong_size_files": []})
    );

    // Corrupt byte 10 of sub/b.bin: stream offset 5 + 100000 + 10 = 100015, piece 6.
    let b = tmp.path().join("content/sub/b.bin");
    let mut data = std::fs::read(&b).unwrap();
    data[10] ^= 0xff;
    std::fs::write(&b, &data).unwrap();
    let out = peercdn(tmp.path(), &["verify", "content.torrent", "content"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("8 of 9 pieces good"), "{text}");
    assert_eq!(field(&text, "Bad pieces"), Some("6"));
    let out = peercdn(
        tmp.path(),
        &["verify", "--json", "content.torrent", "content"],
    );
    assert_eq!(out.status.code(), Some(1));
    let j = json_of(&out);
    assert_eq!(j["complete"], false);
    assert_eq!(j["good_pieces"], 8);
    assert_eq!(j["bad_pieces"], json!([[6, 6]]));

    // A missing file makes its pieces bad and is named; c.dat spans pieces 0 to 6.
    std::fs::remove_file(tmp.path().join("content/c.dat")).unwrap();
    let out = peercdn(
        tmp.path(),
        &["verify", "--json", "content.torrent", "content"],
    );
    assert_eq!(out.status.code(), Some(1));
    let j = json_of(&out);
    assert_eq!(j["missing_files"], json!(["content/c.dat"]));
    assert_eq!(j["bad_pieces"], json!([[0, 6]]));
    let out = peercdn(tmp.path(), &["verify", "content.torrent", "content"]);
    assert_eq!(field(&stdout(&out), "Bad pieces"), Some("0-6"));
    assert!(stdout(&out).contains("Missing: content/c.dat"));
}

#[test]
fn every_version_round_trips() {
    let tmp = TempDir::new("versions");
    make_content(tmp.path());
    for version in ["v1", "v2", "hybrid"] {
        let file = format!("{version}.torrent");
        let flag = format!("--{version}");
        let out = peercdn(
            tmp.path(),
            &["create", "--json", &flag, "content", "-o", &file],
        );
        assert!(out.status.success(), "{version}: {}", stderr(&out));
        let created = json_of(&out);
        assert_eq!(created["version"], version);
        assert_eq!(created["output"], file.as_str());

        let out = peercdn(tmp.path(), &["inspect", "--json", &file]);
        assert!(out.status.success(), "{version}: {}", stderr(&out));
        let j = json_of(&out);
        assert_eq!(j["version"], version);
        assert_eq!(j["info_hash_v1"], created["info_hash_v1"]);
        assert_eq!(j["info_hash_v2"], created["info_hash_v2"]);
        assert_eq!(j["info_hash_v1"].is_null(), version == "v2", "{version}");
        assert_eq!(j["info_hash_v2"].is_null(), version == "v1", "{version}");
        let real: u64 = j["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["pad"] == false)
            .map(|f| f["size"].as_u64().unwrap())
            .sum();
        assert_eq!(real, 140_005, "{version}");
        if version == "hybrid" {
            assert!(
                j["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["pad"] == true)
            );
        }

        let out = peercdn(tmp.path(), &["verify", &file, "content"]);
        assert_eq!(out.status.code(), Some(0), "{version}: {}", stdout(&out));
    }
}

#[test]
fn single_file_torrent_with_options() {
    let tmp = TempDir::new("single");
    std::fs::write(tmp.path().join("movie.bin"), pattern(70_000, 3)).unwrap();
    let out = peercdn(
        tmp.path(),
        &[
            "create",
            "movie.bin",
            "--tracker",
            "http://a.example/announce, http://b.example/announce",
            "--tracker",
            "udp://c.example:6969/announce",
            "--web-seed",
            "http://seed.example/movie.bin",
            "--private",
            "--comment",
            "hello",
            "--date=1700000000",
            "--threads",
            "2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = peercdn(tmp.path(), &["inspect", "--json", "movie.bin.torrent"]);
    let j = json_of(&out);
    assert_eq!(j["name"], "movie.bin");
    assert_eq!(
        j["files"],
        json!([{"path": "movie.bin", "size": 70000, "offset": 0,
        "pad": false, "executable": false, "hidden": false, "symlink_target": null,
        "mtime": null, "pieces_root": null}])
    );
    assert_eq!(
        j["trackers"],
        json!([
            ["http://a.example/announce", "http://b.example/announce"],
            ["udp://c.example:6969/announce"]
        ])
    );
    assert_eq!(j["web_seeds"], json!(["http://seed.example/movie.bin"]));
    assert_eq!(j["private"], true);
    assert_eq!(j["comment"], "hello");
    assert_eq!(j["creation_date"], 1_700_000_000);

    let out = peercdn(tmp.path(), &["inspect", "movie.bin.torrent"]);
    let text = stdout(&out);
    assert_eq!(field(&text, "Created on"), Some("2023-11-14 22:13:20 UTC"));
    assert_eq!(field(&text, "Private"), Some("yes"));
    assert!(
        text.contains("Tier 2:\n    udp://c.example:6969/announce"),
        "{text}"
    );

    let out = peercdn(tmp.path(), &["verify", "movie.bin.torrent", "movie.bin"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn create_refuses_to_overwrite_and_is_deterministic() {
    let tmp = TempDir::new("overwrite");
    make_content(tmp.path());
    let out = peercdn(tmp.path(), &["create", "content"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = std::fs::read(tmp.path().join("content.torrent")).unwrap();

    let out = peercdn(tmp.path(), &["create", "content"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let out = peercdn(tmp.path(), &["create", "--json", "content"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["error"], "output_exists");

    let out = peercdn(tmp.path(), &["create", "content", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(tmp.path().join("content.torrent")).unwrap(),
        first
    );
}

#[test]
fn create_errors_are_actionable() {
    let tmp = TempDir::new("create-errors");
    make_content(tmp.path());
    let out = peercdn(tmp.path(), &["create", "missing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "error: cannot read missing: No such file or directory"
    );
    let out = peercdn(
        tmp.path(),
        &["create", "--json", "--v2", "--piece-size", "48K", "content"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["error"], "invalid_piece_length");
    assert!(!tmp.path().join("content.torrent").exists());
}

#[test]
fn inspect_errors_are_one_line_or_json() {
    let tmp = TempDir::new("inspect-errors");
    let out = peercdn(tmp.path(), &["inspect", "./x.torrent"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "error: cannot read ./x.torrent: No such file or directory\n"
    );
    assert!(out.stdout.is_empty());
    let out = peercdn(tmp.path(), &["inspect", "--json", "./x.torrent"]);
    assert_eq!(out.status.code(), Some(1));
    let j = json_of(&out);
    assert_eq!(j["error"], "io_error");
    assert!(j["message"].as_str().unwrap().contains("./x.torrent"));

    std::fs::write(tmp.path().join("junk.torrent"), b"not bencode").unwrap();
    let out = peercdn(tmp.path(), &["inspect", "junk.torrent"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.starts_with("error: junk.torrent: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = peercdn(tmp.path(), &["inspect", "--json", "junk.torrent"]);
    assert_eq!(json_of(&out)["error"], "invalid_bencoding");

    let out = peercdn(tmp.path(), &["verify", "--json", "junk.torrent", "."]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["error"], "invalid_bencoding");
}

#[test]
fn inspect_magnet_links() {
    let tmp = TempDir::new("magnet");
    let link = "magnet:?xt=urn:btih:c0fda1edafdbdbb96443424e0b3899af7159d10e&dn=temp\
                &tr=http%3A%2F%2Fexample.com%2Fannounce&ws=http%3A%2F%2Fseed.example%2F\
                &xl=425&x.pe=127.0.0.1:6881&so=0,2-3";
    let out = peercdn(tmp.path(), &["inspect", "--json", link]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        json_of(&out),
        json!({
            "magnet": true,
            "info_hash_v1": "c0fda1edafdbdbb96443424e0b3899af7159d10e",
            "info_hash_v2": null,
            "name": "temp",
            "trackers": ["http://example.com/announce"],
            "web_seeds": ["http://seed.example/"],
            "exact_length": 425,
            "peers": ["127.0.0.1:6881"],
            "select_only": [[0, 0], [2, 3]],
        })
    );
    let out = peercdn(tmp.path(), &["inspect", link]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(field(&text, "Name"), Some("temp"));
    assert_eq!(
        field(&text, "Info-hash v1"),
        Some("c0fda1edafdbdbb96443424e0b3899af7159d10e")
    );

    let out = peercdn(tmp.path(), &["inspect", "--json", "magnet:?dn=nohash"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)["error"], "invalid_magnet");
}

#[test]
fn bad_arguments_exit_2() {
    let tmp = TempDir::new("usage");
    for args in [
        &[][..],
        &["inspect"],
        &["frobnicate"],
        &["inspect", "--bogus", "x.torrent"],
        &["create", "x", "--v1", "--v2"],
        &["create", "x", "--piece-size", "16Q"],
        &["create", "x", "--threads", "0"],
        &["verify", "x.torrent"],
    ] {
        let out = peercdn(tmp.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    for args in [&["--help"][..], &["inspect", "--help"], &["--version"]] {
        let out = peercdn(tmp.path(), args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
    }
    let out = peercdn(tmp.path(), &["inspect", "--help"]);
    assert!(stdout(&out).contains("docs/inspect-json.md"));
}

/// libtorrent's verdict on each of its test torrents, from `EXPECTED.json` beside them.
#[test]
fn inspect_agrees_with_libtorrent_on_its_test_torrents() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/libtorrent-test-torrents");
    // The corpus sits beside the repository, in CI too: missing, it is a failure, not a skip.
    let expected = std::fs::read(dir.join("EXPECTED.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("EXPECTED.json").display()));
    let expected: Vec<Value> = serde_json::from_slice(&expected).unwrap();
    // Where we knowingly differ from libtorrent, conformance/expectations.json says so and why.
    let gaps: Vec<Value> = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/expectations.json"),
    )
    .map(|bytes| serde_json::from_slice(&bytes).unwrap())
    .unwrap_or_default();
    let mut failures = Vec::new();
    for entry in &expected {
        let file = entry["file"].as_str().unwrap();
        let out = peercdn(&dir, &["inspect", "--json", file]);
        let j = json_of(&out);
        let verdict = gaps
            .iter()
            .find(|g| g["file"] == file)
            .map_or(&entry["verdict"], |g| &g["verdict"]);
        match verdict.as_str().unwrap() {
            "accept" => {
                if out.status.code() != Some(0) {
                    failures.push(format!("{file}: rejected: {j}"));
                    continue;
                }
                for (ours, theirs) in [("info_hash_v1", "v1"), ("info_hash_v2", "v2")] {
                    if j[ours] != entry[theirs] {
                        failures.push(format!("{file}: {ours} {} != {}", j[ours], entry[theirs]));
                    }
                }
                // A listed difference may be in the layout (a renamed file): its reason is in
                // expectations.json, and the conformance tests check it still holds.
                if gaps.iter().any(|g| g["file"] == file) {
                    continue;
                }
                let files: Vec<Value> = j["files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| json!({"path": f["path"], "size": f["size"], "pad": f["pad"]}))
                    .collect();
                // EXPECTED.json lists trackers flat, in tier order.
                let trackers: Vec<Value> = j["trackers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|t| t.as_array().unwrap().clone())
                    .collect();
                if Value::from(trackers) != entry["trackers"] {
                    failures.push(format!(
                        "{file}: trackers {} != {}",
                        j["trackers"], entry["trackers"]
                    ));
                }
                if Value::from(files) != entry["files"] {
                    failures.push(format!(
                        "{file}: files {} != {}",
                        j["files"], entry["files"]
                    ));
                }
                for key in [
                    "name",
                    "total_size",
                    "piece_length",
                    "num_pieces",
                    "private",
                    "web_seeds",
                ] {
                    if j[key] != entry[key] {
                        failures.push(format!("{file}: {key} {} != {}", j[key], entry[key]));
                    }
                }
            }
            _ => {
                if out.status.code() != Some(1) || !j["error"].is_string() {
                    failures.push(format!("{file}: accepted, libtorrent rejects it"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn simulate_reports_a_flash_crowd_and_the_same_seed_gives_the_same_json() {
    let dir = TempDir::new("simulate");
    let args = [
        "simulate",
        "flash-crowd",
        "--peers",
        "12",
        "--file-size",
        "2097152",
        "--json",
    ];
    let first = peercdn(dir.path(), &args);
    assert!(first.status.success(), "{}", stderr(&first));
    let v = json_of(&first);
    assert_eq!(v["scenario"], "flash-crowd");
    assert_eq!(v["completion"]["finished"], 12);
    assert_eq!(v["download_times_s"].as_array().unwrap().len(), 12);
    let origin = v["origin_bytes"].as_u64().unwrap();
    let peers = v["peer_bytes"].as_u64().unwrap();
    assert!(origin + peers >= 12 * 2_097_152, "every peer got the file");
    assert!(v["client_server_time_s"].as_f64().unwrap() > 0.0);
    let second = peercdn(dir.path(), &args);
    assert_eq!(
        stdout(&first),
        stdout(&second),
        "deterministic for one --rng-seed"
    );
}

#[test]
fn simulate_steady_prints_the_model_beside_the_run() {
    let dir = TempDir::new("simulate-steady");
    let out = peercdn(
        dir.path(),
        &[
            "simulate",
            "steady",
            "--arrival-rate",
            "0.5",
            "--upload-rate",
            "400000",
            "--download-rate",
            "2000000",
            "--seed-leave-rate",
            "0.2",
            "--file-size",
            "2097152",
            "--duration",
            "120",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v = json_of(&out);
    for key in [
        "mean_download_time_s",
        "model_download_time_s",
        "mean_downloaders",
        "mean_seeds",
    ] {
        assert!(v[key].as_f64().is_some_and(f64::is_finite), "{key}: {v}");
    }
    // The model for these rates: T = max(1/c, 1/μ − 1/γ) = max(1.05, 5.24 − 5) s.
    let model = v["model_download_time_s"].as_f64().unwrap();
    assert!((model - 2_097_152.0 / 2_000_000.0).abs() < 1e-9);
}

#[test]
fn simulate_refuses_bad_parameters_with_a_usage_error() {
    let dir = TempDir::new("simulate-bad");
    let out = peercdn(
        dir.path(),
        &["simulate", "flash-crowd", "--loss", "1.5", "--json"],
    );
    assert!(!out.status.success());
    assert_eq!(json_of(&out)["error"], "usage");
}

#[test]
fn simulate_draws_its_figure_as_a_png() {
    let dir = TempDir::new("simulate-plot");
    let png = dir.path().join("crowd.png");
    let out = peercdn(
        dir.path(),
        &[
            "simulate",
            "flash-crowd",
            "--peers",
            "8",
            "--file-size",
            "1048576",
            "--plot",
            png.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&bytes[12..16], b"IHDR");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (900, 560));
    assert!(bytes.ends_with(b"IEND\xaeB`\x82"));
}

#[test]
fn demo_runs_a_whole_peer_cdn_and_the_peers_carry_part_of_the_load() {
    let dir = TempDir::new("demo");
    let out = peercdn(
        dir.path(),
        &[
            "demo",
            "--peers",
            "3",
            "--size",
            "3M",
            "--origin-rate",
            "2M",
            "--peer-rate",
            "8M",
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["verified"], true, "every download is byte-exact");
    let rows = v["downloaders"].as_array().expect("downloaders");
    assert_eq!(rows.len(), 3);
    // By default the last two are browser-like: WebRTC only (no TCP tracker, no PEX), and
    // they had WebRTC peers.
    let webrtc: Vec<_> = rows.iter().map(|r| r["webrtc_only"].as_bool()).collect();
    assert_eq!(webrtc, [Some(false), Some(true), Some(true)], "{v}");
    for r in &rows[1..] {
        assert!(r["webrtc_peers"].as_u64() >= Some(1), "{v}");
    }
    let size = 3.0 * 1024.0 * 1024.0;
    assert!(
        v["origin_bytes"].as_f64().unwrap() >= size,
        "the origin sent a copy at least"
    );
    assert!(
        v["peer_bytes"].as_f64().unwrap() > 0.0,
        "peers served each other: {v}"
    );
    // Faster than the origin alone could serve three copies.
    assert!(v["seconds"].as_f64().unwrap() < v["client_server_seconds"].as_f64().unwrap());
}
