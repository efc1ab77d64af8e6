//! A remote that breaks the rules, played by webrtc-rs's own stack: a bare rtc peer connection
//! (an unordered channel, a text message), each closing our peer with its reason; and a remote
//! assembled from rtc's ICE, DTLS and SCTP layers that sends the DCEP message on which rtc
//! 0.21.1 panics, which our peer survives as `CloseReason::StackPanic`. (A partially reliable
//! but ordered channel is not caught: rtc 0.21 drops the DCEP reliability type of a remote's
//! channel, see the README.)

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::wall;
use rtc::crypto::HashAlgorithm;
use rtc::data_channel::{RTCDataChannelId, RTCDataChannelInit};
use rtc::datachannel::message::Message;
use rtc::datachannel::message::message_channel_open::{ChannelType, DataChannelOpen};
use rtc::dtls::config::{ConfigBuilder, ExtendedMasterSecretType};
use rtc::dtls::crypto::Certificate;
use rtc::dtls::endpoint::{Endpoint as DtlsEndpoint, EndpointEvent as DtlsEvent};
use rtc::dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::event::{RTCDataChannelEvent, RTCPeerConnectionEvent};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::sansio::Protocol;
use rtc::sctp::{
    Association, AssociationHandle, DatagramEvent, Endpoint as SctpEndpoint, EndpointConfig,
    Event as SctpEvent, Payload, PayloadProtocolIdentifier, ServerConfig, TransportConfig,
};
use rtc::shared::marshal::Marshal;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rtc_transport::{
    CloseReason, Config, Event, Peer, ProtocolViolation, State, Transmit, UsageError,
};

const THEM: &str = "127.0.0.1:41001";
const US: &str = "127.0.0.1:41002";

/// Our peer's datagram `t` as it arrives at its destination, for an rtc stack.
fn delivered(now: Instant, t: &Transmit) -> TaggedBytesMut {
    TaggedBytesMut {
        now,
        transport: TransportContext {
            local_addr: t.destination,
            peer_addr: t.source,
            ecn: None,
            transport_protocol: TransportProtocol::UDP,
        },
        message: BytesMut::from(&t.contents[..]),
    }
}

/// A bare rtc offerer on [`THEM`] with one channel made with `init`, its offer set.
fn bare_offerer(init: RTCDataChannelInit, now: Instant) -> (RTCPeerConnection, RTCDataChannelId) {
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
    (pc, id)
}

/// A bare rtc offerer with one channel made with `init`, and our answering peer.
fn connect(init: RTCDataChannelInit, now: Instant) -> (RTCPeerConnection, RTCDataChannelId, Peer) {
    let (mut pc, id) = bare_offerer(init, now);
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
            let _ = pc.handle_read(delivered(now, &t));
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

// A remote that puts any message on the SCTP wire: the DCEP message that panics rtc 0.21.1.

/// rtc-datachannel 0.21.1 reads a DCEP message of type 0x00 (its internal "threshold" type,
/// which no remote should send) as a type byte, a byte and a `u32`, without checking the
/// length: shorter than 6 bytes, `get_u8`/`get_u32` run past the end and panic
/// (`DataChannelThreshold::unmarshal`, found by fuzz/fuzz_targets/rtc_dcep.rs).
const THRESHOLD_TOO_SHORT: &[u8] = &[0x00];
const THRESHOLD_TWO_BYTES: &[u8] = &[0x00, 0x01];

/// SCTP's payload protocol identifier for DCEP (RFC 8832 §8.1).
const PPI_DCEP: PayloadProtocolIdentifier = PayloadProtocolIdentifier::Dcep;

/// The stream of the hostile remote's channel: the DTLS server opens odd ones (RFC 8832 §6).
const STREAM: u16 = 1;

/// A remote that can send any SCTP message. rtc's public API cannot: `RTCDataChannel::send`
/// picks the payload protocol from the data (binary or string), and every DCEP message
/// (PPI 50) an `RTCPeerConnection` sends goes through the same `Message::unmarshal` on its
/// own write path (rtc's `handler/sctp.rs`), which panics on these bytes first. So the remote
/// is assembled from rtc's own lower layers, each the real thing on the wire: an
/// `RTCPeerConnection` does ICE (its offer, with our certificate's fingerprint in place of
/// its own; the DTLS datagrams it never gets), a bare `rtc::dtls` endpoint is the DTLS
/// server our answerer connects to, and a bare `rtc::sctp` endpoint inside it accepts our
/// association, on which this test writes DCEP messages byte by byte.
struct RawRemote {
    ice: RTCPeerConnection,
    dtls: DtlsEndpoint,
    sctp: SctpEndpoint,
    association: Option<(AssociationHandle, Association)>,
    connected: bool,
    us: SocketAddr,
}

impl RawRemote {
    /// The remote's offer, and the remote.
    fn offer(now: Instant) -> (Self, String) {
        let them: SocketAddr = THEM.parse().expect("addr");
        let us: SocketAddr = US.parse().expect("addr");
        let provider = rtc::crypto::default_provider().expect("crypto");
        let certificate =
            Certificate::generate_self_signed(vec!["hostile".to_owned()], provider.crypto())
                .expect("certificate");
        let digest = provider
            .crypto()
            .hash(HashAlgorithm::Sha256, &certificate.certificate[0])
            .expect("sha-256");
        let fingerprint: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
        let config = ConfigBuilder::default()
            .with_crypto_provider(provider)
            .with_certificates(vec![certificate])
            .with_srtp_protection_profiles(vec![
                SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm,
                SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80,
            ])
            .with_extended_master_secret(ExtendedMasterSecretType::Require)
            .with_insecure_skip_verify(true)
            .build(false, None)
            .expect("dtls config");
        let (ice, _) = bare_offerer(RTCDataChannelInit::default(), now);
        let offer = ice.local_description().expect("offer").sdp;
        let offer: String = offer
            .lines()
            .map(|line| {
                if line.starts_with("a=fingerprint:") {
                    format!("a=fingerprint:sha-256 {}\r\n", fingerprint.join(":"))
                } else {
                    format!("{line}\r\n")
                }
            })
            .collect();
        let remote = Self {
            ice,
            dtls: DtlsEndpoint::new(them, TransportProtocol::UDP, Some(Arc::new(config))),
            sctp: SctpEndpoint::new(
                them,
                TransportProtocol::UDP,
                EndpointConfig::default().into(),
                Some(ServerConfig::new(TransportConfig::default()).into()),
            ),
            association: None,
            connected: false,
            us,
        };
        (remote, offer)
    }

    /// A datagram from our peer: STUN to the ICE agent, DTLS to the DTLS server, and what
    /// that decrypts to the SCTP server.
    fn handle_receive(&mut self, now: Instant, t: &Transmit) {
        match t.contents[0] {
            0..=3 => {
                let _ = self.ice.handle_read(delivered(now, t));
            }
            20..=63 => {
                let events = self
                    .dtls
                    .read(now, t.source, None, BytesMut::from(&t.contents[..]))
                    .unwrap_or_default();
                for event in events {
                    if let DtlsEvent::ApplicationData(data) = event {
                        self.sctp_receive(now, data.freeze());
                    }
                }
            }
            _ => {}
        }
    }

    fn sctp_receive(&mut self, now: Instant, packet: Bytes) {
        match self.sctp.handle(now, self.us, None, packet) {
            Some((handle, DatagramEvent::NewAssociation(association))) => {
                self.association = Some((handle, association));
            }
            Some((_, DatagramEvent::AssociationEvent(event))) => {
                if let Some((_, association)) = &mut self.association {
                    association.handle_event(event);
                }
            }
            _ => {}
        }
    }

    /// Everything the remote sends: ICE's STUN, DTLS records (SCTP packets inside).
    fn poll_transmits(&mut self, now: Instant) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(t) = self.ice.poll_write() {
            // Only STUN: the stack's own DTLS is not the one our peer talks to.
            if t.message.first().is_some_and(|&b| b <= 3) {
                out.push((
                    t.transport.local_addr,
                    t.transport.peer_addr,
                    t.message.to_vec(),
                ));
            }
        }
        while self.ice.poll_event().is_some() {}
        while self.ice.poll_read().is_some() {}
        if let Some((handle, association)) = &mut self.association {
            while let Some(event) = association.poll() {
                self.connected |= matches!(event, SctpEvent::Connected);
            }
            while let Some(event) = association.poll_endpoint_event() {
                self.sctp.handle_event(*handle, event);
            }
            while let Some(t) = association.poll_transmit(now) {
                if let Payload::RawEncode(packets) = t.message {
                    for packet in packets {
                        self.dtls.write(now, self.us, &packet).expect("dtls write");
                    }
                }
            }
        }
        while let Some(t) = self.dtls.poll_transmit() {
            out.push((
                t.transport.local_addr,
                t.transport.peer_addr,
                t.message.to_vec(),
            ));
        }
        out
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        [
            self.ice.poll_timeout(),
            self.dtls.poll_timeout(&self.us),
            self.association
                .as_ref()
                .and_then(|(_, a)| a.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        let _ = self.ice.handle_timeout(now);
        let _ = self.dtls.handle_timeout(self.us, now);
        if let Some((_, association)) = &mut self.association {
            association.handle_timeout(now);
        }
    }

    /// Writes `payload` as one SCTP message with the DCEP payload protocol on [`STREAM`].
    fn send_dcep(&mut self, now: Instant, payload: &[u8]) {
        let (_, association) = self.association.as_mut().expect("an association");
        let mut stream = match association.stream(STREAM) {
            Ok(stream) => stream,
            Err(_) => association.open_stream(STREAM, PPI_DCEP).expect("stream"),
        };
        stream
            .write_with_ppi(now, payload, PPI_DCEP)
            .expect("sctp write");
    }
}

/// A DCEP DATA_CHANNEL_OPEN (RFC 8832 §5.1) for a reliable, ordered channel.
fn dcep_open(label: &str) -> Vec<u8> {
    Message::DataChannelOpen(DataChannelOpen {
        channel_type: ChannelType::Reliable,
        priority: 0,
        reliability_parameter: 0,
        label: label.as_bytes().to_vec(),
        protocol: Vec::new(),
    })
    .marshal()
    .expect("marshal")
    .to_vec()
}

/// Connects a [`RawRemote`] to our answering peer over the in-memory network, then lets
/// `script` act once per step with the remote and our events so far, until our peer closes.
/// Returns our events and the peer.
fn run_raw(mut script: impl FnMut(&mut RawRemote, &[Event], Instant)) -> (Vec<Event>, Peer) {
    let mut now = wall();
    let (mut remote, offer) = RawRemote::offer(now);
    let (mut peer, answer) =
        Peer::answer(Config::default(), &[US.parse().expect("addr")], &offer, now).expect("answer");
    remote
        .ice
        .set_remote_description(now, RTCSessionDescription::answer(answer).expect("answer"))
        .expect("remote");
    let mut events = Vec::new();
    for _ in 0..20_000 {
        now += Duration::from_micros(50);
        let mut moved = false;
        for (from, to, datagram) in remote.poll_transmits(now) {
            peer.handle_receive(now, from, to, &datagram);
            moved = true;
        }
        while let Some(t) = peer.poll_transmit() {
            remote.handle_receive(now, &t);
            moved = true;
        }
        events.extend(std::iter::from_fn(|| peer.poll_event()));
        if events.iter().any(|e| matches!(e, Event::Closed(_))) {
            return (events, peer);
        }
        if remote.connected {
            script(&mut remote, &events, now);
        }
        if !moved {
            let next = [remote.poll_timeout(), peer.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .expect("a deadline");
            now = now.max(next);
            remote.handle_timeout(now);
            peer.handle_timeout(now);
        }
    }
    panic!("never closed: {events:?} {peer:?}");
}

/// What the peer must be after the stack panicked: closed, and every call harmless (no
/// panic, nothing sent, no deadline, no event).
fn assert_inert(mut peer: Peer) {
    let now = wall();
    assert_eq!(peer.state(), State::Closed);
    assert_eq!(peer.poll_timeout(), None);
    assert_eq!(
        peer.poll_transmit(),
        None,
        "nothing is said for a stack that panicked"
    );
    let them: SocketAddr = THEM.parse().expect("addr");
    let us: SocketAddr = US.parse().expect("addr");
    for datagram in [&b"\x00\x01\x00\x00"[..], &[22; 40], THRESHOLD_TOO_SHORT] {
        peer.handle_receive(now, them, us, datagram);
    }
    peer.handle_timeout(now + Duration::from_secs(60));
    assert_eq!(peer.write(now, b"more"), Err(UsageError::Closed));
    assert_eq!(peer.read(&mut [0; 16]), 0);
    assert_eq!(peer.read_into(&mut BytesMut::new()), 0);
    assert_eq!(
        peer.accept_answer(now, "v=0"),
        Err(UsageError::Closed.into())
    );
    peer.close();
    assert_eq!(peer.poll_transmit(), None);
    assert_eq!(peer.poll_timeout(), None);
    assert_eq!(peer.poll_event(), None, "Closed comes once");
    assert_eq!(peer.buffered_amount(), 0);
}

#[test]
fn a_short_threshold_message_on_the_open_channel_is_a_stack_panic() {
    let mut sent = false;
    let mut opened = false;
    let (events, peer) = run_raw(|remote, events, now| {
        if !opened {
            remote.send_dcep(now, &dcep_open("hostile"));
            opened = true;
        } else if !sent
            && events
                .iter()
                .any(|e| matches!(e, Event::ChannelOpen { .. }))
        {
            remote.send_dcep(now, THRESHOLD_TOO_SHORT);
            sent = true;
        }
    });
    assert!(sent, "{events:?}");
    assert_eq!(
        events,
        [
            Event::Connected,
            Event::ChannelOpen {
                label: "hostile".into()
            },
            Event::Closed(CloseReason::StackPanic),
        ]
    );
    assert_inert(peer);
}

#[test]
fn a_short_threshold_message_opening_a_channel_is_a_stack_panic() {
    let mut sent = false;
    let (events, peer) = run_raw(|remote, _, now| {
        if !sent {
            // rtc's accept path: the first DCEP message on a new stream.
            remote.send_dcep(now, THRESHOLD_TWO_BYTES);
            sent = true;
        }
    });
    assert_eq!(events.last(), Some(&Event::Closed(CloseReason::StackPanic)));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ChannelOpen { .. })),
        "{events:?}"
    );
    assert_inert(peer);
}
