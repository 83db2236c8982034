//! The sanity bounds of disentanglement_lib's metric tests, on representations whose answer
//! is known: the ground-truth factors themselves, all zeros, a duplicate, a permutation and a
//! random mix.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl_disentangle::metrics::{
    Forest, LinearSvm1d, Samples, VoteSettings, beta_vae_score, dci, discretize, entropy,
    factor_vae_score, logistic_probe, mig, mig_gaps, mig_per_factor, mutual_info,
    normalized_mutual_info, sap,
};

/// `n` samples of `k` factors with 10 values each (disentanglement_lib's dummy data), and
/// the factors themselves as codes.
fn identity(n: usize, k: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<usize>>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let factors: Vec<Vec<usize>> = (0..n)
        .map(|_| (0..k).map(|_| rng.random_range(0..10)).collect())
        .collect();
    let codes = factors
        .iter()
        .map(|f| f.iter().map(|&v| v as f32).collect())
        .collect();
    (codes, factors)
}

fn map_codes(codes: &[Vec<f32>], f: impl Fn(&[f32]) -> Vec<f32>) -> Vec<Vec<f32>> {
    codes.iter().map(|c| f(c)).collect()
}

#[test]
fn mutual_information_and_discretisation_match_known_values() {
    // Two independent fair bits: no information; a bit with itself: ln 2.
    let a = [0, 0, 1, 1];
    let b = [0, 1, 0, 1];
    assert!(mutual_info(&a, &b).abs() < 1e-12);
    assert!((entropy(&a) - 2f64.ln()).abs() < 1e-12);
    // Only which values are equal matters, not how large they are (counted densely: raw ids
    // as large as usize::MAX cost no more than 0 and 1).
    let far = [7, 7, usize::MAX, usize::MAX];
    assert!((entropy(&far) - 2f64.ln()).abs() < 1e-12);
    assert!((mutual_info(&far, &a) - 2f64.ln()).abs() < 1e-12);
    // NumPy: np.digitize(x, np.histogram(x, 4)[1][:-1]) for x = [0, 1, 2, 3, 4, 8].
    assert_eq!(
        discretize(&[0.0, 1.0, 2.0, 3.0, 4.0, 8.0], 4),
        [1, 1, 2, 2, 3, 4]
    );
    assert_eq!(discretize(&[5.0, 5.0], 20), [1, 1]);
}

#[test]
fn the_ground_truth_scores_near_one_and_zeros_near_zero() {
    let (codes, factors) = identity(2000, 5, 0);
    let (test_codes, test_factors) = identity(1000, 5, 1);
    let train = Samples::new(&codes, &factors).unwrap();
    let test = Samples::new(&test_codes, &test_factors).unwrap();
    let m = mig(train, 20).unwrap();
    let s = sap(train, test, true).unwrap();
    let d = dci(train, test, Forest::default()).unwrap();
    eprintln!("ground truth: MIG {m:.3}, SAP {s:.3}, DCI {d:?}");
    for (name, v) in [
        ("MIG", m),
        ("SAP", s),
        ("D", d.disentanglement),
        ("C", d.completeness),
        ("I", d.informativeness),
    ] {
        assert!((0.9..=1.0 + 1e-9).contains(&v), "{name} = {v}");
    }
    let zeros = vec![vec![0.0f32; 5]; 2000];
    let zeros_test = vec![vec![0.0f32; 5]; 1000];
    let z = Samples::new(&zeros, &factors).unwrap();
    let zt = Samples::new(&zeros_test, &test_factors).unwrap();
    let (m, s) = (mig(z, 20).unwrap(), sap(z, zt, true).unwrap());
    assert!(sap(z, zt, false).unwrap() <= 0.2);
    assert!(m <= 0.2 && s <= 0.2, "zeros: MIG {m}, SAP {s}");
}

#[test]
fn per_factor_gaps_name_the_factors_a_code_has_taken_apart() {
    // Codes: factor 0 alone, factor 1 twice (no gap: two codes hold it equally), noise in
    // place of factor 2.
    let (truth, factors) = identity(2000, 3, 5);
    let mut rng = StdRng::seed_from_u64(9);
    let codes: Vec<Vec<f32>> = truth
        .iter()
        .map(|c| vec![c[0], c[1], c[1], rng.random::<f32>()])
        .collect();
    let samples = Samples::new(&codes, &factors).unwrap();
    let gaps = mig_per_factor(samples, 20).unwrap();
    assert_eq!(gaps.len(), 3);
    assert!(gaps[0] >= 0.9, "factor 0 held by one code: {gaps:?}");
    assert!(
        gaps[1].abs() < 1e-9,
        "factor 1 held by two codes alike: {gaps:?}"
    );
    assert!(gaps[2] < 0.05, "factor 2 held by none: {gaps:?}");
    let info = normalized_mutual_info(samples, 20).unwrap();
    assert_eq!((info.len(), info[0].len()), (4, 3));
    assert!(
        info[0][0] >= 0.9 && info[1][1] >= 0.9 && info[2][1] >= 0.9,
        "{info:?}"
    );
    assert!(
        info[0][1] < 0.05 && info[3].iter().all(|&v| v < 0.05),
        "{info:?}"
    );
    let mean = gaps.iter().sum::<f64>() / 3.0;
    assert!((mig(samples, 20).unwrap() - mean).abs() < 1e-12);
}

#[test]
fn a_duplicate_halves_completeness_a_permutation_keeps_disentanglement_a_mix_drops_it() {
    let (codes, factors) = identity(2000, 5, 2);
    let (test_codes, test_factors) = identity(1000, 5, 3);
    let both = |f: &dyn Fn(&[f32]) -> Vec<f32>| {
        let (a, b) = (map_codes(&codes, f), map_codes(&test_codes, f));
        let train = Samples::new(&a, &factors).unwrap();
        let test = Samples::new(&b, &test_factors).unwrap();
        dci(train, test, Forest::default()).unwrap()
    };
    // [z, z]: every factor's importance splits over two of ten codes.
    let duplicated = both(&|c| c.iter().chain(c).copied().collect());
    let want = 1.0 - 2f64.ln() / 10f64.ln();
    assert!(
        (duplicated.completeness - want).abs() < 0.1,
        "C = {} vs {want}",
        duplicated.completeness
    );
    let permuted = both(&|c| vec![c[3], c[0], c[4], c[1], c[2]]);
    assert!(permuted.disentanglement >= 0.9, "{permuted:?}");
    // A random rotation mixes every factor into every code.
    let mut rng = StdRng::seed_from_u64(9);
    let mix: Vec<Vec<f32>> = (0..5)
        .map(|_| (0..5).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect();
    let mixed = both(&|c| {
        mix.iter()
            .map(|row| row.iter().zip(c).map(|(w, v)| w * v).sum())
            .collect()
    });
    eprintln!(
        "D: permuted {:.3}, mixed {:.3}",
        permuted.disentanglement, mixed.disentanglement
    );
    assert!(
        mixed.disentanglement < permuted.disentanglement - 0.3,
        "{mixed:?}"
    );
}

#[test]
fn bad_input_is_refused_by_name() {
    let codes = vec![vec![0.0f32, 1.0], vec![1.0]];
    let factors = vec![vec![0usize], vec![1]];
    let err = Samples::new(&codes, &factors).unwrap_err().to_string();
    assert!(err.contains("sample 1 has 1 codes"), "{err}");
    let err = Samples::new(&codes[..1], &factors).unwrap_err().to_string();
    assert!(err.contains("1 code vectors but 2 factor vectors"), "{err}");
    // Raw ids as factor values are refused (the metrics count per index), naming the value.
    let ids = vec![vec![0usize], vec![usize::MAX]];
    let two_codes = vec![vec![0.0f32, 1.0], vec![1.0, 0.0]];
    let err = Samples::new(&two_codes, &ids).unwrap_err().to_string();
    assert!(
        err.contains("factor 0 of sample 1") && err.contains("renumbering"),
        "{err}"
    );
    let nan = vec![vec![f32::NAN, 0.0]];
    let err = Samples::new(&nan, &factors[..1]).unwrap_err().to_string();
    assert!(err.contains("non-finite"), "{err}");
    let one = vec![vec![0.5f32]; 4];
    let f = vec![vec![0usize], vec![1], vec![0], vec![1]];
    let err = mig(Samples::new(&one, &f).unwrap(), 20)
        .unwrap_err()
        .to_string();
    assert!(err.contains("two codes"), "{err}");
    let constant = vec![vec![0usize]; 4];
    let two = vec![vec![0.5f32, 0.1]; 4];
    let err = mig(Samples::new(&two, &constant).unwrap(), 20)
        .unwrap_err()
        .to_string();
    assert!(err.contains("factor 0 takes one value"), "{err}");
    // The public pieces refuse what would index past their data.
    let err = mig_gaps(&[vec![0.5, 0.1], vec![0.2]])
        .unwrap_err()
        .to_string();
    assert!(err.contains("code 1 has 1 factors"), "{err}");
    let err = LinearSvm1d::fit(&[0.0, 1.0], &[0, 2], 2, 0.01)
        .unwrap_err()
        .to_string();
    assert!(err.contains("label 2 of 2 classes"), "{err}");
    let err = LinearSvm1d::fit(&[0.0, 1.0], &[0], 2, 0.01)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2 values and 1 labels"), "{err}");
}

#[test]
fn factor_vae_and_beta_vae_scores_know_the_ground_truth_from_zeros() {
    let sizes = [10usize; 5];
    let settings = VoteSettings {
        train: 1000,
        eval: 500,
        variance_samples: 1000,
        ..VoteSettings::default()
    };
    let truth = |f: &[Vec<usize>]| -> tl_core::Result<Vec<Vec<f32>>> {
        Ok(f.iter()
            .map(|v| v.iter().map(|&x| x as f32).collect())
            .collect())
    };
    let zeros =
        |f: &[Vec<usize>]| -> tl_core::Result<Vec<Vec<f32>>> { Ok(vec![vec![0.0; 5]; f.len()]) };
    let fv = factor_vae_score(&sizes, &mut truth.clone(), settings).unwrap();
    let bv = beta_vae_score(&sizes, &mut truth.clone(), settings).unwrap();
    let fz = factor_vae_score(&sizes, &mut zeros.clone(), settings).unwrap();
    let bz = beta_vae_score(&sizes, &mut zeros.clone(), settings).unwrap();
    eprintln!(
        "FactorVAE score: truth {fv:.3}, zeros {fz:.3}; BetaVAE score: truth {bv:.3}, zeros {bz:.3}"
    );
    assert!((0.9..=1.0).contains(&fv), "{fv}");
    assert!((0.9..=1.0).contains(&bv), "{bv}");
    assert!(fz <= 0.2, "{fz}");
    assert!(bz <= 0.4, "{bz}");
    // A representation that returns the wrong number of codes is refused by name.
    let mut short = |f: &[Vec<usize>]| -> tl_core::Result<Vec<Vec<f32>>> {
        Ok(vec![vec![0.0; 5]; f.len() - 1])
    };
    let err = factor_vae_score(&sizes, &mut short, settings)
        .unwrap_err()
        .to_string();
    assert!(err.contains("code vectors for"), "{err}");
    let err = beta_vae_score(&[3, 0], &mut zeros.clone(), settings)
        .unwrap_err()
        .to_string();
    assert!(err.contains("factor sizes"), "{err}");
    // Counts that would score nothing are refused by name, not scored as 0 or chance.
    for (bad, field) in [
        (
            VoteSettings {
                eval: 0,
                ..settings
            },
            "votes",
        ),
        (
            VoteSettings {
                train: 0,
                ..settings
            },
            "votes",
        ),
        (
            VoteSettings {
                batch_size: 1,
                ..settings
            },
            "batch_size",
        ),
        (
            VoteSettings {
                variance_samples: 0,
                ..settings
            },
            "variance_samples",
        ),
    ] {
        let err = factor_vae_score(&sizes, &mut truth.clone(), bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{err}");
        let err = beta_vae_score(&sizes, &mut truth.clone(), bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{err}");
    }
}

/// `scripts/disentangle_reference.py`'s fixture: factors `(i % 3, (i / 3) % 5, 7 i % 4)`,
/// four codes, two of them mixing factors or noise.
fn fixture(range: std::ops::Range<usize>) -> (Vec<Vec<f32>>, Vec<Vec<usize>>) {
    range
        .map(|k| {
            let i = k as f64;
            let f = [k % 3, (k / 3) % 5, (7 * k) % 4];
            let c = [
                f[0] as f64 + 0.3 * i.sin(),
                0.5 * f[1] as f64 + 0.2 * (1.7 * i).cos(),
                (0.37 * i).sin(),
                f[2] as f64 + 0.5 * f[0] as f64 + 0.1 * (2.3 * i).sin(),
            ];
            (c.iter().map(|&v| v as f32).collect(), f.to_vec())
        })
        .unzip()
}

#[test]
fn mig_and_sap_match_disentanglement_libs_computation_with_sklearn() {
    let (codes, factors) = fixture(0..1000);
    let (test_codes, test_factors) = fixture(1000..1500);
    let train = Samples::new(&codes, &factors).unwrap();
    let test = Samples::new(&test_codes, &test_factors).unwrap();
    // `scripts/disentangle_reference.py` (numpy 2, scikit-learn 1.9.1): MIG 0.6727656719,
    // SAP 0.3760000000.
    let m = mig(train, 20).unwrap();
    let s = sap(train, test, false).unwrap();
    assert!((m - 0.6727656719).abs() < 1e-6, "MIG {m}");
    assert!((s - 0.376).abs() < 1e-6, "SAP {s}");
}

#[test]
fn the_logistic_probe_reads_a_small_linear_signal_that_a_scale_does_not_hide() {
    // Two classes apart by 0.02 along one code, noise 0.005, the other code pure noise: a
    // tiny scale, which standardisation makes no harder than a large one.
    let mut rng = StdRng::seed_from_u64(3);
    let mut draw = |n: usize| -> (Vec<Vec<f32>>, Vec<usize>) {
        (0..n)
            .map(|i| {
                let y = i % 2;
                let x = vec![
                    0.02 * y as f32 + 0.005 * (rng.random::<f32>() - 0.5),
                    rng.random::<f32>(),
                ];
                (x, y)
            })
            .unzip()
    };
    let ((a, ya), (b, yb)) = (draw(200), draw(200));
    let acc = logistic_probe((&a, &ya), (&b, &yb), 2).unwrap();
    assert!(acc > 0.97, "{acc}");
    // No signal: the noise code alone is near chance.
    let noise = |x: &[Vec<f32>]| -> Vec<Vec<f32>> { x.iter().map(|r| vec![r[1]]).collect() };
    let acc = logistic_probe((&noise(&a), &ya), (&noise(&b), &yb), 2).unwrap();
    assert!((0.35..0.65).contains(&acc), "{acc}");
    // Bad input is refused by name.
    for err in [
        logistic_probe((&a[..0], &ya[..0]), (&b, &yb), 2),
        logistic_probe((&a, &ya[..5]), (&b, &yb), 2),
        logistic_probe((&a, &ya), (&noise(&b), &yb), 2),
        logistic_probe((&a, &ya), (&b, &yb), 1),
    ] {
        let e = err.unwrap_err().to_string();
        assert!(e.contains("logistic probe"), "{e}");
    }
}
