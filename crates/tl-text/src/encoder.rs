//! A sentence encoder loaded from a Hugging Face model folder: tokenizer + BERT + pooling.

use crate::bert::{Bert, bert_key_map};
use crate::config::{BertConfig, SentenceConfig};
use crate::error::{Result, TextError};
use crate::tokenize::{TextTokenizer, Truncation};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::path::{Path, PathBuf};
use tl_core::data::Inputs;
use tl_core::model::{Classifier, head_config};
use tl_models::import::{ImportReport, load_pytorch, load_safetensors};

/// The files a model folder is read from.
pub const CONFIG_FILE: &str = "config.json";
/// The Hugging Face tokenizer.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Weights as safetensors (preferred).
pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// Weights as a PyTorch `state_dict` (used when there is no safetensors file).
pub const PYTORCH_FILE: &str = "pytorch_model.bin";

/// Options for [`SentenceEncoder::load_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Longest token sequence (special tokens included); longer texts are cut. Defaults to
    /// the folder's `max_seq_length` (sentence-transformers), else the model's position
    /// embeddings. A value above the position embeddings is an error.
    pub max_len: Option<usize>,
    /// Which word pieces of a longer text are kept: its first ones (the default, as
    /// sentence-transformers does), or its head and its tail.
    pub truncation: Truncation,
}

/// A pretrained BERT-family sentence encoder with its tokenizer.
#[derive(Debug, Clone)]
pub struct SentenceEncoder {
    model: Bert,
    tokenizer: TextTokenizer,
    folder: PathBuf,
    weights: PathBuf,
    report: ImportReport,
}

impl SentenceEncoder {
    /// Loads a model folder with default options.
    pub fn load(folder: &Path, device: &Device) -> Result<Self> {
        Self::load_with(folder, LoadOptions::default(), device)
    }

    /// Loads `config.json`, `tokenizer.json`, the weights (`model.safetensors`, else
    /// `pytorch_model.bin`) and the sentence-transformers pooling files of `folder`.
    pub fn load_with(folder: &Path, options: LoadOptions, device: &Device) -> Result<Self> {
        if !folder.is_dir() {
            return Err(TextError::MissingFolder(folder.to_path_buf()));
        }
        let need = |file: &str| -> Result<PathBuf> {
            let path = folder.join(file);
            if path.is_file() {
                Ok(path)
            } else {
                Err(TextError::MissingFile {
                    folder: folder.to_path_buf(),
                    file: file.into(),
                    hint: "a Hugging Face model folder has config.json, tokenizer.json and \
                           model.safetensors (or pytorch_model.bin)"
                        .into(),
                })
            }
        };
        let config_path = need(CONFIG_FILE)?;
        let tokenizer_path = need(TOKENIZER_FILE)?;
        let weights = need(SAFETENSORS_FILE)
            .or_else(|_| need(PYTORCH_FILE))
            .map_err(|_| TextError::MissingFile {
                folder: folder.to_path_buf(),
                file: format!("{SAFETENSORS_FILE}` or `{PYTORCH_FILE}"),
                hint: "the weights are missing".into(),
            })?;
        let config = BertConfig::load(&config_path)?;
        // Bounded memory: a config that asks for more parameters than its weights file can
        // hold (at 16 bits each, the smallest float the loaders take) is refused before the
        // model is built, so absurd sizes never reach the allocator.
        let file_len = std::fs::metadata(&weights)
            .map_err(|e| TextError::format(&weights, e.to_string()))?
            .len() as u128;
        let needed = config.num_params() * 2;
        if needed > file_len + (1 << 20) {
            return Err(TextError::format(
                &config_path,
                format!(
                    "the config asks for {} parameters ({:.1} MB even at 16 bits) and {} holds {:.1} MB: sizes that do not fit the weights",
                    config.num_params(),
                    needed as f64 / 1e6,
                    weights.display(),
                    file_len as f64 / 1e6
                ),
            ));
        }
        let sentence = SentenceConfig::load(folder)?;
        let positions = config.max_position_embeddings;
        let max_len = options
            .max_len
            .or(sentence.max_seq_length)
            .unwrap_or(positions);
        if max_len > positions {
            return Err(TextError::InvalidInput(format!(
                "max_len {max_len} exceeds the model's {positions} position embeddings"
            )));
        }
        let tokenizer =
            TextTokenizer::load(&tokenizer_path, max_len)?.with_truncation(options.truncation)?;
        tokenizer.check_against(config.vocab_size, config.pad_token_id)?;
        let model = Bert::new(&config, sentence.pooling, max_len, device)?;
        let map = bert_key_map();
        let is_safetensors = weights.extension().is_some_and(|e| e == "safetensors");
        let (model, report) = if is_safetensors {
            load_safetensors(model, &weights, &map)?
        } else {
            load_pytorch(model, &weights, &map)?
        };
        Ok(Self {
            model,
            tokenizer,
            folder: folder.to_path_buf(),
            weights,
            report,
        })
    }

    /// The network (an [`tl_core::model::Encoder`] from padded ids to sentence vectors), as
    /// loaded: clone it to fine-tune. The encoder itself never changes after loading, which is
    /// what lets [`crate::EmbeddingCache`] key its vectors by the folder's files.
    pub fn model(&self) -> &Bert {
        &self.model
    }

    /// The tokenizer, cutting at the model's maximum length.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The folder it was loaded from.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The weights file it was loaded from.
    pub fn weights_file(&self) -> &Path {
        &self.weights
    }

    /// What the weight import applied and left unused (e.g. the pooler).
    pub fn import_report(&self) -> &ImportReport {
        &self.report
    }

    /// Longest token sequence; longer texts are cut.
    pub fn max_len(&self) -> usize {
        self.tokenizer.max_len()
    }

    /// Width of the sentence vectors.
    pub fn dim(&self) -> usize {
        self.model.info().config.hidden_size
    }

    /// Token ids of each text (with `[CLS]`/`[SEP]`, cut at [`Self::max_len`]).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        self.tokenizer.encode_all(texts)
    }

    /// Sentence vectors of `texts`, `texts.len() * dim` values row by row, in input order.
    ///
    /// Texts are grouped by length so that each batch is padded only to its own longest
    /// member; `progress(done, total)` is called after every batch.
    pub fn embed(
        &self,
        texts: &[&str],
        batch_size: usize,
        device: &Device,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f32>> {
        let ids = self.tokenize(texts)?;
        let dim = self.dim();
        let model = self.model.valid();
        let mut out = vec![0.0f32; ids.len() * dim];
        self.sorted_batches(
            &ids,
            batch_size,
            device,
            &mut progress,
            |chunk, ids_t, pad| {
                let vectors = model.embed(ids_t, pad).into_data();
                let values = vectors
                    .as_slice::<f32>()
                    .map_err(|e| TextError::InvalidInput(format!("embedding readback: {e:?}")))?;
                for (row, &i) in chunk.iter().enumerate() {
                    out[i * dim..(i + 1) * dim]
                        .copy_from_slice(&values[row * dim..(row + 1) * dim]);
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Runs `f` on batches of `ids` grouped by length (longest first), each padded to its own
    /// longest row on `device` without autodiff: `f(rows, ids, pad)` gets the batch's row
    /// indices into `ids`. `progress(done, total)` after each batch.
    pub(crate) fn sorted_batches(
        &self,
        ids: &[Vec<u32>],
        batch_size: usize,
        device: &Device,
        progress: &mut impl FnMut(usize, usize),
        mut f: impl FnMut(&[usize], Tensor<2, Int>, Tensor<2, burn::tensor::Bool>) -> Result<()>,
    ) -> Result<()> {
        if batch_size == 0 {
            return Err(TextError::InvalidInput(
                "batch_size must be at least 1".into(),
            ));
        }
        let plain = device.clone().without_autodiff();
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut done = 0;
        for chunk in order.chunks(batch_size) {
            let rows: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
            let (ids_t, pad) = padded_batch(&rows, self.tokenizer.pad_id(), &plain);
            f(chunk, ids_t, pad)?;
            done += chunk.len();
            progress(done, ids.len());
        }
        Ok(())
    }

    /// The encoder with a fresh linear head for `classes` classes, ready for fine-tuning with
    /// the shared trainer (load the encoder on `device.autodiff()` to train it). Its
    /// [`tl_core::model::Encoder::blocks`] are the embeddings and each transformer layer, for
    /// freezing and per-layer learning rates.
    pub fn classifier(&self, classes: usize, device: &Device) -> Result<Classifier<Bert>> {
        let head = head_config(self.dim(), &[], classes).init(device)?;
        Ok(Classifier::new(self.model.clone(), head)?)
    }

    /// The texts as model inputs for training through the shared machinery: each item is
    /// [`Self::max_len`] token ids (as `f32`), right-padded with the pad id; the model cuts
    /// each batch to its longest row.
    pub fn token_inputs(&self, texts: &[&str]) -> Result<Inputs> {
        let ids = self.tokenize(texts)?;
        Ok(ids_to_inputs(
            &ids,
            self.max_len(),
            self.tokenizer.pad_id(),
        )?)
    }
}

/// Right-pads token-id rows to their longest member.
///
/// Returns the ids `[batch, longest]` and the padding mask (`true` = padding).
pub fn padded_batch(
    rows: &[&[u32]],
    pad_id: u32,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, burn::tensor::Bool>) {
    let longest = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
    let mut ids = Vec::with_capacity(rows.len() * longest);
    let mut pad = Vec::with_capacity(rows.len() * longest);
    for row in rows {
        for j in 0..longest {
            match row.get(j) {
                Some(&id) => {
                    ids.push(id as i64);
                    pad.push(false);
                }
                None => {
                    ids.push(pad_id as i64);
                    pad.push(true);
                }
            }
        }
    }
    let shape = [rows.len(), longest];
    (
        Tensor::from_data(TensorData::new(ids, shape), device),
        Tensor::from_data(TensorData::new(pad, shape), device),
    )
}

/// Token-id rows as fixed-length [`Inputs`] (`[len]` items of `f32` ids, right-padded).
pub fn ids_to_inputs(ids: &[Vec<u32>], len: usize, pad_id: u32) -> tl_core::Result<Inputs> {
    let mut values = Vec::with_capacity(ids.len() * len);
    for (i, row) in ids.iter().enumerate() {
        if row.len() > len {
            return Err(tl_core::CoreError::InvalidData {
                name: "token ids".into(),
                reason: format!("row {i} has {} tokens, more than {len}", row.len()),
            });
        }
        values.extend(row.iter().map(|&id| id as f32));
        values.extend(std::iter::repeat_n(pad_id as f32, len - row.len()));
    }
    Inputs::new(vec![len], values)
}
