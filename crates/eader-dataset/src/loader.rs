//! The batch loader: parallel decoding and augmentation, bounded prefetch,
//! deterministic batches.
//!
//! Each batch is one job on the loader's rayon pool; inside it the samples
//! are decoded and transformed in parallel too (`par_iter`), each writing
//! straight into its slot of the batch buffer. At most
//! [`LoaderConfig::prefetch`] batches are in flight or waiting at any time:
//! when the consumer takes batch `k`, the job of batch `k + prefetch` starts,
//! so the workers stay ahead of the trainer without unbounded memory.
//! Results may finish out of order; the iterator hands them out in order.
//!
//! Determinism: the order of an epoch is a function of `(seed, epoch)`, and
//! every random draw of sample `i` comes from [`crate::sample_rng`]`(seed,
//! epoch, i)`, so batches are identical whatever the number of threads.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use candle::{Device, Tensor};
use crossbeam_channel::{Receiver, Sender};
use rand::seq::SliceRandom;
use rand::Rng;
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::label::{LabelMap, MultiHot};
use crate::rng::{sample_rng, shuffle_rng};
use crate::transforms::{
    center_crop_labels, center_crop_placement, resample_rows, resize_shorter_labels,
    shorter_side_size, CropBox, Normalize, RandomResizedCrop, RgbView,
};
use crate::voc::VocDataset;

/// What the loader does to each sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoaderMode {
    /// Training: `RandomResizedCrop(size)` (scale 0.08–1, ratio 3/4–4/3),
    /// horizontal flip with p = 0.5, ImageNet normalisation. Batches carry
    /// no label maps.
    Train {
        /// Output side in pixels.
        size: u32,
    },
    /// Batched validation: resize the shorter side to `round(1.05 * size)`,
    /// centre crop `size x size`, normalise. Label maps get the same
    /// geometry with nearest neighbour.
    Val {
        /// Output side in pixels.
        size: u32,
    },
    /// Evaluation: original size, batch size 1, normalised image plus the
    /// label map.
    Eval,
}

/// Configuration of a [`Loader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoaderConfig {
    /// Images per batch (must be 1 in [`LoaderMode::Eval`]).
    pub batch_size: usize,
    /// Shuffle the order every epoch.
    pub shuffle: bool,
    /// Seed of the order and of every augmentation draw.
    pub seed: u64,
    /// Drop the last batch when it is smaller than `batch_size`.
    pub drop_last: bool,
    /// Transforms applied to each sample.
    pub mode: LoaderMode,
    /// Batches prepared ahead of the consumer (at least 1).
    pub prefetch: usize,
    /// Worker threads; 0 uses every available core.
    pub threads: usize,
}

impl LoaderConfig {
    /// Training: shuffled, last partial batch dropped, [`LoaderMode::Train`].
    pub fn train(size: u32, batch_size: usize, seed: u64) -> Self {
        Self {
            batch_size,
            shuffle: true,
            seed,
            drop_last: true,
            mode: LoaderMode::Train { size },
            prefetch: 4,
            threads: 0,
        }
    }

    /// Batched validation in split order, [`LoaderMode::Val`].
    pub fn val(size: u32, batch_size: usize) -> Self {
        Self {
            batch_size,
            shuffle: false,
            seed: 0,
            drop_last: false,
            mode: LoaderMode::Val { size },
            prefetch: 4,
            threads: 0,
        }
    }

    /// Evaluation at original size in split order, [`LoaderMode::Eval`].
    pub fn eval() -> Self {
        Self {
            batch_size: 1,
            shuffle: false,
            seed: 0,
            drop_last: false,
            mode: LoaderMode::Eval,
            prefetch: 4,
            threads: 0,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidConfig(m.to_string()));
        if self.batch_size == 0 {
            return bad("batch size must be at least 1");
        }
        if self.prefetch == 0 {
            return bad("prefetch must be at least 1");
        }
        match self.mode {
            LoaderMode::Eval if self.batch_size != 1 => {
                bad("evaluation keeps original image sizes and needs batch size 1")
            }
            LoaderMode::Train { size: 0 } | LoaderMode::Val { size: 0 } => {
                bad("output size must be at least 1")
            }
            _ => Ok(()),
        }
    }
}

/// One batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Image ids, in batch order.
    pub ids: Vec<String>,
    /// Dataset indices of the images.
    pub indices: Vec<usize>,
    /// Normalised images, `(B, 3, H, W)` `f32`, on the loader's device.
    pub images: Tensor,
    /// Multi-hot image-level targets, `(B, K)` `f32` with `K` the class count.
    pub labels: Tensor,
    /// Label maps with the images' geometry (`Val`: resized and cropped,
    /// `Eval`: original); empty in `Train`.
    pub masks: Vec<LabelMap>,
}

struct Inner {
    dataset: VocDataset,
    cfg: LoaderConfig,
    device: Device,
    normalize: Normalize,
    pool: rayon::ThreadPool,
}

/// Turns a [`VocDataset`] into epochs of [`Batch`]es (see the module docs).
#[derive(Clone)]
pub struct Loader {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("images", &self.inner.dataset.len())
            .field("cfg", &self.inner.cfg)
            .finish()
    }
}

impl Loader {
    /// A loader over `dataset` making tensors on `device`.
    pub fn new(dataset: VocDataset, cfg: LoaderConfig, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .thread_name(|i| format!("eader-loader-{i}"))
            .build()
            .map_err(|e| Error::InvalidConfig(format!("cannot start loader threads: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                dataset,
                cfg,
                device: device.clone(),
                normalize: Normalize::imagenet(),
                pool,
            }),
        })
    }

    /// The dataset.
    pub fn dataset(&self) -> &VocDataset {
        &self.inner.dataset
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.inner.cfg
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        let (n, b) = (self.inner.dataset.len(), self.inner.cfg.batch_size);
        if self.inner.cfg.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// Whether an epoch yields no batch (fewer images than a batch with
    /// `drop_last`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dataset indices of `epoch`, batch by batch.
    pub fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let cfg = &self.inner.cfg;
        let mut order: Vec<usize> = (0..self.inner.dataset.len()).collect();
        if cfg.shuffle {
            order.shuffle(&mut shuffle_rng(cfg.seed, epoch));
        }
        order
            .chunks(cfg.batch_size)
            .take(self.len())
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// Iterates over the batches of `epoch` (numbering is the caller's; it
    /// only seeds the order and the augmentations).
    pub fn epoch(&self, epoch: u64) -> EpochIter {
        self.epoch_from(epoch, 0)
    }

    /// The batches of `epoch` from batch `first` on: the same batches, with the
    /// same augmentations, as the tail of [`Loader::epoch`], without decoding
    /// the skipped ones (how a run interrupted mid-epoch resumes).
    pub fn epoch_from(&self, epoch: u64, first: usize) -> EpochIter {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut iter = EpochIter {
            inner: self.inner.clone(),
            batches: Arc::new(self.batches(epoch)),
            epoch,
            tx,
            rx,
            ready: BTreeMap::new(),
            next: first,
            spawned: first,
            cancelled: Arc::new(AtomicBool::new(false)),
        };
        for _ in 0..self.inner.cfg.prefetch {
            iter.spawn_next();
        }
        iter
    }
}

/// The batches of one epoch, in order; see [`Loader::epoch`].
///
/// Each item is the batch or the first error among its samples (e.g. a
/// corrupt JPEG, named in the error); later batches are still produced.
pub struct EpochIter {
    inner: Arc<Inner>,
    batches: Arc<Vec<Vec<usize>>>,
    epoch: u64,
    tx: Sender<(usize, Result<Batch>)>,
    rx: Receiver<(usize, Result<Batch>)>,
    ready: BTreeMap<usize, Result<Batch>>,
    next: usize,
    spawned: usize,
    cancelled: Arc<AtomicBool>,
}

impl EpochIter {
    fn spawn_next(&mut self) {
        if self.spawned >= self.batches.len() {
            return;
        }
        let b = self.spawned;
        self.spawned += 1;
        let inner = self.inner.clone();
        let batches = self.batches.clone();
        let tx = self.tx.clone();
        let cancelled = self.cancelled.clone();
        let epoch = self.epoch;
        self.inner.pool.spawn(move || {
            if cancelled.load(Ordering::Relaxed) {
                return;
            }
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                build_batch(&inner, epoch, &batches[b])
            }))
            .unwrap_or(Err(Error::WorkerPanicked));
            // The receiver is gone when the iterator was dropped: nothing to do.
            let _ = tx.send((b, result));
        });
    }
}

impl Iterator for EpochIter {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.batches.len() {
            return None;
        }
        let item = loop {
            if let Some(item) = self.ready.remove(&self.next) {
                break item;
            }
            match self.rx.recv() {
                Ok((b, item)) => {
                    self.ready.insert(b, item);
                }
                // Unreachable while `self.tx` lives; fail loudly rather than hang.
                Err(_) => break Err(Error::WorkerPanicked),
            }
        };
        self.next += 1;
        self.spawn_next();
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.batches.len().saturating_sub(self.next);
        (n, Some(n))
    }
}

impl ExactSizeIterator for EpochIter {}

impl Drop for EpochIter {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

/// What one sample contributes to a batch besides its pixels.
struct SampleOut {
    labels: MultiHot,
    mask: Option<LabelMap>,
}

fn build_batch(inner: &Inner, epoch: u64, indices: &[usize]) -> Result<Batch> {
    let ds = &inner.dataset;
    let k = ds.classes().len();
    let (pixels, outs, (h, w)) = match inner.cfg.mode {
        LoaderMode::Train { size } | LoaderMode::Val { size } => {
            let plane = 3 * size as usize * size as usize;
            let mut pixels = vec![0f32; indices.len() * plane];
            let outs: Vec<Result<SampleOut>> = pixels
                .par_chunks_mut(plane)
                .zip(indices.par_iter())
                .map(|(slot, &i)| fixed_size_sample(inner, epoch, i, size, slot))
                .collect();
            (pixels, outs, (size as usize, size as usize))
        }
        LoaderMode::Eval => {
            let i = indices[0];
            let sample = ds.load(i)?;
            let (w, h) = sample.image.dimensions();
            let pixels = inner.normalize.to_chw(&sample.image);
            let out = SampleOut {
                labels: sample.labels,
                mask: Some(sample.mask),
            };
            (pixels, vec![Ok(out)], (h as usize, w as usize))
        }
    };
    let outs: Vec<SampleOut> = outs.into_iter().collect::<Result<_>>()?;
    let b = indices.len();
    let images = Tensor::from_vec(pixels, (b, 3, h, w), &inner.device)?;
    let label_data: Vec<f32> = outs.iter().flat_map(|o| o.labels.to_f32()).collect();
    let labels = Tensor::from_vec(label_data, (b, k), &inner.device)?;
    let ids = indices
        .iter()
        .map(|&i| ds.id(i).map(str::to_string))
        .collect::<Result<_>>()?;
    Ok(Batch {
        ids,
        indices: indices.to_vec(),
        images,
        labels,
        masks: outs.into_iter().filter_map(|o| o.mask).collect(),
    })
}

/// Decodes and transforms sample `i` into `slot` (`(3, size, size)`).
fn fixed_size_sample(
    inner: &Inner,
    epoch: u64,
    i: usize,
    size: u32,
    slot: &mut [f32],
) -> Result<SampleOut> {
    let ds = &inner.dataset;
    let image = ds.load_image(i)?;
    let (iw, ih) = image.dimensions();
    let s = size as usize;
    let src = RgbView {
        data: image.as_raw(),
        stride: iw as usize * 3,
    };
    match inner.cfg.mode {
        LoaderMode::Train { .. } => {
            let labels = match ds.known_labels() {
                Some(all) => all[i].clone(),
                None => {
                    let mask = ds.load_mask(i)?;
                    check_size(ds, i, &image, &mask)?;
                    mask.multi_hot(ds.classes().len())
                }
            };
            let mut rng = sample_rng(inner.cfg.seed, epoch, i as u64);
            let rect = RandomResizedCrop::new(size).params(iw, ih, &mut rng);
            let flip = rng.random_bool(0.5);
            resample_rows(src, rect, s, s, |y, row| {
                inner.normalize.write_row(row, y, s, s, flip, slot)
            });
            Ok(SampleOut { labels, mask: None })
        }
        _ => {
            let mask = ds.load_mask(i)?;
            check_size(ds, i, &image, &mask)?;
            let labels = mask.multi_hot(ds.classes().len());
            let short = (1.05 * size as f64).round() as u32;
            let (rw, rh) = shorter_side_size(iw, ih, short);
            let (pad_left, pad_top, crop) = center_crop_placement(rw, rh, size, size);
            // The crop fits the resized image (short >= size): no padding.
            debug_assert_eq!((pad_left, pad_top), (0, 0));
            let (y0, x0) = (crop.top as usize, crop.left as usize);
            let full = CropBox::full(iw, ih);
            resample_rows(src, full, rw as usize, rh as usize, |y, row| {
                if y >= y0 && y < y0 + s {
                    inner
                        .normalize
                        .write_row(&row[x0 * 3..(x0 + s) * 3], y - y0, s, s, false, slot)
                }
            });
            let mask = center_crop_labels(&resize_shorter_labels(&mask, short), size, size);
            Ok(SampleOut {
                labels,
                mask: Some(mask),
            })
        }
    }
}

fn check_size(ds: &VocDataset, i: usize, image: &image::RgbImage, mask: &LabelMap) -> Result<()> {
    if image.dimensions() == (mask.width, mask.height) {
        return Ok(());
    }
    Err(Error::SizeMismatch {
        image_path: ds.image_path(i)?.to_path_buf(),
        mask_path: ds.mask_path(i)?.to_path_buf(),
        image_width: image.width(),
        image_height: image.height(),
        mask_width: mask.width,
        mask_height: mask.height,
    })
}
