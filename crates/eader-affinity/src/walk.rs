//! The random walk of IRN's semantic propagation (`propagate_to_edge`),
//! sparse.
//!
//! IRN builds the dense `N x N` affinity matrix of an image's `N` pixels at
//! stride 4 (`a_ij = 1 − max B` along the path from `i` to `j` for pixels
//! within the radius, `a_ii = 1`, 0 elsewhere), the transition matrix
//! `T = A^β / column sums`, squares it `exp_times` times and multiplies the
//! maps by it: `x · T^(2^exp_times)`. A VOC image gives `N ≈ 11,750`, a
//! 552 MB matrix and `N³` work per squaring. Here `T` is stored as its
//! non-zeros, column by column (`1 + 2·directions` per pixel, 69 at radius 5),
//! and the walk applies `x ← x · T` `2^exp_times` times: the same product,
//! in `O(N · neighbours)` memory and `O(N · neighbours · C)` work per step.
//!
//! Precision: the weights are computed in f64 and stored as `T`; the maps
//! walk in f64 whatever `T` is. 256 steps in f32 would round 256 times where
//! IRN's squarings round 8 times (measured against IRN's float64 run: 1.8e-4
//! relative with an f32 walk, against 4.1e-5 for IRN's own float32 run).

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::paths::Neighbourhood;
use crate::real::Real;

/// IRN's exponent of the affinities (`--beta`).
pub const IRN_BETA: i32 = 10;
/// IRN's squarings of the transition matrix (`--exp_times`): `2^8 = 256` steps.
pub const IRN_EXP_TIMES: u32 = 8;
/// IRN's neighbourhood radius of the random walk.
pub const IRN_RADIUS: usize = 5;

/// Pixels per rayon task in a step.
const PIXELS_PER_TASK: usize = 1024;

/// The transition matrix `T` of an `height x width` grid, by columns: for
/// pixel `j`, the weights `T[i, j]` of its neighbours `i` (itself first).
#[derive(Debug, Clone, PartialEq)]
pub struct Transition<T> {
    height: usize,
    width: usize,
    /// Entries per pixel: 1 + 2 · directions.
    stencil: usize,
    /// `neighbours[j * stencil + k]`: the pixel `i` of entry `k` of column `j`
    /// (`j` itself where the offset leaves the image; its weight is then 0).
    neighbours: Vec<u32>,
    /// `weights[j * stencil + k] = T[neighbours[..], j]`.
    weights: Vec<T>,
}

impl<T: Real> Transition<T> {
    /// `T = A^beta / column sums` with `a_ij = 1 − max boundary` along the
    /// path from `i` to `j` (the directions of `neighbourhood`), `a_ii = 1`.
    /// `boundary` is `height x width`, row-major, values in `[0, 1]`.
    pub fn from_boundary(
        boundary: &[T],
        height: usize,
        width: usize,
        neighbourhood: &Neighbourhood,
        beta: i32,
    ) -> Result<Self> {
        let n = height * width;
        if n == 0 {
            return Err(Error::BadInput {
                input: "boundary",
                message: format!("empty grid {height}x{width}"),
            });
        }
        if boundary.len() != n {
            return Err(Error::BadInput {
                input: "boundary",
                message: format!(
                    "{} values for a {height}x{width} grid ({n} expected)",
                    boundary.len()
                ),
            });
        }
        if let Some(bad) = boundary
            .iter()
            .position(|&b| !b.is_finite() || b < T::ZERO || b > T::ONE)
        {
            return Err(Error::BadInput {
                input: "boundary",
                message: format!(
                    "value {} at ({}, {}) is not in [0, 1]",
                    boundary[bad],
                    bad / width,
                    bad % width
                ),
            });
        }
        if beta < 1 {
            return Err(Error::InvalidSetting {
                setting: "beta",
                message: format!("{beta}: must be at least 1"),
            });
        }
        if n > u32::MAX as usize {
            return Err(Error::BadInput {
                input: "boundary",
                message: format!("{height}x{width} has more pixels than the walk indexes"),
            });
        }
        let directions = neighbourhood.directions();
        let d = directions.len();
        let stencil = 1 + 2 * d;
        let mut neighbours = vec![0u32; n * stencil];
        let mut weights = vec![0.0f64; n * stencil];
        for j in 0..n {
            neighbours[j * stencil..(j + 1) * stencil].fill(j as u32);
            weights[j * stencil] = 1.0;
        }
        let (h, w) = (height as isize, width as isize);
        let inside = |y: isize, x: isize| y >= 0 && y < h && x >= 0 && x < w;
        for (k, dir) in directions.iter().enumerate() {
            for y in 0..h {
                for x in 0..w {
                    let (ny, nx) = (y + dir.dy, x + dir.dx);
                    if !inside(ny, nx) {
                        continue;
                    }
                    // The path lies in the box of its two ends, inside the image.
                    let mut max = T::ZERO;
                    for &(py, px) in &dir.path {
                        let b = boundary[((y + py) * w + x + px) as usize];
                        if b > max {
                            max = b;
                        }
                    }
                    let a = (1.0 - max.to_f64()).powi(beta);
                    let (s, t) = ((y * w + x) as usize, (ny * w + nx) as usize);
                    // Column s holds its neighbour t; column t holds s.
                    neighbours[s * stencil + 1 + k] = t as u32;
                    weights[s * stencil + 1 + k] = a;
                    neighbours[t * stencil + 1 + d + k] = s as u32;
                    weights[t * stencil + 1 + d + k] = a;
                }
            }
        }
        for column in weights.chunks_exact_mut(stencil) {
            // At least the pixel's own weight 1: never zero.
            let sum: f64 = column.iter().sum();
            for v in column {
                *v /= sum;
            }
        }
        Ok(Self {
            height,
            width,
            stencil,
            neighbours,
            weights: weights.into_iter().map(T::from_f64).collect(),
        })
    }

    /// `(height, width)` of the grid.
    pub fn shape(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// Stored entries per pixel (`1 + 2 · directions`).
    pub fn stencil(&self) -> usize {
        self.stencil
    }

    /// Bytes held by the matrix (its indices and weights).
    pub fn memory_bytes(&self) -> usize {
        self.neighbours.len() * std::mem::size_of::<u32>()
            + self.weights.len() * std::mem::size_of::<T>()
    }

    /// One step of the walk for `c` maps stored pixel by pixel (`x[i * c + ch]`):
    /// `out = x · T`, i.e. `out[j, ch] = Σ_i x[i, ch] T[i, j]`. Pixels are
    /// split over the rayon pool; each pixel's neighbours are read once for all maps.
    pub fn step(&self, x: &[f64], out: &mut [f64], c: usize) {
        match c {
            1 => self.step_fixed::<1>(x, out),
            2 => self.step_fixed::<2>(x, out),
            3 => self.step_fixed::<3>(x, out),
            4 => self.step_fixed::<4>(x, out),
            _ => self.step_any(x, out, c),
        }
    }

    /// [`Self::step`] for `C` maps, the accumulators in registers.
    fn step_fixed<const C: usize>(&self, x: &[f64], out: &mut [f64]) {
        self.for_each_pixel(out, C, |idx, wts, o| {
            let mut acc = [0.0f64; C];
            for (&i, &wt) in idx.iter().zip(wts) {
                let (wt, base) = (wt.to_f64(), i as usize * C);
                for (ch, a) in acc.iter_mut().enumerate() {
                    *a += wt * x[base + ch];
                }
            }
            o.copy_from_slice(&acc);
        });
    }

    /// [`Self::step`] for any number of maps.
    fn step_any(&self, x: &[f64], out: &mut [f64], c: usize) {
        self.for_each_pixel(out, c, |idx, wts, o| {
            o.fill(0.0);
            for (&i, &wt) in idx.iter().zip(wts) {
                let wt = wt.to_f64();
                let xi = &x[i as usize * c..(i as usize + 1) * c];
                for (acc, v) in o.iter_mut().zip(xi) {
                    *acc += wt * v;
                }
            }
        });
    }

    /// Calls `pixel(neighbours, weights, out)` for every pixel's column of
    /// `T` and its `c` outputs, pixels split over the rayon pool.
    fn for_each_pixel(
        &self,
        out: &mut [f64],
        c: usize,
        pixel: impl Fn(&[u32], &[T], &mut [f64]) + Sync,
    ) {
        let s = self.stencil;
        out.par_chunks_mut(PIXELS_PER_TASK * c)
            .enumerate()
            .for_each(|(chunk, out)| {
                let first = chunk * PIXELS_PER_TASK;
                for (p, o) in out.chunks_exact_mut(c).enumerate() {
                    let j = first + p;
                    pixel(
                        &self.neighbours[j * s..(j + 1) * s],
                        &self.weights[j * s..(j + 1) * s],
                        o,
                    );
                }
            });
    }

    /// `steps` steps of the walk on `maps` (`C` maps of `height · width`
    /// values, one after the other), in place: `maps · T^steps`.
    pub fn walk(&self, maps: &mut [f64], steps: usize) -> Result<()> {
        let n = self.height * self.width;
        if !maps.len().is_multiple_of(n) {
            return Err(Error::BadInput {
                input: "maps",
                message: format!(
                    "{} values are not a whole number of {}x{} maps",
                    maps.len(),
                    self.height,
                    self.width
                ),
            });
        }
        let c = maps.len() / n;
        if c == 0 {
            return Ok(());
        }
        // Pixel-major copy: one gather of a neighbour serves every map.
        let mut x = vec![0.0; n * c];
        for (ch, map) in maps.chunks_exact(n).enumerate() {
            for (j, &v) in map.iter().enumerate() {
                x[j * c + ch] = v;
            }
        }
        let mut next = vec![0.0; n * c];
        for _ in 0..steps {
            self.step(&x, &mut next, c);
            std::mem::swap(&mut x, &mut next);
        }
        for (ch, map) in maps.chunks_exact_mut(n).enumerate() {
            for (j, v) in map.iter_mut().enumerate() {
                *v = x[j * c + ch];
            }
        }
        Ok(())
    }

    /// The dense matrix, row-major: entry `[i * N + j] = T[i, j]` (for
    /// checks on small grids; `N²` values).
    pub fn to_dense(&self) -> Vec<f64> {
        let n = self.height * self.width;
        let mut dense = vec![0.0; n * n];
        for j in 0..n {
            for k in 0..self.stencil {
                let i = self.neighbours[j * self.stencil + k] as usize;
                dense[i * n + j] += self.weights[j * self.stencil + k].to_f64();
            }
        }
        dense
    }
}

/// IRN's `propagate_to_edge`: the maps `(C, height, width)` at the boundary
/// map's resolution, damped by `1 − boundary`, walked `2^exp_times` steps on
/// the transition of `boundary` (radius, beta as given; IRN: 5, 10, 8).
pub fn propagate<T: Real>(
    maps: &[T],
    boundary: &[T],
    height: usize,
    width: usize,
    neighbourhood: &Neighbourhood,
    beta: i32,
    exp_times: u32,
) -> Result<Vec<T>> {
    if exp_times > 16 {
        return Err(Error::InvalidSetting {
            setting: "exp_times",
            message: format!("{exp_times}: 2^{exp_times} steps is more than the walk allows (16)"),
        });
    }
    let transition = Transition::from_boundary(boundary, height, width, neighbourhood, beta)?;
    let n = height * width;
    if maps.is_empty() || !maps.len().is_multiple_of(n) {
        return Err(Error::BadInput {
            input: "maps",
            message: format!(
                "{} values are not a whole, non-zero number of {height}x{width} maps",
                maps.len()
            ),
        });
    }
    let mut x: Vec<f64> = maps
        .chunks_exact(n)
        .flat_map(|map| {
            map.iter()
                .zip(boundary)
                .map(|(&m, &b)| (m * (T::ONE - b)).to_f64())
        })
        .collect();
    transition.walk(&mut x, 1usize << exp_times)?;
    Ok(x.into_iter().map(T::from_f64).collect())
}

/// IRN's background score for labels from walked maps (`--sem_seg_bg_thres`).
pub const IRN_BACKGROUND: f32 = 0.25;

/// IRN's labels from walked maps (`make_sem_seg_labels.py`): the maps
/// `(C, h, w)` at stride 4, upsampled x4 (bilinear, half-pixel centres),
/// cropped to `height x width`, divided by their overall maximum, stacked
/// under a constant `background` score; each pixel takes the winning map's
/// label from `labels` (`C` entries; the background is 0). Ties go to the
/// earlier entry, the background first.
pub fn labels_from_walk<T: Real>(
    walked: &[T],
    labels: &[u8],
    (h, w): (usize, usize),
    (height, width): (usize, usize),
    background: f32,
) -> Result<Vec<u8>> {
    let c = labels.len();
    if walked.len() != c * h * w {
        return Err(Error::BadInput {
            input: "maps",
            message: format!(
                "{} values for {c} labels of {h}x{w} ({} expected)",
                walked.len(),
                c * h * w
            ),
        });
    }
    if height > 4 * h || width > 4 * w || height == 0 || width == 0 {
        return Err(Error::BadInput {
            input: "maps",
            message: format!("{h}x{w} at stride 4 does not cover a {height}x{width} image"),
        });
    }
    let up: Vec<f32> = walked
        .chunks_exact(h * w)
        .flat_map(|map| upsample4(map, h, w, height, width))
        .collect();
    let max = up.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let n = height * width;
    Ok((0..n)
        .map(|p| {
            let (mut best, mut label) = (background, 0u8);
            for (ch, &l) in labels.iter().enumerate() {
                let v = up[ch * n + p] / max;
                if v > best {
                    (best, label) = (v, l);
                }
            }
            label
        })
        .collect())
}

/// PyTorch's `interpolate(scale_factor=4, mode="bilinear",
/// align_corners=False)` of one `h x w` map, cropped to `height x width`, in f32.
fn upsample4<T: Real>(map: &[T], h: usize, w: usize, height: usize, width: usize) -> Vec<f32> {
    // Source index and weight of output index `o` along an axis of `size` inputs.
    let axis = |o: usize, size: usize| {
        let src = (0.25f32 * (o as f32 + 0.5) - 0.5).max(0.0);
        let i0 = (src as usize).min(size - 1);
        let i1 = (i0 + 1).min(size - 1);
        (i0, i1, src - i0 as f32)
    };
    let at = |y: usize, x: usize| map[y * w + x].to_f64() as f32;
    let columns: Vec<_> = (0..width).map(|ox| axis(ox, w)).collect();
    let mut out = Vec::with_capacity(height * width);
    for oy in 0..height {
        let (y0, y1, ly) = axis(oy, h);
        for &(x0, x1, lx) in &columns {
            let top = (1.0 - lx) * at(y0, x0) + lx * at(y0, x1);
            let bottom = (1.0 - lx) * at(y1, x0) + lx * at(y1, x1);
            out.push((1.0 - ly) * top + ly * bottom);
        }
    }
    out
}
