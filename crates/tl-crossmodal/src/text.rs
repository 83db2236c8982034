//! The text side: where captions and class prompts get their vectors. The text tower is
//! locked (never trained), so every text is embedded once, and a sentence encoder's vectors
//! are cached on disk ([`tl_text::EmbeddingCache`]): a second run embeds nothing.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tl_core::CoreError;
use tl_core::Result;

/// A locked text encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TextSpace {
    /// A pretrained sentence encoder in a Hugging Face folder (BERT layout, such as
    /// all-MiniLM-L6-v2): a relative `model` is looked up under `TL_MODEL_DIR`. Texts are cut
    /// at `max_len` tokens; vectors are cached on disk when `cache` is set.
    Sentence {
        /// The model folder (absolute, or relative to `TL_MODEL_DIR`).
        model: String,
        /// Tokens kept per text (prompts and captions are short).
        max_len: usize,
        /// Whether vectors are kept on disk (`$HOME/.cache/tl-text/embeddings`).
        cache: bool,
    },
    /// Hashed words and character trigrams (signed feature hashing, L2-normalised): a text
    /// space with no pretraining, which knows words only by their spelling. The control that
    /// shows what the pretrained encoder adds, and what tests run on.
    Hashed {
        /// Width of the vectors.
        dim: usize,
    },
}

impl Default for TextSpace {
    fn default() -> Self {
        Self::minilm()
    }
}

/// Vectors of a list of texts, row by row, each of unit L2 norm.
#[derive(Debug, Clone, PartialEq)]
pub struct TextVectors {
    /// Width of a row.
    pub dim: usize,
    /// `rows * dim` values.
    pub values: Vec<f32>,
    /// Whether they came from the on-disk cache (no text was embedded).
    pub cached: bool,
}

impl TextVectors {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }
}

impl TextSpace {
    /// all-MiniLM-L6-v2 (under `TL_MODEL_DIR`), 64 tokens, cached.
    pub fn minilm() -> Self {
        Self::Sentence {
            model: "all-MiniLM-L6-v2".into(),
            max_len: 64,
            cache: true,
        }
    }

    /// Refuses bad settings.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Sentence { model, max_len, .. } => {
                if model.trim().is_empty() {
                    return Err(CoreError::config("text.model", "is empty"));
                }
                if *max_len < 3 {
                    return Err(CoreError::config(
                        "text.max_len",
                        format!("{max_len}: at least 3 tokens ([CLS], a word, [SEP])"),
                    ));
                }
            }
            Self::Hashed { dim } => {
                if *dim < 8 {
                    return Err(CoreError::config("text.dim", format!("{dim}: at least 8")));
                }
            }
        }
        Ok(())
    }

    /// A short description for reports (`all-MiniLM-L6-v2`, `hashed-256`).
    pub fn label(&self) -> String {
        match self {
            Self::Sentence { model, .. } => PathBuf::from(model)
                .file_name()
                .map_or_else(|| model.clone(), |n| n.to_string_lossy().into_owned()),
            Self::Hashed { dim } => format!("hashed-{dim}"),
        }
    }

    /// The folder of a sentence encoder: `model` itself when it is a folder, else under
    /// `TL_MODEL_DIR`; a missing one is an error naming both places and how to get it.
    pub fn model_folder(model: &str) -> Result<PathBuf> {
        let direct = PathBuf::from(model);
        if direct.is_dir() {
            return Ok(direct);
        }
        if !direct.is_absolute()
            && let Some(root) = tl_core::paths::model_dir()
        {
            let under = root.join(model);
            if under.is_dir() {
                return Ok(under);
            }
        }
        Err(CoreError::config(
            "text.model",
            format!(
                "the text model folder `{model}` was not found (as a path, or under {}={}); \
                 `scripts/fetch-minilm.sh` fetches all-MiniLM-L6-v2, or use {{\"kind\": \"hashed\"}}",
                tl_core::paths::MODEL_DIR_VAR,
                tl_core::paths::model_dir()
                    .map_or_else(|| "<unset>".into(), |p| p.display().to_string())
            ),
        ))
    }

    /// The vectors of `texts` (each of unit norm). An empty text is refused by its index.
    pub fn embed(&self, texts: &[&str], device: &Device) -> Result<TextVectors> {
        self.validate()?;
        if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
            return Err(CoreError::data(
                "captions",
                format!("text {i} is empty: every caption and prompt needs words"),
            ));
        }
        match self {
            Self::Hashed { dim } => {
                let mut values = Vec::with_capacity(texts.len() * dim);
                for (i, t) in texts.iter().enumerate() {
                    let v = hashed(t, *dim);
                    // Words are runs of letters and digits: a text of symbols alone (an
                    // emoji character, punctuation) has none, and its vector would be zero.
                    if v.iter().all(|&x| x == 0.0) {
                        return Err(CoreError::data(
                            "captions",
                            format!(
                                "text {i} ({t:?}) has no letter or digit: the hashed text space gives it no vector"
                            ),
                        ));
                    }
                    values.extend(v);
                }
                Ok(TextVectors {
                    dim: *dim,
                    values,
                    cached: false,
                })
            }
            Self::Sentence {
                model,
                max_len,
                cache,
            } => {
                use tl_text::{EmbeddingCache, LoadOptions, SentenceEncoder};
                let folder = Self::model_folder(model)?;
                let text_err = |e: tl_text::TextError| CoreError::Model(e.to_string());
                let encoder = SentenceEncoder::load_with(
                    &folder,
                    LoadOptions {
                        max_len: Some(*max_len),
                        ..Default::default()
                    },
                    device,
                )
                .map_err(text_err)?;
                let dim = encoder.dim();
                let (values, cached) = if *cache {
                    let mut store = EmbeddingCache::new(EmbeddingCache::default_dir());
                    let values = store
                        .embed(&encoder, texts, 64, device, |_, _| {})
                        .map_err(text_err)?;
                    (values, store.stats().hits == 1)
                } else {
                    let values = encoder
                        .embed(texts, 64, device, |_, _| {})
                        .map_err(text_err)?;
                    (values, false)
                };
                let mut values = values;
                for row in values.chunks_mut(dim) {
                    normalize(row);
                }
                Ok(TextVectors {
                    dim,
                    values,
                    cached,
                })
            }
        }
    }
}

fn normalize(row: &mut [f32]) {
    let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        row.iter_mut().for_each(|v| *v /= norm);
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    let mut h = tl_text::cache::Fnv64::default();
    h.write(bytes);
    h.finish()
}

/// Signed feature hashing of `text`'s lower-cased words (weight 1) and their character
/// trigrams (weight 1/2, the word padded by spaces), L2-normalised.
fn hashed(text: &str, dim: usize) -> Vec<f32> {
    let mut v = vec![0f32; dim];
    let mut add = |feature: &[u8], weight: f32| {
        let h = fnv(feature);
        let sign = if h >> 63 == 1 { -1.0 } else { 1.0 };
        v[(h % dim as u64) as usize] += sign * weight;
    };
    let lower = text.to_lowercase();
    for word in lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        add(word.as_bytes(), 1.0);
        let padded: Vec<char> = format!(" {word} ").chars().collect();
        for w in padded.windows(3) {
            let gram: String = w.iter().collect();
            add(format!("#{gram}").as_bytes(), 0.5);
        }
    }
    normalize(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_vectors_are_unit_and_share_words() {
        let dev = tl_core::device::device("flex").unwrap();
        let space = TextSpace::Hashed { dim: 256 };
        let v = space
            .embed(&["a red apple", "a red car", "quantum physics"], &dev)
            .unwrap();
        assert_eq!(v.rows(), 3);
        let dot =
            |a: usize, b: usize| -> f32 { v.row(a).iter().zip(v.row(b)).map(|(x, y)| x * y).sum() };
        for i in 0..3 {
            assert!((dot(i, i) - 1.0).abs() < 1e-5);
        }
        assert!(dot(0, 1) > dot(0, 2) + 0.2, "{} {}", dot(0, 1), dot(0, 2));
    }

    #[test]
    fn empty_texts_and_missing_models_are_refused_by_name() {
        let dev = tl_core::device::device("flex").unwrap();
        let err = TextSpace::Hashed { dim: 64 }
            .embed(&["fine", " "], &dev)
            .unwrap_err()
            .to_string();
        assert!(err.contains("text 1 is empty"), "{err}");
        // Symbols alone hold no word: a zero vector would tie every such class.
        let err = TextSpace::Hashed { dim: 64 }
            .embed(&["fine", "\u{1F600}", "?!"], &dev)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("text 1") && err.contains("no letter or digit"),
            "{err}"
        );
        let err = TextSpace::Sentence {
            model: "/nonexistent/minilm".into(),
            max_len: 32,
            cache: false,
        }
        .embed(&["fine"], &dev)
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/nonexistent/minilm") && err.contains("not found"),
            "{err}"
        );
    }
}
