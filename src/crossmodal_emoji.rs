//! tl-crossmodal's emoji table: Google drawings of 80 % of the subcategories align with
//! captions from the symbols' names (CLIP-style, the text tower locked: all-MiniLM-L6-v2, and
//! hashed words as the text side without pretraining); Twitter drawings of the same (seen)
//! symbols and of the held-out 20 % of subcategories (unseen) are scored from their names:
//! top-1 among seen, among unseen, and over all symbols with the harmonic mean (generalised
//! zero-shot); retrieval recall@1/5/10 both ways on the unseen symbols; unseen symbols drawn
//! from their names (text to image) and judged by the aligned model. `examples/crossmodal.rs
//! --part emoji` and the experiment recipe `recipes/emoji-crossmodal.toml` both run
//! [`emoji_seed`], so the two give the same figures for the same settings and seed.

use crate::content_style::logged_context;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;
use tl_core::data::{Inputs, LabelledSet, UnlabelledSet};
use tl_core::model::{Sequential, SequentialConfig};
use tl_core::report::mean_std;
use tl_core::train::TrainConfig;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The emoji experiment's settings (the example's flags; a recipe's `[experiment]` keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrossModalEmojiSettings {
    /// Alignment epochs (and the text-to-image generator's); 60 when absent.
    pub epochs: Option<usize>,
    /// No random views (crop, rotation, noise) while aligning.
    pub no_augment: bool,
    /// Colour jitter of the random views (brightness, contrast and saturation factors drawn
    /// in [1 - s, 1 + s]; 0: none).
    pub jitter: f32,
    /// Gaussian blur of half of the random views, sigma up to this (pixels; 0: none).
    pub blur: f32,
    /// The random views' smallest crop, as a share of the drawing's area.
    pub crop_area: f32,
    /// The random views' rotation, drawn in [-r, r] degrees.
    pub rotation: f32,
    /// The text sides: `minilm`, `hashed` (with both, one more row scores the drawings by the
    /// two aligned models together: their logits summed).
    pub texts: Vec<String>,
    /// Skip text to image (the conditional VAE's drawings).
    pub no_draw: bool,
    /// A trainable text projection (by default images are projected into MiniLM's space,
    /// which measured better).
    pub text_projection: bool,
    /// SimCLR epochs on unlabelled drawings for the image tower before it aligns (0: none).
    pub tower_simclr: usize,
    /// The drawings SimCLR sees: `google` (the seen symbols' Google drawings) or `both` (and
    /// every Twitter drawing, without its name).
    pub tower_data: String,
    /// The image tower: `small` (three conv / ReLU / max-pool blocks, 32-64-128 channels,
    /// then 256 features), `bn` (the same with batch normalisation after each convolution)
    /// or `deep` (as `bn` with two convolutions a block, VGG-style: about 3.7x the work).
    pub tower: String,
    /// Test-time views: each Twitter drawing's image feature is the mean of its own and this
    /// many random views' (the alignment's crop, rotation and noise), renormalised (0: none).
    pub tta: usize,
    /// Also train the same tower with a linear head to name the seen symbols from their
    /// Google drawings (cross-entropy, the same random views and epochs), scored on Twitter's
    /// drawings of them: what the tower reaches on the seen symbols when told each symbol
    /// directly rather than through its name's text vector (a line under the table).
    pub symbol_classifier: bool,
    /// Describe each symbol by its category and subcategory too: one more phrase per symbol,
    /// `<name> (<category>, <subcategory>)`, in every template (the held-out subcategories'
    /// names are text about those symbols, as their names are).
    pub describe: bool,
    /// The share of each alignment target taken from MiniLM's own similarities between the
    /// batch's captions (soft targets; 0: none).
    pub soft_targets: f64,
    /// Their temperature.
    pub soft_temperature: f64,
    /// The drawings' side in pixels: 32 or 64 (the tower gains a fourth block at 64).
    pub size: usize,
    /// AdaBN after aligning (tl-transductive, Li et al. 2016): the image tower's batch-norm
    /// statistics re-estimated on Twitter's drawings, every symbol's, without their names
    /// (a transductive setting: the test images are seen, unlabelled); the small tower gets
    /// identity batch-norm layers after each ReLU first, set from the Google drawings it
    /// aligned on; the pretrained tower gets a batch-norm layer on its frozen features, trained
    /// with the rest on Google's and re-estimated on Twitter's. The figures before AdaBN are
    /// reported beside.
    pub adabn: bool,
    /// Self-training rounds after aligning (transductive, as AdaBN): each round the Twitter
    /// drawings the model names with the widest margin between its best and second-best
    /// symbol (`self_train_share` of them, among every symbol's names) join the Google
    /// drawings under those names, and the alignment goes on for a third of its epochs
    /// (0: none). The figures before it are reported beside.
    pub self_train: usize,
    /// The share of Twitter's drawings named in each self-training round.
    pub self_train_share: f64,
    /// Towers aligned, each from its own initialisation and batch order, whose image features
    /// are averaged (and renormalised) to name the Twitter drawings (1: one tower). The first
    /// tower's figures alone are reported beside; text to image is judged by the first.
    pub ensemble: usize,
    /// AdamW's decoupled weight decay while aligning (0: Adam without decay, as every figure
    /// before this option was measured).
    pub weight_decay: f64,
    /// Cosine decay of the alignment's learning rate, to 5 % of it at the last step (constant
    /// otherwise).
    pub cosine: bool,
    /// Pairs in each alignment batch (each one's negatives are the batch's other captions).
    pub batch_size: usize,
    /// The side EfficientNet-Lite0 (`tower = "efficientnet-lite0"`) sees the drawings at,
    /// resized (bilinear) from `size`: its ImageNet weights saw 224 px.
    pub lite_side: usize,
    /// Random views of each Google drawing (the alignment's crop, rotation and noise) whose
    /// frozen EfficientNet-Lite0 features are cached beside the drawing's own: the pretrained
    /// tower's augmentation, computed once (0: the drawings alone).
    pub feature_views: usize,
    /// The trainable layer on the frozen EfficientNet-Lite0 features: its width (a linear
    /// layer and ReLU before the projection into the text space; 0: the features projected
    /// straight).
    pub feature_hidden: usize,
    /// Which of EfficientNet-Lite0's activations the pretrained tower's features are: stages
    /// 1-7 and 8 for the head (several are concatenated, each scaled to unit length).
    pub feature_stages: Vec<usize>,
    /// Each chosen activation averaged over a grid x grid partition of the drawing (1: over
    /// the whole drawing), keeping where things are.
    pub feature_grid: usize,
    /// Dropout on the frozen features as they enter the trainable layer (0: none).
    pub feature_dropout: f64,
}

impl Default for CrossModalEmojiSettings {
    fn default() -> Self {
        Self {
            epochs: None,
            no_augment: false,
            jitter: 0.0,
            blur: 0.0,
            crop_area: 0.6,
            rotation: 10.0,
            texts: vec!["minilm".into(), "hashed".into()],
            no_draw: false,
            text_projection: false,
            tower_simclr: 0,
            tower_data: "google".into(),
            tower: "small".into(),
            tta: 0,
            symbol_classifier: false,
            describe: false,
            soft_targets: 0.0,
            soft_temperature: 0.1,
            size: 32,
            adabn: false,
            self_train: 0,
            self_train_share: 0.3,
            ensemble: 1,
            weight_decay: 0.0,
            cosine: false,
            batch_size: 64,
            lite_side: 128,
            feature_views: 8,
            feature_hidden: 512,
            feature_stages: vec![4, 5],
            feature_grid: 4,
            feature_dropout: 0.5,
        }
    }
}

impl CrossModalEmojiSettings {
    /// Refuses settings the experiment cannot take, by name, before any work.
    pub fn validate(&self) -> tl_core::Result<()> {
        let bad = |key: &'static str, why: String| Err(tl_core::CoreError::config(key, why));
        if self.epochs == Some(0) {
            return bad("epochs", "at least 1".into());
        }
        if self.texts.is_empty() {
            return bad("texts", "name a text side: minilm, hashed".into());
        }
        if let Some(t) = self
            .texts
            .iter()
            .find(|t| !matches!(t.as_str(), "minilm" | "hashed"))
        {
            return bad("texts", format!("`{t}`: minilm or hashed"));
        }
        if let Some((_, t)) = self
            .texts
            .iter()
            .enumerate()
            .find(|(i, t)| self.texts[..*i].contains(t))
        {
            return bad("texts", format!("`{t}` named twice: each side once"));
        }
        if !matches!(self.tower_data.as_str(), "google" | "both") {
            return bad(
                "tower_data",
                format!("`{}`: google or both", self.tower_data),
            );
        }
        if self.pretrained_tower() {
            let refused = [
                ("tower_simclr", self.tower_simclr > 0),
                ("tta", self.tta > 0),
                ("symbol_classifier", self.symbol_classifier),
                ("no_draw", !self.no_draw),
            ];
            if let Some((key, _)) = refused.iter().find(|r| r.1) {
                return bad(
                    key,
                    "the pretrained tower stays frozen and aligns on its cached features: \
                     no SimCLR, test-time views or symbol classifier, and no text to image \
                     (which draws pixels; pass no_draw)"
                        .into(),
                );
            }
            if !(32..=512).contains(&self.lite_side) {
                return bad("lite_side", format!("{} px: 32 to 512", self.lite_side));
            }
            if self.feature_stages.is_empty()
                || self.feature_stages.iter().any(|s| !(1..=8).contains(s))
            {
                return bad(
                    "feature_stages",
                    format!(
                        "{:?}: stages 1 to 7, 8 for the head, at least one",
                        self.feature_stages
                    ),
                );
            }
            if !(0.0..1.0).contains(&self.feature_dropout) {
                return bad(
                    "feature_dropout",
                    format!("{}: a probability in [0, 1)", self.feature_dropout),
                );
            }
            if !(1..=8).contains(&self.feature_grid) {
                return bad(
                    "feature_grid",
                    format!("{} x {}: 1 to 8", self.feature_grid, self.feature_grid),
                );
            }
            if self.feature_hidden > 8192 {
                return bad(
                    "feature_hidden",
                    format!("{} wide: at most 8192 (0: none)", self.feature_hidden),
                );
            }
            if self.feature_views > 64 {
                return bad(
                    "feature_views",
                    format!("{} views: at most 64", self.feature_views),
                );
            }
        } else {
            tower_layout(&self.tower)?;
        }
        // The alignment's own bounds on the soft targets, checked before any work.
        tl_crossmodal::Clip::new()
            .with_soft_targets(self.soft_targets)
            .with_soft_temperature(self.soft_temperature)
            .validate()?;
        if !matches!(self.size, 32 | 64) {
            return bad("size", format!("{} px: 32 or 64", self.size));
        }
        if !(self.self_train_share > 0.0 && self.self_train_share <= 1.0) {
            return bad(
                "self_train_share",
                format!("{}: a share in (0, 1]", self.self_train_share),
            );
        }
        if !(1..=16).contains(&self.ensemble) {
            return bad("ensemble", format!("{} towers: 1 to 16", self.ensemble));
        }
        if !(0.0..=1.0).contains(&self.weight_decay) {
            return bad(
                "weight_decay",
                format!("{}: a decay in [0, 1]", self.weight_decay),
            );
        }
        if !(2..=4096).contains(&self.batch_size) {
            return bad(
                "batch_size",
                format!("{} pairs: 2 to 4096", self.batch_size),
            );
        }
        if self.self_train > 10 {
            return bad(
                "self_train",
                format!("{} rounds: at most 10", self.self_train),
            );
        }
        // Each of these reports the run's figures without it beside its own: one at a time.
        let options = [
            ("tta", self.tta > 0),
            ("self_train", self.self_train > 0),
            ("adabn", self.adabn),
            ("ensemble", self.ensemble > 1),
        ];
        let on: Vec<&str> = options.iter().filter(|o| o.1).map(|o| o.0).collect();
        // AdaBN adapts each tower of an ensemble alike: its figures before AdaBN are the
        // first tower's, as are the figures of the first tower alone (after AdaBN).
        if on.len() > 1 && on != ["adabn", "ensemble"] {
            return bad(
                on[1],
                format!(
                    "{} are each measured against the run without them: one at a time",
                    on.join(" and ")
                ),
            );
        }
        if self.ensemble > 1 && (self.text_projection || self.tower_simclr > 0) {
            return bad(
                "ensemble",
                "the towers' features are averaged in one text space from fresh towers: \
                 without text_projection and tower_simclr"
                    .into(),
            );
        }
        if !(self.crop_area > 0.0 && self.crop_area <= 1.0) {
            return bad(
                "crop_area",
                format!("{}: a share of the drawing in (0, 1]", self.crop_area),
            );
        }
        if !(0.0..=180.0).contains(&self.rotation) {
            return bad("rotation", format!("{} degrees: 0 to 180", self.rotation));
        }
        if self.tta > 64 {
            return bad("tta", format!("{} views: at most 64", self.tta));
        }
        if !((0.0..1.0).contains(&self.jitter) && self.blur >= 0.0 && self.blur.is_finite()) {
            return bad(
                "jitter",
                format!(
                    "jitter {} must lie in [0, 1) and blur {} be at least 0",
                    self.jitter, self.blur
                ),
            );
        }
        Ok(())
    }

    /// Whether the image tower is EfficientNet-Lite0 pretrained on ImageNet (frozen, its
    /// features cached) rather than a CNN trained from scratch.
    pub fn pretrained_tower(&self) -> bool {
        self.tower == LITE0
    }

    /// Whether a text side needs MiniLM (under `TL_MODEL_DIR`).
    pub fn needs_minilm(&self) -> bool {
        self.texts.iter().any(|t| t == "minilm")
    }
}

pub use crate::content_style::{emoji_set, emoji_set_at};

/// The symbols of the subcategories kept (seen) and of a fifth of them held out (unseen),
/// the held-out ones drawn with `seed`; refused when either side would be empty (fewer than 5
/// subcategories), since the unseen figures divide by their count.
fn seen_and_unseen(symbols: &[tl_data::emoji::Emoji], seed: u64) -> Res<(Vec<usize>, Vec<usize>)> {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut subs: Vec<&str> = symbols.iter().map(|s| s.subcategory.as_str()).collect();
    subs.sort_unstable();
    subs.dedup();
    subs.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let held: Vec<&str> = subs[..subs.len() / 5].to_vec();
    let (seen, unseen): (Vec<usize>, Vec<usize>) =
        (0..symbols.len()).partition(|&i| !held.contains(&symbols[i].subcategory.as_str()));
    if seen.is_empty() || unseen.is_empty() {
        return Err(format!(
            "the emoji set has {} subcategories: holding out a fifth of them leaves {} seen and {} unseen symbols; both need at least one",
            subs.len(),
            seen.len(),
            unseen.len()
        )
        .into());
    }
    Ok((seen, unseen))
}

/// One seed of the emoji experiment: a row per text side (and the text-to-image row after
/// MiniLM's unless `no_draw`); with `pictures`, the retrieval grid and the drawings.
pub fn emoji_seed(
    s: &CrossModalEmojiSettings,
    set: &tl_data::emoji::EmojiSet,
    seed: u64,
    pictures: Option<&Path>,
    dev: &Device,
    log: &dyn Fn(&str),
) -> Res<Vec<Value>> {
    s.validate()?;
    use tl_crossmodal::{ClassPrompts, Clip, ClipModel, Readout, TextSpace, picture_templates};
    // A missing MiniLM would otherwise be found after the hashed side had trained.
    if s.needs_minilm() {
        TextSpace::model_folder("all-MiniLM-L6-v2")?;
    }
    let google = set.by_symbol(0)?;
    let twitter_pixels = set.by_symbol(1)?;
    // The pretrained tower, loaded before any work (its weights may be missing).
    let lite = if s.pretrained_tower() {
        let plain = dev.clone().without_autodiff();
        let config = tl_models::efficientnet::EfficientNetLiteConfig::new(vec![3, s.size, s.size])
            .with_resolution(s.lite_side);
        let path = tl_models::efficientnet::lite0_weights()?;
        Some(tl_models::efficientnet::load_lite0(&config, &path, &plain)?.0)
    } else {
        None
    };
    let names = google.class_names.clone();
    let n = names.len();
    let mut spaces = Vec::new();
    for t in &s.texts {
        spaces.push(match t.as_str() {
            "minilm" => ("MiniLM", TextSpace::minilm()),
            "hashed" => ("hashed words", TextSpace::Hashed { dim: 384 }),
            other => return Err(format!("unknown text side {other:?}: minilm or hashed").into()),
        });
    }
    let mut rows_out = Vec::new();
    // One class per symbol (`by_symbol`): symbol i is class i.
    let (seen, unseen) = seen_and_unseen(&set.symbols, seed)?;
    let source_pixels = google.select(&seen);
    // Captions: every template with the name and with each short name.
    let prompts = ClassPrompts::from_texts(
        set.symbols
            .iter()
            .map(|e| {
                let mut words = vec![e.text_name()];
                for s in &e.short_names {
                    let s = s.replace('_', " ");
                    if !words.contains(&s) {
                        words.push(s);
                    }
                }
                if s.describe {
                    words.push(format!(
                        "{} ({}, {})",
                        e.text_name(),
                        e.category.to_lowercase(),
                        e.subcategory.replace('-', " ")
                    ));
                }
                words
                    .iter()
                    .flat_map(|w| {
                        picture_templates()
                            .into_iter()
                            .map(move |t| t.replace("{}", w))
                    })
                    .collect()
            })
            .collect(),
    )?;
    // Each text side's logits (cosines times its learned logit scale), summed over the sides:
    // the product of their probabilities, scored as one more row when more than one side runs.
    let mut joint: Vec<f32> = Vec::new();
    let (mut joint_wall, mut joint_params, mut joint_scales) = (0.0, 0, Vec::new());
    // The same sums for the figures of the run without one of its options (before AdaBN, the
    // ensemble's first tower alone), so that the joint row has them too.
    let mut joint_without: Vec<(&str, Vec<f32>)> = Vec::new();
    let mut add_without = |key: &'static str, scale: f32, scores: &[f32]| {
        let at = match joint_without.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                joint_without.push((key, vec![0.0; scores.len()]));
                joint_without.len() - 1
            }
        };
        for (j, c) in joint_without[at].1.iter_mut().zip(scores) {
            *j += scale * c;
        }
    };
    // The random views, the same for every text side.
    let augment = tl_unsupervised::augment::ViewAugment::new()
        .with_min_area(s.crop_area)
        .with_max_degrees(s.rotation)
        .with_noise_std(0.05)
        .with_fill(1.0)
        .with_brightness(s.jitter)
        .with_contrast(s.jitter)
        .with_saturation(s.jitter)
        .with_blur_sigma(s.blur);
    // With the pretrained tower the drawings become its frozen features, computed once: the
    // seen symbols' Google drawings with `feature_views` random views each, Twitter's as
    // they are. The trainable tower is a layer on them.
    let cached = match &lite {
        Some(net) => {
            let started = std::time::Instant::now();
            let views = if s.no_augment { 0 } else { s.feature_views };
            let taps = (&s.feature_stages[..], s.feature_grid);
            let source = frozen_features(net, &source_pixels, &augment, views, taps, seed, dev)?;
            let twitter = frozen_features(net, &twitter_pixels, &augment, 0, taps, seed, dev)?;
            log(&format!(
                "seed {seed}: EfficientNet-Lite0 features at {} px of {} Google drawings ({views} views each) and {} Twitter drawings ({:.0} s)",
                s.lite_side,
                source_pixels.len(),
                twitter.len(),
                started.elapsed().as_secs_f64()
            ));
            Some((source, twitter))
        }
        None => None,
    };
    let (source, twitter) = match &cached {
        Some((source, twitter)) => (source, twitter),
        None => (&source_pixels, &twitter_pixels),
    };
    let new_tower = |dev: &Device| -> Res<Sequential> {
        if s.pretrained_tower() {
            // The cached features' width.
            let mut config = SequentialConfig::new(source.inputs.item_shape.clone());
            if s.adabn {
                // Batch norm on the features as they come: trained on Google's, then
                // re-estimated on Twitter's (AdaBN where the domain shift enters).
                config = config.batch_norm();
            }
            if s.feature_dropout > 0.0 {
                config = config.dropout(s.feature_dropout);
            }
            if s.feature_hidden > 0 {
                config = config.linear(s.feature_hidden).relu();
            }
            Ok(config.init(dev)?)
        } else {
            tower_for(&s.tower, s.size, dev)
        }
    };
    for (label, space) in &spaces {
        let clip = Clip::new()
            .with_text(space.clone())
            .with_templates(picture_templates())
            .with_dim(256)
            .with_readout(Readout::ZeroShot)
            .with_text_projection(s.text_projection)
            .with_soft_targets(s.soft_targets)
            .with_soft_temperature(s.soft_temperature)
            .with_augment((!s.no_augment && lite.is_none()).then(|| augment.clone()))
            .with_train(align_train(s));
        let mut ctx = logged_context(dev, seed, format!("seed {seed}, {label}"), log);
        ctx.begin();
        let cached = match space {
            TextSpace::Sentence { cache: true, .. } => {
                " (kept in the embedding cache for the next run)"
            }
            _ => "",
        };
        let captions = prompts.strs();
        log(&format!(
            "seed {seed}, {label}: embedding {} captions{cached}",
            captions.len()
        ));
        let vectors = space.embed(&captions, dev)?;
        dev.seed(seed.wrapping_add(300));
        let mut tower = new_tower(dev)?;
        if s.tower_simclr > 0 {
            let drawings = match s.tower_data.as_str() {
                "google" => source.unlabelled(),
                "both" => {
                    let mut values = source.inputs.values.clone();
                    values.extend_from_slice(&twitter.inputs.values);
                    UnlabelledSet::new(
                        Inputs::new(source.inputs.item_shape.clone(), values)?,
                        "google seen + twitter",
                    )?
                }
                other => {
                    return Err(format!("--tower-data {other:?}: google or both").into());
                }
            };
            let simclr = tl_unsupervised::SimClr::new()
                .with_augment(augment.clone())
                .with_train(
                    TrainConfig::new()
                        .with_epochs(s.tower_simclr)
                        .with_batch_size(256)
                        .with_lr(1e-3),
                );
            let started = std::time::Instant::now();
            let (pretrained, history) = simclr.pretrain(tower, &drawings, &mut ctx)?;
            log(&format!(
                "seed {seed}: SimCLR on {} drawings, {} epochs, loss {:.3} ({:.0} s)",
                drawings.len(),
                s.tower_simclr,
                history.last().map_or(f64::NAN, |e| e.train_loss),
                started.elapsed().as_secs_f64()
            ));
            tower = pretrained;
        }
        let (mut model, mut history): (ClipModel<Sequential>, _) =
            clip.align(tower, source, &prompts, &vectors, &mut ctx)?;
        let figures = |scores: &[f32]| {
            (
                top1_among(scores, n, &seen, &seen, &seen),
                top1_among(scores, n, &unseen, &unseen, &unseen),
            )
        };
        // Self-training: the Twitter drawings the model names with the widest margin join
        // the Google drawings under the names it gives them, and the alignment goes on.
        let mut before_self_training = None;
        let epochs = (s.epochs.unwrap_or(60) / 3).max(1);
        let more = clip
            .clone()
            .with_train(clip.train.clone().with_epochs(epochs));
        for round in 1..=s.self_train {
            let protos = model.class_prototypes(&prompts, &vectors, dev)?;
            let images = model.embed_images(&twitter.inputs, dev, 256)?;
            let scores = cosines(&images, &protos, model.dim());
            let (seen_now, unseen_now) = figures(&scores);
            if round == 1 {
                before_self_training = Some((seen_now, unseen_now));
            }
            let picked = confident(&scores, n, s.self_train_share);
            if picked.is_empty() {
                return Err(tl_core::CoreError::config(
                    "self_train_share",
                    format!(
                        "{} of {} Twitter drawings is none: self-training would add nothing",
                        s.self_train_share,
                        twitter.len()
                    ),
                )
                .into());
            }
            let right = picked
                .iter()
                .filter(|&&(i, c)| twitter.labels[i] == c)
                .count();
            let mut values = source.inputs.values.clone();
            let mut labels = source.labels.clone();
            for &(i, c) in &picked {
                values.extend_from_slice(twitter.inputs.item(i));
                labels.push(c);
            }
            let pairs = LabelledSet::new(
                Inputs::new(source.inputs.item_shape.clone(), values)?,
                labels,
                names.clone(),
                "google seen + twitter named by the model",
            )?;
            log(&format!(
                "seed {seed}, {label}: self-training round {round}: {} Twitter drawings named by the model join the {} Google drawings ({:.1} % of the names right; seen {:.2} %, unseen {:.2} % before the round), {epochs} epochs",
                picked.len(),
                source_pixels.len(),
                100.0 * right as f64 / picked.len().max(1) as f64,
                100.0 * seen_now,
                100.0 * unseen_now,
            ));
            let (next, h) = more.align_from(model, &pairs, &prompts, &vectors, &mut ctx)?;
            model = next;
            history.extend(h);
        }
        let protos = model.class_prototypes(&prompts, &vectors, dev)?;
        let dim = model.dim();
        let scores_of = |images: &[f32]| cosines(images, &protos, dim);
        // AdaBN: the figures before it, then the tower normalised by Twitter's statistics.
        let adapt = |mut model: ClipModel<Sequential>| -> Res<ClipModel<Sequential>> {
            let adabn = tl_transductive::AdaBn::new();
            let encoder = adabn.with_batch_norm(model.encoder, &source.unlabelled(), dev)?;
            model.encoder = adabn.restandardize(encoder, &twitter.unlabelled(), dev)?;
            Ok(model)
        };
        let first_scale = tl_core::train::scalar(&model.scale());
        let (model, before_adabn) = if s.adabn {
            let before = scores_of(&model.embed_images(&twitter.inputs, dev, 256)?);
            add_without("before_adabn", first_scale as f32, &before);
            (adapt(model)?, Some(figures(&before)))
        } else {
            (model, None)
        };
        let mut wall = ctx.elapsed();
        let mut scale = first_scale;
        let mut images = model.embed_images(&twitter.inputs, dev, 256)?;
        // An ensemble: more towers aligned from other initialisations and batch orders (each
        // adapted as the first with AdaBN), each drawing's features averaged over them and
        // renormalised.
        let one_tower = if s.ensemble > 1 {
            let first = scores_of(&images);
            add_without("one_tower", first_scale as f32, &first);
            Some(figures(&first))
        } else {
            None
        };
        for k in 1..s.ensemble {
            // Each tower's own seed, apart from every run's seed.
            let member = seed ^ ((k as u64) << 32);
            let tag = format!("seed {seed}, {label}, tower {}", k + 1);
            let mut member_ctx = logged_context(dev, member, tag, log);
            member_ctx.begin();
            dev.seed(300 + member);
            let tower = new_tower(dev)?;
            let (other, _) = clip.align(tower, source, &prompts, &vectors, &mut member_ctx)?;
            let other = if s.adabn { adapt(other)? } else { other };
            wall += member_ctx.elapsed();
            scale += tl_core::train::scalar(&other.scale());
            let theirs = other.embed_images(&twitter.inputs, dev, 256)?;
            let (seen1, unseen1) = figures(&scores_of(&theirs));
            log(&format!(
                "seed {seed}: {label:<13} tower {} alone: seen {:.2} %, unseen {:.2} %",
                k + 1,
                100.0 * seen1,
                100.0 * unseen1
            ));
            for (a, b) in images.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        if s.ensemble > 1 {
            normalize_rows(&mut images, dim);
        }
        // The towers' mean logit scale.
        let scale = scale / s.ensemble as f64;
        // With test-time views: the figures of the drawings alone, for comparison.
        let single = (s.tta > 0).then(|| figures(&scores_of(&images)));
        if s.tta > 0 {
            let all: Vec<usize> = (0..n).collect();
            for v in 0..s.tta {
                let views = augment.views(
                    &twitter.inputs,
                    &all,
                    seed.wrapping_mul(97).wrapping_add(7_000 + v as u64),
                )?;
                let views = Inputs::new(twitter.inputs.item_shape.clone(), views)?;
                for (a, b) in images.iter_mut().zip(model.embed_images(&views, dev, 256)?) {
                    *a += b;
                }
            }
            normalize_rows(&mut images, dim);
        }
        let scores = scores_of(&images);
        if joint.is_empty() {
            joint = vec![0.0; scores.len()];
        }
        for (j, c) in joint.iter_mut().zip(&scores) {
            *j += scale as f32 * c;
        }
        let params = s.ensemble * tl_core::model::count_params(&model).total;
        joint_wall += wall;
        joint_params += params;
        joint_scales.push(scale);
        let figures_now = Scored::of(&scores, n, &seen, &unseen);
        let loss = history.last().map_or(f64::NAN, |e| e.train_loss);
        log(&format!(
            "seed {seed}: {label:<13} {} ({wall:.0} s, loss {loss:.3})",
            figures_now.line()
        ));
        let mut row = figures_now.json(seed, label);
        extend(
            &mut row,
            json!({
                "wall_time_s": wall, "logit_scale": scale, "params": params,
                "text_cache_hit": vectors.cached,
                "augment": !s.no_augment, "jitter": s.jitter, "blur": s.blur,
                "crop_area": s.crop_area, "rotation": s.rotation,
                "tower": s.tower, "tta": s.tta, "describe": s.describe,
                "soft_targets": s.soft_targets, "soft_temperature": s.soft_temperature,
                "adabn": s.adabn, "self_train": s.self_train,
                "self_train_share": s.self_train_share, "ensemble": s.ensemble,
                "weight_decay": s.weight_decay, "cosine": s.cosine, "batch_size": s.batch_size,
                "lite_side": lite.as_ref().map(|_| s.lite_side),
                "feature_views": lite.as_ref().map(|_| if s.no_augment { 0 } else { s.feature_views }),
                "feature_hidden": lite.as_ref().map(|_| s.feature_hidden),
                "feature_stages": lite.as_ref().map(|_| s.feature_stages.clone()),
                "feature_grid": lite.as_ref().map(|_| s.feature_grid),
                "feature_dropout": lite.as_ref().map(|_| s.feature_dropout),
            }),
        );
        rows_out.push(row);
        // The figures of the same run without one of its options, beside its own.
        let without = [
            (
                "before_self_training",
                "before self-training",
                before_self_training,
            ),
            ("before_adabn", "before AdaBN", before_adabn),
            ("single_view", "without the test-time views", single),
            ("one_tower", "the first tower alone", one_tower),
        ];
        for (key, what, figures) in without {
            if let (Some((seen0, unseen0)), Some(row)) = (figures, rows_out.last_mut()) {
                log(&format!(
                    "seed {seed}: {label:<13} {what}: seen {:.2} %, unseen {:.2} %",
                    100.0 * seen0,
                    100.0 * unseen0
                ));
                row[format!("seen_top1_{key}")] = json!(seen0);
                row[format!("unseen_top1_{key}")] = json!(unseen0);
            }
        }
        if s.symbol_classifier && *label == "MiniLM" {
            let started = std::time::Instant::now();
            let (named, loss) = seen_classifier(s, source, twitter, &seen, &augment, seed, dev)?;
            let seconds = started.elapsed().as_secs_f64();
            log(&format!(
                "seed {seed}: the tower told each seen symbol directly (a linear head, cross-entropy): Twitter's seen drawings {:.2} % ({seconds:.0} s, loss {loss:.3})",
                100.0 * named
            ));
            if let Some(row) = rows_out.last_mut() {
                row["seen_classifier"] = json!(named);
                row["seen_classifier_seconds"] = json!(seconds);
            }
        }
        if *label == "MiniLM" && !s.no_draw {
            let judged = draw_emoji(
                s, source, &names, &unseen, &model, &protos, twitter, seed, pictures, dev, log,
            )?;
            rows_out.push(judged);
        }
        if let (Some(dir), "MiniLM") = (pictures, *label) {
            // The unseen symbols' Twitter drawings and their names' prototypes.
            let pick = |v: &[f32], idx: &[usize]| -> Vec<f32> {
                idx.iter()
                    .flat_map(|&i| v[i * dim..(i + 1) * dim].to_vec())
                    .collect()
            };
            let (ui, ut) = (pick(&images, &unseen), pick(&protos, &unseen));
            retrieval_picture(
                dir,
                &unseen,
                &names,
                &ut,
                &ui,
                dim,
                &twitter_pixels,
                &mut rows_out,
                log,
            )?;
        }
    }
    if spaces.len() > 1 {
        let label = spaces.iter().map(|s| s.0).collect::<Vec<_>>().join(" + ");
        let mut row = joint_row(
            &joint,
            n,
            (&seen, &unseen),
            (seed, &label),
            (joint_wall, joint_params),
            &joint_scales,
            s,
            log,
        );
        for (key, sums) in &joint_without {
            let f = Scored::of(sums, n, &seen, &unseen);
            log(&format!(
                "seed {seed}: {label} {key}: seen {:.2} %, unseen {:.2} %",
                100.0 * f.seen_top1,
                100.0 * f.unseen_top1
            ));
            row[format!("seen_top1_{key}")] = json!(f.seen_top1);
            row[format!("unseen_top1_{key}")] = json!(f.unseen_top1);
        }
        rows_out.push(row);
    }
    Ok(rows_out)
}

/// The row of the text sides together: `joint` is the sum of their logits (`[drawings,
/// symbols]`), the product of their probabilities; retrieval ranks by it both ways.
#[allow(clippy::too_many_arguments)]
fn joint_row(
    joint: &[f32],
    n: usize,
    (seen, unseen): (&[usize], &[usize]),
    (seed, label): (u64, &str),
    (wall, params): (f64, usize),
    scales: &[f64],
    s: &CrossModalEmojiSettings,
    log: &dyn Fn(&str),
) -> Value {
    let figures = Scored::of(joint, n, seen, unseen);
    log(&format!(
        "seed {seed}: {label} (their logits summed; logit scales {scales:.1?}): {}",
        figures.line()
    ));
    let mut row = figures.json(seed, label);
    extend(
        &mut row,
        json!({
            "wall_time_s": wall, "params": params, "logit_scales": scales,
            "tower": s.tower, "ensemble": s.ensemble,
        }),
    );
    row
}

/// `more`'s fields put into `row` (both JSON objects).
fn extend(row: &mut Value, more: Value) {
    if let (Some(row), Value::Object(more)) = (row.as_object_mut(), more) {
        row.extend(more);
    }
}

/// The zero-shot figures of a score matrix (`[drawings, symbols]`, drawing i showing symbol
/// i): top-1 among the seen symbols, among the unseen, over all (generalised zero-shot, with
/// the harmonic mean), and retrieval recall@1/5/10 both ways on the unseen.
struct Scored {
    seen: usize,
    unseen: usize,
    seen_top1: f64,
    unseen_top1: f64,
    gzsl_seen: f64,
    gzsl_unseen: f64,
    harmonic: f64,
    image_to_text: Vec<f64>,
    text_to_image: Vec<f64>,
}

impl Scored {
    fn of(scores: &[f32], n: usize, seen: &[usize], unseen: &[usize]) -> Self {
        let all: Vec<usize> = (0..n).collect();
        let gzsl_seen = top1_among(scores, n, seen, seen, &all);
        let gzsl_unseen = top1_among(scores, n, unseen, unseen, &all);
        let ks = [1, 5, 10];
        Self {
            seen: seen.len(),
            unseen: unseen.len(),
            seen_top1: top1_among(scores, n, seen, seen, seen),
            unseen_top1: top1_among(scores, n, unseen, unseen, unseen),
            gzsl_seen,
            gzsl_unseen,
            harmonic: if gzsl_seen + gzsl_unseen > 0.0 {
                2.0 * gzsl_seen * gzsl_unseen / (gzsl_seen + gzsl_unseen)
            } else {
                0.0
            },
            image_to_text: recall_of_scores(scores, n, unseen, unseen, false, &ks),
            text_to_image: recall_of_scores(scores, n, unseen, unseen, true, &ks),
        }
    }

    fn line(&self) -> String {
        let (i, t) = (&self.image_to_text, &self.text_to_image);
        format!(
            "seen {:.2} % (of {}), unseen {:.2} % (of {}; chance {:.2}), GZSL seen {:.2} unseen {:.2} H {:.2}; unseen R@1/5/10 image->text {:.1}/{:.1}/{:.1}, text->image {:.1}/{:.1}/{:.1}",
            100.0 * self.seen_top1,
            self.seen,
            100.0 * self.unseen_top1,
            self.unseen,
            100.0 / self.unseen.max(1) as f64,
            100.0 * self.gzsl_seen,
            100.0 * self.gzsl_unseen,
            100.0 * self.harmonic,
            100.0 * i[0],
            100.0 * i[1],
            100.0 * i[2],
            100.0 * t[0],
            100.0 * t[1],
            100.0 * t[2]
        )
    }

    fn json(&self, seed: u64, text: &str) -> Value {
        json!({
            "seed": seed, "text": text, "seen": self.seen, "unseen": self.unseen,
            "seen_top1": self.seen_top1, "unseen_top1": self.unseen_top1,
            "unseen_chance": 1.0 / self.unseen.max(1) as f64,
            "gzsl_seen": self.gzsl_seen, "gzsl_unseen": self.gzsl_unseen,
            "gzsl_harmonic": self.harmonic,
            "recall_image_to_text": self.image_to_text,
            "recall_text_to_image": self.text_to_image,
        })
    }
}

/// Recall@k of retrieval by a score matrix (`scores[drawing * classes + symbol]`): drawings
/// `rows[i]` whose symbol `cols[i]` ranks among the `k` best of `cols` (or, `by_text`, symbols
/// whose drawing ranks among the `k` best of `rows`), ranked as [`tl_crossmodal::recall_at`]
/// ranks features.
fn recall_of_scores(
    scores: &[f32],
    classes: usize,
    rows: &[usize],
    cols: &[usize],
    by_text: bool,
    ks: &[usize],
) -> Vec<f64> {
    let at = |q: usize, k: usize| {
        let (r, c) = if by_text { (k, q) } else { (q, k) };
        scores[rows[r] * classes + cols[c]]
    };
    tl_crossmodal::recall_by_scores(rows.len(), rows.len(), at, |q, k| q == k, ks)
}

/// The alignment's training: `batch_size` pairs (64), Adam at 1e-3 (AdamW with
/// `weight_decay`), constant or cosine-decayed, for `epochs`.
fn align_train(s: &CrossModalEmojiSettings) -> TrainConfig {
    use tl_core::train::{OptimizerKind, Schedule};
    let mut train = TrainConfig::new()
        .with_epochs(s.epochs.unwrap_or(60))
        .with_batch_size(s.batch_size)
        .with_lr(1e-3);
    if s.weight_decay > 0.0 {
        train = train.with_optimizer(OptimizerKind::AdamW {
            weight_decay: s.weight_decay,
        });
    }
    if s.cosine {
        train = train.with_schedule(Schedule::Cosine { min_factor: 0.05 });
    }
    train
}

/// The image tower `kind` names for `size` x `size` drawings: conv / ReLU / max-pool blocks
/// of 32, 64 and 128 channels (and another of 128 at 64 px), then 256 features; `bn` adds
/// batch normalisation after each convolution, `deep` two convolutions (each normalised) a
/// block.
pub fn tower_for(kind: &str, size: usize, dev: &Device) -> Res<Sequential> {
    let (norm, convs) = tower_layout(kind)?;
    let mut config = SequentialConfig::new(vec![3, size, size]);
    let mut channels = vec![32, 64, 128];
    let mut side = 32;
    while side < size {
        channels.push(128);
        side *= 2;
    }
    for c in channels {
        for _ in 0..convs {
            config = config.conv(c, 3, 1);
            if norm {
                config = config.batch_norm();
            }
            config = config.relu();
        }
        config = config.max_pool(2);
    }
    Ok(config.linear(256).relu().init(dev)?)
}

/// The seen symbols named by the image tower alone: the tower and a linear head on every
/// symbol, trained with cross-entropy on the seen symbols' Google drawings (`source`, the
/// random views the alignment uses, its epochs, batch 64, Adam 1e-3), then top-1 among the
/// seen symbols on Twitter's drawings of them; and the last epoch's loss.
fn seen_classifier(
    s: &CrossModalEmojiSettings,
    source: &LabelledSet,
    twitter: &LabelledSet,
    seen: &[usize],
    augment: &tl_unsupervised::augment::ViewAugment,
    seed: u64,
    dev: &Device,
) -> Res<(f64, f64)> {
    use burn::module::Module;
    use tl_core::model::{Classifier, head_config};
    use tl_core::train::{
        ClassifierModel, CrossEntropy, LabelledBatches, Trainer, map_input_batches,
    };
    let classes = twitter.num_classes();
    dev.seed(seed.wrapping_add(300));
    let model = Classifier::new(
        tower_for(&s.tower, s.size, dev)?,
        head_config(256, &[], classes).init(dev)?,
    )?;
    let train = TrainConfig::new()
        .with_epochs(s.epochs.unwrap_or(60))
        .with_batch_size(64)
        .with_lr(1e-3)
        .with_seed(seed);
    let mut trainer = Trainer::new(train);
    let ce = CrossEntropy::new(dev);
    // The alignment's order and random views of the drawings (the same seeds).
    let out = if s.no_augment {
        let mut batches = LabelledBatches::new(source, 64, seed);
        trainer.train(model, &mut batches, ce, None, dev)?
    } else {
        let mut batches =
            tl_unsupervised::AugmentedBatches::new(source, augment.clone(), 64, seed)?;
        trainer.train(model, &mut batches, ce, None, dev)?
    };
    let loss = out.history.last().map_or(f64::NAN, |e| e.train_loss);
    let valid = out.model.valid();
    let scores: Vec<f32> = map_input_batches(&twitter.inputs, dev, 256, |x| {
        valid.logits(x).into_data().iter::<f32>().collect()
    });
    Ok((top1_among(&scores, classes, seen, seen, seen), loss))
}

/// The tower `kind` names (`small`, `bn` or `deep`): whether it normalises its batches, and
/// its convolutions a block; another name is refused.
fn tower_layout(kind: &str) -> tl_core::Result<(bool, usize)> {
    match kind {
        "small" => Ok((false, 1)),
        "bn" => Ok((true, 1)),
        "deep" => Ok((true, 2)),
        other => Err(tl_core::CoreError::config(
            "tower",
            format!("`{other}`: small, bn, deep or {LITE0}"),
        )),
    }
}

/// The pretrained tower's name.
pub const LITE0: &str = "efficientnet-lite0";

/// The frozen network's features (inference mode) of the drawings in `set`, and of `views`
/// random views of each (`augment`'s), labelled as their drawing: the activations after
/// `stages` (1-7, 8 the head) averaged over a `grid` x `grid` partition, each stage's part
/// scaled to unit length and the parts concatenated. What a trainable layer aligns on,
/// computed once.
#[allow(clippy::too_many_arguments)]
fn frozen_features(
    net: &tl_models::efficientnet::EfficientNetLite,
    set: &LabelledSet,
    augment: &tl_unsupervised::augment::ViewAugment,
    views: usize,
    (stages, grid): (&[usize], usize),
    seed: u64,
    dev: &Device,
) -> Res<LabelledSet> {
    let plain = dev.clone().without_autodiff();
    let features = |inputs: &Inputs| -> Vec<f32> {
        tl_core::train::map_input_batches(inputs, &plain, 64, |x| {
            let upto = stages.iter().copied().max().unwrap_or(8);
            let taps = net.pooled_stages(x, grid, upto);
            let parts: Vec<Vec<f32>> = stages
                .iter()
                .map(|&s| taps[s - 1].clone().into_data().iter::<f32>().collect())
                .collect();
            let rows = parts[0].len() / lite_width(stages[0], grid);
            let mut out = Vec::new();
            for r in 0..rows {
                for (part, &s) in parts.iter().zip(stages) {
                    let w = lite_width(s, grid);
                    let mut row = part[r * w..(r + 1) * w].to_vec();
                    normalize_rows(&mut row, w);
                    out.extend(row);
                }
            }
            out
        })
    };
    let mut values = features(&set.inputs);
    let mut labels = set.labels.clone();
    let all: Vec<usize> = (0..set.len()).collect();
    for v in 0..views {
        let pixels = augment.views(
            &set.inputs,
            &all,
            seed.wrapping_mul(131).wrapping_add(9_000 + v as u64),
        )?;
        values.extend(features(&Inputs::new(
            set.inputs.item_shape.clone(),
            pixels,
        )?));
        labels.extend_from_slice(&set.labels);
    }
    let dim = stages.iter().map(|&s| lite_width(s, grid)).sum();
    Ok(LabelledSet::new(
        Inputs::new(vec![dim], values)?,
        labels,
        set.class_names.clone(),
        format!("{} (EfficientNet-Lite0 features)", set.domain),
    )?)
}

/// The width of EfficientNet-Lite0's activation after `stage` (1-7, 8 the head) averaged
/// over a `grid` x `grid` partition.
fn lite_width(stage: usize, grid: usize) -> usize {
    tl_models::efficientnet::lite0_channels(stage) * grid * grid
}

/// Scales each `dim`-wide row of `values` to unit length.
fn normalize_rows(values: &mut [f32], dim: usize) {
    for row in values.chunks_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Cosines of unit `images` rows against unit `protos` rows (both `dim` wide):
/// `[images, protos]`, row-major.
fn cosines(images: &[f32], protos: &[f32], dim: usize) -> Vec<f32> {
    let mut scores = Vec::with_capacity(images.len() / dim * protos.len() / dim);
    for image in images.chunks(dim) {
        for proto in protos.chunks(dim) {
            scores.push(image.iter().zip(proto).map(|(a, b)| a * b).sum());
        }
    }
    scores
}

/// The `share` of `scores` rows (`[rows, classes]`) with the widest margin between their best
/// and second-best class, each with its best class, widest first.
fn confident(scores: &[f32], classes: usize, share: f64) -> Vec<(usize, usize)> {
    let mut ranked: Vec<(usize, usize, f32)> = scores
        .chunks(classes)
        .enumerate()
        .map(|(i, row)| {
            let (mut best, mut first, mut second) = (0, f32::NEG_INFINITY, f32::NEG_INFINITY);
            for (c, &v) in row.iter().enumerate() {
                if v > first {
                    (best, second, first) = (c, first, v);
                } else if v > second {
                    second = v;
                }
            }
            (i, best, first - second)
        })
        .collect();
    ranked.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    let keep = (share * ranked.len() as f64).round() as usize;
    ranked.truncate(keep);
    ranked.into_iter().map(|(i, c, _)| (i, c)).collect()
}

/// Top-1 of `scores` rows (`[n, classes]`, row-major) among `candidates`.
fn top1_among(
    scores: &[f32],
    classes: usize,
    rows: &[usize],
    truth: &[usize],
    candidates: &[usize],
) -> f64 {
    let right = rows
        .iter()
        .zip(truth)
        .filter(|&(&r, &t)| {
            let row = &scores[r * classes..(r + 1) * classes];
            candidates
                .iter()
                .max_by(|&&a, &&b| row[a].total_cmp(&row[b]))
                == Some(&t)
        })
        .count();
    right as f64 / rows.len().max(1) as f64
}

/// Text to image on emoji: a conditional VAE trained on the seen Google drawings with their
/// names draws each unseen symbol from "an image of <name>"; the aligned model labels each
/// drawing among the unseen names (chance 1 / unseen); a PNG puts drawings beside the real.
#[allow(clippy::too_many_arguments)]
fn draw_emoji(
    s: &CrossModalEmojiSettings,
    source: &LabelledSet,
    names: &[String],
    unseen: &[usize],
    model: &tl_crossmodal::ClipModel<Sequential>,
    protos: &[f32],
    twitter: &LabelledSet,
    seed: u64,
    pictures: Option<&Path>,
    dev: &Device,
    log: &dyn Fn(&str),
) -> Res<Value> {
    use tl_crossmodal::{TextToImage, picture_templates, recall_at};
    let t2i = TextToImage::new()
        .with_templates(picture_templates())
        .with_draw_templates(vec!["an image of {}".into()])
        .with_hidden(vec![512])
        .with_latent(16)
        .with_per_class(1)
        .with_train(
            TrainConfig::new()
                .with_epochs(s.epochs.unwrap_or(60))
                .with_batch_size(64)
                .with_lr(1e-3),
        );
    let mut ctx = logged_context(dev, seed, format!("seed {seed}, text to image"), log);
    ctx.begin();
    let (generator, _) = t2i.generator(source, names, &mut ctx)?;
    let unseen_names: Vec<String> = unseen.iter().map(|&i| names[i].clone()).collect();
    let drawn = t2i.drawings(&generator, &unseen_names, &source.inputs.item_shape, &ctx)?;
    let wall = ctx.elapsed();
    let dim = model.dim();
    let features = model.embed_images(&drawn.inputs, dev, 256)?;
    let candidates: Vec<f32> = unseen
        .iter()
        .flat_map(|&i| protos[i * dim..(i + 1) * dim].to_vec())
        .collect();
    let r = recall_at(&features, &candidates, dim, |q, k| q == k, &[1, 10]);
    // The same judge on the real Twitter drawings of the unseen symbols, for scale.
    let real = model.embed_images(&twitter.select(unseen).inputs, dev, 256)?;
    let r_real = recall_at(&real, &candidates, dim, |q, k| q == k, &[1, 10]);
    log(&format!(
        "seed {seed}: text to image: {} unseen symbols drawn from their names; the aligned model names {:.2} % of the drawings right among the unseen (top-10 {:.2} %; chance {:.2}), {:.2} % of the real Twitter drawings ({wall:.0} s)",
        drawn.len(),
        100.0 * r[0],
        100.0 * r[1],
        100.0 / unseen.len() as f64,
        100.0 * r_real[0]
    ));
    if let Some(dir) = pictures {
        std::fs::create_dir_all(dir)?;
        let some: Vec<usize> = (0..unseen.len())
            .step_by((unseen.len() / 12).max(1))
            .take(12)
            .collect();
        let mut items: Vec<&[f32]> = some
            .iter()
            .map(|&k| twitter.inputs.item(unseen[k]))
            .collect();
        items.extend(some.iter().map(|&k| drawn.inputs.item(k)));
        let path = dir.join("emoji-text-to-image.png");
        tl_data::images::write_grid_png(
            &path,
            &items,
            &twitter.inputs.item_shape,
            some.len(),
            false,
        )?;
        let shown: Vec<&str> = some.iter().map(|&k| unseen_names[k].as_str()).collect();
        log(&format!(
            "wrote {} (top: Twitter's drawing; below: drawn from the name: {})",
            path.display(),
            shown.join("; ")
        ));
    }
    Ok(json!({
        "seed": seed, "what": "text-to-image", "unseen": unseen.len(),
        "drawn_named_right": r[0], "drawn_top10": r[1], "real_named_right": r_real[0],
        "wall_time_s": wall,
    }))
}

/// A PNG of text -> image retrieval on unseen symbols: each row a query name's true drawing,
/// then its five nearest drawings; the query names go into the JSON.
#[allow(clippy::too_many_arguments)]
fn retrieval_picture(
    dir: &Path,
    unseen: &[usize],
    names: &[String],
    texts: &[f32],
    images: &[f32],
    dim: usize,
    twitter: &LabelledSet,
    rows_out: &mut Vec<Value>,
    log: &dyn Fn(&str),
) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let blank = vec![1.0f32; twitter.inputs.item_size()];
    let mut items: Vec<&[f32]> = Vec::new();
    let mut queries = Vec::new();
    for q in (0..unseen.len())
        .step_by((unseen.len() / 10).max(1))
        .take(10)
    {
        let tv = &texts[q * dim..(q + 1) * dim];
        let mut order: Vec<(f32, usize)> = (0..unseen.len())
            .map(|k| {
                (
                    tv.iter()
                        .zip(&images[k * dim..(k + 1) * dim])
                        .map(|(a, b)| a * b)
                        .sum(),
                    k,
                )
            })
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        items.push(twitter.inputs.item(unseen[q]));
        items.push(&blank);
        for &(_, k) in order.iter().take(5) {
            items.push(twitter.inputs.item(unseen[k]));
        }
        queries.push(names[unseen[q]].clone());
    }
    let path = dir.join("emoji-retrieval.png");
    tl_data::images::write_grid_png(&path, &items, &twitter.inputs.item_shape, 7, false)?;
    log(&format!(
        "wrote {} (rows: {})",
        path.display(),
        queries.join("; ")
    ));
    rows_out.push(json!({"picture": path, "queries": queries}));
    Ok(())
}

/// The emoji table over the rows of every seed (each text side's mean ± spread), and the
/// text-to-image line when the rows have it.
pub fn emoji_table(rows: &[Value]) -> String {
    let mut out = String::new();
    let mut seeds: Vec<u64> = rows
        .iter()
        .filter_map(|r| r["text"].as_str().and(r["seed"].as_u64()))
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    let seeds = seeds.len();
    out += &format!(
        "Emoji: Google drawings of 80 % of the subcategories aligned with their names; Twitter drawings scored from names, {seeds} seeds (mean ± std, %)\n\n"
    );
    out += "| text side | seen top-1 | unseen top-1 (chance) | GZSL seen | GZSL unseen | GZSL H | unseen R@1/5/10 image->text | text->image | wall (s) |\n|---|---|---|---|---|---|---|---|---|\n";
    // Each text side's rows (and the sides together), in the order they ran.
    let mut labels: Vec<&str> = Vec::new();
    for label in rows.iter().filter_map(|r| r["text"].as_str()) {
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    for &label in &labels {
        let mine: Vec<&Value> = rows.iter().filter(|r| r["text"] == label).collect();
        if mine.is_empty() {
            continue;
        }
        let f = |k: &str| {
            let (m, s) = mean_std(
                &mine
                    .iter()
                    .map(|r| r[k].as_f64().unwrap_or(0.0))
                    .collect::<Vec<_>>(),
            );
            format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
        };
        let r = |k: &str| {
            (0..3)
                .map(|i| {
                    let v: Vec<f64> = mine
                        .iter()
                        .map(|r| r[k][i].as_f64().unwrap_or(0.0))
                        .collect();
                    format!("{:.1}", 100.0 * mean_std(&v).0)
                })
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let chance = mean_std(
            &mine
                .iter()
                .map(|r| r["unseen_chance"].as_f64().unwrap_or(0.0))
                .collect::<Vec<_>>(),
        )
        .0;
        let wall = mean_std(
            &mine
                .iter()
                .map(|r| r["wall_time_s"].as_f64().unwrap_or(0.0))
                .collect::<Vec<_>>(),
        )
        .0;
        out += &format!(
            "| {label} | {} | {} ({:.2}) | {} | {} | {} | {} | {} | {wall:.0} |\n",
            f("seen_top1"),
            f("unseen_top1"),
            100.0 * chance,
            f("gzsl_seen"),
            f("gzsl_unseen"),
            f("gzsl_harmonic"),
            r("recall_image_to_text"),
            r("recall_text_to_image")
        );
    }
    // Figures present only in some runs: the drawings alone when test-time views were
    // averaged, the figures before self-training and before AdaBN, and the tower trained to
    // name the seen symbols without text.
    let extra_of = |label: &str, key: &str| -> Option<String> {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r["text"] == label)
            .filter_map(|r| r[key].as_f64())
            .collect();
        (!v.is_empty()).then(|| {
            let (m, s) = mean_std(&v);
            format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
        })
    };
    let extra = |key: &str| extra_of("MiniLM", key);
    for (key, what) in [
        (
            "single_view",
            "each Twitter drawing alone (no test-time views)",
        ),
        (
            "before_self_training",
            "before self-training (aligned on the Google drawings alone)",
        ),
        (
            "before_adabn",
            "before AdaBN (the tower's batch statistics still the Google drawings')",
        ),
        ("one_tower", "the ensemble's first tower alone"),
    ] {
        // Each text side's (and the sides together), in the table's order.
        for label in &labels {
            if let (Some(seen), Some(unseen)) = (
                extra_of(label, &format!("seen_top1_{key}")),
                extra_of(label, &format!("unseen_top1_{key}")),
            ) {
                out += &format!("\n{label}, {what}: seen {seen} %, unseen {unseen} %\n");
            }
        }
    }
    if let Some(named) = extra("seen_classifier") {
        out += &format!(
            "
The tower trained to name each seen symbol without text (a linear head over the symbols, cross-entropy on the Google drawings, the same views and epochs): Twitter's seen drawings {named} % top-1 among the seen symbols (the seen column names them through MiniLM)
"
        );
    }
    let judged: Vec<&Value> = rows
        .iter()
        .filter(|r| r["what"] == "text-to-image")
        .collect();
    if !judged.is_empty() {
        let f = |k: &str| {
            let (m, s) = mean_std(
                &judged
                    .iter()
                    .map(|r| r[k].as_f64().unwrap_or(0.0))
                    .collect::<Vec<_>>(),
            );
            format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
        };
        out += &format!(
            "\nText to image: each unseen symbol drawn from \"an image of <name>\"; the aligned model (MiniLM) names the drawing right among the unseen symbols {} % (top-10 {} %), the real Twitter drawings {} %\n",
            f("drawn_named_right"),
            f("drawn_top10"),
            f("real_named_right")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_of_the_subcategories_is_held_out_and_too_few_are_refused() {
        let symbols = |subs: usize| -> Vec<tl_data::emoji::Emoji> {
            (0..20)
                .map(|i| tl_data::emoji::Emoji {
                    name: Some(format!("S{i}")),
                    short_names: Vec::new(),
                    category: "c".into(),
                    subcategory: format!("sub{}", i % subs),
                    image: format!("{i}.png"),
                    has_img_google: true,
                    has_img_twitter: true,
                })
                .collect()
        };
        let five = symbols(5);
        let (seen, unseen) = seen_and_unseen(&five, 3).unwrap();
        assert_eq!((seen.len(), unseen.len()), (16, 4));
        let held = &five[unseen[0]].subcategory;
        assert!(unseen.iter().all(|&i| &five[i].subcategory == held));
        assert!(seen.iter().all(|&i| &five[i].subcategory != held));
        let err = seen_and_unseen(&symbols(4), 3).unwrap_err().to_string();
        assert!(
            err.contains("4 subcategories") && err.contains("0 unseen"),
            "{err}"
        );
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        let ok = CrossModalEmojiSettings::default();
        assert!(ok.validate().is_ok());
        assert!(ok.needs_minilm());
        let pretrained = CrossModalEmojiSettings {
            tower: LITE0.into(),
            no_draw: true,
            ..ok.clone()
        };
        assert!(pretrained.validate().is_ok() && pretrained.pretrained_tower());
        // AdaBN on the pretrained tower's features, and on every tower of an ensemble.
        let adapted = CrossModalEmojiSettings {
            adabn: true,
            ensemble: 2,
            ..pretrained.clone()
        };
        assert!(adapted.validate().is_ok(), "{:?}", adapted.validate());
        for (bad, needle) in [
            (
                CrossModalEmojiSettings {
                    texts: vec!["bert".into()],
                    ..ok.clone()
                },
                "`bert`: minilm or hashed",
            ),
            (
                CrossModalEmojiSettings {
                    texts: vec!["hashed".into(), "minilm".into(), "hashed".into()],
                    ..ok.clone()
                },
                "`hashed` named twice",
            ),
            (
                CrossModalEmojiSettings {
                    texts: vec![],
                    ..ok.clone()
                },
                "texts",
            ),
            (
                CrossModalEmojiSettings {
                    tower_data: "twitter".into(),
                    ..ok.clone()
                },
                "tower_data",
            ),
            (
                CrossModalEmojiSettings {
                    epochs: Some(0),
                    ..ok.clone()
                },
                "epochs",
            ),
            (
                CrossModalEmojiSettings {
                    jitter: 1.5,
                    ..ok.clone()
                },
                "jitter",
            ),
            (
                CrossModalEmojiSettings {
                    tower: "resnet".into(),
                    ..ok.clone()
                },
                "`resnet`: small, bn, deep or efficientnet-lite0",
            ),
            (
                CrossModalEmojiSettings {
                    tower: LITE0.into(),
                    ..ok.clone()
                },
                "no_draw",
            ),
            (
                CrossModalEmojiSettings {
                    tower: LITE0.into(),
                    no_draw: true,
                    tta: 2,
                    ..ok.clone()
                },
                "tta",
            ),
            (
                CrossModalEmojiSettings {
                    tower: LITE0.into(),
                    no_draw: true,
                    lite_side: 16,
                    ..ok.clone()
                },
                "16 px: 32 to 512",
            ),
            (
                CrossModalEmojiSettings {
                    tower: LITE0.into(),
                    no_draw: true,
                    feature_views: 65,
                    ..ok.clone()
                },
                "feature_views",
            ),
            (
                CrossModalEmojiSettings {
                    batch_size: 1,
                    ..ok.clone()
                },
                "1 pairs: 2 to 4096",
            ),
            (
                CrossModalEmojiSettings {
                    crop_area: 0.0,
                    ..ok.clone()
                },
                "crop_area",
            ),
            (
                CrossModalEmojiSettings {
                    rotation: f32::NAN,
                    ..ok.clone()
                },
                "NaN degrees: 0 to 180",
            ),
            (
                CrossModalEmojiSettings {
                    self_train_share: 0.0,
                    ..ok.clone()
                },
                "self_train_share",
            ),
            (
                CrossModalEmojiSettings {
                    ensemble: 0,
                    ..ok.clone()
                },
                "0 towers: 1 to 16",
            ),
            (
                CrossModalEmojiSettings {
                    weight_decay: -0.1,
                    ..ok.clone()
                },
                "weight_decay",
            ),
            (
                CrossModalEmojiSettings {
                    tta: 3,
                    adabn: true,
                    ..ok.clone()
                },
                "tta and adabn are each measured against the run without them",
            ),
            (
                CrossModalEmojiSettings {
                    tta: 4,
                    self_train: 1,
                    ..ok.clone()
                },
                "`self_train`: tta and self_train",
            ),
            (
                CrossModalEmojiSettings {
                    ensemble: 2,
                    tower_simclr: 5,
                    ..ok.clone()
                },
                "without text_projection and tower_simclr",
            ),
            (
                CrossModalEmojiSettings {
                    ensemble: 2,
                    text_projection: true,
                    ..ok.clone()
                },
                "without text_projection and tower_simclr",
            ),
            (
                CrossModalEmojiSettings {
                    self_train: 11,
                    ..ok.clone()
                },
                "11 rounds: at most 10",
            ),
            (
                CrossModalEmojiSettings {
                    soft_targets: 2.0,
                    ..ok.clone()
                },
                "`soft_targets`: 2 not in [0, 1]",
            ),
            (
                CrossModalEmojiSettings {
                    soft_temperature: 0.0,
                    ..ok.clone()
                },
                "`soft_temperature`: 0 must be above 0",
            ),
            (
                CrossModalEmojiSettings {
                    size: 48,
                    ..ok.clone()
                },
                "48 px: 32 or 64",
            ),
            (
                CrossModalEmojiSettings {
                    tta: 100,
                    ..ok.clone()
                },
                "tta",
            ),
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{needle}: {e}");
        }
        let hashed = CrossModalEmojiSettings {
            texts: vec!["hashed".into()],
            ..ok
        };
        assert!(!hashed.needs_minilm());
    }

    #[test]
    fn the_deep_tower_doubles_each_blocks_convolutions() {
        use tl_core::model::Layer;
        // Building the towers draws from the generator that seeded tests share.
        let _seeded = tl_core::device::seed_lock();
        let dev = tl_core::device::device("flex").unwrap();
        let convs = |t: &Sequential| {
            let count = |f: fn(&Layer) -> bool| t.layers().iter().filter(|l| f(l)).count();
            (
                count(|l| matches!(l, Layer::Conv2d(_))),
                count(|l| matches!(l, Layer::BatchNorm(_))),
                count(|l| matches!(l, Layer::MaxPool2d(_))),
            )
        };
        let small = tower_for("small", 32, &dev).unwrap();
        let bn = tower_for("bn", 32, &dev).unwrap();
        let deep = tower_for("deep", 32, &dev).unwrap();
        assert_eq!(convs(&small), (3, 0, 3));
        assert_eq!(convs(&bn), (3, 3, 3));
        assert_eq!(convs(&deep), (6, 6, 3));
        assert_eq!(convs(&tower_for("deep", 64, &dev).unwrap()), (8, 8, 4));
        for t in [&small, &bn, &deep] {
            assert_eq!(t.output_dim(), 256);
        }
        assert!(tower_for("wide", 32, &dev).is_err());
    }

    #[test]
    fn frozen_features_cache_each_view_under_its_drawings_label() {
        let _seeded = tl_core::device::seed_lock();
        let dev = tl_core::device::device("flex").unwrap();
        let plain = dev.clone().without_autodiff();
        let net = tl_models::efficientnet::EfficientNetLiteConfig::new(vec![3, 32, 32])
            .init(&plain)
            .unwrap();
        // Three drawings: black, grey and a white one with a black stripe down its left side.
        let mut values = vec![0.0; 3 * 32 * 32];
        values.extend(vec![0.5; 3 * 32 * 32]);
        values.extend((0..3 * 32 * 32).map(|i| if (i % 32) < 8 { 0.0 } else { 1.0 }));
        let set = LabelledSet::new(
            Inputs::new(vec![3, 32, 32], values).unwrap(),
            vec![2, 0, 1],
            vec!["a".into(), "b".into(), "c".into()],
            "drawings",
        )
        .unwrap();
        let augment = tl_unsupervised::augment::ViewAugment::new();
        let cached = frozen_features(&net, &set, &augment, 2, (&[8], 1), 7, &dev).unwrap();
        let dim = tl_models::efficientnet::LITE0_FEATURES;
        assert_eq!(cached.inputs.item_shape, vec![dim]);
        // The drawings, then each round of views, under the drawings' labels.
        assert_eq!(cached.labels, vec![2, 0, 1, 2, 0, 1, 2, 0, 1]);
        assert_eq!(cached.class_names, set.class_names);
        let row = |i: usize| &cached.inputs.values[i * dim..(i + 1) * dim];
        // A view is another picture than its drawing (cropped, turned, noisy), so other
        // features; the same seed gives the same views.
        assert_ne!(row(2), row(5));
        let again = frozen_features(&net, &set, &augment, 2, (&[8], 1), 7, &dev).unwrap();
        assert_eq!(again.inputs.values, cached.inputs.values);
        let none = frozen_features(&net, &set, &augment, 0, (&[8], 1), 7, &dev).unwrap();
        assert_eq!(none.inputs.values[..], cached.inputs.values[..3 * dim]);
        // Stages 4 and 5 over a 2 x 2 grid: 80 and 112 channels in each of four cells, each
        // part of unit length.
        let two = frozen_features(&net, &set, &augment, 0, (&[4, 5], 2), 7, &dev).unwrap();
        assert_eq!(two.inputs.item_shape, vec![4 * (80 + 112)]);
        let first = &two.inputs.values[..4 * (80 + 112)];
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm(&first[..320]) - 1.0).abs() < 1e-4);
        assert!((norm(&first[320..]) - 1.0).abs() < 1e-4);
    }

    #[test]
    fn self_training_names_the_surest_rows_first() {
        // Three unit images against three unit prototypes in 2-d.
        let images = [1.0, 0.0, 0.6, 0.8, 0.0, 1.0];
        let protos = [1.0, 0.0, 0.0, 1.0, 0.8, 0.6];
        let scores = cosines(&images, &protos, 2);
        assert_eq!(scores.len(), 9);
        for (got, want) in scores
            .iter()
            .zip([1.0, 0.0, 0.8, 0.6, 0.8, 0.96, 0.0, 1.0, 0.6])
        {
            assert!((got - want).abs() < 1e-6, "{scores:?}");
        }
        // Margins: row 0 0.2 (class 0), row 1 0.16 (class 2), row 2 0.4 (class 1).
        assert_eq!(confident(&scores, 3, 1.0), vec![(2, 1), (0, 0), (1, 2)]);
        assert_eq!(confident(&scores, 3, 0.34), vec![(2, 1)]);
        assert_eq!(confident(&scores, 3, 0.6), vec![(2, 1), (0, 0)]);
    }

    #[test]
    fn retrieval_by_scores_is_retrieval_by_features() {
        // Five unit images and five unit prototypes in 3-d, seeded; drawing i shows symbol i.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut unit = |k: usize| {
            let mut v: Vec<f32> = (0..3 * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            normalize_rows(&mut v, 3);
            v
        };
        let (images, protos) = (unit(5), unit(5));
        let scores = cosines(&images, &protos, 3);
        let all: Vec<usize> = (0..5).collect();
        let ks = [1, 2, 3];
        let same = |q: usize, k: usize| q == k;
        assert_eq!(
            recall_of_scores(&scores, 5, &all, &all, false, &ks),
            tl_crossmodal::recall_at(&images, &protos, 3, same, &ks)
        );
        assert_eq!(
            recall_of_scores(&scores, 5, &all, &all, true, &ks),
            tl_crossmodal::recall_at(&protos, &images, 3, same, &ks)
        );
        // A subset: drawings and symbols 1, 3, 4 among themselves.
        let sub = [1, 3, 4];
        let pick = |v: &[f32]| -> Vec<f32> {
            sub.iter()
                .flat_map(|&i| v[3 * i..3 * i + 3].to_vec())
                .collect()
        };
        assert_eq!(
            recall_of_scores(&scores, 5, &sub, &sub, false, &ks),
            tl_crossmodal::recall_at(&pick(&images), &pick(&protos), 3, same, &ks)
        );
    }

    #[test]
    fn the_joint_row_multiplies_the_sides_probabilities() {
        // Two drawings, three symbols (seen: 0, 1; unseen: 2). One side is sure and right on
        // drawing 0 and unsure and wrong on drawing 1; the other the reverse, less surely: their
        // summed logits name both drawings right.
        let a = [0.9f32, 0.1, 0.0, 0.5, 0.45, 0.0];
        let b = [0.2f32, 0.3, 0.0, 0.0, 0.9, 0.0];
        let (sa, sb) = (10.0f32, 5.0f32);
        let joint: Vec<f32> = a.iter().zip(&b).map(|(x, y)| sa * x + sb * y).collect();
        let seen = [0, 1];
        // Drawing 0 shows symbol 0 and drawing 1 symbol 1; no unseen drawing here.
        assert_eq!(top1_among(&a, 3, &seen, &seen, &seen), 0.5);
        assert_eq!(top1_among(&b, 3, &seen, &seen, &seen), 0.5);
        let row = joint_row(
            &joint,
            3,
            (&seen, &[]),
            (0, "MiniLM + hashed words"),
            (12.0, 7),
            &[10.0, 5.0],
            &CrossModalEmojiSettings::default(),
            &|_| {},
        );
        assert_eq!(row["seen_top1"], json!(1.0));
        assert_eq!(row["text"], json!("MiniLM + hashed words"));
        assert_eq!(row["wall_time_s"], json!(12.0));
        let md = emoji_table(&[row]);
        assert!(
            md.contains("| MiniLM + hashed words | 100.00 ± 0.00 |"),
            "{md}"
        );
    }

    #[test]
    fn the_table_averages_each_text_side_over_seeds() {
        let row = |seed: u64, text: &str, seen: f64| {
            json!({"seed": seed, "text": text, "seen_top1": seen, "unseen_top1": 0.1,
                "unseen_chance": 0.01, "gzsl_seen": 0.0, "gzsl_unseen": 0.0, "gzsl_harmonic": 0.0,
                "recall_image_to_text": [0.1, 0.2, 0.3], "recall_text_to_image": [0.1, 0.2, 0.3],
                "wall_time_s": 10.0})
        };
        let rows = vec![
            row(0, "MiniLM", 0.5),
            json!({"picture": "p.png", "queries": []}),
            row(1, "MiniLM", 0.7),
            row(0, "hashed words", 0.1),
        ];
        let md = emoji_table(&rows);
        assert!(md.contains("2 seeds"), "{md}");
        assert!(
            md.contains("| MiniLM | 60.00 ± 14.14 | 10.00 ± 0.00 (1.00) |"),
            "{md}"
        );
        assert!(md.contains("| hashed words | 10.00 ± 0.00 |"), "{md}");
        assert!(!md.contains("Text to image"), "{md}");
        assert!(!md.contains("without text"), "{md}");
        let mut with_extras = rows.clone();
        with_extras[0]["seen_classifier"] = json!(0.3);
        with_extras[2]["seen_classifier"] = json!(0.5);
        with_extras[0]["seen_top1_single_view"] = json!(0.4);
        with_extras[0]["unseen_top1_single_view"] = json!(0.05);
        with_extras[0]["seen_top1_before_adabn"] = json!(0.2);
        with_extras[2]["seen_top1_before_adabn"] = json!(0.2);
        with_extras[0]["unseen_top1_before_adabn"] = json!(0.01);
        with_extras[2]["unseen_top1_before_adabn"] = json!(0.03);
        with_extras[2]["seen_top1_before_self_training"] = json!(0.1);
        with_extras[2]["unseen_top1_before_self_training"] = json!(0.02);
        with_extras[0]["seen_top1_one_tower"] = json!(0.25);
        with_extras[0]["unseen_top1_one_tower"] = json!(0.03);
        let md = emoji_table(&with_extras);
        assert!(
            md.contains("Twitter's seen drawings 40.00 ± 14.14 % top-1"),
            "{md}"
        );
        assert!(
            md.contains("(no test-time views): seen 40.00 ± 0.00 %, unseen 5.00 ± 0.00 %"),
            "{md}"
        );
        assert!(
            md.contains("before AdaBN (the tower's batch statistics still the Google drawings'): seen 20.00 ± 0.00 %, unseen 2.00 ± 1.41 %"),
            "{md}"
        );
        assert!(
            md.contains("before self-training (aligned on the Google drawings alone): seen 10.00 ± 0.00 %, unseen 2.00 ± 0.00 %"),
            "{md}"
        );
        assert!(
            md.contains(
                "the ensemble's first tower alone: seen 25.00 ± 0.00 %, unseen 3.00 ± 0.00 %"
            ),
            "{md}"
        );
        // Every side's figures without an option, the sides together's too, each labelled.
        with_extras[3]["seen_top1_before_adabn"] = json!(0.05);
        with_extras[3]["unseen_top1_before_adabn"] = json!(0.0);
        let md = emoji_table(&with_extras);
        let before = |label: &str| {
            format!(
                "\n{label}, before AdaBN (the tower's batch statistics still the Google drawings')"
            )
        };
        assert!(md.contains(&before("MiniLM")), "{md}");
        assert!(
            md.contains(&format!(
                "{}: seen 5.00 ± 0.00 %, unseen 0.00 ± 0.00 %",
                before("hashed words")
            )),
            "{md}"
        );
        assert!(
            md.find(&before("MiniLM")) < md.find(&before("hashed words")),
            "the sides in the table's order: {md}"
        );
    }
}
