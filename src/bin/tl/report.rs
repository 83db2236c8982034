//! `tl report RUN`: what a person reads after a run. Every saved model of the run is loaded
//! and scored again on its seed's test set: accuracy and macro-F1, per-class accuracy, the
//! confusion matrix, the most confident mistakes, calibration (expected calibration error and
//! a reliability diagram), robustness under corruptions as accuracy against severity,
//! learning curves, and the gain over training from scratch when the run has a `scratch` row.
//! One self-contained HTML page (pictures inline) and the same in Markdown, under
//! `RUN/report/`.

use crate::data::{Domain, Featuriser, Raw};
use crate::plots;
use crate::progress::Progress;
use crate::run::{Data, read_data, seed_task};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::report::{md_cell, mean_std};
use tl::tl_data::transform::Chw;

type Res<T> = Result<T, Box<dyn Error>>;

/// `tl report`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run folder that `tl run` wrote.
    pub run: PathBuf,
    /// Device (flex, ndarray, wgpu, auto).
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// Skip the corruption sweep (for texts it embeds the test set again at each severity).
    #[arg(long)]
    pub no_robustness: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

/// Bins of the calibration error and the reliability diagram.
const CALIBRATION_BINS: usize = 15;
/// Mistakes shown.
const MISTAKES: usize = 8;

/// One row's model of one seed, scored again: each test item's predicted class and its
/// probability.
struct Scored {
    seed: u64,
    preds: Vec<(usize, f32)>,
    truth: Vec<usize>,
}

/// Runs `tl report`.
pub fn run(args: &Args) -> Res<()> {
    let dev = device(&args.device)?;
    let progress = Progress::new(args.quiet);
    let run = &args.run;
    let read = |f: &str| crate::run::read_run_file(run, f);
    let meta: serde_json::Value = serde_json::from_str(&read("run.json")?)
        .map_err(|e| format!("{}: run.json: {e}", run.display()))?;
    if meta["kind"] == "experiment" {
        return Err(format!(
            "{} is an experiment run ({}): its figures are in summary.md and {}, not a classifier to report on",
            run.display(),
            meta["experiment"].as_str().unwrap_or("?"),
            crate::experiment::ROWS_FILE
        )
        .into());
    }
    if run.join(crate::dsprites::ROWS_FILE).is_file() {
        return Err(format!(
            "{} is a dSprites run: its figures are disentanglement metrics of the VAEs' codes (summary.md, {}, pictures/), not a classifier to report on",
            run.display(),
            crate::dsprites::ROWS_FILE
        )
        .into());
    }
    let comparison: Comparison = serde_json::from_str(&read("reports.json")?)
        .map_err(|e| format!("{}: reports.json: {e}", run.display()))?;
    let recipe = crate::recipe::parse(&read("recipe.toml")?, "recipe.toml (as run)")?;
    if recipe.episodes.is_some() {
        return Err(format!(
            "{} is an episodic run ([episodes]): each episode had its own classes and head, so there are no saved models to score again; its figures are in summary.md and reports.json",
            run.display()
        )
        .into());
    }
    let recipe_dir = meta["recipe_dir"]
        .as_str()
        .map(PathBuf::from)
        .ok_or("run.json names no recipe_dir: run the recipe again with this version of tl")?;
    let title = meta["title"].as_str().unwrap_or("run").to_string();

    let data = read_data(&recipe, &recipe_dir, &progress, &dev)?;
    let k = data.class_names.len();
    let mut rows: Vec<String> = Vec::new();
    for r in &comparison.reports {
        if !rows.contains(&r.strategy) {
            rows.push(r.strategy.clone());
        }
    }
    let mut seeds: Vec<u64> = comparison.reports.iter().map(|r| r.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let first = *seeds.first().ok_or("reports.json holds no run")?;

    // Every row's models, scored again on their seed's test set.
    let mut scored: HashMap<String, Vec<Scored>> = HashMap::new();
    let mut tests: HashMap<u64, LabelledSet> = HashMap::new();
    let mut first_models = Vec::new();
    for &seed in &seeds {
        let st = seed_task(&data, &recipe, seed)?;
        let test = st.task.target_test.clone().ok_or("no test set")?;
        for row in &rows {
            // Only the fits that reports.json holds: a package of another seed or row (copied
            // in by hand, say) has no report to go with it.
            let Some(report) = comparison
                .reports
                .iter()
                .find(|r| &r.strategy == row && r.seed == seed)
            else {
                continue;
            };
            let dir = crate::package::folder(run, row, seed);
            if !crate::package::is_package(&dir) {
                if dir.exists() {
                    progress.line(&format!(
                        "{}: no package card (a run stopped while saving it?): left out",
                        dir.display()
                    ));
                }
                continue;
            }
            let (model, card) = crate::package::load(&dir, &dev, data.top.clone())?;
            if card.strategy != *row || card.seed != seed {
                return Err(format!(
                    "{}: the package is of {:?} seed {}, not {row:?} seed {seed}: it belongs to another run",
                    dir.display(),
                    card.strategy,
                    card.seed
                )
                .into());
            }
            // The data are read again: files changed since the run would be scored by models
            // of other classes.
            if card.class_names != data.class_names {
                return Err(format!(
                    "{}: the model was trained on the classes {:?}, and the recipe's data now have {:?}: the data changed since the run; run the recipe again",
                    dir.display(),
                    card.class_names,
                    data.class_names
                )
                .into());
            }
            // The same classes with other items (rows added to a file, another TL_DATA_DIR)
            // would be scored on items the model may have trained on: the test set's class
            // counts must be those the run scored.
            let counts = &report.metrics.confusion.counts;
            let recorded: Vec<usize> = counts.iter().map(|c| c.iter().sum()).collect();
            let now: Vec<usize> = (0..k)
                .map(|c| test.labels.iter().filter(|&&y| y == c).count())
                .collect();
            if counts.len() == k && recorded.iter().sum::<usize>() > 0 && recorded != now {
                return Err(format!(
                    "{row} seed {seed}: the run scored a test set of {recorded:?} items per class, and the recipe's data now give {now:?}: the data changed since the run; run the recipe again"
                )
                .into());
            }
            let probs = model.probabilities(&test, &dev)?;
            if probs.len() != test.len() * k {
                return Err(format!(
                    "{}: {} scores for {} items of {k} classes",
                    dir.display(),
                    probs.len(),
                    test.len()
                )
                .into());
            }
            crate::predict::check_finite(&probs, k, &[], &dir)?;
            scored.entry(row.clone()).or_default().push(Scored {
                seed,
                preds: probs.chunks_exact(k).map(crate::predict::top).collect(),
                truth: test.labels.clone(),
            });
            if seed == first {
                first_models.push((row.clone(), model));
            }
        }
        tests.insert(seed, test);
    }
    progress.line(&format!(
        "scored {} models of {} rows on {} seeds",
        scored.values().map(Vec::len).sum::<usize>(),
        rows.len(),
        seeds.len()
    ));
    let out = run.join("report");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    let mut md = String::new();
    let mut html = String::new();
    let scored_on = meta["scored_on"].as_str().unwrap_or("the test set");
    writeln!(
        md,
        "# Report: {title}\n\n{} seeds ({}), scored on {scored_on}; {} classes.\n",
        seeds.len(),
        seeds
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        k
    )?;

    // Summary: accuracy, macro-F1, ECE, NLL per row.
    writeln!(
        md,
        "## Summary\n\n| row | accuracy | macro-F1 | expected calibration error | runs |\n|---|---:|---:|---:|---:|"
    )?;
    if scored.is_empty() {
        return Err(format!(
            "no model package to score under {}: run the recipe again (tl run keeps every row's model there)",
            crate::package::models_dir(run).display()
        )
        .into());
    }
    let mut best = (String::new(), f64::MIN);
    for row in &rows {
        let Some(list) = scored.get(row) else {
            continue;
        };
        let acc: Vec<f64> = list.iter().map(accuracy).collect();
        let f1: Vec<f64> = comparison
            .reports
            .iter()
            .filter(|r| &r.strategy == row)
            .map(|r| r.metrics.macro_f1)
            .collect();
        let ece: Vec<f64> = list.iter().map(|s| calibration(s).0).collect();
        let (am, asd) = mean_std(&acc);
        let (fm, fsd) = mean_std(&f1);
        let (em, esd) = mean_std(&ece);
        // The pictures below are of the first seed's model.
        if am > best.1 && list.iter().any(|s| s.seed == first) {
            best = (row.clone(), am);
        }
        writeln!(
            md,
            "| {} | {:.2} % ± {:.2} | {fm:.3} ± {fsd:.3} | {:.3} ± {:.3} | {} |",
            md_cell(row),
            100.0 * am,
            100.0 * asd,
            em,
            esd,
            list.len()
        )?;
    }
    let best_row = best.0.clone();
    writeln!(
        md,
        "\nBest row: **{best_row}**. The calibration error is the mean gap between confidence and accuracy over {CALIBRATION_BINS} equal confidence bins (0 is perfect).\n"
    )?;

    // Gain over scratch, paired by seed.
    if rows.iter().any(|r| r == "scratch") {
        writeln!(
            md,
            "## What pretraining is worth\n\nEach row against `scratch` (the same architecture, randomly initialised, trained the same way), paired by seed:\n\n{}",
            comparison.gains_to_markdown("scratch")
        )?;
    }

    // Per-class accuracy, seed-averaged.
    writeln!(md, "## Per-class accuracy (%)\n")?;
    writeln!(
        md,
        "| row | {} |\n|---|{}",
        data.class_names
            .iter()
            .map(|c| md_cell(c))
            .collect::<Vec<_>>()
            .join(" | "),
        "---:|".repeat(k)
    )?;
    for row in &rows {
        let Some(list) = scored.get(row) else {
            continue;
        };
        let mut cells = Vec::new();
        for c in 0..k {
            let per_seed: Vec<f64> = list
                .iter()
                .filter_map(|s| {
                    let preds = &s.preds;
                    let idx: Vec<usize> = (0..s.truth.len()).filter(|&i| s.truth[i] == c).collect();
                    (!idx.is_empty()).then(|| {
                        idx.iter().filter(|&&i| preds[i].0 == c).count() as f64 / idx.len() as f64
                    })
                })
                .collect();
            cells.push(if per_seed.is_empty() {
                "—".to_string()
            } else {
                format!("{:.1}", 100.0 * mean_std(&per_seed).0)
            });
        }
        writeln!(md, "| {} | {} |", md_cell(row), cells.join(" | "))?;
    }
    md.push('\n');

    let mut pictures: Vec<(String, String, String)> = Vec::new(); // (file, caption, svg)
    let best_first = scored
        .get(&best_row)
        .and_then(|l| l.iter().find(|s| s.seed == first))
        .ok_or("the best row has no model of the first seed")?;

    // Confusion matrix and reliability diagram of the best row.
    let preds = &best_first.preds;
    let mut counts = vec![vec![0usize; k]; k];
    for (i, &(p, _)) in preds.iter().enumerate() {
        counts[best_first.truth[i]][p] += 1;
    }
    pictures.push((
        "confusion.svg".into(),
        format!("Confusion matrix of {best_row} (seed {first})"),
        plots::confusion(
            &format!("Confusion matrix: {best_row}, seed {first}"),
            &data.class_names,
            &counts,
        )?,
    ));
    let (ece, bins) = calibration(best_first);
    pictures.push((
        "reliability.svg".into(),
        format!("Reliability diagram of {best_row} (seed {first}): ECE {ece:.3}"),
        plots::reliability(
            &format!("Reliability: {best_row}, seed {first} (ECE {ece:.3})"),
            &bins,
        )?,
    ));

    // Learning curves from the reports' histories (first seed).
    if let Some(svg) = plots::learning_curves(
        &format!("Learning curves, seed {first}"),
        &comparison,
        first,
    )? {
        pictures.push((
            "learning-curves.svg".into(),
            format!("Training loss per epoch (seed {first}; each method's own loss)"),
            svg,
        ));
    }

    // Robustness: accuracy against the severity of each corruption (first seed).
    // Texts by their vectors, for the corrupted test sets and the mistakes (built once).
    let index = data.text.then(|| text_index(&data));
    let mut robustness_md = String::new();
    if !args.no_robustness {
        let test = &tests[&first];
        let kinds: &[&str] = if data.text {
            &["word dropout", "typos"]
        } else {
            &["gaussian noise", "blur", "contrast", "rotation"]
        };
        let severities = if data.text { 3 } else { 5 };
        let mut featuriser = data
            .text
            .then(|| Featuriser::new(&recipe.model, true, &dev))
            .transpose()?;
        writeln!(
            robustness_md,
            "## Robustness (seed {first})\n\nAccuracy (%) as each corruption grows ({}):\n",
            if data.text {
                "severity s drops each word, or swaps two letters of each word, with probability 0.1 s"
            } else {
                "severity s: noise sd 0.06 s, blur sd 0.35 s px, contrast x (1 - 0.18 s), rotation 8 s degrees"
            }
        )?;
        for kind in kinds {
            let mut sets = vec![test.clone()];
            for sev in 1..=severities {
                let set = if let (Some(f), Some(index)) = (featuriser.as_mut(), index.as_ref()) {
                    corrupt_texts(test, index, kind, sev, &data, f, &progress, &dev)?
                } else {
                    corrupt_images(test, kind, sev)?
                };
                sets.push(set);
            }
            let mut series = Vec::new();
            writeln!(
                robustness_md,
                "| {kind} | {} |\n|---|{}",
                (0..=severities)
                    .map(|s| format!("s = {s}"))
                    .collect::<Vec<_>>()
                    .join(" | "),
                "---:|".repeat(severities + 1)
            )?;
            for (row, model) in &first_models {
                let accs: Vec<f64> = sets
                    .iter()
                    .map(|s| model.accuracy(s, &dev))
                    .collect::<Result<_, _>>()?;
                writeln!(
                    robustness_md,
                    "| {} | {} |",
                    md_cell(row),
                    accs.iter()
                        .map(|a| format!("{:.1}", 100.0 * a))
                        .collect::<Vec<_>>()
                        .join(" | ")
                )?;
                series.push((
                    row.clone(),
                    accs.iter()
                        .enumerate()
                        .map(|(s, a)| (s as f64, 100.0 * a))
                        .collect(),
                ));
            }
            robustness_md.push('\n');
            let file = format!("robustness-{}.svg", kind.replace(' ', "-"));
            pictures.push((
                file,
                format!("Accuracy under {kind} (seed {first})"),
                plots::lines(
                    &format!("Robustness to {kind}, seed {first}"),
                    "severity",
                    "accuracy (%)",
                    &series,
                )?,
            ));
            progress.line(&format!("robustness to {kind}: done"));
        }
    }
    md += &robustness_md;

    // The most confident mistakes of the best row.
    let mut wrong: Vec<usize> = (0..preds.len())
        .filter(|&i| preds[i].0 != best_first.truth[i])
        .collect();
    wrong.sort_by(|&a, &b| preds[b].1.total_cmp(&preds[a].1));
    wrong.truncate(MISTAKES);
    let test = &tests[&first];
    writeln!(
        md,
        "## Most confident mistakes of {best_row} (seed {first})\n\n| # | true | predicted | confidence | item |\n|---:|---|---|---:|---|"
    )?;
    let mut mistakes_html = String::new();
    for (n, &i) in wrong.iter().enumerate() {
        let (truth, (p, conf)) = (best_first.truth[i], preds[i]);
        let (item_md, item_html) = match &index {
            Some(index) => {
                let text = index
                    .get(&key(test.inputs.item(i)))
                    .map_or("(text not found)", |t| t.as_str());
                let short: String = text.chars().take(300).collect();
                let short = if short.len() < text.len() {
                    format!("{short}…")
                } else {
                    short
                };
                (short.replace('|', "\\|").replace('\n', " "), escape(&short))
            }
            None => {
                let png = item_png(test.inputs.item(i), &test.inputs.item_shape)?;
                let file = format!("mistake-{}.png", n + 1);
                write_atomic(&out.join(&file), &png)?;
                (
                    format!("![]({file})"),
                    format!(
                        "<img alt=\"item {i}\" src=\"data:image/png;base64,{}\">",
                        base64(&png)
                    ),
                )
            }
        };
        writeln!(
            md,
            "| {} | {} | {} | {:.3} | {item_md} |",
            n + 1,
            md_cell(&data.class_names[truth]),
            md_cell(&data.class_names[p]),
            conf
        )?;
        write!(
            mistakes_html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{conf:.3}</td><td class=\"item\">{item_html}</td></tr>",
            n + 1,
            escape(&data.class_names[truth]),
            escape(&data.class_names[p])
        )?;
    }
    if wrong.is_empty() {
        md += "None: every test item is right.\n";
    }
    md.push('\n');

    // Pictures: files beside the Markdown, inline in the HTML.
    writeln!(md, "## Pictures\n")?;
    for (file, caption, svg) in &pictures {
        write_atomic(&out.join(file), svg.as_bytes())?;
        writeln!(md, "![{caption}]({file})\n")?;
    }
    write_atomic(&out.join("report.md"), md.as_bytes())?;
    html += &page(&title, &md, &pictures, &mistakes_html);
    write_atomic(&out.join("report.html"), html.as_bytes())?;
    println!(
        "wrote {} (report.html: one page, pictures inline; report.md with {} pictures beside it)",
        out.display(),
        pictures.len()
    );
    Ok(())
}

fn accuracy(s: &Scored) -> f64 {
    let preds = &s.preds;
    let right = (0..s.truth.len())
        .filter(|&i| preds[i].0 == s.truth[i])
        .count();
    right as f64 / s.truth.len().max(1) as f64
}

/// Expected calibration error over equal-width confidence bins, and the bins
/// `(low, high, accuracy, count)`.
fn calibration(s: &Scored) -> (f64, Vec<(f64, f64, f64, usize)>) {
    let preds = &s.preds;
    let mut sums = vec![(0.0f64, 0.0f64, 0usize); CALIBRATION_BINS];
    for (i, &(p, conf)) in preds.iter().enumerate() {
        let b = ((conf as f64 * CALIBRATION_BINS as f64) as usize).min(CALIBRATION_BINS - 1);
        sums[b].0 += conf as f64;
        sums[b].1 += f64::from(u8::from(p == s.truth[i]));
        sums[b].2 += 1;
    }
    let n = preds.len().max(1) as f64;
    let mut ece = 0.0;
    let bins = sums
        .iter()
        .enumerate()
        .map(|(b, &(conf, right, count))| {
            let (lo, hi) = (
                b as f64 / CALIBRATION_BINS as f64,
                (b + 1) as f64 / CALIBRATION_BINS as f64,
            );
            let acc = if count > 0 { right / count as f64 } else { 0.0 };
            if count > 0 {
                ece += (acc - conf / count as f64).abs() * count as f64 / n;
            }
            (lo, hi, acc, count)
        })
        .collect();
    (ece, bins)
}

/// A vector's bit pattern: the key that finds the text an embedding came from.
fn key(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Every text of the run's domains, by its vector.
fn text_index(data: &Data) -> HashMap<Vec<u32>, String> {
    let mut index = HashMap::new();
    let domains: [Option<&Domain>; 3] =
        [Some(&data.source), data.target.as_ref(), data.test.as_ref()];
    for d in domains.into_iter().flatten() {
        if let Some(texts) = &d.texts {
            for (i, t) in texts.iter().enumerate() {
                index.insert(key(d.inputs.item(i)), t.clone());
            }
        }
    }
    index
}

/// The test set's texts corrupted at `sev`, embedded again.
#[allow(clippy::too_many_arguments)]
fn corrupt_texts(
    test: &LabelledSet,
    index: &HashMap<Vec<u32>, String>,
    kind: &str,
    sev: usize,
    data: &Data,
    featuriser: &mut Featuriser,
    progress: &Progress,
    dev: &Device,
) -> Res<LabelledSet> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1000 + sev as u64);
    let p = 0.1 * sev as f64;
    let mut texts = Vec::with_capacity(test.len());
    for i in 0..test.len() {
        let text = index
            .get(&key(test.inputs.item(i)))
            .ok_or("a test vector matches no text")?;
        let words: Vec<&str> = text.split_whitespace().collect();
        let out: Vec<String> = match kind {
            "word dropout" => {
                let kept: Vec<String> = words
                    .iter()
                    .filter(|_| !rng.random_bool(p))
                    .map(|w| w.to_string())
                    .collect();
                if kept.is_empty() {
                    words.iter().take(1).map(|w| w.to_string()).collect()
                } else {
                    kept
                }
            }
            _ => words
                .iter()
                .map(|w| {
                    let mut c: Vec<char> = w.chars().collect();
                    if c.len() >= 2 && rng.random_bool(p) {
                        let j = rng.random_range(0..c.len() - 1);
                        c.swap(j, j + 1);
                    }
                    c.into_iter().collect()
                })
                .collect(),
        };
        texts.push(out.join(" "));
    }
    let raw = Raw::Texts {
        texts,
        labels: Some(
            test.labels
                .iter()
                .map(|&l| data.class_names[l].clone())
                .collect(),
        ),
        domain: test.domain.clone(),
    };
    let d = featuriser.domain(
        &raw,
        &data.class_names,
        &format!("test, {kind} {sev}"),
        progress,
        dev,
    )?;
    d.labelled(&data.class_names, "corrupted test")
}

/// The test set's images corrupted at `sev`.
fn corrupt_images(test: &LabelledSet, kind: &str, sev: usize) -> Res<LabelledSet> {
    let s = Chw::of(&test.inputs.item_shape)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(2000 + sev as u64);
    let sev = sev as f32;
    let inputs = tl::tl_data::transform::map_images(&test.inputs, s, |_, x, s| match kind {
        "gaussian noise" => x
            .iter()
            .map(|v| {
                let n: f32 = tl::tl_data::transform::standard_normal(&mut rng);
                (v + 0.06 * sev * n).clamp(0.0, 1.0)
            })
            .collect(),
        "blur" => blur(x, s, 0.35 * sev),
        "contrast" => {
            let plane = s.h * s.w;
            let mut out = x.to_vec();
            for c in 0..s.c {
                let ch = &mut out[c * plane..(c + 1) * plane];
                let mean = ch.iter().sum::<f32>() / plane as f32;
                for v in ch.iter_mut() {
                    *v = (*v - mean) * (1.0 - 0.18 * sev) + mean;
                }
            }
            out
        }
        _ => tl::tl_data::transform::rotate(x, s, 8.0 * sev, 0.0),
    })?;
    let mut out = test.clone();
    out.inputs = inputs;
    Ok(out)
}

/// A separable Gaussian blur of standard deviation `sigma` pixels (edges clamped).
fn blur(x: &[f32], s: Chw, sigma: f32) -> Vec<f32> {
    let r = (2.0 * sigma).ceil() as isize;
    let weights: Vec<f32> = (-r..=r)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let (h, w) = (s.h as isize, s.w as isize);
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut dst = vec![0.0; src.len()];
        for c in 0..s.c {
            let base = c * s.h * s.w;
            for y in 0..h {
                for xx in 0..w {
                    let mut acc = 0.0;
                    for (i, d) in (-r..=r).enumerate() {
                        let (yy, xq) = if horizontal {
                            (y, (xx + d).clamp(0, w - 1))
                        } else {
                            ((y + d).clamp(0, h - 1), xx)
                        };
                        acc += weights[i] * src[base + (yy * w + xq) as usize];
                    }
                    dst[base + (y * w + xx) as usize] = acc / total;
                }
            }
        }
        dst
    };
    pass(&pass(x, true), false)
}

/// An item as a PNG, enlarged to at least 64 px.
fn item_png(x: &[f32], shape: &[usize]) -> Res<Vec<u8>> {
    let s = Chw::of(shape)?;
    let scale = (64 / s.h.max(1)).max(1);
    let (h, w) = (s.h * scale, s.w * scale);
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    let mut rgb = Vec::with_capacity(h * w * 3);
    for y in 0..h {
        for xx in 0..w {
            let i = (y / scale) * s.w + xx / scale;
            for c in 0..3 {
                let ch = if s.c == 3 { c } else { 0 };
                rgb.push(byte(x[ch * s.h * s.w + i]));
            }
        }
    }
    let img = image::RgbImage::from_raw(w as u32, h as u32, rgb).ok_or("image size")?;
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    Ok(bytes)
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (j, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if j <= chunk.len() {
                out.push(T[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn escape(s: &str) -> String {
    // A Markdown cell's escaped `|` is a plain one in HTML.
    s.replace("\\|", "|")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML page: the Markdown's tables as HTML tables, the pictures inline.
fn page(title: &str, md: &str, pictures: &[(String, String, String)], mistakes: &str) -> String {
    let mut body = String::new();
    let mut in_table = false;
    let mut skip_mistake_rows = false;
    for line in md.lines() {
        if line.starts_with("## Pictures") {
            break;
        }
        if let Some(h) = line.strip_prefix("## ") {
            skip_mistake_rows = h.starts_with("Most confident mistakes");
        }
        if line.starts_with('|') {
            if skip_mistake_rows {
                if !in_table {
                    body += "<table><tr><th>#</th><th>true</th><th>predicted</th><th>confidence</th><th>item</th></tr>";
                    body += mistakes;
                    body += "</table>\n";
                    in_table = true;
                }
                continue;
            }
            if line.contains("---") {
                continue;
            }
            if !in_table {
                body += "<table>";
                in_table = true;
                let cells: Vec<String> = cells(line)
                    .iter()
                    .map(|c| format!("<th>{}</th>", inline(c)))
                    .collect();
                body += &format!("<tr>{}</tr>", cells.join(""));
                continue;
            }
            let cells: Vec<String> = cells(line)
                .iter()
                .map(|c| format!("<td>{}</td>", inline(c)))
                .collect();
            body += &format!("<tr>{}</tr>", cells.join(""));
            continue;
        }
        if in_table {
            if !skip_mistake_rows {
                body += "</table>\n";
            }
            in_table = false;
        }
        if let Some(h) = line.strip_prefix("# ") {
            body += &format!("<h1>{}</h1>\n", escape(h));
        } else if let Some(h) = line.strip_prefix("## ") {
            body += &format!("<h2>{}</h2>\n", escape(h));
        } else if !line.trim().is_empty() {
            body += &format!("<p>{}</p>\n", inline(line));
        }
    }
    if in_table && !skip_mistake_rows {
        body += "</table>\n";
    }
    body += "<h2>Pictures</h2>\n";
    for (_, caption, svg) in pictures {
        let svg = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        body += &format!(
            "<figure>{svg}<figcaption>{}</figcaption></figure>\n",
            escape(caption)
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>\
body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}\
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
td:first-child,th:first-child{{text-align:left}}td.item{{text-align:left}}td img{{image-rendering:pixelated}}\
figure{{display:inline-block;margin:1em}}figcaption{{font-size:90%;color:#555}}</style></head>\
<body>\n{body}</body></html>\n",
        escape(title)
    )
}

fn cells(line: &str) -> Vec<String> {
    line.trim()
        .trim_matches('|')
        .split(" | ")
        .map(|c| c.trim().to_string())
        .collect()
}

/// `**bold**` and backticks, the only inline Markdown the report writes; the rest escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let (mut bold, mut code) = (false, false);
    let mut rest = escape(text);
    while let Some(i) = rest.find(['*', '`']) {
        out += &rest[..i];
        if rest[i..].starts_with("**") {
            out += if bold { "</b>" } else { "<b>" };
            bold = !bold;
            rest = rest[i + 2..].to_string();
        } else if rest[i..].starts_with('`') {
            out += if code { "</code>" } else { "<code>" };
            code = !code;
            rest = rest[i + 1..].to_string();
        } else {
            out += "*";
            rest = rest[i + 1..].to_string();
        }
    }
    out + &rest
}
