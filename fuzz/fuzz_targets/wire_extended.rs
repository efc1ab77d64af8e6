//! Extended-message payloads (BEP 10 handshake, ut_metadata, ut_pex, lt_donthave): the first
//! byte picks the decoder, the rest is the payload. Never a panic; whatever decodes re-encodes
//! to something that decodes to the same value.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use peer_wire::extended::{ExtendedHandshake, Metadata, Pex, decode_dont_have, encode_dont_have};

fuzz_target!(|data: &[u8]| {
    let Some((&which, payload)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            if let Ok(h) = ExtendedHandshake::decode(payload) {
                assert_eq!(ExtendedHandshake::decode(&h.encode()), Ok(h));
            }
        }
        1 => {
            if let Ok(m) = Metadata::decode(&Bytes::copy_from_slice(payload)) {
                assert_eq!(Metadata::decode(&Bytes::from(m.encode())), Ok(m));
            }
        }
        2 => {
            if let Ok(p) = Pex::decode(payload) {
                let again = Pex::decode(&p.encode()).expect("our encoding decodes");
                // Encoding groups IPv4 before IPv6, as BEP 11's two lists do.
                let mut a = p.added.clone();
                let mut b = again.added.clone();
                a.sort_by_key(|(addr, _)| addr.is_ipv6());
                b.sort_by_key(|(addr, _)| addr.is_ipv6());
                assert_eq!(a, b);
                assert_eq!(p.dropped.len(), again.dropped.len());
            }
        }
        _ => {
            if let Ok(piece) = decode_dont_have(payload) {
                assert_eq!(encode_dont_have(piece), payload);
            }
        }
    }
});
