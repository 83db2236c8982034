//! Seeded selections: keep some classes, k labelled items per class, stratified splits.

use crate::error::{DataError, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use tl_core::data::LabelledSet;

/// Two labelled sets with their classes side by side: `b`'s classes after `a`'s, as other
/// classes even where a name is the same (Omniglot's small1 and small2 both have a
/// `Greek/character01`); such a name of `b`'s gets `b`'s domain in front. Items of
/// different shapes are refused.
pub fn classes_side_by_side(a: &LabelledSet, b: &LabelledSet) -> Result<LabelledSet> {
    a.validate()?;
    b.validate()?;
    if a.inputs.item_shape != b.inputs.item_shape {
        return Err(DataError::Request(format!(
            "`{}` has items of {:?}, `{}` of {:?}",
            a.domain, a.inputs.item_shape, b.domain, b.inputs.item_shape
        )));
    }
    let mut values = a.inputs.values.clone();
    values.extend_from_slice(&b.inputs.values);
    let offset = a.num_classes();
    let labels = a
        .labels
        .iter()
        .copied()
        .chain(b.labels.iter().map(|l| l + offset))
        .collect();
    let names = a
        .class_names
        .iter()
        .cloned()
        .chain(b.class_names.iter().map(|n| {
            if a.class_names.contains(n) {
                format!("{}:{n}", b.domain)
            } else {
                n.clone()
            }
        }))
        .collect();
    Ok(LabelledSet::new(
        tl_core::data::Inputs::new(a.inputs.item_shape.clone(), values)?,
        labels,
        names,
        format!("{}+{}", a.domain, b.domain),
    )?)
}

/// Keeps the items of `classes` and relabels them `0..classes.len()` in that order.
pub fn select_classes(set: &LabelledSet, classes: &[usize]) -> Result<LabelledSet> {
    set.validate()?;
    if classes.is_empty() {
        return Err(DataError::Request("no classes to select".into()));
    }
    if let Some((i, c)) = classes
        .iter()
        .enumerate()
        .find(|(i, c)| classes[..*i].contains(c))
    {
        return Err(DataError::Request(format!(
            "class {c} is asked for twice (at {i})"
        )));
    }
    if let Some(c) = classes.iter().find(|c| **c >= set.num_classes()) {
        return Err(DataError::Request(format!(
            "class {c} does not exist in `{}` ({} classes)",
            set.domain,
            set.num_classes()
        )));
    }
    let indices: Vec<usize> = (0..set.len())
        .filter(|&i| classes.contains(&set.labels[i]))
        .collect();
    let mut out = set.select(&indices);
    out.labels = out
        .labels
        .iter()
        .map(|l| classes.iter().position(|c| c == l).unwrap_or(0))
        .collect();
    out.class_names = classes
        .iter()
        .map(|&c| set.class_names[c].clone())
        .collect();
    out.validate()?;
    Ok(out)
}

/// Every class's item indices, shuffled (seeded); the set is validated first (its fields
/// are public, so it may have been changed since it was built).
fn indices_by_class(set: &LabelledSet, seed: u64) -> Result<Vec<Vec<usize>>> {
    set.validate()?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut by_class = vec![Vec::new(); set.num_classes()];
    for (i, &l) in set.labels.iter().enumerate() {
        by_class[l].push(i);
    }
    for c in &mut by_class {
        c.shuffle(&mut rng);
    }
    Ok(by_class)
}

/// Draws `k` items of every class (seeded); returns them and the rest.
pub fn k_per_class(set: &LabelledSet, k: usize, seed: u64) -> Result<(LabelledSet, LabelledSet)> {
    let by_class = indices_by_class(set, seed)?;
    if let Some((c, items)) = by_class.iter().enumerate().find(|(_, v)| v.len() < k) {
        return Err(DataError::Request(format!(
            "class `{}` of `{}` has {} items, fewer than the {k} asked for",
            set.class_names[c],
            set.domain,
            items.len()
        )));
    }
    let mut chosen: Vec<usize> = by_class.iter().flat_map(|v| v[..k].to_vec()).collect();
    let mut rest: Vec<usize> = by_class.iter().flat_map(|v| v[k..].to_vec()).collect();
    chosen.sort_unstable();
    rest.sort_unstable();
    Ok((set.select(&chosen), set.select(&rest)))
}

/// Splits every class in the proportion `fraction : 1 - fraction` (seeded).
pub fn stratified_split(
    set: &LabelledSet,
    fraction: f64,
    seed: u64,
) -> Result<(LabelledSet, LabelledSet)> {
    if !(0.0..=1.0).contains(&fraction) {
        return Err(DataError::Request(format!(
            "split fraction {fraction} not in [0, 1]"
        )));
    }
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for items in indices_by_class(set, seed)? {
        let n = (items.len() as f64 * fraction).round() as usize;
        first.extend_from_slice(&items[..n]);
        second.extend_from_slice(&items[n..]);
    }
    first.sort_unstable();
    second.sort_unstable();
    Ok((set.select(&first), set.select(&second)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digits::digits;

    #[test]
    fn classes_side_by_side_keeps_both_sets_classes_apart() {
        let d = digits().unwrap();
        let (low, high) = (
            select_classes(&d, &[0, 1]).unwrap(),
            select_classes(&d, &[1, 2]).unwrap(),
        );
        let both = classes_side_by_side(&low, &high).unwrap();
        assert_eq!(both.len(), low.len() + high.len());
        assert_eq!(both.num_classes(), 4);
        // `1` is in both: the second one is another class, named by its set.
        let renamed = format!("{}:1", high.domain);
        assert_eq!(both.class_names, ["0", "1", renamed.as_str(), "2"]);
        assert_eq!(both.labels[low.len()], high.labels[0] + 2);
        assert_eq!(both.inputs.item(low.len()), high.inputs.item(0));
        let small = tl_core::data::LabelledSet::new(
            tl_core::data::Inputs::new(vec![2], vec![0.0; 2]).unwrap(),
            vec![0],
            vec!["a".into()],
            "small",
        )
        .unwrap();
        let err = classes_side_by_side(&low, &small).unwrap_err().to_string();
        assert!(
            err.contains("items of [1, 8, 8]") && err.contains("[2]"),
            "{err}"
        );
    }

    #[test]
    fn class_selection_relabels_in_order() {
        let d = digits().unwrap();
        let high = select_classes(&d, &[5, 6, 7, 8, 9]).unwrap();
        assert_eq!(high.class_names, vec!["5", "6", "7", "8", "9"]);
        assert_eq!(high.class_counts(), vec![182, 181, 179, 174, 180]);
        assert!(select_classes(&d, &[10]).is_err());
        let err = select_classes(&d, &[5, 6, 5]).unwrap_err().to_string();
        assert!(err.contains("class 5 is asked for twice"), "{err}");
        // A set whose public fields were changed into nonsense is refused, not indexed.
        let mut broken = d.clone();
        broken.labels[0] = 12;
        let err = k_per_class(&broken, 1, 0).unwrap_err().to_string();
        assert!(err.contains("label 12 of item 0"), "{err}");
        assert!(stratified_split(&broken, 0.5, 0).is_err());
        assert!(select_classes(&broken, &[1]).is_err());
    }

    #[test]
    fn k_per_class_is_exact_disjoint_and_seeded() {
        let d = digits().unwrap();
        let (few, rest) = k_per_class(&d, 10, 3).unwrap();
        assert_eq!(few.class_counts(), vec![10; 10]);
        assert_eq!(few.len() + rest.len(), d.len());
        let (again, _) = k_per_class(&d, 10, 3).unwrap();
        assert_eq!(few, again);
        let (other, _) = k_per_class(&d, 10, 4).unwrap();
        assert_ne!(few, other);
        let err = k_per_class(&d, 500, 0).unwrap_err().to_string();
        assert!(err.contains("fewer than the 500"), "{err}");
    }

    #[test]
    fn stratified_split_keeps_proportions() {
        let d = digits().unwrap();
        let (a, b) = stratified_split(&d, 0.8, 1).unwrap();
        assert_eq!(a.len() + b.len(), d.len());
        for (ca, cb) in a.class_counts().iter().zip(b.class_counts()) {
            let share = *ca as f64 / (*ca + cb) as f64;
            assert!((share - 0.8).abs() < 0.01, "{share}");
        }
        assert!(stratified_split(&d, 1.5, 0).is_err());
    }
}

/// Stratified train / validation / test split with the given train and validation fractions.
pub fn train_valid_test(
    set: &LabelledSet,
    train: f64,
    valid: f64,
    seed: u64,
) -> Result<(LabelledSet, LabelledSet, LabelledSet)> {
    if train < 0.0 || valid < 0.0 || train + valid > 1.0 {
        return Err(DataError::Request(format!(
            "fractions train {train} + valid {valid} must be >= 0 and sum to at most 1"
        )));
    }
    let (first, test) = stratified_split(set, train + valid, seed)?;
    let share = if train + valid > 0.0 {
        train / (train + valid)
    } else {
        0.0
    };
    let (tr, va) = stratified_split(&first, share, seed.wrapping_add(1))?;
    Ok((tr, va, test))
}

/// An N-way K-shot episode: support and query sets relabelled `0..n_way`.
#[derive(Debug, Clone)]
pub struct Episode {
    /// `n_way * k_shot` labelled examples.
    pub support: LabelledSet,
    /// `n_way * n_query` examples to classify.
    pub query: LabelledSet,
    /// The original class of each episode label.
    pub classes: Vec<usize>,
}

/// Draws N-way K-shot episodes from a labelled set (seeded).
#[derive(Debug, Clone)]
pub struct EpisodeSampler {
    /// The labels and class count of the set it was built on, to refuse another one.
    built_on: (Vec<usize>, usize),
    by_class: Vec<Vec<usize>>,
    n_way: usize,
    k_shot: usize,
    n_query: usize,
    rng: StdRng,
}

impl EpisodeSampler {
    /// A sampler; refuses when fewer than `n_way` classes have `k_shot + n_query` items.
    pub fn new(
        set: &LabelledSet,
        n_way: usize,
        k_shot: usize,
        n_query: usize,
        seed: u64,
    ) -> Result<Self> {
        if n_way < 2 || k_shot == 0 {
            return Err(DataError::Request(format!(
                "{n_way}-way {k_shot}-shot: need at least 2 ways and 1 shot"
            )));
        }
        set.validate()?;
        let mut by_class = vec![Vec::new(); set.num_classes()];
        for (i, &l) in set.labels.iter().enumerate() {
            by_class[l].push(i);
        }
        let need = k_shot + n_query;
        // The classes too small for an episode, fewest items first, to name in a refusal.
        let mut short: Vec<(usize, usize)> = by_class
            .iter()
            .enumerate()
            .filter(|(_, items)| items.len() < need)
            .map(|(c, items)| (c, items.len()))
            .collect();
        short.sort_by_key(|&(c, n)| (n, c));
        by_class.retain(|items| items.len() >= need);
        if by_class.len() < n_way {
            let named: Vec<String> = short
                .iter()
                .take(3)
                .map(|&(c, n)| format!("`{}` has {n}", set.class_names[c]))
                .collect();
            let more = short.len().saturating_sub(named.len());
            let detail = match (named.is_empty(), more) {
                (true, _) => format!("the set has {} classes", set.num_classes()),
                (false, 0) => format!("too small: {}", named.join(", ")),
                (false, m) => format!("too small: {} and {m} more", named.join(", ")),
            };
            return Err(DataError::Request(format!(
                "only {} classes of `{}` have the {need} items a {n_way}-way {k_shot}-shot episode with {n_query} queries needs ({detail})",
                by_class.len(),
                set.domain,
            )));
        }
        Ok(Self {
            built_on: (set.labels.clone(), set.num_classes()),
            by_class,
            n_way,
            k_shot,
            n_query,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// The next episode of `set`, which must be the set the sampler was built on (it holds
    /// indices into it); one with other labels or another class count is refused.
    pub fn sample(&mut self, set: &LabelledSet) -> Result<Episode> {
        if set.labels != self.built_on.0 || set.num_classes() != self.built_on.1 {
            return Err(DataError::Request(format!(
                "episodes of `{}` ({} items, {} classes) from a sampler built on another set ({} items, {} classes)",
                set.domain,
                set.len(),
                set.num_classes(),
                self.built_on.0.len(),
                self.built_on.1
            )));
        }
        let mut pool: Vec<usize> = (0..self.by_class.len()).collect();
        pool.shuffle(&mut self.rng);
        pool.truncate(self.n_way);
        let (mut support, mut query) = (Vec::new(), Vec::new());
        let mut classes = Vec::new();
        for &p in &pool {
            let mut items = self.by_class[p].clone();
            items.shuffle(&mut self.rng);
            support.extend_from_slice(&items[..self.k_shot]);
            query.extend_from_slice(&items[self.k_shot..self.k_shot + self.n_query]);
            classes.push(set.labels[items[0]]);
        }
        let relabel = |indices: &[usize]| {
            let mut s = set.select(indices);
            s.labels = s
                .labels
                .iter()
                .map(|l| classes.iter().position(|c| c == l).unwrap_or(0))
                .collect();
            s.class_names = classes
                .iter()
                .map(|&c| set.class_names[c].clone())
                .collect();
            s
        };
        Ok(Episode {
            support: relabel(&support),
            query: relabel(&query),
            classes,
        })
    }
}

#[cfg(test)]
mod episode_tests {
    use super::*;
    use crate::digits::digits;

    #[test]
    fn episodes_have_the_asked_shape_and_disjoint_parts() {
        let d = digits().unwrap();
        let mut s = EpisodeSampler::new(&d, 5, 3, 4, 9).unwrap();
        let e = s.sample(&d).unwrap();
        assert_eq!(e.support.class_counts(), vec![3; 5]);
        assert_eq!(e.query.class_counts(), vec![4; 5]);
        let mut sorted = e.classes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 5);
        for (i, &c) in e.classes.iter().enumerate() {
            assert_eq!(e.support.class_names[i], d.class_names[c]);
        }
        let mut again = EpisodeSampler::new(&d, 5, 3, 4, 9).unwrap();
        assert_eq!(again.sample(&d).unwrap().classes, e.classes);
        let err = again.sample(&d.select(&[0, 1])).unwrap_err().to_string();
        assert!(err.contains("built on another set (1797 items"), "{err}");
        let mut relabelled = d.clone();
        relabelled.labels.swap(0, 1);
        assert!(
            again.sample(&relabelled).is_err(),
            "same size, other labels"
        );
        assert!(EpisodeSampler::new(&d, 11, 1, 1, 0).is_err());
        assert!(EpisodeSampler::new(&d, 5, 200, 1, 0).is_err());
    }

    #[test]
    fn three_way_split_is_stratified() {
        let d = digits().unwrap();
        let (tr, va, te) = train_valid_test(&d, 0.7, 0.15, 2).unwrap();
        assert_eq!(tr.len() + va.len() + te.len(), d.len());
        assert!((tr.len() as f64 / d.len() as f64 - 0.7).abs() < 0.01);
        assert!((va.len() as f64 / d.len() as f64 - 0.15).abs() < 0.01);
        assert!(train_valid_test(&d, 0.9, 0.2, 0).is_err());
    }
}
