//! Disentanglement metrics on a representation (one code vector per sample) against the
//! ground-truth factors that generated the samples (one discrete index per factor), computed
//! as `disentanglement_lib` (Locatello et al. 2019) computes them, on the host.
//!
//! - [`mig`]: Mutual Information Gap (Chen et al. 2018). Each code is discretised into 20
//!   equal-width bins over its range (NumPy's `histogram` edges, `digitize`), the mutual
//!   information of every (code, factor) pair is computed in nats from their joint counts,
//!   and the gap between a factor's two most informative codes is divided by the factor's
//!   entropy; MIG is the mean over factors. disentanglement_lib uses 10,000 samples.
//! - [`sap`]: Separated Attribute Predictability (Kumar et al. 2018). For every (code,
//!   factor) pair a linear SVM on that single code (one-vs-rest, squared hinge, `C = 0.01`,
//!   balanced class weights, intercept penalised as liblinear does: sklearn's `LinearSVC`)
//!   is scored on held-out samples; SAP is the mean over factors of the gap between the two
//!   best codes. disentanglement_lib: 10,000 training and 5,000 test samples.
//! - [`dci`]: Disentanglement, Completeness, Informativeness (Eastwood and Williams 2018). An
//!   importance matrix `R[code][factor]` from a tree ensemble predicting each factor from all
//!   codes; disentanglement is `1 - H_K(R[i, :])` per code (entropy in base K factors),
//!   weighted by the code's share of the total importance; completeness is `1 - H_D(R[:, j])`
//!   per factor (base D codes), weighted likewise; informativeness is the ensemble's test
//!   accuracy. disentanglement_lib uses gradient-boosted trees (sklearn defaults); this crate
//!   uses a random forest (Eastwood and Williams's own estimator): both give impurity-based
//!   importances normalised per factor, and a forest needs no learning-rate schedule to
//!   tune. 10,000 training and 5,000 test samples in disentanglement_lib.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tl_core::{CoreError, Result};

/// Codes and factors of the same samples: `codes[i]` is sample `i`'s representation,
/// `factors[i]` its ground-truth factor indices.
#[derive(Debug, Clone, Copy)]
pub struct Samples<'a> {
    /// One code vector per sample, all of one width.
    codes: &'a [Vec<f32>],
    /// One factor-index vector per sample, all of one width.
    factors: &'a [Vec<usize>],
}

/// The largest factor index taken: factors are indices into each factor's list of values
/// (0, 1, 2, ...), and the metrics keep counts per index.
pub const MAX_FACTOR_INDEX: usize = 1 << 20;

impl<'a> Samples<'a> {
    /// Pairs codes and factors, refusing empty, ragged, mismatched or non-finite input.
    pub fn new(codes: &'a [Vec<f32>], factors: &'a [Vec<usize>]) -> Result<Self> {
        let refuse = |why: String| Err(CoreError::data("disentanglement metric", why));
        if codes.is_empty() {
            return refuse("no samples".into());
        }
        if codes.len() != factors.len() {
            return refuse(format!(
                "{} code vectors but {} factor vectors",
                codes.len(),
                factors.len()
            ));
        }
        let (d, k) = (codes[0].len(), factors[0].len());
        if d == 0 || k == 0 {
            return refuse(format!(
                "codes of width {d}, factors of width {k}: need at least 1 each"
            ));
        }
        if let Some(i) = codes.iter().position(|c| c.len() != d) {
            return refuse(format!(
                "sample {i} has {} codes, sample 0 has {d}",
                codes[i].len()
            ));
        }
        if let Some(i) = factors.iter().position(|f| f.len() != k) {
            return refuse(format!(
                "sample {i} has {} factors, sample 0 has {k}",
                factors[i].len()
            ));
        }
        if let Some(i) = codes.iter().position(|c| c.iter().any(|v| !v.is_finite())) {
            return refuse(format!("sample {i} has a non-finite code"));
        }
        for (i, f) in factors.iter().enumerate() {
            if let Some((j, v)) = f.iter().enumerate().find(|(_, v)| **v > MAX_FACTOR_INDEX) {
                return refuse(format!(
                    "factor {j} of sample {i} is {v}: factors are indices of their values \
                     (0, 1, 2, ...; at most {MAX_FACTOR_INDEX}), so raw ids need renumbering"
                ));
            }
        }
        Ok(Self { codes, factors })
    }

    /// The code vectors, one per sample.
    pub fn codes(&self) -> &'a [Vec<f32>] {
        self.codes
    }

    /// The factor-index vectors, one per sample.
    pub fn factors(&self) -> &'a [Vec<usize>] {
        self.factors
    }

    /// Codes per sample.
    pub fn num_codes(&self) -> usize {
        self.codes[0].len()
    }

    /// Factors per sample.
    pub fn num_factors(&self) -> usize {
        self.factors[0].len()
    }

    fn code(&self, i: usize) -> Vec<f32> {
        self.codes.iter().map(|c| c[i]).collect()
    }

    fn factor(&self, j: usize) -> Vec<usize> {
        self.factors.iter().map(|f| f[j]).collect()
    }
}

/// A code discretised into `bins` equal-width bins over its range, as NumPy's
/// `digitize(x, histogram(x, bins)[1][:-1])` (bins `1..=bins`; a constant code is one bin).
pub fn discretize(values: &[f32], bins: usize) -> Vec<usize> {
    let lo = values.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![1; values.len()];
    }
    let width = (hi as f64 - lo as f64) / bins as f64;
    let edges: Vec<f64> = (0..bins).map(|b| lo as f64 + b as f64 * width).collect();
    values
        .iter()
        .map(|&v| edges.iter().filter(|&&e| e <= v as f64).count())
        .collect()
}

/// Mutual information of two discrete variables, in nats, from their joint counts
/// (sklearn's `mutual_info_score`).
pub fn mutual_info(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    // Counted over the values that occur, renumbered densely: the joint table is as large as
    // the distinct pairs allow, whatever the values themselves are.
    let (a, na) = dense(&a[..n]);
    let (b, nb) = dense(&b[..n]);
    let mut joint = vec![0usize; na * nb];
    let (mut ca, mut cb) = (vec![0usize; na], vec![0usize; nb]);
    for (&x, &y) in a.iter().zip(&b) {
        joint[x * nb + y] += 1;
        ca[x] += 1;
        cb[y] += 1;
    }
    let n = n as f64;
    let mut mi = 0.0;
    for x in 0..na {
        for y in 0..nb {
            let c = joint[x * nb + y];
            if c > 0 {
                let c = c as f64;
                mi += c / n * (c * n / (ca[x] as f64 * cb[y] as f64)).ln();
            }
        }
    }
    mi.max(0.0)
}

/// `values` renumbered 0, 1, ... in the order of their size, and how many distinct there are.
fn dense(values: &[usize]) -> (Vec<usize>, usize) {
    let mut distinct = values.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let index = values
        .iter()
        .map(|v| distinct.binary_search(v).unwrap_or(0))
        .collect();
    (index, distinct.len())
}

/// Entropy of a discrete variable in nats.
pub fn entropy(a: &[usize]) -> f64 {
    mutual_info(a, a)
}

/// Mutual Information Gap with `bins` bins per code (disentanglement_lib: 20): the mean over
/// the factors of [`mig_per_factor`]. Needs two codes or more, and factors that vary (a
/// constant factor has no entropy to divide by and is refused by name).
pub fn mig(samples: Samples, bins: usize) -> Result<f64> {
    let gaps = mig_per_factor(samples, bins)?;
    Ok(gaps.iter().sum::<f64>() / gaps.len().max(1) as f64)
}

/// Each factor's mutual information gap, in the factors' order: the mutual information of
/// the most and the second most informative code with the factor, their difference over the
/// factor's entropy. Which factors a representation has taken apart, and which it has not.
pub fn mig_per_factor(samples: Samples, bins: usize) -> Result<Vec<f64>> {
    if samples.num_codes() < 2 {
        return mig_gaps(&[]);
    }
    mig_gaps(&normalized_mutual_info(samples, bins)?)
}

/// Each factor's gap from a [`normalized_mutual_info`] matrix already computed (one row per
/// code): what [`mig_per_factor`] returns, for callers that keep the matrix too. Fewer than
/// two codes are refused by name.
pub fn mig_gaps(info: &[Vec<f64>]) -> Result<Vec<f64>> {
    if info.len() < 2 {
        return Err(CoreError::data(
            "MIG",
            format!("{} code: the gap needs two codes or more", info.len()),
        ));
    }
    if let Some((i, row)) = info
        .iter()
        .enumerate()
        .find(|(_, r)| r.len() != info[0].len())
    {
        return Err(CoreError::data(
            "MIG",
            format!(
                "code {i} has {} factors and code 0 has {}",
                row.len(),
                info[0].len()
            ),
        ));
    }
    Ok((0..info[0].len())
        .map(|j| {
            let mut mi: Vec<f64> = info.iter().map(|row| row[j]).collect();
            mi.sort_by(|a, b| b.total_cmp(a));
            mi[0] - mi[1]
        })
        .collect())
}

/// The mutual information of every code (rows) with every factor (columns), each code in
/// `bins` equal-width bins as MIG bins it, over the factor's entropy: 1 where a code
/// determines the factor, 0 where it says nothing of it (Chen et al. 2018, figure 4's
/// matrix). A constant factor is refused by name.
pub fn normalized_mutual_info(samples: Samples, bins: usize) -> Result<Vec<Vec<f64>>> {
    if bins < 2 {
        return Err(CoreError::config(
            "bins",
            format!("{bins}: need at least 2"),
        ));
    }
    let mut entropies = Vec::with_capacity(samples.num_factors());
    let mut factors = Vec::with_capacity(samples.num_factors());
    for j in 0..samples.num_factors() {
        let factor = samples.factor(j);
        let h = entropy(&factor);
        if h <= 0.0 {
            return Err(CoreError::data(
                "MIG",
                format!("factor {j} takes one value in these samples: no entropy to divide by"),
            ));
        }
        entropies.push(h);
        factors.push(factor);
    }
    Ok((0..samples.num_codes())
        .map(|i| {
            let code = discretize(&samples.code(i), bins);
            factors
                .iter()
                .zip(&entropies)
                .map(|(f, h)| mutual_info(&code, f) / h)
                .collect()
        })
        .collect())
}

/// One-vs-rest linear SVM on a single feature as sklearn's `LinearSVC(C, class_weight=
/// "balanced")`: squared hinge, `0.5 (w^2 + b^2)` penalised (liblinear treats the intercept
/// as a weight on a constant 1), the positive class's errors weighted by its class weight and
/// the rest's by 1 (liblinear's one-vs-rest), solved by Newton's method on the two
/// parameters.
#[derive(Debug, Clone)]
pub struct LinearSvm1d {
    /// `(w, b)` of each class.
    pub planes: Vec<(f64, f64)>,
}

impl LinearSvm1d {
    /// Fits on `x` with labels `y` in `0..classes`; a label past `classes`, or `x` and `y` of
    /// different lengths or empty, are refused by name.
    pub fn fit(x: &[f32], y: &[usize], classes: usize, c: f64) -> Result<Self> {
        if x.len() != y.len() || x.is_empty() {
            return Err(CoreError::data(
                "linear SVM",
                format!("{} values and {} labels", x.len(), y.len()),
            ));
        }
        if let Some(&l) = y.iter().find(|&&l| l >= classes) {
            return Err(CoreError::data(
                "linear SVM",
                format!("label {l} of {classes} classes"),
            ));
        }
        let n = x.len() as f64;
        let mut counts = vec![0usize; classes];
        for &l in y {
            counts[l] += 1;
        }
        let present = counts.iter().filter(|&&c| c > 0).count().max(1) as f64;
        let weight: Vec<f64> = counts
            .iter()
            .map(|&k| if k > 0 { n / (present * k as f64) } else { 0.0 })
            .collect();
        // liblinear's one-vs-rest weighs the positive class by its weight and the rest by 1;
        // with two classes it solves one problem with each class's weight.
        let binary = |target: usize, weigh_rest: bool| -> (f64, f64) {
            let (mut w, mut b) = (0.0f64, 0.0f64);
            for _ in 0..100 {
                // Gradient and Hessian of 0.5 (w^2 + b^2) + C sum s_i max(0, 1 - t_i (w x_i + b))^2.
                let (mut gw, mut gb) = (w, b);
                let (mut hww, mut hwb, mut hbb) = (1.0, 0.0, 1.0);
                for (&xi, &yi) in x.iter().zip(y) {
                    let t = if yi == target { 1.0 } else { -1.0 };
                    let xi = xi as f64;
                    let margin = 1.0 - t * (w * xi + b);
                    if margin > 0.0 {
                        let w_i = if yi == target || weigh_rest {
                            weight[yi]
                        } else {
                            1.0
                        };
                        let s = 2.0 * c * w_i;
                        gw -= s * margin * t * xi;
                        gb -= s * margin * t;
                        hww += s * xi * xi;
                        hwb += s * xi;
                        hbb += s;
                    }
                }
                let det = hww * hbb - hwb * hwb;
                if det <= 0.0 {
                    break;
                }
                let dw = (hbb * gw - hwb * gb) / det;
                let db = (hww * gb - hwb * gw) / det;
                w -= dw;
                b -= db;
                if dw.abs() < 1e-10 && db.abs() < 1e-10 {
                    break;
                }
            }
            (w, b)
        };
        let planes = if classes == 2 {
            // One problem, as liblinear solves two classes.
            let (w, b) = binary(1, true);
            vec![(-w, -b), (w, b)]
        } else {
            (0..classes).map(|k| binary(k, false)).collect()
        };
        Ok(Self { planes })
    }

    /// The class of `x`: the largest `w x + b`.
    pub fn predict(&self, x: f32) -> usize {
        let x = x as f64;
        self.planes
            .iter()
            .map(|(w, b)| w * x + b)
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(c, _)| c)
    }
}

/// Separated Attribute Predictability. With discrete factors (`continuous: false`, as
/// disentanglement_lib evaluates dSprites), single-code linear SVMs fitted on `train` and
/// scored on `test`; with `continuous: true`, the squared correlation of each code with each
/// factor's index on `train` (test unused), as disentanglement_lib's own sanity test runs it.
pub fn sap(train: Samples, test: Samples, continuous: bool) -> Result<f64> {
    let (d, k) = (train.num_codes(), train.num_factors());
    if test.num_codes() != d || test.num_factors() != k {
        return Err(CoreError::data(
            "SAP",
            "training and test samples differ in code or factor width",
        ));
    }
    if d < 2 {
        return Err(CoreError::data("SAP", "the gap needs two codes or more"));
    }
    let mut total = 0.0;
    for j in 0..k {
        let (ytr, yte) = (train.factor(j), test.factor(j));
        let classes = ytr.iter().chain(&yte).max().map_or(1, |m| m + 1);
        let mut scores: Vec<f64> = (0..d)
            .map(|i| {
                if continuous {
                    return Ok(squared_correlation(&train.code(i), &ytr));
                }
                let svm = LinearSvm1d::fit(&train.code(i), &ytr, classes, 0.01)?;
                let xte = test.code(i);
                let right = xte
                    .iter()
                    .zip(&yte)
                    .filter(|(x, y)| svm.predict(**x) == **y)
                    .count();
                Ok(right as f64 / yte.len() as f64)
            })
            .collect::<Result<_>>()?;
        scores.sort_by(|a, b| b.total_cmp(a));
        total += scores[0] - scores[1];
    }
    Ok(total / k as f64)
}

/// Squared correlation of a code with a factor's index (0 when the code is constant).
fn squared_correlation(x: &[f32], y: &[usize]) -> f64 {
    let n = x.len() as f64;
    let mx = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let my = y.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a as f64 - mx, b as f64 - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if sxx <= 1e-12 * n || syy <= 0.0 {
        0.0
    } else {
        sxy * sxy / (sxx * syy)
    }
}

/// DCI scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Dci {
    /// Disentanglement: each code predicts one factor.
    pub disentanglement: f64,
    /// Completeness: each factor is predicted by one code.
    pub completeness: f64,
    /// Informativeness: the ensemble's test accuracy, averaged over factors.
    pub informativeness: f64,
    /// `importance[code][factor]`, each factor's column summing to 1.
    pub importance: Vec<Vec<f64>>,
}

/// A random forest's settings.
#[derive(Debug, Clone, Copy)]
pub struct Forest {
    /// Trees.
    pub trees: usize,
    /// Depth limit of each tree.
    pub max_depth: usize,
    /// Features tried per split (`None`: all of them, as the gradient-boosted trees of
    /// disentanglement_lib; with a random subset, irrelevant codes win splits where the
    /// relevant one was not drawn and collect importance: measured 0.04 each on the ground
    /// truth, which took D and C to 0.59). They are tried in a random order, so exact ties
    /// (a duplicated code) share the importance.
    pub max_features: Option<usize>,
    /// Seed of the bootstrap samples and feature order.
    pub seed: u64,
}

impl Default for Forest {
    fn default() -> Self {
        Self {
            trees: 20,
            max_depth: 12,
            max_features: None,
            seed: 0,
        }
    }
}

enum Node {
    Leaf(usize),
    Split {
        feature: usize,
        threshold: f32,
        left: Box<Node>,
        right: Box<Node>,
    },
}

impl Node {
    fn predict(&self, x: &[f32]) -> usize {
        match self {
            Node::Leaf(c) => *c,
            Node::Split {
                feature,
                threshold,
                left,
                right,
            } => {
                if x[*feature] <= *threshold {
                    left.predict(x)
                } else {
                    right.predict(x)
                }
            }
        }
    }
}

fn gini(counts: &[usize], n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    1.0 - counts.iter().map(|&c| (c as f64 / n).powi(2)).sum::<f64>()
}

struct TreeBuilder<'a> {
    x: &'a [Vec<f32>],
    y: &'a [usize],
    classes: usize,
    max_depth: usize,
    features_per_split: usize,
    importance: Vec<f64>,
    total: f64,
    rng: StdRng,
}

impl TreeBuilder<'_> {
    fn build(&mut self, items: &mut [usize], depth: usize) -> Node {
        let mut counts = vec![0usize; self.classes];
        for &i in items.iter() {
            counts[self.y[i]] += 1;
        }
        let majority = (0..self.classes)
            .max_by_key(|&c| (counts[c], usize::MAX - c))
            .unwrap_or(0);
        let n = items.len();
        let impurity = gini(&counts, n);
        if depth >= self.max_depth || n < 2 || impurity <= 0.0 {
            return Node::Leaf(majority);
        }
        let d = self.x[0].len();
        let mut features: Vec<usize> = (0..d).collect();
        features.shuffle(&mut self.rng);
        features.truncate(self.features_per_split);
        let mut best: Option<(f64, usize, f32)> = None;
        for &f in &features {
            items.sort_by(|&a, &b| self.x[a][f].total_cmp(&self.x[b][f]));
            // Class counts on each side and their sums of squares, moved one item at a time.
            let mut left = vec![0usize; self.classes];
            let mut right = counts.clone();
            let (mut sl2, mut sr2) = (0.0f64, counts.iter().map(|&c| (c * c) as f64).sum::<f64>());
            for s in 1..n {
                let c = self.y[items[s - 1]];
                sl2 += (2 * left[c] + 1) as f64;
                sr2 -= (2 * right[c] - 1) as f64;
                left[c] += 1;
                right[c] -= 1;
                let (a, b) = (self.x[items[s - 1]][f], self.x[items[s]][f]);
                if a == b {
                    continue;
                }
                let (nl, nr) = (s as f64, (n - s) as f64);
                // n_l * gini_l + n_r * gini_r = n - sl2 / n_l - sr2 / n_r.
                let weighted = (n as f64 - sl2 / nl - sr2 / nr) / n as f64;
                if best.is_none_or(|(w, _, _)| weighted < w) {
                    best = Some((weighted, f, a + (b - a) / 2.0));
                }
            }
        }
        let Some((weighted, feature, threshold)) = best else {
            return Node::Leaf(majority);
        };
        self.importance[feature] += n as f64 / self.total * (impurity - weighted);
        let mut split: Vec<usize> = items.to_vec();
        split.sort_by_key(|&i| self.x[i][feature] > threshold);
        let cut = split.partition_point(|&i| self.x[i][feature] <= threshold);
        let (l, r) = split.split_at_mut(cut);
        let left = self.build(l, depth + 1);
        let right = self.build(r, depth + 1);
        Node::Split {
            feature,
            threshold,
            left: Box::new(left),
            right: Box::new(right),
        }
    }
}

/// A random forest classifier (Gini, bootstrap samples, `max_features` features per split): its test accuracy and its impurity-based feature importances (sklearn's
/// `feature_importances_`: each tree's normalised, then averaged).
pub fn forest_importance(
    x: &[Vec<f32>],
    y: &[usize],
    x_test: &[Vec<f32>],
    y_test: &[usize],
    forest: Forest,
) -> (f64, Vec<f64>) {
    let d = x[0].len();
    let classes = y.iter().chain(y_test).max().map_or(1, |m| m + 1);
    let mut rng = StdRng::seed_from_u64(forest.seed);
    let mut importance = vec![0.0; d];
    let mut trees = Vec::with_capacity(forest.trees);
    for _ in 0..forest.trees.max(1) {
        let mut items: Vec<usize> = (0..x.len()).map(|_| rng.random_range(0..x.len())).collect();
        let mut builder = TreeBuilder {
            x,
            y,
            classes,
            max_depth: forest.max_depth,
            features_per_split: forest.max_features.unwrap_or(d).clamp(1, d),
            importance: vec![0.0; d],
            total: items.len() as f64,
            rng: StdRng::seed_from_u64(rng.random()),
        };
        let tree = builder.build(&mut items, 0);
        let sum: f64 = builder.importance.iter().sum();
        if sum > 0.0 {
            for (t, v) in importance.iter_mut().zip(&builder.importance) {
                *t += v / sum;
            }
        }
        trees.push(tree);
    }
    let sum: f64 = importance.iter().sum();
    if sum > 0.0 {
        importance.iter_mut().for_each(|v| *v /= sum);
    }
    let right = x_test
        .iter()
        .zip(y_test)
        .filter(|(xi, yi)| {
            let mut votes = vec![0usize; classes];
            for t in &trees {
                votes[t.predict(xi)] += 1;
            }
            (0..classes).max_by_key(|&c| (votes[c], usize::MAX - c)) == Some(**yi)
        })
        .count();
    (right as f64 / y_test.len().max(1) as f64, importance)
}

/// Entropy of a distribution in base `base` (terms with `p = 0` left out).
fn entropy_base(p: &[f64], base: usize) -> f64 {
    let sum: f64 = p.iter().sum();
    if sum <= 0.0 || base < 2 {
        return 0.0;
    }
    -p.iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| (v / sum) * (v / sum).ln())
        .sum::<f64>()
        / (base as f64).ln()
}

/// DCI disentanglement, completeness and informativeness from a random forest per factor.
pub fn dci(train: Samples, test: Samples, forest: Forest) -> Result<Dci> {
    let (d, k) = (train.num_codes(), train.num_factors());
    if test.num_codes() != d || test.num_factors() != k {
        return Err(CoreError::data(
            "DCI",
            "training and test samples differ in code or factor width",
        ));
    }
    let mut importance = vec![vec![0.0; k]; d];
    let mut accuracy = 0.0;
    for j in 0..k {
        let (acc, imp) = forest_importance(
            train.codes,
            &train.factor(j),
            test.codes,
            &test.factor(j),
            Forest {
                seed: forest.seed.wrapping_add(j as u64),
                ..forest
            },
        );
        accuracy += acc / k as f64;
        for (row, v) in importance.iter_mut().zip(imp) {
            row[j] = v;
        }
    }
    let total: f64 = importance.iter().flatten().sum();
    let (mut disentanglement, mut completeness) = (0.0, 0.0);
    if total > 0.0 {
        for row in &importance {
            let weight = row.iter().sum::<f64>() / total;
            disentanglement += weight * (1.0 - entropy_base(row, k.max(2)));
        }
        for j in 0..k {
            let column: Vec<f64> = importance.iter().map(|r| r[j]).collect();
            let weight = column.iter().sum::<f64>() / total;
            completeness += weight * (1.0 - entropy_base(&column, d.max(2)));
        }
    }
    Ok(Dci {
        disentanglement,
        completeness,
        informativeness: accuracy,
        importance,
    })
}

/// A representation of samples drawn from given factors: the factor indices of each sample
/// in, one code vector per sample out (render the images, then encode them).
pub type Represent<'f> = dyn FnMut(&[Vec<usize>]) -> Result<Vec<Vec<f32>>> + 'f;

/// `n` factor vectors drawn uniformly from a grid of `sizes`.
pub fn sample_factors(sizes: &[usize], n: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    (0..n)
        .map(|_| {
            sizes
                .iter()
                .map(|&s| rng.random_range(0..s.max(1)))
                .collect()
        })
        .collect()
}

fn check_codes(codes: &[Vec<f32>], n: usize, what: &str) -> Result<usize> {
    if codes.len() != n {
        return Err(CoreError::data(
            what,
            format!(
                "the representation gave {} code vectors for {n} samples",
                codes.len()
            ),
        ));
    }
    let d = codes.first().map_or(0, Vec::len);
    if d == 0
        || codes
            .iter()
            .any(|c| c.len() != d || c.iter().any(|v| !v.is_finite()))
    {
        return Err(CoreError::data(
            what,
            "the representation gave empty, ragged or non-finite codes",
        ));
    }
    Ok(d)
}

fn check_sizes(sizes: &[usize], what: &str) -> Result<()> {
    if sizes.is_empty() || sizes.contains(&0) {
        return Err(CoreError::data(
            what,
            format!("factor sizes {sizes:?}: need at least one factor, each with a value"),
        ));
    }
    Ok(())
}

/// Sample variance of each code (`ddof = 1`).
fn variances(codes: &[Vec<f32>]) -> Vec<f64> {
    let (n, d) = (codes.len() as f64, codes[0].len());
    let mut mean = vec![0.0; d];
    for c in codes {
        for (m, v) in mean.iter_mut().zip(c) {
            *m += *v as f64 / n;
        }
    }
    let mut var = vec![0.0; d];
    for c in codes {
        for ((s, v), m) in var.iter_mut().zip(c).zip(&mean) {
            *s += (*v as f64 - m).powi(2);
        }
    }
    var.iter().map(|s| s / (n - 1.0).max(1.0)).collect()
}

/// Settings of the FactorVAE and BetaVAE scores (disentanglement_lib's defaults).
#[derive(Debug, Clone, Copy)]
pub struct VoteSettings {
    /// Samples per vote (one factor fixed across them).
    pub batch_size: usize,
    /// Votes to train the majority-vote (or linear) classifier.
    pub train: usize,
    /// Votes to score it.
    pub eval: usize,
    /// Samples for the global variances of the codes (FactorVAE score).
    pub variance_samples: usize,
    /// Seed of the factor draws.
    pub seed: u64,
}

impl VoteSettings {
    /// Refuses counts that would score nothing (no votes to fit or to score, fewer than two
    /// samples a vote or for the variances), naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, why: String| Err(CoreError::config(field, why));
        if self.batch_size < 2 {
            return bad(
                "batch_size",
                format!("{} samples a vote: at least 2", self.batch_size),
            );
        }
        if self.train == 0 || self.eval == 0 {
            return bad(
                "votes",
                format!(
                    "{} votes to fit and {} to score: at least 1 each",
                    self.train, self.eval
                ),
            );
        }
        if self.variance_samples < 2 {
            return bad(
                "variance_samples",
                format!(
                    "{} samples for the codes' variances: at least 2",
                    self.variance_samples
                ),
            );
        }
        Ok(())
    }
}

impl Default for VoteSettings {
    fn default() -> Self {
        Self {
            batch_size: 64,
            train: 10_000,
            eval: 5_000,
            variance_samples: 10_000,
            seed: 0,
        }
    }
}

/// FactorVAE score (Kim and Mnih 2018): codes are divided by their global standard
/// deviation; each vote fixes one factor at a random value across `batch_size` samples and
/// names the (active) code of least variance; a majority-vote classifier from code to factor
/// is fitted on `train` votes and scored on `eval` others. With no active code (every code
/// constant) the score is 0, as disentanglement_lib has it.
pub fn factor_vae_score(
    sizes: &[usize],
    represent: &mut Represent,
    s: VoteSettings,
) -> Result<f64> {
    check_sizes(sizes, "FactorVAE score")?;
    s.validate()?;
    let mut rng = StdRng::seed_from_u64(s.seed);
    let global = represent(&sample_factors(sizes, s.variance_samples, &mut rng))?;
    let d = check_codes(&global, s.variance_samples, "FactorVAE score")?;
    let scale: Vec<f64> = variances(&global).iter().map(|v| v.sqrt()).collect();
    let active: Vec<usize> = (0..d).filter(|&i| scale[i] > 0.0).collect();
    if active.is_empty() {
        return Ok(0.0);
    }
    let k = sizes.len();
    let mut vote = |rng: &mut StdRng| -> Result<(usize, usize)> {
        let factor = rng.random_range(0..k);
        let mut factors = sample_factors(sizes, s.batch_size, rng);
        let value = rng.random_range(0..sizes[factor]);
        factors.iter_mut().for_each(|f| f[factor] = value);
        let codes = represent(&factors)?;
        check_codes(&codes, factors.len(), "FactorVAE score")?;
        let normalised: Vec<Vec<f32>> = codes
            .iter()
            .map(|c| {
                c.iter()
                    .zip(&scale)
                    .map(|(v, s)| {
                        if *s > 0.0 {
                            (*v as f64 / s) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let var = variances(&normalised);
        let least = active
            .iter()
            .copied()
            .min_by(|&a, &b| var[a].total_cmp(&var[b]))
            .unwrap_or(0);
        Ok((least, factor))
    };
    let mut votes = vec![vec![0usize; k]; d];
    for _ in 0..s.train {
        let (code, factor) = vote(&mut rng)?;
        votes[code][factor] += 1;
    }
    let classifier: Vec<usize> = votes
        .iter()
        .map(|row| {
            (0..k)
                .max_by_key(|&j| (row[j], usize::MAX - j))
                .unwrap_or(0)
        })
        .collect();
    let mut right = 0usize;
    for _ in 0..s.eval {
        let (code, factor) = vote(&mut rng)?;
        right += usize::from(classifier[code] == factor);
    }
    Ok(right as f64 / s.eval as f64)
}

/// The test accuracy of a linear probe fitted to convergence: multinomial logistic regression
/// on standardised codes (sklearn's `LogisticRegression(C=1)` after a `StandardScaler`, as
/// the BetaVAE score fits), from `train` codes and labels, scored on `test`. The probe to read
/// what a code holds linearly (e.g. the vendor of a drawing from its style code) without an
/// optimiser's schedule deciding the answer.
pub fn logistic_probe(
    train: (&[Vec<f32>], &[usize]),
    test: (&[Vec<f32>], &[usize]),
    classes: usize,
) -> Result<f64> {
    for (name, (x, y)) in [("train", train), ("test", test)] {
        if x.is_empty() || x.len() != y.len() {
            return Err(CoreError::data(
                "logistic probe",
                format!(
                    "{name}: {} codes for {} labels (need as many, at least one)",
                    x.len(),
                    y.len()
                ),
            ));
        }
        let d = train.0[0].len();
        if let Some(r) = x
            .iter()
            .find(|r| r.len() != d || r.iter().any(|v| !v.is_finite()))
        {
            return Err(CoreError::data(
                "logistic probe",
                format!(
                    "{name}: a code of {} values (want {d}, all finite)",
                    r.len()
                ),
            ));
        }
        if let Some(&c) = y.iter().find(|&&c| c >= classes) {
            return Err(CoreError::data(
                "logistic probe",
                format!("{name}: label {c} with {classes} classes"),
            ));
        }
    }
    let wide = |x: &[Vec<f32>]| -> Vec<Vec<f64>> {
        x.iter()
            .map(|r| r.iter().map(|&v| f64::from(v)).collect())
            .collect()
    };
    let x = wide(train.0);
    let predict = logistic_regression(&x, train.1, classes);
    let right = wide(test.0)
        .iter()
        .zip(test.1)
        .filter(|(r, y)| predict(r) == **y)
        .count();
    Ok(right as f64 / test.1.len() as f64)
}

/// Multinomial logistic regression (L2 penalty `1 / (2 C n)` per weight as sklearn's
/// `LogisticRegression(C=1)` scales it, fitted by full-batch gradient descent with
/// standardised features), returning a predictor.
fn logistic_regression(x: &[Vec<f64>], y: &[usize], classes: usize) -> impl Fn(&[f64]) -> usize {
    let (n, d) = (x.len(), x[0].len());
    let mean: Vec<f64> = (0..d)
        .map(|j| x.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let std: Vec<f64> = (0..d)
        .map(|j| {
            let v = x.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n as f64;
            if v > 1e-12 { v.sqrt() } else { 1.0 }
        })
        .collect();
    let z: Vec<Vec<f64>> = x
        .iter()
        .map(|r| {
            r.iter()
                .enumerate()
                .map(|(j, v)| (v - mean[j]) / std[j])
                .collect()
        })
        .collect();
    let mut w = vec![vec![0.0; d + 1]; classes];
    let lambda = 1.0 / n as f64;
    for _ in 0..500 {
        let mut grad = vec![vec![0.0; d + 1]; classes];
        for (r, &label) in z.iter().zip(y) {
            let scores: Vec<f64> = w
                .iter()
                .map(|wc| wc[d] + wc[..d].iter().zip(r).map(|(a, b)| a * b).sum::<f64>())
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = exp.iter().sum();
            for c in 0..classes {
                let g = exp[c] / sum - f64::from(u8::from(c == label));
                for (gj, v) in grad[c][..d].iter_mut().zip(r) {
                    *gj += g * v / n as f64;
                }
                grad[c][d] += g / n as f64;
            }
        }
        for (wc, gc) in w.iter_mut().zip(&grad) {
            for j in 0..=d {
                let penalty = if j < d { lambda * wc[j] } else { 0.0 };
                wc[j] -= 1.0 * (gc[j] + penalty);
            }
        }
    }
    move |r: &[f64]| {
        let z: Vec<f64> = r
            .iter()
            .enumerate()
            .map(|(j, v)| (v - mean[j]) / std[j])
            .collect();
        (0..w.len())
            .map(|c| {
                (
                    c,
                    w[c][d] + w[c][..d].iter().zip(&z).map(|(a, b)| a * b).sum::<f64>(),
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(c, _)| c)
    }
}

/// BetaVAE score (Higgins et al. 2017): each vote draws `batch_size` pairs of samples that
/// share one factor's value, and its feature is the mean absolute difference of the pairs'
/// codes; a linear classifier (multinomial logistic regression) from feature to the fixed
/// factor is fitted on `train` votes and scored on `eval` others.
pub fn beta_vae_score(sizes: &[usize], represent: &mut Represent, s: VoteSettings) -> Result<f64> {
    check_sizes(sizes, "BetaVAE score")?;
    s.validate()?;
    let mut rng = StdRng::seed_from_u64(s.seed);
    let k = sizes.len();
    let mut point = |rng: &mut StdRng| -> Result<(Vec<f64>, usize)> {
        let factor = rng.random_range(0..k);
        let a = sample_factors(sizes, s.batch_size, rng);
        let mut b = sample_factors(sizes, s.batch_size, rng);
        for (x, y) in a.iter().zip(b.iter_mut()) {
            y[factor] = x[factor];
        }
        let (ca, cb) = (represent(&a)?, represent(&b)?);
        let d = check_codes(&ca, a.len(), "BetaVAE score")?;
        check_codes(&cb, b.len(), "BetaVAE score")?;
        let mut feature = vec![0.0; d];
        for (x, y) in ca.iter().zip(&cb) {
            for ((f, u), v) in feature.iter_mut().zip(x).zip(y) {
                *f += (*u as f64 - *v as f64).abs() / a.len() as f64;
            }
        }
        Ok((feature, factor))
    };
    let (mut x, mut y) = (Vec::with_capacity(s.train), Vec::with_capacity(s.train));
    for _ in 0..s.train.max(1) {
        let (f, l) = point(&mut rng)?;
        x.push(f);
        y.push(l);
    }
    let predict = logistic_regression(&x, &y, k);
    let mut right = 0usize;
    for _ in 0..s.eval {
        let (f, l) = point(&mut rng)?;
        right += usize::from(predict(&f) == l);
    }
    Ok(right as f64 / s.eval as f64)
}
