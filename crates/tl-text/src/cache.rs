//! A disk cache of sentence embeddings for frozen encoders.
//!
//! A frozen encoder gives the same vectors for the same texts every time, and on a CPU the
//! encoder is by far the slowest part of a linear probe or a frozen-feature adaptation
//! method. The cache computes the vectors of a text set once and reuses them across
//! strategies, seeds and runs. Entries are keyed by the model (a hash of the folder's files
//! that decide the vectors: `config.json`, the weights, `tokenizer.json`, the
//! sentence-transformers pooling files; and the maximum length) and by the texts (a hash of
//! every text, in order). Both keys are written into the entry's header as well as its name;
//! an entry whose header, size or values disagree is recomputed, never trusted. A
//! [`SentenceEncoder`] cannot be changed after loading, so the files describe it.

use crate::encoder::SentenceEncoder;
use crate::error::{Result, TextError};
use burn::tensor::Device;
use std::io::Read;
use std::path::{Path, PathBuf};
use tl_core::checkpoint::write_atomic;

const MAGIC: &[u8; 8] = b"TLEMB002";

/// 64-bit FNV-1a, stable across platforms and Rust versions (unlike `DefaultHasher`).
#[derive(Debug, Clone, Copy)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Feeds a length-prefixed field, so that ("ab", "c") and ("a", "bc") differ.
    pub fn field(&mut self, bytes: &[u8]) {
        self.write(&(bytes.len() as u64).to_le_bytes());
        self.write(bytes);
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// Hash of a model: the content of its config, tokenizer and pooling files and of its
/// weights, its maximum length and pooling.
pub fn model_key(encoder: &SentenceEncoder) -> Result<u64> {
    let mut h = Fnv64::default();
    let folder = encoder.folder();
    for file in [
        crate::encoder::CONFIG_FILE,
        crate::encoder::TOKENIZER_FILE,
        "modules.json",
        "1_Pooling/config.json",
        "sentence_bert_config.json",
    ] {
        let path = folder.join(file);
        match std::fs::read(&path) {
            Ok(bytes) => h.field(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => h.field(b"-"),
            Err(e) => return Err(TextError::io(&path, e)),
        }
    }
    let weights = encoder.weights_file();
    let mut file = std::fs::File::open(weights).map_err(|e| TextError::io(weights, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| TextError::io(weights, e))?;
        if n == 0 {
            break;
        }
        h.write(&buf[..n]);
    }
    h.field(&(encoder.max_len() as u64).to_le_bytes());
    h.field(format!("{:?}", encoder.model().info().pooling).as_bytes());
    // Keys made before head+tail truncation existed stay valid for the head.
    if let crate::Truncation::HeadTail { tail } = encoder.tokenizer().truncation() {
        h.field(b"head+tail");
        h.field(&(tail as u64).to_le_bytes());
    }
    Ok(h.finish())
}

/// Hash of a list of texts, order included.
pub fn texts_key(texts: &[&str]) -> u64 {
    let mut h = Fnv64::default();
    h.field(&(texts.len() as u64).to_le_bytes());
    for t in texts {
        h.field(t.as_bytes());
    }
    h.finish()
}

/// Where and how often the cache answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Requests answered from disk.
    pub hits: usize,
    /// Requests that ran the encoder.
    pub misses: usize,
}

/// What a model's hash is remembered by within a cache: its weights file, maximum length and
/// truncation.
type ModelId = (PathBuf, usize, crate::Truncation);

/// Sentence embeddings on disk, one file per (model, text set).
#[derive(Debug, Clone)]
pub struct EmbeddingCache {
    dir: PathBuf,
    model_keys: Vec<(ModelId, u64)>,
    stats: CacheStats,
}

impl EmbeddingCache {
    /// A cache in `dir` (created when the first entry is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            model_keys: Vec::new(),
            stats: CacheStats::default(),
        }
    }

    /// The usual folder: `$HOME/.cache/tl-text/embeddings` (the system's temporary folder
    /// when there is no home).
    pub fn default_dir() -> PathBuf {
        std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(".cache/tl-text/embeddings")
    }

    /// The folder of the cache.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    fn model_key(&mut self, encoder: &SentenceEncoder) -> Result<u64> {
        let id = (
            encoder.weights_file().to_path_buf(),
            encoder.max_len(),
            encoder.tokenizer().truncation(),
        );
        if let Some((_, k)) = self.model_keys.iter().find(|(i, _)| *i == id) {
            return Ok(*k);
        }
        let key = model_key(encoder)?;
        self.model_keys.push((id, key));
        Ok(key)
    }

    /// The file an entry lives in.
    pub fn entry_path(&mut self, encoder: &SentenceEncoder, texts: &[&str]) -> Result<PathBuf> {
        let model = self.model_key(encoder)?;
        Ok(self.path_for(model, texts_key(texts)))
    }

    fn path_for(&self, model: u64, texts: u64) -> PathBuf {
        self.dir.join(format!("{model:016x}-{texts:016x}.emb"))
    }

    /// The embeddings of `texts` (`texts.len() * dim` values, row by row), from disk when
    /// present, else computed with [`SentenceEncoder::embed`] and stored atomically.
    pub fn embed(
        &mut self,
        encoder: &SentenceEncoder,
        texts: &[&str],
        batch_size: usize,
        device: &Device,
        progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f32>> {
        let keys = [self.model_key(encoder)?, texts_key(texts)];
        let path = self.path_for(keys[0], keys[1]);
        let dim = encoder.dim();
        if let Some(values) = read_entry(&path, keys, texts.len(), dim) {
            self.stats.hits += 1;
            return Ok(values);
        }
        let values = encoder.embed(texts, batch_size, device, progress)?;
        self.store(&path, keys, texts.len(), dim, &values)?;
        Ok(values)
    }

    /// The token states of `texts` after the first `below` layers
    /// ([`SentenceEncoder::states`], the input rows of [`crate::BertTop`]), from disk when
    /// present, else computed and stored atomically. Entries are keyed like embeddings, with
    /// `below` in the model key, and named `*.states`. They are large (about 200 KB per text
    /// at 128 tokens of 384 values).
    pub fn states(
        &mut self,
        encoder: &SentenceEncoder,
        texts: &[&str],
        below: usize,
        batch_size: usize,
        device: &Device,
        progress: impl FnMut(usize, usize),
    ) -> Result<Vec<f32>> {
        let mut h = Fnv64::default();
        h.field(&self.model_key(encoder)?.to_le_bytes());
        h.field(b"states");
        h.field(&(below as u64).to_le_bytes());
        let keys = [h.finish(), texts_key(texts)];
        let path = self
            .dir
            .join(format!("{:016x}-{:016x}.states", keys[0], keys[1]));
        let dim = crate::top::states_item_len(encoder.max_len(), encoder.dim());
        if let Some(values) = read_entry(&path, keys, texts.len(), dim) {
            self.stats.hits += 1;
            return Ok(values);
        }
        let values = encoder.states(texts, below, batch_size, device, progress)?;
        self.store(&path, keys, texts.len(), dim, &values)?;
        Ok(values)
    }

    fn store(
        &mut self,
        path: &Path,
        keys: [u64; 2],
        rows: usize,
        dim: usize,
        values: &[f32],
    ) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| TextError::io(&self.dir, e))?;
        write_atomic(path, &encode_entry(keys, rows, dim, values))?;
        self.stats.misses += 1;
        Ok(())
    }
}

const HEADER: usize = 40;

fn encode_entry(keys: [u64; 2], rows: usize, dim: usize, values: &[f32]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + values.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&keys[0].to_le_bytes());
    bytes.extend_from_slice(&keys[1].to_le_bytes());
    bytes.extend_from_slice(&(rows as u64).to_le_bytes());
    bytes.extend_from_slice(&(dim as u64).to_le_bytes());
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

/// Reads an entry; `None` when absent, truncated, of another shape or not finite.
fn read_entry(path: &Path, keys: [u64; 2], rows: usize, dim: usize) -> Option<Vec<f32>> {
    let bytes = std::fs::read(path).ok()?;
    decode_entry(&bytes, keys, rows, dim)
}

fn decode_entry(bytes: &[u8], keys: [u64; 2], rows: usize, dim: usize) -> Option<Vec<f32>> {
    if bytes.len() != HEADER + rows * dim * 4 || &bytes[..8] != MAGIC {
        return None;
    }
    let word = |i: usize| {
        bytes[8 + 8 * i..16 + 8 * i]
            .try_into()
            .ok()
            .map(u64::from_le_bytes)
    };
    if [word(0)?, word(1)?] != keys || [word(2)?, word(3)?] != [rows as u64, dim as u64] {
        return None;
    }
    let values: Vec<f32> = bytes[HEADER..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    values.iter().all(|v| v.is_finite()).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_published_vectors() {
        // Test vectors of the FNV-1a 64-bit reference (Fowler, Noll, Vo).
        let hash = |s: &str| {
            let mut h = Fnv64::default();
            h.write(s.as_bytes());
            h.finish()
        };
        assert_eq!(hash(""), 0xcbf29ce484222325);
        assert_eq!(hash("a"), 0xaf63dc4c8601ec8c);
        assert_eq!(hash("foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn texts_key_depends_on_boundaries_and_order() {
        assert_ne!(texts_key(&["ab", "c"]), texts_key(&["a", "bc"]));
        assert_ne!(texts_key(&["a", "b"]), texts_key(&["b", "a"]));
        assert_eq!(texts_key(&["a", "b"]), texts_key(&["a", "b"]));
    }

    #[test]
    fn entries_round_trip_and_refuse_other_shapes() {
        let values = vec![0.5, -1.0, 2.0, 3.5, 0.0, 1.0];
        let keys = [7, 9];
        let bytes = encode_entry(keys, 2, 3, &values);
        assert_eq!(decode_entry(&bytes, keys, 2, 3), Some(values));
        assert_eq!(decode_entry(&bytes, keys, 3, 2), None);
        assert_eq!(decode_entry(&bytes, [7, 8], 2, 3), None, "another key");
        assert_eq!(decode_entry(&bytes[..bytes.len() - 1], keys, 2, 3), None);
        let mut nan = encode_entry(keys, 1, 1, &[f32::NAN]);
        assert_eq!(decode_entry(&nan, keys, 1, 1), None);
        nan[0] = b'X';
        assert_eq!(decode_entry(&nan, keys, 1, 1), None);
    }
}
