#!/usr/bin/python3
"""A real libtorrent (python3-libtorrent 2.0.x) peer on loopback that talks to trackers, for
node interop tests: it seeds or downloads a given torrent (a .torrent file or a magnet link).

Run with Debian's /usr/bin/python3 (python3-libtorrent installs for it only):

    /usr/bin/python3 libtorrent_peer.py --save DIR (--torrent FILE | --magnet URI)
        [--seed] [--peer HOST:PORT ...] [--timeout SECS] [--high-performance]
        [--download-rate B] [--upload-rate B] [--no-pex] [--log-pex]

- Listens on 127.0.0.1 with an OS-chosen port; DHT, LSD, UPnP, NAT-PMP and uTP off;
  trackers ON (the torrent's own, e.g. peercdn's or bittorrent-tracker on loopback);
  several connections per IP allowed (every test peer is on 127.0.0.1).
- With --seed the data must already be in DIR (libtorrent checks it); without, it downloads
  into DIR.
- Prints JSON lines on stdout (flushed):
      {"event": "ready", "port": N, "info_hash": hex}      once listening and added
      {"event": "finished", "seconds": S, "downloaded": N}  when every piece is verified
      {"event": "metadata", "seconds": S}                   magnet: metadata received
- Logs alerts (peers, errors, tracker replies) as JSON lines on stderr.
- --encryption forced|enabled|disabled sets libtorrent's protocol encryption (MSE/PE) policy
  for incoming and outgoing connections (default: libtorrent's own, enabled both ways);
  --enc-level rc4|plaintext|both the methods it allows (default both); --prefer-rc4 makes it
  select RC4 when a dialing peer offers both. --log-encryption also logs libtorrent's peer-log
  lines about the encrypted handshake (its "crypto select", "received DH key", ...) and the
  outcome of each connection, as {"alert": "peer_log_alert", "message": ...} on stderr.
- --download-rate B / --upload-rate B limit the torrent to B bytes per second each way (the
  torrent's own limits: libtorrent exempts loopback peers from the session-wide ones). They
  count every byte of the connections, handshakes and ut_pex messages too.
- --no-pex turns ut_pex off for the torrent (libtorrent's disable_pex flag): it neither
  sends PEX messages nor connects to peers that PEX messages name. --log-pex logs
  libtorrent's peer-log lines about PEX messages sent and received and the peer ids of
  handshakes (`<<< HANDSHAKE [ received peer_id: ... ]`), as {"alert": "peer_log_alert",
  "message": ...} on stderr.
- Exits 0 when stdin reaches EOF or after --timeout seconds (default 120); a leecher that
  did not finish by then exits 4. Errors exit 1.
"""

import argparse
import json
import sys
import threading
import time

try:
    import libtorrent as lt
except ImportError as e:  # pragma: no cover - environment problem
    sys.stderr.write("libtorrent_peer: error: cannot import libtorrent (%s)\n" % e)
    sys.exit(1)


# Words of libtorrent's peer-log lines about the encrypted handshake and a connection's fate.
ENCRYPTION_LOG_WORDS = ("ENCRYPTION", "crypto", "DH key", "sync point", "RC4", "rc4",
                        "plaintext", "CONNECTION FAILED", "CONNECTION CLOSED", "ON_CONNECTED",
                        "HANDSHAKE")

# Words of libtorrent's peer-log lines about ut_pex messages and who a connection reached.
PEX_LOG_WORDS = ("PEX", "received peer_id")


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def log(obj):
    sys.stderr.write(json.dumps(obj) + "\n")
    sys.stderr.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--save", required=True)
    p.add_argument("--torrent")
    p.add_argument("--magnet")
    p.add_argument("--seed", action="store_true")
    p.add_argument("--peer", action="append", default=[])
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--high-performance", action="store_true")
    p.add_argument("--encryption", choices=["forced", "enabled", "disabled"])
    p.add_argument("--enc-level", choices=["rc4", "plaintext", "both"])
    p.add_argument("--prefer-rc4", action="store_true")
    p.add_argument("--log-encryption", action="store_true")
    p.add_argument("--download-rate", type=int, metavar="BYTES")
    p.add_argument("--upload-rate", type=int, metavar="BYTES")
    p.add_argument("--no-pex", action="store_true")
    p.add_argument("--log-pex", action="store_true")
    args = p.parse_args()
    if bool(args.torrent) == bool(args.magnet):
        sys.stderr.write("libtorrent_peer: error: give --torrent or --magnet\n")
        sys.exit(3)

    settings = lt.high_performance_seed() if args.high_performance else lt.default_settings()
    settings.update({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "alert_mask": lt.alert.category_t.all_categories,
    })
    if args.encryption:
        policy = getattr(lt.enc_policy, "pe_" + args.encryption)
        settings["out_enc_policy"] = int(policy)
        settings["in_enc_policy"] = int(policy)
    if args.enc_level:
        settings["allowed_enc_level"] = int(getattr(lt.enc_level, "pe_" + args.enc_level))
    if args.prefer_rc4:
        settings["prefer_rc4"] = True
    ses = lt.session(settings)
    if args.torrent:
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(args.torrent)
    else:
        atp = lt.parse_magnet_uri(args.magnet)
    atp.save_path = args.save
    if args.no_pex:
        atp.flags |= lt.torrent_flags.disable_pex
    handle = ses.add_torrent(atp)
    if args.download_rate:
        handle.set_download_limit(args.download_rate)
    if args.upload_rate:
        handle.set_upload_limit(args.upload_rate)
    for peer in args.peer:
        host, port = peer.rsplit(":", 1)
        handle.connect_peer((host, int(port)))

    start = time.time()
    port = None
    while port is None and time.time() - start < 30:
        port = ses.listen_port() or None
        time.sleep(0.05)
    if port is None:
        sys.stderr.write("libtorrent_peer: error: no listen port\n")
        sys.exit(2)

    # Wait for the initial check of a seed so that it really seeds.
    if args.seed:
        while time.time() - start < 60:
            st = handle.status()
            if st.is_seeding:
                break
            time.sleep(0.05)
        else:
            sys.stderr.write("libtorrent_peer: error: the data did not check as complete\n")
            sys.exit(1)
    info_hash = str(handle.info_hash()) if hasattr(handle, "info_hash") else ""
    out({"event": "ready", "port": port, "info_hash": info_hash})

    stop = threading.Event()

    def watch_stdin():
        try:
            while sys.stdin.read(1):
                pass
        finally:
            stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    finished = args.seed
    had_metadata = bool(args.torrent)
    while not stop.is_set() and time.time() - start < args.timeout:
        for a in ses.pop_alerts():
            kind = type(a).__name__
            if (args.log_encryption or args.log_pex) and kind == "peer_log_alert":
                message = a.message()
                # (not the per-message "decrypted block" lines of an RC4 stream)
                if ((args.log_encryption and any(w in message for w in ENCRYPTION_LOG_WORDS)
                        and "crypted block" not in message)
                        or (args.log_pex and any(w in message for w in PEX_LOG_WORDS))):
                    log({"alert": kind, "message": message})
                continue
            if kind in ("stats_alert", "block_finished_alert", "block_downloading_alert",
                        "piece_finished_alert", "block_timeout_alert", "incoming_request_alert",
                        "block_uploaded_alert", "picker_log_alert", "peer_log_alert",
                        "torrent_log_alert", "session_stats_alert", "performance_alert"):
                continue
            try:
                log({"alert": kind, "message": a.message()})
            except Exception:  # pragma: no cover - a message that does not decode
                log({"alert": kind})
        st = handle.status()
        if not had_metadata and st.has_metadata:
            had_metadata = True
            out({"event": "metadata", "seconds": time.time() - start})
        if not finished and st.is_seeding:
            finished = True
            out({"event": "finished", "seconds": time.time() - start,
                 "downloaded": st.total_payload_download})
        time.sleep(0.02)
    if not finished:
        sys.exit(4)


if __name__ == "__main__":
    main()
