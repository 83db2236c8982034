//! Recipes: one TOML file states the data, the starting model, the strategies, the seeds and
//! where the run goes. Every table refuses keys it does not know, naming the line and the
//! keys it has; paths are relative to the recipe's folder.

use serde::{Deserialize, Serialize};
use std::error::Error;
use std::path::{Path, PathBuf};

/// A recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// A title for the tables.
    #[serde(default)]
    pub name: Option<String>,
    /// Runs per strategy, seeds `first_seed..first_seed + seeds`.
    #[serde(default = "three")]
    pub seeds: u64,
    /// The first seed.
    #[serde(default)]
    pub first_seed: u64,
    /// Device (`flex`, `ndarray`, `wgpu`, `auto`); `--device` overrides it.
    #[serde(default)]
    pub device: Option<String>,
    /// The run folder (default `runs/<recipe file stem>`); `--out` overrides it.
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// The row the gains are measured against (default: the first strategy).
    #[serde(default)]
    pub baseline: Option<String>,
    /// The task's classes renamed, in their order (as `tl` reads them: `0`..`9` for digits):
    /// what reports, packages and prompts call them. A cross-modal strategy builds its
    /// prompts from these names (`"a handwritten digit seven"`).
    #[serde(default)]
    pub class_names: Option<Vec<String>>,
    /// The labelled source domain.
    pub source: DataSpec,
    /// The target domain (labelled or not); without it the task is the source's own,
    /// split into training and test.
    #[serde(default)]
    pub target: Option<DataSpec>,
    /// A labelled test set of the target domain (for a labelled target, it replaces the
    /// held-out share: the whole target is then the strategies' pool).
    #[serde(default)]
    pub test: Option<DataSpec>,
    /// The starting model.
    pub model: ModelSpec,
    /// The training every strategy gets unless its settings say otherwise.
    #[serde(default)]
    pub train: TrainSpec,
    /// Settings every strategy row gets under its own `settings`, key by top-level key, for
    /// the strategies whose defaults have that key (one student for every distiller, say).
    #[serde(default)]
    pub settings: Option<toml::Table>,
    /// Few-shot evaluation: N-way K-shot episodes of the labelled target's classes instead
    /// of one split (see [`EpisodeSpec`]).
    #[serde(default)]
    pub episodes: Option<EpisodeSpec>,
    /// With `[source] format = "dsprites"`: how many sprites train each model and how many
    /// samples and votes the five disentanglement metrics take (`sprites`, default 20,000;
    /// `metric_samples` and `votes`, default 10,000, disentanglement_lib's counts).
    #[serde(default)]
    pub dsprites: Option<DspritesSpec>,
    /// The strategies, in table order.
    #[serde(rename = "strategy")]
    pub strategies: Vec<StrategySpec>,
}

fn three() -> u64 {
    3
}

/// Few-shot evaluation: each row is scored on `count` seeded N-way K-shot episodes drawn from
/// the labelled target (the novel classes), the same episodes for every row of a seed. A
/// few-shot strategy's base training (`meta_train`, `pretrain`: on the source, the base
/// classes) or an unsupervised objective's pretraining (`pretrain`) runs once per seed; each episode then runs the strategy with it off, on the
/// trained encoder. Other strategies run on each episode from the start model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeSpec {
    /// Classes per episode (N).
    pub way: usize,
    /// Labelled examples per class (K).
    pub shot: usize,
    /// Examples to classify per class (default 15).
    #[serde(default = "fifteen")]
    pub query: usize,
    /// Episodes per seed (default 100).
    #[serde(default = "hundred")]
    pub count: usize,
}

fn fifteen() -> usize {
    15
}
fn hundred() -> usize {
    100
}

/// Where a domain's data comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// `digits` (embedded), `csv` / `tsv` (a text column and a label column), `amazon` (the
    /// multi-domain reviews layout), `idx` (MNIST's files), `libsvm` (USPS's files),
    /// `image-folder` (one subfolder per class), `omniglot` (a background zip,
    /// `ROOT/Alphabet/characterNN/*.png`: one class per character, ink = 1).
    pub format: String,
    /// File or folder (relative to the recipe); `digits` needs none.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `omniglot`: more background zips, their characters added as more classes
    /// (`images_background_small2.zip` beside `path`'s small1).
    #[serde(default)]
    pub more_zips: Option<Vec<PathBuf>>,
    /// `csv`/`tsv`: the text column.
    #[serde(default)]
    pub text_column: Option<String>,
    /// `csv`/`tsv`: the label column; without it the domain is unlabelled.
    #[serde(default)]
    pub label_column: Option<String>,
    /// `amazon`: the product domain (books, dvd, electronics, kitchen).
    #[serde(default)]
    pub domain: Option<String>,
    /// `idx` / `libsvm`: `train` or `test` (default `train`).
    #[serde(default)]
    pub split: Option<String>,
    /// Images: keep these classes, by index in the order the format reads them (digits:
    /// `0`..`9`), relabelled from 0 in this order.
    #[serde(default)]
    pub classes: Option<Vec<usize>>,
    /// Images: this domain's classes renamed, in order (after `classes`): what a cross-modal
    /// strategy captions a source's images with when its classes are not the task's.
    #[serde(default)]
    pub class_names: Option<Vec<String>>,
    /// Images: every class also turned by 90, 180 and 270 degrees, as three new classes each
    /// (Omniglot's base classes x 4, as Snell et al. and Vinyals et al. train).
    #[serde(default)]
    pub turns: Option<bool>,
    /// Images: rotate every image by this many degrees (a generated domain shift).
    #[serde(default)]
    pub rotate: Option<f32>,
    /// Images: keep the centre `crop` x `crop` px of every image, before `frame` (MNIST's
    /// digits sit in its centre 20 x 20: `crop = 20` then `frame = [16, 16]` is USPS framing).
    #[serde(default)]
    pub crop: Option<usize>,
    /// Images: `[inner, outer]`: resize to `inner` px and pad to `outer` px (MNIST framing of
    /// USPS is `[20, 28]`).
    #[serde(default)]
    pub frame: Option<[usize; 2]>,
    /// `image-folder`, `omniglot`: the side images are resized to (Omniglot: 28 by default).
    #[serde(default)]
    pub size: Option<usize>,
    /// `image-folder`: 1 (grey) or 3 (RGB) channels.
    #[serde(default)]
    pub channels: Option<usize>,
    /// Keep at most this many items (a seeded, class-balanced subset).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Images: keep this many classes, a random choice by `first_seed` (20 of an Omniglot
    /// alphabet set's characters), in their order.
    #[serde(default)]
    pub ways: Option<usize>,
    /// Labelled target: the share held out for the test set (default 0.2).
    #[serde(default)]
    pub test_fraction: Option<f64>,
    /// Labelled target: labels per class given to the strategies (default: every
    /// non-test item).
    #[serde(default)]
    pub labelled_per_class: Option<usize>,
}

/// The starting model.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// A catalogue name (`tl models list`): `all-MiniLM-L6-v2` or `hashed-words` for text,
    /// `mnist-cnn` for 1x28x28 images, `small-cnn` (a fresh CNN, no pretraining) or `conv-4`
    /// (the few-shot backbone: four blocks of 3x3 convolution with 64 channels, batch norm,
    /// ReLU and 2x2 max pooling; fresh) for images.
    pub name: String,
    /// Text: word pieces per text (MiniLM; default 128).
    #[serde(default)]
    pub max_len: Option<usize>,
    /// `hashed-words`: vector width (default 384).
    #[serde(default)]
    pub dim: Option<usize>,
    /// Text: the trainable layers on the frozen sentence vectors (default `[128]`).
    #[serde(default)]
    pub adapter: Option<Vec<usize>>,
    /// Epochs of training on the labelled source before the strategies start (default 20
    /// for text and fresh models, 0 for a pretrained classifier whose classes fit).
    #[serde(default)]
    pub source_epochs: Option<usize>,
    /// Images: add a row `scratch`, the baseline strategy from a randomly initialised copy of
    /// the start encoder (what pretraining is worth, paired by seed in `tl report`).
    #[serde(default)]
    pub scratch: Option<bool>,
    /// `all-MiniLM-L6-v2`: train the encoder's top N transformer layers (1-6), its pooling and
    /// a linear head, instead of an adapter on frozen sentence vectors. The token states
    /// below them are computed once per text and cached; every strategy then trains those
    /// layers (docs/text-adaptation.md: 3 of 6 is the measured choice on 2 CPU cores).
    #[serde(default)]
    pub train_layers: Option<usize>,
    /// With `train_layers`: the start model's learning rate (AdamW, weight decay 0.01; the
    /// head at 20x; default 1e-4). Its epochs are `source_epochs` (default 3), stopped early
    /// on 10 % of its training data held out.
    #[serde(default)]
    pub source_lr: Option<f64>,
    /// `small-cnn`: its widths, `[first convolution, second convolution, dense]` (default
    /// `[16, 32, 64]`).
    #[serde(default)]
    pub widths: Option<Vec<usize>>,
}

/// Training settings every strategy gets (its `settings.train` overrides them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Epochs.
    #[serde(default = "ten")]
    pub epochs: usize,
    /// Batch size.
    #[serde(default = "sixty_four")]
    pub batch_size: usize,
    /// Learning rate.
    #[serde(default = "lr")]
    pub lr: f64,
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            epochs: ten(),
            batch_size: sixty_four(),
            lr: lr(),
        }
    }
}

fn ten() -> usize {
    10
}
fn sixty_four() -> usize {
    64
}
fn lr() -> f64 {
    1e-3
}

/// One row of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySpec {
    /// A registered strategy (`tl strategies` lists them).
    pub name: String,
    /// The row's name in the tables (default: the strategy's name).
    #[serde(default)]
    pub label: Option<String>,
    /// Settings laid over the strategy's defaults (`tl strategies --show NAME`).
    #[serde(default)]
    pub settings: Option<toml::Table>,
}

impl StrategySpec {
    /// The row's name.
    pub fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }
}

/// Reads a recipe; a syntax error, an unknown key or a wrong type names its line.
pub fn load(path: &Path) -> Result<Recipe, Box<dyn Error>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the recipe {}: {e}", path.display()))?;
    parse(&text, &path.display().to_string())
}

/// [`load`], then each `KEY=VALUE` of `sets` laid over the recipe (`tl run --set`): a dotted
/// key (`target.labelled_per_class`, `strategy.2.settings.train.lr`; a number picks a
/// `[[strategy]]`, from 0), a TOML value (`5`, `1e-4`, `[20, 28]`, `true`), or text.
pub fn load_with(path: &Path, sets: &[String]) -> Result<Recipe, Box<dyn Error>> {
    if sets.is_empty() {
        return load(path);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the recipe {}: {e}", path.display()))?;
    let name = path.display().to_string();
    let recipe: Recipe = parse_as(&text, &name, sets)?;
    recipe
        .validate()
        .map_err(|e| format!("recipe {name}: {e}"))?;
    Ok(recipe)
}

/// Whether the recipe at `path` is an experiment recipe (it has an `[experiment]` table); a
/// file that cannot be read or parsed is not (the ordinary reading then says why).
pub fn is_experiment(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| toml::from_str::<toml::Table>(&text).ok())
        .is_some_and(|t| t.contains_key("experiment"))
}

/// Reads a recipe of any shape `T` from `text` with each `--set` laid over it; without sets,
/// an unknown key or a wrong type names its line.
pub fn parse_as<T: serde::de::DeserializeOwned>(
    text: &str,
    name: &str,
    sets: &[String],
) -> Result<T, Box<dyn Error>> {
    if sets.is_empty() {
        return Ok(toml::from_str(text).map_err(|e| {
            let at = key_line(&e, text).unwrap_or_else(|| one_line(&e, text));
            format!("recipe {name}: {at}")
        })?);
    }
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| format!("recipe {name}: {}", one_line(&e, text)))?;
    for set in sets {
        apply_set(&mut table, set).map_err(|e| format!("--set {set}: {e}"))?;
    }
    Ok(toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| {
            format!(
                "recipe {name} with --set {}: {}",
                sets.join(" --set "),
                e.message().trim().replace('\n', " ")
            )
        })?)
}

/// An unknown key's own line: a table read whole (an `[experiment]`, whose `kind` picks the
/// keys it takes) gets toml's span of the table, not of the key; the key is then found by name.
fn key_line(e: &toml::de::Error, text: &str) -> Option<String> {
    let message = e.message().trim().replace('\n', " ");
    let key = message.strip_prefix("unknown field `")?.split('`').next()?;
    let line = text.lines().position(|l| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })?;
    Some(format!("line {}: {message}", line + 1))
}

/// Lays one `KEY=VALUE` over a recipe's table.
fn apply_set(table: &mut toml::Table, set: &str) -> Result<(), String> {
    let (key, value) = set
        .split_once('=')
        .ok_or("expected KEY=VALUE (`target.labelled_per_class=5`)")?;
    let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {}", value.trim())) {
        Ok(mut t) => t.remove("v").ok_or("no value")?,
        Err(_) => toml::Value::String(value.trim().to_string()),
    };
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("the key `{key}` has an empty part"));
    }
    let (last, path) = parts.split_last().ok_or("an empty key")?;
    let mut here = table;
    let mut i = 0;
    while i < path.len() {
        let part = path[i];
        let entry = here
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = match entry {
            toml::Value::Table(t) => t,
            toml::Value::Array(items) => {
                let index = path
                    .get(i + 1)
                    .and_then(|n| n.parse::<usize>().ok())
                    .ok_or_else(|| {
                        format!("`{part}` is a list: name an item by its number (`{part}.0`)")
                    })?;
                let count = items.len();
                i += 1;
                match items.get_mut(index) {
                    Some(toml::Value::Table(t)) => t,
                    Some(_) => return Err(format!("`{part}.{index}` is not a table")),
                    None => {
                        return Err(format!(
                            "`{part}` has {count} items (0 to {})",
                            count.saturating_sub(1)
                        ));
                    }
                }
            }
            _ => return Err(format!("`{part}` is a value, not a table")),
        };
        i += 1;
    }
    here.insert(last.to_string(), value);
    Ok(())
}

/// [`load`] on text in memory.
pub fn parse(text: &str, name: &str) -> Result<Recipe, Box<dyn Error>> {
    let recipe: Recipe =
        toml::from_str(text).map_err(|e| format!("recipe {name}: {}", one_line(&e, text)))?;
    recipe
        .validate()
        .map_err(|e| format!("recipe {name}: {e}"))?;
    Ok(recipe)
}

/// toml's error as one line: `line N, column M: message`.
pub(crate) fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Refuses a list of class names with a duplicate or an empty name.
fn check_names(names: &[String], what: &str) -> Result<(), String> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("{what}: `{}` comes twice", w[0]));
    }
    if names.iter().any(|n| n.trim().is_empty()) {
        return Err(format!("{what}: a name is empty"));
    }
    Ok(())
}

/// The formats `DataSpec::format` takes.
pub const FORMATS: &[&str] = &[
    "digits",
    "csv",
    "tsv",
    "amazon",
    "idx",
    "libsvm",
    "image-folder",
    "omniglot",
    "omniglot-runs",
    "dsprites",
];

/// Whether a format holds texts (the others hold images).
/// A row's label as a file name part: ASCII letters, digits, `-` and `+` kept, the rest `_`
/// (the folder of its saved models; [`Recipe::validate`] refuses two labels of one slug).
pub fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '+' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn text_format(format: &str) -> bool {
    matches!(format, "csv" | "tsv" | "amazon")
}

/// The seeds `first_seed..first_seed + seeds`, refused where the last is past `u64::MAX`.
pub fn seed_range(first_seed: u64, seeds: u64) -> Result<std::ops::Range<u64>, String> {
    first_seed
        .checked_add(seeds)
        .map(|end| first_seed..end)
        .ok_or_else(|| format!("first_seed {first_seed} + seeds {seeds} is past the largest seed"))
}

impl Recipe {
    /// Refuses what the types allow but a run cannot do.
    pub fn validate(&self) -> Result<(), String> {
        if self.seeds == 0 {
            return Err("`seeds` must be at least 1".into());
        }
        seed_range(self.first_seed, self.seeds)?;
        if self.strategies.is_empty() {
            return Err("no [[strategy]]: name at least one (`tl strategies` lists them)".into());
        }
        let mut labels: Vec<&str> = self.strategies.iter().map(|s| s.label()).collect();
        labels.sort();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "two strategies are labelled `{}`: give one a `label`",
                w[0]
            ));
        }
        // Each row's models go to a folder named by its label's slug: two labels of one slug
        // (or a label sharing the slug of a row tl adds) would overwrite each other's.
        let mut slugs: Vec<(String, &str)> = ["no adaptation", "scratch"]
            .into_iter()
            .chain(self.strategies.iter().map(|s| s.label()))
            .map(|l| (slug(l), l))
            .collect();
        slugs.sort();
        // (Equal labels are refused below, by name.)
        if let Some(w) = slugs
            .windows(2)
            .find(|w| w[0].0 == w[1].0 && w[0].1 != w[1].1)
        {
            return Err(format!(
                "the labels `{}` and `{}` would save their models in one folder (`{}`): label one otherwise",
                w[0].1, w[1].1, w[0].0
            ));
        }
        if let Some(b) = &self.baseline
            && !self.strategies.iter().any(|s| s.label() == b)
        {
            return Err(format!("the baseline `{b}` is not a strategy's label"));
        }
        if self.train.epochs == 0 || self.train.batch_size == 0 {
            return Err("[train]: epochs and batch_size must be at least 1".into());
        }
        if !(self.train.lr.is_finite() && self.train.lr > 0.0) {
            return Err(format!("[train]: lr {} must be positive", self.train.lr));
        }
        if self.model.scratch == Some(true) && text_format(&self.source.format) {
            return Err(
                "[model] scratch is for image models; for texts, run the recipe again with `name = \"hashed-words\"` (a text space with no pretraining)"
                    .into(),
            );
        }
        if let Some(n) = self.model.train_layers {
            if self.model.name != "all-MiniLM-L6-v2" {
                return Err(format!(
                    "[model] train_layers trains a transformer's top layers: it needs `name = \"all-MiniLM-L6-v2\"`, not `{}`",
                    self.model.name
                ));
            }
            if !text_format(&self.source.format) {
                return Err(format!(
                    "[model] train_layers trains a text model's layers, and [source] is `{}`: texts come as csv, tsv or amazon",
                    self.source.format
                ));
            }
            if !(1..=6).contains(&n) {
                return Err(format!(
                    "[model] train_layers = {n}: all-MiniLM-L6-v2 has 6 layers (1 to 6)"
                ));
            }
            if self.model.adapter.is_some() {
                return Err("[model] `adapter` and `train_layers` exclude each other: the adapter sits on frozen sentence vectors, train_layers trains the encoder".into());
            }
        } else if self.model.source_lr.is_some() {
            return Err("[model] source_lr is for `train_layers` (the adapter's start model trains with [train] lr)".into());
        }
        let dsprites = self.source.format == "dsprites";
        if dsprites {
            self.check_dsprites()?;
        } else if self.dsprites.is_some() {
            return Err(
                "[dsprites] sets a dSprites run's counts: it needs [source] format = \"dsprites\""
                    .into(),
            );
        } else if self.model.name == "mlp" {
            return Err("[model] `mlp` is the encoder of a dSprites run's VAEs ([source] format = \"dsprites\"); image tasks start from mnist-cnn, small-cnn, conv-4 or a model folder".into());
        }
        if let Some(w) = &self.model.widths
            && self.model.name == "mlp"
        {
            if w.is_empty() || w.contains(&0) {
                return Err(format!(
                    "[model] widths = {w:?}: the MLP's hidden widths, one or more, each at least 1"
                ));
            }
        } else if let Some(w) = &self.model.widths {
            if self.model.name != "small-cnn" {
                return Err(format!(
                    "[model] widths are `small-cnn`'s; `{}` has its own",
                    self.model.name
                ));
            }
            if w.len() != 3 || w.contains(&0) {
                return Err(format!(
                    "[model] widths = {w:?}: three widths of at least 1 (first convolution, second convolution, dense)"
                ));
            }
        }
        // The start model's head trains at 20 times the rate, which must stay at most 1.
        if let Some(lr) = self.model.source_lr
            && !(lr.is_finite() && lr > 0.0 && lr * 20.0 <= 1.0)
        {
            return Err(format!(
                "[model] source_lr {lr} must be positive and at most 0.05 (the head trains at 20 times it)"
            ));
        }
        if self
            .strategies
            .iter()
            .any(|s| s.label() == "scratch" || s.label() == "no adaptation")
        {
            return Err("`scratch` and `no adaptation` are the names of rows tl adds: label the strategy otherwise".into());
        }
        if let Some(names) = &self.class_names {
            check_names(names, "class_names")?;
        }
        if self.source.format == "omniglot-runs"
            || self
                .test
                .as_ref()
                .is_some_and(|t| t.format == "omniglot-runs")
        {
            return Err("format `omniglot-runs` (Lake's one-shot runs) is a [target] of fixed episodes, with [episodes] way = 20, shot = 1, query = 1, count = 20".into());
        }
        let runs = self
            .target
            .as_ref()
            .is_some_and(|t| t.format == "omniglot-runs");
        if runs && self.class_names.is_some() {
            return Err("class_names would rename the runs' characters, which name their runs: leave it out with `omniglot-runs`".into());
        }
        if runs && self.episodes.is_none() {
            return Err("[target] format `omniglot-runs` holds fixed episodes: add [episodes] with way = 20, shot = 1, query = 1, count = 20".into());
        }
        if let Some(e) = &self.episodes {
            if e.way < 2 || e.shot == 0 || e.query == 0 || e.count == 0 {
                return Err(format!(
                    "[episodes] {}-way {}-shot, {} queries, {} episodes: at least 2 ways, 1 shot, 1 query and 1 episode",
                    e.way, e.shot, e.query, e.count
                ));
            }
            let target = self.target.as_ref().filter(|t| t.labelled()).ok_or(
                "[episodes] draws its episodes from a labelled [target] (the novel classes): add one",
            )?;
            if self.test.is_some() {
                return Err("[episodes] scores on each episode's queries: a [test] has no place (the episodes come from [target])".into());
            }
            if target.labelled_per_class.is_some() || target.test_fraction.is_some() {
                return Err("[episodes]: the episodes' `shot` and `query` replace [target] labelled_per_class and test_fraction".into());
            }
            if self.model.scratch == Some(true) {
                return Err("[episodes] with [model] scratch is not offered: add a row of the start model's strategy with `source_epochs = 0` instead".into());
            }
        }
        if dsprites {
            return Ok(());
        }
        self.source.validate("source")?;
        if !self.source.labelled() {
            return Err("[source] must be labelled (a `label_column` for csv/tsv)".into());
        }
        if let Some(t) = &self.target {
            t.validate("target")?;
        }
        if let Some(t) = &self.test {
            t.validate("test")?;
            if !t.labelled() {
                return Err("[test] must be labelled".into());
            }
        }
        Ok(())
    }
}

impl Recipe {
    /// A dSprites run (`tl::dsprites`): sprites drawn by tl-data's generator train each
    /// strategy of the VAE family from a fresh MLP, and the five disentanglement metrics score
    /// its codes. Everything a classification run would need and this one cannot use is
    /// refused by name.
    fn check_dsprites(&self) -> Result<(), String> {
        let given = |v: serde_json::Value| -> Vec<String> {
            v.as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, v)| {
                            !v.is_null()
                                && k.as_str() != "format"
                                && k.as_str() != "name"
                                && k.as_str() != "widths"
                        })
                        .map(|(k, _)| k.clone())
                        .collect()
                })
                .unwrap_or_default()
        };
        let source = given(serde_json::to_value(&self.source).map_err(|e| e.to_string())?);
        if let Some(key) = source.first() {
            return Err(format!(
                "[source] format `dsprites` draws its sprites from the generator with each seed: `{key}` has no place (the counts go in [dsprites])"
            ));
        }
        if self.model.name != "mlp" {
            return Err(format!(
                "[source] format `dsprites` trains the VAE family from a fresh MLP: [model] name = \"mlp\" (widths: its hidden layers, default [512, 256]), not `{}`",
                self.model.name
            ));
        }
        let model = given(serde_json::to_value(&self.model).map_err(|e| e.to_string())?);
        if let Some(key) = model.first() {
            return Err(format!(
                "[model] `{key}` has no place in a dSprites run (the `mlp` takes `widths` only)"
            ));
        }
        for (table, given) in [
            ("[target]", self.target.is_some()),
            ("[test]", self.test.is_some()),
            ("[episodes]", self.episodes.is_some()),
            ("class_names", self.class_names.is_some()),
        ] {
            if given {
                return Err(format!(
                    "{table} has no place in a dSprites run: the sprites' factors are what the metrics score"
                ));
            }
        }
        // The strategies and the counts are checked where the library is at hand
        // (`dsprites::check`; this file is also the recipe fuzz target's, which has no `tl`).
        Ok(())
    }
}

/// `[dsprites]`: the counts of a dSprites run (`tl::dsprites::DspritesSettings`, read from
/// the recipe).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DspritesSpec {
    /// Training sprites a seed (20,000).
    #[serde(default = "twenty_thousand")]
    pub sprites: usize,
    /// MIG, and SAP and DCI's training half (10,000; half as many score).
    #[serde(default = "ten_thousand")]
    pub metric_samples: usize,
    /// The FactorVAE and BetaVAE scores' training votes (10,000; half as many score).
    #[serde(default = "ten_thousand")]
    pub votes: usize,
}

fn twenty_thousand() -> usize {
    20_000
}
fn ten_thousand() -> usize {
    10_000
}

impl DataSpec {
    /// A spec of no format and no keys, to fill in with struct update syntax.
    pub fn empty() -> Self {
        Self {
            format: String::new(),
            path: None,
            more_zips: None,
            text_column: None,
            label_column: None,
            domain: None,
            split: None,
            classes: None,
            rotate: None,
            class_names: None,
            turns: None,
            crop: None,
            frame: None,
            size: None,
            channels: None,
            limit: None,
            ways: None,
            test_fraction: None,
            labelled_per_class: None,
        }
    }

    /// Whether the domain has labels.
    pub fn labelled(&self) -> bool {
        !matches!(self.format.as_str(), "csv" | "tsv") || self.label_column.is_some()
    }

    fn validate(&self, table: &str) -> Result<(), String> {
        let f = self.format.as_str();
        if !FORMATS.contains(&f) {
            return Err(format!(
                "[{table}] format `{f}` is not known (known: {})",
                FORMATS.join(", ")
            ));
        }
        if f != "digits" && self.path.is_none() {
            return Err(format!("[{table}] format `{f}` needs a `path`"));
        }
        if matches!(f, "csv" | "tsv") && self.text_column.is_none() {
            return Err(format!("[{table}] format `{f}` needs a `text_column`"));
        }
        if f == "amazon" && self.domain.is_none() {
            return Err(format!(
                "[{table}] format `amazon` needs a `domain` (books, dvd, electronics, kitchen)"
            ));
        }
        if let Some(s) = &self.split
            && s != "train"
            && s != "test"
        {
            return Err(format!("[{table}] split `{s}`: `train` or `test`"));
        }
        if let Some(fr) = self.test_fraction
            && !(fr > 0.0 && fr < 1.0)
        {
            return Err(format!("[{table}] test_fraction {fr} must lie in (0, 1)"));
        }
        if self.limit == Some(0) {
            return Err(format!("[{table}] limit must be at least 1"));
        }
        if self.labelled_per_class == Some(0) {
            return Err(format!(
                "[{table}] labelled_per_class must be at least 1 (leave it out for no labels)"
            ));
        }
        if text_format(f) {
            let image_only = [
                ("classes", self.classes.is_some()),
                ("ways", self.ways.is_some()),
                ("crop", self.crop.is_some()),
                ("turns", self.turns == Some(true)),
            ];
            if let Some((key, _)) = image_only.iter().find(|(_, given)| *given) {
                return Err(format!("[{table}] {key} is for images; `{f}` holds texts"));
            }
            if self.class_names.is_some() {
                return Err(format!(
                    "[{table}] class_names is for images (a text domain's labels are its names; the top-level class_names renames the task's)"
                ));
            }
        }
        if let Some(w) = self.ways
            && w < 2
        {
            return Err(format!(
                "[{table}] ways = {w}: a task needs two classes at least"
            ));
        }
        if let Some(names) = &self.class_names {
            check_names(names, &format!("[{table}] class_names"))?;
            if self.ways.is_some() {
                return Err(format!(
                    "[{table}] class_names with ways: ways draws its classes by seed, so the names would fall on whichever were drawn; choose the classes with classes = [...] and name those"
                ));
            }
        }
        if self.more_zips.is_some() && f != "omniglot" {
            return Err(format!(
                "[{table}] more_zips is for `omniglot` background zips, not `{f}`"
            ));
        }
        if f == "omniglot-runs" {
            let set = [
                ("classes", self.classes.is_some()),
                ("ways", self.ways.is_some()),
                ("limit", self.limit.is_some()),
                ("labelled_per_class", self.labelled_per_class.is_some()),
                ("class_names", self.class_names.is_some()),
                ("turns", self.turns.is_some()),
            ];
            if let Some((key, _)) = set.iter().find(|(_, given)| *given) {
                return Err(format!(
                    "[{table}] `{key}` would change the fixed runs of `omniglot-runs`: leave it out"
                ));
            }
        }
        if self.crop == Some(0) {
            return Err(format!("[{table}] crop must be at least 1 px"));
        }
        Ok(())
    }

    /// The path: `${VAR}` replaced by the environment variable (`${TL_DATA_DIR}/mnist`), then
    /// relative to the recipe's folder.
    pub fn resolve(&self, base: &Path) -> Result<Option<PathBuf>, String> {
        self.path.as_deref().map(|p| resolve(p, base)).transpose()
    }

    /// [`Self::resolve`] of every `more_zips` path.
    pub fn resolve_more(&self, base: &Path) -> Result<Vec<PathBuf>, String> {
        self.more_zips
            .iter()
            .flatten()
            .map(|p| resolve(p, base))
            .collect()
    }
}

/// A recipe path: `${VAR}` replaced by the environment variable, then relative to `base`.
fn resolve(p: &Path, base: &Path) -> Result<PathBuf, String> {
    let text = p.to_string_lossy();
    let mut out = String::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("path {text}: `${{` without `}}`"))?;
        let var = &rest[start + 2..start + end];
        let value = std::env::var(var)
            .map_err(|_| format!("path {text} uses ${{{var}}}, which is not set"))?;
        out += &rest[..start];
        out += &value;
        rest = &rest[start + end + 1..];
    }
    out += rest;
    Ok(base.join(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
seeds = 2
[source]
format = "digits"
classes = [0, 1, 2]
[model]
name = "small-cnn"
[[strategy]]
name = "full-fine-tune"
"#;

    #[test]
    fn a_recipe_parses_with_defaults() {
        let r = parse(GOOD, "good.toml").unwrap();
        assert_eq!(r.seeds, 2);
        assert_eq!(r.train.epochs, 10);
        assert_eq!(r.strategies[0].label(), "full-fine-tune");
    }

    #[test]
    fn an_unknown_key_names_its_line_and_the_known_keys() {
        let bad = GOOD.replace("classes = [0, 1, 2]", "clases = [0, 1, 2]");
        let err = parse(&bad, "bad.toml").unwrap_err().to_string();
        assert!(err.contains("line 5"), "{err}");
        assert!(err.contains("clases"), "{err}");
        assert!(err.contains("classes"), "{err}");
    }

    #[test]
    fn an_unknown_format_and_a_missing_column_are_refused() {
        let bad = GOOD.replace("\"digits\"", "\"parquet\"");
        let err = parse(&bad, "r").unwrap_err().to_string();
        assert!(
            err.contains("parquet") && err.contains("known: digits"),
            "{err}"
        );
        let bad = GOOD.replace("format = \"digits\"", "format = \"csv\"\npath = \"a.csv\"");
        let err = parse(&bad, "r").unwrap_err().to_string();
        assert!(err.contains("text_column"), "{err}");
    }

    fn with_sets(sets: &[&str]) -> Result<Recipe, String> {
        let mut table: toml::Table = toml::from_str(GOOD).unwrap();
        for set in sets {
            apply_set(&mut table, set)?;
        }
        let recipe: Recipe = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        recipe.validate()?;
        Ok(recipe)
    }

    #[test]
    fn set_lays_values_over_tables_rows_and_new_keys() {
        let r = with_sets(&[
            "seeds=5",
            "source.crop = 6",
            "model.widths=[4, 8, 16]",
            "strategy.0.settings.train.lr=1e-4",
            "strategy.0.label=fine",
            "name=a title",
        ])
        .unwrap();
        assert_eq!(r.seeds, 5);
        assert_eq!(r.source.crop, Some(6));
        assert_eq!(r.model.widths, Some(vec![4, 8, 16]));
        assert_eq!(r.strategies[0].label(), "fine");
        assert_eq!(r.name.as_deref(), Some("a title"));
        let lr = &r.strategies[0].settings.as_ref().unwrap()["train"]["lr"];
        assert_eq!(lr.as_float(), Some(1e-4));
        // A new table is made on the way (`[target]` is not in the recipe).
        let r = with_sets(&["target.format=digits", "target.labelled_per_class=3"]).unwrap();
        assert_eq!(r.target.unwrap().labelled_per_class, Some(3));
    }

    #[test]
    fn seeds_past_the_largest_are_refused() {
        assert_eq!(seed_range(3, 2), Ok(3..5));
        // TOML stops at i64::MAX, `--seeds` (a u64) does not.
        let err = seed_range(i64::MAX as u64, u64::MAX - 5).unwrap_err();
        assert!(err.contains("past the largest seed"), "{err}");
    }

    #[test]
    fn a_bad_set_is_refused_by_name() {
        for (set, says) in [
            ("seeds", "KEY=VALUE"),
            ("strategy.3.name=x", "1 items"),
            ("strategy.name=x", "by its number"),
            ("seeds.x=1", "not a table"),
            ("source..format=x", "empty part"),
            ("sources.format=x", "unknown field"),
            ("seeds=many", "invalid type"),
            ("model.widths=[4, 8]", "three widths"),
            ("source.crop=0", "crop must be"),
            (
                "strategy.0.label=no_adaptation",
                "would save their models in one folder",
            ),
        ] {
            let err = with_sets(&[set]).unwrap_err();
            assert!(err.contains(says), "{set}: {err}");
        }
        let err = with_sets(&["target.format=digits", "target.labelled_per_class=0"]).unwrap_err();
        assert!(
            err.contains("labelled_per_class must be at least 1"),
            "{err}"
        );
    }
}
