//! The dense CRF over an image: Gaussian and bilateral Potts kernels and mean-field
//! inference, as pydensecrf's `DenseCRF2D` computes them.

use rayon::prelude::*;

use crate::error::{Error, Result};
#[cfg(target_arch = "x86_64")]
use crate::fused;
use crate::lattice::{BlurBuffers, Permutohedral, PARALLEL_MIN_WORK};
use crate::simd;
use crate::width::{dispatch_width, padded, Width};

/// Fewest pixels per thread in the mean-field update.
const PIXEL_CHUNK: usize = 1024;

/// Pixels per block when converting between `(L, N)` and pixel-major layouts.
const TRANSPOSE_BLOCK: usize = 64;

/// A Gaussian (smoothness) kernel on pixel positions:
/// `compat * exp(-|p_i - p_j|² / (2 sxy²))`, pydensecrf's `addPairwiseGaussian`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianKernel {
    /// Standard deviation of the positions, in pixels (`sxy`).
    pub sxy: f32,
    /// Potts weight (`compat`).
    pub compat: f32,
}

/// A bilateral (appearance) kernel on positions and RGB colours:
/// `compat * exp(-|p_i - p_j|² / (2 sxy²) - |I_i - I_j|² / (2 srgb²))`,
/// pydensecrf's `addPairwiseBilateral`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BilateralKernel {
    /// Standard deviation of the positions, in pixels (`sxy`).
    pub sxy: f32,
    /// Standard deviation of the colours, in 0..255 units (`srgb`).
    pub srgb: f32,
    /// Potts weight (`compat`).
    pub compat: f32,
}

/// Everything a CRF needs besides the image and the unary: which kernels and how many
/// mean-field iterations. [`crate::Preset`] gives the published settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrfConfig {
    /// The smoothness kernel, if any.
    pub gaussian: Option<GaussianKernel>,
    /// The appearance kernel, if any.
    pub bilateral: Option<BilateralKernel>,
    /// Mean-field iterations.
    pub iterations: usize,
}

impl CrfConfig {
    /// The CRF of one image: `rgb` is `(height, width, 3)` row-major, as
    /// [`DenseCrf::bilateral`] takes it.
    pub fn build(
        &self,
        width: usize,
        height: usize,
        n_labels: usize,
        rgb: &[u8],
    ) -> Result<DenseCrf> {
        let mut crf = DenseCrf::new(width, height, n_labels)?;
        if let Some(g) = self.gaussian {
            crf = crf.gaussian(g.sxy, g.compat)?;
        }
        if let Some(b) = self.bilateral {
            crf = crf.bilateral(b.sxy, b.srgb, b.compat, rgb)?;
        }
        Ok(crf)
    }

    /// Builds the CRF of one image and runs [`Self::iterations`] of inference on
    /// `unary` (`(n_labels, height, width)`); returns the marginals, same shape.
    pub fn run(&self, image: &CrfImage<'_>) -> Result<Vec<f32>> {
        self.build(image.width, image.height, image.n_labels, image.rgb)?
            .inference(image.unary, self.iterations)
    }

    /// [`Self::run`] over a batch of images, in parallel on the current rayon pool
    /// (each image's filtering is itself parallel when it is large enough); results in
    /// input order.
    pub fn run_batch(&self, images: &[CrfImage<'_>]) -> Vec<Result<Vec<f32>>> {
        images.par_iter().map(|image| self.run(image)).collect()
    }
}

/// One image's inputs for [`CrfConfig::run`].
#[derive(Debug, Clone, Copy)]
pub struct CrfImage<'a> {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Number of labels `L`.
    pub n_labels: usize,
    /// `(height, width, 3)` RGB bytes, row-major.
    pub rgb: &'a [u8],
    /// `(L, height, width)` unary energies (see [`crate::unary_from_softmax`]).
    pub unary: &'a [f32],
}

/// One pairwise term: its lattice and the weights folded from pydensecrf's
/// `NORMALIZE_SYMMETRIC` normalisation and Potts compatibility.
#[derive(Debug, Clone)]
struct Kernel {
    lattice: Permutohedral,
    /// `(n_pixels, d + 1)`: barycentric weight × `norm` of the pixel.
    splat_weights: Vec<f32>,
    /// `(n_pixels, d + 1)`: barycentric weight × alpha × `norm` × compat.
    slice_weights: Vec<f32>,
}

impl Kernel {
    /// `norm_i = 1 / sqrt(K 1)_i`, so the kernel applied is `compat * N K N` with
    /// `N = diag(norm)` (pydensecrf's `NORMALIZE_SYMMETRIC`).
    fn new(name: &'static str, features: &[f32], dim: usize, compat: f32) -> Result<Self> {
        let mut lattice =
            Permutohedral::new(features, dim).ok_or_else(|| Error::LatticeOverflow {
                kernel: name,
                max_feature: features.iter().fold(0f32, |m, f| m.max(f.abs())),
            })?;
        let norm: Vec<f32> = lattice
            .filter_ones()
            .iter()
            .map(|&s| (1.0 / (s as f64 + 1e-20).sqrt()) as f32)
            .collect();
        // The fused pass relies on it: every vertex row a pixel names exists.
        assert!(lattice
            .offsets()
            .iter()
            .all(|&o| o as usize <= lattice.n_vertices()));
        let alpha = lattice.alpha();
        let d1 = dim + 1;
        // The barycentric weights become the splatting weights in place (the lattice
        // filters nothing else).
        let mut splat_weights = lattice.take_barycentric();
        let mut slice_weights = vec![0f32; splat_weights.len()];
        for ((splat, slice), &norm) in splat_weights
            .chunks_exact_mut(d1)
            .zip(slice_weights.chunks_exact_mut(d1))
            .zip(&norm)
        {
            for (b, slice) in splat.iter_mut().zip(slice) {
                *slice = *b * alpha * norm * compat;
                *b *= norm;
            }
        }
        Ok(Self {
            lattice,
            splat_weights,
            slice_weights,
        })
    }
}

/// A fully-connected CRF over a `width × height` image with `n_labels` labels
/// (Krähenbühl & Koltun 2011), computed as pydensecrf's `DenseCRF2D` does:
/// Potts compatibilities, symmetric normalisation, the filter including the pixel
/// itself, mean field without damping.
///
/// ```
/// # fn main() -> eader_crf::Result<()> {
/// let (width, height) = (4, 3);
/// let rgb = vec![128u8; width * height * 3];
/// let probs = vec![0.5f32; 2 * width * height];
/// let unary = eader_crf::unary_from_softmax(&probs)?;
/// let q = eader_crf::DenseCrf::new(width, height, 2)?
///     .gaussian(3.0, 3.0)?
///     .bilateral(80.0, 13.0, 10.0, &rgb)?
///     .inference(&unary, 10)?;
/// assert_eq!(q.len(), 2 * width * height);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct DenseCrf {
    width: usize,
    height: usize,
    n_labels: usize,
    kernels: Vec<Kernel>,
}

fn check_positive(name: &'static str, value: f32) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            requirement: "finite and > 0",
            value,
        })
    }
}

fn check_finite(name: &'static str, value: f32) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            requirement: "finite",
            value,
        })
    }
}

impl DenseCrf {
    /// A CRF without pairwise terms (inference then returns `softmax(-unary)`).
    /// `width` is the fastest-varying axis of every array.
    pub fn new(width: usize, height: usize, n_labels: usize) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::EmptyImage { width, height });
        }
        if n_labels < 2 {
            return Err(Error::TooFewLabels(n_labels));
        }
        Ok(Self {
            width,
            height,
            n_labels,
            kernels: Vec::new(),
        })
    }

    /// Image width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Image height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of labels.
    pub fn n_labels(&self) -> usize {
        self.n_labels
    }

    /// Adds a Gaussian kernel on positions (pydensecrf's `addPairwiseGaussian(sxy,
    /// compat)`); its lattice is built here, once. A zero `compat` adds nothing.
    pub fn gaussian(mut self, sxy: f32, compat: f32) -> Result<Self> {
        check_positive("gaussian sxy", sxy)?;
        check_finite("gaussian compat", compat)?;
        if compat == 0.0 {
            return Ok(self);
        }
        let mut features = Vec::with_capacity(2 * self.width * self.height);
        for y in 0..self.height {
            for x in 0..self.width {
                features.push(x as f32 / sxy);
                features.push(y as f32 / sxy);
            }
        }
        self.kernels
            .push(Kernel::new("gaussian", &features, 2, compat)?);
        Ok(self)
    }

    /// Adds a bilateral kernel on positions and colours (pydensecrf's
    /// `addPairwiseBilateral(sxy, srgb, rgbim, compat)`); `rgb` is `(height, width, 3)`
    /// row-major. Its lattice is built here, once. A zero `compat` adds nothing.
    pub fn bilateral(mut self, sxy: f32, srgb: f32, compat: f32, rgb: &[u8]) -> Result<Self> {
        check_positive("bilateral sxy", sxy)?;
        check_positive("bilateral srgb", srgb)?;
        check_finite("bilateral compat", compat)?;
        let n = self.width * self.height;
        if rgb.len() != n * 3 {
            return Err(Error::ShapeMismatch {
                name: "rgb image".into(),
                expected: vec![self.height, self.width, 3],
                actual: vec![rgb.len()],
            });
        }
        if compat == 0.0 {
            return Ok(self);
        }
        let mut features = Vec::with_capacity(5 * n);
        for y in 0..self.height {
            for x in 0..self.width {
                let px = &rgb[(y * self.width + x) * 3..][..3];
                features.extend_from_slice(&[
                    x as f32 / sxy,
                    y as f32 / sxy,
                    px[0] as f32 / srgb,
                    px[1] as f32 / srgb,
                    px[2] as f32 / srgb,
                ]);
            }
        }
        self.kernels
            .push(Kernel::new("bilateral", &features, 5, compat)?);
        Ok(self)
    }

    /// Mean-field inference: `Q = softmax(-U)`, then `iterations` times
    /// `Q = softmax(-U + sum_k compat_k N_k K_k N_k Q)` (pydensecrf's `inference`).
    ///
    /// `unary` is `(n_labels, height, width)`; returns the marginals `Q`, same shape.
    pub fn inference(&self, unary: &[f32], iterations: usize) -> Result<Vec<f32>> {
        let (n_labels, n) = (self.n_labels, self.width * self.height);
        if unary.len() != n_labels * n {
            let actual = if unary.len().is_multiple_of(n) {
                vec![unary.len() / n, self.height, self.width]
            } else {
                vec![unary.len()]
            };
            return Err(Error::ShapeMismatch {
                name: "unary".into(),
                expected: vec![n_labels, self.height, self.width],
                actual,
            });
        }
        // A branch-free scan first (it vectorises); the position only when it fails.
        let finite = simd::run(simd::avx2(), || {
            unary
                .chunks(1 << 12)
                .all(|c| c.iter().fold(true, |ok, u| ok & (u.abs() <= f32::MAX)))
        });
        if !finite {
            if let Some((index, &value)) = unary.iter().enumerate().find(|(_, u)| !u.is_finite()) {
                return Err(Error::NonFinite {
                    name: "unary".into(),
                    index,
                    value,
                });
            }
        }
        let vw = padded(n_labels);
        Ok(dispatch_width!(vw, |w| self.mean_field(w, unary, iterations)))
    }

    /// The mean-field loop over pixel-major `(n, w)` arrays. One pass over the pixels
    /// per iteration slices the blurred messages, takes the softmax and splats the new
    /// `Q` row into the next iteration's lattice values at once, so `Q` is never stored
    /// but in the last pass (over `-U`, no longer needed).
    /// On one thread the pixels splat in order (pydensecrf's summation order); in
    /// parallel each thread splats a contiguous range of pixels into its own values,
    /// summed before blurring (the same sums in another order, ~1e-7 apart).
    fn mean_field<W: Width>(&self, w: W, unary: &[f32], iterations: usize) -> Vec<f32> {
        let (n_labels, n, vw) = (self.n_labels, self.width * self.height, w.get());
        let threads = rayon::current_num_threads();
        let parallel = n * vw >= PARALLEL_MIN_WORK && threads > 1;
        let n_parts = if parallel {
            threads.min(n / PIXEL_CHUNK).max(1)
        } else {
            1
        };
        let part_len = n.div_ceil(n_parts);
        // -U pixel-major; padding lanes far below any label so they never win the max,
        // and masked to exactly zero probability.
        let mut neg_unary = vec![-1e30f32; n * vw];
        // Transposes in blocks of pixels, so the block's rows stay in L1 across labels.
        for (block, rows) in neg_unary.chunks_mut(TRANSPOSE_BLOCK * vw).enumerate() {
            let first = block * TRANSPOSE_BLOCK;
            for l in 0..n_labels {
                let src = &unary[l * n + first..][..rows.len() / vw];
                for (row, &u) in rows.chunks_exact_mut(vw).zip(src) {
                    row[l] = -u;
                }
            }
        }
        let avx2 = simd::avx2();
        let mask: Vec<f32> = (0..vw)
            .map(|k| if k < n_labels { 1.0 } else { 0.0 })
            .collect();
        let kernels = &self.kernels;
        let mut blurred: Vec<BlurBuffers> = kernels
            .iter()
            .map(|k| BlurBuffers::new(k.lattice.n_vertices(), vw))
            .collect();
        // splats[part][kernel]: `(n_vertices + 1, w)` lattice values of one pixel range.
        let mut splats: Vec<Vec<Vec<f32>>> = (0..n_parts)
            .map(|_| {
                kernels
                    .iter()
                    .map(|k| vec![0f32; (k.lattice.n_vertices() + 1) * vw])
                    .collect()
            })
            .collect();

        for iteration in 0..=iterations {
            let (slicing, splatting) = (iteration > 0, iteration < iterations);
            if slicing {
                for (k, kernel) in kernels.iter().enumerate() {
                    let values = &mut blurred[k].values;
                    std::mem::swap(values, &mut splats[0][k]);
                    for part in &splats[1..] {
                        for (v, s) in values.iter_mut().zip(&part[k]) {
                            *v += s;
                        }
                    }
                    kernel.lattice.blur(w, &mut blurred[k], parallel);
                }
            }
            let (blurred, mask) = (&blurred, &mask);
            let job = |(part, (rows, splat)): (usize, (&mut [f32], &mut Vec<Vec<f32>>))| {
                if splatting {
                    splat.iter_mut().for_each(|values| values.fill(0.0));
                }
                if fused_pass(
                    avx2,
                    vw,
                    kernels,
                    blurred,
                    splat,
                    (rows, part * part_len),
                    mask,
                    (slicing, splatting),
                ) {
                    return;
                }
                simd::run(avx2, || {
                    let (mut acc, mut q) = (vec![0f32; vw], vec![0f32; vw]);
                    let first = part * part_len;
                    for (i, row) in rows.chunks_exact_mut(vw).enumerate() {
                        let p = first + i;
                        acc.copy_from_slice(row);
                        if slicing {
                            for (kernel, buffers) in kernels.iter().zip(blurred) {
                                let weights = &kernel.slice_weights;
                                kernel.lattice.slice_point(
                                    w,
                                    &buffers.values,
                                    weights,
                                    p,
                                    &mut acc,
                                );
                            }
                        }
                        softmax(w, &acc, mask, &mut q);
                        if splatting {
                            for (kernel, values) in kernels.iter().zip(splat.iter_mut()) {
                                let weights = &kernel.splat_weights;
                                kernel.lattice.splat_point(w, &q, weights, p, values);
                            }
                        } else {
                            // The last pass: -U is no longer needed, Q takes its place.
                            row.copy_from_slice(&q);
                        }
                    }
                })
            };
            if parallel {
                neg_unary
                    .par_chunks_mut(part_len * vw)
                    .zip(splats.par_iter_mut())
                    .enumerate()
                    .for_each(job);
            } else {
                neg_unary
                    .chunks_mut(part_len * vw)
                    .zip(splats.iter_mut())
                    .enumerate()
                    .for_each(job);
            }
        }

        let mut out = vec![0f32; n_labels * n];
        let q = neg_unary;
        for (block, rows) in q.chunks(TRANSPOSE_BLOCK * vw).enumerate() {
            let first = block * TRANSPOSE_BLOCK;
            for l in 0..n_labels {
                let dst = &mut out[l * n + first..][..rows.len() / vw];
                for (o, row) in dst.iter_mut().zip(rows.chunks_exact(vw)) {
                    *o = row[l];
                }
            }
        }
        out
    }
}

/// Runs the pass of [`DenseCrf::mean_field`] over `rows` (pixels from `first`) with
/// [`fused::pass`] when AVX2 is there and the width is one it is compiled for; returns
/// whether it did.
#[allow(clippy::too_many_arguments)]
#[inline]
fn fused_pass(
    avx2: bool,
    vw: usize,
    kernels: &[Kernel],
    blurred: &[BlurBuffers],
    splat: &mut [Vec<f32>],
    (rows, first): (&mut [f32], usize),
    mask: &[f32],
    (slicing, splatting): (bool, bool),
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !avx2 {
            return false;
        }
        let mut passes: Vec<fused::KernelPass<'_>> = kernels
            .iter()
            .zip(blurred)
            .zip(splat.iter_mut())
            .map(|((kernel, blurred), splat)| {
                let len = (kernel.lattice.n_vertices() + 1) * vw;
                assert!(blurred.values.len() == len && splat.len() == len);
                fused::KernelPass {
                    d1: kernel.lattice.dim() + 1,
                    offsets: kernel.lattice.offsets(),
                    slice_weights: &kernel.slice_weights,
                    splat_weights: &kernel.splat_weights,
                    blurred: &blurred.values,
                    splat,
                }
            })
            .collect();
        let n_rows = rows.len() / vw;
        for k in &passes {
            assert!(k.offsets.len() >= (first + n_rows) * k.d1);
            assert!(k.slice_weights.len() == k.offsets.len());
            assert!(k.splat_weights.len() == k.offsets.len());
        }
        assert!(mask.len() == vw && rows.len().is_multiple_of(vw));
        // SAFETY: AVX2 was detected (`avx2` comes from `simd::avx2`); the lengths are
        // checked above, and every offset is at most `n_vertices` (the lattice's
        // invariant, checked once in `Kernel::new`), so each offset's row lies inside
        // both `(n_vertices + 1, vw)` buffers.
        unsafe {
            match vw {
                4 => fused::pass::<0, 1>(rows, first, &mut passes, mask, slicing, splatting),
                8 => fused::pass::<1, 0>(rows, first, &mut passes, mask, slicing, splatting),
                12 => fused::pass::<1, 1>(rows, first, &mut passes, mask, slicing, splatting),
                16 => fused::pass::<2, 0>(rows, first, &mut passes, mask, slicing, splatting),
                20 => fused::pass::<2, 1>(rows, first, &mut passes, mask, slicing, splatting),
                24 => fused::pass::<3, 0>(rows, first, &mut passes, mask, slicing, splatting),
                28 => fused::pass::<3, 1>(rows, first, &mut passes, mask, slicing, splatting),
                32 => fused::pass::<4, 0>(rows, first, &mut passes, mask, slicing, splatting),
                _ => return false,
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (
            avx2, vw, kernels, blurred, splat, rows, first, mask, slicing, splatting,
        );
        false
    }
}

/// `out = mask * exp(x - max x) / sum(...)`, pydensecrf's `expAndNormalize` on one pixel.
/// The width is a multiple of 4: max and sum run over four partial lanes so that every
/// loop vectorises.
#[inline(always)]
fn softmax<W: Width>(w: W, x: &[f32], mask: &[f32], out: &mut [f32]) {
    let vw = w.get();
    let (x, mask, out) = (&x[..vw], &mask[..vw], &mut out[..vw]);
    let mut lanes = [f32::MIN; 4];
    for chunk in x.chunks_exact(4) {
        for (m, &v) in lanes.iter_mut().zip(chunk) {
            *m = if v > *m { v } else { *m };
        }
    }
    let max = lanes
        .iter()
        .fold(f32::MIN, |m, &v| if v > m { v } else { m });
    for k in 0..vw {
        out[k] = exp(x[k] - max) * mask[k];
    }
    let mut lanes = [0f32; 4];
    for chunk in out.chunks_exact(4) {
        for (s, &v) in lanes.iter_mut().zip(chunk) {
            *s += v;
        }
    }
    let sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// `e^x` for `x` in about `[-87, 88]` (clamped outside), within 2 ulp, branch-free so
/// that the softmax loop vectorises: Cephes' `expf` (range reduction by `ln 2` split in
/// two, degree-5 polynomial), the scheme Eigen's vectorised `exp` uses in pydensecrf.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(crate) fn exp(x: f32) -> f32 {
    // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * 0.693_359_375 - n * -2.121_944_40e-4;
    let z = r * r;
    let p = ((((1.987_569_150_0e-4 * r + 1.398_199_950_7e-3) * r + 8.333_451_907_3e-3) * r
        + 4.166_579_589_4e-2)
        * r
        + 1.666_666_545_9e-1)
        * r
        + 5.000_000_120_1e-1;
    let y = p * z + r + 1.0;
    let exponent = (t.to_bits() as i32 - ROUND.to_bits() as i32 + 127) as u32;
    y * f32::from_bits(exponent << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_std() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 + 175.0 * i as f32 / 200_000.0;
            let (ours, std) = (exp(x) as f64, (x as f64).exp());
            worst = worst.max(((ours - std) / std).abs());
        }
        assert!(worst < 2.5e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) < 1e-37 && exp(-1000.0) >= 0.0);
    }

    /// The AVX2 kernels (fused pass, blur, lattice build, unary) against the portable
    /// code, bit for bit, at every padded width they are compiled for and one they are
    /// not (36), on an image small enough to stay on this thread.
    #[test]
    fn avx2_and_portable_paths_agree_bitwise() {
        if !simd::avx2() {
            return;
        }
        let (width, height) = (37, 29);
        let n = width * height;
        let noise = |i: usize| {
            ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1u64 << 24) as f32
        };
        let rgb: Vec<u8> = (0..3 * n)
            .map(|i| {
                ((i / 3 % width) * 5 + (i / 3 / width) * 3 + (i % 3) * 40) as u8
                    ^ (noise(i) * 20.0) as u8
            })
            .collect();
        for n_labels in [2, 3, 5, 8, 11, 13, 17, 21, 26, 31, 36] {
            let probs: Vec<f32> = (0..n_labels * n).map(|i| noise(i + 7)).collect();
            let run = |portable: bool| {
                simd::PORTABLE_ONLY.with(|p| p.set(portable));
                let unary = crate::unary_from_softmax(&probs).unwrap();
                let q = DenseCrf::new(width, height, n_labels)
                    .unwrap()
                    .gaussian(3.0, 3.0)
                    .unwrap()
                    .bilateral(10.0, 13.0, 10.0, &rgb)
                    .unwrap()
                    .inference(&unary, 5)
                    .unwrap();
                simd::PORTABLE_ONLY.with(|p| p.set(false));
                (unary, q)
            };
            let (fast, portable) = (run(false), run(true));
            assert!(
                fast.0
                    .iter()
                    .zip(&portable.0)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "unary, {n_labels} labels"
            );
            assert!(
                fast.1
                    .iter()
                    .zip(&portable.1)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "Q, {n_labels} labels"
            );
        }
    }

    #[test]
    fn zero_iterations_is_softmax_of_minus_unary() {
        let crf = DenseCrf::new(3, 2, 3).unwrap().gaussian(1.0, 5.0).unwrap();
        let unary: Vec<f32> = (0..18).map(|i| (i % 7) as f32 * 0.3).collect();
        let q = crf.inference(&unary, 0).unwrap();
        for p in 0..6 {
            let e: Vec<f64> = (0..3).map(|l| (-unary[l * 6 + p] as f64).exp()).collect();
            let s: f64 = e.iter().sum();
            for l in 0..3 {
                assert!((q[l * 6 + p] as f64 - e[l] / s).abs() < 1e-6);
            }
        }
    }
}
