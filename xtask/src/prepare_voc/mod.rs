//! `cargo xtask prepare-voc`: from nothing (or two local archives) to PASCAL
//! VOC 2012 with SBD's extra labels and the 10,582-image `train_aug` split.
//!
//! Steps, each safe to interrupt and run again:
//! 1. obtain the archives: local files (`--voc-tar`, `--sbd-tgz`), a copy
//!    downloaded earlier into `DIR/downloads/`, or, with `--download`, from
//!    the mirrors in [`sources`] ([`fetch::download`]); check each MD5
//!    ([`fetch::checksum`]);
//! 2. extract what the dataset needs, streaming ([`extract`]);
//! 3. write `SegmentationClassAug/` from SBD's `.mat` labels and VOC's own
//!    ([`sbd`], [`labels`]);
//! 4. compute `ImageSets/Segmentation/train_aug.txt` ([`splits`]);
//! 5. verify everything and print the split sizes ([`verify`]).
//!
//! A marker file (`DIR/.eader-prepare-voc.done`, holding the archives' MD5s)
//! records success; with it, a run only verifies.

mod extract;
pub(crate) mod labels;
mod sbd;
mod sources;
pub(crate) mod splits;
pub(crate) mod verify;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::fetch::{self, ArchiveSpec};
use verify::Counts;

/// Options of `cargo xtask prepare-voc`.
#[derive(clap::Args, Debug)]
pub struct PrepareVocArgs {
    /// Dataset root. Receives VOCdevkit/VOC2012/ (JPEGImages, SegmentationClass,
    /// SegmentationClassAug, ImageSets/Segmentation with train_aug.txt),
    /// benchmark_RELEASE/dataset/ (SBD's labels and lists) and, with
    /// --download, downloads/.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// A local copy of VOCtrainval_11-May-2012.tar.
    #[arg(long, value_name = "PATH")]
    voc_tar: Option<PathBuf>,
    /// A local copy of SBD's benchmark.tgz.
    #[arg(long, value_name = "PATH")]
    sbd_tgz: Option<PathBuf>,
    /// Download the archives not given as files (into DIR/downloads/), trying
    /// known mirrors in turn and resuming partial downloads.
    #[arg(long)]
    download: bool,
    /// Threads converting and checking labels [default: all cores].
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// A mirror of the VOC archive (repeat for several, tried in order);
    /// replaces the built-in list and $EADER_VOC_URLS.
    #[arg(long = "voc-url", value_name = "URL")]
    voc_urls: Vec<String>,
    /// A mirror of SBD's archive (repeatable); replaces the built-in list and
    /// $EADER_SBD_URLS.
    #[arg(long = "sbd-url", value_name = "URL")]
    sbd_urls: Vec<String>,
    /// Accept a VOC archive with this MD5 instead of the published one.
    #[arg(long, value_name = "HEX")]
    voc_md5: Option<String>,
    /// Accept an SBD archive with this MD5 instead of the published one.
    #[arg(long, value_name = "HEX")]
    sbd_md5: Option<String>,
    /// Split sizes to expect, as TRAIN_AUG,TRAIN,VAL, or `any`
    /// [default: 10582,1464,1449, the published ones].
    #[arg(long, value_name = "COUNTS")]
    expect_counts: Option<String>,
}

/// The validated options.
struct Config {
    root: PathBuf,
    voc: ArchiveSpec,
    sbd: ArchiveSpec,
    voc_tar: Option<PathBuf>,
    sbd_tgz: Option<PathBuf>,
    download: bool,
    jobs: usize,
    expected: Option<Counts>,
}

impl Config {
    fn new(args: &PrepareVocArgs) -> Result<Config> {
        fetch::check_md5_options(&[
            (args.voc_md5.as_deref(), "--voc-md5"),
            (args.sbd_md5.as_deref(), "--sbd-md5"),
        ])?;
        let jobs = fetch::jobs(args.jobs)?;
        Ok(Config {
            root: args.root.clone(),
            voc: sources::voc(&args.voc_urls, args.voc_md5.as_deref()),
            sbd: sources::sbd(&args.sbd_urls, args.sbd_md5.as_deref()),
            voc_tar: args.voc_tar.clone(),
            sbd_tgz: args.sbd_tgz.clone(),
            download: args.download,
            jobs,
            expected: match &args.expect_counts {
                Some(text) => parse_counts(text)?,
                None => Some(Counts::PUBLISHED),
            },
        })
    }
}

fn parse_counts(text: &str) -> Result<Option<Counts>> {
    Ok(
        crate::fetch::parse_counts(text, &["TRAIN_AUG", "TRAIN", "VAL"])?.map(|n| Counts {
            train_aug: n[0],
            train: n[1],
            val: n[2],
        }),
    )
}

/// Paths of the prepared dataset under the root.
pub struct Layout {
    /// `DIR/VOCdevkit/VOC2012`.
    voc: PathBuf,
    /// `DIR/benchmark_RELEASE/dataset`.
    sbd: PathBuf,
    /// `DIR/downloads`.
    downloads: PathBuf,
    /// `DIR/.eader-prepare-voc.done`.
    done_marker: PathBuf,
}

impl Layout {
    fn new(root: &Path) -> Self {
        Self {
            voc: root.join("VOCdevkit").join("VOC2012"),
            sbd: root.join("benchmark_RELEASE").join("dataset"),
            downloads: root.join("downloads"),
            done_marker: root.join(".eader-prepare-voc.done"),
        }
    }

    /// `ImageSets/Segmentation/<split>.txt`.
    fn list(&self, split: &str) -> PathBuf {
        self.voc
            .join("ImageSets")
            .join("Segmentation")
            .join(format!("{split}.txt"))
    }

    fn image(&self, id: &str) -> PathBuf {
        self.voc.join("JPEGImages").join(format!("{id}.jpg"))
    }

    fn voc_label(&self, id: &str) -> PathBuf {
        self.voc.join("SegmentationClass").join(format!("{id}.png"))
    }

    fn aug_dir(&self) -> PathBuf {
        self.voc.join("SegmentationClassAug")
    }

    fn aug_label(&self, id: &str) -> PathBuf {
        self.aug_dir().join(format!("{id}.png"))
    }

    fn sbd_label(&self, id: &str) -> PathBuf {
        self.sbd.join("cls").join(format!("{id}.mat"))
    }
}

/// What the done marker holds for a given pair of archives.
fn marker_text(config: &Config) -> String {
    format!("voc_md5 {}\nsbd_md5 {}\n", config.voc.md5, config.sbd.md5)
}

/// Runs `cargo xtask prepare-voc`.
pub fn run(args: &PrepareVocArgs) -> Result<()> {
    let config = Config::new(args)?;
    std::fs::create_dir_all(&config.root)
        .with_context(|| format!("cannot create {}", config.root.display()))?;
    let layout = Layout::new(&config.root);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs)
        .build()
        .context("cannot start worker threads")?;

    let marker = marker_text(&config);
    let done = std::fs::read_to_string(&layout.done_marker).is_ok_and(|text| text == marker);
    if done {
        eprintln!(
            "{} is already prepared; verifying only (delete {} to redo the preparation)",
            config.root.display(),
            layout.done_marker.display()
        );
    } else {
        prepare(&config, &layout, &pool)?;
    }

    eprintln!("verifying");
    let report = verify::verify(&layout, config.expected, &pool).with_context(|| {
        if done {
            format!(
                "the prepared dataset is damaged; delete {} and run again to repair it",
                layout.done_marker.display()
            )
        } else {
            "verification failed".to_owned()
        }
    })?;
    if !done {
        std::fs::write(&layout.done_marker, marker)
            .with_context(|| format!("cannot write {}", layout.done_marker.display()))?;
    }
    println!("{}", report.counts);
    println!(
        "ok: {} images with labels in {}",
        report.checked,
        layout.voc.display()
    );
    Ok(())
}

/// Steps 1 to 4.
fn prepare(config: &Config, layout: &Layout, pool: &rayon::ThreadPool) -> Result<()> {
    let voc_archive = obtain(&config.voc, config.voc_tar.as_deref(), config, layout)?;
    let sbd_archive = obtain(&config.sbd, config.sbd_tgz.as_deref(), config, layout)?;

    for (path, kind) in [
        (&voc_archive, extract::Kind::Voc),
        (&sbd_archive, extract::Kind::Sbd),
    ] {
        eprintln!("extracting {}", path.display());
        let stats = extract::extract(path, kind, &config.root)?;
        eprintln!(
            "  {} files written, {} already there",
            stats.written, stats.skipped
        );
    }

    let voc_train = splits::read_ids(&layout.list("train"))?;
    let voc_val = splits::read_ids(&layout.list("val"))?;
    let sbd_train = splits::read_ids(&layout.sbd.join("train.txt"))?;
    let sbd_val = splits::read_ids(&layout.sbd.join("val.txt"))?;
    let train_aug = splits::train_aug(&sbd_train, &sbd_val, &voc_train, &voc_val);

    let voc_annotated: std::collections::BTreeSet<&String> =
        voc_train.iter().chain(&voc_val).collect();
    // train_aug and val are disjoint, so each id appears once.
    let mut jobs: Vec<(String, sbd::Source)> = train_aug
        .iter()
        .chain(&voc_val)
        .map(|id| {
            let source = if voc_annotated.contains(id) {
                sbd::Source::VocPng(layout.voc_label(id))
            } else {
                sbd::Source::SbdMat(layout.sbd_label(id))
            };
            (id.clone(), source)
        })
        .collect();
    jobs.sort_by(|a, b| a.0.cmp(&b.0));
    eprintln!(
        "writing {} labels to {}",
        jobs.len(),
        layout.aug_dir().display()
    );
    let stats = sbd::convert(&jobs, &layout.aug_dir(), pool)?;
    eprintln!(
        "  {} written, {} already there",
        stats.written, stats.skipped
    );

    if splits::write_ids(&layout.list("train_aug"), &train_aug)? {
        eprintln!(
            "wrote {} ({} ids)",
            layout.list("train_aug").display(),
            train_aug.len()
        );
    }
    Ok(())
}

/// Finds (or downloads) one archive and checks its MD5.
fn obtain(
    spec: &ArchiveSpec,
    local: Option<&Path>,
    config: &Config,
    layout: &Layout,
) -> Result<PathBuf> {
    fetch::obtain(spec, local, config.download, &layout.downloads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_option() {
        assert_eq!(parse_counts("any").unwrap(), None);
        assert_eq!(
            parse_counts("10582,1464,1449").unwrap(),
            Some(Counts::PUBLISHED)
        );
        assert!(parse_counts("1,2").is_err());
        assert!(parse_counts("a,b,c").is_err());
    }
}
