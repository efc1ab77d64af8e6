//! The panic guard inside a peer: a panic in the peer connection or in a TURN client closes
//! the peer once, and nothing of the stack is called after it. (A real panic of the stack,
//! sent by a hostile remote, is in tests/hostile.rs.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;

#[expect(clippy::disallowed_methods, reason = "a test's starting instant")]
fn start() -> Instant {
    Instant::now()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// Every call after the stack panicked: harmless, nothing sent, no deadline, no event.
fn assert_inert(peer: &mut Peer, now: Instant) {
    assert!(peer.pc.is_none(), "the connection is dropped");
    assert_eq!(peer.state(), State::Closed);
    peer.handle_receive(now, addr("192.0.2.7:9"), addr("192.0.2.1:4000"), &[22; 40]);
    peer.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(peer.write(now, b"x"), Err(UsageError::Closed));
    assert_eq!(peer.read(&mut [0; 8]), 0);
    peer.close();
    assert_eq!(peer.poll_transmit(), None);
    assert_eq!(peer.poll_timeout(), None);
    assert_eq!(peer.poll_event(), None);
}

#[test]
fn a_panic_in_the_connection_closes_the_peer_and_drops_the_connection() {
    let now = start();
    let (mut peer, _) =
        Peer::offer(Config::default(), &[addr("192.0.2.1:4000")], now).expect("offer");
    let fault = peer.with_pc(|_| -> () { panic!("a bug in the stack") });
    assert_eq!(fault, Err(Fault::Panicked("a bug in the stack".to_owned())));
    assert_eq!(
        peer.poll_event(),
        Some(Event::Closed(CloseReason::StackPanic))
    );
    assert_eq!(peer.with_pc(|_| ()), Err(Fault::Gone));
    assert_inert(&mut peer, now);
}

#[test]
fn a_panic_in_a_turn_client_closes_the_peer_without_a_goodbye() {
    let now = start();
    let host = addr("192.0.2.1:4000");
    let (mut peer, _) = Peer::offer(Config::default(), &[host], now).expect("offer");
    peer.relays = Relays::new(
        vec![Allocation::panicked(
            host,
            addr("192.0.2.2:3478"),
            addr("192.0.2.2:50000"),
        )],
        IcePolicy::All,
    );
    // Found at the next refresh of the deadline, which every input and command ends with,
    // and `poll_transmit` once the queue is drained.
    while peer.poll_transmit().is_some() {}
    assert_eq!(
        peer.poll_event(),
        Some(Event::Closed(CloseReason::StackPanic))
    );
    assert!(peer.relays.is_empty(), "the TURN clients are dropped too");
    assert_inert(&mut peer, now);
}
