//! Resume: state round trips, damaged or foreign state ignored, and restarts after a crash
//! (a dropped storage, and a real `kill -9` of a child process) that keep every saved piece,
//! find the rest by re-hashing, and never report an unverified piece.

mod storage_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use peer_wire::{Bitfield, PieceIndex};
use peercdn::storage::resume::{self, ResumeError};
use peercdn::storage::{Mode, Storage, StorageError};
use storage_support::{TempDir, all_pieces, blocks, copy_piece, data, seed, torrent};
use torrent_format::Metainfo;
use torrent_format::create::Version;

const KIB: u64 = 1024;
const BLOCK: u32 = 16 * 1024;

/// A multi-file torrent of 11 pieces: `a` holds pieces 0-5 (piece 6 spans `a` and `b`), `b`
/// pieces 6-10.
fn setup(tmp: &TempDir) -> (Metainfo, PathBuf, PathBuf) {
    let files = [("a", data(100_000, 21)), ("b", data(70_000, 22))];
    let (meta, src) = torrent(tmp.path(), "r", &files, Version::V1, 16 * KIB);
    assert_eq!(meta.num_pieces(), 11);
    (meta, src, tmp.path().join("dl"))
}

fn indices(b: &Bitfield) -> Vec<u32> {
    b.iter().map(|p| p.0).collect()
}

#[test]
fn a_saved_state_is_trusted_without_hashing() {
    let tmp = TempDir::new("roundtrip");
    let (meta, src, dl) = setup(&tmp);
    let path = resume::default_path(&dl, &meta.info_hashes());
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let fresh = resume::restore(&to, resume::load(&path, &meta).as_ref(), 2);
    assert_eq!(
        (fresh.trusted, fresh.rechecked, fresh.have.count()),
        (0, 0, 0)
    );
    for piece in all_pieces(&meta) {
        copy_piece(&from, &to, piece, BLOCK);
        assert!(to.hash_piece(piece).unwrap());
    }
    let saved = to.save_resume(&path).unwrap();
    assert!(saved.pieces.is_full());
    drop(to);

    let state = resume::load(&path, &meta).unwrap();
    assert_eq!(state, saved);
    let again = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let restored = resume::restore(&again, Some(&state), 2);
    assert_eq!((restored.trusted, restored.rechecked), (11, 0));
    assert!(restored.have.is_full() && again.is_complete());
}

#[test]
fn a_damaged_resume_file_is_ignored_and_the_data_rechecked() {
    let tmp = TempDir::new("damaged");
    let (meta, src, dl) = setup(&tmp);
    let path = resume::default_path(&dl, &meta.info_hashes());
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    for p in [0, 3, 8] {
        copy_piece(&from, &to, PieceIndex(p), BLOCK);
        assert!(to.hash_piece(PieceIndex(p)).unwrap());
    }
    to.save_resume(&path).unwrap();
    drop(to);
    let good = std::fs::read(&path).unwrap();

    let damaged = [
        good[..good.len() - 1].to_vec(), // truncated
        good[..good.len() / 2].to_vec(), // torn in the middle
        Vec::new(),                      // empty
        data(good.len(), 23),            // garbage
        {
            let mut b = good.clone(); // one bit flipped in the bitfield
            let i = good.windows(7).position(|w| w == b"pieces2").unwrap() + 8;
            b[i] ^= 0x01;
            b
        },
    ];
    for bytes in damaged {
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            resume::try_load(&path, &meta),
            Err(ResumeError::Corrupt(_))
        ));
        let state = resume::load(&path, &meta);
        assert!(state.is_none());
        let storage = Storage::open(&meta, &dl, Mode::Download).unwrap();
        let restored = resume::restore(&storage, state.as_ref(), 2);
        // Everything is re-hashed (the files exist at full length), nothing trusted.
        assert_eq!((restored.trusted, restored.rechecked), (0, 11));
        assert_eq!(indices(&restored.have), [0, 3, 8]);
    }
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(
        resume::try_load(&path, &meta),
        Err(ResumeError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound
    ));
}

#[test]
fn a_state_for_another_torrent_is_ignored() {
    let tmp = TempDir::new("foreign");
    let (meta, src, dl) = setup(&tmp);
    let other_tmp = TempDir::new("foreign-other");
    let (other, _) = torrent(
        other_tmp.path(),
        "o",
        &[("", data(170_000, 24))],
        Version::V1,
        16 * KIB,
    );
    let path = tmp.path().join("state.resume");
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    copy_piece(&from, &to, PieceIndex(0), BLOCK);
    assert!(to.hash_piece(PieceIndex(0)).unwrap());
    let state = to.save_resume(&path).unwrap();
    assert!(matches!(
        resume::try_load(&path, &other),
        Err(ResumeError::OtherTorrent)
    ));
    // Handed to the wrong torrent's storage anyway, it is not trusted.
    let other_storage = Storage::open(&other, &tmp.path().join("o"), Mode::Download).unwrap();
    let restored = resume::restore(&other_storage, Some(&state), 1);
    assert_eq!((restored.trusted, restored.have.count()), (0, 0));
}

#[test]
fn a_crash_keeps_saved_pieces_rechecks_the_rest_and_reports_nothing_unverified() {
    let tmp = TempDir::new("crash");
    let (meta, src, dl) = setup(&tmp);
    let path = resume::default_path(&dl, &meta.info_hashes());
    session_before_crash(&meta, &src, &dl, &path);
    check_after_crash(&meta, &src, &dl, &path);
}

/// The same with a real `kill -9`: a child process (this test binary, running
/// `crash_child`) writes, saves, writes more and waits to be killed.
#[test]
fn a_kill_9_keeps_saved_pieces_rechecks_the_rest_and_reports_nothing_unverified() {
    let tmp = TempDir::new("kill9");
    let (meta, src, dl) = setup(&tmp);
    let path = resume::default_path(&dl, &meta.info_hashes());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PEERCDN_CRASH_CHILD_DIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("CRASH-CHILD-READY"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(ready, "the child did not reach its crash point");
    check_after_crash(&meta, &src, &dl, &path);
}

/// Run by `a_kill_9_...` in a child process; does nothing when run directly.
#[test]
#[ignore = "helper: run as a child process by a_kill_9_keeps_saved_pieces_..."]
fn crash_child() {
    let Some(dir) = std::env::var_os("PEERCDN_CRASH_CHILD_DIR") else {
        return;
    };
    let tmp = PathBuf::from(dir);
    let files = [("a", data(100_000, 21)), ("b", data(70_000, 22))];
    // Same content as `setup`, made into the same torrent under another folder.
    let (meta, _) = torrent(&tmp.join("child"), "r", &files, Version::V1, 16 * KIB);
    let src = tmp.join("src");
    let dl = tmp.join("dl");
    let path = resume::default_path(&dl, &meta.info_hashes());
    let storage = session_before_crash(&meta, &src, &dl, &path);
    println!("CRASH-CHILD-READY");
    // Wait to be killed, storage still open and nothing more saved.
    loop {
        std::thread::park();
        let _ = &storage;
    }
}

/// Writes and verifies pieces 0, 1 and 5; saves state; writes and verifies 2 and 7 (not
/// saved); writes a corrupt piece 8 and half of piece 9. Returns the storage, unsaved.
fn session_before_crash(meta: &Metainfo, src: &Path, dl: &Path, path: &Path) -> Storage {
    let from = seed(meta, src);
    let to = Storage::open(meta, dl, Mode::Download).unwrap();
    for p in [0, 1, 5] {
        copy_piece(&from, &to, PieceIndex(p), BLOCK);
        assert!(to.hash_piece(PieceIndex(p)).unwrap());
    }
    let saved = to.save_resume(path).unwrap();
    assert_eq!(indices(&saved.pieces), [0, 1, 5]);
    for p in [2, 7] {
        copy_piece(&from, &to, PieceIndex(p), BLOCK);
        assert!(to.hash_piece(PieceIndex(p)).unwrap());
    }
    let mut bad = from.read_block(PieceIndex(8), 0, BLOCK).unwrap();
    bad[100] ^= 1;
    to.write_block(PieceIndex(8), 0, &bad).unwrap();
    assert!(!to.hash_piece(PieceIndex(8)).unwrap());
    let (offset, len) = blocks(&from, PieceIndex(9), 4096)[0];
    to.write_block(
        PieceIndex(9),
        offset,
        &from.read_block(PieceIndex(9), offset, len).unwrap(),
    )
    .unwrap();
    to
}

/// Restarts after `session_before_crash` and finishes the download.
fn check_after_crash(meta: &Metainfo, src: &Path, dl: &Path, path: &Path) {
    let state = resume::load(path, meta).expect("the state saved before the crash");
    assert_eq!(indices(&state.pieces), [0, 1, 5]);
    let to = Storage::open(meta, dl, Mode::Download).unwrap();
    let restored = resume::restore(&to, Some(&state), 2);
    // Saved pieces trusted; every other piece has its bytes on disk (sparse files at full
    // length), so it is re-hashed: 2 and 7 are found, 8 (corrupt) and 9 (half) are not.
    assert_eq!((restored.trusted, restored.rechecked), (3, 8));
    assert_eq!(indices(&restored.have), [0, 1, 2, 5, 7]);
    assert_eq!(restored.have, to.verified());

    // The download goes on and completes.
    let from = seed(meta, src);
    for p in [3, 4, 6, 8, 9, 10] {
        copy_piece(&from, &to, PieceIndex(p), BLOCK);
        assert!(to.hash_piece(PieceIndex(p)).unwrap());
    }
    assert!(to.is_complete());
    to.save_resume(path).unwrap();
    drop(to);
    let again = Storage::open(meta, dl, Mode::Download).unwrap();
    let restored = resume::restore(&again, resume::load(path, meta).as_ref(), 2);
    assert_eq!((restored.trusted, restored.rechecked), (11, 0));
}

#[test]
fn pieces_of_a_file_deleted_or_cut_after_the_save_are_not_trusted() {
    let tmp = TempDir::new("deleted");
    let (meta, src, dl) = setup(&tmp);
    let path = resume::default_path(&dl, &meta.info_hashes());
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    for piece in all_pieces(&meta) {
        copy_piece(&from, &to, piece, BLOCK);
        assert!(to.hash_piece(piece).unwrap());
    }
    to.save_resume(&path).unwrap();
    drop(to);
    let state = resume::load(&path, &meta).unwrap();

    // `b` deleted: its pieces (6, which it shares with `a`, to 10) are neither trusted nor
    // re-checked; Download mode creates `b` again, empty and sparse.
    std::fs::remove_file(dl.join("r/b")).unwrap();
    let storage = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let restored = resume::restore(&storage, Some(&state), 2);
    assert_eq!((restored.trusted, restored.rechecked), (6, 0));
    assert_eq!(indices(&restored.have), [0, 1, 2, 3, 4, 5]);
    drop(storage);

    // `a` cut to 40,000 bytes: no piece of `a` is trusted; pieces 0 and 1 (bytes below
    // 32,768) are found by re-hashing, 2 to 6 are lost; `b` (gone, recreated empty) has none.
    let a = std::fs::OpenOptions::new()
        .write(true)
        .open(dl.join("r/a"))
        .unwrap();
    a.set_len(40_000).unwrap();
    drop(a);
    std::fs::remove_file(dl.join("r/b")).unwrap();
    let storage = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let restored = resume::restore(&storage, Some(&state), 2);
    assert_eq!((restored.trusted, restored.rechecked), (0, 2));
    assert_eq!(indices(&restored.have), [0, 1]);
}

#[test]
fn a_piece_the_saved_state_lists_is_rewritten_only_after_a_new_save() {
    let tmp = TempDir::new("relist");
    let (meta, src, dl) = setup(&tmp);
    let path = resume::default_path(&dl, &meta.info_hashes());
    let from = seed(&meta, &src);
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    for piece in all_pieces(&meta) {
        copy_piece(&from, &to, piece, BLOCK);
        assert!(to.hash_piece(piece).unwrap());
    }
    to.save_resume(&path).unwrap();
    drop(to);

    // `b` is lost; its pieces must be downloaded again, but the state on disk still lists
    // them: had a write gone ahead and the process crashed, the next start (with `b` back at
    // full length) would trust half-written pieces.
    std::fs::remove_file(dl.join("r/b")).unwrap();
    let to = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let restored = resume::restore(&to, resume::load(&path, &meta).as_ref(), 2);
    assert_eq!(indices(&restored.have), [0, 1, 2, 3, 4, 5]);
    let block = from.read_block(PieceIndex(7), 0, 4096).unwrap();
    assert!(matches!(
        to.write_block(PieceIndex(7), 0, &block),
        Err(StorageError::ListedInResumeState { piece: 7 })
    ));
    let saved = to.save_resume(&path).unwrap();
    assert_eq!(indices(&saved.pieces), [0, 1, 2, 3, 4, 5]);
    to.write_block(PieceIndex(7), 0, &block).unwrap();
    // Trusted pieces stay protected by the new state.
    assert!(matches!(
        to.write_block(PieceIndex(0), 0, &block),
        Err(StorageError::ListedInResumeState { piece: 0 })
    ));
    drop(to); // a crash: piece 7 half written

    let again = Storage::open(&meta, &dl, Mode::Download).unwrap();
    let restored = resume::restore(&again, resume::load(&path, &meta).as_ref(), 2);
    assert_eq!(restored.trusted, 6);
    assert_eq!(indices(&restored.have), [0, 1, 2, 3, 4, 5]);
}

/// What `peercdn serve` does with a torrent it has just made from the files (it compares
/// their lengths and times around the hashing): a complete state built from the metainfo is
/// taken without hashing anything again, so that other bytes of the right lengths go
/// unnoticed; a file shorter than the metainfo says is still not trusted.
#[test]
fn a_complete_state_for_files_just_hashed_trusts_them_without_hashing_but_not_a_short_file() {
    let tmp = TempDir::new("just-hashed");
    let (meta, src, _) = setup(&tmp);
    let state = resume::ResumeState::complete(&meta);
    assert!(state.matches(&meta) && state.pieces.is_full());
    assert_eq!(state.file_sizes, [100_000, 70_000]);

    // Other bytes in `b`, of its length: nothing is hashed, so all 11 pieces are taken.
    std::fs::write(src.join("r/b"), data(70_000, 99)).unwrap();
    let storage = seed(&meta, &src);
    let restored = resume::restore(&storage, Some(&state), 2);
    assert_eq!((restored.trusted, restored.rechecked), (11, 0));
    assert!(restored.have.is_full() && storage.is_complete());
    drop(storage);

    // `b` cut to 40,000 bytes (its own bytes again): a seed refuses to open it, and if it
    // were opened to download, its pieces would not be trusted: 6 (which it shares with `a`)
    // and 7 (bytes below 31,072 of `b`) would be found by re-hashing, 8 to 10 lost.
    let b = data(70_000, 22);
    std::fs::write(src.join("r/b"), &b[..40_000]).unwrap();
    assert!(Storage::open(&meta, &src, Mode::Seed).is_err());
    let storage = Storage::open(&meta, &src, Mode::Download).unwrap();
    let restored = resume::restore(&storage, Some(&state), 2);
    assert_eq!((restored.trusted, restored.rechecked), (6, 2));
    assert_eq!(indices(&restored.have), [0, 1, 2, 3, 4, 5, 6, 7]);
}
