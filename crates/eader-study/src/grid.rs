//! The grid of a study: alpha values x seeds, each point one training run.

use std::fmt::Display;
use std::str::FromStr;

use crate::error::{Error, Result};

/// One training run of the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Weight of the attention-mining loss.
    pub alpha: f64,
    /// Seed of data order, augmentation and initialisation.
    pub seed: u64,
}

impl Point {
    /// The run's folder name: `alpha-<alpha>-seed-<seed>` (alpha in its
    /// shortest exact decimal form, e.g. `alpha-0.05-seed-1`).
    pub fn name(&self) -> String {
        format!("alpha-{}-seed-{}", self.alpha, self.seed)
    }
}

/// The alpha values and seeds of a study, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Alpha values (distinct, finite, non-negative).
    pub alphas: Vec<f64>,
    /// Seeds (distinct).
    pub seeds: Vec<u64>,
}

impl Grid {
    /// A grid of `alphas` x `seeds`; both lists must be non-empty, without
    /// duplicates, and alphas finite and non-negative.
    pub fn new(alphas: Vec<f64>, seeds: Vec<u64>) -> Result<Self> {
        check_list("alpha", &alphas)?;
        check_list("seeds", &seeds)?;
        if let Some(bad) = alphas.iter().find(|a| !a.is_finite() || **a < 0.0) {
            return Err(Error::InvalidList {
                option: "alpha",
                message: format!("{bad} is not a finite, non-negative weight"),
            });
        }
        Ok(Self { alphas, seeds })
    }

    /// Every point, seed by seed (all alphas of the first seed first), so
    /// that a study stopped half-way already holds whole alpha curves.
    pub fn points(&self) -> Vec<Point> {
        self.seeds
            .iter()
            .flat_map(|&seed| self.alphas.iter().map(move |&alpha| Point { alpha, seed }))
            .collect()
    }
}

/// Parses a comma-separated list given to `--<option>` (e.g. `0,0.01,0.05`):
/// an empty list or entry, an entry that does not parse, or a value given
/// twice is an error naming the option and the entry.
pub fn parse_list<T>(option: &'static str, text: &str) -> Result<Vec<T>>
where
    T: FromStr + PartialEq + Display,
{
    let bad = |message: String| Error::InvalidList { option, message };
    if text.trim().is_empty() {
        return Err(bad("the list is empty".into()));
    }
    let values = text
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(bad(format!("empty entry in `{text}`")));
            }
            entry
                .parse::<T>()
                .map_err(|_| bad(format!("`{entry}` is not a valid value")))
        })
        .collect::<Result<Vec<T>>>()?;
    check_list(option, &values)?;
    Ok(values)
}

fn check_list<T: PartialEq + Display>(option: &'static str, values: &[T]) -> Result<()> {
    if values.is_empty() {
        return Err(Error::InvalidList {
            option,
            message: "the list is empty".into(),
        });
    }
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(Error::InvalidList {
                option,
                message: format!("{v} is given twice"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_and_bad_lists_name_the_entry() {
        assert_eq!(
            parse_list::<f64>("alpha", "0, 0.01,0.05 ,0.1").unwrap(),
            [0.0, 0.01, 0.05, 0.1]
        );
        assert_eq!(parse_list::<u64>("seeds", "2,0,1").unwrap(), [2, 0, 1]);
        let err = |r: Result<Vec<f64>>| r.unwrap_err().to_string();
        assert_eq!(err(parse_list("alpha", " ")), "--alpha: the list is empty");
        assert_eq!(
            err(parse_list("alpha", "0,,1")),
            "--alpha: empty entry in `0,,1`"
        );
        assert_eq!(
            err(parse_list("alpha", "0,x")),
            "--alpha: `x` is not a valid value"
        );
        // The same number written twice is a duplicate.
        assert_eq!(
            err(parse_list("alpha", "0.05,0.050")),
            "--alpha: 0.05 is given twice"
        );
        let e = parse_list::<u64>("seeds", "1,-1").unwrap_err().to_string();
        assert_eq!(e, "--seeds: `-1` is not a valid value");
        let e = Grid::new(vec![0.0, -0.5], vec![0]).unwrap_err().to_string();
        assert!(
            e.contains("-0.5 is not a finite, non-negative weight"),
            "{e}"
        );
        let e = Grid::new(vec![0.0], vec![]).unwrap_err().to_string();
        assert_eq!(e, "--seeds: the list is empty");
    }

    #[test]
    fn points_go_seed_by_seed_and_name_their_folder() {
        let g = Grid::new(vec![0.0, 0.05], vec![3, 1]).unwrap();
        let names: Vec<String> = g.points().iter().map(Point::name).collect();
        assert_eq!(
            names,
            [
                "alpha-0-seed-3",
                "alpha-0.05-seed-3",
                "alpha-0-seed-1",
                "alpha-0.05-seed-1"
            ]
        );
        assert_eq!(
            Point {
                alpha: 1e-5,
                seed: 0
            }
            .name(),
            "alpha-0.00001-seed-0"
        );
    }
}
