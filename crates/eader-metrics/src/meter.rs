//! Running averages for losses.

use serde::{Deserialize, Serialize};

/// Running average of a scalar: the last value, the weighted sum, the count and the mean.
///
/// Mirrors the reference's `AverageMeter`: `update(value, n)` adds a value that
/// stands for `n` samples (for example a batch-mean loss over `n` images).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AverageMeter {
    /// The last value given to [`AverageMeter::update`].
    pub value: f64,
    /// Sum of `value * n` over all updates.
    pub sum: f64,
    /// Sum of `n` over all updates.
    pub count: u64,
}

impl AverageMeter {
    /// An empty meter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value`, standing for `n` samples.
    pub fn update(&mut self, value: f64, n: u64) {
        self.value = value;
        self.sum += value * n as f64;
        self.count += n;
    }

    /// Mean over all samples so far; 0 before the first update.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }

    /// Mean over all samples so far; `None` before the first update.
    pub fn mean_if_any(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_mean() {
        let mut m = AverageMeter::new();
        assert_eq!(m.mean(), 0.0);
        m.update(1.0, 2);
        m.update(4.0, 1);
        assert_eq!(m.value, 4.0);
        assert_eq!(m.count, 3);
        assert_eq!(m.mean_if_any(), Some(m.mean()));
        assert_eq!(AverageMeter::new().mean_if_any(), None);
        assert_eq!(m.sum, 6.0);
        assert_eq!(m.mean(), 2.0);
        m.reset();
        assert_eq!(m, AverageMeter::default());
    }
}
