//! COCO's binary masks, computed exactly as pycocotools computes them.
//!
//! No maintained Rust crate implements COCO's mask API, and the algorithms
//! are small and fully specified by pycocotools' `common/maskApi.c`, so they
//! are written here: [`from_polygon`] is `rleFrPoly` (vertices scaled by 5
//! and rounded, edges walked on that grid, the crossings of pixel columns
//! kept and sorted into runs), [`from_bbox`] is `rleFrBbox`, [`decode_string`]
//! and [`encode_string`] are `rleFrString`/`rleToString` (the LEB128-like
//! text form of compressed RLE), and an uncompressed RLE's counts are used as
//! they are. Every mask is an [`Rle`]: run lengths over the pixels in
//! column-major order (pycocotools' Fortran order), starting with a run of
//! zeros. The tests compare against masks pycocotools made
//! (`tests/fixtures/coco/make_fixtures.py`).

use anyhow::{bail, Result};
#[cfg(test)]
use std::path::Path;

/// A run-length encoded binary mask of `height` x `width` pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rle {
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Alternating runs of 0s and 1s over the pixels in column-major order,
    /// the first a run of 0s (possibly empty).
    pub counts: Vec<u32>,
}

impl Rle {
    /// The mask from an uncompressed RLE's counts, which must cover the
    /// `height * width` pixels exactly.
    pub fn from_counts(height: u32, width: u32, counts: Vec<u32>) -> Result<Rle> {
        let rle = Rle {
            height,
            width,
            counts,
        };
        rle.check_total()?;
        Ok(rle)
    }

    fn check_total(&self) -> Result<()> {
        let total: u64 = self.counts.iter().map(|&c| u64::from(c)).sum();
        let pixels = u64::from(self.height) * u64::from(self.width);
        if total != pixels {
            bail!(
                "its RLE counts sum to {total}, but a {}x{} mask has {pixels} pixels",
                self.width,
                self.height
            );
        }
        Ok(())
    }

    /// Calls `paint(first, len)` for each run of 1s, `first` a column-major
    /// pixel index.
    pub fn for_each_run(&self, mut paint: impl FnMut(usize, usize)) {
        let mut at = 0usize;
        for (i, &count) in self.counts.iter().enumerate() {
            let count = count as usize;
            if i % 2 == 1 && count > 0 {
                paint(at, count);
            }
            at += count;
        }
    }

    /// The mask as 0/1 bytes in row-major order.
    #[cfg(test)]
    pub fn to_row_major(&self) -> Vec<u8> {
        let (h, w) = (self.height as usize, self.width as usize);
        let mut out = vec![0u8; h * w];
        self.for_each_run(|first, len| {
            for index in first..first + len {
                out[(index % h) * w + index / h] = 1;
            }
        });
        out
    }
}

/// `rleFrPoly`: the mask of the polygon with vertices `xy` (x0, y0, x1, y1,
/// ...; a trailing odd coordinate is ignored, as pycocotools ignores it) in
/// an image of `height` x `width`. Parts outside the image are clipped the
/// way pycocotools clips them (columns outside dropped, rows clamped).
pub fn from_polygon(xy: &[f64], height: u32, width: u32) -> Rle {
    const SCALE: f64 = 5.0;
    let k = xy.len() / 2;
    let h = height as i32;
    // Vertices on the 5x grid, closed; `(int)(scale * v + .5)` truncates
    // toward zero in C, as `as i32` does.
    let mut x: Vec<i32> = (0..k).map(|j| (SCALE * xy[2 * j] + 0.5) as i32).collect();
    let mut y: Vec<i32> = (0..k)
        .map(|j| (SCALE * xy[2 * j + 1] + 0.5) as i32)
        .collect();
    if k == 0 {
        return Rle {
            height,
            width,
            counts: vec![height * width],
        };
    }
    x.push(x[0]);
    y.push(y[0]);

    // Dense points along every edge.
    let mut u: Vec<i32> = Vec::new();
    let mut v: Vec<i32> = Vec::new();
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let dx = (xe - xs).abs();
        let dy = (ys - ye).abs();
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        let s = if dx >= dy {
            f64::from(ye - ys) / f64::from(dx)
        } else {
            f64::from(xe - xs) / f64::from(dy)
        };
        if dx >= dy {
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                u.push(t + xs);
                v.push((f64::from(ys) + s * f64::from(t) + 0.5) as i32);
            }
        } else {
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                v.push(t + ys);
                u.push((f64::from(xs) + s * f64::from(t) + 0.5) as i32);
            }
        }
    }

    // Points where the boundary crosses a pixel column, back on the pixel grid.
    let mut a: Vec<u32> = Vec::new();
    for j in 1..u.len() {
        if u[j] == u[j - 1] {
            continue;
        }
        let xd = (f64::from(u[j].min(u[j - 1])) + 0.5) / SCALE - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > f64::from(width) - 1.0 {
            continue;
        }
        let mut yd = (f64::from(v[j].min(v[j - 1])) + 0.5) / SCALE - 0.5;
        if yd < 0.0 {
            yd = 0.0;
        } else if yd > f64::from(height) {
            yd = f64::from(height);
        }
        let yd = yd.ceil();
        // `(uint)(x * (int)h + y)` in C.
        a.push((xd as i32).wrapping_mul(h).wrapping_add(yd as i32) as u32);
    }
    a.push(height.wrapping_mul(width));
    a.sort_unstable();
    let mut previous = 0u32;
    for value in &mut a {
        let t = *value;
        *value = value.wrapping_sub(previous);
        previous = t;
    }
    // Empty runs merge their neighbours.
    let mut counts = Vec::with_capacity(a.len());
    let mut j = 0;
    counts.push(a[j]);
    j += 1;
    while j < a.len() {
        if a[j] > 0 {
            counts.push(a[j]);
            j += 1;
        } else {
            j += 1;
            if j < a.len() {
                let last = counts.len() - 1;
                counts[last] = counts[last].wrapping_add(a[j]);
                j += 1;
            }
        }
    }
    Rle {
        height,
        width,
        counts,
    }
}

/// `rleFrBbox`: the box `[x, y, w, h]` as the polygon pycocotools makes of it.
pub fn from_bbox(bbox: [f64; 4], height: u32, width: u32) -> Rle {
    let [x0, y0, bw, bh] = bbox;
    let (x1, y1) = (x0 + bw, y0 + bh);
    from_polygon(&[x0, y0, x0, y1, x1, y1, x1, y0], height, width)
}

/// `rleFrString`: a compressed RLE's counts (COCO's text form).
pub fn decode_string(text: &str, height: u32, width: u32) -> Result<Rle> {
    let bytes = text.as_bytes();
    let mut counts: Vec<i64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let mut x: i64 = 0;
        let mut k = 0u32;
        let mut more = true;
        while more {
            let Some(&byte) = bytes.get(p) else {
                bail!("its compressed RLE ends inside a number");
            };
            if !(48..48 + 64).contains(&byte) {
                bail!(
                    "its compressed RLE has the character {:?}, outside '0'..='o'",
                    char::from(byte)
                );
            }
            if k >= 12 {
                bail!("its compressed RLE has a number too long to be a count");
            }
            let c = i64::from(byte - 48);
            x |= (c & 0x1f) << (5 * k);
            more = c & 0x20 != 0;
            p += 1;
            k += 1;
            if !more && c & 0x10 != 0 {
                x |= -1i64 << (5 * k);
            }
        }
        if counts.len() > 2 {
            x += counts[counts.len() - 2];
        }
        counts.push(x);
    }
    let counts = counts
        .into_iter()
        .map(|c| u32::try_from(c).ok())
        .collect::<Option<Vec<u32>>>();
    let Some(counts) = counts else {
        bail!("its compressed RLE decodes to a negative or huge count");
    };
    Rle::from_counts(height, width, counts)
}

/// `rleToString`: the compressed text form of `rle`'s counts (the tests
/// compare masks in this form).
#[cfg(test)]
pub fn encode_string(rle: &Rle) -> String {
    let mut out = Vec::new();
    for (i, &count) in rle.counts.iter().enumerate() {
        let mut x = i64::from(count);
        if i > 2 {
            x -= i64::from(rle.counts[i - 2]);
        }
        let mut more = true;
        while more {
            let mut c = (x & 0x1f) as u8;
            x >>= 5;
            more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                c |= 0x20;
            }
            out.push(c + 48);
        }
    }
    String::from_utf8(out).expect("ASCII")
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// `tests/fixtures/coco/<name>`, parsed.
    pub fn fixture(name: &str) -> serde_json::Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/coco")
            .join(name);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// The column-major RLE of a row-major 0/1 mask (pycocotools' `encode`).
    pub fn from_row_major(mask: &[u8], height: u32, width: u32) -> Rle {
        let (h, w) = (height as usize, width as usize);
        let mut counts = Vec::new();
        let (mut current, mut run) = (0u8, 0u32);
        for x in 0..w {
            for y in 0..h {
                let value = mask[y * w + x];
                if value == current {
                    run += 1;
                } else {
                    counts.push(run);
                    (current, run) = (value, 1);
                }
            }
        }
        counts.push(run);
        Rle {
            height,
            width,
            counts,
        }
    }

    #[test]
    fn polygons_match_pycocotools() {
        let expected = fixture("expected.json");
        let polygons = expected["polygons"].as_array().unwrap();
        assert_eq!(polygons.len(), 200);
        for (i, case) in polygons.iter().enumerate() {
            let h = case["height"].as_u64().unwrap() as u32;
            let w = case["width"].as_u64().unwrap() as u32;
            let xy: Vec<f64> = case["xy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let rle = from_polygon(&xy, h, w);
            assert_eq!(
                encode_string(&rle),
                case["counts"].as_str().unwrap(),
                "polygon {i} ({w}x{h}): {xy:?}"
            );
            // And the string form decodes back to the same runs.
            let back = decode_string(case["counts"].as_str().unwrap(), h, w).unwrap();
            assert_eq!(back.to_row_major(), rle.to_row_major(), "polygon {i}");
        }
    }

    #[test]
    fn annotations_match_pycocotools() {
        let expected = fixture("expected.json");
        let mut checked = 0;
        for split in ["train", "val"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/fixtures/coco/instances_{split}2014.json"));
            let instances =
                super::super::annotations::read(std::fs::File::open(path).unwrap()).unwrap();
            for annotation in &instances.annotations {
                let case = &expected["annotations"][annotation.id.to_string()];
                let h = case["height"].as_u64().unwrap() as u32;
                let w = case["width"].as_u64().unwrap() as u32;
                // The union of the parts, as pycocotools' merge makes it.
                let mut union = vec![0u8; (h * w) as usize];
                for part in super::super::annotations::annotation_mask(annotation, h, w).unwrap() {
                    for (u, v) in union.iter_mut().zip(part.to_row_major()) {
                        *u |= v;
                    }
                }
                assert_eq!(
                    encode_string(&from_row_major(&union, h, w)),
                    case["counts"].as_str().unwrap(),
                    "annotation {}",
                    annotation.id
                );
                checked += 1;
            }
        }
        assert_eq!(checked, expected["annotations"].as_object().unwrap().len());
    }

    #[test]
    fn square_polygon_fills_its_pixels() {
        // A 2x2 square covering pixels (1..3, 1..3) of a 4x4 image.
        let rle = from_polygon(&[1.0, 1.0, 3.0, 1.0, 3.0, 3.0, 1.0, 3.0], 4, 4);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 0,
            0, 1, 1, 0,
            0, 1, 1, 0,
            0, 0, 0, 0,
        ];
        assert_eq!(rle.to_row_major(), expected);
        assert_eq!(rle.counts, [5, 2, 2, 2, 5]);
    }

    #[test]
    fn string_form_round_trips() {
        let rle = Rle::from_counts(7, 9, vec![0, 5, 30, 2, 1, 25]).unwrap();
        let text = encode_string(&rle);
        assert_eq!(decode_string(&text, 7, 9).unwrap(), rle);
        assert!(format!("{:#}", decode_string(&text, 7, 8).unwrap_err())
            .contains("sum to 63, but a 8x7 mask has 56 pixels"));
        assert!(decode_string("a b", 1, 1).is_err());
    }
}
