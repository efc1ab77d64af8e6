//! Two peers through real UDP sockets on 127.0.0.1 (and ::1), one thread each: a few MiB both
//! ways at once, byte-exact, then a close that the other side sees.

mod common;

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use common::{Side, pattern, run, udp_pair, udp_pair_on, wall};
use rtc_transport::{CloseReason, Config};

const MIB: usize = 1024 * 1024;

#[test]
fn moves_mebibytes_both_ways_byte_exact_then_closes() {
    let ((a, sa), (b, sb)) = udp_pair(&Config::default(), 0);
    let a_data = pattern(1, 4 * MIB);
    let b_data = pattern(2, 3 * MIB + 12_345);
    let done = AtomicUsize::new(0);
    let deadline = wall() + Duration::from_secs(60);
    let (ra, rb) = std::thread::scope(|s| {
        let done = &done;
        let b_side = Side {
            peer: b,
            socket: sb,
            send: b_data.clone(),
            expect: a_data.clone(),
            close_when_done: false,
        };
        let tb = s.spawn(move || run(b_side, done, 2, deadline));
        let a_side = Side {
            peer: a,
            socket: sa,
            send: a_data.clone(),
            expect: b_data.clone(),
            close_when_done: true,
        };
        let ra = run(a_side, done, 2, deadline);
        (ra, tb.join().expect("b's thread"))
    });
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    // Each read was checked against the other side's bytes as it came.
    assert_eq!((ra.received, rb.received), (b_data.len(), a_data.len()));
    assert_eq!(ra.closed, Some(CloseReason::Local));
    assert_eq!(rb.closed, Some(CloseReason::Remote));
    assert_eq!((ra.dropped_datagrams, rb.dropped_datagrams), (0, 0));
    assert!(ra.open_after.is_some() && rb.open_after.is_some());
}

#[test]
fn works_over_ipv6_loopback() {
    let ((a, sa), (b, sb)) = udp_pair_on("[::1]:0", &Config::default(), 0);
    assert!(a.local_sdp().contains(" ::1 "), "{}", a.local_sdp());
    let a_data = pattern(10, MIB);
    let b_data = pattern(11, MIB / 2);
    let done = AtomicUsize::new(0);
    let deadline = wall() + Duration::from_secs(60);
    let (ra, rb) = std::thread::scope(|s| {
        let done = &done;
        let b_side = Side {
            peer: b,
            socket: sb,
            send: b_data.clone(),
            expect: a_data.clone(),
            close_when_done: true,
        };
        let tb = s.spawn(move || run(b_side, done, 2, deadline));
        let a_side = Side {
            peer: a,
            socket: sa,
            send: a_data.clone(),
            expect: b_data.clone(),
            close_when_done: false,
        };
        (
            run(a_side, done, 2, deadline),
            tb.join().expect("b's thread"),
        )
    });
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert_eq!((ra.received, rb.received), (b_data.len(), a_data.len()));
    assert_eq!(
        (ra.closed, rb.closed),
        (Some(CloseReason::Remote), Some(CloseReason::Local))
    );
}
