//! Transmission (`transmission-daemon` 3.00, Debian's `transmission-daemon`) driven through its
//! JSON RPC: in the foreground (`-f`, so it stays our child and dies with the test), with a
//! configuration folder of its own whose settings.json turns DHT, LPD, PEX, uTP and port
//! forwarding off and binds both the peer port and the RPC to loopback.
//!
//! Transmission 3.00 never dials a peer on 127.0.0.0/8 or ::1 (it drops them as "martian"
//! addresses, whether from a tracker or PEX), and its RPC has no method to add a peer: on
//! loopback our side always dials it. Its encryption setting is its default, `preferred`
//! (`encryption: 1`: it accepts an MSE or a plaintext handshake), unless a test sets
//! `required` (`encryption: 2`: MSE only).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Proc, free_port, have_program, http, poll};

/// Fields read back from `torrent-get`.
const FIELDS: &[&str] = &[
    "id",
    "hashString",
    "status",
    "percentDone",
    "haveValid",
    "leftUntilDone",
    "error",
    "errorString",
    "peersConnected",
    "uploadedEver",
    "downloadedEver",
    "peers",
];

/// `status` of a torrent in Transmission's RPC (rpc-spec.txt, `tr_torrent_activity`).
pub(crate) mod status {
    /// Stopped (paused, or finished and not seeding).
    pub(crate) const STOPPED: i64 = 0;
    /// Checking its data.
    pub(crate) const CHECKING: i64 = 2;
    /// Downloading.
    pub(crate) const DOWNLOADING: i64 = 4;
    /// Seeding.
    pub(crate) const SEEDING: i64 = 6;
}

/// Whether `transmission-daemon` is installed (see [`have_program`]).
pub(crate) fn have_transmission() -> bool {
    have_program("transmission-daemon", "transmission-daemon")
}

/// A running `transmission-daemon`, killed when dropped.
pub(crate) struct Transmission {
    /// The daemon (its log on stderr, printed if the test fails).
    pub(crate) daemon: Proc,
    /// Where it accepts peers: 127.0.0.1 at this port.
    pub(crate) peer_port: u16,
    rpc: SocketAddr,
    /// The `X-Transmission-Session-Id` the daemon asked for (its CSRF token).
    session_id: String,
}

impl Transmission {
    /// Starts the daemon with its configuration in `config` (created), waits for its RPC.
    pub(crate) fn start(config: &Path) -> Self {
        Self::start_with(config, json!({}))
    }

    /// [`Transmission::start`] with more settings.json keys (an object), such as
    /// `{"encryption": 2}` (encryption required).
    pub(crate) fn start_with(config: &Path, settings: Value) -> Self {
        std::fs::create_dir_all(config).expect("writable");
        let peer_port = free_port();
        let rpc_port = free_port();
        let mut all = json!({
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": false,
            "port-forwarding-enabled": false,
            "blocklist-enabled": false,
            "peer-port": peer_port,
            "peer-port-random-on-start": false,
            "bind-address-ipv4": "127.0.0.1",
            "bind-address-ipv6": "::1",
            "rpc-enabled": true,
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": rpc_port,
            "rpc-authentication-required": false,
            "rpc-whitelist-enabled": true,
            "rpc-whitelist": "127.0.0.1",
            "rpc-host-whitelist-enabled": false,
            "download-dir": config.join("downloads"),
            "incomplete-dir-enabled": false,
            "watch-dir-enabled": false,
            "start-added-torrents": true,
            "ratio-limit-enabled": false,
            "idle-seeding-limit-enabled": false,
            "speed-limit-down-enabled": false,
            "speed-limit-up-enabled": false,
            // Info: start-up, bound sockets, torrent errors; per-peer detail is level 3.
            "message-level": 2,
        });
        for (key, value) in settings.as_object().expect("settings are an object") {
            all[key] = value.clone();
        }
        std::fs::write(
            config.join("settings.json"),
            serde_json::to_vec_pretty(&all).expect("serializable"),
        )
        .expect("writable");
        let daemon = Proc::spawn(
            "transmission-daemon",
            Command::new("transmission-daemon")
                .arg("-f")
                .arg("-g")
                .arg(config),
        );
        let mut transmission = Self {
            daemon,
            peer_port,
            rpc: SocketAddr::from(([127, 0, 0, 1], rpc_port)),
            session_id: String::new(),
        };
        // The answer must come from this daemon (its peer port), not another one that holds
        // the RPC port.
        poll(Duration::from_secs(20), "Transmission RPC", || {
            let session = transmission.rpc("session-get", json!({}))?;
            if session["peer-port"] == u64::from(peer_port) {
                Ok(())
            } else {
                Err(format!("another Transmission answers: {session}"))
            }
        });
        transmission
    }

    /// `torrent-add` of a .torrent file saving to (or seeding from) `download_dir`, started;
    /// returns its id. A new torrent's existing data is checked before it starts.
    pub(crate) fn add(&mut self, torrent: &Path, download_dir: &Path) -> i64 {
        let torrent = std::fs::canonicalize(torrent).expect("the torrent exists");
        std::fs::create_dir_all(download_dir).expect("writable");
        let reply = self
            .rpc(
                "torrent-add",
                json!({
                    "filename": torrent,
                    "download-dir": download_dir,
                    "paused": false,
                }),
            )
            .unwrap_or_else(|e| panic!("Transmission torrent-add: {e}"));
        reply["torrent-added"]["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("Transmission did not add the torrent: {reply}"))
    }

    /// The torrent's [`FIELDS`] (`torrent-get`).
    pub(crate) fn torrent(&mut self, id: i64) -> Result<Value, String> {
        let reply = self.rpc("torrent-get", json!({"ids": [id], "fields": FIELDS}))?;
        reply["torrents"]
            .get(0)
            .cloned()
            .ok_or_else(|| format!("no torrent {id}: {reply}"))
    }

    /// Polls the torrent until `done` accepts it, for at most `timeout`; returns it. A torrent
    /// error (`error` not 0) fails at once.
    pub(crate) fn wait_torrent(
        &mut self,
        id: i64,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&Value) -> bool,
    ) -> Value {
        poll(timeout, &format!("Transmission torrent {what}"), || {
            let t = self.torrent(id)?;
            assert!(
                t["error"].as_i64() == Some(0),
                "Transmission reports an error: {t}"
            );
            if done(&t) { Ok(t) } else { Err(t.to_string()) }
        })
    }

    /// One RPC call; returns its `arguments` when `result` is `success`.
    pub(crate) fn rpc(&mut self, method: &str, arguments: Value) -> Result<Value, String> {
        let body = serde_json::to_vec(&json!({"method": method, "arguments": arguments}))
            .expect("serializable");
        // A 409 carries the session id to send (the first call, or after a restart).
        for _ in 0..2 {
            let reply = http::request(
                self.rpc,
                "POST",
                "/transmission/rpc",
                &[
                    ("X-Transmission-Session-Id", &self.session_id),
                    ("Content-Type", "application/json"),
                ],
                &body,
            )?;
            if reply.status == 409 {
                self.session_id = reply
                    .header("x-transmission-session-id")
                    .ok_or("a 409 without X-Transmission-Session-Id")?
                    .to_string();
                continue;
            }
            if reply.status != 200 {
                return Err(format!("{method}: HTTP {}: {}", reply.status, reply.text()));
            }
            let v: Value = serde_json::from_slice(&reply.body)
                .map_err(|e| format!("{method}: {e}: {}", reply.text()))?;
            if v["result"] != "success" {
                return Err(format!("{method}: {v}"));
            }
            return Ok(v["arguments"].clone());
        }
        Err(format!("{method}: refused twice with 409"))
    }
}
