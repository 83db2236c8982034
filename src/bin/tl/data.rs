//! A recipe's data: each domain read from its layout, labels mapped onto the source's class
//! names, texts turned into vectors by the recipe's text model.

use crate::progress::Progress;
use crate::recipe::{DataSpec, ModelSpec};
use std::error::Error;
use std::path::{Path, PathBuf};
use tl::prelude::*;
use tl::tl_data::transform::Chw;

type Res<T> = Result<T, Box<dyn Error>>;

/// A domain as read, before texts become vectors.
pub enum Raw {
    /// Images with labels.
    Images(LabelledSet),
    /// Texts, with a label (its name) each when the domain is labelled.
    Texts {
        /// The texts.
        texts: Vec<String>,
        /// Label names, one per text.
        labels: Option<Vec<String>>,
        /// Where they come from.
        domain: String,
    },
}

impl Raw {
    /// Number of items.
    pub fn len(&self) -> usize {
        match self {
            Raw::Images(s) => s.len(),
            Raw::Texts { texts, .. } => texts.len(),
        }
    }

    /// The distinct label names, sorted (images: the set's class names).
    pub fn class_names(&self) -> Option<Vec<String>> {
        match self {
            Raw::Images(s) => Some(s.class_names.clone()),
            Raw::Texts { labels, .. } => labels.as_ref().map(|l| {
                let mut names = l.clone();
                names.sort();
                names.dedup();
                names
            }),
        }
    }
}

/// A domain ready for the strategies: vectors or images, labels on the source's classes.
#[derive(Clone)]
pub struct Domain {
    /// The items.
    pub inputs: Inputs,
    /// Labels (indices into the source's class names), when labelled.
    pub labels: Option<Vec<usize>>,
    /// The texts, for text domains (the report shows the mistaken ones).
    pub texts: Option<Vec<String>>,
    /// Where the items come from.
    pub domain: String,
}

impl Domain {
    /// As a labelled set of `class_names`; an unlabelled domain is an error naming `what`.
    pub fn labelled(&self, class_names: &[String], what: &str) -> Res<LabelledSet> {
        let labels = self
            .labels
            .clone()
            .ok_or_else(|| format!("{what} has no labels"))?;
        Ok(LabelledSet::new(
            self.inputs.clone(),
            labels,
            class_names.to_vec(),
            self.domain.clone(),
        )?)
    }

    /// As an unlabelled set.
    pub fn unlabelled(&self) -> Res<UnlabelledSet> {
        Ok(UnlabelledSet::new(
            self.inputs.clone(),
            self.domain.clone(),
        )?)
    }
}

/// Reads one domain of the recipe (paths relative to `base`).
pub fn read(spec: &DataSpec, base: &Path, table: &str, seed: u64) -> Res<Raw> {
    let path = spec.resolve(base).map_err(|e| format!("[{table}] {e}"))?;
    let need = |what: &str| -> Res<&Path> {
        let p = path
            .as_deref()
            .ok_or_else(|| format!("[{table}] needs a path"))?;
        if !p.exists() {
            return Err(format!("[{table}] {what} {} does not exist", p.display()).into());
        }
        Ok(p)
    };
    let split_train = spec.split.as_deref() != Some("test");
    let pick = |(train, test): (LabelledSet, LabelledSet)| if split_train { train } else { test };
    let raw = match spec.format.as_str() {
        "digits" => Raw::Images(tl::tl_data::digits()?),
        "idx" => Raw::Images(pick(tl::tl_data::idx::mnist(need("folder")?)?)),
        "libsvm" => Raw::Images(pick(tl::tl_data::libsvm::usps(need("folder")?)?)),
        "image-folder" => {
            let size = spec.size.map(|s| (s, s));
            Raw::Images(tl::tl_data::images::image_folder(
                need("folder")?,
                spec.channels.unwrap_or(1),
                size,
            )?)
        }
        "omniglot" => {
            let size = spec.size.unwrap_or(28);
            let mut set = tl::tl_data::images::omniglot(need("zip")?, size)?;
            for more in spec
                .resolve_more(base)
                .map_err(|e| format!("[{table}] {e}"))?
            {
                if !more.exists() {
                    return Err(
                        format!("[{table}] more_zips: {} does not exist", more.display()).into(),
                    );
                }
                let next = tl::tl_data::images::omniglot(&more, size)?;
                set = tl::tl_data::split::classes_side_by_side(&set, &next)
                    .map_err(|e| format!("[{table}] more_zips: {e}"))?;
            }
            Raw::Images(set)
        }
        "omniglot-runs" => Raw::Images(runs_set(&tl::tl_data::images::omniglot_runs(
            need("zip")?,
            spec.size.unwrap_or(28),
        )?)?),
        "amazon" => {
            let domain = spec.domain.as_deref().unwrap_or_default();
            let set = tl::tl_data::text::amazon_domain(need("folder")?, domain)?;
            let labels = set
                .labels
                .iter()
                .map(|&l| set.class_names[l].clone())
                .collect();
            Raw::Texts {
                texts: set.texts,
                labels: Some(labels),
                domain: format!("amazon/{domain}"),
            }
        }
        "csv" | "tsv" => {
            let p = need("file")?;
            read_table(p, spec, table)?
        }
        other => return Err(format!("[{table}] format `{other}` is not known").into()),
    };
    let raw = match raw {
        Raw::Images(set) => {
            let set = match &spec.classes {
                Some(c) => tl::tl_data::split::select_classes(&set, c)
                    .map_err(|e| format!("[{table}] classes: {e}"))?,
                None => set,
            };
            let mut set = ways(set, spec.ways, seed, table)?;
            if let Some(names) = &spec.class_names {
                if names.len() != set.num_classes() {
                    return Err(format!(
                        "[{table}] class_names names {} classes, and the domain has {} ({})",
                        names.len(),
                        set.num_classes(),
                        set.class_names.join(", ")
                    )
                    .into());
                }
                set.class_names = names.clone();
            }
            Raw::Images(shift_images(set, spec, table)?)
        }
        texts => texts,
    };
    limit(raw, spec.limit, seed)
}

/// Lake's one-shot runs as one labelled set: each run's training drawings, then its test
/// drawings, their classes named `runNN/training/classMM.png`; the first item of each class
/// is its one shot, the others its queries ([`crate::run::fixed_episodes`] takes them apart).
fn runs_set(runs: &[tl::tl_data::images::OneShotRun]) -> Res<LabelledSet> {
    let first = runs.first().ok_or("the runs zip holds no run")?;
    let shape = first.train.inputs.item_shape.clone();
    let (mut values, mut labels, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for run in runs {
        let offset = names.len();
        for set in [&run.train, &run.test] {
            values.extend_from_slice(&set.inputs.values);
            labels.extend(set.labels.iter().map(|l| l + offset));
        }
        names.extend(run.train.class_names.iter().cloned());
    }
    Ok(LabelledSet::new(
        Inputs::new(shape, values)?,
        labels,
        names,
        "omniglot/all_runs",
    )?)
}

/// A CSV/TSV with a header: the text column, and the label column when named.
fn read_table(path: &Path, spec: &DataSpec, table: &str) -> Res<Raw> {
    let name = path.display().to_string();
    let delimiter = if spec.format == "tsv" || path.extension().is_some_and(|e| e == "tsv") {
        '\t'
    } else {
        ','
    };
    let text = tl::tl_data::io::read_text_lossy(path)?;
    let records = tl::tl_data::text::parse_delimited(&text, delimiter, &name)?;
    let Some(((_, header), rows)) = records.split_first() else {
        return Err(format!("{name}: empty file, no header row").into());
    };
    let column = |c: &str| -> Res<usize> {
        header.iter().position(|h| h.trim() == c).ok_or_else(|| {
            format!("{name}: no column `{c}` ([{table}]); the header has {header:?}").into()
        })
    };
    let t = column(spec.text_column.as_deref().unwrap_or("text"))?;
    let l = spec.label_column.as_deref().map(column).transpose()?;
    let (mut texts, mut labels) = (Vec::new(), Vec::new());
    for (line, row) in rows {
        if row.len() != header.len() {
            return Err(format!(
                "{name}, line {line}: {} fields, the header has {}",
                row.len(),
                header.len()
            )
            .into());
        }
        if row[t].trim().is_empty() {
            return Err(format!("{name}, line {line}: the text is empty").into());
        }
        texts.push(row[t].clone());
        if let Some(l) = l {
            let label = row[l].trim();
            if label.is_empty() {
                return Err(format!("{name}, line {line}: the label is empty").into());
            }
            labels.push(label.to_string());
        }
    }
    if texts.is_empty() {
        return Err(format!("{name}: no rows after the header").into());
    }
    Ok(Raw::Texts {
        texts,
        labels: l.map(|_| labels),
        domain: path
            .file_stem()
            .map_or(name.clone(), |s| s.to_string_lossy().into()),
    })
}

/// The recipe's generated shifts of images: the centre crop, framing, rotation, then the
/// quarter turns as new classes.
fn shift_images(mut set: LabelledSet, spec: &DataSpec, table: &str) -> Res<LabelledSet> {
    if let Some(side) = spec.crop {
        set = tl::tl_data::transform::centre_crop_set(&set, side)
            .map_err(|e| format!("[{table}] {e}"))?;
    }
    if let Some([inner, outer]) = spec.frame {
        set = tl::tl_data::transform::frame_set(&set, inner, outer)
            .map_err(|e| format!("[{table}] frame: {e}"))?;
    }
    if let Some(degrees) = spec.rotate {
        let shift = tl::tl_data::shift::Shift::Rotate { degrees };
        set = shift.apply(&set, 0)?;
    }
    if spec.turns == Some(true) {
        set = tl::tl_data::transform::orientation_labels(&set, false)
            .map_err(|e| format!("[{table}] turns: {e}"))?;
    }
    Ok(set)
}

/// At most `limit` items: class-balanced for labelled domains, a seeded sample otherwise.
/// `ways` of the set's classes, a seeded random choice kept in their order.
fn ways(set: LabelledSet, ways: Option<usize>, seed: u64, table: &str) -> Res<LabelledSet> {
    let Some(w) = ways else {
        return Ok(set);
    };
    let have = set.num_classes();
    if w > have {
        return Err(format!("[{table}] ways = {w}: the domain has {have} classes").into());
    }
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut classes: Vec<usize> = (0..have).collect();
    classes.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed ^ 0x7761_7973));
    classes.truncate(w);
    classes.sort_unstable();
    Ok(tl::tl_data::split::select_classes(&set, &classes)?)
}

/// At most `n` items, taken round-robin over the classes (`labels[i]`, in sorted order),
/// each class's items in `order`: balanced where the data allow. Sorted indices.
fn round_robin<K: Ord>(labels: &[K], order: &[usize], n: usize) -> Vec<usize> {
    let mut names: Vec<&K> = labels.iter().collect();
    names.sort();
    names.dedup();
    let by_class: Vec<Vec<usize>> = names
        .iter()
        .map(|c| {
            order
                .iter()
                .copied()
                .filter(|&i| &&labels[i] == c)
                .collect()
        })
        .collect();
    let mut keep = Vec::with_capacity(n);
    let mut round = 0;
    while keep.len() < n && by_class.iter().any(|c| round < c.len()) {
        for c in &by_class {
            if round < c.len() && keep.len() < n {
                keep.push(c[round]);
            }
        }
        round += 1;
    }
    keep.sort_unstable();
    keep
}

fn limit(raw: Raw, limit: Option<usize>, seed: u64) -> Res<Raw> {
    let Some(n) = limit.filter(|&n| n < raw.len()) else {
        return Ok(raw);
    };
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut order: Vec<usize> = (0..raw.len()).collect();
    order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    Ok(match raw {
        Raw::Images(set) => {
            let k = set.num_classes().max(1);
            let per_class = n / k;
            let smallest = (0..k)
                .map(|c| set.labels.iter().filter(|&&y| y == c).count())
                .min()
                .unwrap_or(0);
            if per_class >= 1 && per_class <= smallest {
                // As many of each class.
                Raw::Images(tl::tl_data::split::k_per_class(&set, per_class, seed)?.0)
            } else {
                // Fewer items than classes, or a class too small for an equal share: as
                // balanced as the data allow, and never more than `n`.
                let keys: Vec<usize> = set.labels.clone();
                Raw::Images(set.select(&round_robin(&keys, &order, n)))
            }
        }
        Raw::Texts {
            texts,
            labels,
            domain,
        } => {
            let keep: Vec<usize> = match &labels {
                Some(l) => round_robin(l, &order, n),
                None => {
                    let mut keep = order[..n].to_vec();
                    keep.sort_unstable();
                    keep
                }
            };
            Raw::Texts {
                texts: keep.iter().map(|&i| texts[i].clone()).collect(),
                labels: labels.map(|l| keep.iter().map(|&i| l[i].clone()).collect()),
                domain,
            }
        }
    })
}

/// Turns texts into vectors with the recipe's text model (images pass through), and labels
/// into indices of `class_names`; a label the source does not have is an error naming it.
pub struct Featuriser {
    kind: TextModel,
    /// Whether token states (with `train_layers`) go to the cache: yes for the domains of a
    /// run, which every strategy and later run reads again; no for `tl predict`'s inputs,
    /// read once (about 200 KB a text at 128 tokens).
    cache_states: bool,
}

enum TextModel {
    None,
    Hashed(usize),
    /// tl-distill's static student of all-MiniLM-L6-v2.
    Static(Box<tl::tl_distill::StaticEmbedding>),
    Sentence {
        encoder: Box<tl::tl_text::SentenceEncoder>,
        cache: tl::tl_text::EmbeddingCache,
        /// With `train_layers`: the frozen layers whose token states are the items.
        below: Option<usize>,
    },
}

impl Featuriser {
    /// The text model a recipe names (`None` for image recipes).
    pub fn new(model: &ModelSpec, text: bool, device: &Device) -> Res<Self> {
        let kind = if !text {
            TextModel::None
        } else {
            match model.name.as_str() {
                "hashed-words" => TextModel::Hashed(model.dim.unwrap_or(384)),
                "static-minilm" => TextModel::Static(Box::new(static_minilm(device)?)),
                "all-MiniLM-L6-v2" => {
                    let folder = tl::tl_crossmodal::TextSpace::model_folder("all-MiniLM-L6-v2")?;
                    let options = tl::tl_text::LoadOptions {
                        max_len: Some(model.max_len.unwrap_or(128)),
                        ..Default::default()
                    };
                    let encoder =
                        tl::tl_text::SentenceEncoder::load_with(&folder, options, device)?;
                    let layers = encoder.model().encoder.layers.len();
                    let below = model.train_layers.map(|n| layers.saturating_sub(n));
                    TextModel::Sentence {
                        encoder: Box::new(encoder),
                        cache: tl::tl_text::EmbeddingCache::new(
                            tl::tl_text::EmbeddingCache::default_dir(),
                        ),
                        below,
                    }
                }
                other => {
                    return Err(format!(
                        "the data are texts, and `{other}` is not a text model (text models: all-MiniLM-L6-v2, static-minilm, hashed-words)"
                    )
                    .into());
                }
            }
        };
        Ok(Self {
            kind,
            cache_states: true,
        })
    }

    /// The same, computing token states without keeping them in the cache.
    pub fn without_states_cache(mut self) -> Self {
        self.cache_states = false;
        self
    }

    /// With `train_layers`: the layers above the cached token states (their pooling
    /// included), as the pretrained encoder has them: the start of every row's model.
    pub fn top(&self) -> Option<Res<tl::tl_text::BertTop>> {
        match &self.kind {
            TextModel::Sentence {
                encoder,
                below: Some(b),
                ..
            } => Some(tl::tl_text::BertTop::from_bert(encoder.model(), *b).map_err(Into::into)),
            _ => None,
        }
    }

    /// One domain, featurised.
    pub fn domain(
        &mut self,
        raw: &Raw,
        class_names: &[String],
        what: &str,
        progress: &Progress,
        device: &Device,
    ) -> Res<Domain> {
        match raw {
            Raw::Images(set) => {
                let labels = remap(&set.labels, &set.class_names, class_names, what)?;
                Ok(Domain {
                    inputs: set.inputs.clone(),
                    labels: Some(labels),
                    texts: None,
                    domain: set.domain.clone(),
                })
            }
            Raw::Texts {
                texts,
                labels,
                domain,
            } => {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let (dim, values) = match &mut self.kind {
                    TextModel::None => {
                        return Err(format!("{what} holds texts and the model takes images").into());
                    }
                    TextModel::Hashed(dim) => {
                        let v = tl::tl_crossmodal::TextSpace::Hashed { dim: *dim }
                            .embed(&refs, device)?;
                        (v.dim, v.values)
                    }
                    TextModel::Static(student) => (student.dim(), student.embed(&refs)?),
                    TextModel::Sentence {
                        encoder,
                        cache,
                        below,
                    } => {
                        let doing = match below {
                            Some(b) => format!("token states after {b} layers of"),
                            None => "embedding".into(),
                        };
                        let bar = progress
                            .bar(refs.len() as u64, &format!("{doing} {what}"))
                            .with_plain_lines();
                        let at = |done: usize, _| bar.set_position(done as u64);
                        let (dim, v) = match below {
                            Some(b) => (
                                tl::tl_text::states_item_len(encoder.max_len(), encoder.dim()),
                                if self.cache_states {
                                    cache.states(encoder, &refs, *b, 32, device, at)?
                                } else {
                                    encoder.states(&refs, *b, 32, device, at)?
                                },
                            ),
                            None => (encoder.dim(), cache.embed(encoder, &refs, 32, device, at)?),
                        };
                        let kept = if below.is_some() && !self.cache_states {
                            "not cached".to_string()
                        } else {
                            format!("cache {}", cache.dir().display())
                        };
                        bar.finish(&format!("{doing} {what}: {} texts ({kept})", refs.len()));
                        (dim, v)
                    }
                };
                let labels = labels
                    .as_ref()
                    .map(|l| {
                        l.iter()
                            .map(|name| class_index(name, class_names, what))
                            .collect::<Res<Vec<_>>>()
                    })
                    .transpose()?;
                Ok(Domain {
                    inputs: Inputs::new(vec![dim], values)?,
                    labels,
                    texts: Some(texts.clone()),
                    domain: domain.clone(),
                })
            }
        }
    }
}

/// The static student of all-MiniLM-L6-v2 (tl-distill's Model2Vec recipe: 256 dimensions,
/// SIF weights), from `~/.cache/tl-distill/all-MiniLM-L6-v2-static256` (the distillation
/// example's cache), distilled from MiniLM under `TL_MODEL_DIR` and saved there when absent.
fn static_minilm(device: &Device) -> Res<tl::tl_distill::StaticEmbedding> {
    use tl::tl_distill::{StaticConfig, StaticEmbedding};
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = home.join(".cache/tl-distill/all-MiniLM-L6-v2-static256");
    if dir.join("static.json").is_file() {
        return Ok(StaticEmbedding::load(&dir)?);
    }
    let folder = tl::tl_crossmodal::TextSpace::model_folder("all-MiniLM-L6-v2")?;
    let teacher = tl::tl_text::SentenceEncoder::load(&folder, device)?;
    eprintln!(
        "distilling the static student of all-MiniLM-L6-v2 (once; cached in {})",
        dir.display()
    );
    let config = StaticConfig {
        pca_dims: Some(256.min(teacher.dim())),
        ..StaticConfig::default()
    };
    let student = StaticEmbedding::distill(&teacher, &config, device, |_, _| {})?;
    student.save(&dir)?;
    Ok(student)
}

/// Labels of a set with `names` onto `class_names`, by name.
fn remap(
    labels: &[usize],
    names: &[String],
    class_names: &[String],
    what: &str,
) -> Res<Vec<usize>> {
    let map = names
        .iter()
        .map(|n| class_index(n, class_names, what))
        .collect::<Res<Vec<_>>>()?;
    Ok(labels.iter().map(|&l| map[l]).collect())
}

/// The index of the label `name` among `class_names`; a label the task does not have is an
/// error naming it and the known ones.
fn class_index(name: &str, class_names: &[String], what: &str) -> Res<usize> {
    class_names.iter().position(|c| c == name).ok_or_else(|| {
        format!(
            "{what}: label `{name}` is not a source class (known: {})",
            class_names.join(", ")
        )
        .into()
    })
}

/// The item shape of images, for checks against a model.
pub fn image_shape(raw: &Raw) -> Option<Vec<usize>> {
    match raw {
        Raw::Images(s) => Some(s.inputs.item_shape.clone()),
        Raw::Texts { .. } => None,
    }
}

/// `1x28x28`.
pub fn shape_text(shape: &[usize]) -> String {
    let _ = Chw::of(shape);
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

#[cfg(test)]
mod tests {
    use super::round_robin;

    #[test]
    fn round_robin_balances_where_it_can_and_keeps_at_most_n() {
        // Class 0 has six items, classes 1 and 2 one each.
        let labels = [0, 0, 0, 0, 0, 0, 1, 2];
        let order: Vec<usize> = (0..labels.len()).rev().collect();
        let keep = round_robin(&labels, &order, 5);
        assert_eq!(keep.len(), 5);
        let count = |c: usize| keep.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!((count(0), count(1), count(2)), (3, 1, 1));
        // Each class's items in `order`: the last ones of class 0 first.
        assert!(keep.contains(&5) && keep.contains(&4) && keep.contains(&3));
        // Fewer than the classes: at most n, one class each.
        let keep = round_robin(&labels, &order, 2);
        assert_eq!(keep, vec![5, 6]);
        assert!(round_robin(&labels, &order, 100).len() == labels.len());
    }
}
