//! A static file server for an origin: serves the files under a folder over HTTP/1.1 with
//! single byte ranges (what BEP 19 web seeds and browsers ask for), optionally under a rate
//! limit, counting the bytes it sends.
//!
//! Paths are percent-decoded and resolved inside the folder only: `..`, absolute paths,
//! backslashes and NUL are refused (404), and symbolic links are not followed out of it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::http::{read_request, write_response};
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
            let head_only = request.method == "HEAD";
            if request.method != "GET" && !head_only {
                write_response(stream.get_mut(), 405, "text/plain", "", b"GET or HEAD").await?;
                continue;
            }
            let Some(path) = self.resolve(&request.target) else {
                write_response(stream.get_mut(), 404, "text/plain", "", b"not found").await?;
                continue;
            };
            let Ok(mut file) = tokio::fs::File::open(&path).await else {
                write_response(stream.get_mut(), 404, "text/plain", "", b"not found").await?;
                continue;
            };
            let len = file.metadata().await?.len();
            let (status, start, end) = match request.range.as_deref().map(|r| parse_range(r, len)) {
                None => (200, 0, len),
                Some(Some((a, b))) => (206, a, b),
                Some(None) => {
                    let headers = format!("Content-Range: bytes */{len}\r\n");
                    write_response(stream.get_mut(), 416, "text/plain", &headers, b"").await?;
                    continue;
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
            let out = stream.get_mut();
            out.write_all(head.as_bytes()).await?;
            if head_only {
                continue;
            }
            file.seek(std::io::SeekFrom::Start(start)).await?;
            let mut left = end - start;
            let mut buf = vec![0u8; 256 << 10];
            while left > 0 {
                let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                let n = file.read(&mut buf[..want]).await?;
                if n == 0 {
                    // The file shrank under us: the connection cannot be kept consistent.
                    return Ok(());
                }
                out.write_all(&buf[..n]).await?;
                self.sent.fetch_add(n as u64, Ordering::Relaxed);
                left -= n as u64;
                if let Some(rate) = &self.rate {
                    rate.consume(n).await;
                }
            }
            out.flush().await?;
        }
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
