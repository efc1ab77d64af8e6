//! File lists: v1 `length`/`files`, v2 `file tree`, their comparison in hybrids, and the
//! renaming of duplicate names — each following libtorrent so files land where libtorrent
//! puts them.

use std::collections::{HashMap, HashSet};

use super::names::NameHashes;
use super::{FileAttributes, Limits, MetainfoError};
use crate::bencode::{Dict, Value};
use crate::path::append_element;

/// libtorrent's `file_storage::max_file_offset`.
const MAX_FILE_OFFSET: u64 = (1 << 48) - 1;
/// libtorrent's `file_storage::max_file_size`: its merkle trees index blocks with an `int`.
const MAX_FILE_SIZE: i64 = (i32::MAX as i64 / 2) * 0x4000;
/// Files whose path contains this are BitComet's pad files, whatever their attributes say.
const BITCOMET_PAD: &str = "_____padding_file_";

pub(super) struct Context<'a> {
    pub(super) piece_length: u64,
    pub(super) limits: &'a Limits,
    /// The sanitized torrent name: the folder multi-file torrents are written under.
    pub(super) root_dir: &'a str,
}

/// A byte range of a [`FileList`]'s path buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
}

/// A file as stored: its path and symlink target are spans of the list's path buffer, so a
/// torrent of ten thousand files keeps its paths in one allocation.
#[derive(Clone, Debug)]
pub(super) struct FileRecord {
    pub(super) path: Span,
    pub(super) size: u64,
    pub(super) offset: u64,
    pub(super) attributes: FileAttributes,
    pub(super) symlink_target: Option<Span>,
    pub(super) mtime: Option<i64>,
    pub(super) pieces_root: Option<[u8; 32]>,
}

/// Files laid end to end.
#[derive(Debug)]
pub(super) struct FileList {
    /// While the list is extracted: every path, back to back, as bytes that `append_element`
    /// keeps valid UTF-8. [`FileList::freeze`] checks that once and moves them to `text`.
    paths: Vec<u8>,
    /// After [`FileList::freeze`]: every path (plus a few abandoned by renames).
    pub(super) text: String,
    pub(super) files: Vec<FileRecord>,
    pub(super) total_size: u64,
    /// A single-file v2 tree whose only name sanitized to nothing (`..`): its file would have
    /// no path, naming the download folder itself. libtorrent calls that a missing name.
    pub(super) unnamed_file: bool,
    /// Hashes of every path and folder, for the fast duplicate check.
    names: NameHashes,
    piece_length: u64,
    /// v2 layout: every file is followed by implied padding up to a piece boundary.
    v2: bool,
}

/// The torrent name libtorrent reports: the first file's top folder, or the file itself.
pub(super) fn name_of(first_path: &str) -> &str {
    first_path.split('/').next().unwrap_or(first_path)
}

/// [`name_of`] for the bytes of a path under construction.
fn name_len(first_path: &[u8]) -> usize {
    first_path
        .iter()
        .position(|&b| b == b'/')
        .unwrap_or(first_path.len())
}

/// A single-file v1 torrent: the `info` dictionary itself describes the file.
pub(super) fn extract_v1_single(
    info: Dict<'_>,
    cx: &Context<'_>,
) -> Result<FileList, MetainfoError> {
    let mut list = FileList::new(cx.piece_length, false);
    let fields = Fields::of(info);
    let attributes = fields.attributes();
    let size = fields.v1_size(attributes)?;
    let name = info
        .get(b"name.utf-8")
        .and_then(|v| v.as_bytes())
        .or_else(|| info.get(b"name").and_then(|v| v.as_bytes()))
        .filter(|n| !n.is_empty())
        .ok_or(MetainfoError::MissingName)?;
    append_element(&mut list.paths, 0, name);
    if list.paths.is_empty() {
        return Err(MetainfoError::MissingName);
    }
    let path = list.span_from(0);
    list.add_v1(&fields, path, size, attributes, cx)?;
    list.freeze()?;
    Ok(list)
}

/// A multi-file v1 torrent: `files` is a list of `{length, path}` under the torrent's folder.
pub(super) fn extract_v1_list(
    files: Value<'_>,
    cx: &Context<'_>,
) -> Result<FileList, MetainfoError> {
    let files = files
        .as_list()
        .ok_or(MetainfoError::InvalidFileTree("'files' is not a list"))?;
    let mut list = FileList::new(cx.piece_length, false);
    list.files.reserve(files.len());
    list.names = NameHashes::with_capacity(files.len());
    for entry in files.iter() {
        let entry = entry.as_dict().ok_or(MetainfoError::InvalidFileTree(
            "a 'files' entry is not a dictionary",
        ))?;
        let fields = Fields::of(entry);
        let attributes = fields.attributes();
        let size = fields.v1_size(attributes)?;
        let elements = fields
            .path_utf8
            .and_then(|v| v.as_list())
            .or_else(|| fields.path.and_then(|v| v.as_list()))
            .filter(|l| !l.is_empty());
        let start = list.paths.len();
        match elements {
            Some(elements) => {
                if elements.len() > cx.limits.max_directory_depth {
                    return Err(MetainfoError::DirectoryTooDeep);
                }
                list.paths.extend_from_slice(cx.root_dir.as_bytes());
                let before = list.paths.len();
                for element in elements.iter() {
                    let element = element.as_bytes().ok_or(MetainfoError::InvalidPath)?;
                    append_element(&mut list.paths, start, element);
                }
                if list.paths.len() == before {
                    // Every element was sanitized away; libtorrent names the file "_".
                    list.paths.extend_from_slice(b"/_");
                }
            }
            // BEP 47: pad files need no path; libtorrent files them under ".pad".
            None if attributes.pad => {
                list.paths
                    .extend_from_slice(format!(".pad/{size}").as_bytes());
            }
            None => return Err(MetainfoError::MissingName),
        }
        let path = list.span_from(start);
        list.add_v1(&fields, path, size, attributes, cx)?;
    }
    list.freeze()?;
    Ok(list)
}

/// A v2 `file tree` (BEP 52): nested dictionaries of path elements; a file is a dictionary
/// with a single empty key whose value holds `length` and `pieces root`.
pub(super) fn extract_v2(
    tree: Value<'_>,
    has_files_list: bool,
    cx: &Context<'_>,
) -> Result<FileList, MetainfoError> {
    let mut list = FileList::new(cx.piece_length, true);
    let tree = tree
        .as_dict()
        .ok_or(MetainfoError::InvalidFileTree("not a dictionary"))?;
    walk_tree(
        tree,
        cx.root_dir.as_bytes(),
        !has_files_list,
        0,
        cx,
        &mut list,
    )?;
    list.freeze()?;
    Ok(list)
}

fn walk_tree(
    tree: Dict<'_>,
    dir: &[u8],
    top_level: bool,
    depth: usize,
    cx: &Context<'_>,
    list: &mut FileList,
) -> Result<(), MetainfoError> {
    for (key, value) in tree.iter() {
        let node = value
            .as_dict()
            .ok_or(MetainfoError::InvalidFileTree("entry is not a dictionary"))?;
        if key.is_empty() {
            return Err(MetainfoError::InvalidFileTree("empty file name"));
        }
        // libtorrent strips leading separators before sanitizing.
        let name = trim_leading_slashes(key);
        let leaf = node.len() == 1 && node.iter().next().is_some_and(|(k, _)| k.is_empty());
        // A torrent of one file at the root of its tree is a single-file torrent: the file is
        // not put in a folder.
        let single_file = leaf && top_level && tree.len() == 1;
        let start = list.paths.len();
        if !single_file {
            list.paths.extend_from_slice(dir);
        }
        append_element(&mut list.paths, start, name);
        list.unnamed_file |= list.paths.len() == start;
        if leaf {
            let (_, file) = node.iter().next().expect("leaf has exactly one entry");
            let path = list.span_from(start);
            add_v2_file(file, path, cx, list)?;
        } else {
            if depth + 1 >= cx.limits.max_directory_depth {
                return Err(MetainfoError::DirectoryTooDeep);
            }
            // A folder's path is not kept in the buffer; its files copy it.
            let sub = list.paths[start..].to_owned();
            list.paths.truncate(start);
            walk_tree(node, &sub, false, depth + 1, cx, list)?;
        }
    }
    Ok(())
}

fn add_v2_file(
    file: Value<'_>,
    path: Span,
    cx: &Context<'_>,
    list: &mut FileList,
) -> Result<(), MetainfoError> {
    let file = file
        .as_dict()
        .ok_or(MetainfoError::InvalidFileTree("file is not a dictionary"))?;
    let fields = Fields::of(file);
    let attributes = fields.attributes();
    // BEP 52 pads implicitly; an explicit pad file in a file tree is malformed.
    if attributes.pad {
        return Err(MetainfoError::InvalidPadFile);
    }
    let size = if attributes.symlink {
        0
    } else {
        fields.length.and_then(|v| v.as_int()).unwrap_or(-1)
    };
    if size < 0 || size / 0x4000 >= (1 << 30) - 1 || size > MAX_FILE_SIZE {
        return Err(MetainfoError::InvalidLength);
    }
    let symlink_target = fields.symlink_target(attributes, cx, &mut list.paths)?;
    let mut pieces_root = None;
    if symlink_target.is_none() && size > 0 {
        let root = fields
            .pieces_root
            .and_then(|v| v.as_bytes())
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .filter(|r| r != &[0; 32])
            .ok_or(MetainfoError::MissingPiecesRoot)?;
        pieces_root = Some(root);
    }
    let attributes = FileAttributes {
        symlink: symlink_target.is_some(),
        ..attributes
    };
    list.push(FileRecord {
        path,
        size: size as u64,
        offset: 0,
        attributes,
        symlink_target,
        mtime: fields.mtime(),
        pieces_root,
    })
}

impl FileList {
    fn new(piece_length: u64, v2: bool) -> Self {
        Self {
            paths: Vec::new(),
            text: String::new(),
            unnamed_file: false,
            names: NameHashes::default(),
            files: Vec::new(),
            total_size: 0,
            piece_length,
            v2,
        }
    }

    /// A path's text.
    pub(super) fn path(&self, span: Span) -> &str {
        &self.text[span.start..span.end]
    }

    /// Ends extraction: checks once that the path bytes are UTF-8 (`append_element` only
    /// appends UTF-8, so this cannot fail unless that invariant breaks; it is an error, not a
    /// panic, all the same).
    fn freeze(&mut self) -> Result<(), MetainfoError> {
        // SIMD validation and a copy cost a fraction of `String::from_utf8`'s byte-wise check
        // of text with many non-ASCII names.
        let text =
            simdutf8::basic::from_utf8(&self.paths).map_err(|_| MetainfoError::InvalidPath)?;
        self.text = text.to_owned();
        self.paths = Vec::new();
        Ok(())
    }

    /// The path from `start` to the end of the buffer.
    fn span_from(&self, start: usize) -> Span {
        Span {
            start,
            end: self.paths.len(),
        }
    }

    /// A path's text in the new list (after [`FileList::freeze`]), for renames.
    fn push_text(&mut self, path: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(path);
        Span {
            start,
            end: self.text.len(),
        }
    }

    /// The torrent name libtorrent reports: the first file's top folder, or the file itself.
    pub(super) fn name(&self) -> &str {
        self.files
            .first()
            .map_or("", |f| name_of(self.path(f.path)))
    }

    fn add_v1(
        &mut self,
        fields: &Fields<'_>,
        path: Span,
        size: u64,
        mut attributes: FileAttributes,
        cx: &Context<'_>,
    ) -> Result<(), MetainfoError> {
        if has_bitcomet_pad(&self.paths[path.start..path.end]) {
            attributes.pad = true;
        }
        let symlink_target = fields.symlink_target(attributes, cx, &mut self.paths)?;
        attributes.symlink = symlink_target.is_some();
        self.push(FileRecord {
            path,
            size,
            offset: 0,
            attributes,
            symlink_target,
            mtime: fields.mtime(),
            pieces_root: None,
        })
    }

    /// Appends a file at the current end, then (v2) the padding that brings the next file to a
    /// piece boundary.
    fn push(&mut self, mut file: FileRecord) -> Result<(), MetainfoError> {
        if MAX_FILE_OFFSET - self.total_size < file.size {
            return Err(MetainfoError::InvalidLength);
        }
        file.offset = self.total_size;
        self.total_size += file.size;
        self.names.add(&self.paths[file.path.start..file.path.end]);
        self.files.push(file);
        let rem = self.total_size % self.piece_length;
        if self.v2 && rem != 0 {
            let pad = self.piece_length - rem;
            if self.total_size > MAX_FILE_OFFSET - pad {
                return Err(MetainfoError::InvalidLength);
            }
            // libtorrent names implied pad files "<torrent name>/.pad/<size>".
            let first = self.files[0].path;
            let name = name_len(&self.paths[first.start..first.end]);
            let start = self.paths.len();
            self.paths
                .extend_from_within(first.start..first.start + name);
            self.paths
                .extend_from_slice(format!("/.pad/{pad}").as_bytes());
            let path = self.span_from(start);
            self.names.add(&self.paths[path.start..path.end]);
            self.files.push(FileRecord {
                path,
                size: pad,
                offset: self.total_size,
                attributes: FileAttributes {
                    pad: true,
                    ..FileAttributes::default()
                },
                symlink_target: None,
                mtime: None,
                pieces_root: None,
            });
            self.total_size += pad;
        }
        Ok(())
    }

    /// Removes the padding after the last non-empty file (hybrids made by libtorrent
    /// 2.0.0–2.0.7 have none in their v1 list).
    pub(super) fn remove_tail_padding(&mut self) {
        let Some(last) = self.files.iter().rposition(|f| f.size > 0) else {
            return;
        };
        if !self.files[last].attributes.pad {
            return;
        }
        let pad = self.files.remove(last);
        self.names.remove(last);
        self.total_size -= pad.size;
        for f in &mut self.files[last..] {
            f.offset = self.total_size;
        }
    }

    /// Whether a hybrid's v1 list describes the same files as its v2 tree: same count and
    /// total, and every non-empty, non-pad file at the same index, path, size and offset.
    pub(super) fn compatible_with(&self, v1: &Self) -> bool {
        if self.files.len() != v1.files.len() || self.total_size != v1.total_size {
            return false;
        }
        self.files.iter().zip(&v1.files).all(|(a, b)| {
            let relevant = |f: &FileRecord| !f.attributes.pad && f.size > 0;
            if relevant(a) != relevant(b) {
                return false;
            }
            fn target<'l>(list: &'l FileList, f: &FileRecord) -> Option<&'l str> {
                f.symlink_target.map(|t| list.path(t))
            }
            !relevant(a)
                || (self.path(a.path) == v1.path(b.path)
                    && a.size == b.size
                    && a.offset == b.offset
                    && (!a.attributes.symlink || target(self, a) == target(v1, b)))
        })
    }

    /// Renames files whose paths collide (case-insensitively) with a folder or an earlier
    /// file: `name.ext` becomes `name.1.ext`, `name.2.ext`, … as libtorrent does, so two files
    /// never share one place on disk. Pad files of the same size may share a name.
    pub(super) fn resolve_duplicates(&mut self, max_renames: usize) -> Result<(), MetainfoError> {
        let root = self.name().to_owned();
        // The fast check, on hashes gathered while the paths were built (see `names.rs`).
        if std::mem::take(&mut self.names).all_distinct() {
            return Ok(());
        }

        // The torrent's own folder is a folder too. libtorrent's fast check leaves it out, so it
        // keeps a file named like the torrent beside the torrent's folder, which no filesystem
        // can hold; we rename such a file (conformance/expectations.json).
        // (Pad files are never written, so they make no folder: a single-file v2 torrent's
        // implied padding is named `<file>/.pad/<size>`.)
        let root_prefix = format!("{root}/");
        let root_is_folder = self
            .files
            .iter()
            .any(|f| !f.attributes.pad && self.path(f.path).starts_with(&root_prefix));

        // The slow path: every folder, the torrent's own included, then files in order.
        let mut dirs: HashSet<String> = HashSet::new();
        for f in &self.files {
            let path = self.path(f.path);
            for dir in parent_dirs(path, &root) {
                dirs.insert(dir.to_ascii_lowercase());
            }
            if root_is_folder {
                dirs.insert(root.to_ascii_lowercase());
            }
        }
        // Files placed so far, by lower-case path: index of the file.
        let mut placed: HashMap<String, usize> = HashMap::with_capacity(self.files.len());
        let mut renames = 0usize;
        for i in 0..self.files.len() {
            let lower = self.path(self.files[i].path).to_ascii_lowercase();
            let other = placed.get(&lower).copied();
            if !dirs.contains(&lower) && other.is_none() {
                placed.insert(lower, i);
                continue;
            }
            if let Some(j) = other {
                let (a, b) = (&self.files[i], &self.files[j]);
                if a.attributes.pad && b.attributes.pad && a.size == b.size {
                    continue;
                }
            }
            let (base, ext) = split_extension(self.path(self.files[i].path));
            let (base, ext) = (base.to_owned(), ext.to_owned());
            let mut n = 0u64;
            loop {
                n += 1;
                let candidate = format!("{base}.{n}{ext}");
                let lower = candidate.to_ascii_lowercase();
                if !dirs.contains(&lower) && !placed.contains_key(&lower) {
                    placed.insert(lower, i);
                    self.files[i].path = self.push_text(&candidate);
                    break;
                }
                renames += 1;
                if renames > max_renames {
                    return Err(MetainfoError::TooManyDuplicateFilenames);
                }
            }
        }
        Ok(())
    }

    /// A symlink must point inside the torrent; one that points elsewhere (or at nothing) is
    /// made to point at itself, as libtorrent does.
    pub(super) fn sanitize_symlinks(&mut self) {
        if !self.files.iter().any(|f| f.attributes.symlink) {
            return;
        }
        let root = self.name();
        let mut known: HashSet<&str> = HashSet::new();
        for f in &self.files {
            let path = self.path(f.path);
            known.insert(path);
            known.extend(parent_dirs(path, root));
        }
        let dangling: Vec<usize> = (0..self.files.len())
            .filter(|&i| {
                self.files[i]
                    .symlink_target
                    .is_some_and(|t| !known.contains(self.path(t)))
            })
            .collect();
        for i in dangling {
            self.files[i].symlink_target = Some(self.files[i].path);
        }
    }
}

/// Whether a path contains BitComet's pad-file marker. A plain scan: most paths have no `_` at
/// all, and building a substring searcher for each would cost more than the scan.
fn has_bitcomet_pad(path: &[u8]) -> bool {
    let marker = BITCOMET_PAD.as_bytes();
    // Most paths have no `_` at all. A branch-free fold over these short slices compiles to a
    // few vector compares, cheaper than memchr's setup.
    if !path.iter().fold(false, |found, &b| found | (b == b'_')) {
        return false;
    }
    // The marker starts with five underscores: look further only after a run of five.
    let mut run = 0;
    for (i, &b) in path.iter().enumerate() {
        run = if b == b'_' { run + 1 } else { 0 };
        if run >= 5 && path[i + 1 - 5..].starts_with(marker) {
            return true;
        }
    }
    false
}

/// The folders a file lies in, below the torrent's own folder: `t/a/b/f` gives `t/a`, `t/a/b`.
fn parent_dirs<'p>(path: &'p str, root: &str) -> impl Iterator<Item = &'p str> + 'p {
    let skip_root = path.strip_prefix(root).is_some_and(|r| r.starts_with('/'));
    let start = if skip_root { root.len() + 1 } else { 0 };
    let last = path.rfind('/').unwrap_or(0);
    path.match_indices('/')
        .map(|(i, _)| i)
        .filter(move |&i| i > start && i <= last)
        .map(move |i| &path[..i])
}

/// `dir/name.ext` → (`dir/name`, `.ext`); no extension → (`path`, ``).
fn split_extension(path: &str) -> (&str, &str) {
    let name_start = path.rfind('/').map_or(0, |i| i + 1);
    match path[name_start..].rfind('.') {
        Some(dot) => path.split_at(name_start + dot),
        None => (path, ""),
    }
}

fn trim_leading_slashes(mut name: &[u8]) -> &[u8] {
    while let [b'/', rest @ ..] = name {
        name = rest;
    }
    name
}

/// The keys of a file's dictionary, found in one pass (the first of repeated keys wins, as in
/// lookups).
#[derive(Default)]
struct Fields<'a> {
    length: Option<Value<'a>>,
    path: Option<Value<'a>>,
    path_utf8: Option<Value<'a>>,
    attr: Option<Value<'a>>,
    mtime: Option<Value<'a>>,
    symlink_path: Option<Value<'a>>,
    pieces_root: Option<Value<'a>>,
}

impl<'a> Fields<'a> {
    fn of(dict: Dict<'a>) -> Self {
        let mut f = Self::default();
        for (key, value) in dict.iter() {
            let slot = match key {
                b"length" => &mut f.length,
                b"path" => &mut f.path,
                b"path.utf-8" => &mut f.path_utf8,
                b"attr" => &mut f.attr,
                b"mtime" => &mut f.mtime,
                b"symlink path" => &mut f.symlink_path,
                b"pieces root" => &mut f.pieces_root,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        f
    }

    /// BEP 47 `attr`.
    fn attributes(&self) -> FileAttributes {
        let mut attributes = FileAttributes::default();
        for c in self.attr.and_then(|v| v.as_bytes()).unwrap_or_default() {
            match c {
                b'p' => attributes.pad = true,
                b'x' => attributes.executable = true,
                b'h' => attributes.hidden = true,
                b'l' => attributes.symlink = true,
                _ => {}
            }
        }
        attributes
    }

    fn mtime(&self) -> Option<i64> {
        self.mtime.and_then(|v| v.as_int()).filter(|&t| t != 0)
    }

    /// A v1 file's `length`; symlinks take no space.
    fn v1_size(&self, attributes: FileAttributes) -> Result<u64, MetainfoError> {
        let size = if attributes.symlink {
            0
        } else {
            self.length.and_then(|v| v.as_int()).unwrap_or(-1)
        };
        if size < 0 || size / 0x4000 >= i64::from(i32::MAX / 2) || size > MAX_FILE_SIZE {
            return Err(MetainfoError::InvalidLength);
        }
        Ok(size as u64)
    }

    /// BEP 47 `symlink path`, relative to the torrent's folder. `.` and `..` are dropped (BEP 47
    /// forbids them) like every other unsafe element.
    fn symlink_target(
        &self,
        attributes: FileAttributes,
        cx: &Context<'_>,
        paths: &mut Vec<u8>,
    ) -> Result<Option<Span>, MetainfoError> {
        if !attributes.symlink {
            return Ok(None);
        }
        let Some(elements) = self.symlink_path.and_then(|v| v.as_list()) else {
            // Invalid per BEP 47; libtorrent treats the entry as a plain file.
            return Ok(None);
        };
        if elements.len() > cx.limits.max_directory_depth {
            return Err(MetainfoError::DirectoryTooDeep);
        }
        let start = paths.len();
        paths.extend_from_slice(cx.root_dir.as_bytes());
        for element in elements.iter() {
            let element = element.as_bytes().ok_or(MetainfoError::InvalidPath)?;
            append_element(paths, start, element);
        }
        Ok(Some(Span {
            start,
            end: paths.len(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_dirs_lists_folders_below_the_root() {
        let dirs: Vec<_> = parent_dirs("t/a/b/f", "t").collect();
        assert_eq!(dirs, ["t/a", "t/a/b"]);
        assert_eq!(parent_dirs("t/f", "t").count(), 0);
        assert_eq!(parent_dirs("t", "t").count(), 0);
        let pad: Vec<_> = parent_dirs(".pad/12", "t").collect();
        assert_eq!(pad, [".pad"]);
    }

    #[test]
    fn bitcomet_pad_marker_is_found_anywhere_in_a_path() {
        assert!(has_bitcomet_pad(b"t/_____padding_file_0_x"));
        assert!(has_bitcomet_pad(b"t/a_______padding_file_"));
        assert!(!has_bitcomet_pad(b"t/____padding_file_"));
        assert!(!has_bitcomet_pad(b"t/a_b_c.txt"));
    }

    #[test]
    fn extensions_split_at_the_last_dot_of_the_file_name() {
        assert_eq!(split_extension("t/foo/bar.txt"), ("t/foo/bar", ".txt"));
        assert_eq!(split_extension("t/f.d/bar"), ("t/f.d/bar", ""));
        assert_eq!(split_extension("t/_"), ("t/_", ""));
    }
}
