//! The neighbourhood of IRN's inter-pixel relations: every offset within a
//! radius, and for each the pixels on the segment between the two ends.
//!
//! IRN (`misc/indexing.py`, `PathIndex.get_all_dir_paths`) enumerates one
//! direction per unordered pair of pixels: `(0, dx)` for `0 < dx < r`, and
//! `(dy, dx)` for `0 < dy < r`, `|dx| < r`, with `dy² + dx² < r²`. A
//! direction's path holds the pixels `(y, x)` of the bounding box of
//! `(0, 0)` and `(dy, dx)` whose distance to the line through them is below
//! one pixel: `(dy·x − dx·y)² < dy² + dx²`. Both ends are on the path.

use crate::error::{Error, Result};

/// One direction: the offset from a pixel to its neighbour and the path between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direction {
    /// Rows from the pixel to the neighbour (≥ 0).
    pub dy: isize,
    /// Columns from the pixel to the neighbour.
    pub dx: isize,
    /// Offsets (from the pixel) of the pixels on the segment, ends included.
    pub path: Vec<(isize, isize)>,
}

/// All directions within a radius, in IRN's order (row 0 first, then by row and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbourhood {
    radius: usize,
    directions: Vec<Direction>,
}

impl Neighbourhood {
    /// The directions within `radius` (IRN: 5 for the random walk, 10 for training
    /// the boundary network); `radius` must be at least 2 (radius 1 has no neighbours).
    pub fn new(radius: usize) -> Result<Self> {
        if radius < 2 {
            return Err(Error::InvalidSetting {
                setting: "radius",
                message: format!("{radius}: must be at least 2"),
            });
        }
        let r = radius as isize;
        let mut offsets: Vec<(isize, isize)> = (1..r).map(|dx| (0, dx)).collect();
        for dy in 1..r {
            for dx in -r + 1..r {
                if dx * dx + dy * dy < r * r {
                    offsets.push((dy, dx));
                }
            }
        }
        let directions = offsets
            .into_iter()
            .map(|(dy, dx)| Direction {
                dy,
                dx,
                path: path(dy, dx),
            })
            .collect();
        Ok(Self { radius, directions })
    }

    /// The radius.
    pub fn radius(&self) -> usize {
        self.radius
    }

    /// One direction per unordered pair of neighbours.
    pub fn directions(&self) -> &[Direction] {
        &self.directions
    }
}

/// The pixels within one pixel of the line from `(0, 0)` to `(dy, dx)`, in
/// their bounding box.
fn path(dy: isize, dx: isize) -> Vec<(isize, isize)> {
    let length_sq = dy * dy + dx * dx;
    let mut out = Vec::new();
    for y in dy.min(0)..=dy.max(0) {
        for x in dx.min(0)..=dx.max(0) {
            let cross = dy * x - dx * y;
            if cross * cross < length_sq {
                out.push((y, x));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radius_5_has_34_directions_68_neighbours() {
        let n = Neighbourhood::new(5).unwrap();
        assert_eq!(n.directions().len(), 34);
        assert_eq!(n.directions()[0].dy, 0);
        assert_eq!((n.directions()[4].dy, n.directions()[4].dx), (1, -4));
        // Every offset within the radius, once in either sign.
        let r = 5isize;
        for dy in -r..=r {
            for dx in -r..=r {
                let inside = dy * dy + dx * dx < r * r && (dy, dx) != (0, 0);
                let found = n
                    .directions()
                    .iter()
                    .filter(|d| (d.dy, d.dx) == (dy, dx) || (d.dy, d.dx) == (-dy, -dx))
                    .count();
                assert_eq!(found, usize::from(inside), "({dy}, {dx})");
            }
        }
        assert_eq!(Neighbourhood::new(10).unwrap().directions().len(), 152);
        assert!(Neighbourhood::new(1).is_err());
    }

    #[test]
    fn paths_by_hand() {
        // (x - 2y)^2 < 5 holds on the whole 2x3 box.
        assert_eq!(path(1, 2), [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
        assert_eq!(path(0, 3), [(0, 0), (0, 1), (0, 2), (0, 3)]);
        // (x + 3y)^2 < 10 on the whole box: short segments cover their box.
        assert_eq!(path(1, -3).len(), 8);
        // (2x - 4y)^2 < 20 drops the box's far corners.
        assert_eq!(
            path(2, 4),
            [
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 0),
                (1, 1),
                (1, 2),
                (1, 3),
                (1, 4),
                (2, 2),
                (2, 3),
                (2, 4)
            ]
        );
        // 9 (x - y)^2 < 18: the diagonal and its neighbours.
        assert_eq!(
            path(3, 3),
            [
                (0, 0),
                (0, 1),
                (1, 0),
                (1, 1),
                (1, 2),
                (2, 1),
                (2, 2),
                (2, 3),
                (3, 2),
                (3, 3)
            ]
        );
    }
}
