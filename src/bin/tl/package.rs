//! Model packages: what `tl run` saves for every row and seed, and what `tl predict` and `tl
//! report` load: the weights, the architecture, the label names and the text model that turns
//! a text into the vector the model takes.

use crate::recipe::ModelSpec;
use serde::{Deserialize, Serialize};
use std::error::Error;
use std::path::{Path, PathBuf};
use tl::prelude::*;
use tl::tl_core::checkpoint::{load_weights, remove_if_present, save_weights, write_json};
use tl::tl_text::BertTop;

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
    /// The encoder, when it is a `Sequential` stack (on text vectors or images). Absent when
    /// the text model's top layers trained (`text_model.train_layers`): those layers are
    /// then built from the text model and read from the weights.
    #[serde(default)]
    pub encoder: Option<SequentialConfig>,
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

/// The folder of every row's packages in a run folder.
pub fn models_dir(run: &Path) -> PathBuf {
    run.join("models")
}

/// The folder of one row and seed in a run folder.
pub fn folder(run: &Path, label: &str, seed: u64) -> PathBuf {
    models_dir(run)
        .join(slug(label))
        .join(format!("seed-{seed}"))
}

/// Whether `dir` holds a package's card (written after its weights: a folder with a card
/// has both).
pub fn is_package(dir: &Path) -> bool {
    dir.join(CARD).is_file()
}

pub use crate::recipe::slug;

/// An encoder `tl run` packages: its architecture for the card, and its weights as saved.
pub trait Packaged: Encoder + Sized + 'static {
    /// The architecture the card states (`None`: rebuilt from the text model).
    fn card_config(model: &Classifier<Self>) -> Option<SequentialConfig>;
    /// The weights `tl predict` loads: LoRA adapters folded into their weights, so that the
    /// package loads into the plain architecture.
    fn saved(model: &Classifier<Self>) -> Classifier<Self> {
        tl::tl_inductive::lora::merge(model.clone())
    }
}

impl Packaged for Sequential {
    fn card_config(model: &Classifier<Self>) -> Option<SequentialConfig> {
        Some(model.encoder.config().clone())
    }
}

impl Packaged for BertTop {
    fn card_config(_: &Classifier<Self>) -> Option<SequentialConfig> {
        None
    }
}

/// A packaged classifier, by its encoder.
pub enum Model {
    /// A `Sequential` encoder (text vectors or images).
    Vectors(Classifier<Sequential>),
    /// MiniLM's top layers on cached token states.
    Layers(Classifier<BertTop>),
}

impl Model {
    /// Class probabilities of every item of `set`, row by row.
    pub fn probabilities(&self, set: &LabelledSet, device: &Device) -> Res<Vec<f32>> {
        use tl::tl_models::transferability::probabilities;
        Ok(match self {
            Model::Vectors(m) => probabilities(m, set, device)?,
            Model::Layers(m) => probabilities(m, set, device)?,
        })
    }

    /// Accuracy on `set`.
    pub fn accuracy(&self, set: &LabelledSet, device: &Device) -> Res<f64> {
        Ok(match self {
            Model::Vectors(m) => evaluate(m, set, device, 256)?.accuracy,
            Model::Layers(m) => evaluate(m, set, device, 64)?.accuracy,
        })
    }
}

/// Saves `model` and its card under `dir`: the weights first, the card last, so a folder
/// with a card always has its weights.
pub fn save<E: Packaged>(dir: &Path, model: &Classifier<E>, card: &PackageCard) -> Res<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // An older card goes first: a run stopped between the two writes leaves weights without
    // a card (not a package, said by name) rather than new weights under an old card.
    remove_if_present(&dir.join(CARD))
        .map_err(|e| format!("cannot replace {}: {e}", dir.join(CARD).display()))?;
    save_weights(&E::saved(model), &dir.join(WEIGHTS))?;
    write_json(&dir.join(CARD), card)?;
    Ok(())
}

/// Reads and checks a package's card.
pub fn read_card(dir: &Path) -> Res<PackageCard> {
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
    // Sizes are checked before anything is allocated from them (an edited card).
    if let Some(encoder) = &card.encoder
        && encoder.input_shape != card.item_shape
    {
        return Err(format!(
            "{}: the encoder takes items of shape {:?} and the card says {:?}",
            card_path.display(),
            encoder.input_shape,
            card.item_shape
        )
        .into());
    }
    if let [_, h, w] = card.item_shape[..] {
        for side in [h, w] {
            tl::tl_data::transform::check_side(
                side,
                &format!("{}: item_shape", card_path.display()),
            )?;
        }
    }
    if card.head.output_dim()? != card.class_names.len() {
        return Err(format!(
            "{}: the head predicts {} classes and the card names {}",
            card_path.display(),
            card.head.output_dim()?,
            card.class_names.len()
        )
        .into());
    }
    Ok(card)
}

/// Loads a package: the classifier (built from the card, then its weights) and the card. A
/// package of trained text-model layers is built on `top`, those layers as the text model
/// has them (the caller's `Featuriser::top`, which it has loaded for the texts anyway).
pub fn load(dir: &Path, device: &Device, top: Option<BertTop>) -> Res<(Model, PackageCard)> {
    let card = read_card(dir)?;
    let head = card.head.init(device)?;
    let weights = dir.join(WEIGHTS);
    let model = match (&card.encoder, top) {
        (Some(encoder), _) => Model::Vectors(load_weights(
            Classifier::new(encoder.init(device)?, head)?,
            &weights,
        )?),
        (None, Some(top)) => Model::Layers(load_weights(Classifier::new(top, head)?, &weights)?),
        (None, None) => {
            return Err(format!(
                "{}: the card states no encoder, and no text model's layers were given",
                dir.join(CARD).display()
            )
            .into());
        }
    };
    Ok((model, card))
}
