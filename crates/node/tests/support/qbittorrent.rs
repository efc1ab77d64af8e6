//! qBittorrent (`qbittorrent-nox` 4.5.2 on libtorrent 2.0, Debian's `qbittorrent-nox`) driven
//! through its Web API: in the foreground (no `-d`, so it stays our child), with a profile of
//! its own (`--profile`) whose qBittorrent.conf accepts the legal notice, turns DHT, LSD, PeX,
//! UPnP/NAT-PMP, uTP, queueing and the peer-country lookup (a download) off, listens for peers
//! on 127.0.0.1 only and serves the Web UI on 127.0.0.1 without a login for localhost.
//!
//! Protocol encryption is qBittorrent's default unless a test says otherwise: "allow"
//! (`Session\Encryption=0`: libtorrent's `pe_enabled` both ways, RC4 only, `prefer_rc4`).
//! libtorrent 2.0 assumes a peer from a tracker does not support MSE, so with that default it
//! dials such a peer with a plaintext handshake (and tries MSE only if that fails); with
//! `Session\Encryption=1` ("require", `pe_forced`) it dials with MSE and RC4, and refuses a
//! plaintext handshake.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{Proc, free_port, have_program, http, poll, try_poll};

/// Whether `qbittorrent-nox` is installed (see [`have_program`]).
pub(crate) fn have_qbittorrent() -> bool {
    have_program("qbittorrent-nox", "qbittorrent-nox")
}

/// A running `qbittorrent-nox`, killed when dropped.
pub(crate) struct Qbittorrent {
    /// The process (it prints little; its log is [`Qbittorrent::log`]).
    pub(crate) proc: Proc,
    /// Where it accepts peers: 127.0.0.1 at this port.
    pub(crate) peer_port: u16,
    web: SocketAddr,
    profile: PathBuf,
}

impl Qbittorrent {
    /// Starts qBittorrent with its profile in `profile` (created), waits for its Web API.
    pub(crate) fn start(profile: &Path) -> Self {
        Self::start_with(profile, &[])
    }

    /// [`Qbittorrent::start`] with more `[BitTorrent]` settings, such as
    /// `Session\Encryption=1` (encryption required).
    pub(crate) fn start_with(profile: &Path, bittorrent: &[&str]) -> Self {
        let config = profile.join("qBittorrent/config");
        std::fs::create_dir_all(&config).expect("writable");
        let peer_port = free_port();
        let web_port = free_port();
        let downloads = profile.join("downloads");
        let conf = format!(
            "[LegalNotice]\n\
             Accepted=true\n\
             \n\
             [BitTorrent]\n\
             Session\\DHTEnabled=false\n\
             Session\\LSDEnabled=false\n\
             Session\\PeXEnabled=false\n\
             Session\\BTProtocol=TCP\n\
             Session\\Port={peer_port}\n\
             Session\\InterfaceAddress=127.0.0.1\n\
             Session\\QueueingSystemEnabled=false\n\
             Session\\DefaultSavePath={downloads}\n\
             Session\\AddTorrentPaused=false\n\
             {bittorrent}\n\
             \n\
             [Network]\n\
             PortForwardingEnabled=false\n\
             \n\
             [Preferences]\n\
             Connection\\ResolvePeerCountries=false\n\
             General\\Locale=C\n\
             WebUI\\Address=127.0.0.1\n\
             WebUI\\Port={web_port}\n\
             WebUI\\LocalHostAuth=false\n\
             WebUI\\UseUPnP=false\n",
            downloads = downloads.display(),
            bittorrent = bittorrent.join("\n"),
        );
        std::fs::write(config.join("qBittorrent.conf"), conf).expect("writable");
        let proc = Proc::spawn(
            "qbittorrent-nox",
            Command::new("qbittorrent-nox").arg(format!("--profile={}", profile.display())),
        );
        let qbt = Self {
            proc,
            peer_port,
            web: SocketAddr::from(([127, 0, 0, 1], web_port)),
            profile: profile.to_path_buf(),
        };
        // The answer must come from this qBittorrent (its peer port), not another one that
        // holds the Web UI port.
        poll(Duration::from_secs(30), "qBittorrent Web API", || {
            let body = qbt.get("/api/v2/app/preferences")?;
            let prefs: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            if prefs["listen_port"] == u64::from(peer_port) {
                Ok(())
            } else {
                Err(format!("another qBittorrent answers: {body}"))
            }
        });
        qbt
    }

    /// `/api/v2/torrents/add` of a .torrent file saving to (or seeding from) `save_path`,
    /// started. libtorrent checks data already there before it starts.
    pub(crate) fn add(&self, torrent: &Path, save_path: &Path) {
        std::fs::create_dir_all(save_path).expect("writable");
        let bytes = std::fs::read(torrent).expect("the torrent exists");
        let save_path = std::fs::canonicalize(save_path).expect("exists");
        let save_path = save_path.to_str().expect("a UTF-8 path");
        let (body, content_type) = http::multipart(&[
            ("torrents", Some("test.torrent"), &bytes),
            ("savepath", None, save_path.as_bytes()),
            ("paused", None, b"false"),
            ("autoTMM", None, b"false"),
        ]);
        let reply = http::request(
            self.web,
            "POST",
            "/api/v2/torrents/add",
            &[("Content-Type", &content_type)],
            &body,
        )
        .unwrap_or_else(|e| panic!("qBittorrent torrents/add: {e}"));
        assert!(
            reply.status == 200 && reply.text().trim() == "Ok.",
            "qBittorrent torrents/add: HTTP {}: {}",
            reply.status,
            reply.text()
        );
    }

    /// `/api/v2/torrents/info`: every torrent (a test adds one).
    pub(crate) fn torrents(&self) -> Result<Vec<Value>, String> {
        let body = self.get("/api/v2/torrents/info")?;
        serde_json::from_str(&body).map_err(|e| format!("torrents/info: {e}: {body}"))
    }

    /// Polls the one torrent until `done` accepts it, for at most `timeout`; returns it. An
    /// `error` or `missingFiles` state fails at once. Failures show qBittorrent's log.
    pub(crate) fn wait_torrent(
        &self,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&Value) -> bool,
    ) -> Value {
        let fatal = |t: &Value| matches!(t["state"].as_str(), Some("error" | "missingFiles"));
        let polled = try_poll(timeout, || {
            let t = self.torrents()?.into_iter().next().ok_or("no torrent")?;
            if done(&t) || fatal(&t) {
                Ok(t)
            } else {
                Err(t.to_string())
            }
        });
        match polled {
            Ok(t) if !fatal(&t) => t,
            Ok(t) => panic!("qBittorrent torrent failed: {t}\n{}", self.log()),
            Err(last) => panic!(
                "no qBittorrent torrent {what} within {timeout:?}; last: {last}\n\
                 --- qBittorrent log ---\n{}",
                self.log()
            ),
        }
    }

    /// `/api/v2/sync/torrentPeers`: the torrent's connected peers, keyed by `ip:port`, each
    /// with `client`, `flags` (`E`: encrypted traffic; `e`: encrypted handshake; `I`: incoming
    /// connection), `progress` and more.
    pub(crate) fn peers(&self, hash: &str) -> Result<serde_json::Map<String, Value>, String> {
        let body = self.get(&format!("/api/v2/sync/torrentPeers?hash={hash}&rid=0"))?;
        let v: Value =
            serde_json::from_str(&body).map_err(|e| format!("torrentPeers: {e}: {body}"))?;
        Ok(v["peers"].as_object().cloned().unwrap_or_default())
    }

    /// qBittorrent's own log file (its profile's data/logs/qbittorrent.log).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.profile.join("qBittorrent/data/logs/qbittorrent.log"))
            .unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// A GET of the Web API; the body of a 200.
    fn get(&self, path: &str) -> Result<String, String> {
        let reply = http::request(self.web, "GET", path, &[], b"")?;
        if reply.status != 200 {
            return Err(format!(
                "GET {path}: HTTP {}: {}",
                reply.status,
                reply.text()
            ));
        }
        Ok(reply.text())
    }
}

/// Whether a torrent's `state` is one of a complete torrent that seeds.
pub(crate) fn is_seeding(torrent: &Value) -> bool {
    matches!(
        torrent["state"].as_str(),
        Some("uploading" | "stalledUP" | "forcedUP")
    ) && torrent["progress"].as_f64() == Some(1.0)
}
