//! The training run: data, networks, optimizers, the epoch loop, validation,
//! visuals, logs, checkpoints and resuming (method.md, "Training schedule").
//!
//! [`Trainer::new`] does every check that can fail before any work starts
//! (dataset splits, architectures, weights, the experiment folder, a resumed
//! checkpoint); [`Trainer::run`] trains until the last epoch, a stop request
//! (Ctrl-C: the current step finishes, a checkpoint is written) or an error.
//! Progress goes to an [`Observer`], so the library prints nothing itself.
//!
//! Resuming is exact: the data order and augmentations are functions of the
//! seed, the epoch and the sample; the checkpoint holds every tensor the
//! step reads (parameters, BatchNorm statistics, optimizer state) and the
//! position in the epoch, so a run interrupted and resumed ends with the same
//! weights, bit for bit, as one that was not.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle::{DType, Device, Tensor};
use eader_dataset::{Batch, ForegroundReport, Loader, VocDataset};
use eader_eval::{
    EvalSettings, Existing, ImageMaps, MapConfig, PassObserver, SaveDirs, VisualStyle,
};
use eader_metrics::{AverageMeter, SegmentationMetrics};
use eader_models::Classifier;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, pack, CheckpointState, Role};
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::guard::{check_finite, StopFlag};
use crate::logging::{self, EpochRecord, JsonlLog, Record, StepRecord};
use crate::losses::bce_with_logits;
use crate::optim::Optimizer;
use crate::schedule::{global_step, Phase, Schedule};
use crate::step::{erase_and_classify, train_step, Eraser, StepConfig, StepOutput};

/// The effective configuration inside an experiment folder.
pub const CONFIG_FILE: &str = "config.toml";
/// The folder of visual samples inside an experiment folder.
pub const VISUALS_DIR: &str = "visuals";

mod setup;

pub(crate) use setup::seeded_network;
use setup::{
    build_network, check_same_networks, new_experiment_dir, open_splits, warm_start, Splits,
};
pub use setup::{dataset_root, resume_config, ACTIONS, RESUMABLE_OPTIONS};

/// Receives progress; every method has an empty default.
pub trait Observer {
    /// A line of information (dataset sizes, the folder, a warning).
    fn message(&mut self, _text: &str) {}
    /// Training of `epoch` (of `epochs`) begins at batch `first` of `batches`.
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _batches: usize, _first: usize) {}
    /// A step finished (every step; `record` is what would be logged).
    fn step(&mut self, _record: &StepRecord) {}
    /// Validation begins over `images` images (at their original size, one at a time).
    fn validation_started(&mut self, _images: usize) {}
    /// An epoch finished; `baseline` is the all-background validation metrics.
    fn epoch_finished(&mut self, _record: &EpochRecord, _baseline: &SegmentationMetrics) {}
}

/// An [`Observer`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// The end of a run, also written as `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The experiment folder.
    pub experiment_dir: PathBuf,
    /// Epochs completed.
    pub epochs: usize,
    /// Training steps taken.
    pub global_step: u64,
    /// Validation metrics after the last epoch.
    pub final_metrics: SegmentationMetrics,
    /// Validation metrics of predicting background everywhere.
    pub baseline_metrics: SegmentationMetrics,
    /// The epoch with the best validation mIoU, and that mIoU.
    pub best_epoch: usize,
    /// Best validation mIoU.
    pub best_val_miou: f64,
    /// Seconds spent training (all epochs, resumed parts included).
    pub train_seconds: f64,
    /// Seconds spent validating.
    pub val_seconds: f64,
    /// Mean training throughput.
    pub images_per_s: f64,
    /// Steps that updated the localizer (an adversarial run gives it fewer than
    /// a localizer-only run of the same length: compare at equal updates).
    #[serde(default)]
    pub localizer_updates: u64,
    /// Steps that updated the adversarial.
    #[serde(default)]
    pub adversarial_updates: u64,
    /// Plots written (`losses.png`, `val_miou.png`).
    pub plots: Vec<PathBuf>,
}

/// How [`Trainer::run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every epoch ran.
    Finished(Box<Summary>),
    /// A stop was requested; a checkpoint holds the state after the last step.
    Stopped {
        /// The checkpoint folder.
        checkpoint: PathBuf,
        /// Epochs completed.
        epoch: usize,
        /// Steps taken.
        global_step: u64,
    },
}

/// What the checkpoint's `history` holds: the finished epochs, and the
/// running means of an epoch interrupted mid-way.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct History {
    epochs: Vec<EpochRecord>,
    baseline: Option<SegmentationMetrics>,
    last: Option<SegmentationMetrics>,
    partial: Option<EpochMeters>,
}

/// Running means of an epoch's training terms (sums and counts, so that an
/// epoch resumed mid-way reports the same means).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct EpochMeters {
    cls: AverageMeter,
    reg: AverageMeter,
    am: AverageMeter,
    adv: AverageMeter,
    images: usize,
    seconds: f64,
}

/// Validation's adversarial loss: the adversarial's BCE on the images erased
/// with the localizer's maps, computed from the maps the evaluation pass made.
struct AdversarialLoss<'a> {
    adversarial: Option<&'a Classifier>,
    cfg: StepConfig,
    meter: AverageMeter,
}

impl PassObserver for AdversarialLoss<'_> {
    fn maps(
        &mut self,
        images: &Tensor,
        labels: &Tensor,
        maps: &ImageMaps,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let Some(adversarial) = self.adversarial else {
            return Ok(());
        };
        if maps.pairs.is_empty() {
            return Ok(());
        }
        let erased = erase_and_classify(
            adversarial,
            images,
            &maps.pairs,
            &maps.maps,
            &self.cfg,
            false,
        )?;
        let labels = maps
            .pairs
            .select(&labels.to_dtype(erased.logits.dtype())?)?;
        let loss = bce_with_logits(&erased.logits, &labels)?;
        self.meter.update(
            loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
            images.dim(0)? as u64,
        );
        Ok(())
    }
}

/// A network with its optimizer.
struct Trained {
    model: Classifier,
    optimizer: Optimizer,
}

/// A prepared training run; see the module docs.
pub struct Trainer {
    config: TrainConfig,
    device: Device,
    dir: PathBuf,
    train: Loader,
    val: VocDataset,
    localizer: Trained,
    adversarial: Option<Trained>,
    schedule: Schedule,
    epoch: usize,
    global_step: u64,
    history: History,
    log: JsonlLog,
    stop: StopFlag,
    foreground: ForegroundReport,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("dir", &self.dir)
            .field("epoch", &self.epoch)
            .field("global_step", &self.global_step)
            .finish_non_exhaustive()
    }
}

impl Trainer {
    /// Prepares a run of `config` on `device`: opens and checks the splits,
    /// builds or restores both networks and their optimizers, and creates
    /// (or, with `config.resume`, reopens) the experiment folder. `stop` is
    /// polled after every step.
    ///
    /// With `resume` set, `config` must already be the resumed run's (see
    /// [`resume_config`]); the checkpoint's networks must match it.
    pub fn new(
        mut config: TrainConfig,
        device: Device,
        stop: StopFlag,
        observer: &mut dyn Observer,
    ) -> Result<Self> {
        config.validate()?;
        let resumed = match &config.resume {
            Some(path) => {
                let dir = checkpoint::resolve(path)?;
                Some(checkpoint::load(&dir, &device)?)
            }
            None => None,
        };
        if let Some(ckpt) = &resumed {
            check_same_networks(ckpt, &config)?;
        }
        let seed = match config.seed {
            Some(seed) => seed,
            None => {
                let seed = rand::random::<u64>() >> 11;
                config.seed = Some(seed);
                seed
            }
        };

        let Splits {
            train,
            val: val_set,
            foreground,
        } = open_splits(&mut config, seed, &device)?;
        let num_classes = val_set.classes().len();

        // Networks: their seeds are the first draws of the run's generator.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let loc_seed = rng.next_u64();
        let adv_seed = rng.next_u64();
        let localizer = build_network(
            config.localizer_model,
            num_classes,
            &device,
            loc_seed,
            // Resumed and warm-started networks are overwritten below.
            config.localizer_from_scratch || resumed.is_some() || config.init_from.is_some(),
            config.weights_localizer.as_deref(),
            "localizer-model",
        )?;
        let adversarial = match config.adversarial_model {
            Some(arch) => Some(build_network(
                arch,
                num_classes,
                &device,
                adv_seed,
                config.adversarial_from_scratch || resumed.is_some() || config.init_adversarial,
                config.weights_adversarial.as_deref(),
                "adversarial-model",
            )?),
            None => None,
        };
        if resumed.is_none() {
            if let Some(run) = &config.init_from {
                warm_start(run, &config, &localizer, adversarial.as_ref(), &device)?;
            }
        }
        let mut localizer = Trained {
            optimizer: Optimizer::new(
                config.optimizer,
                config.learning_rate,
                localizer.trainable(),
            )?,
            model: localizer,
        };
        let mut adversarial = match adversarial {
            Some(model) => Some(Trained {
                optimizer: Optimizer::new(
                    config.adversarial_optimizer,
                    config.adversarial_learning_rate,
                    model.trainable(),
                )?,
                model,
            }),
            None => None,
        };

        // Folder, state and log.
        let (dir, epoch, step, history, log) = match resumed {
            Some(ckpt) => {
                ckpt.restore(
                    Role::Localizer,
                    &localizer.model,
                    Some(&mut localizer.optimizer),
                )?;
                if let Some(adv) = &mut adversarial {
                    ckpt.restore(Role::Adversarial, &adv.model, Some(&mut adv.optimizer))?;
                }
                let history: History = serde_json::from_value(ckpt.state.history.clone())
                    .map_err(|e| Error::checkpoint(&ckpt.path, format!("history: {e}")))?;
                let dir = ckpt
                    .path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("."));
                let state = &ckpt.state;
                let per_epoch = train.len() as u64;
                if state.global_step < state.epoch as u64 * per_epoch
                    || state.global_step > (state.epoch as u64 + 1) * per_epoch
                {
                    return Err(Error::checkpoint(
                        &ckpt.path,
                        format!(
                            "global step {} does not lie in epoch {} of {per_epoch} batches: \
                             was the dataset or the batch size changed?",
                            state.global_step,
                            state.epoch + 1
                        ),
                    ));
                }
                let log = JsonlLog::resume(
                    &dir.join(logging::METRICS_FILE),
                    state.epoch,
                    state.global_step,
                )?;
                observer.message(&format!(
                    "resuming {} at epoch {}, step {}",
                    ckpt.path.display(),
                    state.epoch + 1,
                    state.global_step
                ));
                (dir, state.epoch, state.global_step, history, log)
            }
            None => {
                let dir = new_experiment_dir(&mut config)?;
                let log = JsonlLog::create(&dir.join(logging::METRICS_FILE))?;
                (dir, 0, 0, History::default(), log)
            }
        };
        config.save(&dir.join(CONFIG_FILE))?;
        let schedule = Schedule {
            localizer_steps: config.train_steps_localizer,
            adversarial_steps: config.train_steps_adversarial,
            has_adversarial: adversarial.is_some(),
        };
        Ok(Self {
            config,
            device,
            dir,
            train,
            val: val_set,
            localizer,
            adversarial,
            schedule,
            epoch,
            global_step: step,
            history,
            log,
            stop,
            foreground,
        })
    }

    /// The effective configuration (seed, split and experiment name filled in).
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The experiment folder.
    pub fn experiment_dir(&self) -> &Path {
        &self.dir
    }

    /// The localizer.
    pub fn localizer(&self) -> &Classifier {
        &self.localizer.model
    }

    /// The adversarial, when the run has one.
    pub fn adversarial(&self) -> Option<&Classifier> {
        self.adversarial.as_ref().map(|a| &a.model)
    }

    /// Training images left out for having no foreground class.
    pub fn foreground_report(&self) -> &ForegroundReport {
        &self.foreground
    }

    /// Batches per training epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.train.len()
    }

    /// Training images, validation images.
    pub fn split_sizes(&self) -> (usize, usize) {
        (self.train.dataset().len(), self.val.len())
    }

    fn step_config(&self) -> StepConfig {
        self.config.step_config()
    }

    /// Trains until the last epoch or a stop request; see [`Outcome`].
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<Outcome> {
        let per_epoch = self.train.len();
        while self.epoch < self.config.epochs {
            let epoch = self.epoch + 1;
            let first = (self.global_step - self.epoch as u64 * per_epoch as u64) as usize;
            let mut meters = if first > 0 {
                self.history.partial.clone().unwrap_or_default()
            } else {
                EpochMeters::default()
            };
            observer.epoch_started(epoch, self.config.epochs, per_epoch, first);
            if first < per_epoch {
                let stopped = self.train_epoch(epoch, first, &mut meters, observer)?;
                if stopped {
                    self.history.partial = Some(meters);
                    let checkpoint = self.save_checkpoint()?;
                    return Ok(Outcome::Stopped {
                        checkpoint,
                        epoch: self.epoch,
                        global_step: self.global_step,
                    });
                }
            }
            self.finish_epoch(epoch, &meters, observer)?;
            if self.stop.is_set() && self.epoch < self.config.epochs {
                return Ok(Outcome::Stopped {
                    checkpoint: self.dir.join(checkpoint::CHECKPOINT_DIR),
                    epoch: self.epoch,
                    global_step: self.global_step,
                });
            }
        }
        let summary = self.summary()?;
        logging::write_json(&self.dir.join(logging::SUMMARY_FILE), &summary)?;
        Ok(Outcome::Finished(Box::new(summary)))
    }

    /// Runs the batches of `epoch` from `first`; true when stopped early.
    fn train_epoch(
        &mut self,
        epoch: usize,
        first: usize,
        meters: &mut EpochMeters,
        observer: &mut dyn Observer,
    ) -> Result<bool> {
        let cfg = self.step_config();
        let batches = self.train.epoch_from(epoch as u64, first);
        let mut started = Instant::now();
        for (batch_index, batch) in (first..).zip(batches) {
            let batch = batch?;
            let step = global_step(epoch, self.train.len(), batch_index);
            debug_assert_eq!(step, self.global_step);
            let phase = self.schedule.phase(step);
            let out = self.train_batch(&batch, phase, &cfg)?;
            check_finite(&out.terms(), epoch, batch_index, step)?;
            let seconds = started.elapsed().as_secs_f64();
            started = Instant::now();
            let images = batch.ids.len();
            meters.cls.update(out.loss_cls, 1);
            meters.reg.update(out.loss_reg, 1);
            if let Some(am) = out.loss_am {
                meters.am.update(am, 1);
            }
            if let Some(adv) = out.loss_adv {
                meters.adv.update(adv, 1);
            }
            meters.images += images;
            meters.seconds += seconds;
            self.global_step += 1;
            let record = StepRecord {
                epoch,
                batch: batch_index,
                global_step: step,
                out,
                images_per_s: images as f64 / seconds.max(1e-9),
            };
            if step.is_multiple_of(self.config.log_every as u64) {
                self.log.write(&Record::Step(record.clone()))?;
            }
            observer.step(&record);
            if self.stop.is_set() && batch_index + 1 < self.train.len() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn train_batch(&mut self, batch: &Batch, phase: Phase, cfg: &StepConfig) -> Result<StepOutput> {
        let (adversarial, adversarial_optimizer) = match &mut self.adversarial {
            Some(Trained { model, optimizer }) => (Some(&*model), Some(optimizer)),
            None => (None, None),
        };
        train_step(
            &self.localizer.model,
            Eraser::new(adversarial, self.config.share_weights),
            &mut self.localizer.optimizer,
            adversarial_optimizer,
            &batch.images,
            &batch.labels,
            phase,
            cfg,
        )
    }

    /// Validation, visuals, the epoch record, plots and the checkpoint.
    ///
    /// Validation is `eader evaluate`'s pass under the `eader` protocol: every
    /// image of the validation split at its original size, single scale, the
    /// run's threshold (so the number equals `eader evaluate --checkpoint`'s).
    /// Visual samples of the first `visual_samples` images go to
    /// `visuals/epoch-NNN/`, the same files as `eader evaluate --save-visuals`.
    fn finish_epoch(
        &mut self,
        epoch: usize,
        meters: &EpochMeters,
        observer: &mut dyn Observer,
    ) -> Result<()> {
        observer.validation_started(self.val.len());
        let started = Instant::now();
        let every = self.config.visuals_every;
        let visuals_epoch =
            every > 0 && (epoch.is_multiple_of(every) || epoch == self.config.epochs);
        let visuals = (visuals_epoch && self.config.visual_samples > 0)
            .then(|| self.dir.join(VISUALS_DIR).join(format!("epoch-{epoch:03}")));
        let threshold = self.config.segmentation_map_threshold as f32;
        let settings = EvalSettings {
            maps: MapConfig::single_scale(self.config.attention_type),
            thresholds: vec![threshold],
            fixed: 0,
            select_on: None,
            save: SaveDirs {
                visuals,
                ..SaveDirs::default()
            },
            crf: None,
            visual_limit: Some(self.config.visual_samples),
            existing: Existing::Overwrite,
            style: VisualStyle {
                omega: self.config.omega,
                sigma: self.config.sigma,
                class_names: self.val.classes().names().to_vec(),
            },
            loader_threads: self.config.threads.unwrap_or(0),
            post_threads: 1,
            in_flight: 4,
        };
        let mut adversarial_loss = AdversarialLoss {
            adversarial: self.adversarial.as_ref().map(|a| &a.model),
            cfg: self.step_config(),
            meter: AverageMeter::new(),
        };
        let report = eader_eval::evaluate_split(
            &self.localizer.model,
            self.val.clone(),
            &self.device,
            &settings,
            &mut adversarial_loss,
        )?;
        let val_seconds = started.elapsed().as_secs_f64();
        let val_loss_cls = report.loss_cls.unwrap_or(f64::NAN);
        check_finite(
            &[("val_loss_cls", val_loss_cls)],
            epoch,
            self.train.len(),
            self.global_step,
        )?;
        let m = &report.metrics;
        let record = EpochRecord {
            epoch,
            global_step: self.global_step,
            train_loss_cls: meters.cls.mean_if_any().unwrap_or(f64::NAN),
            train_loss_reg: meters.reg.mean_if_any().unwrap_or(f64::NAN),
            train_loss_am: meters.am.mean_if_any(),
            train_loss_adv: meters.adv.mean_if_any(),
            val_loss_cls,
            val_loss_adv: adversarial_loss
                .adversarial
                .map(|_| adversarial_loss.meter.mean()),
            val_miou: m.miou,
            val_miou_present: m.miou_present,
            val_mean_precision: m.mean_precision,
            val_mean_recall: m.mean_recall,
            train_seconds: meters.seconds,
            val_seconds,
            images_per_s: meters.images as f64 / meters.seconds.max(1e-9),
        };
        self.log.write(&Record::Epoch(record.clone()))?;
        self.history.epochs.push(record.clone());
        self.history.baseline = Some(report.baseline.clone());
        self.history.partial = None;
        self.epoch = epoch;
        self.write_plots()?;
        self.history.last = Some(report.metrics);
        self.save_checkpoint()?;
        observer.epoch_finished(&record, &report.baseline);
        Ok(())
    }

    /// Redraws `losses.png` and `val_miou.png` from the log.
    fn write_plots(&self) -> Result<Vec<PathBuf>> {
        let records = JsonlLog::read(&self.dir.join(logging::METRICS_FILE))?;
        let steps: Vec<StepRecord> = records
            .iter()
            .filter_map(|r| match r {
                Record::Step(s) => Some(s.clone()),
                Record::Epoch(_) => None,
            })
            .collect();
        let losses = self.dir.join(logging::LOSS_PLOT_FILE);
        let miou = self.dir.join(logging::MIOU_PLOT_FILE);
        logging::plot_losses(&losses, &steps)?;
        logging::plot_miou(
            &miou,
            &self.history.epochs,
            self.history.baseline.as_ref().map(|b| b.miou),
        )?;
        Ok(vec![losses, miou])
    }

    /// Writes the checkpoint of the current state (atomically).
    fn save_checkpoint(&self) -> Result<PathBuf> {
        let mut tensors = pack(
            Role::Localizer,
            &self.localizer.model,
            Some(&self.localizer.optimizer),
        )?;
        if let Some(adv) = &self.adversarial {
            tensors.extend(pack(Role::Adversarial, &adv.model, Some(&adv.optimizer))?);
        }
        let history = serde_json::to_value(&self.history).map_err(|e| Error::Json {
            path: self.dir.join(checkpoint::CHECKPOINT_DIR),
            message: e.to_string(),
        })?;
        let state = CheckpointState {
            format_version: checkpoint::FORMAT_VERSION,
            epoch: self.epoch,
            global_step: self.global_step,
            config: self.config.clone(),
            history,
        };
        checkpoint::save(&self.dir, &state, &tensors)
    }

    fn summary(&self) -> Result<Summary> {
        let (Some(last), Some(baseline)) = (&self.history.last, &self.history.baseline) else {
            return Err(Error::checkpoint(
                &self.dir,
                "no finished epoch to summarise",
            ));
        };
        let best = self
            .history
            .epochs
            .iter()
            .max_by(|a, b| a.val_miou.total_cmp(&b.val_miou));
        let train_seconds: f64 = self.history.epochs.iter().map(|e| e.train_seconds).sum();
        let localizer_updates = (0..self.global_step)
            .filter(|&s| self.schedule.phase(s) == Phase::Localizer)
            .count() as u64;
        let val_seconds: f64 = self.history.epochs.iter().map(|e| e.val_seconds).sum();
        let images = self.global_step as f64 * self.config.batch_size as f64;
        Ok(Summary {
            experiment_dir: self.dir.clone(),
            epochs: self.epoch,
            global_step: self.global_step,
            final_metrics: last.clone(),
            baseline_metrics: baseline.clone(),
            best_epoch: best.map_or(0, |e| e.epoch),
            best_val_miou: best.map_or(f64::NAN, |e| e.val_miou),
            train_seconds,
            val_seconds,
            images_per_s: images / train_seconds.max(1e-9),
            localizer_updates,
            adversarial_updates: self.global_step - localizer_updates,
            plots: self.write_plots()?,
        })
    }
}
