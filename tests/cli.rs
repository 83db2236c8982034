//! The `tl` binary, driven as a user drives it, on tiny data (the embedded digits and CSV
//! files the tests write).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// tl-text's tiny BERT folder (a WordPiece vocabulary of 22 tokens, 2 layers of width 8).
#[path = "../crates/tl-text/tests/common/mod.rs"]
mod tiny_bert;

fn tl(args: &[&str], dir: &Path) -> Output {
    tl_with_models(args, dir, None)
}

/// `tl` in `dir` (its home as well), with `TL_MODEL_DIR` set to `models` or unset.
fn tl_with_models(args: &[&str], dir: &Path, models: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tl"));
    command.args(args).current_dir(dir).env("HOME", dir);
    match models {
        Some(m) => command.env("TL_MODEL_DIR", m),
        None => command.env_remove("TL_MODEL_DIR"),
    };
    command.output().expect("the tl binary runs")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A folder of its own for a test, removed when the test ends.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("tl-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

/// A small, quick recipe on the embedded digits: 0-2 upright -> 0-2 turned.
const DIGITS: &str = r#"
name = "tiny"
seeds = 2
[source]
format = "digits"
classes = [0, 1, 2]
[target]
format = "digits"
classes = [0, 1, 2]
rotate = 30.0
[model]
name = "small-cnn"
source_epochs = 15
scratch = true
[train]
epochs = 3
batch_size = 32
[[strategy]]
name = "source-only"
[[strategy]]
name = "deep-coral"
label = "coral"
"#;

#[test]
fn strategies_lists_every_family_and_shows_settings() {
    let dir = scratch("strategies");
    let o = tl(&["strategies"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for name in [
        "dann",
        "clip",
        "protonet",
        "beta-vae",
        "knowledge-distillation",
        "lora",
        "deep-coral",
    ] {
        assert!(
            out.contains(&format!("| {name} |")),
            "{name} missing:\n{out}"
        );
    }
    let o = tl(&["strategies", "--show", "lora"], &dir);
    let (out, _) = text(&o);
    assert!(o.status.success());
    assert!(out.contains("\"rank\""), "{out}");
    let o = tl(&["strategies", "--show", "loar"], &dir);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("loar") && err.contains("lora"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn run_writes_a_run_folder_and_keeps_an_earlier_run() {
    let dir = scratch("run");
    std::fs::write(dir.join("tiny.toml"), DIGITS).unwrap();
    let o = tl(&["run", "tiny.toml", "--quiet"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    // The table: the start model's row and both strategies, over 2 seeds.
    for row in [
        "| no adaptation | 2 |",
        "| scratch | 2 |",
        "| source-only | 2 |",
        "| coral | 2 |",
    ] {
        assert!(out.contains(row), "{row} missing:\n{out}");
    }
    assert!(out.contains("Gain over `source-only`"), "{out}");
    let run = dir.join("runs/tiny");
    for f in [
        "recipe.toml",
        "reports.json",
        "summary.md",
        "summary.csv",
        "run.json",
        "accuracy.svg",
        "learning-curves.svg",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let bars = std::fs::read_to_string(run.join("accuracy.svg")).unwrap();
    for text in [
        "tiny: accuracy",
        "accuracy (%)",
        "scratch",
        "coral",
        "mean over seeds",
    ] {
        assert!(bars.contains(text), "{text} not in the accuracy picture");
    }
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("reports.json")).unwrap()).unwrap();
    let reports = reports["reports"].as_array().expect("reports");
    assert_eq!(reports.len(), 8);
    // The start model learnt the source: well above chance (1/3) on turned digits.
    for r in reports {
        let acc = r["metrics"]["accuracy"].as_f64().unwrap();
        assert!(acc > 0.6, "{}: {acc}", r["strategy"]);
    }
    // The report: every section, the pictures inline in one page, files beside the Markdown.
    let o = tl(&["report", "runs/tiny", "--quiet"], &dir);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let report = run.join("report");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    for section in [
        "## Summary",
        "## What pretraining is worth",
        "## Per-class accuracy",
        "## Robustness",
        "## Most confident mistakes",
        "| gaussian noise | s = 0 |",
    ] {
        assert!(md.contains(section), "{section} missing:\n{md}");
    }
    for f in [
        "confusion.svg",
        "reliability.svg",
        "learning-curves.svg",
        "robustness-rotation.svg",
    ] {
        let svg = std::fs::read_to_string(report.join(f)).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{f}");
        assert!(md.contains(&format!("]({f})")), "{f} not in the Markdown");
    }
    // Titles, axis labels and legends are in the pictures.
    let curves = std::fs::read_to_string(report.join("learning-curves.svg")).unwrap();
    for text in ["Learning curves", "epoch", "training loss", "coral"] {
        assert!(curves.contains(text), "{text} not in the learning curves");
    }
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 7, "one inline picture each");
    assert!(!html.contains("src=\"confusion.svg\""), "self-contained");
    // Turning the turned digits further hurts every row: accuracy falls with severity.
    let rotation: Vec<&str> = md
        .lines()
        .skip_while(|l| !l.starts_with("| rotation |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(
        rotation.len(),
        4,
        "no adaptation, scratch, source-only, coral"
    );
    for line in rotation {
        let cells: Vec<f64> = line
            .split('|')
            .filter_map(|c| c.trim().parse().ok())
            .collect();
        assert!(cells[0] > cells[5], "{line}");
    }
    // Not a run folder: one line naming it.
    let o = tl(&["report", "nowhere"], &dir);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("not a run folder"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A saved model applied to new images: 8x8 PNGs of digits 0-2, named by their label.
    let digits = tl::tl_data::digits().unwrap();
    let pngs = dir.join("pngs");
    std::fs::create_dir_all(&pngs).unwrap();
    let mut written = 0;
    for i in (0..digits.len()).filter(|&i| digits.labels[i] < 3).take(60) {
        let pixels: Vec<u8> = digits
            .inputs
            .item(i)
            .iter()
            .map(|v| (v * 255.0).round() as u8)
            .collect();
        image::GrayImage::from_raw(8, 8, pixels)
            .unwrap()
            .save(pngs.join(format!("{:03}-label{}.png", i, digits.labels[i])))
            .unwrap();
        written += 1;
    }
    let model = run.join("models/source-only/seed-0");
    let o = tl(
        &[
            "predict",
            model.to_str().unwrap(),
            "pngs",
            "--out",
            "p.csv",
            "--quiet",
        ],
        &dir,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains(&format!("{written} items predicted")), "{out}");
    let csv = std::fs::read_to_string(dir.join("p.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), written);
    let right = rows
        .iter()
        .filter(|r| {
            let f: Vec<&str> = r.split(',').collect();
            f[0].ends_with(&format!("label{}.png", f[1]))
        })
        .count();
    // Upright digits, the model's own source domain: nearly all right.
    assert!(right * 10 >= written * 8, "{right} of {written} right");
    // A text file to an image model is refused by name.
    let o = tl(&["predict", model.to_str().unwrap(), "tiny.toml"], &dir);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("folder of PNG/JPEG"),
        "{err}"
    );

    // The same folder again is refused, and what is there stays.
    let before = std::fs::read(run.join("reports.json")).unwrap();
    let o = tl(&["run", "tiny.toml", "--quiet"], &dir);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("holds an earlier run"), "{err}");
    assert_eq!(std::fs::read(run.join("reports.json")).unwrap(), before);
    // --overwrite keeps the earlier run (results, packages, report) under previous/.
    let o = tl(&["run", "tiny.toml", "--quiet", "--overwrite"], &dir);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let previous = run.join("previous");
    assert_eq!(
        std::fs::read(previous.join("reports.json")).unwrap(),
        before
    );
    for f in [
        "models/coral/seed-0/package.json",
        "report/report.md",
        "accuracy.svg",
    ] {
        assert!(previous.join(f).is_file(), "{f} not kept");
    }
    assert!(run.join("models/coral/seed-0/package.json").is_file());
    assert!(
        !run.join("report").exists(),
        "the old report stays with its run"
    );
}

#[test]
fn run_on_csv_texts_with_an_unlabelled_target() {
    let dir = scratch("csv");
    // Two "domains" of short reviews: the words that carry the label are shared.
    let good = ["great", "excellent", "love", "perfect", "wonderful"];
    let bad = ["awful", "broken", "hate", "terrible", "useless"];
    let mut source = String::from("review,stars\n");
    let mut target = String::from("id,text\n");
    for i in 0..60 {
        let (g, b) = (good[i % 5], bad[(i * 3) % 5]);
        source += &format!("\"the book was {g}, really {g}\",positive\n");
        source += &format!("\"the book was {b}, really {b}\",negative\n");
        target += &format!("{i},\"this pan is {g}\"\n");
        target += &format!("{},\"this pan is {b}\"\n", i + 100);
    }
    std::fs::write(dir.join("books.csv"), source).unwrap();
    std::fs::write(dir.join("kitchen.csv"), &target).unwrap();
    let recipe = r#"
seeds = 1
[source]
format = "csv"
path = "books.csv"
text_column = "review"
label_column = "stars"
[target]
format = "csv"
path = "kitchen.csv"
text_column = "text"
[model]
name = "hashed-words"
dim = 256
source_epochs = 20
[[strategy]]
name = "source-only"
[[strategy]]
name = "deep-coral"
"#;
    std::fs::write(dir.join("reviews.toml"), recipe).unwrap();
    let o = tl(&["run", "reviews.toml", "--quiet", "--out", "out"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("SOURCE held out"), "{out}");
    assert!(out.contains("| deep-coral | 1 |"), "{out}");
    // The adapted model applied to the target's texts.
    let o = tl(
        &[
            "predict",
            "out/models/deep-coral/seed-0",
            "kitchen.csv",
            "--out",
            "k.csv",
            "--quiet",
        ],
        &dir,
    );
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let csv = std::fs::read_to_string(dir.join("k.csv")).unwrap();
    assert!(
        csv.starts_with("id,predicted,probability,p_negative,p_positive,text"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 121);
    // The predictions are not written over without --overwrite, and never over the input.
    let again = |out: &str, overwrite: bool| {
        let mut a = vec![
            "predict",
            "out/models/deep-coral/seed-0",
            "kitchen.csv",
            "--out",
            out,
            "--quiet",
        ];
        if overwrite {
            a.push("--overwrite");
        }
        tl(&a, &dir)
    };
    let o = again("k.csv", false);
    assert!(!o.status.success() && text(&o).1.contains("pass --overwrite"));
    assert!(again("k.csv", true).status.success());
    let o = again("kitchen.csv", true);
    assert!(!o.status.success() && text(&o).1.contains("is the input"));
    assert_eq!(
        std::fs::read_to_string(dir.join("kitchen.csv")).unwrap(),
        target
    );
    // A folder to a text model is refused by name.
    let o = tl(&["predict", "out/models/deep-coral/seed-0", "out"], &dir);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("this model takes texts"),
        "{err}"
    );
    // Ranking the text models that are here (hashed words only: no TL_MODEL_DIR).
    let o = tl(&["models", "rank", "reviews.toml", "--quiet"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("| hashed-words |"), "{out}");
    assert!(out.contains("recommended: hashed-words"), "{out}");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/run.json")).unwrap()).unwrap();
    assert_eq!(
        meta["class_names"],
        serde_json::json!(["negative", "positive"])
    );
    // The source gains reviews of its classes after the run: its held-out test set is another
    // one, which the report refuses to score.
    let original = std::fs::read_to_string(dir.join("books.csv")).unwrap();
    let mut more = original.clone();
    for i in 0..10 {
        more += &format!("\"the book was great, {i} times\",positive\n");
    }
    std::fs::write(dir.join("books.csv"), &more).unwrap();
    let o = tl(&["report", "out", "--quiet"], &dir);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("the data changed since the run"),
        "{err}"
    );
    std::fs::write(dir.join("books.csv"), &original).unwrap();
    // A package whose card was lost (a run stopped while saving it) is left out by name.
    std::fs::remove_file(dir.join("out/models/deep-coral/seed-0/package.json")).unwrap();
    let o = tl(&["report", "out"], &dir);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("no package card"), "{err}");
    let md = std::fs::read_to_string(dir.join("out/report/report.md")).unwrap();
    assert!(
        md.contains("| source-only |") && !md.contains("| deep-coral |"),
        "{md}"
    );
    // The source gains a class after the run: the report refuses to score the old models on
    // the new data.
    let mut source = std::fs::read_to_string(dir.join("books.csv")).unwrap();
    for i in 0..10 {
        source += &format!("\"the book was fine, {i} times\",neutral\n");
    }
    std::fs::write(dir.join("books.csv"), source).unwrap();
    let o = tl(&["report", "out", "--quiet"], &dir);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("the data changed since the run"),
        "{err}"
    );
}

#[test]
fn bad_input_is_one_clear_line() {
    let dir = scratch("bad");
    std::fs::write(dir.join("reviews.csv"), "text,label\nfine,pos\nbad,neg\n").unwrap();
    let cases: Vec<(String, Vec<&str>)> = vec![
        // An unknown key: its line and the known keys.
        (
            DIGITS.replace("rotate = 30.0", "rotation = 30.0"),
            vec!["line 10", "rotation", "rotate"],
        ),
        // An unknown strategy: the known ones.
        (
            DIGITS.replace("\"deep-coral\"", "\"deep-coarl\""),
            vec!["deep-coarl", "known: ", "deep-coral"],
        ),
        // A setting the strategy does not have.
        (
            DIGITS.replace("label = \"coral\"", "settings = { wieght = 2.0 }"),
            vec!["wieght", "weight"],
        ),
        // A missing file: its path.
        (
            DIGITS.replace("scratch = true\n", "").replacen(
                "format = \"digits\"\nclasses = [0, 1, 2]",
                "format = \"csv\"\npath = \"nothere.csv\"\ntext_column = \"text\"\nlabel_column = \"label\"",
                1,
            ),
            vec!["nothere.csv", "does not exist"],
        ),
        // A CSV without the named column.
        (
            DIGITS.replace("scratch = true\n", "").replacen(
                "format = \"digits\"\nclasses = [0, 1, 2]",
                "format = \"csv\"\npath = \"reviews.csv\"\ntext_column = \"body\"\nlabel_column = \"label\"",
                1,
            ),
            vec!["no column `body`", "text"],
        ),
        // A scratch row for a text model.
        (
            DIGITS.replacen(
                "format = \"digits\"\nclasses = [0, 1, 2]",
                "format = \"csv\"\npath = \"reviews.csv\"\ntext_column = \"text\"\nlabel_column = \"label\"",
                1,
            ),
            vec!["scratch is for image models", "hashed-words"],
        ),
        // Classes of a text domain.
        (
            DIGITS.replace("scratch = true\n", "").replacen(
                "format = \"digits\"\nclasses = [0, 1, 2]",
                "format = \"csv\"\npath = \"reviews.csv\"\ntext_column = \"text\"\nlabel_column = \"label\"\nclasses = [0]",
                1,
            ),
            vec!["[source] classes is for images"],
        ),
        // A task of one class.
        (
            DIGITS.replace("rotate = 30.0", "ways = 1"),
            vec!["[target] ways = 1", "two classes at least"],
        ),
        // Images of two shapes.
        (
            DIGITS.replace("rotate = 30.0", "frame = [8, 10]"),
            vec!["1x10x10", "1x8x8"],
        ),
        // Names for classes that ways draws by seed.
        (
            DIGITS.replace(
                "rotate = 30.0",
                "ways = 2\nclass_names = [\"a\", \"b\"]",
            ),
            vec!["class_names with ways", "classes = [...]"],
        ),
    ];
    for (i, (recipe, needles)) in cases.iter().enumerate() {
        std::fs::write(dir.join("r.toml"), recipe).unwrap();
        let o = tl(
            &["run", "r.toml", "--quiet", "--out", &format!("out{i}")],
            &dir,
        );
        let (_, err) = text(&o);
        assert!(!o.status.success(), "case {i} ran");
        assert_eq!(err.trim().lines().count(), 1, "case {i}: {err}");
        assert!(err.starts_with("error: "), "case {i}: {err}");
        for n in needles {
            assert!(err.contains(n), "case {i}: `{n}` not in {err}");
        }
    }
}

#[test]
fn every_shipped_recipe_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    // Run elsewhere than the source tree (its home as well): a check writes nothing.
    let dir = scratch("shipped-recipes");
    let mut n = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let o = tl(&["run", path.to_str().unwrap(), "--check"], &dir);
            let (out, err) = text(&o);
            assert!(o.status.success(), "{}: {err}", path.display());
            assert!(
                out.contains("strategies") || out.contains("an experiment recipe"),
                "{out}"
            );
            n += 1;
        }
    }
    assert!(n >= 4, "{n} recipes");
    let left: Vec<_> = std::fs::read_dir(&*dir).unwrap().collect();
    assert!(left.is_empty(), "a check wrote {left:?}");
}

#[test]
fn set_changes_a_recipe_value_and_the_run_keeps_it() {
    let dir = scratch("set");
    std::fs::write(dir.join("d.toml"), DIGITS).unwrap();
    let o = tl(&["run", "d.toml", "--check", "--set", "seeds=7"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("7 seeds"), "{out}");
    // A crop of the 8 px digits to their centre 6 px, framed back to 8; one seed, one row.
    let o = tl(
        &[
            "run",
            "d.toml",
            "--quiet",
            "--set",
            "seeds=1",
            "--set",
            "target.crop=6",
            "--set",
            "target.frame=[8, 8]",
            "--set",
            "strategy.1.name=mmd",
        ],
        &dir,
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("| coral | 1 |"), "{out}");
    let as_run = std::fs::read_to_string(dir.join("runs/d/recipe.toml")).unwrap();
    assert!(
        as_run.contains("crop = 6")
            && as_run.contains("name = \"mmd\"")
            && as_run.contains("seeds = 1"),
        "{as_run}"
    );
    let reports = std::fs::read_to_string(dir.join("runs/d/reports.json")).unwrap();
    assert!(reports.contains("\"bandwidths\""), "the row ran MMD");
    // A key the recipe cannot have, and a crop larger than the images: one line each.
    for (set, says) in [
        ("target.cropped=6", "unknown field `cropped`"),
        ("target.crop=9", "[target] crop = 9: the images are 8x8 px"),
        ("strategy.5.name=mmd", "`strategy` has 2 items"),
    ] {
        let o = tl(
            &[
                "run", "d.toml", "--quiet", "--out", "runs/bad", "--set", set,
            ],
            &dir,
        );
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{set}");
        assert!(err.contains(says), "{set}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn a_killed_run_resumes_to_the_same_weights() {
    let dir = scratch("resume");
    // Long enough to be killed half-way: 2 seeds x 4 fits of 25 epochs each.
    let recipe = DIGITS.replace("epochs = 3", "epochs = 25");
    std::fs::write(dir.join("r.toml"), &recipe).unwrap();
    let whole = tl(&["run", "r.toml", "--quiet", "--out", "whole"], &dir);
    assert!(whole.status.success(), "{}", text(&whole).1);

    let mut child = Command::new(env!("CARGO_BIN_EXE_tl"))
        .args(["run", "r.toml", "--quiet", "--out", "cut"])
        .current_dir(&*dir)
        .env_remove("TL_MODEL_DIR")
        .env("HOME", &*dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let reports = dir.join("cut/reports.json");
    let count = |p: &Path| -> usize {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["reports"].as_array().map(Vec::len))
            .unwrap_or(0)
    };
    let started = std::time::Instant::now();
    while count(&reports) < 2 && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = count(&reports);
    assert!((2..8).contains(&done), "killed after {done} of 8 fits");

    let o = tl(&["run", "--resume", "cut", "--quiet"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("| coral | 2 |"), "{out}");
    assert_eq!(count(&reports), 8);
    // Every fit's weights, value for value, as in the run that was never interrupted.
    for row in ["no_adaptation", "scratch", "source-only", "coral"] {
        for seed in 0..2 {
            let package = format!("models/{row}/seed-{seed}");
            let (a, b) = (
                weights(&dir.join("whole").join(&package)),
                weights(&dir.join("cut").join(&package)),
            );
            assert!(!a.is_empty() && a == b, "{package} differs after resuming");
        }
    }
    // A finished run is not resumed again.
    let o = tl(&["run", "--resume", "cut"], &dir);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("finished run"), "{err}");
}

/// Every parameter value of a saved model package, in order.
fn weights(package: &Path) -> Vec<f32> {
    use tl::prelude::*;
    use tl::tl_core::model::{Classifier, flat_params};
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(package.join("package.json")).unwrap())
            .unwrap();
    let config = |k: &str| -> SequentialConfig { serde_json::from_value(card[k].clone()).unwrap() };
    // The model is built (from the generator seeded tests share) before its weights load.
    let _seeded = tl::tl_core::device::seed_lock();
    let dev = device("flex").unwrap();
    let model = Classifier::new(
        config("encoder").init(&dev).unwrap(),
        config("head").init(&dev).unwrap(),
    )
    .unwrap();
    let model = tl::tl_core::checkpoint::load_weights(model, &package.join("weights.bpk")).unwrap();
    flat_params(&model)
        .into_iter()
        .flat_map(|t| t.into_data().iter::<f32>().collect::<Vec<_>>())
        .collect()
}

#[test]
fn two_processes_with_one_seed_give_identical_weights_and_reports() {
    let dir = scratch("twice");
    std::fs::write(dir.join("r.toml"), DIGITS).unwrap();
    for out in ["a", "b"] {
        let o = tl(&["run", "r.toml", "--quiet", "--out", out], &dir);
        assert!(o.status.success(), "{}", text(&o).1);
    }
    let reports = |run: &str| -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(run).join("reports.json")).unwrap(),
        )
        .unwrap();
        v["reports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                // Everything but the clock.
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("wall_time_s");
                for e in r["history"].as_array_mut().unwrap() {
                    e.as_object_mut().unwrap().remove("seconds");
                }
                r
            })
            .collect()
    };
    assert_eq!(reports("a"), reports("b"));
    for row in ["no_adaptation", "scratch", "source-only", "coral"] {
        for seed in 0..2 {
            let p = format!("models/{row}/seed-{seed}");
            assert_eq!(
                weights(&dir.join("a").join(&p)),
                weights(&dir.join("b").join(&p)),
                "{p}"
            );
        }
    }
}

#[test]
fn run_trains_a_text_models_top_layers_and_predicts_with_them() {
    let dir = scratch("layers");
    // A tiny BERT standing in for all-MiniLM-L6-v2 under TL_MODEL_DIR.
    let model = dir.join("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(&model).unwrap();
    tiny_bert::write_tiny_model(&model, 0.0);
    let models = dir.join("models");
    let with_model = |args: &[&str]| tl_with_models(args, &dir, Some(&models));
    // Book reviews, film reviews (the strategies that need target labels get them; the
    // others do not look) and a test set, in the tiny model's words.
    let (good, bad) = (
        ["good", "great", "fine", "love"],
        ["bad", "awful", "poor", "hate"],
    );
    let mut books = String::from("text,label\n");
    let mut films = String::from("text,label\n");
    let mut test = String::from("text,label\n");
    for i in 0..160 {
        let (g, b) = (good[i % 4], bad[(i / 4) % 4]);
        books += &format!("the book was {g} .,positive\nthe book was {b} .,negative\n");
        if i < 48 {
            films += &format!("the film was {g} .,positive\nthe film was {b} .,negative\n");
        }
        if i < 12 {
            test += &format!("the book was {g} .,positive\nthe book was {b} .,negative\n");
        }
    }
    std::fs::write(dir.join("books.csv"), books).unwrap();
    std::fs::write(dir.join("films.csv"), films).unwrap();
    std::fs::write(dir.join("test.csv"), test).unwrap();
    let recipe = r#"
seeds = 1
[source]
format = "csv"
path = "books.csv"
label_column = "label"
text_column = "text"
[target]
format = "csv"
path = "films.csv"
text_column = "text"
label_column = "label"
[test]
format = "csv"
path = "test.csv"
text_column = "text"
label_column = "label"
[model]
name = "all-MiniLM-L6-v2"
max_len = 12
train_layers = 1
source_epochs = 10
source_lr = 0.01
[train]
epochs = 1
batch_size = 8
lr = 0.0005
[[strategy]]
name = "source-only"
[[strategy]]
name = "aad"
[[strategy]]
name = "lora"
settings = { rank = 2 }
"#;
    std::fs::write(dir.join("layers.toml"), recipe).unwrap();
    let o = with_model(&["run", "layers.toml", "--quiet", "--out", "out"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for row in ["no adaptation", "source-only", "aad", "lora"] {
        assert!(out.contains(&format!("| {row} | 1 |")), "{out}");
    }
    // The start model learnt the words.
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/reports.json")).unwrap())
            .unwrap();
    let start = reports["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["strategy"] == "no adaptation")
        .unwrap();
    let accuracy = start["metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.9, "{accuracy}");
    assert_eq!(start["config"]["train_layers"], 1);
    // The package states the text model and its trained layers, no `Sequential` encoder;
    // `tl predict` rebuilds the layers from the model folder and reads the weights.
    let card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("out/models/no_adaptation/seed-0/package.json")).unwrap(),
    )
    .unwrap();
    assert!(card["encoder"].is_null(), "{card}");
    assert_eq!(card["text_model"]["train_layers"], 1);
    let cached = || {
        std::fs::read_dir(dir.join(".cache/tl-text/embeddings"))
            .unwrap()
            .count()
    };
    let before = cached();
    let o = with_model(&[
        "predict",
        "out/models/no_adaptation/seed-0",
        "test.csv",
        "--out",
        "p.csv",
        "--quiet",
    ]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let csv = std::fs::read_to_string(dir.join("p.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 24);
    // The inputs' token states (large) are computed, not kept in the cache.
    assert_eq!(cached(), before);
    // The same accuracy as the run measured on the same test set.
    let truth = std::fs::read_to_string(dir.join("test.csv")).unwrap();
    let right = rows
        .iter()
        .zip(truth.lines().skip(1))
        .filter(|(p, t)| p.split(',').nth(1) == t.rsplit(',').next())
        .count();
    assert!(
        (right as f64 / 24.0 - accuracy).abs() < 1e-9,
        "{right} of 24 against {accuracy}"
    );
    // A LoRA row's package holds the adapters folded into the layers' weights.
    let o = with_model(&[
        "predict",
        "out/models/lora/seed-0",
        "films.csv",
        "--out",
        "l.csv",
        "--quiet",
    ]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    // The report reads the same packages.
    let o = with_model(&["report", "out", "--quiet"]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(dir.join("out/report/report.html").is_file());

    // The static student of the same model as a text model: distilled on first use, cached
    // in the home folder, read again by a second run and by `tl predict`.
    let student = r#"
seeds = 1
[source]
format = "csv"
path = "books.csv"
label_column = "label"
text_column = "text"
[test]
format = "csv"
path = "test.csv"
text_column = "text"
label_column = "label"
[model]
name = "static-minilm"
adapter = []
source_epochs = 0
[[strategy]]
name = "linear-probe"
settings = { train = { epochs = 60, lr = 0.05 } }
"#;
    std::fs::write(dir.join("static.toml"), student).unwrap();
    let o = with_model(&["run", "static.toml", "--quiet", "--out", "st"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let cache = dir.join(".cache/tl-distill/all-MiniLM-L6-v2-static256");
    assert!(cache.join("static.json").is_file());
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("st/reports.json")).unwrap())
            .unwrap();
    let probe = &reports["reports"][1];
    assert_eq!(probe["strategy"], "linear-probe", "{out}");
    // Logistic regression on the mean of the tokens' vectors tells the words apart.
    let accuracy = probe["metrics"]["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.9, "{accuracy}");
    // 8 inputs (the tiny model's width) to 2 classes: the head is the whole model.
    assert_eq!(probe["params"]["trainable"], 18);
    let o = with_model(&[
        "predict",
        "st/models/linear-probe/seed-0",
        "test.csv",
        "--out",
        "s.csv",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        std::fs::read_to_string(dir.join("s.csv"))
            .unwrap()
            .lines()
            .count(),
        25
    );

    // A strategy for `Sequential` stacks only, and layers of a model that has none, are
    // refused by name before any work.
    let adabn = recipe.replace("name = \"aad\"", "name = \"adabn\"");
    std::fs::write(dir.join("adabn.toml"), adabn).unwrap();
    let o = with_model(&["run", "adabn.toml", "--check"]);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("adabn") && err.contains("train any encoder"),
        "{err}"
    );
    // Input noise on token states is refused before any work; without it the row checks.
    let noisy = recipe.replace("name = \"aad\"", "name = \"self-ensembling\"");
    std::fs::write(dir.join("noisy.toml"), &noisy).unwrap();
    let o = with_model(&["run", "noisy.toml", "--check"]);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("augment.noise_std = 0.1"),
        "{err}"
    );
    let quiet = noisy.replace(
        "name = \"self-ensembling\"",
        "name = \"self-ensembling\"\nsettings = { augment = { noise_std = 0.0 } }",
    );
    std::fs::write(dir.join("quiet.toml"), quiet).unwrap();
    let o = with_model(&["run", "quiet.toml", "--check"]);
    assert!(o.status.success(), "{}", text(&o).1);
    let images = "[source]\nformat = \"digits\"\n[model]\nname = \"all-MiniLM-L6-v2\"\ntrain_layers = 1\n[[strategy]]\nname = \"dann\"\n";
    std::fs::write(dir.join("images.toml"), images).unwrap();
    let o = with_model(&["run", "images.toml", "--check"]);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("train_layers") && err.contains("`digits`"),
        "{err}"
    );
    let hashed = recipe.replace("all-MiniLM-L6-v2", "hashed-words");
    std::fs::write(dir.join("hashed.toml"), hashed).unwrap();
    let o = with_model(&["run", "hashed.toml", "--check"]);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("train_layers") && err.contains("hashed-words"),
        "{err}"
    );
}

/// A distillation recipe on the embedded digits: a `[test]` without a `[target]`, settings
/// shared by every row (`[settings]`), `[train]` reaching a distiller's `kd.train`, and the
/// classes renamed (`class_names`).
const DISTILL: &str = r#"
name = "tiny distillation"
seeds = 1
class_names = ["nought", "one", "two"]
[source]
format = "digits"
classes = [0, 1, 2]
[test]
format = "digits"
classes = [0, 1, 2]
rotate = 10.0
[model]
name = "small-cnn"
source_epochs = 10
[train]
epochs = 6
batch_size = 32
lr = 0.005
[settings.kd]
alpha = 0.5
student = [{ linear = { out = 16 } }, "relu"]
[[strategy]]
name = "knowledge-distillation"
label = "alone"
settings = { kd = { alpha = 1.0, train = { epochs = 9 } } }
[[strategy]]
name = "knowledge-distillation"
[[strategy]]
name = "relational-kd"
"#;

#[test]
fn cross_modal_rows_read_a_new_tasks_classes_from_their_names() {
    let dir = scratch("unseen");
    // Aligned on digits 0-2, captioned by their names in words; the task is 3 against 4.
    let recipe = r#"
seeds = 1
class_names = ["three", "four"]
[source]
format = "digits"
classes = [0, 1, 2]
class_names = ["zero", "one", "two"]
[target]
format = "digits"
classes = [3, 4]
labelled_per_class = 1
[model]
name = "small-cnn"
source_epochs = 0
[train]
epochs = 2
[settings]
text = { kind = "hashed", dim = 64 }
[[strategy]]
name = "clip"
[[strategy]]
name = "text-to-image"
settings = { per_class = 10, train = { epochs = 2 } }
"#;
    std::fs::write(dir.join("u.toml"), recipe).unwrap();
    let o = tl(&["run", "u.toml", "--quiet"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("| clip | 1 |") && out.contains("| text-to-image | 1 |"),
        "{out}"
    );
    let card = std::fs::read_to_string(dir.join("runs/u/models/clip/seed-0/package.json")).unwrap();
    assert!(
        card.contains("\"three\"") && card.contains("\"four\""),
        "{card}"
    );
    // A probe on the source's images cannot name classes it never saw: refused before any
    // fit; so is a strategy that needs the target's classes in the source.
    for (name, says) in [
        ("clip-probe", "`clip-probe` (cross-modal)"),
        ("deep-coral", "`deep-coral` (transductive)"),
    ] {
        std::fs::write(
            dir.join("bad.toml"),
            recipe.replace(
                "name = \"text-to-image\"\nsettings = { per_class = 10, train = { epochs = 2 } }",
                &format!("name = \"{name}\""),
            ),
        )
        .unwrap();
        let (_, err) = text(&tl(&["run", "bad.toml", "--quiet"], &dir));
        assert!(err.contains(says) && err.contains("three, four"), "{err}");
        assert!(!dir.join("runs/bad/reports.json").exists());
    }
    // A domain's names must fit its classes.
    std::fs::write(
        dir.join("n.toml"),
        recipe.replace("[\"zero\", \"one\", \"two\"]", "[\"zero\", \"one\"]"),
    )
    .unwrap();
    let (_, err) = text(&tl(&["run", "n.toml", "--quiet"], &dir));
    assert!(
        err.contains("[source] class_names names 2 classes, and the domain has 3"),
        "{err}"
    );
}

#[test]
fn run_shares_settings_renames_classes_and_scores_a_test_set_without_a_target() {
    let dir = scratch("distill");
    std::fs::write(dir.join("d.toml"), DISTILL).unwrap();
    let o = tl(&["run", "d.toml", "--quiet"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("scored on the labelled test set"), "{out}");
    for row in [
        "| alone | 1 |",
        "| knowledge-distillation | 1 |",
        "| relational-kd | 1 |",
    ] {
        assert!(out.contains(row), "{row} missing:\n{out}");
    }
    let run = dir.join("runs/d");
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("reports.json")).unwrap()).unwrap();
    let by = |name: &str| {
        reports["reports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["strategy"] == name)
            .unwrap_or_else(|| panic!("no report of {name}"))
            .clone()
    };
    // [train] reaches kd.train, [settings] every row that has `kd`, a row's own settings win.
    for (row, epochs, alpha) in [
        ("alone", 9, 1.0),
        ("knowledge-distillation", 6, 0.5),
        ("relational-kd", 6, 0.5),
    ] {
        let r = by(row);
        let kd = &r["config"]["kd"];
        assert_eq!(kd["train"]["epochs"], epochs, "{row}: {kd}");
        assert_eq!(kd["train"]["batch_size"], 32, "{row}: {kd}");
        assert_eq!(kd["alpha"], alpha, "{row}: {kd}");
        assert_eq!(kd["student"][0]["linear"]["out"], 16, "{row}: {kd}");
        assert_eq!(r["history"].as_array().unwrap().len(), epochs, "{row}");
        // The students learn the three digits (chance: 1/3) from the teacher.
        let acc = r["metrics"]["accuracy"].as_f64().unwrap();
        assert!(acc > 0.6, "{row}: {acc}");
    }
    // The renamed classes are what the run and its saved models call them.
    let run_json = std::fs::read_to_string(run.join("run.json")).unwrap();
    assert!(run_json.contains("nought"), "{run_json}");
    let labels = std::fs::read_to_string(run.join("models/alone/seed-0/package.json")).unwrap();
    assert!(labels.contains("nought"), "{labels}");

    // Refused by name, before any work.
    for (recipe, needles) in [
        (
            DISTILL.replace(
                "[settings.kd]\n",
                "[settings]\nwieght = 1.0\n[settings.kd]\n",
            ),
            vec!["[settings] `wieght`", "no strategy of the recipe"],
        ),
        (
            DISTILL.replace("alpha = 0.5\n", "alpah = 0.5\n"),
            vec!["alpah"],
        ),
        (
            DISTILL.replace("[\"nought\", \"one\", \"two\"]", "[\"nought\", \"one\"]"),
            vec!["class_names: 2 names", "3 classes"],
        ),
        (
            DISTILL.replace(
                "[\"nought\", \"one\", \"two\"]",
                "[\"one\", \"one\", \"two\"]",
            ),
            vec!["class_names: `one` comes twice"],
        ),
    ] {
        std::fs::write(dir.join("bad.toml"), &recipe).unwrap();
        let o = tl(&["run", "bad.toml", "--quiet", "--out", "bad"], &dir);
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{recipe}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "`{n}` not in {err}");
        }
    }
}

/// An Omniglot-layout zip (`root/ALPHABET/characterNN/K.png`, black ink on white) of one
/// alphabet whose characters are the given stroke patterns, `drawings` each, shifted by up
/// to a pixel and with a few stray dots (seeded).
/// A character: whether the pixel `(x, y)` of a 12 px grid is ink.
type Ink = fn(u32, u32) -> bool;

/// Four base characters (strokes on a 12 px grid) for the tests' Omniglot zips.
const BASE: [Ink; 4] = [
    |_, y| (5..7).contains(&y),
    |x, _| (5..7).contains(&x),
    |x, y| x.abs_diff(y) < 2,
    |x, y| (x + y).abs_diff(11) < 2,
];

/// Four other characters: the new classes.
const NEW: [Ink; 4] = [
    |x, y| {
        (2..10).contains(&x)
            && (2..10).contains(&y)
            && !((4..8).contains(&x) && (4..8).contains(&y))
    },
    |x, y| (5..7).contains(&x) || (5..7).contains(&y),
    |x, y| (x < 6) == (y < 6),
    |x, y| (x + 2 * y) % 6 < 2,
];

fn omniglot_zip(path: &Path, alphabet: &str, patterns: &[Ink], drawings: u32) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (c, ink) in patterns.iter().enumerate() {
        for k in 0..drawings {
            let (dx, dy) = ((next() % 3) as i64 - 1, (next() % 3) as i64 - 1);
            let img = image::GrayImage::from_fn(12, 12, |x, y| {
                let (sx, sy) = (x as i64 - dx, y as i64 - dy);
                let on =
                    (0..12).contains(&sx) && (0..12).contains(&sy) && ink(sx as u32, sy as u32);
                let stray = next() % 40 == 0;
                image::Luma([if on ^ stray { 0 } else { 255 }])
            });
            let mut png = std::io::Cursor::new(Vec::new());
            img.write_to(&mut png, image::ImageFormat::Png).unwrap();
            zip.start_file(
                format!("root/{alphabet}/character{:02}/{k}.png", c + 1),
                opts,
            )
            .unwrap();
            zip.write_all(png.get_ref()).unwrap();
        }
    }
    zip.finish().unwrap();
}

#[test]
fn run_reads_omniglot_zips_for_a_few_shot_task() {
    let dir = scratch("omniglot");
    // Base characters (the source) and new ones (the target): other classes, so a new task.
    omniglot_zip(&dir.join("images_background_a.zip"), "Base", &BASE, 12);
    omniglot_zip(&dir.join("images_background_b.zip"), "New", &NEW, 12);
    let recipe = r#"
name = "tiny omniglot"
seeds = 1
[source]
format = "omniglot"
path = "images_background_a.zip"
size = 12
[target]
format = "omniglot"
path = "images_background_b.zip"
size = 12
ways = 3
labelled_per_class = 2
test_fraction = 0.5
[model]
name = "small-cnn"
source_epochs = 8
[train]
epochs = 2
[[strategy]]
name = "protonet"
settings = { episodes = { way = 4, shot = 2, query = 3 }, episodes_per_epoch = 20 }
[[strategy]]
name = "baseline"
"#;
    std::fs::write(dir.join("o.toml"), recipe).unwrap();
    let o = tl(&["run", "o.toml", "--quiet"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("| protonet | 1 |") && out.contains("| baseline | 1 |"),
        "{out}"
    );
    let run_json = std::fs::read_to_string(dir.join("runs/o/run.json")).unwrap();
    assert!(
        run_json.contains("New/character01"),
        "the target's characters: {run_json}"
    );
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("runs/o/reports.json")).unwrap())
            .unwrap();
    for r in reports["reports"].as_array().unwrap() {
        let acc = r["metrics"]["accuracy"].as_f64().unwrap();
        if r["strategy"] == "no adaptation" {
            continue;
        }
        // Two drawings per new character: well above chance (1/3).
        assert!(acc > 0.6, "{}: {acc}", r["strategy"]);
    }
    // A strategy that needs source labels of the target's classes, on a new task: refused
    // by name before any training.
    std::fs::write(
        dir.join("o2.toml"),
        recipe.replace("name = \"baseline\"", "name = \"dann\""),
    )
    .unwrap();
    let o = tl(&["run", "o2.toml", "--quiet"], &dir);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("`dann` (adversarial)") && err.contains("New/character01"),
        "{err}"
    );
    assert!(!dir.join("runs/o2/reports.json").exists());
    // More ways than the domain has classes.
    std::fs::write(dir.join("o3.toml"), recipe.replace("ways = 3", "ways = 5")).unwrap();
    let (_, err) = text(&tl(&["run", "o3.toml", "--quiet"], &dir));
    assert!(
        err.contains("[target] ways = 5: the domain has 4 classes"),
        "{err}"
    );
    // A file that is not an Omniglot zip: its path and what is wrong.
    std::fs::write(dir.join("images_background_b.zip"), b"not a zip").unwrap();
    let o = tl(&["run", "o.toml", "--quiet", "--out", "bad"], &dir);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("images_background_b.zip") && err.contains("not a zip"),
        "{err}"
    );
}

/// The queries a report's confusion matrix counts (every episode's, pooled).
fn queries_scored(report: &serde_json::Value) -> u64 {
    report["metrics"]["confusion"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|n| n.as_u64().unwrap()))
        .sum()
}

/// Lake's layout of one-shot runs: `runNN/training/classMM.png` (one drawing a character),
/// `runNN/test/itemKK.png` and `runNN/class_labels.txt` (`test training` per line).
fn runs_zip(path: &Path, runs: &[&[Ink]], queries: u32) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    let mut put = |name: String, ink: Ink, shift: u32| {
        let img = image::GrayImage::from_fn(12, 12, |x, y| {
            let on = ink((x + shift) % 12, y);
            image::Luma([if on { 0 } else { 255 }])
        });
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        zip.start_file(name, opts).unwrap();
        zip.write_all(png.get_ref()).unwrap();
    };
    let mut labels = Vec::new();
    for (r, chars) in runs.iter().enumerate() {
        let run = format!("run{:02}", r + 1);
        let mut lines = String::new();
        for (c, ink) in chars.iter().enumerate() {
            let class = format!("{run}/training/class{:02}.png", c + 1);
            put(class.clone(), *ink, 0);
            for q in 0..queries {
                let item = format!(
                    "{run}/test/item{:02}.png",
                    c * queries as usize + q as usize + 1
                );
                put(item.clone(), *ink, q + 1);
                lines += &format!("{item} {class}\n");
            }
        }
        labels.push((run, lines));
    }
    for (run, lines) in labels {
        zip.start_file(format!("{run}/class_labels.txt"), opts)
            .unwrap();
        zip.write_all(lines.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn run_scores_lakes_fixed_runs_after_training_on_two_zips() {
    let dir = scratch("runs");
    omniglot_zip(&dir.join("images_background_a.zip"), "Base", &BASE, 10);
    omniglot_zip(&dir.join("images_background_c.zip"), "Other", &BASE, 10);
    runs_zip(&dir.join("all_runs.zip"), &[&NEW[..3], &NEW[1..]], 2);
    let recipe = r#"
seeds = 1
[source]
format = "omniglot"
path = "images_background_a.zip"
more_zips = ["images_background_c.zip"]
size = 16
[target]
format = "omniglot-runs"
path = "all_runs.zip"
size = 16
[model]
name = "conv-4"
source_epochs = 0
[episodes]
way = 3
shot = 1
query = 2
count = 2
[[strategy]]
name = "protonet"
settings = { episodes = { way = 4, shot = 1, query = 3 }, episodes_per_epoch = 10, train = { epochs = 2 } }
"#;
    std::fs::write(dir.join("r.toml"), recipe).unwrap();
    let o = tl(&["run", "r.toml"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    // Both zips' characters are the base classes.
    assert!(err.contains("80 items, 8 classes"), "{err}");
    assert!(out.contains("2 fixed 3-way 1-shot episodes"), "{out}");
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("runs/r/reports.json")).unwrap())
            .unwrap();
    let r = &reports["reports"][0];
    assert_eq!(r["extra"]["episodes"], 2.0);
    // Two runs of three characters, two test drawings each.
    assert_eq!(queries_scored(r), 12);
    // The runs fix the episodes' shape; a recipe that says otherwise is told what they are.
    std::fs::write(
        dir.join("bad.toml"),
        recipe.replace("count = 2", "count = 5"),
    )
    .unwrap();
    let (_, err) = text(&tl(&["run", "bad.toml", "--quiet"], &dir));
    assert!(
        err.contains("the runs are 2 episodes of 3-way 1-shot with 2 queries per class"),
        "{err}"
    );
    std::fs::write(
        dir.join("bad.toml"),
        recipe.replace(
            "path = \"all_runs.zip\"",
            "path = \"all_runs.zip\"\nlimit = 5",
        ),
    )
    .unwrap();
    let (_, err) = text(&tl(&["run", "bad.toml", "--quiet"], &dir));
    assert!(err.contains("`limit` would change the fixed runs"), "{err}");
    // The same zip twice: its characters twice, as other classes (Omniglot's small1 and
    // small2 share names such as `Greek/character01`).
    std::fs::write(
        dir.join("twice.toml"),
        recipe.replace("\"images_background_c.zip\"", "\"images_background_a.zip\""),
    )
    .unwrap();
    let o = tl(&["run", "twice.toml", "--check"], &dir);
    assert!(o.status.success());
    let o = tl(
        &[
            "run",
            "twice.toml",
            "--set",
            "strategy.0.settings.meta_train=false",
        ],
        &dir,
    );
    let (_, err) = text(&o);
    assert!(
        o.status.success() && err.contains("80 items, 8 classes"),
        "{err}"
    );
}

#[test]
fn run_scores_few_shot_strategies_on_episodes() {
    let dir = scratch("episodes");
    omniglot_zip(&dir.join("images_background_a.zip"), "Base", &BASE, 10);
    omniglot_zip(&dir.join("images_background_b.zip"), "New", &NEW, 10);
    let recipe = r#"
name = "tiny episodes"
seeds = 1
[source]
format = "omniglot"
path = "images_background_a.zip"
size = 16
turns = true
[target]
format = "omniglot"
path = "images_background_b.zip"
size = 16
[model]
name = "conv-4"
source_epochs = 0
[episodes]
way = 3
shot = 1
query = 4
count = 12
[[strategy]]
name = "protonet"
settings = { episodes = { way = 6, shot = 1, query = 3 }, episodes_per_epoch = 20, train = { epochs = 3 } }
[[strategy]]
name = "baseline"
settings = { pretrain_train = { epochs = 4 } }
[[strategy]]
name = "linear-probe"
label = "random conv-4, probe"
[[strategy]]
name = "denoising-ae"
settings = { train = { epochs = 2 } }
"#;
    std::fs::write(dir.join("e.toml"), recipe).unwrap();
    let o = tl(&["run", "e.toml"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    // The quarter turns make 16 base classes of 4 characters.
    assert!(err.contains("160 items, 16 classes"), "{err}");
    assert!(!out.contains("no adaptation"), "{out}");
    assert!(
        out.contains("12 3-way 1-shot episodes") && out.contains("| protonet | 0 | 12 |"),
        "{out}"
    );
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("runs/e/reports.json")).unwrap())
            .unwrap();
    let rows = reports["reports"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for r in rows {
        let name = r["strategy"].as_str().unwrap();
        let acc = r["metrics"]["accuracy"].as_f64().unwrap();
        let x = &r["extra"];
        assert_eq!(x["episodes"].as_f64(), Some(12.0), "{name}");
        let ci = x["ci95"].as_f64().unwrap();
        assert!(ci.is_finite() && ci >= 0.0, "{name}: {ci}");
        // The pooled queries: 12 episodes x 3 classes x 4 queries.
        assert_eq!(queries_scored(r), 144, "{name}");
        let base = x["base_training_s"].as_f64().unwrap();
        if name == "random conv-4, probe" {
            assert_eq!(base, 0.0);
        } else {
            // Trained (or pretrained) once on the base classes, then each episode without it.
            assert!(base > 0.0, "{name}");
            assert!(!r["history"].as_array().unwrap().is_empty(), "{name}");
            // The row's configuration as the recipe gave it: its base training on.
            assert_eq!(
                r["config"]["meta_train"]
                    .as_bool()
                    .or(r["config"]["pretrain"].as_bool()),
                Some(true)
            );
        }
        if name == "protonet" {
            // One drawing per new character, 3 ways: well above chance (1/3).
            assert!(acc > 0.6, "{name}: {acc}");
        }
    }
    // No models to score again: `tl report` says why.
    let o = tl(&["report", "runs/e"], &dir);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("episodic run"), "{err}");
    // Episodes need a labelled target and no [test]; shot and query replace the split.
    for (bad, says) in [
        (
            recipe.replace("[target]", "[test]"),
            "[episodes] draws its episodes from a labelled [target]",
        ),
        (
            recipe.replace(
                "size = 16\n[model]",
                "size = 16\nlabelled_per_class = 2\n[model]",
            ),
            "replace [target] labelled_per_class",
        ),
        (recipe.replace("way = 3", "way = 1"), "at least 2 ways"),
        (
            recipe.replace("way = 3", "way = 5"),
            "[episodes] on [target]",
        ),
    ] {
        std::fs::write(dir.join("bad.toml"), &bad).unwrap();
        let (_, err) = text(&tl(&["run", "bad.toml", "--quiet"], &dir));
        assert!(err.contains(says), "{says}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

/// A dSprites recipe at a tiny size: two VAEs on 512 sprites for one epoch, metrics on 400
/// samples and 100 votes.
const DSPRITES: &str = r#"
name = "tiny sprites"
seeds = 1
[source]
format = "dsprites"
[dsprites]
sprites = 512
metric_samples = 400
votes = 100
[model]
name = "mlp"
widths = [64]
[train]
epochs = 1
batch_size = 64
lr = 1e-3
[[strategy]]
name = "vae"
[[strategy]]
name = "beta-tcvae"
label = "tc"
settings = { beta = 15.0, latent = 6 }
"#;

#[test]
fn run_scores_the_vae_family_on_dsprites_and_resumes() {
    let dir = scratch("dsprites");
    std::fs::write(dir.join("d.toml"), DSPRITES).unwrap();
    let o = tl(&["run", "d.toml", "--quiet", "--out", "run"], &dir);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let run = dir.join("run");
    for f in [
        "recipe.toml",
        "dsprites.json",
        "summary.md",
        "summary.csv",
        "run.json",
        "mig.svg",
        "factor-vae-score.svg",
        "pictures/dsprites-vae-traversal.png",
        "pictures/dsprites-tc-reconstructions.png",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(run.join("dsprites.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["model"], "tc");
    // The row's settings are the recipe's, laid over the strategy's defaults.
    assert_eq!(rows[1]["config"]["beta"], 15.0);
    assert_eq!(rows[1]["config"]["latent"], 6);
    assert_eq!(rows[1]["config"]["kind"], "beta-tc-vae");
    for r in &rows {
        for k in [
            "mig",
            "sap",
            "dci_disentanglement",
            "factor_vae_score",
            "beta_vae_score",
        ] {
            let v = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k} = {v}");
        }
    }
    assert!(out.contains("| tc | 1 |"), "{out}");
    assert!(out.contains("> vae"), "{out}");
    // A traversal has one row per latent: tc's 6 against the plain VAE's 10.
    let height = |f: &str| image::open(run.join("pictures").join(f)).unwrap().height() as f64;
    let ratio = height("dsprites-tc-traversal.png") / height("dsprites-vae-traversal.png");
    assert!((ratio - 0.6).abs() < 0.03, "{ratio}");

    // An interrupted run (its first fit done) resumes: the finished fit is kept as it was
    // (marked here), the other runs and gives the same figures as before.
    let mut first = rows[0].clone();
    first["mig"] = serde_json::json!(0.5);
    std::fs::write(
        run.join("dsprites.json"),
        serde_json::to_string(&vec![first]).unwrap(),
    )
    .unwrap();
    let meta = serde_json::json!({"title": "tiny sprites", "recipe_dir": dir.to_str().unwrap(), "finished": false});
    std::fs::write(run.join("run.json"), meta.to_string()).unwrap();
    let o = tl(&["run", "--resume", "run", "--quiet"], &dir);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let again: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(run.join("dsprites.json")).unwrap()).unwrap();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0]["mig"], 0.5, "the finished fit was run again");
    for k in [
        "mig",
        "sap",
        "dci_disentanglement",
        "factor_vae_score",
        "beta_vae_score",
    ] {
        assert_eq!(again[1][k], rows[1][k], "{k}: the resumed fit differs");
    }

    // `tl report` says what such a run is.
    let (_, err) = text(&tl(&["report", "run"], &dir));
    assert!(err.contains("a dSprites run"), "{err}");

    // What a dSprites run cannot use is refused by name, before any work.
    for (recipe, needle) in [
        (
            DSPRITES.replace("name = \"mlp\"", "name = \"small-cnn\""),
            "[model] name = \"mlp\"",
        ),
        (
            DSPRITES.replace("name = \"vae\"", "name = \"dann\""),
            "a dSprites run trains the VAE family",
        ),
        (
            DSPRITES.replace("[dsprites]", "[target]\nformat = \"digits\"\n[dsprites]"),
            "[target] has no place in a dSprites run",
        ),
        (
            DSPRITES.replace("format = \"dsprites\"", "format = \"dsprites\"\nlimit = 5"),
            "`limit` has no place",
        ),
        (
            DSPRITES.replace("votes = 100", "votes = 1"),
            "[dsprites] invalid config `votes`",
        ),
        (
            DSPRITES.replace("latent = 6", "latent = 1"),
            "`tc`: latent 1: the metrics compare codes",
        ),
        (
            DSPRITES.replace("format = \"dsprites\"", "format = \"digits\""),
            "[dsprites] sets a dSprites run's counts",
        ),
    ] {
        std::fs::write(dir.join("bad.toml"), &recipe).unwrap();
        let o = tl(&["run", "bad.toml", "--check"], &dir);
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{recipe}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "`{needle}` not in {err}");
    }
}

/// A tiny emoji folder: `n` symbols (a coloured disc of its own size and place), drawn by
/// "google" on white and by "twitter" with a dark frame along the image's border.
fn emoji_folder(dir: &Path, n: usize) {
    use std::io::Write;
    let meta: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({"name": format!("SYMBOL {i}"), "short_names": [format!("s_{i}")],
                "category": "c", "subcategory": format!("sub{}", i % 5), "image": format!("{i}.png"),
                "has_img_google": true, "has_img_twitter": true})
        })
        .collect();
    std::fs::write(
        dir.join("emoji.json"),
        serde_json::to_string(&meta).unwrap(),
    )
    .unwrap();
    for (vendor, frame) in [("google", false), ("twitter", true)] {
        let mut zip = zip::ZipWriter::new(
            std::fs::File::create(dir.join(format!("{vendor}-64.zip"))).unwrap(),
        );
        for i in 0..n {
            let (cx, cy) = (16.0 + (i % 7) as f32 * 5.0, 16.0 + (i / 7 % 7) as f32 * 5.0);
            let r = 8.0 + (i % 3) as f32 * 4.0;
            let colour = [
                (i * 37 % 256) as u8,
                (i * 91 % 256) as u8,
                (i * 53 % 256) as u8,
            ];
            let img = image::RgbaImage::from_fn(64, 64, |x, y| {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                if d < r {
                    image::Rgba([colour[0], colour[1], colour[2], 255])
                } else if frame && (x.min(y) < 4 || x.max(y) >= 60) {
                    image::Rgba([20, 20, 20, 255])
                } else {
                    image::Rgba([0, 0, 0, 0])
                }
            });
            let mut png = std::io::Cursor::new(Vec::new());
            img.write_to(&mut png, image::ImageFormat::Png).unwrap();
            zip.start_file(
                format!("{vendor}/64/{i}.png"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            zip.write_all(png.get_ref()).unwrap();
        }
        zip.finish().unwrap();
    }
}

const EMOJI_EXPERIMENT: &str = r#"
name = "tiny emoji"
seeds = 2
[experiment]
kind = "content-style-emoji"
epochs = 2
content = 8
style = 2
"#;

/// `tl` in `dir` with `TL_DATA_DIR` set to `data` (or unset).
fn tl_with_data(args: &[&str], dir: &Path, data: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tl"));
    command.args(args).current_dir(dir).env("HOME", dir);
    match data {
        Some(d) => command.env("TL_DATA_DIR", d),
        None => command.env_remove("TL_DATA_DIR"),
    };
    command.output().expect("the tl binary runs")
}

#[test]
fn an_experiment_recipe_runs_its_table_seed_by_seed_and_resumes() {
    let dir = scratch("experiment");
    let data = dir.join("data");
    std::fs::create_dir_all(data.join("emoji")).unwrap();
    emoji_folder(&data.join("emoji"), 60);
    std::fs::write(dir.join("e.toml"), EMOJI_EXPERIMENT).unwrap();
    let o = tl_with_data(&["run", "e.toml", "--check"], &dir, None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("an experiment recipe (content-style-emoji), 2 seeds"),
        "{out}"
    );
    // Without TL_DATA_DIR: what it reads, by name.
    let (_, err) = text(&tl_with_data(&["run", "e.toml", "--quiet"], &dir, None));
    assert!(err.contains("reads emoji under TL_DATA_DIR"), "{err}");

    let o = tl_with_data(
        &["run", "e.toml", "--quiet", "--out", "run"],
        &dir,
        Some(&data),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let run = dir.join("run");
    for f in [
        "recipe.toml",
        "rows.json",
        "summary.md",
        "summary.csv",
        "run.json",
        "pictures/emoji-style-swap.png",
        "pictures/emoji-google-to-twitter.png",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // 60 symbols: 12 unseen, 48 seen; a row for each split and seed.
    assert!(out.contains("| unseen (12) |"), "{out}");
    assert!(out.contains("| seen (48) |"), "{out}");
    assert!(out.contains("2 seeds"), "{out}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(run.join("rows.json")).unwrap()).unwrap();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert_eq!(r["content"], 8);
        for k in [
            "content_top1",
            "vendor_from_style",
            "vendor_from_pixels_lr",
            "vae_top1",
        ] {
            let v = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k} = {v}");
        }
    }
    // The frame tells the vendors apart in the pixels (on the 48 seen symbols' halves).
    assert!(
        rows[1]["vendor_from_pixels_lr"].as_f64().unwrap() > 0.9,
        "{}",
        rows[1]
    );
    let csv = std::fs::read_to_string(run.join("summary.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");

    // Interrupted after seed 0 (its rows marked): the resumed run keeps them and gives seed 1
    // the same figures as before.
    let mut first: Vec<serde_json::Value> = rows[..2].to_vec();
    first[0]["content_top1"] = serde_json::json!(0.5);
    std::fs::write(
        run.join("rows.json"),
        serde_json::to_string(&first).unwrap(),
    )
    .unwrap();
    std::fs::write(
        run.join("run.json"),
        r#"{"title": "tiny emoji", "kind": "experiment", "experiment": "content-style-emoji", "finished": false}"#,
    )
    .unwrap();
    let o = tl_with_data(&["run", "--resume", "run", "--quiet"], &dir, Some(&data));
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let again: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(run.join("rows.json")).unwrap()).unwrap();
    assert_eq!(again.len(), 4);
    assert_eq!(again[0]["content_top1"], 0.5, "seed 0 was run again");
    for k in [
        "content_top1",
        "style_top1",
        "vendor_from_style",
        "vae_top1",
    ] {
        assert_eq!(again[2][k], rows[2][k], "{k}: the resumed seed differs");
    }
    // Stopped after its last seed, before the summary: the resumed run trains nothing and
    // reads no data (no TL_DATA_DIR), and writes the summary of the rows it has.
    std::fs::write(
        run.join("run.json"),
        r#"{"title": "tiny emoji", "kind": "experiment", "experiment": "content-style-emoji", "finished": false}"#,
    )
    .unwrap();
    std::fs::remove_file(run.join("summary.md")).unwrap();
    let o = tl_with_data(&["run", "--resume", "run", "--quiet"], &dir, None);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("| unseen (12) |"), "{out}");
    assert!(run.join("summary.md").is_file());
    let (_, err) = text(&tl_with_data(&["report", "run"], &dir, Some(&data)));
    assert!(
        err.contains("an experiment run (content-style-emoji)"),
        "{err}"
    );

    // The cross-modal emoji table on the same folder, with the text side that needs no model.
    std::fs::write(
        dir.join("x.toml"),
        "seeds = 1\n[experiment]\nkind = \"crossmodal-emoji\"\nepochs = 1\ntexts = [\"hashed\"]\n",
    )
    .unwrap();
    let o = tl_with_data(
        &["run", "x.toml", "--quiet", "--out", "x"],
        &dir,
        Some(&data),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("| hashed words |"), "{out}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("x/rows.json")).unwrap()).unwrap();
    let row = rows.iter().find(|r| r["text"] == "hashed words").unwrap();
    // One subcategory of five held out: 12 unseen symbols, 48 seen.
    assert_eq!(
        (row["unseen"].as_u64(), row["seen"].as_u64()),
        (Some(12), Some(48))
    );
    assert!(dir.join("x/pictures").is_dir());
    // A share of the Twitter drawings that rounds to none is refused rather than run as if
    // self-training had happened.
    std::fs::write(
        dir.join("st.toml"),
        "seeds = 1\n[experiment]\nkind = \"crossmodal-emoji\"\nepochs = 1\ntexts = [\"hashed\"]\nself_train = 1\nself_train_share = 0.001\n",
    )
    .unwrap();
    let o = tl_with_data(
        &["run", "st.toml", "--quiet", "--out", "st"],
        &dir,
        Some(&data),
    );
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("self_train_share") && err.contains("is none"),
        "{err}"
    );
    // Too few symbols for the content/style table's splits: refused before any training.
    let few = dir.join("few");
    std::fs::create_dir_all(few.join("emoji")).unwrap();
    emoji_folder(&few.join("emoji"), 5);
    std::fs::write(dir.join("few.toml"), EMOJI_EXPERIMENT).unwrap();
    let o = tl_with_data(
        &["run", "few.toml", "--quiet", "--out", "few-run"],
        &dir,
        Some(&few),
    );
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("5 symbols") && err.contains("at least 6"),
        "{err}"
    );

    // Bad recipes, one clear line each.
    for (recipe, needles) in [
        (
            EMOJI_EXPERIMENT.replace("content-style-emoji", "content-style-emojis"),
            vec!["content-style-emojis", "content-style-digits"],
        ),
        (
            EMOJI_EXPERIMENT.replace("style = 2", "stlye = 2"),
            vec!["line 8", "stlye"],
        ),
        (
            EMOJI_EXPERIMENT.replace("style = 2", "style = 0"),
            vec!["[experiment]", "style"],
        ),
        // A decoder whose upsampling does not divide the 28-pixel digits.
        (
            EMOJI_EXPERIMENT.replace("content-style-emoji", "content-style-digits")
                + "decoder_conv = [8, 8, 8]\n",
            vec!["decoder_conv", "28x28", "at most 2 stages"],
        ),
    ] {
        std::fs::write(dir.join("bad.toml"), &recipe).unwrap();
        let o = tl_with_data(&["run", "bad.toml", "--check"], &dir, None);
        let (_, err) = text(&o);
        assert!(!o.status.success(), "{recipe}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "`{n}` not in {err}");
        }
    }
}

#[test]
fn the_one_shot_generation_experiment_caches_its_protonets() {
    let dir = scratch("one-shot");
    let omni = dir.join("data/omniglot");
    std::fs::create_dir_all(&omni).unwrap();
    omniglot_zip(&omni.join("images_background_small1.zip"), "Base", &BASE, 6);
    omniglot_zip(&omni.join("images_background_small2.zip"), "Other", &NEW, 6);
    runs_zip(&omni.join("all_runs.zip"), &[&NEW[..3], &NEW[1..]], 2);
    let recipe = format!(
        "seeds = 1\n[experiment]\nkind = \"one-shot-generation\"\nsize = 16\nchannels = 8\ntrain_episodes = 20\ntrain_way = 3\ntrain_query = 2\ngenerator_epochs = 1\nsiblings = 2\ncache = \"{}\"\n",
        dir.join("cache").display()
    );
    std::fs::write(dir.join("g.toml"), recipe).unwrap();
    let data = dir.join("data");
    let o = tl_with_data(&["run", "g.toml", "--out", "g"], &dir, Some(&data));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("protonet-small1-20e-3w1s2q-s16-c8-seed0: training"),
        "{err}"
    );
    // Two runs of 3 characters: 6 examples, 2 siblings each.
    assert!(
        out.contains("Lake's 2 runs (6 examples, 2 siblings each)"),
        "{out}"
    );
    assert!(out.contains("| the one real example |"), "{out}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("g/rows.json")).unwrap()).unwrap();
    assert_eq!(rows[0]["generated"], 12);
    let right = rows[0]["generated_judged_right"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&right), "{right}");
    assert!(dir.join("g/pictures/omniglot-one-shot-run01.png").is_file());
    for net in ["protonet-small1", "protonet-small12"] {
        let key = format!("{net}-20e-3w1s2q-s16-c8-seed0");
        assert!(
            dir.join("cache").join(format!("{key}.bin")).is_file(),
            "{key}"
        );
    }
    // A second run loads both ProtoNets (batch norm and all: the weights are saved with the
    // last step's statistics) and gives the same figures.
    let o = tl_with_data(&["run", "g.toml", "--out", "g2"], &dir, Some(&data));
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches(": loaded from").count(), 2, "{err}");
    let again: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("g2/rows.json")).unwrap()).unwrap();
    for k in [
        "generated_judged_right",
        "example_judged_right",
        "distance_to_example",
    ] {
        assert_eq!(again[0][k], rows[0][k], "{k}");
    }
}

#[test]
fn the_catalogue_marks_cards_without_weights_and_keeps_built_in_names() {
    let dir = scratch("catalogue");
    let models = dir.join("models");
    let card = |name: &str| {
        serde_json::json!({
            "name": name, "architecture": "cnn", "encoder": null, "head": null,
            "task": "digits", "label_names": ["a", "b"], "source_dataset": "made up",
            "domain": "digits", "input": {"modality": "image", "shape": [1, 8, 8],
            "value_range": [0.0, 1.0], "normalisation": "none"}, "metrics": {},
            "num_params": 1, "license": "MIT", "provenance": "a test", "weights": "w.bpk"
        })
        .to_string()
    };
    for (folder, name) in [("mine", "my-cnn"), ("clash", "small-cnn")] {
        std::fs::create_dir_all(models.join(folder)).unwrap();
        std::fs::write(models.join(folder).join("card.json"), card(name)).unwrap();
    }
    let o = tl_with_models(&["models", "list"], &dir, Some(&models));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    // Listed, but not here: its weights are missing.
    let line = out
        .lines()
        .find(|l| l.starts_with("| my-cnn |"))
        .unwrap_or_else(|| panic!("my-cnn not listed:\n{out}"));
    assert!(
        line.contains("no:") && line.contains("w.bpk missing"),
        "{line}"
    );
    assert!(
        err.contains("`small-cnn` is taken by a built-in model"),
        "{err}"
    );
    // A recipe without classes to rank models on is refused by what it is.
    let recipes = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    for (recipe, what) in [
        ("dsprites.toml", "a dSprites recipe"),
        ("emoji-content-style.toml", "an experiment recipe"),
    ] {
        let o = tl(
            &["models", "rank", recipes.join(recipe).to_str().unwrap()],
            &dir,
        );
        let (_, err) = text(&o);
        assert!(!o.status.success() && err.contains(what), "{recipe}: {err}");
    }
}

#[test]
fn compare_refuses_bad_flags_before_any_work() {
    let dir = scratch("compare-flags");
    let o = tl(&["compare", "--shift-degrees", "NaN"], &dir);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("not a finite"), "{err}");
    let o = tl(&["compare", "--json", "a.json", "--csv", "a.json"], &dir);
    let (_, err) = text(&o);
    assert!(
        !o.status.success() && err.contains("--json and --csv name the same file"),
        "{err}"
    );
}
