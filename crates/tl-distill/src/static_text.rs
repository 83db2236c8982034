//! A static text student distilled from a transformer sentence encoder, after the Model2Vec
//! recipe (Tulkens and van Dongen 2024): every vocabulary token goes through the teacher once
//! (as `[SEP] token [CLS]`, the order Model2Vec found best, mean of the three output states),
//! the vectors are reduced by PCA (256 dimensions by default), and each is weighted by SIF
//! (`a / (a + p)`, `a = 1e-4`) with the token's probability `p` estimated from its rank in the
//! vocabulary by Zipf's law. A sentence is the mean of its tokens' vectors, L2-normalised. No
//! training data, no gradient steps: a lookup table and a tokenizer.
//!
//! [`StaticEmbedding::encoder`] turns it into a Burn module ([`StaticEncoder`], a
//! `tl_core::model::Encoder` over token-id inputs) to fine-tune on a labelled set with any
//! strategy.

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tl_core::checkpoint::write_atomic;
use tl_core::model::Encoder;
use tl_core::{CoreError, Result};
use tl_text::{SentenceEncoder, TextTokenizer};

/// Settings of the distillation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticConfig {
    /// Dimensions kept by PCA (at most the teacher's width); `None` keeps the raw vectors.
    pub pca_dims: Option<usize>,
    /// SIF coefficient `a` of the Zipf weights, in (0, 1); `None` for no weighting.
    pub sif_coefficient: Option<f64>,
    /// Tokens per forward pass of the teacher.
    pub batch_size: usize,
}

impl Default for StaticConfig {
    fn default() -> Self {
        Self {
            pca_dims: Some(256),
            sif_coefficient: Some(1e-4),
            batch_size: 1024,
        }
    }
}

impl StaticConfig {
    fn validate(&self, width: usize) -> Result<()> {
        if let Some(d) = self.pca_dims
            && (d == 0 || d > width)
        {
            return Err(CoreError::config(
                "pca_dims",
                format!("{d} is outside 1..={width} (the teacher's width)"),
            ));
        }
        if let Some(a) = self.sif_coefficient
            && !(a > 0.0 && a < 1.0)
        {
            return Err(CoreError::config(
                "sif_coefficient",
                format!("{a} is outside (0, 1)"),
            ));
        }
        if self.batch_size == 0 {
            return Err(CoreError::config("batch_size", "must be at least 1"));
        }
        Ok(())
    }
}

/// What the distillation saw, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticInfo {
    /// The teacher's folder name.
    pub teacher: String,
    /// Rows of the table (the tokenizer's vocabulary).
    pub vocab_size: usize,
    /// Width of the vectors.
    pub dim: usize,
    /// Tokens that got a vector (the rest, `[unusedN]` and special tokens, are skipped).
    pub tokens_kept: usize,
    /// Share of the teacher's variance PCA kept (1 without PCA).
    pub explained_variance: f64,
    /// The settings.
    pub config: StaticConfig,
}

/// The static student: one vector per vocabulary token and the teacher's tokenizer.
#[derive(Debug, Clone)]
pub struct StaticEmbedding {
    info: StaticInfo,
    /// `vocab_size * dim` values, row by row.
    vectors: Vec<f32>,
    /// Tokens that count in a sentence's mean (false for special and unused tokens).
    keep: Vec<bool>,
    tokenizer: TextTokenizer,
    tokenizer_json: Vec<u8>,
}

const VECTORS_FILE: &str = "vectors.f32";
const INFO_FILE: &str = "static.json";
const TOKENIZER_FILE: &str = "tokenizer.json";
/// No cut: a static model has no sequence limit.
const NO_LIMIT: usize = 1 << 24;

fn text_err(what: &str, e: impl std::fmt::Display) -> CoreError {
    CoreError::data(what, e.to_string())
}

fn is_unused(token: &str) -> bool {
    token
        .strip_prefix("[unused")
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

impl StaticEmbedding {
    /// Distils `teacher` (frozen, inference mode, on `device`): every vocabulary token except
    /// `[unusedN]` and the special tokens through the network, then PCA and SIF weights.
    /// `progress(done, total)` is called after every batch of tokens.
    pub fn distill(
        teacher: &SentenceEncoder,
        config: &StaticConfig,
        device: &Device,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
        let width = teacher.dim();
        config.validate(width)?;
        let tokenizer_path = teacher.folder().join(TOKENIZER_FILE);
        let tokenizer_json =
            std::fs::read(&tokenizer_path).map_err(|e| text_err("tokenizer.json", e))?;
        let tokenizer = TextTokenizer::from_bytes(&tokenizer_json, NO_LIMIT)
            .map_err(|e| text_err("tokenizer.json", e))?;
        let vocab = tokenizer.vocab_size();
        // The ids the tokenizer puts first and last (BERT's [CLS] and [SEP]).
        let probe = tokenizer
            .encode("A")
            .map_err(|e| text_err("tokenizer", e))?;
        let (bos, eos) = match probe.as_slice() {
            [b, .., e] if probe.len() >= 3 => (*b, *e),
            _ => {
                return Err(CoreError::data(
                    "tokenizer",
                    "it adds no special tokens around a text; a BERT-style tokenizer is expected",
                ));
            }
        };
        let specials = [bos, eos, tokenizer.pad_id()];
        let keep: Vec<bool> = (0..vocab as u32)
            .map(|id| {
                let token = tokenizer.id_to_token(id).unwrap_or_default();
                // [CLS]-style special tokens ([UNK], [MASK]...) and [unusedN] get no vector.
                let special = token.starts_with('[') && token.ends_with(']') && token.len() <= 7;
                !(specials.contains(&id) || special || is_unused(&token))
            })
            .collect();
        let kept: Vec<u32> = (0..vocab as u32).filter(|&i| keep[i as usize]).collect();
        if kept.is_empty() {
            return Err(CoreError::data("tokenizer", "no token to distil"));
        }

        // Every kept token through the teacher, as [SEP] token [CLS], mean of the states.
        let plain = device.clone().without_autodiff();
        let model = teacher.model().valid();
        let mut raw = Vec::with_capacity(kept.len() * width);
        let mut done = 0;
        for chunk in kept.chunks(config.batch_size) {
            let n = chunk.len();
            let ids: Vec<i64> = chunk
                .iter()
                .flat_map(|&t| [eos as i64, t as i64, bos as i64])
                .collect();
            let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [n, 3]), &plain);
            let pad = Tensor::<2, Int>::zeros([n, 3], &plain).equal_elem(1);
            let states = model.hidden_states(ids, pad); // [n, 3, width]
            let mean = states.mean_dim(1).reshape([n, width]);
            raw.extend(mean.into_data().iter::<f32>());
            done += n;
            progress(done, kept.len());
        }

        let (reduced, dim, explained) = match config.pca_dims {
            Some(k) => pca(&raw, kept.len(), width, k),
            None => (raw, width, 1.0),
        };
        let mut vectors = vec![0.0f32; vocab * dim];
        // SIF weights from the Zipf probability of each kept token's rank.
        let weights: Vec<f64> = match config.sif_coefficient {
            Some(a) => {
                let inv: Vec<f64> = (0..kept.len()).map(|r| 1.0 / (r as f64 + 2.0)).collect();
                let total: f64 = inv.iter().sum();
                inv.iter().map(|p| a / (a + p / total)).collect()
            }
            None => vec![1.0; kept.len()],
        };
        for (rank, &id) in kept.iter().enumerate() {
            let row = &reduced[rank * dim..(rank + 1) * dim];
            let out = &mut vectors[id as usize * dim..(id as usize + 1) * dim];
            for (o, v) in out.iter_mut().zip(row) {
                *o = (*v as f64 * weights[rank]) as f32;
            }
        }
        let teacher_name = teacher
            .folder()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Self {
            info: StaticInfo {
                teacher: teacher_name,
                vocab_size: vocab,
                dim,
                tokens_kept: kept.len(),
                explained_variance: explained,
                config: config.clone(),
            },
            vectors,
            keep,
            tokenizer,
            tokenizer_json,
        })
    }

    /// What the distillation saw.
    pub fn info(&self) -> &StaticInfo {
        &self.info
    }

    /// Width of the vectors.
    pub fn dim(&self) -> usize {
        self.info.dim
    }

    /// The vector of token `id`.
    pub fn token_vector(&self, id: u32) -> Option<&[f32]> {
        let d = self.info.dim;
        let i = id as usize;
        (i < self.info.vocab_size).then(|| &self.vectors[i * d..(i + 1) * d])
    }

    /// Sentence vectors of `texts`, `texts.len() * dim` values row by row: the mean of each
    /// text's token vectors (no length limit), L2-normalised; a text without tokens gives zeros.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        let ids = self
            .tokenizer
            .encode_all(texts)
            .map_err(|e| text_err("tokenizer", e))?;
        let d = self.info.dim;
        let mut out = vec![0.0f32; texts.len() * d];
        for (row, ids) in out.chunks_mut(d).zip(&ids) {
            let mut n = 0usize;
            for &id in ids {
                if self.keep.get(id as usize).copied().unwrap_or(false) {
                    let v = &self.vectors[id as usize * d..(id as usize + 1) * d];
                    row.iter_mut().zip(v).for_each(|(o, x)| *o += x);
                    n += 1;
                }
            }
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0 && norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Ok(out)
    }

    /// Saves the table, its description and the tokenizer in `folder` (each file written
    /// atomically; the folder is created).
    pub fn save(&self, folder: &Path) -> Result<()> {
        std::fs::create_dir_all(folder).map_err(|e| CoreError::Io {
            path: folder.to_path_buf(),
            source: e,
        })?;
        let bytes: Vec<u8> = self.vectors.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_atomic(&folder.join(VECTORS_FILE), &bytes)?;
        write_atomic(&folder.join(TOKENIZER_FILE), &self.tokenizer_json)?;
        let mut info = serde_json::to_value(&self.info)
            .map_err(|e| CoreError::data("static model", e.to_string()))?;
        info["keep"] = serde_json::json!(
            self.keep
                .iter()
                .enumerate()
                .filter(|(_, k)| !**k)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        );
        let json = serde_json::to_string_pretty(&info)
            .map_err(|e| CoreError::data("static model", e.to_string()))?;
        write_atomic(&folder.join(INFO_FILE), json.as_bytes())
    }

    /// Loads a folder written by [`Self::save`]; a missing, truncated or mismatched file is
    /// an error naming it.
    pub fn load(folder: &Path) -> Result<Self> {
        let read = |file: &str| {
            let path = folder.join(file);
            std::fs::read(&path).map_err(|e| CoreError::Io { path, source: e })
        };
        let format = |file: &str, reason: String| CoreError::Format {
            path: folder.join(file),
            reason,
        };
        let info_bytes = read(INFO_FILE)?;
        let value: serde_json::Value =
            serde_json::from_slice(&info_bytes).map_err(|e| format(INFO_FILE, e.to_string()))?;
        let info: StaticInfo =
            serde_json::from_value(value.clone()).map_err(|e| format(INFO_FILE, e.to_string()))?;
        let skipped: Vec<usize> = serde_json::from_value(value["keep"].clone())
            .map_err(|e| format(INFO_FILE, format!("`keep`: {e}")))?;
        if info.dim == 0 || info.vocab_size == 0 {
            return Err(format(
                INFO_FILE,
                format!(
                    "{} tokens of {} dimensions: a table needs at least one of each",
                    info.vocab_size, info.dim
                ),
            ));
        }
        let bytes = read(VECTORS_FILE)?;
        let Some(expected) = info
            .vocab_size
            .checked_mul(info.dim)
            .and_then(|n| n.checked_mul(4))
        else {
            return Err(format(
                INFO_FILE,
                format!(
                    "{} tokens x {} dimensions is more than memory holds",
                    info.vocab_size, info.dim
                ),
            ));
        };
        if bytes.len() != expected {
            return Err(format(
                VECTORS_FILE,
                format!(
                    "{} bytes, expected {expected} ({} tokens x {} dimensions x 4)",
                    bytes.len(),
                    info.vocab_size,
                    info.dim
                ),
            ));
        }
        let vectors: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(i) = vectors.iter().position(|v| !v.is_finite()) {
            return Err(format(VECTORS_FILE, format!("value {i} is not finite")));
        }
        let tokenizer_json = read(TOKENIZER_FILE)?;
        let tokenizer = TextTokenizer::from_bytes(&tokenizer_json, NO_LIMIT)
            .map_err(|e| format(TOKENIZER_FILE, e.to_string()))?;
        if tokenizer.vocab_size() != info.vocab_size {
            return Err(format(
                TOKENIZER_FILE,
                format!(
                    "{} tokens, the table has {}",
                    tokenizer.vocab_size(),
                    info.vocab_size
                ),
            ));
        }
        let mut keep = vec![true; info.vocab_size];
        for i in skipped {
            if let Some(k) = keep.get_mut(i) {
                *k = false;
            }
        }
        Ok(Self {
            info,
            vectors,
            keep,
            tokenizer,
            tokenizer_json,
        })
    }

    /// The table as a Burn module over token-id inputs of `seq_len` ids (what
    /// `tl_text::SentenceEncoder::token_inputs` makes), to fine-tune with any strategy.
    pub fn encoder(&self, seq_len: usize, device: &Device) -> StaticEncoder {
        let (v, d) = (self.info.vocab_size, self.info.dim);
        let keep: Vec<f32> = self.keep.iter().map(|&k| f32::from(u8::from(k))).collect();
        StaticEncoder {
            table: Param::from_tensor(Tensor::from_data(
                TensorData::new(self.vectors.clone(), [v, d]),
                device,
            )),
            keep: Param::from_tensor(Tensor::from_data(TensorData::new(keep, [v]), device))
                .set_require_grad(false),
            seq_len,
            dim: d,
        }
    }
}

/// PCA of `n` rows of `width` values to `k` components (rows centred; components by
/// decreasing variance, each with its largest entry positive): the projected rows, `k`, and
/// the share of the variance kept.
fn pca(rows: &[f32], n: usize, width: usize, k: usize) -> (Vec<f32>, usize, f64) {
    let mut x = DMatrix::<f64>::from_fn(n, width, |i, j| rows[i * width + j] as f64);
    for j in 0..width {
        let mean = x.column(j).mean();
        x.column_mut(j).add_scalar_mut(-mean);
    }
    let cov = (x.transpose() * &x) / (n.saturating_sub(1).max(1) as f64);
    let eigen = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..width).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let total: f64 = eigen.eigenvalues.iter().map(|v| v.max(0.0)).sum();
    let kept: f64 = order[..k]
        .iter()
        .map(|&i| eigen.eigenvalues[i].max(0.0))
        .sum();
    let mut basis = DMatrix::<f64>::zeros(width, k);
    for (c, &i) in order[..k].iter().enumerate() {
        let mut v = eigen.eigenvectors.column(i).into_owned();
        let big = v
            .iter()
            .copied()
            .fold(0.0f64, |a, b| if b.abs() > a.abs() { b } else { a });
        if big < 0.0 {
            v = -v;
        }
        basis.set_column(c, &v);
    }
    let projected = x * basis;
    let mut out = Vec::with_capacity(n * k);
    for i in 0..n {
        for j in 0..k {
            out.push(projected[(i, j)] as f32);
        }
    }
    (out, k, if total > 0.0 { kept / total } else { 1.0 })
}

/// The static table as a trainable [`Encoder`]: token-id inputs (`[batch, seq_len]` ids as
/// `f32`, right-padded) to the L2-normalised mean of the kept tokens' vectors.
#[derive(Module, Debug)]
pub struct StaticEncoder {
    /// `[vocab, dim]`.
    pub table: Param<Tensor<2>>,
    /// `[vocab]`: 1 for tokens that count, 0 for special, unused and padding tokens (frozen).
    pub keep: Param<Tensor<1>>,
    #[module(skip)]
    seq_len: usize,
    #[module(skip)]
    dim: usize,
}

impl StaticEncoder {
    /// Refuses inputs this table cannot read before any training: items of another length
    /// than the encoder's `seq_len`, or values that are not token ids of the table (negative,
    /// fractional, or at least its vocabulary size: ids from another tokenizer), naming the
    /// set (`name`), the item and the value. [`Encoder::encode`] cannot return an error, so a
    /// caller with token inputs from elsewhere checks them here first.
    pub fn check_inputs(&self, inputs: &tl_core::data::Inputs, name: &str) -> Result<()> {
        if inputs.item_shape != [self.seq_len] {
            return Err(CoreError::data(
                name,
                format!(
                    "items of shape {:?}: this encoder reads {} token ids an item",
                    inputs.item_shape, self.seq_len
                ),
            ));
        }
        let vocab = self.keep.val().dims()[0];
        if let Some(pos) = inputs
            .values
            .iter()
            .position(|&v| !(v >= 0.0 && v.fract() == 0.0 && (v as usize) < vocab))
        {
            return Err(CoreError::data(
                name,
                format!(
                    "value {} of item {} is not a token id of this table (0..{vocab})",
                    inputs.values[pos],
                    pos / self.seq_len.max(1)
                ),
            ));
        }
        Ok(())
    }
}

impl Encoder for StaticEncoder {
    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        let [n, l] = x.dims();
        let ids = x.int().reshape([n * l]);
        let vectors = self
            .table
            .val()
            .select(0, ids.clone())
            .reshape([n, l, self.dim]);
        let weights = self.keep.val().select(0, ids).reshape([n, l, 1]);
        let sum = (vectors * weights.clone())
            .sum_dim(1)
            .reshape([n, self.dim]);
        let count = weights.sum_dim(1).reshape([n, 1]).clamp_min(1.0);
        crate::loss::l2_normalise_rows(sum / count)
    }

    fn feature_dim(&self) -> usize {
        self.dim
    }

    fn input_shape(&self) -> Vec<usize> {
        vec![self.seq_len]
    }

    /// Token ids (or a length before the states): noise would change words or the length.
    fn inputs_take_noise(&self) -> bool {
        false
    }

    fn blocks(&self) -> Vec<burn::module::ParamGroup> {
        vec![burn::module::ParamGroup::ids_from_module(self.clone())]
    }
}
