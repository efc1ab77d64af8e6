//! Requests to one peer that are due back by a deadline: the bookkeeping the BEP 9 metadata
//! fetch and the BEP 52 piece-layer fetch share.

use std::time::{Duration, Instant};

/// Ends a peer's rest once it is over, and takes out its requests that are late (handing
/// their ids to `expired`); a peer that let any be late rests for `backoff` and gets a miss.
pub(crate) fn expire_late<Id: Copy>(
    in_flight: &mut Vec<(Id, Instant)>,
    resting_until: &mut Option<Instant>,
    misses: &mut u32,
    (now, backoff): (Instant, Duration),
    mut expired: impl FnMut(Id),
) {
    if resting_until.is_some_and(|t| now >= t) {
        *resting_until = None;
    }
    let before = in_flight.len();
    in_flight.retain(|&(id, deadline)| {
        let late = now >= deadline;
        if late {
            // Still in the peer's `asked`: a late answer is welcome.
            expired(id);
        }
        !late
    });
    if in_flight.len() != before {
        *resting_until = Some(now + backoff);
        *misses += 1;
    }
}
