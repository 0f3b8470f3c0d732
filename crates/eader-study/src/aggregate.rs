//! The study's metrics, and their mean ± std over seeds at each alpha.

use serde::Serialize;

use crate::runs::RunResult;

/// One measured quantity of a run.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Column name in `study.csv` and key in `study.json`.
    pub key: &'static str,
    /// Heading in tables and plots.
    pub label: &'static str,
    /// A fraction, shown as a percentage in tables.
    pub percent: bool,
    /// The run's value (`None`: not measured, e.g. part shares without part maps).
    pub value: fn(&RunResult) -> Option<f64>,
}

/// Every metric of a study, in table order.
pub const METRICS: [Metric; 11] = [
    Metric {
        key: "miou",
        label: "mIoU",
        percent: true,
        value: |r| Some(r.miou),
    },
    Metric {
        key: "miou_present",
        label: "mIoU (present classes)",
        percent: true,
        value: |r| Some(r.miou_present),
    },
    Metric {
        key: "mean_precision",
        label: "precision",
        percent: true,
        value: |r| Some(r.mean_precision),
    },
    Metric {
        key: "mean_recall",
        label: "recall",
        percent: true,
        value: |r| Some(r.mean_recall),
    },
    Metric {
        key: "map_area",
        label: "map area",
        percent: true,
        value: |r| r.map_area,
    },
    Metric {
        key: "mass_face",
        label: "mass on face",
        percent: true,
        value: |r| r.mass_face,
    },
    Metric {
        key: "mass_body",
        label: "mass on body",
        percent: true,
        value: |r| r.mass_body,
    },
    Metric {
        key: "mass_background",
        label: "mass on background",
        percent: true,
        value: |r| r.mass_background,
    },
    Metric {
        key: "mass_elsewhere",
        label: "mass elsewhere",
        percent: true,
        value: |r| r.mass_elsewhere,
    },
    Metric {
        key: "localizer_updates",
        label: "localizer updates",
        percent: false,
        value: |r| Some(r.localizer_updates as f64),
    },
    Metric {
        key: "adversarial_updates",
        label: "adversarial updates",
        percent: false,
        value: |r| Some(r.adversarial_updates as f64),
    },
];

/// Mean and spread of one metric over a group of runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    /// Runs with a value.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (n - 1 in the denominator); `None` for one run.
    pub std: Option<f64>,
}

impl Stat {
    /// The mean and sample standard deviation of `values` (`None` when empty).
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = (n > 1).then(|| {
            let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (ss / (n - 1) as f64).sqrt()
        });
        Some(Self { n, mean, std })
    }
}

/// One metric's statistics in a group.
#[derive(Debug, Clone, Serialize)]
pub struct MetricStat {
    /// The metric's key.
    pub metric: &'static str,
    /// Its statistics (`None`: no run measured it).
    pub stat: Option<Stat>,
}

/// The runs of one alpha, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct AlphaSummary {
    /// The alpha.
    pub alpha: f64,
    /// The seeds behind these numbers.
    pub seeds: Vec<u64>,
    /// One entry per metric, in [`METRICS`] order.
    pub metrics: Vec<MetricStat>,
}

impl AlphaSummary {
    /// The statistics of the metric `key`.
    pub fn get(&self, key: &str) -> Option<Stat> {
        self.metrics
            .iter()
            .find(|m| m.metric == key)
            .and_then(|m| m.stat)
    }
}

/// Groups `runs` by alpha (in the order of `alphas`; alphas without runs are
/// left out) and summarises every metric over the seeds.
pub fn aggregate(alphas: &[f64], runs: &[RunResult]) -> Vec<AlphaSummary> {
    alphas
        .iter()
        .filter_map(|&alpha| {
            let group: Vec<&RunResult> = runs.iter().filter(|r| r.alpha == alpha).collect();
            if group.is_empty() {
                return None;
            }
            let metrics = METRICS
                .iter()
                .map(|m| {
                    let values: Vec<f64> = group.iter().filter_map(|r| (m.value)(r)).collect();
                    MetricStat {
                        metric: m.key,
                        stat: Stat::of(&values),
                    }
                })
                .collect();
            Some(AlphaSummary {
                alpha,
                seeds: group.iter().map(|r| r.seed).collect(),
                metrics,
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A run with the given alpha, seed and mIoU (other metrics derived from them).
    pub(crate) fn run(alpha: f64, seed: u64, miou: f64) -> RunResult {
        RunResult {
            run: format!("alpha-{alpha}-seed-{seed}"),
            alpha,
            seed,
            miou,
            miou_present: miou + 0.1,
            mean_precision: 0.5,
            mean_recall: 0.25 * seed as f64,
            map_area: Some(0.3),
            mass_face: None,
            mass_body: None,
            mass_background: None,
            mass_elsewhere: None,
            localizer_updates: 100,
            adversarial_updates: 100,
            baseline_miou: 0.138,
            train_seconds: 1.0,
            card: "protocol eader".into(),
        }
    }

    #[test]
    fn mean_and_sample_std_by_hand() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum 32, sample
        // variance 32 / 7, sample std 2.138...
        let s = Stat::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!((s.n, s.mean), (8, 5.0));
        assert!((s.std.unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-15);
        let one = Stat::of(&[0.3]).unwrap();
        assert_eq!((one.n, one.mean, one.std), (1, 0.3, None));
        assert_eq!(Stat::of(&[]), None);
    }

    #[test]
    fn runs_group_by_alpha_in_grid_order() {
        let runs = [
            run(0.05, 0, 0.30),
            run(0.0, 0, 0.20),
            run(0.05, 1, 0.34),
            run(0.0, 1, 0.26),
        ];
        let agg = aggregate(&[0.0, 0.05, 0.1], &runs);
        assert_eq!(agg.len(), 2, "alpha 0.1 has no runs");
        assert_eq!((agg[0].alpha, agg[1].alpha), (0.0, 0.05));
        assert_eq!(agg[1].seeds, [0, 1]);
        let m = agg[0].get("miou").unwrap();
        assert!((m.mean - 0.23).abs() < 1e-12);
        // Two values 0.20 and 0.26: sample std = |a - b| / sqrt(2).
        assert!((m.std.unwrap() - 0.06 / 2f64.sqrt()).abs() < 1e-12);
        let recall = agg[1].get("mean_recall").unwrap();
        assert_eq!((recall.mean, recall.n), (0.125, 2));
        assert_eq!(agg[0].get("mass_body"), None, "no part maps, no shares");
    }
}
