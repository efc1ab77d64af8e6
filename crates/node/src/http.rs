//! Just enough HTTP/1.1 for trackers and web seeds, over tokio: a client `GET` (with an
//! optional byte range) and the request side of a tiny server. `http://` only: a tracker or web
//! seed behind `https://` gets a clear error instead.
//!
//! Every length a remote controls is checked against a limit before anything is allocated for
//! it: the status line and headers (16 KiB), the body ([`Limits::max_body`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Most bytes of a status line plus headers.
const MAX_HEAD: usize = 16 << 10;

/// Bounds of a client request.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest body accepted.
    pub max_body: usize,
    /// Time for the whole exchange.
    pub timeout: Duration,
}

impl Default for Limits {
    /// 4 MiB, 15 s.
    fn default() -> Self {
        Self {
            max_body: 4 << 20,
            timeout: Duration::from_secs(15),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The URL is not `http://host[:port]/…`.
    #[error("unsupported URL `{0}` (only http:// is supported)")]
    Url(String),
    /// Connecting, sending or receiving failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The answer is not HTTP/1.x as we read it.
    #[error("malformed HTTP response: {0}")]
    Malformed(&'static str),
    /// The server answered with an error status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is larger than allowed.
    #[error("response body over {0} bytes")]
    TooLarge(usize),
    /// No complete answer in time.
    #[error("timed out")]
    TimedOut,
}

/// The parts of an `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Host name or address (without brackets).
    pub host: String,
    /// Port (80 by default).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    /// Parses `http://host[:port][/path][?query]` (an IPv6 host in brackets).
    pub fn parse(url: &str) -> Result<Self, HttpError> {
        let bad = || HttpError::Url(url.to_string());
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("HTTP://"))
            .ok_or_else(bad)?;
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let target = target.split('#').next().unwrap_or("/").to_string();
        if authority.contains('@') {
            return Err(bad());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(bad)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad())?,
                None if after.is_empty() => 80,
                None => return Err(bad()),
            };
            (host.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().map_err(|_| bad())?),
                None => (authority.to_string(), 80),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Self { host, port, target })
    }

    /// `host:port` as a `Host` header value.
    fn host_header(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// A response: status and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// `GET url` (with `Range: bytes=start-end_inclusive` when `range` is given); a status outside
/// 200–299 is an error.
pub async fn get(
    url: &str,
    range: Option<(u64, u64)>,
    limits: &Limits,
) -> Result<Response, HttpError> {
    let url = Url::parse(url)?;
    match tokio::time::timeout(limits.timeout, exchange(&url, range, limits)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::TimedOut),
    }
}

/// A response's status line and the headers that frame its body.
struct Head {
    status: u16,
    length: Option<usize>,
    chunked: bool,
}

/// Connects, sends `GET url` (with `Range: bytes=start-end_inclusive` when given) and reads
/// the response head; the body is left in the returned stream.
async fn send_get(
    url: &Url,
    range: Option<(u64, u64)>,
) -> Result<(BufReader<TcpStream>, Head), HttpError> {
    let stream = TcpStream::connect((url.host.as_str(), url.port)).await?;
    let _ = stream.set_nodelay(true);
    let mut stream = BufReader::new(stream);
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: peercdn/{}\r\nAccept-Encoding: identity\r\nConnection: close\r\n",
        url.target,
        url.host_header(),
        env!("CARGO_PKG_VERSION")
    );
    if let Some((start, end)) = range {
        request.push_str(&format!("Range: bytes={start}-{end}\r\n"));
    }
    request.push_str("\r\n");
    stream.get_mut().write_all(request.as_bytes()).await?;

    let head = read_head(&mut stream).await?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or(HttpError::Malformed("no status line"))?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("not HTTP/1.x"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or(HttpError::Malformed("bad status code"))?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| HttpError::Malformed("bad Content-Length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    Ok((
        stream,
        Head {
            status,
            length,
            chunked,
        },
    ))
}

async fn exchange(
    url: &Url,
    range: Option<(u64, u64)>,
    limits: &Limits,
) -> Result<Response, HttpError> {
    let (mut stream, head) = send_get(url, range).await?;
    if !(200..300).contains(&head.status) {
        return Err(HttpError::Status(head.status));
    }
    let body = if head.chunked {
        read_chunked(&mut stream, limits.max_body).await?
    } else if let Some(len) = head.length {
        if len > limits.max_body {
            return Err(HttpError::TooLarge(limits.max_body));
        }
        let mut body = vec![0; len];
        stream.read_exact(&mut body).await?;
        body
    } else {
        let mut body = Vec::new();
        let read = (&mut stream)
            .take(limits.max_body as u64 + 1)
            .read_to_end(&mut body)
            .await?;
        if read > limits.max_body {
            return Err(HttpError::TooLarge(limits.max_body));
        }
        body
    };
    Ok(Response {
        status: head.status,
        body,
    })
}

/// `GET url` for the `len` bytes at `start` (`Range: bytes=start-(start+len-1)`). A server
/// that ignores ranges answers 200 with the whole file: its body is read up to the range and
/// the rest is left unread (the connection is dropped).
pub async fn get_range(
    url: &str,
    start: u64,
    len: u64,
    timeout: Duration,
) -> Result<Vec<u8>, HttpError> {
    let url = Url::parse(url)?;
    match tokio::time::timeout(timeout, range_exchange(&url, start, len)).await {
        Ok(result) => result,
        Err(_) => Err(HttpError::TimedOut),
    }
}

async fn range_exchange(url: &Url, start: u64, len: u64) -> Result<Vec<u8>, HttpError> {
    if len == 0 {
        return Ok(Vec::new());
    }
    let want = usize::try_from(len).map_err(|_| HttpError::TooLarge(usize::MAX))?;
    let (mut stream, head) = send_get(url, Some((start, start + len - 1))).await?;
    let (status, chunked) = (head.status, head.chunked);
    let skip = match status {
        206 => 0,
        200 => start,
        s => return Err(HttpError::Status(s)),
    };
    if chunked {
        // Rare for files; bounded by the range's end.
        let end = usize::try_from(skip + len).map_err(|_| HttpError::TooLarge(usize::MAX))?;
        let body = read_chunked(&mut stream, end).await?;
        return body
            .get(skip as usize..end)
            .map(<[u8]>::to_vec)
            .ok_or(HttpError::Malformed("body shorter than the range"));
    }
    let mut sink = (&mut stream).take(skip);
    let skipped = tokio::io::copy(&mut sink, &mut tokio::io::sink()).await?;
    if skipped != skip {
        return Err(HttpError::Malformed("body shorter than the range"));
    }
    let mut body = vec![0; want];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Reads a status line or request line and headers, up to the blank line.
async fn read_head<R: AsyncBufReadExt + Unpin>(stream: &mut R) -> Result<String, HttpError> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = stream
            .take((MAX_HEAD + 2 - before) as u64)
            .read_until(b'\n', &mut head)
            .await?;
        if n == 0 {
            return Err(HttpError::Malformed("connection closed in the headers"));
        }
        if head.len() > MAX_HEAD {
            return Err(HttpError::Malformed("headers too long"));
        }
        if head[before..] == *b"\r\n" || head[before..] == *b"\n" {
            break;
        }
    }
    String::from_utf8(head).map_err(|_| HttpError::Malformed("headers not UTF-8"))
}

async fn read_chunked<R: AsyncBufReadExt + Unpin>(
    stream: &mut R,
    max: usize,
) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        stream.take(1024).read_until(b'\n', &mut line).await?;
        let text = std::str::from_utf8(&line).map_err(|_| HttpError::Malformed("chunk size"))?;
        let size = text.trim().split(';').next().unwrap_or("");
        let size =
            usize::from_str_radix(size, 16).map_err(|_| HttpError::Malformed("chunk size"))?;
        if size == 0 {
            return Ok(body);
        }
        if body.len() + size > max {
            return Err(HttpError::TooLarge(max));
        }
        let start = body.len();
        body.resize(start + size, 0);
        stream.read_exact(&mut body[start..]).await?;
        let mut crlf = [0; 2];
        stream.read_exact(&mut crlf).await?;
    }
}

/// A request a server received: its method and target (headers are read and dropped, except
/// `Range`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The request target (`/announce?…`).
    pub target: String,
    /// The `Range` header's value, if any.
    pub range: Option<String>,
}

/// Reads one request's head from a server connection; `None` at a clean end of stream.
pub async fn read_request<R: AsyncBufReadExt + Unpin>(
    stream: &mut R,
) -> Result<Option<Request>, HttpError> {
    let head = match read_head(stream).await {
        Ok(head) => head,
        Err(HttpError::Malformed("connection closed in the headers")) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(HttpError::Malformed("bad request line"));
    };
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("range"))
        .map(|(_, v)| v.trim().to_string());
    Ok(Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        range,
    }))
}

/// Writes a whole response with a body.
pub async fn write_response<W: AsyncWriteExt + Unpin>(
    stream: &mut W,
    status: u16,
    content_type: &str,
    extra_headers: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.flush().await
}

/// The address a URL's host resolves to first (for UDP trackers).
pub async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_ports_paths_and_ipv6_hosts() {
        let u = Url::parse("http://127.0.0.1:6969/announce?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("127.0.0.1", 6969, "/announce?x=1")
        );
        let u = Url::parse("http://[::1]:8000/a").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8000));
        assert_eq!(u.host_header(), "[::1]:8000");
        let u = Url::parse("http://example.org").unwrap();
        assert_eq!((u.port, u.target.as_str()), (80, "/"));
        let u = Url::parse("http://example.org?a=b#frag").unwrap();
        assert_eq!(u.target, "/?a=b");
        for bad in [
            "https://a/b",
            "udp://a:1",
            "http://:80/",
            "http://a:0/",
            "http://a:x/",
            "http://u@a/",
            "http://[::1/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_get_reads_length_chunked_and_close_delimited_bodies_within_limits() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answers: Vec<&'static [u8]> = vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\n\r\nuntil close",
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
            b"garbage\r\n\r\n",
        ];
        let n = answers.len();
        tokio::spawn(async move {
            for answer in answers {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut r = BufReader::new(&mut s);
                let req = read_request(&mut r).await.unwrap().unwrap();
                assert_eq!(req.method, "GET");
                s.write_all(answer).await.unwrap();
            }
        });
        let url = format!("http://{addr}/x");
        let limits = Limits {
            max_body: 1000,
            ..Limits::default()
        };
        let mut results = Vec::new();
        for _ in 0..n {
            results.push(get(&url, None, &limits).await);
        }
        assert_eq!(results[0].as_ref().unwrap().body, b"hello");
        assert_eq!(results[1].as_ref().unwrap().body, b"abcde");
        assert_eq!(results[2].as_ref().unwrap().body, b"until close");
        assert!(matches!(results[3], Err(HttpError::Status(404))));
        assert!(matches!(results[4], Err(HttpError::TooLarge(1000))));
        assert!(matches!(results[5], Err(HttpError::Malformed(_))));
    }
}
