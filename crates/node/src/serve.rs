//! `peercdn serve DIR`: a peer CDN origin in one process.
//!
//! Every regular file under `DIR` becomes a v1 torrent (v1 so that WebTorrent can read it)
//! whose web seed (BEP 19 `url-list`) is the file's own URL on this server and whose trackers
//! are this server's HTTP and WebSocket announce URLs. The origin seeds each torrent over TCP
//! and over WebRTC (its own peer announces to its WebSocket tracker, so browsers connect to it
//! like to any other peer), and serves, on one HTTP port:
//!
//! | path | what |
//! |---|---|
//! | `/` | a page listing the files |
//! | `/p/<path>` | a page that downloads one file with WebTorrent (browser build) over WebRTC from the swarm (other visitors and the origin's peer), the web seed as fallback when no peer sends anything, and shows bytes from peers and from the origin |
//! | `/f/<path>` | the file itself, with single byte ranges (the web seed) |
//! | `/t/<path>.torrent` | its torrent |
//! | `/index.json` | every file with its info-hash, magnet link and URLs |
//! | `/announce`, `/scrape` | the HTTP tracker (BEP 3, 23, 48) |
//! | `/ws` (or `/`), WebSocket upgrade | WebTorrent's WebSocket tracker (signaling) |
//! | `/webtorrent.min.js`, `/peercdn-page.js`, `/webtorrent.LICENSE.txt` | the page's scripts, and the licenses of the bundled WebTorrent and its dependencies |
//!
//! The HTTP and WebSocket trackers share one swarm table. The walk of `DIR` is bounded
//! ([`MAX_FILES`] files, [`MAX_ENTRIES`] entries seen): a larger folder is refused. Symbolic
//! links to files inside `DIR` are served; links that leave it, and links to folders (which
//! could loop), are skipped with a warning, as are empty files (a torrent needs a byte) and names
//! that are not UTF-8 (they have no URL).
//!
//! `--url` is the base URL as clients see it: behind a reverse proxy, it may add TLS and a path
//! prefix (which the proxy strips); the page finds its resources relative to it (`<base>`).
//!
//! The origin's peer declines (BEP 6 reject) pieces that a connected peer already has, so a
//! visitor who arrives while others share the file gets it from them. `--ice-server` STUN and
//! TURN servers are used by the origin's peer and handed to the page in `index.json`
//! (`rtc_config`, with the TURN credentials, as any WebRTC page must).
//!
//! Not yet: CORS (the page and the files are on the same origin). With an
//! `https://` `--url`, the origin's own seed cannot announce to its tracker (the node's tracker
//! client speaks `http://` only), so native peers find it only through the web seed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use peercdn::client::{AddOptions, Node, NodeConfig};
use peercdn::http::{Request, write_response};
use peercdn::storage::Mode;
use peercdn::tracker_server::{Table, WsRelay, ws_config};
use peercdn::webserver::{FileServer, RequestHead, decode_path, read_request_head};
use serde_json::json;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use torrent_format::Metainfo;
use torrent_format::create::{CreateOptions, Version, create_torrent};
use torrent_format::magnet::Magnet;

use crate::format::hex;
use crate::output::{failure, io_failure, io_message};

/// Arguments of `peercdn serve`.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run a peer CDN origin for the files of a folder, in one process: a torrent \
                  of each file (v1, its own URL as web seed), seeded over TCP and WebRTC; the \
                  files over HTTP with range requests; the HTTP and WebSocket tracker; each \
                  .torrent, a JSON index with magnet links, and a web page that downloads a \
                  file in the browser with WebTorrent over WebRTC, from other browsers and the \
                  origin's peer, with this server's web seed as the fallback, showing how many \
                  bytes came from peers and from the origin.\n\n\
                  Every path is on the --http port: / (the page), /p/FILE (download FILE), \
                  /f/FILE (the file), /t/FILE.torrent, /index.json, /announce and /scrape \
                  (HTTP tracker), /ws (WebSocket tracker).",
    after_long_help = "With --json, prints one JSON object per line:\n  \
                       {\"event\": \"warning\", \"message\"}  (a file skipped, ...)\n  \
                       {\"event\": \"started\", \"url\", \"index\", \"announce\", \"websocket\", \
                       \"http\", \"listen\", \"files\", \"size\", \"pid\"}\n\
                       Examples:\n  \
                       peercdn serve ./site\n  \
                       peercdn serve ./site --http 0.0.0.0:8080 --url http://cdn.example.org:8080/"
)]
pub(crate) struct Args {
    /// The folder whose files to serve (recursively)
    #[arg(value_name = "DIR")]
    dir: PathBuf,

    /// Serve the page, the files, the torrents and the trackers here
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    http: SocketAddr,

    /// Accept BitTorrent peers (TCP) here (port 0: any free port)
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:6881")]
    listen: SocketAddr,

    /// The URL clients reach the --http port at, written into the torrents; behind a reverse
    /// proxy, with its scheme and path prefix (default: http://ADDR/ with the address --http
    /// bound, 127.0.0.1 for an unspecified one)
    #[arg(long, value_name = "URL")]
    url: Option<String>,

    /// WebRTC: the origin's peer, and the ICE servers given to the page too
    #[command(flatten)]
    rtc: crate::download::RtcArgs,

    /// Print line-delimited JSON events instead of text
    #[arg(long)]
    pub(crate) json: bool,
}

/// Runs `peercdn serve` until Ctrl-C.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let root = args
        .dir
        .canonicalize()
        .map_err(|e| io_failure("cannot open", &args.dir, &e))?;
    if !root.is_dir() {
        return Err(failure(
            "usage",
            format!("{} is not a folder", args.dir.display()),
        ));
    }
    let found = walk(&root)?;
    for warning in &found.skipped {
        warn(args.json, warning);
    }
    if found.files.is_empty() {
        return Err(failure(
            "usage",
            format!("{} holds no file to serve", args.dir.display()),
        ));
    }
    crate::runtime()?.block_on(serve(args, root, found.files))
}

/// Most files served from one folder: each is a torrent with its own engine and disk thread.
pub(crate) const MAX_FILES: usize = 2000;

/// Most folder entries (files, folders, links, anything) looked at while walking `DIR`.
pub(crate) const MAX_ENTRIES: usize = 100_000;

async fn serve(args: &Args, root: PathBuf, files: Vec<Found>) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(args.http).await.map_err(|e| {
        failure(
            "io_error",
            format!("cannot listen on {}: {}", args.http, io_message(&e)),
        )
    })?;
    let http = listener.local_addr().unwrap_or(args.http);
    let base = match &args.url {
        Some(url) => base_url(url)?,
        None => {
            if http.ip().is_unspecified() {
                warn(
                    args.json,
                    &format!(
                        "the torrents name 127.0.0.1:{} as their web seed and tracker; pass \
                         --url with the address other machines reach this one at",
                        http.port()
                    ),
                );
            }
            let host = if http.ip().is_unspecified() {
                SocketAddr::new([127, 0, 0, 1].into(), http.port())
            } else {
                http
            };
            format!("http://{host}/")
        }
    };
    let mut config = NodeConfig::new(args.listen);
    args.rtc.apply(&mut config)?;
    // One engine per file: one disk thread each keeps thousands of them affordable.
    config.disk_threads = 1;
    let node = Node::start(config).await.map_err(|e| {
        failure(
            "io_error",
            format!("cannot listen on {}: {}", args.listen, io_message(&e)),
        )
    })?;
    let urls = Urls::new(&base);
    if !args.json {
        let total: u64 = files.iter().map(|f| f.size).sum();
        eprintln!(
            "hashing {} files ({:.1} MB) under {}",
            files.len(),
            total as f64 / 1e6,
            root.display()
        );
    }
    let entries = {
        let urls = urls.clone();
        tokio::task::spawn_blocking(move || make_torrents(files, &urls))
            .await
            .map_err(|e| failure("internal", e.to_string()))??
    };
    let origin_peer_id = node.peer_id();
    let rtc_config = args.rtc.browser_config();
    let catalog = Arc::new(Catalog::new(entries, &urls, &origin_peer_id, rtc_config));
    let state = Arc::new(Server {
        catalog: Arc::clone(&catalog),
        files: FileServer::new(&root, node.rates().upload.clone())
            .map_err(|e| io_failure("cannot serve", &root, &e))?,
        tracker: Tracker::new(),
        page: page_html(&urls.base_path),
    });
    tokio::spawn(Arc::clone(&state).accept(listener));
    tokio::spawn(Arc::clone(&state).expire());

    let mut running = Vec::with_capacity(catalog.entries.len());
    let changed = |rel: &str| format!("{rel}: changed while it was hashed; not seeded");
    for entry in &catalog.entries {
        if !entry.unchanged {
            warn(args.json, &changed(&entry.rel));
            continue;
        }
        let added = node
            .add(
                entry.meta.clone(),
                &entry.dir,
                Mode::Seed,
                AddOptions {
                    origin: true,
                    // A piece one connected peer has comes from it: the origin's upload goes
                    // to what only it has, and browsers fetch from each other.
                    origin_max_copies: Some(1),
                    // Hashed by make_torrents, and unchanged since.
                    just_hashed: true,
                    ..AddOptions::default()
                },
            )
            .await;
        match added {
            Ok(r) if r.status().borrow().finished => running.push(r),
            Ok(r) => {
                let _ = r.stop().await;
                warn(args.json, &changed(&entry.rel));
            }
            Err(e) => warn(args.json, &format!("{}: not seeded: {e}", entry.rel)),
        }
    }
    let size: u64 = catalog.entries.iter().map(|e| e.size).sum();
    if args.json {
        println!(
            "{}",
            json!({
                "event": "started", "url": urls.base, "index": format!("{}index.json", urls.base),
                "announce": urls.announce, "websocket": urls.websocket,
                "http": http.to_string(), "listen": node.local_addr().to_string(),
                "files": catalog.entries.len(), "size": size, "pid": std::process::id(),
            })
        );
    } else {
        eprintln!(
            "serving {} files ({:.1} MB), seeding {} on {}",
            catalog.entries.len(),
            size as f64 / 1e6,
            running.len(),
            node.local_addr()
        );
        eprintln!("page:      {}", urls.base);
        eprintln!("index:     {}index.json", urls.base);
        eprintln!("tracker:   {} and {}", urls.announce, urls.websocket);
    }
    let _ = tokio::signal::ctrl_c().await;
    Ok(ExitCode::SUCCESS)
}

fn warn(json: bool, message: &str) {
    if json {
        println!("{}", json!({"event": "warning", "message": message}));
    } else {
        eprintln!("warning: {message}");
    }
}

/// `--url`, checked and ending in `/`.
fn base_url(url: &str) -> anyhow::Result<String> {
    let bad = || {
        failure(
            "usage",
            format!("--url {url:?}: expected http://HOST[:PORT]/[PATH/] or https://…"),
        )
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(bad)?;
    if rest.is_empty()
        || rest.starts_with('/')
        || url.contains(['?', '#', '"', '<', '>', '\\', ' '])
        || url.chars().any(char::is_control)
    {
        return Err(bad());
    }
    Ok(if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    })
}

/// The URLs a torrent and the page use, from the base URL.
#[derive(Clone, Debug)]
struct Urls {
    base: String,
    /// The base URL's path (`/` or `/prefix/`), for the page's `<base>`.
    base_path: String,
    announce: String,
    websocket: String,
}

impl Urls {
    fn new(base: &str) -> Self {
        let after_scheme = base.split_once("://").map_or(base, |(_, r)| r);
        let base_path = after_scheme
            .find('/')
            .map_or("/", |i| &after_scheme[i..])
            .to_string();
        let websocket = match base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}ws"),
            None => format!("ws://{}ws", base.trim_start_matches("http://")),
        };
        Self {
            base: base.to_string(),
            base_path,
            announce: format!("{base}announce"),
            websocket,
        }
    }

    fn file(&self, rel: &str) -> String {
        format!("{}f/{}", self.base, encode_path(rel))
    }

    fn torrent(&self, rel: &str) -> String {
        format!("{}t/{}.torrent", self.base, encode_path(rel))
    }

    fn page(&self, rel: &str) -> String {
        format!("{}p/{}", self.base, encode_path(rel))
    }
}

/// A file found under `DIR`.
#[derive(Debug)]
struct Found {
    /// Its path relative to `DIR`, `/`-separated.
    rel: String,
    /// Where it is (through a link, the link's target).
    real: PathBuf,
    /// The folder of its name (the link's folder for a link).
    dir: PathBuf,
    /// Its name in that folder.
    name: String,
    size: u64,
}

/// What the walk found.
#[derive(Debug, Default)]
struct Walk {
    files: Vec<Found>,
    /// Why entries were left out, one line each.
    skipped: Vec<String>,
}

/// The regular files under `root` (canonical), sorted by path, within [`MAX_FILES`] and
/// [`MAX_ENTRIES`].
fn walk(root: &Path) -> anyhow::Result<Walk> {
    let mut out = Walk::default();
    let mut seen = 0usize;
    let mut folders = vec![(root.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = folders.pop() {
        let entries =
            std::fs::read_dir(&folder).map_err(|e| io_failure("cannot read", &folder, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_failure("cannot read", &folder, &e))?;
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(too_many(root, &format!("{MAX_ENTRIES} entries")));
            }
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                out.skipped
                    .push(format!("{}: not a UTF-8 name; skipped", path.display()));
                continue;
            };
            let rel = format!("{prefix}{name}");
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let (real, size) = if meta.is_dir() {
                folders.push((path, format!("{rel}/")));
                continue;
            } else if meta.is_file() {
                (path.clone(), meta.len())
            } else if meta.is_symlink() {
                match path.canonicalize() {
                    Ok(target) if !target.starts_with(root) => {
                        out.skipped
                            .push(format!("{rel}: a link out of the folder; skipped"));
                        continue;
                    }
                    Ok(target) => match std::fs::metadata(&target) {
                        Ok(m) if m.is_file() => (target, m.len()),
                        Ok(m) if m.is_dir() => {
                            out.skipped
                                .push(format!("{rel}: a link to a folder; skipped"));
                            continue;
                        }
                        _ => continue,
                    },
                    Err(_) => {
                        out.skipped.push(format!("{rel}: a broken link; skipped"));
                        continue;
                    }
                }
            } else {
                // Sockets, pipes, devices.
                continue;
            };
            if size == 0 {
                out.skipped
                    .push(format!("{rel}: empty (a torrent needs a byte); skipped"));
                continue;
            }
            if out.files.len() == MAX_FILES {
                return Err(too_many(root, &format!("{MAX_FILES} files")));
            }
            out.files.push(Found {
                rel,
                real,
                dir: folder.clone(),
                name,
                size,
            });
        }
    }
    out.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn too_many(root: &Path, what: &str) -> anyhow::Error {
    failure(
        "too_many_files",
        format!(
            "{} holds more than {what}: serve a smaller folder (or several, each with its own \
             peercdn serve)",
            root.display()
        ),
    )
}

/// One served file and its torrent.
#[derive(Debug)]
struct Entry {
    rel: String,
    dir: PathBuf,
    size: u64,
    meta: Metainfo,
    torrent: Vec<u8>,
    info_hash: String,
    magnet: String,
    /// The file's length and modification time were the same before and after it was hashed:
    /// the torrent holds its hashes, which are not computed again to seed it.
    unchanged: bool,
}

/// Hashes each file into a torrent (blocking).
fn make_torrents(files: Vec<Found>, urls: &Urls) -> anyhow::Result<Vec<Entry>> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let options = CreateOptions {
            version: Version::V1,
            // Two tiers: native clients use the first, WebTorrent in a browser the second.
            trackers: vec![vec![urls.announce.clone()], vec![urls.websocket.clone()]],
            web_seeds: vec![urls.file(&f.rel)],
            created_by: Some(concat!("peercdn/", env!("CARGO_PKG_VERSION")).to_string()),
            name: Some(f.name.clone()),
            ..CreateOptions::default()
        };
        let before = stamp(&f.real);
        let created = create_torrent(&f.real, &options, &|_| {})
            .map_err(|e| failure("io_error", format!("{}: {e}", f.rel)))?;
        let meta = Metainfo::from_bytes(&created.bytes)
            .map_err(|e| failure(e.code(), format!("{}: {e}", f.rel)))?;
        let after = stamp(&f.real);
        let unchanged = before == after && before.is_some_and(|(len, _)| len == meta.total_size());
        let hashes = meta.info_hashes();
        let info_hash = hashes.v1.map(|h| h.to_hex()).unwrap_or_default();
        let mut magnet = Magnet::new(hashes);
        magnet.name = Some(f.name.clone());
        magnet.exact_length = Some(f.size);
        magnet.trackers = vec![urls.announce.clone(), urls.websocket.clone()];
        magnet.web_seeds = vec![urls.file(&f.rel)];
        out.push(Entry {
            rel: f.rel,
            dir: f.dir,
            size: f.size,
            meta,
            torrent: created.bytes,
            info_hash,
            magnet: magnet.to_string(),
            unchanged,
        });
    }
    Ok(out)
}

/// A file's length and modification time: what changes when it is written.
fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// The served files, their torrents and the index.
#[derive(Debug)]
struct Catalog {
    entries: Vec<Entry>,
    by_path: HashMap<String, usize>,
    index: Vec<u8>,
}

impl Catalog {
    fn new(
        entries: Vec<Entry>,
        urls: &Urls,
        origin_peer_id: &[u8; 20],
        rtc_config: serde_json::Value,
    ) -> Self {
        let files: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                json!({
                    "path": e.rel, "size": e.size, "info_hash": e.info_hash,
                    "magnet": e.magnet, "torrent": urls.torrent(&e.rel), "url": urls.file(&e.rel),
                    "page": urls.page(&e.rel),
                })
            })
            .collect();
        let index = json!({
            "files": files,
            "announce": urls.announce,
            "websocket": urls.websocket,
            // The page counts what this peer sends as bytes from the origin.
            "origin_peer_id": hex(origin_peer_id),
            // The page's RTCPeerConnection settings: ICE servers (TURN credentials included,
            // as every WebRTC page must hand them to its browser) and the transport policy.
            "rtc_config": rtc_config,
        });
        let mut index = serde_json::to_vec_pretty(&index).unwrap_or_default();
        index.push(b'\n');
        let by_path = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.rel.clone(), i))
            .collect();
        Self {
            entries,
            by_path,
            index,
        }
    }

    fn get(&self, rel: &str) -> Option<&Entry> {
        self.by_path.get(rel).map(|&i| &self.entries[i])
    }
}

/// Everything the HTTP port serves.
#[derive(Debug)]
struct Server {
    catalog: Arc<Catalog>,
    files: FileServer,
    tracker: Tracker,
    page: String,
}

impl Server {
    async fn accept(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, remote)) = listener.accept().await else {
                // Out of descriptors, most likely: let some connections end first.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let server = Arc::clone(&self);
            tokio::spawn(async move {
                let _ = server.connection(stream, remote).await;
            });
        }
    }

    async fn connection(&self, stream: TcpStream, remote: SocketAddr) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let mut stream = BufReader::new(stream);
        loop {
            let head =
                match tokio::time::timeout(IDLE_TIMEOUT, read_request_head(&mut stream)).await {
                    Ok(Ok(Some(head))) => head,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                        let body = e.to_string();
                        write_response(stream.get_mut(), 400, "text/plain", CLOSE, body.as_bytes())
                            .await?;
                        return Ok(());
                    }
                    _ => return Ok(()),
                };
            if head.has_body() {
                // GET and HEAD carry none here; reading past one is not worth the risk.
                write_response(
                    stream.get_mut(),
                    400,
                    "text/plain",
                    CLOSE,
                    b"no body expected",
                )
                .await?;
                return Ok(());
            }
            let path = head.target.split(['?', '#']).next().unwrap_or("");
            if head.is_websocket_upgrade() {
                if path == "/" || path == "/ws" {
                    return self.tracker.websocket(stream, &head).await;
                }
                write_response(stream.get_mut(), 404, "text/plain", CLOSE, b"not found").await?;
                return Ok(());
            }
            if !self.respond(&head, path, remote, stream.get_mut()).await? {
                return Ok(());
            }
        }
    }

    /// Answers one request; `false` when the connection must close.
    async fn respond(
        &self,
        head: &RequestHead,
        path: &str,
        remote: SocketAddr,
        out: &mut TcpStream,
    ) -> std::io::Result<bool> {
        let head_only = head.method == "HEAD";
        if head.method != "GET" && !head_only {
            write_response(
                out,
                405,
                "text/plain",
                "Allow: GET, HEAD\r\n",
                b"GET or HEAD",
            )
            .await?;
            return Ok(true);
        }
        if let Some(rest) = path.strip_prefix("/f/") {
            let request = Request {
                method: head.method.clone(),
                target: format!("/{rest}"),
                range: head.header("range").map(str::to_string),
            };
            return self.files.respond(&request, &request.target, out).await;
        }
        let (status, content_type, body): (u16, &str, &[u8]) = match path {
            "/" => (200, HTML, self.page.as_bytes()),
            "/index.json" => (200, "application/json", &self.catalog.index),
            "/webtorrent.min.js" | "/peercdn-page.js" | "/webtorrent.LICENSE.txt" => {
                // Built into this binary: they change only with it.
                let (content_type, body) = match path {
                    "/webtorrent.min.js" => (JS, WEBTORRENT_JS),
                    "/peercdn-page.js" => (JS, PAGE_JS),
                    _ => (TEXT, WEBTORRENT_LICENSE),
                };
                let cache = "Cache-Control: max-age=3600\r\n";
                return reply(out, 200, content_type, cache, body.as_bytes(), head_only)
                    .await
                    .map(|()| true);
            }
            "/announce" | "/scrape" => {
                let body = self.tracker.http(&head.target, remote);
                return reply(out, 200, TEXT, NO_CACHE, &body, head_only)
                    .await
                    .map(|()| true);
            }
            _ => {
                let found = if let Some(rel) = path.strip_prefix("/p/") {
                    decode_path(rel)
                        .and_then(|rel| self.catalog.get(&rel))
                        .map(|_| (HTML, self.page.as_bytes()))
                } else if let Some(rel) = path.strip_prefix("/t/") {
                    rel.strip_suffix(".torrent")
                        .and_then(decode_path)
                        .and_then(|rel| self.catalog.get(&rel))
                        .map(|e| ("application/x-bittorrent", e.torrent.as_slice()))
                } else {
                    None
                };
                match found {
                    Some((content_type, body)) => (200, content_type, body),
                    None => (404, TEXT, b"not found".as_slice()),
                }
            }
        };
        reply(out, status, content_type, NO_CACHE, body, head_only).await?;
        Ok(true)
    }

    /// Expires tracker peers that stopped announcing, forever.
    async fn expire(self: Arc<Self>) {
        self.tracker.table.clone().expire().await;
    }
}

/// A 200 or 404 response with a body (none for `HEAD`), kept alive; `extra_headers` end in
/// CRLF.
async fn reply(
    out: &mut TcpStream,
    status: u16,
    content_type: &str,
    extra_headers: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let reason = if status == 200 { "OK" } else { "Not Found" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         {extra_headers}\r\n",
        body.len()
    );
    out.write_all(head.as_bytes()).await?;
    if !head_only {
        out.write_all(body).await?;
    }
    out.flush().await
}

/// The embedded tracker on this port: HTTP announces and scrapes, and WebTorrent's WebSocket
/// signaling, over one swarm table (the same transports as `peercdn tracker`, on
/// connections this server has already read a request head from).
#[derive(Debug)]
struct Tracker {
    table: Table,
    relay: WsRelay,
}

impl Tracker {
    fn new() -> Self {
        let config = tracker::server::Config {
            rng_seed: u64::from_le_bytes(peercdn::client::random_bytes::<8>()),
            ..tracker::server::Config::default()
        };
        Self {
            table: Table::new(config),
            relay: WsRelay::default(),
        }
    }

    /// An HTTP announce or scrape from `remote`: the bencoded body.
    fn http(&self, target: &str, remote: SocketAddr) -> Vec<u8> {
        self.table.respond_http(target, remote.ip())
    }

    /// Completes the WebSocket handshake `head` asked for and relays signaling messages on
    /// the socket until it closes.
    async fn websocket(
        &self,
        mut stream: BufReader<TcpStream>,
        head: &RequestHead,
    ) -> std::io::Result<()> {
        let (Some(key), Some("13")) = (
            head.header("sec-websocket-key"),
            head.header("sec-websocket-version"),
        ) else {
            write_response(
                stream.get_mut(),
                400,
                "text/plain",
                "Sec-WebSocket-Version: 13\r\nConnection: close\r\n",
                b"a WebSocket upgrade needs Sec-WebSocket-Key and version 13",
            )
            .await?;
            return Ok(());
        };
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        );
        stream.get_mut().write_all(answer.as_bytes()).await?;
        // The buffered reader goes along: a client may send its first frame right behind the
        // request head.
        let ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(ws_config())).await;
        let _ = self.relay.serve(ws, &self.table).await;
        Ok(())
    }
}

/// The page, with its `<base>` set to where this server's paths start.
fn page_html(base_path: &str) -> String {
    PAGE_HTML.replace("{{BASE}}", &html_escape(base_path))
}

/// Percent-encodes a relative path for a URL, keeping `/` and RFC 3986's unreserved
/// characters.
fn encode_path(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for &b in rel.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// How long a connection may wait between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

const CLOSE: &str = "Connection: close\r\n";
const NO_CACHE: &str = "Cache-Control: no-cache\r\n";
const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

const PAGE_HTML: &str = include_str!("../assets/serve/page.html");
const PAGE_JS: &str = include_str!("../assets/serve/page.js");
/// WebTorrent's browser build (npm `webtorrent` 3.0.21, `dist/webtorrent.min.js`), MIT, with
/// a header naming its license.
const WEBTORRENT_JS: &str = concat!(
    "/*! WebTorrent 3.0.21 (npm webtorrent, dist/webtorrent.min.js). MIT License. Copyright (c) \
     Feross Aboukhadijeh and WebTorrent, LLC. It bundles other packages; their licenses: \
     webtorrent.LICENSE.txt */\n",
    include_str!("../assets/webtorrent/webtorrent.min.js")
);
const WEBTORRENT_LICENSE: &str = include_str!("../assets/webtorrent/LICENSE.txt");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_encoded_for_urls_and_decoded_back() {
        assert_eq!(encode_path("a b/ü?#%.bin"), "a%20b/%C3%BC%3F%23%25.bin");
        for rel in ["a b/ü?#%.bin", "plain/x-y_z~.txt", "100%"] {
            assert_eq!(decode_path(&encode_path(rel)).as_deref(), Some(rel));
        }
    }

    #[test]
    fn base_urls_end_in_a_slash_and_name_the_websocket_tracker() {
        assert_eq!(base_url("http://h:1").unwrap(), "http://h:1/");
        assert_eq!(base_url("https://h/cdn").unwrap(), "https://h/cdn/");
        for bad in [
            "ftp://h/",
            "http://",
            "http:///x",
            "http://h/?q",
            "http://h/\"x",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
        let urls = Urls::new("https://h/cdn/");
        assert_eq!(urls.websocket, "wss://h/cdn/ws");
        assert_eq!(urls.base_path, "/cdn/");
        assert_eq!(urls.announce, "https://h/cdn/announce");
        let urls = Urls::new("http://127.0.0.1:8/");
        assert_eq!(urls.websocket, "ws://127.0.0.1:8/ws");
        assert_eq!(urls.base_path, "/");
        assert_eq!(urls.torrent("a b"), "http://127.0.0.1:8/t/a%20b.torrent");
    }

    #[test]
    fn the_walk_follows_links_inside_the_folder_only() {
        let dir = std::env::temp_dir().join(format!("peercdn-serve-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(dir.join("outside"), b"secret").unwrap();
        std::fs::write(root.join("sub/a.txt"), b"a").unwrap();
        std::fs::write(root.join("b.txt"), b"bb").unwrap();
        std::fs::write(root.join("empty"), b"").unwrap();
        std::os::unix::fs::symlink(dir.join("outside"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("b.txt"), root.join("in")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("sub/loop")).unwrap();
        let root = root.canonicalize().unwrap();
        let found = walk(&root).unwrap();
        let rels: Vec<&str> = found.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["b.txt", "in", "sub/a.txt"]);
        let link = &found.files[1];
        assert_eq!((link.name.as_str(), link.size), ("in", 2));
        assert_eq!(link.real, root.join("b.txt"));
        assert_eq!(link.dir, root);
        assert_eq!(found.skipped.len(), 3, "{:?}", found.skipped);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
