//! A remote that breaks the rules of the BitTorrent channel, played by a bare rtc peer
//! connection: an unordered channel, a text message. Each closes our peer with its reason.
//! (A partially reliable but ordered channel is not caught: rtc 0.21 drops the DCEP
//! reliability type of a remote's channel, see the README.)

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::wall;
use rtc::data_channel::{RTCDataChannelId, RTCDataChannelInit};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::event::{RTCDataChannelEvent, RTCPeerConnectionEvent};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rtc_transport::{CloseReason, Config, Event, Peer, ProtocolViolation};

const THEM: &str = "127.0.0.1:41001";
const US: &str = "127.0.0.1:41002";

/// A bare rtc offerer with one channel made with `init`, and our answering peer.
fn connect(init: RTCDataChannelInit, now: Instant) -> (RTCPeerConnection, RTCDataChannelId, Peer) {
    let them: SocketAddr = THEM.parse().expect("addr");
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .build(now)
        .expect("peer connection");
    let host = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: them.ip().to_string(),
            port: them.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()
    .expect("candidate");
    pc.add_local_candidate(RTCIceCandidate::from(&host).to_json().expect("json"))
        .expect("add");
    pc.add_local_candidate(RTCIceCandidateInit::default())
        .expect("end");
    let id = pc
        .create_data_channel("hostile", Some(init))
        .expect("channel")
        .id();
    let offer = pc.create_offer(None).expect("offer");
    pc.set_local_description(now, offer).expect("local");
    let offer = pc.local_description().expect("offer").sdp;
    let (peer, answer) =
        Peer::answer(Config::default(), &[US.parse().expect("addr")], &offer, now).expect("answer");
    pc.set_remote_description(now, RTCSessionDescription::answer(answer).expect("answer"))
        .expect("remote");
    (pc, id, peer)
}

/// Runs both until `ours` has closed; `on_open` runs once when the bare peer's channel opens.
fn run(
    mut pc: RTCPeerConnection,
    mut peer: Peer,
    mut now: Instant,
    mut on_open: impl FnMut(&mut RTCPeerConnection, Instant),
) -> Vec<Event> {
    let mut events = Vec::new();
    let mut opened = false;
    for _ in 0..20_000 {
        now += Duration::from_micros(50);
        let mut moved = false;
        while let Some(t) = pc.poll_write() {
            peer.handle_receive(
                now,
                t.transport.local_addr,
                t.transport.peer_addr,
                &t.message,
            );
            moved = true;
        }
        while let Some(t) = peer.poll_transmit() {
            let packet = TaggedBytesMut {
                now,
                transport: TransportContext {
                    local_addr: t.destination,
                    peer_addr: t.source,
                    ecn: None,
                    transport_protocol: TransportProtocol::UDP,
                },
                message: BytesMut::from(&t.contents[..]),
            };
            let _ = pc.handle_read(packet);
            moved = true;
        }
        let mut any = false;
        while let Some(e) = pc.poll_event() {
            any = true;
            if let RTCPeerConnectionEvent::OnDataChannel(RTCDataChannelEvent::OnOpen(_)) = e
                && !opened
            {
                opened = true;
                on_open(&mut pc, now);
            }
        }
        while pc.poll_read().is_some() {}
        if any {
            let _ = pc.handle_timeout(now);
        }
        events.extend(std::iter::from_fn(|| peer.poll_event()));
        if events.iter().any(|e| matches!(e, Event::Closed(_))) {
            return events;
        }
        if !moved {
            let next = [pc.poll_timeout(), peer.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .expect("a deadline");
            now = now.max(next);
            let _ = pc.handle_timeout(now);
            peer.handle_timeout(now);
        }
    }
    panic!("never closed: {events:?}");
}

#[test]
fn an_unordered_channel_is_refused() {
    let now = wall();
    let init = RTCDataChannelInit {
        ordered: false,
        ..Default::default()
    };
    let (pc, _, peer) = connect(init, now);
    let events = run(pc, peer, now, |_, _| {});
    assert_eq!(
        events.last(),
        Some(&Event::Closed(CloseReason::Violation(
            ProtocolViolation::UnreliableChannel
        ))),
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ChannelOpen { .. })),
        "{events:?}"
    );
}

#[test]
fn a_text_message_closes_the_stream() {
    let now = wall();
    let (pc, id, peer) = connect(RTCDataChannelInit::default(), now);
    let events = run(pc, peer, now, |pc, now| {
        let mut channel = pc.data_channel(id).expect("open channel");
        channel
            .send(now, BytesMut::from(&b"\x00\x00\x00\x01\x02"[..]))
            .expect("binary");
        channel.send_text(now, "hello").expect("text");
    });
    assert_eq!(
        events,
        [
            Event::Connected,
            Event::ChannelOpen {
                label: "hostile".into()
            },
            Event::Readable,
            Event::Closed(CloseReason::Violation(ProtocolViolation::TextMessage)),
        ]
    );
}
