//! Opt-in checks of the real all-MiniLM-L6-v2: run when `TL_MODEL_DIR` holds
//! `all-MiniLM-L6-v2/` (fetched by `scripts/fetch-minilm.sh`) and
//! `all-MiniLM-L6-v2.reference.json` (`.ci/run` sets both up).

use serde::Deserialize;
use std::path::PathBuf;
use tl_text::SentenceEncoder;

#[derive(Deserialize)]
struct Reference {
    max_seq_length: usize,
    sentences: Vec<Sentence>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    input_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn minilm() -> Option<(PathBuf, PathBuf)> {
    let models = tl_core::paths::model_dir()?;
    let folder = models.join("all-MiniLM-L6-v2");
    let reference = models.join("all-MiniLM-L6-v2.reference.json");
    if !folder.join("model.safetensors").exists() || !reference.exists() {
        eprintln!(
            "{} or {} missing (run scripts/fetch-minilm.sh): skipped",
            folder.display(),
            reference.display()
        );
        return None;
    }
    Some((folder, reference))
}

/// The model (on flex) and its reference sentences, when both are there.
fn loaded() -> Option<(SentenceEncoder, Reference, burn::tensor::Device)> {
    let (folder, reference) = minilm()?;
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    let dev = tl_core::device::device("flex").unwrap();
    let encoder = SentenceEncoder::load(&folder, &dev).unwrap();
    Some((encoder, reference, dev))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-12)
}

#[test]
fn real_data_minilm_matches_sentence_transformers() {
    let Some((encoder, reference, dev)) = loaded() else {
        return;
    };
    assert_eq!(encoder.max_len(), reference.max_seq_length);
    assert_eq!(encoder.dim(), 384);
    // Every tensor of the file is applied; only the position-id buffer and the pooler,
    // which sentence-transformers does not use, are left over.
    let report = encoder.import_report();
    // 5 embedding tensors and 16 per layer.
    assert_eq!(report.applied.len(), 5 + 16 * 6, "{report:?}");
    assert!(report.fresh.is_empty(), "{report:?}");
    assert!(
        report
            .unused
            .iter()
            .all(|k| k.contains("position_ids") || k.starts_with("pooler.")),
        "{report:?}"
    );

    let texts: Vec<&str> = reference
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    let ids = encoder.tokenize(&texts).unwrap();
    for (s, got) in reference.sentences.iter().zip(&ids) {
        assert_eq!(got, &s.input_ids, "token ids of {:?}", s.text);
    }
    // Batches of 3 mix lengths, so padding and masking are exercised too.
    let vectors = encoder.embed(&texts, 3, &dev, |_, _| {}).unwrap();
    let mut worst = 1.0f64;
    for (i, s) in reference.sentences.iter().enumerate() {
        let got = &vectors[i * 384..(i + 1) * 384];
        let c = cosine(got, &s.embedding);
        eprintln!(
            "cosine {c:.7}  {} tokens  {:?}",
            s.input_ids.len(),
            s.text.chars().take(40).collect::<String>()
        );
        worst = worst.min(c);
        let norm: f32 = got.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm - 1.0).abs() < 1e-4,
            "embedding not normalised: {norm}"
        );
    }
    assert!(worst >= 0.9999, "worst cosine {worst}");
}

#[test]
fn real_data_minilm_top_layers_on_cached_states_match_sentence_transformers() {
    let Some((encoder, reference, dev)) = loaded() else {
        return;
    };
    let texts: Vec<&str> = reference
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    let n = texts.len();
    for below in [0, 4, 6] {
        let states = encoder
            .states_inputs(&texts, below, 3, &dev, |_, _| {})
            .unwrap();
        let top = tl_text::BertTop::from_bert(encoder.model(), below).unwrap();
        let x = states.tensor(&(0..n).collect::<Vec<_>>(), &dev);
        use tl_core::model::Encoder;
        let v: Vec<f32> = top.encode(x).into_data().iter::<f32>().collect();
        for (i, s) in reference.sentences.iter().enumerate() {
            let c = cosine(&v[i * 384..(i + 1) * 384], &s.embedding);
            assert!(
                c >= 0.9999,
                "below {below}, sentence {i}: cosine {c} against sentence-transformers"
            );
        }
    }
}
