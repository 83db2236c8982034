//! `tl run` on an experiment recipe: `[experiment] kind = "..."` names one of the published
//! tables whose rows are not strategies scored on one task's test set (what a model's codes
//! hold, retrieval across vendors, a classifier trained on drawn images), with that
//! experiment's settings as its other keys. The recipe runs the code the example of the table
//! runs (a module of the `tl` library), seed by seed, so the two give the same figures for the
//! same settings and seeds. The run folder holds the recipe as run, `rows.json` (every row,
//! written as each seed finishes: `--resume` goes on after the last), `summary.md`,
//! `summary.csv` and the first seed's pictures under `pictures/`.

use crate::progress::Progress;
use crate::run::Args;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tl::content_style::{
    ContentStyleSettings, digit_sets, digits_seed, digits_table, emoji_seed, emoji_set, emoji_table,
};
use tl::crossmodal_emoji::CrossModalEmojiSettings;
use tl::one_shot::OneShotSettings;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;

type Res<T> = Result<T, Box<dyn Error>>;

/// One seed of an experiment: its rows, given the seed and the pictures folder (the first
/// seed's).
type OneSeed<'a> = dyn FnMut(u64, Option<&Path>) -> Res<Vec<Value>> + 'a;

/// The file of every finished row.
pub const ROWS_FILE: &str = "rows.json";

/// An experiment recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentRecipe {
    /// A title for the table.
    #[serde(default)]
    pub name: Option<String>,
    /// Seeds `first_seed..first_seed + seeds`.
    #[serde(default = "three")]
    pub seeds: u64,
    /// The first seed.
    #[serde(default)]
    pub first_seed: u64,
    /// Device; `--device` overrides it.
    #[serde(default)]
    pub device: Option<String>,
    /// The run folder (default `runs/<recipe file stem>`); `--out` overrides it.
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// Which experiment, with its settings.
    pub experiment: Experiment,
}

fn three() -> u64 {
    3
}

/// The experiments a recipe can name (`kind`), each with its settings as keys beside `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Experiment {
    /// tl-disentangle's emoji table: content/style codes of Google and Twitter drawings
    /// ([`tl::content_style::emoji_seed`]).
    #[serde(rename = "content-style-emoji")]
    ContentStyleEmoji(ContentStyleSettings),
    /// tl-disentangle's MNIST -> USPS table: classifiers on content codes, on a plain VAE's,
    /// on MNIST redrawn in USPS's style ([`tl::content_style::digits_seed`]).
    #[serde(rename = "content-style-digits")]
    ContentStyleDigits(ContentStyleSettings),
    /// tl-crossmodal's emoji table: drawings aligned with their names, scored on seen and
    /// unseen symbols of the other vendor ([`tl::crossmodal_emoji::emoji_seed`]).
    #[serde(rename = "crossmodal-emoji")]
    CrossModalEmoji(CrossModalEmojiSettings),
    /// tl-fewshot's one-shot generation table: new drawings of a character from one example,
    /// judged by a ProtoNet ([`tl::one_shot::generation_seed`]).
    #[serde(rename = "one-shot-generation")]
    OneShotGeneration(OneShotSettings),
}

/// The kinds, for messages.
pub const KINDS: &[&str] = &[
    "content-style-emoji",
    "content-style-digits",
    "crossmodal-emoji",
    "one-shot-generation",
];

impl Experiment {
    fn kind(&self) -> &'static str {
        match self {
            Experiment::ContentStyleEmoji(_) => KINDS[0],
            Experiment::ContentStyleDigits(_) => KINDS[1],
            Experiment::CrossModalEmoji(_) => KINDS[2],
            Experiment::OneShotGeneration(_) => KINDS[3],
        }
    }

    fn validate(&self) -> Res<()> {
        match self {
            Experiment::ContentStyleEmoji(s) => {
                s.validate().map_err(|e| format!("[experiment] {e}"))?;
                s.check_side(32, "emoji")
                    .map_err(|e| format!("[experiment] {e}"))?
            }
            Experiment::ContentStyleDigits(s) => {
                s.validate().map_err(|e| format!("[experiment] {e}"))?;
                s.check_side(28, "digit")
                    .map_err(|e| format!("[experiment] {e}"))?
            }
            Experiment::CrossModalEmoji(s) => {
                s.validate().map_err(|e| format!("[experiment] {e}"))?
            }
            Experiment::OneShotGeneration(s) => {
                s.validate().map_err(|e| format!("[experiment] {e}"))?
            }
        }
        Ok(())
    }

    /// What the experiment reads, and from where.
    fn needs(&self) -> &'static str {
        match self {
            Experiment::ContentStyleEmoji(_) => "emoji under TL_DATA_DIR",
            Experiment::ContentStyleDigits(_) => "mnist and usps under TL_DATA_DIR",
            Experiment::CrossModalEmoji(s) if s.needs_minilm() && s.pretrained_tower() => {
                "emoji under TL_DATA_DIR, all-MiniLM-L6-v2 and efficientnet-lite0 under TL_MODEL_DIR"
            }
            Experiment::CrossModalEmoji(s) if s.pretrained_tower() => {
                "emoji under TL_DATA_DIR and efficientnet-lite0 under TL_MODEL_DIR"
            }
            Experiment::CrossModalEmoji(s) if s.needs_minilm() => {
                "emoji under TL_DATA_DIR and all-MiniLM-L6-v2 under TL_MODEL_DIR"
            }
            Experiment::CrossModalEmoji(_) => "emoji under TL_DATA_DIR",
            Experiment::OneShotGeneration(_) => {
                "omniglot (images_background_small1.zip, images_background_small2.zip, all_runs.zip) under TL_DATA_DIR"
            }
        }
    }
}

/// Whether `tl run` was given an experiment recipe, or asked to resume an experiment run.
pub fn is_experiment_run(args: &Args) -> bool {
    match (&args.resume, &args.recipe) {
        (Some(dir), _) => std::fs::read_to_string(dir.join("run.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|m| m["kind"] == "experiment"),
        (None, Some(path)) => crate::recipe::is_experiment(path),
        _ => false,
    }
}

/// Reads an experiment recipe, refusing a `kind` it does not know by name.
fn load(text: &str, name: &str, sets: &[String]) -> Res<ExperimentRecipe> {
    let recipe: ExperimentRecipe =
        crate::recipe::parse_as(text, name, sets).map_err(|e| -> Box<dyn Error> {
            let e = e.to_string();
            if e.contains("unknown variant") || e.contains("missing field `kind`") {
                format!(
                    "{e} (the experiments: {}; a comparison of strategies has no [experiment] table)",
                    KINDS.join(", ")
                )
                .into()
            } else {
                e.into()
            }
        })?;
    if recipe.seeds == 0 {
        return Err(format!("recipe {name}: `seeds` must be at least 1").into());
    }
    recipe
        .experiment
        .validate()
        .map_err(|e| format!("recipe {name}: {e}"))?;
    Ok(recipe)
}

/// Runs (or resumes) an experiment recipe.
pub fn run(args: &Args) -> Res<()> {
    let (mut recipe, title, out, mut rows) = match &args.resume {
        Some(dir) => {
            let meta: Value = serde_json::from_str(&crate::run::read_run_file(dir, "run.json")?)
                .map_err(|e| format!("{}: run.json: {e}", dir.display()))?;
            if meta["finished"] == json!(true) {
                return Err(
                    format!("{} is a finished run: nothing to resume", dir.display()).into(),
                );
            }
            let text = crate::run::read_run_file(dir, "recipe.toml")?;
            let recipe = load(&text, "recipe.toml (as run)", &[])?;
            let rows: Vec<Value> = match std::fs::read_to_string(dir.join(ROWS_FILE)) {
                Ok(text) => serde_json::from_str(&text)
                    .map_err(|e| format!("{}: {ROWS_FILE}: {e}", dir.display()))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => {
                    return Err(
                        format!("cannot read {}: {e}", dir.join(ROWS_FILE).display()).into(),
                    );
                }
            };
            let title = meta["title"].as_str().unwrap_or("run").to_string();
            (recipe, title, dir.clone(), rows)
        }
        None => {
            let path = args
                .recipe
                .as_ref()
                .ok_or("give a recipe, or --resume RUN_DIR")?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the recipe {}: {e}", path.display()))?;
            let recipe = load(&text, &path.display().to_string(), &args.set)?;
            let stem = path
                .file_stem()
                .map_or("run".into(), |s| s.to_string_lossy().to_string());
            let out = args
                .out
                .clone()
                .or_else(|| recipe.out.clone())
                .unwrap_or_else(|| PathBuf::from("runs").join(&stem));
            let title = recipe.name.clone().unwrap_or(stem);
            (recipe, title, out, Vec::new())
        }
    };
    if let Some(s) = args.seeds {
        recipe.seeds = s;
    }
    crate::recipe::seed_range(recipe.first_seed, recipe.seeds)?;
    if let Some(d) = &args.device {
        recipe.device = Some(d.clone());
    }
    recipe.out = Some(out.clone());
    let kind = recipe.experiment.kind();
    if args.check {
        println!(
            "{}: an experiment recipe ({kind}), {} seeds; it reads {} and writes {}",
            args.recipe
                .as_deref()
                .unwrap_or(Path::new("recipe"))
                .display(),
            recipe.seeds,
            recipe.experiment.needs(),
            out.display()
        );
        return Ok(());
    }
    let progress = Progress::new(args.quiet);
    let dev = device(recipe.device.as_deref().unwrap_or("flex"))?;
    let first = recipe.first_seed;
    // The seeds not done yet. A resumed run with none left (stopped before its summary) only
    // writes the summary: it reads no data.
    let todo: Vec<u64> = crate::recipe::seed_range(first, recipe.seeds)?
        .filter(|&s| !rows.iter().any(|r| r["seed"] == json!(s)))
        .collect();
    let pending = !todo.is_empty();
    let data = if pending {
        tl::tl_core::paths::data_dir().ok_or_else(|| {
            format!(
                "this experiment ({kind}) reads {}: set TL_DATA_DIR to the data folder (../shared/data)",
                recipe.experiment.needs()
            )
        })?
    } else {
        PathBuf::new()
    };
    if args.resume.is_none() {
        crate::run::prepare_out(&out, args.overwrite)?;
        write_atomic(
            &out.join("recipe.toml"),
            toml::to_string_pretty(&recipe)?.as_bytes(),
        )?;
        write_meta(&out, &title, kind, false, None)?;
    } else {
        progress.line(&format!(
            "resuming {}: {} rows done",
            out.display(),
            rows.len()
        ));
    }
    let log = |line: &str| progress.line(line);
    let pictures = out.join("pictures");
    let started = Instant::now();
    // Each seed not done yet (the first one's pictures in the run folder), its rows saved as
    // it finishes.
    let each_seed = |rows: &mut Vec<Value>, one: &mut OneSeed| -> Res<()> {
        for &seed in &todo {
            let dir = picture_dir(&pictures, seed == first)?;
            rows.extend(one(seed, dir)?);
            save_rows(&out, rows, started, seed, &progress)?;
        }
        Ok(())
    };
    let device = tl::tl_core::device::device_label(&dev);
    let table = match &recipe.experiment {
        Experiment::ContentStyleEmoji(s) => {
            if pending {
                let set = emoji_set(&data)?;
                progress.line(&format!(
                    "emoji: {} symbols drawn by Google and Twitter, 32x32; device {device}",
                    set.symbols.len(),
                ));
                each_seed(&mut rows, &mut |seed, dir| {
                    emoji_seed(s, &set, seed, dir, &dev, &log)
                })?;
            }
            emoji_table(&rows)
        }
        Experiment::ContentStyleDigits(s) => {
            if pending {
                let digits = digit_sets(&data)?;
                progress.line(&format!(
                    "digits: {} MNIST training digits paired with {} USPS training digits by class; USPS test {}; device {device}",
                    s.mnist,
                    digits.usps_train.len(),
                    digits.usps_test.len(),
                ));
                each_seed(&mut rows, &mut |seed, dir| {
                    Ok(vec![digits_seed(s, &digits, seed, dir, &dev, &log)?])
                })?;
            }
            digits_table(&rows)
        }
        Experiment::CrossModalEmoji(s) => {
            if pending {
                let set = tl::crossmodal_emoji::emoji_set_at(&data, s.size)?;
                progress.line(&format!(
                    "emoji: {} symbols; Google's drawings align with their names, Twitter's are scored; device {device}",
                    set.symbols.len(),
                ));
                each_seed(&mut rows, &mut |seed, dir| {
                    tl::crossmodal_emoji::emoji_seed(s, &set, seed, dir, &dev, &log)
                })?;
            }
            tl::crossmodal_emoji::emoji_table(&rows)
        }
        Experiment::OneShotGeneration(s) => {
            progress.line(&format!(
                "one-shot generation on Lake's runs, {} siblings an example; ProtoNets cached in {}; device {device}",
                s.siblings,
                s.cache_dir().display(),
            ));
            if pending {
                let sets = tl::one_shot::omniglot_sets(s, &data)?;
                each_seed(&mut rows, &mut |seed, dir| {
                    Ok(vec![tl::one_shot::generation_seed(
                        s, &sets, seed, dir, &dev, &log,
                    )?])
                })?;
            }
            tl::one_shot::generation_table(&rows)
        }
    };
    let md = format!(
        "# {title}\n\n{kind}, seeds {}..{}, device {device}\n\n{table}",
        recipe.first_seed,
        recipe.first_seed + recipe.seeds - 1,
    );
    println!("\n{md}");
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    write_atomic(&out.join("summary.csv"), rows_csv(&rows).as_bytes())?;
    write_meta(
        &out,
        &title,
        kind,
        true,
        Some(started.elapsed().as_secs_f64()),
    )?;
    progress.line(&format!(
        "wrote {} (recipe.toml, {ROWS_FILE}, summary.md, summary.csv, run.json, pictures/)",
        out.display()
    ));
    Ok(())
}

/// The pictures folder for the first seed, created; none for the others.
fn picture_dir(dir: &Path, first: bool) -> Res<Option<&Path>> {
    if !first {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(Some(dir))
}

/// Every finished row, at once: a run stopped later keeps them.
fn save_rows(
    out: &Path,
    rows: &[Value],
    started: Instant,
    seed: u64,
    progress: &Progress,
) -> Res<()> {
    write_atomic(
        &out.join(ROWS_FILE),
        serde_json::to_string_pretty(rows)?.as_bytes(),
    )?;
    progress.line(&format!(
        "[{:>5.0} s] seed {seed} done",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn write_meta(out: &Path, title: &str, kind: &str, finished: bool, wall: Option<f64>) -> Res<()> {
    let meta = json!({
        "title": title,
        "kind": "experiment",
        "experiment": kind,
        "finished": finished,
        "wall_time_s": wall,
    });
    write_atomic(
        &out.join("run.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    Ok(())
}

/// The rows as CSV: one line a row, a column for every key any row has (in first-seen
/// order); lists joined by `;`, a key a row lacks left empty.
pub fn rows_csv(rows: &[Value]) -> String {
    let mut keys: Vec<String> = Vec::new();
    for r in rows {
        if let Some(o) = r.as_object() {
            for k in o.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    let field = |v: &Value| -> String {
        let text = match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(";"),
            other => other.to_string(),
        };
        if text.contains([',', '"', '\n']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let mut out = keys.join(",");
    out.push('\n');
    for r in rows {
        let line: Vec<String> = keys
            .iter()
            .map(|k| r.get(k).map_or(String::new(), field))
            .collect();
        out += &line.join(",");
        out.push('\n');
    }
    out
}
