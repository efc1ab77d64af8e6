//! The invariant checker behind `Picker::check_invariants` (tests, fuzzing, and the
//! `check-invariants` feature). Each check names the invariant of the crate docs it enforces.

use std::collections::HashMap;

use crate::PeerKey;
use crate::downloads::Slot;
use crate::picker::Picker;

pub(crate) fn check(picker: &Picker) -> Result<(), String> {
    let n = picker.geometry.num_pieces;
    let pieces = &picker.pieces;
    if pieces.len() != n as usize {
        return Err("piece table of the wrong size".into());
    }
    // 1. Levels: each wanted piece not in progress is in exactly the level of its priority,
    //    in the bucket of its availability; nothing else is in a level. The wanted counts
    //    per priority include the pieces in progress.
    if !picker.levels[0].is_empty() || picker.wanted[0] != 0 {
        return Err("level 0 holds pieces".into());
    }
    if !picker.started.is_empty() {
        return Err("pieces started and not settled".into());
    }
    for prio in 1..8u8 {
        picker.levels[usize::from(prio)]
            .check(pieces, prio, |p, s| s.wanted() && !picker.busy.get(p))?;
        let wanted = pieces
            .iter()
            .filter(|s| s.wanted() && s.priority() == prio)
            .count();
        if wanted as u32 != picker.wanted[usize::from(prio)] {
            return Err(format!(
                "{wanted} wanted at priority {prio}, counted {}",
                picker.wanted[usize::from(prio)]
            ));
        }
    }
    // 2. The word sets mirror the table and the downloads.
    for p in 0..n {
        let s = pieces[p as usize];
        if picker.want.get(p) != s.wanted() {
            return Err(format!("piece {p}: want bit {}", picker.want.get(p)));
        }
        if picker.busy.get(p) != picker.downloads.get(p).is_some() {
            return Err(format!("piece {p}: busy bit {}", picker.busy.get(p)));
        }
    }
    // 3. Every block is in exactly one state: a download's blocks are free, requested (by
    //    distinct peers) or received, and its counts match; a piece without a download is all
    //    free, or all verified if we have it. No download is all free, none is of a verified
    //    piece, and the partial list is exactly the downloads with a free block.
    picker.downloads.check()?;
    let mut saturated = 0;
    let mut requests: HashMap<PeerKey, u32> = HashMap::new();
    for slot in picker.downloads.active() {
        let d = &picker.downloads.slots[slot as usize];
        let s = pieces[d.piece as usize];
        if s.have() {
            return Err(format!("piece {}: verified but in progress", d.piece));
        }
        if d.num_blocks != picker.num_blocks(d.piece) {
            return Err(format!("piece {}: {} blocks", d.piece, d.num_blocks));
        }
        if d.num_free == 0 && s.wanted() {
            saturated += 1;
        }
        for (b, block) in picker.downloads.blocks(slot).iter().enumerate() {
            if block.state == Slot::Requested {
                for peer in picker.downloads.requesters(slot, b as u32) {
                    *requests.entry(peer).or_default() += 1;
                }
            }
        }
    }
    // 4. Endgame is exactly "every wanted piece is saturated".
    if saturated != picker.saturated {
        return Err(format!(
            "{saturated} wanted pieces have no free block, counted {}",
            picker.saturated
        ));
    }
    // 5. Each peer's request count is the number of blocks it is a requester of, and only
    //    peers that are there are requesters.
    for (peer, &count) in &requests {
        match picker.peers.get(peer) {
            None => return Err(format!("{peer:?} left but is a requester")),
            Some(r) if r.requests != count => {
                return Err(format!(
                    "{peer:?}: {count} requests, counted {}",
                    r.requests
                ));
            }
            Some(_) => {}
        }
    }
    if let Some((peer, r)) = picker
        .peers
        .iter()
        .find(|(p, r)| r.requests > 0 && !requests.contains_key(p))
    {
        return Err(format!(
            "{peer:?}: counted {} requests, has none",
            r.requests
        ));
    }
    // 6. Seeds are counted once, apart from the pieces; no piece counts more peers than there
    //    are non-seeds.
    let seeds = picker.peers.values().filter(|r| r.seed).count() as u32;
    if seeds != picker.seeds {
        return Err(format!("{seeds} seeds, counted {}", picker.seeds));
    }
    let others = picker.peers.len() as u32 - seeds;
    if let Some(p) = pieces.iter().position(|s| s.avail() > others) {
        return Err(format!(
            "piece {p}: availability over the {others} non-seeds"
        ));
    }
    if let Some((peer, _)) = picker.peers.iter().find(|(_, r)| r.count > n) {
        return Err(format!("{peer:?}: more pieces than the torrent"));
    }
    // 7. Verified pieces: the count and the cursor.
    let have = pieces.iter().filter(|s| s.have()).count() as u32;
    if have != picker.num_have {
        return Err(format!("{have} verified, counted {}", picker.num_have));
    }
    let cursor = pieces.iter().position(|s| !s.have()).unwrap_or(n as usize) as u32;
    if cursor != picker.cursor {
        return Err(format!(
            "cursor at {}, first missing piece {cursor}",
            picker.cursor
        ));
    }
    // 8. Deadlines: sorted, one per piece, none on a verified piece.
    if picker.deadlines.windows(2).any(|w| w[0] >= w[1]) {
        return Err("deadlines not sorted".into());
    }
    let mut seen: Vec<u32> = picker.deadlines.iter().map(|&(_, p)| p).collect();
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err("a piece with two deadlines".into());
    }
    if let Some(p) = seen.iter().find(|&&p| p >= n || pieces[p as usize].have()) {
        return Err(format!("deadline on piece {p}, verified or out of range"));
    }
    Ok(())
}
