//! From bytes to a validated [`Metainfo`]: the top level and the `info` dictionary. The file
//! lists are in `files.rs`.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::files;
use super::{Limits, Metainfo, MetainfoError, Version};
use crate::bencode::{self, DecodeOptions, Dict, Kind, Mode, Value};
use crate::hash::InfoHashV1;
use crate::merkle;
use crate::path::lossy_utf8;

/// libtorrent's `file_storage::max_piece_size`: the picker handles at most 2^15 - 1 blocks.
const MAX_PIECE_LENGTH: i64 = ((1 << 15) - 1) * 0x4000;
/// libtorrent's `file_storage::max_num_pieces`.
const MAX_NUM_PIECES: u64 = (1 << 30) - 1;
/// BEP 52: 16 KiB blocks.
const BLOCK_SIZE: i64 = 0x4000;

pub(super) fn parse(bytes: &[u8], limits: &Limits) -> Result<Metainfo, MetainfoError> {
    let doc = decode(bytes, limits)?;
    let root = doc.root().as_dict().ok_or(MetainfoError::NotADictionary)?;
    let info = root
        .get(b"info")
        .filter(|v| v.as_dict().is_some())
        .ok_or(MetainfoError::MissingInfo)?;
    let mut meta = parse_info(info, limits)?;
    if meta.version != Version::V1 {
        // BEP 52: piece layers are optional (a torrent may leave them to peers), but the ones
        // present must be right.
        if let Some(layers) = root.get(b"piece layers").and_then(|v| v.as_dict()) {
            parse_piece_layers(layers, &mut meta)?;
        }
    }
    parse_top_level(root, &mut meta);
    Ok(meta)
}

pub(super) fn parse_info_only(info: &[u8], limits: &Limits) -> Result<Metainfo, MetainfoError> {
    let doc = decode(info, limits)?;
    if doc.root().as_dict().is_none() {
        return Err(MetainfoError::MissingInfo);
    }
    parse_info(doc.root(), limits)
}

fn decode<'a>(bytes: &'a [u8], limits: &Limits) -> Result<bencode::Document<'a>, MetainfoError> {
    if bytes.len() > limits.max_size {
        return Err(MetainfoError::TooLarge {
            size: bytes.len(),
            limit: limits.max_size,
        });
    }
    let options = DecodeOptions {
        mode: Mode::Lenient,
        limits: bencode::Limits {
            max_depth: limits.max_decode_depth,
            max_items: limits.max_decode_items,
            ..bencode::Limits::default()
        },
    };
    bencode::decode(bytes, &options).map_err(MetainfoError::Bencode)
}

/// The `info` dictionary: everything the info-hash covers.
fn parse_info(info: Value<'_>, limits: &Limits) -> Result<Metainfo, MetainfoError> {
    let dict = info.as_dict().ok_or(MetainfoError::MissingInfo)?;
    let meta_version = int(dict, b"meta version").unwrap_or(-1);
    if meta_version > 0 {
        // BEP 52 info dictionaries must be canonical; libtorrent calls anything else invalid
        // bencoding (unsorted or duplicate keys, leading zeros).
        info.check_canonical()
            .map_err(MetainfoError::NotCanonical)?;
        if meta_version > 2 {
            return Err(MetainfoError::UnknownVersion(meta_version));
        }
    }
    let is_v2 = meta_version == 2;

    let piece_length = int(dict, b"piece length").unwrap_or(-1);
    if piece_length <= 0 || piece_length > MAX_PIECE_LENGTH {
        return Err(MetainfoError::InvalidPieceLength);
    }
    // BEP 52: "It must be a power of two and at least 16KiB."
    if is_v2 && (piece_length < BLOCK_SIZE || piece_length & (piece_length - 1) != 0) {
        return Err(MetainfoError::InvalidPieceLength);
    }
    let piece_length = piece_length as u64;

    let name_value = dict
        .get(b"name.utf-8")
        .filter(|v| v.as_bytes().is_some())
        .or_else(|| dict.get(b"name").filter(|v| v.as_bytes().is_some()))
        .ok_or(MetainfoError::MissingName)?;
    let mut name_bytes = Vec::new();
    crate::path::append_element(
        &mut name_bytes,
        0,
        name_value.as_bytes().unwrap_or_default(),
    );
    // `append_element` appends UTF-8 only.
    let mut name = String::from_utf8(name_bytes).map_err(|_| MetainfoError::MissingName)?;
    if name.is_empty() {
        // libtorrent names such a torrent after its info-hash.
        name = crate::hash::encode_hex(&crate::hash::sha1(info.raw()));
    }

    let files_list = dict.get(b"files").filter(|v| v.as_list().is_some());
    let file_tree = dict.get(b"file tree").filter(|v| v.as_dict().is_some());
    let context = files::Context {
        piece_length,
        limits,
        root_dir: &name,
    };

    let mut v2_files = None;
    if is_v2 {
        let tree = file_tree.ok_or(MetainfoError::MissingFileTree)?;
        v2_files = Some(files::extract_v2(tree, files_list.is_some(), &context)?);
    } else if file_tree.is_some() {
        return Err(MetainfoError::MissingMetaVersion);
    }

    let v1_files = match files_list {
        Some(list) => Some(files::extract_v1_list(list, &context)?),
        None if !is_v2 || dict.get(b"length").is_some() => {
            Some(files::extract_v1_single(dict, &context)?)
        }
        None => None,
    };

    let (version, mut list) = match (v1_files, v2_files) {
        (Some(v1), None) => (Version::V1, v1),
        (None, Some(v2)) => (Version::V2, v2),
        (Some(v1), Some(mut v2)) => {
            // libtorrent 2.0.0–2.0.7 made hybrids without tail padding in the v1 list.
            if v2.files.len() == v1.files.len() + 1 {
                v2.remove_tail_padding();
            }
            if !v2.compatible_with(&v1) {
                return Err(MetainfoError::InconsistentFiles);
            }
            (Version::Hybrid, v2)
        }
        (None, None) => return Err(MetainfoError::NoFiles),
    };
    if list.files.is_empty() {
        return Err(MetainfoError::NoFiles);
    }
    if list.unnamed_file {
        return Err(MetainfoError::MissingName);
    }

    if list.total_size / piece_length > MAX_NUM_PIECES {
        return Err(MetainfoError::TooManyPieces);
    }
    let num_pieces = list.total_size.div_ceil(piece_length);
    if num_pieces > u64::from(limits.max_pieces) {
        return Err(MetainfoError::TooManyPieces);
    }
    let num_pieces = num_pieces as u32;

    let pieces_value = dict.get(b"pieces").filter(|v| v.as_bytes().is_some());
    let pieces = match pieces_value.and_then(|v| v.as_bytes()) {
        Some(p) => {
            let expected = u64::from(num_pieces) * 20;
            if p.len() as u64 != expected {
                return Err(MetainfoError::InvalidPieceHashes {
                    actual: p.len(),
                    expected,
                });
            }
            // Kept as a range of the info bytes: no second copy of the hashes.
            let span = pieces_value.map_or(0..0, |v| v.span());
            let end = span.end - info.span().start;
            end - p.len()..end
        }
        None if version == Version::V1 => return Err(MetainfoError::MissingPieces),
        None => 0..0,
    };
    if list.total_size == 0 {
        return Err(MetainfoError::InvalidLength);
    }

    list.resolve_duplicates(limits.max_duplicate_filenames)?;
    list.sanitize_symlinks();

    let mut similar = Vec::new();
    let mut collections = Vec::new();
    collect_bep38(dict, &mut similar, &mut collections);

    let files = list.files;
    Ok(Metainfo {
        info_bytes: info.raw().to_vec(),
        version,
        piece_length,
        total_size: list.total_size,
        num_pieces,
        paths: list.text,
        piece_layers: Vec::new(),
        files,
        pieces,
        private: int(dict, b"private").is_some_and(|p| p != 0),
        trackers: Vec::new(),
        web_seeds: Vec::new(),
        http_seeds: Vec::new(),
        comment: None,
        created_by: None,
        creation_date: None,
        similar,
        collections,
        dht_nodes: Vec::new(),
        info_hashes: OnceLock::new(),
    })
}

/// BEP 52 `piece layers`: a dictionary from `pieces root` to the concatenated hashes of that
/// file's pieces, for every file larger than one piece.
fn parse_piece_layers(layers: Dict<'_>, meta: &mut Metainfo) -> Result<(), MetainfoError> {
    let mut roots: HashMap<[u8; 32], Vec<usize>> = HashMap::new();
    for (i, f) in meta.files.iter().enumerate() {
        if let (Some(root), false) = (f.pieces_root, f.size <= meta.piece_length) {
            roots.entry(root).or_default().push(i);
        }
    }
    for (key, value) in layers.iter() {
        let (Ok(root), Some(bytes)) = (<[u8; 32]>::try_from(key), value.as_bytes()) else {
            return Err(MetainfoError::InvalidPieceLayer(
                "entry is not a 32-byte root and a string",
            ));
        };
        if bytes.len() % 32 != 0 {
            return Err(MetainfoError::InvalidPieceLayer(
                "length is not a multiple of 32",
            ));
        }
        // Each root is used once: a second layer for the same root is as unknown as a layer
        // for no file at all.
        let indices = roots.remove(&root).ok_or(MetainfoError::InvalidPieceLayer(
            "layer for a root that no file has",
        ))?;
        let file_size = meta.files[indices[0]].size;
        if bytes.len() as u64 != file_size.div_ceil(meta.piece_length) * 32 {
            return Err(MetainfoError::InvalidPieceLayer(
                "wrong number of hashes for the file",
            ));
        }
        let layer: Vec<[u8; 32]> = bytes
            .chunks_exact(32)
            .map(|h| {
                h.try_into()
                    .expect("chunks_exact(32) yields 32-byte chunks")
            })
            .collect();
        if merkle::root_from_piece_layer(&layer, meta.piece_length) != root {
            return Err(MetainfoError::InvalidPieceLayer(
                "layer does not hash to the file's root",
            ));
        }
        if meta.piece_layers.is_empty() {
            meta.piece_layers.resize(meta.files.len(), None);
        }
        for i in indices {
            meta.piece_layers[i] = Some(layer.clone());
        }
    }
    Ok(())
}

/// Everything outside `info`: trackers, web seeds, comments, nodes.
fn parse_top_level(root: Dict<'_>, meta: &mut Metainfo) {
    // BEP 12: announce-list tiers replace announce. Like libtorrent, skip non-list tiers and
    // empty URLs, and trim leading white space.
    if let Some(tiers) = root.get(b"announce-list").and_then(|v| v.as_list()) {
        for tier in tiers.iter().filter_map(|t| t.as_list()) {
            let urls: Vec<String> = tier
                .iter()
                .filter_map(|u| u.as_bytes())
                .map(|u| lossy_utf8(u).trim_start().to_owned())
                .filter(|u| !u.is_empty())
                .collect();
            if !urls.is_empty() {
                meta.trackers.push(urls);
            }
        }
    }
    if meta.trackers.is_empty()
        && let Some(url) = root.get(b"announce").and_then(|v| v.as_bytes())
    {
        let url = lossy_utf8(url).trim_start().to_owned();
        if !url.is_empty() {
            meta.trackers.push(vec![url]);
        }
    }

    // BEP 19: url-list is a string or a list of strings. For multi-file torrents the URL names
    // a folder, so it must end in '/'.
    let multi = meta.files.len() > 1;
    meta.web_seeds = url_list(root.get(b"url-list"), multi);
    // BEP 17 http seeds take the URL as given (no trailing slash rule).
    meta.http_seeds = url_list(root.get(b"httpseeds"), false);

    meta.comment = text(root, b"comment.utf-8").or_else(|| text(root, b"comment"));
    meta.created_by = text(root, b"created by.utf-8").or_else(|| text(root, b"created by"));
    meta.creation_date = int(root, b"creation date").filter(|d| *d >= 0);

    if let Some(nodes) = root.get(b"nodes").and_then(|v| v.as_list()) {
        for node in nodes.iter().filter_map(|n| n.as_list()) {
            let mut it = node.iter();
            if let (Some(host), Some(port)) = (it.next(), it.next())
                && let (Some(host), Some(port)) = (host.as_bytes(), port.as_int())
                && let Ok(port) = u16::try_from(port)
            {
                meta.dht_nodes.push((lossy_utf8(host), port));
            }
        }
    }
    // libtorrent also reads BEP 38 keys from the top level (where some creators put them).
    collect_bep38(root, &mut meta.similar, &mut meta.collections);
}

fn collect_bep38(dict: Dict<'_>, similar: &mut Vec<InfoHashV1>, collections: &mut Vec<String>) {
    if let Some(list) = dict.get(b"similar").and_then(|v| v.as_list()) {
        for hash in list.iter().filter_map(|v| v.as_bytes()) {
            if let Ok(h) = <[u8; 20]>::try_from(hash)
                && !similar.contains(&InfoHashV1(h))
            {
                similar.push(InfoHashV1(h));
            }
        }
    }
    if let Some(list) = dict.get(b"collections").and_then(|v| v.as_list()) {
        for c in list.iter().filter_map(|v| v.as_bytes()) {
            let c = lossy_utf8(c);
            if !collections.contains(&c) {
                collections.push(c);
            }
        }
    }
}

fn url_list(value: Option<Value<'_>>, folder: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |raw: &[u8]| {
        if raw.is_empty() {
            return;
        }
        let mut url = maybe_url_encode(&lossy_utf8(raw));
        if folder && !url.ends_with('/') {
            url.push('/');
        }
        if !out.contains(&url) {
            out.push(url);
        }
    };
    match value.map(|v| v.kind()) {
        Some(Kind::Bytes(b)) => push(b),
        Some(Kind::List(list)) => list.iter().filter_map(|v| v.as_bytes()).for_each(push),
        _ => {}
    }
    out
}

/// Percent-encodes the path of a URL if it holds characters that must be encoded (a space,
/// say), leaving well-formed URLs untouched — libtorrent's `maybe_url_encode`.
fn maybe_url_encode(url: &str) -> String {
    // Characters that may stand unencoded anywhere in a URL's path.
    fn fine(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"%+;?:@=&,$/-_!.~*()".contains(&b)
    }
    // Characters left unencoded when encoding a path.
    fn keep(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"/-_!.~*()".contains(&b)
    }
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let after = scheme_end + 3;
    let path_start = url[after..].find('/').map_or(url.len(), |i| after + i);
    let (head, path) = url.split_at(path_start);
    if head.len() == after || path.bytes().all(fine) {
        return url.to_owned();
    }
    let mut out = String::with_capacity(url.len() + 16);
    out.push_str(head);
    for b in path.bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn int(dict: Dict<'_>, key: &[u8]) -> Option<i64> {
    dict.get(key).and_then(|v| v.as_int())
}

fn text(dict: Dict<'_>, key: &[u8]) -> Option<String> {
    dict.get(key)
        .and_then(|v| v.as_bytes())
        .filter(|b| !b.is_empty())
        .map(lossy_utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_touches_only_urls_that_need_it() {
        assert_eq!(
            maybe_url_encode("http://test.com/file"),
            "http://test.com/file"
        );
        assert_eq!(
            maybe_url_encode("http://test.com/test file/foo bar/"),
            "http://test.com/test%20file/foo%20bar/"
        );
        assert_eq!(maybe_url_encode("not a url"), "not a url");
    }

    /// BEP 9: a client that fetched only the `info` dictionary from peers gets the same torrent
    /// (files, hashes) as from the `.torrent` file, minus what lives outside `info`.
    #[test]
    fn info_dictionary_alone_gives_the_same_torrent() {
        let torrent = b"d8:announce9:udp://t:14:infod5:filesld6:lengthi3e4:pathl1:aeed6:lengthi5e\
                        4:pathl3:sub1:beee4:name4:demo12:piece lengthi16384e6:pieces20:\
                        aaaaaaaaaaaaaaaaaaaa7:privatei1eee";
        let full = Metainfo::from_bytes(torrent).unwrap();
        let bare = Metainfo::from_info_bytes(full.info_bytes(), &Limits::default()).unwrap();
        assert_eq!(bare.info_hashes(), full.info_hashes());
        assert!(bare.files().eq(full.files()));
        assert!(bare.is_private());
        assert!(bare.trackers().is_empty() && !full.trackers().is_empty());
        // Not a dictionary: a clear error.
        assert_eq!(
            Metainfo::from_info_bytes(b"le", &Limits::default()).unwrap_err(),
            MetainfoError::MissingInfo
        );
    }

    /// Found by tests/metainfo_props.rs: a v2 single-file tree whose only key sanitizes to
    /// nothing gave a file with an empty path (the download folder itself).
    #[test]
    fn v2_file_named_dot_dot_is_rejected_not_written_at_the_folder() {
        let torrent = |key: &[u8]| {
            let mut t = b"d4:infod9:file treed".to_vec();
            t.extend(format!("{}:", key.len()).as_bytes());
            t.extend(key);
            t.extend(b"d0:d6:lengthi1e11:pieces root32:");
            t.extend([1u8; 32]);
            t.extend(b"eee12:meta versioni2e4:name1:x12:piece lengthi16384eee");
            t
        };
        for key in [&b".."[..], b"."] {
            let err = Metainfo::from_bytes(&torrent(key)).unwrap_err();
            assert_eq!(err, MetainfoError::MissingName, "{key:?}");
        }
        // A name that is only separators becomes "_", as with libtorrent.
        let meta = Metainfo::from_bytes(&torrent(b"/")).unwrap();
        assert_eq!(meta.file(0).unwrap().path, "_");
    }
}
