//! The static text student on a tiny BERT folder written by the test (tl-text's test model).

#[path = "../../tl-text/tests/common/mod.rs"]
mod common;

use burn::tensor::{Int, Tensor, TensorData};
use tl_core::model::Encoder;
use tl_distill::{StaticConfig, StaticEmbedding};
use tl_text::SentenceEncoder;

fn dev() -> burn::tensor::Device {
    tl_core::device::device("flex").unwrap()
}

fn id(token: &str) -> u32 {
    common::VOCAB.iter().position(|t| *t == token).unwrap() as u32
}

#[test]
fn without_pca_or_weights_a_token_vector_is_the_teachers_mean_state_of_sep_token_cls() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let dir = common::tiny_model("static-raw", 0.0);
    let teacher = SentenceEncoder::load(&dir, &dev).unwrap();
    let config = StaticConfig {
        pca_dims: None,
        sif_coefficient: None,
        batch_size: 5,
    };
    let mut calls = 0;
    let student = StaticEmbedding::distill(&teacher, &config, &dev, |_, _| calls += 1).unwrap();
    let info = student.info();
    // [PAD], [UNK], [CLS] and [SEP] get no vector.
    assert_eq!(info.tokens_kept, common::VOCAB.len() - 4);
    assert_eq!((info.dim, calls), (common::HIDDEN, 4));
    for special in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] {
        assert!(
            student
                .token_vector(id(special))
                .unwrap()
                .iter()
                .all(|v| *v == 0.0)
        );
    }
    for token in ["good", "awful", "##s"] {
        let ids = vec![id("[SEP]") as i64, id(token) as i64, id("[CLS]") as i64];
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, 3]), &dev);
        let pad = Tensor::<2, Int>::zeros([1, 3], &dev).equal_elem(1);
        let want: Vec<f32> = teacher
            .model()
            .hidden_states(ids, pad)
            .mean_dim(1)
            .into_data()
            .iter::<f32>()
            .collect();
        let got = student.token_vector(id(token)).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{token}: {got:?} vs {want:?}");
        }
    }
}

#[test]
fn a_sentence_is_the_normalised_mean_of_its_tokens_and_survives_save_and_load() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let dir = common::tiny_model("static-pca", 0.0);
    let teacher = SentenceEncoder::load(&dir, &dev).unwrap();
    let config = StaticConfig {
        pca_dims: Some(4),
        ..StaticConfig::default()
    };
    let student = StaticEmbedding::distill(&teacher, &config, &dev, |_, _| {}).unwrap();
    assert_eq!(student.dim(), 4);
    let e = student.info().explained_variance;
    assert!(e > 0.0 && e <= 1.0 + 1e-9, "{e}");

    let texts = ["the book was great!", "awful film", "", "zzzz"];
    let vectors = student.embed(&texts).unwrap();
    assert_eq!(vectors.len(), 4 * 4);
    // By hand: the mean of the: book, was, great, ! (no length limit, no specials).
    let mut want = [0.0f32; 4];
    for token in ["the", "book", "was", "great", "!"] {
        for (w, v) in want
            .iter_mut()
            .zip(student.token_vector(id(token)).unwrap())
        {
            *w += v;
        }
    }
    let norm = want.iter().map(|x| x * x).sum::<f32>().sqrt();
    for (g, w) in vectors[..4].iter().zip(want) {
        assert!((g - w / norm).abs() < 1e-5);
    }
    // A text without known tokens ([UNK] only) and an empty one give zeros.
    assert!(vectors[8..].iter().all(|v| *v == 0.0));

    // The trainable encoder gives the same vectors from token-id inputs.
    let inputs = teacher.token_inputs(&texts[..2]).unwrap();
    let encoder = student.encoder(inputs.item_shape[0], &dev);
    let x = inputs.tensor(&[0, 1], &dev);
    let got: Vec<f32> = encoder.encode(x).into_data().iter::<f32>().collect();
    for (g, w) in got.iter().zip(&vectors[..8]) {
        assert!((g - w).abs() < 1e-5, "{got:?} vs {:?}", &vectors[..8]);
    }
    assert_eq!(encoder.feature_dim(), 4);
    // Inputs it can read pass; ids from another vocabulary or items of another length are
    // refused by name before anything runs.
    encoder.check_inputs(&inputs, "reviews").unwrap();
    let mut foreign = inputs.clone();
    foreign.values[1] = 1.0e6;
    let err = encoder
        .check_inputs(&foreign, "reviews")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("reviews") && err.contains("value 1000000 of item 0 is not a token id"),
        "{err}"
    );
    let short = tl_core::data::Inputs::new(vec![2], vec![1.0, 2.0]).unwrap();
    let err = encoder
        .check_inputs(&short, "reviews")
        .unwrap_err()
        .to_string();
    assert!(err.contains("items of shape [2]"), "{err}");

    let saved = common::temp_dir("static-saved");
    student.save(&saved).unwrap();
    let loaded = StaticEmbedding::load(&saved).unwrap();
    assert_eq!(loaded.embed(&texts).unwrap(), vectors);
    assert_eq!(loaded.info(), student.info());

    // A truncated table is refused, naming the file; nothing is guessed.
    let path = saved.join("vectors.f32");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let err = StaticEmbedding::load(&saved).unwrap_err().to_string();
    assert!(
        err.contains("vectors.f32") && err.contains("expected"),
        "{err}"
    );
    // A description of no dimensions (with the empty table it would match) is refused too.
    let info_path = saved.join("static.json");
    let mut info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&info_path).unwrap()).unwrap();
    info["dim"] = 0.into();
    std::fs::write(&info_path, serde_json::to_vec(&info).unwrap()).unwrap();
    std::fs::write(&path, b"").unwrap();
    let err = StaticEmbedding::load(&saved).unwrap_err().to_string();
    assert!(
        err.contains("static.json") && err.contains("0 dimensions"),
        "{err}"
    );
}

#[test]
fn bad_settings_are_refused_naming_the_field() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let dir = common::tiny_model("static-bad", 0.0);
    let teacher = SentenceEncoder::load(&dir, &dev).unwrap();
    for (config, field) in [
        (
            StaticConfig {
                pca_dims: Some(9),
                ..StaticConfig::default()
            },
            "pca_dims",
        ),
        (
            StaticConfig {
                pca_dims: Some(4),
                sif_coefficient: Some(1.5),
                ..StaticConfig::default()
            },
            "sif_coefficient",
        ),
        (
            StaticConfig {
                pca_dims: Some(4),
                batch_size: 0,
                ..StaticConfig::default()
            },
            "batch_size",
        ),
    ] {
        let err = StaticEmbedding::distill(&teacher, &config, &dev, |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{err}");
    }
    let err = StaticEmbedding::load(&common::temp_dir("static-empty"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("static.json"), "{err}");
}
