//! Fit reports and comparisons: a Markdown table for people, CSV and JSON for programs.

use crate::error::{CoreError, Result};
use crate::metrics::Metrics;
use crate::model::ParamCount;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What one epoch of training measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Training accuracy over the epoch's batches (as the model was while it trained); `None`
    /// when a custom loss gave no logits.
    pub train_accuracy: Option<f64>,
    /// Validation loss, when a validation set was given.
    pub valid_loss: Option<f64>,
    /// Validation accuracy, when a validation set was given.
    pub valid_accuracy: Option<f64>,
    /// Learning rate of the base group at the epoch's last step.
    pub lr: f64,
    /// Seconds the epoch took.
    pub seconds: f64,
    /// Further per-epoch figures a strategy monitors (target accuracy, discriminator
    /// accuracy...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

/// What a strategy's `fit` returns beside the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitReport {
    /// Name of the strategy (`"fine-tune"`, `"dann"`...).
    pub strategy: String,
    /// The strategy's configuration, as JSON.
    pub config: serde_json::Value,
    /// Per-epoch history of the last training phase.
    pub history: Vec<EpochRecord>,
    /// Final metrics on the target test set.
    pub metrics: Metrics,
    /// Wall-clock seconds of the whole fit.
    pub wall_time_s: f64,
    /// Trainable and total parameters of the trained model.
    pub params: ParamCount,
    /// The device it ran on.
    pub device: String,
    /// The seed it ran with.
    pub seed: u64,
    /// Further named figures a strategy reports (source accuracy, A-distance...).
    #[serde(default)]
    pub extra: BTreeMap<String, f64>,
}

/// Mean and sample standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// One strategy's results summarised over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// Strategy name.
    pub strategy: String,
    /// Number of runs (seeds).
    pub runs: usize,
    /// Mean target accuracy.
    pub accuracy_mean: f64,
    /// Standard deviation of target accuracy.
    pub accuracy_std: f64,
    /// Mean macro-F1.
    pub macro_f1_mean: f64,
    /// Trainable parameters (of the first run).
    pub trainable_params: usize,
    /// Total parameters (of the first run).
    pub total_params: usize,
    /// Mean wall time in seconds.
    pub wall_time_mean_s: f64,
}

/// How much one strategy gains over a baseline, paired run by run: each of its runs is set
/// against the baseline's run with the same seed (the same data split and, in a transfer
/// comparison, the same pretrained model), which removes the spread the seed causes in both.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedGain {
    /// Mean accuracy difference (strategy minus baseline), as a fraction.
    pub mean: f64,
    /// Sample standard deviation of the differences (0 for one pair).
    pub std: f64,
    /// Pairs where the strategy is strictly ahead.
    pub ahead: usize,
    /// Pairs found (seeds both strategies ran).
    pub pairs: usize,
}

/// A list of reports to set side by side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Every run, in the order they were added.
    pub reports: Vec<FitReport>,
}

/// `text` as one cell of a Markdown table: a `|` in it (a class folder named `a|b`, a row
/// label) is escaped, so that it does not start another column.
pub fn md_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

impl Comparison {
    /// Adds a run.
    pub fn push(&mut self, report: FitReport) {
        self.reports.push(report);
    }

    /// One row per strategy, in first-seen order.
    pub fn summary(&self) -> Vec<SummaryRow> {
        let mut order: Vec<&str> = Vec::new();
        for r in &self.reports {
            if !order.contains(&r.strategy.as_str()) {
                order.push(&r.strategy);
            }
        }
        order
            .into_iter()
            .map(|name| {
                let runs: Vec<&FitReport> =
                    self.reports.iter().filter(|r| r.strategy == name).collect();
                let acc: Vec<f64> = runs.iter().map(|r| r.metrics.accuracy).collect();
                let f1: Vec<f64> = runs.iter().map(|r| r.metrics.macro_f1).collect();
                let wall: Vec<f64> = runs.iter().map(|r| r.wall_time_s).collect();
                let (accuracy_mean, accuracy_std) = mean_std(&acc);
                SummaryRow {
                    strategy: name.to_string(),
                    runs: runs.len(),
                    accuracy_mean,
                    accuracy_std,
                    macro_f1_mean: mean_std(&f1).0,
                    trainable_params: runs[0].params.trainable,
                    total_params: runs[0].params.total,
                    wall_time_mean_s: mean_std(&wall).0,
                }
            })
            .collect()
    }

    /// The gain of `strategy` over `baseline` in target accuracy, paired by seed; `None`
    /// when no seed has a run of both. A seed with several runs of one strategy uses its
    /// first.
    pub fn paired_gain(&self, strategy: &str, baseline: &str) -> Option<PairedGain> {
        let first = |name: &str, seed: u64| {
            self.reports
                .iter()
                .find(|r| r.strategy == name && r.seed == seed)
                .map(|r| r.metrics.accuracy)
        };
        let mut seeds: Vec<u64> = Vec::new();
        for r in self.reports.iter().filter(|r| r.strategy == strategy) {
            if !seeds.contains(&r.seed) {
                seeds.push(r.seed);
            }
        }
        let diffs: Vec<f64> = seeds
            .into_iter()
            .filter_map(|seed| Some(first(strategy, seed)? - first(baseline, seed)?))
            .collect();
        if diffs.is_empty() {
            return None;
        }
        let (mean, std) = mean_std(&diffs);
        Some(PairedGain {
            mean,
            std,
            ahead: diffs.iter().filter(|d| **d > 0.0).count(),
            pairs: diffs.len(),
        })
    }

    /// Every other strategy's [`paired_gain`](Self::paired_gain) over `baseline` as a Markdown
    /// table (points of accuracy), in first-seen order; strategies with no shared seed are
    /// left out.
    pub fn gains_to_markdown(&self, baseline: &str) -> String {
        let mut out = format!(
            "| strategy | gain over {} (points, paired by seed) | ahead on |\n|---|---:|---:|\n",
            md_cell(baseline)
        );
        for row in self.summary() {
            if row.strategy == baseline {
                continue;
            }
            if let Some(g) = self.paired_gain(&row.strategy, baseline) {
                let _ = writeln!(
                    out,
                    "| {} | {:+.2} ± {:.2} | {} of {} |",
                    md_cell(&row.strategy),
                    100.0 * g.mean,
                    100.0 * g.std,
                    g.ahead,
                    g.pairs
                );
            }
        }
        out
    }

    /// The summary as a Markdown table.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| strategy | runs | target accuracy (mean ± std) | macro-F1 | trainable / total params | wall time (s) |\n\
             |---|---:|---:|---:|---:|---:|\n",
        );
        for row in self.summary() {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} % ± {:.2} | {:.3} | {} / {} | {:.2} |",
                md_cell(&row.strategy),
                row.runs,
                100.0 * row.accuracy_mean,
                100.0 * row.accuracy_std,
                row.macro_f1_mean,
                row.trainable_params,
                row.total_params,
                row.wall_time_mean_s
            );
        }
        out
    }

    /// One CSV line per run, after a header line (the `csv` crate: a field is quoted only
    /// when it holds a comma, a quote or a line break, and quotes inside are doubled).
    pub fn to_csv(&self) -> String {
        let mut out = csv::Writer::from_writer(Vec::new());
        let write = |out: &mut csv::Writer<Vec<u8>>, record: &[String]| {
            out.write_record(record)
                .expect("writing CSV to memory cannot fail");
        };
        let header = [
            "strategy",
            "seed",
            "accuracy",
            "macro_f1",
            "trainable_params",
            "total_params",
            "wall_time_s",
            "device",
        ];
        write(&mut out, &header.map(String::from));
        for r in &self.reports {
            write(
                &mut out,
                &[
                    r.strategy.clone(),
                    r.seed.to_string(),
                    format!("{:.6}", r.metrics.accuracy),
                    format!("{:.6}", r.metrics.macro_f1),
                    r.params.trainable.to_string(),
                    r.params.total.to_string(),
                    format!("{:.4}", r.wall_time_s),
                    r.device.clone(),
                ],
            );
        }
        let bytes = out
            .into_inner()
            .expect("flushing CSV to memory cannot fail");
        String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
    }

    /// Every report, as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| CoreError::Format {
            path: "<comparison>".into(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(strategy: &str, seed: u64, acc_truth: &[usize]) -> FitReport {
        let predicted = vec![0; acc_truth.len()];
        FitReport {
            strategy: strategy.into(),
            config: serde_json::json!({"lr": 0.1}),
            history: vec![],
            metrics: Metrics::from_predictions(acc_truth, &predicted, 2),
            wall_time_s: 1.0,
            params: ParamCount {
                trainable: 10,
                total: 20,
            },
            device: "Flex, \"cpu\"".into(),
            seed,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn a_pipe_in_a_name_stays_in_its_cell() {
        let mut c = Comparison::default();
        c.push(report("a | b", 0, &[0, 0]));
        c.push(report("base", 0, &[0, 1]));
        let md = c.to_markdown();
        let line = md.lines().find(|l| l.contains("a \\| b")).unwrap();
        // Six columns: seven unescaped bars.
        let bars = line.matches('|').count() - line.matches("\\|").count();
        assert_eq!(bars, 7, "{line}");
        assert!(c.gains_to_markdown("base").contains("| a \\| b |"));
    }

    #[test]
    fn paired_gain_matches_runs_by_seed() {
        let mut c = Comparison::default();
        // Seed 0: a 1.0, b 0.5; seed 1: a 0.5, b 0.0; seed 2 has only b; seed 3 only a.
        c.push(report("a", 0, &[0, 0]));
        c.push(report("b", 1, &[1, 1]));
        c.push(report("b", 0, &[0, 1]));
        c.push(report("a", 1, &[0, 1]));
        c.push(report("b", 2, &[0, 0]));
        c.push(report("a", 3, &[0, 0]));
        let g = c.paired_gain("a", "b").unwrap();
        assert_eq!(g.pairs, 2);
        assert_eq!(g.ahead, 2);
        assert!((g.mean - 0.5).abs() < 1e-12);
        assert!(g.std.abs() < 1e-12);
        let back = c.paired_gain("b", "a").unwrap();
        assert!((back.mean + 0.5).abs() < 1e-12);
        assert_eq!(back.ahead, 0);
        assert_eq!(c.paired_gain("a", "missing"), None);
        let md = c.gains_to_markdown("b");
        assert!(md.contains("| a | +50.00 ± 0.00 | 2 of 2 |"), "{md}");
        assert!(!md.contains("| b |"), "{md}");
    }

    #[test]
    fn summary_groups_by_strategy_with_mean_and_std() {
        let mut c = Comparison::default();
        c.push(report("a", 0, &[0, 0])); // accuracy 1.0
        c.push(report("b", 0, &[1, 1]));
        c.push(report("a", 1, &[0, 1])); // accuracy 0.5
        let rows = c.summary();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].strategy, "a");
        assert_eq!(rows[0].runs, 2);
        assert!((rows[0].accuracy_mean - 0.75).abs() < 1e-12);
        assert!((rows[0].accuracy_std - (0.125f64).sqrt()).abs() < 1e-12);
        let md = c.to_markdown();
        assert!(md.contains("| a | 2 | 75.00 % ± 35.36 |"), "{md}");
        let csv = c.to_csv();
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.contains("\"Flex, \"\"cpu\"\"\""), "{csv}");
        assert!(
            csv.starts_with(
                "strategy,seed,accuracy,macro_f1,trainable_params,total_params,wall_time_s,device\na,0,1.000000,"
            ),
            "{csv}"
        );
        let back: Comparison = serde_json::from_str(&c.to_json().unwrap()).unwrap();
        assert_eq!(back, c);
    }
}
