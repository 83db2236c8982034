//! Fine-tuning only the top layers of a BERT encoder, from cached lower-layer states.
//!
//! When the lower layers of a pretrained encoder stay frozen, their output for a text never
//! changes: computing it once per text and training the top layers on it gives the same
//! gradients as running the whole network every step, at the cost of the top layers only.
//! [`SentenceEncoder::states`] computes the token states after the first `below` layers
//! (the embeddings when `below = 0`) as fixed-size rows; [`BertTop`], an
//! [`Encoder`] made of the remaining layers and the pooling, takes
//! those rows. Every strategy of the toolkit that adapts an `Encoder` (fine-tuning, CORAL,
//! MMD, self-training, DANN, CDAN, ADDA...) then adapts the encoder's top layers themselves;
//! [`BertTop::into_bert`] puts the trained layers back into a whole [`Bert`] that reads
//! token ids again.
//!
//! **Row layout** ([`states_item_len`]): `1 + seq_len * hidden` values, the text's token
//! count first, then its token states row by row, zeros past the text's end. Each batch is
//! cut to its longest row before the layers run, as [`Bert`] does with token ids.

use crate::bert::{Bert, forward_layers, l2_normalise, pool};
use crate::encoder::SentenceEncoder;
use crate::error::{Result, TextError};
use burn::module::{Module, ParamGroup};
use burn::nn::transformer::TransformerEncoderLayer;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};
use tl_core::data::Inputs;
use tl_core::model::Encoder;

/// Values in one row of cached states: the token count, then `seq_len * hidden` states.
pub fn states_item_len(seq_len: usize, hidden: usize) -> usize {
    1 + seq_len * hidden
}

/// What a [`BertTop`] needs besides its layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertTopInfo {
    /// The layers of the whole encoder below these (their output is the input).
    pub below: usize,
    /// Width of the token states.
    pub hidden: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Token positions per input row.
    pub seq_len: usize,
    /// Sentence pooling and normalisation (the whole model's).
    pub pooling: crate::config::Pooling,
}

/// The top layers of a [`Bert`] and its pooling: an [`Encoder`] from cached states (see the
/// module's row layout) to sentence vectors.
#[derive(Module, Debug)]
pub struct BertTop {
    /// The transformer layers, lowest first.
    pub layers: Vec<TransformerEncoderLayer>,
    #[module(skip)]
    info: BertTopInfo,
}

impl BertTop {
    /// The layers of `bert` from `below` up (copies; `bert` is unchanged). `below` may be 0
    /// (every layer; the input is then the embedding block's output) up to the layer count
    /// (no layer: the encoder only pools the cached states).
    pub fn from_bert(bert: &Bert, below: usize) -> tl_core::Result<Self> {
        let n = bert.encoder.layers.len();
        if below > n {
            return Err(tl_core::CoreError::config(
                "below",
                format!("{below} layers below the top, but the model has {n}"),
            ));
        }
        let info = bert.info();
        Ok(Self {
            layers: bert.encoder.layers[below..].to_vec(),
            info: BertTopInfo {
                below,
                hidden: info.config.hidden_size,
                heads: info.config.num_attention_heads,
                seq_len: info.seq_len,
                pooling: info.pooling,
            },
        })
    }

    /// Its sizes and pooling.
    pub fn info(&self) -> &BertTopInfo {
        &self.info
    }

    /// Sets whether the pooled vector is scaled to unit length (sentence-transformers models
    /// say yes; a classifier or a domain discriminator may do better on the raw mean).
    pub fn with_normalize(mut self, normalize: bool) -> Self {
        self.info.pooling.normalize = normalize;
        self
    }

    /// `bert` with its layers from [`BertTopInfo::below`] up replaced by these: a whole
    /// encoder on token ids again, e.g. to save or to run on new texts. Refuses a `bert` of
    /// another size.
    pub fn into_bert(self, bert: &Bert) -> tl_core::Result<Bert> {
        let info = bert.info();
        let n = bert.encoder.layers.len();
        if info.config.hidden_size != self.info.hidden || self.info.below + self.layers.len() != n {
            return Err(tl_core::CoreError::config(
                "bert",
                format!(
                    "{} layers above {} of width {} do not fit a model of {n} layers of width {}",
                    self.layers.len(),
                    self.info.below,
                    self.info.hidden,
                    info.config.hidden_size
                ),
            ));
        }
        let mut whole = bert.clone();
        for (i, layer) in self.layers.into_iter().enumerate() {
            whole.encoder.layers[self.info.below + i] = layer;
        }
        Ok(whole)
    }
}

impl Encoder for BertTop {
    /// # Shapes
    /// - `x`: `[batch, 1 + seq_len * hidden]` rows of [`SentenceEncoder::states`]
    fn encode(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let (seq, hidden) = (self.info.seq_len, self.info.hidden);
        let device = x.device();
        let lengths = x.clone().slice([0..batch, 0..1]);
        let longest = (lengths.clone().max().into_scalar::<f32>().round() as usize).clamp(1, seq);
        let states = x
            .slice([0..batch, 1..1 + longest * hidden])
            .reshape([batch, longest, hidden]);
        let positions = Tensor::<1, Int>::arange(0..longest as i64, &device)
            .float()
            .unsqueeze::<2>()
            .expand([batch, longest]);
        let pad = positions.greater_equal(lengths.expand([batch, longest]));
        let states = forward_layers(&self.layers, self.info.heads, states, pad.clone());
        let pooled = pool(states, pad, self.info.pooling.mode);
        if self.info.pooling.normalize {
            l2_normalise(pooled)
        } else {
            pooled
        }
    }

    fn feature_dim(&self) -> usize {
        self.info.hidden
    }

    fn input_shape(&self) -> Vec<usize> {
        vec![states_item_len(self.info.seq_len, self.info.hidden)]
    }

    /// Token ids (or a length before the states): noise would change words or the length.
    fn inputs_take_noise(&self) -> bool {
        false
    }

    fn blocks(&self) -> Vec<ParamGroup> {
        self.layers
            .iter()
            .map(|l| ParamGroup::ids_from_module(l.clone()))
            .collect()
    }
}

impl SentenceEncoder {
    /// The token states of `texts` after the embedding block and the first `below` layers,
    /// one row of [`states_item_len`]`(max_len, dim)` values per text in input order (the
    /// row layout of [`BertTop`]): what a [`BertTop::from_bert`]`(model, below)` takes.
    /// Texts are run in length-sorted batches; `progress(done, total)` after each.
    pub fn states(
        &self,
        texts: &[&str],
        below: usize,
        batch_size: usize,
        device: &Device,
        progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f32>> {
        let ids = self.tokenize(texts)?;
        self.states_of_ids(&ids, below, batch_size, device, progress)
    }

    /// [`Self::states`] of texts already tokenized (each row at most [`Self::max_len`] ids,
    /// `[CLS]` and `[SEP]` included).
    pub fn states_of_ids(
        &self,
        ids: &[Vec<u32>],
        below: usize,
        batch_size: usize,
        device: &Device,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f32>> {
        let layers = self.model().encoder.layers.len();
        if below > layers {
            return Err(TextError::InvalidInput(format!(
                "{below} layers below the top, but the model has {layers}"
            )));
        }
        let (seq, hidden) = (self.max_len(), self.dim());
        if let Some((i, row)) = ids.iter().enumerate().find(|(_, r)| r.len() > seq) {
            return Err(TextError::InvalidInput(format!(
                "row {i} has {} token ids, more than the model's {seq}",
                row.len()
            )));
        }
        let vocab = self.model().info().config.vocab_size;
        if let Some((i, id)) = ids.iter().enumerate().find_map(|(i, r)| {
            r.iter()
                .find(|&&id| id as usize >= vocab)
                .map(|&id| (i, id))
        }) {
            return Err(TextError::InvalidInput(format!(
                "row {i} holds the token id {id}, past the model's vocabulary of {vocab}"
            )));
        }
        let item = states_item_len(seq, hidden);
        let model = self.model().valid();
        let heads = model.info().config.num_attention_heads;
        let mut out = vec![0.0f32; ids.len() * item];
        self.sorted_batches(
            ids,
            batch_size,
            device,
            &mut progress,
            |chunk, ids_t, pad| {
                let longest = ids_t.dims()[1];
                let x = model.embeddings.forward(ids_t);
                let x = forward_layers(&model.encoder.layers[..below], heads, x, pad);
                let data = x.into_data();
                let values = data
                    .as_slice::<f32>()
                    .map_err(|e| TextError::InvalidInput(format!("states readback: {e:?}")))?;
                for (row, &i) in chunk.iter().enumerate() {
                    let len = ids[i].len();
                    let dst = &mut out[i * item..(i + 1) * item];
                    dst[0] = len as f32;
                    let src = &values[row * longest * hidden..];
                    dst[1..1 + len * hidden].copy_from_slice(&src[..len * hidden]);
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// [`Self::states`] as model [`Inputs`] for a [`BertTop`].
    pub fn states_inputs(
        &self,
        texts: &[&str],
        below: usize,
        batch_size: usize,
        device: &Device,
        progress: impl FnMut(usize, usize),
    ) -> Result<Inputs> {
        let values = self.states(texts, below, batch_size, device, progress)?;
        Ok(Inputs::new(
            vec![states_item_len(self.max_len(), self.dim())],
            values,
        )?)
    }
}
