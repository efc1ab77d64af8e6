#!/usr/bin/env python3
"""Compares an external parser's output with EXPECTED.json and prints agreement counts.

    libtorrent_parse.py DIR | check_expected.py EXPECTED.json [--exact]
    node parse_torrent.mjs DIR | check_expected.py EXPECTED.json

Counts: verdict agreement; v1-hash agreement where both accept; whole-entry agreement where
both accept. The files EXPECTED.json marks with a `note` (rejected by current libtorrent,
accepted by 2.0.8) are counted apart. With --exact, exits 1 unless every entry without a
`note` agrees in full (verdict, every accepted field, and the reject message where EXPECTED
names `libtorrent_2_0_8_message`) — the check for libtorrent_parse.py under 2.0.8.
"""

import json
import sys


def main(argv):
    exact = "--exact" in argv
    args = [a for a in argv if a != "--exact"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        expected = {e["file"]: e for e in json.load(f)}
    got = {e["file"]: e for e in json.load(sys.stdin)}

    verdict_ok = v1_ok = v1_total = full_ok = full_total = 0
    noted, missing, problems = [], [], []
    for name, exp in sorted(expected.items()):
        out = got.get(name)
        if out is None:
            missing.append(name)
            continue
        if "note" in exp:
            noted.append(f"{name}: {out['verdict']}")
            continue
        if out["verdict"] == exp["verdict"]:
            verdict_ok += 1
        else:
            problems.append(f"{name}: verdict {out['verdict']}, expected {exp['verdict']}"
                            + (f" ({out['message']})" if "message" in out else ""))
            continue
        if exp["verdict"] == "accept":
            v1_total += 1
            full_total += 1
            if out.get("v1") == exp["v1"]:
                v1_ok += 1
            diffs = [k for k in exp if k not in ("file", "verdict") and out.get(k) != exp[k]]
            if diffs:
                problems.append(f"{name}: differs in {', '.join(diffs)}")
            else:
                full_ok += 1
        else:
            want = exp.get("libtorrent_2_0_8_message")
            if exact and want is not None and out.get("message") != want:
                problems.append(f"{name}: message {out.get('message')!r}, expected {want!r}")

    judged = len(expected) - len(noted) - len(missing)
    print(f"verdict agrees: {verdict_ok}/{judged}")
    print(f"v1 agrees (both accept): {v1_ok}/{v1_total}")
    print(f"all fields agree (both accept): {full_ok}/{full_total}")
    print(f"noted files (2.0.8 accepts, EXPECTED rejects): {'; '.join(noted) or 'none'}")
    if missing:
        print(f"missing from output: {', '.join(missing)}")
    for p in problems:
        print(f"  {p}")
    if exact and (problems or missing):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
