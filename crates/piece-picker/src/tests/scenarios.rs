//! Behaviour, scenario by scenario. Names follow libtorrent's `test_piece_picker.cpp` where a
//! test is ported from there.

use std::collections::BTreeSet;
use std::time::Duration;

use super::*;
use crate::{BlockState, UsageError};

#[test]
fn pick_lowest_availability() {
    // libtorrent: pieces 0, 2 and 4 are ours; 1 is the rarest left.
    let mut h = setup("2223333", "* * *  ", "", "");
    assert_eq!(h.pick_pieces("*******", 1), [1]);
    assert_eq!(h.pick_pieces("*******", 4), [1, 3]);
}

#[test]
fn random_pick_at_same_priority() {
    // Ties are broken at random: every rarest piece comes up, the common one never.
    let mut seen = BTreeSet::new();
    for seed in 0..200 {
        let mut h = setup_with(config(seed), "1111112", "       ", "", "");
        seen.extend(h.pick_pieces("*******", 1));
    }
    assert_eq!(seen, (0..6).collect());
}

#[test]
fn pick_highest_priority() {
    for (prio, expected) in [("1111121", 5), ("1171121", 2), ("1131521", 4)] {
        let mut h = setup("1111111", "       ", prio, "");
        assert_eq!(h.pick_pieces("*******", 1), [expected], "priorities {prio}");
    }
}

#[test]
fn priority_beats_availability() {
    let mut h = setup("1119", "    ", "4447", "");
    let picked = h.pick_pieces("****", 5);
    assert_eq!(picked[0], 3);
    assert!([0, 1, 2].contains(&picked[1]));
}

#[test]
fn filtered_pieces() {
    let mut h = setup("1111111", "       ", "0010000", "");
    assert_eq!(h.pick_pieces("*******", 100), [2]);
    assert_eq!(h.picker.num_wanted(), 1);
}

#[test]
fn partial_pieces_first() {
    // Pieces 1, 2 and 3 are started (blocks 0; 0-1; 0-2 received), piece 6 is complete.
    let mut h = setup("1112111", "       ", "", "013700f");
    let mut started = h.pick("*******", 6);
    started.sort();
    assert_eq!(
        started,
        [
            block(1, 1),
            block(1, 2),
            block(1, 3),
            block(2, 2),
            block(2, 3),
            block(3, 3)
        ]
    );
    // Then new pieces, rarest first: never piece 6, which waits for its hash.
    let next = h.pick_pieces("*******", 12);
    assert_eq!(next.len(), 3);
    assert!(next.iter().all(|p| [0, 4, 5].contains(p)), "{next:?}");
    assert_eq!(
        h.picker.block_state(block(6, 0)),
        Some(BlockState::Received)
    );
}

#[test]
fn dont_pick_requested_blocks() {
    let mut h = setup("1111111", "       ", "", "");
    let a = h.pick("*******", 2);
    let b = h.pick("*******", 2);
    assert_eq!(
        pieces(&a),
        pieces(&b),
        "the second peer finishes the started piece"
    );
    assert!(a.iter().all(|x| !b.contains(x)));
}

#[test]
fn sequential_download() {
    let mut h = setup("7654321", "       ", "", "");
    h.picker.set_sequential(true);
    assert_eq!(h.pick_pieces("*******", 7 * 4), [0, 1, 2, 3, 4, 5, 6]);
}

#[test]
fn priority_sequential_download() {
    let mut h = setup("7654321", "       ", "1117071", "");
    h.picker.set_sequential(true);
    assert_eq!(h.pick_pieces("*******", 100), [3, 5, 0, 1, 2, 6]);
}

#[test]
fn sequential_starts_at_the_cursor() {
    let mut h = setup("1111111", "***  * ", "", "");
    h.picker.set_sequential(true);
    assert_eq!(h.picker.cursor, 3);
    assert_eq!(h.pick_pieces("*******", 5), [3, 4]);
}

#[test]
fn deadlines_come_first_earliest_first() {
    let mut h = setup("2222221", "       ", "", "");
    h.picker
        .set_deadline(PieceIndex(5), Some(Duration::from_secs(2)))
        .unwrap();
    h.picker
        .set_deadline(PieceIndex(2), Some(Duration::from_secs(1)))
        .unwrap();
    // A deadline beats priority and rarity; a skipped piece stays skipped.
    h.picker
        .set_piece_priority(PieceIndex(0), Priority::HIGH)
        .unwrap();
    h.picker
        .set_deadline(PieceIndex(4), Some(Duration::ZERO))
        .unwrap();
    h.picker
        .set_piece_priority(PieceIndex(4), Priority::SKIP)
        .unwrap();
    assert_eq!(h.pick_pieces("*******", 12), [2, 5, 0]);
    assert_eq!(h.pick_pieces("*******", 4), [6]);
    // Verifying a piece drops its deadline.
    h.picker.piece_verified(PieceIndex(2)).unwrap();
    assert_eq!(h.picker.deadline(PieceIndex(2)), None);
    assert_eq!(
        h.picker.deadline(PieceIndex(5)),
        Some(Duration::from_secs(2))
    );
    h.check();
}

#[test]
fn random_first_until_enough_pieces_are_verified() {
    // Piece 0 is much rarer; random picks ignore that until 4 pieces are verified.
    let random = Config {
        initial_random_pieces: 4,
        ..config(0)
    };
    let mut rare = 0;
    for seed in 0..100 {
        let mut h = setup_with(
            Config {
                rng_seed: seed,
                ..random.clone()
            },
            "1999999999",
            "          ",
            "",
            "",
        );
        rare += usize::from(h.pick_pieces("**********", 1) == [0]);
    }
    assert!(
        rare < 40,
        "random first picked the rarest piece {rare} times in 100"
    );
    let mut h = setup_with(random, "1999999999", "      ****", "", "");
    assert_eq!(h.picker.num_have(), 4);
    assert_eq!(h.pick_pieces("**********", 1), [0]);
}

#[test]
fn never_picks_what_the_peer_lacks() {
    let mut h = setup("1111111", "       ", "", "");
    let mut got = h.pick_pieces(" * * * ", 100);
    got.sort_unstable();
    assert_eq!(got, [1, 3, 5]);
}

#[test]
fn sparse_peer_is_matched_word_by_word() {
    // 5000 pieces, a peer with 2 of them: fewer than 1 in 1024, so the word scan runs.
    let n = 5000;
    let mut h = Harness {
        picker: Picker::new(config(3), geometry(n)).unwrap(),
        bits: HashMap::new(),
        next_peer: 100,
    };
    let mut s = vec![' '; n as usize];
    s[4000] = '*';
    let common: String = s.iter().collect();
    h.join(PeerKey(1), &common);
    s[100] = '*';
    let sparse: String = s.iter().collect();
    let peer = h.peer(&sparse);
    // 100 is the rarer of the two.
    let picked = h.pick_for(peer, 5, &PickOptions::default());
    assert_eq!(pieces(&picked), [100, 4000]);
    assert_eq!(h.pick_for(peer, 5, &PickOptions::default()).len(), 3);
    assert_eq!(h.pick_for(peer, 5, &PickOptions::default()), []);
}

#[test]
fn endgame_duplicates_in_flight_blocks_and_names_cancels() {
    let mut h = setup("11", "  ", "", "");
    let a = h.peer("**");
    let all = h.pick_for(a, 100, &PickOptions::default());
    assert_eq!(all.len(), 8);
    assert!(h.picker.is_endgame());
    let b = h.peer("**");
    let dup = h.pick_for(b, 3, &PickOptions::default());
    assert_eq!(dup, all[..3]);
    assert_eq!(h.picker.block_state(all[0]), Some(BlockState::Requested(2)));
    // At most two requesters per block by default.
    let c = h.peer("**");
    assert_eq!(h.pick_for(c, 3, &PickOptions::default()), all[3..6]);
    assert_eq!(h.pick_for(b, 100, &PickOptions::default()), all[6..]);
    assert_eq!(h.pick_for(c, 100, &PickOptions::default()), []);
    // One copy arrives: the other requester gets a cancel, its late copy is not written.
    let r = h.receive(b, all[0]);
    assert_eq!((r.write, r.cancel), (true, vec![a]));
    assert!(!h.receive(a, all[0]).write);
    let r = h.receive(a, all[3]);
    assert_eq!(r.cancel, [c]);
    assert_eq!(h.picker.num_requests(a), Some(6));
}

#[test]
fn endgame_off_never_duplicates() {
    let cfg = Config {
        endgame: false,
        ..config(1)
    };
    let mut h = setup_with(cfg, "11", "  ", "", "");
    assert_eq!(h.pick("**", 100).len(), 8);
    assert_eq!(h.pick("**", 100), []);
}

#[test]
fn failed_piece_returns_its_senders_and_frees_its_blocks() {
    let mut h = setup("1", " ", "", "");
    let a = h.peer("*");
    let b = h.peer("*");
    let picked = h.pick_for(a, 4, &PickOptions::default());
    for (i, &blk) in picked.iter().enumerate() {
        let from = if i == 2 { b } else { a };
        let r = h.receive(from, blk);
        assert_eq!(r.piece_complete, (i == 3).then_some(PieceIndex(0)));
    }
    assert_eq!(h.picker.piece_failed(PieceIndex(0)), Ok(vec![a, b]));
    h.check();
    assert_eq!(h.picker.block_state(block(0, 2)), Some(BlockState::Free));
    assert_eq!(h.picker.num_in_progress(), 0);
    assert_eq!(h.pick_for(b, 4, &PickOptions::default()), picked);
}

#[test]
fn only_a_complete_piece_can_fail() {
    let mut h = setup("1", " ", "", "3");
    assert_eq!(
        h.picker.piece_failed(PieceIndex(0)),
        Err(UsageError::PieceNotComplete(PieceIndex(0)))
    );
    h.check();
}

#[test]
fn allowed_fast_limits_a_choked_pick() {
    let mut h = setup("1111111", "       ", "", "");
    let p = h.peer("***** *");
    let allowed = [PieceIndex(3), PieceIndex(5), PieceIndex(99)];
    let options = PickOptions {
        choked_with_allowed_fast: Some(&allowed),
    };
    // 5 is not the peer's, 99 is out of range.
    assert_eq!(pieces(&h.pick_for(p, 100, &options)), [3]);
    assert_eq!(h.pick_for(p, 100, &options), []);
    let q = h.peer("*******");
    assert_eq!(pieces(&h.pick_for(q, 100, &options)), [5]);
}

#[test]
fn seeds_are_counted_apart_until_they_dont_have() {
    let mut h = setup("0120", "    ", "", "");
    let s = h.peer("****");
    assert_eq!(h.picker.num_seeds(), 1);
    assert_eq!(h.picker.availability(PieceIndex(2)), 3);
    // BEP 54: the seed no longer has piece 1; it becomes an ordinary peer.
    h.picker.peer_dont_have(s, PieceIndex(1)).unwrap();
    h.bits.insert(s, Some(bits("* **")));
    h.check();
    assert_eq!(h.picker.num_seeds(), 0);
    assert_eq!(h.picker.availability(PieceIndex(1)), 1);
    let left = h.pieces_of(s);
    h.picker.peer_left(s, &left).unwrap();
    h.bits.remove(&s);
    h.check();
}

#[test]
fn seed_pick_reaches_pieces_no_other_peer_has() {
    // Availability 0 apart from the seed: the rarest, and only a seed can give them.
    let mut h = setup("0110", "    ", "", "");
    let picked = h.pick_pieces("****", 8);
    assert_eq!(
        picked.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([0, 3])
    );
}

#[test]
fn peer_left_frees_its_requests() {
    let mut h = setup("11", "  ", "", "");
    let a = h.peer(" *");
    let picked = h.pick_for(a, 3, &PickOptions::default());
    assert_eq!(pieces(&picked), [1]);
    h.picker.peer_left(a, &bits(" *")).unwrap();
    h.bits.remove(&a);
    h.check();
    assert_eq!(h.picker.block_state(picked[0]), Some(BlockState::Free));
    assert_eq!(h.picker.num_in_progress(), 0);
}

#[test]
fn dropped_request_is_picked_again_and_a_late_block_still_counts() {
    let mut h = setup("1", " ", "", "");
    let a = h.peer("*");
    let picked = h.pick_for(a, 2, &PickOptions::default());
    assert_eq!(h.picker.request_dropped(a, picked[1]), Ok(true));
    assert_eq!(h.picker.request_dropped(a, picked[1]), Ok(false));
    h.check();
    // The block crossed our cancel: accepted anyway.
    let r = h.receive(a, picked[1]);
    assert!(r.write && r.cancel.is_empty());
    assert_eq!(h.picker.num_requests(a), Some(1));
    let again = h.pick_for(a, 4, &PickOptions::default());
    assert_eq!(again, [block(0, 2), block(0, 3)]);
}

#[test]
fn a_block_of_a_verified_piece_is_not_written() {
    let mut h = setup("1", " ", "", "");
    let a = h.peer("*");
    let picked = h.pick_for(a, 1, &PickOptions::default());
    // Found on disk meanwhile (or verified from other blocks).
    h.picker.piece_verified(PieceIndex(0)).unwrap();
    h.check();
    assert_eq!(h.picker.num_requests(a), Some(0));
    assert_eq!(h.receive(a, picked[0]), crate::Received::default());
    assert_eq!(h.picker.block_state(picked[0]), Some(BlockState::Verified));
    assert!(h.picker.is_complete());
}

#[test]
fn set_piece_priorities_rebuilds_the_levels() {
    let mut h = setup("3213", "    ", "", "1 ");
    let prios = [7, 0, 1, 7].map(|p| Priority::new(p).unwrap());
    h.picker.set_piece_priorities(&prios).unwrap();
    h.check();
    // Piece 0 is started, so it comes before piece 3 of the same priority.
    assert_eq!(h.pick_pieces("****", 100), [0, 3, 2]);
    assert_eq!(
        h.picker.set_piece_priorities(&prios[..2]),
        Err(UsageError::PriorityCount {
            len: 2,
            expected: 4
        })
    );
}

#[test]
fn interest_follows_what_we_want() {
    let mut h = setup("0000000000", "*         ", "0000000001", "");
    assert!(!h.picker.is_interesting(&bits("*         ")));
    assert!(!h.picker.is_interesting(&bits(" *        ")));
    assert!(h.picker.is_interesting(&bits("         *")));
    h.picker.piece_verified(PieceIndex(9)).unwrap();
    assert!(!h.picker.is_interesting(&bits("**********")));
    assert_eq!(h.picker.num_wanted(), 0);
    h.check();
}

#[test]
fn usage_errors_change_nothing() {
    let mut h = setup("11", "  ", "", "");
    let a = h.peer("* ");
    let before = format!("{:?}", h.picker);
    let mut out = Vec::new();
    let stranger = PeerKey(7777);
    let none = PickOptions::default();
    assert_eq!(
        h.picker.peer_joined(a, &bits("  ")),
        Err(UsageError::PeerExists(a))
    );
    assert_eq!(h.picker.peer_has_all(a), Err(UsageError::PeerExists(a)));
    assert_eq!(
        h.picker.peer_have(stranger, PieceIndex(0)),
        Err(UsageError::UnknownPeer(stranger))
    );
    assert_eq!(
        h.picker.peer_have(a, PieceIndex(2)),
        Err(UsageError::PieceOutOfRange(PieceIndex(2)))
    );
    assert_eq!(
        h.picker.pick(a, &bits("   "), 1, &none, &mut out),
        Err(UsageError::BitfieldLength {
            len: 3,
            expected: 2
        })
    );
    assert_eq!(
        h.picker.pick(stranger, &bits("  "), 1, &none, &mut out),
        Err(UsageError::UnknownPeer(stranger))
    );
    assert_eq!(
        h.picker.peer_left(a, &bits("**")),
        Err(UsageError::BitfieldMismatch {
            peer: a,
            counted: 1,
            given: 2
        })
    );
    let odd = BlockRef {
        piece: PieceIndex(0),
        offset: 1,
        len: BLOCK_LEN,
    };
    assert_eq!(
        h.picker.block_received(a, odd),
        Err(UsageError::NotABlock(odd))
    );
    let long = BlockRef {
        len: BLOCK_LEN + 1,
        ..block(0, 0)
    };
    assert_eq!(
        h.picker.request_dropped(a, long),
        Err(UsageError::NotABlock(long))
    );
    assert_eq!(h.picker.block_state(block(0, BLOCKS)), None);
    assert!(out.is_empty());
    assert_eq!(format!("{:?}", h.picker), before);
}

#[test]
fn dont_have_needs_a_have_first() {
    let mut h = setup("11", "  ", "", "");
    let a = h.peer("  ");
    assert_eq!(
        h.picker.peer_dont_have(a, PieceIndex(1)),
        Err(UsageError::NotAnnounced {
            peer: a,
            piece: PieceIndex(1)
        })
    );
    h.picker.peer_have(a, PieceIndex(1)).unwrap();
    h.picker.peer_dont_have(a, PieceIndex(1)).unwrap();
    h.check();
}

#[test]
fn invalid_geometries_are_refused() {
    let bad = [
        Geometry {
            num_pieces: 2,
            piece_length: 0,
            last_piece_length: 0,
        },
        Geometry {
            num_pieces: 2,
            piece_length: 10,
            last_piece_length: 11,
        },
        Geometry {
            num_pieces: 1,
            piece_length: 10,
            last_piece_length: 0,
        },
    ];
    for g in bad {
        assert_eq!(
            Picker::new(Config::default(), g).err(),
            Some(UsageError::Geometry(g))
        );
    }
    let empty = Picker::new(
        Config::default(),
        Geometry {
            num_pieces: 0,
            piece_length: 0,
            last_piece_length: 0,
        },
    )
    .unwrap();
    assert!(empty.is_complete());
}

/// Every last-piece length from 1 byte to 3 blocks and a byte: the blocks tile the piece, and
/// each is recognised, nothing else is.
#[test]
fn blocks_tile_every_last_piece_length() {
    let piece_length = 3 * BLOCK_LEN;
    for last in 1..=piece_length {
        let g = Geometry {
            num_pieces: 2,
            piece_length,
            last_piece_length: last,
        };
        let p = Picker::new(Config::default(), g).unwrap();
        let blocks: Vec<BlockRef> = p.piece_blocks(PieceIndex(1)).collect();
        assert_eq!(blocks.len() as u32, last.div_ceil(BLOCK_LEN));
        let mut offset = 0;
        for b in &blocks {
            assert_eq!(b.offset, offset);
            assert!(b.len > 0 && b.len <= BLOCK_LEN);
            assert_eq!(p.block_state(*b), Some(BlockState::Free));
            offset += b.len;
        }
        assert_eq!(offset, last);
        let past = BlockRef {
            piece: PieceIndex(1),
            offset,
            len: BLOCK_LEN,
        };
        assert_eq!(p.block_state(past), None);
        if last % BLOCK_LEN != 0 {
            let padded = BlockRef {
                len: BLOCK_LEN,
                ..*blocks.last().unwrap()
            };
            assert_eq!(p.block_state(padded), None);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_picks() {
    let run = |seed| {
        let mut h = setup_with(config(seed), "1111222233334444", "                ", "", "");
        (0..6)
            .map(|_| h.pick_pieces("****************", 4))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(9), run(9));
    assert_ne!((0..8).map(run).collect::<BTreeSet<_>>().len(), 1);
}

#[test]
fn generation_changes_whenever_a_short_pick_could_find_more() {
    let mut h = setup("111", "   ", "", "");
    let none = PickOptions::default();
    let a = h.peer("*  ");
    let blocks = h.pick_for(a, 100, &none);
    assert_eq!(pieces(&blocks), [0]);
    assert_eq!(blocks.len(), 4);
    // Came up short: until the generation changes, `a` finds nothing more.
    let g = h.picker.generation();
    assert!(!h.picker.is_pickable(PieceIndex(0)));
    assert!(h.picker.is_pickable(PieceIndex(1)));
    assert_eq!(h.pick_for(a, 100, &none), []);
    h.receive(a, blocks[0]);
    assert_eq!(h.picker.generation(), g, "a block arriving frees nothing");
    // A dropped request frees a block of a piece that had none.
    assert_eq!(h.picker.request_dropped(a, blocks[1]), Ok(true));
    let g2 = h.picker.generation();
    assert_ne!(g2, g);
    assert!(h.picker.is_pickable(PieceIndex(0)));
    assert_eq!(h.pick_for(a, 100, &none), [blocks[1]]);
    // What the user wants changes what can be picked.
    h.picker
        .set_piece_priority(PieceIndex(2), Priority::new(0).unwrap())
        .unwrap();
    let g3 = h.picker.generation();
    assert_ne!(g3, g2);
    assert!(!h.picker.is_pickable(PieceIndex(2)));
    // Endgame begins when the last free block is requested: in-flight blocks are pickable
    // again.
    let b = h.peer("** ");
    assert_eq!(h.pick_for(b, 4, &none).len(), 4);
    assert!(h.picker.is_endgame());
    assert_ne!(h.picker.generation(), g3);
    assert!(h.picker.is_pickable(PieceIndex(0)));
    assert_eq!(pieces(&h.pick_for(b, 100, &none)), [0]);
}
