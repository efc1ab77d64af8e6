//! Our verdict on each of libtorrent's 108 test torrents must equal libtorrent's
//! (`EXPECTED.json`), except where `expectations.json` says we differ on purpose — and such an
//! expected difference must still be there (an unexpected pass fails too).

use conformance::{compare, expectations, expected, our_verdicts};

#[test]
fn every_corpus_torrent_gets_libtorrents_verdict() {
    let expected = expected().expect("the corpus is beside the repository (../shared/corpus)");
    assert_eq!(
        expected.len(),
        108,
        "EXPECTED.json lists libtorrent's 108 test torrents"
    );
    let known = expectations().expect("conformance/expectations.json");
    let ours = our_verdicts(&expected);
    let mut failures = Vec::new();
    for (e, a) in expected.iter().zip(&ours) {
        let file = e["file"].as_str().unwrap_or_default();
        let diffs = compare(e, a);
        match known.iter().find(|k| k.file == file) {
            Some(k) if a["verdict"] != k.verdict.as_str() => failures.push(format!(
                "{file}: expectations.json says we {} it ({}), but we {}",
                k.verdict, k.reason, a["verdict"]
            )),
            Some(_) if diffs.is_empty() => failures.push(format!(
                "{file}: listed in expectations.json but now matches libtorrent: remove the entry"
            )),
            Some(_) => {}
            None if !diffs.is_empty() => {
                failures.push(format!("{file}:\n    {}", diffs.join("\n    ")))
            }
            None => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 108 differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
