//! `cargo xtask prepare-coco`: from nothing (or three local archives) to
//! MS-COCO 2014 in the VOC-like layout eader-dataset reads, with 80-class
//! semantic label maps made from the instance annotations.
//!
//! Steps, each safe to interrupt and run again:
//! 1. obtain `train2014.zip`, `val2014.zip`, `annotations_trainval2014.zip`:
//!    local files, copies in `DIR/downloads/`, or with `--download` from the
//!    mirrors in [`sources`], with the machinery prepare-voc uses
//!    ([`crate::fetch`]); check each MD5;
//! 2. per split, read `instances_<split>2014.json` streaming from the zip
//!    ([`annotations`]) and check it against the image zip (every listed
//!    image present, every category known) before writing anything;
//! 3. extract the split's images to `JPEGImages/` ([`zips`]);
//! 4. write `SegmentationClass/<id>.png` for each annotated image, in
//!    parallel ([`semantic`], masks as pycocotools makes them: [`mask`]);
//! 5. write `ImageSets/Segmentation/<split>.txt` (annotated images) and
//!    `<split>_unlabeled.txt` (images without any annotation), and
//!    `classes.txt`;
//! 6. verify everything and print the split sizes.
//!
//! A marker file (`DIR/.eader-prepare-coco.done`, holding the archives'
//! MD5s) records success; with it, a run only verifies.

mod annotations;
mod mask;
mod semantic;
mod sources;
mod zips;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rayon::prelude::*;

use crate::fetch::{self, progress, ArchiveSpec};
use crate::prepare_voc::{labels, splits, verify};
use annotations::Category;

/// Options of `cargo xtask prepare-coco`.
#[derive(clap::Args, Debug)]
pub struct PrepareCocoArgs {
    /// Dataset root. Receives JPEGImages/, SegmentationClass/ (index PNGs,
    /// 0 background, 1..=80 COCO's classes), ImageSets/Segmentation/
    /// ({train,val}.txt, {train,val}_unlabeled.txt), classes.txt and, with
    /// --download, downloads/.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// A local copy of train2014.zip.
    #[arg(long, value_name = "PATH")]
    train_zip: Option<PathBuf>,
    /// A local copy of val2014.zip.
    #[arg(long, value_name = "PATH")]
    val_zip: Option<PathBuf>,
    /// A local copy of annotations_trainval2014.zip.
    #[arg(long, value_name = "PATH")]
    annotations_zip: Option<PathBuf>,
    /// Download the archives not given as files (into DIR/downloads/), trying
    /// known mirrors in turn and resuming partial downloads.
    #[arg(long)]
    download: bool,
    /// Threads converting and checking labels [default: all cores].
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// A mirror of train2014.zip (repeatable, tried in order); replaces the
    /// built-in list and $EADER_COCO_TRAIN_URLS.
    #[arg(long = "train-url", value_name = "URL")]
    train_urls: Vec<String>,
    /// A mirror of val2014.zip (repeatable); replaces the built-in list and
    /// $EADER_COCO_VAL_URLS.
    #[arg(long = "val-url", value_name = "URL")]
    val_urls: Vec<String>,
    /// A mirror of annotations_trainval2014.zip (repeatable); replaces the
    /// built-in list and $EADER_COCO_ANNOTATIONS_URLS.
    #[arg(long = "annotations-url", value_name = "URL")]
    annotations_urls: Vec<String>,
    /// Accept a train2014.zip with this MD5 instead of the published one.
    #[arg(long, value_name = "HEX")]
    train_md5: Option<String>,
    /// Accept a val2014.zip with this MD5 instead of the published one.
    #[arg(long, value_name = "HEX")]
    val_md5: Option<String>,
    /// Accept an annotations zip with this MD5 instead of the published one.
    #[arg(long, value_name = "HEX")]
    annotations_md5: Option<String>,
    /// Annotated images to expect, as TRAIN,VAL, or `any`
    /// [default: 82081,40137, the published ones].
    #[arg(long, value_name = "COUNTS")]
    expect_counts: Option<String>,
}

/// Annotated images per split (those in `train.txt` and `val.txt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    train: usize,
    val: usize,
}

impl Counts {
    /// COCO 2014's images with at least one instance annotation (of 82,783
    /// and 40,504), the split sizes WSSS papers report.
    const PUBLISHED: Counts = Counts {
        train: 82_081,
        val: 40_137,
    };
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "train: {}, val: {}", self.train, self.val)
    }
}

/// The validated options.
struct Config {
    root: PathBuf,
    train: ArchiveSpec,
    val: ArchiveSpec,
    annotations: ArchiveSpec,
    train_zip: Option<PathBuf>,
    val_zip: Option<PathBuf>,
    annotations_zip: Option<PathBuf>,
    download: bool,
    jobs: usize,
    expected: Option<Counts>,
}

impl Config {
    fn new(args: &PrepareCocoArgs) -> Result<Config> {
        fetch::check_md5_options(&[
            (args.train_md5.as_deref(), "--train-md5"),
            (args.val_md5.as_deref(), "--val-md5"),
            (args.annotations_md5.as_deref(), "--annotations-md5"),
        ])?;
        let jobs = fetch::jobs(args.jobs)?;
        Ok(Config {
            root: args.root.clone(),
            train: sources::spec(&sources::TRAIN, &args.train_urls, args.train_md5.as_deref()),
            val: sources::spec(&sources::VAL, &args.val_urls, args.val_md5.as_deref()),
            annotations: sources::spec(
                &sources::ANNOTATIONS,
                &args.annotations_urls,
                args.annotations_md5.as_deref(),
            ),
            train_zip: args.train_zip.clone(),
            val_zip: args.val_zip.clone(),
            annotations_zip: args.annotations_zip.clone(),
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
        crate::fetch::parse_counts(text, &["TRAIN", "VAL"])?.map(|n| Counts {
            train: n[0],
            val: n[1],
        }),
    )
}

/// Paths of the prepared dataset under the root.
struct Layout {
    root: PathBuf,
    downloads: PathBuf,
    done_marker: PathBuf,
}

impl Layout {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            downloads: root.join("downloads"),
            done_marker: root.join(".eader-prepare-coco.done"),
        }
    }

    fn images(&self) -> PathBuf {
        self.root.join("JPEGImages")
    }

    fn labels(&self) -> PathBuf {
        self.root.join("SegmentationClass")
    }

    fn list(&self, name: &str) -> PathBuf {
        self.root
            .join("ImageSets")
            .join("Segmentation")
            .join(format!("{name}.txt"))
    }

    fn classes(&self) -> PathBuf {
        self.root.join("classes.txt")
    }
}

/// The two splits, in the order they are prepared.
const SPLITS: [&str; 2] = ["train", "val"];

/// Runs `cargo xtask prepare-coco`.
pub fn run(args: &PrepareCocoArgs) -> Result<()> {
    let config = Config::new(args)?;
    std::fs::create_dir_all(&config.root)
        .with_context(|| format!("cannot create {}", config.root.display()))?;
    let layout = Layout::new(&config.root);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs)
        .build()
        .context("cannot start worker threads")?;

    let marker = format!(
        "train_md5 {}\nval_md5 {}\nannotations_md5 {}\n",
        config.train.md5, config.val.md5, config.annotations.md5
    );
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
    let (counts, unlabeled) =
        verify_layout(&layout, config.expected, &pool).with_context(|| {
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
    println!("{counts}; without annotations: {unlabeled}");
    println!(
        "ok: {} images with labels in {}",
        counts.train + counts.val,
        layout.root.display()
    );
    Ok(())
}

/// Steps 1 to 5.
fn prepare(config: &Config, layout: &Layout, pool: &rayon::ThreadPool) -> Result<()> {
    let obtain = |spec: &ArchiveSpec, local: &Option<PathBuf>| {
        fetch::obtain(spec, local.as_deref(), config.download, &layout.downloads)
    };
    let annotations_zip = obtain(&config.annotations, &config.annotations_zip)?;
    let train_zip = obtain(&config.train, &config.train_zip)?;
    let val_zip = obtain(&config.val, &config.val_zip)?;

    let mut annotations = zips::Zip::open(&annotations_zip)?;
    let json_files = annotations.files_ending(".json")?;
    let mut categories: Option<Vec<Category>> = None;
    for (split, images_zip) in SPLITS.into_iter().zip([&train_zip, &val_zip]) {
        let json_name = format!("instances_{split}2014.json");
        let Some(&index) = json_files.get(&json_name) else {
            bail!(
                "{} has no {json_name} (annotations/{json_name} in the published archive)",
                annotations_zip.display()
            );
        };
        eprintln!("reading {json_name}");
        let instances = annotations.read_entry(index, |reader| annotations::read(reader))?;
        let order = annotations::label_order(&instances.categories)
            .with_context(|| format!("{json_name}: categories"))?;
        match &categories {
            Some(first) if *first != order => {
                bail!("{json_name} lists other categories than instances_train2014.json")
            }
            Some(_) => {}
            None => categories = Some(order.clone()),
        }
        convert_split(
            split, &json_name, &instances, &order, images_zip, layout, pool,
        )?;
    }

    let categories = categories.unwrap_or_default();
    let mut text: String = categories.iter().map(|c| format!("{}\n", c.name)).collect();
    if text.is_empty() {
        text.push('\n');
    }
    if std::fs::read_to_string(layout.classes()).ok().as_deref() != Some(text.as_str()) {
        fetch::write_atomic(&layout.classes(), text.as_bytes())?;
    }
    Ok(())
}

/// Whether `id` can name files and list entries (what `splits::read_ids` accepts).
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Steps 2 to 5 for one split.
fn convert_split(
    split: &str,
    json_name: &str,
    instances: &annotations::Instances,
    order: &[Category],
    images_zip: &Path,
    layout: &Layout,
    pool: &rayon::ThreadPool,
) -> Result<()> {
    let label_of: HashMap<u64, u8> = order
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, (i + 1) as u8))
        .collect();

    // Check the JSON on its own, then against the zip, before writing anything.
    let mut problems = Vec::new();
    let mut images_by_id = HashMap::new();
    let mut stems = HashSet::new();
    for image in &instances.images {
        let stem = image.file_name.strip_suffix(".jpg").unwrap_or("");
        if !is_id(stem) {
            problems.push(format!(
                "image {}: file name {:?} is not <letters, digits, '_', '-'>.jpg",
                image.id, image.file_name
            ));
        } else if !stems.insert(stem) {
            problems.push(format!("image file {} is listed twice", image.file_name));
        }
        if images_by_id.insert(image.id, image).is_some() {
            problems.push(format!("image id {} is listed twice", image.id));
        }
    }
    for annotation in &instances.annotations {
        if !label_of.contains_key(&annotation.category_id) {
            problems.push(format!(
                "annotation {} has category id {}, which is not among the {} listed categories",
                annotation.id,
                annotation.category_id,
                order.len()
            ));
        }
        if !images_by_id.contains_key(&annotation.image_id) {
            problems.push(format!(
                "annotation {} is for image id {}, which is not listed",
                annotation.id, annotation.image_id
            ));
        }
    }
    let mut zip = zips::Zip::open(images_zip)?;
    let in_zip = zip.files_ending(".jpg")?;
    let mut missing: Vec<&str> = instances
        .images
        .iter()
        .map(|image| image.file_name.as_str())
        .filter(|name| !in_zip.contains_key(*name))
        .collect();
    missing.sort_unstable();
    if let Some(first) = missing.first() {
        problems.push(format!(
            "{} of the {} images listed are missing from {} (first: {first})",
            missing.len(),
            instances.images.len(),
            images_zip.display()
        ));
    }
    if !problems.is_empty() {
        let error = verify::fail_on_problems(&problems, Path::new(json_name)).unwrap_err();
        return Err(error);
    }

    // Extract in the archive's order (front to back).
    let mut entries: Vec<(usize, String)> = instances
        .images
        .iter()
        .map(|image| (in_zip[&image.file_name], image.file_name.clone()))
        .collect();
    entries.sort_unstable();
    eprintln!(
        "extracting {} images from {}",
        entries.len(),
        images_zip.display()
    );
    let (written, skipped) = zip.extract(&entries, &layout.images())?;
    eprintln!("  {written} files written, {skipped} already there");
    drop(zip);

    // Labels, in parallel.
    let by_image = annotations::by_image(&instances.annotations);
    let mut annotated: Vec<(&str, &annotations::Image)> = Vec::new();
    let mut unlabeled: Vec<String> = Vec::new();
    for image in &instances.images {
        let stem = &image.file_name[..image.file_name.len() - 4];
        if by_image.contains_key(&image.id) {
            annotated.push((stem, image));
        } else {
            unlabeled.push(stem.to_owned());
        }
    }
    annotated.sort_unstable_by_key(|(stem, _)| *stem);
    unlabeled.sort_unstable();
    let labels_dir = layout.labels();
    std::fs::create_dir_all(&labels_dir)
        .with_context(|| format!("cannot create {}", labels_dir.display()))?;
    eprintln!(
        "writing {} labels to {}",
        annotated.len(),
        labels_dir.display()
    );
    let bar = progress::items(annotated.len() as u64, format!("labels {split}"));
    let results: Vec<Result<bool>> = pool.install(|| {
        annotated
            .par_iter()
            .map(|(stem, image)| {
                let dest = labels_dir.join(format!("{stem}.png"));
                let result = if dest.is_file() {
                    Ok(false)
                } else {
                    semantic::label_map(image, &by_image[&image.id], &label_of)
                        .and_then(|map| labels::write_gray_png(&dest, &map))
                        .map(|()| true)
                };
                bar.inc(1);
                result
            })
            .collect()
    });
    bar.finish_and_clear();
    let (mut written, mut skipped, mut errors) = (0, 0, Vec::new());
    for result in results {
        match result {
            Ok(true) => written += 1,
            Ok(false) => skipped += 1,
            Err(error) => errors.push(format!("{error:#}")),
        }
    }
    if !errors.is_empty() {
        errors.sort();
        let error = verify::fail_on_problems(&errors, Path::new(json_name)).unwrap_err();
        return Err(error.context(format!(
            "{} of {} labels could not be made",
            errors.len(),
            annotated.len()
        )));
    }
    eprintln!("  {written} written, {skipped} already there");

    let ids: Vec<String> = annotated
        .iter()
        .map(|(stem, _)| (*stem).to_owned())
        .collect();
    std::fs::create_dir_all(layout.root.join("ImageSets").join("Segmentation"))
        .context("cannot create ImageSets/Segmentation")?;
    splits::write_ids(&layout.list(split), &ids)?;
    splits::write_ids(&layout.list(&format!("{split}_unlabeled")), &unlabeled)?;
    Ok(())
}

/// Step 6: split sizes, and every listed id's image and label. Returns the
/// counts and the number of images without annotations.
fn verify_layout(
    layout: &Layout,
    expected: Option<Counts>,
    pool: &rayon::ThreadPool,
) -> Result<(Counts, usize)> {
    let n_classes = splits_len_of_classes(&layout.classes())?;
    let train = splits::read_ids(&layout.list("train"))?;
    let val = splits::read_ids(&layout.list("val"))?;
    let mut unlabeled = splits::read_ids(&layout.list("train_unlabeled"))?;
    unlabeled.extend(splits::read_ids(&layout.list("val_unlabeled"))?);
    let counts = Counts {
        train: train.len(),
        val: val.len(),
    };
    let mut problems = Vec::new();
    if let Some(expected) = expected {
        if counts != expected {
            problems.push(format!("split sizes are {counts}, expected {expected}"));
        }
    }
    for id in &unlabeled {
        let image = layout.images().join(format!("{id}.jpg"));
        if !image.is_file() {
            problems.push(format!("{}: missing image", image.display()));
        }
    }
    let ids: Vec<&String> = train.iter().chain(&val).collect();
    let bar = progress::items(ids.len() as u64, "verify");
    let mut found: Vec<String> = pool.install(|| {
        ids.par_iter()
            .filter_map(|id| {
                let image = layout.images().join(format!("{id}.jpg"));
                let label = layout.labels().join(format!("{id}.png"));
                let problem = verify::check_pair(&image, &label, n_classes)
                    .err()
                    .map(|error| format!("{error:#}"));
                bar.inc(1);
                problem
            })
            .collect()
    });
    bar.finish_and_clear();
    found.sort();
    problems.extend(found);
    verify::fail_on_problems(&problems, &layout.root)?;
    Ok((counts, unlabeled.len()))
}

/// The number of class names in `classes.txt` (1..=254).
fn splits_len_of_classes(path: &Path) -> Result<u8> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let n = text.lines().filter(|line| !line.trim().is_empty()).count();
    match u8::try_from(n) {
        Ok(n) if (1..=254).contains(&n) => Ok(n),
        _ => bail!("{}: {n} class names, expected 1 to 254", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_option() {
        assert_eq!(parse_counts("any").unwrap(), None);
        assert_eq!(
            parse_counts("82081,40137").unwrap(),
            Some(Counts::PUBLISHED)
        );
        assert!(parse_counts("1,2,3").is_err());
    }
}
