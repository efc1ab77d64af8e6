//! A tiny deterministic random number generator, seeded from the configuration.
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
//! OOPSLA 2014; the generator of `java.util.SplittableRandom`): 64 bits of state, every seed
//! valid, good enough to draw an optimistic unchoke or break a tie. Not for anything an
//! attacker must not predict.

/// SplitMix64.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// The generator seeded with `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; 0 when `n` is 0. Lemire's multiply-shift: the bias is below
    /// `n / 2^64`, nothing for the few thousand candidates a draw sees.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Draws one index of `weights` with probability proportional to its weight; `None` when the
/// weights sum to 0.
pub(crate) fn weighted_index(
    rng: &mut SplitMix64,
    weights: impl Iterator<Item = u64> + Clone,
) -> Option<usize> {
    let total: u64 = weights.clone().fold(0, u64::saturating_add);
    if total == 0 {
        return None;
    }
    let mut target = rng.below(total);
    for (i, w) in weights.enumerate() {
        if target < w {
            return Some(i);
        }
        target -= w;
    }
    // Unreachable: `target < total`, the sum of the weights walked above.
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_the_reference_outputs() {
        // The first outputs of the reference C implementation (Vigna's splitmix64.c) from 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(rng.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(rng.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SplitMix64::new(7);
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            let x = rng.below(7);
            seen[x as usize] += 1;
        }
        assert!(seen.iter().all(|&n| (850..1150).contains(&n)), "{seen:?}");
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn weighted_index_follows_the_weights() {
        let mut rng = SplitMix64::new(42);
        let weights = [3u64, 1, 1, 0, 1];
        let mut seen = [0u32; 5];
        for _ in 0..60_000 {
            seen[weighted_index(&mut rng, weights.iter().copied()).unwrap()] += 1;
        }
        assert_eq!(seen[3], 0);
        // 3:1:1:1, so the first gets half.
        assert!((29_000..31_000).contains(&seen[0]), "{seen:?}");
        assert!(weighted_index(&mut rng, [0u64, 0].into_iter()).is_none());
    }
}
