//! Rust-to-Rust data-channel throughput on 127.0.0.1: two peers, a UDP socket and a thread
//! each, one transfer of 64 MiB (byte-exact) per setting, in a release build:
//!
//! ```sh
//! cargo run --release -p rtc-transport --example throughput            # the default matrix
//! cargo run --release -p rtc-transport --example throughput -- 256 16384 65536 0
//! #                                            MiB, message size, max buffered, socket buffer
//! ```
//!
//! "open" is from the first datagram's turn to the data channel opening (signaling is
//! in-process, so this is ICE + DTLS + SCTP + DCEP); "MB/s" counts from the opening to the
//! last byte read.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use common::{Side, pattern, run, udp_pair, wall};
use rtc_transport::Config;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse()
                .expect("numbers: MiB, message size, max buffered, socket buffer")
        })
        .collect();
    let runs: Vec<[usize; 4]> = match args[..] {
        [mib, message, buffered, socket] => vec![[mib, message, buffered, socket]],
        [] => vec![
            [64, 16 * 1024, 64 * 1024, 0],
            [64, 64 * 1024, 64 * 1024, 0],
            [64, 16 * 1024, 256 * 1024, 0],
            [64, 16 * 1024, 256 * 1024, 4 << 20],
            [64, 16 * 1024, 1 << 20, 4 << 20],
            [64, 64 * 1024, 1 << 20, 4 << 20],
        ],
        _ => panic!("give no arguments or four: MiB, message size, max buffered, socket buffer"),
    };
    println!(
        "{:>5} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "MiB", "message", "buffered", "socket", "open", "MB/s"
    );
    for [mib, message, buffered, socket] in runs {
        let config = Config {
            max_message_size: message,
            max_buffered: buffered,
            ..Config::default()
        };
        let ((a, sa), (b, sb)) = udp_pair(&config, socket);
        let data = pattern(9, mib << 20);
        let done = AtomicUsize::new(0);
        let deadline = wall() + Duration::from_secs(300);
        let (to_send, to_expect) = (data.clone(), data);
        let (ra, rb) = std::thread::scope(|s| {
            let done = &done;
            let receiver = Side {
                peer: b,
                socket: sb,
                send: Vec::new(),
                expect: to_expect,
                close_when_done: false,
            };
            let t = s.spawn(move || run(receiver, done, 2, deadline));
            let sender = Side {
                peer: a,
                socket: sa,
                send: to_send,
                expect: Vec::new(),
                close_when_done: true,
            };
            (
                run(sender, done, 2, deadline),
                t.join().expect("receiver thread"),
            )
        });
        let (_, rb) = (ra.expect("sender"), rb.expect("receiver"));
        assert_eq!(rb.received, mib << 20);
        let open = rb.open_after.expect("opened");
        let transfer = rb.transfer.expect("finished");
        let rate = rb.received as f64 / transfer.as_secs_f64() / 1e6;
        let socket = if socket == 0 {
            "default".to_owned()
        } else {
            socket.to_string()
        };
        println!(
            "{mib:>5} {message:>9} {buffered:>9} {socket:>9} {:>7.1}ms {rate:>9.1}",
            open.as_secs_f64() * 1e3
        );
    }
}
