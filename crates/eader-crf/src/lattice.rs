//! The permutohedral lattice (Adams, Baek & Davis 2010): Gaussian filtering of values
//! attached to points of a `d`-dimensional feature space in time linear in the points.
//!
//! Each point is *elevated* onto the hyperplane `x_0 + ... + x_d = 0` of `R^{d+1}`,
//! located in its simplex of the permutohedral lattice `A*_d`, and *splatted* onto the
//! simplex's `d + 1` vertices with barycentric weights (the vertices live in a hash
//! table keyed by their first `d` integer coordinates). The vertex values are then
//! *blurred* with `[1/2, 1, 1/2]` along each of the `d + 1` lattice directions and
//! *sliced* back at every point with the same weights.
//!
//! The arithmetic follows pydensecrf's `permutohedral.cpp` (its SSE `init`, the one
//! x86-64 builds use) step for step in `f32`, so that the same points fall in the same
//! simplices and the outputs agree to rounding. Departures: keys are `i32` instead of
//! `i16` (pydensecrf's keys wrap silently for large feature values), and the hash
//! table is our own (multiplicative hashing, power-of-two size).

use rayon::prelude::*;

use crate::simd;
use crate::width::{dispatch_width, Dynamic, Fixed, Width};

/// Points per parallel task when slicing (and vertices per task when blurring); below
/// [`PARALLEL_MIN_WORK`] everything runs on the calling thread.
const CHUNK: usize = 2048;

/// `points × value width` below which filtering stays on one thread.
pub(crate) const PARALLEL_MIN_WORK: usize = 1 << 17;

/// Largest feature dimension [`Permutohedral::new`] takes.
pub const MAX_DIM: usize = 16;

/// Largest absolute elevated coordinate allowed, far inside `i32`.
const MAX_COORDINATE: f32 = (1u32 << 28) as f32;

/// A permutohedral lattice built over `n` points with `d` features each.
///
/// Built once ([`Permutohedral::new`]) and applied to any number of value arrays
/// ([`Permutohedral::filter`]); the approximated kernel is
/// `k(f_i, f_j) ∝ exp(-|f_i - f_j|² / 2)` on the given (already scaled) features,
/// *including* `i = j`.
#[derive(Debug, Clone)]
pub struct Permutohedral {
    n_points: usize,
    dim: usize,
    n_vertices: usize,
    /// `(n_points, dim + 1)`: vertex of each point's simplex, stored shifted by one
    /// (row 0 of the value buffers is the zero "missing vertex").
    offsets: Vec<u32>,
    /// `(n_points, dim + 1)`: barycentric weight of each of those vertices.
    barycentric: Vec<f32>,
    /// `(dim + 1, n_vertices, 2)`: the two neighbours along each direction, shifted by one
    /// (0 = not in the lattice).
    neighbors: Vec<[u32; 2]>,
}

/// Open-addressing hash table from `dim` integer coordinates to a vertex index,
/// hashing as pydensecrf does.
struct HashTable {
    dim: usize,
    /// Number of keys (`keys.len() / dim`).
    len: usize,
    keys: Vec<i32>,
    table: Vec<u32>,
    mask: usize,
    /// log2 of the table size.
    bits: u32,
}

const EMPTY: u32 = u32::MAX;

impl HashTable {
    /// A table for about `expected` keys; it grows past that. Images touch far fewer
    /// vertices than they have pixels, so callers guess low: a small table stays in
    /// cache.
    fn new(dim: usize, expected: usize) -> Self {
        let capacity = (2 * expected.max(16)).next_power_of_two();
        Self {
            dim,
            len: 0,
            keys: Vec::with_capacity(expected * dim),
            table: vec![EMPTY; capacity],
            mask: capacity - 1,
            bits: capacity.trailing_zeros(),
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Multiplicative hashing of the coordinates; the table index is taken from the
    /// high bits ([`HashTable::slot`]), which mix every coordinate.
    #[inline(always)]
    fn hash(key: &[i32]) -> u64 {
        let mut r: u64 = 0;
        for &k in key {
            r = (r ^ k as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        r
    }

    #[inline]
    fn slot(&self, hash: u64) -> usize {
        (hash >> (64 - self.bits)) as usize
    }

    #[inline(always)]
    fn same(a: &[i32], b: &[i32]) -> bool {
        // A plain loop: slice equality calls memcmp, too slow for 2 to 5 integers.
        let mut same = true;
        for (x, y) in a.iter().zip(b) {
            same &= x == y;
        }
        same
    }

    fn key(&self, index: u32) -> &[i32] {
        let start = index as usize * self.dim;
        &self.keys[start..start + self.dim]
    }

    /// Key `index`, `len` coordinates (the table's `dim`, passed so that a caller
    /// with a constant dimension gets constant-length loops).
    #[inline(always)]
    fn key_of(&self, index: u32, len: usize) -> &[i32] {
        let start = index as usize * len;
        &self.keys[start..start + len]
    }

    #[inline(always)]
    fn find(&self, key: &[i32]) -> Option<u32> {
        let mut h = self.slot(Self::hash(key));
        loop {
            let e = self.table[h];
            if e == EMPTY {
                return None;
            }
            if Self::same(self.key_of(e, key.len()), key) {
                return Some(e);
            }
            h = (h + 1) & self.mask;
        }
    }

    #[inline(always)]
    fn find_or_insert(&mut self, key: &[i32]) -> u32 {
        if 2 * (self.len() + 1) > self.table.len() {
            self.grow();
        }
        let mut h = self.slot(Self::hash(key));
        loop {
            let e = self.table[h];
            if e == EMPTY {
                let index = self.len as u32;
                self.len += 1;
                self.keys.extend_from_slice(key);
                self.table[h] = index;
                return index;
            }
            if Self::same(self.key_of(e, key.len()), key) {
                return e;
            }
            h = (h + 1) & self.mask;
        }
    }

    fn grow(&mut self) {
        let capacity = self.table.len() * 2;
        self.table = vec![EMPTY; capacity];
        self.mask = capacity - 1;
        self.bits = capacity.trailing_zeros();
        for index in 0..self.len() as u32 {
            let mut h = self.slot(Self::hash(self.key(index)));
            while self.table[h] != EMPTY {
                h = (h + 1) & self.mask;
            }
            self.table[h] = index;
        }
    }
}

impl Permutohedral {
    /// Builds the lattice over `features`, `(n_points, dim)` point-major, already divided
    /// by their standard deviations.
    ///
    /// Returns `None` when a feature is so large (a tiny standard deviation) that the
    /// lattice coordinates would overflow; callers turn that into
    /// [`crate::Error::LatticeOverflow`].
    ///
    /// # Panics
    /// If `dim` is not in `1..=MAX_DIM` or `features.len()` is not a multiple of `dim`.
    pub fn new(features: &[f32], dim: usize) -> Option<Self> {
        assert!(
            dim > 0 && dim <= MAX_DIM && features.len().is_multiple_of(dim),
            "features must be (n_points, dim) with 1 <= dim <= {MAX_DIM}"
        );
        // AVX2 (when there) for the rounding instruction and wider compares; the same
        // IEEE operations either way.
        #[cfg(target_arch = "x86_64")]
        if simd::avx2() {
            // SAFETY: AVX2 was detected at run time.
            return unsafe { Self::build_avx2(features, dim) };
        }
        Self::build_any(features, dim)
    }

    /// [`Self::build_any`] compiled for AVX2.
    ///
    /// # Safety
    /// AVX2 must be available.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn build_avx2(features: &[f32], dim: usize) -> Option<Self> {
        Self::build_any(features, dim)
    }

    /// [`Self::build`] with a constant dimension for the usual ones.
    #[inline(always)]
    fn build_any(features: &[f32], dim: usize) -> Option<Self> {
        match dim {
            2 => Self::build(features, Fixed::<2>),
            3 => Self::build(features, Fixed::<3>),
            5 => Self::build(features, Fixed::<5>),
            dim => Self::build(features, Dynamic(dim)),
        }
    }

    /// [`Self::new`] with the dimension as a [`Width`], constant for the usual ones.
    #[inline(always)]
    fn build<D: Width>(features: &[f32], dims: D) -> Option<Self> {
        let dim = dims.get();
        let n_points = features.len() / dim;
        let d = dim;
        let d1 = d + 1;
        // The limit on features keeps every elevated coordinate below MAX_COORDINATE.
        if !features
            .iter()
            .all(|f| f.abs() * (d1 * d1) as f32 <= MAX_COORDINATE)
        {
            return None;
        }

        // Expected standard deviation of the filter (p. 6 of Adams et al.) and the
        // diagonal of the elevation matrix E (p. 5), rounded to f32 as pydensecrf does.
        let inv_std_dev = ((2.0f64 / 3.0).sqrt() * d1 as f64) as f32;
        let scale: Vec<f32> = (0..d)
            .map(|i| (1.0 / (((i + 2) * (i + 1)) as f64).sqrt() * inv_std_dev as f64) as f32)
            .collect();
        let down = 1.0f32 / d1 as f32;
        let up = d1 as f32;

        // Far fewer vertices than points: start small (the table grows as needed).
        let mut table = HashTable::new(d, (n_points / 8).clamp(1 << 10, 1 << 16));
        let mut offsets = vec![0u32; n_points * d1];
        let mut barycentric = vec![0f32; n_points * d1];
        // Scratch on the stack, sliced to their (often constant) lengths.
        let mut buffers = (
            [0f32; MAX_DIM + 1],
            [0f32; MAX_DIM + 1],
            [0i32; MAX_DIM + 1],
        );
        let mut bary_buffer = [0f32; MAX_DIM + 2];
        let (mut key_buffer, mut rem_buffer) = ([0i32; MAX_DIM + 1], [0i32; MAX_DIM + 1]);
        // The previous point's simplex (its 0-vertex and ranks): neighbouring pixels
        // often share it, and then its vertices need no look-up.
        let (mut last_rem, mut last_rank) = ([i32::MIN; MAX_DIM + 1], [0i32; MAX_DIM + 1]);
        let elevated = &mut buffers.0[..d1];
        let rem0 = &mut buffers.1[..d1];
        let rank = &mut buffers.2[..d1];
        let mut diff_buffer = [0f32; MAX_DIM + 1];
        let diff = &mut diff_buffer[..d1];
        let bary = &mut bary_buffer[..d1 + 1];
        let key = &mut key_buffer[..d1];
        let rem_int = &mut rem_buffer[..d1];
        let (last_rem, last_rank) = (&mut last_rem[..d1], &mut last_rank[..d1]);

        for (k, f) in features.chunks_exact(d).enumerate() {
            // Elevate: elevated = E f.
            let mut sm = 0f32;
            for j in (1..=d).rev() {
                let cf = f[j - 1] * scale[j - 1];
                elevated[j] = sm - j as f32 * cf;
                sm += cf;
            }
            elevated[0] = sm;

            // The closest 0-coloured lattice point: each coordinate rounded to a multiple
            // of d + 1 (round half to even, as the SSE conversion does).
            let mut sum = 0i32;
            for i in 0..d1 {
                let v = (down * elevated[i]).round_ties_even();
                rem0[i] = v * up;
                sum += v as i32;
                rank[i] = 0;
            }

            // Rank of each coordinate's remainder: which simplex the point lies in.
            // Branch-free: the comparisons of noisy colours are unpredictable.
            for i in 0..d1 {
                diff[i] = elevated[i] - rem0[i];
            }
            for i in 0..d {
                for j in i + 1..d1 {
                    let smaller = i32::from(diff[i] < diff[j]);
                    rank[i] += smaller;
                    rank[j] += 1 - smaller;
                }
            }

            // Bring the point back onto the plane if the rounding left it (sum != 0).
            for i in 0..d1 {
                rank[i] += sum;
                if rank[i] < 0 {
                    rank[i] += d1 as i32;
                    rem0[i] += up;
                } else if rank[i] >= d1 as i32 {
                    rank[i] -= d1 as i32;
                    rem0[i] -= up;
                }
            }

            // Barycentric coordinates (p. 10 of Adams et al.).
            for b in bary.iter_mut() {
                *b = 0.0;
            }
            for i in 0..d1 {
                let v = (elevated[i] - rem0[i]) * down;
                let p = d - rank[i] as usize;
                bary[p] += v;
                bary[p + 1] -= v;
            }
            bary[0] += 1.0 + bary[d1];
            barycentric[k * d1..(k + 1) * d1].copy_from_slice(&bary[..d1]);

            // The simplex's vertices: vertex r is the 0-vertex plus `r` in every
            // coordinate, minus `d + 1` where the coordinate's rank is above `d - r`
            // (the canonical simplex).
            let mut same = true;
            for i in 0..d1 {
                rem_int[i] = rem0[i] as i32;
                same &= rem_int[i] == last_rem[i] && rank[i] == last_rank[i];
            }
            let out = k * d1;
            if same {
                offsets.copy_within(out - d1..out, out);
                continue;
            }
            last_rem.copy_from_slice(rem_int);
            last_rank.copy_from_slice(rank);
            key.copy_from_slice(rem_int);
            offsets[out] = table.find_or_insert(&key[..d]) + 1;
            for remainder in 1..d1 {
                let threshold = (d1 - remainder) as i32;
                for i in 0..d {
                    key[i] += if rank[i] == threshold {
                        1 - d1 as i32
                    } else {
                        1
                    };
                }
                offsets[out + remainder] = table.find_or_insert(&key[..d]) + 1;
            }
        }

        // Neighbours along each lattice direction j: the vertex -/+ (d+1) e_j + 1.
        let n_vertices = table.len();
        let mut neighbors = vec![[0u32; 2]; d1 * n_vertices];
        let (mut n1_buffer, mut n2_buffer) = ([0i32; MAX_DIM], [0i32; MAX_DIM]);
        let n1 = &mut n1_buffer[..d];
        let n2 = &mut n2_buffer[..d];
        for j in 0..d1 {
            for v in 0..n_vertices {
                let key = table.key_of(v as u32, d);
                for i in 0..d {
                    n1[i] = key[i] - 1;
                    n2[i] = key[i] + 1;
                }
                if j < d {
                    n1[j] = key[j] + d as i32;
                    n2[j] = key[j] - d as i32;
                }
                neighbors[j * n_vertices + v] = [
                    table.find(n1).map_or(0, |e| e + 1),
                    table.find(n2).map_or(0, |e| e + 1),
                ];
            }
        }

        Some(Self {
            n_points,
            dim,
            n_vertices,
            offsets,
            barycentric,
            neighbors,
        })
    }

    /// Number of points the lattice was built over.
    pub fn n_points(&self) -> usize {
        self.n_points
    }

    /// Feature dimension `d`.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of lattice vertices the points touch.
    pub fn n_vertices(&self) -> usize {
        self.n_vertices
    }

    /// Pydensecrf's scaling of the blurred result, `1 / (1 + 2^-d)`.
    pub(crate) fn alpha(&self) -> f32 {
        1.0f32 / (1.0 + 2f32.powi(-(self.dim as i32)))
    }

    /// `(n_points, dim + 1)`: the vertex row of each point's simplex vertices in the
    /// `(n_vertices + 1, w)` value buffers (row 0 is the zero missing vertex), all
    /// `<= n_vertices`.
    pub(crate) fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    /// Takes the `(n_points, dim + 1)` barycentric weights of each point out of the
    /// lattice (for a caller that turns them into its own weights); [`Self::filter`]
    /// panics afterwards.
    pub(crate) fn take_barycentric(&mut self) -> Vec<f32> {
        std::mem::take(&mut self.barycentric)
    }

    /// Filters `values`, `(n_points, value_size)` point-major, and returns the filtered
    /// array of the same shape: pydensecrf's `Permutohedral::compute` (no reverse).
    ///
    /// # Panics
    /// If `values.len() != n_points * value_size`.
    pub fn filter(&self, values: &[f32], value_size: usize) -> Vec<f32> {
        assert_eq!(
            values.len(),
            self.n_points * value_size,
            "values must be (n_points, value_size)"
        );
        let mut out = vec![0f32; values.len()];
        if value_size == 0 {
            return out;
        }
        let parallel =
            self.n_points * value_size >= PARALLEL_MIN_WORK && rayon::current_num_threads() > 1;
        let mut buffers = BlurBuffers::new(self.n_vertices, value_size);
        assert_eq!(
            self.barycentric.len(),
            self.n_points * (self.dim + 1),
            "the barycentric weights were taken"
        );
        let alpha = self.alpha();
        dispatch_width!(value_size, |w| {
            simd::run(simd::avx2(), || {
                for (p, row) in values.chunks_exact(value_size).enumerate() {
                    self.splat_point(w, row, &self.barycentric, p, &mut buffers.values);
                }
            });
            self.blur(w, &mut buffers, parallel);
            self.slice(w, &buffers, alpha, &mut out, parallel);
        });
        out
    }

    /// `self.filter(&[1.0; n_points], 1)`, the same operations in the same order
    /// (the normalisation of a kernel), without the general filter's machinery.
    pub(crate) fn filter_ones(&self) -> Vec<f32> {
        let d1 = self.dim + 1;
        let mut buffers = BlurBuffers::new(self.n_vertices, 1);
        let values = &mut buffers.values;
        for (offsets, bary) in self
            .offsets
            .chunks_exact(d1)
            .zip(self.barycentric.chunks_exact(d1))
        {
            for (&o, &b) in offsets.iter().zip(bary) {
                values[o as usize] += b * 1.0;
            }
        }
        let parallel = self.n_points >= PARALLEL_MIN_WORK && rayon::current_num_threads() > 1;
        self.blur(Fixed::<1>, &mut buffers, parallel);
        let (alpha, values) = (self.alpha(), &buffers.values);
        self.offsets
            .chunks_exact(d1)
            .zip(self.barycentric.chunks_exact(d1))
            .map(|(offsets, bary)| {
                let mut sum = 0f32;
                for (&o, &b) in offsets.iter().zip(bary) {
                    sum += b * alpha * values[o as usize];
                }
                sum
            })
            .collect()
    }

    /// Adds point `p`'s `row` (`w` values) to the vertex rows of `values`
    /// (`(n_vertices + 1, w)`) with `weights` (`(n_points, dim + 1)`, the barycentric
    /// weights times any per-point scale). Splatting the points in order is
    /// pydensecrf's summation order.
    #[inline(always)]
    pub(crate) fn splat_point<W: Width>(
        &self,
        w: W,
        row: &[f32],
        weights: &[f32],
        p: usize,
        values: &mut [f32],
    ) {
        let vw = w.get();
        let d1 = self.dim + 1;
        let row = &row[..vw];
        let range = p * d1..(p + 1) * d1;
        for (&o, &weight) in self.offsets[range.clone()].iter().zip(&weights[range]) {
            let o = o as usize;
            let dst = &mut values[o * vw..o * vw + vw];
            for k in 0..vw {
                dst[k] += weight * row[k];
            }
        }
    }

    /// Blurs `buffers.values` along the `d + 1` lattice directions; the result is left
    /// in `buffers.values`.
    pub(crate) fn blur<W: Width>(&self, w: W, buffers: &mut BlurBuffers, parallel: bool) {
        let vw = w.get();
        let m = self.n_vertices;
        let avx2 = simd::avx2();
        for j in 0..=self.dim {
            let neighbors = &self.neighbors[j * m..(j + 1) * m];
            let old = &buffers.values;
            let (zero, rows) = buffers.scratch.split_at_mut(vw);
            zero.fill(0.0);
            let job = |(chunk_index, chunk): (usize, &mut [f32])| {
                let first = chunk_index * CHUNK;
                if blur_avx2(avx2, vw, old, chunk, neighbors, first) {
                    return;
                }
                simd::run(avx2, || {
                    for (i, new) in chunk.chunks_exact_mut(vw).enumerate() {
                        let v = first + i;
                        let [n1, n2] = neighbors[v];
                        let center = &old[(v + 1) * vw..(v + 2) * vw];
                        let a = &old[n1 as usize * vw..n1 as usize * vw + vw];
                        let b = &old[n2 as usize * vw..n2 as usize * vw + vw];
                        let new = &mut new[..vw];
                        for k in 0..vw {
                            new[k] = center[k] + 0.5 * (a[k] + b[k]);
                        }
                    }
                })
            };
            if parallel {
                rows.par_chunks_mut(CHUNK * vw).enumerate().for_each(job);
            } else {
                rows.chunks_mut(CHUNK * vw).enumerate().for_each(job);
            }
            std::mem::swap(&mut buffers.values, &mut buffers.scratch);
        }
    }

    /// Slices the blurred `buffers.values` at every point with its barycentric weights
    /// times `alpha` into `out` (`(n_points, w)`).
    fn slice<W: Width>(
        &self,
        w: W,
        buffers: &BlurBuffers,
        alpha: f32,
        out: &mut [f32],
        parallel: bool,
    ) {
        let vw = w.get();
        let d1 = self.dim + 1;
        let values = &buffers.values;
        let avx2 = simd::avx2();
        let job = |(chunk_index, chunk): (usize, &mut [f32])| {
            simd::run(avx2, || {
                let points = chunk_index * CHUNK * d1..;
                for ((row, offsets), bary) in chunk
                    .chunks_exact_mut(vw)
                    .zip(self.offsets[points.clone()].chunks_exact(d1))
                    .zip(self.barycentric[points].chunks_exact(d1))
                {
                    let row = &mut row[..vw];
                    row.fill(0.0);
                    for (&o, &b) in offsets.iter().zip(bary) {
                        let weight = b * alpha;
                        let o = o as usize;
                        let src = &values[o * vw..o * vw + vw];
                        for k in 0..vw {
                            row[k] += weight * src[k];
                        }
                    }
                }
            })
        };
        if parallel {
            out.par_chunks_mut(CHUNK * vw).enumerate().for_each(job);
        } else {
            out.chunks_mut(CHUNK * vw).enumerate().for_each(job);
        }
    }

    /// Adds point `p`'s slice of the blurred `values` with `weights` to `acc`.
    #[inline(always)]
    pub(crate) fn slice_point<W: Width>(
        &self,
        w: W,
        values: &[f32],
        weights: &[f32],
        p: usize,
        acc: &mut [f32],
    ) {
        let vw = w.get();
        let d1 = self.dim + 1;
        let acc = &mut acc[..vw];
        let range = p * d1..(p + 1) * d1;
        for (&o, &weight) in self.offsets[range.clone()].iter().zip(&weights[range]) {
            let o = o as usize;
            let src = &values[o * vw..o * vw + vw];
            for k in 0..vw {
                acc[k] += weight * src[k];
            }
        }
    }
}

/// One blur step with [`crate::fused::blur`] when AVX2 is there and the width is one it
/// is compiled for; returns whether it ran.
#[inline]
fn blur_avx2(
    avx2: bool,
    vw: usize,
    old: &[f32],
    new: &mut [f32],
    neighbors: &[[u32; 2]],
    first: usize,
) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::fused::blur;
        if !avx2 {
            return false;
        }
        let n_rows = new.len() / vw;
        assert!(new.len().is_multiple_of(vw) && neighbors.len() >= first + n_rows);
        assert!(old.len() >= (first + n_rows + 1) * vw);
        let max_row = old.len() / vw;
        debug_assert!(neighbors[first..first + n_rows]
            .iter()
            .all(|&[a, b]| (a as usize) < max_row && (b as usize) < max_row));
        // SAFETY: AVX2 was detected (`avx2` comes from `simd::avx2`); the lengths are
        // checked above and neighbours are vertex rows (`<= n_vertices`, built so in
        // `Permutohedral::build`), inside `old`'s `(n_vertices + 1, vw)`.
        unsafe {
            match vw {
                4 => blur::<0, 1>(old, new, neighbors, first),
                8 => blur::<1, 0>(old, new, neighbors, first),
                12 => blur::<1, 1>(old, new, neighbors, first),
                16 => blur::<2, 0>(old, new, neighbors, first),
                20 => blur::<2, 1>(old, new, neighbors, first),
                24 => blur::<3, 0>(old, new, neighbors, first),
                28 => blur::<3, 1>(old, new, neighbors, first),
                32 => blur::<4, 0>(old, new, neighbors, first),
                _ => return false,
            }
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (avx2, vw, old, new, neighbors, first);
        false
    }
}

/// The two vertex-value buffers a filter needs, `(n_vertices + 1, value_size)` each;
/// row 0 is the always-zero missing vertex.
#[derive(Debug, Clone)]
pub(crate) struct BlurBuffers {
    pub(crate) values: Vec<f32>,
    scratch: Vec<f32>,
}

impl BlurBuffers {
    pub(crate) fn new(n_vertices: usize, value_size: usize) -> Self {
        let len = (n_vertices + 1) * value_size;
        Self {
            values: vec![0.0; len],
            scratch: vec![0.0; len],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lattice's invariants: barycentric weights sum to one and are non-negative,
    /// every vertex is touched, and the filter of ones is positive.
    #[test]
    fn barycentric_weights_and_splat_table_are_consistent() {
        let features: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32) * 0.173).collect();
        for dim in [1, 2, 3, 5] {
            let n = features.len() / dim;
            let lattice = Permutohedral::new(&features[..n * dim], dim).unwrap();
            for p in 0..n {
                let w = &lattice.barycentric[p * (dim + 1)..(p + 1) * (dim + 1)];
                assert!(
                    (w.iter().sum::<f32>() - 1.0).abs() < 1e-5,
                    "dim {dim} point {p}: {w:?}"
                );
                assert!(w.iter().all(|&x| x >= -1e-6), "dim {dim} point {p}: {w:?}");
            }
            // Every vertex is used, and points see themselves.
            let mut used = vec![false; lattice.n_vertices + 1];
            lattice
                .offsets
                .iter()
                .for_each(|&o| used[o as usize] = true);
            assert!(used[1..].iter().all(|&u| u), "dim {dim}");
            let ones = lattice.filter(&vec![1.0; n], 1);
            assert!(ones.iter().all(|&x| x > 0.0), "dim {dim}");
        }
    }

    /// Points far apart do not see each other; a point sees itself.
    #[test]
    fn far_points_are_independent() {
        let features = [0.0f32, 0.0, 100.0, 100.0];
        let lattice = Permutohedral::new(&features, 2).unwrap();
        let out = lattice.filter(&[1.0, 0.0], 1);
        assert!(out[0] > 0.5, "{out:?}");
        assert_eq!(out[1], 0.0);
    }

    #[test]
    fn huge_features_are_refused() {
        assert!(Permutohedral::new(&[1e9, 0.0], 2).is_none());
        assert!(Permutohedral::new(&[f32::NAN, 0.0], 2).is_none());
    }
}
