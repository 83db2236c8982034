//! `tl predict MODEL INPUT`: a saved model package applied to new files: a CSV/TSV of texts
//! for text models, a folder of PNG/JPEG images for image models. Writes one CSV row per item
//! with the predicted label, its probability and every class's probability.

use crate::data::{self, Featuriser, Raw};
use crate::progress::Progress;
use crate::recipe::DataSpec;
use std::error::Error;
use std::path::{Path, PathBuf};
use tl::prelude::*;
use tl::tl_core::checkpoint::write_atomic;

type Res<T> = Result<T, Box<dyn Error>>;

/// `tl predict`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A model package: `RUN/models/ROW/seed-N`, as `tl run` writes them.
    pub model: PathBuf,
    /// A CSV/TSV file of texts (text models) or a folder of PNG/JPEG images (image models).
    pub input: PathBuf,
    /// The column holding the texts.
    #[arg(long, default_value = "text")]
    pub text_column: String,
    /// Where the predictions go (CSV).
    #[arg(long, default_value = "predictions.csv")]
    pub out: PathBuf,
    /// Replace `--out` when it exists (otherwise refused).
    #[arg(long)]
    pub overwrite: bool,
    /// Device (flex, ndarray, wgpu, auto).
    #[arg(long, default_value = "flex")]
    pub device: String,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `tl predict`.
pub fn run(args: &Args) -> Res<()> {
    let dev = device(&args.device)?;
    let progress = Progress::new(args.quiet);
    let card = crate::package::read_card(&args.model)?;
    // The text model (its layers too, for a package of trained layers), loaded once.
    let mut featuriser = card
        .text_model
        .as_ref()
        .map(|m| Featuriser::new(m, true, &dev).map(Featuriser::without_states_cache))
        .transpose()?;
    let layers = featuriser.as_ref().and_then(Featuriser::top).transpose()?;
    let (model, card) = crate::package::load(&args.model, &dev, layers)?;
    if !args.input.exists() {
        return Err(format!("the input {} does not exist", args.input.display()).into());
    }
    if args.out.exists() {
        let same = std::fs::canonicalize(&args.out)
            .ok()
            .zip(std::fs::canonicalize(&args.input).ok())
            .is_some_and(|(a, b)| a == b);
        if same {
            return Err(format!(
                "--out {} is the input: name another file for the predictions",
                args.out.display()
            )
            .into());
        }
        if !args.overwrite {
            return Err(format!(
                "{} exists: name another file with --out, or pass --overwrite",
                args.out.display()
            )
            .into());
        }
    }
    // The items, and the name of each in the output.
    let (inputs, ids, texts): (Inputs, Vec<String>, Option<Vec<String>>) = match &mut featuriser {
        Some(featuriser) => {
            if args.input.is_dir() {
                return Err(format!(
                    "{} is a folder; this model takes texts: give a CSV/TSV file",
                    args.input.display()
                )
                .into());
            }
            let tsv = args.input.extension().is_some_and(|e| e == "tsv");
            let spec = DataSpec {
                format: if tsv { "tsv" } else { "csv" }.into(),
                path: Some(args.input.clone()),
                text_column: Some(args.text_column.clone()),
                ..DataSpec::empty()
            };
            let raw = data::read(&spec, Path::new("."), "input", 0)?;
            let Raw::Texts { texts, .. } = &raw else {
                unreachable!("a CSV reads as texts")
            };
            let texts = texts.clone();
            let domain = featuriser.domain(&raw, &card.class_names, "input", &progress, &dev)?;
            let ids = (1..=texts.len()).map(|i| i.to_string()).collect();
            (domain.inputs, ids, Some(texts))
        }
        None => {
            let (inputs, ids) = read_images(&args.input, &card.item_shape)?;
            (inputs, ids, None)
        }
    };
    inputs.check_fits(&card.item_shape, "input")?;
    let n = inputs.len();
    let set = LabelledSet::new(inputs, vec![0; n], card.class_names.clone(), "input")?;
    let probs = model.probabilities(&set, &dev)?;
    let k = card.class_names.len();
    check_finite(&probs, k, &ids, &args.model)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["id".to_string(), "predicted".into(), "probability".into()];
    header.extend(card.class_names.iter().map(|c| format!("p_{c}")));
    if texts.is_some() {
        header.push("text".into());
    }
    w.write_record(&header)?;
    let mut counts = vec![0usize; k];
    for i in 0..n {
        let row = &probs[i * k..(i + 1) * k];
        let (best, p) = top(row);
        counts[best] += 1;
        let mut record = vec![
            ids[i].clone(),
            card.class_names[best].clone(),
            format!("{p:.4}"),
        ];
        record.extend(row.iter().map(|v| format!("{v:.4}")));
        if let Some(t) = &texts {
            record.push(t[i].clone());
        }
        w.write_record(&record)?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    write_atomic(&args.out, &bytes)?;
    let summary: Vec<String> = card
        .class_names
        .iter()
        .zip(&counts)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    println!(
        "{n} items predicted by `{}` (seed {}, {:.2} % on {}): {}; wrote {}",
        card.strategy,
        card.seed,
        100.0 * card.accuracy,
        card.scored_on,
        summary.join(", "),
        args.out.display()
    );
    Ok(())
}

/// Refuses non-finite probabilities, naming the first item (and its id in `ids`, where it has
/// one): weights damaged after the run (the sizes still right) give NaN scores, which name
/// no class.
pub(crate) fn check_finite(probs: &[f32], k: usize, ids: &[String], package: &Path) -> Res<()> {
    match probs.iter().position(|p| !p.is_finite()) {
        Some(pos) => {
            let item = pos / k.max(1);
            let id = ids
                .get(item)
                .map(|id| format!(" ({id})"))
                .unwrap_or_default();
            Err(format!(
                "{}: the model gives item {item}{id} a non-finite probability: its weights are damaged; run the recipe again",
                package.display(),
            )
            .into())
        }
        None => Ok(()),
    }
}

/// The most probable class of one row of probabilities, and its probability (the first on
/// a tie).
pub fn top(row: &[f32]) -> (usize, f32) {
    row.iter()
        .enumerate()
        .fold((0, f32::MIN), |a, (j, &v)| if v > a.1 { (j, v) } else { a })
}

/// Every PNG/JPEG in `dir` (sorted by name), decoded to `shape` (`[c, h, w]`).
fn read_images(dir: &Path, shape: &[usize]) -> Res<(Inputs, Vec<String>)> {
    if !dir.is_dir() {
        return Err(format!(
            "{} is a file; this model takes images: give a folder of PNG/JPEG files",
            dir.display()
        )
        .into());
    }
    let [c, h, w] = shape else {
        return Err(format!("the package takes items of shape {shape:?}, not images").into());
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| {
                let e = e.to_string_lossy().to_ascii_lowercase();
                e == "png" || e == "jpg" || e == "jpeg"
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("no PNG/JPEG files in {}", dir.display()).into());
    }
    let mut values = Vec::with_capacity(files.len() * c * h * w);
    let mut ids = Vec::with_capacity(files.len());
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let name = f.display().to_string();
        let (v, _) = tl::tl_data::images::decode_image(&bytes, &name, *c, Some((*h, *w)))?;
        values.extend(v);
        ids.push(
            f.file_name()
                .map_or(name.clone(), |n| n.to_string_lossy().into()),
        );
    }
    Ok((Inputs::new(shape.to_vec(), values)?, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_probabilities_are_refused_naming_the_item() {
        let ids = vec!["a".to_string(), "b".into()];
        let p = Path::new("run/models/x/seed-0");
        assert!(check_finite(&[0.2, 0.8, 0.6, 0.4], 2, &ids, p).is_ok());
        let err = check_finite(&[0.2, 0.8, f32::NAN, 0.4], 2, &ids, p)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("item 1 (b)") && err.contains("seed-0"),
            "{err}"
        );
        assert_eq!(top(&[0.1, 0.7, 0.2]), (1, 0.7));
    }
}
