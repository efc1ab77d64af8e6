#!/usr/bin/python3
"""libtorrent's reading of .torrent files and magnet links, as JSON, for the conformance runner.

Run with Debian's /usr/bin/python3 (python3-libtorrent installs for it only):

    /usr/bin/python3 libtorrent_parse.py DIR_OR_FILE...      # .torrent files
    /usr/bin/python3 libtorrent_parse.py --magnets FILE.json  # FILE.json: a JSON array of URIs

Prints ONE JSON array to stdout.

Torrents: one object per file, sorted by file name, in the schema of
shared/corpus/libtorrent-test-torrents/EXPECTED.json: `file` (base name), `verdict`
("accept"/"reject"); rejects carry `message` (libtorrent's error text); accepts carry `v1`, `v2`
(hex or null), `name`, `total_size`, `piece_length`, `num_pieces`, `files` (`path` as libtorrent
would write it on disk relative to the download folder, `size`, `pad`), `trackers` (a flat list
of URLs in tier order, as EXPECTED.json has it), `web_seeds`, `private`.

Magnets: one object per URI, in input order: `uri`, `ok`, and either `message` or
`info_hash_v1`, `info_hash_v2` (hex or null), `name` (or null), `trackers` (flat list),
`web_seeds`.
"""

import json
import os
import sys

import libtorrent as lt

# An all-zero hash means "absent" in libtorrent's info_hash_t.
_ZERO_V1 = "0" * 40
_ZERO_V2 = "0" * 64


def _hashes(ih):
    v1 = str(ih.v1) if ih.has_v1() else None
    v2 = str(ih.v2) if ih.has_v2() else None
    if v1 == _ZERO_V1:
        v1 = None
    if v2 == _ZERO_V2:
        v2 = None
    return v1, v2


def parse_torrent(path):
    entry = {"file": os.path.basename(path)}
    try:
        ti = lt.torrent_info(path)
    except Exception as e:  # libtorrent raises RuntimeError with its error text
        entry["verdict"] = "reject"
        entry["message"] = str(e)
        return entry
    v1, v2 = _hashes(ti.info_hashes())
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        files.append(
            {
                "path": fs.file_path(i),
                "size": fs.file_size(i),
                "pad": bool(fs.file_flags(i) & lt.file_storage.flag_pad_file),
            }
        )
    # announce_entry.tier orders the tiers; within a tier libtorrent keeps the file's order.
    trackers = [t.url for t in sorted(ti.trackers(), key=lambda t: t.tier)]
    web_seeds = [w["url"] for w in ti.web_seeds()]
    entry.update(
        {
            "verdict": "accept",
            "v1": v1,
            "v2": v2,
            "name": ti.name(),
            "total_size": ti.total_size(),
            "piece_length": ti.piece_length(),
            "num_pieces": ti.num_pieces(),
            "files": files,
            "trackers": trackers,
            "web_seeds": web_seeds,
            "private": bool(ti.priv()),
        }
    )
    return entry


def parse_magnet(uri):
    out = {"uri": uri}
    try:
        p = lt.parse_magnet_uri(uri)
    except Exception as e:
        out["ok"] = False
        out["message"] = str(e)
        return out
    v1, v2 = _hashes(p.info_hashes)
    out.update({"ok": True, "info_hash_v1": v1, "info_hash_v2": v2})
    # The binding decodes strings as UTF-8 and raises on anything else (libtorrent itself
    # accepts a `dn` that percent-decodes to invalid UTF-8); report such fields as undecodable.
    for key, read in (
        ("name", lambda: p.name or None),
        ("trackers", lambda: list(p.trackers)),
        ("web_seeds", lambda: list(p.url_seeds)),
    ):
        try:
            out[key] = read()
        except UnicodeDecodeError:
            out[key] = None
            out.setdefault("undecodable", []).append(key)
    return out


def torrent_paths(args):
    paths = []
    for arg in args:
        if os.path.isdir(arg):
            paths.extend(
                os.path.join(arg, n) for n in os.listdir(arg) if n.endswith(".torrent")
            )
        else:
            paths.append(arg)
    return sorted(paths, key=os.path.basename)


def main(argv):
    if len(argv) == 2 and argv[0] == "--magnets":
        with open(argv[1], encoding="utf-8") as f:
            uris = json.load(f)
        result = [parse_magnet(u) for u in uris]
    elif argv and not argv[0].startswith("--"):
        result = [parse_torrent(p) for p in torrent_paths(argv)]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
