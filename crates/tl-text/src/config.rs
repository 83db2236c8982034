//! The configuration files of a Hugging Face / sentence-transformers model folder.
//!
//! Sizes are read from `config.json`, so any BERT-family checkpoint of the standard layout
//! loads (MiniLM, BERT-base, ...); pooling and the maximum length come from the
//! sentence-transformers files when they are present.

use crate::error::{Result, TextError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The fields of a Hugging Face BERT `config.json` this encoder uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size (rows of the word embedding).
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer; only `gelu` (the exact, erf-based one) is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Number of position embeddings (the longest input the model takes).
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Epsilon of every layer norm.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: usize,
    /// Dropout on hidden states during training.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// `bert` for this layout.
    #[serde(default)]
    pub model_type: Option<String>,
    /// Only `absolute` positions are supported.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}

/// Model types that share BERT's layout of weights and computation.
const BERT_LIKE: &[&str] = &["bert"];

impl BertConfig {
    /// The number of parameters this configuration builds (embeddings, every layer's
    /// attention, feed-forward and norms, the pooler), counted without overflow: what a
    /// weights file must hold before anything is allocated.
    pub fn num_params(&self) -> u128 {
        let (h, i) = (self.hidden_size as u128, self.intermediate_size as u128);
        let embeddings = (self.vocab_size as u128
            + self.max_position_embeddings as u128
            + self.type_vocab_size as u128)
            * h
            + 2 * h;
        let layer = 4 * (h * h + h) + 2 * h + (h * i + i) + (i * h + h) + 2 * h;
        embeddings + self.num_hidden_layers as u128 * layer + h * h + h
    }

    /// Reads and checks a `config.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| TextError::io(path, e))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| TextError::format(path, format!("not a BERT config.json: {e}")))?;
        config.check(path)?;
        Ok(config)
    }

    /// Refuses configurations this implementation would compute wrongly.
    pub fn check(&self, path: &Path) -> Result<()> {
        let unsupported = |reason: String| TextError::Unsupported {
            path: path.to_path_buf(),
            reason,
        };
        if let Some(kind) = &self.model_type
            && !BERT_LIKE.contains(&kind.as_str())
        {
            return Err(unsupported(format!(
                "model_type `{kind}`; this loader reads BERT-family checkpoints (model_type `bert`)"
            )));
        }
        if self.hidden_act != "gelu" {
            return Err(unsupported(format!(
                "hidden_act `{}`; only `gelu` is implemented",
                self.hidden_act
            )));
        }
        if let Some(kind) = &self.position_embedding_type
            && kind != "absolute"
        {
            return Err(unsupported(format!(
                "position_embedding_type `{kind}`; only `absolute` is implemented"
            )));
        }
        let zero = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, _)) = zero.iter().find(|(_, v)| *v == 0) {
            return Err(TextError::format(path, format!("{name} is 0")));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(TextError::format(
                path,
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            ));
        }
        if !(self.hidden_dropout_prob.is_finite() && (0.0..1.0).contains(&self.hidden_dropout_prob))
        {
            return Err(TextError::format(
                path,
                format!(
                    "hidden_dropout_prob {} is outside [0, 1)",
                    self.hidden_dropout_prob
                ),
            ));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps > 0.0) {
            return Err(TextError::format(
                path,
                format!("layer_norm_eps {} must be > 0", self.layer_norm_eps),
            ));
        }
        if self.pad_token_id >= self.vocab_size {
            return Err(TextError::format(
                path,
                format!(
                    "pad_token_id {} is outside the vocabulary of {}",
                    self.pad_token_id, self.vocab_size
                ),
            ));
        }
        Ok(())
    }
}

/// How token states become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolingMode {
    /// Mean over the tokens the attention mask keeps.
    Mean,
    /// The state of the first token (`[CLS]`).
    Cls,
    /// Element-wise maximum over the kept tokens.
    Max,
}

/// Pooling and normalisation of a sentence-transformers model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pooling {
    /// The pooling mode.
    pub mode: PoolingMode,
    /// Whether the pooled vector is scaled to unit length.
    pub normalize: bool,
}

impl Default for Pooling {
    fn default() -> Self {
        Self {
            mode: PoolingMode::Mean,
            normalize: true,
        }
    }
}

#[derive(Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

/// What the sentence-transformers files of a folder say; defaults (mean pooling,
/// normalisation, no length limit beyond the model's) when the folder is a plain
/// Hugging Face model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentenceConfig {
    /// Pooling and normalisation.
    pub pooling: Pooling,
    /// `max_seq_length` of `sentence_bert_config.json`, if present.
    pub max_seq_length: Option<usize>,
}

impl SentenceConfig {
    /// Reads `modules.json`, the pooling config and `sentence_bert_config.json` of `folder`.
    pub fn load(folder: &Path) -> Result<Self> {
        let modules_path = folder.join("modules.json");
        let mut pooling = Pooling::default();
        if modules_path.exists() {
            let text = read(&modules_path)?;
            let modules: Vec<ModuleEntry> = serde_json::from_str(&text).map_err(|e| {
                TextError::format(&modules_path, format!("not a modules.json: {e}"))
            })?;
            pooling.normalize = modules.iter().any(|m| m.kind.ends_with(".Normalize"));
            for module in &modules {
                let kind = module.kind.rsplit('.').next().unwrap_or_default();
                match kind {
                    "Transformer" | "Normalize" => {}
                    "Pooling" => {
                        let path = folder.join(&module.path).join("config.json");
                        pooling.mode = read_pooling(&path)?;
                    }
                    other => {
                        return Err(TextError::Unsupported {
                            path: modules_path.clone(),
                            reason: format!(
                                "sentence-transformers module `{other}`; supported: Transformer, Pooling, Normalize"
                            ),
                        });
                    }
                }
            }
        } else {
            let path = folder.join("1_Pooling").join("config.json");
            if path.exists() {
                pooling.mode = read_pooling(&path)?;
            }
        }
        let sbert_path = folder.join("sentence_bert_config.json");
        let max_seq_length = if sbert_path.exists() {
            let text = read(&sbert_path)?;
            let sbert: SentenceBertConfig = serde_json::from_str(&text).map_err(|e| {
                TextError::format(&sbert_path, format!("not a sentence_bert_config.json: {e}"))
            })?;
            sbert.max_seq_length
        } else {
            None
        };
        Ok(Self {
            pooling,
            max_seq_length,
        })
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| TextError::io(path, e))
}

fn read_pooling(path: &Path) -> Result<PoolingMode> {
    let text = read(path)?;
    let file: PoolingFile = serde_json::from_str(&text)
        .map_err(|e| TextError::format(path, format!("not a pooling config: {e}")))?;
    let modes = [
        (file.pooling_mode_mean_tokens, PoolingMode::Mean),
        (file.pooling_mode_cls_token, PoolingMode::Cls),
        (file.pooling_mode_max_tokens, PoolingMode::Max),
    ];
    let chosen: Vec<PoolingMode> = modes.iter().filter(|m| m.0).map(|m| m.1).collect();
    if file.pooling_mode_mean_sqrt_len_tokens || chosen.len() != 1 {
        return Err(TextError::Unsupported {
            path: path.to_path_buf(),
            reason: "pooling must be exactly one of mean, cls or max tokens".into(),
        });
    }
    Ok(chosen[0])
}
