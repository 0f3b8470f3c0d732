//! `eader evaluate`'s pass over a split: batch 1 at original size, the
//! network on the calling thread, everything else around it.
//!
//! Three kinds of work overlap:
//! - decoding (the [`Loader`]'s rayon pool, a few images ahead);
//! - the forward pass and the maps (the calling thread; on the CPU the
//!   kernels spread over the global rayon pool), ending with the maps copied
//!   to the host;
//! - per-image post-processing on a small pool of its own: the segmentation
//!   map at every threshold, the confusion matrices (merged under a lock;
//!   integer counts, so the order does not matter), and the files. At most
//!   [`EvalSettings::in_flight`] images wait there, bounding memory.
//!
//! [`Timing`] says where the wall time went, so one can check that the
//! forward pass alone bounds it. With [`Existing::Resume`], images whose
//! files are complete skip the network: their maps (or, with one threshold,
//! their prediction) are read back to score them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use candle::{DType, Device};
use eader_dataset::demo::PARTS_DIR;
use eader_dataset::{LabelMap, Loader, LoaderConfig, VocDataset};
use eader_metrics::{AverageMeter, SegmentationMetrics};
use eader_models::Classifier;
use serde::Serialize;

use eader_metrics::ConfusionMatrix;
use eader_models::loss::bce_with_logits;

use crate::coverage::{CoverageReport, MapCoverage};
use crate::error::{Error, Result};
use crate::maps::{image_maps, ImageMaps, MapClasses, MapConfig};
use crate::outputs::{read_maps, Existing, ImageOutput, SaveDirs, VisualStyle};
use crate::refine::CrfRefinement;
use crate::segmentation::BestLabels;
use crate::sweep::{selection_mask, SweepReport, SweepScores};

/// Settings of one evaluation pass.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// How maps are computed.
    pub maps: MapConfig,
    /// Thresholds to score, ascending (see [`crate::sweep::merge_thresholds`]).
    pub thresholds: Vec<f32>,
    /// Index in `thresholds` of the reported (fixed) threshold.
    pub fixed: usize,
    /// Size of the held-out selection subset (`--select-on`).
    pub select_on: Option<usize>,
    /// Per-image outputs (with `crf`, the predictions are the refined labels).
    pub save: SaveDirs,
    /// Also score the maps refined by a dense CRF, side by side.
    pub crf: Option<CrfRefinement>,
    /// Write visuals for the first this many images of the split only (all: `None`).
    pub visual_limit: Option<usize>,
    /// What to do with output folders that hold files.
    pub existing: Existing,
    /// Erasing and naming of visuals.
    pub style: VisualStyle,
    /// Decoding threads (0: all cores).
    pub loader_threads: usize,
    /// Post-processing threads (at least 1).
    pub post_threads: usize,
    /// Images waiting for post-processing at most (at least 1).
    pub in_flight: usize,
}

/// Where the wall time of a pass went (seconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timing {
    /// Whole pass.
    pub wall_s: f64,
    /// Forward passes and maps, including the copy of the maps to the host.
    pub forward_s: f64,
    /// Waiting for the loader (decoding could not keep up).
    pub data_wait_s: f64,
    /// Waiting for a post-processing slot (post-processing could not keep up).
    pub postprocess_wait_s: f64,
    /// Waiting at the end for the last images' post-processing.
    pub drain_s: f64,
    /// Everything else on the calling thread (labels, dispatch, image copies for visuals).
    pub other_s: f64,
    /// Busy time of the post-processing threads, summed (overlaps the above).
    pub postprocess_busy_s: f64,
    /// Images per second over the whole pass.
    pub images_per_s: f64,
    /// `forward_s / wall_s`.
    pub forward_share: f64,
}

impl std::fmt::Display for Timing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = |x: f64| {
            if self.wall_s > 0.0 {
                100.0 * x / self.wall_s
            } else {
                0.0
            }
        };
        write!(
            f,
            "{:.2} images/s: {:.2} s wall = forward {:.2} s ({:.0}%) + waiting for data {:.2} s ({:.0}%) \
             + waiting for post-processing {:.2} s ({:.0}%) + final drain {:.2} s ({:.0}%) + other {:.2} s ({:.0}%); \
             post-processing busy {:.2} s on its own threads",
            self.images_per_s,
            self.wall_s,
            self.forward_s,
            pct(self.forward_s),
            self.data_wait_s,
            pct(self.data_wait_s),
            self.postprocess_wait_s,
            pct(self.postprocess_wait_s),
            self.drain_s,
            pct(self.drain_s),
            self.other_s,
            pct(self.other_s),
            self.postprocess_busy_s
        )
    }
}

/// Receives what a pass computes, as it goes; every method has a default.
pub trait PassObserver {
    /// `done` of `total` images have left the network.
    fn progress(&mut self, _done: usize, _total: usize) {}

    /// The maps of a batch that went through the network (not of images
    /// read back on resume): `images` `(B, 3, H, W)` and `labels` `(B, K)`
    /// as the loader gave them. Training's validation computes its
    /// adversarial loss here. An error stops the pass and is returned as
    /// [`Error::Observer`].
    fn maps(
        &mut self,
        _images: &candle::Tensor,
        _labels: &candle::Tensor,
        _maps: &ImageMaps,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}

/// A [`PassObserver`] that calls a closure with the progress.
pub struct Progress<F: FnMut(usize, usize)>(pub F);

impl<F: FnMut(usize, usize)> PassObserver for Progress<F> {
    fn progress(&mut self, done: usize, total: usize) {
        (self.0)(done, total)
    }
}

/// The results of a pass.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Images scored.
    pub images: usize,
    /// Images that went through the network.
    pub forward_images: usize,
    /// Images scored from the files of an earlier run (resume).
    pub reused_images: usize,
    /// Mean localizer BCE over the images that went through the network.
    pub loss_cls: Option<f64>,
    /// Metrics at the reported threshold over the whole split.
    pub metrics: SegmentationMetrics,
    /// Metrics of predicting background everywhere.
    pub baseline: SegmentationMetrics,
    /// Every threshold's mIoU, the oracle, the held-out choice.
    pub sweep: SweepReport,
    /// How much the maps cover (at the fixed threshold) and, with part maps,
    /// where their mass goes.
    pub coverage: CoverageReport,
    /// The CRF-refined maps' metrics (at the fixed threshold), with `crf`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crf: Option<CrfReport>,
    /// Where the time went.
    pub timing: Timing,
}

/// The scores of the CRF-refined maps.
#[derive(Debug, Clone, Serialize)]
pub struct CrfReport {
    /// The refinement, as the card names it.
    pub crf: String,
    /// Metrics of the refined label maps over the whole split.
    pub metrics: SegmentationMetrics,
}

enum Work {
    /// Maps just computed.
    Computed {
        classes: Vec<usize>,
        maps: Vec<f32>,
        write: bool,
    },
    /// Complete outputs: read the maps back.
    ReuseMaps(PathBuf),
    /// Complete outputs: read the prediction back (one threshold only).
    ReusePrediction(PathBuf),
}

struct Job {
    id: String,
    /// The outputs of this image (no visuals past [`EvalSettings::visual_limit`]).
    save: SaveDirs,
    mask: LabelMap,
    in_selection: bool,
    /// The normalised image `(3, H, W)`, when visuals or the CRF need it.
    image: Option<Vec<f32>>,
    work: Work,
}

struct Shared<'a> {
    settings: &'a EvalSettings,
    scores: Mutex<SweepScores>,
    crf_scores: Mutex<ConfusionMatrix>,
    coverage: Mutex<MapCoverage>,
    /// The dataset's part maps folder, when it has one.
    parts_dir: Option<PathBuf>,
    failure: Mutex<Option<Error>>,
    busy_ns: AtomicU64,
}

/// A label PNG (a saved prediction, a part map) of the image whose ground
/// truth is `mask`; another size is an error naming the file.
fn read_label_map_like(path: &std::path::Path, mask: &LabelMap) -> Result<LabelMap> {
    let map = eader_dataset::read_label_png(path)?;
    if (map.width, map.height) != (mask.width, mask.height) {
        return Err(Error::bad_file(
            path,
            format!(
                "is {}x{}, its image {}x{}",
                map.width, map.height, mask.width, mask.height
            ),
        ));
    }
    Ok(map)
}

impl Shared<'_> {
    fn failed(&self) -> bool {
        self.failure.lock().map_or(true, |f| f.is_some())
    }

    fn fail(&self, e: Error) {
        if let Ok(mut f) = self.failure.lock() {
            f.get_or_insert(e);
        }
    }

    fn post_process(&self, job: Job) -> Result<()> {
        let s = self.settings;
        let (w, h) = (job.mask.width as usize, job.mask.height as usize);
        let mut local = SweepScores::new(s.thresholds.clone(), s.style.class_names.len() + 1)?;
        let (classes, maps, write) = match job.work {
            Work::Computed {
                classes,
                maps,
                write,
            } => (classes, maps, write),
            Work::ReuseMaps(path) => {
                let (classes, maps) = read_maps(&path, w, h)?;
                (classes, maps, false)
            }
            Work::ReusePrediction(path) => {
                let prediction = read_label_map_like(&path, &job.mask)?;
                local.add_prediction(&prediction.data, &job.mask.data, job.in_selection)?;
                return self.merge(&local, None, None);
            }
        };
        let best = BestLabels::new(&maps, &classes, w * h)?;
        local.add(&best, &job.mask.data, job.in_selection)?;
        let parts = match &self.parts_dir {
            Some(dir) => {
                let path = dir.join(format!("{}.png", job.id));
                Some(read_label_map_like(&path, &job.mask)?.data)
            }
            None => None,
        };
        let mut coverage = MapCoverage::default();
        coverage.add(
            &maps,
            &classes,
            s.thresholds[s.fixed],
            &job.mask.data,
            parts.as_deref(),
        )?;
        let refined = match &s.crf {
            Some(crf) => {
                let chw = job
                    .image
                    .as_deref()
                    .ok_or_else(|| Error::Internal("the CRF needs the image".into()))?;
                let rgb = crate::visuals::denormalize(chw, w as u32, h as u32)?;
                let labels = crf.refine(rgb.as_raw(), w, h, &classes, &maps)?;
                let mut m = ConfusionMatrix::new(s.style.class_names.len() + 1)?;
                m.update(&labels, &job.mask.data)?;
                Some((labels, m))
            }
            None => None,
        };
        if write && !job.save.is_empty() {
            let plain;
            let prediction = match &refined {
                Some((labels, _)) => labels,
                None => {
                    plain = best.prediction(s.thresholds[s.fixed]);
                    &plain
                }
            };
            let out = ImageOutput {
                id: &job.id,
                width: w,
                height: h,
                classes: &classes,
                maps: &maps,
                prediction,
                image: job.image.as_deref(),
            };
            job.save.write(&out, &s.style)?;
        }
        self.merge(&local, refined.as_ref().map(|(_, m)| m), Some(&coverage))
    }

    fn merge(
        &self,
        local: &SweepScores,
        crf: Option<&ConfusionMatrix>,
        coverage: Option<&MapCoverage>,
    ) -> Result<()> {
        let poisoned = || Error::Internal("a post-processing thread panicked".into());
        self.scores.lock().map_err(|_| poisoned())?.merge(local)?;
        if let Some(c) = coverage {
            self.coverage.lock().map_err(|_| poisoned())?.merge(c);
        }
        if let Some(m) = crf {
            self.crf_scores.lock().map_err(|_| poisoned())?.merge(m)?;
        }
        Ok(())
    }
}

/// Evaluates `localizer` (eval mode) on every image of `dataset` at its
/// original size with the ground-truth image labels; see the module docs.
/// `observer` hears of each image leaving the network and sees each batch's maps.
pub fn evaluate_split(
    localizer: &Classifier,
    dataset: VocDataset,
    device: &Device,
    settings: &EvalSettings,
    observer: &mut dyn PassObserver,
) -> Result<EvalReport> {
    settings.maps.validate()?;
    let k = dataset.classes().len();
    let split_name = || format!("split {} of {}", dataset.split(), dataset.root().display());
    if localizer.num_classes() != k {
        return Err(Error::mismatch(
            split_name(),
            format!(
                "the localizer has {} classes but the split has {k}",
                localizer.num_classes()
            ),
        ));
    }
    if settings.style.class_names.len() != k {
        return Err(Error::mismatch(
            split_name(),
            format!(
                "{} class names for {k} classes",
                settings.style.class_names.len()
            ),
        ));
    }
    if settings.thresholds.get(settings.fixed).is_none() {
        return Err(Error::setting(
            "threshold",
            "the reported threshold is not among the thresholds",
        ));
    }
    let names = dataset.classes().with_background();
    let total = dataset.len();
    let selection = settings
        .select_on
        .map(|n| selection_mask(total, n))
        .transpose()?;
    settings.save.prepare(settings.existing)?;
    let parts_dir = Some(dataset.root().join(PARTS_DIR)).filter(|d| d.is_dir());
    let loader = Loader::new(
        dataset,
        LoaderConfig {
            threads: settings.loader_threads,
            ..LoaderConfig::eval()
        },
        device,
    )?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(settings.post_threads.max(1))
        .thread_name(|i| format!("eader-eval-post-{i}"))
        .build()
        .map_err(|e| Error::Internal(format!("cannot start post-processing threads: {e}")))?;
    let shared = Shared {
        settings,
        scores: Mutex::new(SweepScores::new(settings.thresholds.clone(), k + 1)?),
        crf_scores: Mutex::new(ConfusionMatrix::new(k + 1)?),
        coverage: Mutex::new(MapCoverage::default()),
        parts_dir,
        failure: Mutex::new(None),
        busy_ns: AtomicU64::new(0),
    };
    let (slot_tx, slot_rx) = crossbeam_channel::bounded::<()>(settings.in_flight.max(1));
    let resume = settings.existing == Existing::Resume;
    let mut loss = AverageMeter::new();
    let (mut forward, mut data_wait, mut post_wait) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut forward_images, mut reused_images, mut done) = (0usize, 0usize, 0usize);
    let start = Instant::now();
    let shared_ref = &shared;
    let slot_rx = &slot_rx;
    let loop_end = pool.in_place_scope(|scope| -> Result<Instant> {
        let mut batches = loader.epoch(0);
        loop {
            let t = Instant::now();
            let Some(batch) = batches.next() else { break };
            data_wait += t.elapsed();
            let batch = batch?;
            if shared_ref.failed() {
                break;
            }
            let (Some(id), Some(&index), Some(mask)) = (
                batch.ids.first().cloned(),
                batch.indices.first(),
                batch.masks.into_iter().next(),
            ) else {
                return Err(Error::Internal("the loader gave an empty batch".into()));
            };
            let labels: Vec<f32> = batch.labels.flatten_all()?.to_vec1()?;
            let gt_classes: Vec<usize> = (0..k).filter(|&c| labels[c] > 0.5).collect();
            let save = match settings.visual_limit {
                Some(n) if index >= n => SaveDirs {
                    visuals: None,
                    ..settings.save.clone()
                },
                _ => settings.save.clone(),
            };
            let complete = resume && save.complete(&id, &gt_classes, &settings.style);
            let reuse = match (&save.maps_path(&id), &save.prediction_path(&id)) {
                (Some(maps), _) if complete => Some(Work::ReuseMaps(maps.clone())),
                // A saved prediction holds the plain labels only without a CRF.
                (None, Some(pred))
                    if complete && settings.thresholds.len() == 1 && settings.crf.is_none() =>
                {
                    Some(Work::ReusePrediction(pred.clone()))
                }
                _ => None,
            };
            let work = match reuse {
                Some(work) => {
                    reused_images += 1;
                    work
                }
                None => {
                    let t = Instant::now();
                    let out = image_maps(
                        localizer,
                        &batch.images,
                        MapClasses::Labels(&batch.labels),
                        &settings.maps,
                    )?;
                    let bce =
                        bce_with_logits(&out.logits, &batch.labels.to_dtype(out.logits.dtype())?)?;
                    let maps: Vec<f32> = out.maps.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
                    loss.update(bce.to_dtype(DType::F64)?.to_scalar::<f64>()?, 1);
                    observer
                        .maps(&batch.images, &batch.labels, &out)
                        .map_err(Error::Observer)?;
                    forward += t.elapsed();
                    forward_images += 1;
                    Work::Computed {
                        classes: out.pairs.class.clone(),
                        maps,
                        write: !complete,
                    }
                }
            };
            let wants_image = settings.crf.is_some() || (save.visuals.is_some() && !complete);
            let image = if wants_image {
                Some(batch.images.flatten_all()?.to_vec1::<f32>()?)
            } else {
                None
            };
            let job = Job {
                id,
                image,
                save,
                mask,
                in_selection: selection.as_ref().is_some_and(|m| m[index]),
                work,
            };
            let t = Instant::now();
            slot_tx
                .send(())
                .map_err(|_| Error::Internal("post-processing stopped".into()))?;
            post_wait += t.elapsed();
            scope.spawn(move |_| {
                let t = Instant::now();
                if let Err(e) = shared_ref.post_process(job) {
                    shared_ref.fail(e);
                }
                shared_ref
                    .busy_ns
                    .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                let _ = slot_rx.recv();
            });
            done += 1;
            observer.progress(done, total);
        }
        Ok(Instant::now())
    });
    let end = Instant::now();
    let loop_end = loop_end?;
    if let Some(e) = shared.failure.into_inner().ok().flatten() {
        return Err(e);
    }
    let scores = shared
        .scores
        .into_inner()
        .map_err(|_| Error::Internal("a post-processing thread panicked".into()))?;
    if scores.images() != total {
        return Err(Error::Internal(format!(
            "scored {} of {total} images",
            scores.images()
        )));
    }
    let wall = (end - start).as_secs_f64();
    let drain = (end - loop_end).as_secs_f64();
    let (fs, dw, pw) = (
        forward.as_secs_f64(),
        data_wait.as_secs_f64(),
        post_wait.as_secs_f64(),
    );
    let timing = Timing {
        wall_s: wall,
        forward_s: fs,
        data_wait_s: dw,
        postprocess_wait_s: pw,
        drain_s: drain,
        other_s: (wall - fs - dw - pw - drain).max(0.0),
        postprocess_busy_s: shared.busy_ns.load(Ordering::Relaxed) as f64 * 1e-9,
        images_per_s: if wall > 0.0 { total as f64 / wall } else { 0.0 },
        forward_share: if wall > 0.0 { fs / wall } else { 0.0 },
    };
    let sweep = scores.report(&names, settings.fixed)?;
    let coverage = shared
        .coverage
        .lock()
        .map_err(|_| Error::Internal("a post-processing thread panicked".into()))?
        .report();
    let crf = match &settings.crf {
        Some(crf) => Some(CrfReport {
            crf: crf.describe(),
            metrics: shared
                .crf_scores
                .into_inner()
                .map_err(|_| Error::Internal("a post-processing thread panicked".into()))?
                .metrics(&names)?,
        }),
        None => None,
    };
    Ok(EvalReport {
        images: total,
        forward_images,
        reused_images,
        loss_cls: (forward_images > 0).then(|| loss.mean()),
        metrics: scores.metrics_at(settings.fixed, &names)?,
        baseline: scores.baseline_metrics(&names)?,
        sweep,
        coverage,
        crf,
        timing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::merge_thresholds;
    use candle_nn::VarBuilder;
    use eader_dataset::demo::{ensure, DemoConfig};
    use eader_metrics::ConfusionMatrix;
    use eader_models::Architecture;
    use eader_models::AttentionKind;

    fn setup(dir: &std::path::Path) -> (VocDataset, Classifier) {
        let demo = DemoConfig {
            n_train: 2,
            n_val: 5,
            image_size: 40,
            ..DemoConfig::default()
        };
        let root = ensure(dir, &demo).unwrap();
        let ds = VocDataset::open(&root, "val").unwrap();
        let m = Classifier::new(
            Architecture::Resnet18,
            ds.classes().len(),
            VarBuilder::zeros(DType::F32, &Device::Cpu),
        )
        .unwrap();
        m.init_seeded(11).unwrap();
        (ds, m)
    }

    fn settings(ds: &VocDataset, save: SaveDirs, existing: Existing) -> EvalSettings {
        let (thresholds, fixed) = merge_thresholds(&[0.1, 0.5], 0.3);
        EvalSettings {
            maps: MapConfig::single_scale(AttentionKind::GradCam),
            thresholds,
            fixed,
            select_on: None,
            save,
            crf: None,
            visual_limit: None,
            existing,
            style: VisualStyle {
                omega: 100.0,
                sigma: 0.5,
                class_names: ds.classes().names().to_vec(),
            },
            loader_threads: 2,
            post_threads: 2,
            in_flight: 2,
        }
    }

    /// Counts the batches the observer saw.
    #[derive(Default)]
    struct Seen {
        progress: Vec<(usize, usize)>,
        batches: usize,
    }

    impl PassObserver for Seen {
        fn progress(&mut self, done: usize, total: usize) {
            self.progress.push((done, total));
        }

        fn maps(
            &mut self,
            images: &candle::Tensor,
            _labels: &candle::Tensor,
            maps: &ImageMaps,
        ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
            assert_eq!(images.dim(0).unwrap(), 1);
            assert_eq!(maps.maps.dim(0).unwrap(), maps.pairs.len());
            self.batches += 1;
            Ok(())
        }
    }

    #[test]
    fn scores_each_image_by_the_segmentation_rule() {
        let dir = tempfile::tempdir().unwrap();
        let (ds, m) = setup(dir.path());
        // By hand: each image at its size, its maps, the rule at 0.3, one matrix.
        let names = ds.classes().with_background();
        let mut want = ConfusionMatrix::new(names.len()).unwrap();
        let loader = Loader::new(ds.clone(), LoaderConfig::eval(), &Device::Cpu).unwrap();
        for batch in loader.epoch(0) {
            let batch = batch.unwrap();
            let cfg = MapConfig::single_scale(AttentionKind::GradCam);
            let out =
                image_maps(&m, &batch.images, MapClasses::Labels(&batch.labels), &cfg).unwrap();
            let maps: Vec<f32> = out.maps.flatten_all().unwrap().to_vec1().unwrap();
            let mask = &batch.masks[0];
            let pixels = mask.data.len();
            let pred = BestLabels::new(&maps, &out.pairs.class, pixels)
                .unwrap()
                .prediction(0.3);
            want.update(&pred, &mask.data).unwrap();
        }
        let s = settings(&ds, SaveDirs::default(), Existing::Refuse);
        let mut seen = Seen::default();
        let got = evaluate_split(&m, ds, &Device::Cpu, &s, &mut seen).unwrap();
        assert_eq!(seen.progress.last(), Some(&(5, 5)));
        assert_eq!((seen.progress.len(), seen.batches), (5, 5));
        assert_eq!(
            (got.images, got.forward_images, got.reused_images),
            (5, 5, 0)
        );
        assert_eq!(got.metrics, want.metrics(&names).unwrap());
        assert!(got.loss_cls.unwrap().is_finite());
        assert_eq!(got.sweep.entries.len(), 3);
        assert_eq!(got.sweep.fixed.miou, got.metrics.miou);
        assert!(got
            .sweep
            .entries
            .iter()
            .all(|e| e.miou <= got.sweep.oracle.miou));
        let t = &got.timing;
        assert!(t.wall_s > 0.0 && t.forward_s > 0.0 && t.forward_s <= t.wall_s);
        assert!((t.images_per_s - 5.0 / t.wall_s).abs() < 1e-9);
        // The demo has part maps: the maps' mass splits into shares summing to 1.
        let c = &got.coverage;
        assert!(c.maps >= 5, "{c:?}");
        assert!(c.map_area.is_some_and(|a| (0.0..=1.0).contains(&a)));
        let p = c.parts.as_ref().unwrap();
        assert_eq!(p.maps, c.maps);
        let sum = p.face + p.body + p.background + p.other;
        assert!(
            (sum - 1.0).abs() < 1e-9 && p.face > 0.0 && p.body > 0.0,
            "{p:?}"
        );
    }

    #[test]
    fn without_part_maps_only_the_area_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (ds, m) = setup(dir.path());
        std::fs::remove_dir_all(ds.root().join(PARTS_DIR)).unwrap();
        let s = settings(&ds, SaveDirs::default(), Existing::Refuse);
        let got = evaluate_split(&m, ds, &Device::Cpu, &s, &mut Progress(|_, _| {})).unwrap();
        assert!(got.coverage.parts.is_none());
        assert!(got.coverage.map_area.is_some());
    }

    #[test]
    fn visuals_for_the_first_images_only_and_observer_errors_stop_the_pass() {
        let dir = tempfile::tempdir().unwrap();
        let (ds, m) = setup(dir.path());
        let vis = dir.path().join("vis");
        let save = SaveDirs {
            visuals: Some(vis.clone()),
            ..SaveDirs::default()
        };
        let s = EvalSettings {
            visual_limit: Some(2),
            ..settings(&ds, save, Existing::Refuse)
        };
        evaluate_split(&m, ds.clone(), &Device::Cpu, &s, &mut Progress(|_, _| {})).unwrap();
        let mut ids: Vec<String> = std::fs::read_dir(&vis)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|n| n.strip_suffix("_image.png").map(str::to_owned))
            .collect();
        ids.sort();
        let mut first: Vec<String> = ds.ids()[..2].iter().map(|s| s.to_string()).collect();
        first.sort();
        assert_eq!(ids, first);

        struct Failing;
        impl PassObserver for Failing {
            fn maps(
                &mut self,
                _: &candle::Tensor,
                _: &candle::Tensor,
                _: &ImageMaps,
            ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
                Err("the adversarial failed".into())
            }
        }
        let s = settings(&ds, SaveDirs::default(), Existing::Refuse);
        let err = evaluate_split(&m, ds, &Device::Cpu, &s, &mut Failing).unwrap_err();
        assert!(matches!(err, Error::Observer(_)));
        assert_eq!(err.to_string(), "the adversarial failed");
    }

    #[test]
    fn resume_skips_complete_images_with_the_same_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let (ds, m) = setup(dir.path());
        let out = dir.path().join("out");
        let save = SaveDirs {
            predictions: Some(out.join("pred")),
            maps: Some(out.join("maps")),
            visuals: Some(out.join("vis")),
        };
        let s = settings(&ds, save.clone(), Existing::Refuse);
        let first =
            evaluate_split(&m, ds.clone(), &Device::Cpu, &s, &mut Progress(|_, _| {})).unwrap();
        let ids: Vec<String> = ds.ids().iter().map(|s| s.to_string()).collect();
        for id in &ids {
            let png = eader_dataset::read_label_png(&save.prediction_path(id).unwrap()).unwrap();
            let mask = ds
                .load_mask(ds.ids().iter().position(|x| x == id).unwrap())
                .unwrap();
            assert_eq!((png.width, png.height), (mask.width, mask.height));
        }
        // A second run into the same folders is refused.
        let err = evaluate_split(&m, ds.clone(), &Device::Cpu, &s, &mut Progress(|_, _| {}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--resume"), "{err}");
        // Interrupted: one image lost its prediction.
        std::fs::remove_file(save.prediction_path(&ids[2]).unwrap()).unwrap();
        let resumed = EvalSettings {
            existing: Existing::Resume,
            ..s.clone()
        };
        let again = evaluate_split(
            &m,
            ds.clone(),
            &Device::Cpu,
            &resumed,
            &mut Progress(|_, _| {}),
        )
        .unwrap();
        assert_eq!((again.forward_images, again.reused_images), (1, 4));
        assert_eq!(again.metrics, first.metrics);
        assert_eq!(again.sweep.entries, first.sweep.entries);
        assert!(save.prediction_path(&ids[2]).unwrap().is_file());
        // Without maps, one threshold: predictions are read back instead.
        let pred_only = EvalSettings {
            thresholds: vec![0.3],
            fixed: 0,
            save: SaveDirs {
                predictions: save.predictions.clone(),
                ..SaveDirs::default()
            },
            existing: Existing::Resume,
            ..s.clone()
        };
        let third = evaluate_split(
            &m,
            ds.clone(),
            &Device::Cpu,
            &pred_only,
            &mut Progress(|_, _| {}),
        )
        .unwrap();
        assert_eq!((third.forward_images, third.reused_images), (0, 5));
        assert_eq!(third.metrics, first.metrics);
        // A held-out subset: chosen on 2 images, scored on the other 3.
        let held = EvalSettings {
            select_on: Some(2),
            save: SaveDirs::default(),
            ..s
        };
        let r = evaluate_split(&m, ds, &Device::Cpu, &held, &mut Progress(|_, _| {})).unwrap();
        let h = r.sweep.held_out.unwrap();
        assert_eq!((h.selection_images, h.held_out_images), (2, 3));
        assert_eq!(r.metrics, first.metrics);
    }

    #[test]
    fn class_count_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (ds, _) = setup(dir.path());
        let m = Classifier::new(
            Architecture::Resnet18,
            20,
            VarBuilder::zeros(DType::F32, &Device::Cpu),
        )
        .unwrap();
        let s = settings(&ds, SaveDirs::default(), Existing::Refuse);
        let err = evaluate_split(&m, ds, &Device::Cpu, &s, &mut Progress(|_, _| {}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("20 classes") && err.contains("has 5"), "{err}");
    }
}
