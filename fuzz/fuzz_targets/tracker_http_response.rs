//! HTTP tracker bodies and request targets. The first byte picks the parser (bit 0: announce or
//! scrape response; bit 1: also parse the rest as a server request target) and the limits
//! (bit 2: small ones); the rest is the input.
//!
//! Nothing panics; a success never holds more peers, swarms or string bytes than the limits
//! allow; a scrape reply's stats survive our server's encoder and our parser unchanged; a
//! request target the server accepts is answered with a body our client can read.

#![no_main]

use std::sync::OnceLock;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use tracker::Reply;
use tracker::http::server::{self, RequestLimits};
use tracker::http::{self, Limits};
use tracker::server::{Config, SwarmTable};

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let Some((&header, body)) = data.split_first() else {
        return;
    };
    let limits = if header & 4 != 0 {
        Limits {
            max_response_len: 512,
            max_peers: 5,
            max_files: 3,
            max_string_len: 16,
        }
    } else {
        Limits::default()
    };
    if header & 1 == 0 {
        if let Ok(Reply::Success(r)) = http::parse_announce_response(body, &limits) {
            assert!(r.peers.len() <= limits.max_peers);
            assert!(
                r.warning
                    .as_ref()
                    .is_none_or(|w| w.len() <= 3 * limits.max_string_len)
            );
            assert!(
                r.tracker_id
                    .as_ref()
                    .is_none_or(|t| t.len() <= limits.max_string_len)
            );
        }
    } else if let Ok(Reply::Success(r)) = http::parse_scrape_response(body, &limits) {
        assert!(r.files.len() <= limits.max_files);
        let again = server::encode_scrape(&r.files, r.min_request_interval);
        let Ok(Reply::Success(back)) = http::parse_scrape_response(&again, &Limits::default())
        else {
            panic!("our own scrape body does not parse")
        };
        // A repeated key is read once per occurrence but written once.
        for (hash, stats) in &back.files {
            assert!(r.files.iter().any(|(h, s)| h == hash && s == stats));
        }
    }
    if header & 2 != 0 {
        let target = String::from_utf8_lossy(body);
        let mut table = SwarmTable::new(Config::default());
        let reply = server::respond(
            origin(),
            &target,
            "10.0.0.1".parse().expect("an address"),
            &mut table,
            &RequestLimits::default(),
        );
        let readable = match server::parse_request(&target, &RequestLimits::default()) {
            Ok(server::Request::Scrape(_)) => {
                http::parse_scrape_response(&reply, &Limits::default()).is_ok()
            }
            _ => http::parse_announce_response(&reply, &Limits::default()).is_ok(),
        };
        assert!(readable, "our server's reply does not parse");
    }
});
