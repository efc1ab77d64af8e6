//! `peercdn download` and `peercdn seed`: run one torrent in a node until it is complete (or,
//! seeding, until Ctrl-C), showing progress.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use peercdn::client::{AddOptions, Node, NodeConfig, Running, seed_dir};
use peercdn::mse_io::Policy;
use peercdn::storage::Mode;
use peercdn::torrent::{Command, Status};
use serde_json::json;
use torrent_format::Metainfo;

use crate::format::hex;
use crate::output::{failure, io_failure};

/// Arguments of `peercdn download`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Download a torrent into a folder, from its trackers and any peers given \
                  with --peer, and exit 0 once every piece is verified (with --seed, keep \
                  seeding until Ctrl-C).\n\n\
                  An interrupted download resumes where it stopped: verified pieces are \
                  kept, and only what the saved state does not vouch for is checked again.",
    after_long_help = "With --json, prints one JSON object per line:\n  \
                       {\"event\": \"started\", \"name\", \"pieces\", \"size\", \"have\", \"listen\", \"peer_id\", \"pid\"}\n  \
                       {\"event\": \"progress\", \"have\", \"pieces\", \"downloaded\", \"uploaded\", \"peers\", \"webrtc_peers\", \"rate\"}\n  \
                       {\"event\": \"first_byte\", \"seconds\", \"peers\", \"webrtc_peers\"}\n  \
                       {\"event\": \"complete\", \"seconds\", \"downloaded\", \"uploaded\"}\n  \
                       {\"event\": \"warning\", \"message\"}\n\
                       Examples:\n  \
                       peercdn download linux.torrent -o ~/Downloads\n  \
                       peercdn download site.torrent --peer 127.0.0.1:6881 --seed"
)]
pub(crate) struct DownloadArgs {
    /// The .torrent file, or a magnet link (its metadata is fetched from peers first)
    #[arg(value_name = "FILE.torrent|MAGNET")]
    torrent: String,

    /// The folder to download into
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    output: PathBuf,

    /// Keep seeding after the download completes, until Ctrl-C
    #[arg(long)]
    seed: bool,

    #[command(flatten)]
    net: NetArgs,

    /// Print line-delimited JSON events instead of a progress bar
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `peercdn seed`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Check data on disk against a .torrent file, then seed it to the torrent's \
                  trackers and to peers that connect, until Ctrl-C. Refuses to seed data \
                  that does not match.",
    after_long_help = "Examples:\n  \
                       peercdn seed site.torrent ./site\n  \
                       peercdn seed big.torrent ~/Downloads/big.iso --listen 0.0.0.0:6881"
)]
pub(crate) struct SeedArgs {
    /// The .torrent file
    #[arg(value_name = "FILE.torrent")]
    torrent: PathBuf,

    /// The data: the torrent's file or folder, or the folder that holds it
    #[arg(value_name = "PATH")]
    path: PathBuf,

    /// Super-seed (BEP 16): hand out each piece about once, for a scarce upload
    #[arg(long)]
    super_seed: bool,

    #[command(flatten)]
    net: NetArgs,

    /// Print line-delimited JSON events instead of a status line
    #[arg(long)]
    pub(crate) json: bool,
}

/// Network options shared by `download` and `seed`.
#[derive(Clone, Debug, clap::Args)]
struct NetArgs {
    /// Where to accept peers (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:6881")]
    listen: SocketAddr,

    /// Also connect to this peer (repeatable)
    #[arg(long = "peer", value_name = "ADDR")]
    peers: Vec<SocketAddr>,

    /// Most connections
    #[arg(long, value_name = "N", default_value_t = 50)]
    max_connections: usize,

    /// Most bytes per second to upload (suffixes K, M, G: 1M = 1048576)
    #[arg(long, value_name = "RATE", value_parser = crate::format::parse_size)]
    upload_rate: Option<u64>,

    /// Most bytes per second to download (suffixes K, M, G)
    #[arg(long, value_name = "RATE", value_parser = crate::format::parse_size)]
    download_rate: Option<u64>,

    /// Protocol encryption (MSE/PE): `enabled` dials encrypted and falls back to plain for
    /// peers that do not speak it, and accepts both; `forced` uses and accepts only encrypted
    /// handshakes; `disabled` only plain ones
    #[arg(long, value_name = "POLICY", default_value = "enabled")]
    encryption: EncryptionArg,

    #[command(flatten)]
    rtc: RtcArgs,
}

/// WebRTC options shared by `download`, `seed` and `serve`.
#[derive(Clone, Debug, clap::Args)]
pub(crate) struct RtcArgs {
    /// The address WebRTC peers reach us at (our host candidate; default: the --listen
    /// address, or when that is 0.0.0.0 the one this machine sends from)
    #[arg(long, value_name = "IP")]
    webrtc_ip: Option<IpAddr>,

    /// No WebRTC peers: the torrents' WebSocket trackers (`ws://`, `wss://`) are ignored
    #[arg(long, conflicts_with_all = ["webrtc_ip", "ice_server", "relay_only"])]
    no_webrtc: bool,

    /// A STUN or TURN server for WebRTC peers behind NATs (repeatable): stun:HOST[:PORT] or
    /// turn:HOST[:PORT][?transport=udp]
    #[arg(long, value_name = "URL")]
    ice_server: Vec<String>,

    /// The TURN servers' username (long-term credentials)
    #[arg(long, value_name = "NAME", default_value = "")]
    ice_username: String,

    /// The TURN servers' password
    #[arg(long, value_name = "SECRET", default_value = "")]
    ice_credential: String,

    /// WebRTC through the TURN servers only (ICE relay policy): peers never see our address
    #[arg(long, requires = "ice_server")]
    relay_only: bool,
}

impl RtcArgs {
    /// Applies these options to a node's WebRTC settings; a bad server URL is a usage error.
    pub(crate) fn apply(&self, config: &mut NodeConfig) -> anyhow::Result<()> {
        if self.no_webrtc {
            config.webrtc = None;
            return Ok(());
        }
        let Some(rtc) = config.webrtc.as_mut() else {
            return Ok(());
        };
        if let Some(ip) = self.webrtc_ip {
            rtc.host = ip;
        }
        for url in &self.ice_server {
            let server = rtc_transport::IceServer {
                urls: vec![url.clone()],
                username: self.ice_username.clone(),
                credential: self.ice_credential.clone(),
            };
            server
                .urls()
                .map_err(|e| failure("usage", format!("--ice-server {url}: {e}")))?;
            rtc.ice_servers.push(server);
        }
        if self.relay_only {
            rtc.policy = rtc_transport::IcePolicy::Relay;
        }
        Ok(())
    }

    /// The ICE servers as a browser's `RTCIceServer`s, and whether only relays may be used.
    pub(crate) fn browser_config(&self) -> serde_json::Value {
        let servers: Vec<serde_json::Value> = self
            .ice_server
            .iter()
            .map(|url| {
                if url.starts_with("turn") {
                    json!({"urls": url, "username": self.ice_username,
                           "credential": self.ice_credential})
                } else {
                    json!({"urls": url})
                }
            })
            .collect();
        json!({"iceServers": servers,
               "iceTransportPolicy": if self.relay_only { "relay" } else { "all" }})
    }
}

impl NetArgs {
    /// The node's settings these options give.
    fn node_config(&self) -> anyhow::Result<NodeConfig> {
        let mut config = NodeConfig::new(self.listen);
        config.max_connections = self.max_connections;
        config.upload_rate = self.upload_rate;
        config.download_rate = self.download_rate;
        config.encryption = self.encryption.into();
        self.rtc.apply(&mut config)?;
        Ok(config)
    }
}

/// `--encryption`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum EncryptionArg {
    Enabled,
    Forced,
    Disabled,
}

impl From<EncryptionArg> for Policy {
    fn from(e: EncryptionArg) -> Self {
        match e {
            EncryptionArg::Enabled => Self::Enabled,
            EncryptionArg::Forced => Self::Forced,
            EncryptionArg::Disabled => Self::Disabled,
        }
    }
}

/// After this long without a single peer, `download` says so.
const NO_PEERS_WARNING: Duration = Duration::from_secs(30);

/// How long `peercdn download MAGNET` looks for the torrent's metadata.
const METADATA_TIMEOUT: Duration = Duration::from_secs(120);

fn read_torrent(path: &Path) -> anyhow::Result<Metainfo> {
    let bytes = std::fs::read(path).map_err(|e| io_failure("cannot read", path, &e))?;
    Metainfo::from_bytes(&bytes).map_err(|e| failure(e.code(), format!("{}: {e}", path.display())))
}

/// What to download: a torrent file's contents, or a magnet link whose metadata is fetched
/// from peers once the node is listening.
enum Source {
    Torrent(Box<Metainfo>),
    Magnet(torrent_format::Magnet),
}

/// Runs `peercdn download`.
pub(crate) fn download(args: &DownloadArgs) -> anyhow::Result<ExitCode> {
    let mut net = args.net.clone();
    let source = if args.torrent.starts_with("magnet:") {
        let magnet = torrent_format::Magnet::parse(&args.torrent)
            .map_err(|e| failure("bad_magnet", e.to_string()))?;
        // The link's own peers take part in the download too.
        net.peers
            .extend(magnet.peers.iter().filter_map(|p| match p {
                torrent_format::magnet::PeerAddr::Ip(addr) => Some(*addr),
                torrent_format::magnet::PeerAddr::Host { .. } => None,
            }));
        Source::Magnet(magnet)
    } else {
        Source::Torrent(Box::new(read_torrent(Path::new(&args.torrent))?))
    };
    std::fs::create_dir_all(&args.output)
        .map_err(|e| io_failure("cannot create", &args.output, &e))?;
    crate::runtime()?.block_on(run(
        source,
        &args.output,
        Mode::Download,
        &net,
        args.json,
        args.seed,
        AddOptions::default(),
    ))
}

/// Runs `peercdn seed`.
pub(crate) fn seed(args: &SeedArgs) -> anyhow::Result<ExitCode> {
    let meta = read_torrent(&args.torrent)?;
    let dir = seed_dir(&args.path, meta.name());
    let options = AddOptions {
        super_seed: args.super_seed,
        ..AddOptions::default()
    };
    crate::runtime()?.block_on(run(
        Source::Torrent(Box::new(meta)),
        &dir,
        Mode::Seed,
        &args.net,
        args.json,
        true,
        options,
    ))
}

async fn run(
    source: Source,
    dir: &Path,
    mode: Mode,
    net: &NetArgs,
    json: bool,
    keep_seeding: bool,
    options: AddOptions,
) -> anyhow::Result<ExitCode> {
    let node = Node::start(net.node_config()?).await.map_err(|e| {
        failure(
            "io_error",
            format!(
                "cannot listen on {}: {}",
                net.listen,
                crate::output::io_message(&e)
            ),
        )
    })?;
    let meta = match source {
        Source::Torrent(meta) => *meta,
        Source::Magnet(magnet) => {
            if !json {
                eprintln!("fetching the torrent's metadata from peers");
            }
            let mut options = peercdn::magnet::FetchOptions::new(
                node.peer_id(),
                node.local_addr().port(),
                METADATA_TIMEOUT,
            );
            options.extra_peers.clone_from(&net.peers);
            options.encryption = net.encryption.into();
            peercdn::magnet::fetch_metadata_with(&magnet, &options)
                .await
                .map_err(|e| failure("metadata_error", e.to_string()))?
        }
    };
    let name = meta.name().to_string();
    let size = meta.total_size();
    let pieces = meta.num_pieces();
    let running = node
        .add(meta, dir, mode, options)
        .await
        .map_err(|e| failure("storage_error", e.to_string()))?;
    let start_have = running.status().borrow().have;
    if mode == Mode::Seed {
        let have = running.status().borrow().have;
        if have < pieces {
            let _ = running.stop().await;
            return Err(failure(
                "bad_data",
                format!(
                    "{} does not match the torrent: {} of {pieces} pieces are good",
                    dir.join(&name).display(),
                    have
                ),
            ));
        }
    }
    if !net.peers.is_empty() {
        let _ = running
            .commands()
            .send(Command::AddPeers(net.peers.clone()))
            .await;
    }
    let mut out = Output::new(json, size);
    out.event(json!({
        "event": "started", "name": name, "pieces": pieces, "size": size,
        "have": start_have, "listen": node.local_addr().to_string(),
        "peer_id": hex(&node.peer_id()), "pid": std::process::id(),
    }));
    if !json {
        eprintln!(
            "{} {name} ({size} bytes, {pieces} pieces) on {}; {start_have} pieces already here",
            if mode == Mode::Seed {
                "seeding"
            } else {
                "downloading"
            },
            node.local_addr()
        );
    }
    let result = watch(&running, &mut out, keep_seeding).await;
    out.finish();
    let stopped = running.stop().await;
    node.shutdown();
    if let Err(e) = stopped {
        return Err(failure(
            "storage_error",
            format!("cannot save the resume state: {e}"),
        ));
    }
    result
}

/// Follows the torrent until it is complete (or, seeding, until Ctrl-C).
async fn watch(
    running: &Running,
    out: &mut Output,
    keep_seeding: bool,
) -> anyhow::Result<ExitCode> {
    let mut status = running.status();
    let started = crate::clock();
    // Already complete when seeding: nothing to announce. Complete at the start of a download
    // (a resumed one): announce it at the first turn, and end there unless seeding.
    let mut announced_complete = keep_seeding && status.borrow().finished;
    let mut warned: Option<String> = None;
    // A download that starts with nothing says when its first payload byte came.
    let mut first_byte = status.borrow().downloaded > 0 || status.borrow().finished;
    let mut alone_since: Option<Instant> = None;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        let ticked = tokio::select! {
            _ = &mut ctrl_c => {
                return Ok(if keep_seeding { ExitCode::SUCCESS } else { ExitCode::from(130) });
            }
            changed = status.changed() => {
                if changed.is_err() {
                    return Err(failure("internal", "the torrent stopped unexpectedly"));
                }
                false
            }
            _ = tick.tick() => true,
        };
        let s = status.borrow_and_update().clone();
        if s.downloaded > 0 && !first_byte {
            first_byte = true;
            out.event(json!({
                "event": "first_byte", "seconds": started.elapsed().as_secs_f64(),
                "peers": s.peers, "webrtc_peers": s.attached_peers,
            }));
        }
        if ticked || s.finished {
            out.progress(&s);
        }
        // Alone for a while: say so, with what the user can do.
        if s.peers > 0 || s.finished {
            alone_since = None;
        } else if alone_since.is_none() {
            alone_since = Some(crate::clock());
        }
        let alone = alone_since.is_some_and(|t| t.elapsed() >= NO_PEERS_WARNING);
        let problem = s
            .disk_error
            .clone()
            .or_else(|| (s.peers == 0).then(|| s.tracker_error.clone()).flatten())
            .or_else(|| {
                alone.then(|| {
                    if s.known > 0 {
                        format!(
                            "no peers for {} s: {} known, none would connect (they may be \
                             gone, or refuse this client's encryption setting: see \
                             --encryption)",
                            NO_PEERS_WARNING.as_secs(),
                            s.known
                        )
                    } else {
                        format!(
                            "no peers for {} s: the trackers gave none and nobody connected \
                             (check the torrent's trackers, or name a peer with --peer)",
                            NO_PEERS_WARNING.as_secs()
                        )
                    }
                })
            });
        if problem != warned {
            if let Some(message) = &problem {
                out.warning(message);
            }
            warned = problem;
        }
        if s.finished && !announced_complete {
            announced_complete = true;
            out.event(json!({
                "event": "complete", "seconds": started.elapsed().as_secs_f64(),
                "downloaded": s.downloaded, "uploaded": s.uploaded,
            }));
            if !keep_seeding {
                return Ok(ExitCode::SUCCESS);
            }
        }
        if s.stopped {
            return Err(failure("internal", "the torrent stopped unexpectedly"));
        }
    }
}

/// Progress for a person (a bar on a terminal) or a script (JSON lines).
struct Output {
    json: bool,
    bar: Option<ProgressBar>,
    last: Option<(Instant, u64)>,
    rate: f64,
}

impl Output {
    fn new(json: bool, size: u64) -> Self {
        let bar = (!json && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "[{wide_bar}] {binary_bytes}/{binary_total_bytes} {msg} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar
        });
        Self {
            json,
            bar,
            last: None,
            rate: 0.0,
        }
    }

    fn event(&self, value: serde_json::Value) {
        if self.json {
            println!("{value}");
        }
    }

    fn warning(&self, message: &str) {
        if self.json {
            self.event(json!({"event": "warning", "message": message}));
        } else if let Some(bar) = &self.bar {
            bar.println(format!("warning: {message}"));
        } else {
            eprintln!("warning: {message}");
        }
    }

    fn progress(&mut self, s: &Status) {
        let now = crate::clock();
        if let Some((at, bytes)) = self.last {
            let dt = now.duration_since(at).as_secs_f64();
            if dt >= 0.5 {
                let instant = s.downloaded.saturating_sub(bytes) as f64 / dt;
                self.rate = 0.5 * self.rate + 0.5 * instant;
                self.last = Some((now, s.downloaded));
            }
        } else {
            self.last = Some((now, s.downloaded));
        }
        if self.json {
            self.event(json!({
                "event": "progress", "have": s.have, "pieces": s.pieces,
                "downloaded": s.downloaded, "uploaded": s.uploaded, "peers": s.peers,
                "webrtc_peers": s.attached_peers,
                "rate": self.rate.round(),
            }));
        } else if let Some(bar) = &self.bar {
            let total = bar.length().unwrap_or(0);
            bar.set_position(total.saturating_sub(s.left));
            let webrtc = if s.attached_peers > 0 {
                format!(" ({} WebRTC)", s.attached_peers)
            } else {
                String::new()
            };
            bar.set_message(format!(
                "{:.1} MB/s, {} peers{webrtc}, up {:.1} MB",
                self.rate / 1e6,
                s.peers,
                s.uploaded as f64 / 1e6
            ));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
