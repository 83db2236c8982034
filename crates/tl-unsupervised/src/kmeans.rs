//! Label-free diagnostics: k-means on learned features, scored against labels with cluster
//! purity and normalised mutual information. The labels only score; they never train.

use burn::config::Config;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tl_core::data::{Inputs, LabelledSet};
use tl_core::model::Encoder;
use tl_core::strategy::RunContext;
use tl_core::train::encode_all;
use tl_core::{CoreError, Result};

/// Lloyd's k-means with k-means++ seeding and several restarts (the lowest inertia wins).
#[derive(Config, Debug)]
pub struct KMeans {
    /// Number of clusters.
    pub k: usize,
    /// Restarts from different seedings.
    #[config(default = 4)]
    pub restarts: usize,
    /// Most Lloyd iterations per restart.
    #[config(default = 100)]
    pub max_iter: usize,
    /// Seed of the seedings.
    #[config(default = 0)]
    pub seed: u64,
}

/// A k-means result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clustering {
    /// Cluster of every row.
    pub assignments: Vec<usize>,
    /// `k` centroids, row after row.
    pub centroids: Vec<f32>,
    /// Sum of squared distances of the rows to their centroids.
    pub inertia: f64,
}

impl KMeans {
    /// Refuses bad fields.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(CoreError::config("k", "must be at least 1"));
        }
        if self.restarts == 0 || self.max_iter == 0 {
            return Err(CoreError::config(
                "restarts",
                "restarts and max_iter must be at least 1",
            ));
        }
        Ok(())
    }

    /// Clusters the items of `inputs` (each flattened to a row of `item_size` values).
    pub fn fit(&self, inputs: &Inputs) -> Result<Clustering> {
        self.validate()?;
        let (rows, dim) = (inputs.values.as_slice(), inputs.item_size());
        if dim == 0 || !rows.len().is_multiple_of(dim) {
            return Err(CoreError::data(
                "k-means input",
                format!("{} values are not rows of width {dim}", rows.len()),
            ));
        }
        let n = rows.len() / dim;
        if n < self.k {
            return Err(CoreError::data(
                "k-means input",
                format!("{n} rows cannot make {} clusters", self.k),
            ));
        }
        if let Some(i) = rows.iter().position(|v| !v.is_finite()) {
            return Err(CoreError::data(
                "k-means input",
                format!("row {} holds a non-finite value", i / dim),
            ));
        }
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut best: Option<Clustering> = None;
        for _ in 0..self.restarts {
            let c = self.lloyd(rows, dim, plus_plus(rows, dim, self.k, &mut rng));
            if best.as_ref().is_none_or(|b| c.inertia < b.inertia) {
                best = Some(c);
            }
        }
        Ok(best.expect("restarts >= 1"))
    }

    fn lloyd(&self, rows: &[f32], dim: usize, mut centroids: Vec<f32>) -> Clustering {
        let n = rows.len() / dim;
        let mut assignments = vec![usize::MAX; n];
        let mut inertia = 0.0;
        for _ in 0..self.max_iter {
            let mut changed = false;
            inertia = 0.0;
            for (i, row) in rows.chunks(dim).enumerate() {
                let (c, d) = nearest(row, &centroids, dim);
                inertia += d;
                if assignments[i] != c {
                    assignments[i] = c;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
            let mut sums = vec![0.0f64; self.k * dim];
            let mut counts = vec![0usize; self.k];
            for (row, &c) in rows.chunks(dim).zip(&assignments) {
                counts[c] += 1;
                for (s, &v) in sums[c * dim..(c + 1) * dim].iter_mut().zip(row) {
                    *s += v as f64;
                }
            }
            for c in 0..self.k {
                if counts[c] == 0 {
                    // An empty cluster takes the row farthest from its centroid.
                    let far = rows
                        .chunks(dim)
                        .map(|r| nearest(r, &centroids, dim).1)
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map_or(0, |(i, _)| i);
                    centroids[c * dim..(c + 1) * dim]
                        .copy_from_slice(&rows[far * dim..(far + 1) * dim]);
                    continue;
                }
                for j in 0..dim {
                    centroids[c * dim + j] = (sums[c * dim + j] / counts[c] as f64) as f32;
                }
            }
        }
        Clustering {
            assignments,
            centroids,
            inertia,
        }
    }
}

/// Index and squared distance of the nearest centroid.
fn nearest(row: &[f32], centroids: &[f32], dim: usize) -> (usize, f64) {
    centroids
        .chunks(dim)
        .map(|c| {
            row.iter()
                .zip(c)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
        })
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("k >= 1")
}

/// k-means++ seeding (Arthur and Vassilvitskii 2007): each next centroid is a row drawn with
/// probability proportional to its squared distance to the nearest centroid so far.
fn plus_plus(rows: &[f32], dim: usize, k: usize, rng: &mut StdRng) -> Vec<f32> {
    let n = rows.len() / dim;
    let first = rng.random_range(0..n);
    let mut centroids = rows[first * dim..(first + 1) * dim].to_vec();
    let mut dist: Vec<f64> = rows
        .chunks(dim)
        .map(|r| nearest(r, &centroids, dim).1)
        .collect();
    for _ in 1..k {
        let total: f64 = dist.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            dist.iter()
                .position(|&d| {
                    target -= d;
                    target <= 0.0
                })
                .unwrap_or(n - 1)
        } else {
            rng.random_range(0..n)
        };
        let new = rows[pick * dim..(pick + 1) * dim].to_vec();
        for (d, r) in dist.iter_mut().zip(rows.chunks(dim)) {
            *d = d.min(nearest(r, &new, dim).1);
        }
        centroids.extend(new);
    }
    centroids
}

/// Cluster purity: each cluster votes for its most common label; the fraction of rows whose
/// label won their cluster's vote. 1 for a perfect clustering.
/// Refuses lists of different lengths or no rows.
pub fn purity(assignments: &[usize], labels: &[usize]) -> Result<f64> {
    let table = contingency(assignments, labels)?;
    let hits: usize = table
        .iter()
        .map(|row| row.iter().copied().max().unwrap_or(0))
        .sum();
    Ok(hits as f64 / assignments.len() as f64)
}

/// Normalised mutual information between clusters and labels, `I(C; Y) / ((H(C) + H(Y)) / 2)`
/// (the arithmetic normalisation, scikit-learn's default); 1 when one determines the other,
/// 0 when they are independent. Two single-valued partitions count as identical (1).
/// Refuses lists of different lengths or no rows.
pub fn nmi(assignments: &[usize], labels: &[usize]) -> Result<f64> {
    let n = assignments.len() as f64;
    let table = contingency(assignments, labels)?;
    let rows: Vec<f64> = table
        .iter()
        .map(|r| r.iter().sum::<usize>() as f64)
        .collect();
    let cols: Vec<f64> = (0..table.first().map_or(0, Vec::len))
        .map(|j| table.iter().map(|r| r[j]).sum::<usize>() as f64)
        .collect();
    let entropy = |counts: &[f64]| -> f64 {
        counts
            .iter()
            .filter(|&&c| c > 0.0)
            .map(|&c| -(c / n) * (c / n).ln())
            .sum()
    };
    let (hc, hy) = (entropy(&rows), entropy(&cols));
    if hc == 0.0 && hy == 0.0 {
        return Ok(1.0);
    }
    let mut mi = 0.0;
    for (i, row) in table.iter().enumerate() {
        for (j, &c) in row.iter().enumerate() {
            if c > 0 {
                let c = c as f64;
                mi += c / n * (c * n / (rows[i] * cols[j])).ln();
            }
        }
    }
    Ok((mi / ((hc + hy) / 2.0)).clamp(0.0, 1.0))
}

fn contingency(assignments: &[usize], labels: &[usize]) -> Result<Vec<Vec<usize>>> {
    if assignments.len() != labels.len() || assignments.is_empty() {
        return Err(CoreError::data(
            "clusters",
            format!(
                "{} cluster assignments for {} labels: need one per labelled row, at least one",
                assignments.len(),
                labels.len()
            ),
        ));
    }
    let k = assignments.iter().max().map_or(0, |m| m + 1);
    let c = labels.iter().max().map_or(0, |m| m + 1);
    let mut table = vec![vec![0usize; c]; k];
    for (&a, &l) in assignments.iter().zip(labels) {
        table[a][l] += 1;
    }
    Ok(table)
}

/// How well features cluster by class, without training on a label.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClusterScores {
    /// See [`purity`].
    pub purity: f64,
    /// See [`nmi`].
    pub nmi: f64,
}

/// Encodes `set`, runs k-means with one cluster per class (seeded by the run), and scores the
/// clusters against the set's labels.
pub fn cluster_scores<E: Encoder>(
    encoder: &E,
    set: &LabelledSet,
    ctx: &RunContext<'_>,
) -> Result<ClusterScores> {
    let features = encode_all(encoder, set, ctx.device(), ctx.eval_batch_size())?;
    let features = Inputs::new(vec![encoder.feature_dim()], features)?;
    let clustering = KMeans::new(set.num_classes())
        .with_seed(ctx.seed())
        .fit(&features)?;
    Ok(ClusterScores {
        purity: purity(&clustering.assignments, &set.labels)?,
        nmi: nmi(&clustering.assignments, &set.labels)?,
    })
}
