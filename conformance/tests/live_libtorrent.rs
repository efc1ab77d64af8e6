//! Runs python3-libtorrent itself over the corpus: live libtorrent must agree with the recorded
//! `EXPECTED.json` (so the corpus is what libtorrent really says), and therefore with us.
//!
//! Needs Debian's python3-libtorrent; `scripts/test` installs it and sets
//! `PEERCDN_REQUIRE_EXTERNAL=1`, under which a missing libtorrent is a failure, not a skip.

use conformance::{
    External, compare, expectations, expected, find, libtorrent_verdicts, our_verdicts,
};

#[test]
fn live_libtorrent_agrees_with_the_recorded_verdicts_and_with_us() {
    let verdicts = match libtorrent_verdicts() {
        External::Ran(v) => v,
        External::Unavailable(why) => {
            assert!(
                std::env::var_os("PEERCDN_REQUIRE_EXTERNAL").is_none(),
                "libtorrent is required: {why}"
            );
            eprintln!("skipped: {why}");
            return;
        }
    };
    let expected = expected().unwrap();
    let known = expectations().unwrap();
    let ours = our_verdicts(&expected);
    let mut failures = Vec::new();
    for (e, a) in expected.iter().zip(&ours) {
        let file = e["file"].as_str().unwrap();
        let Some(lt) = find(&verdicts, file) else {
            failures.push(format!("{file}: libtorrent gave no verdict"));
            continue;
        };
        // Three torrents are rejected by current libtorrent but still accepted by 2.0.8 (their
        // `note` says so); for those only the verdict differs, and we side with current
        // libtorrent.
        if e.get("note").is_some() {
            if lt["verdict"] != "accept" {
                failures.push(format!(
                    "{file}: 2.0.8 was expected to accept it ({})",
                    e["note"]
                ));
            }
            continue;
        }
        let diffs = compare(e, lt);
        if !diffs.is_empty() {
            failures.push(format!(
                "{file}: live libtorrent differs from EXPECTED.json: {diffs:?}"
            ));
        }
        // Where libtorrent accepts, we must read the torrent the same way, except where
        // expectations.json says why not (the corpus test checks those differences persist).
        let explained = known.iter().any(|k| k.file == file);
        if lt["verdict"] == "accept" && a["verdict"] == "accept" && !explained {
            let ours_vs_lt = compare(lt, a);
            if !ours_vs_lt.is_empty() {
                failures.push(format!(
                    "{file}: we differ from live libtorrent: {ours_vs_lt:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
