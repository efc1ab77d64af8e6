//! Finding the files to share: one file, or a folder walked recursively.

use std::fs;
use std::path::{Path, PathBuf};

use super::CreateError;

/// One regular file found under the input.
#[derive(Debug, Clone)]
pub(super) struct InputFile {
    /// Path components below the input folder (for a single-file input: empty).
    pub(super) components: Vec<String>,
    /// Where to read it.
    pub(super) disk_path: PathBuf,
    /// Size when walked.
    pub(super) length: u64,
}

/// What the walk found.
#[derive(Debug)]
pub(super) struct Input {
    /// Whether the input is a single file (single-file torrent form).
    pub(super) single_file: bool,
    /// The input's own name (last path component).
    pub(super) name: String,
    /// Files in bytewise order of their component lists, which is the order of a BEP 52 file
    /// tree (nested dictionaries with sorted keys) and the order of our v1 `files` list.
    pub(super) files: Vec<InputFile>,
    /// Symlinks and special files that were not included.
    pub(super) skipped: Vec<PathBuf>,
}

/// Walks `path`. The input itself may be a symlink (the caller named it); symlinks found inside
/// a folder are skipped, never followed, so the walk cannot loop or leave the folder.
pub(super) fn walk(path: &Path) -> Result<Input, CreateError> {
    let meta = fs::metadata(path).map_err(|e| CreateError::io(path, e))?;
    let name = input_name(path)?;
    if meta.is_file() {
        return Ok(Input {
            single_file: true,
            name,
            files: vec![InputFile {
                components: Vec::new(),
                disk_path: path.to_path_buf(),
                length: meta.len(),
            }],
            skipped: Vec::new(),
        });
    }
    if !meta.is_dir() {
        return Err(CreateError::EmptyInput {
            path: path.to_path_buf(),
        });
    }
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let mut stack = vec![(path.to_path_buf(), Vec::<String>::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| CreateError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| CreateError::io(&dir, e))?;
            let disk_path = entry.path();
            let component =
                entry
                    .file_name()
                    .into_string()
                    .map_err(|_| CreateError::NonUtf8Path {
                        path: disk_path.clone(),
                    })?;
            // `DirEntry::file_type` does not follow symlinks.
            let file_type = entry
                .file_type()
                .map_err(|e| CreateError::io(&disk_path, e))?;
            let mut components = prefix.clone();
            components.push(component);
            if file_type.is_dir() {
                stack.push((disk_path, components));
            } else if file_type.is_file() {
                let length = entry
                    .metadata()
                    .map_err(|e| CreateError::io(&disk_path, e))?
                    .len();
                files.push(InputFile {
                    components,
                    disk_path,
                    length,
                });
            } else {
                // Symlinks, FIFOs, sockets, devices.
                skipped.push(disk_path);
            }
        }
    }
    if files.is_empty() {
        return Err(CreateError::EmptyInput {
            path: path.to_path_buf(),
        });
    }
    // Comparing `Vec<String>` compares component by component, bytewise (str's `Ord` is
    // bytewise), exactly like walking nested dictionaries with sorted keys. Comparing the joined
    // paths would not be: "a/b" sorts after "a.txt" as a string ('/' > '.'), but the directory
    // "a" sorts before "a.txt" as a key.
    files.sort_by(|a, b| a.components.cmp(&b.components));
    skipped.sort();
    Ok(Input {
        single_file: false,
        name,
        files,
        skipped,
    })
}

/// The last component of `path`, resolving `.`/`..` through the file system if needed.
pub(crate) fn input_name(path: &Path) -> Result<String, CreateError> {
    let resolved;
    let last = match path.file_name() {
        Some(n) => n,
        None => {
            resolved = fs::canonicalize(path).map_err(|e| CreateError::io(path, e))?;
            resolved
                .file_name()
                .ok_or_else(|| CreateError::InvalidName {
                    name: path.display().to_string(),
                })?
        }
    };
    last.to_str()
        .map(str::to_owned)
        .ok_or_else(|| CreateError::NonUtf8Path {
            path: path.to_path_buf(),
        })
}
