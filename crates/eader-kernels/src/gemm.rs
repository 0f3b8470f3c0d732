//! A thin wrapper over the `gemm` crate for row-major matrix views.

use crate::element::Float;

/// A read-only matrix view: element `(i, j)` is at `ptr[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A row-major view with `ld` elements between rows.
    pub fn rows(data: &'a [T], ld: usize) -> Self {
        MatRef {
            data,
            rs: ld,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with `ld` elements between rows.
    pub fn transposed(data: &'a [T], ld: usize) -> Self {
        MatRef {
            data,
            rs: 1,
            cs: ld,
        }
    }

    fn covers(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.rs + (cols - 1) * self.cs < self.data.len()
    }
}

/// How many threads one GEMM may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Threads {
    /// The calling thread only (the caller parallelises over images).
    One,
    /// All of rayon's threads.
    All,
}

/// `dst (m x n, row-major, ld_dst) = [dst +] a (m x k) * b (k x n)`.
///
/// Panics (a bug, not bad input) if a view is too small for its dimensions.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm<T: Float>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [T],
    ld_dst: usize,
    accumulate: bool,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    threads: Threads,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * ld_dst + n <= dst.len() && a.covers(m, k) && b.covers(k, n),
        "gemm: views too small for {m}x{n}x{k}"
    );
    if k == 0 {
        if !accumulate {
            for row in 0..m {
                dst[row * ld_dst..row * ld_dst + n].fill(T::ZERO);
            }
        }
        return;
    }
    let parallelism = match threads {
        Threads::One => gemm::Parallelism::None,
        Threads::All => match rayon::current_num_threads() {
            0 | 1 => gemm::Parallelism::None,
            t => gemm::Parallelism::Rayon(t),
        },
    };
    // SAFETY: the assertion above checks that every element the product
    // touches lies inside the slices; `dst` is borrowed mutably, so it cannot
    // alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            ld_dst as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_product_with_transposes_and_accumulation() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f64> = (0..m * k).map(|i| i as f64 * 0.5 - 3.0).collect();
        // b stored transposed: (n x k) row-major.
        let bt: Vec<f64> = (0..n * k).map(|i| (i % 5) as f64 - 1.5).collect();
        let mut dst = vec![1.0f64; m * n];
        gemm(
            m,
            n,
            k,
            &mut dst,
            n,
            true,
            MatRef::rows(&a, k),
            MatRef::transposed(&bt, k),
            Threads::All,
        );
        for i in 0..m {
            for j in 0..n {
                let want: f64 = 1.0 + (0..k).map(|l| a[i * k + l] * bt[j * k + l]).sum::<f64>();
                assert_eq!(dst[i * n + j], want);
            }
        }
    }
}
