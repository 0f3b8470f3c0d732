//! The trainer's random generator, whose state checkpoints save and restore exactly.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Serialisable position of a [`TrainRng`]: its seed and how many 32-bit words
/// it has produced (decimal string: the count is a `u128`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The seed the generator started from.
    pub seed: u64,
    /// Words produced so far (ChaCha's word position), as a decimal string.
    pub word_pos: String,
}

/// A seeded ChaCha8 generator whose state can be saved and restored exactly.
#[derive(Debug, Clone)]
pub struct TrainRng {
    seed: u64,
    inner: ChaCha8Rng,
}

impl TrainRng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The seed it started from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// The current state.
    pub fn state(&self) -> RngState {
        RngState {
            seed: self.seed,
            word_pos: self.inner.get_word_pos().to_string(),
        }
    }

    /// A generator at `state`.
    pub fn from_state(state: &RngState) -> Result<Self> {
        let pos: u128 = state.word_pos.parse().map_err(|_| Error::Json {
            path: "state.json".into(),
            message: format!("rng.word_pos {:?} is not a number", state.word_pos),
        })?;
        let mut rng = Self::new(state.seed);
        rng.inner.set_word_pos(pos);
        Ok(rng)
    }

    /// The generator itself, for `rand`'s distributions.
    pub fn inner_mut(&mut self) -> &mut ChaCha8Rng {
        &mut self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_continues_the_stream() {
        let mut a = TrainRng::new(5);
        for _ in 0..3 {
            a.next_u64();
        }
        let mut b = TrainRng::from_state(&a.state()).unwrap();
        assert_eq!(b.seed(), 5);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let bad = RngState {
            seed: 1,
            word_pos: "x".into(),
        };
        assert!(TrainRng::from_state(&bad).is_err());
    }
}
