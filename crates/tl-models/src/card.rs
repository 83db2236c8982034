//! Model cards: what a pretrained model was trained for, on what, and how well; and a
//! catalogue that finds the cards under a folder.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tl_core::checkpoint::write_json;
use tl_core::model::SequentialConfig;
use walkdir::WalkDir;

/// File name of a card inside a model folder.
pub const CARD_FILE: &str = "card.json";

/// What a model accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// `"image"` or `"text"`.
    pub modality: String,
    /// Item shape, e.g. `[1, 28, 28]`.
    pub shape: Vec<usize>,
    /// Range of the raw values the model expects, e.g. `[0, 1]`.
    pub value_range: [f32; 2],
    /// Normalisation applied inside the model, in words.
    pub normalisation: String,
}

/// A model card, saved as JSON beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Short name, unique in a catalogue.
    pub name: String,
    /// Architecture name (`mnist-cnn`, `lenet5`, `mlp`...).
    pub architecture: String,
    /// Encoder configuration, when the model is a `Sequential` encoder.
    pub encoder: Option<SequentialConfig>,
    /// Head configuration.
    pub head: Option<SequentialConfig>,
    /// The task it was trained for (`digit classification`).
    pub task: String,
    /// Names of its output classes.
    pub label_names: Vec<String>,
    /// The data set it was trained on.
    pub source_dataset: String,
    /// The domain of that data (`handwritten digits, 28x28 grey`).
    pub domain: String,
    /// What it takes.
    pub input: InputSpec,
    /// Metrics on its own test set (`accuracy` -> 0.9906).
    pub metrics: BTreeMap<String, f64>,
    /// Number of parameters.
    pub num_params: usize,
    /// Licence of the weights.
    pub license: String,
    /// Where the weights come from.
    pub provenance: String,
    /// Weights file, relative to the card.
    pub weights: String,
}

impl ModelCard {
    /// Reads a card and checks it holds together.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Card {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a card (read from `path`, which errors name) and checks it holds
    /// together.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let fail = |reason: String| ModelError::Card {
            path: path.to_path_buf(),
            reason,
        };
        let card: Self = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        if card.name.trim().is_empty() {
            return Err(fail("empty name".into()));
        }
        if card.input.shape.is_empty() || card.input.shape.contains(&0) {
            return Err(fail(format!(
                "input shape {:?} is not valid",
                card.input.shape
            )));
        }
        if let Some(enc) = &card.encoder
            && enc.input_shape != card.input.shape
        {
            return Err(fail(format!(
                "the encoder takes {:?} but the input spec says {:?}",
                enc.input_shape, card.input.shape
            )));
        }
        Ok(card)
    }

    /// Writes the card atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(write_json(path, self)?)
    }
}

/// The cards found under a folder, with the folder each came from.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// `(card, folder)` pairs, by name.
    pub entries: Vec<(ModelCard, PathBuf)>,
}

impl Catalogue {
    /// Reads every `card.json` under `root` (recursively, following symbolic links). A card
    /// that does not parse is an error naming it; folders that cannot be read, broken links
    /// and links back to a folder above them (a cycle) are skipped.
    pub fn scan(root: &Path) -> Result<Self> {
        let mut entries = Vec::new();
        let walk = WalkDir::new(root)
            .min_depth(1)
            .follow_links(true)
            .sort_by_file_name();
        // walkdir yields a cycle as an error entry instead of walking it again.
        for entry in walk.into_iter().filter_map(|e| e.ok()) {
            if !entry.file_type().is_dir() && entry.file_name() == CARD_FILE {
                let dir = entry.path().parent().unwrap_or(root).to_path_buf();
                entries.push((ModelCard::load(entry.path())?, dir));
            }
        }
        entries.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(Self { entries })
    }

    /// Cards of a modality whose input shape is `shape` (any shape when `None`) and whose
    /// task mentions `task` (any task when empty).
    pub fn filter(&self, modality: &str, task: &str, shape: Option<&[usize]>) -> Vec<&ModelCard> {
        self.entries
            .iter()
            .map(|(c, _)| c)
            .filter(|c| c.input.modality == modality)
            .filter(|c| task.is_empty() || c.task.contains(task))
            .filter(|c| shape.is_none_or(|s| c.input.shape == s))
            .collect()
    }
}
