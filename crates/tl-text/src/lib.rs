//! # tl-text
//!
//! Pretrained text encoders for the transfer-learning toolkit. A BERT-family model is loaded
//! from the folder people download (Hugging Face `config.json`, `model.safetensors`,
//! `tokenizer.json`, and sentence-transformers' pooling files), so all-MiniLM-L6-v2 and any
//! other checkpoint of that layout work without conversion.
//!
//! - [`SentenceEncoder`]: tokenizer + [`Bert`] + pooling; [`SentenceEncoder::embed`] gives
//!   sentence vectors in length-sorted, padded batches.
//! - [`Bert`] is a [`tl_core::model::Encoder`]: put a head on it with
//!   [`tl_core::model::Classifier`] and fine-tune it with the shared trainer; its blocks are
//!   the embeddings and each transformer layer, for freezing and per-layer learning rates.
//! - [`EmbeddingCache`]: vectors of a frozen encoder computed once per text set, and the
//!   token states of its frozen lower layers ([`EmbeddingCache::states`]).
//! - [`BertTop`]: the top layers as an encoder of those cached states, so that fine-tuning and
//!   every adaptation method train the encoder's top layers at the cost of those layers only.
//!
//! ```no_run
//! # fn main() -> tl_text::Result<()> {
//! let device = tl_core::device::device("flex")?;
//! let encoder = tl_text::SentenceEncoder::load("models/all-MiniLM-L6-v2".as_ref(), &device)?;
//! let vectors = encoder.embed(&["A fine book.", "Dull."], 32, &device, |_, _| {})?;
//! assert_eq!(vectors.len(), 2 * encoder.dim());
//! # Ok(()) }
//! ```

pub mod bert;
pub mod cache;
pub mod config;
pub mod encoder;
mod error;
pub mod tokenize;
pub mod top;

pub use bert::{Bert, BertInfo, bert_key_map};
pub use cache::EmbeddingCache;
pub use config::{BertConfig, Pooling, PoolingMode, SentenceConfig};
pub use encoder::{LoadOptions, SentenceEncoder};
pub use error::{Result, TextError};
pub use tokenize::{TextTokenizer, Truncation};
pub use top::{BertTop, BertTopInfo, states_item_len};
