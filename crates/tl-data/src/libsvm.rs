//! LIBSVM text files (`label index:value ...`, 1-based indices), and USPS in that layout.

use crate::error::{DataError, Result};
use crate::io::{find_file, read_bytes};
use std::path::Path;
use tl_core::data::{Inputs, LabelledSet};

/// The most values [`parse_libsvm`] will densify (512 MiB of `f32`).
pub const MAX_DENSE_VALUES: usize = 1 << 27;

/// Rows of a LIBSVM file: dense features (missing indices are 0) and the raw labels.
#[derive(Debug, Clone, PartialEq)]
pub struct LibsvmRows {
    /// Number of features per row.
    pub dim: usize,
    /// `rows * dim` values.
    pub values: Vec<f32>,
    /// The label of each row, as written.
    pub labels: Vec<f64>,
}

/// Parses LIBSVM text. With `dim`, indices above it are refused; without, the largest index
/// seen sets the width.
pub fn parse_libsvm(text: &str, source_name: &str, dim: Option<usize>) -> Result<LibsvmRows> {
    let fail = |line: usize, reason: String| DataError::Parse {
        source_name: source_name.to_string(),
        line: Some(line),
        reason,
    };
    let mut rows: Vec<Vec<(usize, f32)>> = Vec::new();
    let mut labels = Vec::new();
    let mut max_index = 0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split_whitespace();
        let label_text = fields.next().unwrap_or("");
        let label: f64 = label_text
            .parse()
            .ok()
            .filter(|l: &f64| l.is_finite())
            .ok_or_else(|| fail(line_no, format!("label `{label_text}` is not a number")))?;
        let mut row = Vec::new();
        let mut last = 0;
        for field in fields {
            let (index, value) = field
                .split_once(':')
                .ok_or_else(|| fail(line_no, format!("`{field}` is not index:value")))?;
            let index: usize = index.parse().map_err(|_| {
                fail(
                    line_no,
                    format!("index `{index}` is not a positive integer"),
                )
            })?;
            if index == 0 || index <= last {
                return Err(fail(
                    line_no,
                    format!("index {index} must be >= 1 and increasing (after {last})"),
                ));
            }
            if let Some(d) = dim
                && index > d
            {
                return Err(fail(
                    line_no,
                    format!("index {index} exceeds the {d} features"),
                ));
            }
            let value: f32 = value
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite())
                .ok_or_else(|| fail(line_no, format!("value `{value}` is not a finite number")))?;
            last = index;
            row.push((index, value));
        }
        max_index = max_index.max(last);
        rows.push(row);
        labels.push(label);
    }
    if rows.is_empty() {
        return Err(DataError::Parse {
            source_name: source_name.to_string(),
            line: None,
            reason: "no rows".into(),
        });
    }
    let dim = dim.unwrap_or(max_index).max(1);
    if rows.len().saturating_mul(dim) > MAX_DENSE_VALUES {
        return Err(DataError::Parse {
            source_name: source_name.to_string(),
            line: None,
            reason: format!(
                "{} rows of {dim} features is too large to hold densely (limit {MAX_DENSE_VALUES} values)",
                rows.len()
            ),
        });
    }
    let mut values = vec![0.0; rows.len() * dim];
    for (r, row) in rows.iter().enumerate() {
        for &(index, value) in row {
            values[r * dim + index - 1] = value;
        }
    }
    Ok(LibsvmRows {
        dim,
        values,
        labels,
    })
}

/// Reads one USPS file (LIBSVM, 256 features in [-1, 1], labels 1..=10 meaning digits 0..=9):
/// item shape `[1, 16, 16]`, pixels rescaled to [0, 1], classes `"0"`..`"9"`.
pub fn load_usps(path: &Path) -> Result<LabelledSet> {
    let name = path.display().to_string();
    let text = String::from_utf8_lossy(&read_bytes(path)?).into_owned();
    let rows = parse_libsvm(&text, &name, Some(256))?;
    let mut labels = Vec::with_capacity(rows.labels.len());
    for (i, &l) in rows.labels.iter().enumerate() {
        if l.fract() != 0.0 || !(1.0..=10.0).contains(&l) {
            return Err(DataError::Parse {
                source_name: name,
                line: None,
                reason: format!("row {}: label {l} is not one of 1..=10", i + 1),
            });
        }
        labels.push(l as usize - 1);
    }
    let values = rows
        .values
        .iter()
        .map(|v| ((v + 1.0) / 2.0).clamp(0.0, 1.0))
        .collect();
    Ok(LabelledSet::new(
        Inputs::new(vec![1, 16, 16], values)?,
        labels,
        (0..10).map(|c| c.to_string()).collect(),
        "usps",
    )?)
}

/// USPS from a folder holding `usps.bz2` (train) and `usps.t.bz2` (test): returns (train, test).
pub fn usps(dir: &Path) -> Result<(LabelledSet, LabelledSet)> {
    let train = load_usps(&find_file(dir, &["usps.bz2", "usps"])?)?;
    let test = load_usps(&find_file(dir, &["usps.t.bz2", "usps.t"])?)?;
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sparse_rows_densely() {
        let r = parse_libsvm("1 1:0.5 3:-1\n# comment\n2 2:2\n", "t", None).unwrap();
        assert_eq!(r.dim, 3);
        assert_eq!(r.values, vec![0.5, 0.0, -1.0, 0.0, 2.0, 0.0]);
        assert_eq!(r.labels, vec![1.0, 2.0]);
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let cases = [
            ("1 1:0.5\nx 1:1\n", "line 2: label `x`"),
            ("1 1-0.5\n", "line 1: `1-0.5` is not index:value"),
            ("1 2:1 1:1\n", "line 1: index 1 must be >= 1 and increasing"),
            ("1 0:1\n", "index 0 must be"),
            ("1 1:nan\n", "value `nan` is not a finite number"),
            ("1 300:1\n", "index 300 exceeds the 256 features"),
            ("\n\n", "no rows"),
        ];
        for (text, expected) in cases {
            let err = parse_libsvm(text, "t", Some(256)).unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_huge_index_is_refused_before_allocating() {
        let err = parse_libsvm("1 4000000000:1\n", "t", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("too large to hold densely"), "{err}");
    }

    #[test]
    fn usps_labels_are_shifted_and_checked() {
        let dir = std::env::temp_dir().join(format!("tl-usps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("u");
        std::fs::write(&p, "1 1:-1 256:1\n10 2:0\n").unwrap();
        let set = load_usps(&p).unwrap();
        assert_eq!(set.labels, vec![0, 9]);
        assert_eq!(set.inputs.item(0)[0], 0.0);
        assert_eq!(set.inputs.item(0)[255], 1.0);
        assert_eq!(set.inputs.item(1)[1], 0.5);
        std::fs::write(&p, "11 1:0\n").unwrap();
        assert!(
            load_usps(&p)
                .unwrap_err()
                .to_string()
                .contains("label 11 is not one of")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
