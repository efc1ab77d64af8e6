//! DCEP (RFC 8832), the data-channel establishment messages a remote sends us in-band: the
//! parser of webrtc-rs's `rtc` stack that `rtc-transport` relies on, given any bytes. Never a
//! panic; a message it accepts marshals to bytes that parse to the same message again.
//!
//! Known bug of rtc-datachannel 0.21.1, found by this target: a message of type 0x00 (the
//! stack's internal "threshold" message, which no remote should send) shorter than 6 bytes
//! panics in `DataChannelThreshold::unmarshal` (`get_u32` past the end). A remote can send one,
//! so `rtc_transport::Peer` catches panics of the stack and closes the connection
//! (tests/hostile.rs); here those inputs are skipped so that the rest of the parser stays
//! fuzzed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rtc::datachannel::message::Message;
use rtc::shared::marshal::{Marshal, MarshalSize, Unmarshal};

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&0x00) && data.len() < 6 {
        return; // the known bug above
    }
    let mut buf = data;
    let Ok(message) = Message::unmarshal(&mut buf) else {
        return;
    };
    // Labels and protocols are bounded by their 16-bit lengths: a message is at most 128 KiB.
    let size = message.marshal_size();
    assert!(size <= 12 + 2 * 65_535 + 1, "{size}");
    let mut out = vec![0u8; size];
    let Ok(n) = message.marshal_to(&mut out) else {
        return;
    };
    let mut again = &out[..n];
    let parsed = Message::unmarshal(&mut again).expect("what it wrote parses");
    assert_eq!(parsed, message);
});
