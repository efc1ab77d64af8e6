//! The byte-stream ⇄ message framer of `rtc-transport` driven by operations decoded from the
//! input: writes against a claimed in-flight amount, cuts into messages of any size, received
//! messages, reads of any size. Never a panic; the send queue never passes its limit; the bytes
//! cut into messages are the bytes written, in order; the bytes read are the bytes received, in
//! order; `can_receive` and `readable` agree with a model.

#![no_main]

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use rtc_transport::framer::{Framer, Limits};

fuzz_target!(|data: &[u8]| {
    let (Some(&a), Some(&b)) = (data.first(), data.get(1)) else {
        return;
    };
    let limits = Limits {
        max_buffered: 1 + usize::from(a) * 64,
        max_receive_buffered: 1 + usize::from(b) * 64,
    };
    let mut f = Framer::new(limits);
    let mut next_byte = 0u8;
    let mut written = Vec::new();
    let mut cut = Vec::new();
    let mut received = VecDeque::new();
    for chunk in data[2..].chunks(2) {
        let (op, arg) = (chunk[0], usize::from(chunk.get(1).copied().unwrap_or(0)));
        let size = arg * usize::from(op >> 3).max(1);
        match op & 7 {
            0 | 1 => {
                let bytes: Vec<u8> = (0..size)
                    .map(|_| {
                        next_byte = next_byte.wrapping_add(1);
                        next_byte
                    })
                    .collect();
                let in_flight = if op & 1 == 1 { arg * 16 } else { 0 };
                let before = f.queued();
                let n = f.write(&bytes, in_flight);
                assert!(n <= bytes.len());
                assert_eq!(f.queued(), before + n);
                assert!(n == 0 || f.queued() + in_flight <= limits.max_buffered);
                written.extend_from_slice(&bytes[..n]);
            }
            2 => {
                if let Some(m) = f.next_message(size) {
                    assert!(!m.is_empty() && m.len() <= size);
                    cut.extend_from_slice(&m);
                    // Loop the message back into the receive side.
                    received.extend(m.iter().copied());
                    f.push_message(m.freeze());
                } else {
                    assert!(size == 0 || f.queued() == 0);
                }
            }
            3 => {
                let m: Vec<u8> = (0..size).map(|i| i as u8 ^ op).collect();
                received.extend(m.iter().copied());
                let was_empty = f.readable() == 0;
                assert_eq!(
                    f.push_message(Bytes::from(m.clone())),
                    was_empty && !m.is_empty()
                );
            }
            4 => {
                let mut buf = vec![0; size];
                let n = f.read(&mut buf);
                assert_eq!(n, size.min(received.len()));
                let want: Vec<u8> = received.drain(..n).collect();
                assert_eq!(&buf[..n], &want[..]);
            }
            5 => {
                let mut out = BytesMut::new();
                let n = f.read_into(&mut out);
                assert_eq!(n, received.len());
                let want: Vec<u8> = received.drain(..).collect();
                assert_eq!(&out[..], &want[..]);
            }
            6 => {
                let in_flight = arg * 64;
                if f.poll_writable(in_flight) {
                    assert!(f.queued() + in_flight <= limits.max_buffered / 2);
                }
            }
            _ => {
                if op & 8 == 8 {
                    f.clear();
                    written.clear();
                    cut.clear();
                    received.clear();
                }
            }
        }
        assert_eq!(f.readable(), received.len());
        assert_eq!(
            f.can_receive(),
            received.len() < limits.max_receive_buffered
        );
        assert!(f.queued() <= limits.max_buffered);
    }
    while let Some(m) = f.next_message(usize::MAX) {
        cut.extend_from_slice(&m);
    }
    assert_eq!(cut, written);
});
