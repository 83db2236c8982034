//! `tl models`: the catalogue of pretrained models a recipe can start from.
//!
//! Three entries are built in (their files are looked up under `TL_MODEL_DIR`; the hashed
//! text space needs none); every `card.json` under `TL_MODEL_DIR` (tl-models' model cards,
//! written by `tl_models::pretrain`) is added.

use serde::Serialize;
use std::error::Error;
use std::path::{Path, PathBuf};

/// `tl models`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ModelsCommand {
    /// Every model: modality, task it was trained for, input, licence, whether it is here.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One model's card.
    Show {
        /// The model's name (`tl models list` prints them).
        name: String,
    },
    /// Ranks the models that fit a recipe's data by transferability (LogME, LEEP, H-score,
    /// leave-one-out 5-NN accuracy on the frozen features), before any training.
    Rank(RankArgs),
}

/// `tl models rank`.
#[derive(clap::Args, Debug)]
struct RankArgs {
    /// The recipe whose data the models are ranked for: its labelled target, else its
    /// `[test]` set, else its source.
    recipe: PathBuf,
    /// Items scored (class-balanced, seeded; the scores cost O(n^2) for k-NN).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    limit: u64,
    /// Device (flex, ndarray, wgpu, auto).
    #[arg(long, default_value = "flex")]
    device: String,
    /// JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// No progress output.
    #[arg(long)]
    quiet: bool,
}

/// One model of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct Model {
    /// Name, as a recipe's `[model] name` gives it.
    pub name: String,
    /// `image` or `text`.
    pub modality: String,
    /// What it was trained for.
    pub task: String,
    /// On what data.
    pub trained_on: String,
    /// What it takes.
    pub input: String,
    /// What it gives.
    pub output: String,
    /// Licence of the weights.
    pub license: String,
    /// Figures measured with it.
    pub figures: Vec<String>,
    /// Where it comes from.
    pub provenance: String,
    /// Its folder under `TL_MODEL_DIR` (none for models that need no files).
    pub folder: Option<String>,
    /// The file that must be there for it to load.
    pub needs_file: Option<String>,
    /// Where it was found, if it was.
    pub found_at: Option<PathBuf>,
}

fn builtin() -> Vec<Model> {
    let s = String::from;
    vec![
        Model {
            name: s("mnist-cnn"),
            modality: s("image"),
            task: s("handwritten digit classification (10 classes)"),
            trained_on: s("MNIST (60,000 grey 28x28 digits)"),
            input: s("1x28x28, pixels in [0, 1], white on black"),
            output: s("1152 -> 256 features, 10 classes"),
            license: s("MIT"),
            figures: vec![
                s("99.06 % on MNIST test"),
                s(
                    "82.16 % on USPS test unadapted; 96.8 % zero-shot after tl-crossmodal's alignment",
                ),
            ],
            provenance: s(
                "PyPI digit-recognizer-py 0.1.0 (handwriting_model.pth, a PyTorch state_dict)",
            ),
            folder: Some(s("mnist-cnn")),
            needs_file: Some(s("handwriting_model.pth")),
            found_at: None,
        },
        Model {
            name: s("all-MiniLM-L6-v2"),
            modality: s("text"),
            task: s("sentence embedding (semantic similarity)"),
            trained_on: s("1 billion sentence pairs (sentence-transformers)"),
            input: s("text, up to 256 word pieces (the recipe's max_len)"),
            output: s("384-d unit vector (mean pooling)"),
            license: s("Apache-2.0"),
            figures: vec![
                s(
                    "frozen, with a small adapter: 67.2 % sentiment across the 12 Amazon domain pairs (59-75 %)",
                ),
                s(
                    "top 3 of 6 layers trained (`train_layers = 3`): 81.8 % across the 12 pairs (77-89 %; docs/text-adaptation.md, seed 0)",
                ),
                s("85.9 % in-domain when fine-tuned (tl-inductive)"),
            ],
            provenance: s(
                "Hugging Face sentence-transformers/all-MiniLM-L6-v2 (scripts/fetch-minilm.sh)",
            ),
            folder: Some(s("all-MiniLM-L6-v2")),
            needs_file: Some(s("model.safetensors")),
            found_at: None,
        },
        Model {
            name: s("static-minilm"),
            modality: s("text"),
            task: s("sentence embedding: a static student of all-MiniLM-L6-v2 (Model2Vec recipe)"),
            trained_on: s(
                "distilled from all-MiniLM-L6-v2's vocabulary on first use (about 30 s; cached in ~/.cache/tl-distill)",
            ),
            input: s("text, no length limit"),
            output: s("256-d unit vector (the mean of its tokens' vectors)"),
            license: s("Apache-2.0 (as its teacher)"),
            figures: vec![
                s("147x the teacher's sentences per second on 2 CPU cores"),
                s(
                    "logistic regression on its vectors: 78.5-80.8 % sentiment in-domain on Amazon, 3-6 points above the teacher's (tl-distill)",
                ),
            ],
            provenance: s(
                "tl-distill's StaticEmbedding::distill of all-MiniLM-L6-v2 (needs it under TL_MODEL_DIR)",
            ),
            folder: Some(s("all-MiniLM-L6-v2")),
            needs_file: Some(s("model.safetensors")),
            found_at: None,
        },
        Model {
            name: s("hashed-words"),
            modality: s("text"),
            task: s("none: signed feature hashing of words and character trigrams"),
            trained_on: s("nothing (the no-pretraining control for text)"),
            input: s("text"),
            output: s("384-d vector (the recipe's dim)"),
            license: s("MIT OR Apache-2.0 (this toolkit)"),
            figures: vec![s(
                "the control that shows what a pretrained text encoder adds",
            )],
            provenance: s("built in"),
            folder: None,
            needs_file: None,
            found_at: None,
        },
    ]
}

/// Sets where a built-in model's file is under `root`, when it is there.
fn locate(m: &mut Model, root: Option<&Path>) {
    if let (Some(root), Some(folder), Some(file)) = (root, &m.folder, &m.needs_file) {
        let dir = root.join(folder);
        if dir.join(file).is_file() {
            m.found_at = Some(dir);
        }
    }
}

/// The catalogue: the built-in entries (found or not) and every card under `TL_MODEL_DIR`.
pub fn catalogue() -> Result<Vec<Model>, Box<dyn Error>> {
    let root = tl::tl_core::paths::model_dir();
    let mut models = builtin();
    for m in &mut models {
        locate(m, root.as_deref());
    }
    if let Some(root) = root.filter(|r| r.is_dir()) {
        let cards = tl::tl_models::card::Catalogue::scan(&root)?;
        for (card, dir) in cards.entries {
            // A built-in name (and `small-cnn`, the fresh CNN every image ranking scores)
            // stays the built-in one.
            if models.iter().any(|m| m.name == card.name) || card.name == "small-cnn" {
                eprintln!(
                    "{}: the name `{}` is taken by a built-in model: this card is left out (rename it)",
                    dir.join(tl::tl_models::card::CARD_FILE).display(),
                    card.name
                );
                continue;
            }
            // A card without its weights is listed, but not as here.
            let here = dir.join(&card.weights).is_file();
            let shape = card
                .input
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x");
            models.push(Model {
                name: card.name.clone(),
                modality: card.input.modality.clone(),
                task: card.task.clone(),
                trained_on: format!("{} ({})", card.source_dataset, card.domain),
                input: format!(
                    "{shape}, values in [{}, {}]",
                    card.input.value_range[0], card.input.value_range[1]
                ),
                output: format!("{} classes", card.label_names.len()),
                license: card.license.clone(),
                figures: card
                    .metrics
                    .iter()
                    .map(|(k, v)| format!("{k} {v:.4}"))
                    .collect(),
                provenance: card.provenance.clone(),
                folder: Some(dir.display().to_string()),
                needs_file: Some(card.weights.clone()),
                found_at: here.then_some(dir),
            });
        }
    }
    Ok(models)
}

/// The model called `name`; an unknown name lists the known ones.
pub fn find(name: &str) -> Result<Model, Box<dyn Error>> {
    // A built-in model is found without reading the cards (one that fails to parse would
    // otherwise stop every run of `mnist-cnn`).
    if let Some(mut m) = builtin().into_iter().find(|m| m.name == name) {
        locate(&mut m, tl::tl_core::paths::model_dir().as_deref());
        return Ok(m);
    }
    let models = catalogue()?;
    let known: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    models.into_iter().find(|m| m.name == name).ok_or_else(|| {
        format!(
            "no model `{name}` in the catalogue (known: {})",
            known.join(", ")
        )
        .into()
    })
}

/// Runs `tl models`.
pub fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    match &args.command {
        ModelsCommand::List { json } => {
            let models = catalogue()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&models)?);
                return Ok(());
            }
            println!("| model | modality | trained for | on | input | licence | here |");
            println!("|---|---|---|---|---|---|---|");
            for m in &models {
                println!(
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    m.name,
                    m.modality,
                    m.task,
                    m.trained_on,
                    m.input,
                    m.license,
                    here(m)
                );
            }
            if tl::tl_core::paths::model_dir().is_none() {
                println!("\nTL_MODEL_DIR is not set: models with files are looked for nowhere");
            }
            Ok(())
        }
        ModelsCommand::Rank(args) => rank(args),
        ModelsCommand::Show { name } => {
            let m = find(name)?;
            println!("{}\n", m.name);
            println!("modality:    {}", m.modality);
            println!("trained for: {}", m.task);
            println!("trained on:  {}", m.trained_on);
            println!("input:       {}", m.input);
            println!("output:      {}", m.output);
            println!("licence:     {}", m.license);
            println!("provenance:  {}", m.provenance);
            for f in &m.figures {
                println!("measured:    {f}");
            }
            println!("here:        {}", here(&m));
            Ok(())
        }
    }
}

fn here(m: &Model) -> String {
    match (&m.found_at, &m.folder, &m.needs_file) {
        (Some(p), _, _) => format!("yes ({})", p.display()),
        (None, None, _) => "built in".into(),
        // A card's folder is a full path.
        (None, Some(folder), Some(file)) if Path::new(folder).is_absolute() => {
            format!("no: {folder}/{file} missing")
        }
        (None, Some(folder), Some(file)) => format!("no: TL_MODEL_DIR/{folder}/{file} missing"),
        (None, Some(folder), None) => format!("no: TL_MODEL_DIR/{folder} missing"),
    }
}

/// One candidate's scores (higher is better for each).
#[derive(Debug, Serialize)]
struct Scored {
    model: String,
    logme: Option<f64>,
    leep: Option<f64>,
    h_score: Option<f64>,
    knn: Option<f64>,
    mean_rank: f64,
    /// Scores that could not be computed, and why.
    notes: Vec<String>,
}

/// Runs `tl models rank`.
fn rank(args: &RankArgs) -> Result<(), Box<dyn Error>> {
    use crate::data::{self, Featuriser, Raw};
    use tl::prelude::*;
    use tl::tl_models::transferability::{h_score, knn_score, leep, logme, probabilities};
    let not_ranked = |what: &str| {
        format!(
            "{} is {what}: `tl models rank` scores models on a classification recipe's labelled data",
            args.recipe.display()
        )
    };
    if crate::recipe::is_experiment(&args.recipe) {
        return Err(not_ranked("an experiment recipe ([experiment])").into());
    }
    let recipe = crate::recipe::load(&args.recipe)?;
    if recipe.source.format == "dsprites" {
        return Err(not_ranked("a dSprites recipe (disentanglement, no classes)").into());
    }
    let base = args
        .recipe
        .parent()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let progress = crate::progress::Progress::new(args.quiet);
    let dev = tl::tl_core::device::device(&args.device)?;
    // The labelled items closest to where the model will be used: the target's, else the
    // test set's (labelled items of the target domain), else the source's.
    let (spec, table) = match (&recipe.target, &recipe.test) {
        (Some(t), _) if t.labelled() => (t.clone(), "target"),
        (_, Some(t)) => (t.clone(), "test"),
        _ => (recipe.source.clone(), "source"),
    };
    let spec = crate::recipe::DataSpec {
        limit: Some(
            spec.limit
                .map_or(args.limit as usize, |l| l.min(args.limit as usize)),
        ),
        ..spec
    };
    let raw = data::read(&spec, &base, table, recipe.first_seed)?;
    let class_names = raw.class_names().ok_or("the data have no labels")?;
    let text = matches!(raw, Raw::Texts { .. });
    let here: Vec<Model> = catalogue()?
        .into_iter()
        .filter(|m| m.modality == if text { "text" } else { "image" })
        .filter(|m| m.found_at.is_some() || m.folder.is_none())
        .collect();
    let mut scored = Vec::new();
    let mut skipped = Vec::new();
    let mut candidates: Vec<String> = here.iter().map(|m| m.name.clone()).collect();
    if !text {
        candidates.push("small-cnn".into());
    }
    for name in candidates {
        progress.line(&format!("scoring {name} on {} {table} items", raw.len()));
        // Features (frozen) and, for a classifier, its source-class probabilities.
        let (features, dim, probs, labels) = if text {
            let model = crate::recipe::ModelSpec {
                name: name.clone(),
                max_len: recipe.model.max_len,
                dim: None,
                adapter: None,
                source_epochs: None,
                scratch: None,
                train_layers: None,
                source_lr: None,
                widths: None,
            };
            let mut f = Featuriser::new(&model, true, &dev)?;
            let d = f.domain(&raw, &class_names, &format!("[{table}]"), &progress, &dev)?;
            let set = d.labelled(&class_names, table)?;
            (
                set.inputs.values.clone(),
                set.inputs.item_size(),
                None,
                set.labels,
            )
        } else {
            let Raw::Images(set) = &raw else {
                unreachable!("images")
            };
            let shape = set.inputs.item_shape.clone();
            let model = if name == "small-cnn" {
                dev.seed(0);
                let encoder = crate::run::small_cnn(&shape).init(&dev)?;
                (encoder, None)
            } else {
                let (model, takes) = match crate::run::load_image_model(&name, &dev) {
                    Ok(m) => m,
                    Err(e) => {
                        skipped.push(format!("{name} (cannot be loaded: {e})"));
                        continue;
                    }
                };
                if takes != shape {
                    skipped.push(format!(
                        "{name} (takes {}, the data are {})",
                        data::shape_text(&takes),
                        data::shape_text(&shape)
                    ));
                    continue;
                }
                let probs = probabilities(&model, set, &dev)?;
                let classes = model.num_classes();
                (model.encoder, Some((probs, classes)))
            };
            let f = tl::tl_models::transferability::features(&model.0, set, &dev)?;
            let dim = f.len() / set.len().max(1);
            (f, dim, model.1, set.labels.clone())
        };
        // A score that cannot be computed on these features (degenerate, constant) is left
        // out of the ranking, with its reason, rather than stopping the others.
        let mut notes = Vec::new();
        let mut keep = |what: &str, r: Result<f64, tl::tl_models::ModelError>| match r {
            Ok(v) => Some(v),
            Err(e) => {
                notes.push(format!("{what}: {e}"));
                None
            }
        };
        let logme = keep("LogME", logme(&features, dim, &labels));
        let leep = probs.and_then(|(p, c)| keep("LEEP", leep(&p, c, &labels)));
        let h_score = keep("H-score", h_score(&features, dim, &labels));
        let knn = keep("5-NN", knn_score(&features, dim, &labels, 5));
        scored.push(Scored {
            model: name.clone(),
            logme,
            leep,
            h_score,
            knn,
            mean_rank: 0.0,
            notes,
        });
    }
    if scored.is_empty() {
        return Err(format!(
            "no {} model fits these data{}",
            if text { "text" } else { "image" },
            if skipped.is_empty() {
                String::new()
            } else {
                format!(": {}", skipped.join("; "))
            }
        )
        .into());
    }
    // The mean rank over the scores every candidate has.
    type Pick = fn(&Scored) -> Option<f64>;
    let all: [(&str, Pick); 4] = [
        ("LogME", |s| s.logme),
        ("LEEP", |s| s.leep),
        ("H-score", |s| s.h_score),
        ("5-NN", |s| s.knn),
    ];
    let columns: Vec<(&str, Vec<f64>)> = all
        .iter()
        .filter_map(|(name, pick)| {
            let col: Option<Vec<f64>> = scored.iter().map(pick).collect();
            col.map(|c| (*name, c))
        })
        .collect();
    if columns.is_empty() {
        let notes: Vec<String> = scored.iter().flat_map(|s| s.notes.clone()).collect();
        return Err(format!(
            "no score could be computed on these data: {}",
            notes.join("; ")
        )
        .into());
    }
    for (i, s) in scored.iter_mut().enumerate() {
        let ranks: f64 = columns
            .iter()
            .map(|(_, col)| 1.0 + col.iter().filter(|&&v| v > col[i]).count() as f64)
            .sum();
        s.mean_rank = ranks / columns.len() as f64;
    }
    scored.sort_by(|a, b| a.mean_rank.total_cmp(&b.mean_rank));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scored)?);
        return Ok(());
    }
    println!(
        "\nModels for {} ({} {table} items, {} classes), frozen features; higher is better\n",
        recipe.name.as_deref().unwrap_or("the recipe"),
        raw.len(),
        class_names.len()
    );
    println!(
        "| model | LogME | LEEP | H-score | 5-NN accuracy | mean rank |\n|---|---:|---:|---:|---:|---:|"
    );
    let show = |v: Option<f64>, scale: f64, unit: &str| {
        let digits = if unit.is_empty() { 3 } else { 2 };
        v.map_or("n/a".to_string(), |v| {
            format!("{:.digits$}{unit}", scale * v)
        })
    };
    for s in &scored {
        println!(
            "| {} | {} | {} | {} | {} | {:.1} |",
            s.model,
            show(s.logme, 1.0, ""),
            show(s.leep, 1.0, ""),
            show(s.h_score, 1.0, ""),
            show(s.knn, 100.0, " %"),
            s.mean_rank
        );
    }
    for s in &scored {
        for n in &s.notes {
            println!("{}: {n}", s.model);
        }
    }
    for s in &skipped {
        println!("skipped: {s}");
    }
    if scored.iter().any(|s| s.model == "small-cnn") {
        println!("small-cnn is an untrained CNN: the floor a pretrained model should beat");
    }
    let best = &scored[0];
    println!(
        "\nrecommended: {} (mean rank {:.1} over {}); set `[model] name = \"{}\"` in the recipe",
        best.model,
        best.mean_rank,
        columns
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", "),
        best.model
    );
    Ok(())
}
