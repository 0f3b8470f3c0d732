//! Named evaluation protocols and the one-line card printed next to every number.
//!
//! - [`Protocol::Eader`]: what the reference code prints: the `val` split,
//!   single scale, the fixed threshold of the run (0.3), masks as found.
//! - [`Protocol::Wsss`]: what other WSSS codebases report for pseudo labels:
//!   VOC `train` (1,464 images) scored against VOC's own `SegmentationClass`
//!   masks (never SBD's), multi-scale 1, 0.5, 1.5, 2 with flip.
//!
//! Options given explicitly (`--split`, `--scales`, `--flip`) replace the
//! protocol's values; the card then lists them as deviations.

use std::fmt;
use std::str::FromStr;

use eader_dataset::{VocDataset, AUG_MASKS_DIR, MASKS_DIR};
use serde::Serialize;

use crate::error::{Error, Result};

/// A named evaluation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The reference's: val, single scale, fixed threshold.
    #[default]
    Eader,
    /// The usual WSSS pseudo-label protocol: VOC train, VOC masks, multi-scale + flip.
    Wsss,
}

impl Protocol {
    /// `"eader"` or `"wsss"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Eader => "eader",
            Self::Wsss => "wsss",
        }
    }

    /// The split the protocol scores.
    pub fn split(self) -> &'static str {
        match self {
            Self::Eader => "val",
            Self::Wsss => "train",
        }
    }

    /// The protocol's scales.
    pub fn scales(self) -> Vec<f64> {
        match self {
            Self::Eader => vec![1.0],
            Self::Wsss => vec![1.0, 0.5, 1.5, 2.0],
        }
    }

    /// Whether the protocol flip-averages.
    pub fn flip(self) -> bool {
        matches!(self, Self::Wsss)
    }

    /// Whether every mask must be VOC's own (`SegmentationClass/`).
    pub fn voc_masks_only(self) -> bool {
        matches!(self, Self::Wsss)
    }

    /// The folder inside an experiment folder where `eader evaluate` writes
    /// this protocol's [`METRICS_FILE`] for `split`: `eval-<protocol>-<split>`.
    pub fn output_dir_name(self, split: &str) -> String {
        format!("eval-{self}-{}", crate::visuals::file_safe(split))
    }
}

/// The results file of an evaluation (`eader evaluate`'s `metrics.json`).
pub const METRICS_FILE: &str = "metrics.json";

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "eader" => Ok(Self::Eader),
            "wsss" => Ok(Self::Wsss),
            _ => Err(format!("unknown protocol {s:?}, expected eader or wsss")),
        }
    }
}

/// Where the label maps of a split come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelSource {
    /// Images whose mask is VOC's `SegmentationClass/` PNG.
    pub voc: usize,
    /// Images whose mask is `SegmentationClassAug/` (SBD-derived where VOC has none).
    pub aug: usize,
}

impl LabelSource {
    /// Counts the masks of `dataset` by folder.
    pub fn of(dataset: &VocDataset) -> Result<Self> {
        let mut source = Self { voc: 0, aug: 0 };
        for i in 0..dataset.len() {
            let parent = dataset
                .mask_path(i)?
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if parent == AUG_MASKS_DIR {
                source.aug += 1;
            } else {
                source.voc += 1;
            }
        }
        Ok(source)
    }

    /// Fails unless every mask is VOC's own, naming the first that is not.
    pub fn require_voc(dataset: &VocDataset) -> Result<()> {
        for i in 0..dataset.len() {
            let path = dataset.mask_path(i)?;
            let in_aug = path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == AUG_MASKS_DIR);
            if in_aug {
                let voc = dataset.root().join(MASKS_DIR);
                return Err(Error::setting(
                    "protocol",
                    format!(
                        "wsss scores against VOC's own masks, but image {} of split {} has none in {} (only {})",
                        dataset.id(i)?,
                        dataset.split(),
                        voc.display(),
                        path.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for LabelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.voc, self.aug) {
            (_, 0) => write!(f, "{MASKS_DIR}"),
            (0, _) => write!(f, "{AUG_MASKS_DIR}"),
            (v, a) => write!(f, "{MASKS_DIR} ({v}) + {AUG_MASKS_DIR} ({a})"),
        }
    }
}

/// What a pass ran, next to the run it scores: the input of
/// [`Protocol::deviations`] and of [`threshold_rule`].
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen<'a> {
    /// The split scored.
    pub split: &'a str,
    /// Attention type, scales and flip.
    pub maps: &'a crate::MapConfig,
    /// The reported (fixed) threshold.
    pub threshold: f32,
    /// The run's own threshold (its `segmentation_map_threshold`).
    pub run_threshold: f32,
    /// The run's own attention type.
    pub run_attention: eader_models::AttentionKind,
}

impl Protocol {
    /// The settings of `chosen` that differ from the protocol as named (or,
    /// for the threshold and attention type, from the run's own), as the
    /// card lists them.
    pub fn deviations(self, chosen: &Chosen<'_>) -> Vec<String> {
        let mut out = Vec::new();
        if chosen.split != self.split() {
            out.push(format!("split {}", chosen.split));
        }
        if chosen.maps.scales != self.scales() {
            out.push("scales".to_owned());
        }
        if chosen.maps.flip != self.flip() {
            out.push(if chosen.maps.flip { "flip" } else { "no flip" }.to_owned());
        }
        if (chosen.threshold - chosen.run_threshold).abs() > 1e-6 {
            out.push(format!("threshold {}", chosen.threshold));
        }
        if chosen.maps.attention != chosen.run_attention {
            out.push(format!("attention {}", chosen.maps.attention));
        }
        out
    }
}

/// How the card describes the threshold: the fixed one, the sweep `spec`
/// (of `count` thresholds) when given, and the held-out choice on `select_on` images.
pub fn threshold_rule(
    fixed: f32,
    sweep: Option<(&str, usize)>,
    select_on: Option<usize>,
) -> String {
    let mut rule = format!("{fixed} fixed");
    if let Some((spec, count)) = sweep {
        rule.push_str(&format!(
            "; sweep {spec} ({count} thresholds, oracle reported apart)"
        ));
    }
    if let Some(n) = select_on {
        rule.push_str(&format!("; one chosen on {n} held-out images"));
    }
    rule
}

/// Everything a reader needs to know to compare a number: printed as one
/// line next to every result and stored in `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolCard {
    /// The named protocol.
    pub protocol: Protocol,
    /// Settings that differ from the named protocol (empty: the protocol as named).
    pub deviations: Vec<String>,
    /// The dataset (its folder, or `demo`).
    pub dataset: String,
    /// The split scored.
    pub split: String,
    /// Images in the split.
    pub images: usize,
    /// Where the label maps come from.
    pub labels: LabelSource,
    /// Scales of the attention maps.
    pub scales: Vec<f64>,
    /// Flip averaging.
    pub flip: bool,
    /// CAM or Grad-CAM.
    pub attention: String,
    /// How the segmentation-map threshold was set.
    pub threshold_rule: String,
    /// The weights: checkpoint folder (and epoch) or weights file.
    pub checkpoint: String,
    /// The CRF refinement scored beside the plain maps, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crf: Option<String>,
}

impl fmt::Display for ProtocolCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scales: Vec<String> = self.scales.iter().map(|s| format!("{s}")).collect();
        write!(
            f,
            "protocol {}{} | {} split {} ({} images), labels {} | scales {}{} | {} | threshold {} | {}{}",
            self.protocol,
            if self.deviations.is_empty() {
                String::new()
            } else {
                format!(" (custom: {})", self.deviations.join(", "))
            },
            self.dataset,
            self.split,
            self.images,
            self.labels,
            scales.join(","),
            if self.flip { " + flip" } else { "" },
            self.attention,
            self.threshold_rule,
            self.checkpoint,
            self.crf
                .as_ref()
                .map_or(String::new(), |c| format!(" | {c}"))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eader_dataset::demo::{ensure, DemoConfig};

    #[test]
    fn deviations_name_what_differs() {
        use eader_models::AttentionKind;
        let maps = crate::MapConfig::single_scale(AttentionKind::GradCam);
        let chosen = Chosen {
            split: "val",
            maps: &maps,
            threshold: 0.3,
            run_threshold: 0.3,
            run_attention: AttentionKind::GradCam,
        };
        assert!(Protocol::Eader.deviations(&chosen).is_empty());
        assert_eq!(
            Protocol::Wsss.deviations(&chosen),
            ["split val", "scales", "no flip"]
        );
        let cam = crate::MapConfig::single_scale(AttentionKind::Cam);
        let other = Chosen {
            split: "train",
            maps: &cam,
            threshold: 0.25,
            ..chosen
        };
        assert_eq!(
            Protocol::Eader.deviations(&other),
            ["split train", "threshold 0.25", "attention cam"]
        );
        assert_eq!(threshold_rule(0.3, None, None), "0.3 fixed");
        assert_eq!(
            threshold_rule(0.3, Some(("0.1:0.5:0.1", 5)), Some(20)),
            "0.3 fixed; sweep 0.1:0.5:0.1 (5 thresholds, oracle reported apart); one chosen on 20 held-out images"
        );
    }

    #[test]
    fn protocols_parse_and_describe_themselves() {
        assert_eq!("WSSS".parse(), Ok(Protocol::Wsss));
        assert!("psa".parse::<Protocol>().is_err());
        assert_eq!(Protocol::Wsss.scales(), vec![1.0, 0.5, 1.5, 2.0]);
        assert_eq!(
            (Protocol::Eader.split(), Protocol::Eader.flip()),
            ("val", false)
        );
        let card = ProtocolCard {
            protocol: Protocol::Eader,
            deviations: vec!["threshold 0.4".into()],
            dataset: "demo".into(),
            split: "val".into(),
            images: 6,
            labels: LabelSource { voc: 6, aug: 0 },
            scales: vec![1.0],
            flip: false,
            attention: "gcam".into(),
            threshold_rule: "0.4 fixed".into(),
            checkpoint: "results/x/checkpoint (epoch 3)".into(),
            crf: None,
        };
        let line = card.to_string();
        assert_eq!(
            line,
            "protocol eader (custom: threshold 0.4) | demo split val (6 images), labels \
             SegmentationClass | scales 1 | gcam | threshold 0.4 fixed | results/x/checkpoint (epoch 3)"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn label_sources_and_the_voc_only_rule() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = DemoConfig {
            n_train: 3,
            n_val: 2,
            image_size: 32,
            ..DemoConfig::default()
        };
        let root = ensure(dir.path(), &cfg).unwrap();
        let ds = VocDataset::open(&root, "train").unwrap();
        assert_eq!(
            LabelSource::of(&ds).unwrap(),
            LabelSource { voc: 3, aug: 0 }
        );
        LabelSource::require_voc(&ds).unwrap();
        // Move one mask to SegmentationClassAug: the split still opens, wsss refuses it.
        let id = ds.id(1).unwrap().to_owned();
        std::fs::create_dir_all(root.join(AUG_MASKS_DIR)).unwrap();
        std::fs::rename(
            root.join(MASKS_DIR).join(format!("{id}.png")),
            root.join(AUG_MASKS_DIR).join(format!("{id}.png")),
        )
        .unwrap();
        let ds = VocDataset::open(&root, "train").unwrap();
        let source = LabelSource::of(&ds).unwrap();
        assert_eq!(source, LabelSource { voc: 2, aug: 1 });
        assert_eq!(
            source.to_string(),
            "SegmentationClass (2) + SegmentationClassAug (1)"
        );
        let err = LabelSource::require_voc(&ds).unwrap_err().to_string();
        assert!(
            err.contains(&id) && err.contains("VOC's own masks"),
            "{err}"
        );
    }
}
