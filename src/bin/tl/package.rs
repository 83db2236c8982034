//! Model packages: what `tl run` saves for every row and seed, and what `tl predict` and `tl
//! report` load: the weights, the architecture, the label names and the text model that turns
//! a text into the vector the model takes.

use crate::recipe::ModelSpec;
use serde::{Deserialize, Serialize};
use std::error::Error;
use std::path::{Path, PathBuf};
use tl::prelude::*;
use tl::tl_core::checkpoint::{load_weights, save_weights, write_json};

type Res<T> = Result<T, Box<dyn Error>>;

/// The card of a package (`package.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageCard {
    /// The row of the run (`deep-coral`).
    pub strategy: String,
    /// The seed it ran with.
    pub seed: u64,
    /// The recipe's title.
    pub recipe: String,
    /// Names of the classes, in output order.
    pub class_names: Vec<String>,
    /// What one item is: `[dim]` for text vectors, `[c, h, w]` for images.
    pub item_shape: Vec<usize>,
    /// The encoder.
    pub encoder: SequentialConfig,
    /// The head.
    pub head: SequentialConfig,
    /// For text: the frozen text model whose vectors the encoder takes.
    pub text_model: Option<ModelSpec>,
    /// Its accuracy where the run scored it, and on what.
    pub accuracy: f64,
    /// What scored it.
    pub scored_on: String,
}

/// File names in a package folder.
const CARD: &str = "package.json";
const WEIGHTS: &str = "weights.bpk";

/// The folder of one row and seed in a run folder.
pub fn folder(run: &Path, label: &str, seed: u64) -> PathBuf {
    let slug: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '+' {
                c
            } else {
                '_'
            }
        })
        .collect();
    run.join("models").join(slug).join(format!("seed-{seed}"))
}

/// Saves `model` (LoRA adapters folded into their weights) and its card under `dir`: the
/// weights first, the card last, so a folder with a card always has its weights.
pub fn save(dir: &Path, model: &Classifier<Sequential>, card: &PackageCard) -> Res<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let model = tl::tl_inductive::lora::merge(model.clone());
    save_weights(&model, &dir.join(WEIGHTS))?;
    write_json(&dir.join(CARD), card)?;
    Ok(())
}

/// Loads a package: the classifier (built from the card, then its weights) and the card.
pub fn load(dir: &Path, device: &Device) -> Res<(Classifier<Sequential>, PackageCard)> {
    let card_path = dir.join(CARD);
    if !card_path.is_file() {
        return Err(format!(
            "{} is not a model package (no {CARD}; `tl run` writes them under RUN/models/ROW/seed-N)",
            dir.display()
        )
        .into());
    }
    let text = std::fs::read_to_string(&card_path)
        .map_err(|e| format!("cannot read {}: {e}", card_path.display()))?;
    let card: PackageCard = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a package card: {e}", card_path.display()))?;
    if card.head.output_dim()? != card.class_names.len() {
        return Err(format!(
            "{}: the head predicts {} classes and the card names {}",
            card_path.display(),
            card.head.output_dim()?,
            card.class_names.len()
        )
        .into());
    }
    let model = Classifier::new(card.encoder.init(device)?, card.head.init(device)?)?;
    let model = load_weights(model, &dir.join(WEIGHTS))?;
    Ok((model, card))
}
