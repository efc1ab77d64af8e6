use bytes::BytesMut;
use proptest::prelude::*;

use super::crypto::{self, KeyPair};
use super::*;
use crate::Status;

const IH: InfoHash = InfoHash([0xaa; 20]);

fn entropy(key: u8, first: usize, second: usize) -> Entropy {
    let mut private = [0u8; PRIVATE_KEY_LEN];
    for (i, b) in private.iter_mut().enumerate() {
        *b = key.wrapping_add(i as u8);
    }
    Entropy::new(private, vec![key; first], vec![key ^ 0xff; second]).expect("valid entropy")
}

/// `Ok(true)` for a completed handshake, `Ok(false)` for one waiting for bytes.
fn complete(r: Result<Status<Established>, Error>) -> Result<bool, Error> {
    r.map(|s| matches!(s, Status::Complete(_)))
}

fn ours(h: &StreamKeyHash) -> Option<InfoHash> {
    (*h == StreamKeyHash::of(&IH)).then_some(IH)
}

/// Both sides' results, or the first error, delivering the bytes `chunk` at a time.
fn run(
    mut a: Initiator,
    mut b: Responder,
    chunk: usize,
) -> Result<(Established, Established, BytesMut, BytesMut), Error> {
    let (mut wire_ab, mut wire_ba) = (Vec::new(), Vec::new());
    let (mut in_b, mut in_a) = (BytesMut::new(), BytesMut::new());
    let (mut a_done, mut b_done) = (None, None);
    for _ in 0..100_000 {
        let _ = a.poll_transmit(&mut wire_ab);
        let _ = b.poll_transmit(&mut wire_ba);
        if wire_ab.is_empty()
            && wire_ba.is_empty()
            && let (Some(_), Some(_)) = (&a_done, &b_done)
        {
            let (Some(a_done), Some(b_done)) = (a_done, b_done) else {
                unreachable!("matched just above")
            };
            return Ok((a_done, b_done, in_a, in_b));
        }
        let n = chunk.min(wire_ab.len());
        in_b.extend_from_slice(&wire_ab.drain(..n).collect::<Vec<_>>());
        let n = chunk.min(wire_ba.len());
        in_a.extend_from_slice(&wire_ba.drain(..n).collect::<Vec<_>>());
        if b_done.is_none()
            && let Status::Complete(e) = b.handle_bytes(&mut in_b, ours)?
        {
            b_done = Some(e);
        }
        if a_done.is_none()
            && let Status::Complete(e) = a.handle_bytes(&mut in_a)?
        {
            a_done = Some(e);
        }
    }
    panic!("the handshake did not finish");
}

fn rc4_only() -> Config {
    Config {
        allowed: Methods::RC4,
        prefer_rc4: false,
    }
}

fn plaintext_only() -> Config {
    Config {
        allowed: Methods::PLAINTEXT,
        prefer_rc4: false,
    }
}

/// An exchange built by hand from the spec, with keys, pads and payload chosen here, checked
/// byte for byte against values computed by an independent script (Python's `pow`, `hashlib`
/// and a textbook RC4).
#[test]
fn transcript_matches_independently_computed_bytes() {
    let xa: [u8; 20] = std::array::from_fn(|i| i as u8 + 1);
    let xb: [u8; 20] = std::array::from_fn(|i| i as u8 + 0x21);
    let a_entropy = Entropy::new(xa, vec![0x11; 3], vec![0x33; 2]).unwrap();
    let b_entropy = Entropy::new(xb, vec![0x22; 5], Vec::new()).unwrap();
    let mut a = Initiator::new(Config::default(), a_entropy, IH, b"hello, IA".to_vec()).unwrap();
    let prefer_rc4 = Config {
        prefer_rc4: true,
        ..Config::default()
    };
    let mut b = Responder::new(prefer_rc4, b_entropy);
    let secret = "cd8536d5f2c98f01f8f5a648f69f6f2d6a6aafd044666b01fc8beb81f63ddbea0a862b2b6306431f\
                  7a308b063f795d181ca711b22ab0602a9c4b5d1c53269837773ff53a4de47d9aace6b6a1b789ea\
                  37077507842742eb7581ea180b16748826";
    let ya = "96e112dab29e8c5272accb9b17b26887ce54a144a4e3b697c7d159b7a817e556b0918db2b4c658e0\
              2a87f7e5fb14b18a553e084cbf3dad2d30f16596ccb982d406258c61b30c5c1dae2ddc60bdbd48d7\
              9896312aad63238c39e1a633821eb693";
    let yb = "8f9c9f400fe9b3258f3e48598a95c7805cc90c995cd770283322679d132ebdae09b75eeadc01de69\
              8ef86945cf38314a95fad08c2ad5641802bd5f658eb3ea0db2712c04aa5efed03deecc5104f75d86\
              9d2d197e4336c61f0d71d763bee99416";
    assert_eq!(
        hex::encode(
            KeyPair::new(&PrivateKey(xa))
                .shared_secret(&hex::decode(yb).unwrap().try_into().unwrap())
                .unwrap()
        ),
        secret
    );

    let mut step1 = Vec::new();
    let _ = a.poll_transmit(&mut step1);
    assert_eq!(hex::encode(&step1), format!("{ya}111111"));
    assert_eq!(
        complete(b.handle_bytes(&mut step1[..].into(), ours)),
        Ok(false)
    );
    let mut step2 = Vec::new();
    let _ = b.poll_transmit(&mut step2);
    assert_eq!(hex::encode(&step2), format!("{yb}2222222222"));
    assert_eq!(complete(a.handle_bytes(&mut step2[..].into())), Ok(false));
    let mut step3 = Vec::new();
    let _ = a.poll_transmit(&mut step3);
    assert_eq!(
        hex::encode(&step3),
        "361e3668027ecec9d1086d5f839d191781e8de17ff86a5c7383cb12b4912f17768e0688bd072e568cb\
         54a65b377d988493cbbe06d209a436899e91b26442a715e9b0c8"
    );
    let Ok(Status::Complete(b_done)) = b.handle_bytes(&mut step3[..].into(), ours) else {
        panic!("the responder completes on step 3");
    };
    let mut step4 = Vec::new();
    let _ = b.poll_transmit(&mut step4);
    assert_eq!(hex::encode(&step4), "5c8a3690b2051725a0ae37c265d5");
    let Ok(Status::Complete(a_done)) = a.handle_bytes(&mut step4[..].into()) else {
        panic!("the initiator completes on step 4");
    };
    assert_eq!(b_done.initial_payload, b"hello, IA");
    assert_eq!((a_done.info_hash, b_done.info_hash), (IH, IH));
    let (Crypto::Rc4(mut a_rc4), Crypto::Rc4(mut b_rc4)) = (a_done.crypto, b_done.crypto) else {
        panic!("the responder prefers RC4");
    };
    // ENCRYPT2 continues both keystreams.
    let mut ping = *b"ping from A";
    a_rc4.send.apply(&mut ping);
    assert_eq!(hex::encode(ping), "f734b3067cf38c5a46abad");
    b_rc4.receive.apply(&mut ping);
    assert_eq!(&ping, b"ping from A");
    let mut pong = *b"pong from B";
    b_rc4.send.apply(&mut pong);
    assert_eq!(hex::encode(pong), "dc2e9947751585275b2d72");
}

#[test]
fn round_trip_selects_plaintext_by_default_and_rc4_when_asked_in_any_split() {
    // (initiator allows, responder allows, responder prefers RC4) -> RC4 chosen?
    let cases = [
        (Methods::BOTH, Methods::BOTH, false, false),
        (Methods::BOTH, Methods::BOTH, true, true),
        (Methods::RC4, Methods::BOTH, false, true),
        (Methods::BOTH, Methods::RC4, false, true),
        (Methods::PLAINTEXT, Methods::BOTH, true, false),
        (Methods::BOTH, Methods::PLAINTEXT, true, false),
    ];
    for (a_allowed, b_allowed, prefer_rc4, want_rc4) in cases {
        for chunk in [1, 7, 96, 100_000] {
            for (pad1, pad2) in [(0, 0), (512, 512), (13, 0)] {
                let a_config = Config {
                    allowed: a_allowed,
                    prefer_rc4: false,
                };
                let b_config = Config {
                    allowed: b_allowed,
                    prefer_rc4,
                };
                let ia = vec![0x13; 68];
                let a = Initiator::new(a_config, entropy(1, pad1, pad2), IH, ia.clone()).unwrap();
                let b = Responder::new(b_config, entropy(77, pad2, pad1));
                let (a_done, b_done, rest_a, rest_b) = run(a, b, chunk).expect("completes");
                assert!(rest_a.is_empty() && rest_b.is_empty());
                assert_eq!(b_done.initial_payload, ia);
                assert_eq!(b_done.info_hash, IH);
                match (a_done.crypto, b_done.crypto) {
                    (Crypto::Rc4(mut a), Crypto::Rc4(mut b)) => {
                        assert!(want_rc4, "{a_allowed:?} {b_allowed:?} {prefer_rc4}");
                        let mut data = b"payload".to_vec();
                        a.send.apply(&mut data);
                        assert_ne!(data, b"payload");
                        b.receive.apply(&mut data);
                        assert_eq!(data, b"payload");
                        b.send.apply(&mut data);
                        a.receive.apply(&mut data);
                        assert_eq!(data, b"payload");
                    }
                    (Crypto::Plaintext, Crypto::Plaintext) => assert!(!want_rc4),
                    _ => panic!("the two sides disagree"),
                }
            }
        }
    }
}

#[test]
fn bytes_after_the_handshake_stay_in_the_buffer() {
    let mut a = Initiator::new(rc4_only(), entropy(3, 10, 0), IH, Vec::new()).unwrap();
    let mut b = Responder::new(Config::default(), entropy(4, 20, 5));
    let mut to_b = Vec::new();
    let _ = a.poll_transmit(&mut to_b);
    let mut in_b = BytesMut::from(&to_b[..]);
    assert_eq!(complete(b.handle_bytes(&mut in_b, ours)), Ok(false));
    let mut to_a = Vec::new();
    let _ = b.poll_transmit(&mut to_a);
    let mut in_a = BytesMut::from(&to_a[..]);
    assert_eq!(complete(a.handle_bytes(&mut in_a)), Ok(false));
    to_b.clear();
    let _ = a.poll_transmit(&mut to_b);
    // The initiator cannot send its stream before step 4, but the responder keeps whatever
    // follows IA as it came.
    to_b.extend_from_slice(b"NEXT");
    let mut in_b = BytesMut::from(&to_b[..]);
    let Ok(Status::Complete(done)) = b.handle_bytes(&mut in_b, ours) else {
        panic!("completes");
    };
    assert_eq!(&in_b[..], b"NEXT");
    assert!(done.initial_payload.is_empty());
    // Once done, nothing more is consumed.
    assert_eq!(complete(b.handle_bytes(&mut in_b, ours)), Ok(false));
    assert_eq!(&in_b[..], b"NEXT");
    to_a.clear();
    let _ = b.poll_transmit(&mut to_a);
    to_a.extend_from_slice(b"AFTER");
    let mut in_a = BytesMut::from(&to_a[..]);
    assert!(matches!(a.handle_bytes(&mut in_a), Ok(Status::Complete(_))));
    assert_eq!(&in_a[..], b"AFTER");
}

/// What a hostile or broken initiator sends after `Ya`, built by hand so that every field can
/// be wrong: returns the responder's input and the initiator's RC4 pair.
struct Forged {
    a: KeyPair,
    secret: [u8; PUBLIC_KEY_LEN],
}

impl Forged {
    /// Delivers a `Ya` to `b` and reads back `Yb`.
    fn start(b: &mut Responder) -> Self {
        let a = KeyPair::new(&PrivateKey([9; 20]));
        let mut ya = BytesMut::from(&a.public()[..]);
        assert_eq!(complete(b.handle_bytes(&mut ya, ours)), Ok(false));
        let mut yb = Vec::new();
        let _ = b.poll_transmit(&mut yb);
        let secret = a
            .shared_secret(&yb[..PUBLIC_KEY_LEN].try_into().unwrap())
            .unwrap();
        Self { a, secret }
    }

    /// Step 3 with the given fields; `vc` and `pad_len` as sent (pad_len may lie).
    fn step3(
        &self,
        skey: &InfoHash,
        vc: [u8; 8],
        provide: u32,
        pad_len: u16,
        pad: &[u8],
    ) -> Vec<u8> {
        let _ = &self.a;
        let mut out = crypto::req1(&self.secret).to_vec();
        let req3 = crypto::req3(&self.secret);
        out.extend(
            StreamKeyHash::of(skey)
                .0
                .iter()
                .zip(req3)
                .map(|(x, y)| x ^ y),
        );
        let mut enc = vc.to_vec();
        enc.extend_from_slice(&provide.to_be_bytes());
        enc.extend_from_slice(&pad_len.to_be_bytes());
        enc.extend_from_slice(pad);
        enc.extend_from_slice(&0u16.to_be_bytes());
        Rc4::mse(&crypto::rc4_key(b"keyA", &self.secret, skey)).apply(&mut enc);
        out.extend_from_slice(&enc);
        out
    }
}

#[test]
fn hostile_initiators_get_typed_errors() {
    let step3 = |vc: [u8; 8], skey: InfoHash, provide: u32, pad_len: u16| {
        let mut b = Responder::new(Config::default(), entropy(5, 0, 0));
        let forged = Forged::start(&mut b);
        let pad = vec![0; usize::from(pad_len).min(600)];
        let mut input = BytesMut::from(&forged.step3(&skey, vc, provide, pad_len, &pad)[..]);
        let first = complete(b.handle_bytes(&mut input, ours));
        // Errors are sticky.
        if let Err(e) = first {
            assert_eq!(complete(b.handle_bytes(&mut BytesMut::new(), ours)), Err(e));
        }
        first
    };
    assert_eq!(step3([0; 8], IH, 3, 0), Ok(true));
    assert_eq!(step3([0; 8], IH, 3, 512), Ok(true));
    assert_eq!(
        step3([0; 8], InfoHash([0xbb; 20]), 3, 0),
        Err(Error::UnknownTorrent)
    );
    assert_eq!(
        step3([0, 0, 0, 0, 0, 0, 0, 1], IH, 3, 0),
        Err(Error::BadVerificationConstant)
    );
    assert_eq!(
        step3([0; 8], IH, 3, 513),
        Err(Error::PadTooLong { len: 513 })
    );
    assert_eq!(
        step3([0; 8], IH, 0xffff, 0xffff),
        Err(Error::PadTooLong { len: 0xffff })
    );
    assert_eq!(
        step3([0; 8], IH, 0x04, 0),
        Err(Error::NoCommonMethod { offered: 4 })
    );
    assert_eq!(
        step3([0; 8], IH, 0, 0),
        Err(Error::NoCommonMethod { offered: 0 })
    );
    // Unknown method bits beside a known one are ignored.
    assert_eq!(step3([0; 8], IH, 0xffff_fffe, 0), Ok(true));
}

#[test]
fn the_sync_hash_may_start_512_bytes_into_the_pad_and_no_later() {
    for (pad, chunk, ok) in [
        (512, 1, true),
        (512, 10_000, true),
        (513, 1, false),
        (513, 10_000, false),
    ] {
        let mut b = Responder::new(Config::default(), entropy(5, 0, 0));
        let forged = Forged::start(&mut b);
        let mut wire = vec![0x5a; pad];
        wire.extend_from_slice(&forged.step3(&IH, [0; 8], 3, 0, &[]));
        let mut input = BytesMut::new();
        let mut result = Ok(false);
        for piece in wire.chunks(chunk) {
            input.extend_from_slice(piece);
            result = complete(b.handle_bytes(&mut input, ours));
            assert!(
                input.len() <= 20 + 14 + pad.min(19) + chunk,
                "the search keeps little"
            );
            if result.is_err() {
                break;
            }
        }
        if ok {
            assert_eq!(result, Ok(true), "pad {pad}, chunk {chunk}");
        } else {
            assert_eq!(result, Err(Error::NoSyncHash), "pad {pad}, chunk {chunk}");
        }
    }
}

#[test]
fn an_initiator_refuses_a_bad_answer() {
    // A responder that answers step 3 with `answer` (plaintext fields, encrypted here).
    let answer = |pad_b: usize, fields: &[u8], a_allowed: Methods| {
        let config = Config {
            allowed: a_allowed,
            prefer_rc4: false,
        };
        let mut a = Initiator::new(config, entropy(6, 0, 0), IH, Vec::new()).unwrap();
        let mut ya = Vec::new();
        let _ = a.poll_transmit(&mut ya);
        let b = KeyPair::new(&PrivateKey([8; 20]));
        let secret = b
            .shared_secret(&ya[..PUBLIC_KEY_LEN].try_into().unwrap())
            .unwrap();
        let mut wire = b.public().to_vec();
        wire.extend(std::iter::repeat_n(0xa5, pad_b));
        let mut enc = fields.to_vec();
        Rc4::mse(&crypto::rc4_key(b"keyB", &secret, &IH)).apply(&mut enc);
        wire.extend_from_slice(&enc);
        complete(a.handle_bytes(&mut wire[..].into()))
    };
    let fields = |select: u32, pad: u16| {
        let mut f = vec![0u8; 8];
        f.extend_from_slice(&select.to_be_bytes());
        f.extend_from_slice(&pad.to_be_bytes());
        f.extend(std::iter::repeat_n(0, usize::from(pad).min(600)));
        f
    };
    assert_eq!(answer(0, &fields(1, 0), Methods::BOTH), Ok(true));
    assert_eq!(answer(512, &fields(2, 512), Methods::BOTH), Ok(true));
    assert_eq!(
        answer(513, &fields(2, 0), Methods::BOTH),
        Err(Error::NoSyncVc)
    );
    assert_eq!(
        answer(0, &fields(3, 0), Methods::BOTH),
        Err(Error::BadSelect { selected: 3 })
    );
    assert_eq!(
        answer(0, &fields(0, 0), Methods::BOTH),
        Err(Error::BadSelect { selected: 0 })
    );
    assert_eq!(
        answer(0, &fields(1, 0), Methods::RC4),
        Err(Error::BadSelect { selected: 1 })
    );
    assert_eq!(
        answer(0, &fields(2, 513), Methods::BOTH),
        Err(Error::PadTooLong { len: 513 })
    );
    let mut bad_vc = fields(2, 0);
    bad_vc[7] = 1;
    // A wrong VC looks like more padding: the initiator waits for up to 512 bytes of it.
    assert_eq!(answer(0, &bad_vc, Methods::BOTH), Ok(false));
    bad_vc.extend_from_slice(&[0; 512]);
    assert_eq!(answer(0, &bad_vc, Methods::BOTH), Err(Error::NoSyncVc));
}

#[test]
fn degenerate_public_keys_end_either_side() {
    let mut one = [0u8; PUBLIC_KEY_LEN];
    one[PUBLIC_KEY_LEN - 1] = 1;
    let mut b = Responder::new(Config::default(), entropy(5, 0, 0));
    assert_eq!(
        complete(b.handle_bytes(&mut one[..].into(), ours)),
        Err(Error::BadPublicKey)
    );
    let mut nothing = Vec::new();
    assert_eq!(b.poll_transmit(&mut nothing), 0, "no Yb for a bad Ya");
    let mut a = Initiator::new(Config::default(), entropy(6, 0, 0), IH, Vec::new()).unwrap();
    let _ = a.poll_transmit(&mut nothing);
    assert_eq!(
        complete(a.handle_bytes(&mut [0xff; PUBLIC_KEY_LEN][..].into())),
        Err(Error::BadPublicKey)
    );
}

#[test]
fn usage_errors() {
    assert_eq!(
        Entropy::new([1; 20], vec![0; 513], Vec::new()).err(),
        Some(UsageError::PadTooLong { len: 513 })
    );
    assert_eq!(
        Entropy::new([0; 20], Vec::new(), Vec::new()).err(),
        Some(UsageError::ZeroPrivateKey)
    );
    let none = Config {
        allowed: Methods(0x04),
        prefer_rc4: false,
    };
    assert_eq!(
        Initiator::new(none, entropy(1, 0, 0), IH, Vec::new()).err(),
        Some(UsageError::NoMethodAllowed)
    );
    assert_eq!(
        Initiator::new(plaintext_only(), entropy(1, 0, 0), IH, vec![0; 65536]).err(),
        Some(UsageError::InitialPayloadTooLong { len: 65536 })
    );
    let mut random = [0u8; ENTROPY_LEN];
    random[20] = 0x02;
    random[21] = 0x01; // 513 % 513 = 0
    let e = Entropy::from_random(&random);
    assert_eq!((e.first_pad.len(), e.second_pad.len()), (0, 0));
    assert_eq!(e.private_key.0[19], 1, "a zero key becomes 1");
    random[21] = 0x00; // 512
    assert_eq!(Entropy::from_random(&random).first_pad.len(), 512);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bytes, in any chunks: never a panic, and never more than a handful of bytes kept
    /// beyond what the current step needs.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1500),
                                   chunk in 1usize..300) {
        let mut b = Responder::new(Config::default(), entropy(5, 3, 0));
        let mut a = Initiator::new(Config::default(), entropy(6, 3, 0), IH, Vec::new()).unwrap();
        let (mut in_a, mut in_b) = (BytesMut::new(), BytesMut::new());
        for piece in data.chunks(chunk) {
            in_a.extend_from_slice(piece);
            in_b.extend_from_slice(piece);
            let _ = a.handle_bytes(&mut in_a);
            let _ = b.handle_bytes(&mut in_b, |_| Some(IH));
        }
    }

    #[test]
    fn round_trip_with_any_entropy(ka in 1u8.., kb in 1u8.., pa in 0usize..=512, pb in 0usize..=512,
                                   chunk in 1usize..2000, rc4 in any::<bool>()) {
        let config = if rc4 { rc4_only() } else { Config::default() };
        let a = Initiator::new(config, entropy(ka, pa, pb), IH, vec![ka; 68]).unwrap();
        let b = Responder::new(Config::default(), entropy(kb, pb, pa));
        let (a_done, b_done, _, _) = run(a, b, chunk).expect("completes");
        prop_assert_eq!(b_done.initial_payload, vec![ka; 68]);
        prop_assert_eq!(matches!(a_done.crypto, Crypto::Rc4(_)), rc4);
        prop_assert_eq!(matches!(b_done.crypto, Crypto::Rc4(_)), rc4);
    }
}
