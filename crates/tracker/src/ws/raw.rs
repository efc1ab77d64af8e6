//! The JSON shape of every message, both directions, as one loose struct: serde reads and writes
//! it, [`super`] turns it into typed messages and checks them.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use super::{Limits, MessageError};

/// Every field either side sends. Absent fields stay absent when written.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct Raw {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) info_hash: Option<Strings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) peer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) to_peer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) offer_id: Option<String>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) numwant: Option<u64>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) uploaded: Option<u64>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) downloaded: Option<u64>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) left: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) offers: Option<Vec<RawOffer>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) offer: Option<RawSdp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) answer: Option<RawSdp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) trackerid: Option<String>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) complete: Option<u64>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) incomplete: Option<u64>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) interval: Option<u64>,
    #[serde(
        rename = "min interval",
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) min_interval: Option<u64>,
    #[serde(
        rename = "failure reason",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) failure_reason: Option<String>,
    #[serde(
        rename = "warning message",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) warning_message: Option<String>,
    #[serde(
        rename = "tracker id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) tracker_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) files: Option<BTreeMap<String, RawStats>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) flags: Option<RawFlags>,
}

/// `info_hash`: one binary string, or a list of them (scrape).
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub(super) enum Strings {
    One(String),
    Many(Vec<String>),
}

impl Strings {
    pub(super) fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

#[derive(Debug, Deserialize, Serialize)]
pub(super) struct RawOffer {
    #[serde(default)]
    pub(super) offer: RawSdp,
    #[serde(default)]
    pub(super) offer_id: Option<String>,
}

/// `{"type": "offer" | "answer", "sdp": "…"}` (simple-peer's signal data).
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct RawSdp {
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) sdp: Option<String>,
}

impl RawSdp {
    pub(super) fn new(kind: &str, sdp: &str) -> Self {
        Self {
            kind: Some(kind.to_owned()),
            sdp: Some(sdp.to_owned()),
        }
    }
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct RawStats {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) complete: Option<u64>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) downloaded: Option<u64>,
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) incomplete: Option<u64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct RawFlags {
    #[serde(
        default,
        deserialize_with = "number",
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) min_request_interval: Option<u64>,
}

impl Raw {
    /// Checks the length, then parses.
    pub(super) fn parse(text: &str, limits: &Limits) -> Result<Self, MessageError> {
        if text.len() > limits.max_message_len {
            return Err(MessageError::TooLong {
                len: text.len(),
                max: limits.max_message_len,
            });
        }
        serde_json::from_str(text).map_err(|e| MessageError::Json(e.to_string()))
    }

    pub(super) fn to_json(&self) -> String {
        // Serializing plain strings, numbers and maps with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A count or size as JavaScript sends it: a JSON number (a fraction is truncated, a negative
/// one is absent), a numeric string, or `null` (`NaN` and `Infinity` serialize as `null`).
fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    struct Lenient;

    impl<'de> Visitor<'de> for Lenient {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number, a numeric string or null")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(u64::try_from(v).ok())
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // `as` saturates at the ends of u64 (and never sees NaN: JSON has none).
            Ok((v >= 0.0).then_some(v as u64))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if let Ok(n) = v.trim().parse::<u64>() {
                return Ok(Some(n));
            }
            match v.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => self.visit_f64(n),
                _ => Ok(None),
            }
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }
    }

    deserializer.deserialize_any(Lenient)
}
