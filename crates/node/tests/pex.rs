//! Peer exchange (BEP 11, ut_pex) end to end over TCP on 127.0.0.1, without a tracker:
//! - peercdn learns a seed only from a libtorrent peer's PEX message, dials it and downloads
//!   from it;
//! - libtorrent learns a seed only from our PEX message, dials it and downloads from it;
//! - our first PEX message to a peer comes seconds after its extended handshake, and we dial
//!   whom a peer's PEX message names (a peer the test speaks the wire protocol for by hand);
//! - with a private torrent (BEP 27) we neither offer nor send ut_pex, and dial nobody a PEX
//!   message names.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use peer_wire::extended::{ExtendedHandshake, Pex, PexFlags, name};
use peer_wire::{Handshake, Limits, Message, PeerId, Reserved, Status};
use support::{
    Proc, TempDir, completes, content, have_libtorrent, libtorrent_peer, make_torrent, peercdn,
    peercdn_download,
};

/// 64 pieces of 256 KiB.
const SIZE: usize = 16 << 20;
/// How long the hand-spoken peer watches after our extended handshake reached it: our first PEX
/// message is due 2 s after the handshake (at the engine's next one-second tick, so 2 to 3 s),
/// and a peer that a PEX message names is dialed at once; the rest is room for a busy machine.
/// (Before the first message was made prompt, it came a minute after the handshake.)
const WINDOW: Duration = Duration::from_secs(8);

#[expect(
    clippy::disallowed_methods,
    reason = "tests time out on the wall clock"
)]
fn now() -> Instant {
    Instant::now()
}

#[test]
fn peercdn_downloads_from_a_seed_it_heard_of_only_through_libtorrents_pex() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("pex-from-libtorrent");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[]);
    // S: the only source of the data. With PEX off it cannot learn of us and dial us: any
    // connection between us is ours.
    let (mut seed, seed_port) = libtorrent(
        "libtorrent seed S",
        &dir.path().join("seed"),
        &torrent,
        &["--seed", "--no-pex"],
    );
    // L: knows S, and cannot serve us: it sends at most 2 kB/s, and gets at most 2 kB/s (no
    // whole piece of 256 KiB in the test's time, so nothing to serve anyway).
    let middle_dir = dir.path().join("middle");
    std::fs::create_dir_all(&middle_dir).expect("writable");
    let s = format!("127.0.0.1:{seed_port}");
    let (mut middle, middle_port) = libtorrent(
        "libtorrent peer L",
        &middle_dir,
        &torrent,
        &[
            "--peer",
            &s,
            "--download-rate",
            "2000",
            "--upload-rate",
            "2000",
        ],
    );
    // libtorrent's PEX names only peers past the handshake: wait until L is.
    middle.wait_line(Duration::from_secs(30), true, |l| {
        l.contains("received peer_id") && l.contains(&format!("[{s}]"))
    });

    let out = dir.path().join("out");
    let l = format!("127.0.0.1:{middle_port}");
    let mut download = peercdn_download(&torrent, &out, "127.0.0.1:0", &["--peer", &l]);
    let complete = completes(&mut download);
    assert!(
        std::fs::read(out.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "the download is byte-exact"
    );
    eprintln!("downloaded through PEX in {} s", complete["seconds"]);

    // L told us of S by ut_pex, ...
    let ours = find_line(&mut middle, |l| {
        l.contains("received peer_id") && l.contains("-PC0001-")
    });
    let at_middle = endpoint(&ours);
    find_line(&mut middle, |l| {
        l.contains(&format!("[{at_middle}]")) && l.contains("==> PEX")
    });
    // ... and we dialed S: S saw an incoming connection whose handshake has our peer id.
    let ours = find_line(&mut seed, |l| {
        l.contains("received peer_id") && l.contains("-PC0001-")
    });
    let at_seed = endpoint(&ours);
    find_line(&mut seed, |l| {
        l.contains("incoming connection to peer") && l.contains(&format!("{at_seed} "))
    });
    assert!(
        !middle
            .seen
            .iter()
            .any(|l| l.contains("\"event\": \"finished\"")),
        "L had the whole file: the test's premise failed"
    );
}

#[test]
fn libtorrent_downloads_from_a_seed_it_heard_of_only_through_our_pex() {
    if !have_libtorrent() {
        return;
    }
    let dir = TempDir::new("pex-to-libtorrent");
    let torrent = make_torrent(dir.path(), "movie.bin", SIZE, "256K", &[]);
    // S: the only full source. With PEX off it does not dial peers that PEX names: libtorrent
    // must dial it.
    let (_seed, seed_port) = libtorrent(
        "libtorrent seed S",
        &dir.path().join("seed"),
        &torrent,
        &["--seed", "--no-pex"],
    );
    // M: us, connected to S, limited to 128 KiB/s in: it cannot have the file (16 MiB) in the
    // two minutes the test may take, so it cannot serve it all.
    let s = format!("127.0.0.1:{seed_port}");
    let spawned = now();
    let mut middle = peercdn_download(
        &torrent,
        &dir.path().join("middle"),
        "127.0.0.1:0",
        &["--peer", &s, "--download-rate", "128K"],
    );
    let started = middle.wait_event(Duration::from_secs(60), "started");
    let m = started["listen"]
        .as_str()
        .expect("a listen address")
        .to_string();
    middle.wait_line(Duration::from_secs(30), false, |l| {
        serde_json::from_str::<serde_json::Value>(l)
            .is_ok_and(|v| v["event"] == "progress" && v["peers"].as_u64() >= Some(1))
    });

    // L: told only of M.
    let lt = dir.path().join("lt");
    std::fs::create_dir_all(&lt).expect("writable");
    let mut leech = Proc::spawn(
        "libtorrent leecher L",
        libtorrent_peer()
            .arg("--save")
            .arg(&lt)
            .arg("--torrent")
            .arg(&torrent)
            .args(["--peer", &m, "--log-pex"]),
    );
    let finished = leech.wait_event(Duration::from_secs(120), "finished");
    assert!(
        std::fs::read(lt.join("movie.bin")).expect("downloaded") == content(SIZE, 7),
        "libtorrent's copy is byte-exact"
    );
    eprintln!(
        "libtorrent finished through our PEX in {} s",
        finished["seconds"]
    );
    // M could not have had it all to give: 128 KiB/s since it started, plus the burst that
    // rate_limits.rs allows (512 KiB), is less than the file; ...
    let most = (128 << 10) as f64 * (now() - spawned).as_secs_f64() + (512 << 10) as f64;
    assert!(
        most < SIZE as f64,
        "premise: M may have had {most:.0} bytes"
    );
    // ... our PEX message reached L, and L dialed S.
    let ours = find_line(&mut leech, |l| {
        l.contains("received peer_id") && l.contains("-PC0001-")
    });
    let at_leech = endpoint(&ours);
    find_line(&mut leech, |l| {
        l.contains(&format!("[{at_leech}]")) && l.contains("<== PEX")
    });
    find_line(&mut leech, |l| {
        l.contains(&format!("[ {s} ")) && l.contains("outgoing connection to peer")
    });
}

#[test]
fn our_first_pex_message_comes_seconds_after_the_handshake_and_we_dial_whom_pex_names() {
    let seen = pex_with_hand_spoken_peers(false);
    assert!(seen.offers_pex, "our extended handshake offers ut_pex");
    assert!(seen.requested.is_some(), "we took L's messages in");
    let (at, named) = seen
        .pex
        .first()
        .unwrap_or_else(|| panic!("no PEX message within {WINDOW:?} of our extended handshake"));
    eprintln!("first PEX message {at:?} after our extended handshake, naming {named:?}");
    assert!(
        named.contains(&seen.x),
        "it names X, the other peer we connected to: {named:?}"
    );
    assert_eq!(
        seen.pex.len(),
        1,
        "one message, not a flood: {:?}",
        seen.pex
    );
    let dialed = seen
        .dialed_s
        .expect("we dialed S, which only L's PEX message named");
    eprintln!("dialed S {dialed:?} after our extended handshake");
}

#[test]
fn a_private_torrent_neither_sends_nor_acts_on_pex() {
    let seen = pex_with_hand_spoken_peers(true);
    assert!(!seen.offers_pex, "no ut_pex in our extended handshake");
    let requested = seen
        .requested
        .expect("we took L's PEX message in, then its unchoke");
    eprintln!("requested a block {requested:?} after our extended handshake");
    assert!(seen.pex.is_empty(), "we sent ut_pex: {:?}", seen.pex);
    assert_eq!(seen.dialed_s, None, "we dialed S, which only PEX named");
}

/// A libtorrent peer of `torrent` saving in `save` with `extra` options, logging its PEX
/// messages and handshakes; returns it, ready, and its port.
fn libtorrent(name: &str, save: &Path, torrent: &Path, extra: &[&str]) -> (Proc, u16) {
    let mut p = Proc::spawn(
        name,
        libtorrent_peer()
            .arg("--save")
            .arg(save)
            .arg("--torrent")
            .arg(torrent)
            .arg("--log-pex")
            .args(extra),
    );
    let ready = p.wait_event(Duration::from_secs(60), "ready");
    (p, ready["port"].as_u64().expect("a port") as u16)
}

/// The first line (stdout or stderr) `p` printed, or prints within 10 s, that `want` accepts.
fn find_line(p: &mut Proc, want: impl Fn(&str) -> bool) -> String {
    if let Some(line) = p.seen.iter().find(|l| want(l)) {
        return line.clone();
    }
    p.wait_line(Duration::from_secs(10), true, want)
}

/// The `127.0.0.1:PORT` of a libtorrent peer-log line, `[127.0.0.1:PORT] <<< ...`.
fn endpoint(line: &str) -> String {
    line.split(['[', ']'])
        .map(str::trim)
        .find(|part| part.starts_with("127.0.0.1:") && !part.contains(' '))
        .unwrap_or_else(|| panic!("no endpoint in {line}"))
        .to_string()
}

/// What the hand-spoken peers saw of a `peercdn download` (D).
struct Seen {
    /// D's extended handshake to L offers ut_pex.
    offers_pex: bool,
    /// D asked L for a block, so it handled L's messages before it (the PEX message, then the
    /// unchoke), this long after its extended handshake reached L.
    requested: Option<Duration>,
    /// D's PEX messages to L: when (after its extended handshake) and whom they named.
    pex: Vec<(Duration, Vec<SocketAddr>)>,
    /// When D dialed S (after its extended handshake reached L).
    dialed_s: Option<Duration>,
    /// X's address.
    x: SocketAddr,
}

/// `peercdn download --peer L --peer X` of a (private) torrent, where L, X and S are peers the
/// test speaks the wire protocol for: L has everything and sends D, after D's extended
/// handshake, a PEX message naming S (under D's id for ut_pex, or the id D would use if it
/// offered none: a peer that ignores the handshake), then an unchoke; X has nothing, so that D
/// has someone to tell L about; S only counts D's connections. Watches for [`WINDOW`].
fn pex_with_hand_spoken_peers(private: bool) -> Seen {
    let dir = TempDir::new(if private {
        "pex-private"
    } else {
        "pex-hand-spoken"
    });
    let torrent = create(dir.path(), private);
    let [(l_addr, l_conns), (x_addr, x_conns), (s_addr, s_conns)] = [(); 3].map(|()| listen());
    let mut download = peercdn_download(
        &torrent,
        &dir.path().join("out"),
        "127.0.0.1:0",
        &["--peer", &l_addr.to_string(), "--peer", &x_addr.to_string()],
    );
    let deadline = now() + Duration::from_secs(30);
    let _x = Wire::accept(&x_conns, deadline, &mut download, &[Message::HaveNone]);
    let offer = ExtendedHandshake {
        extensions: vec![(name::UT_PEX.into(), L_PEX_ID)],
        ..ExtendedHandshake::default()
    };
    let mut l = Wire::accept(
        &l_conns,
        deadline,
        &mut download,
        &[
            Message::HaveAll,
            Message::Extended {
                id: 0,
                payload: offer.encode().into(),
            },
        ],
    );
    let ours = loop {
        match l.read(deadline) {
            Some(Message::Extended { id: 0, payload }) => {
                break ExtendedHandshake::decode(&payload).expect("a valid extended handshake");
            }
            Some(_) => {}
            None => panic!("no extended handshake from peercdn"),
        }
    };
    let t0 = now();
    let offered = ours.extension_id(name::UT_PEX);
    let pex = Pex {
        added: vec![(s_addr, PexFlags(PexFlags::SEED | PexFlags::REACHABLE))],
        dropped: Vec::new(),
    };
    l.send(&[
        Message::Extended {
            id: offered.unwrap_or(peer_wire::session::EXT_PEX),
            payload: pex.encode().into(),
        },
        Message::Unchoke,
    ]);
    let mut seen = Seen {
        offers_pex: offered.is_some(),
        requested: None,
        pex: Vec::new(),
        dialed_s: None,
        x: x_addr,
    };
    let mut held = Vec::new();
    let end = t0 + WINDOW;
    loop {
        let message = l.read(end.min(now() + Duration::from_millis(200)));
        let at = now() - t0;
        match message {
            Some(Message::Request(_)) if seen.requested.is_none() => seen.requested = Some(at),
            Some(Message::Extended { id, payload }) if id == L_PEX_ID => {
                let pex = Pex::decode(&payload).expect("a valid ut_pex message");
                seen.pex
                    .push((at, pex.added.iter().map(|&(a, _)| a).collect()));
            }
            _ => {}
        }
        while let Ok((accepted, stream)) = s_conns.try_recv() {
            seen.dialed_s.get_or_insert(accepted - t0);
            held.push(stream);
        }
        if now() >= end {
            break;
        }
    }
    download.kill();
    seen
}

/// L's id for ut_pex (what D must send its PEX messages under).
const L_PEX_ID: u8 = 1;

/// A listener on 127.0.0.1 whose connections arrive, with when they came, on a channel.
fn listen() -> (SocketAddr, Receiver<(Instant, TcpStream)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("bound");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            if tx.send((now(), stream)).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// `peercdn create` of 1 MiB (four pieces), private or not, no tracker.
fn create(dir: &Path, private: bool) -> PathBuf {
    let data = dir.join("data.bin");
    std::fs::write(&data, content(1 << 20, 3)).expect("writable");
    let torrent = dir.join("data.torrent");
    let mut cmd = peercdn();
    cmd.arg("create")
        .arg(&data)
        .arg("-o")
        .arg(&torrent)
        .args(["--piece-size", "256K"]);
    if private {
        cmd.arg("--private");
    }
    let out = cmd.output().expect("peercdn create runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    torrent
}

/// A connection whose other end is peercdn, spoken by hand.
struct Wire {
    stream: TcpStream,
    buf: BytesMut,
}

impl Wire {
    /// The next connection peercdn opens to `conns` before `deadline` with a plain BitTorrent
    /// handshake, which it answers with ours (same swarm, a peer id of our own, the extension
    /// protocol and the fast extension), then `messages`. An encrypted attempt (MSE, which
    /// peercdn may try first) is closed at once, so that peercdn dials again in plain.
    fn accept(
        conns: &Receiver<(Instant, TcpStream)>,
        deadline: Instant,
        download: &mut Proc,
        messages: &[Message],
    ) -> Self {
        loop {
            let left = deadline.saturating_duration_since(now());
            let Ok((_, stream)) = conns.recv_timeout(left) else {
                download.kill();
                panic!(
                    "peercdn did not connect in plain; output:\n{}",
                    download.seen.join("\n")
                );
            };
            let mut wire = Self {
                stream,
                buf: BytesMut::new(),
            };
            if let Some(theirs) = wire.handshake(deadline) {
                wire.answer(&theirs, messages);
                return wire;
            }
        }
    }

    /// The peer's plain handshake; `None` if the bytes are something else or do not come.
    fn handshake(&mut self, deadline: Instant) -> Option<Handshake> {
        loop {
            match Handshake::decode(&self.buf) {
                Ok(Status::Complete((h, used))) => {
                    self.buf.advance(used);
                    return Some(h);
                }
                Ok(Status::Partial) if self.fill(deadline) => {}
                Ok(Status::Partial) | Err(_) => return None,
            }
        }
    }

    fn answer(&mut self, theirs: &Handshake, messages: &[Message]) {
        let ours = Handshake {
            reserved: Reserved::ours(),
            info_hash: theirs.info_hash,
            peer_id: PeerId(*b"-XX0001-handspoken00"),
        };
        let mut out = Vec::new();
        ours.encode(&mut out);
        self.stream.write_all(&out).expect("peercdn reads");
        self.send(messages);
    }

    fn send(&mut self, messages: &[Message]) {
        let mut out = Vec::new();
        for m in messages {
            m.encode(&mut out);
        }
        self.stream.write_all(&out).expect("peercdn reads");
    }

    /// The next message, or `None` at `deadline`.
    fn read(&mut self, deadline: Instant) -> Option<Message> {
        loop {
            match Message::decode(&mut self.buf, &Limits::default()) {
                Ok(Status::Complete(m)) => return Some(m),
                Ok(Status::Partial) => {
                    if !self.fill(deadline) {
                        return None;
                    }
                }
                Err(e) => panic!("peercdn sent a malformed message: {e}"),
            }
        }
    }

    /// Reads more bytes; false at `deadline`.
    fn fill(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(now());
        if left.is_zero() {
            return false;
        }
        self.stream
            .set_read_timeout(Some(left))
            .expect("a positive timeout");
        let mut chunk = [0u8; 16 << 10];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!("peercdn closed the connection"),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(e) => panic!("reading from peercdn: {e}"),
        }
    }
}
