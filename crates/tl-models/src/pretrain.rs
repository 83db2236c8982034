//! Pretraining: train an architecture on a labelled source set, save the weights with a
//! model card, and load them back, so users make their own pretrained models.

use crate::card::{CARD_FILE, InputSpec, ModelCard};
use crate::error::{ModelError, Result};
use burn::tensor::Device;
use std::collections::BTreeMap;
use std::path::Path;
use tl_core::checkpoint::{WEIGHTS_FILE, load_weights, remove_if_present, save_weights};
use tl_core::data::LabelledSet;
use tl_core::model::{Classifier, Sequential, SequentialConfig, count_params};
use tl_core::strategy::RunContext;
use tl_core::train::{TrainConfig, check_scorable};

/// What the card says about the model beyond what training measures.
#[derive(Debug, Clone)]
pub struct CardInfo {
    /// Short unique name.
    pub name: String,
    /// Architecture name.
    pub architecture: String,
    /// The task (`digit classification`).
    pub task: String,
    /// The domain of the source data.
    pub domain: String,
    /// Licence of the weights.
    pub license: String,
}

/// The data a pretraining run uses.
#[derive(Debug, Clone, Copy)]
pub struct PretrainData<'a> {
    /// Training set.
    pub train: &'a LabelledSet,
    /// Validation set (for early stopping), if any.
    pub valid: Option<&'a LabelledSet>,
    /// Test set whose metrics go on the card.
    pub test: &'a LabelledSet,
}

/// What to pretrain: the architecture (encoder and head configs), what its card says, and
/// the training.
#[derive(Debug, Clone)]
pub struct PretrainSpec {
    /// Encoder and head.
    pub configs: (SequentialConfig, SequentialConfig),
    /// What the card says beyond the measured figures.
    pub info: CardInfo,
    /// The training (its seed is the run's).
    pub train: TrainConfig,
}

/// Trains `spec` on `data.train` (validating on `data.valid`), scores it on `data.test`, and
/// saves `weights.bpk` and `card.json` into `dir`, with the run's seed, progress and
/// checkpoints. Returns the trained model and its card.
pub fn pretrain(
    spec: &PretrainSpec,
    data: PretrainData<'_>,
    dir: &Path,
    ctx: &mut RunContext<'_>,
) -> Result<(Classifier<Sequential>, ModelCard)> {
    let PretrainSpec {
        configs,
        info,
        train: config,
    } = spec;
    let PretrainData { train, valid, test } = data;
    let config = ctx.train_config(config);
    let device = ctx.device().clone();
    ctx.begin();
    let model = crate::arch::build(configs, &device)?;
    // The test set is checked before any training, so a bad one cannot cost the run.
    check_scorable(&model, test, "test")?;
    let out = ctx
        .trainer(config.clone())
        .fit(model, train, valid, &device)?;
    // Scored before anything is written, so that the weights and their card are written
    // back to back.
    let metrics = ctx.evaluate(&out.model, test)?;
    let card = ModelCard {
        name: info.name.clone(),
        architecture: info.architecture.clone(),
        encoder: Some(configs.0.clone()),
        head: Some(configs.1.clone()),
        task: info.task.clone(),
        label_names: train.class_names.clone(),
        source_dataset: train.domain.clone(),
        domain: info.domain.clone(),
        input: InputSpec {
            modality: "image".into(),
            shape: configs.0.input_shape.clone(),
            value_range: [0.0, 1.0],
            normalisation: "inside the model, if any".into(),
        },
        metrics: BTreeMap::from([
            ("test_accuracy".to_string(), metrics.accuracy),
            ("test_macro_f1".to_string(), metrics.macro_f1),
        ]),
        num_params: count_params(&out.model).total,
        license: info.license.clone(),
        provenance: format!(
            "trained by tl-models::pretrain on {} ({} items), config {}",
            train.domain,
            train.len(),
            serde_json::to_string(&config).unwrap_or_default()
        ),
        weights: WEIGHTS_FILE.into(),
    };
    // An older card goes first: a failure (or a kill) between the weights and the card then
    // leaves weights without a card, which loading refuses, never new weights under the old
    // card's labels and figures.
    remove_if_present(&dir.join(CARD_FILE)).map_err(|source| tl_core::CoreError::Io {
        path: dir.join(CARD_FILE),
        source,
    })?;
    save_weights(&out.model, &dir.join(WEIGHTS_FILE))?;
    card.save(&dir.join(CARD_FILE))?;
    Ok((out.model, card))
}

/// Loads a model saved by [`pretrain`] (or any folder with a card naming `Sequential`
/// encoder and head configs and burnpack weights).
pub fn load_pretrained(dir: &Path, device: &Device) -> Result<(Classifier<Sequential>, ModelCard)> {
    let card_path = dir.join(CARD_FILE);
    let card = ModelCard::load(&card_path)?;
    let (Some(encoder), Some(head)) = (&card.encoder, &card.head) else {
        return Err(ModelError::Card {
            path: card_path,
            reason: "no encoder/head configuration: not a Sequential model".into(),
        });
    };
    let model = Classifier::new(encoder.init(device)?, head.init(device)?)?;
    let model = load_weights(model, &dir.join(&card.weights))?;
    Ok((model, card))
}
