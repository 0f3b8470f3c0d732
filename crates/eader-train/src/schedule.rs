//! Which network trains at a given step (method.md, "Training schedule").
//!
//! The global step is `s = (epoch - 1) * batches_per_epoch + batch_index`; with an
//! adversarial network the localizer trains when `s mod (L + A) < L`, the
//! adversarial otherwise. Without one (including `share_weights`), every step
//! trains the localizer.

use serde::{Deserialize, Serialize};

/// The network optimized in a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The localizer is updated (loss: BCE + beta reg + alpha am).
    Localizer,
    /// The adversarial is updated (loss: BCE of the adversarial on erased images).
    Adversarial,
}

impl Phase {
    /// `"localizer"` or `"adversarial"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Localizer => "localizer",
            Self::Adversarial => "adversarial",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The alternating schedule: `L` localizer steps, then `A` adversarial steps, repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// `L`: consecutive localizer steps.
    pub localizer_steps: u64,
    /// `A`: consecutive adversarial steps.
    pub adversarial_steps: u64,
    /// Whether a separate adversarial network exists (false also in share-weights mode).
    pub has_adversarial: bool,
}

impl Schedule {
    /// The phase of global step `global_step`.
    ///
    /// With an adversarial and `L + A = 0` (rejected by config validation) the
    /// localizer trains.
    pub fn phase(&self, global_step: u64) -> Phase {
        let period = self.localizer_steps + self.adversarial_steps;
        if !self.has_adversarial || period == 0 {
            return Phase::Localizer;
        }
        if global_step % period < self.localizer_steps {
            Phase::Localizer
        } else {
            Phase::Adversarial
        }
    }
}

/// `s = (epoch - 1) * batches_per_epoch + batch_index`, epochs counted from 1.
pub fn global_step(epoch: usize, batches_per_epoch: usize, batch_index: usize) -> u64 {
    (epoch.saturating_sub(1) as u64) * batches_per_epoch as u64 + batch_index as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's `TrainingPhase.update`, transcribed.
    fn reference(adv: bool, l: u64, a: u64, epoch: usize, n: usize, i: usize) -> Phase {
        if !adv {
            return Phase::Localizer;
        }
        let s = (epoch as u64 - 1) * n as u64 + i as u64;
        if s % (a + l) < l {
            Phase::Localizer
        } else {
            Phase::Adversarial
        }
    }

    #[test]
    fn alternates_like_the_reference() {
        for (l, a) in [(200, 200), (3, 2), (1, 1), (5, 0), (0, 4)] {
            let schedule = Schedule {
                localizer_steps: l,
                adversarial_steps: a,
                has_adversarial: true,
            };
            for epoch in 1..=3 {
                for i in 0..7 {
                    let s = global_step(epoch, 7, i);
                    assert_eq!(schedule.phase(s), reference(true, l, a, epoch, 7, i));
                }
            }
        }
    }

    #[test]
    fn concrete_phases() {
        let schedule = Schedule {
            localizer_steps: 2,
            adversarial_steps: 3,
            has_adversarial: true,
        };
        let phases: Vec<Phase> = (0..6).map(|s| schedule.phase(s)).collect();
        use Phase::*;
        assert_eq!(
            phases,
            [
                Localizer,
                Localizer,
                Adversarial,
                Adversarial,
                Adversarial,
                Localizer
            ]
        );
        assert_eq!(global_step(1, 10, 4), 4);
        assert_eq!(global_step(3, 10, 4), 24);
    }

    #[test]
    fn without_adversarial_always_localizer() {
        let schedule = Schedule {
            localizer_steps: 1,
            adversarial_steps: 100,
            has_adversarial: false,
        };
        assert!((0..500).all(|s| schedule.phase(s) == Phase::Localizer));
    }
}
