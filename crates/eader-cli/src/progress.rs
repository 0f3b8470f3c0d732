//! Training progress on stderr: an indicatif bar (phase, loss terms,
//! images/s, ETA) on a terminal, plain log lines otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use eader_metrics::SegmentationMetrics;
use eader_train::logging::{EpochRecord, StepRecord};
use eader_train::Observer;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Reports a run to stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    terminal: bool,
    log_every: usize,
    epoch: usize,
    epochs: usize,
    batches: usize,
}

impl Progress {
    /// A reporter that draws a bar when stderr is a terminal and otherwise
    /// prints one line every `log_every` steps.
    pub fn new(log_every: usize) -> Self {
        Self {
            bar: None,
            terminal: std::io::stderr().is_terminal(),
            log_every: log_every.max(1),
            epoch: 0,
            epochs: 0,
            batches: 0,
        }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn println(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

fn terms(r: &StepRecord) -> String {
    let r = &r.out;
    let mut s = format!("cls {:.4} reg {:.4}", r.loss_cls, r.loss_reg);
    if let Some(am) = r.loss_am {
        s.push_str(&format!(" am {am:.4}"));
    }
    if let Some(adv) = r.loss_adv {
        s.push_str(&format!(" adv {adv:.4}"));
    }
    s
}

impl Observer for Progress {
    fn message(&mut self, text: &str) {
        self.println(text);
    }

    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize, first: usize) {
        self.finish_bar();
        (self.epoch, self.epochs, self.batches) = (epoch, epochs, batches);
        if self.terminal {
            let bar = ProgressBar::with_draw_target(
                Some(batches as u64),
                ProgressDrawTarget::stderr_with_hz(4),
            );
            let style = ProgressStyle::with_template(
                "epoch {prefix} [{bar:24}] {pos}/{len} {msg} ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("{epoch}/{epochs}"));
            bar.set_position(first as u64);
            bar.enable_steady_tick(Duration::from_millis(500));
            self.bar = Some(bar);
        } else if first > 0 {
            eprintln!("epoch {epoch}/{epochs}: resuming at batch {first} of {batches}");
        }
    }

    fn step(&mut self, r: &StepRecord) {
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{} | {}", r.out.phase, terms(r)));
                bar.set_position(r.batch as u64 + 1);
            }
            None => {
                let last = r.batch + 1 == self.batches;
                if r.global_step.is_multiple_of(self.log_every as u64) || last {
                    eprintln!(
                        "epoch {}/{} batch {}/{} step {} {}: {} | {:.1} img/s",
                        self.epoch,
                        self.epochs,
                        r.batch + 1,
                        self.batches,
                        r.global_step,
                        r.out.phase,
                        terms(r),
                        r.images_per_s
                    );
                }
            }
        }
    }

    fn validation_started(&mut self, images: usize) {
        self.finish_bar();
        if !self.terminal {
            eprintln!(
                "epoch {}/{}: validating ({images} images at original size)",
                self.epoch, self.epochs
            );
        }
    }

    fn epoch_finished(&mut self, r: &EpochRecord, baseline: &SegmentationMetrics) {
        self.finish_bar();
        let mut line = format!(
            "epoch {}/{}: train cls {:.4}",
            r.epoch, self.epochs, r.train_loss_cls
        );
        if let Some(am) = r.train_loss_am {
            line.push_str(&format!(" am {am:.4}"));
        }
        if let Some(adv) = r.train_loss_adv {
            line.push_str(&format!(" adv {adv:.4}"));
        }
        line.push_str(&format!(
            " | val cls {:.4} mIoU {:.2}% (all-background {:.2}%) | {:.1} img/s, {:.0}s + {:.0}s val",
            r.val_loss_cls,
            100.0 * r.val_miou,
            100.0 * baseline.miou,
            r.images_per_s,
            r.train_seconds,
            r.val_seconds
        ));
        eprintln!("{line}");
    }
}
