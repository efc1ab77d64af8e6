//! Prints the three-way table: libtorrent's recorded verdict on each of its test torrents
//! (`EXPECTED.json`) against ours, live python3-libtorrent's and WebTorrent's `parse-torrent`'s.
//!
//! `cargo run -p conformance` — exits non-zero if our verdict differs from `EXPECTED.json`
//! anywhere `expectations.json` does not say so.

use conformance::{
    External, compare, expectations, expected, find, libtorrent_verdicts, our_verdicts,
};

fn main() -> anyhow::Result<()> {
    let expected = expected()?;
    let known = expectations()?;
    let ours = our_verdicts(&expected);
    let columns = [
        ("libtorrent 2.0.8 (live)", libtorrent_verdicts()),
        ("parse-torrent", conformance::parse_torrent_verdicts()),
    ];
    for (name, ext) in &columns {
        if let External::Unavailable(why) = ext {
            println!("note: {name} not run: {why}");
        }
    }

    println!(
        "{:<44} {:<8} {:<10} {:<24} {:<14}",
        "torrent", "expected", "ours", columns[0].0, columns[1].0
    );
    let mut totals = [0usize; 3];
    let mut unexplained = 0;
    for (e, a) in expected.iter().zip(&ours) {
        let file = e["file"].as_str().unwrap_or_default();
        let ours_ok = compare(e, a).is_empty();
        let explained = known.iter().any(|k| k.file == file);
        if !ours_ok && !explained {
            unexplained += 1;
        }
        let mut cells = vec![mark(ours_ok, a, explained)];
        for (_, ext) in &columns {
            cells.push(match ext {
                External::Ran(v) => match find(v, file) {
                    Some(x) => mark(compare(e, x).is_empty(), x, false),
                    None => "missing".into(),
                },
                External::Unavailable(_) => "-".into(),
            });
        }
        for (t, ok) in totals.iter_mut().zip([
            ours_ok,
            matches!(&columns[0].1, External::Ran(v) if find(v, file).is_some_and(|x| compare(e, x).is_empty())),
            matches!(&columns[1].1, External::Ran(v) if find(v, file).is_some_and(|x| compare(e, x).is_empty())),
        ]) {
            *t += usize::from(ok);
        }
        println!(
            "{:<44} {:<8} {:<10} {:<24} {:<14}",
            file,
            e["verdict"].as_str().unwrap_or("?"),
            cells[0],
            cells[1],
            cells[2]
        );
    }
    println!(
        "\nagree with EXPECTED.json: ours {}/{n}, libtorrent {}/{n}, parse-torrent {}/{n} (a row agrees when the verdict and, for accepted torrents, hashes, name, sizes, pieces, file paths, pad flags, trackers, web seeds and private flag all match)",
        totals[0],
        totals[1],
        totals[2],
        n = expected.len()
    );
    for k in &known {
        println!(
            "deliberate difference: {}: we {} it. {}",
            k.file, k.verdict, k.reason
        );
    }
    anyhow::ensure!(
        unexplained == 0,
        "{unexplained} unexplained differences between our parser and libtorrent"
    );
    wire_table()
}

/// The wire vectors: peer-wire and bittorrent-protocol, decoding and encoding.
fn wire_table() -> anyhow::Result<()> {
    use conformance::wire::{JsRun, WireResult, bittorrent_protocol, our_decode, our_encode};
    let vectors = conformance::wire::wire_vectors()?;
    let js = bittorrent_protocol(&vectors);
    if let JsRun::Unavailable(why) = &js {
        println!("\nnote: bittorrent-protocol not run: {why}");
    }
    println!(
        "\n{:<36} {:<10} {:<10} {:<22} {:<22}",
        "wire vector", "ours dec", "ours enc", "bittorrent-protocol dec", "bittorrent-protocol enc"
    );
    let mut ours_ok = 0;
    for (i, v) in vectors.iter().enumerate() {
        let want = WireResult {
            messages: v.messages.clone(),
            error: v.error.clone(),
        };
        let dec = our_decode(&v.bytes) == want;
        let enc = v.error.is_some() || our_encode(&v.messages).is_ok_and(|b| b == v.bytes);
        ours_ok += usize::from(dec && enc);
        let (js_dec, js_enc) = match &js {
            JsRun::Ran(d, e) => {
                let stops = v.error.as_deref().is_some_and(|e| e != "partial");
                let d = &d[i];
                let dec = d.messages == v.messages && d.error.is_some() == stops;
                let enc = v.error.is_some() || e[i].as_ref().is_ok_and(|b| *b == v.bytes);
                (cell(dec), if v.error.is_some() { "-" } else { cell(enc) })
            }
            JsRun::Unavailable(_) => ("-", "-"),
        };
        let ours_enc = if v.error.is_some() { "-" } else { cell(enc) };
        println!(
            "{:<36} {:<10} {:<10} {:<22} {:<22}",
            v.name,
            cell(dec),
            ours_enc,
            js_dec,
            js_enc
        );
    }
    println!(
        "ours {ours_ok}/{} (differences of bittorrent-protocol, with reasons: conformance/wire-expectations.json)",
        vectors.len()
    );
    anyhow::ensure!(ours_ok == vectors.len(), "peer-wire fails wire vectors");
    Ok(())
}

fn cell(ok: bool) -> &'static str {
    if ok { "ok" } else { "differs" }
}

/// A cell: "ok", or the parser's own verdict when it differs.
fn mark(same: bool, verdict: &serde_json::Value, explained: bool) -> String {
    let v = verdict["verdict"].as_str().unwrap_or("?");
    match (same, explained) {
        (true, _) => "ok".into(),
        (false, true) => format!("{v} (known)"),
        (false, false) => format!("{v} DIFF"),
    }
}
