//! A minimal HTTP/1.1 client for the loopback control APIs of external clients (Transmission's
//! RPC, qBittorrent's Web API): one request per connection (`Connection: close`), a reply read
//! by `Content-Length`, by chunks or to the end of the stream.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A reply: status code, headers (names lowercased) and body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// The first header named `name` (lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, for error messages.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request to `addr` and reads the whole reply; any failure as text.
pub(crate) fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Reply, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("{addr}: sending {method} {path}: {e}"))?;
    let mut raw = Vec::new();
    // The server closes after the reply (`Connection: close`); a reply that says its length is
    // complete before that, so stop there rather than wait for the close.
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(reply) = parse(&raw)? {
            return Ok(reply);
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{addr}: reading the reply to {method} {path}: {e}")),
        }
    }
    parse_to_end(&raw).ok_or_else(|| {
        format!(
            "{addr}: a truncated reply to {method} {path}: {:?}",
            String::from_utf8_lossy(&raw)
        )
    })
}

/// `multipart/form-data` with these parts, each `(name, file name, bytes)`; returns the body
/// and its `Content-Type`.
pub(crate) fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (Vec<u8>, String) {
    const BOUNDARY: &str = "----peercdn-test-boundary-7f3a9c";
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={BOUNDARY}"))
}

/// `application/x-www-form-urlencoded` of these pairs.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-escapes everything but RFC 3986's unreserved characters.
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The reply in `raw` if it is complete by its own framing (`Content-Length` or chunks);
/// `None` while more is needed or when only the end of the stream can tell.
fn parse(raw: &[u8]) -> Result<Option<Reply>, String> {
    let Some((status, headers, body_at)) = parse_head(raw)? else {
        return Ok(None);
    };
    let body = &raw[body_at..];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        match dechunk(body)? {
            Some(body) => body,
            None => return Ok(None),
        }
    } else if let Some(len) = header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| format!("a bad Content-Length: {len}"))?;
        if body.len() < len {
            return Ok(None);
        }
        body[..len].to_vec()
    } else if status == 204 || status == 304 {
        Vec::new()
    } else {
        return Ok(None);
    };
    Ok(Some(Reply {
        status,
        headers,
        body,
    }))
}

/// The reply in `raw` once the stream has ended: the body is whatever followed the head.
fn parse_to_end(raw: &[u8]) -> Option<Reply> {
    if let Ok(Some(reply)) = parse(raw) {
        return Some(reply);
    }
    let (status, headers, body_at) = parse_head(raw).ok()??;
    Some(Reply {
        status,
        headers,
        body: raw[body_at..].to_vec(),
    })
}

/// Status, headers and where the body starts, once the whole head is in.
#[allow(clippy::type_complexity)]
fn parse_head(raw: &[u8]) -> Result<Option<(u16, Vec<(String, String)>, usize)>, String> {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("a bad status line: {status_line:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Some((status, headers, end + 4)))
}

/// A chunked body, once its last chunk is in.
fn dechunk(mut raw: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&raw[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("a bad chunk size: {size_text:?}"))?;
        let data = eol + 2;
        if size == 0 {
            return Ok(Some(body));
        }
        if raw.len() < data + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&raw[data..data + size]);
        raw = &raw[data + size + 2..];
    }
}

const IO_TIMEOUT: Duration = Duration::from_secs(10);
