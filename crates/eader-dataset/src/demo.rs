//! The built-in demo dataset: small synthetic images in exact VOC layout, so
//! `eader train` runs on a fresh machine with no download, through the same
//! reading code as PASCAL VOC.
//!
//! # Design
//! The dataset is meant to test the *method*, not only the plumbing, and to
//! be learnable from scratch by a small network on a CPU in minutes.
//!
//! - **Classes** (up to 6, default 5) are "creatures" named after their face
//!   pattern: `stripes`, `checks`, `dots`, `rings`, `cross`, `diagonal`.
//! - **Every object has two parts**, like a face and a body:
//!   - a *face*: a small disc (about a quarter of the object's area) with a
//!     class-specific two-colour texture (e.g. yellow/black horizontal
//!     stripes, red/white checks). No other class and no background element
//!     uses these textures or colour pairs: the face alone identifies the
//!     class. It is the most discriminative part, so a plain classifier's
//!     attention concentrates on it.
//!   - a larger *body* under the face, whose evidence is weaker: classes come
//!     in pairs sharing a body shape (ellipse for `stripes`/`checks`, rounded
//!     rectangle for `dots`/`rings`, triangle for `cross`/`diagonal`), and the
//!     body hue is drawn around a class centre with a jitter that overlaps
//!     the pair partner's range. The body narrows the class down to about two
//!     candidates, so once the face is erased an adversarial classifier can
//!     still find the class from the body, which is what pushes EADER's
//!     attention from the face into the body.
//! - **1 to `max_objects` objects per image** (default 3), of random classes
//!   (repeats allowed), sizes and positions, overlapping a little at most;
//!   later objects occlude earlier ones.
//! - **Cluttered backgrounds**: a two-colour gradient in muted colours, pixel
//!   noise, and 4–10 flat distractor shapes (discs, rectangles, bars) in
//!   muted colours that never carry a face texture.
//! - **Sizes vary** like VOC's: the longer side is `image_size`, the shorter
//!   75–100 % of it, landscape or portrait.
//! - **Labels** are VOC's: 0 background, class index + 1 for every pixel of
//!   an object (face and body), and a void band (255) `void_width` pixels on
//!   each side of every object boundary, as VOC annotates object borders.
//!   Images are JPEG (quality 90 by default), masks palette PNGs with VOC's
//!   colour map, splits in `ImageSets/Segmentation/{train,val,trainval}.txt`,
//!   class names in `classes.txt`. The part maps (face, body) go to
//!   `SegmentationPart/`, so evaluation can say where the attention goes.
//!
//! Everything is a function of [`DemoConfig`]: the same config writes the
//! same files, whatever the thread count. [`ensure`] generates once into a
//! cache folder and reuses it while the config is unchanged.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::classes::CLASSES_FILE;
use crate::error::{Error, Result};
use crate::label::{encode_palette_png, LabelMap, VOID_LABEL};
use crate::voc::{IMAGES_DIR, MASKS_DIR, SPLITS_DIR};

/// Version of the generator's output; bump when the pictures change, so
/// [`ensure`] regenerates cached copies.
pub const GENERATOR_VERSION: u32 = 2;

/// Folder of the part maps beside `SegmentationClass/` (single-channel index
/// PNGs: [`PART_BACKGROUND`], [`PART_BODY`], [`PART_FACE`], 255 void).
pub const PARTS_DIR: &str = "SegmentationPart";
/// Part map value of background pixels.
pub const PART_BACKGROUND: u8 = 0;
/// Part map value of an object's body (the weakly class-specific part).
pub const PART_BODY: u8 = 1;
/// Part map value of an object's face (the discriminative part).
pub const PART_FACE: u8 = 2;

/// Name of the marker file [`ensure`] writes last into a generated dataset.
pub const MARKER_FILE: &str = "eader-demo.json";

/// Name of the dataset folder [`ensure`] creates in its cache folder.
pub const DATASET_DIR: &str = "eader-demo";

/// Parameters of the demo dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Training images.
    pub n_train: usize,
    /// Validation images.
    pub n_val: usize,
    /// Longer image side in pixels (the shorter is 75–100 % of it); at least 32.
    pub image_size: u32,
    /// Foreground classes, 2..=6.
    pub n_classes: usize,
    /// Most objects per image, 1..=4.
    pub max_objects: usize,
    /// Width of the void band on each side of object boundaries (0 = none).
    pub void_width: u32,
    /// JPEG quality, 1..=100.
    pub jpeg_quality: u8,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            n_train: 400,
            n_val: 100,
            image_size: 96,
            n_classes: 5,
            max_objects: 3,
            void_width: 1,
            jpeg_quality: 90,
        }
    }
}

impl DemoConfig {
    /// Checks the ranges documented on the fields.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(format!("demo dataset: {m}")));
        if self.n_train == 0 || self.n_val == 0 {
            return bad("n_train and n_val must be at least 1".into());
        }
        if self.image_size < 32 || self.image_size > 4096 {
            return bad(format!(
                "image_size {} is outside 32..=4096",
                self.image_size
            ));
        }
        if !(2..=SPECIES.len()).contains(&self.n_classes) {
            return bad(format!("n_classes {} is outside 2..=6", self.n_classes));
        }
        if !(1..=4).contains(&self.max_objects) {
            return bad(format!("max_objects {} is outside 1..=4", self.max_objects));
        }
        if self.jpeg_quality == 0 || self.jpeg_quality > 100 {
            return bad(format!(
                "jpeg_quality {} is outside 1..=100",
                self.jpeg_quality
            ));
        }
        Ok(())
    }

    /// Names of the classes, in label order.
    pub fn class_names(&self) -> Vec<&'static str> {
        SPECIES[..self.n_classes.min(SPECIES.len())]
            .iter()
            .map(|s| s.name)
            .collect()
    }

    /// Id of image `index` (train images first, then val).
    pub fn id(&self, index: usize) -> String {
        format!("demo_{index:06}")
    }
}

#[derive(Clone, Copy)]
enum Texture {
    Stripes,
    Checks,
    Dots,
    Rings,
    Cross,
    Diagonal,
}

#[derive(Clone, Copy, PartialEq)]
enum BodyShape {
    Ellipse,
    RoundedRect,
    Triangle,
}

struct Species {
    name: &'static str,
    texture: Texture,
    colours: [[u8; 3]; 2],
    body: BodyShape,
    /// Centre of the body hue, degrees.
    hue: f32,
}

const SPECIES: [Species; 6] = [
    Species {
        name: "stripes",
        texture: Texture::Stripes,
        colours: [[245, 220, 20], [15, 15, 15]],
        body: BodyShape::Ellipse,
        hue: 20.0,
    },
    Species {
        name: "checks",
        texture: Texture::Checks,
        colours: [[250, 250, 250], [215, 25, 35]],
        body: BodyShape::Ellipse,
        hue: 50.0,
    },
    Species {
        name: "dots",
        texture: Texture::Dots,
        colours: [[20, 225, 235], [205, 25, 185]],
        body: BodyShape::RoundedRect,
        hue: 115.0,
    },
    Species {
        name: "rings",
        texture: Texture::Rings,
        colours: [[125, 235, 35], [20, 25, 150]],
        body: BodyShape::RoundedRect,
        hue: 145.0,
    },
    Species {
        name: "cross",
        texture: Texture::Cross,
        colours: [[255, 140, 10], [105, 35, 165]],
        body: BodyShape::Triangle,
        hue: 215.0,
    },
    Species {
        name: "diagonal",
        texture: Texture::Diagonal,
        colours: [[255, 150, 195], [5, 95, 45]],
        body: BodyShape::Triangle,
        hue: 245.0,
    },
];

/// Hue jitter of bodies around their class centre, degrees (either side).
const HUE_JITTER: f32 = 25.0;

fn hsv(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h = h.rem_euclid(360.0) / 60.0;
    let c = v * s;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [(r + m) * 255.0, (g + m) * 255.0, (b + m) * 255.0]
}

fn muted(rng: &mut ChaCha8Rng) -> [f32; 3] {
    hsv(
        rng.random_range(0.0..360.0),
        rng.random_range(0.0..0.3),
        rng.random_range(0.25..0.85),
    )
}

/// One object to draw: a body and a face, in pixel coordinates.
struct Creature {
    species: usize,
    cx: f32,
    cy: f32,
    /// Body half-width.
    r: f32,
    /// Body half-height as a fraction of `r`.
    aspect: f32,
    colour: [f32; 3],
    face_x: f32,
    face_y: f32,
    face_r: f32,
    /// Texture period in pixels.
    period: f32,
    /// Texture phase offsets.
    phase: (f32, f32),
}

impl Creature {
    fn random(rng: &mut ChaCha8Rng, species: usize, w: f32, h: f32) -> Self {
        let s = w.min(h);
        let r = s * rng.random_range(0.15..0.24);
        let aspect = rng.random_range(0.65..0.9);
        let face_r = r * rng.random_range(0.4..0.48);
        let half_h = r * aspect;
        // Keep the body inside the image and the face (above it) mostly inside.
        let cx = rng.random_range(r..(w - r).max(r + 1.0));
        let top_room = half_h + face_r * 1.2;
        let cy = rng.random_range(top_room..(h - half_h).max(top_room + 1.0));
        let sp = &SPECIES[species];
        let hue = sp.hue + rng.random_range(-HUE_JITTER..HUE_JITTER);
        let colour = hsv(hue, rng.random_range(0.4..0.7), rng.random_range(0.45..0.8));
        let face_x = cx + r * rng.random_range(-0.35..0.35);
        let face_y = cy - half_h * 0.95;
        let period = (face_r * 0.55).max(2.5);
        Self {
            species,
            cx,
            cy,
            r,
            aspect,
            colour,
            face_x,
            face_y,
            face_r,
            period,
            phase: (rng.random_range(0.0..period), rng.random_range(0.0..period)),
        }
    }

    /// Bounding box `(x0, y0, x1, y1)` of body and face.
    fn bbox(&self) -> (f32, f32, f32, f32) {
        let hh = self.r * self.aspect;
        (
            (self.cx - self.r).min(self.face_x - self.face_r),
            self.face_y - self.face_r,
            (self.cx + self.r).max(self.face_x + self.face_r),
            self.cy + hh,
        )
    }

    fn in_body(&self, x: f32, y: f32) -> bool {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let (a, b) = (self.r, self.r * self.aspect);
        match SPECIES[self.species].body {
            BodyShape::Ellipse => (dx / a).powi(2) + (dy / b).powi(2) <= 1.0,
            BodyShape::RoundedRect => {
                let rad = 0.35 * b;
                let qx = (dx.abs() - (a - rad)).max(0.0);
                let qy = (dy.abs() - (b - rad)).max(0.0);
                dx.abs() <= a && dy.abs() <= b && qx * qx + qy * qy <= rad * rad
            }
            BodyShape::Triangle => {
                // Apex at the top centre, base at the bottom.
                let t = (dy + b) / (2.0 * b);
                (0.0..=1.0).contains(&t) && dx.abs() <= a * (0.25 + 0.75 * t)
            }
        }
    }

    fn in_face(&self, x: f32, y: f32) -> bool {
        (x - self.face_x).powi(2) + (y - self.face_y).powi(2) <= self.face_r * self.face_r
    }

    fn face_colour(&self, x: f32, y: f32) -> [f32; 3] {
        let sp = &SPECIES[self.species];
        let (u, v) = (x - self.face_x, y - self.face_y);
        let p = self.period;
        let (pu, pv) = (u + self.phase.0, v + self.phase.1);
        let even = |t: f32| (t / p).floor().rem_euclid(2.0) < 1.0;
        let first = match sp.texture {
            Texture::Stripes => even(pv),
            Texture::Checks => even(pu) == even(pv),
            Texture::Dots => {
                let (gx, gy) = (pu.rem_euclid(p) - p / 2.0, pv.rem_euclid(p) - p / 2.0);
                gx * gx + gy * gy > (0.32 * p) * (0.32 * p)
            }
            Texture::Rings => even((u * u + v * v).sqrt()),
            Texture::Cross => u.abs() > 0.3 * self.face_r && v.abs() > 0.3 * self.face_r,
            Texture::Diagonal => even((pu + pv) * std::f32::consts::FRAC_1_SQRT_2),
        };
        let c = sp.colours[if first { 0 } else { 1 }];
        [c[0] as f32, c[1] as f32, c[2] as f32]
    }

    fn body_colour(&self, y: f32) -> [f32; 3] {
        // Soft vertical shading, lighter on top.
        let t = ((y - self.cy) / (self.r * self.aspect)).clamp(-1.0, 1.0);
        let k = 1.0 - 0.12 * t;
        self.colour.map(|c| c * k)
    }
}

enum Distractor {
    Disc {
        x: f32,
        y: f32,
        r: f32,
    },
    Rect {
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
    },
    Bar {
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        half: f32,
    },
}

impl Distractor {
    fn random(rng: &mut ChaCha8Rng, w: f32, h: f32) -> (Self, [f32; 3]) {
        let s = w.min(h);
        let (x, y) = (rng.random_range(0.0..w), rng.random_range(0.0..h));
        let size = s * rng.random_range(0.04..0.14);
        let shape = match rng.random_range(0..3) {
            0 => Distractor::Disc { x, y, r: size },
            1 => Distractor::Rect {
                x0: x - size,
                y0: y - size * rng.random_range(0.3..1.0),
                x1: x + size,
                y1: y + size * rng.random_range(0.3..1.0),
            },
            _ => {
                let angle: f32 = rng.random_range(0.0..std::f32::consts::PI);
                let len = size * 2.5;
                Distractor::Bar {
                    x0: x,
                    y0: y,
                    x1: x + len * angle.cos(),
                    y1: y + len * angle.sin(),
                    half: rng.random_range(0.8..2.0),
                }
            }
        };
        (shape, muted(rng))
    }

    fn contains(&self, px: f32, py: f32) -> bool {
        match *self {
            Distractor::Disc { x, y, r } => (px - x).powi(2) + (py - y).powi(2) <= r * r,
            Distractor::Rect { x0, y0, x1, y1 } => px >= x0 && px <= x1 && py >= y0 && py <= y1,
            Distractor::Bar {
                x0,
                y0,
                x1,
                y1,
                half,
            } => {
                let (dx, dy) = (x1 - x0, y1 - y0);
                let t = (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
                let (qx, qy) = (x0 + t * dx - px, y0 + t * dy - py);
                qx * qx + qy * qy <= half * half
            }
        }
    }
}

fn image_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(index as u64).to_le_bytes());
    key[16..24].copy_from_slice(b"eaderdmo");
    ChaCha8Rng::from_seed(key)
}

/// Renders demo image `index` (train images are `0..n_train`, val images
/// follow) and its label map, before JPEG compression.
pub fn render_sample(cfg: &DemoConfig, index: usize) -> (RgbImage, LabelMap) {
    let (img, mask, _) = render_sample_with_parts(cfg, index);
    (img, mask)
}

/// [`render_sample`] with the part map `(H, W)`: [`PART_FACE`] on faces,
/// [`PART_BODY`] on bodies, [`PART_BACKGROUND`] elsewhere, and the label
/// map's void band (255) on object boundaries. Written to
/// [`PARTS_DIR`]`/<id>.png` beside `SegmentationClass/`.
pub fn render_sample_with_parts(cfg: &DemoConfig, index: usize) -> (RgbImage, LabelMap, LabelMap) {
    let mut rng = image_rng(cfg.seed, index);
    let long = cfg.image_size;
    let short = ((long as f32) * rng.random_range(0.75..=1.0)).round() as u32;
    let (w, h) = if rng.random_bool(0.7) {
        (long, short)
    } else {
        (short, long)
    };
    let (wf, hf) = (w as f32, h as f32);

    // Background: gradient between two muted colours, then distractors.
    let (c0, c1) = (muted(&mut rng), muted(&mut rng));
    let angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let (ax, ay) = (angle.cos(), angle.sin());
    let n_distractors = rng.random_range(4..=10);
    let distractors: Vec<_> = (0..n_distractors)
        .map(|_| Distractor::random(&mut rng, wf, hf))
        .collect();

    // Objects: random classes, placed with little overlap.
    let n_objects = rng.random_range(1..=cfg.max_objects);
    let mut creatures: Vec<Creature> = Vec::new();
    for _ in 0..n_objects {
        let species = rng.random_range(0..cfg.n_classes);
        for _attempt in 0..30 {
            let c = Creature::random(&mut rng, species, wf, hf);
            let ok = creatures
                .iter()
                .all(|o| overlap_fraction(c.bbox(), o.bbox()) < 0.15);
            if ok {
                creatures.push(c);
                break;
            }
        }
    }
    if creatures.is_empty() {
        let species = rng.random_range(0..cfg.n_classes);
        creatures.push(Creature::random(&mut rng, species, wf, hf));
    }

    let mut img = RgbImage::new(w, h);
    let mut instance = vec![0u8; (w * h) as usize];
    let mut part = vec![PART_BACKGROUND; (w * h) as usize];
    let diag = (wf * wf + hf * hf).sqrt();
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let t = (((px - wf / 2.0) * ax + (py - hf / 2.0) * ay) / diag + 0.5).clamp(0.0, 1.0);
            let mut c = [0f32; 3];
            for k in 0..3 {
                c[k] = c0[k] * (1.0 - t) + c1[k] * t;
            }
            for (d, colour) in &distractors {
                if d.contains(px, py) {
                    c = *colour;
                }
            }
            for (k, cr) in creatures.iter().enumerate() {
                if cr.in_face(px, py) {
                    c = cr.face_colour(px, py);
                    instance[(y * w + x) as usize] = k as u8 + 1;
                    part[(y * w + x) as usize] = PART_FACE;
                } else if cr.in_body(px, py) {
                    c = cr.body_colour(py);
                    instance[(y * w + x) as usize] = k as u8 + 1;
                    part[(y * w + x) as usize] = PART_BODY;
                }
            }
            let noise = rng.random_range(-8.0..8.0);
            img.put_pixel(
                x,
                y,
                Rgb(c.map(|v| (v + noise).round().clamp(0.0, 255.0) as u8)),
            );
        }
    }

    let classes: Vec<u8> = creatures.iter().map(|c| c.species as u8 + 1).collect();
    let mut data: Vec<u8> = instance
        .iter()
        .map(|&i| if i == 0 { 0 } else { classes[i as usize - 1] })
        .collect();
    let vw = cfg.void_width as i64;
    if vw > 0 {
        let (wi, hi) = (w as i64, h as i64);
        for y in 0..hi {
            for x in 0..wi {
                let own = instance[(y * wi + x) as usize];
                let mut border = false;
                'scan: for ny in (y - vw).max(0)..=(y + vw).min(hi - 1) {
                    for nx in (x - vw).max(0)..=(x + vw).min(wi - 1) {
                        if instance[(ny * wi + nx) as usize] != own {
                            border = true;
                            break 'scan;
                        }
                    }
                }
                if border {
                    data[(y * wi + x) as usize] = VOID_LABEL;
                    part[(y * wi + x) as usize] = VOID_LABEL;
                }
            }
        }
    }
    let mask = LabelMap {
        width: w,
        height: h,
        data,
    };
    let parts = LabelMap {
        width: w,
        height: h,
        data: part,
    };
    (img, mask, parts)
}

/// Fraction of the smaller box covered by the intersection.
fn overlap_fraction(a: (f32, f32, f32, f32), b: (f32, f32, f32, f32)) -> f32 {
    let iw = (a.2.min(b.2) - a.0.max(b.0)).max(0.0);
    let ih = (a.3.min(b.3) - a.1.max(b.1)).max(0.0);
    let area = |r: (f32, f32, f32, f32)| (r.2 - r.0) * (r.3 - r.1);
    iw * ih / area(a).min(area(b)).max(1e-6)
}

/// Writes the demo dataset into `root` (created if needed) in VOC layout:
/// `JPEGImages/`, `SegmentationClass/` (palette PNGs),
/// `ImageSets/Segmentation/{train,val,trainval}.txt` and `classes.txt`, and
/// the part maps in [`PARTS_DIR`] (which VOC readers ignore).
/// Open it with [`crate::VocDataset::open`]`(root, "train")`.
pub fn generate(root: &Path, cfg: &DemoConfig) -> Result<()> {
    cfg.validate()?;
    let images = root.join(IMAGES_DIR);
    let masks = root.join(MASKS_DIR);
    let splits = root.join(SPLITS_DIR);
    let parts_dir = root.join(PARTS_DIR);
    for dir in [&images, &masks, &splits, &parts_dir] {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let total = cfg.n_train + cfg.n_val;
    (0..total).into_par_iter().try_for_each(|i| -> Result<()> {
        let (img, mask, parts) = render_sample_with_parts(cfg, i);
        let id = cfg.id(i);
        let path = images.join(format!("{id}.jpg"));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, cfg.jpeg_quality)
            .encode_image(&img)
            .map_err(|e| Error::Decode {
                path: path.clone(),
                kind: "image",
                message: format!("jpeg encoding: {e}"),
            })?;
        std::fs::write(&path, jpeg).map_err(|e| Error::io(&path, e))?;
        let path = parts_dir.join(format!("{id}.png"));
        std::fs::write(&path, encode_palette_png(&parts)?).map_err(|e| Error::io(&path, e))?;
        let path = masks.join(format!("{id}.png"));
        std::fs::write(&path, encode_palette_png(&mask)?).map_err(|e| Error::io(&path, e))
    })?;
    let list =
        |range: std::ops::Range<usize>| -> String { range.map(|i| cfg.id(i) + "\n").collect() };
    for (name, text) in [
        ("train.txt", list(0..cfg.n_train)),
        ("val.txt", list(cfg.n_train..total)),
        ("trainval.txt", list(0..total)),
    ] {
        let path = splits.join(name);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
    }
    let path = root.join(CLASSES_FILE);
    let names: String = cfg.class_names().iter().map(|n| format!("{n}\n")).collect();
    std::fs::write(&path, names).map_err(|e| Error::io(&path, e))
}

#[derive(Serialize, Deserialize, PartialEq)]
struct Marker {
    generator_version: u32,
    config: DemoConfig,
}

/// Environment variable naming the cache folder of the demo dataset.
pub const CACHE_ENV: &str = "EADER_CACHE_DIR";

/// The cache folder of the demo dataset: `$EADER_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/eader`, else `~/.cache/eader`, else `.eader-cache`.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env(CACHE_ENV)
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("eader")))
        .or_else(|| env("HOME").map(|p| p.join(".cache").join("eader")))
        .unwrap_or_else(|| PathBuf::from(".eader-cache"))
}

/// The dataset root a command uses: `root` when given, else the default demo
/// dataset, generated into `cache_dir` on first use (see [`ensure`]).
pub fn root_or_demo(root: Option<&Path>, cache_dir: &Path) -> Result<PathBuf> {
    match root {
        Some(root) => Ok(root.to_path_buf()),
        None => ensure(cache_dir, &DemoConfig::default()),
    }
}

/// The demo dataset for `cfg` under `cache_dir`, generated on first use.
///
/// Returns `cache_dir/eader-demo`. A marker file written last records the
/// generator version and config; when it matches, the folder is reused;
/// otherwise the dataset is generated into a temporary folder next to it
/// and renamed into place, so an interrupted generation never leaves a
/// half-written dataset that looks complete.
pub fn ensure(cache_dir: &Path, cfg: &DemoConfig) -> Result<PathBuf> {
    cfg.validate()?;
    let target = cache_dir.join(DATASET_DIR);
    let wanted = Marker {
        generator_version: GENERATOR_VERSION,
        config: cfg.clone(),
    };
    if marker_matches(&target, &wanted) {
        return Ok(target);
    }
    std::fs::create_dir_all(cache_dir).map_err(|e| Error::io(cache_dir, e))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = cache_dir.join(format!(".{DATASET_DIR}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        generate(&tmp, cfg)?;
        let marker = serde_json::to_string_pretty(&wanted)
            .map_err(|e| Error::InvalidConfig(format!("demo marker: {e}")))?;
        let path = tmp.join(MARKER_FILE);
        std::fs::write(&path, marker).map_err(|e| Error::io(&path, e))?;
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(|e| Error::io(&target, e))?;
        }
        std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))
    })();
    match result {
        Ok(()) => Ok(target),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            // Another process may have finished the same dataset meanwhile.
            if marker_matches(&target, &wanted) {
                Ok(target)
            } else {
                Err(e)
            }
        }
    }
}

fn marker_matches(target: &Path, wanted: &Marker) -> bool {
    std::fs::read_to_string(target.join(MARKER_FILE))
        .ok()
        .and_then(|s| serde_json::from_str::<Marker>(&s).ok())
        .is_some_and(|m| &m == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> DemoConfig {
        DemoConfig {
            n_train: 6,
            n_val: 3,
            image_size: 48,
            ..DemoConfig::default()
        }
    }

    #[test]
    fn render_is_deterministic_and_labelled() {
        let cfg = small();
        for i in 0..20 {
            let (img, mask) = render_sample(&cfg, i);
            let (img2, mask2) = render_sample(&cfg, i);
            assert_eq!(img, img2);
            assert_eq!(mask, mask2);
            assert_eq!(img.dimensions(), (mask.width, mask.height));
            assert_eq!(img.width().max(img.height()), 48);
            let labels = mask.multi_hot(cfg.n_classes);
            assert!(labels.has_foreground(), "image {i} has no object");
            assert!(mask.first_out_of_range(cfg.n_classes).is_none());
            assert!(
                mask.data.contains(&VOID_LABEL),
                "image {i} has no void band"
            );
        }
        let other = DemoConfig {
            seed: 1,
            ..cfg.clone()
        };
        assert_ne!(render_sample(&cfg, 0).0, render_sample(&other, 0).0);
    }

    #[test]
    fn part_maps_split_every_object_into_face_and_body() {
        let cfg = small();
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &cfg).unwrap();
        for i in 0..6 {
            let (_, mask, parts) = render_sample_with_parts(&cfg, i);
            assert_eq!((parts.width, parts.height), (mask.width, mask.height));
            let mut seen = [0usize; 3];
            for (&l, &p) in mask.data.iter().zip(&parts.data) {
                // Void where the labels are void; object parts exactly on objects.
                assert_eq!(l == VOID_LABEL, p == VOID_LABEL, "image {i}");
                if l != VOID_LABEL {
                    assert_eq!(l == 0, p == PART_BACKGROUND, "image {i}");
                    seen[p as usize] += 1;
                }
            }
            assert!(
                seen[PART_FACE as usize] > 0 && seen[PART_BODY as usize] > 0,
                "image {i}"
            );
            // Bodies are the larger part, as the dataset's design says.
            assert!(
                seen[PART_BODY as usize] > seen[PART_FACE as usize],
                "image {i}"
            );
            // Written beside SegmentationClass/ and read back as they were rendered.
            let back = crate::read_label_png(
                &dir.path()
                    .join(PARTS_DIR)
                    .join(format!("{}.png", cfg.id(i))),
            )
            .unwrap();
            assert_eq!(back, parts);
        }
        // VOC readers ignore the folder.
        crate::VocDataset::open(dir.path(), "val").unwrap();
    }

    #[test]
    fn void_band_surrounds_objects() {
        let cfg = DemoConfig {
            void_width: 0,
            ..small()
        };
        let (_, plain) = render_sample(&cfg, 3);
        assert!(!plain.data.contains(&VOID_LABEL));
        let (_, banded) = render_sample(&small(), 3);
        // Every void pixel sits where the plain map has a boundary within 1 px.
        let w = plain.width as i64;
        for (p, &l) in banded.data.iter().enumerate() {
            let (x, y) = (p as i64 % w, p as i64 / w);
            let own = plain.data[p];
            let near_edge = (-1..=1).any(|dy| {
                (-1..=1).any(|dx| {
                    let (nx, ny) = (x + dx, y + dy);
                    nx >= 0
                        && ny >= 0
                        && nx < w
                        && ny < plain.height as i64
                        && plain.data[(ny * w + nx) as usize] != own
                })
            });
            if l == VOID_LABEL {
                assert!(near_edge, "void far from an edge at ({x}, {y})");
            } else {
                assert_eq!(l, own);
            }
        }
    }

    #[test]
    fn bad_configs_are_rejected() {
        for cfg in [
            DemoConfig {
                n_classes: 7,
                ..small()
            },
            DemoConfig {
                n_classes: 1,
                ..small()
            },
            DemoConfig {
                image_size: 8,
                ..small()
            },
            DemoConfig {
                max_objects: 0,
                ..small()
            },
            DemoConfig {
                n_val: 0,
                ..small()
            },
            DemoConfig {
                jpeg_quality: 0,
                ..small()
            },
        ] {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
    }
}
