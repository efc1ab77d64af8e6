//! Message decoding on a stream that arrives in chunks, as from a socket. The input's first byte
//! says how many chunk sizes follow (low three bits; each size is a byte plus one, used in turn)
//! and whether to decode under a 64-byte limit (bit 3) or the default one; the rest is the stream.
//!
//! Nothing panics; `Partial` leaves the buffer alone; every decoded message took exactly the bytes
//! it re-encodes to, `encoded_len` of them, and those bytes decode to it again; and the chunked
//! stream decodes to the same messages, ending in the same error, as the whole stream at once.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use peer_wire::{DecodeError, Limits, Message, Status};

fuzz_target!(|data: &[u8]| {
    let Some((&header, rest)) = data.split_first() else {
        return;
    };
    let (sizes, stream) = rest.split_at(usize::from(header & 7).min(rest.len()));
    let limits = if header & 8 != 0 {
        Limits {
            max_message_len: 64,
        }
    } else {
        Limits::default()
    };
    let chunked = decode_all(stream, sizes, &limits);
    let whole = decode_all(stream, &[], &limits);
    assert_eq!(chunked, whole, "chunking changed what was decoded");
});

/// Feeds `stream` into one buffer in chunks of `sizes[i] + 1` bytes (cycling; all at once when
/// `sizes` is empty), decoding whatever is complete after each chunk, until the stream ends or a
/// decode fails. Returns the messages and the error, if any.
fn decode_all(stream: &[u8], sizes: &[u8], limits: &Limits) -> (Vec<Message>, Option<DecodeError>) {
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let (mut fed, mut taken) = (0, 0);
    let mut sizes = sizes.iter().cycle();
    while fed < stream.len() {
        let size = sizes.next().map_or(stream.len(), |&s| usize::from(s) + 1);
        let chunk = size.min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + chunk]);
        fed += chunk;
        loop {
            let before = buf.len();
            match Message::decode(&mut buf, limits) {
                Ok(Status::Complete(message)) => {
                    let n = before - buf.len();
                    assert_eq!(message.encoded_len(), n, "{message:?}: encoded_len");
                    let mut out = Vec::new();
                    message.encode(&mut out);
                    assert_eq!(
                        out,
                        stream[taken..taken + n],
                        "{message:?} re-encodes differently"
                    );
                    let again = Message::decode(&mut BytesMut::from(&out[..]), limits);
                    assert_eq!(
                        again,
                        Ok(Status::Complete(message.clone())),
                        "no round trip"
                    );
                    taken += n;
                    messages.push(message);
                }
                Ok(Status::Partial) => {
                    assert_eq!(buf.len(), before, "Partial took bytes");
                    break;
                }
                Err(e) => {
                    assert!(buf.len() <= before);
                    return (messages, Some(e));
                }
            }
        }
    }
    (messages, None)
}
