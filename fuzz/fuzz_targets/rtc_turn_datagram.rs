//! Datagrams from a STUN/TURN server's address as `rtc-transport`'s `Gatherer` takes them: the
//! input is cut into datagrams (a length byte each); the first byte of each picks whether its
//! header is patched to look like a response (success or error, of any method) to one of the
//! requests in flight, so that the parse goes past the transaction check into the attributes
//! (XOR-MAPPED-ADDRESS, NONCE, REALM, XOR-RELAYED-ADDRESS, LIFETIME, ERROR-CODE) and into
//! ChannelData. Also, lossily, the input as an ICE server URL.
//!
//! Never a panic; gathering ends by the deadline whatever came.

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rtc_transport::ice::ServerUrl;
use rtc_transport::{GatherConfig, Gatherer, ResolvedServer};

fuzz_target!(|data: &[u8]| {
    let _ = ServerUrl::parse(&String::from_utf8_lossy(data));

    let host: SocketAddr = "127.0.0.1:40000".parse().expect("addr");
    let server: SocketAddr = "127.0.0.1:3478".parse().expect("addr");
    let servers = [ResolvedServer::Turn {
        addr: server,
        username: "u".to_owned(),
        credential: "p".to_owned(),
    }];
    let start = Instant::now();
    let config = GatherConfig {
        timeout: Duration::from_secs(5),
    };
    let Ok(mut g) = Gatherer::new(&config, &[host], &servers, start) else {
        return;
    };
    let mut requests: Vec<[u8; 16]> = Vec::new();
    let mut rest = data;
    let mut now = start;
    while let [len, mode, tail @ ..] = rest {
        while let Some(t) = g.poll_transmit() {
            if t.contents.len() >= 20 {
                let mut header = [0u8; 16];
                header.copy_from_slice(&t.contents[4..20]);
                requests.push(header);
            }
        }
        let n = usize::from(*len).min(tail.len());
        let mut datagram = tail[..n].to_vec();
        rest = &tail[n..];
        if datagram.len() >= 20 && !requests.is_empty() && mode & 1 == 1 {
            let request = requests[usize::from(mode >> 1) % requests.len()];
            // Class bits (RFC 8489 §5): success 0x0100 or error 0x0110 on the request's method.
            // Binding, Allocate, Refresh, CreatePermission, ChannelBind (RFC 8656 §17).
            let method: u16 = [0x001, 0x003, 0x004, 0x008, 0x009][usize::from(datagram[1] % 5)];
            let class: u16 = if mode & 0x80 == 0 { 0x0100 } else { 0x0110 };
            datagram[..2].copy_from_slice(&(method | class).to_be_bytes());
            let body = (datagram.len() - 20) as u16 & !3;
            datagram[2..4].copy_from_slice(&body.to_be_bytes());
            datagram.truncate(20 + usize::from(body));
            datagram[4..20].copy_from_slice(&request);
        }
        g.handle_receive(now, server, host, &datagram);
        if mode & 0x40 != 0 {
            now += Duration::from_millis(300);
            g.handle_timeout(now);
        }
    }
    for _ in 0..64 {
        let Some(t) = g.poll_timeout() else { break };
        now = now.max(t);
        g.handle_timeout(now);
        while g.poll_transmit().is_some() {}
    }
    assert!(g.is_done());
    let _ = g.finish();
});
