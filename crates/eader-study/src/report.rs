//! A study's results as files: `study.csv` (a row per run), `study.json`
//! (runs and aggregates), `study.md` (the tables) and PNG plots of each
//! metric against alpha with mean ± std error bars over seeds.

use std::path::{Path, PathBuf};

use eader_train::logging::{plot_lines, write_json, Series, YAxis};
use serde::Serialize;

use crate::aggregate::{aggregate, AlphaSummary, Metric, Stat, METRICS};
use crate::error::{Error, Result};
use crate::grid::Grid;
use crate::runs::RunResult;

/// `study.csv`: one row per run.
pub const CSV_FILE: &str = "study.csv";
/// `study.json`: runs and aggregates.
pub const JSON_FILE: &str = "study.json";
/// `study.md`: the aggregate and per-run tables.
pub const MARKDOWN_FILE: &str = "study.md";

/// The plots: file name, title, y label and the metrics drawn.
const PLOTS: [(&str, &str, &str, &[&str]); 5] = [
    (
        "miou.png",
        "mIoU against alpha (mean ± std over seeds)",
        "mIoU (%)",
        &["miou", "miou_present"],
    ),
    (
        "precision_recall.png",
        "Precision and recall against alpha (mean ± std over seeds)",
        "%",
        &["mean_precision", "mean_recall"],
    ),
    (
        "map_area.png",
        "Map area at the threshold against alpha (mean ± std over seeds)",
        "area (% of the image)",
        &["map_area"],
    ),
    (
        "mass_object.png",
        "Share of the maps' mass on the object's parts, against alpha (mean ± std over seeds)",
        "share of map mass (%)",
        &["mass_face", "mass_body"],
    ),
    (
        "mass_outside.png",
        "Share of the maps' mass off the object, against alpha (mean ± std over seeds)",
        "share of map mass (%)",
        &["mass_background", "mass_elsewhere"],
    ),
];

/// A study's results: every finished run and the per-alpha aggregates.
#[derive(Debug, Clone, Serialize)]
pub struct StudyReport {
    /// The command that made the study.
    pub command: String,
    /// The grid's alphas, in order.
    pub alphas: Vec<f64>,
    /// The grid's seeds, in order.
    pub seeds: Vec<u64>,
    /// The runs not (yet) complete, by folder name.
    pub missing: Vec<String>,
    /// Lines the caller adds (what alpha 0 means, for example).
    pub notes: Vec<String>,
    /// The protocol card of the first finished run's evaluation.
    pub card: Option<String>,
    /// The all-background prediction's mIoU (the first finished run's split).
    pub baseline_miou: Option<f64>,
    /// Every finished run.
    pub runs: Vec<RunResult>,
    /// Mean ± std over seeds at each alpha.
    pub aggregates: Vec<AlphaSummary>,
}

impl StudyReport {
    /// The report of `runs` (the finished runs of `grid`), made by `command`.
    pub fn new(grid: &Grid, runs: Vec<RunResult>, command: String) -> Self {
        let missing = grid
            .points()
            .iter()
            .filter(|p| !runs.iter().any(|r| r.alpha == p.alpha && r.seed == p.seed))
            .map(|p| p.name())
            .collect();
        Self {
            command,
            alphas: grid.alphas.clone(),
            seeds: grid.seeds.clone(),
            missing,
            notes: Vec::new(),
            card: runs.first().map(|r| r.card.clone()),
            baseline_miou: runs.first().map(|r| r.baseline_miou),
            aggregates: aggregate(&grid.alphas, &runs),
            runs,
        }
    }

    /// The metrics at least one run measured.
    fn measured(&self) -> Vec<&'static Metric> {
        METRICS
            .iter()
            .filter(|m| self.runs.iter().any(|r| (m.value)(r).is_some()))
            .collect()
    }

    /// `study.csv`: `run,alpha,seed,<metric keys>` and a row per run (fractions
    /// as fractions; an unmeasured value is empty).
    pub fn csv(&self) -> String {
        let mut out = String::from("run,alpha,seed");
        for m in &METRICS {
            out.push(',');
            out.push_str(m.key);
        }
        out.push('\n');
        for r in &self.runs {
            out.push_str(&format!("{},{},{}", r.run, r.alpha, r.seed));
            for m in &METRICS {
                out.push(',');
                if let Some(v) = (m.value)(r) {
                    out.push_str(&v.to_string());
                }
            }
            out.push('\n');
        }
        out
    }

    /// The aggregate table (mean ± std over seeds per alpha), markdown.
    pub fn table(&self) -> String {
        let metrics = self.measured();
        let mut out = String::from("| alpha | runs |");
        for m in &metrics {
            out.push_str(&format!(" {} |", m.label));
        }
        out.push_str("\n|---|---|");
        out.push_str(&"---|".repeat(metrics.len()));
        out.push('\n');
        for a in &self.aggregates {
            out.push_str(&format!("| {} | {} |", a.alpha, a.seeds.len()));
            for m in &metrics {
                out.push_str(&format!(" {} |", format_stat(m, a.get(m.key))));
            }
            out.push('\n');
        }
        out
    }

    /// `study.md`: the command, the protocol, the baseline, the aggregate
    /// table and the per-run table.
    pub fn markdown(&self) -> String {
        let mut out = format!("# eader study\n\n`{}`\n\n", self.command);
        if let Some(card) = &self.card {
            out.push_str(&format!(
                "Each run is scored by `eader evaluate` under one protocol; the first run's card:\n`{card}`\n\n"
            ));
        }
        if let Some(b) = self.baseline_miou {
            out.push_str(&format!(
                "All-background baseline mIoU: {:.2}%.\n\n",
                100.0 * b
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("- {note}\n"));
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        out.push_str(
            "Mean ± sample standard deviation over seeds (percentages except update counts).\n\n",
        );
        out.push_str(&self.table());
        if !self.missing.is_empty() {
            out.push_str(&format!(
                "\nNot finished (left out above): {}.\n",
                self.missing.join(", ")
            ));
        }
        let metrics = self.measured();
        out.push_str("\n## Runs\n\n| run |");
        for m in &metrics {
            out.push_str(&format!(" {} |", m.label));
        }
        out.push_str("\n|---|");
        out.push_str(&"---|".repeat(metrics.len()));
        out.push('\n');
        for r in &self.runs {
            out.push_str(&format!("| {} |", r.run));
            for m in &metrics {
                let stat = (m.value)(r).and_then(|v| Stat::of(&[v]));
                out.push_str(&format!(" {} |", format_stat(m, stat)));
            }
            out.push('\n');
        }
        out
    }

    /// Writes `study.csv`, `study.json`, `study.md` and the plots into `dir`;
    /// returns the files written (a plot whose metrics no run measured is left out).
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let text = |name: &str, contents: String| -> Result<PathBuf> {
            let path = dir.join(name);
            eader_fs::write_bytes(&path, contents.as_bytes(), eader_fs::Durability::Renamed)
                .map_err(|e| Error::Write {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            Ok(path)
        };
        let mut written = vec![
            text(CSV_FILE, self.csv())?,
            text(MARKDOWN_FILE, self.markdown())?,
        ];
        let json = dir.join(JSON_FILE);
        write_json(&json, self)?;
        written.push(json);
        for (file, title, y_label, keys) in PLOTS {
            let series: Vec<Series> = keys
                .iter()
                .filter_map(|key| METRICS.iter().find(|m| m.key == *key))
                .filter_map(|m| self.series(m))
                .collect();
            if series.is_empty() {
                continue;
            }
            let path = dir.join(file);
            plot_lines(&path, title, ("alpha", y_label), YAxis::Fit, &series)?;
            written.push(path);
        }
        Ok(written)
    }

    /// One metric's mean against alpha with ± std bars (`None`: never measured).
    fn series(&self, m: &Metric) -> Option<Series> {
        let scale = if m.percent { 100.0 } else { 1.0 };
        let (points, errors): (Vec<_>, Vec<_>) = self
            .aggregates
            .iter()
            .filter_map(|a| {
                let s = a.get(m.key)?;
                Some(((a.alpha, scale * s.mean), scale * s.std.unwrap_or(0.0)))
            })
            .unzip();
        (!points.is_empty()).then(|| Series::with_errors(m.label, points, errors))
    }
}

/// `mean ± std` as a table shows it (percent metrics in %, one decimal).
fn format_stat(m: &Metric, stat: Option<Stat>) -> String {
    let Some(s) = stat else {
        return "–".to_owned();
    };
    let (scale, digits) = if m.percent { (100.0, 1) } else { (1.0, 0) };
    match s.std {
        Some(std) => format!("{:.*} ± {:.*}", digits, scale * s.mean, digits, scale * std),
        None => format!("{:.*}", digits, scale * s.mean),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::tests::run;

    #[test]
    fn files_hold_the_runs_and_the_hand_checked_aggregates() {
        let grid = Grid::new(vec![0.0, 0.05], vec![0, 1]).unwrap();
        let runs = vec![run(0.0, 0, 0.20), run(0.05, 0, 0.30), run(0.0, 1, 0.26)];
        let report = StudyReport::new(&grid, runs, "eader study --alpha 0,0.05".into());
        assert_eq!(report.missing, ["alpha-0.05-seed-1"]);
        let csv = report.csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("run,alpha,seed,miou,miou_present,"));
        assert!(
            lines[1].starts_with("alpha-0-seed-0,0,0,0.2,"),
            "{}",
            lines[1]
        );
        // Unmeasured part shares are empty cells.
        assert!(lines[1].contains(",0.3,,,,,100,100"), "{}", lines[1]);

        let table = report.table();
        // alpha 0: mIoU 20% and 26% -> 23.0 ± 4.2 (0.06 / sqrt 2 = 4.24 points).
        assert!(
            table.contains("| 0 | 2 | 23.0 ± 4.2 | 33.0 ± 4.2 |"),
            "{table}"
        );
        // alpha 0.05: one run, no std.
        assert!(table.contains("| 0.05 | 1 | 30.0 | 40.0 |"), "{table}");
        assert!(!table.contains("mass on face"), "no part maps: {table}");

        let dir = tempfile::tempdir().unwrap();
        let files = report.write(dir.path()).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "study.csv",
                "study.md",
                "study.json",
                "miou.png",
                "precision_recall.png",
                "map_area.png"
            ]
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(JSON_FILE)).unwrap())
                .unwrap();
        assert_eq!(json["runs"].as_array().unwrap().len(), 3);
        let miou = &json["aggregates"][0]["metrics"][0];
        assert_eq!(miou["metric"], "miou");
        assert!((miou["stat"]["mean"].as_f64().unwrap() - 0.23).abs() < 1e-12);
        let md = std::fs::read_to_string(dir.path().join(MARKDOWN_FILE)).unwrap();
        assert!(md.contains("All-background baseline mIoU: 13.80%."), "{md}");
        assert!(
            md.contains("Not finished (left out above): alpha-0.05-seed-1."),
            "{md}"
        );
        assert!(md.contains("| alpha-0.05-seed-0 | 30.0 |"), "{md}");
    }
}
