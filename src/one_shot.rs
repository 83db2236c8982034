//! tl-fewshot's one-shot generation table: a generator (`tl_fewshot::OneShotGenerator`, a
//! conditional VAE whose context is the one example) trains on Omniglot's small1 + small2,
//! conditioned through a ProtoNet trained on small1; for each of the 400 single drawings of
//! Lake's 20 official one-shot runs it draws `siblings` new drawings. The judge, a ProtoNet
//! trained on small1 + small2, classifies each drawing among its run's 20 characters, whose
//! prototypes are the run's *test* drawings (other people's drawings of the same characters),
//! so a copy of the example earns no more than the example itself. `examples/fewshot.rs --part
//! generate` and the experiment recipe `recipes/omniglot-one-shot-generation.toml` both run
//! [`generation_seed`], so the two give the same figures for the same settings and seed.
//!
//! Trained encoders are kept in a cache folder ([`cached`]) under a key of every setting that
//! changes them, and reused.

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tl_core::checkpoint::{load_weights, remove_if_present, save_weights, write_atomic};
use tl_core::data::{Inputs, LabelledSet};
use tl_core::model::{Sequential, SequentialConfig};
use tl_core::report::mean_std;
use tl_core::strategy::RunContext;
use tl_core::train::{ProgressEvent, Schedule, TrainConfig};
use tl_data::images::{omniglot, omniglot_runs};
use tl_data::transform::orientation_labels;
use tl_fewshot::{EpisodeShape, OneShotGenerator, ProtoNet, generate, protonet_accuracy};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The settings (the example's flags; a recipe's `[experiment]` keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OneShotSettings {
    /// Image side (Omniglot's 105 px drawings resized).
    pub size: usize,
    /// Channels of each Conv-4 block.
    pub channels: usize,
    /// Training episodes of the two ProtoNets (100 per epoch).
    pub train_episodes: usize,
    /// Classes per training episode.
    pub train_way: usize,
    /// Shots per class in training episodes.
    pub train_shot: usize,
    /// Queries per class in training episodes.
    pub train_query: usize,
    /// Epochs of the generator.
    pub generator_epochs: usize,
    /// Generated siblings per example.
    pub siblings: usize,
    /// Where trained encoders are kept (`~` is the home folder).
    pub cache: String,
    /// Train again even when a cached encoder exists.
    pub retrain: bool,
}

impl Default for OneShotSettings {
    fn default() -> Self {
        Self {
            size: 28,
            channels: 64,
            train_episodes: 2000,
            train_way: 20,
            train_shot: 1,
            train_query: 5,
            generator_epochs: 30,
            siblings: 10,
            cache: "~/.cache/tl-fewshot".into(),
            retrain: false,
        }
    }
}

impl OneShotSettings {
    /// Refuses settings that cannot run, by name, before any work.
    pub fn validate(&self) -> tl_core::Result<()> {
        let bad = |key: &'static str, why: String| Err(tl_core::CoreError::config(key, why));
        if self.size < 16 {
            return bad(
                "size",
                format!("{}: four 2x2 poolings need at least 16 px", self.size),
            );
        }
        for (key, v) in [
            ("channels", self.channels),
            ("train_episodes", self.train_episodes),
            ("train_shot", self.train_shot),
            ("train_query", self.train_query),
            ("generator_epochs", self.generator_epochs),
            ("siblings", self.siblings),
        ] {
            if v == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        if self.train_way < 2 {
            return bad("train_way", format!("{}: at least 2", self.train_way));
        }
        if self.cache.trim().is_empty() {
            return bad("cache", "empty: a folder for the trained encoders".into());
        }
        if self.cache.starts_with('~') && std::env::var_os("HOME").is_none() {
            return bad(
                "cache",
                format!("{}: HOME is not set, so `~` cannot be expanded", self.cache),
            );
        }
        Ok(())
    }

    /// The cache folder, `~` expanded.
    pub fn cache_dir(&self) -> PathBuf {
        match (self.cache.strip_prefix('~'), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
                Path::new(&home).join(rest.trim_start_matches('/'))
            }
            _ => PathBuf::from(&self.cache),
        }
    }
}

/// The Conv-4 backbone.
pub fn conv4(size: usize, channels: usize) -> SequentialConfig {
    let mut config = SequentialConfig::new(vec![1, size, size]);
    for _ in 0..4 {
        config = config.conv(channels, 3, 1).batch_norm().relu().max_pool(2);
    }
    config
}

/// A fingerprint of a training set (its items, shape and labels): a cached model trained on
/// other data (another Omniglot copy under `TL_DATA_DIR`) is not taken for this one.
pub fn data_fingerprint(set: &LabelledSet) -> String {
    let mut h = tl_text::cache::Fnv64::default();
    for d in &set.inputs.item_shape {
        h.field(&(*d as u64).to_le_bytes());
    }
    let values: Vec<u8> = set
        .inputs
        .values
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    h.field(&values);
    let labels: Vec<u8> = set
        .labels
        .iter()
        .flat_map(|&y| (y as u64).to_le_bytes())
        .collect();
    h.field(&labels);
    format!("{:016x}", h.finish())
}

/// Trains a model (from `fresh`, built after seeding the device) on `data`, or loads it from
/// `cache` when an entry of the same key and the same data exists; the model and its
/// training time. An entry of other data, or one that cannot be read or does not fit the
/// model, is trained again (said in a log line). The metadata is written after the weights
/// (an older one removed first), so an entry with metadata has its weights.
#[allow(clippy::too_many_arguments)]
pub fn cached<M: Module>(
    cache: &Path,
    key: &str,
    data: &LabelledSet,
    retrain: bool,
    seed: u64,
    dev: &Device,
    fresh: impl FnOnce() -> Res<M>,
    train: impl FnOnce(M) -> Res<M>,
    log: &dyn Fn(&str),
) -> Res<(M, f64)> {
    let weights = cache.join(format!("{key}.bin"));
    let meta = cache.join(format!("{key}.json"));
    let fingerprint = data_fingerprint(data);
    dev.seed(seed);
    let fresh = fresh()?;
    if !retrain && weights.exists() && meta.exists() {
        let stored = std::fs::read(&meta)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string()));
        match stored {
            Err(e) => log(&format!(
                "{key}: the cache entry {} cannot be read ({e}): training again",
                meta.display()
            )),
            // Entries written before the fingerprint have none: taken as they are.
            Ok(m) if m["data"].as_str().is_some_and(|d| d != fingerprint) => log(&format!(
                "{key}: the cache entry was trained on other data: training again"
            )),
            Ok(m) => match load_weights(fresh.clone(), &weights) {
                Ok(model) => {
                    log(&format!("{key}: loaded from {}", weights.display()));
                    return Ok((model, m["seconds"].as_f64().unwrap_or(f64::NAN)));
                }
                Err(e) => log(&format!(
                    "{key}: the cache entry {} does not load ({e}): training again",
                    weights.display()
                )),
            },
        }
    }
    log(&format!("{key}: training"));
    let started = Instant::now();
    let model = train(fresh)?;
    let seconds = started.elapsed().as_secs_f64();
    std::fs::create_dir_all(cache)
        .map_err(|e| format!("cannot create the cache folder {}: {e}", cache.display()))?;
    remove_if_present(&meta).map_err(|e| format!("cannot replace {}: {e}", meta.display()))?;
    save_weights(&model, &weights)?;
    write_atomic(
        &meta,
        json!({"seconds": seconds, "data": fingerprint})
            .to_string()
            .as_bytes(),
    )?;
    log(&format!("{key}: trained in {seconds:.0} s"));
    Ok((model, seconds))
}

/// Progress lines of a training's epochs.
pub fn progress<'a>(name: &'a str, log: &'a dyn Fn(&str)) -> impl FnMut(&ProgressEvent) + 'a {
    move |e| {
        if let ProgressEvent::Epoch(r) = e {
            log(&format!(
                "    {name}: epoch {} loss {:.4} accuracy {:.2} % ({:.1} s)",
                r.epoch,
                r.train_loss,
                100.0 * r.train_accuracy.unwrap_or(f64::NAN),
                r.seconds
            ));
        }
    }
}

/// A ProtoNet's Conv-4 trained on episodes of `base` (cached under `key` and the settings).
fn protonet(
    s: &OneShotSettings,
    key: &str,
    base: &LabelledSet,
    seed: u64,
    dev: &Device,
    log: &dyn Fn(&str),
) -> Res<Sequential> {
    let key = format!(
        "{key}-{}e-{}w{}s{}q-s{}-c{}-seed{seed}",
        s.train_episodes, s.train_way, s.train_shot, s.train_query, s.size, s.channels
    );
    let fresh = || Ok(conv4(s.size, s.channels).init(dev)?);
    let train = |e: Sequential| -> Res<Sequential> {
        let mut ctx = RunContext::new(dev)
            .with_seed(seed)
            .with_progress(progress("protonet", log));
        let (trained, _) = ProtoNet::new()
            .with_episodes(EpisodeShape::new(s.train_way, s.train_shot, s.train_query))
            .with_episodes_per_epoch(100)
            .with_train(
                TrainConfig::new()
                    .with_epochs(s.train_episodes.div_ceil(100))
                    .with_lr(1e-3)
                    .with_schedule(Schedule::Cosine { min_factor: 0.05 })
                    .with_seed(seed),
            )
            .meta_train(e, base, &mut ctx)?;
        Ok(trained)
    };
    let cache = s.cache_dir();
    Ok(cached(&cache, &key, base, s.retrain, seed, dev, fresh, train, log)?.0)
}

/// The `ink` most probable pixels of `p` as 1, the rest 0.
fn with_ink(p: &[f32], ink: usize) -> Vec<f32> {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let mut out = vec![0.0; p.len()];
    for &i in order.iter().take(ink) {
        out[i] = 1.0;
    }
    out
}

/// Mean absolute pixel difference of two items.
fn pixel_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .sum::<f64>()
        / a.len().max(1) as f64
}

/// What the experiment reads: Omniglot's small1 and small2 and Lake's one-shot runs, at the
/// settings' image side.
#[derive(Debug, Clone)]
pub struct OmniglotSets {
    /// `images_background_small1.zip`.
    pub small1: LabelledSet,
    /// `images_background_small2.zip`.
    pub small2: LabelledSet,
    /// `all_runs.zip`: the 20 official one-shot runs.
    pub runs: Vec<tl_data::images::OneShotRun>,
}

/// Reads `DATA/omniglot` (small1, small2 and `all_runs.zip`) at `s.size` once, for every seed.
pub fn omniglot_sets(s: &OneShotSettings, data: &Path) -> Res<OmniglotSets> {
    s.validate()?;
    let dir = data.join("omniglot");
    Ok(OmniglotSets {
        small1: omniglot(&dir.join("images_background_small1.zip"), s.size)?,
        small2: omniglot(&dir.join("images_background_small2.zip"), s.size)?,
        runs: omniglot_runs(&dir.join("all_runs.zip"), s.size)?,
    })
}

/// One seed of the experiment on the sets [`omniglot_sets`] read; with `pictures`, a grid of
/// run 1 (each example, then 8 of its siblings) as `omniglot-one-shot-run01.png`.
pub fn generation_seed(
    s: &OneShotSettings,
    sets: &OmniglotSets,
    seed: u64,
    pictures: Option<&Path>,
    dev: &Device,
    log: &dyn Fn(&str),
) -> Res<Value> {
    s.validate()?;
    let read_at = sets.small1.inputs.item_shape.last().copied().unwrap_or(0);
    if read_at != s.size {
        return Err(format!(
            "the Omniglot sets were read at {read_at} px, the settings ask for {} px",
            s.size
        )
        .into());
    }
    let (small1, small2, runs) = (&sets.small1, &sets.small2, &sets.runs);
    let both = tl_data::split::classes_side_by_side(small1, small2)?;
    let conditioner = protonet(
        s,
        "protonet-small1",
        &orientation_labels(small1, false)?,
        seed,
        dev,
        log,
    )?;
    let judge = protonet(
        s,
        "protonet-small12",
        &orientation_labels(&both, false)?,
        seed,
        dev,
        log,
    )?;
    let generator = OneShotGenerator::new().with_train(
        TrainConfig::new()
            .with_epochs(s.generator_epochs)
            .with_batch_size(64)
            .with_lr(1e-3)
            .with_schedule(Schedule::Cosine { min_factor: 0.05 })
            .with_seed(seed),
    );
    let started = Instant::now();
    dev.seed(seed);
    let mut ctx = RunContext::new(dev).with_seed(seed).with_progress(|e| {
        if let ProgressEvent::Epoch(r) = e {
            log(&format!(
                "    generator: epoch {} loss {:.2} (reconstruction {:.2}, kl {:.2}; {:.1} s)",
                r.epoch,
                r.train_loss,
                r.extra.get("reconstruction").copied().unwrap_or(f64::NAN),
                r.extra.get("kl").copied().unwrap_or(f64::NAN),
                r.seconds
            ));
        }
    });
    let (model, _) = generator.fit(&conditioner, &both, &mut ctx)?;
    drop(ctx);
    let train_seconds = started.elapsed().as_secs_f64();
    let k = s.siblings;
    let (mut right_generated, mut right_example, mut total_generated) = (0usize, 0usize, 0usize);
    let (mut to_example, mut between) = (Vec::new(), Vec::new());
    let mut grid: Vec<Vec<f32>> = Vec::new();
    let started = Instant::now();
    for (r, run) in runs.iter().enumerate() {
        dev.seed(seed.wrapping_add(r as u64));
        // Drawings are black and white: each sample's most probable pixels become ink, as many
        // as its example has (no threshold to tune).
        let samples: Vec<Vec<f32>> = generate(&model, &conditioner, &run.train, k, dev)?
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let ink = run
                    .train
                    .inputs
                    .item(i / k)
                    .iter()
                    .filter(|v| **v > 0.5)
                    .count();
                with_ink(&p, ink)
            })
            .collect();
        // Generated drawings labelled with the character of their example.
        let labels: Vec<usize> = (0..samples.len())
            .map(|i| run.train.labels[i / k])
            .collect();
        let generated = LabelledSet::new(
            Inputs::new(run.train.inputs.item_shape.clone(), samples.concat())?,
            labels,
            run.train.class_names.clone(),
            "generated",
        )?;
        let judged = |query: &LabelledSet| -> Res<usize> {
            let episode = tl_data::split::Episode {
                support: run.test.clone(),
                query: query.clone(),
                classes: (0..run.test.num_classes()).collect(),
            };
            let acc = protonet_accuracy(&judge, &episode, dev)?;
            Ok((acc * query.len() as f64).round() as usize)
        };
        right_generated += judged(&generated)?;
        right_example += judged(&run.train)?;
        total_generated += generated.len();
        for c in 0..run.train.len() {
            let example = run.train.inputs.item(c);
            let siblings = &samples[c * k..(c + 1) * k];
            for (i, x) in siblings.iter().enumerate() {
                to_example.push(pixel_distance(x, example));
                for t in &siblings[i + 1..] {
                    between.push(pixel_distance(x, t));
                }
            }
            if r == 0 {
                grid.push(example.to_vec());
                grid.extend(siblings.iter().take(8).cloned());
            }
        }
    }
    let ms = 1e3 * started.elapsed().as_secs_f64() / total_generated.max(1) as f64;
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let examples: usize = runs.iter().map(|r| r.train.len()).sum();
    let (gen_acc, ex_acc) = (
        right_generated as f64 / total_generated.max(1) as f64,
        right_example as f64 / examples.max(1) as f64,
    );
    let mut grid_path = Value::Null;
    if let Some(dir) = pictures {
        let png = dir.join("omniglot-one-shot-run01.png");
        let items: Vec<&[f32]> = grid.iter().map(Vec::as_slice).collect();
        // Each example, then (up to 8 of) its siblings: one example a line.
        let columns = 1 + k.min(8);
        tl_data::images::write_grid_png(&png, &items, &[1, s.size, s.size], columns, true)?;
        grid_path = json!(png.display().to_string());
    }
    let row = json!({
        "part": "generate", "seed": seed, "runs": runs.len(), "examples": examples, "siblings": k,
        "example_judged_right_count": right_example, "generated_judged_right_count": right_generated,
        "generated": total_generated,
        "generated_judged_right": gen_acc, "example_judged_right": ex_acc,
        "distance_to_example": mean(&to_example),
        // One sibling has none to be compared with.
        "distance_between_siblings": if between.is_empty() { Value::Null } else { json!(mean(&between)) },
        "train_seconds": train_seconds, "ms_per_drawing": ms, "grid": grid_path,
    });
    log(&format!("seed {seed}: {row}"));
    Ok(row)
}

/// The table over the rows of every seed (mean ± spread when there are several).
pub fn generation_table(rows: &[Value]) -> String {
    let rows: Vec<&Value> = rows.iter().filter(|r| r["part"] == "generate").collect();
    let get = |k: &str| -> Vec<f64> { rows.iter().filter_map(|r| r[k].as_f64()).collect() };
    let pct = |k: &str| {
        let (m, s) = mean_std(&get(k));
        if rows.len() > 1 {
            format!("{:.2} ± {:.2} %", 100.0 * m, 100.0 * s)
        } else {
            format!("{:.2} %", 100.0 * m)
        }
    };
    let count = |k: &str, of: &str| {
        if rows.len() == 1 {
            format!(
                " ({} of {})",
                get(k).first().copied().unwrap_or(0.0),
                get(of).first().copied().unwrap_or(0.0)
            )
        } else {
            String::new()
        }
    };
    let dist = |k: &str| {
        let v = get(k);
        if v.is_empty() {
            "—".to_string()
        } else {
            format!("{:.3}", mean_std(&v).0)
        }
    };
    let first = |k: &str| get(k).first().copied().unwrap_or(0.0);
    let mut out = format!(
        "One-shot generation on Lake's {} runs ({} examples, {} siblings each), {} seeds, judged by the small1+small2 ProtoNet among each run's characters\n\n",
        first("runs"),
        first("examples"),
        first("siblings"),
        rows.len()
    );
    out += "| drawings judged | classified as their character | mean pixel distance to the example | between siblings |\n|---|---|---|---|\n";
    out += &format!(
        "| the one real example | {}{} | 0 | |\n",
        pct("example_judged_right"),
        count("example_judged_right_count", "examples")
    );
    out += &format!(
        "| generated siblings | {}{} | {} | {} |\n",
        pct("generated_judged_right"),
        count("generated_judged_right_count", "generated"),
        dist("distance_to_example"),
        dist("distance_between_siblings")
    );
    out += &format!(
        "\ngenerator trained in {:.0} s; {:.2} ms per generated drawing\n",
        mean_std(&get("train_seconds")).0,
        mean_std(&get("ms_per_drawing")).0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ink_keeps_the_most_probable_pixels_and_the_table_counts_them() {
        assert_eq!(with_ink(&[0.1, 0.9, 0.5, 0.7], 2), vec![0.0, 1.0, 0.0, 1.0]);
        assert!((pixel_distance(&[0.0, 1.0], &[1.0, 1.0]) - 0.5).abs() < 1e-12);
        let row = json!({"part": "generate", "seed": 0, "runs": 20, "examples": 400, "siblings": 10,
            "example_judged_right_count": 339, "generated_judged_right_count": 3170,
            "generated": 4000, "example_judged_right": 0.8475, "generated_judged_right": 0.7925,
            "distance_to_example": 0.063, "distance_between_siblings": 0.064,
            "train_seconds": 70.0, "ms_per_drawing": 0.5});
        let md = generation_table(&[row]);
        assert!(
            md.contains("Lake's 20 runs (400 examples, 10 siblings each), 1 seeds"),
            "{md}"
        );
        assert!(
            md.contains("| the one real example | 84.75 % (339 of 400) | 0 | |"),
            "{md}"
        );
        assert!(
            md.contains("| generated siblings | 79.25 % (3170 of 4000) | 0.063 | 0.064 |"),
            "{md}"
        );
        // One sibling each: no distance between siblings, shown as missing rather than 0.
        let one = json!({"part": "generate", "seed": 0, "generated_judged_right": 0.5,
            "distance_to_example": 0.07, "distance_between_siblings": null});
        let md = generation_table(&[one]);
        assert!(md.contains("| 0.070 | — |"), "{md}");
    }

    #[test]
    fn the_cache_loads_its_own_entry_and_trains_again_for_other_data_or_a_damaged_one() {
        let _guard = tl_core::device::seed_lock();
        let dev = tl_core::device::device("flex").unwrap();
        let dir = std::env::temp_dir().join(format!("tl-one-shot-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let set = |v: f32| {
            LabelledSet::new(
                Inputs::new(vec![2], vec![v, 0.0, 0.0, v]).unwrap(),
                vec![0, 1],
                vec!["a".into(), "b".into()],
                "tiny",
            )
            .unwrap()
        };
        let trainings = std::cell::Cell::new(0);
        let run = |data: &LabelledSet| {
            let fresh = || Ok(SequentialConfig::new(vec![2]).linear(3).init(&dev)?);
            let train = |m: Sequential| {
                trainings.set(trainings.get() + 1);
                Ok(m)
            };
            cached(&dir, "k", data, false, 0, &dev, fresh, train, &|_| {}).map(|(_, s)| s)
        };
        let (a, b) = (set(1.0), set(2.0));
        run(&a).unwrap();
        assert_eq!(trainings.get(), 1);
        // The same key and data: loaded, with the time recorded when it trained.
        assert!(run(&a).unwrap().is_finite());
        assert_eq!(trainings.get(), 1);
        // Other data under the same key: trained again, and that entry replaces the first.
        run(&b).unwrap();
        assert_eq!(trainings.get(), 2);
        run(&b).unwrap();
        assert_eq!(trainings.get(), 2);
        // Damaged weights, then damaged metadata: trained again each time, no error.
        std::fs::write(dir.join("k.bin"), b"not weights").unwrap();
        run(&b).unwrap();
        assert_eq!(trainings.get(), 3);
        std::fs::write(dir.join("k.json"), b"{").unwrap();
        run(&b).unwrap();
        assert_eq!(trainings.get(), 4);
        run(&b).unwrap();
        assert_eq!(trainings.get(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        let ok = OneShotSettings::default();
        assert!(ok.validate().is_ok());
        for (bad, key) in [
            (
                OneShotSettings {
                    size: 8,
                    ..ok.clone()
                },
                "size",
            ),
            (
                OneShotSettings {
                    siblings: 0,
                    ..ok.clone()
                },
                "siblings",
            ),
            (
                OneShotSettings {
                    train_way: 1,
                    ..ok.clone()
                },
                "train_way",
            ),
        ] {
            let e = bad.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn sets_read_at_another_size_are_refused_before_any_training() {
        let s = OneShotSettings::default();
        let side = s.size / 2;
        let set = |domain: &str| {
            LabelledSet::new(
                Inputs::new(vec![1, side, side], vec![0.0; 2 * side * side]).unwrap(),
                vec![0, 1],
                vec!["a".into(), "b".into()],
                domain,
            )
            .unwrap()
        };
        let sets = OmniglotSets {
            small1: set("small1"),
            small2: set("small2"),
            runs: Vec::new(),
        };
        let dev = tl_core::device::device("flex").unwrap();
        let log = |_: &str| panic!("nothing may start before the sizes are checked");
        let e = generation_seed(&s, &sets, 0, None, &dev, &log)
            .unwrap_err()
            .to_string();
        let want = format!("read at {side} px, the settings ask for {} px", s.size);
        assert!(e.contains(&want), "{e}");
    }
}
