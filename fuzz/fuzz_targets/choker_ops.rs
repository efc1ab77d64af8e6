//! The choker driven by operations decoded from the input: peers join and leave, change
//! interest, report byte totals and pieces; the clock jumps; modes and slots change. Never a
//! panic; never more unchoked than regular plus optimistic slots; every unchoked peer is
//! interested; the actions keep the caller's view consistent.

#![no_main]

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use choker::{Action, Choker, Config, PeerKey, SeedMode, Slots, Totals};
use libfuzzer_sys::fuzz_target;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fuzz_target!(|data: &[u8]| {
    let mut now = origin();
    let config = Config::new(100, 1 << 18);
    let optimistic = config.optimistic_slots;
    let mut c = Choker::new(config, now);
    let mut unchoked: BTreeSet<PeerKey> = BTreeSet::new();
    let mut interested: BTreeSet<PeerKey> = BTreeSet::new();
    let mut totals = [Totals::default(); 16];
    for chunk in data.chunks(2) {
        let (op, arg) = (chunk[0], chunk.get(1).copied().unwrap_or(0));
        let key = PeerKey(u32::from(op >> 4));
        match op & 0x0f {
            0 | 1 => {
                let _ = c.add_peer(now, key);
            }
            2 => {
                if c.remove_peer(key).is_ok() {
                    unchoked.remove(&key);
                    interested.remove(&key);
                }
            }
            3 | 4 => {
                let on = op & 1 == 1;
                c.handle_interested(now, key, on);
                if c.contains(key) {
                    if on {
                        interested.insert(key);
                    } else {
                        interested.remove(&key);
                    }
                }
            }
            5 | 6 | 7 => {
                let t = &mut totals[(op >> 4) as usize];
                t.received += u64::from(arg) * 16_384;
                t.sent += u64::from(arg & 0x0f) * 16_384;
                c.handle_transferred(now, key, *t);
            }
            8 => c.handle_pieces(key, u32::from(arg)),
            9 => {
                let _ = c.set_interested(now, key, arg & 1 == 1);
            }
            10 => c.set_seed_mode(match arg % 4 {
                0 => SeedMode::RoundRobin,
                1 => SeedMode::FastestUpload,
                2 => SeedMode::AntiLeech,
                _ => SeedMode::Origin,
            }),
            11 => c.set_slots(
                now,
                if arg & 0x80 == 0 {
                    Slots::Fixed(usize::from(arg % 8))
                } else {
                    Slots::rate_based()
                },
            ),
            _ => {
                now += Duration::from_millis(u64::from(arg) * 250);
                c.handle_timeout(now);
            }
        }
        while let Some(action) = c.poll_action() {
            match action {
                Action::Unchoke(k) => assert!(unchoked.insert(k), "unchoke of an unchoked peer"),
                Action::Choke(k) => assert!(unchoked.remove(&k), "choke of a choked peer"),
            }
        }
        assert!(
            unchoked.len() <= c.regular_slots() + optimistic,
            "too many unchoked"
        );
        assert!(
            unchoked.iter().all(|k| interested.contains(k)),
            "unchoked but not interested"
        );
        assert_eq!(unchoked.len(), c.num_unchoked());
    }
});
