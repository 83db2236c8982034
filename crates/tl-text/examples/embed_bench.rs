//! Sentence-embedding throughput of all-MiniLM-L6-v2: Burn (this crate) against
//! sentence-transformers on PyTorch, on the same texts, in the same run.
//!
//! Texts are real Amazon `books` reviews long enough to fill 128 tokens (cut there), batch 32.
//! Needs `TL_MODEL_DIR` (with `all-MiniLM-L6-v2/`, see `scripts/fetch-minilm.sh`) and
//! `TL_DATA_DIR`; the PyTorch column needs `python3` with `sentence-transformers`.
//!
//! ```text
//! cargo run --release -p tl-text --example embed_bench -- [--device flex] [--sentences 256] [--ops]
//! ```
//!
//! `--ops` adds a table of one layer's operations timed one by one on both sides.
//! ```text
//! ```

use burn::tensor::{Distribution, Tensor, activation};
use clap::Parser;
use std::time::Instant;
use tl_text::{LoadOptions, SentenceEncoder};

/// Median milliseconds of `f` over 5 runs after one warm-up. The result is summed to one
/// number before it is read back, so that a large read-back is not timed.
fn time_ms(mut f: impl FnMut() -> Tensor<3>) -> f64 {
    // `into_scalar` reads the value: on wgpu `into_data` alone can hand back storage that is
    // filled on first access, and the clock would stop before the work is done
    let _: f32 = f().sum().into_scalar();
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let _: f32 = f().sum().into_scalar();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[2]
}

/// The operations of one MiniLM layer at batch 32 x 128 tokens, timed one by one.
fn op_times(dev: &burn::tensor::Device) -> Vec<(&'static str, f64)> {
    let (b, s, h, heads, ff) = (32, 128, 384, 12, 1536);
    let d = h / heads;
    let x = Tensor::<3>::random([b, s, h], Distribution::Default, dev);
    let w_in = Tensor::<2>::random([h, ff], Distribution::Default, dev);
    let w_out = Tensor::<2>::random([ff, h], Distribution::Default, dev);
    let w_sq = Tensor::<2>::random([h, h], Distribution::Default, dev);
    let bias = Tensor::<1>::random([ff], Distribution::Default, dev);
    let hidden = Tensor::<3>::random([b, s, ff], Distribution::Default, dev);
    let q = Tensor::<4>::random([b, heads, s, d], Distribution::Default, dev);
    let scores = Tensor::<4>::random([b, heads, s, s], Distribution::Default, dev);
    let norm = burn::nn::LayerNormConfig::new(h).init(dev);
    use burn::tensor::module::{attention, linear};
    vec![
        (
            "linear 384 -> 384 (x4 per layer)",
            time_ms(|| linear(x.clone(), w_sq.clone(), None)),
        ),
        (
            "linear 384 -> 1536",
            time_ms(|| linear(x.clone(), w_in.clone(), Some(bias.clone()))),
        ),
        (
            "linear 1536 -> 384",
            time_ms(|| linear(hidden.clone(), w_out.clone(), None)),
        ),
        (
            "GELU (exact, erf)",
            time_ms(|| activation::gelu(hidden.clone())),
        ),
        (
            "Q K^T (batched matmul)",
            time_ms(|| {
                q.clone()
                    .matmul(q.clone().transpose())
                    .reshape([b, heads * s, s])
            }),
        ),
        (
            "softmax over keys",
            time_ms(|| activation::softmax(scores.clone(), 3).reshape([b, heads * s, s])),
        ),
        (
            "fused attention (used)",
            time_ms(|| {
                attention(
                    q.clone(),
                    q.clone(),
                    q.clone(),
                    None,
                    None,
                    Default::default(),
                )
                .reshape([b, heads * s, d])
            }),
        ),
        ("layer norm", time_ms(|| norm.forward(x.clone()))),
    ]
}

/// Sentence-embedding throughput of all-MiniLM-L6-v2: Burn against sentence-transformers on
/// PyTorch, on the same texts (needs TL_DATA_DIR and TL_MODEL_DIR).
#[derive(Parser)]
struct Args {
    /// Backend: flex, ndarray, wgpu, wgpu-cpu or auto.
    #[arg(long, default_value = "flex")]
    device: String,
    /// Number of reviews to embed (each cut at 128 tokens).
    #[arg(long, default_value_t = 256)]
    sentences: usize,
    /// Also time one layer's operations one by one on both sides.
    #[arg(long)]
    ops: bool,
}

/// Errors as one line (`error: ...`), not as a debug dump.
fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (Some(data), Some(models)) = (tl_core::paths::data_dir(), tl_core::paths::model_dir())
    else {
        eprintln!("set TL_DATA_DIR and TL_MODEL_DIR (see the README)");
        std::process::exit(2);
    };
    let n = args.sentences;
    if n == 0 {
        return Err("--sentences must be at least 1".into());
    }
    let (seq, batch) = (128, 32);
    let ops = args.ops;
    let device_name = args.device;
    let dev = tl_core::device::device(&device_name)?;
    let folder = models.join("all-MiniLM-L6-v2");
    let encoder = SentenceEncoder::load_with(
        &folder,
        LoadOptions {
            max_len: Some(seq),
            ..Default::default()
        },
        &dev,
    )?;

    let books = tl_data::text::amazon_domain(&data.join("amazon-reviews"), "books")?;
    let all: Vec<&str> = books.texts.iter().map(String::as_str).collect();
    let lengths = encoder.tokenize(&all)?;
    let texts: Vec<&str> = all
        .iter()
        .zip(&lengths)
        .filter(|(_, ids)| ids.len() == seq)
        .map(|(t, _)| *t)
        .take(n)
        .collect();
    if texts.len() < n {
        return Err(format!("only {} reviews reach {seq} tokens", texts.len()).into());
    }

    // Warm-up: one batch (allocations, thread pool).
    encoder.embed(&texts[..batch.min(n)], batch, &dev, |_, _| {})?;
    let t = Instant::now();
    let burn_vectors = encoder.embed(&texts, batch, &dev, |_, _| {})?;
    let burn_rate = n as f64 / t.elapsed().as_secs_f64();

    let texts_file =
        std::env::temp_dir().join(format!("tl-embed-bench-{}.json", std::process::id()));
    std::fs::write(&texts_file, serde_json::to_string(&texts)?)?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/embed_bench.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&folder)
        .arg(&texts_file)
        .args(["2", &seq.to_string(), &batch.to_string()])
        .arg(if ops { "ops" } else { "" })
        .output();
    let _ = std::fs::remove_file(&texts_file);
    let torch = out.ok().filter(|o| o.status.success()).and_then(|o| {
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let mut rate = None;
        let mut vectors = Vec::new();
        let mut op_ms = Vec::new();
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("op ") {
                op_ms.extend(v.trim().parse::<f64>().ok());
            }
            if let Some(r) = line.strip_prefix("sentences_per_second ") {
                rate = r.trim().parse::<f64>().ok();
            } else if let Some(v) = line.strip_prefix("first ") {
                vectors = v.split(',').filter_map(|x| x.parse::<f32>().ok()).collect();
            }
        }
        rate.map(|r| (r, vectors, op_ms))
    });

    println!(
        "\n| all-MiniLM-L6-v2, {n} sentences x {seq} tokens, batch {batch} | sentences/s | vs PyTorch |"
    );
    println!("|---|---:|---:|");
    match &torch {
        Some((rate, first, _)) => {
            let rate = *rate;
            println!(
                "| Burn ({device_name}) | {burn_rate:.1} | {:.2}x |",
                burn_rate / rate
            );
            println!("| sentence-transformers 6.2 on PyTorch CPU, 2 threads | {rate:.1} | 1.00x |");
            if first.len() == encoder.dim() {
                let c: f32 = first.iter().zip(&burn_vectors).map(|(a, b)| a * b).sum();
                println!("\ncosine(Burn, PyTorch) of the first sentence: {c:.6}");
            }
        }
        None => {
            println!("| Burn ({device_name}) | {burn_rate:.1} | n/a |");
            eprintln!("python3 with sentence-transformers not found: PyTorch row skipped");
        }
    }
    if ops {
        let torch_ops = torch.as_ref().map(|t| t.2.clone()).unwrap_or_default();
        println!(
            "\n| one layer's operations, batch {batch} x {seq} tokens | Burn (ms) | PyTorch (ms) | Burn / PyTorch |"
        );
        println!("|---|---:|---:|---:|");
        for (i, (name, ms)) in op_times(&dev).into_iter().enumerate() {
            match torch_ops.get(i) {
                Some(t) => println!("| {name} | {ms:.1} | {t:.1} | {:.1}x |", ms / t),
                None => println!("| {name} | {ms:.1} | n/a | n/a |"),
            }
        }
    }
    Ok(())
}
