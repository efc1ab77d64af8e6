#!/usr/bin/python3
"""A real libtorrent (python3-libtorrent 2.0.x) seed on loopback, for interop tests.

Run with Debian's /usr/bin/python3 (python3-libtorrent installs for it only):

    /usr/bin/python3 libtorrent_seed.py --data DIR --torrent OUT.torrent \
        [--size BYTES] [--piece-length BYTES] [--v2 | --hybrid] [--timeout SECS]

What it does:

1. Writes DIR/content.bin: BYTES (default 1 MiB + 12345, so the last piece is short)
   deterministic bytes, `random.Random(1234).randbytes(BYTES)`.
2. Builds a single-file torrent for it with libtorrent's own `lt.create_torrent`
   (v1-only by default; `--v2` makes a v2-only torrent, `--hybrid` a v1+v2 one), hashes it
   with `lt.set_piece_hashes` and writes OUT.torrent. The info dict is deterministic; the
   outer dict carries a creation date.
3. Starts an `lt.session` listening on 127.0.0.1 only, with an OS-chosen port, DHT, LSD,
   UPnP, NAT-PMP, uTP and trackers off, plaintext and encrypted peers both accepted, and
   adds the torrent with save_path DIR. libtorrent checks the file, so the seed really has
   every piece.
4. Once the torrent is seeding and the TCP listen port is known, it prints exactly ONE JSON
   line to stdout (flushed):

       {"port": N, "info_hash_v1": hex|null, "info_hash_v2": hex|null, "torrent": path,
        "content": path, "piece_length": N, "num_pieces": N, "total_size": N,
        "peer_id": null, "peer_id_prefix": "-LT2080-", "startup_seconds": float}

   "peer_id" is always null: libtorrent 2.0 draws a fresh random peer id for EVERY
   connection ("-LT2080-" + 12 random printable characters), so there is no single id to
   report; "peer_id_prefix" is the fixed part (the peer_fingerprint setting).
   For a v2-only torrent the BitTorrent handshake carries the first 20 bytes of the v2
   info-hash (BEP 52).
5. Keeps seeding, logging alerts (peer connects, disconnects with reasons, peer errors,
   bans, invalid requests, ...) as JSON lines on stderr, until stdin reaches EOF (the
   test closed the pipe or died), then exits 0. It always exits by itself after
   --timeout seconds (default 120), with status 0 as well, so it never lingers.
   `--ignore-stdin` runs until the timeout regardless of stdin (for manual use).

On any failure it prints "libtorrent_seed: error: ..." to stderr and exits non-zero
(1 = error, 2 = startup timed out, 3 = bad arguments).

What libtorrent 2.0.8 does with a plaintext TCP peer (seen by hand):
- It accepts as soon as the JSON line is out; it answers the 68-byte handshake at once
  (reserved bytes 00 00 00 00 00 10 00 05), then, if we set the extension bit, sends an
  extended handshake (m: ut_pex, ut_metadata, upload_only, ut_holepunch, lt_donthave,
  share_mode; upload_only=1, reqq, v="libtorrent/2.0.8.0", yourip, metadata_size), then
  have_all if we set the fast bit (else a bitfield), then unchoke, all before we say
  "interested". After "interested" it sends 5 allowed_fast and another unchoke.
- Two connections with the SAME peer id to one torrent: the second is dropped with
  "duplicate peer-id", whatever allow_multiple_connections_per_ip says. Use a fresh
  peer id per connection.
- Hybrid torrents: a handshake with the v1 info-hash and the v2 bit (0x10 in the last
  reserved byte) gets an answer with the TRUNCATED V2 info-hash (BEP 52 upgrade); without
  the v2 bit it answers with the v1 hash and sets the v2 bit in its reply.
- A handshake with an unknown info-hash is closed without a word (and no peer alert).
- An out-of-range request gets reject_request (fast extension), no disconnect.
"""

import argparse
import json
import os
import random
import sys
import threading
import time

try:
    import libtorrent as lt
except ImportError as e:  # pragma: no cover - environment problem
    sys.stderr.write(
        "libtorrent_seed: error: cannot import libtorrent (%s); "
        "run with /usr/bin/python3 and install python3-libtorrent\n" % e
    )
    sys.exit(1)

CONTENT_NAME = "content.bin"
DEFAULT_SIZE = 1024 * 1024 + 12345
DEFAULT_PIECE_LENGTH = 32 * 1024
CONTENT_SEED = 1234
STARTUP_TIMEOUT = 30.0
POLL_MS = 100

_T0 = time.monotonic()

# The corpus script beside this one already turns libtorrent's info-hashes into hex (or None).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from libtorrent_parse import _hashes  # noqa: E402


class SeedError(Exception):
    pass


class StartupTimeout(SeedError):
    pass


def log(obj):
    """One JSON line on stderr; never fails (the reader may be gone)."""
    obj = dict(obj)
    obj.setdefault("t", round(time.monotonic() - _T0, 3))
    try:
        sys.stderr.write(json.dumps(obj, sort_keys=True) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def fail(message, code=1):
    try:
        sys.stderr.write("libtorrent_seed: error: %s\n" % message)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    sys.exit(code)


# --------------------------------------------------------------------------- arguments


def parse_args(argv):
    p = argparse.ArgumentParser(description="Run a libtorrent seed on 127.0.0.1.")
    p.add_argument("--data", required=True, help="directory for content.bin (save_path)")
    p.add_argument("--torrent", required=True, help="where to write the .torrent")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE, help="content size in bytes")
    p.add_argument(
        "--piece-length", type=int, default=DEFAULT_PIECE_LENGTH, help="piece length in bytes"
    )
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--v2", action="store_true", help="make a v2-only torrent")
    kind.add_argument("--hybrid", action="store_true", help="make a hybrid v1+v2 torrent")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="hard timeout in seconds (default 120)"
    )
    p.add_argument(
        "--ignore-stdin", action="store_true", help="do not exit on stdin EOF (manual runs)"
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="also log every incoming request and uploaded block",
    )

    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        # argparse already printed usage; make the status distinct and non-zero.
        sys.exit(3 if e.code else 0)
    if args.size < 1:
        fail("--size must be at least 1", 3)
    pl = args.piece_length
    if pl < 16 * 1024 or pl % (16 * 1024) != 0:
        fail("--piece-length must be a positive multiple of 16 KiB", 3)
    if (args.v2 or args.hybrid) and pl & (pl - 1) != 0:
        fail("--piece-length must be a power of two for v2/hybrid torrents", 3)
    if args.timeout <= 0:
        fail("--timeout must be positive", 3)
    return args


# --------------------------------------------------------------------- content, torrent


def write_content(data_dir, size):
    os.makedirs(data_dir, exist_ok=True)
    path = os.path.join(data_dir, CONTENT_NAME)
    data = random.Random(CONTENT_SEED).randbytes(size)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return path


def make_torrent(data_dir, content_path, out_path, piece_length, v2, hybrid):
    fs = lt.file_storage()
    lt.add_files(fs, content_path)
    if fs.num_files() != 1:
        raise SeedError("expected exactly one file in the torrent, got %d" % fs.num_files())
    if v2:
        flags = lt.create_torrent.v2_only
    elif hybrid:
        flags = 0  # libtorrent 2.0 default: hybrid v1+v2
    else:
        flags = lt.create_torrent.v1_only
    ct = lt.create_torrent(fs, piece_length, flags=flags)
    ct.set_creator("libtorrent_seed.py (libtorrent %s)" % lt.__version__)
    # Hash the file (relative to its parent directory, which is save_path).
    lt.set_piece_hashes(ct, os.path.abspath(data_dir))
    data = lt.bencode(ct.generate())
    out_dir = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(out_dir, exist_ok=True)
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out_path)
    return lt.torrent_info(out_path)


# ----------------------------------------------------------------------------- session


def session_settings(verbose):
    cat = lt.alert.category_t
    mask = (
        cat.error_notification
        | cat.peer_notification
        | cat.connect_notification
        | cat.status_notification
        | cat.storage_notification
        | cat.ip_block_notification
        | cat.performance_warning
    )
    if verbose:
        mask |= cat.upload_notification | cat.incoming_request_notification
    return {
        # Loopback only, OS-chosen port; never fall back to another interface/port.
        "listen_interfaces": "127.0.0.1:0",
        "listen_system_port_fallback": False,
        "outgoing_interfaces": "",
        # Nothing that talks to anything beyond 127.0.0.1.
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "dht_bootstrap_nodes": "",
        # Plain TCP only (our tests speak TCP); no uTP sockets to confuse things.
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_tcp": True,
        "enable_outgoing_tcp": True,
        # The seed only answers; it never dials the tests' listen ports (which a peer
        # may advertise with "p" in its extended handshake), so a test sees exactly the
        # connections it opened.
        "seeding_outgoing_connections": False,
        # Encryption: pe_enabled accepts both plaintext and MSE/PE peers, and pe_both
        # allows either RC4 or plaintext payload after an MSE handshake.
        "in_enc_policy": int(lt.enc_policy.pe_enabled),
        "out_enc_policy": int(lt.enc_policy.pe_enabled),
        "allowed_enc_level": int(lt.enc_level.pe_both),
        "prefer_rc4": False,
        # Tests open several connections from 127.0.0.1.
        "allow_multiple_connections_per_ip": True,
        # Generous request queues; unchoke everyone who is interested.
        "max_allowed_in_request_queue": 10000,
        "max_out_request_queue": 10000,
        "unchoke_slots_limit": -1,
        "connections_limit": 500,
        # No rate limits at all (loopback is "local" anyway).
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
        # Do not hide anything from the remote (client version in the ext handshake).
        "anonymous_mode": False,
        # No queueing: our one torrent is always active.
        "active_seeds": -1,
        "active_limit": -1,
        "dont_count_slow_torrents": False,
        "alert_mask": int(mask),
        "alert_queue_size": 10000,
    }


def _attr(a, name):
    """getattr that tolerates the bindings' missing converters (they raise TypeError)."""
    try:
        return getattr(a, name)
    except Exception:
        return None


def alert_record(a):
    rec = {"alert": a.what(), "message": a.message()}
    try:
        ep = _attr(a, "endpoint")
        if ep is not None:
            rec["endpoint"] = "%s:%d" % (ep[0], ep[1])
        pid = _attr(a, "pid")
        if pid is not None:
            raw = bytes(pid.to_bytes())
            if any(raw):  # all zeros until the remote's handshake arrived
                rec["pid"] = raw.hex()
                rec["pid_ascii"] = raw.decode("latin-1")
        for name in ("socket_type", "op", "reason"):
            v = _attr(a, name)
            if v is None:
                continue
            if isinstance(v, int):
                rec[name] = int(v)
                vname = getattr(v, "name", None)
                if vname:
                    rec[name + "_name"] = vname
            else:
                rec[name] = str(v)
        err = _attr(a, "error")
        if err is not None and hasattr(err, "value") and err.value() != 0:
            rec["error"] = err.message()
            rec["error_category"] = err.category().name()
            rec["error_value"] = err.value()
        if isinstance(a, lt.invalid_request_alert):
            r = _attr(a, "request")
            if r is not None:
                rec["request"] = {"piece": r.piece, "start": r.start, "length": r.length}
    except Exception as e:  # logging must never take the seed down
        rec["record_error"] = repr(e)
    return rec


# ------------------------------------------------------------------------------ main


def drain(ses, handle_alert):
    for a in ses.pop_alerts():
        handle_alert(a)


def run(args):
    data_dir = os.path.abspath(args.data)
    torrent_path = os.path.abspath(args.torrent)
    content_path = write_content(data_dir, args.size)
    ti = make_torrent(data_dir, content_path, torrent_path, args.piece_length, args.v2, args.hybrid)
    v1, v2 = _hashes(ti.info_hashes())
    if v1 is None and v2 is None:
        raise SeedError("torrent has no info-hash")

    deadline = _T0 + args.timeout
    startup_deadline = time.monotonic() + STARTUP_TIMEOUT

    ses = lt.session(session_settings(args.verbose))

    listen_errors = []
    torrent_errors = []
    tcp_port = [0]

    def handle_alert(a):
        if isinstance(a, lt.listen_failed_alert):
            listen_errors.append(a.message())
        elif isinstance(a, lt.listen_succeeded_alert):
            try:
                if a.socket_type == lt.socket_type_t.tcp:
                    tcp_port[0] = a.port
            except Exception:
                pass
        elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
            torrent_errors.append(a.message())
        log(alert_record(a))

    params = lt.add_torrent_params()
    params.ti = ti
    params.save_path = data_dir
    # Not paused, not auto-managed (no queueing), no DHT/LSD/PEX announcing; libtorrent
    # checks the file so it truly has every piece.
    params.flags = (
        lt.torrent_flags.disable_dht
        | lt.torrent_flags.disable_lsd
        | lt.torrent_flags.duplicate_is_error
    )
    params.trackers = []
    params.url_seeds = []
    handle = ses.add_torrent(params)

    # --- wait for seeding + listen port
    while True:
        ses.wait_for_alert(POLL_MS)
        drain(ses, handle_alert)
        if listen_errors and not ses.is_listening():
            raise SeedError("listen failed: %s" % "; ".join(listen_errors))
        if torrent_errors:
            raise SeedError("torrent error: %s" % "; ".join(torrent_errors))
        st = handle.status()
        if st.errc.value() != 0:
            raise SeedError("torrent error: %s" % st.errc.message())
        port = ses.listen_port() or tcp_port[0]
        if st.is_seeding and port:
            break
        now = time.monotonic()
        if now > startup_deadline or now > deadline:
            raise StartupTimeout(
                "not seeding after %.0f s (state=%s progress=%.3f port=%d)"
                % (STARTUP_TIMEOUT, st.state, st.progress, port)
            )

    if st.num_pieces != ti.num_pieces():
        raise SeedError("seed has %d of %d pieces" % (st.num_pieces, ti.num_pieces()))

    info = {
        "port": port,
        "info_hash_v1": v1,
        "info_hash_v2": v2,
        "torrent": torrent_path,
        "content": content_path,
        "piece_length": ti.piece_length(),
        "num_pieces": ti.num_pieces(),
        # The content's length (ti.total_size() would include the tail pad file
        # libtorrent adds internally for v2-only torrents).
        "total_size": os.path.getsize(content_path),
        # libtorrent picks a new random peer id per connection; only the prefix is fixed.
        "peer_id": None,
        "peer_id_prefix": ses.get_settings().get("peer_fingerprint"),
        "startup_seconds": round(time.monotonic() - _T0, 3),
    }
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    log({"event": "ready", **info})

    # --- serve until stdin EOF or the hard timeout
    stdin_closed = threading.Event()
    if not args.ignore_stdin:

        def watch_stdin():
            try:
                while sys.stdin.buffer.read1(65536):
                    pass
            except (OSError, ValueError):
                pass
            stdin_closed.set()

        threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()

    reason = None
    while reason is None:
        ses.wait_for_alert(POLL_MS)
        drain(ses, handle_alert)
        if stdin_closed.is_set():
            reason = "stdin_eof"
        elif time.monotonic() > deadline:
            reason = "timeout"

    st = handle.status()
    log(
        {
            "event": "exit",
            "reason": reason,
            "total_payload_upload": st.total_payload_upload,
            "num_peers": st.num_peers,
        }
    )
    ses.pause()
    drain(ses, handle_alert)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except StartupTimeout as e:
        fail(str(e), 2)
    except (SeedError, OSError, RuntimeError) as e:
        fail(str(e), 1)
    except Exception as e:
        fail("%s: %s" % (type(e).__name__, e), 1)
    except KeyboardInterrupt:
        fail("interrupted", 1)
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    # Skip the session destructor's shutdown work (and any interpreter teardown quirks of
    # the bindings): everything worth saying has been said.
    os._exit(0)


if __name__ == "__main__":
    main()
