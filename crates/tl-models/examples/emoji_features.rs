//! How well a frozen pretrained image network's features tell emoji symbols apart across
//! vendors: each Twitter drawing's nearest Google drawing (cosine) is the same symbol how
//! often, among all 1,911 symbols, for the pooled activations of every stage of
//! EfficientNet-Lite0 (ImageNet) and for the raw pixels. A transferability check before any
//! training: what the cross-modal emoji experiment's image side starts from.
//!
//! ```text
//! TL_DATA_DIR=../shared/data TL_MODEL_DIR=~/models \
//!     cargo run --release -p tl-models --example emoji_features -- [--side 128] [--size 64] \
//!     [--grid 4] [--align none|center|standardize]
//! ```

use clap::Parser;
use tl_core::prelude::*;
use tl_models::efficientnet::{EfficientNetLiteConfig, LITE0_FILE, LITE0_FOLDER, load_lite0};

#[derive(Parser)]
struct Args {
    /// The side the network sees the drawings at (resized).
    #[arg(long, default_value_t = 128)]
    side: usize,
    /// The drawings' side as loaded (32 or 64).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Each stage's activations averaged over a grid x grid partition (1: global).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    grid: u16,
    /// Per-vendor feature statistics removed before the cosine (transductive: each vendor's
    /// unlabelled drawings give its mean and deviation): none, center or standardize.
    #[arg(long, default_value = "none")]
    align: String,
}

/// Each column of a rows x dim matrix centred on its mean (and, with `scale`, divided by its
/// deviation): the statistics of one domain removed, as AdaBN does inside a network.
fn standardise(values: &[f32], dim: usize, scale: bool) -> Vec<f32> {
    let rows = values.len() / dim;
    let mut mean = vec![0f64; dim];
    let mut var = vec![0f64; dim];
    for r in values.chunks(dim) {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += f64::from(*x) / rows as f64;
        }
    }
    for r in values.chunks(dim) {
        for ((v, m), x) in var.iter_mut().zip(&mean).zip(r) {
            *v += (f64::from(*x) - m).powi(2) / rows as f64;
        }
    }
    values
        .chunks(dim)
        .flat_map(|r| {
            r.iter().zip(mean.iter().zip(&var)).map(|(x, (m, v))| {
                let c = f64::from(*x) - m;
                (if scale { c / (v.sqrt() + 1e-6) } else { c }) as f32
            })
        })
        .collect()
}

/// Top-1 of each query row's nearest key row by cosine (query i's match is key i).
fn nearest_top1(queries: &[f32], keys: &[f32], dim: usize) -> f64 {
    let norm = |v: &[f32]| -> Vec<f32> {
        v.chunks(dim)
            .flat_map(|r| {
                let n = r.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                r.iter().map(move |x| x / n)
            })
            .collect()
    };
    let (q, k) = (norm(queries), norm(keys));
    let n = q.len() / dim;
    let right = (0..n)
        .filter(|&i| {
            let row = &q[i * dim..(i + 1) * dim];
            let score = |j: usize| -> f32 {
                row.iter()
                    .zip(&k[j * dim..(j + 1) * dim])
                    .map(|(a, b)| a * b)
                    .sum()
            };
            let mine = score(i);
            (0..k.len() / dim).all(|j| j == i || score(j) < mine)
        })
        .count();
    right as f64 / n as f64
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let data = tl_core::paths::data_dir().ok_or("set TL_DATA_DIR")?;
    let models = tl_core::paths::model_dir().ok_or("set TL_MODEL_DIR")?;
    let dev = device("flex")?.without_autodiff();
    let grid = usize::from(args.grid);
    let config =
        EfficientNetLiteConfig::new(vec![3, args.size, args.size]).with_resolution(args.side);
    let (net, _) = load_lite0(&config, &models.join(LITE0_FOLDER).join(LITE0_FILE), &dev)?;
    let set = tl_data::emoji::emoji(&data.join("emoji"), args.size)?;
    let started = std::time::Instant::now();
    let taps = |inputs: &Inputs| -> Vec<Vec<f32>> {
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); 8];
        for chunk in (0..inputs.len()).collect::<Vec<_>>().chunks(64) {
            for (o, t) in out
                .iter_mut()
                .zip(net.pooled_stages(inputs.tensor(chunk, &dev), grid, 8))
            {
                o.extend(t.into_data().iter::<f32>());
            }
        }
        out
    };
    let mut google = taps(&set.google);
    let mut twitter = taps(&set.twitter);
    if args.align != "none" {
        let scale = match args.align.as_str() {
            "center" => false,
            "standardize" => true,
            other => {
                return Err(
                    format!("--align {other}: expected none, center or standardize").into(),
                );
            }
        };
        for taps in [&mut google, &mut twitter] {
            for t in taps.iter_mut() {
                let dim = t.len() / set.symbols.len();
                *t = standardise(t, dim, scale);
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "\nTwitter drawing -> nearest Google drawing (cosine), top-1 among {} symbols (chance {:.2} %); EfficientNet-Lite0 at {} px, {seconds:.0} s for {} drawings\n",
        set.symbols.len(),
        100.0 / set.symbols.len() as f64,
        args.side,
        2 * set.symbols.len()
    );
    println!("| features | width | top-1 |\n|---|---|---|");
    let pixel_dim = 3 * args.size * args.size;
    println!(
        "| raw pixels | {pixel_dim} | {:.2} % |",
        100.0 * nearest_top1(&set.twitter.values, &set.google.values, pixel_dim)
    );
    let names = [
        "stage 1", "stage 2", "stage 3", "stage 4", "stage 5", "stage 6", "stage 7", "head",
    ];
    for (s, name) in names.iter().enumerate() {
        let dim = google[s].len() / set.symbols.len();
        println!(
            "| {name} (pooled {g} x {g}) | {dim} | {:.2} % |",
            100.0 * nearest_top1(&twitter[s], &google[s], dim),
            g = grid,
        );
    }
    Ok(())
}
