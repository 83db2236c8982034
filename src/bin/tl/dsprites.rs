//! `tl run` on a dSprites recipe (`[source] format = "dsprites"`, `recipes/dsprites.toml`):
//! each strategy of the VAE family trains on the seed's sprites from a fresh MLP and the five
//! disentanglement metrics score its latent means ([`tl::dsprites`], the code
//! `examples/disentangle.rs` runs). The run folder holds the recipe as run, `dsprites.json`
//! (every fit, written as each finishes: `--resume` goes on after the last), `summary.md`,
//! `summary.csv`, bar charts of MIG and the FactorVAE score, and the first seed's latent
//! traversals and reconstructions under `pictures/`.

use crate::progress::Progress;
use crate::recipe::Recipe;
use serde_json::json;
use std::error::Error;
use std::path::Path;
use std::time::Instant;
use tl::dsprites::{
    DspritesRow, DspritesSettings, ENCODER, MODELS, ROWS_HEADER, factor_mig_markdown,
    fit_and_score, pictures, row_markdown, rows_csv, summary_markdown,
};
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::report::mean_std;
use tl::tl_core::strategy::Registry;
use tl::tl_core::train::ProgressEvent;
use tl::tl_disentangle::BetaVae;

type Res<T> = Result<T, Box<dyn Error>>;

/// The file of every finished fit.
pub const ROWS_FILE: &str = "dsprites.json";

/// The dSprites run's settings from the recipe, after the checks `Recipe::validate` leaves
/// to the library: every strategy of the VAE family, counts the metrics can work with.
pub fn check(recipe: &Recipe) -> Res<DspritesSettings> {
    if let Some(spec) = recipe
        .strategies
        .iter()
        .find(|s| !MODELS.contains(&s.name.as_str()))
    {
        return Err(format!(
            "[[strategy]] `{}`: a dSprites run trains the VAE family ({}) and scores its codes",
            spec.label(),
            MODELS.join(", ")
        )
        .into());
    }
    let settings = recipe
        .dsprites
        .as_ref()
        .map_or_else(DspritesSettings::default, |d| DspritesSettings {
            sprites: d.sprites,
            metric_samples: d.metric_samples,
            votes: d.votes,
        });
    settings.validate().map_err(|e| format!("[dsprites] {e}"))?;
    // Each row's model as it would train: MIG and SAP compare a factor's two best codes.
    let registry = tl::registry()?;
    for spec in &recipe.strategies {
        let vae = method(&registry, recipe, spec)?;
        if vae.latent < 2 {
            return Err(format!(
                "[[strategy]] `{}`: latent {}: the metrics compare codes, so at least 2",
                spec.label(),
                vae.latent
            )
            .into());
        }
    }
    Ok(settings)
}

/// The VAE a row trains: the strategy the registry makes of the row (its defaults with the
/// recipe's `[train]`, `[settings]` and the row's own settings laid over them), as its type.
fn method(
    registry: &Registry,
    recipe: &Recipe,
    spec: &crate::recipe::StrategySpec,
) -> Res<BetaVae> {
    let config = registry
        .create(&spec.name, &crate::run::settings(registry, recipe, spec)?)?
        .config()?;
    serde_json::from_value(config)
        .map_err(|e| format!("[[strategy]] `{}`: its settings: {e}", spec.label()).into())
}

/// Runs a dSprites recipe with its `settings` (from [`check`]) into `out` (prepared, with
/// `recipe.toml` and `run.json` written); `resume`: keep the fits `dsprites.json` already
/// holds.
pub fn run(
    recipe: &Recipe,
    settings: &DspritesSettings,
    title: &str,
    out: &Path,
    progress: &Progress,
    dev: &Device,
    resume: bool,
) -> Res<()> {
    let registry = tl::registry()?;
    let encoder = recipe
        .model
        .widths
        .clone()
        .unwrap_or_else(|| ENCODER.to_vec());
    let methods: Vec<(String, BetaVae)> = recipe
        .strategies
        .iter()
        .map(|spec| Ok((spec.label().to_string(), method(&registry, recipe, spec)?)))
        .collect::<Res<_>>()?;
    let mut previous: Vec<DspritesRow> = Vec::new();
    // Finished fits that cannot be read are refused, not run again over.
    let earlier = match std::fs::read_to_string(out.join(ROWS_FILE)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || !resume => None,
        read => {
            Some(read.map_err(|e| format!("cannot read {}: {e}", out.join(ROWS_FILE).display()))?)
        }
    };
    if resume && let Some(text) = earlier {
        previous = serde_json::from_str(&text)
            .map_err(|e| format!("{}: {ROWS_FILE}: {e}", out.display()))?;
        progress.line(&format!(
            "resuming {}: {} fits done",
            out.display(),
            previous.len()
        ));
    }
    progress.line(&format!(
        "dSprites: {} sprites a seed, an MLP encoder {:?}, metrics on {} samples and {} votes; device {}",
        settings.sprites,
        encoder,
        settings.metric_samples,
        settings.votes,
        tl::tl_core::device::device_label(dev)
    ));
    let pictures_dir = out.join("pictures");
    let started = Instant::now();
    let mut rows: Vec<DspritesRow> = Vec::new();
    for seed in crate::recipe::seed_range(recipe.first_seed, recipe.seeds)? {
        for (label, method) in &methods {
            if let Some(done) = previous
                .iter()
                .find(|r| &r.model == label && r.seed == seed)
            {
                rows.push(done.clone());
                continue;
            }
            let what = format!("{label}, seed {seed}");
            let bar = progress.bar(1, &what);
            let (vae, row) = fit_and_score(label, method, settings, &encoder, seed, dev, |event| {
                bar.on_step(&what, event);
                if let ProgressEvent::Epoch(r) = event {
                    let get = |k: &str| r.extra.get(k).copied().unwrap_or(f64::NAN);
                    bar.note(&format!(
                        "    {what}: epoch {} loss {:.2} (reconstruction {:.2}, KL {:.2}; {:.1} s)",
                        r.epoch,
                        r.train_loss,
                        get("reconstruction"),
                        get("kl"),
                        r.seconds
                    ));
                }
            })
            .map_err(|e| format!("`{label}`, seed {seed}: {e}"))?;
            if seed == recipe.first_seed {
                std::fs::create_dir_all(&pictures_dir)
                    .map_err(|e| format!("cannot create {}: {e}", pictures_dir.display()))?;
                pictures(
                    &vae,
                    settings,
                    seed,
                    &pictures_dir,
                    &crate::package::slug(label),
                    dev,
                )?;
            }
            bar.finish(&format!(
                "[{:>5.0} s] seed {seed}: {label:<16} MIG {:.3}, FactorVAE score {:.3} (training {:.0} s)",
                started.elapsed().as_secs_f64(),
                row.mig,
                row.factor_vae_score,
                row.train_seconds
            ));
            rows.push(row);
            // Every finished fit, at once: a run stopped later keeps it.
            let mut all = rows.clone();
            all.extend(
                previous
                    .iter()
                    .filter(|p| !rows.iter().any(|r| r.model == p.model && r.seed == p.seed))
                    .cloned(),
            );
            write_atomic(
                &out.join(ROWS_FILE),
                serde_json::to_string_pretty(&all)?.as_bytes(),
            )?;
        }
    }
    let baseline = recipe
        .baseline
        .clone()
        .unwrap_or_else(|| recipe.strategies[0].label().to_string());
    let mut md = format!(
        "# {title}\n\n{} seeds, {} sprites a seed, metrics on the latent means ({} samples, {} votes), device {}\n\n{ROWS_HEADER}\n",
        recipe.seeds,
        settings.sprites,
        settings.metric_samples,
        settings.votes,
        tl::tl_core::device::device_label(dev)
    );
    for r in &rows {
        md += &row_markdown(r);
        md.push('\n');
    }
    md.push('\n');
    md += &summary_markdown(&rows, &baseline);
    md.push('\n');
    md += &factor_mig_markdown(&rows);
    println!("\n{md}");
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    write_atomic(&out.join("summary.csv"), rows_csv(&rows).as_bytes())?;
    write_atomic(
        &out.join(ROWS_FILE),
        serde_json::to_string_pretty(&rows)?.as_bytes(),
    )?;
    for (metric, name, file) in [
        ("mig", "MIG", "mig.svg"),
        (
            "factor_vae_score",
            "FactorVAE score",
            "factor-vae-score.svg",
        ),
    ] {
        let bars: Vec<(String, f64, f64)> = methods
            .iter()
            .map(|(label, _)| {
                let values: Vec<f64> = rows
                    .iter()
                    .filter(|r| &r.model == label)
                    .map(|r| r.get(metric))
                    .collect();
                let (m, s) = mean_std(&values);
                (label.clone(), m, s)
            })
            .collect();
        let svg = crate::plots::bars(&format!("{title}: {name}"), name, &bars)?;
        write_atomic(&out.join(file), svg.as_bytes())?;
    }
    let meta = json!({
        "title": title,
        "kind": "dsprites",
        "finished": true,
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    write_atomic(
        &out.join("run.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    progress.line(&format!(
        "wrote {} (recipe.toml, {ROWS_FILE}, summary.md, summary.csv, run.json, mig.svg, factor-vae-score.svg, pictures/)",
        out.display()
    ));
    Ok(())
}
