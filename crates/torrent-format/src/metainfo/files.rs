//! File lists: v1 `length`/`files`, v2 `file tree`, their comparison in hybrids, and the
//! renaming of duplicate names — each following libtorrent so files land where libtorrent
//! puts them.

use std::collections::{HashMap, HashSet};

use super::{FileAttributes, FileEntry, Limits, MetainfoError};
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

/// Files laid end to end.
#[derive(Debug)]
pub(super) struct FileList {
    pub(super) files: Vec<FileEntry>,
    pub(super) total_size: u64,
    piece_length: u64,
    /// v2 layout: every file is followed by implied padding up to a piece boundary.
    v2: bool,
}

/// The torrent name libtorrent reports: the first file's top folder, or the file itself.
pub(super) fn torrent_name(files: &[FileEntry]) -> String {
    let first = files.first().map_or("", |f| f.path.as_str());
    first.split('/').next().unwrap_or(first).to_owned()
}

/// A single-file v1 torrent: the `info` dictionary itself describes the file.
pub(super) fn extract_v1_single(
    info: Dict<'_>,
    cx: &Context<'_>,
) -> Result<FileList, MetainfoError> {
    let mut list = FileList::new(cx.piece_length, false);
    let attributes = attributes(info);
    let size = v1_size(info, attributes)?;
    let name = info
        .get(b"name.utf-8")
        .and_then(|v| v.as_bytes())
        .or_else(|| info.get(b"name").and_then(|v| v.as_bytes()))
        .filter(|n| !n.is_empty())
        .ok_or(MetainfoError::MissingName)?;
    let mut path = String::new();
    append_element(&mut path, name);
    if path.is_empty() {
        return Err(MetainfoError::MissingName);
    }
    list.add_v1(info, path, size, attributes, cx)?;
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
    for entry in files.iter() {
        let entry = entry.as_dict().ok_or(MetainfoError::InvalidFileTree(
            "a 'files' entry is not a dictionary",
        ))?;
        let attributes = attributes(entry);
        let size = v1_size(entry, attributes)?;
        let elements = entry
            .get(b"path.utf-8")
            .and_then(|v| v.as_list())
            .or_else(|| entry.get(b"path").and_then(|v| v.as_list()))
            .filter(|l| !l.is_empty());
        let path = match elements {
            Some(elements) => {
                if elements.len() > cx.limits.max_directory_depth {
                    return Err(MetainfoError::DirectoryTooDeep);
                }
                let mut path = cx.root_dir.to_owned();
                let before = path.len();
                for element in elements.iter() {
                    let element = element.as_bytes().ok_or(MetainfoError::InvalidPath)?;
                    append_element(&mut path, element);
                }
                if path.len() == before {
                    // Every element was sanitized away; libtorrent names the file "_".
                    path.push_str("/_");
                }
                path
            }
            // BEP 47: pad files need no path; libtorrent files them under ".pad".
            None if attributes.pad => format!(".pad/{size}"),
            None => return Err(MetainfoError::MissingName),
        };
        list.add_v1(entry, path, size, attributes, cx)?;
    }
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
    walk_tree(tree, cx.root_dir, !has_files_list, 0, cx, &mut list)?;
    Ok(list)
}

fn walk_tree(
    tree: Dict<'_>,
    dir: &str,
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
        let mut path = if single_file {
            String::new()
        } else {
            dir.to_owned()
        };
        append_element(&mut path, name);
        if leaf {
            let (_, file) = node.iter().next().expect("leaf has exactly one entry");
            add_v2_file(file, path, cx, list)?;
        } else {
            if depth + 1 >= cx.limits.max_directory_depth {
                return Err(MetainfoError::DirectoryTooDeep);
            }
            walk_tree(node, &path, false, depth + 1, cx, list)?;
        }
    }
    Ok(())
}

fn add_v2_file(
    file: Value<'_>,
    path: String,
    cx: &Context<'_>,
    list: &mut FileList,
) -> Result<(), MetainfoError> {
    let file = file
        .as_dict()
        .ok_or(MetainfoError::InvalidFileTree("file is not a dictionary"))?;
    let attributes = attributes(file);
    // BEP 52 pads implicitly; an explicit pad file in a file tree is malformed.
    if attributes.pad {
        return Err(MetainfoError::InvalidPadFile);
    }
    let size = if attributes.symlink {
        0
    } else {
        file.get(b"length").and_then(|v| v.as_int()).unwrap_or(-1)
    };
    if size < 0 || size / 0x4000 >= (1 << 30) - 1 || size > MAX_FILE_SIZE {
        return Err(MetainfoError::InvalidLength);
    }
    let symlink_target = symlink_target(file, attributes, cx)?;
    let mut pieces_root = None;
    if symlink_target.is_none() && size > 0 {
        let root = file
            .get(b"pieces root")
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
    list.push(FileEntry {
        path,
        size: size as u64,
        offset: 0,
        attributes,
        symlink_target,
        mtime: file
            .get(b"mtime")
            .and_then(|v| v.as_int())
            .filter(|&t| t != 0),
        pieces_root,
    })
}

impl FileList {
    fn new(piece_length: u64, v2: bool) -> Self {
        Self {
            files: Vec::new(),
            total_size: 0,
            piece_length,
            v2,
        }
    }

    fn add_v1(
        &mut self,
        dict: Dict<'_>,
        path: String,
        size: u64,
        mut attributes: FileAttributes,
        cx: &Context<'_>,
    ) -> Result<(), MetainfoError> {
        if path.contains(BITCOMET_PAD) {
            attributes.pad = true;
        }
        let symlink_target = symlink_target(dict, attributes, cx)?;
        attributes.symlink = symlink_target.is_some();
        self.push(FileEntry {
            path,
            size,
            offset: 0,
            attributes,
            symlink_target,
            mtime: dict
                .get(b"mtime")
                .and_then(|v| v.as_int())
                .filter(|&t| t != 0),
            pieces_root: None,
        })
    }

    /// Appends a file at the current end, then (v2) the padding that brings the next file to a
    /// piece boundary.
    fn push(&mut self, mut file: FileEntry) -> Result<(), MetainfoError> {
        if MAX_FILE_OFFSET - self.total_size < file.size {
            return Err(MetainfoError::InvalidLength);
        }
        file.offset = self.total_size;
        self.total_size += file.size;
        self.files.push(file);
        let rem = self.total_size % self.piece_length;
        if self.v2 && rem != 0 {
            let pad = self.piece_length - rem;
            if self.total_size > MAX_FILE_OFFSET - pad {
                return Err(MetainfoError::InvalidLength);
            }
            // libtorrent names implied pad files "<torrent name>/.pad/<size>".
            let name = torrent_name(&self.files);
            self.files.push(FileEntry {
                path: format!("{name}/.pad/{pad}"),
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
            let relevant = |f: &FileEntry| !f.attributes.pad && f.size > 0;
            if relevant(a) != relevant(b) {
                return false;
            }
            !relevant(a)
                || (a.path == b.path
                    && a.size == b.size
                    && a.offset == b.offset
                    && (!a.attributes.symlink || a.symlink_target == b.symlink_target))
        })
    }

    /// Renames files whose paths collide (case-insensitively) with a folder or an earlier
    /// file: `name.ext` becomes `name.1.ext`, `name.2.ext`, … as libtorrent does, so two files
    /// never share one place on disk. Pad files of the same size may share a name.
    pub(super) fn resolve_duplicates(&mut self, max_renames: usize) -> Result<(), MetainfoError> {
        let root = torrent_name(&self.files);
        // The fast check: no file collides with a folder or another file. libtorrent leaves the
        // torrent's own folder out here (a file named like the torrent is not renamed unless
        // something else collides).
        let mut taken: HashSet<String> = HashSet::with_capacity(self.files.len() * 2);
        let mut collision = false;
        for f in &self.files {
            for dir in parent_dirs(&f.path, &root) {
                taken.insert(dir.to_ascii_lowercase());
            }
        }
        for f in &self.files {
            if !taken.insert(f.path.to_ascii_lowercase()) {
                collision = true;
                break;
            }
        }
        if !collision {
            return Ok(());
        }

        // The slow path: every folder, the torrent's own included, then files in order.
        let mut dirs: HashSet<String> = HashSet::new();
        for f in &self.files {
            for dir in parent_dirs(&f.path, &root) {
                dirs.insert(dir.to_ascii_lowercase());
            }
            if f.path
                .strip_prefix(root.as_str())
                .is_some_and(|rest| rest.strip_prefix('/').is_some_and(|r| !r.contains('/')))
            {
                dirs.insert(root.to_ascii_lowercase());
            }
        }
        // Files placed so far, by lower-case path: index of the file.
        let mut placed: HashMap<String, usize> = HashMap::with_capacity(self.files.len());
        let mut renames = 0usize;
        for i in 0..self.files.len() {
            let lower = self.files[i].path.to_ascii_lowercase();
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
            let (base, ext) = split_extension(&self.files[i].path);
            let (base, ext) = (base.to_owned(), ext.to_owned());
            let mut n = 0u64;
            loop {
                n += 1;
                let candidate = format!("{base}.{n}{ext}");
                let lower = candidate.to_ascii_lowercase();
                if !dirs.contains(&lower) && !placed.contains_key(&lower) {
                    placed.insert(lower, i);
                    self.files[i].path = candidate;
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
        let root = torrent_name(&self.files);
        let mut known: HashSet<String> = HashSet::new();
        for f in &self.files {
            known.insert(f.path.clone());
            for dir in parent_dirs(&f.path, &root) {
                known.insert(dir.to_owned());
            }
        }
        for f in &mut self.files {
            if let Some(target) = &f.symlink_target {
                if !known.contains(target) {
                    f.symlink_target = Some(f.path.clone());
                }
            }
        }
    }
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

fn attributes(dict: Dict<'_>) -> FileAttributes {
    let mut attributes = FileAttributes::default();
    if let Some(attr) = dict.get(b"attr").and_then(|v| v.as_bytes()) {
        for c in attr {
            match c {
                b'p' => attributes.pad = true,
                b'x' => attributes.executable = true,
                b'h' => attributes.hidden = true,
                b'l' => attributes.symlink = true,
                _ => {}
            }
        }
    }
    attributes
}

/// A v1 file's `length`; symlinks take no space.
fn v1_size(dict: Dict<'_>, attributes: FileAttributes) -> Result<u64, MetainfoError> {
    let size = if attributes.symlink {
        0
    } else {
        dict.get(b"length").and_then(|v| v.as_int()).unwrap_or(-1)
    };
    if size < 0 || size / 0x4000 >= i64::from(i32::MAX / 2) || size > MAX_FILE_SIZE {
        return Err(MetainfoError::InvalidLength);
    }
    Ok(size as u64)
}

/// BEP 47 `symlink path`, relative to the torrent's folder. `.` and `..` are dropped (BEP 47
/// forbids them) like every other unsafe element.
fn symlink_target(
    dict: Dict<'_>,
    attributes: FileAttributes,
    cx: &Context<'_>,
) -> Result<Option<String>, MetainfoError> {
    if !attributes.symlink {
        return Ok(None);
    }
    let Some(elements) = dict.get(b"symlink path").and_then(|v| v.as_list()) else {
        // Invalid per BEP 47; libtorrent treats the entry as a plain file.
        return Ok(None);
    };
    if elements.len() > cx.limits.max_directory_depth {
        return Err(MetainfoError::DirectoryTooDeep);
    }
    let mut target = cx.root_dir.to_owned();
    for element in elements.iter() {
        let element = element.as_bytes().ok_or(MetainfoError::InvalidPath)?;
        append_element(&mut target, element);
    }
    Ok(Some(target))
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
    fn extensions_split_at_the_last_dot_of_the_file_name() {
        assert_eq!(split_extension("t/foo/bar.txt"), ("t/foo/bar", ".txt"));
        assert_eq!(split_extension("t/f.d/bar"), ("t/f.d/bar", ""));
        assert_eq!(split_extension("t/_"), ("t/_", ""));
    }
}
