//! Classification metrics computed from predicted and true labels.

use serde::{Deserialize, Serialize};

/// A confusion matrix: `counts[true][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// `counts[t][p]` = items of class `t` predicted as `p`.
    pub counts: Vec<Vec<usize>>,
}

impl ConfusionMatrix {
    /// Tallies predictions against truth for `num_classes` classes; labels outside the range
    /// are ignored (they are refused earlier, when the data set is built).
    pub fn new(truth: &[usize], predicted: &[usize], num_classes: usize) -> Self {
        let mut counts = vec![vec![0; num_classes]; num_classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            if t < num_classes && p < num_classes {
                counts[t][p] += 1;
            }
        }
        Self { counts }
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.counts.len()
    }

    /// Items counted.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Fraction of items on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.num_classes()).map(|i| self.counts[i][i]).sum();
        ratio(correct, self.total())
    }

    /// Recall of each class (`None` for a class with no items).
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: usize = row.iter().sum();
                (n > 0).then(|| ratio(row[i], n))
            })
            .collect()
    }

    /// Unweighted mean of the per-class F1 scores, over the classes present in truth or
    /// predictions.
    pub fn macro_f1(&self) -> f64 {
        let k = self.num_classes();
        let mut sum = 0.0;
        let mut present = 0;
        for c in 0..k {
            let tp = self.counts[c][c];
            let actual: usize = self.counts[c].iter().sum();
            let predicted: usize = (0..k).map(|t| self.counts[t][c]).sum();
            if actual + predicted == 0 {
                continue;
            }
            present += 1;
            sum += 2.0 * tp as f64 / (actual + predicted) as f64;
        }
        if present == 0 {
            0.0
        } else {
            sum / present as f64
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The metrics every evaluation reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Fraction correct.
    pub accuracy: f64,
    /// Macro-averaged F1.
    pub macro_f1: f64,
    /// Recall per class (`None` where the class has no items).
    pub per_class_accuracy: Vec<Option<f64>>,
    /// The confusion matrix.
    pub confusion: ConfusionMatrix,
    /// Mean cross-entropy, when computed.
    pub loss: Option<f64>,
}

impl Metrics {
    /// All metrics from labels.
    pub fn from_predictions(truth: &[usize], predicted: &[usize], num_classes: usize) -> Self {
        Self::from_confusion(ConfusionMatrix::new(truth, predicted, num_classes))
    }

    /// All metrics from a confusion matrix (several evaluations' counts added, say); no loss.
    pub fn from_confusion(confusion: ConfusionMatrix) -> Self {
        Self {
            accuracy: confusion.accuracy(),
            macro_f1: confusion.macro_f1(),
            per_class_accuracy: confusion.per_class_accuracy(),
            confusion,
            loss: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let m = Metrics::from_predictions(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 3);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            m.confusion.counts,
            vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]
        );
        // F1: class 0 = 2*2/(3+2) = 0.8; class 1 = 2*1/(2+2) = 0.5; class 2 = 2*1/(1+2) = 2/3
        let expected = (0.8 + 0.5 + 2.0 / 3.0) / 3.0;
        assert!((m.macro_f1 - expected).abs() < 1e-12);
        assert_eq!(m.per_class_accuracy[1], Some(0.5));
        let empty = Metrics::from_predictions(&[0], &[0], 3);
        assert_eq!(empty.per_class_accuracy[2], None);
        assert!(
            (empty.macro_f1 - 1.0).abs() < 1e-12,
            "absent classes are skipped"
        );
    }
}
