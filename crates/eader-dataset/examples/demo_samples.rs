//! Draws a grid of demo-dataset samples: images on the odd rows, their label
//! maps in VOC colours (void in cream) below them. Writes
//! `assets/demo-samples.png` at the workspace root, or the path given:
//!
//! ```sh
//! cargo run -p eader-dataset --example demo_samples [-- out.png]
//! ```

use std::path::PathBuf;

use eader_dataset::demo::{render_sample, DemoConfig};
use eader_dataset::voc_palette;
use image::{Rgb, RgbImage};

const COLUMNS: u32 = 6;
const ROWS: u32 = 2;
const GAP: u32 = 4;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo-samples.png")
        });
    let cfg = DemoConfig::default();
    let cell = cfg.image_size;
    let palette = voc_palette();
    let width = COLUMNS * (cell + GAP) + GAP;
    let height = ROWS * 2 * (cell + GAP) + GAP;
    let mut grid = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    for k in 0..COLUMNS * ROWS {
        let (img, mask) = render_sample(&cfg, k as usize);
        let x0 = GAP + (k % COLUMNS) * (cell + GAP);
        let y0 = GAP + (k / COLUMNS) * 2 * (cell + GAP);
        for (x, y, p) in img.enumerate_pixels() {
            grid.put_pixel(x0 + x, y0 + y, *p);
            let label = mask.get(x, y);
            grid.put_pixel(x0 + x, y0 + cell + GAP + y, Rgb(palette[label as usize]));
        }
    }
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Best compression keeps the file small (the pixel noise of the images
    // compresses poorly).
    let file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    encoder.set_filter(png::Filter::Adaptive);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(grid.as_raw())?;
    writer.finish()?;
    println!("wrote {}", out.display());
    Ok(())
}
