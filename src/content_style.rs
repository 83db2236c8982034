//! The content/style experiments of tl-disentangle's README, on real pairs that share content:
//! the same emoji drawn by Google and by Twitter, and MNIST and USPS digits paired by class.
//! `examples/content_style.rs` and a `tl run` recipe with `[experiment] kind =
//! "content-style-emoji"` or `"content-style-digits"` (`recipes/emoji-content-style.toml`,
//! `recipes/mnist-usps-content-style.toml`) both run them through [`emoji_seed`] and
//! [`digits_seed`], so the two give the same figures for the same settings and seed.
//!
//! - **Emoji**: trained on the pairs of 80 % of the symbols; on the other 20 % (unseen) and on
//!   the seen ones: the Twitter drawing's nearest Google drawing by content code (top-1,
//!   chance 1/n), by style code and by the whole code; the vendor from each code (a linear
//!   probe trained on half of the symbols, scored on the other half, and logistic regression
//!   fitted to convergence), against a plain VAE of the same total width and the raw pixels;
//!   and the ceiling: the same encoder with a linear head trained on the seen drawings' vendor
//!   labels, scored on the unseen drawings.
//! - **Digits**: MNIST and USPS (MNIST framing) paired by class; a linear classifier on MNIST
//!   content codes scored on USPS test, against the same classifier on a plain VAE's codes,
//!   on the whole code and on the style code; then MNIST redrawn in USPS's style, a
//!   classifier trained on the redrawn images only, against the same on plain MNIST.

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;
use tl_core::data::{Inputs, LabelledSet, UnlabelledSet};
use tl_core::model::{Classifier, Sequential, SequentialConfig, head_config};
use tl_core::report::mean_std;
use tl_core::strategy::RunContext;
use tl_core::train::{ProgressEvent, TrainConfig, Trainer, evaluate};
use tl_data::images::write_grid_png;
use tl_disentangle::metrics::logistic_probe;
use tl_disentangle::{
    BetaVae, ContentStyle, ContentStyleModel, Vae, class_pairs_both_ways, pair_set, probe_codes,
    retrieval_top1,
};
use tl_inductive::LinearProbe;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The settings of both experiments (the example's flags; a recipe's `[experiment]` keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContentStyleSettings {
    /// Training epochs (over the pairs) of the emoji models.
    pub epochs: usize,
    /// Training epochs of the digit models.
    pub digit_epochs: usize,
    /// MNIST training digits used (paired with USPS training digits of their class).
    pub mnist: usize,
    /// Content code width.
    pub content: usize,
    /// Style code width.
    pub style: usize,
    /// Weight of the style codes' KL.
    pub style_beta: f64,
    /// Weight of the swap reconstructions (each item from the other's content).
    pub swap: f64,
    /// Weight of the style-swap reconstructions.
    pub style_swap: f64,
    /// Weight of the content agreement within a pair.
    pub align: f64,
    /// Weight of the domain term (the style code tells the pair's two domains apart: Google
    /// from Twitter, MNIST from USPS; 0: off).
    pub domain: f64,
    /// Channels of the decoders' transposed convolutions (empty: MLP decoders); the plain
    /// VAE gets the same decoder.
    pub decoder_conv: Vec<usize>,
    /// Channels of a conv encoder (three 3x3 convolutions with 2x2 max pools, then 256) in
    /// place of the MLP encoder (512-256); for both models.
    pub conv_encoder: Option<usize>,
    /// Skip the plain VAE (its columns are then missing).
    pub no_vae: bool,
}

impl Default for ContentStyleSettings {
    fn default() -> Self {
        Self {
            epochs: 60,
            digit_epochs: 10,
            mnist: 10_000,
            content: 32,
            style: 4,
            style_beta: 1.0,
            swap: 1.0,
            style_swap: 1.0,
            align: 1.0,
            domain: 0.0,
            decoder_conv: Vec::new(),
            conv_encoder: None,
            no_vae: false,
        }
    }
}

impl ContentStyleSettings {
    /// Refuses settings the models cannot take, by name, before any work.
    pub fn validate(&self) -> tl_core::Result<()> {
        if self.epochs == 0 || self.digit_epochs == 0 {
            return Err(tl_core::CoreError::config(
                "epochs",
                "epochs and digit_epochs must be at least 1",
            ));
        }
        if self.mnist < 10 || self.mnist > 60_000 {
            return Err(tl_core::CoreError::config(
                "mnist",
                format!(
                    "{} MNIST digits: at least one of each class, at most the 60,000 of MNIST's \
                     training set",
                    self.mnist
                ),
            ));
        }
        if self.conv_encoder == Some(0) {
            return Err(tl_core::CoreError::config(
                "conv_encoder",
                "0 channels: at least 1 (or leave it out for the MLP encoder)",
            ));
        }
        self.model(1, 0).validate()?;
        self.plain_vae(1, 0).validate()
    }

    /// Refuses a `decoder_conv` whose 2x upsampling stages do not divide items of `side`
    /// pixels a side (32 for emoji, 28 for digits), before any training.
    pub fn check_side(&self, side: usize, part: &str) -> tl_core::Result<()> {
        let factor = 1usize
            .checked_shl(self.decoder_conv.len() as u32)
            .unwrap_or(0);
        if !self.decoder_conv.is_empty() && (factor == 0 || !side.is_multiple_of(factor)) {
            return Err(tl_core::CoreError::config(
                "decoder_conv",
                format!(
                    "{} stages of 2x upsampling do not divide the {part} images ({side}x{side}): \
                     at most {} stages",
                    self.decoder_conv.len(),
                    side.trailing_zeros()
                ),
            ));
        }
        Ok(())
    }

    fn model(&self, epochs: usize, seed: u64) -> ContentStyleModel {
        ContentStyleModel::new()
            .with_content(self.content)
            .with_style(self.style)
            .with_style_beta(self.style_beta)
            .with_swap(self.swap)
            .with_style_swap(self.style_swap)
            .with_align(self.align)
            .with_domain(self.domain)
            .with_decoder_hidden(vec![512, 256])
            .with_decoder_conv(self.decoder_conv.clone())
            .with_train(adam(epochs, seed))
    }

    fn plain_vae(&self, epochs: usize, seed: u64) -> BetaVae {
        BetaVae::vae()
            .with_latent(self.content + self.style)
            .with_decoder_hidden(vec![512, 256])
            .with_decoder_conv(self.decoder_conv.clone())
            .with_train(adam(epochs, seed))
    }

    /// The encoder of items of `input` shape: an MLP (512-256), or with `conv_encoder` three
    /// 3x3 convolutions, each followed by ReLU and a 2x2 max pool, then a 256-wide layer.
    fn encoder(&self, input: &[usize], dev: &Device, seed: u64) -> Res<Sequential> {
        dev.seed(seed);
        let mut config = SequentialConfig::new(input.to_vec());
        match self.conv_encoder {
            Some(c) => {
                for _ in 0..3 {
                    config = config.conv(c, 3, 1).relu().max_pool(2);
                }
            }
            None => config = config.linear(512).relu(),
        }
        Ok(config.linear(256).relu().init(dev)?)
    }

    /// The content/style model on `pairs`, and its training seconds.
    fn fit_content_style(
        &self,
        epochs: usize,
        pairs: &UnlabelledSet,
        shape: &[usize],
        seed: u64,
        dev: &Device,
        log: &dyn Fn(&str),
    ) -> Res<(ContentStyle<Sequential>, f64)> {
        let started = Instant::now();
        let mut ctx = logged_context(dev, seed, format!("content-style seed {seed}"), log);
        let (model, _) =
            self.model(epochs, seed)
                .fit_pairs(self.encoder(shape, dev, seed)?, pairs, &mut ctx)?;
        Ok((model, started.elapsed().as_secs_f64()))
    }

    /// The vendor classifier: the encoder and a linear head on 2 classes, trained on `train`
    /// (Adam 1e-3, batch 64, 20 epochs), its accuracy on `test` (both from [`vendor_set`]),
    /// and its training seconds.
    fn vendor_classifier(
        &self,
        train: &LabelledSet,
        test: &LabelledSet,
        seed: u64,
        dev: &Device,
    ) -> Res<(f64, f64)> {
        let started = Instant::now();
        let model = Classifier::new(
            self.encoder(&train.inputs.item_shape, dev, seed)?,
            head_config(256, &[], 2).init(dev)?,
        )?;
        let out = Trainer::new(adam(20, seed)).fit(model, train, None, dev)?;
        let seconds = started.elapsed().as_secs_f64();
        Ok((evaluate(&out.model, test, dev, 256)?.accuracy, seconds))
    }

    /// The plain VAE of the same total width, and its training seconds.
    fn fit_vae(
        &self,
        epochs: usize,
        items: &UnlabelledSet,
        shape: &[usize],
        seed: u64,
        dev: &Device,
        log: &dyn Fn(&str),
    ) -> Res<(Vae<Sequential>, f64)> {
        let started = Instant::now();
        let mut ctx = logged_context(dev, seed, format!("vae seed {seed}"), log);
        let (vae, _) = self.plain_vae(epochs, seed).fit_vae(
            self.encoder(shape, dev, seed)?,
            items,
            &mut ctx,
        )?;
        Ok((vae, started.elapsed().as_secs_f64()))
    }
}

/// A context for one fit of `seed` whose epochs are logged under `label` ([`progress`]).
pub(crate) fn logged_context<'a>(
    dev: &Device,
    seed: u64,
    label: String,
    log: &'a dyn Fn(&str),
) -> RunContext<'a> {
    RunContext::new(dev)
        .with_seed(seed)
        .with_progress(progress(label, log))
}

/// Progress lines for a fit's epochs (the first and every tenth).
fn progress(label: String, log: &dyn Fn(&str)) -> impl FnMut(&ProgressEvent) + '_ {
    move |e| {
        if let ProgressEvent::Epoch(r) = e
            && (r.epoch % 10 == 0 || r.epoch == 1)
        {
            log(&format!(
                "    {label}: epoch {} loss {:.2} ({:.1} s)",
                r.epoch, r.train_loss, r.seconds
            ));
        }
    }
}

/// Adam 1e-3, batch 64.
fn adam(epochs: usize, seed: u64) -> TrainConfig {
    TrainConfig::new()
        .with_epochs(epochs)
        .with_batch_size(64)
        .with_lr(1e-3)
        .with_seed(seed)
}

fn probe(seed: u64) -> LinearProbe {
    LinearProbe::new().with_train(
        TrainConfig::new()
            .with_epochs(100)
            .with_batch_size(64)
            .with_lr(1e-2)
            .with_seed(seed),
    )
}

/// `mean ± spread` in percent, or `-` for a column no run measured (e.g. with `no_vae`).
fn cell(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let (m, s) = mean_std(values);
    format!("{:.2} ± {:.2}", 100.0 * m, 100.0 * s)
}

fn concat_codes(a: &[Vec<f32>], b: &[Vec<f32>]) -> Vec<Vec<f32>> {
    a.iter()
        .zip(b)
        .map(|(x, y)| [x.clone(), y.clone()].concat())
        .collect()
}

/// Google's drawings (class 0, `google`) followed by Twitter's (class 1, `twitter`) as one
/// labelled set.
fn vendor_set(google: Inputs, twitter: Inputs, domain: &str) -> Res<LabelledSet> {
    let labels = [vec![0; google.len()], vec![1; twitter.len()]].concat();
    Ok(LabelledSet::new(
        Inputs::new(google.item_shape, [google.values, twitter.values].concat())?,
        labels,
        vec!["google".into(), "twitter".into()],
        domain,
    )?)
}

/// The emoji set (`DATA/emoji`, 32x32 RGB).
pub fn emoji_set(data: &Path) -> Res<tl_data::emoji::EmojiSet> {
    emoji_set_at(data, 32)
}

/// The emoji set with drawings of `size` pixels a side (the cross-modal experiment's `size`).
pub fn emoji_set_at(data: &Path, size: usize) -> Res<tl_data::emoji::EmojiSet> {
    Ok(tl_data::emoji::emoji(&data.join("emoji"), size)?)
}

/// One seed of the emoji experiment: a row for the unseen symbols and one for the seen ones;
/// with `pictures`, the style-swap grid and Google drawings redrawn in Twitter's style.
pub fn emoji_seed(
    s: &ContentStyleSettings,
    set: &tl_data::emoji::EmojiSet,
    seed: u64,
    pictures: Option<&Path>,
    dev: &Device,
    log: &dyn Fn(&str),
) -> Res<Vec<Value>> {
    s.validate()?;
    s.check_side(32, "emoji")?;
    let n = set.symbols.len();
    // 80 % of the symbols to train, the rest unseen.
    let mut order: Vec<usize> = (0..n).collect();
    rand::seq::SliceRandom::shuffle(&mut order[..], &mut StdRng::seed_from_u64(seed));
    let cut = n * 4 / 5;
    // The vendor probes train on half of each split's symbols and score the other half.
    if n - cut < 2 {
        return Err(tl_core::CoreError::data(
            "emoji",
            format!(
                "{n} symbols drawn by both vendors: the seen/unseen split (80/20) and the probes \
                 on halves of each need at least 6"
            ),
        )
        .into());
    }
    let (seen, unseen) = (&order[..cut], &order[cut..]);
    let (g, t) = (&set.google, &set.twitter);
    // Each seen symbol's pair, Google's drawing first (the style swap's domain order).
    let (first, second) = (g.select(seen), t.select(seen));
    let pairs = pair_set(&first, &second, "emoji pairs")?;
    let (model, cs_seconds) =
        s.fit_content_style(s.epochs, &pairs, &[3, 32, 32], seed, dev, log)?;
    // Every seen drawing, labelled with its vendor: the plain VAE trains on them (as many
    // updates per epoch as pairs), the vendor classifier below on their labels.
    let seen_drawings = vendor_set(first, second, "emoji seen")?;
    let drawings = seen_drawings.unlabelled();
    let vae = if s.no_vae {
        None
    } else {
        Some(s.fit_vae(s.epochs, &drawings, &[3, 32, 32], seed, dev, log)?)
    };
    // The ceiling of reading the vendor: the same encoder and a linear head trained on the seen
    // drawings' vendor labels, scored on the unseen drawings.
    let unseen_drawings = vendor_set(g.select(unseen), t.select(unseen), "emoji unseen")?;
    let (supervised, supervised_seconds) =
        s.vendor_classifier(&seen_drawings, &unseen_drawings, seed, dev)?;
    log(&format!(
        "    vendor classifier seed {seed}: {:.2} % on the unseen drawings ({supervised_seconds:.0} s)",
        100.0 * supervised
    ));
    let mut ctx = RunContext::new(dev).with_seed(seed);
    let mut rows = Vec::new();
    for (split, symbols) in [("unseen", unseen), ("seen", seen)] {
        let (gi, ti) = (g.select(symbols), t.select(symbols));
        let (gc, gs) = model.codes_of(&gi, dev)?;
        let (tc, ts) = model.codes_of(&ti, dev)?;
        // Vendor from style and from content: probes on held-out halves of the symbols.
        let half = symbols.len() / 2;
        let vendor = |gcodes: &[Vec<f32>], tcodes: &[Vec<f32>], ctx: &mut RunContext| {
            let part = |r: std::ops::Range<usize>| -> (Vec<Vec<f32>>, Vec<usize>) {
                r.flat_map(|i| [(gcodes[i].clone(), 0), (tcodes[i].clone(), 1)])
                    .unzip()
            };
            let ((a, ya), (b, yb)) = (part(0..half), part(half..symbols.len()));
            // The trained probe (Adam, 100 epochs) and logistic regression to convergence.
            Ok::<_, Box<dyn std::error::Error>>((
                probe_codes(&probe(seed), (&a, &ya), (&b, &yb), 2, ctx)?,
                logistic_probe((&a, &ya), (&b, &yb), 2)?,
            ))
        };
        // The reference: the vendor from the raw pixels (3,072 values) by the same probe.
        let pixels =
            |x: &Inputs| -> Vec<Vec<f32>> { (0..x.len()).map(|i| x.item(i).to_vec()).collect() };
        let (vp, vp_lr) = vendor(&pixels(&gi), &pixels(&ti), &mut ctx)?;
        let (vs, vs_lr) = vendor(&gs, &ts, &mut ctx)?;
        let (vc, vc_lr) = vendor(&gc, &tc, &mut ctx)?;
        let mut row = json!({
            "part": "emoji", "seed": seed, "split": split, "symbols": symbols.len(),
            "chance": 1.0 / symbols.len() as f64,
            "content_top1": retrieval_top1(&tc, &gc)?,
            "style_top1": retrieval_top1(&ts, &gs)?,
            "whole_code_top1": retrieval_top1(
                &concat_codes(&tc, &ts), &concat_codes(&gc, &gs))?,
            "vendor_from_style": vs, "vendor_from_style_lr": vs_lr,
            "vendor_from_content": vc, "vendor_from_content_lr": vc_lr,
            "vendor_from_pixels": vp, "vendor_from_pixels_lr": vp_lr,
            "content_style_seconds": cs_seconds,
            "epochs": s.epochs, "content": s.content, "style": s.style,
            "style_beta": s.style_beta, "swap": s.swap,
            "style_swap": s.style_swap, "align": s.align, "domain": s.domain,
            "decoder_conv": s.decoder_conv, "conv_encoder": s.conv_encoder,
        });
        if split == "unseen" {
            row["vendor_supervised"] = json!(supervised);
            row["vendor_supervised_seconds"] = json!(supervised_seconds);
        }
        if let Some((vae, vae_seconds)) = &vae {
            let (gv, tv) = (vae.means(&gi, dev)?, vae.means(&ti, dev)?);
            row["vae_top1"] = json!(retrieval_top1(&tv, &gv)?);
            let (vv, vv_lr) = vendor(&gv, &tv, &mut ctx)?;
            row["vendor_from_vae"] = json!(vv);
            row["vendor_from_vae_lr"] = json!(vv_lr);
            row["vae_seconds"] = json!(vae_seconds);
        }
        log(&format!("seed {seed}, {split}: {row}"));
        rows.push(row);
    }
    if let Some(dir) = pictures {
        emoji_pictures(&model, set, unseen, dir, dev)?;
    }
    Ok(rows)
}

/// The emoji table over the rows of every seed (unseen, then seen symbols).
pub fn emoji_table(rows: &[Value]) -> String {
    let seeds = seeds_in(rows, "emoji");
    // A key a row lacks (the plain VAE's, with `no_vae`) is left out, not read as NaN.
    let get = |split: &str, k: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r["part"] == "emoji" && r["split"] == split)
            .filter_map(|r| r[k].as_f64())
            .collect()
    };
    let mut out = format!(
        "Emoji, Google and Twitter drawings of the same symbols (32x32), {seeds} seeds; % (mean ± spread)\n\n"
    );
    out += "| symbols | chance | Twitter -> Google by content (top-1) | by style | by the whole code | plain VAE | vendor from style (probe / converged LR) | vendor from content | vendor from plain VAE | vendor from the pixels (LR) | vendor by a classifier trained on seen drawings |\n";
    out += "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for split in ["unseen", "seen"] {
        let both = |k: &str| {
            format!(
                "{} / {}",
                cell(&get(split, k)),
                cell(&get(split, &format!("{k}_lr")))
            )
        };
        out += &format!(
            "| {split} ({}) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            get(split, "symbols").first().copied().unwrap_or(0.0),
            cell(&get(split, "chance")),
            cell(&get(split, "content_top1")),
            cell(&get(split, "style_top1")),
            cell(&get(split, "whole_code_top1")),
            cell(&get(split, "vae_top1")),
            both("vendor_from_style"),
            both("vendor_from_content"),
            both("vendor_from_vae"),
            cell(&get(split, "vendor_from_pixels_lr")),
            cell(&get(split, "vendor_supervised")),
        );
    }
    out
}

/// How many distinct seeds the rows of `part` hold.
fn seeds_in(rows: &[Value], part: &str) -> usize {
    let mut seeds: Vec<u64> = rows
        .iter()
        .filter(|r| r["part"] == part)
        .filter_map(|r| r["seed"].as_u64())
        .collect();
    seeds.sort_unstable();
    seeds.dedup();
    seeds.len()
}

/// A style-swap grid of unseen symbols (row 0: the style donors; column 0: the content
/// donors; cell: content of the row, style of the column) and Google drawings redrawn in
/// Twitter's style (Google, redrawn, Twitter's own).
fn emoji_pictures(
    model: &ContentStyle<Sequential>,
    set: &tl_data::emoji::EmojiSet,
    unseen: &[usize],
    dir: &Path,
    dev: &Device,
) -> Res<()> {
    let shape = [3, 32, 32];
    let rows: Vec<usize> = unseen.iter().copied().take(8).collect();
    let cols: Vec<usize> = unseen.iter().copied().skip(8).take(3).collect();
    let mut donors: Vec<Vec<f32>> = Vec::new();
    for &c in &cols {
        donors.push(set.google.item(c).to_vec());
        donors.push(set.twitter.item(c).to_vec());
    }
    let donor_inputs = Inputs::new(shape.to_vec(), donors.concat())?;
    let (_, styles) = model.codes_of(&donor_inputs, dev)?;
    let content_inputs = set.google.select(&rows);
    let (contents, _) = model.codes_of(&content_inputs, dev)?;
    let blank = vec![1.0f32; 3 * 32 * 32];
    let mut grid: Vec<Vec<f32>> = vec![blank];
    grid.extend(donors.iter().cloned());
    for (i, c) in contents.iter().enumerate() {
        grid.push(content_inputs.item(i).to_vec());
        let drawn = model.draw(&vec![c.clone(); styles.len()], &styles, dev)?;
        grid.extend(drawn);
    }
    let items: Vec<&[f32]> = grid.iter().map(Vec::as_slice).collect();
    write_grid_png(
        &dir.join("emoji-style-swap.png"),
        &items,
        &shape,
        1 + styles.len(),
        false,
    )?;
    // Google -> Twitter: each unseen Google drawing with the mean style of Twitter drawings.
    let some: Vec<usize> = unseen.iter().copied().take(12).collect();
    let (gc, _) = model.codes_of(&set.google.select(&some), dev)?;
    let (_, ts) = model.codes_of(&set.twitter.select(unseen), dev)?;
    let mean_style: Vec<f32> = (0..ts[0].len())
        .map(|d| ts.iter().map(|s| s[d]).sum::<f32>() / ts.len() as f32)
        .collect();
    let redrawn = model.draw(&gc, &vec![mean_style; gc.len()], dev)?;
    let mut items: Vec<&[f32]> = some.iter().map(|&i| set.google.item(i)).collect();
    items.extend(redrawn.iter().map(Vec::as_slice));
    items.extend(some.iter().map(|&i| set.twitter.item(i)));
    write_grid_png(
        &dir.join("emoji-google-to-twitter.png"),
        &items,
        &shape,
        some.len(),
        false,
    )?;
    Ok(())
}

/// MNIST's training digits and USPS's training and test digits in MNIST's framing (16 px
/// resized to 20, padded to 28), from `DATA/mnist` and `DATA/usps`.
pub struct Digits {
    /// MNIST's training digits.
    pub mnist_train: LabelledSet,
    /// USPS's training digits (their labels only form the pairs).
    pub usps_train: LabelledSet,
    /// USPS's test digits.
    pub usps_test: LabelledSet,
}

/// Reads [`Digits`].
pub fn digit_sets(data: &Path) -> Res<Digits> {
    use tl_data::transform::frame_set;
    let (mnist_train, _) = tl_data::idx::mnist(&data.join("mnist"))?;
    let (usps_train, usps_test) = tl_data::libsvm::usps(&data.join("usps"))?;
    Ok(Digits {
        mnist_train,
        usps_train: frame_set(&usps_train, 20, 28)?,
        usps_test: frame_set(&usps_test, 20, 28)?,
    })
}

/// One seed of the digits experiment (one row); with `pictures`, MNIST digits above and
/// their redrawings in USPS's style below.
pub fn digits_seed(
    s: &ContentStyleSettings,
    d: &Digits,
    seed: u64,
    pictures: Option<&Path>,
    dev: &Device,
    log: &dyn Fn(&str),
) -> Res<Value> {
    s.validate()?;
    s.check_side(28, "digit")?;
    if s.mnist > d.mnist_train.len() {
        return Err(tl_core::CoreError::config(
            "mnist",
            format!(
                "{} MNIST digits asked for, the training set has {}",
                s.mnist,
                d.mnist_train.len()
            ),
        )
        .into());
    }
    let (mnist, _) = tl_data::split::stratified_split(
        &d.mnist_train,
        s.mnist as f64 / d.mnist_train.len() as f64,
        seed,
    )?;
    let (usps_train, usps_test) = (&d.usps_train, &d.usps_test);
    let pairs = class_pairs_both_ways(&mnist, usps_train, 1, seed)?;
    let (model, cs_seconds) =
        s.fit_content_style(s.digit_epochs, &pairs, &[1, 28, 28], seed, dev, log)?;
    let both = UnlabelledSet::new(
        Inputs::new(
            vec![1, 28, 28],
            [
                mnist.inputs.values.clone(),
                usps_train.inputs.values.clone(),
            ]
            .concat(),
        )?,
        "mnist+usps",
    )?;
    let (vae, _) = s.fit_vae(s.digit_epochs, &both, &[1, 28, 28], seed, dev, log)?;
    let mut ctx = RunContext::new(dev).with_seed(seed);
    // Transfer: a linear classifier on MNIST codes, scored on USPS test codes.
    let (mc, ms) = model.codes_of(&mnist.inputs, dev)?;
    let (uc, us) = model.codes_of(&usps_test.inputs, dev)?;
    let (mv, uv) = (
        vae.means(&mnist.inputs, dev)?,
        vae.means(&usps_test.inputs, dev)?,
    );
    let p = probe(seed);
    let score = |train: &[Vec<f32>], test: &[Vec<f32>], ctx: &mut RunContext| {
        probe_codes(
            &p,
            (train, &mnist.labels),
            (test, &usps_test.labels),
            10,
            ctx,
        )
    };
    let content_acc = score(&mc, &uc, &mut ctx)?;
    let whole_acc = score(&concat_codes(&mc, &ms), &concat_codes(&uc, &us), &mut ctx)?;
    let vae_acc = score(&mv, &uv, &mut ctx)?;
    let style_acc = score(&ms, &us, &mut ctx)?;
    // Generative adaptation: MNIST redrawn with USPS styles.
    let (_, usps_styles) = model.codes_of(&usps_train.inputs, dev)?;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(7));
    let styles: Vec<Vec<f32>> = (0..mc.len())
        .map(|_| usps_styles[rand::Rng::random_range(&mut rng, 0..usps_styles.len())].clone())
        .collect();
    let redrawn = model.draw(&mc, &styles, dev)?;
    let redrawn_set = LabelledSet::new(
        Inputs::new(vec![1, 28, 28], redrawn.concat())?,
        mnist.labels.clone(),
        mnist.class_names.clone(),
        "mnist redrawn as usps",
    )?;
    let plain_cls = pixel_classifier(&mnist, usps_test, seed, dev)?;
    let redrawn_cls = pixel_classifier(&redrawn_set, usps_test, seed, dev)?;
    if let Some(dir) = pictures {
        // As many digits as there are, up to 12 (a small `mnist` keeps about one a class).
        let k = 12.min(mnist.len()).min(redrawn.len());
        let mut items: Vec<&[f32]> = (0..k).map(|i| mnist.inputs.item(i)).collect();
        items.extend(redrawn.iter().take(k).map(Vec::as_slice));
        write_grid_png(
            &dir.join("mnist-redrawn-as-usps.png"),
            &items,
            &[1, 28, 28],
            k,
            false,
        )?;
    }
    let row = json!({
        "part": "digits", "seed": seed,
        "probe_on_content": content_acc, "probe_on_whole_code": whole_acc,
        "probe_on_style": style_acc, "probe_on_plain_vae": vae_acc,
        "classifier_on_mnist": plain_cls, "classifier_on_redrawn": redrawn_cls,
        // The digits drawn (the split rounds each class: 15 asked can be 13).
        "content_style_seconds": cs_seconds, "mnist": mnist.len(), "mnist_asked": s.mnist,
        "epochs": s.digit_epochs,
    });
    log(&format!("seed {seed}: {row}"));
    Ok(row)
}

/// The digits table over the rows of every seed.
pub fn digits_table(rows: &[Value]) -> String {
    let get = |k: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r["part"] == "digits")
            .filter_map(|r| r[k].as_f64())
            .collect()
    };
    let mut out = format!(
        "MNIST -> USPS (MNIST framing), USPS test accuracy %, {} seeds (mean ± spread)\n\n",
        seeds_in(rows, "digits")
    );
    out += "| trained on MNIST, scored on USPS | accuracy |\n|---|---|\n";
    for (name, key) in [
        ("linear probe on the content code", "probe_on_content"),
        (
            "linear probe on the whole [content, style] code",
            "probe_on_whole_code",
        ),
        ("linear probe on the style code", "probe_on_style"),
        ("linear probe on a plain VAE's code", "probe_on_plain_vae"),
        ("pixel classifier on MNIST", "classifier_on_mnist"),
        (
            "pixel classifier on MNIST redrawn in USPS style",
            "classifier_on_redrawn",
        ),
    ] {
        out += &format!("| {name} | {} |\n", cell(&get(key)));
    }
    out
}

/// A small MLP on pixels (784-256-10, 5 epochs) trained on `train`, its accuracy on `test`.
fn pixel_classifier(train: &LabelledSet, test: &LabelledSet, seed: u64, dev: &Device) -> Res<f64> {
    dev.seed(seed);
    let model = Classifier::new(
        SequentialConfig::new(vec![1, 28, 28])
            .linear(256)
            .relu()
            .init(dev)?,
        head_config(256, &[], 10).init(dev)?,
    )?;
    let cfg = TrainConfig::new()
        .with_epochs(5)
        .with_batch_size(64)
        .with_lr(1e-3)
        .with_seed(seed);
    let out = Trainer::new(cfg).fit(model, train, None, dev)?;
    Ok(evaluate(&out.model, test, dev, 256)?.accuracy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_average_over_seeds_and_leave_missing_columns_out() {
        let row = |seed: u64, split: &str, content: f64, vae: Option<f64>| {
            let mut r = json!({"part": "emoji", "seed": seed, "split": split, "symbols": 4,
                "chance": 0.25, "content_top1": content});
            if let Some(v) = vae {
                r["vae_top1"] = json!(v);
            }
            if split == "unseen" {
                r["vendor_supervised"] = json!(0.9 + 0.02 * seed as f64);
            }
            r
        };
        let rows = vec![
            row(0, "unseen", 0.5, Some(0.25)),
            row(0, "seen", 0.4, None),
            row(1, "unseen", 0.7, Some(0.75)),
            row(1, "seen", 0.6, None),
        ];
        let md = emoji_table(&rows);
        assert!(md.contains(", 2 seeds;"), "{md}");
        // Unseen: content 60 ± 14.14, the plain VAE 50 ± 35.36; seen: no VAE column.
        assert!(
            md.contains("| unseen (4) | 25.00 ± 0.00 | 60.00 ± 14.14 |"),
            "{md}"
        );
        assert!(md.contains("| 50.00 ± 35.36 |"), "{md}");
        let seen = md.lines().find(|l| l.starts_with("| seen")).unwrap();
        let cells: Vec<&str> = seen.split('|').map(str::trim).collect();
        assert_eq!(cells[3], "50.00 ± 14.14", "{seen}");
        assert_eq!(cells[6], "-", "the plain VAE's column: {seen}");
        // The vendor classifier is scored on the unseen drawings only (the seen ones trained it).
        assert_eq!(cells[11], "-", "{seen}");
        let unseen = md.lines().find(|l| l.starts_with("| unseen")).unwrap();
        let cells: Vec<&str> = unseen.split('|').map(str::trim).collect();
        assert_eq!(cells[11], "91.00 ± 1.41", "{unseen}");
        let digits = vec![
            json!({"part": "digits", "seed": 0, "probe_on_content": 0.8}),
            json!({"part": "digits", "seed": 1, "probe_on_content": 0.9}),
        ];
        let md = digits_table(&digits);
        assert!(md.contains("2 seeds"), "{md}");
        assert!(
            md.contains("| linear probe on the content code | 85.00 ± 7.07 |"),
            "{md}"
        );
        // A figure the rows do not hold is shown as missing, not as NaN.
        assert!(
            md.contains("| linear probe on the style code | - |"),
            "{md}"
        );
    }

    #[test]
    fn a_decoder_too_deep_for_the_images_is_refused_before_training() {
        let s = ContentStyleSettings {
            decoder_conv: vec![64, 64, 32],
            ..Default::default()
        };
        assert!(s.validate().is_ok());
        // 32 = 4 x 2^3 draws; 28 is not divisible by 8.
        assert!(s.check_side(32, "emoji").is_ok());
        let e = s.check_side(28, "digit").unwrap_err().to_string();
        assert!(
            e.contains("decoder_conv") && e.contains("at most 2 stages"),
            "{e}"
        );
        assert!(
            ContentStyleSettings::default()
                .check_side(28, "digit")
                .is_ok()
        );
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        assert!(ContentStyleSettings::default().validate().is_ok());
        for (bad, key) in [
            (
                ContentStyleSettings {
                    epochs: 0,
                    ..Default::default()
                },
                "epochs",
            ),
            (
                ContentStyleSettings {
                    mnist: 3,
                    ..Default::default()
                },
                "mnist",
            ),
            (
                ContentStyleSettings {
                    conv_encoder: Some(0),
                    ..Default::default()
                },
                "conv_encoder",
            ),
            (
                ContentStyleSettings {
                    style: 0,
                    ..Default::default()
                },
                "style",
            ),
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }
}
