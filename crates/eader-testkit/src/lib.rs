//! Test support shared by eader's crates (a dev-dependency only).
//!
//! The PyTorch fixture scripts (`crates/eader-models/tests/fixtures/make_fixtures.py`,
//! `crates/eader-train/scripts/make_inspect_fixtures.py`) fill every tensor
//! of a network with values computed from its name, so a test can rebuild the
//! same network in Rust without shipping its weights: [`hashed`] is that
//! formula, [`ParamFormula`] maps it to a parameter's range.
#![warn(missing_docs)]

/// 64-bit FNV-1a of `data`.
fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF29CE484222325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001B3);
    }
    h
}

/// `n` values in [-1, 1) from (name, index): splitmix64 of the name's FNV-1a
/// hash, the top 24 bits of each draw scaled, as the fixture scripts compute them.
pub fn hashed(name: &str, n: usize) -> Vec<f64> {
    let seed = fnv1a64(name.as_bytes());
    (0..n as u64)
        .map(|i| {
            let mut z = seed ^ i.wrapping_mul(0x9E3779B97F4A7C15);
            z = z.wrapping_add(0x9E3779B97F4A7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            z ^= z >> 31;
            let k = (z >> 40) as f64;
            (2.0 * k - 16777216.0) / 16777216.0
        })
        .collect()
}

/// How a script maps [`hashed`] values to a tensor's range: `offset + scale * u`
/// with running variances at `running_var`, running means and biases at
/// `(0, 0.1)`, other vectors (BatchNorm weights) at `(1, 0.2)`, and weights at
/// `(0, sqrt(6 / fan_in))`. The two scripts differ only in the running variances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamFormula {
    /// `(offset, scale)` of running variances.
    pub running_var: (f64, f64),
}

impl ParamFormula {
    /// `make_fixtures.py` (eader-models' parity fixtures).
    pub const MODELS: ParamFormula = ParamFormula {
        running_var: (1.0, 0.5),
    };
    /// `make_inspect_fixtures.py` (`eader inspect`'s parity fixtures).
    pub const INSPECT: ParamFormula = ParamFormula {
        running_var: (4.0, 2.0),
    };

    /// The value of the tensor `name` of `shape`.
    pub fn value(&self, name: &str, shape: &[usize]) -> Vec<f32> {
        let n: usize = shape.iter().product();
        let (offset, scale) = if name.ends_with("running_var") {
            self.running_var
        } else if name.ends_with("running_mean") || name.ends_with("bias") {
            (0.0, 0.1)
        } else if shape.len() == 1 {
            (1.0, 0.2)
        } else {
            (0.0, (6.0 / (n / shape[0].max(1)).max(1) as f64).sqrt())
        };
        hashed(name, n)
            .iter()
            .map(|v| (offset + scale * v) as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_scripts() {
        // Python: the same formula gives these for "input" (checked by the parity
        // fixtures; here the range and the determinism).
        let a = hashed("input", 1000);
        assert_eq!(a, hashed("input", 1000));
        assert!(a.iter().all(|v| (-1.0..1.0).contains(v)));
        assert_ne!(a[..10], hashed("inputs", 10)[..]);
        let rv = ParamFormula::INSPECT.value("bn1.running_var", &[64]);
        assert!(rv.iter().all(|v| (2.0..6.0).contains(v)));
        let rv = ParamFormula::MODELS.value("bn1.running_var", &[64]);
        assert!(rv.iter().all(|v| (0.5..1.5).contains(v)));
    }
}
