//! The sparse walk against the dense computation it replaces: IRN's
//! `x · T^(2^exp_times)` with `T` built pair by pair and squared, in f64.

use eader_affinity::{propagate, Neighbourhood, Transition};

/// A deterministic value in [0, 1) for index `i` of stream `seed`.
fn value(seed: u64, i: usize) -> f64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(i as u64 + 1);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// A boundary map with a vertical wall and a blob, plus noise.
fn boundary(h: usize, w: usize, seed: u64) -> Vec<f64> {
    (0..h * w)
        .map(|i| {
            let (y, x) = (i / w, i % w);
            let wall = if x == w / 2 && y > 1 { 0.9 } else { 0.0 };
            let blob = if (y as f64 - 2.0).hypot(x as f64 - 2.0) < 1.5 {
                0.6
            } else {
                0.0
            };
            (wall + blob + 0.2 * value(seed, i)).min(1.0)
        })
        .collect()
}

/// `T` built pair by pair from the definition: `a_ij = 1 − max B` over the
/// pixels of the bounding box within one pixel of the line i–j, for
/// `0 < |i − j|² < r²`; `a_ii = 1`; `T = A^β / column sums`. Row-major.
fn dense_transition(b: &[f64], h: usize, w: usize, radius: isize, beta: i32) -> Vec<f64> {
    let n = h * w;
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        let (iy, ix) = ((i / w) as isize, (i % w) as isize);
        for j in 0..n {
            let (jy, jx) = ((j / w) as isize, (j % w) as isize);
            let (dy, dx) = (jy - iy, jx - ix);
            let len = dy * dy + dx * dx;
            if i == j {
                a[i * n + j] = 1.0;
                continue;
            }
            if len >= radius * radius {
                continue;
            }
            let mut max = 0.0f64;
            for y in iy.min(jy)..=iy.max(jy) {
                for x in ix.min(jx)..=ix.max(jx) {
                    let cross = dy * (x - ix) - dx * (y - iy);
                    if cross * cross < len {
                        max = max.max(b[(y * w as isize + x) as usize]);
                    }
                }
            }
            a[i * n + j] = (1.0 - max).powi(beta);
        }
    }
    for j in 0..n {
        let sum: f64 = (0..n).map(|i| a[i * n + j]).sum();
        for i in 0..n {
            a[i * n + j] /= sum;
        }
    }
    a
}

fn matmul(a: &[f64], b: &[f64], rows: usize, inner: usize, cols: usize) -> Vec<f64> {
    let mut c = vec![0.0; rows * cols];
    for r in 0..rows {
        for k in 0..inner {
            let v = a[r * inner + k];
            for col in 0..cols {
                c[r * cols + col] += v * b[k * cols + col];
            }
        }
    }
    c
}

#[test]
fn the_transition_is_the_dense_one_and_its_columns_sum_to_one() {
    let (h, w) = (9, 11);
    let b = boundary(h, w, 1);
    for radius in [2, 3, 5] {
        let n = Neighbourhood::new(radius).unwrap();
        let t = Transition::from_boundary(&b, h, w, &n, 10).unwrap();
        let sparse = t.to_dense();
        let dense = dense_transition(&b, h, w, radius as isize, 10);
        let worst = sparse
            .iter()
            .zip(&dense)
            .map(|(s, d)| (s - d).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-15, "radius {radius}: {worst}");
        for j in 0..h * w {
            let sum: f64 = (0..h * w).map(|i| sparse[i * h * w + j]).sum();
            assert!((sum - 1.0).abs() < 1e-12, "column {j}: {sum}");
        }
    }
    assert_eq!(
        Transition::from_boundary(&b, h, w, &Neighbourhood::new(5).unwrap(), 10)
            .unwrap()
            .stencil(),
        69
    );
}

#[test]
fn the_sparse_walk_equals_the_dense_power_of_t() {
    // IRN: x · T^(2^8) by squaring T eight times; here 256 steps of x ← x · T.
    let (h, w, c) = (9, 11, 5);
    let n = h * w;
    let b = boundary(h, w, 2);
    let maps: Vec<f64> = (0..c * n).map(|i| value(3, i)).collect();
    let neighbourhood = Neighbourhood::new(5).unwrap();
    let walked = propagate(&maps, &b, h, w, &neighbourhood, 10, 8).unwrap();

    let mut t = dense_transition(&b, h, w, 5, 10);
    for _ in 0..8 {
        t = matmul(&t, &t, n, n, n);
    }
    let x: Vec<f64> = maps
        .chunks_exact(n)
        .flat_map(|m| m.iter().zip(&b).map(|(v, e)| v * (1.0 - e)))
        .collect();
    let expected = matmul(&x, &t, c, n, n);
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = walked
        .iter()
        .zip(&expected)
        .map(|(a, e)| (a - e).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1e-9 * scale, "max |Δ| {worst} (scale {scale})");
    // The walk spreads: it is not the identity.
    let moved = x
        .iter()
        .zip(&walked)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(moved > 1e-3, "{moved}");
    // Any number of maps walks alike: each map as if walked alone (the
    // kernels for 1-4 maps and the general one sum in the same order).
    for k in 1..=4 {
        let alone = propagate(&maps[..k * n], &b, h, w, &neighbourhood, 10, 8).unwrap();
        assert_eq!(alone, walked[..k * n], "{k} maps");
    }
}

#[test]
fn bad_input_names_the_culprit() {
    let n = Neighbourhood::new(5).unwrap();
    let e = Transition::from_boundary(&[0.0f32; 5], 2, 3, &n, 10)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "boundary: 5 values for a 2x3 grid (6 expected)");
    let e = Transition::from_boundary(&[0.0, 0.5, 1.5, 0.0f32], 2, 2, &n, 10)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "boundary: value 1.5 at (1, 0) is not in [0, 1]");
    let e = Transition::from_boundary(&[f32::NAN; 4], 2, 2, &n, 10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("NaN at (0, 0)"), "{e}");
    let e = propagate(&[0.0f32; 7], &[0.0f32; 4], 2, 2, &n, 10, 8)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("maps: 7 values"), "{e}");
    let e = Transition::from_boundary(&[0.0f32; 4], 2, 2, &n, 0)
        .unwrap_err()
        .to_string();
    assert_eq!(e, "invalid beta: 0: must be at least 1");
}
