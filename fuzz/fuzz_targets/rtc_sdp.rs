//! A remote SDP as `rtc-transport` takes it from a WebSocket tracker: the input (lossily
//! UTF-8) is scanned by our reader and, when that accepts it, answered by a `Peer`, which hands
//! it to the WebRTC stack's parser. The input is used whole, and also as one line of a valid
//! data-channel offer (the first byte picks which), so that the stack's parser sees deep input.
//!
//! Never a panic; what the scan accepts is within the limits it promises.

#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rtc_transport::sdp::{self, MAX_SDP_LEN};
use rtc_transport::{Config, Peer};

/// A data-channel offer as rtc-transport makes one (keys invented).
const OFFER: &str = "v=0\r\n\
    o=- 5478882764706993783 11174919 IN IP4 0.0.0.0\r\n\
    s=-\r\n\
    t=0 0\r\n\
    a=fingerprint:sha-256 A9:4A:F5:C6:1D:5E:2F:11:69:05:52:4D:EB:62:F1:21:81:0A:70:6C:EA:C8:DB:D4:47:93:8C:D3:FD:5F:71:76\r\n\
    a=group:BUNDLE 0\r\n\
    m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
    c=IN IP4 0.0.0.0\r\n\
    a=setup:actpass\r\n\
    a=mid:0\r\n\
    a=sendrecv\r\n\
    a=sctp-port:5000\r\n\
    a=max-message-size:65536\r\n\
    a=ice-ufrag:UNSLNZHLJtxiBEuZ\r\n\
    a=ice-pwd:HcoPFzaFtigEusurnQLVISfVfRxKoRfa\r\n\
    a=candidate:2693830880 1 udp 2130706431 127.0.0.1 38947 typ host\r\n\
    a=candidate:1467250027 1 udp 2122260223 2f4c3a9e-5b1d-4c7e-9f0a-1b2c3d4e5f60.local 46243 typ host\r\n\
    a=end-of-candidates\r\n";

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn check(text: &str) {
    let Ok(scanned) = sdp::scan(text) else {
        return;
    };
    assert!(text.len() <= MAX_SDP_LEN);
    assert!(scanned.mdns_candidates <= scanned.candidates);
    assert!(scanned.send_limit() > 0);
    let ours: SocketAddr = "127.0.0.1:9".parse().expect("address");
    if let Ok((mut peer, answer)) = Peer::answer(Config::default(), &[ours], text, origin()) {
        assert!(answer.starts_with("v=0"));
        while peer.poll_transmit().is_some() {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if pick & 1 == 0 {
        check(&text);
    } else {
        let lines: Vec<&str> = OFFER.split("\r\n").collect();
        let at = usize::from(pick >> 1) % lines.len();
        let mut spliced = lines.clone();
        spliced[at] = &text;
        check(&spliced.join("\r\n"));
    }
});
