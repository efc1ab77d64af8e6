//! Every message after the handshake: `<length: u32 BE><id: u8><payload>`, or a zero length for
//! keep-alive (BEP 3), with the fast extension's (BEP 6), the extension protocol's envelope
//! (BEP 10) and BEP 52's hash messages.
//!
//! Decoding works on the receive buffer itself: a complete frame is split off the front of the
//! `BytesMut` and frozen, so a piece's block (and an extended payload) is a `Bytes` that shares
//! the buffer's memory; nothing is copied between the socket and the disk. The length prefix is
//! checked against [`Limits::max_message_len`] before any of the body is awaited.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::handshake::array;
use crate::{BlockRef, DecodeError, PieceIndex, Status};

/// Message ids (BEP 3, BEP 5, BEP 6, BEP 10, BEP 52).
pub mod id {
    /// BEP 3.
    pub const CHOKE: u8 = 0;
    /// BEP 3.
    pub const UNCHOKE: u8 = 1;
    /// BEP 3.
    pub const INTERESTED: u8 = 2;
    /// BEP 3.
    pub const NOT_INTERESTED: u8 = 3;
    /// BEP 3.
    pub const HAVE: u8 = 4;
    /// BEP 3.
    pub const BITFIELD: u8 = 5;
    /// BEP 3.
    pub const REQUEST: u8 = 6;
    /// BEP 3.
    pub const PIECE: u8 = 7;
    /// BEP 3.
    pub const CANCEL: u8 = 8;
    /// BEP 5.
    pub const PORT: u8 = 9;
    /// BEP 6.
    pub const SUGGEST: u8 = 0x0d;
    /// BEP 6.
    pub const HAVE_ALL: u8 = 0x0e;
    /// BEP 6.
    pub const HAVE_NONE: u8 = 0x0f;
    /// BEP 6.
    pub const REJECT: u8 = 0x10;
    /// BEP 6.
    pub const ALLOWED_FAST: u8 = 0x11;
    /// BEP 10.
    pub const EXTENDED: u8 = 20;
    /// BEP 52.
    pub const HASH_REQUEST: u8 = 21;
    /// BEP 52.
    pub const HASHES: u8 = 22;
    /// BEP 52.
    pub const HASH_REJECT: u8 = 23;
}

/// How large a message may be. The default (1 MiB of payload) holds a bitfield of eight million
/// pieces and a 128 KiB block with room to spare; libtorrent's receive buffer limit is 2 MiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest length prefix accepted (id and payload), checked before the body is awaited.
    pub max_message_len: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_len: 1 << 20,
        }
    }
}

/// BEP 52 hash request, and the header of `hashes` and `hash reject`: which hashes of which
/// file's merkle tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashRequest {
    /// The file's `pieces root`.
    pub pieces_root: [u8; 32],
    /// The tree layer the hashes come from (0 = the 16 KiB blocks).
    pub base_layer: u32,
    /// Index of the first hash in that layer.
    pub index: u32,
    /// Number of hashes (a power of two, at least 2).
    pub length: u32,
    /// Number of uncle-hash layers of proof that follow the hashes.
    pub proof_layers: u32,
}

/// A message after the handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A zero-length message.
    KeepAlive,
    /// BEP 3.
    Choke,
    /// BEP 3.
    Unchoke,
    /// BEP 3.
    Interested,
    /// BEP 3.
    NotInterested,
    /// BEP 3: the sender has verified this piece.
    Have(PieceIndex),
    /// BEP 3: one bit per piece, high bit of the first byte first; its length is checked against
    /// the torrent by the session, which knows the piece count.
    Bitfield(Bytes),
    /// BEP 3.
    Request(BlockRef),
    /// BEP 3: a block; `data` shares the receive buffer.
    Piece {
        /// Which piece.
        piece: PieceIndex,
        /// Where in the piece.
        offset: u32,
        /// The block.
        data: Bytes,
    },
    /// BEP 3.
    Cancel(BlockRef),
    /// BEP 5: the sender's DHT port.
    Port(u16),
    /// BEP 6.
    Suggest(PieceIndex),
    /// BEP 6.
    HaveAll,
    /// BEP 6.
    HaveNone,
    /// BEP 6: the request will not be served.
    Reject(BlockRef),
    /// BEP 6: this piece may be requested while choked.
    AllowedFast(PieceIndex),
    /// BEP 10: `id` 0 is the extended handshake, others are the receiver's own numbers for the
    /// extensions it announced in its handshake. See [`crate::extended`] for the payloads.
    Extended {
        /// Extended message id.
        id: u8,
        /// Everything after the id.
        payload: Bytes,
    },
    /// BEP 52.
    HashRequest(HashRequest),
    /// BEP 52: the hashes asked for, then the proof.
    Hashes {
        /// What these are.
        request: HashRequest,
        /// Concatenated 32-byte hashes.
        hashes: Bytes,
    },
    /// BEP 52.
    HashReject(HashRequest),
    /// A message id this crate does not know; BEP 3 peers ignore those.
    Unknown {
        /// The id.
        id: u8,
        /// The payload.
        payload: Bytes,
    },
}

impl Message {
    /// Takes one complete message off the front of `buf`. With fewer bytes than the message
    /// needs, returns [`Status::Partial`] and leaves `buf` as it was (the caller may reserve
    /// [`frame_len`] bytes). A length prefix over the limit is an error at once.
    pub fn decode(buf: &mut BytesMut, limits: &Limits) -> Result<Status<Self>, DecodeError> {
        let Status::Complete(len) = frame_len(buf, limits)? else {
            return Ok(Status::Partial);
        };
        if buf.len() < len {
            return Ok(Status::Partial);
        }
        // Messages without a payload to share are read from the buffer in place: no reference
        // count to take and drop for a `have` or a `request`.
        if let Some(m) = Self::parse_fixed(&buf[4..len])? {
            buf.advance(len);
            return Ok(Status::Complete(m));
        }
        let mut frame = buf.split_to(len).freeze();
        frame.advance(4);
        Self::parse_shared(frame).map(Status::Complete)
    }

    /// Decodes a frame's body (the bytes after the length prefix).
    pub fn parse(body: Bytes) -> Result<Self, DecodeError> {
        match Self::parse_fixed(&body)? {
            Some(m) => Ok(m),
            None => Self::parse_shared(body),
        }
    }

    /// The messages of a fixed size; `None` for those with a payload (bitfield, piece,
    /// extended, hashes, unknown ids), which [`Self::parse_shared`] reads.
    #[inline(always)]
    fn parse_fixed(body: &[u8]) -> Result<Option<Self>, DecodeError> {
        let Some((&id, rest)) = body.split_first() else {
            return Ok(Some(Self::KeepAlive));
        };
        let size = match id {
            id::CHOKE
            | id::UNCHOKE
            | id::INTERESTED
            | id::NOT_INTERESTED
            | id::HAVE_ALL
            | id::HAVE_NONE => 0,
            id::HAVE | id::SUGGEST | id::ALLOWED_FAST => 4,
            id::REQUEST | id::CANCEL | id::REJECT => 12,
            id::PORT => 2,
            id::HASH_REQUEST | id::HASH_REJECT => HASH_HEADER_LEN,
            _ => return Ok(None),
        };
        if rest.len() != size {
            return Err(DecodeError::WrongLength {
                id,
                len: rest.len(),
            });
        }
        let word = |at: usize| u32::from_be_bytes(array(&rest[at..at + 4]));
        let block = || BlockRef {
            piece: PieceIndex(word(0)),
            offset: word(4),
            len: word(8),
        };
        Ok(Some(match id {
            id::CHOKE => Self::Choke,
            id::UNCHOKE => Self::Unchoke,
            id::INTERESTED => Self::Interested,
            id::NOT_INTERESTED => Self::NotInterested,
            id::HAVE_ALL => Self::HaveAll,
            id::HAVE_NONE => Self::HaveNone,
            id::HAVE => Self::Have(PieceIndex(word(0))),
            id::SUGGEST => Self::Suggest(PieceIndex(word(0))),
            id::ALLOWED_FAST => Self::AllowedFast(PieceIndex(word(0))),
            id::REQUEST => Self::Request(block()),
            id::CANCEL => Self::Cancel(block()),
            id::REJECT => Self::Reject(block()),
            id::PORT => Self::Port(u16::from_be_bytes(array(rest))),
            id::HASH_REQUEST => Self::HashRequest(hash_header(rest)),
            // HASH_REJECT: the only id left with a fixed size.
            _ => Self::HashReject(hash_header(rest)),
        }))
    }

    /// The messages whose payload is handed out as a `Bytes` of the frame.
    fn parse_shared(mut body: Bytes) -> Result<Self, DecodeError> {
        let id = body.get_u8();
        let len = body.len();
        let at_least = |n: usize| {
            if len >= n {
                Ok(())
            } else {
                Err(DecodeError::WrongLength { id, len })
            }
        };
        let message = match id {
            id::BITFIELD => Self::Bitfield(body),
            id::PIECE => {
                at_least(8)?;
                let piece = PieceIndex(body.get_u32());
                let offset = body.get_u32();
                Self::Piece {
                    piece,
                    offset,
                    data: body,
                }
            }
            id::EXTENDED => {
                at_least(1)?;
                let id = body.get_u8();
                Self::Extended { id, payload: body }
            }
            id::HASHES => {
                at_least(HASH_HEADER_LEN)?;
                if !(len - HASH_HEADER_LEN).is_multiple_of(32) {
                    return Err(DecodeError::WrongLength { id, len });
                }
                let request = hash_header(&body);
                body.advance(HASH_HEADER_LEN);
                Self::Hashes {
                    request,
                    hashes: body,
                }
            }
            id => Self::Unknown { id, payload: body },
        };
        Ok(message)
    }

    /// Bytes [`Self::encode`] writes, length prefix included.
    pub fn encoded_len(&self) -> usize {
        4 + self.body_len()
    }

    /// Writes the message, length prefix included. The small messages are built as one
    /// fixed-size frame and written with a single `put_slice`.
    pub fn encode(&self, out: &mut impl BufMut) {
        match self {
            Self::KeepAlive => out.put_slice(&[0; 4]),
            Self::Choke => out.put_slice(&[0, 0, 0, 1, id::CHOKE]),
            Self::Unchoke => out.put_slice(&[0, 0, 0, 1, id::UNCHOKE]),
            Self::Interested => out.put_slice(&[0, 0, 0, 1, id::INTERESTED]),
            Self::NotInterested => out.put_slice(&[0, 0, 0, 1, id::NOT_INTERESTED]),
            Self::HaveAll => out.put_slice(&[0, 0, 0, 1, id::HAVE_ALL]),
            Self::HaveNone => out.put_slice(&[0, 0, 0, 1, id::HAVE_NONE]),
            Self::Have(p) => out.put_slice(&index_frame(id::HAVE, p.0)),
            Self::Suggest(p) => out.put_slice(&index_frame(id::SUGGEST, p.0)),
            Self::AllowedFast(p) => out.put_slice(&index_frame(id::ALLOWED_FAST, p.0)),
            Self::Request(b) => out.put_slice(&block_frame(id::REQUEST, b)),
            Self::Cancel(b) => out.put_slice(&block_frame(id::CANCEL, b)),
            Self::Reject(b) => out.put_slice(&block_frame(id::REJECT, b)),
            Self::Port(port) => {
                let [hi, lo] = port.to_be_bytes();
                out.put_slice(&[0, 0, 0, 3, id::PORT, hi, lo]);
            }
            Self::Bitfield(bits) => {
                self.put_prefix(out);
                out.put_u8(id::BITFIELD);
                out.put_slice(bits);
            }
            Self::Piece {
                piece,
                offset,
                data,
            } => {
                self.put_prefix(out);
                out.put_u8(id::PIECE);
                out.put_u32(piece.0);
                out.put_u32(*offset);
                out.put_slice(data);
            }
            Self::Extended { id: ext, payload } => {
                self.put_prefix(out);
                out.put_u8(id::EXTENDED);
                out.put_u8(*ext);
                out.put_slice(payload);
            }
            Self::HashRequest(r) => {
                self.put_prefix(out);
                put_hash_header(out, id::HASH_REQUEST, r);
            }
            Self::Hashes { request, hashes } => {
                self.put_prefix(out);
                put_hash_header(out, id::HASHES, request);
                out.put_slice(hashes);
            }
            Self::HashReject(r) => {
                self.put_prefix(out);
                put_hash_header(out, id::HASH_REJECT, r);
            }
            Self::Unknown { id, payload } => {
                self.put_prefix(out);
                out.put_u8(*id);
                out.put_slice(payload);
            }
        }
    }

    /// The length prefix of a message with a payload.
    fn put_prefix(&self, out: &mut impl BufMut) {
        // Payloads come from decoded frames (at most the message limit) or from the session,
        // whose blocks and extension payloads are far below 4 GiB.
        out.put_u32(u32::try_from(self.body_len()).unwrap_or(u32::MAX));
    }

    /// The id and payload length.
    fn body_len(&self) -> usize {
        match self {
            Self::KeepAlive => 0,
            Self::Choke
            | Self::Unchoke
            | Self::Interested
            | Self::NotInterested
            | Self::HaveAll
            | Self::HaveNone => 1,
            Self::Have(_) | Self::Suggest(_) | Self::AllowedFast(_) => 5,
            Self::Bitfield(bits) => 1 + bits.len(),
            Self::Request(_) | Self::Cancel(_) | Self::Reject(_) => 13,
            Self::Piece { data, .. } => 9 + data.len(),
            Self::Port(_) => 3,
            Self::Extended { payload, .. } => 2 + payload.len(),
            Self::HashRequest(_) | Self::HashReject(_) => 1 + HASH_HEADER_LEN,
            Self::Hashes { hashes, .. } => 1 + HASH_HEADER_LEN + hashes.len(),
            Self::Unknown { payload, .. } => 1 + payload.len(),
        }
    }
}

/// The 13-byte header of a piece message carrying `len` bytes of block: write it, then the
/// block, to send a block without copying it into the send buffer.
pub fn encode_piece_header(piece: PieceIndex, offset: u32, len: u32, out: &mut impl BufMut) {
    out.put_u32(9 + len);
    out.put_u8(id::PIECE);
    out.put_u32(piece.0);
    out.put_u32(offset);
}

/// The whole length of the message at the front of `buf` (prefix included), once its four-byte
/// prefix is there; an error if the prefix is over the limit.
pub fn frame_len(buf: &[u8], limits: &Limits) -> Result<Status<usize>, DecodeError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(Status::Partial);
    };
    let len = u32::from_be_bytes(array(prefix));
    if len > limits.max_message_len {
        return Err(DecodeError::MessageTooLong {
            len,
            limit: limits.max_message_len,
        });
    }
    Ok(Status::Complete(4 + len as usize))
}

/// `pieces root`, base layer, index, length, proof layers.
const HASH_HEADER_LEN: usize = 32 + 4 * 4;

/// `have`, `suggest`, `allowed fast`: prefix 5, the id, a piece index.
fn index_frame(id: u8, index: u32) -> [u8; 9] {
    let [a, b, c, d] = index.to_be_bytes();
    [0, 0, 0, 5, id, a, b, c, d]
}

/// `request`, `cancel`, `reject`: prefix 13, the id, piece, offset, length.
fn block_frame(id: u8, block: &BlockRef) -> [u8; 17] {
    let mut f = [0, 0, 0, 13, id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    f[5..9].copy_from_slice(&block.piece.0.to_be_bytes());
    f[9..13].copy_from_slice(&block.offset.to_be_bytes());
    f[13..].copy_from_slice(&block.len.to_be_bytes());
    f
}

fn hash_header(body: &[u8]) -> HashRequest {
    let word = |at: usize| u32::from_be_bytes(array(&body[at..at + 4]));
    HashRequest {
        pieces_root: array(&body[..32]),
        base_layer: word(32),
        index: word(36),
        length: word(40),
        proof_layers: word(44),
    }
}

fn put_hash_header(out: &mut impl BufMut, id: u8, r: &HashRequest) {
    out.put_u8(id);
    out.put_slice(&r.pieces_root);
    out.put_u32(r.base_layer);
    out.put_u32(r.index);
    out.put_u32(r.length);
    out.put_u32(r.proof_layers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(piece: u32, offset: u32, len: u32) -> BlockRef {
        BlockRef {
            piece: PieceIndex(piece),
            offset,
            len,
        }
    }

    pub(crate) fn every_kind() -> Vec<Message> {
        let request = HashRequest {
            pieces_root: [7; 32],
            base_layer: 0,
            index: 512,
            length: 512,
            proof_layers: 3,
        };
        vec![
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have(PieceIndex(0x0102_0304)),
            Message::Bitfield(Bytes::from_static(&[0xff, 0x80])),
            Message::Request(block(1, 0x4000, 0x4000)),
            Message::Piece {
                piece: PieceIndex(2),
                offset: 0,
                data: Bytes::from_static(b"block"),
            },
            Message::Cancel(block(1, 0x4000, 0x4000)),
            Message::Port(6881),
            Message::Suggest(PieceIndex(9)),
            Message::HaveAll,
            Message::HaveNone,
            Message::Reject(block(3, 0, 0x4000)),
            Message::AllowedFast(PieceIndex(4)),
            Message::Extended {
                id: 0,
                payload: Bytes::from_static(b"d1:md11:ut_metadatai1eee"),
            },
            Message::HashRequest(request),
            Message::Hashes {
                request,
                hashes: Bytes::from(vec![9; 64]),
            },
            Message::HashReject(request),
            Message::Unknown {
                id: 99,
                payload: Bytes::from_static(b"?"),
            },
        ]
    }

    #[test]
    fn every_message_round_trips_and_every_prefix_is_partial() {
        for m in every_kind() {
            let mut bytes = Vec::new();
            m.encode(&mut bytes);
            assert_eq!(bytes.len(), m.encoded_len(), "{m:?}");
            for cut in 0..bytes.len() {
                let mut buf = BytesMut::from(&bytes[..cut]);
                assert_eq!(
                    Message::decode(&mut buf, &Limits::default()),
                    Ok(Status::Partial)
                );
                assert_eq!(buf.len(), cut, "a partial decode leaves the buffer alone");
            }
            let mut buf = BytesMut::from(&bytes[..]);
            buf.extend_from_slice(&[0, 0, 0, 0]);
            assert_eq!(
                Message::decode(&mut buf, &Limits::default()),
                Ok(Status::Complete(m.clone()))
            );
            assert_eq!(&buf[..], &[0, 0, 0, 0], "exactly one message taken");
        }
    }

    #[test]
    fn known_bytes_decode_as_bep_3_says() {
        // BEP 3: "request: <len=0013><id=6><index><begin><length>".
        let mut buf = BytesMut::from(
            &hex::decode("0000000d060000000100004000000040 00".replace(' ', "")).unwrap()[..17],
        );
        assert_eq!(
            Message::decode(&mut buf, &Limits::default()),
            Ok(Status::Complete(Message::Request(block(1, 0x4000, 0x4000))))
        );
    }

    #[test]
    fn an_oversized_prefix_is_refused_before_its_body_arrives() {
        let limits = Limits {
            max_message_len: 100,
        };
        let mut buf = BytesMut::from(&[0, 0, 0, 101][..]);
        assert_eq!(
            Message::decode(&mut buf, &limits),
            Err(DecodeError::MessageTooLong {
                len: 101,
                limit: 100
            })
        );
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 7][..]);
        assert!(Message::decode(&mut buf, &Limits::default()).is_err());
    }

    #[test]
    fn payload_lengths_that_do_not_fit_the_id_are_errors() {
        for (bytes, id, len) in [
            (&[0, 0, 0, 2, 0, 0][..], 0, 1),
            (&[0, 0, 0, 4, 4, 0, 0, 1][..], 4, 3),
            (&[0, 0, 0, 8, 7, 0, 0, 0, 1, 0, 0, 0][..], 7, 7),
            (&[0, 0, 0, 1, 20][..], 20, 0),
            (&[0, 0, 0, 2, 9, 1][..], 9, 1),
        ] {
            let mut buf = BytesMut::from(bytes);
            assert_eq!(
                Message::decode(&mut buf, &Limits::default()),
                Err(DecodeError::WrongLength { id, len }),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn a_piece_block_shares_the_receive_buffer() {
        let mut bytes = Vec::new();
        encode_piece_header(PieceIndex(5), 16384, 4, &mut bytes);
        bytes.extend_from_slice(b"data");
        let mut buf = BytesMut::from(&bytes[..]);
        let start = buf.as_ptr() as usize;
        let Ok(Status::Complete(Message::Piece { data, .. })) =
            Message::decode(&mut buf, &Limits::default())
        else {
            panic!("a piece");
        };
        assert_eq!(&data[..], b"data");
        assert_eq!(data.as_ptr() as usize, start + 13, "no copy");
    }
}
