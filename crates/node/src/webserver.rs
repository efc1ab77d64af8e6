//! A static file server for an origin: serves the files under a folder over HTTP/1.1 with
//! single byte ranges (what BEP 19 web seeds and browsers ask for), optionally under a rate
//! limit, counting the bytes it sends.
//!
//! Paths are percent-decoded and resolved inside the folder only: `..`, absolute paths,
//! backslashes and NUL are refused (404), and symbolic links are not followed out of it.
//!
//! A server that routes other paths itself (`peercdn serve`) reads each request with
//! [`read_request_head`], which keeps every header within bounds, and hands file requests to
//! [`FileServer::respond`].

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};

use crate::http::{Request, read_request, write_response};
use crate::rate::RateLimiter;

/// A folder served over HTTP.
#[derive(Clone, Debug)]
pub struct FileServer {
    root: PathBuf,
    rate: Option<Arc<RateLimiter>>,
    sent: Arc<AtomicU64>,
}

impl FileServer {
    /// Serves `root` (canonicalized), under `rate` if given.
    pub fn new(root: &Path, rate: Option<Arc<RateLimiter>>) -> std::io::Result<Self> {
        Ok(Self {
            root: root.canonicalize()?,
            rate,
            sent: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Body bytes sent so far.
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Accepts connections on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let server = self.clone();
            tokio::spawn(async move {
                let _ = server.connection(stream).await;
            });
        }
    }

    async fn connection(&self, stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let mut stream = BufReader::new(stream);
        loop {
            let request = match tokio::time::timeout(
                Duration::from_secs(60),
                read_request(&mut stream),
            )
            .await
            {
                Ok(Ok(Some(r))) => r,
                _ => return Ok(()),
            };
            if !self
                .respond(&request, &request.target, stream.get_mut())
                .await?
            {
                return Ok(());
            }
        }
    }

    /// Answers one `GET` or `HEAD` request for the file that `target` (a request target:
    /// percent-encoded, relative to the root, any query ignored) names, with `request`'s
    /// method and range. Returns `false` when the connection cannot carry another response
    /// (the file shrank while it was being sent).
    pub async fn respond<W: AsyncWrite + Unpin>(
        &self,
        request: &Request,
        target: &str,
        out: &mut W,
    ) -> std::io::Result<bool> {
        let head_only = request.method == "HEAD";
        if request.method != "GET" && !head_only {
            write_response(out, 405, "text/plain", "", b"GET or HEAD").await?;
            return Ok(true);
        }
        let Some(path) = self.resolve(target) else {
            write_response(out, 404, "text/plain", "", b"not found").await?;
            return Ok(true);
        };
        let Ok(mut file) = tokio::fs::File::open(&path).await else {
            write_response(out, 404, "text/plain", "", b"not found").await?;
            return Ok(true);
        };
        let len = file.metadata().await?.len();
        let (status, start, end) = match request.range.as_deref().map(|r| parse_range(r, len)) {
            None => (200, 0, len),
            Some(Some((a, b))) => (206, a, b),
            Some(None) => {
                let headers = format!("Content-Range: bytes */{len}\r\n");
                write_response(out, 416, "text/plain", &headers, b"").await?;
                return Ok(true);
            }
        };
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n",
            if status == 206 {
                "Partial Content"
            } else {
                "OK"
            },
            content_type(&path),
            end - start
        );
        if status == 206 {
            head.push_str(&format!(
                "Content-Range: bytes {start}-{}/{len}\r\n",
                end - 1
            ));
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes()).await?;
        if head_only {
            return Ok(true);
        }
        file.seek(std::io::SeekFrom::Start(start)).await?;
        let mut left = end - start;
        let mut buf = vec![0u8; 256 << 10];
        while left > 0 {
            let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
            let n = file.read(&mut buf[..want]).await?;
            if n == 0 {
                // The file shrank under us: the connection cannot be kept consistent.
                return Ok(false);
            }
            out.write_all(&buf[..n]).await?;
            self.sent.fetch_add(n as u64, Ordering::Relaxed);
            left -= n as u64;
            if let Some(rate) = &self.rate {
                rate.consume(n).await;
            }
        }
        out.flush().await?;
        Ok(true)
    }

    /// The file a request target names, inside the root.
    fn resolve(&self, target: &str) -> Option<PathBuf> {
        let path = target.split(['?', '#']).next().unwrap_or("");
        let decoded = percent_decode(path)?;
        let relative = Path::new(decoded.trim_start_matches('/'));
        if decoded.contains('\0') || decoded.contains('\\') {
            return None;
        }
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return None;
        }
        let full = self.root.join(relative).canonicalize().ok()?;
        (full.starts_with(&self.root) && full.is_file()).then_some(full)
    }
}

/// A request's head with every header, for servers that look past `Range` (a WebSocket
/// upgrade): method, target and headers (names in lower case, values trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The request target (`/index.json?x`), starting with `/`.
    pub target: String,
    /// `(name, value)` in the order received.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a header holds `token` in its comma-separated list (case-insensitive).
    pub fn header_has(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// RFC 6455 §4.2.1: a GET with `Upgrade: websocket` and `Connection: Upgrade`.
    pub fn is_websocket_upgrade(&self) -> bool {
        self.method == "GET"
            && self.header_has("upgrade", "websocket")
            && self.header_has("connection", "upgrade")
    }

    /// Whether a body follows the head (`Transfer-Encoding`, or a `Content-Length` but 0).
    pub fn has_body(&self) -> bool {
        self.header("transfer-encoding").is_some()
            || self
                .header("content-length")
                .is_some_and(|v| v.trim() != "0")
    }
}

/// Reads one request head (at most [`MAX_HEAD`] bytes, [`MAX_HEADERS`] headers), leaving what
/// follows it in `stream`; `None` at a clean end of stream. A malformed or oversized head is an
/// `InvalidData` error, a head cut short `UnexpectedEof`.
pub async fn read_request_head<R: AsyncBufRead + Unpin>(
    stream: &mut R,
) -> std::io::Result<Option<RequestHead>> {
    let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut lines: Vec<String> = Vec::new();
    let mut total = 0usize;
    let mut line = Vec::new();
    loop {
        line.clear();
        let budget = (MAX_HEAD - total) as u64;
        let n = (&mut *stream)
            .take(budget)
            .read_until(b'\n', &mut line)
            .await?;
        total += n;
        if n == 0 {
            return if lines.is_empty() && total == 0 {
                Ok(None)
            } else if total >= MAX_HEAD {
                Err(invalid("request head too large"))
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        if !line.ends_with(b"\n") {
            return Err(if total >= MAX_HEAD {
                invalid("request head too large")
            } else {
                std::io::ErrorKind::UnexpectedEof.into()
            });
        }
        let text = std::str::from_utf8(&line)
            .map_err(|_| invalid("request head is not UTF-8"))?
            .trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if lines.is_empty() {
                // RFC 9112 §2.2: ignore empty lines before the request line.
                continue;
            }
            break;
        }
        if lines.len() > MAX_HEADERS {
            return Err(invalid("too many headers"));
        }
        lines.push(text.to_string());
    }
    let mut parts = lines[0].split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("bad request line"));
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Err(invalid("bad request line"));
    }
    let mut headers = Vec::with_capacity(lines.len() - 1);
    for l in &lines[1..] {
        let (name, value) = l.split_once(':').ok_or_else(|| invalid("bad header"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(Some(RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        headers,
    }))
}

/// `%XX` escapes of a request path decoded; `None` for a bad escape or bytes that are not
/// UTF-8.
pub fn decode_path(path: &str) -> Option<String> {
    percent_decode(path)
}

/// Most bytes of a request head read by [`read_request_head`].
pub const MAX_HEAD: usize = 16 << 10;

/// Most header lines in a request head read by [`read_request_head`].
pub const MAX_HEADERS: usize = 100;

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against a file of `len` bytes: the half-open range, or
/// `None` when it cannot be satisfied (or names several ranges, which we do not serve).
fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.saturating_sub(n), len)
        }
        (a, "") => (a.parse().ok()?, len),
        (a, b) => {
            let b: u64 = b.parse().ok()?;
            (a.parse().ok()?, b.saturating_add(1).min(len))
        }
    };
    (start < end && start < len).then_some((start, end))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript",
        Some("css") => "text/css",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        Some("mp4") => "video/mp4",
        Some("webm") => "video/webm",
        Some("txt") => "text/plain; charset=utf-8",
        Some("torrent") => "application/x-bittorrent",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_as_rfc_9110_says_for_one_range() {
        assert_eq!(parse_range("bytes=0-99", 1000), Some((0, 100)));
        assert_eq!(parse_range("bytes=900-", 1000), Some((900, 1000)));
        assert_eq!(parse_range("bytes=-100", 1000), Some((900, 1000)));
        assert_eq!(parse_range("bytes=990-2000", 1000), Some((990, 1000)));
        assert_eq!(parse_range("bytes=1000-", 1000), None);
        assert_eq!(parse_range("bytes=5-4", 1000), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), None);
        assert_eq!(parse_range("items=0-1", 1000), None);
    }

    #[tokio::test]
    async fn request_heads_are_read_within_limits() {
        let mut input: &[u8] =
            b"\r\nGET /x?y HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\r\nGET /";
        let head = read_request_head(&mut input).await.unwrap().unwrap();
        assert_eq!(
            (head.method.as_str(), head.target.as_str()),
            ("GET", "/x?y")
        );
        assert!(head.is_websocket_upgrade());
        assert!(!head.has_body());
        // The second request is cut short: an error, not a request.
        assert!(read_request_head(&mut input).await.is_err());
        let mut empty: &[u8] = b"";
        assert!(read_request_head(&mut empty).await.unwrap().is_none());

        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let err = read_request_head(&mut huge.as_bytes()).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "X: y\r\n".repeat(MAX_HEADERS + 1)
        );
        let err = read_request_head(&mut many.as_bytes()).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        for bad in [
            "GET\r\n\r\n",
            "GET x HTTP/1.1\r\n\r\n",
            "GET / SPDY\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon\r\n\r\n",
        ] {
            let err = read_request_head(&mut bad.as_bytes()).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn files_are_served_with_ranges_and_nothing_outside_the_root() {
        let root = std::env::temp_dir().join(format!("peercdn-webserver-{}", std::process::id()));
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/a b.txt"), b"0123456789").unwrap();
        let server = FileServer::new(&root, None).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(server.clone().serve(listener));
        let limits = crate::http::Limits::default();
        let whole = crate::http::get(&format!("{base}/d/a%20b.txt"), None, &limits)
            .await
            .unwrap();
        assert_eq!(whole.body, b"0123456789");
        let part =
            crate::http::get_range(&format!("{base}/d/a%20b.txt"), 3, 4, Duration::from_secs(5))
                .await
                .unwrap();
        assert_eq!(part, b"3456");
        for bad in [
            "/../etc/passwd",
            "/d/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/nope",
        ] {
            let r = crate::http::get(&format!("{base}{bad}"), None, &limits).await;
            assert!(
                matches!(r, Err(crate::http::HttpError::Status(404))),
                "{bad}: {r:?}"
            );
        }
        assert_eq!(server.bytes_sent(), 14);
        let _ = std::fs::remove_dir_all(&root);
    }
}
