//! Transferability scores: how well a pretrained model's features (or predictions) suit a
//! labelled target sample, computed without fine-tuning.
//!
//! - [`logme`]: LogME (You et al., ICML 2021): the mean per-class log marginal evidence of a
//!   Bayesian linear model on the features, with the authors' fixed-point iteration.
//! - [`leep`]: LEEP (Nguyen et al., ICML 2020): the log expected empirical prediction of the
//!   source classifier's soft outputs through the empirical P(target | source).
//! - [`h_score`]: H-score (Bao et al., ICIP 2019): `tr(cov(f)^+ cov(E[f | y]))`.
//! - [`knn_score`]: leave-one-out k-nearest-neighbour accuracy on the features.
//!
//! Each is checked against an independent NumPy computation
//! (`tests/reference/transferability.py`). Higher is better for all four.

use crate::error::{ModelError, Result};
use burn::tensor::Device;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use tl_core::data::LabelledSet;
use tl_core::model::Encoder;
use tl_core::train::{ClassifierModel, encode_all, map_batches};

fn invalid(reason: String) -> ModelError {
    ModelError::Core(tl_core::CoreError::InvalidData {
        name: "transferability".into(),
        reason,
    })
}

/// Refuses too few items, values that do not make `n` rows of `dim`, and non-finite values;
/// returns the number of classes.
fn check(values: &[f32], dim: usize, labels: &[usize]) -> Result<usize> {
    let n = labels.len();
    if n < 2 || dim == 0 || values.len() != n * dim {
        return Err(invalid(format!(
            "{} feature values for {n} labels of width {dim}: need at least 2 items and n * dim values",
            values.len()
        )));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!(
            "value {} of item {} is not finite",
            values[i],
            i / dim
        )));
    }
    Ok(labels.iter().max().map_or(0, |m| m + 1))
}

/// A score that came out NaN or infinite (degenerate features: all zero, constant) is an
/// error naming the score, not a number to rank by.
fn finite(score: f64, name: &str) -> Result<f64> {
    if score.is_finite() {
        Ok(score)
    } else {
        Err(invalid(format!(
            "{name} is {score}: degenerate features (all zero or constant) or a class with no items"
        )))
    }
}

fn matrix(features: &[f32], n: usize, dim: usize) -> DMatrix<f64> {
    DMatrix::from_row_iterator(n, dim, features.iter().map(|&v| f64::from(v)))
}

/// LogME of `features` (`n * dim` values, row after row) for `labels`.
pub fn logme(features: &[f32], dim: usize, labels: &[usize]) -> Result<f64> {
    let classes = check(features, dim, labels)?;
    let n = labels.len();
    let f = matrix(features, n, dim);
    let eig = SymmetricEigen::new(f.transpose() * &f);
    let s = eig.eigenvalues.map(|v| v.max(0.0));
    let v = eig.eigenvectors;
    let (nf, df) = (n as f64, dim as f64);
    let mut total = 0.0;
    for c in 0..classes {
        let y = DVector::from_iterator(n, labels.iter().map(|&l| f64::from(u8::from(l == c))));
        let tmp = v.transpose() * (f.transpose() * &y);
        let (mut alpha, mut beta) = (1.0f64, 1.0f64);
        let mut lam = alpha / beta;
        let (mut alpha_de, mut beta_de) = (0.0, 0.0);
        for _ in 0..11 {
            let gamma: f64 = s.iter().map(|&si| si / (si + lam)).sum();
            let scaled = DVector::from_iterator(
                dim,
                tmp.iter()
                    .zip(s.iter())
                    .map(|(t, si)| t * beta / (alpha + beta * si)),
            );
            let m = &v * scaled;
            alpha_de = m.dot(&m);
            alpha = gamma / alpha_de;
            let residual = &y - &f * &m;
            beta_de = residual.dot(&residual);
            beta = (nf - gamma) / beta_de;
            let new_lam = alpha / beta;
            if ((new_lam - lam) / lam).abs() < 0.01 {
                break;
            }
            lam = new_lam;
        }
        let evidence = df / 2.0 * alpha.ln() + nf / 2.0 * beta.ln()
            - 0.5 * s.iter().map(|si| (alpha + beta * si).ln()).sum::<f64>()
            - beta / 2.0 * beta_de
            - alpha / 2.0 * alpha_de
            - nf / 2.0 * (2.0 * std::f64::consts::PI).ln();
        total += evidence / nf;
    }
    finite(total / classes as f64, "LogME")
}

/// LEEP of a source classifier's probabilities (`n * source_classes` values) for `labels`.
pub fn leep(probs: &[f32], source_classes: usize, labels: &[usize]) -> Result<f64> {
    let classes = check(probs, source_classes, labels)?;
    let n = labels.len();
    let mut joint = vec![vec![0.0f64; source_classes]; classes];
    for (i, &y) in labels.iter().enumerate() {
        for z in 0..source_classes {
            joint[y][z] += f64::from(probs[i * source_classes + z]) / n as f64;
        }
    }
    let marginal: Vec<f64> = (0..source_classes)
        .map(|z| joint.iter().map(|row| row[z]).sum())
        .collect();
    let mut total = 0.0;
    for (i, &y) in labels.iter().enumerate() {
        let p: f64 = (0..source_classes)
            .filter(|&z| marginal[z] > 0.0)
            .map(|z| joint[y][z] / marginal[z] * f64::from(probs[i * source_classes + z]))
            .sum();
        total += p.max(f64::MIN_POSITIVE).ln();
    }
    Ok(total / n as f64)
}

/// H-score of `features` for `labels` (pseudo-inverse with NumPy's default cut-off scaled to
/// 1e-10 of the largest eigenvalue).
pub fn h_score(features: &[f32], dim: usize, labels: &[usize]) -> Result<f64> {
    let classes = check(features, dim, labels)?;
    let n = labels.len();
    let mut f = matrix(features, n, dim);
    let mean = f.row_mean();
    for mut row in f.row_iter_mut() {
        row -= &mean;
    }
    let cov = f.transpose() * &f / n as f64;
    let mut g = DMatrix::zeros(n, dim);
    for c in 0..classes {
        let members: Vec<usize> = (0..n).filter(|&i| labels[i] == c).collect();
        if members.is_empty() {
            continue;
        }
        let mut class_mean = f.row(members[0]).clone_owned() * 0.0;
        for &i in &members {
            class_mean += f.row(i);
        }
        class_mean /= members.len() as f64;
        for &i in &members {
            g.set_row(i, &class_mean);
        }
    }
    let cov_g = g.transpose() * &g / n as f64;
    let eig = SymmetricEigen::new(cov);
    let largest = eig.eigenvalues.iter().cloned().fold(0.0, f64::max);
    let inv = DVector::from_iterator(
        dim,
        eig.eigenvalues
            .iter()
            .map(|&l| if l > 1e-10 * largest { 1.0 / l } else { 0.0 }),
    );
    let pinv = &eig.eigenvectors * DMatrix::from_diagonal(&inv) * eig.eigenvectors.transpose();
    finite((pinv * cov_g).trace(), "H-score")
}

/// Leave-one-out `k`-nearest-neighbour accuracy (Euclidean; ties to the lower index, votes
/// tied to the smaller label).
pub fn knn_score(features: &[f32], dim: usize, labels: &[usize], k: usize) -> Result<f64> {
    let classes = check(features, dim, labels)?;
    let n = labels.len();
    let k = k.clamp(1, n - 1);
    let row = |i: usize| &features[i * dim..(i + 1) * dim];
    let mut correct = 0;
    for i in 0..n {
        let mut dist: Vec<(f32, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| {
                let d = row(i)
                    .iter()
                    .zip(row(j))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                (d, j)
            })
            .collect();
        dist.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut votes = vec![0usize; classes];
        for &(_, j) in &dist[..k] {
            votes[labels[j]] += 1;
        }
        let best = (0..classes).max_by(|&a, &b| votes[a].cmp(&votes[b]).then(b.cmp(&a)));
        correct += usize::from(best == Some(labels[i]));
    }
    Ok(correct as f64 / n as f64)
}

/// The encoder's features for every item of `set` (inference mode), row after row. Refuses
/// a set of another item shape than the encoder takes.
pub fn features<E: Encoder>(encoder: &E, set: &LabelledSet, device: &Device) -> Result<Vec<f32>> {
    Ok(encode_all(encoder, set, device, 256)?)
}

/// A classifier's softmax outputs for every item of `set` (inference mode), row after row.
/// Refuses a set of another item shape than the model takes.
pub fn probabilities<M: ClassifierModel>(
    model: &M,
    set: &LabelledSet,
    device: &Device,
) -> Result<Vec<f32>> {
    set.inputs.check_fits(&model.input_shape(), &set.domain)?;
    let model = model.valid();
    Ok(map_batches(set, device, 256, |x| {
        burn::tensor::activation::softmax(model.logits(x), 1)
            .into_data()
            .iter::<f32>()
            .collect()
    }))
}

/// Kendall's tau-b between two rankings' scores (ties counted as neither).
pub fn kendall_tau(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (mut concordant, mut discordant, mut ties_a, mut ties_b) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for i in 0..n {
        for j in i + 1..n {
            let (da, db) = (a[i] - a[j], b[i] - b[j]);
            if da == 0.0 && db == 0.0 {
                continue;
            } else if da == 0.0 {
                ties_a += 1.0;
            } else if db == 0.0 {
                ties_b += 1.0;
            } else if da.signum() == db.signum() {
                concordant += 1.0;
            } else {
                discordant += 1.0;
            }
        }
    }
    let denom: f64 =
        ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)).sqrt();
    if denom == 0.0 {
        0.0
    } else {
        (concordant - discordant) / denom
    }
}
