//! Seeded random streams: one per (seed, epoch, sample), independent of
//! thread scheduling.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Stream tag of per-sample augmentation draws.
const TAG_AUGMENT: u64 = 0x6175_676d_656e_7400; // "augment"
/// Stream tag of the per-epoch shuffle.
const TAG_SHUFFLE: u64 = 0x7368_7566_666c_6500; // "shuffle"

fn keyed(words: [u64; 4]) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    for (chunk, w) in key.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// The RNG of sample `index`'s augmentation in `epoch`: ChaCha8 keyed by
/// `(seed, epoch, index)`, so the draws do not depend on which thread runs
/// the sample or in which order.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> ChaCha8Rng {
    keyed([seed, epoch, index, TAG_AUGMENT])
}

/// The RNG that shuffles the sample order of `epoch`.
pub fn shuffle_rng(seed: u64, epoch: u64) -> ChaCha8Rng {
    keyed([seed, epoch, 0, TAG_SHUFFLE])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn streams_differ_by_every_input() {
        let draw = |mut r: ChaCha8Rng| r.random::<u64>();
        let base = draw(sample_rng(1, 2, 3));
        assert_eq!(base, draw(sample_rng(1, 2, 3)));
        assert_ne!(base, draw(sample_rng(0, 2, 3)));
        assert_ne!(base, draw(sample_rng(1, 0, 3)));
        assert_ne!(base, draw(sample_rng(1, 2, 0)));
        assert_ne!(draw(shuffle_rng(1, 2)), draw(sample_rng(1, 2, 0)));
    }
}
