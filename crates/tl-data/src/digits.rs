//! The 1,797 8x8 handwritten digits that scikit-learn ships, embedded: data with no files.
//!
//! `data/digits.csv.gz` is scikit-learn's own copy (BSD-3, notice in `data/LICENSE-digits`):
//! 64 pixel counts in 0..=16 then the label on each line. Pixels are scaled to [0, 1].

use crate::error::{DataError, Result};
use crate::text::record_line;
use std::io::Read;
use tl_core::data::{Inputs, LabelledSet};

const DIGITS_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");
const SOURCE: &str = "embedded digits.csv.gz";

/// Number of items in the embedded digits.
pub const DIGITS_LEN: usize = 1797;

/// The embedded digits: item shape `[1, 8, 8]`, values in [0, 1], classes `"0"`..`"9"`.
pub fn digits() -> Result<LabelledSet> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .map_err(|e| DataError::Parse {
            source_name: SOURCE.into(),
            line: None,
            reason: format!("cannot decompress: {e}"),
        })?;
    parse_digits_csv(&text, SOURCE)
}

/// Parses scikit-learn's digits CSV layout (64 values in 0..=16, then a label 0..=9).
pub fn parse_digits_csv(text: &str, source_name: &str) -> Result<LabelledSet> {
    let mut values = Vec::with_capacity(DIGITS_LEN * 64);
    let mut labels = Vec::with_capacity(DIGITS_LEN);
    let fail = |line: usize, reason: String| DataError::Parse {
        source_name: source_name.into(),
        line: Some(line),
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    for record in reader.records() {
        let fields = record.map_err(|e| fail(record_line(text, e.position()), e.to_string()))?;
        let line = record_line(text, fields.position());
        if fields.len() == 1 && fields[0].is_empty() {
            continue; // a line of blanks
        }
        if fields.len() != 65 {
            return Err(fail(line, format!("{} fields, expected 65", fields.len())));
        }
        for f in fields.iter().take(64) {
            let v: f32 = f
                .parse()
                .map_err(|_| fail(line, format!("pixel `{f}` is not a number")))?;
            if !(0.0..=16.0).contains(&v) {
                return Err(fail(line, format!("pixel {v} outside 0..=16")));
            }
            values.push(v / 16.0);
        }
        let label: usize = fields[64]
            .parse()
            .map_err(|_| fail(line, format!("label `{}` is not a digit", &fields[64])))?;
        if label > 9 {
            return Err(fail(line, format!("label {label} outside 0..=9")));
        }
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(DataError::Parse {
            source_name: source_name.into(),
            line: None,
            reason: "no rows".into(),
        });
    }
    let class_names = (0..10).map(|d| d.to_string()).collect();
    Ok(LabelledSet::new(
        Inputs::new(vec![1, 8, 8], values)?,
        labels,
        class_names,
        "digits",
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_digits_have_the_published_counts() {
        let d = digits().unwrap();
        assert_eq!(d.len(), DIGITS_LEN);
        assert_eq!(d.inputs.item_shape, vec![1, 8, 8]);
        // scikit-learn's documented class counts for load_digits()
        assert_eq!(
            d.class_counts(),
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
        );
        let max = d.inputs.values.iter().cloned().fold(0.0f32, f32::max);
        assert_eq!(max, 1.0);
    }

    #[test]
    fn embedded_digits_are_each_line_split_at_its_commas() {
        // The csv reader against the plainest reading of the file: the same values and labels.
        let mut text = String::new();
        flate2::read::GzDecoder::new(DIGITS_GZ)
            .read_to_string(&mut text)
            .unwrap();
        let (mut values, mut labels) = (Vec::new(), Vec::new());
        for line in text.lines() {
            let fields: Vec<f32> = line.split(',').map(|f| f.parse().unwrap()).collect();
            values.extend(fields[..64].iter().map(|v| v / 16.0));
            labels.push(fields[64] as usize);
        }
        let d = digits().unwrap();
        assert_eq!(d.labels, labels);
        assert_eq!(d.inputs.values, values);
    }

    #[test]
    fn malformed_rows_name_the_line() {
        let ok = format!("{}0\n", "0,".repeat(64));
        assert!(parse_digits_csv(&ok, "t").is_ok());
        let short = format!("{ok}1,2,3\n");
        let err = parse_digits_csv(&short, "t").unwrap_err().to_string();
        assert_eq!(err, "t, line 2: 3 fields, expected 65");
        let bad = format!("{}11\n", "0,".repeat(64));
        let err = parse_digits_csv(&bad, "t").unwrap_err().to_string();
        assert!(err.contains("label 11 outside"), "{err}");
        let nan = format!("x,{}0\n", "0,".repeat(63));
        assert!(
            parse_digits_csv(&nan, "t")
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        assert!(parse_digits_csv("", "t").is_err());
        // Blank lines and spaces around a value are skipped, and the line count goes on.
        let spaced = format!("\n   \n{}0 \n{}x\n", " 0,".repeat(64), "0,".repeat(64));
        let err = parse_digits_csv(&spaced, "t").unwrap_err().to_string();
        assert_eq!(err, "t, line 4: label `x` is not a digit");
    }
}
