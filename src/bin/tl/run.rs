//! `tl run RECIPE.toml`: the recipe's strategies on the recipe's data, over its seeds; a run
//! folder with the recipe as run, every report (JSON), the table (Markdown, CSV).
//!
//! **Which task.** Without `[target]`, the task is the source's own (80 % to train, 20 % to
//! test, per seed). With a labelled `[target]` whose classes are all source classes, the task
//! is the source's in a new domain (domain adaptation: the target's labels beyond
//! `labelled_per_class` are hidden, `test_fraction` of it scores); with a labelled target of
//! other classes, it is a new task (inductive transfer: the source only trains the start
//! model). With an unlabelled target, the strategies see its items without labels and the
//! score comes from `[test]`, or, when there is none, from held-out source items (said so in
//! the table's title).
//!
//! **The start model.** Texts become vectors of the recipe's text model (frozen; MiniLM's
//! are cached); a small adapter (`adapter`, default one 128-wide layer) and a head train on
//! the source for `source_epochs`. Images start from `mnist-cnn` (the real pretrained CNN),
//! a model folder with a `card.json`, or `small-cnn` (no pretraining). Every strategy of a
//! seed starts from the same model; a row `no adaptation` scores it as it is.

use crate::data::{self, Domain, Featuriser, Raw};
use crate::package::{self, PackageCard, Packaged};
use crate::progress::Progress;
use crate::recipe::{self, Recipe};
use serde_json::json;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;
use tl::tl_core::model::count_params;
use tl::tl_core::model::head_config;
use tl::tl_core::strategy::{Family, Json, Registry};
use tl::tl_core::task::TaskPart;
use tl::tl_data::split::Episode;
use tl::tl_text::BertTop;

type Res<T> = Result<T, Box<dyn Error>>;

/// `tl run`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The recipe (TOML; see `recipes/` and `recipes/README.md`).
    #[arg(required_unless_present = "resume")]
    pub recipe: Option<PathBuf>,
    /// Continue an interrupted run: the (row, seed) fits it finished are kept, the others
    /// run, to the same weights as a run never interrupted.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["recipe", "seeds", "device", "out", "overwrite", "check", "set"])]
    pub resume: Option<PathBuf>,
    /// Device (flex, ndarray, wgpu, wgpu-cpu, auto); overrides the recipe's.
    #[arg(long)]
    pub device: Option<String>,
    /// Lay a value over the recipe's, by dotted key (`--set target.labelled_per_class=5`,
    /// `--set strategy.0.settings.train.lr=1e-4`: `[[strategy]]` rows by number from 0);
    /// repeatable. The recipe as run, in the run folder, holds the values used.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Seeds; overrides the recipe's.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: Option<u64>,
    /// The run folder; overrides the recipe's (default `runs/<recipe name>`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace a run folder that holds an earlier run (otherwise refused); the earlier run's
    /// files move to `OUT/previous/` (replacing what an older `--overwrite` kept there).
    #[arg(long)]
    pub overwrite: bool,
    /// No progress output (the table is still printed).
    #[arg(long)]
    pub quiet: bool,
    /// Check the recipe (keys, strategies, their settings) and stop; reads no data.
    #[arg(long)]
    pub check: bool,
}

/// The task of one seed, with what scores it.
pub struct SeedTask {
    /// The task.
    pub task: TransferTask,
    /// The start model's training data (labelled source, or the same-task training part).
    pub start_train: LabelledSet,
    /// Text of the test set's origin, for the title.
    pub scored_on: String,
    /// With `[episodes]`: the labelled target the episodes are drawn from (the task holds
    /// the first episode, for the base training).
    pub episodes: Option<Episodes>,
}

/// Where an episodic run's episodes come from.
pub struct Episodes {
    /// The labelled target the episodes are drawn from.
    pub pool: LabelledSet,
    /// Fixed episodes (Lake's runs), in order; empty when they are drawn.
    pub fixed: Vec<Episode>,
}

/// What the recipe's data are, once read.
pub struct Data {
    /// The labelled source.
    pub source: Domain,
    /// The target, if any.
    pub target: Option<Domain>,
    /// The labelled test set, if given apart.
    pub test: Option<Domain>,
    /// The task's classes.
    pub class_names: Vec<String>,
    /// The source's classes.
    pub source_class_names: Vec<String>,
    /// Whether the target keeps the source's task.
    pub same_task: bool,
    /// The items' shape (`[dim]` for texts).
    pub item_shape: Vec<usize>,
    /// Whether the items are texts.
    pub text: bool,
    /// With `[model] train_layers`: MiniLM's top layers as pretrained (the items are the
    /// token states below them).
    pub top: Option<BertTop>,
}

/// Runs a recipe.
pub fn run(args: &Args) -> Res<()> {
    if crate::experiment::is_experiment_run(args) {
        return crate::experiment::run(args);
    }
    let (mut recipe, stem, base, out, previous) = match &args.resume {
        Some(dir) => resume_state(dir)?,
        None => {
            let path = args
                .recipe
                .as_ref()
                .ok_or("give a recipe, or --resume RUN_DIR")?;
            let recipe = recipe::load_with(path, &args.set)?;
            let stem = path
                .file_stem()
                .map_or("run".into(), |s| s.to_string_lossy().to_string());
            let out = args
                .out
                .clone()
                .or_else(|| recipe.out.clone())
                .unwrap_or_else(|| PathBuf::from("runs").join(&stem));
            let base = path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            (recipe, stem, base, out, Comparison::default())
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
    let progress = Progress::new(args.quiet);
    let dev = device(recipe.device.as_deref().unwrap_or("flex"))?;

    // Everything that can be refused is refused before any work: strategies and settings,
    // the run folder.
    // A recipe that trains MiniLM's top layers offers the strategies that train any encoder.
    let registry = tl::registry()?;
    let layers_registry = tl::registry_any::<BertTop>()?;
    let rows: Vec<RowCheck> = recipe
        .strategies
        .iter()
        .map(|spec| {
            if recipe.model.train_layers.is_some() {
                let note = " (with [model] train_layers, the strategies that train any encoder)";
                check_strategy(&layers_registry, &recipe, spec, note)
            } else {
                check_strategy(&registry, &recipe, spec, "")
            }
        })
        .collect::<Res<_>>()?;
    if let Some(shared) = &recipe.settings
        && let Some(key) = shared
            .keys()
            .find(|k| !rows.iter().any(|r| r.defaults.get(k.as_str()).is_some()))
    {
        return Err(format!(
            "[settings] `{key}`: no strategy of the recipe has this setting (`tl strategies --show NAME` prints a strategy's)"
        )
        .into());
    }
    // A dSprites run's strategies and counts, checked with the library at hand.
    let dsprites = (recipe.source.format == "dsprites")
        .then(|| crate::dsprites::check(&recipe))
        .transpose()?;
    if args.check {
        println!(
            "{}: a recipe of {} strategies, {} seeds; it writes {}",
            args.recipe
                .as_deref()
                .unwrap_or(Path::new("recipe"))
                .display(),
            recipe.strategies.len(),
            recipe.seeds,
            out.display()
        );
        return Ok(());
    }
    let title = recipe.name.clone().unwrap_or_else(|| stem.clone());
    let recipe_dir = std::fs::canonicalize(&base).unwrap_or(base.clone());
    if args.resume.is_none() {
        prepare_out(&out, args.overwrite)?;
        let as_run = toml::to_string_pretty(&recipe)?;
        write_atomic(&out.join("recipe.toml"), as_run.as_bytes())?;
        // What `--resume` needs, written before any work.
        let meta = json!({"title": title, "recipe_dir": recipe_dir, "finished": false});
        write_atomic(
            &out.join("run.json"),
            serde_json::to_string_pretty(&meta)?.as_bytes(),
        )?;
    } else {
        progress.line(&format!(
            "resuming {}: {} fits done",
            out.display(),
            previous.reports.len()
        ));
    }

    if let Some(settings) = &dsprites {
        return crate::dsprites::run(
            &recipe,
            settings,
            &title,
            &out,
            &progress,
            &dev,
            args.resume.is_some(),
        );
    }
    let data = read_data(&recipe, &base, &progress, &dev)?;
    if !data.same_task {
        for (spec, row) in recipe.strategies.iter().zip(&rows) {
            // Few-shot strategies train on the source's own classes (the base classes), and a
            // cross-modal one aligns on them and reads the task's classes from their names
            // (zero-shot), unless it reads out a probe on the source's images.
            let own_classes = match row.family {
                Family::FewShot => true,
                Family::CrossModal => row.config.get("readout") != Some(&json!("probe")),
                _ => false,
            };
            if !own_classes && row.needs.contains(&TaskPart::SourceLabelled) {
                return Err(format!(
                    "[[strategy]] `{}` ({}) learns from labelled source items of the target's classes, and the target's classes ({}) are not the source's: a new task takes inductive, few-shot, unsupervised, distillation or zero-shot cross-modal strategies (clip, clip-text-only, text-to-image)",
                    spec.label(),
                    row.family,
                    data.class_names.join(", ")
                )
                .into());
            }
        }
    }
    progress.line(&format!(
        "source {} ({} items, {} classes){}; device {}",
        data.source.domain,
        data.source.inputs.len(),
        data.source_class_names.len(),
        data.target.as_ref().map_or(String::new(), |t| format!(
            ", target {} ({} items, {})",
            t.domain,
            t.inputs.len(),
            if t.labels.is_some() {
                "labelled"
            } else {
                "unlabelled"
            }
        )),
        tl::tl_core::device::device_label(&dev)
    ));

    let mut comparison = Comparison::default();
    let mut scored_on = String::new();
    let started = Instant::now();
    for seed in crate::recipe::seed_range(recipe.first_seed, recipe.seeds)? {
        let st = seed_task(&data, &recipe, seed)?;
        scored_on = st.scored_on.clone();
        let seed_run = SeedRun {
            recipe: &recipe,
            data: &data,
            st: &st,
            seed,
            out: &out,
            title: &title,
            previous: &previous,
            progress: &progress,
            dev: &dev,
            started,
        };
        // An episodic run has no `no adaptation` row: the start model's classes are not an
        // episode's.
        let mut labels = Vec::new();
        if recipe.episodes.is_none() {
            labels.push("no adaptation".to_string());
        }
        if recipe.model.scratch == Some(true) {
            labels.push("scratch".into());
        }
        labels.extend(recipe.strategies.iter().map(|s| s.label().to_string()));
        if labels.iter().all(|l| seed_run.finished(l).is_some()) {
            for l in &labels {
                comparison.push(
                    seed_run
                        .finished(l)
                        .unwrap_or_else(|| unreachable!("checked")),
                );
            }
            continue;
        }
        match &data.top {
            None => {
                let (start, report, start_scored) =
                    start_model(&recipe, &data, &st, seed, &progress, &dev)?;
                // `scratch` first when asked for: the baseline strategy from a randomly
                // initialised copy of the start encoder.
                let scratch = if recipe.model.scratch == Some(true) {
                    dev.seed(seed.wrapping_add(7919));
                    let fresh = start.encoder.config().init(&dev)?;
                    Some(Pretrained::encoder(fresh))
                } else {
                    None
                };
                seed_run.rows(
                    &registry,
                    start,
                    report,
                    &start_scored,
                    scratch,
                    &mut comparison,
                )?;
            }
            Some(top) => {
                let (start, report, scored) = start_layers(&seed_run, top.clone())?;
                seed_run.rows(
                    &layers_registry,
                    start,
                    report,
                    &scored,
                    None,
                    &mut comparison,
                )?;
            }
        }
    }

    let baseline = recipe
        .baseline
        .clone()
        .unwrap_or_else(|| recipe.strategies[0].label().to_string());
    let mut md = format!(
        "# {title}\n\n{} seeds, scored on {scored_on}, device {}\n\n",
        recipe.seeds,
        tl::tl_core::device::device_label(&dev)
    );
    md += &comparison.to_markdown();
    if recipe.episodes.is_some() {
        md += &episode_table(&comparison);
    }
    md += &format!("\nGain over `{baseline}`, paired by seed:\n\n");
    md += &comparison.gains_to_markdown(&baseline);
    println!("\n{md}");
    write_atomic(&out.join("summary.md"), md.as_bytes())?;
    write_atomic(&out.join("summary.csv"), comparison.to_csv().as_bytes())?;
    // The pictures: accuracy per row, and the first seed's learning curves.
    let rows: Vec<(String, f64, f64)> = comparison
        .summary()
        .iter()
        .map(|r| {
            (
                r.strategy.clone(),
                100.0 * r.accuracy_mean,
                100.0 * r.accuracy_std,
            )
        })
        .collect();
    let bars = crate::plots::bars(&format!("{title}: accuracy"), "accuracy (%)", &rows)?;
    write_atomic(&out.join("accuracy.svg"), bars.as_bytes())?;
    let first = recipe.first_seed;
    if let Some(svg) = crate::plots::learning_curves(
        &format!("{title}: learning curves, seed {first}"),
        &comparison,
        first,
    )? {
        write_atomic(&out.join("learning-curves.svg"), svg.as_bytes())?;
    }
    write_atomic(&out.join("reports.json"), comparison.to_json()?.as_bytes())?;
    let meta = json!({
        "title": title,
        "recipe_dir": recipe_dir,
        "finished": true,
        "scored_on": scored_on,
        "class_names": data.class_names,
        "same_task": data.same_task,
        "text": data.text,
        "item_shape": data.item_shape,
        "wall_time_s": started.elapsed().as_secs_f64(),
    });
    write_atomic(
        &out.join("run.json"),
        serde_json::to_string_pretty(&meta)?.as_bytes(),
    )?;
    progress.line(&format!(
        "wrote {} (recipe.toml, reports.json, summary.md, summary.csv, run.json, accuracy.svg, learning-curves.svg, models/)",
        out.display()
    ));
    Ok(())
}

/// One seed of a run: what its rows need.
struct SeedRun<'a> {
    recipe: &'a Recipe,
    data: &'a Data,
    st: &'a SeedTask,
    seed: u64,
    out: &'a Path,
    title: &'a str,
    /// The fits of the run this one resumes.
    previous: &'a Comparison,
    progress: &'a Progress,
    dev: &'a Device,
    started: Instant,
}

impl SeedRun<'_> {
    /// A fit an interrupted run finished (its report and its package are there).
    fn finished(&self, label: &str) -> Option<FitReport> {
        self.previous
            .reports
            .iter()
            .find(|r| r.strategy == label && r.seed == self.seed)
            .filter(|_| {
                self.st.episodes.is_some()
                    || package::folder(self.out, label, self.seed)
                        .join("package.json")
                        .is_file()
            })
            .cloned()
    }

    /// The card of a row's package.
    fn card<E: Packaged>(
        &self,
        strategy: &str,
        accuracy: f64,
        model: &Classifier<E>,
    ) -> PackageCard {
        PackageCard {
            strategy: strategy.into(),
            seed: self.seed,
            recipe: self.title.to_string(),
            class_names: self.data.class_names.clone(),
            item_shape: self.data.item_shape.clone(),
            encoder: E::card_config(model),
            head: model.head.config().clone(),
            text_model: self.data.text.then(|| self.recipe.model.clone()),
            accuracy,
            scored_on: self.st.scored_on.clone(),
        }
    }

    /// The seed's rows: `no adaptation` (the start model as it is, `start_report`), then
    /// `scratch` when given, then the recipe's strategies from `start`; each packaged, and the
    /// reports written as each finishes.
    fn rows<E: Packaged>(
        &self,
        registry: &Registry<E>,
        start: Pretrained<E>,
        mut start_report: FitReport,
        start_scored: &Classifier<E>,
        scratch: Option<Pretrained<E>>,
        comparison: &mut Comparison,
    ) -> Res<()> {
        if let Some(episodes) = &self.st.episodes {
            return self.episodes(registry, start, episodes, comparison);
        }
        let (seed, progress) = (self.seed, self.progress);
        start_report.strategy = "no adaptation".into();
        package::save(
            &package::folder(self.out, "no adaptation", seed),
            start_scored,
            &self.card("no adaptation", start_report.metrics.accuracy, start_scored),
        )?;
        progress.line(&format!(
            "[{:>5.0} s] seed {seed}: {:<24} {:.2} % ({:.1} s)",
            self.started.elapsed().as_secs_f64(),
            "no adaptation",
            100.0 * start_report.metrics.accuracy,
            start_report.wall_time_s
        ));
        comparison.push(start_report);
        let mut rows: Vec<(String, &recipe::StrategySpec, Pretrained<E>)> = Vec::new();
        if let Some(fresh) = scratch {
            rows.push(("scratch".into(), baseline_spec(self.recipe), fresh));
        }
        for spec in &self.recipe.strategies {
            rows.push((spec.label().to_string(), spec, start.clone()));
        }
        for (label, spec, start) in rows {
            let label = label.as_str();
            if let Some(report) = self.finished(label) {
                comparison.push(report);
                continue;
            }
            let strategy = registry.create(&spec.name, &settings(registry, self.recipe, spec)?)?;
            let what = format!("{label}, seed {seed}");
            let bar = progress.bar(1, &what);
            let mut ctx = RunContext::new(self.dev)
                .with_seed(seed)
                .with_progress(|event| bar.on_step(&what, event));
            let (model, mut report) = strategy
                .fit(start, &self.st.task, &mut ctx)
                .map_err(|e| format!("`{label}`, seed {seed}: {e}"))?;
            drop(ctx);
            report.strategy = label.to_string();
            package::save(
                &package::folder(self.out, label, seed),
                &model,
                &self.card(label, report.metrics.accuracy, &model),
            )?;
            bar.finish(&format!(
                "[{:>5.0} s] seed {seed}: {label:<24} {:.2} % ({:.1} s)",
                self.started.elapsed().as_secs_f64(),
                100.0 * report.metrics.accuracy,
                report.wall_time_s
            ));
            self.record(comparison, report)?;
        }
        Ok(())
    }

    /// Adds a finished fit and writes every report at once: a run stopped later keeps it.
    fn record(&self, comparison: &mut Comparison, report: FitReport) -> Res<()> {
        comparison.push(report);
        write_atomic(
            &self.out.join("reports.json"),
            comparison.to_json()?.as_bytes(),
        )?;
        Ok(())
    }
}

impl SeedRun<'_> {
    /// The seed's rows on `[episodes]`: each few-shot strategy's base training (or an
    /// unsupervised objective's pretraining) once, on the task's source with the first episode
    /// as its target, then every episode of the seed with it off, from the trained model;
    /// other strategies from `start` on every episode. A row's report pools the episodes'
    /// queries (its accuracy is the mean over episodes, their queries being equal in number),
    /// its config is the row's as configured and its history the base training's; `extra`
    /// holds `episodes`, `ci95` (the half-width of the mean's 95 % interval), `episode_ms` and
    /// `base_training_s`. No model is saved: an episode's head is for its own classes.
    fn episodes<E: Packaged>(
        &self,
        registry: &Registry<E>,
        start: Pretrained<E>,
        episodes: &Episodes,
        comparison: &mut Comparison,
    ) -> Res<()> {
        use tl::tl_fewshot::{EpisodeScore, EpisodeShape};
        let pool = &episodes.pool;
        let (seed, progress) = (self.seed, self.progress);
        let spec = self.recipe.episodes.as_ref().ok_or("no [episodes]")?;
        let shape = EpisodeShape::new(spec.way, spec.shot, spec.query);
        for row in &self.recipe.strategies {
            let label = row.label();
            if let Some(report) = self.finished(label) {
                comparison.push(report);
                continue;
            }
            let started = Instant::now();
            let overlay = settings(registry, self.recipe, row)?;
            let strategy = registry.create(&row.name, &overlay)?;
            // The switches of a few-shot strategy's base training, or an unsupervised
            // objective's pretraining, on in its configuration.
            let full = strategy.config()?;
            let mut per_episode = overlay.clone();
            let mut base = false;
            if matches!(strategy.family(), Family::FewShot | Family::Unsupervised) {
                for key in ["meta_train", "pretrain"] {
                    if full.get(key) == Some(&json!(true)) {
                        per_episode[key] = json!(false);
                        base = true;
                    }
                }
            }
            let (trained, history, base_s) = if base {
                let what = format!("{label}, seed {seed}: base classes");
                let bar = progress.bar(1, &what);
                let mut ctx = RunContext::new(self.dev)
                    .with_seed(seed)
                    .with_progress(|event| bar.on_step(&what, event));
                let (model, report) = strategy
                    .fit(start.clone(), &self.st.task, &mut ctx)
                    .map_err(|e| format!("`{label}`, seed {seed}, base training: {e}"))?;
                drop(ctx);
                let s = started.elapsed().as_secs_f64();
                bar.finish(&format!(
                    "[{:>5.0} s] seed {seed}: {label:<24} base training ({s:.1} s)",
                    self.started.elapsed().as_secs_f64()
                ));
                let trained = Pretrained {
                    encoder: model.encoder,
                    head: Some(model.head),
                };
                (trained, report.history, s)
            } else {
                (start.clone(), Vec::new(), 0.0)
            };
            let strategy = registry.create(&row.name, &per_episode)?;
            // Drawn by the seed, the same for every row (features have the items' labels, so
            // the same draws); or the fixed ones, in order.
            let mut sampler = if episodes.fixed.is_empty() {
                Some(shape.sampler(pool, seed)?)
            } else {
                None
            };
            let what = format!("{label}, seed {seed}: episodes");
            let bar = progress.bar(spec.count as u64, &what).with_plain_lines();
            // The time per episode includes the features computed once for them.
            let episodes_started = Instant::now();
            // A method that reads the encoder's features only gets every item's features once
            // (the pool's, or the fixed episodes'), and an identity encoder on each episode:
            // the same predictions (the contract test checks it) without embedding an item
            // again in every episode that draws it.
            let on_features = if strategy.reads_features_only() {
                let first = match &sampler {
                    Some(s) => s.clone().sample(pool)?,
                    None => episodes.fixed[0].clone(),
                };
                Some(
                    OnFeatures::new(
                        &row.name,
                        &per_episode,
                        &trained,
                        strategy.as_ref(),
                        episodes,
                        first,
                        (spec.way, seed, self.dev),
                    )
                    .map_err(|e| {
                        format!("`{label}`, seed {seed}, features of the episodes: {e}")
                    })?,
                )
            } else {
                None
            };
            let (mut accuracies, mut losses) = (Vec::new(), Vec::new());
            let mut pooled = vec![vec![0usize; spec.way]; spec.way];
            let mut last = None;
            for i in 0..spec.count {
                let (pool, fixed) = match &on_features {
                    Some(f) => (f.pool.as_ref().unwrap_or(pool), &f.fixed),
                    None => (pool, &episodes.fixed),
                };
                let episode = match &mut sampler {
                    Some(s) => s.sample(pool)?,
                    None => fixed[i].clone(),
                };
                let task = TransferTask::new(spec.way)
                    .with_target_unlabelled(episode.query.unlabelled())
                    .with_target_labelled(episode.support)
                    .with_target_test(episode.query);
                let mut ctx = RunContext::new(self.dev).with_seed(seed);
                let fitted = match &on_features {
                    Some(f) => f
                        .strategy
                        .fit(f.identity.clone(), &task, &mut ctx)
                        .map(|(_, report)| report),
                    None => strategy
                        .fit(trained.clone(), &task, &mut ctx)
                        .map(|(_, report)| report),
                };
                let report = fitted
                    .map_err(|e| format!("`{label}`, seed {seed}, episode {}: {e}", i + 1))?;
                accuracies.push(report.metrics.accuracy);
                losses.extend(report.metrics.loss);
                for (row, counts) in pooled.iter_mut().zip(&report.metrics.confusion.counts) {
                    for (cell, n) in row.iter_mut().zip(counts) {
                        *cell += n;
                    }
                }
                last = Some(report);
                bar.set_position(i as u64 + 1);
            }
            let mut report = last.ok_or("no episode ran")?;
            if let Some(f) = &on_features {
                // As the strategy reports its model on the items, not the identity encoder's.
                report.params = f.params;
            }
            let score = EpisodeScore::of(&accuracies);
            report.metrics = tl::tl_core::metrics::Metrics {
                loss: (losses.len() == spec.count)
                    .then(|| losses.iter().sum::<f64>() / spec.count as f64),
                ..tl::tl_core::metrics::Metrics::from_confusion(
                    tl::tl_core::metrics::ConfusionMatrix { counts: pooled },
                )
            };
            report.strategy = label.to_string();
            // The row as configured (its base training on), not its per-episode copy.
            report.config = full;
            report.history = history;
            report.wall_time_s = started.elapsed().as_secs_f64();
            report.extra.insert("episodes".into(), spec.count as f64);
            report.extra.insert("ci95".into(), score.ci95);
            report.extra.insert(
                "episode_ms".into(),
                1e3 * episodes_started.elapsed().as_secs_f64() / spec.count as f64,
            );
            report.extra.insert("base_training_s".into(), base_s);
            bar.finish(&format!(
                "[{:>5.0} s] seed {seed}: {label:<24} {score} over {} episodes ({:.1} s)",
                self.started.elapsed().as_secs_f64(),
                spec.count,
                report.wall_time_s
            ));
            self.record(comparison, report)?;
        }
        Ok(())
    }
}

/// What a row that reads the encoder's features only needs for its episodes: the strategy
/// made for a feature encoder, the pool's features (`None` with fixed episodes) or the fixed
/// episodes' features, the identity encoder, and the parameter counts the strategy reports on
/// the items (from the first episode, fitted once on them).
struct OnFeatures {
    strategy: Box<dyn tl::tl_core::strategy::Strategy<Sequential>>,
    pool: Option<LabelledSet>,
    fixed: Vec<Episode>,
    identity: Pretrained<Sequential>,
    params: tl::tl_core::model::ParamCount,
}

impl OnFeatures {
    fn new<E: Packaged>(
        name: &str,
        settings: &Json,
        trained: &Pretrained<E>,
        strategy: &dyn tl::tl_core::strategy::Strategy<E>,
        episodes: &Episodes,
        first: Episode,
        (way, seed, dev): (usize, u64, &Device),
    ) -> Res<Self> {
        let encode = |set: &LabelledSet| -> Res<LabelledSet> {
            Ok(tl::tl_core::train::encode_set(
                &trained.encoder,
                set,
                dev,
                tl::tl_core::train::EVAL_BATCH_SIZE,
            )?)
        };
        let fixed = episodes
            .fixed
            .iter()
            .map(|e| {
                Ok(Episode {
                    support: encode(&e.support)?,
                    query: encode(&e.query)?,
                    classes: e.classes.clone(),
                })
            })
            .collect::<Res<Vec<_>>>()?;
        let pool = if fixed.is_empty() {
            Some(encode(&episodes.pool)?)
        } else {
            None
        };
        let task = TransferTask::new(way)
            .with_target_unlabelled(first.query.unlabelled())
            .with_target_labelled(first.support)
            .with_target_test(first.query);
        let mut ctx = RunContext::new(dev).with_seed(seed);
        let (_, report) = strategy.fit(trained.clone(), &task, &mut ctx)?;
        let identity = SequentialConfig::new(vec![trained.encoder.feature_dim()]).init(dev)?;
        Ok(Self {
            strategy: tl::registry()?.create(name, settings)?,
            pool,
            fixed,
            identity: Pretrained::encoder(identity),
            params: report.params,
        })
    }
}

/// The episodes' figures of an episodic run, per row and seed (Markdown).
fn episode_table(comparison: &Comparison) -> String {
    let mut md = String::from(
        "\nPer seed, over its episodes (mean accuracy ± half-width of its 95 % interval):\n\n| strategy | seed | episodes | accuracy | per episode | base training |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for r in &comparison.reports {
        let x = |k: &str| r.extra.get(k).copied().unwrap_or(f64::NAN);
        md += &format!(
            "| {} | {} | {:.0} | {:.2} % ± {:.2} | {:.1} ms | {:.1} s |\n",
            r.strategy,
            r.seed,
            x("episodes"),
            100.0 * r.metrics.accuracy,
            100.0 * x("ci95"),
            x("episode_ms"),
            x("base_training_s")
        );
    }
    md
}

/// A file of a run folder; a folder without it is not a run of `tl run`, and says so.
pub fn read_run_file(run: &Path, file: &str) -> Res<String> {
    std::fs::read_to_string(run.join(file)).map_err(|e| {
        format!(
            "{}: not a run folder of `tl run` ({file}: {e})",
            run.display()
        )
        .into()
    })
}

/// An interrupted run's recipe, title (as its stem), recipe folder, folder and finished fits.
fn resume_state(dir: &Path) -> Res<(Recipe, String, PathBuf, PathBuf, Comparison)> {
    let read = |f: &str| read_run_file(dir, f);
    let meta: serde_json::Value = serde_json::from_str(&read("run.json")?)
        .map_err(|e| format!("{}: run.json: {e}", dir.display()))?;
    if meta["finished"] == json!(true) {
        return Err(format!("{} is a finished run: nothing to resume", dir.display()).into());
    }
    let recipe = recipe::parse(&read("recipe.toml")?, "recipe.toml (as run)")?;
    let base = meta["recipe_dir"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| format!("{}: run.json names no recipe_dir", dir.display()))?;
    let title = meta["title"].as_str().unwrap_or("run").to_string();
    let previous = match std::fs::read_to_string(dir.join("reports.json")) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{}: reports.json: {e}", dir.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Comparison::default(),
        // Finished fits that cannot be read are refused, not run again and written over.
        Err(e) => {
            return Err(format!("cannot read {}: {e}", dir.join("reports.json").display()).into());
        }
    };
    Ok((recipe, title, base, dir.to_path_buf(), previous))
}

/// The strategy of the baseline row.
fn baseline_spec(recipe: &Recipe) -> &recipe::StrategySpec {
    recipe
        .baseline
        .as_ref()
        .and_then(|b| recipe.strategies.iter().find(|s| s.label() == b))
        .unwrap_or(&recipe.strategies[0])
}

/// A run folder that holds an earlier run is refused unless `overwrite`.
pub(crate) fn prepare_out(out: &Path, overwrite: bool) -> Res<()> {
    let earlier = [
        "reports.json",
        crate::dsprites::ROWS_FILE,
        crate::experiment::ROWS_FILE,
    ];
    if earlier.iter().any(|f| out.join(f).exists()) {
        if !overwrite {
            return Err(format!(
                "{} holds an earlier run: pass --out DIR to write elsewhere, or --overwrite",
                out.display()
            )
            .into());
        }
        keep_previous(out)?;
    }
    std::fs::create_dir_all(out)
        .map_err(|e| format!("cannot create the run folder {}: {e}", out.display()))?;
    Ok(())
}

/// The folder under a run folder where `--overwrite` keeps the run it replaces.
pub(crate) const PREVIOUS: &str = "previous";

/// Moves an earlier run's files (results, tables, pictures, packages, report) into
/// `out/previous/` (replacing what an older `--overwrite` kept there): nothing of it is lost
/// if the new run fails before its first result, and none of its packages is mistaken for
/// the new run's. Other files in `out` stay where they are.
fn keep_previous(out: &Path) -> Res<()> {
    let keep = out.join(PREVIOUS);
    match std::fs::remove_dir_all(&keep) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot clear {}: {e}", keep.display()).into());
        }
        _ => {}
    }
    std::fs::create_dir_all(&keep).map_err(|e| format!("cannot create {}: {e}", keep.display()))?;
    let named = [
        "reports.json",
        crate::dsprites::ROWS_FILE,
        crate::experiment::ROWS_FILE,
        "summary.md",
        "summary.csv",
        "run.json",
        "recipe.toml",
        "models",
        "report",
        "pictures",
    ];
    let entries =
        std::fs::read_dir(out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
    for entry in entries {
        let name = entry
            .map_err(|e| format!("cannot read {}: {e}", out.display()))?
            .file_name();
        let text = name.to_string_lossy();
        // The plots (`accuracy.svg`, one per dSprites metric) are the run's too.
        if named.contains(&text.as_ref()) || text.ends_with(".svg") {
            std::fs::rename(out.join(&name), keep.join(&name)).map_err(|e| {
                format!(
                    "cannot move {} into {}: {e}",
                    out.join(&name).display(),
                    keep.display()
                )
            })?;
        }
    }
    Ok(())
}

/// A strategy row as the recipe configures it, checked.
struct RowCheck {
    /// Its family.
    family: Family,
    /// The task parts it needs with the recipe's settings (a distiller's transfer set decides
    /// whether that includes the source).
    needs: &'static [TaskPart],
    /// The strategy's default settings (the keys `[settings]` may give it).
    defaults: Json,
    /// Its settings as the recipe configures it.
    config: Json,
}

/// Refuses a strategy row `registry` does not have (`note` added to the error), or whose
/// settings it cannot make or does not accept; what the row is otherwise.
fn check_strategy<E: Encoder + 'static>(
    registry: &Registry<E>,
    recipe: &Recipe,
    spec: &recipe::StrategySpec,
    note: &str,
) -> Res<RowCheck> {
    let check = |e: String| format!("[[strategy]] `{}`: {e}", spec.label());
    let entry = registry
        .entry(&spec.name)
        .map_err(|e| check(format!("{e}{note}")))?;
    let strategy = registry
        .create(&spec.name, &settings(registry, recipe, spec)?)
        .map_err(|e| check(e.to_string()))?;
    strategy.validate().map_err(|e| check(e.to_string()))?;
    let config = strategy.config().map_err(|e| check(e.to_string()))?;
    // With trained layers the items are token states with their length in front, which input
    // noise would corrupt (the strategy refuses it too, but only once the run reaches it).
    if recipe.model.train_layers.is_some()
        && let Some(noise) = config
            .get("augment")
            .and_then(|a| a.get("noise_std"))
            .and_then(Json::as_f64)
        && noise > 0.0
    {
        return Err(check(format!(
            "augment.noise_std = {noise} would add noise to the token states of [model] train_layers: set `settings = {{ augment = {{ noise_std = 0.0 }} }}` (the views then differ by dropout)"
        ))
        .into());
    }
    Ok(RowCheck {
        family: strategy.family(),
        needs: strategy.needs(),
        defaults: entry.default_config().clone(),
        config,
    })
}

/// The settings a strategy row gets: the recipe's `[train]`, then the keys of `[settings]` the
/// strategy has, then the row's own settings.
pub(crate) fn settings<E: Encoder + 'static>(
    registry: &Registry<E>,
    recipe: &Recipe,
    spec: &recipe::StrategySpec,
) -> Res<Json> {
    let entry = registry
        .entry(&spec.name)
        .map_err(|e| format!("[[strategy]] `{}`: {e}", spec.label()))?;
    let mut out = json!({});
    let train = json!({
        "epochs": recipe.train.epochs,
        "batch_size": recipe.train.batch_size,
        "lr": recipe.train.lr,
    });
    let defaults = entry.default_config();
    if defaults.get("train").is_some_and(Json::is_object) {
        out["train"] = train;
    } else if let Some(key) = defaults.as_object().and_then(|top| {
        top.iter()
            .find(|(_, v)| v.get("train").is_some_and(Json::is_object))
            .map(|(k, _)| k.clone())
    }) {
        // The training sits one level down (a distiller's `kd.train`).
        out[key.as_str()] = json!({ "train": train });
    }
    if let Some(shared) = &recipe.settings {
        for (key, value) in shared {
            if defaults.get(key).is_some() {
                let mut one = json!({});
                one[key.as_str()] = serde_json::to_value(value)?;
                merge(&mut out, &one);
            }
        }
    }
    if let Some(own) = &spec.settings {
        let own = serde_json::to_value(own)?;
        merge(&mut out, &own);
    }
    Ok(out)
}

/// Lays `over` on `base`, key by key; a tagged enum switched to another `kind` (a schedule,
/// an optimiser) is replaced whole, as the registry does with a strategy's defaults.
fn merge(base: &mut Json, over: &Json) {
    match (base, over) {
        (Json::Object(b), Json::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot)
                        if slot.is_object()
                            && v.is_object()
                            && (v.get("kind").is_none() || v.get("kind") == slot.get("kind")) =>
                    {
                        merge(slot, v)
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Reads every domain and featurises it; decides whether the target keeps the source's task.
pub fn read_data(recipe: &Recipe, base: &Path, progress: &Progress, dev: &Device) -> Res<Data> {
    let seed = recipe.first_seed;
    let source = data::read(&recipe.source, base, "source", seed)?;
    let target = recipe
        .target
        .as_ref()
        .map(|t| data::read(t, base, "target", seed))
        .transpose()?;
    let test = recipe
        .test
        .as_ref()
        .map(|t| data::read(t, base, "test", seed))
        .transpose()?;
    let text = matches!(source, Raw::Texts { .. });
    for (raw, what) in [(&target, "target"), (&test, "test")] {
        if let Some(raw) = raw
            && matches!(raw, Raw::Texts { .. }) != text
        {
            return Err(
                format!("[{what}] and [source] must both be texts or both be images").into(),
            );
        }
    }
    let source_class_names = source.class_names().ok_or("[source] must be labelled")?;
    if source_class_names.len() < 2 {
        return Err(format!(
            "[source] has one class ({:?}): a classifier needs two at least",
            source_class_names
        )
        .into());
    }
    let target_names = target.as_ref().and_then(Raw::class_names);
    let same_task = target_names
        .as_ref()
        .is_none_or(|names| names.iter().all(|n| source_class_names.contains(n)));
    let class_names = if same_task {
        source_class_names.clone()
    } else {
        target_names.clone().unwrap_or_default()
    };
    // A new task of one class would score every row 100 %.
    if class_names.len() < 2 {
        return Err(format!(
            "[target] has one class ({class_names:?}) and it is not among the source's: a new task needs two classes at least"
        )
        .into());
    }
    if let (Some(shape), false) = (data::image_shape(&source), text) {
        for (raw, what) in [(&target, "target"), (&test, "test")] {
            if let Some(s) = raw.as_ref().and_then(data::image_shape)
                && s != shape
            {
                return Err(format!(
                    "[{what}] images are {}, the source's {}: frame or resize one (`frame`, `size`)",
                    data::shape_text(&s),
                    data::shape_text(&shape)
                )
                .into());
            }
        }
    }
    let mut featuriser = Featuriser::new(&recipe.model, text, dev)?;
    let source = featuriser.domain(&source, &source_class_names, "[source]", progress, dev)?;
    let target = target
        .as_ref()
        .map(|t| featuriser.domain(t, &class_names, "[target]", progress, dev))
        .transpose()?;
    let test = test
        .as_ref()
        .map(|t| featuriser.domain(t, &class_names, "[test]", progress, dev))
        .transpose()?;
    let item_shape = source.inputs.item_shape.clone();
    let top = featuriser.top().transpose()?;
    if let Some(names) = recipe
        .class_names
        .as_ref()
        .filter(|n| n.len() == class_names.len())
    {
        // The names go by position in the classes as read (text labels sorted): say which
        // label gets which name, so that a swap shows.
        let mapping: Vec<String> = class_names
            .iter()
            .zip(names)
            .map(|(was, now)| format!("{was} -> {now}"))
            .collect();
        progress.line(&format!("class_names: {}", mapping.join(", ")));
    }
    let (class_names, source_class_names) = match &recipe.class_names {
        None => (class_names, source_class_names),
        Some(names) if names.len() != class_names.len() => {
            return Err(format!(
                "class_names: {} names for the task's {} classes ({})",
                names.len(),
                class_names.len(),
                class_names.join(", ")
            )
            .into());
        }
        Some(names) if same_task => (names.clone(), names.clone()),
        Some(names) => (names.clone(), source_class_names),
    };
    Ok(Data {
        source,
        target,
        test,
        class_names,
        source_class_names,
        same_task,
        item_shape,
        text,
        top,
    })
}

/// Where the start model trains and what scores without a labelled target: the whole source
/// and the recipe's `[test]`, or 80 % of the source and the other 20 % (`held_out` says so).
fn source_and_test(
    data: &Data,
    source: LabelledSet,
    seed: u64,
    held_out: &str,
) -> Res<(LabelledSet, LabelledSet, String)> {
    Ok(match &data.test {
        Some(test) => (
            source,
            test.labelled(&data.class_names, "[test]")?,
            format!("the labelled test set ({})", test.domain),
        ),
        None => {
            let (train, test) = tl::tl_data::split::stratified_split(&source, 0.8, seed)?;
            (train, test, held_out.into())
        }
    })
}

/// The task of one seed.
pub fn seed_task(data: &Data, recipe: &Recipe, seed: u64) -> Res<SeedTask> {
    use tl::tl_data::split::{k_per_class, stratified_split};
    let k = data.class_names.len();
    let source = data.source.labelled(&data.source_class_names, "[source]")?;
    let spec = recipe.target.as_ref();
    if let Some(e) = &recipe.episodes {
        let target = data
            .target
            .as_ref()
            .ok_or("[episodes] draws from a labelled [target]")?;
        let pool = target.labelled(&data.class_names, "[target]")?;
        let fixed = match recipe.target.as_ref().map(|t| t.format.as_str()) {
            Some("omniglot-runs") => fixed_episodes(&pool, e)?,
            _ => Vec::new(),
        };
        let shape = tl::tl_fewshot::EpisodeShape::new(e.way, e.shot, e.query);
        let first = match fixed.first() {
            Some(first) => first.clone(),
            None => shape
                .sampler(&pool, seed)
                .and_then(|mut s| {
                    s.sample(&pool)
                        .map_err(tl::tl_fewshot::episodes::data_error)
                })
                .map_err(|err| format!("[episodes] on [target] {}: {err}", pool.domain))?,
        };
        return Ok(SeedTask {
            task: TransferTask::new(e.way)
                .with_source(source.clone())
                .with_target_unlabelled(first.query.unlabelled())
                .with_target_labelled(first.support)
                .with_target_test(first.query),
            start_train: source,
            scored_on: format!(
                "{} {}{}-way {}-shot episodes of the target ({}), {} queries per class",
                e.count,
                if fixed.is_empty() { "" } else { "fixed " },
                e.way,
                e.shot,
                pool.domain,
                e.query
            ),
            episodes: Some(Episodes { pool, fixed }),
        });
    }
    Ok(match &data.target {
        None => {
            let (train, test, scored_on) =
                source_and_test(data, source, seed, "20 % of the source held out")?;
            SeedTask {
                task: TransferTask::new(k)
                    .with_source(train.clone())
                    .with_target_labelled(train.clone())
                    .with_target_test(test),
                start_train: train,
                scored_on,
                episodes: None,
            }
        }
        Some(target) if target.labels.is_some() => {
            let target = target.labelled(&data.class_names, "[target]")?;
            let test_fraction = spec.and_then(|s| s.test_fraction).unwrap_or(0.2);
            let (pool, test, scored_on) = match &data.test {
                Some(test) => (
                    target.clone(),
                    test.labelled(&data.class_names, "[test]")?,
                    format!("the labelled test set ({})", test.domain),
                ),
                None => {
                    let (pool, test) = stratified_split(&target, 1.0 - test_fraction, seed)?;
                    let on = format!(
                        "{:.0} % of the target ({}) held out",
                        100.0 * test_fraction,
                        target.domain
                    );
                    (pool, test, on)
                }
            };
            let labelled = match spec.and_then(|s| s.labelled_per_class) {
                Some(n) => k_per_class(&pool, n, seed)?.0,
                None => pool.clone(),
            };
            // A new task keeps the source too: the base classes a few-shot learner trains on.
            let task = TransferTask::new(k)
                .with_target_unlabelled(pool.unlabelled())
                .with_target_labelled(labelled)
                .with_target_test(test)
                .with_source(source.clone());
            SeedTask {
                task,
                start_train: source,
                scored_on,
                episodes: None,
            }
        }
        Some(target) => {
            let (train, test, scored_on) = source_and_test(
                data,
                source,
                seed,
                "20 % of the SOURCE held out (the target has no labels: add a [test] to score the target)",
            )?;
            SeedTask {
                task: TransferTask::new(k)
                    .with_source(train.clone())
                    .with_target_unlabelled(target.unlabelled()?)
                    .with_target_test(test),
                start_train: train,
                scored_on,
                episodes: None,
            }
        }
    })
}

/// Lake's runs out of their set (`data::runs_set`: classes `runNN/...`, each class's first
/// item its shot, the others its queries), one episode a run; `[episodes]` must state their
/// shape.
fn fixed_episodes(pool: &LabelledSet, e: &recipe::EpisodeSpec) -> Res<Vec<Episode>> {
    let mut runs: Vec<(String, Vec<usize>)> = Vec::new();
    for (c, name) in pool.class_names.iter().enumerate() {
        let run = name.split('/').next().unwrap_or(name).to_string();
        match runs.last_mut() {
            Some((r, classes)) if *r == run => classes.push(c),
            _ => runs.push((run, vec![c])),
        }
    }
    let mut out = Vec::new();
    for (run, classes) in &runs {
        // The run's classes relabelled 0.., in order; each one's first item is its shot.
        let mut set = tl::tl_data::split::select_classes(pool, classes)?;
        set.domain = run.as_str().into();
        let mut shot_taken = vec![false; classes.len()];
        let (mut shots, mut queries) = (Vec::new(), Vec::new());
        for (i, &l) in set.labels.iter().enumerate() {
            if std::mem::replace(&mut shot_taken[l], true) {
                queries.push(i);
            } else {
                shots.push(i);
            }
        }
        let way = classes.len();
        let query = queries.len() as f64 / way as f64;
        if way != e.way
            || e.shot != 1
            || (query - e.query as f64).abs() > 1e-9
            || runs.len() != e.count
        {
            return Err(format!(
                "[episodes] the runs are {} episodes of {way}-way 1-shot with {query} queries per class ({run}): say so (way = {way}, shot = 1, query = {query}, count = {})",
                runs.len(),
                runs.len()
            )
            .into());
        }
        out.push(Episode {
            support: set.select(&shots),
            query: set.select(&queries),
            classes: classes.clone(),
        });
    }
    Ok(out)
}

/// The model every strategy of a seed starts from, and its report as it is (the `no
/// adaptation` row).
fn start_model(
    recipe: &Recipe,
    data: &Data,
    st: &SeedTask,
    seed: u64,
    progress: &Progress,
    dev: &Device,
) -> Res<(Pretrained<Sequential>, FitReport, Classifier<Sequential>)> {
    let started = Instant::now();
    dev.seed(seed);
    let m = &recipe.model;
    let source_classes = data.source_class_names.len();
    // The encoder, its head (for the source's classes) when it has one, and the default
    // source training.
    let (encoder, head, default_epochs) = if data.text {
        let mut config = SequentialConfig::new(data.item_shape.clone());
        for &width in m.adapter.as_deref().unwrap_or(&[128]) {
            config = config.linear(width).relu();
        }
        (config.init(dev)?, None, 20)
    } else {
        let shape = &data.item_shape;
        match m.name.as_str() {
            "small-cnn" => {
                let widths = m.widths.as_deref().unwrap_or(&SMALL_CNN_WIDTHS);
                (small_cnn_with(shape, widths).init(dev)?, None, 20)
            }
            "conv-4" => (conv4(shape)?.init(dev)?, None, 20),
            name => {
                let (model, takes) = load_image_model(name, dev)?;
                if &takes != shape {
                    return Err(format!(
                        "the model `{name}` takes {} images and the data are {}: frame or resize them (`frame = [20, 28]` puts 16 px digits in MNIST's framing)",
                        data::shape_text(&takes),
                        data::shape_text(shape)
                    )
                    .into());
                }
                let fits = model.num_classes() == source_classes;
                let epochs = if fits { 0 } else { 5 };
                (model.encoder, fits.then_some(model.head), epochs)
            }
        }
    };
    let epochs = m.source_epochs.unwrap_or(default_epochs);
    let mut model = Pretrained { encoder, head }.into_classifier(source_classes, dev)?;
    if epochs > 0 {
        let train = TrainConfig::new()
            .with_epochs(epochs)
            .with_batch_size(recipe.train.batch_size)
            .with_lr(recipe.train.lr)
            .with_seed(seed);
        let what = format!("start model, seed {seed}");
        let bar = progress.bar(1, &what);
        let out = Trainer::new(train)
            .with_progress(|event| bar.on_step(&what, event))
            .fit(model, &st.start_train, None, dev)?;
        bar.finish(&format!(
            "seed {seed}: start model trained on the source, {epochs} epochs ({:.1} s)",
            started.elapsed().as_secs_f64()
        ));
        model = out.model;
    }
    let settings = json!({"model": m.name, "source_epochs": epochs});
    as_start(recipe, data, st, seed, dev, model, settings, started)
}

/// With `[model] train_layers`: the start model, MiniLM's top layers (`top`, on the cached
/// token states) and a linear head trained on the source: AdamW (weight decay 0.01) at
/// `source_lr` (1e-4), the head at 20x, `source_epochs` (3) epochs with early stopping on
/// 10 % of the source held out (per class, by seed), as docs/text-adaptation.md measures.
fn start_layers(
    run: &SeedRun,
    top: BertTop,
) -> Res<(Pretrained<BertTop>, FitReport, Classifier<BertTop>)> {
    use tl::tl_core::train::{EarlyStopping, OptimizerKind};
    let started = Instant::now();
    let (recipe, dev, seed) = (run.recipe, run.dev, run.seed);
    dev.seed(seed);
    let m = &recipe.model;
    let classes = run.data.source_class_names.len();
    let head = head_config(top.feature_dim(), &[], classes).init(dev)?;
    let mut model = Classifier::new(top, head)?;
    let epochs = m.source_epochs.unwrap_or(3);
    let lr = m.source_lr.unwrap_or(1e-4);
    if epochs > 0 {
        // The strategies' own split of the source (10 % per class held out, by seed), so
        // that the start model is the one `examples/text_adaptation.rs` trains.
        let source = &run.st.start_train;
        let own = TransferTask::new(classes)
            .with_source(source.clone())
            .with_target_unlabelled(source.unlabelled())
            .with_target_test(source.clone());
        let split = tl::tl_core::domain::AdaptationSets::from_task(&own, "start model", 0.1, seed)?;
        let (train, valid) = (split.source_train, split.source_valid);
        let config = TrainConfig::new()
            .with_epochs(epochs)
            .with_batch_size(recipe.train.batch_size)
            .with_lr(lr)
            .with_seed(seed)
            .with_optimizer(OptimizerKind::AdamW { weight_decay: 0.01 })
            .with_early_stopping(Some(EarlyStopping {
                patience: 1,
                min_delta: 0.0,
            }));
        let what = format!(
            "start model ({} layers), seed {seed}",
            m.train_layers.unwrap_or(0)
        );
        let bar = run.progress.bar(1, &what);
        let head_group = model.head_group();
        let out = Trainer::new(config)
            .with_lr_factor(head_group, 20.0)
            .with_progress(|event| bar.on_step(&what, event))
            .fit(model, &train, Some(&valid), dev)?;
        bar.finish(&format!(
            "seed {seed}: start model trained on the source, at most {epochs} epochs ({:.1} s)",
            started.elapsed().as_secs_f64()
        ));
        model = out.model;
    }
    let settings = json!({
        "model": m.name, "train_layers": m.train_layers, "source_epochs": epochs,
        "source_lr": lr, "head_lr_factor": 20.0, "weight_decay": 0.01,
    });
    as_start(
        recipe, run.data, run.st, seed, dev, model, settings, started,
    )
}

/// What every row of a seed starts from, once the start model trained: the model itself
/// (same task) or its encoder (a new task), with the `no adaptation` report (the model as it
/// is, or a linear probe on its encoder for a new task) and the model that report scores.
#[allow(clippy::too_many_arguments)]
fn as_start<E: Encoder + 'static>(
    recipe: &Recipe,
    data: &Data,
    st: &SeedTask,
    seed: u64,
    dev: &Device,
    model: Classifier<E>,
    settings: Json,
    started: Instant,
) -> Res<(Pretrained<E>, FitReport, Classifier<E>)> {
    let wall = started.elapsed().as_secs_f64();
    let ctx = RunContext::new(dev).with_seed(seed);
    let test = st.task.target_test.as_ref().ok_or("no test set")?;
    if data.same_task {
        let metrics = ctx.evaluate(&model, test)?;
        let report = ctx.report(
            "no adaptation",
            &settings,
            Vec::new(),
            metrics,
            count_params(&model),
            wall,
        )?;
        Ok((Pretrained::classifier(model.clone()), report, model))
    } else {
        // A new task: the source's head predicts other classes; the row is the encoder with
        // a head fitted on the target's labels (a linear probe), the least adaptation.
        let probe = tl::tl_inductive::LinearProbe::new().with_train(
            TrainConfig::new()
                .with_epochs(recipe.train.epochs)
                .with_batch_size(recipe.train.batch_size)
                .with_lr(recipe.train.lr)
                .with_seed(seed),
        );
        let mut ctx = RunContext::new(dev).with_seed(seed);
        let (probed, report) = probe.fit(
            Pretrained::encoder(model.encoder.clone()),
            &st.task,
            &mut ctx,
        )?;
        Ok((Pretrained::encoder(model.encoder), report, probed))
    }
}

/// `small-cnn`: two conv blocks (16 and 32 channels, 3x3, max pooling) and a 64-wide layer,
/// for images of `shape`; no pretraining.
pub fn small_cnn(shape: &[usize]) -> SequentialConfig {
    small_cnn_with(shape, &SMALL_CNN_WIDTHS)
}

/// The few-shot backbone Conv-4 (Vinyals et al., Snell et al.): four blocks of 3x3
/// convolution with 64 channels, batch norm, ReLU and 2x2 max pooling; 64 features on 28 px.
pub fn conv4(shape: &[usize]) -> Res<SequentialConfig> {
    if shape.len() != 3 || shape[1] < 16 || shape[2] < 16 {
        return Err(format!(
            "`conv-4` halves its input four times: it needs images of 16 px or more, and the data are {}",
            data::shape_text(shape)
        )
        .into());
    }
    let mut config = SequentialConfig::new(shape.to_vec());
    for _ in 0..4 {
        config = config.conv(64, 3, 1).batch_norm().relu().max_pool(2);
    }
    Ok(config)
}

/// `small-cnn`'s widths unless `[model] widths` says otherwise.
pub const SMALL_CNN_WIDTHS: [usize; 3] = [16, 32, 64];

/// [`small_cnn`] of the widths `[first convolution, second convolution, dense]`.
pub fn small_cnn_with(shape: &[usize], widths: &[usize]) -> SequentialConfig {
    SequentialConfig::new(shape.to_vec())
        .conv(widths[0], 3, 1)
        .relu()
        .max_pool(2)
        .conv(widths[1], 3, 1)
        .relu()
        .max_pool(2)
        .linear(widths[2])
        .relu()
}

/// A pretrained image model by catalogue name or folder: the classifier and its input shape.
pub fn load_image_model(name: &str, dev: &Device) -> Res<(Classifier<Sequential>, Vec<usize>)> {
    if name == "mnist-cnn" {
        let entry = crate::models::find(name)?;
        let dir = entry.found_at.ok_or_else(|| {
            format!(
                "the model `mnist-cnn` is not here: put its folder (handwriting_model.pth) under TL_MODEL_DIR ({})",
                tl::tl_core::paths::model_dir()
                    .map_or("not set".into(), |p| p.display().to_string())
            )
        })?;
        let (model, _) =
            tl::tl_models::arch::mnist_cnn_pretrained(&dir.join("handwriting_model.pth"), dev)?;
        return Ok((model, vec![1, 28, 28]));
    }
    let folder = match crate::models::find(name) {
        Ok(entry) => entry
            .found_at
            .ok_or_else(|| format!("the model `{name}` is not here"))?,
        Err(e)
            if Path::new(name)
                .join(tl::tl_models::card::CARD_FILE)
                .is_file() =>
        {
            let _ = e;
            PathBuf::from(name)
        }
        Err(e) => {
            return Err(format!(
                "{e}; for images: mnist-cnn, small-cnn, or a folder with a card.json"
            )
            .into());
        }
    };
    let (model, card) = tl::tl_models::pretrain::load_pretrained(&folder, dev)?;
    Ok((model, card.input.shape))
}
