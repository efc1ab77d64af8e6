//! webrtc-rs's `rtc` stack as this crate uses it: the panic guard every call into it goes
//! through, and the peer connection built with our settings and candidates.
//!
//! # The panic guard
//!
//! `rtc` 0.21.1 can panic on bytes from a remote: rtc-datachannel reads a DCEP message of type
//! 0x00 (its internal "threshold" message) shorter than 6 bytes past its end
//! (`DataChannelThreshold::unmarshal`), reached from a remote's SCTP message with payload
//! protocol 50. Our rule is that bytes from a peer never panic us, so every call into an
//! `rtc` object (the `RTCPeerConnection`, a TURN `Client`, the session description parser)
//! goes through [`call`] or [`catch`], which run it under [`std::panic::catch_unwind`].
//!
//! An object that panicked is in a state nobody planned for: [`call`] drops it at once, and
//! its slot stays `None`, so it is never called again. `AssertUnwindSafe` is sound here for
//! that reason: the closures given to the guard touch only that object and values moved in,
//! never half-updated state of ours. Dropping it only frees memory (`rtc` 0.21.1 implements
//! `Drop` for none of its types), and that drop is guarded too.
//!
//! The guard suppresses nothing globally: the panic hook (by default, a message on stderr)
//! still runs. It needs `panic = "unwind"`, Rust's default: under `panic = "abort"` a panic in
//! the stack still ends the process. (libFuzzer aborts on any panic, caught or not: the fuzz
//! targets skip the known inputs instead.)

use std::any::Any;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::configuration::setting_engine::{
    SctpMaxMessageSize, SettingEngineBuilder,
};
use rtc::peer_connection::transport::{
    CandidateConfig, CandidateHostConfig, CandidateRelayConfig, CandidateServerReflexiveConfig,
    RTCDtlsRole, RTCIceCandidate, RTCIceCandidateInit,
};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

use crate::gather::{Gathered, check_hosts};
use crate::ice::{Candidate, CandidateKind, IcePolicy};
use crate::peer::Config;
use crate::relay::Allocation;
use crate::{Error, SdpError, StackError, UsageError};

/// Why a guarded call did not return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// It panicked (the panic's message); the object is gone now.
    Panicked(String),
    /// An earlier call panicked: the object is gone and was not called.
    Gone,
}

impl From<Fault> for StackError {
    fn from(fault: Fault) -> Self {
        match fault {
            Fault::Panicked(message) => panicked(&message),
            Fault::Gone => Self("panicked earlier".to_owned()),
        }
    }
}

/// Calls `f` on the object in `slot`, catching a panic inside it: then the object is dropped
/// and `slot` stays `None` for good. `Err(Fault::Gone)` without calling when it is already.
pub(crate) fn call<S, T>(slot: &mut Option<S>, f: impl FnOnce(&mut S) -> T) -> Result<T, Fault> {
    let object = slot.as_mut().ok_or(Fault::Gone)?;
    catch_unwind(AssertUnwindSafe(|| f(object))).map_err(|payload| {
        discard(slot);
        Fault::Panicked(message(payload.as_ref()))
    })
}

/// Drops the object in `slot`, unused, so that it is never called again. Dropping frees memory
/// only (no `Drop` in rtc 0.21.1), but it is the stack's memory: guarded as well.
pub(crate) fn discard<S>(slot: &mut Option<S>) {
    let suspect = slot.take();
    let _ = catch_unwind(AssertUnwindSafe(move || drop(suspect)));
}

/// Runs `f`, which calls into the stack, catching a panic: `Err` with the panic's message.
/// For calls on objects that do not outlive the failure (building a peer connection).
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, StackError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panicked(&message(payload.as_ref())))
}

/// A peer connection with our settings and the candidates `policy` allows, gathering done;
/// the TURN allocations behind its relay candidates. Run under [`catch`].
pub(crate) fn build(
    config: &Config,
    gathered: Gathered,
    policy: IcePolicy,
    now: Instant,
) -> Result<(RTCPeerConnection, Vec<Allocation>), Error> {
    let hosts: Vec<SocketAddr> = gathered
        .candidates
        .iter()
        .filter(|c| c.kind == CandidateKind::Host)
        .map(|c| c.address)
        .collect();
    check_hosts(&hosts)?;
    let candidates: Vec<Candidate> = gathered
        .candidates
        .iter()
        .copied()
        .filter(|c| match (policy, c.kind) {
            (IcePolicy::Relay, kind) => matches!(kind, CandidateKind::Relay { .. }),
            // RFC 8445 §5.1.3: a server-reflexive address equal to a host one is redundant.
            (IcePolicy::All, CandidateKind::ServerReflexive { .. }) => !hosts.contains(&c.address),
            (IcePolicy::All, _) => true,
        })
        .collect();
    if candidates.is_empty() {
        return Err(UsageError::NoRelayCandidate.into());
    }
    let settings = SettingEngineBuilder::new()
        .with_sctp_max_message_size(SctpMaxMessageSize::Bounded(config.local_max_message_size))
        // As browsers do: the answerer is the DTLS client (`a=setup:active`).
        .with_answering_dtls_role(RTCDtlsRole::Client)
        // mDNS queries would leave through our transmits to 224.0.0.251:5353 and their answers
        // would never come back through this socket; `.local` peers are reached through the
        // peer-reflexive candidate their checks create.
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        // rtc-ice (as pion) nominates a relay pair only 2 s after checks start, in case a
        // better one succeeds; relay-only has no better one to wait for.
        .with_relay_acceptance_min_wait(match policy {
            IcePolicy::Relay => Some(Duration::ZERO),
            IcePolicy::All => None,
        })
        .build();
    let mut pc = RTCPeerConnectionBuilder::new()
        // No STUN or TURN server: the stack gathers nothing itself (the Gatherer did, and the
        // peer relays through its allocations).
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(settings)
        .build(now)
        .map_err(stack)?;
    for c in &candidates {
        let base_config = CandidateConfig {
            network: "udp".to_owned(),
            address: c.address.ip().to_string(),
            port: c.address.port(),
            component: 1,
            ..Default::default()
        };
        let candidate = match c.kind {
            CandidateKind::Host => CandidateHostConfig {
                base_config,
                ..Default::default()
            }
            .new_candidate_host(),
            CandidateKind::ServerReflexive { base, .. } => CandidateServerReflexiveConfig {
                base_config,
                rel_addr: base.ip().to_string(),
                rel_port: base.port(),
                url: None,
            }
            .new_candidate_server_reflexive(),
            CandidateKind::Relay { base, .. } => {
                // Relay-only hides the local address from the remote, as browsers write it.
                let related = match policy {
                    IcePolicy::All => base,
                    IcePolicy::Relay if base.is_ipv4() => {
                        SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
                    }
                    IcePolicy::Relay => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
                };
                CandidateRelayConfig {
                    base_config,
                    rel_addr: related.ip().to_string(),
                    rel_port: related.port(),
                    url: None,
                }
                .new_candidate_relay()
            }
        }
        .map_err(stack)?;
        let init = RTCIceCandidate::from(&candidate).to_json().map_err(stack)?;
        pc.add_local_candidate(init).map_err(stack)?;
    }
    // The empty candidate ends gathering: the description carries every candidate and
    // `a=end-of-candidates` (non-trickle).
    pc.add_local_candidate(RTCIceCandidateInit::default())
        .map_err(stack)?;
    // Allocations whose relay candidate the policy kept (all of them: every policy keeps relay
    // candidates).
    Ok((pc, gathered.allocations))
}

/// A datagram from `from` that arrived on the local address `to`, as the stack takes it.
pub(crate) fn udp_packet(
    now: Instant,
    from: SocketAddr,
    to: SocketAddr,
    message: BytesMut,
) -> TaggedBytesMut {
    TaggedBytesMut {
        now,
        transport: TransportContext {
            local_addr: to,
            peer_addr: from,
            ecn: None,
            transport_protocol: TransportProtocol::UDP,
        },
        message,
    }
}

/// The stack's own failure, in its words.
pub(crate) fn stack(e: impl std::fmt::Display) -> StackError {
    StackError(e.to_string())
}

/// The stack's refusal of a remote description, in its words.
pub(crate) fn refused(e: impl std::fmt::Display) -> SdpError {
    SdpError::Refused(e.to_string())
}

fn panicked(message: &str) -> StackError {
    StackError(format!("panicked: {message}"))
}

/// A panic's message: `panic!` gives a `&str` or a `String`.
fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_drops_the_object_and_it_is_never_called_again() {
        let mut slot = Some(vec![1u8]);
        assert_eq!(call(&mut slot, |v| v.len()), Ok(1));
        let fault = call(&mut slot, |v| v[7]);
        assert!(
            matches!(&fault, Err(Fault::Panicked(m)) if m.contains("out of bounds")),
            "{fault:?}"
        );
        assert_eq!(slot, None);
        let mut called = false;
        assert_eq!(call(&mut slot, |_| called = true), Err(Fault::Gone));
        assert!(!called);
    }

    #[test]
    fn catch_gives_the_message() {
        assert_eq!(catch(|| 3), Ok(3));
        let n = 7;
        let err = catch(|| -> u8 { panic!("bad {n}") }).expect_err("panicked");
        assert_eq!(err.to_string(), "WebRTC stack: panicked: bad 7");
        let err = catch(|| -> u8 { panic!("static") }).expect_err("panicked");
        assert_eq!(err.0, "panicked: static");
    }
}
