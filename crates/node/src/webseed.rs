//! HTTP web seeds (BEP 19, `url-list`): where each file of a torrent is on a web server, and
//! fetching a batch of blocks with range requests.
//!
//! BEP 19: for a single-file torrent the URL is the file's (a URL ending in `/` gets the
//! torrent's name appended); for a multi-file torrent it is the folder that holds the
//! torrent's folder: `URL/name/path/to/file`, each component percent-encoded. Pad files are
//! zeros and never fetched. A server that ignores `Range` still works (see
//! [`crate::http::get_range`]).

use std::time::Duration;

use bytes::Bytes;
use peer_wire::BlockRef;
use torrent_format::Metainfo;
use torrent_format::layout::Layout;

use crate::http::{self, HttpError};

/// How long one range request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One web seed of one torrent.
#[derive(Clone, Debug)]
pub struct WebSeed {
    /// The `url-list` entry.
    pub url: String,
    /// The URL of each file (`None` for pad files).
    files: Vec<Option<String>>,
    layout: Layout,
    piece_length: u64,
}

/// Why a fetch failed.
#[derive(Debug)]
pub struct FetchError {
    /// What went wrong.
    pub error: HttpError,
    /// The server does not have the file (404, 410): do not ask it again.
    pub permanent: bool,
}

impl WebSeed {
    /// The web seeds of `meta` that are `http://` URLs (others are skipped).
    pub fn all(meta: &Metainfo) -> Vec<Self> {
        meta.web_seeds()
            .iter()
            .filter(|u| u.starts_with("http://"))
            .map(|u| Self::new(meta, u))
            .collect()
    }

    /// A web seed at `url` for `meta`.
    pub fn new(meta: &Metainfo, url: &str) -> Self {
        let single = !meta.is_multi_file();
        let files = meta
            .files()
            .map(|f| {
                if f.attributes.pad {
                    return None;
                }
                if single {
                    return Some(if url.ends_with('/') {
                        format!("{url}{}", encode(meta.name()))
                    } else {
                        url.to_string()
                    });
                }
                // The path starts with the torrent's name: URL/name/path/to/file.
                let mut u = url.trim_end_matches('/').to_string();
                for part in f.path.split('/') {
                    u.push('/');
                    u.push_str(&encode(part));
                }
                Some(u)
            })
            .collect();
        Self {
            url: url.to_string(),
            files,
            layout: Layout::new(meta),
            piece_length: meta.piece_length(),
        }
    }

    /// Fetches `blocks` (in torrent order): one range request per contiguous run and file.
    pub async fn fetch(&self, blocks: &[BlockRef]) -> Result<Vec<(BlockRef, Bytes)>, FetchError> {
        let mut out = Vec::with_capacity(blocks.len());
        let mut i = 0;
        while i < blocks.len() {
            // A run of blocks that follow each other in the torrent's byte stream.
            let start = self.offset(blocks[i]);
            let mut end = start + u64::from(blocks[i].len);
            let mut j = i + 1;
            while j < blocks.len() && self.offset(blocks[j]) == end {
                end += u64::from(blocks[j].len);
                j += 1;
            }
            let data = self.fetch_range(start, end - start).await?;
            let mut at = 0usize;
            for &b in &blocks[i..j] {
                let len = b.len as usize;
                out.push((b, data.slice(at..at + len)));
                at += len;
            }
            i = j;
        }
        Ok(out)
    }

    fn offset(&self, b: BlockRef) -> u64 {
        u64::from(b.piece.0) * self.piece_length + u64::from(b.offset)
    }

    async fn fetch_range(&self, start: u64, len: u64) -> Result<Bytes, FetchError> {
        let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        for span in self.layout.spans(start, len) {
            let part = match self.files.get(span.file).and_then(Option::as_ref) {
                None => vec![0; usize::try_from(span.len).unwrap_or(0)],
                Some(url) => http::get_range(url, span.file_offset, span.len, REQUEST_TIMEOUT)
                    .await
                    .map_err(|error| FetchError {
                        permanent: matches!(error, HttpError::Status(404 | 410)),
                        error,
                    })?,
            };
            data.extend_from_slice(&part);
        }
        Ok(Bytes::from(data))
    }
}

/// Percent-encodes a path component (RFC 3986 unreserved characters stay).
fn encode(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    for &b in part.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
