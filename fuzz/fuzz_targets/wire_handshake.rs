//! Handshake decoding: any bytes give a handshake, `Partial` or an error, never a panic; a
//! decoded handshake took exactly 68 bytes and re-encodes to them byte for byte, and `Partial`
//! is only ever the answer to fewer than 68 bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use peer_wire::Status;
use peer_wire::handshake::{HANDSHAKE_LEN, Handshake};

fuzz_target!(|data: &[u8]| {
    match Handshake::decode(data) {
        Ok(Status::Complete((handshake, n))) => {
            assert_eq!(n, HANDSHAKE_LEN, "a handshake is 68 bytes");
            let mut out = Vec::new();
            handshake.encode(&mut out);
            assert_eq!(out, data[..n], "re-encoding is not the input prefix");
        }
        Ok(Status::Partial) => assert!(data.len() < HANDSHAKE_LEN, "Partial on a whole handshake"),
        Err(_) => {}
    }
});
