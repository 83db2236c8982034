//! Fuzzing on the stable toolchain: every parser and loader gets random bytes and mutations of
//! a valid input (bit flips, truncations, spliced and repeated chunks, extreme length fields),
//! seeded, and must answer each with a value or an error: a panic fails the test, naming the
//! target and the case. The cargo-fuzz targets in `fuzz/` cover the tl-data parsers further
//! with coverage guidance (nightly flags); this runs everywhere, in the README's test command.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use tl::prelude::*;
use tl::tl_models::import::{KeyMap, load_pytorch, load_safetensors};

/// Random cases and mutated cases per target.
const RANDOM: usize = 500;
const MUTATED: usize = 3000;

/// One mutation of `seed`.
fn mutate(seed: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..4) {
        let n = b.len().max(1);
        match rng.random_range(0..7) {
            0 => {
                let i = rng.random_range(0..n);
                if let Some(x) = b.get_mut(i) {
                    *x ^= 1 << rng.random_range(0..8);
                }
            }
            1 => {
                let i = rng.random_range(0..n);
                if let Some(x) = b.get_mut(i) {
                    *x = rng.random();
                }
            }
            2 => b.truncate(rng.random_range(0..n)),
            3 => {
                let i = rng.random_range(0..n);
                let len = rng.random_range(0..16usize);
                let chunk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                let at = i.min(b.len());
                b.splice(at..at, chunk);
            }
            4 => {
                // A repeated chunk (duplicated records, headers).
                let i = rng.random_range(0..n).min(b.len());
                let j = (i + rng.random_range(0..64usize)).min(b.len());
                let chunk = b[i..j].to_vec();
                b.splice(i..i, chunk);
            }
            5 => {
                // An extreme length field: 0, 2^31, or all ones, little or big endian.
                let value: u32 = [0, 1 << 31, u32::MAX, 0x7fff_ffff][rng.random_range(0..4)];
                let bytes = if rng.random() {
                    value.to_le_bytes()
                } else {
                    value.to_be_bytes()
                };
                let i = rng.random_range(0..n);
                for (k, v) in bytes.iter().enumerate() {
                    if let Some(x) = b.get_mut(i + k) {
                        *x = *v;
                    }
                }
            }
            _ => {
                // Text-level: a digit, a quote, a separator or a newline where it was not.
                let i = rng.random_range(0..n);
                let c = [b'9', b'"', b',', b'\n', b'<', b'-', b'.', b'\t'][rng.random_range(0..8)];
                if let Some(x) = b.get_mut(i) {
                    *x = c;
                }
            }
        }
    }
    b
}

/// How a target answered the inputs `hammer` gave it.
struct Answers {
    /// Whether the valid input the mutations start from was accepted.
    seed: bool,
    /// How many inputs were accepted (the rest were refused with an error).
    accepted: usize,
    cases: usize,
}

/// Runs `f` (true: the input was accepted) on the seed, an empty input, random and mutated
/// inputs. A panic fails, naming the case.
fn hammer(name: &str, seed: &[u8], cases: (usize, usize), f: impl Fn(&[u8]) -> bool) -> Answers {
    let mut rng = StdRng::seed_from_u64(0x7e57);
    let mut inputs: Vec<Vec<u8>> = vec![seed.to_vec(), Vec::new()];
    for _ in 0..cases.0 {
        let len = rng.random_range(0..512usize);
        inputs.push((0..len).map(|_| rng.random()).collect());
    }
    for _ in 0..cases.1 {
        inputs.push(mutate(seed, &mut rng));
    }
    let mut answers = Answers {
        seed: false,
        accepted: 0,
        cases: inputs.len(),
    };
    for (i, input) in inputs.iter().enumerate() {
        match catch_unwind(AssertUnwindSafe(|| f(input))) {
            Ok(accepted) => {
                answers.accepted += accepted as usize;
                if i == 0 {
                    answers.seed = accepted;
                }
            }
            Err(_) => panic!(
                "{name}: case {i} panicked on {} bytes: {:?}",
                input.len(),
                String::from_utf8_lossy(&input[..input.len().min(200)])
            ),
        }
    }
    eprintln!(
        "{name}: {} of {} inputs accepted",
        answers.accepted, answers.cases
    );
    answers
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tl-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn png(side: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..side * side).map(|i| (i * 37 % 256) as u8).collect();
    let img = image::GrayImage::from_raw(side, side, pixels).unwrap();
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    bytes
}

#[test]
fn data_parsers_answer_every_input_without_panicking() {
    let mut counts = Vec::new();
    let cases = (RANDOM, MUTATED);

    let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4];
    idx.extend((0..48).map(|i| i as u8));
    counts.push(hammer("idx", &idx, cases, |b| {
        if let Ok(a) = tl::tl_data::idx::parse_idx(b, "fuzz") {
            assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
            return true;
        }
        false
    }));
    let libsvm = b"1 1:0.5 3:-0.25\n2 2:1.0 4:0.75\n10 1:1e-3\n";
    counts.push(hammer("libsvm", libsvm, cases, |b| {
        let text = String::from_utf8_lossy(b);
        let _ = tl::tl_data::libsvm::parse_libsvm(&text, "fuzz", Some(4));
        if let Ok(rows) = tl::tl_data::libsvm::parse_libsvm(&text, "fuzz", None) {
            assert_eq!(rows.values.len(), rows.labels.len() * rows.dim);
            return true;
        }
        false
    }));
    let digits: String = (0..3)
        .map(|r| {
            let mut row: Vec<String> = (0..64).map(|i| ((i + r) % 17).to_string()).collect();
            row.push(r.to_string());
            row.join(",") + "\n"
        })
        .collect();
    counts.push(hammer("digits_csv", digits.as_bytes(), cases, |b| {
        tl::tl_data::parse_digits_csv(&String::from_utf8_lossy(b), "fuzz").is_ok()
    }));
    let reviews = b"<review>\n<rating>\n5.0\n</rating>\n<review_text>\nGreat &amp; cheap\n</review_text>\n</review>\n<review>\n<review_text>\nbad\n</review_text>\n</review>\n";
    counts.push(hammer("reviews", reviews, cases, |b| {
        tl::tl_data::text::parse_reviews(&String::from_utf8_lossy(b), "fuzz").is_ok()
    }));
    let table = b"text,label\n\"good, really\",pos\nbad,neg\n\"a \"\"quote\"\"\",pos\n";
    counts.push(hammer("text_table", table, cases, |b| {
        let text = String::from_utf8_lossy(b);
        let mut accepted = false;
        for delimiter in [',', '\t'] {
            if let Ok(set) =
                tl::tl_data::text::parse_text_table(&text, delimiter, "fuzz", "text", "label")
            {
                assert_eq!(set.texts.len(), set.labels.len());
                assert!(set.labels.iter().all(|&l| l < set.class_names.len()));
                accepted |= delimiter == ',';
            }
        }
        accepted
    }));
    counts.push(hammer("image", &png(8), cases, |b| {
        let _ = tl::tl_data::images::decode_image(b, "fuzz", 3, None);
        if let Ok((values, shape)) = tl::tl_data::images::decode_image(b, "fuzz", 1, Some((8, 8))) {
            assert_eq!(values.len(), shape.size());
            return true;
        }
        false
    }));
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    counts.push(hammer("decompress", &gz, cases, |b| {
        tl::tl_data::io::decompress(b.to_vec(), "fuzz").is_ok()
    }));
    // An Omniglot-layout zip of two characters, two drawings each.
    let mut zip_bytes = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut zip_bytes));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for c in 1..=2 {
            for d in 1..=2 {
                w.start_file(
                    format!("images_background/Alpha/character0{c}/0{c}0{d}.png"),
                    opts,
                )
                .unwrap();
                w.write_all(&png(8)).unwrap();
            }
        }
        w.finish().unwrap();
    }
    counts.push(hammer("omniglot_zip", &zip_bytes, (RANDOM, 1000), |b| {
        let _ = tl::tl_data::images::omniglot_runs_from_bytes(b, "fuzz", 8);
        tl::tl_data::images::omniglot_from_bytes(b, "fuzz", "fuzz", 8).is_ok()
    }));
    for (n, name) in counts.iter().zip([
        "idx",
        "libsvm",
        "digits_csv",
        "reviews",
        "text_table",
        "image",
        "decompress",
        "omniglot_zip",
    ]) {
        // The valid input each target's mutations start from is read; every case answered.
        assert!(n.seed, "{name}: the valid seed input was refused");
        assert!(n.cases >= 500, "{name}: {} cases", n.cases);
    }
}

fn linear(dev: &Device) -> Classifier<Sequential> {
    Classifier::new(
        SequentialConfig::new(vec![3])
            .linear(2)
            .relu()
            .init(dev)
            .unwrap(),
        head_config(2, &[], 2).init(dev).unwrap(),
    )
    .unwrap()
}

/// Writes each input to `path` and calls `f` on the path.
fn via_file(path: &Path, f: impl Fn(&Path) -> bool) -> impl Fn(&[u8]) -> bool {
    let path = path.to_path_buf();
    move |b: &[u8]| {
        std::fs::write(&path, b).unwrap();
        f(&path)
    }
}

#[test]
fn weight_and_card_loaders_answer_every_input_without_panicking() {
    // Every case builds a model: its first weights come from the generator seeded tests share.
    let _seeded = tl::tl_core::device::seed_lock();
    let dev = device("flex").unwrap();
    let dir = temp("loaders");
    let cases = (300, 1500);
    let map = KeyMap::new(&[(r"^body\.0\.", "encoder.layers.0.")]).with_fresh("head.");

    // safetensors: a valid file of the linear model's first layer.
    let header = serde_json::json!({
        "body.0.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "body.0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [24, 32]},
    });
    let header = serde_json::to_vec(&header).unwrap();
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(&header);
    st.extend((0..8).flat_map(|i| (i as f32 * 0.5).to_le_bytes()));
    let n = hammer(
        "safetensors",
        &st,
        cases,
        via_file(&dir.join("w.safetensors"), |p| {
            load_safetensors(linear(&dev), p, &map).is_ok()
        }),
    );
    assert!(n.seed, "the valid safetensors file was refused");
    assert!(n.cases >= 500);

    // .pth: a pickle (the hostile one of tl-models' tests as the seed).
    let mut pickle =
        b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.".to_vec();
    pickle.extend_from_slice(b"");
    let n = hammer(
        "pth",
        &pickle,
        cases,
        via_file(&dir.join("w.pth"), |p| {
            load_pytorch(linear(&dev), p, &map).is_ok()
        }),
    );
    assert!(!n.seed, "a pickle that calls os.system was loaded");
    assert!(n.cases >= 500);

    // Burnpack weights as tl-core saves them.
    let weights = dir.join("seed.bpk");
    tl::tl_core::checkpoint::save_weights(&linear(&dev), &weights).unwrap();
    let n = hammer(
        "burnpack",
        &std::fs::read(&weights).unwrap(),
        cases,
        via_file(&dir.join("w.bpk"), |p| {
            tl::tl_core::checkpoint::load_weights(linear(&dev), p).is_ok()
        }),
    );
    assert!(n.seed, "the saved weights were refused");
    assert!(n.cases >= 500);

    // A model card.
    let card = serde_json::json!({
        "name": "m", "architecture": "mlp", "encoder": null, "head": null,
        "task": "digits", "label_names": ["0", "1"], "source_dataset": "d", "domain": "x",
        "input": {"modality": "image", "shape": [1, 8, 8], "value_range": [0.0, 1.0],
                  "normalisation": "none"},
        "metrics": {"accuracy": 0.9}, "num_params": 10, "license": "MIT",
        "provenance": "test", "weights": "w.bpk"
    });
    let card = serde_json::to_vec_pretty(&card).unwrap();
    let card_path = dir.join("card.json");
    std::fs::write(&card_path, &card).unwrap();
    tl::tl_models::card::ModelCard::load(&card_path).expect("the seed card is valid");
    let n = hammer(
        "model_card",
        &card,
        cases,
        via_file(&card_path, |p| {
            tl::tl_models::card::ModelCard::load(p).is_ok()
        }),
    );
    assert!(n.seed, "the valid card was refused");
    assert!(n.cases >= 500);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recipes_answer_every_input_with_one_line() {
    let dir = temp("recipes");
    let seed =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/digits-rotated.toml"))
            .unwrap();
    let path = dir.join("r.toml");
    let n = hammer("recipe", &seed, (40, 160), |b| {
        std::fs::write(&path, b).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tl"))
            .args(["run", path.to_str().unwrap(), "--check"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // Checked, or refused in one line: never a panic or a trace.
        if out.status.success() {
            assert!(err.is_empty(), "{err}");
            true
        } else {
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(
                err.starts_with("error: ") && err.trim().lines().count() == 1,
                "{err}"
            );
            false
        }
    });
    assert!(n.seed, "recipes/digits-rotated.toml failed its check");
    assert!(n.cases >= 100);
    let _ = std::fs::remove_dir_all(&dir);
}
