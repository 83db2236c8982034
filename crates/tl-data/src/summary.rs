//! A printable summary of a data set.

use serde::{Deserialize, Serialize};
use std::fmt;
use tl_core::data::LabelledSet;

/// Counts per class, shape, value range and domain of a labelled set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// Where the set comes from.
    pub domain: String,
    /// Number of items.
    pub len: usize,
    /// Shape of one item.
    pub item_shape: Vec<usize>,
    /// `(class name, count)` pairs.
    pub class_counts: Vec<(String, usize)>,
    /// Smallest value.
    pub min: f32,
    /// Largest value.
    pub max: f32,
    /// Mean value.
    pub mean: f32,
}

/// Summarises a set.
pub fn summarise(set: &LabelledSet) -> DataSummary {
    let v = &set.inputs.values;
    // An empty set reports 0 for its range and mean, as it has no values.
    let (min, max) = if v.is_empty() {
        (0.0, 0.0)
    } else {
        v.iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            })
    };
    DataSummary {
        domain: set.domain.clone(),
        len: set.len(),
        item_shape: set.inputs.item_shape.clone(),
        class_counts: set
            .class_names
            .iter()
            .cloned()
            .zip(set.class_counts())
            .collect(),
        min,
        max,
        mean: if v.is_empty() {
            0.0
        } else {
            (v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64) as f32
        },
    }
}

impl fmt::Display for DataSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} items of shape {:?}, values in [{:.3}, {:.3}], mean {:.3}",
            self.domain, self.len, self.item_shape, self.min, self.max, self.mean
        )?;
        let counts: Vec<String> = self
            .class_counts
            .iter()
            .map(|(name, n)| format!("{name}: {n}"))
            .collect();
        write!(
            f,
            "  {} classes: {}",
            self.class_counts.len(),
            counts.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_the_digits() {
        let s = summarise(&crate::digits().unwrap());
        assert_eq!(s.len, 1797);
        assert_eq!((s.min, s.max), (0.0, 1.0));
        assert_eq!(s.class_counts[0], ("0".to_string(), 178));
        let text = s.to_string();
        assert!(
            text.starts_with("digits: 1797 items of shape [1, 8, 8]"),
            "{text}"
        );
        assert!(text.contains("10 classes: 0: 178, 1: 182"), "{text}");
        let empty = summarise(&crate::digits().unwrap().select(&[]));
        assert_eq!(
            (empty.len, empty.min, empty.max, empty.mean),
            (0, 0.0, 0.0, 0.0)
        );
    }
}
