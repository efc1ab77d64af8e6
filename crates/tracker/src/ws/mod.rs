//! WebSocket trackers: WebTorrent's signaling protocol, as the `bittorrent-tracker` npm package
//! speaks it. The messages ([`ClientMessage`], [`ServerMessage`]), a client state machine
//! ([`Client`]) and the server's relay ([`server::Server`]).
//!
//! One JSON object per text frame. `info_hash`, `peer_id`, `to_peer_id` and `offer_id` are
//! "binary strings": 20 characters, each code point U+0000..U+00FF standing for one byte
//! ([`to_binary_string`], [`from_binary_string`]). A peer announces with up to a few WebRTC
//! offers (complete SDP, no trickle); the tracker relays each to a different peer of the swarm,
//! which answers through the tracker; the two peers then talk over the data channel.
//!
//! ```
//! use tracker::ws::{ClientMessage, Limits, from_binary_string, to_binary_string};
//!
//! let id = [0xeb; 20];
//! let text = to_binary_string(&id);
//! assert_eq!(text.chars().count(), 20);
//! assert_eq!(from_binary_string::<20>(&text), Ok(id));
//! assert!(from_binary_string::<1>("\u{100}").is_err()); // over U+00FF
//!
//! let json = r#"{"action":"scrape","info_hash":"aaaaaaaaaaaaaaaaaaaa"}"#;
//! let message = ClientMessage::from_json(json, &Limits::default())?;
//! assert!(matches!(message, ClientMessage::Scrape(hashes) if hashes.len() == 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod raw;
pub mod server;

use std::time::Duration;

pub use client::{Client, Config, Event, Stats, UsageError};

use crate::{Event as AnnounceEvent, InfoHash, PeerId, ScrapeStats};
use raw::{Raw, RawOffer, RawSdp, RawStats, Strings};

/// The id an offerer gives each offer; the answer carries it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferId(pub [u8; 20]);

/// One offer of an announce: an id and the complete SDP (`{"type":"offer","sdp":…}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Its id.
    pub offer_id: OfferId,
    /// The SDP.
    pub sdp: String,
}

/// An announce, with offers for other peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The announcer (the peer id of its wire handshakes).
    pub peer_id: PeerId,
    /// Peers wanted (WebTorrent sends the number of offers).
    pub numwant: Option<u32>,
    /// Bytes uploaded.
    pub uploaded: Option<u64>,
    /// Bytes downloaded.
    pub downloaded: Option<u64>,
    /// Bytes left; `None` when not a number (WebTorrent before it knows the size).
    pub left: Option<u64>,
    /// The event.
    pub event: AnnounceEvent,
    /// Offers to relay (none with `completed` and `stopped`).
    pub offers: Vec<Offer>,
    /// The `tracker id` a response gave (`trackerid`).
    pub tracker_id: Option<String>,
}

/// An answer to a relayed offer, for the tracker to route to `to_peer_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The answerer.
    pub peer_id: PeerId,
    /// The offerer.
    pub to_peer_id: PeerId,
    /// The offer answered.
    pub offer_id: OfferId,
    /// The SDP (`{"type":"answer","sdp":…}`).
    pub sdp: String,
}

/// What a client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// `{"action":"announce", …, "offers":[…]}`
    Announce(Announce),
    /// `{"action":"announce", …, "to_peer_id", "answer", "offer_id"}`
    Answer(Answer),
    /// `{"action":"scrape","info_hash":…}` (a string or a list; none for every swarm).
    Scrape(Vec<InfoHash>),
}

/// A tracker's answer to an announce.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceReply {
    /// The swarm.
    pub info_hash: Option<InfoHash>,
    /// Seeders.
    pub complete: Option<u32>,
    /// Leechers.
    pub incomplete: Option<u32>,
    /// When to announce again.
    pub interval: Option<Duration>,
    /// Not more often than this.
    pub min_interval: Option<Duration>,
    /// A warning; the announce succeeded.
    pub warning: Option<String>,
    /// Send back as `trackerid`.
    pub tracker_id: Option<String>,
}

/// An offer the tracker relays from another peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayedOffer {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The offerer.
    pub peer_id: PeerId,
    /// Its id, for the answer.
    pub offer_id: OfferId,
    /// The SDP.
    pub sdp: String,
}

/// An answer the tracker relays back to the offerer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayedAnswer {
    /// The swarm.
    pub info_hash: InfoHash,
    /// The answerer.
    pub peer_id: PeerId,
    /// Which of our offers it answers.
    pub offer_id: OfferId,
    /// The SDP.
    pub sdp: String,
}

/// A tracker's answer to a scrape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrapeReply {
    /// The swarms.
    pub files: Vec<(InfoHash, ScrapeStats)>,
    /// `flags.min_request_interval`.
    pub min_request_interval: Option<Duration>,
}

/// What a tracker sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerMessage {
    /// The answer to an announce.
    Announced(AnnounceReply),
    /// An offer from another peer.
    Offer(RelayedOffer),
    /// An answer to one of our offers.
    Answer(RelayedAnswer),
    /// The answer to a scrape.
    Scraped(ScrapeReply),
    /// A refusal (`failure reason`), of an announce for `info_hash` when it says.
    Failure {
        /// The swarm, when the tracker said.
        info_hash: Option<InfoHash>,
        /// Why.
        reason: String,
    },
}

/// Bounds on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest message, in bytes (checked before parsing).
    pub max_message_len: usize,
    /// Most offers in one announce.
    pub max_offers: usize,
    /// Longest SDP, in bytes.
    pub max_sdp_len: usize,
    /// Most info-hashes in one scrape (request or response).
    pub max_scrape_hashes: usize,
}

impl Default for Limits {
    /// 64 KiB messages, 10 offers (WebTorrent sends at most 5) of 16 KiB, 100 hashes.
    fn default() -> Self {
        Self {
            max_message_len: 64 << 10,
            max_offers: 10,
            max_sdp_len: 16 << 10,
            max_scrape_hashes: 100,
        }
    }
}

/// A message that is not one WebTorrent's protocol allows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Longer than [`Limits::max_message_len`].
    #[error("message of {len} bytes is over the limit of {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON, or a field of the wrong JSON type.
    #[error("malformed JSON: {0}")]
    Json(String),
    /// An `action` other than `announce` and `scrape` (or none).
    #[error("invalid action")]
    UnknownAction,
    /// A required field is missing.
    #[error("missing `{0}`")]
    Missing(&'static str),
    /// An id that is not a 20-character binary string.
    #[error("invalid `{field}`: {error}")]
    BinaryString {
        /// The field.
        field: &'static str,
        /// What is wrong.
        error: BinaryStringError,
    },
    /// An `offer` whose `type` is not `offer`, or an `answer` whose `type` is not `answer`.
    #[error("`{0}` has the wrong SDP type")]
    SdpType(&'static str),
    /// An SDP over [`Limits::max_sdp_len`].
    #[error("SDP of {len} bytes is over the limit of {max}")]
    SdpTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More offers than [`Limits::max_offers`].
    #[error("{count} offers, over the limit of {max}")]
    TooManyOffers {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More scrape hashes than [`Limits::max_scrape_hashes`].
    #[error("{count} info-hashes, over the limit of {max}")]
    TooManyHashes {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An `event` that is not `started`, `completed`, `stopped`, `update`, `paused` or empty.
    #[error("invalid `event`")]
    Event,
}

/// A string that is not a binary string of the expected length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BinaryStringError {
    /// A character above U+00FF: not a byte.
    #[error("character {index} is U+{code_point:04X}, above U+00FF")]
    CodePoint {
        /// Its position, in characters.
        index: usize,
        /// The character.
        code_point: u32,
    },
    /// The wrong number of characters.
    #[error("{found} characters, expected {expected}")]
    Length {
        /// Expected.
        expected: usize,
        /// Found.
        found: usize,
    },
}

/// The binary string of `bytes`: each byte becomes the character of the same number
/// (U+0000..U+00FF), as JavaScript's `String.fromCharCode` does.
pub fn to_binary_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The `N` bytes a binary string stands for. Any character above U+00FF, or a length other than
/// `N` characters, is an error.
pub fn from_binary_string<const N: usize>(s: &str) -> Result<[u8; N], BinaryStringError> {
    let mut out = [0u8; N];
    let mut found = 0;
    for (index, c) in s.chars().enumerate() {
        let byte = u8::try_from(c).map_err(|_| BinaryStringError::CodePoint {
            index,
            code_point: u32::from(c),
        })?;
        if let Some(slot) = out.get_mut(index) {
            *slot = byte;
        }
        found += 1;
    }
    if found != N {
        return Err(BinaryStringError::Length { expected: N, found });
    }
    Ok(out)
}

impl ClientMessage {
    /// Parses a text frame from a client. Unknown fields are ignored; numbers may come as JSON
    /// numbers, numeric strings or `null` (JavaScript's `NaN` and `Infinity` become `null`).
    pub fn from_json(text: &str, limits: &Limits) -> Result<Self, MessageError> {
        let raw = Raw::parse(text, limits)?;
        match raw.action.as_deref() {
            Some("announce") => {}
            Some("scrape") => {
                let hashes = raw.info_hash.map(Strings::into_vec).unwrap_or_default();
                if hashes.len() > limits.max_scrape_hashes {
                    return Err(MessageError::TooManyHashes {
                        count: hashes.len(),
                        max: limits.max_scrape_hashes,
                    });
                }
                return hashes
                    .iter()
                    .map(|h| id("info_hash", h).map(InfoHash))
                    .collect::<Result<_, _>>()
                    .map(Self::Scrape);
            }
            _ => return Err(MessageError::UnknownAction),
        }
        let info_hash = match raw.info_hash {
            Some(Strings::One(h)) => InfoHash(id("info_hash", &h)?),
            Some(Strings::Many(_)) => {
                return Err(MessageError::Json(
                    "`info_hash` of an announce is a list".into(),
                ));
            }
            None => return Err(MessageError::Missing("info_hash")),
        };
        let peer_id = PeerId(required_id("peer_id", raw.peer_id.as_deref())?);
        if let Some(answer) = raw.answer {
            return Ok(Self::Answer(Answer {
                info_hash,
                peer_id,
                to_peer_id: PeerId(required_id("to_peer_id", raw.to_peer_id.as_deref())?),
                offer_id: OfferId(required_id("offer_id", raw.offer_id.as_deref())?),
                sdp: sdp("answer", "answer", answer, limits)?,
            }));
        }
        let offers = raw.offers.unwrap_or_default();
        if offers.len() > limits.max_offers {
            return Err(MessageError::TooManyOffers {
                count: offers.len(),
                max: limits.max_offers,
            });
        }
        let offers = offers
            .into_iter()
            .map(|o| {
                Ok(Offer {
                    offer_id: OfferId(required_id("offer_id", o.offer_id.as_deref())?),
                    sdp: sdp("offer", "offer", o.offer, limits)?,
                })
            })
            .collect::<Result<_, MessageError>>()?;
        let event = match raw.event.as_deref() {
            None => AnnounceEvent::None,
            Some(name) => AnnounceEvent::from_name(name.as_bytes()).ok_or(MessageError::Event)?,
        };
        Ok(Self::Announce(Announce {
            info_hash,
            peer_id,
            numwant: raw.numwant.map(saturate_u32),
            uploaded: raw.uploaded,
            downloaded: raw.downloaded,
            left: raw.left,
            event,
            offers,
            tracker_id: raw.trackerid,
        }))
    }

    /// The text frame, as WebTorrent writes it.
    pub fn to_json(&self) -> String {
        let raw = match self {
            Self::Announce(a) => Raw {
                action: Some("announce".into()),
                info_hash: Some(Strings::One(to_binary_string(&a.info_hash.0))),
                peer_id: Some(to_binary_string(&a.peer_id.0)),
                numwant: a.numwant.map(u64::from),
                uploaded: a.uploaded,
                downloaded: a.downloaded,
                left: a.left,
                event: a.event.as_str().map(str::to_owned),
                // WebTorrent leaves `offers` out of `completed` and `stopped` announces.
                offers: (!a.offers.is_empty()
                    || matches!(a.event, AnnounceEvent::None | AnnounceEvent::Started))
                .then(|| {
                    a.offers
                        .iter()
                        .map(|o| RawOffer {
                            offer: RawSdp::new("offer", &o.sdp),
                            offer_id: Some(to_binary_string(&o.offer_id.0)),
                        })
                        .collect()
                }),
                trackerid: a.tracker_id.clone(),
                ..Raw::default()
            },
            Self::Answer(a) => Raw {
                action: Some("announce".into()),
                info_hash: Some(Strings::One(to_binary_string(&a.info_hash.0))),
                peer_id: Some(to_binary_string(&a.peer_id.0)),
                to_peer_id: Some(to_binary_string(&a.to_peer_id.0)),
                answer: Some(RawSdp::new("answer", &a.sdp)),
                offer_id: Some(to_binary_string(&a.offer_id.0)),
                ..Raw::default()
            },
            Self::Scrape(hashes) => Raw {
                action: Some("scrape".into()),
                info_hash: Some(match hashes.as_slice() {
                    [one] => Strings::One(to_binary_string(&one.0)),
                    many => Strings::Many(many.iter().map(|h| to_binary_string(&h.0)).collect()),
                }),
                ..Raw::default()
            },
        };
        raw.to_json()
    }
}

impl ServerMessage {
    /// Parses a text frame from a tracker. A `failure reason` makes it a
    /// [`ServerMessage::Failure`] whatever else it holds; an `offer` or an `answer` makes it a
    /// relay; otherwise an `announce` is a reply.
    pub fn from_json(text: &str, limits: &Limits) -> Result<Self, MessageError> {
        let raw = Raw::parse(text, limits)?;
        if let Some(reason) = raw.failure_reason {
            let info_hash = match &raw.info_hash {
                Some(Strings::One(h)) => from_binary_string(h).ok().map(InfoHash),
                _ => None,
            };
            return Ok(Self::Failure { info_hash, reason });
        }
        match raw.action.as_deref() {
            Some("announce") => {}
            Some("scrape") => {
                let files = raw.files.unwrap_or_default();
                if files.len() > limits.max_scrape_hashes {
                    return Err(MessageError::TooManyHashes {
                        count: files.len(),
                        max: limits.max_scrape_hashes,
                    });
                }
                let files = files
                    .into_iter()
                    .map(|(hash, s)| {
                        Ok((
                            InfoHash(id("files", &hash)?),
                            ScrapeStats {
                                complete: s.complete.map_or(0, saturate_u32),
                                downloaded: s.downloaded.map_or(0, saturate_u32),
                                incomplete: s.incomplete.map_or(0, saturate_u32),
                            },
                        ))
                    })
                    .collect::<Result<_, MessageError>>()?;
                return Ok(Self::Scraped(ScrapeReply {
                    files,
                    min_request_interval: raw
                        .flags
                        .and_then(|f| f.min_request_interval)
                        .map(Duration::from_secs),
                }));
            }
            _ => return Err(MessageError::UnknownAction),
        }
        let info_hash = match &raw.info_hash {
            Some(Strings::One(h)) => Some(InfoHash(id("info_hash", h)?)),
            Some(Strings::Many(_)) => {
                return Err(MessageError::Json(
                    "`info_hash` of an announce is a list".into(),
                ));
            }
            None => None,
        };
        if raw.offer.is_some() || raw.answer.is_some() {
            let info_hash = info_hash.ok_or(MessageError::Missing("info_hash"))?;
            let peer_id = PeerId(required_id("peer_id", raw.peer_id.as_deref())?);
            let offer_id = OfferId(required_id("offer_id", raw.offer_id.as_deref())?);
            if let Some(offer) = raw.offer {
                return Ok(Self::Offer(RelayedOffer {
                    info_hash,
                    peer_id,
                    offer_id,
                    sdp: sdp("offer", "offer", offer, limits)?,
                }));
            }
            if let Some(answer) = raw.answer {
                return Ok(Self::Answer(RelayedAnswer {
                    info_hash,
                    peer_id,
                    offer_id,
                    sdp: sdp("answer", "answer", answer, limits)?,
                }));
            }
        }
        Ok(Self::Announced(AnnounceReply {
            info_hash,
            complete: raw.complete.map(saturate_u32),
            incomplete: raw.incomplete.map(saturate_u32),
            interval: raw.interval.map(Duration::from_secs),
            min_interval: raw.min_interval.map(Duration::from_secs),
            warning: raw.warning_message,
            tracker_id: raw.tracker_id,
        }))
    }

    /// The text frame, as bittorrent-tracker writes it.
    pub fn to_json(&self) -> String {
        let raw = match self {
            Self::Announced(r) => Raw {
                action: Some("announce".into()),
                info_hash: r.info_hash.map(|h| Strings::One(to_binary_string(&h.0))),
                complete: r.complete.map(u64::from),
                incomplete: r.incomplete.map(u64::from),
                interval: r.interval.map(|d| d.as_secs()),
                min_interval: r.min_interval.map(|d| d.as_secs()),
                warning_message: r.warning.clone(),
                tracker_id: r.tracker_id.clone(),
                ..Raw::default()
            },
            Self::Offer(o) => Raw {
                action: Some("announce".into()),
                info_hash: Some(Strings::One(to_binary_string(&o.info_hash.0))),
                peer_id: Some(to_binary_string(&o.peer_id.0)),
                offer_id: Some(to_binary_string(&o.offer_id.0)),
                offer: Some(RawSdp::new("offer", &o.sdp)),
                ..Raw::default()
            },
            Self::Answer(a) => Raw {
                action: Some("announce".into()),
                info_hash: Some(Strings::One(to_binary_string(&a.info_hash.0))),
                peer_id: Some(to_binary_string(&a.peer_id.0)),
                offer_id: Some(to_binary_string(&a.offer_id.0)),
                answer: Some(RawSdp::new("answer", &a.sdp)),
                ..Raw::default()
            },
            Self::Scraped(s) => Raw {
                action: Some("scrape".into()),
                files: Some(
                    s.files
                        .iter()
                        .map(|(h, st)| {
                            (
                                to_binary_string(&h.0),
                                RawStats {
                                    complete: Some(u64::from(st.complete)),
                                    downloaded: Some(u64::from(st.downloaded)),
                                    incomplete: Some(u64::from(st.incomplete)),
                                },
                            )
                        })
                        .collect(),
                ),
                flags: s.min_request_interval.map(|d| raw::RawFlags {
                    min_request_interval: Some(d.as_secs()),
                }),
                ..Raw::default()
            },
            Self::Failure { info_hash, reason } => Raw {
                action: info_hash.map(|_| "announce".into()),
                info_hash: info_hash.map(|h| Strings::One(to_binary_string(&h.0))),
                failure_reason: Some(reason.clone()),
                ..Raw::default()
            },
        };
        raw.to_json()
    }
}

fn id(field: &'static str, s: &str) -> Result<[u8; 20], MessageError> {
    from_binary_string(s).map_err(|error| MessageError::BinaryString { field, error })
}

fn required_id(field: &'static str, s: Option<&str>) -> Result<[u8; 20], MessageError> {
    id(field, s.ok_or(MessageError::Missing(field))?)
}

/// The SDP of an `offer`/`answer` object whose `type` must be `kind`.
fn sdp(
    field: &'static str,
    kind: &str,
    raw: RawSdp,
    limits: &Limits,
) -> Result<String, MessageError> {
    if raw.kind.as_deref() != Some(kind) {
        return Err(MessageError::SdpType(field));
    }
    let sdp = raw.sdp.ok_or(MessageError::Missing("sdp"))?;
    if sdp.len() > limits.max_sdp_len {
        return Err(MessageError::SdpTooLong {
            len: sdp.len(),
            max: limits.max_sdp_len,
        });
    }
    Ok(sdp)
}

fn saturate_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
