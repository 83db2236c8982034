//! A tiny BERT model folder written by the tests themselves: a WordPiece tokenizer over a
//! small vocabulary, a `config.json`, seeded random weights under Hugging Face's key names
//! in a safetensors file, and sentence-transformers' pooling files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;

/// Special tokens first, then words (ids in this order).
pub const VOCAB: &[&str] = &[
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "good", "great", "fine", "love", "bad", "awful", "poor",
    "hate", "the", "book", "film", "was", "a", "it", "very", "##s", ".", "!",
];
pub const HIDDEN: usize = 8;
pub const LAYERS: usize = 2;
pub const MAX_POS: usize = 16;

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tl-text-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn tokenizer_json() -> String {
    // A vocab.txt, as BERT ships it: one token per line, the line number is the id.
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = temp_dir(&format!("vocab-{n}"));
    let path = dir.join("vocab.txt");
    std::fs::write(&path, VOCAB.join("\n")).unwrap();
    let model = WordPiece::from_file(path.to_str().unwrap())
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_normalizer(Some(BertNormalizer::default()));
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), 3),
        ("[CLS]".into(), 2),
    )));
    tokenizer.to_string(false).unwrap()
}

pub fn config_json(vocab: usize, dropout: f64) -> String {
    format!(
        r#"{{"architectures": ["BertModel"], "model_type": "bert", "vocab_size": {vocab},
            "hidden_size": {HIDDEN}, "num_hidden_layers": {LAYERS}, "num_attention_heads": 2,
            "intermediate_size": 16, "hidden_act": "gelu", "max_position_embeddings": {MAX_POS},
            "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
            "hidden_dropout_prob": {dropout}, "attention_probs_dropout_prob": {dropout},
            "position_embedding_type": "absolute"}}"#
    )
}

/// Hugging Face key names and shapes of a BERT of the tiny sizes (Linear weights `[out, in]`).
pub fn hf_tensors(vocab: usize) -> Vec<(String, Vec<usize>)> {
    let h = HIDDEN;
    let mut t = vec![
        (
            "embeddings.word_embeddings.weight".to_string(),
            vec![vocab, h],
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![MAX_POS, h],
        ),
        ("embeddings.token_type_embeddings.weight".into(), vec![2, h]),
        ("embeddings.LayerNorm.weight".into(), vec![h]),
        ("embeddings.LayerNorm.bias".into(), vec![h]),
        ("pooler.dense.weight".into(), vec![h, h]),
        ("pooler.dense.bias".into(), vec![h]),
    ];
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}.");
        for name in ["query", "key", "value"] {
            t.push((format!("{p}attention.self.{name}.weight"), vec![h, h]));
            t.push((format!("{p}attention.self.{name}.bias"), vec![h]));
        }
        t.push((format!("{p}attention.output.dense.weight"), vec![h, h]));
        t.push((format!("{p}attention.output.dense.bias"), vec![h]));
        t.push((format!("{p}attention.output.LayerNorm.weight"), vec![h]));
        t.push((format!("{p}attention.output.LayerNorm.bias"), vec![h]));
        t.push((format!("{p}intermediate.dense.weight"), vec![16, h]));
        t.push((format!("{p}intermediate.dense.bias"), vec![16]));
        t.push((format!("{p}output.dense.weight"), vec![h, 16]));
        t.push((format!("{p}output.dense.bias"), vec![h]));
        t.push((format!("{p}output.LayerNorm.weight"), vec![h]));
        t.push((format!("{p}output.LayerNorm.bias"), vec![h]));
    }
    t
}

/// A safetensors file of `tensors` with seeded values (layer-norm weights near 1).
pub fn safetensors_bytes(tensors: &[(String, Vec<usize>)], seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape) in tensors {
        let n: usize = shape.iter().product();
        let start = data.len();
        for _ in 0..n {
            let v = if name.ends_with("LayerNorm.weight") {
                1.0 + 0.1 * next()
            } else {
                0.6 * next()
            };
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            name.clone(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut head = serde_json::to_vec(&header).unwrap();
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut bytes = (head.len() as u64).to_le_bytes().to_vec();
    bytes.extend(head);
    bytes.extend(data);
    bytes
}

/// Writes the tiny model folder; `dropout` goes into `config.json`.
pub fn write_tiny_model(dir: &Path, dropout: f64) {
    let vocab = VOCAB.len();
    std::fs::write(dir.join("config.json"), config_json(vocab, dropout)).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json()).unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors_bytes(&hf_tensors(vocab), 7),
    )
    .unwrap();
    std::fs::write(
        dir.join("modules.json"),
        r#"[{"idx":0,"name":"0","path":"","type":"sentence_transformers.models.Transformer"},
            {"idx":1,"name":"1","path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
            {"idx":2,"name":"2","path":"2_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    std::fs::write(
        dir.join("1_Pooling/config.json"),
        r#"{"word_embedding_dimension": 8, "pooling_mode_cls_token": false,
            "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        r#"{"max_seq_length": 12}"#,
    )
    .unwrap();
}

pub fn tiny_model(name: &str, dropout: f64) -> PathBuf {
    let dir = temp_dir(name);
    write_tiny_model(&dir, dropout);
    dir
}
