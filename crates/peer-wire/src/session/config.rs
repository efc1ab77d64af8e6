//! What a session is told: the torrent's piece sizes, what we have, and its settings.

use std::net::IpAddr;
use std::time::Duration;

use crate::bitfield::Bitfield;
use crate::extended::{self, ExtendedHandshake};
use crate::handshake::Handshake;
use crate::message::Limits;
use crate::{BlockRef, PieceIndex};

/// Sizes of the torrent's pieces, for checking the indices and blocks a peer names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Number of pieces.
    pub num_pieces: u32,
    /// Length of every piece but the last.
    pub piece_length: u32,
    /// Length of the last piece.
    pub last_piece_length: u32,
}

impl Geometry {
    /// The geometry of a torrent of `total` bytes in pieces of `piece_length`; `None` if there
    /// would be more than `u32::MAX` pieces or a piece length of 0 or over `u32::MAX`.
    pub fn new(total: u64, piece_length: u64) -> Option<Self> {
        let num_pieces = u32::try_from(total.div_ceil(piece_length.max(1))).ok()?;
        let piece_length = u32::try_from(piece_length).ok().filter(|&l| l > 0)?;
        let last = total - u64::from(num_pieces.saturating_sub(1)) * u64::from(piece_length);
        Some(Self {
            num_pieces,
            piece_length,
            last_piece_length: u32::try_from(last).ok()?,
        })
    }

    /// Length of `piece`, `None` past the end.
    pub fn piece_size(&self, piece: PieceIndex) -> Option<u32> {
        match piece.0 {
            p if p + 1 == self.num_pieces => Some(self.last_piece_length),
            p if p < self.num_pieces => Some(self.piece_length),
            _ => None,
        }
    }

    /// Whether `block` lies inside its piece and is not empty.
    pub fn contains(&self, block: &BlockRef) -> bool {
        self.piece_size(block.piece).is_some_and(|size| {
            block.len > 0 && u64::from(block.offset) + u64::from(block.len) <= u64::from(size)
        })
    }
}

/// What we have, announced right after the handshakes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalPieces {
    /// Every piece: `have all` with the fast extension, else a full bitfield.
    All,
    /// No piece: `have none` with the fast extension, else nothing (BEP 3 lets a peer with
    /// nothing skip the bitfield).
    None,
    /// Some pieces.
    Some(Bitfield),
}

/// Settings of a session.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our handshake: reserved bits, the swarm and our peer id.
    pub local: Handshake,
    /// The torrent's piece sizes.
    pub geometry: Geometry,
    /// Message size limit.
    pub limits: Limits,
    /// Our extended handshake, sent when both sides support BEP 10. Its `reqq` should be
    /// [`Config::max_peer_requests`].
    pub extended: ExtendedHandshake,
    /// How many of the peer's requests we queue (what we advertise as `reqq`). A peer that
    /// goes past twice this is closed; up to twice, the excess is rejected (or dropped without
    /// the fast extension).
    pub max_peer_requests: usize,
    /// Our request depth when the peer does not say (`reqq` absent); libtorrent assumes 250.
    pub default_peer_reqq: usize,
    /// Our request depth never goes above this, whatever the peer advertises.
    pub max_outstanding: usize,
    /// Largest block a peer may request (WebTorrent refuses over 128 KiB; BEP 3 clients ask
    /// for 16 KiB).
    pub max_request_len: u32,
    /// The peer's handshake must arrive within this.
    pub handshake_timeout: Duration,
    /// Close when nothing at all arrives for this long.
    pub idle_timeout: Duration,
    /// Send a keep-alive when we have sent nothing for this long.
    pub keepalive_interval: Duration,
    /// With requests outstanding and no block for this long, the peer is snubbing us.
    pub request_timeout: Duration,
    /// The peer's address, for the allowed-fast set (BEP 6); `None` sends no allowed-fast.
    pub peer_ip: Option<IpAddr>,
    /// How many allowed-fast pieces to offer a peer we choke (libtorrent: 5).
    pub allowed_fast: usize,
    /// Largest info dictionary accepted over ut_metadata (BEP 9); libtorrent's default is
    /// 30 MiB. A metadata piece claiming a larger `total_size` closes the session.
    pub max_metadata_size: u32,
}

impl Config {
    /// Defaults for a torrent: libtorrent-like limits and timeouts, our reserved bits, an
    /// extended handshake announcing ut_metadata, ut_pex and lt_donthave.
    pub fn new(local: Handshake, geometry: Geometry) -> Self {
        let max_peer_requests = 2000;
        Self {
            local,
            geometry,
            limits: Limits::default(),
            extended: ExtendedHandshake {
                extensions: vec![
                    (extended::name::UT_METADATA.into(), EXT_METADATA),
                    (extended::name::UT_PEX.into(), EXT_PEX),
                    (extended::name::LT_DONTHAVE.into(), EXT_DONTHAVE),
                ],
                client: Some(concat!("peercdn/", env!("CARGO_PKG_VERSION")).into()),
                reqq: Some(max_peer_requests as u32),
                ..ExtendedHandshake::default()
            },
            max_peer_requests,
            default_peer_reqq: 250,
            max_outstanding: 2000,
            max_request_len: 128 * 1024,
            handshake_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(120),
            keepalive_interval: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
            peer_ip: None,
            allowed_fast: 5,
            max_metadata_size: 30 << 20,
        }
    }

    /// Settings for [`Session::without_geometry`]: fetching the info dictionary of a magnet
    /// link. The extended handshake announces ut_metadata alone (no `reqq`: we serve no
    /// blocks); the geometry is a placeholder of no pieces, which that session never reads.
    pub fn for_metadata(local: Handshake) -> Self {
        let mut config = Self::new(
            local,
            Geometry {
                num_pieces: 0,
                piece_length: 0,
                last_piece_length: 0,
            },
        );
        config.extended = ExtendedHandshake {
            extensions: vec![(extended::name::UT_METADATA.into(), EXT_METADATA)],
            client: config.extended.client.take(),
            ..ExtendedHandshake::default()
        };
        config
    }
}

#[cfg(doc)]
use super::Session;

/// Our ids for the extensions we announce (the peer sends them to us under these).
pub const EXT_METADATA: u8 = 1;
/// See [`EXT_METADATA`].
pub const EXT_PEX: u8 = 2;
/// See [`EXT_METADATA`].
pub const EXT_DONTHAVE: u8 = 3;
