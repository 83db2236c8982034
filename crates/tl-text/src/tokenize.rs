//! The Hugging Face tokenizer of a model folder, set up as sentence-transformers uses it.
//!
//! A `tokenizer.json` often carries the padding and truncation its exporter used (all-MiniLM's
//! pads and cuts at 128). Those are replaced here by sentence-transformers' own behaviour: no
//! padding per sentence (batches are padded when they are built) and truncation at the
//! model's maximum length, `[CLS]`/`[SEP]` included.

use crate::error::{Result, TextError};
use std::path::Path;
use tokenizers::{Tokenizer, TruncationParams};

/// Bytes of a text kept per token of the maximum length before tokenising: a text is cut at
/// `max_len * MAX_BYTES_PER_TOKEN` bytes (at a character boundary) so that a hostile or
/// accidental giant text (a whole file in one CSV field, 2^31 tokens) costs what a text of
/// that length costs, not gigabytes of normalisation and offsets for tokens that truncation
/// then drops. A WordPiece token spans at most 100 characters (longer words become `[UNK]`),
/// and ordinary text 3-6 bytes per token, so the cut only ever removes tokens past
/// `max_len` unless a text averages more than 128 bytes per token (long runs of spaces or
/// 100-character words).
pub const MAX_BYTES_PER_TOKEN: usize = 128;

/// Which word pieces of a text longer than the maximum length are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Truncation {
    /// The first ones (sentence-transformers' behaviour).
    #[default]
    Head,
    /// The first ones and the last `tail`: a review's verdict is often at its end. Sun et
    /// al. 2019 ("How to fine-tune BERT for text classification?") found keeping the head and
    /// the tail of long IMDb reviews better than either alone (128 + 382 of 512).
    HeadTail {
        /// Word pieces kept from the end of the text.
        tail: usize,
    },
}

/// A tokenizer that turns texts into token-id sequences of at most `max_len` ids.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    max_len: usize,
    pad_id: u32,
    truncation: Truncation,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("max_len", &self.max_len)
            .field("pad_id", &self.pad_id)
            .field("truncation", &self.truncation)
            .finish()
    }
}

impl TextTokenizer {
    /// Reads `tokenizer.json`; texts are cut at `max_len` tokens (special tokens included).
    pub fn load(path: &Path, max_len: usize) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| TextError::io(path, e))?;
        Self::from_bytes(&bytes, max_len).map_err(|e| match e {
            TextError::Tokenize(reason) => TextError::format(path, reason),
            other => other,
        })
    }

    /// Parses the content of a `tokenizer.json`.
    pub fn from_bytes(bytes: &[u8], max_len: usize) -> Result<Self> {
        if max_len < 2 {
            return Err(TextError::InvalidInput(format!(
                "max_len {max_len} leaves no room for [CLS] and [SEP]"
            )));
        }
        // The tokenizers crate (0.22.2) panics on some malformed files (a syntax error inside
        // `decoder` reaches an `expect`): found by fuzzing, caught here and named.
        let mut inner = no_panic(|| Tokenizer::from_bytes(bytes))
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|e| TextError::Tokenize(format!("not a tokenizer.json: {e}")))?;
        let pad_id = match inner.get_padding() {
            Some(p) => p.pad_id,
            None => inner.token_to_id("[PAD]").unwrap_or(0),
        };
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..TruncationParams::default()
            }))
            .map_err(|e| TextError::Tokenize(format!("cannot truncate at {max_len}: {e}")))?;
        Ok(Self {
            inner,
            max_len,
            pad_id,
            truncation: Truncation::Head,
        })
    }

    /// The same tokenizer keeping other word pieces of long texts. A tail that leaves no
    /// room for the head and the special tokens is refused.
    pub fn with_truncation(mut self, truncation: Truncation) -> Result<Self> {
        match truncation {
            Truncation::Head => {
                self.inner
                    .with_truncation(Some(TruncationParams {
                        max_length: self.max_len,
                        ..TruncationParams::default()
                    }))
                    .map_err(|e| TextError::Tokenize(e.to_string()))?;
            }
            Truncation::HeadTail { tail } => {
                if tail.saturating_add(3) > self.max_len {
                    return Err(TextError::InvalidInput(format!(
                        "a tail of {tail} word pieces leaves no head in {} (special tokens included)",
                        self.max_len
                    )));
                }
                // Whole texts, cut here.
                self.inner
                    .with_truncation(None)
                    .map_err(|e| TextError::Tokenize(e.to_string()))?;
            }
        }
        self.truncation = truncation;
        Ok(self)
    }

    /// Which word pieces of long texts are kept.
    pub fn truncation(&self) -> Truncation {
        self.truncation
    }

    /// Number of tokens, added ones included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The longest sequence produced.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The id of the padding token.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The id of a token, if it is in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token of an id, if the vocabulary has it.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The part of `text` that is tokenised: all of it, or its first
    /// `max_len * MAX_BYTES_PER_TOKEN` bytes (cut at a character boundary); with
    /// [`Truncation::HeadTail`], that many bytes from its start and as many from its end.
    pub fn cut<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let limit = self.max_len.saturating_mul(MAX_BYTES_PER_TOKEN);
        match self.truncation {
            Truncation::HeadTail { .. } if text.len() > limit.saturating_mul(2) => {
                let head = &text[..text.floor_char_boundary(limit)];
                let tail = &text[text.ceil_char_boundary(text.len() - limit)..];
                format!("{head} {tail}").into()
            }
            Truncation::HeadTail { .. } => text.into(),
            Truncation::Head => text[..text.floor_char_boundary(limit)].into(),
        }
    }

    /// Token ids of one text, with the special tokens, cut at `max_len`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = no_panic(|| self.inner.encode(self.cut(text).as_ref(), true))
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(TextError::Tokenize)?;
        Ok(self.kept(&encoding))
    }

    /// The ids of an encoding, its middle dropped under [`Truncation::HeadTail`] (the
    /// tokenizer itself cut at the head otherwise).
    fn kept(&self, encoding: &tokenizers::Encoding) -> Vec<u32> {
        let ids = encoding.get_ids();
        let Truncation::HeadTail { tail } = self.truncation else {
            return ids.to_vec();
        };
        if ids.len() <= self.max_len {
            return ids.to_vec();
        }
        // The special tokens the post-processor put at either end ([CLS] ... [SEP]).
        let special = encoding.get_special_tokens_mask();
        let lead = special.iter().take_while(|&&m| m == 1).count();
        let trail = special.iter().rev().take_while(|&&m| m == 1).count();
        let body = &ids[lead..ids.len() - trail];
        let room = self.max_len.saturating_sub(lead + trail);
        let tail = tail.min(room);
        let mut out = Vec::with_capacity(self.max_len);
        out.extend_from_slice(&ids[..lead]);
        out.extend_from_slice(&body[..room - tail]);
        out.extend_from_slice(&body[body.len() - tail..]);
        out.extend_from_slice(&ids[ids.len() - trail..]);
        out
    }

    /// Token ids of many texts (in parallel where the tokenizer can).
    pub fn encode_all(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let cut: Vec<std::borrow::Cow<str>> = texts.iter().map(|t| self.cut(t)).collect();
        let encodings = no_panic(|| self.inner.encode_batch(cut, true))
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(TextError::Tokenize)?;
        Ok(encodings.iter().map(|e| self.kept(e)).collect())
    }

    /// Checks that every id the tokenizer can produce has a row in an embedding of
    /// `vocab_size` rows, and that both agree on the padding id.
    pub fn check_against(&self, vocab_size: usize, pad_id: usize) -> Result<()> {
        if self.vocab_size() > vocab_size {
            return Err(TextError::TokenizerMismatch(format!(
                "the tokenizer has {} tokens but the model's word embedding has {vocab_size} rows",
                self.vocab_size()
            )));
        }
        // The count is not enough: ids need not be contiguous (an added token can sit past
        // the vocabulary).
        let vocab = self.inner.get_vocab(true);
        if let Some((token, &id)) = vocab.iter().max_by_key(|(_, id)| **id)
            && id as usize >= vocab_size
        {
            return Err(TextError::TokenizerMismatch(format!(
                "the tokenizer gives {token:?} the id {id} but the model's word embedding has {vocab_size} rows"
            )));
        }
        if self.pad_id as usize != pad_id {
            return Err(TextError::TokenizerMismatch(format!(
                "the tokenizer pads with id {} but the model's pad_token_id is {pad_id}",
                self.pad_id
            )));
        }
        Ok(())
    }
}

/// `f`'s value, or the message of a panic inside it (the tokenizers crate's, not ours).
fn no_panic<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        format!("the tokenizers library failed on it ({what})")
    })
}
