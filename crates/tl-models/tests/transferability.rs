//! The transferability scores against an independent NumPy computation
//! (`tests/reference/transferability.py`, output in `transferability.json`).

use tl_models::transferability::{h_score, kendall_tau, knn_score, leep, logme};

#[derive(serde::Deserialize)]
struct Reference {
    features: Vec<Vec<f64>>,
    labels: Vec<usize>,
    source_probs: Vec<Vec<f64>>,
    logme: f64,
    leep: f64,
    hscore: f64,
    knn5: f64,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("reference/transferability.json")).unwrap()
}

fn flat(rows: &[Vec<f64>]) -> (Vec<f32>, usize) {
    (
        rows.iter().flatten().map(|&v| v as f32).collect(),
        rows[0].len(),
    )
}

#[test]
fn scores_match_numpy() {
    let r = reference();
    let (f, d) = flat(&r.features);
    let (p, z) = flat(&r.source_probs);
    let close = |a: f64, b: f64, what: &str| {
        assert!(
            (a - b).abs() <= 1e-4 * b.abs().max(1.0),
            "{what}: {a} vs numpy {b}"
        )
    };
    close(logme(&f, d, &r.labels).unwrap(), r.logme, "LogME");
    close(leep(&p, z, &r.labels).unwrap(), r.leep, "LEEP");
    close(h_score(&f, d, &r.labels).unwrap(), r.hscore, "H-score");
    close(knn_score(&f, d, &r.labels, 5).unwrap(), r.knn5, "5-NN");
}

#[test]
fn scores_prefer_informative_features() {
    let r = reference();
    let (f, d) = flat(&r.features);
    // the same number of features, but pure noise: every score must drop
    let noise: Vec<f32> = (0..f.len())
        .map(|i| ((i * 7919 % 1013) as f32 / 1013.0) - 0.5)
        .collect();
    assert!(logme(&f, d, &r.labels).unwrap() > logme(&noise, d, &r.labels).unwrap());
    assert!(h_score(&f, d, &r.labels).unwrap() > h_score(&noise, d, &r.labels).unwrap());
    assert!(knn_score(&f, d, &r.labels, 5).unwrap() > knn_score(&noise, d, &r.labels, 5).unwrap());
    // wrong sizes are refused
    assert!(logme(&f[..5], d, &r.labels).is_err());
    assert!(leep(&f, 0, &r.labels).is_err());
    // Non-finite values are refused; all-zero (dead) features give no LogME, not a NaN.
    let mut nan = f.clone();
    nan[3] = f32::NAN;
    let err = logme(&nan, d, &r.labels).unwrap_err().to_string();
    assert!(err.contains("not finite"), "{err}");
    assert!(h_score(&nan, d, &r.labels).is_err());
    let dead = vec![0.0; f.len()];
    let err = logme(&dead, d, &r.labels).unwrap_err().to_string();
    assert!(err.contains("LogME is NaN"), "{err}");
}

#[test]
fn kendall_tau_of_known_rankings() {
    assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
    assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
    // scipy.stats.kendalltau([1,2,3,4],[1,3,2,4]) = 0.6667
    assert!((kendall_tau(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]) - 2.0 / 3.0).abs() < 1e-12);
}
