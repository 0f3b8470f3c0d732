//! Stopping a run cleanly: the stop flag and the NaN/inf loss guard.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// A flag the training loop polls between steps, set by [`StopFlag::request`]
/// (the CLI calls it from its Ctrl-C handler). Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// A flag nothing sets but [`StopFlag::request`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop after the current step.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Clears the flag (for a new run in the same process).
    pub fn clear(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Fails with [`Error::NonFiniteLoss`] naming the first loss term that is NaN or
/// infinite, with the epoch, batch and global step.
pub fn check_finite(
    terms: &[(&str, f64)],
    epoch: usize,
    batch: usize,
    global_step: u64,
) -> Result<()> {
    match terms.iter().find(|(_, value)| !value.is_finite()) {
        None => Ok(()),
        Some((term, value)) => Err(Error::NonFiniteLoss {
            term: (*term).to_owned(),
            value: *value,
            epoch,
            batch,
            global_step,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_names_the_term_and_step() {
        check_finite(&[("loss_cls", 0.5), ("loss_am", 0.0)], 1, 2, 3).unwrap();
        let err = check_finite(
            &[
                ("loss_cls", 0.5),
                ("loss_am", f64::NAN),
                ("loss_reg", f64::INFINITY),
            ],
            2,
            7,
            19,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "loss term loss_am is NaN at epoch 2, batch 7 (global step 19)"
        );
        let err = check_finite(&[("loss_adv", f64::NEG_INFINITY)], 1, 0, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("loss_adv is -inf"), "{err}");
    }

    #[test]
    fn flag_is_shared_between_clones() {
        let flag = StopFlag::new();
        let other = flag.clone();
        assert!(!other.is_set());
        flag.request();
        assert!(other.is_set());
        other.clear();
        assert!(!flag.is_set());
    }
}
