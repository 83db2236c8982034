//! The dSprites experiment of tl-disentangle's README: a model of the VAE family trained on
//! sprites from tl-data's generator (the published factor grid, 64x64 binary) and scored by
//! the five disentanglement metrics on its latent means. `examples/disentangle.rs` and a `tl
//! run` recipe whose source is `format = "dsprites"` (`recipes/dsprites.toml`) both run it
//! through [`fit_and_score`], so the two give the same figures for the same settings and
//! seed.

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tl_core::data::{Inputs, UnlabelledSet};
use tl_core::model::{Sequential, SequentialConfig};
use tl_core::report::mean_std;
use tl_core::strategy::RunContext;
use tl_core::train::ProgressEvent;
use tl_core::{CoreError, Result};
use tl_data::images::write_grid_png;
use tl_data::shift::{
    DSPRITES_FACTOR_NAMES, DSPRITES_FACTOR_SIZES, dsprites_render, dsprites_sample,
};
use tl_disentangle::metrics::{
    Forest, Samples, VoteSettings, beta_vae_score, dci, factor_vae_score, mig_gaps,
    normalized_mutual_info, sample_factors, sap,
};
use tl_disentangle::{BetaVae, Vae};

/// The strategies a dSprites run trains (the registry's names).
pub const MODELS: [&str; 4] = ["vae", "beta-vae", "beta-tcvae", "factor-vae"];

/// The five metrics a model is compared on with the plain VAE of the same seed, in order.
pub const COMPARED: [&str; 5] = [
    "mig",
    "sap",
    "dci_disentanglement",
    "factor_vae_score",
    "beta_vae_score",
];

/// How much data and how many metric samples (disentanglement_lib's counts by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DspritesSettings {
    /// Training sprites, drawn uniformly from the factor grid with the seed.
    pub sprites: usize,
    /// Samples for MIG, and the training half of SAP and DCI (half as many to score them).
    pub metric_samples: usize,
    /// Training votes of the FactorVAE and BetaVAE scores (half as many to score them).
    pub votes: usize,
}
/// The encoder's hidden widths in tl-disentangle's README (an MLP on the 4,096 pixels, ReLU;
/// disentanglement_lib's MLP is 1,200-1,200).
pub const ENCODER: [usize; 2] = [512, 256];

impl Default for DspritesSettings {
    fn default() -> Self {
        Self {
            sprites: 20_000,
            metric_samples: 10_000,
            votes: 10_000,
        }
    }
}

impl DspritesSettings {
    /// Refuses counts the metrics cannot work with, by name.
    pub fn validate(&self) -> Result<()> {
        if self.sprites < 64 {
            return Err(CoreError::config(
                "sprites",
                format!(
                    "{} training sprites: at least one batch of 64",
                    self.sprites
                ),
            ));
        }
        if self.metric_samples < 20 {
            return Err(CoreError::config(
                "metric_samples",
                format!(
                    "{}: MIG's 20 bins and the held-out half need at least 20",
                    self.metric_samples
                ),
            ));
        }
        if self.votes < 2 {
            return Err(CoreError::config(
                "votes",
                format!("{}: at least 2 (half of them score)", self.votes),
            ));
        }
        Ok(())
    }
}

/// One trained model's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DspritesRow {
    /// The row's name (the strategy's, or a recipe's label).
    pub model: String,
    /// The seed (sprites, initialisation, batches, metric samples).
    pub seed: u64,
    /// Mutual information gap (the mean of [`Self::mig_factors`]).
    pub mig: f64,
    /// Each factor's gap, in the order of `DSPRITES_FACTOR_NAMES` (shape, scale,
    /// orientation, x and y position): which factors the model has taken apart. Empty in
    /// rows written before it was kept.
    #[serde(default)]
    pub mig_factors: Vec<f64>,
    /// The mutual information of each code (rows) with each factor (columns, as
    /// `mig_factors`) over the factor's entropy, on MIG's samples and bins. Empty in rows
    /// written before it was kept.
    #[serde(default)]
    pub code_factor_info: Vec<Vec<f64>>,
    /// Separated attribute predictability.
    pub sap: f64,
    /// DCI disentanglement.
    pub dci_disentanglement: f64,
    /// DCI completeness.
    pub dci_completeness: f64,
    /// DCI informativeness.
    pub dci_informativeness: f64,
    /// FactorVAE score.
    pub factor_vae_score: f64,
    /// BetaVAE score.
    pub beta_vae_score: f64,
    /// Seconds of training.
    pub train_seconds: f64,
    /// The last epoch's reconstruction term, KL and total correlation (beta-TCVAE).
    pub reconstruction: Option<f64>,
    /// The last epoch's KL.
    pub kl: Option<f64>,
    /// The last epoch's total correlation estimate (beta-TCVAE).
    pub total_correlation: Option<f64>,
    /// The model's settings as trained.
    pub config: serde_json::Value,
}

impl DspritesRow {
    /// A metric by its name in [`COMPARED`] (or `dci_completeness`, `dci_informativeness`).
    pub fn get(&self, metric: &str) -> f64 {
        match metric {
            "mig" => self.mig,
            "sap" => self.sap,
            "dci_disentanglement" => self.dci_disentanglement,
            "dci_completeness" => self.dci_completeness,
            "dci_informativeness" => self.dci_informativeness,
            "factor_vae_score" => self.factor_vae_score,
            "beta_vae_score" => self.beta_vae_score,
            _ => f64::NAN,
        }
    }
}

/// Renders factor vectors as sprites.
fn render(factors: &[Vec<usize>]) -> Result<Inputs> {
    let mut values = Vec::with_capacity(factors.len() * 64 * 64);
    for f in factors {
        values.extend(dsprites_render([f[0], f[1], f[2], f[3], f[4]]));
    }
    Inputs::new(vec![1, 64, 64], values)
}

/// The training sprites of a seed.
pub fn training_sprites(settings: &DspritesSettings, seed: u64) -> Result<UnlabelledSet> {
    let sprites = dsprites_sample(settings.sprites, seed)
        .map_err(|e| CoreError::data("dsprites", e.to_string()))?;
    UnlabelledSet::new(sprites.images, "dsprites")
}

/// Trains `method` (its `train` as given, seeded with `seed`) on the seed's sprites from a
/// fresh MLP encoder of hidden widths `encoder` (ReLU; [`ENCODER`] in the README), then
/// scores its latent means; `on_epoch` sees every progress event. The trained VAE comes
/// back for pictures.
pub fn fit_and_score(
    name: &str,
    method: &BetaVae,
    settings: &DspritesSettings,
    encoder: &[usize],
    seed: u64,
    dev: &Device,
    on_epoch: impl FnMut(&ProgressEvent),
) -> Result<(Vae<Sequential>, DspritesRow)> {
    fit_and_score_conv(name, method, settings, &[], encoder, seed, dev, on_epoch)
}

/// [`fit_and_score`] with a convolutional stem before the encoder's hidden layers:
/// `encoder_conv` channels, each a 4x4 convolution of stride 2 and padding 1 with ReLU
/// (halving the height and width; disentanglement_lib's encoder is `32,32,64,64` then one
/// hidden layer of 256). An empty `encoder_conv` is the MLP of [`fit_and_score`].
#[allow(clippy::too_many_arguments)]
pub fn fit_and_score_conv(
    name: &str,
    method: &BetaVae,
    settings: &DspritesSettings,
    encoder_conv: &[usize],
    encoder: &[usize],
    seed: u64,
    dev: &Device,
    on_epoch: impl FnMut(&ProgressEvent),
) -> Result<(Vae<Sequential>, DspritesRow)> {
    settings.validate()?;
    if encoder_conv.contains(&0) || encoder_conv.len() > 6 {
        return Err(CoreError::config(
            "encoder_conv",
            format!(
                "{encoder_conv:?}: at most 6 stages (64 pixels halved six times is 1), each at least 1 channel"
            ),
        ));
    }
    if encoder.is_empty() || encoder.contains(&0) {
        return Err(CoreError::config(
            "encoder",
            format!("{encoder:?}: one or more hidden widths, each at least 1"),
        ));
    }
    let method = method
        .clone()
        .with_train(method.train.clone().with_seed(seed));
    method.validate()?;
    // MIG and SAP compare a factor's two best codes: refused now rather than after training.
    if method.latent < 2 {
        return Err(CoreError::config(
            "latent",
            format!(
                "{} latent: the metrics compare codes, so at least 2",
                method.latent
            ),
        ));
    }
    let data = training_sprites(settings, seed)?;
    dev.seed(seed);
    let mut config = SequentialConfig::new(vec![1, 64, 64]);
    for &channels in encoder_conv {
        config = config.conv_strided(channels, 4, 2, 1).relu();
    }
    for &width in encoder {
        config = config.linear(width).relu();
    }
    let backbone = config.init(dev)?;
    let started = std::time::Instant::now();
    let mut ctx = RunContext::new(dev).with_seed(seed).with_progress(on_epoch);
    let (vae, history) = method.fit_vae(backbone, &data, &mut ctx)?;
    drop(ctx);
    let train_seconds = started.elapsed().as_secs_f64();
    let last = history.last().map(|r| r.extra.clone()).unwrap_or_default();
    let mut represent = |f: &[Vec<usize>]| -> Result<Vec<Vec<f32>>> { vae.means(&render(f)?, dev) };
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1));
    let (n, nt) = (settings.metric_samples, settings.metric_samples / 2);
    let (f_train, f_test) = (
        sample_factors(&DSPRITES_FACTOR_SIZES, n, &mut rng),
        sample_factors(&DSPRITES_FACTOR_SIZES, nt, &mut rng),
    );
    let (c_train, c_test) = (represent(&f_train)?, represent(&f_test)?);
    let train = Samples::new(&c_train, &f_train)?;
    let test = Samples::new(&c_test, &f_test)?;
    let code_factor_info = normalized_mutual_info(train, 20)?;
    let mig_factors = mig_gaps(&code_factor_info)?;
    let m = mig_factors.iter().sum::<f64>() / mig_factors.len() as f64;
    let s = sap(train, test, false)?;
    let d = dci(train, test, Forest::default())?;
    let votes = VoteSettings {
        train: settings.votes,
        eval: settings.votes / 2,
        variance_samples: n,
        seed,
        ..VoteSettings::default()
    };
    let fv = factor_vae_score(&DSPRITES_FACTOR_SIZES, &mut represent, votes)?;
    let bv = beta_vae_score(&DSPRITES_FACTOR_SIZES, &mut represent, votes)?;
    let config = serde_json::to_value(&method)
        .map_err(|e| CoreError::config("model", format!("settings as JSON: {e}")))?;
    let row = DspritesRow {
        model: name.to_string(),
        seed,
        mig: m,
        mig_factors,
        code_factor_info,
        sap: s,
        dci_disentanglement: d.disentanglement,
        dci_completeness: d.completeness,
        dci_informativeness: d.informativeness,
        factor_vae_score: fv,
        beta_vae_score: bv,
        train_seconds,
        reconstruction: last.get("reconstruction").copied(),
        kl: last.get("kl").copied(),
        total_correlation: last.get("total_correlation").copied(),
        config,
    };
    Ok((vae, row))
}

/// One Markdown row of a fit: `| model | seed | MIG | ... | training |`.
pub fn row_markdown(r: &DspritesRow) -> String {
    format!(
        "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.0} s |",
        r.model,
        r.seed,
        r.mig,
        r.sap,
        r.dci_disentanglement,
        r.dci_completeness,
        r.dci_informativeness,
        r.factor_vae_score,
        r.beta_vae_score,
        r.train_seconds
    )
}

/// The header of [`row_markdown`]'s table.
pub const ROWS_HEADER: &str = "| model | seed | MIG | SAP | DCI D | DCI C | DCI I | FactorVAE | BetaVAE | training |\n|---|---|---|---|---|---|---|---|---|---|";

/// The seeds on which `row`'s model beats the plain VAE (the row called `baseline`) of the
/// same seed on at least 3 of the 5 [`COMPARED`] metrics, and the seeds compared.
pub fn beats_baseline(rows: &[DspritesRow], model: &str, baseline: &str) -> (usize, usize) {
    let mine: Vec<&DspritesRow> = rows.iter().filter(|r| r.model == model).collect();
    let mut compared = 0;
    let mut beats = 0;
    for r in mine {
        if let Some(v) = rows
            .iter()
            .find(|v| v.model == baseline && v.seed == r.seed)
        {
            compared += 1;
            if COMPARED.iter().filter(|k| r.get(k) > v.get(k)).count() >= 3 {
                beats += 1;
            }
        }
    }
    (beats, compared)
}

/// Each model's mean ± spread over its seeds and, against `baseline` (the plain VAE), on how
/// many seeds it is ahead on at least 3 of the 5 compared metrics.
pub fn summary_markdown(rows: &[DspritesRow], baseline: &str) -> String {
    let mut out = format!(
        "Mean ± spread over the seeds; `> {baseline}`: seeds where the model beats `{baseline}` of the same seed on at least 3 of MIG, SAP, DCI D, FactorVAE, BetaVAE\n\n"
    );
    out += &format!(
        "| model | seeds | MIG | SAP | DCI D | DCI C | DCI I | FactorVAE | BetaVAE | > {baseline} |\n"
    );
    out += "|---|---|---|---|---|---|---|---|---|---|\n";
    for name in model_names(rows) {
        let mine: Vec<&DspritesRow> = rows.iter().filter(|r| r.model == name).collect();
        let cell = |k: &str| {
            let (m, s) = mean_std(&mine.iter().map(|r| r.get(k)).collect::<Vec<_>>());
            format!("{m:.3} ± {s:.3}")
        };
        let (beats, compared) = beats_baseline(rows, name, baseline);
        let versus = if name == baseline || compared == 0 {
            "-".to_string()
        } else {
            format!("{beats} of {compared}")
        };
        out += &format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {versus} |\n",
            mine.len(),
            cell("mig"),
            cell("sap"),
            cell("dci_disentanglement"),
            cell("dci_completeness"),
            cell("dci_informativeness"),
            cell("factor_vae_score"),
            cell("beta_vae_score"),
        );
    }
    out
}

/// Each model's per-factor MIG ([`DspritesRow::mig_factors`]), mean ± spread over its
/// seeds, one column a factor; rows without them are left out.
pub fn factor_mig_markdown(rows: &[DspritesRow]) -> String {
    let mut out =
        String::from("MIG per factor (mean ± spread over the seeds)\n\n| model | seeds |");
    for name in DSPRITES_FACTOR_NAMES {
        out += &format!(" {name} |");
    }
    out += &format!(
        "\n|---|---|{}\n",
        "---|".repeat(DSPRITES_FACTOR_NAMES.len())
    );
    for name in model_names(rows) {
        let mine: Vec<&DspritesRow> = rows
            .iter()
            .filter(|r| r.model == name && r.mig_factors.len() == DSPRITES_FACTOR_NAMES.len())
            .collect();
        if mine.is_empty() {
            continue;
        }
        out += &format!("| {name} | {} |", mine.len());
        for f in 0..DSPRITES_FACTOR_NAMES.len() {
            let (m, s) = mean_std(&mine.iter().map(|r| r.mig_factors[f]).collect::<Vec<_>>());
            out += &format!(" {m:.3} ± {s:.3} |");
        }
        out.push('\n');
    }
    out
}

/// A row's code-factor matrix ([`DspritesRow::code_factor_info`]) as a Markdown table, one
/// line a code, the factors as columns (empty when the row has none).
pub fn code_factor_markdown(row: &DspritesRow) -> String {
    if row.code_factor_info.is_empty() {
        return String::new();
    }
    let mut out = String::from("| code |");
    for name in DSPRITES_FACTOR_NAMES {
        out += &format!(" {name} |");
    }
    out += &format!("\n|---|{}\n", "---|".repeat(DSPRITES_FACTOR_NAMES.len()));
    for (i, info) in row.code_factor_info.iter().enumerate() {
        out += &format!("| z{i} |");
        for v in info {
            out += &format!(" {v:.2} |");
        }
        out.push('\n');
    }
    out
}

/// The models of `rows`, each once, in the order they first appear.
fn model_names(rows: &[DspritesRow]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.model.as_str()) {
            names.push(&r.model);
        }
    }
    names
}

/// The rows as CSV (one line a fit; the per-factor MIG columns empty where a row has none).
pub fn rows_csv(rows: &[DspritesRow]) -> String {
    let mut out = String::from(
        "model,seed,mig,sap,dci_disentanglement,dci_completeness,dci_informativeness,factor_vae_score,beta_vae_score,train_seconds",
    );
    for name in DSPRITES_FACTOR_NAMES {
        out += &format!(",mig_{name}");
    }
    out.push('\n');
    for r in rows {
        out += &format!(
            "{},{},{},{},{},{},{},{},{},{}",
            r.model,
            r.seed,
            r.mig,
            r.sap,
            r.dci_disentanglement,
            r.dci_completeness,
            r.dci_informativeness,
            r.factor_vae_score,
            r.beta_vae_score,
            r.train_seconds
        );
        for f in 0..DSPRITES_FACTOR_NAMES.len() {
            out.push(',');
            if let Some(v) = r.mig_factors.get(f) {
                out += &v.to_string();
            }
        }
        out.push('\n');
    }
    out
}

/// Writes `dsprites-<name>-traversal.png` (one row per latent, the first sprite's code swept
/// over ±2.5) and `dsprites-<name>-reconstructions.png` (the seed's first ten sprites above,
/// their reconstructions below) into `dir`.
pub fn pictures(
    vae: &Vae<Sequential>,
    settings: &DspritesSettings,
    seed: u64,
    dir: &Path,
    name: &str,
    dev: &Device,
) -> Result<()> {
    let images = training_sprites(settings, seed)?.inputs;
    let n = images.len().min(10);
    let firsts = Inputs::new(vec![1, 64, 64], images.values[..n * 4096].to_vec())?;
    let codes = vae.means(&firsts, dev)?;
    let steps = 9;
    let traversal = vae.traverse(&codes[0], steps, 2.5, dev)?;
    let picture = |e: tl_data::DataError| CoreError::data("pictures", e.to_string());
    let items: Vec<&[f32]> = traversal.iter().map(Vec::as_slice).collect();
    write_grid_png(
        &dir.join(format!("dsprites-{name}-traversal.png")),
        &items,
        &[1, 64, 64],
        steps,
        false,
    )
    .map_err(picture)?;
    let recon = vae.decode(&codes, dev)?;
    let mut items: Vec<&[f32]> = (0..n).map(|i| firsts.item(i)).collect();
    items.extend(recon.iter().map(Vec::as_slice));
    write_grid_png(
        &dir.join(format!("dsprites-{name}-reconstructions.png")),
        &items,
        &[1, 64, 64],
        n,
        false,
    )
    .map_err(picture)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, seed: u64, v: f64) -> DspritesRow {
        DspritesRow {
            model: model.into(),
            seed,
            mig: v,
            mig_factors: vec![v; 5],
            code_factor_info: Vec::new(),
            sap: v,
            dci_disentanglement: v,
            dci_completeness: v,
            dci_informativeness: v,
            factor_vae_score: v,
            beta_vae_score: v,
            train_seconds: 1.0,
            reconstruction: None,
            kl: None,
            total_correlation: None,
            config: serde_json::json!({}),
        }
    }

    #[test]
    fn a_model_beats_the_baseline_of_its_own_seed_only() {
        let mut rows = vec![
            row("vae", 0, 0.1),
            row("vae", 1, 0.5),
            row("tc", 0, 0.3),
            row("tc", 1, 0.3),
            row("tc", 2, 0.9),
        ];
        // Ahead on seed 0, behind on seed 1, no plain VAE on seed 2.
        assert_eq!(beats_baseline(&rows, "tc", "vae"), (1, 2));
        // Ahead on exactly two of the five: not counted.
        rows[1] = row("vae", 1, 0.2);
        rows[1].mig = 0.4;
        rows[1].sap = 0.4;
        rows[1].dci_disentanglement = 0.4;
        assert_eq!(beats_baseline(&rows, "tc", "vae"), (1, 2));
        rows[1].dci_disentanglement = 0.2;
        assert_eq!(beats_baseline(&rows, "tc", "vae"), (2, 2));
        let md = summary_markdown(&rows, "vae");
        assert!(md.contains("| tc | 3 | 0.500 ± 0.346 |"), "{md}");
        assert!(md.contains("| 2 of 2 |"), "{md}");
        let csv = rows_csv(&rows);
        assert_eq!(csv.lines().count(), 6);
        assert!(
            csv.lines()
                .next()
                .unwrap()
                .ends_with(",mig_pos_x,mig_pos_y")
        );
        assert!(csv.lines().all(|l| l.split(',').count() == 15), "{csv}");
        rows[0].mig_factors = vec![0.1, 0.2, 0.0, 0.4, 0.5];
        rows[2].mig_factors.clear();
        let per_factor = factor_mig_markdown(&rows);
        assert!(
            per_factor.contains("| vae | 2 | 0.150 ± 0.071 | 0.200 ± 0.000 |"),
            "{per_factor}"
        );
        assert!(
            per_factor.contains("| tc | 2 |"),
            "a row without gaps left out: {per_factor}"
        );
        assert!(rows_csv(&rows).lines().nth(3).unwrap().ends_with(",,,,,"));
    }

    #[test]
    fn bad_counts_are_refused_by_name() {
        let ok = DspritesSettings::default();
        assert!(ok.validate().is_ok());
        for (bad, key) in [
            (
                DspritesSettings {
                    sprites: 10,
                    ..ok.clone()
                },
                "sprites",
            ),
            (
                DspritesSettings {
                    metric_samples: 5,
                    ..ok.clone()
                },
                "metric_samples",
            ),
            (
                DspritesSettings {
                    votes: 1,
                    ..ok.clone()
                },
                "votes",
            ),
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }
}
