//! ICE servers as a WebRTC application names them (`RTCIceServer`: URLs and a long-term
//! credential), the candidates gathered through them, and the policy that picks which of those
//! a connection may use.
//!
//! Only what travels over plain UDP is supported: `stun:` (RFC 7064) and `turn:` (RFC 7065)
//! with `?transport=udp` or no transport. `stuns:`/`turns:` (TLS) and `?transport=tcp` are
//! refused with a typed error that says so, never silently skipped. Host names are not
//! resolved here: [`IceServer::resolve`] hands each one to the caller's resolver.

use std::net::{IpAddr, SocketAddr};

use crate::IceServerError;

/// One ICE server entry, shaped like the W3C `RTCIceServer`: every URL shares the credential.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host[:port]` or `turn:host[:port][?transport=udp]`; the port defaults to 3478.
    pub urls: Vec<String>,
    /// The TURN long-term credential's username (RFC 8489 §9.2); unused for STUN.
    pub username: String,
    /// The TURN long-term credential's password.
    pub credential: String,
}

/// Which protocol a [`ServerUrl`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// A STUN server: gives a server-reflexive candidate.
    Stun,
    /// A TURN server: gives a relay candidate (and a server-reflexive one, as every TURN
    /// server answers STUN Binding requests too).
    Turn,
}

/// A parsed `stun:`/`turn:` URL, its host not yet resolved.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerUrl {
    /// STUN or TURN.
    pub scheme: Scheme,
    /// A DNS name, an IPv4 literal or an IPv6 literal (without its brackets).
    pub host: String,
    /// The UDP port; 3478 when the URL names none (RFC 7064 §3.1, RFC 7065 §3.1).
    pub port: u16,
}

/// A server with its address resolved, as the [`crate::Gatherer`] takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolvedServer {
    /// A STUN server.
    Stun(SocketAddr),
    /// A TURN server and the long-term credential to allocate with.
    Turn {
        /// Its address.
        addr: SocketAddr,
        /// The credential's username.
        username: String,
        /// The credential's password.
        credential: String,
    },
}

impl ResolvedServer {
    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Self::Stun(addr) | Self::Turn { addr, .. } => *addr,
        }
    }
}

/// Which gathered candidates a connection may use, as W3C `RTCIceTransportPolicy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IcePolicy {
    /// Every candidate: host, server-reflexive and relay.
    #[default]
    All,
    /// Relay candidates only: every datagram goes through a TURN server, so the remote never
    /// learns our addresses. A datagram that reaches the socket by any other way is dropped.
    Relay,
}

/// What kind of local candidate (RFC 8445 §5.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    /// A local socket's own address.
    Host,
    /// Our address as a STUN server saw it: the outside of a NAT.
    ServerReflexive {
        /// The local socket it was seen from.
        base: SocketAddr,
        /// The server that saw it.
        server: SocketAddr,
    },
    /// An address a TURN server allocated for us: traffic to it is relayed to `base`.
    Relay {
        /// The local socket the allocation belongs to.
        base: SocketAddr,
        /// The TURN server.
        server: SocketAddr,
    },
}

/// A local candidate: an address the remote may send to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// Host, server-reflexive or relay.
    pub kind: CandidateKind,
    /// The address.
    pub address: SocketAddr,
}

impl Candidate {
    /// A host candidate.
    pub fn host(address: SocketAddr) -> Self {
        Self {
            kind: CandidateKind::Host,
            address,
        }
    }

    /// Whether it is a relay candidate.
    pub fn is_relay(&self) -> bool {
        matches!(self.kind, CandidateKind::Relay { .. })
    }
}

impl IceServer {
    /// Parses every URL. A TURN URL needs a username and a credential.
    pub fn urls(&self) -> Result<Vec<ServerUrl>, IceServerError> {
        self.urls
            .iter()
            .map(|url| {
                let parsed = ServerUrl::parse(url)?;
                if parsed.scheme == Scheme::Turn
                    && (self.username.is_empty() || self.credential.is_empty())
                {
                    return Err(IceServerError::MissingCredential { url: url.clone() });
                }
                Ok(parsed)
            })
            .collect()
    }

    /// Parses every URL and resolves each host with `resolve(host, port)`, the caller's DNS
    /// (an IP literal is taken as it is, without calling it). Every address it returns becomes
    /// a server; a host it resolves to nothing is [`IceServerError::Unresolved`].
    pub fn resolve(
        &self,
        mut resolve: impl FnMut(&str, u16) -> Vec<SocketAddr>,
    ) -> Result<Vec<ResolvedServer>, IceServerError> {
        let mut out = Vec::new();
        for (url, text) in self.urls()?.into_iter().zip(&self.urls) {
            let addrs = match url.host.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, url.port)],
                Err(_) => resolve(&url.host, url.port),
            };
            if addrs.is_empty() {
                return Err(IceServerError::Unresolved { url: text.clone() });
            }
            out.extend(addrs.into_iter().map(|addr| self.with_addr(&url, addr)));
        }
        Ok(out)
    }

    /// `url` (one of ours) at the resolved `addr`, with our credential when it is TURN.
    pub fn with_addr(&self, url: &ServerUrl, addr: SocketAddr) -> ResolvedServer {
        match url.scheme {
            Scheme::Stun => ResolvedServer::Stun(addr),
            Scheme::Turn => ResolvedServer::Turn {
                addr,
                username: self.username.clone(),
                credential: self.credential.clone(),
            },
        }
    }
}

impl ServerUrl {
    /// Parses `stun:host[:port]` or `turn:host[:port][?transport=udp]` (RFC 7064 §3.1,
    /// RFC 7065 §3.1; scheme and transport case-insensitive). An IPv6 host is bracketed.
    pub fn parse(url: &str) -> Result<Self, IceServerError> {
        let err = |make: fn(String) -> IceServerError| make(url.to_owned());
        if url.len() > MAX_URL_LEN {
            return Err(err(|url| IceServerError::BadUrl { url }));
        }
        let (scheme, rest) = url
            .split_once(':')
            .ok_or_else(|| err(|url| IceServerError::BadUrl { url }))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "stun" => Scheme::Stun,
            "turn" => Scheme::Turn,
            "stuns" | "turns" => return Err(err(|url| IceServerError::TlsUnsupported { url })),
            _ => return Err(err(|url| IceServerError::UnknownScheme { url })),
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        if let Some(query) = query {
            // RFC 7065 §3.1: the only query is `transport=udp|tcp`, and only on turn: URLs.
            let transport = query
                .strip_prefix("transport=")
                .filter(|_| scheme == Scheme::Turn)
                .ok_or_else(|| err(|url| IceServerError::BadUrl { url }))?;
            match transport.to_ascii_lowercase().as_str() {
                "udp" => {}
                "tcp" => return Err(err(|url| IceServerError::TcpUnsupported { url })),
                _ => return Err(err(|url| IceServerError::BadUrl { url })),
            }
        }
        let (host, port) =
            split_host_port(authority).ok_or_else(|| err(|url| IceServerError::BadHost { url }))?;
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => parse_port(p).ok_or_else(|| err(|url| IceServerError::BadPort { url }))?,
        };
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port,
        })
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; the host a DNS name or an IP literal.
fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let name_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'));
    name_ok.then_some((host, port))
}

/// 1..=65535, decimal digits only.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&p| p != 0)
}

/// RFC 7064 §3.1 / RFC 7065 §3.1: "<port> ... defaults to 3478".
const DEFAULT_PORT: u16 = 3478;

/// Longer URLs are refused before they are looked at.
const MAX_URL_LEN: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn url(scheme: Scheme, host: &str, port: u16) -> ServerUrl {
        ServerUrl {
            scheme,
            host: host.to_owned(),
            port,
        }
    }

    #[test]
    fn parses_stun_and_turn_urls() {
        for (text, want) in [
            (
                "stun:stun.l.google.com:19302",
                url(Scheme::Stun, "stun.l.google.com", 19302),
            ),
            ("stun:example.org", url(Scheme::Stun, "example.org", 3478)),
            ("STUN:1.2.3.4:5", url(Scheme::Stun, "1.2.3.4", 5)),
            (
                "turn:127.0.0.1:3478?transport=udp",
                url(Scheme::Turn, "127.0.0.1", 3478),
            ),
            ("turn:[::1]:9?transport=UDP", url(Scheme::Turn, "::1", 9)),
            ("turn:[2001:db8::1]", url(Scheme::Turn, "2001:db8::1", 3478)),
        ] {
            assert_eq!(ServerUrl::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_what_is_not_plain_udp_with_a_reason() {
        let e = |t: &str| ServerUrl::parse(t).map_err(|e| std::mem::discriminant(&e));
        let d = std::mem::discriminant;
        let s = String::new;
        assert_eq!(
            e("turn:h:1?transport=tcp"),
            Err(d(&IceServerError::TcpUnsupported { url: s() }))
        );
        assert_eq!(
            e("turns:h:443"),
            Err(d(&IceServerError::TlsUnsupported { url: s() }))
        );
        assert_eq!(
            e("stuns:h"),
            Err(d(&IceServerError::TlsUnsupported { url: s() }))
        );
        assert_eq!(
            e("http://h"),
            Err(d(&IceServerError::UnknownScheme { url: s() }))
        );
        for bad in [
            "stun",
            "stun:h?transport=udp",
            "turn:h?x=y",
            "turn:h?transport=sctp",
        ] {
            assert_eq!(
                e(bad),
                Err(d(&IceServerError::BadUrl { url: s() })),
                "{bad}"
            );
        }
        for bad in [
            "stun:",
            "stun:h h",
            "stun:[::1",
            "stun:[nope]:1",
            "stun://h:1",
            "stun:[::1]x",
        ] {
            assert_eq!(
                e(bad),
                Err(d(&IceServerError::BadHost { url: s() })),
                "{bad}"
            );
        }
        for bad in [
            "stun:h:",
            "stun:h:0",
            "stun:h:65536",
            "stun:h:+1",
            "stun:h:123456",
        ] {
            assert_eq!(
                e(bad),
                Err(d(&IceServerError::BadPort { url: s() })),
                "{bad}"
            );
        }
        assert_eq!(
            e(&format!("stun:{}", "a".repeat(2000))),
            Err(d(&IceServerError::BadUrl { url: s() }))
        );
    }

    #[test]
    fn turn_needs_a_credential_and_resolve_asks_the_caller() {
        let mut server = IceServer {
            urls: vec![
                "turn:turn.example:3478".to_owned(),
                "stun:10.0.0.1".to_owned(),
            ],
            ..IceServer::default()
        };
        assert_eq!(
            server.urls(),
            Err(IceServerError::MissingCredential {
                url: "turn:turn.example:3478".to_owned()
            })
        );
        server.username = "u".to_owned();
        server.credential = "p".to_owned();
        let mut asked = Vec::new();
        let resolved = server.resolve(|host, port| {
            asked.push((host.to_owned(), port));
            vec!["192.0.2.7:3478".parse().expect("addr")]
        });
        assert_eq!(asked, [("turn.example".to_owned(), 3478)]);
        assert_eq!(
            resolved,
            Ok(vec![
                ResolvedServer::Turn {
                    addr: "192.0.2.7:3478".parse().expect("addr"),
                    username: "u".to_owned(),
                    credential: "p".to_owned(),
                },
                ResolvedServer::Stun("10.0.0.1:3478".parse().expect("addr")),
            ])
        );
        assert_eq!(
            server.resolve(|_, _| Vec::new()),
            Err(IceServerError::Unresolved {
                url: "turn:turn.example:3478".to_owned()
            })
        );
    }
}
