//! MSE/PE handshakes driven by the input. The first byte picks a scenario:
//! - a responder, or an initiator, fed the rest of the input as the peer's bytes, in chunks
//!   the input also picks: never a panic, never more than a bounded buffer kept;
//! - an initiator and a responder talking to each other, with keys, pads, allowed methods,
//!   chunk sizes and at most one flipped wire byte from the input: without a flip both
//!   complete and agree on the method, the torrent and the initial payload, and their RC4
//!   streams (if any) decrypt each other; with a flip, either side may fail, never panic.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use peer_wire::mse::{
    Config, Crypto, Entropy, Established, Initiator, Methods, Responder, StreamKeyHash,
};
use peer_wire::{InfoHash, Status};

const IH: InfoHash = InfoHash([0x5a; 20]);

/// Bytes of the input, then zeros.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn entropy(&mut self) -> Entropy {
        let mut key = [0u8; 20];
        key.fill_with(|| self.byte());
        key[19] |= 1;
        let first = usize::from(self.u16()) % 513;
        let second = usize::from(self.u16()) % 513;
        Entropy::new(key, vec![0xa5; first], vec![0x5a; second]).expect("pads of at most 512")
    }

    fn config(&mut self) -> Config {
        let b = self.byte();
        Config {
            allowed: Methods(u32::from(b % 3) + 1),
            prefer_rc4: b & 0x80 != 0,
        }
    }
}

fn find(h: &StreamKeyHash) -> Option<InfoHash> {
    (*h == StreamKeyHash::of(&IH)).then_some(IH)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    match input.byte() % 3 {
        0 => {
            let entropy = input.entropy();
            let mut b = Responder::new(Config::default(), entropy);
            feed(input.0, |buf| b.handle_bytes(buf, find).map(|_| ()));
        }
        1 => {
            let entropy = input.entropy();
            let mut a = Initiator::new(Config::default(), entropy, IH, vec![19; 68])
                .expect("a valid initiator");
            feed(input.0, |buf| a.handle_bytes(buf).map(|_| ()));
        }
        _ => pair(&mut input),
    }
});

/// Feeds `bytes` in chunks whose sizes come from the bytes themselves.
fn feed(
    mut bytes: &[u8],
    mut handle: impl FnMut(&mut BytesMut) -> Result<(), peer_wire::mse::Error>,
) {
    let mut buf = BytesMut::new();
    while let Some((&n, rest)) = bytes.split_first() {
        let n = usize::from(n).max(1).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        bytes = &rest[n..];
        let before = buf.len();
        let result = handle(&mut buf);
        assert!(buf.len() <= before, "a handshake never adds input");
        // The longest wait is IA (65535 bytes) behind a 512-byte pad: nothing here is longer.
        assert!(buf.len() <= 70_000);
        if result.is_err() {
            return;
        }
    }
}

fn pair(input: &mut Input<'_>) {
    let (a_config, b_config) = (input.config(), input.config());
    let (a_entropy, b_entropy) = (input.entropy(), input.entropy());
    let ia = vec![input.byte(); usize::from(input.byte())];
    let chunk = usize::from(input.u16()).max(1);
    // A flipped byte: (direction, position, mask); mask 0 flips nothing.
    let flip = (input.byte() & 1, usize::from(input.u16()), input.byte());
    let mut a = Initiator::new(a_config, a_entropy, IH, ia.clone()).expect("a valid initiator");
    let mut b = Responder::new(b_config, b_entropy);
    let (mut ab, mut ba) = (Vec::new(), Vec::new());
    let (mut sent_ab, mut sent_ba) = (0usize, 0usize);
    let (mut in_a, mut in_b) = (BytesMut::new(), BytesMut::new());
    let (mut a_done, mut b_done): (Option<Established>, Option<Established>) = (None, None);
    let (mut failed, mut flipped) = (false, false);
    for _ in 0..10_000 {
        let _ = a.poll_transmit(&mut ab);
        let _ = b.poll_transmit(&mut ba);
        if ab.is_empty() && ba.is_empty() {
            break;
        }
        for (wire, sent, inbox, dir) in [
            (&mut ab, &mut sent_ab, &mut in_b, 0),
            (&mut ba, &mut sent_ba, &mut in_a, 1),
        ] {
            let n = chunk.min(wire.len());
            for (i, byte) in wire.drain(..n).enumerate() {
                let hit = (dir, *sent + i) == (flip.0, flip.1) && flip.2 != 0;
                flipped |= hit;
                inbox.extend_from_slice(&[if hit { byte ^ flip.2 } else { byte }]);
            }
            *sent += n;
        }
        if b_done.is_none() {
            match b.handle_bytes(&mut in_b, find) {
                Ok(Status::Complete(e)) => b_done = Some(e),
                Ok(Status::Partial) => {}
                Err(_) => failed = true,
            }
        }
        if a_done.is_none() {
            match a.handle_bytes(&mut in_a) {
                Ok(Status::Complete(e)) => a_done = Some(e),
                Ok(Status::Partial) => {}
                Err(_) => failed = true,
            }
        }
        if failed {
            break;
        }
    }
    let common = a_config.allowed.intersection(b_config.allowed);
    if flipped || common.is_empty() {
        return;
    }
    let (Some(a_done), Some(b_done)) = (a_done, b_done) else {
        panic!("an honest handshake did not complete (failed: {failed})");
    };
    assert_eq!(b_done.initial_payload, ia);
    assert_eq!((a_done.info_hash, b_done.info_hash), (IH, IH));
    match (a_done.crypto, b_done.crypto) {
        (Crypto::Plaintext, Crypto::Plaintext) => {
            assert!(common.contains(Methods::PLAINTEXT));
        }
        (Crypto::Rc4(mut a), Crypto::Rc4(mut b)) => {
            assert!(common.contains(Methods::RC4));
            let mut data = *b"the rest of the stream";
            a.send.apply(&mut data);
            b.receive.apply(&mut data);
            assert_eq!(&data, b"the rest of the stream");
            b.send.apply(&mut data);
            a.receive.apply(&mut data);
            assert_eq!(&data, b"the rest of the stream");
        }
        _ => panic!("the two sides chose different methods"),
    }
}
