//! The torrent's files on disk: where they go (never outside the download folder), creating
//! them sparse, and a bounded cache of open handles.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use torrent_format::Metainfo;

use super::Mode;
use super::error::{Op, StorageError};
use super::resume::RESUME_DIR;

/// What [`Storage::open`](super::Storage::open) found at a file's path before it touched
/// anything: the evidence resume decisions rest on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Found {
    /// A pad file, a symlink entry or an empty file: holds no bytes of the torrent on disk.
    NoData,
    /// Nothing at the path.
    Missing,
    /// A file of this many bytes.
    Len(u64),
}

/// Joins a torrent file path (components separated by `/`) under `root`, checking again what
/// the metainfo parser guarantees: every component is a plain name, so the result is inside
/// `root`. A torrent path under [`RESUME_DIR`] is refused too.
pub(super) fn safe_join(root: &Path, torrent_path: &str) -> Result<PathBuf, StorageError> {
    let unsafe_path = || StorageError::UnsafePath {
        path: torrent_path.to_owned(),
    };
    let mut path = root.to_path_buf();
    for (i, c) in torrent_path.split('/').enumerate() {
        // A component must be exactly one `Normal` path component: not empty, `.`, `..` or a
        // root, and without a separator or NUL.
        let mut parts = Path::new(c).components();
        let plain = matches!(parts.next(), Some(Component::Normal(n)) if n == c)
            && parts.next().is_none()
            && !c.contains(['/', '\\', '\0']);
        if !plain {
            return Err(unsafe_path());
        }
        if i == 0 && c == RESUME_DIR {
            return Err(StorageError::ReservedPath {
                path: torrent_path.to_owned(),
            });
        }
        path.push(c);
    }
    if path == root {
        return Err(unsafe_path());
    }
    Ok(path)
}

/// The on-disk path of every file of the torrent (pad files included, never created).
pub(super) fn file_paths(meta: &Metainfo, root: &Path) -> Result<Vec<PathBuf>, StorageError> {
    meta.files().map(|f| safe_join(root, f.path)).collect()
}

/// Creates (download) or checks (seed) the files, and reports what was there before. Folders
/// and files created here are listed in `created_in`: the folders whose entries changed and
/// must be synced before resume state may claim anything about their files.
pub(super) fn prepare(
    meta: &Metainfo,
    root: &Path,
    paths: &[PathBuf],
    mode: Mode,
    created_in: &mut BTreeSet<PathBuf>,
) -> Result<Vec<Found>, StorageError> {
    let mut dirs = DirMaker {
        known: HashSet::new(),
        created_in,
    };
    if mode == Mode::Download {
        dirs.ensure(root)?;
    }
    let mut found = Vec::with_capacity(paths.len());
    for (file, path) in meta.files().zip(paths) {
        // Pad files are never written; symlink entries are not created (see the module docs).
        if file.attributes.pad || file.attributes.symlink {
            found.push(Found::NoData);
            continue;
        }
        let before = match fs::metadata(path) {
            Ok(m) => Found::Len(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Found::Missing,
            Err(e) => return Err(StorageError::io(Op::Stat, path, e)),
        };
        match mode {
            Mode::Seed => match before {
                _ if file.size == 0 => {}
                Found::Missing => {
                    return Err(StorageError::MissingFile { path: path.clone() });
                }
                Found::Len(actual) if actual < file.size => {
                    return Err(StorageError::ShortFile {
                        path: path.clone(),
                        expected: file.size,
                        actual,
                    });
                }
                _ => {}
            },
            Mode::Download => {
                if let Some(parent) = path.parent() {
                    dirs.ensure(parent)?;
                }
                let handle = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(|e| StorageError::io(Op::Open, path, e))?;
                if before == Found::Missing
                    && let Some(parent) = path.parent()
                {
                    dirs.created_in.insert(parent.to_path_buf());
                }
                let meta = handle
                    .metadata()
                    .map_err(|e| StorageError::io(Op::Stat, path, e))?;
                // Sparse: the file gets its length, not its blocks. Never shrink (data past
                // the torrent's size is not ours to cut), and leave devices alone.
                if meta.is_file() && meta.len() < file.size {
                    handle
                        .set_len(file.size)
                        .map_err(|e| StorageError::io(Op::Resize, path, e))?;
                }
            }
        }
        found.push(if file.size == 0 {
            Found::NoData
        } else {
            before
        });
    }
    Ok(found)
}

/// Creates folders one level at a time, remembering which exist and in which folders an entry
/// was created.
struct DirMaker<'a> {
    known: HashSet<PathBuf>,
    created_in: &'a mut BTreeSet<PathBuf>,
}

impl DirMaker<'_> {
    fn ensure(&mut self, dir: &Path) -> Result<(), StorageError> {
        // A relative root's parent is "": the current folder, which exists.
        if dir.as_os_str().is_empty() || self.known.contains(dir) {
            return Ok(());
        }
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                let e = io::Error::new(io::ErrorKind::NotADirectory, "not a folder");
                return Err(StorageError::io(Op::CreateDir, dir, e));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Recursion depth is the path's depth, bounded by the metainfo's limits.
                if let Some(parent) = dir.parent() {
                    self.ensure(parent)?;
                }
                match fs::create_dir(dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(StorageError::io(Op::CreateDir, dir, e)),
                }
                if let Some(parent) = dir.parent() {
                    let parent = if parent.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        parent
                    };
                    self.created_in.insert(parent.to_path_buf());
                }
            }
            Err(e) => return Err(StorageError::io(Op::Stat, dir, e)),
        }
        self.known.insert(dir.to_path_buf());
        Ok(())
    }
}

/// Open file handles, at most `capacity`, least recently used evicted first. A handle in use
/// by another thread when it is evicted stays open until that thread drops it.
#[derive(Debug)]
pub(super) struct Handles {
    capacity: usize,
    clock: u64,
    open: HashMap<usize, (Arc<File>, u64)>,
}

impl Handles {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            clock: 0,
            open: HashMap::new(),
        }
    }

    /// The cached handle of `file`, marked as just used.
    pub(super) fn get(&mut self, file: usize) -> Option<Arc<File>> {
        self.clock += 1;
        let clock = self.clock;
        self.open.get_mut(&file).map(|(handle, used)| {
            *used = clock;
            Arc::clone(handle)
        })
    }

    /// Caches a handle just opened (keeping the one already cached if another thread was
    /// faster), evicting the least recently used beyond the capacity.
    pub(super) fn insert(&mut self, file: usize, handle: File) -> Arc<File> {
        if let Some(existing) = self.get(file) {
            return existing;
        }
        while self.open.len() >= self.capacity {
            // O(capacity) per miss: capacities are small (tens of handles).
            let Some(oldest) = self.open.iter().min_by_key(|(_, (_, used))| *used) else {
                break;
            };
            let oldest = *oldest.0;
            self.open.remove(&oldest);
        }
        let handle = Arc::new(handle);
        self.open.insert(file, (Arc::clone(&handle), self.clock));
        handle
    }

    /// Number of handles held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.open.len()
    }
}

/// Opens a torrent file after [`prepare`]: never creates it (a file deleted behind our back
/// must not come back empty under pieces counted as verified).
pub(super) fn open_existing(path: &Path, mode: Mode) -> Result<File, StorageError> {
    OpenOptions::new()
        .read(true)
        .write(mode == Mode::Download)
        .open(path)
        .map_err(|e| StorageError::io(Op::Open, path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_join_accepts_plain_names_only() {
        let root = Path::new("/dl");
        assert_eq!(
            safe_join(root, "t/a b/c.txt").unwrap(),
            Path::new("/dl/t/a b/c.txt")
        );
        assert_eq!(safe_join(root, "...").unwrap(), Path::new("/dl/..."));
        for bad in [
            "",
            "..",
            ".",
            "/etc/passwd",
            "t/../../x",
            "t//x",
            "t/./x",
            "t/",
            "a\\..\\b",
            "t/\0",
        ] {
            assert!(
                matches!(safe_join(root, bad), Err(StorageError::UnsafePath { .. })),
                "{bad:?}"
            );
        }
        assert!(matches!(
            safe_join(root, ".peercdn/x.resume"),
            Err(StorageError::ReservedPath { .. })
        ));
        // Only the top folder is reserved.
        assert!(safe_join(root, "t/.peercdn").is_ok());
    }

    #[test]
    fn handle_cache_evicts_the_least_recently_used() {
        let mut h = Handles::new(2);
        let f = || File::open("/dev/null").unwrap();
        h.insert(0, f());
        h.insert(1, f());
        assert!(h.get(0).is_some()); // 1 is now the oldest
        h.insert(2, f());
        assert_eq!(h.len(), 2);
        assert!(h.get(1).is_none());
        assert!(h.get(0).is_some() && h.get(2).is_some());
    }
}
