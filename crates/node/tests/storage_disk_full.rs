//! A full disk: writes fail with `StorageError::DiskFull`, no piece becomes (or stays)
//! verified by a failed write, nothing already verified is damaged, and the download resumes
//! once space is back.
//!
//! The main test mounts a 1 MiB tmpfs, which needs root (or `CAP_SYS_ADMIN`). Where mounting
//! is not permitted it fails with a message saying so, rather than passing without testing
//! anything; set `PEERCDN_SKIP_MOUNT_TESTS=1` to skip it deliberately. The `/dev/full` test
//! needs no privilege.

mod storage_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use peer_wire::PieceIndex;
use peercdn::storage::{Mode, Op, Storage, StorageError, resume};
use storage_support::{TempDir, all_pieces, blocks, data, seed, torrent};
use torrent_format::create::Version;

const KIB: u64 = 1024;

/// A tmpfs mounted for the test, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount(8)` syntax) at `dir`; `None` if the test is to be
    /// skipped. Panics, saying why, when mounting is not permitted.
    fn mount(dir: &Path, size: &str) -> Option<Self> {
        if std::env::var_os("PEERCDN_SKIP_MOUNT_TESTS").is_some() {
            eprintln!("PEERCDN_SKIP_MOUNT_TESTS is set: skipping the tmpfs disk-full test");
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self(dir.to_path_buf())),
            Ok(o) => panic!(
                "this test mounts a small tmpfs to fill it, and mounting is not permitted here \
                 (it needs root or CAP_SYS_ADMIN): `mount` said: {}; run as root, or set \
                 PEERCDN_SKIP_MOUNT_TESTS=1 to skip it",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!(
                "this test mounts a small tmpfs and cannot run `mount`: {e}; set \
                 PEERCDN_SKIP_MOUNT_TESTS=1 to skip it"
            ),
        }
    }

    /// Changes the tmpfs's size: "space is back".
    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount to {size} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_writes_cleanly_and_the_download_resumes_once_space_is_back() {
    let tmp = TempDir::new("diskfull");
    // 3 MiB in 256 KiB pieces, to a 1 MiB file system.
    let (meta, src) = torrent(
        tmp.path(),
        "big.bin",
        &[("", data(3 << 20, 31))],
        Version::V1,
        256 * KIB,
    );
    let Some(fs) = Tmpfs::mount(&tmp.path().join("mnt"), "1m") else {
        return;
    };
    let dl = fs.0.clone();
    let state_path = resume::default_path(&dl, &meta.info_hashes());
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap(); // sparse: fits
    to.save_resume(&state_path).unwrap(); // an empty state, saved while there is space

    // Write piece after piece until the disk is full.
    let mut full_at = None;
    'pieces: for piece in all_pieces(&meta) {
        for (offset, len) in blocks(&from, piece, 16 * 1024) {
            let bytes = from.read_block(piece, offset, len).unwrap();
            match to.write_block(piece, offset, &bytes) {
                Ok(()) => {}
                Err(e) => {
                    assert!(e.is_disk_full(), "{e}");
                    assert!(
                        matches!(&e, StorageError::DiskFull { op: Op::Write, path, .. }
                            if path == &dl.join("big.bin")),
                        "{e:?}"
                    );
                    assert!(e.to_string().starts_with("disk full: cannot write "), "{e}");
                    full_at = Some((piece, offset));
                    break 'pieces;
                }
            }
        }
        assert!(to.hash_piece(piece).unwrap(), "{piece:?}");
    }
    let (failed_piece, failed_offset) = full_at.expect("3 MiB cannot fit in 1 MiB");
    assert!(failed_piece.0 >= 1, "at least one piece fits");

    // The piece whose write failed is not verified, whatever a check says.
    assert!(!to.hash_piece(failed_piece).unwrap_or(false));
    let verified = to.verified();
    assert_eq!(verified.count(), failed_piece.0);
    assert!(verified.iter().all(|p| p < failed_piece));

    // Saving state on the full disk may fail (DiskFull), but never damages the old state.
    match to.save_resume(&state_path) {
        Ok(state) => assert_eq!(state.pieces, verified),
        Err(e) => assert!(e.is_disk_full(), "{e}"),
    }
    assert!(resume::load(&state_path, &meta).is_some());

    // Space is back: the failed block is written again and the download completes; the
    // pieces verified before are intact.
    fs.resize("8m");
    assert_eq!(to.check_pieces(verified.iter(), 2), verified);
    let resume_from = blocks(&from, failed_piece, 16 * 1024)
        .into_iter()
        .filter(|&(offset, _)| offset >= failed_offset);
    for (offset, len) in resume_from {
        let bytes = from.read_block(failed_piece, offset, len).unwrap();
        to.write_block(failed_piece, offset, &bytes).unwrap();
    }
    for piece in all_pieces(&meta).filter(|p| *p >= failed_piece) {
        if piece > failed_piece {
            for (offset, len) in blocks(&from, piece, 16 * 1024) {
                let bytes = from.read_block(piece, offset, len).unwrap();
                to.write_block(piece, offset, &bytes).unwrap();
            }
        }
        assert!(to.hash_piece(piece).unwrap(), "{piece:?}");
    }
    assert!(to.is_complete());
    to.save_resume(&state_path).unwrap();
    drop(to);
    let again = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let restored = resume::restore(&again, resume::load(&state_path, &meta).as_ref(), 2);
    assert!(restored.have.is_full());
    assert_eq!(restored.rechecked, 0);
    drop(again);
    drop(from);
    drop(fs);
}

#[test]
fn a_write_to_dev_full_is_disk_full_and_unverifies_its_piece() {
    let tmp = TempDir::new("devfull");
    // All zeros: /dev/full reads as zeros, so the piece verifies before the failed write.
    let (meta, _) = torrent(
        tmp.path(),
        "zeros.bin",
        &[("", vec![0; 40_000])],
        Version::V1,
        16 * KIB,
    );
    let dl = tmp.path().join("dl");
    std::fs::create_dir_all(&dl).unwrap();
    std::os::unix::fs::symlink("/dev/full", dl.join("zeros.bin")).unwrap();
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    assert!(to.hash_piece(PieceIndex(0)).unwrap());
    assert!(to.verified().has(PieceIndex(0)));

    let err = to
        .write_block(PieceIndex(0), 0, &[0; 16 * 1024])
        .unwrap_err();
    assert!(err.is_disk_full(), "{err}");
    assert!(
        !to.verified().has(PieceIndex(0)),
        "a failed write leaves its piece unverified"
    );
    assert!(to.verified().count() == 0 && !to.is_complete());
}
