//! Two peers through real UDP sockets on 127.0.0.1 (and ::1), one thread each: a few MiB both
//! ways at once, byte-exact, then a close that the other side sees.

mod common;

use std::time::Duration;

use common::{Closer, exchange, pattern, udp_pair, udp_pair_on};
use rtc_transport::{CloseReason, Config};

const MIB: usize = 1024 * 1024;

#[test]
fn moves_mebibytes_both_ways_byte_exact_then_closes() {
    let ((a, sa), (b, sb)) = udp_pair(&Config::default(), 0);
    let (a_addr, b_addr) = (sa.local_addr().ok(), sb.local_addr().ok());
    let a_data = pattern(1, 4 * MIB);
    let b_data = pattern(2, 3 * MIB + 12_345);
    let (ra, rb) = exchange(
        (a, sa, &a_data),
        (b, sb, &b_data),
        Closer::A,
        Duration::from_secs(60),
    );
    // Each read was checked against the other side's bytes as it came.
    assert_eq!((ra.received, rb.received), (b_data.len(), a_data.len()));
    assert_eq!(ra.closed, Some(CloseReason::Local));
    assert_eq!(rb.closed, Some(CloseReason::Remote));
    assert_eq!((ra.dropped_datagrams, rb.dropped_datagrams), (0, 0));
    // Each knows where the other is.
    assert_eq!((ra.remote_addr, rb.remote_addr), (b_addr, a_addr));
    assert!(ra.open_after.is_some() && rb.open_after.is_some());
}

#[test]
fn works_over_ipv6_loopback() {
    let ((a, sa), (b, sb)) = udp_pair_on("[::1]:0", &Config::default(), 0);
    assert!(a.local_sdp().contains(" ::1 "), "{}", a.local_sdp());
    let a_data = pattern(10, MIB);
    let b_data = pattern(11, MIB / 2);
    let (ra, rb) = exchange(
        (a, sa, &a_data),
        (b, sb, &b_data),
        Closer::B,
        Duration::from_secs(60),
    );
    assert_eq!((ra.received, rb.received), (b_data.len(), a_data.len()));
    assert_eq!(
        (ra.closed, rb.closed),
        (Some(CloseReason::Remote), Some(CloseReason::Local))
    );
}
