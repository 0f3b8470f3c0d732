//! What a run leaves behind besides checkpoints: JSON Lines records
//! (`metrics.jsonl`, one [`StepRecord`] per logged step and one [`EpochRecord`]
//! per epoch), `summary.json`, and PNG plots of the loss terms and of the
//! validation mIoU.
//!
//! Plots are drawn with plotters' bitmap backend. Text (title, axis labels,
//! legend) uses plotters' `ttf` feature, which finds a system font through
//! fontconfig; where no font can be loaded the plot is drawn again without any
//! text rather than failing the run (see [`PlotText`]).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::step::StepOutput;

/// The JSON Lines log inside an experiment folder.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The end-of-run summary inside an experiment folder.
pub const SUMMARY_FILE: &str = "summary.json";
/// Plot of the training loss terms.
pub const LOSS_PLOT_FILE: &str = "losses.png";
/// Plot of the validation mIoU.
pub const MIOU_PLOT_FILE: &str = "val_miou.png";

/// One logged training step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Batch index within the epoch, from 0.
    pub batch: usize,
    /// Global step.
    pub global_step: u64,
    /// The step's phase and loss terms (flattened: the same keys as its fields).
    #[serde(flatten)]
    pub out: StepOutput,
    /// Training throughput of this step.
    pub images_per_s: f64,
}

/// One epoch: means of the training terms, validation results, timing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Global step after the epoch.
    pub global_step: u64,
    /// Mean localizer BCE over the epoch's steps.
    pub train_loss_cls: f64,
    /// Mean attention-map mean over the epoch's steps.
    pub train_loss_reg: f64,
    /// Mean attention-mining loss (when computed).
    pub train_loss_am: Option<f64>,
    /// Mean adversarial BCE (when an adversarial exists).
    pub train_loss_adv: Option<f64>,
    /// Validation localizer BCE.
    pub val_loss_cls: f64,
    /// Validation adversarial BCE on erased images (when an adversarial exists).
    pub val_loss_adv: Option<f64>,
    /// Validation mIoU over all 21 classes (the reference's number).
    pub val_miou: f64,
    /// Validation mIoU over the classes present in the ground truth.
    pub val_miou_present: f64,
    /// Mean foreground precision.
    pub val_mean_precision: f64,
    /// Mean foreground recall.
    pub val_mean_recall: f64,
    /// Seconds spent training in this epoch.
    pub train_seconds: f64,
    /// Seconds spent validating.
    pub val_seconds: f64,
    /// Training images per second.
    pub images_per_s: f64,
}

/// A line of `metrics.jsonl`, tagged by `"kind": "step" | "epoch"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// A logged step.
    Step(StepRecord),
    /// An epoch summary.
    Epoch(EpochRecord),
}

/// An append-only JSON Lines file, flushed after every record.
#[derive(Debug)]
pub struct JsonlLog {
    path: PathBuf,
    file: std::fs::File,
}

impl JsonlLog {
    /// Creates (or truncates) the log at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Reopens the log of a resumed run: keeps the records of the steps before
    /// `global_step` and of the epochs up to `epoch` (what the checkpoint
    /// covers), drops the rest (logged after the checkpoint by the interrupted
    /// run, and about to be logged again), then appends.
    pub fn resume(path: &Path, epoch: usize, global_step: u64) -> Result<Self> {
        let kept: Vec<Record> = if path.exists() {
            Self::read(path)?
                .into_iter()
                .filter(|r| match r {
                    Record::Step(s) => s.global_step < global_step,
                    Record::Epoch(e) => e.epoch <= epoch,
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut text = Vec::new();
        for record in &kept {
            text.extend(to_line(path, record)?);
        }
        eader_fs::write_bytes(path, &text, eader_fs::Durability::Synced)?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, record: &Record) -> Result<()> {
        let line = to_line(&self.path, record)?;
        self.file
            .write_all(&line)
            .and_then(|_| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Reads every record of a log; a bad line is an error naming its number.
    pub fn read(path: &Path) -> Result<Vec<Record>> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut out = Vec::new();
        for (idx, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| Error::io(path, e))?;
            if line.trim().is_empty() {
                continue;
            }
            let record = serde_json::from_str(&line).map_err(|e| Error::Json {
                path: path.to_owned(),
                message: format!("line {}: {e}", idx + 1),
            })?;
            out.push(record);
        }
        Ok(out)
    }
}

fn to_line(path: &Path, record: &Record) -> Result<Vec<u8>> {
    let mut line = serde_json::to_vec(record).map_err(|e| Error::Json {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    line.push(b'\n');
    Ok(line)
}

/// Writes any serialisable value as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| Error::Json {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    text.push(b'\n');
    Ok(eader_fs::write_bytes(
        path,
        &text,
        eader_fs::Durability::Synced,
    )?)
}

/// Whether a plot carries text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotText {
    /// Title, axis labels and legend (needs a system font).
    Labelled,
    /// Lines and grid only: the fallback when no font can be loaded.
    Bare,
}

/// Where a plot's y axis starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YAxis {
    /// At zero (or below, for negative data): losses, mIoU over epochs.
    FromZero,
    /// At the data (error bars included), with a margin: small differences between means.
    Fit,
}

/// One line of a plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// `(x, y)` points; non-finite ones are skipped.
    pub points: Vec<(f64, f64)>,
    /// Error bars: `y ± errors[i]` at `points[i]` (empty: none; a non-finite
    /// or zero entry draws no bar). With error bars every point gets a marker.
    pub errors: Vec<f64>,
}

impl Series {
    /// A line through `points`, without error bars.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            errors: Vec::new(),
        }
    }

    /// Points with symmetric error bars (`errors[i]` belongs to `points[i]`).
    pub fn with_errors(name: impl Into<String>, points: Vec<(f64, f64)>, errors: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            points,
            errors,
        }
    }

    /// Each finite point with its finite, non-negative error bar (0 where none).
    fn bars(&self) -> impl Iterator<Item = ((f64, f64), f64)> + '_ {
        self.points.iter().enumerate().filter_map(|(i, &(x, y))| {
            let e = self.errors.get(i).copied().unwrap_or(0.0);
            let e = if e.is_finite() && e > 0.0 { e } else { 0.0 };
            (x.is_finite() && y.is_finite()).then_some(((x, y), e))
        })
    }
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(23, 190, 207),
];

/// Draws `series` as lines into a PNG at `path`, with text when a font is
/// available (returned: [`PlotText::Labelled`]) and without otherwise.
pub fn plot_lines(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    y_axis: YAxis,
    series: &[Series],
) -> Result<PlotText> {
    let draw = |text| draw_lines(path, title, (x_label, y_label), y_axis, series, text);
    match draw(PlotText::Labelled) {
        Ok(()) => Ok(PlotText::Labelled),
        Err(labelled) => draw(PlotText::Bare)
            .map(|()| PlotText::Bare)
            .map_err(|bare| Error::Plot {
                path: path.to_owned(),
                message: format!("{bare} (with text: {labelled})"),
            }),
    }
}

fn draw_lines(
    path: &Path,
    title: &str,
    (x_label, y_label): (&str, &str),
    y_axis: YAxis,
    series: &[Series],
    text: PlotText,
) -> std::result::Result<(), String> {
    let finite = |(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    let y_start = match y_axis {
        YAxis::FromZero => 0.0f64,
        YAxis::Fit => f64::MAX,
    };
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, y_start, f64::MIN);
    for ((x, y), e) in series.iter().flat_map(Series::bars) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y - e);
        y1 = y1.max(y + e);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-9 {
        y1 = y0 + 1.0;
    }
    let margin = 0.05 * (y1 - y0);
    let y1 = y1 + margin;
    let y0 = match y_axis {
        YAxis::FromZero => y0,
        YAxis::Fit => y0 - margin,
    };
    let err = |e: &dyn std::fmt::Display| e.to_string();

    let root = BitMapBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let labelled = text == PlotText::Labelled;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if labelled {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(40)
            .y_label_area_size(56);
    }
    let mut chart = builder
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(&e))?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(RGBColor(235, 235, 235));
    if labelled {
        mesh.x_desc(x_label).y_desc(y_label);
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| err(&e))?;
    for (idx, s) in series.iter().enumerate() {
        let color = COLORS[idx % COLORS.len()];
        let line = LineSeries::new(
            s.points.iter().copied().filter(finite),
            color.stroke_width(2),
        );
        let drawn = chart.draw_series(line).map_err(|e| err(&e))?;
        if labelled {
            drawn.label(s.name.as_str()).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
        if !s.errors.is_empty() {
            let cap = 0.01 * (x1 - x0);
            for ((x, y), e) in s.bars().filter(|&(_, e)| e > 0.0) {
                for segment in [
                    vec![(x, y - e), (x, y + e)],
                    vec![(x - cap, y - e), (x + cap, y - e)],
                    vec![(x - cap, y + e), (x + cap, y + e)],
                ] {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            segment,
                            color.stroke_width(2),
                        )))
                        .map_err(|e| err(&e))?;
                }
            }
        }
        if !s.errors.is_empty() || s.points.iter().filter(|p| finite(p)).count() == 1 {
            chart
                .draw_series(
                    s.points
                        .iter()
                        .copied()
                        .filter(finite)
                        .map(|p| Circle::new(p, 4, color.filled())),
                )
                .map_err(|e| err(&e))?;
        }
    }
    if labelled && !series.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// `losses.png`: the logged training loss terms against the global step.
pub fn plot_losses(path: &Path, steps: &[StepRecord]) -> Result<PlotText> {
    let x = |s: &StepRecord| s.global_step as f64;
    let mut series = vec![
        Series::line(
            "loss_cls (localizer BCE)",
            steps.iter().map(|s| (x(s), s.out.loss_cls)).collect(),
        ),
        Series::line(
            "loss_reg (mean map)",
            steps.iter().map(|s| (x(s), s.out.loss_reg)).collect(),
        ),
    ];
    let am: Vec<_> = steps
        .iter()
        .filter_map(|s| Some((x(s), s.out.loss_am?)))
        .collect();
    if !am.is_empty() {
        series.push(Series::line("loss_am (attention mining)", am));
    }
    let adv: Vec<_> = steps
        .iter()
        .filter_map(|s| Some((x(s), s.out.loss_adv?)))
        .collect();
    if !adv.is_empty() {
        series.push(Series::line("loss_adv (adversarial BCE)", adv));
    }
    plot_lines(
        path,
        "Training losses",
        ("global step", "loss"),
        YAxis::FromZero,
        &series,
    )
}

/// `val_miou.png`: validation mIoU per epoch, with a constant `baseline` line
/// (for example the all-background prediction's mIoU) when given.
pub fn plot_miou(path: &Path, epochs: &[EpochRecord], baseline: Option<f64>) -> Result<PlotText> {
    let mut series = vec![Series::line(
        "val mIoU",
        epochs
            .iter()
            .map(|e| (e.epoch as f64, e.val_miou))
            .collect(),
    )];
    if let (Some(b), Some(first), Some(last)) = (baseline, epochs.first(), epochs.last()) {
        series.push(Series::line(
            "all-background baseline",
            vec![(first.epoch as f64, b), (last.epoch as f64, b)],
        ));
    }
    plot_lines(
        path,
        "Validation mIoU",
        ("epoch", "mIoU"),
        YAxis::FromZero,
        &series,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Phase;

    fn step(global_step: u64, am: Option<f64>) -> StepRecord {
        StepRecord {
            epoch: 1 + global_step as usize / 10,
            batch: global_step as usize % 10,
            global_step,
            out: StepOutput {
                phase: Phase::Localizer,
                loss_cls: 0.75 - global_step as f64 / 64.0,
                loss_reg: 0.3,
                loss_am: am,
                loss_adv: am.map(|a| a + 0.125),
                loss: 0.7,
                pairs: 0,
            },
            images_per_s: 12.5,
        }
    }

    fn epoch(epoch: usize) -> EpochRecord {
        EpochRecord {
            epoch,
            global_step: 10 * epoch as u64,
            val_miou: epoch as f64 / 8.0,
            ..Default::default()
        }
    }

    #[test]
    fn jsonl_write_read_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        let mut log = JsonlLog::create(&path).unwrap();
        let mut records = Vec::new();
        for e in 1..=3 {
            for b in [0, 5] {
                records.push(Record::Step(step(10 * (e - 1) + b, Some(0.25))));
            }
            records.push(Record::Epoch(epoch(e as usize)));
        }
        records.push(Record::Step(step(30, None)));
        for r in &records {
            log.write(r).unwrap();
        }
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), records.len());
        assert!(
            text.lines()
                .next()
                .unwrap()
                .starts_with("{\"kind\":\"step\""),
            "{text}"
        );
        assert_eq!(JsonlLog::read(&path).unwrap(), records);

        // Resume from the checkpoint after epoch 2 (next step 20).
        let mut log = JsonlLog::resume(&path, 2, 20).unwrap();
        log.write(&Record::Step(step(20, None))).unwrap();
        let back = JsonlLog::read(&path).unwrap();
        assert_eq!(back.len(), 7);
        assert_eq!(&back[..6], &records[..6]);
        assert_eq!(back[6], Record::Step(step(20, None)));

        std::fs::write(&path, "{\"kind\":\"step\"}\n").unwrap();
        let err = JsonlLog::read(&path).unwrap_err().to_string();
        assert!(
            err.contains(METRICS_FILE) && err.contains("line 1"),
            "{err}"
        );
    }

    fn assert_png(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        (w, h)
    }

    #[test]
    fn plots_are_pngs_with_and_without_text() {
        let dir = tempfile::tempdir().unwrap();
        let steps: Vec<_> = (0..30)
            .map(|s| step(s, (s % 2 == 0).then_some(0.4)))
            .collect();
        let losses = dir.path().join(LOSS_PLOT_FILE);
        plot_losses(&losses, &steps).unwrap();
        assert_eq!(assert_png(&losses), (800, 480));
        let miou = dir.path().join(MIOU_PLOT_FILE);
        plot_miou(&miou, &[epoch(1), epoch(2)], Some(0.03)).unwrap();
        assert_eq!(assert_png(&miou), (800, 480));
        // A single epoch and an empty plot still draw.
        plot_miou(&miou, &[epoch(1)], None).unwrap();
        plot_losses(&losses, &[]).unwrap();
        // The no-font fallback draws too.
        let bare = dir.path().join("bare.png");
        let series = [Series::line(
            "x",
            vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 0.5)],
        )];
        draw_lines(&bare, "t", ("x", "y"), YAxis::Fit, &series, PlotText::Bare).unwrap();
        assert_eq!(assert_png(&bare), (800, 480));
    }

    #[test]
    fn plot_into_missing_folder_is_a_named_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("p.png");
        let err = plot_miou(&path, &[epoch(1)], None).unwrap_err().to_string();
        assert!(err.contains("p.png"), "{err}");
    }
}
