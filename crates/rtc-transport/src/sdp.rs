//! What we read from a remote SDP ourselves, before the WebRTC stack parses it.
//!
//! The stack (webrtc-rs's `rtc-sdp`) does the full parse. This scan is ours and small: it bounds
//! the text before anything else looks at it, checks that the description offers a data channel
//! at all, and reads the three facts the transport needs and the stack does not hand back: the
//! remote's `max-message-size` (RFC 8841 §6), how many candidates it carries, and how many of
//! those are mDNS names (`<uuid>.local`, draft-ietf-rtcweb-mdns-ice-candidates), which this
//! transport does not resolve: such a peer is reached through the peer-reflexive candidate
//! that its first connectivity check creates (RFC 8445 §7.3.1.3).

use crate::SdpError;

/// Longest SDP accepted, in bytes. A data-channel offer with a dozen candidates is about 1 KiB;
/// browsers' are under 2 KiB.
pub const MAX_SDP_LEN: usize = 64 * 1024;

/// The largest message to send when the remote SDP has no `max-message-size`. RFC 8841 §6 says
/// 64 KiB then, but implementations that predate the attribute interoperate only up to 16 KiB
/// (RFC 8831 §6.6: "the sender SHOULD NOT send messages larger than 16 KB" to them).
pub const DEFAULT_REMOTE_MAX_MESSAGE_SIZE: usize = 16 * 1024;

/// The facts read from a remote SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteSdp {
    /// `a=max-message-size` as written; `Some(0)` means "no limit" (RFC 8841 §6).
    pub max_message_size: Option<u64>,
    /// `a=candidate` lines.
    pub candidates: usize,
    /// Of those, candidates whose address is an mDNS name ending in `.local`.
    pub mdns_candidates: usize,
    /// `a=ice-lite` present.
    pub ice_lite: bool,
    /// `a=setup` (RFC 8842): who is the DTLS client.
    pub setup: Option<Setup>,
}

/// The DTLS role an `a=setup` attribute asks for (RFC 8842 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// `active`: this side is the DTLS client.
    Active,
    /// `passive`: this side is the DTLS server.
    Passive,
    /// `actpass`: either; only an offer may say so (RFC 8842 §5.3).
    ActPass,
    /// `holdconn`: no connection yet.
    HoldConn,
}

impl RemoteSdp {
    /// The largest message the remote accepts: its `max-message-size`, "no limit" as
    /// `usize::MAX`, [`DEFAULT_REMOTE_MAX_MESSAGE_SIZE`] when it says nothing.
    pub fn send_limit(&self) -> usize {
        match self.max_message_size {
            None => DEFAULT_REMOTE_MAX_MESSAGE_SIZE,
            Some(0) => usize::MAX,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        }
    }
}

/// Scans a remote offer or answer. Fails on text over [`MAX_SDP_LEN`], on text that does not
/// start with `v=0`, when no `m=application … UDP/DTLS/SCTP webrtc-datachannel` section is
/// present (RFC 8841 §4), on a `max-message-size` that is not a decimal number and on an
/// `a=setup` that names no role.
pub fn scan(sdp: &str) -> Result<RemoteSdp, SdpError> {
    if sdp.len() > MAX_SDP_LEN {
        return Err(SdpError::TooLong { len: sdp.len() });
    }
    let mut lines = sdp.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    // RFC 8866 §5: "An SDP description ... begins with a "v=" line"; version 0 is the only one.
    if lines.next().map(str::trim_end) != Some("v=0") {
        return Err(SdpError::NotSdp);
    }
    let mut out = RemoteSdp {
        max_message_size: None,
        candidates: 0,
        mdns_candidates: 0,
        ice_lite: false,
        setup: None,
    };
    let mut has_data_section = false;
    // Session-level attributes apply to every section; inside a section, only the data one's.
    let mut in_data_section = true;
    for (index, line) in lines.enumerate() {
        let line_no = index + 2;
        if let Some(media) = line.strip_prefix("m=") {
            in_data_section = is_data_channel_media(media);
            has_data_section |= in_data_section;
            continue;
        }
        let Some(attribute) = line.strip_prefix("a=") else {
            continue;
        };
        if attribute.trim_end() == "ice-lite" {
            out.ice_lite = true;
        } else if let Some(value) = attribute.strip_prefix("max-message-size:") {
            if in_data_section {
                out.max_message_size = Some(
                    parse_decimal(value.trim())
                        .ok_or(SdpError::BadMaxMessageSize { line: line_no })?,
                );
            }
        } else if let Some(value) = attribute.strip_prefix("setup:") {
            if in_data_section {
                out.setup = Some(match value.trim() {
                    "active" => Setup::Active,
                    "passive" => Setup::Passive,
                    "actpass" => Setup::ActPass,
                    "holdconn" => Setup::HoldConn,
                    _ => return Err(SdpError::BadSetup { line: line_no }),
                });
            }
        } else if let Some(candidate) = attribute.strip_prefix("candidate:") {
            out.candidates += 1;
            // RFC 8839 §5.1: foundation component-id transport priority connection-address port
            // "typ" cand-type ...
            if candidate
                .split_ascii_whitespace()
                .nth(4)
                .is_some_and(|address| address.to_ascii_lowercase().ends_with(".local"))
            {
                out.mdns_candidates += 1;
            }
        }
    }
    if !has_data_section {
        return Err(SdpError::NoDataChannel);
    }
    Ok(out)
}

/// The addresses of the UDP candidates written as IP literals (`.local` names and TCP
/// candidates left out), at most [`MAX_CANDIDATE_ADDRESSES`], without repeats: the remotes a
/// TURN allocation must permit (RFC 8656 §9). Any line that does not parse is skipped.
pub(crate) fn candidate_addresses(sdp: &str) -> Vec<std::net::SocketAddr> {
    let mut out = Vec::new();
    for line in sdp.split('\n') {
        let Some(candidate) = line.trim_end().strip_prefix("a=candidate:") else {
            continue;
        };
        // RFC 8839 §5.1: foundation component-id transport priority connection-address port
        let mut fields = candidate.split_ascii_whitespace().skip(2);
        let (Some(transport), Some(address), Some(port)) =
            (fields.next(), fields.nth(1), fields.next())
        else {
            continue;
        };
        let (Ok(ip), Ok(port)) = (address.parse::<std::net::IpAddr>(), port.parse::<u16>()) else {
            continue;
        };
        let addr = std::net::SocketAddr::new(ip, port);
        if transport.eq_ignore_ascii_case("udp") && port != 0 && !out.contains(&addr) {
            out.push(addr);
            if out.len() == MAX_CANDIDATE_ADDRESSES {
                break;
            }
        }
    }
    out
}

/// Remote candidate addresses taken from one description; browsers send under a dozen.
pub(crate) const MAX_CANDIDATE_ADDRESSES: usize = 32;

/// `application <port> UDP/DTLS/SCTP webrtc-datachannel` (RFC 8841 §4.1), or over TCP.
fn is_data_channel_media(media: &str) -> bool {
    let mut fields = media.split_ascii_whitespace();
    fields.next() == Some("application")
        && fields.next().is_some()
        && matches!(fields.next(), Some("UDP/DTLS/SCTP" | "TCP/DTLS/SCTP"))
        && fields.any(|format| format == "webrtc-datachannel")
}

/// A decimal `u64` of at most 20 digits, nothing else.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped like a data-channel offer from a browser with mDNS host candidates hidden, as
    /// INTEROP-NOTES.md describes WebTorrent's (names and keys invented).
    const BROWSER_OFFER: &str = "v=0\r\n\
        o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
        s=-\r\n\
        t=0 0\r\n\
        a=group:BUNDLE 0\r\n\
        a=extmap-allow-mixed\r\n\
        a=msid-semantic: WMS\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=candidate:1467250027 1 udp 2122260223 2f4c3a9e-5b1d-4c7e-9f0a-1b2c3d4e5f60.local 46243 typ host generation 0 network-cost 999\r\n\
        a=candidate:1853887674 1 udp 2122194687 127.0.0.2 51472 typ host generation 0\r\n\
        a=ice-ufrag:Oyef\r\n\
        a=ice-pwd:lAfSEr2hNqa1ZjnBKxb1n8ZK\r\n\
        a=ice-options:trickle\r\n\
        a=fingerprint:sha-256 0B:9E:1C:7A:3D:4F:52:66:88:91:A2:B3:C4:D5:E6:F7:01:12:23:34:45:56:67:78:89:9A:AB:BC:CD:DE:EF:F0\r\n\
        a=setup:actpass\r\n\
        a=mid:0\r\n\
        a=sctp-port:5000\r\n\
        a=max-message-size:262144\r\n";

    #[test]
    fn reads_a_browser_offer() {
        let s = scan(BROWSER_OFFER).expect("valid");
        assert_eq!(
            s,
            RemoteSdp {
                max_message_size: Some(262_144),
                candidates: 2,
                mdns_candidates: 1,
                ice_lite: false,
                setup: Some(Setup::ActPass),
            }
        );
        assert_eq!(s.send_limit(), 262_144);
    }

    #[test]
    fn max_message_size_absent_means_16_kib_and_zero_means_unlimited() {
        let without: String = BROWSER_OFFER
            .lines()
            .filter(|l| !l.starts_with("a=max-message-size"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(scan(&without).map(|s| s.send_limit()), Ok(16 * 1024));
        let zero = BROWSER_OFFER.replace("max-message-size:262144", "max-message-size:0");
        assert_eq!(scan(&zero).map(|s| s.send_limit()), Ok(usize::MAX));
    }

    #[test]
    fn a_max_message_size_of_another_section_is_not_ours() {
        let sdp =
            format!("{BROWSER_OFFER}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=max-message-size:5\r\n");
        assert_eq!(scan(&sdp).map(|s| s.max_message_size), Ok(Some(262_144)));
    }

    #[test]
    fn rejects_what_is_no_data_channel_offer() {
        assert_eq!(scan(""), Err(SdpError::NotSdp));
        assert_eq!(scan("v=1\r\n"), Err(SdpError::NotSdp));
        assert_eq!(
            scan("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"),
            Err(SdpError::NoDataChannel)
        );
        // The pre-RFC 8841 form (`DTLS/SCTP 5000`) is not offered by WebTorrent's stacks.
        assert_eq!(
            scan("v=0\r\nm=application 9 DTLS/SCTP 5000\r\n"),
            Err(SdpError::NoDataChannel)
        );
        assert_eq!(
            scan("v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\n"),
            Ok(RemoteSdp {
                max_message_size: None,
                candidates: 0,
                mdns_candidates: 0,
                ice_lite: false,
                setup: None,
            })
        );
        assert_eq!(
            scan("v=0\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=setup:sideways\n"),
            Err(SdpError::BadSetup { line: 3 })
        );
    }

    #[test]
    fn rejects_bad_numbers_and_long_text() {
        for bad in [
            "",
            "-1",
            "0x10",
            "1e6",
            "123456789012345678901",
            "99999999999999999999",
        ] {
            let sdp = BROWSER_OFFER.replace(
                "max-message-size:262144",
                &format!("max-message-size:{bad}"),
            );
            assert_eq!(
                scan(&sdp),
                Err(SdpError::BadMaxMessageSize { line: 19 }),
                "{bad:?}"
            );
        }
        let long = format!("{BROWSER_OFFER}{}", "a=x\r\n".repeat(MAX_SDP_LEN / 5));
        assert_eq!(scan(&long), Err(SdpError::TooLong { len: long.len() }));
    }

    #[test]
    fn candidate_addresses_are_the_udp_ip_literals() {
        let sdp = format!(
            "{BROWSER_OFFER}a=candidate:1 1 UDP 1 192.0.2.1 3478 typ relay raddr 0.0.0.0 rport 0\r\n\
             a=candidate:2 1 tcp 1 192.0.2.2 9 typ host tcptype active\r\n\
             a=candidate:3 1 udp 1 192.0.2.1 3478 typ relay\r\n\
             a=candidate:4 1 udp 1 [::1] 5 typ host\r\n\
             a=candidate:5 1 udp\r\n\
             a=candidate:6 1 udp 1 ::1 5 typ host\r\n"
        );
        let want: Vec<std::net::SocketAddr> = ["127.0.0.2:51472", "192.0.2.1:3478", "[::1]:5"]
            .iter()
            .map(|a| a.parse().expect("addr"))
            .collect();
        assert_eq!(candidate_addresses(&sdp), want);
    }

    #[test]
    fn parse_decimal_takes_every_u64_and_nothing_else() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal("18446744073709551616"), None);
        assert_eq!(parse_decimal("+1"), None);
        assert_eq!(parse_decimal(" 1"), None);
    }
}
