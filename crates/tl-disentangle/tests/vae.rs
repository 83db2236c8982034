//! The VAE family's losses and training on tiny dSprites.

use burn::tensor::{Device, Tensor, TensorData};
use tl_core::data::UnlabelledSet;
use tl_core::strategy::RunContext;
use tl_core::train::{TrainConfig, UnlabelledBatches};
use tl_disentangle::{
    Penalty, TcEstimator, Vae, VaeObjective, stratified_log_weights, total_correlation,
    total_correlation_by,
};

fn dev() -> Device {
    tl_core::device::device("flex").unwrap()
}

fn t2(v: Vec<f32>, shape: [usize; 2], dev: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, shape), dev)
}

#[test]
fn total_correlation_is_larger_for_dependent_latents() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    // 64 narrow posteriors on a grid of 8 levels per dimension: either both dimensions
    // equal (dependent: 8 joint values, each shared by 8 items) or every pair of levels once
    // (independent: 64 joint values). The marginals are the same, so the estimates differ by
    // the joint's share, log 8.
    let m = 64;
    let level = |v: usize| v as f32 - 3.5;
    let dependent: Vec<f32> = (0..m).flat_map(|i| [level(i % 8), level(i % 8)]).collect();
    let independent: Vec<f32> = (0..m).flat_map(|i| [level(i % 8), level(i / 8)]).collect();
    let log_var = t2(vec![-6.0; 2 * m], [m, 2], &dev);
    let tc = |means: Vec<f32>| {
        let mean = t2(means, [m, 2], &dev);
        // z at the means (the variance is tiny).
        total_correlation(mean.clone(), mean, log_var.clone(), 1000).into_scalar::<f32>()
    };
    let (dep, ind) = (tc(dependent), tc(independent));
    eprintln!("TC: dependent {dep:.3}, independent {ind:.3}");
    assert!((dep - ind - 8f32.ln()).abs() < 0.05, "{dep} vs {ind}");
}

#[test]
fn stratified_weights_sum_to_one_on_every_row() {
    for (m, n) in [(2, 10), (5, 100), (64, 20_000), (64, 64)] {
        let w = stratified_log_weights(m, n);
        assert_eq!(w.len(), m * m);
        for i in 0..m {
            let row: f64 = w[i * m..(i + 1) * m]
                .iter()
                .map(|&v| (v as f64).exp())
                .sum();
            assert!((row - 1.0).abs() < 1e-5, "m {m}, n {n}, row {i}: {row}");
            assert!((w[i * m + i] as f64 - (1.0 / n as f64).ln()).abs() < 1e-5);
        }
    }
    assert_eq!(stratified_log_weights(1, 10), vec![0.0]);
    assert!("mss".parse::<TcEstimator>().is_ok());
    let err = "mcmc".parse::<TcEstimator>().unwrap_err().to_string();
    assert!(err.contains("mcmc") && err.contains("mss"), "{err}");
}

/// Draws `m` posteriors of width `sigma` whose means are standard normal pairs with
/// correlation `rho`, and a sample `z` of each: `(z, mean, log_var)`.
fn correlated_posteriors(m: usize, rho: f64, sigma: f64, seed: u64) -> [Vec<f32>; 3] {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut normal = move || {
        let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let (mut z, mut mean) = (Vec::new(), Vec::new());
    for _ in 0..m {
        let a = normal();
        let b = rho * a + (1.0 - rho * rho).sqrt() * normal();
        for mu in [a, b] {
            mean.push(mu as f32);
            z.push((mu + sigma * normal()) as f32);
        }
    }
    let log_var = vec![(sigma * sigma).ln() as f32; 2 * m];
    [z, mean, log_var]
}

#[test]
fn the_stratified_estimate_finds_a_known_total_correlation() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    // The aggregate posterior of these pairs is a Gaussian with variance 1 + sigma^2 and
    // covariance rho, so its total correlation is -ln(1 - r^2) / 2, r = rho / (1 + sigma^2).
    let (m, sigma) = (512, 0.3);
    for (rho, seed) in [(0.9, 1), (0.0, 2), (0.6, 3)] {
        let [z, mean, log_var] = correlated_posteriors(m, rho, sigma, seed);
        let r = rho / (1.0 + sigma * sigma);
        let truth = -0.5 * (1.0 - r * r).ln();
        let estimate = total_correlation_by(
            t2(z, [m, 2], &dev),
            t2(mean, [m, 2], &dev),
            t2(log_var, [m, 2], &dev),
            100_000,
            TcEstimator::Mss,
        )
        .into_scalar::<f32>() as f64;
        eprintln!("rho {rho}: MSS {estimate:.3}, truth {truth:.3}");
        assert!(
            (estimate - truth).abs() < 0.1,
            "rho {rho}: {estimate} vs {truth}"
        );
    }
}

#[test]
fn bad_settings_are_refused_by_name() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let err = Vae::mlp(16, &[8], 0, &dev).unwrap_err().to_string();
    assert!(err.contains("latent"), "{err}");
    let err = Penalty::Kl { beta: -1.0 }
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("beta") && err.contains("-1"), "{err}");
    let err = Penalty::TotalCorrelation {
        beta: 6.0,
        dataset_size: 0,
        estimator: TcEstimator::Mss,
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(err.contains("dataset_size"), "{err}");
    let err = tl_disentangle::BetaVae::new()
        .with_decoder_hidden(vec![0])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("decoder_hidden"), "{err}");
    let err = tl_disentangle::BetaVae::new()
        .with_decoder_conv(vec![32, 0])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("decoder_conv"), "{err}");
    // Means of items of another size than the VAE takes are refused, not garbage.
    let vae = Vae::mlp(16, &[8], 2, &dev).unwrap();
    let wrong = tl_core::data::Inputs::new(vec![9], vec![0.0; 18]).unwrap();
    assert!(vae.means(&wrong, &dev).is_err());
    let right = tl_core::data::Inputs::new(vec![16], vec![0.5; 32]).unwrap();
    let means = vae.means(&right, &dev).unwrap();
    assert_eq!((means.len(), means[0].len()), (2, 2));
}

/// dSprites-style sprites shrunk to 16x16 (every 4th pixel of the 64x64 render).
fn tiny_sprites(n: usize) -> UnlabelledSet {
    let s = tl_data::shift::dsprites_sample(n, 3).unwrap();
    let mut values = Vec::with_capacity(n * 256);
    for i in 0..n {
        let img = s.images.item(i);
        for y in 0..16 {
            for x in 0..16 {
                let block = (0..4)
                    .flat_map(|dy| (0..4).map(move |dx| (dy, dx)))
                    .map(|(dy, dx)| img[(4 * y + dy) * 64 + 4 * x + dx])
                    .sum::<f32>();
                values.push((block / 16.0).min(1.0));
            }
        }
    }
    UnlabelledSet::new(
        tl_core::data::Inputs::new(vec![256], values).unwrap(),
        "sprites",
    )
    .unwrap()
}

#[test]
fn a_larger_beta_trades_reconstruction_for_a_smaller_kl() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let data = tiny_sprites(512);
    let fit = |penalty: Penalty| {
        dev.seed(4);
        let vae = Vae::mlp(256, &[128], 6, &dev).unwrap();
        let mut batches = UnlabelledBatches::new(&data, 64, 4);
        let mut ctx = RunContext::new(&dev).with_seed(4);
        let train = TrainConfig::new().with_epochs(8).with_lr(2e-3).with_seed(4);
        let out = ctx
            .trainer(train)
            .train_module(vae, &mut batches, VaeObjective { penalty }, &dev)
            .unwrap();
        out.history
    };
    let vae = fit(Penalty::Kl { beta: 1.0 });
    let beta = fit(Penalty::Kl { beta: 8.0 });
    let tc = fit(Penalty::TotalCorrelation {
        beta: 8.0,
        dataset_size: 512,
        estimator: TcEstimator::Mws,
    });
    let mss = fit(Penalty::TotalCorrelation {
        beta: 8.0,
        dataset_size: 512,
        estimator: TcEstimator::Mss,
    });
    let (first, last) = (&vae[0], vae.last().unwrap());
    assert!(
        last.train_loss < first.train_loss,
        "{} -> {}",
        first.train_loss,
        last.train_loss
    );
    let kl = |h: &Vec<tl_core::report::EpochRecord>| h.last().unwrap().extra["kl"];
    let rec = |h: &Vec<tl_core::report::EpochRecord>| h.last().unwrap().extra["reconstruction"];
    eprintln!(
        "VAE kl {:.2} rec {:.2}; beta-VAE (8) kl {:.2} rec {:.2}; beta-TCVAE (8) kl {:.2} rec {:.2} tc {:.3}",
        kl(&vae),
        rec(&vae),
        kl(&beta),
        rec(&beta),
        kl(&tc),
        rec(&tc),
        tc.last().unwrap().extra["total_correlation"]
    );
    assert!(kl(&beta) < kl(&vae) && rec(&beta) > rec(&vae));
    assert!(tc.last().unwrap().extra.contains_key("total_correlation"));
    let (first, last) = (&mss[0], mss.last().unwrap());
    assert!(last.train_loss < first.train_loss && last.train_loss.is_finite());
}

#[test]
fn the_vae_family_runs_as_strategies_and_refuses_non_pixel_data() {
    let _seeded = tl_core::device::seed_lock();
    use tl_core::model::SequentialConfig;
    use tl_core::strategy::{Pretrained, Strategy};
    use tl_core::task::TransferTask;
    use tl_disentangle::BetaVae;
    let dev = dev();
    let digits = tl_data::digits().unwrap();
    let (labelled, rest) = tl_data::split::k_per_class(&digits, 10, 0).unwrap();
    let (unlabelled, test) = tl_data::split::stratified_split(&rest, 0.5, 0).unwrap();
    let task = TransferTask::new(10)
        .with_target_labelled(labelled)
        .with_target_unlabelled(unlabelled.unlabelled())
        .with_target_test(test);
    let encoder = || {
        dev.seed(0);
        SequentialConfig::new(vec![1, 8, 8])
            .linear(64)
            .relu()
            .init(&dev)
            .unwrap()
    };
    for method in [
        BetaVae::vae(),
        BetaVae::new(),
        BetaVae::tc(),
        BetaVae::factor().with_discriminator_hidden(vec![64]),
    ] {
        let method = method.with_train(TrainConfig::new().with_epochs(10).with_lr(2e-3));
        let mut ctx = RunContext::new(&dev).with_seed(0);
        let (_, report) =
            Strategy::fit(&method, Pretrained::encoder(encoder()), &task, &mut ctx).unwrap();
        eprintln!(
            "{}: digit accuracy with 10 labels per class {:.2} %",
            method.name(),
            100.0 * report.metrics.accuracy
        );
        assert!(
            report.metrics.accuracy > 0.5,
            "{}: {}",
            method.name(),
            report.metrics.accuracy
        );
        assert_eq!(report.history.len(), 10);
        assert!(report.history[0].extra.contains_key("kl"));
    }
    // Values outside [0, 1] are not Bernoulli pixels.
    let mut shifted = task.clone();
    if let Some(u) = shifted.target_unlabelled.as_mut() {
        u.inputs.values[3] = 2.5;
    }
    let err = Strategy::fit(
        &BetaVae::new(),
        Pretrained::encoder(encoder()),
        &shifted,
        &mut RunContext::new(&dev),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("2.5 outside [0, 1]"), "{err}");
}

#[test]
fn permuting_each_latent_keeps_its_values_and_breaks_their_dependence() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    let m = 200;
    // Two equal columns: fully dependent.
    let v: Vec<f32> = (0..m).flat_map(|i| [i as f32, i as f32]).collect();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    let p: Vec<f32> = tl_disentangle::permute_dims(t2(v, [m, 2], &dev), &mut rng)
        .into_data()
        .iter::<f32>()
        .collect();
    for d in 0..2 {
        let mut col: Vec<f32> = p.iter().skip(d).step_by(2).copied().collect();
        col.sort_by(f32::total_cmp);
        assert!(col.iter().enumerate().all(|(i, &x)| x == i as f32));
    }
    let same = p.chunks(2).filter(|r| r[0] == r[1]).count();
    assert!(same < 10, "{same} rows still equal");
}

#[test]
fn factor_vae_trains_its_discriminator_and_lowers_the_total_correlation() {
    let _seeded = tl_core::device::seed_lock();
    use tl_disentangle::{BetaVae, FactorVae, FactorVaeObjective};
    let dev = dev();
    let data = tiny_sprites(512);
    let fit = |gamma: f64| {
        dev.seed(5);
        let vae = Vae::mlp(256, &[128], 6, &dev).unwrap();
        let model = FactorVae::new(vae, &[64, 64], &dev).unwrap();
        let group = model.discriminator_group();
        let mut batches = UnlabelledBatches::new(&data, 64, 5);
        let mut ctx = RunContext::new(&dev).with_seed(5);
        let train = TrainConfig::new()
            .with_epochs(60)
            .with_lr(2e-3)
            .with_seed(5);
        let adam = burn::optim::AdamConfig::new()
            .with_beta_1(0.5)
            .with_beta_2(0.9);
        let objective = FactorVaeObjective::new(gamma, 5).unwrap();
        let out = ctx
            .trainer(train)
            .with_group_adam(group, &adam)
            .train_module(model, &mut batches, objective, &dev)
            .unwrap();
        out.history.last().unwrap().extra.clone()
    };
    let free = fit(0.0);
    let penalised = fit(40.0);
    eprintln!("gamma 0: {free:?}\ngamma 40: {penalised:?}");
    // Unpenalised, the discriminator tells q(z) from its permutation (loss below ln 2).
    assert!(free["discriminator_loss"] < 0.65, "{free:?}");
    assert!(free["discriminator_accuracy"] > 0.6, "{free:?}");
    // Penalised, the latent's estimated total correlation is smaller.
    assert!(
        penalised["total_correlation"] < free["total_correlation"] - 0.2,
        "{penalised:?} vs {free:?}"
    );
    let err = FactorVaeObjective::new(-1.0, 0).unwrap_err().to_string();
    assert!(err.contains("gamma"), "{err}");
    let err = BetaVae::factor()
        .with_discriminator_hidden(vec![0])
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("discriminator"), "{err}");
}

#[test]
fn a_transposed_convolution_decoder_draws_images_and_learns() {
    let _seeded = tl_core::device::seed_lock();
    let dev = dev();
    // Shapes: the codes, hidden widths, a 16-channel 4x4 image, 8 channels at 8x8, the items.
    let dec = tl_disentangle::pixel_decoder(6, &[32], &[16, 8], &[1, 16, 16], &dev).unwrap();
    assert_eq!(dec.output_dim(), 256);
    assert_eq!(
        dec.config().activation_shapes().unwrap().last().unwrap(),
        &vec![1, 16, 16]
    );
    for (conv, shape, says) in [
        (vec![16, 0], vec![1, 16, 16], "at least 1"),
        (vec![8; 5], vec![1, 16, 16], "do not divide 16x16"),
        (vec![8], vec![256], "draw images"),
    ] {
        let err = tl_disentangle::pixel_decoder(6, &[32], &conv, &shape, &dev)
            .unwrap_err()
            .to_string();
        assert!(err.contains("decoder_conv") && err.contains(says), "{err}");
    }
    // A VAE with it reconstructs the sprites better as it trains.
    let flat = tiny_sprites(512);
    let data = UnlabelledSet::new(
        tl_core::data::Inputs::new(vec![1, 16, 16], flat.inputs.values.clone()).unwrap(),
        "sprites",
    )
    .unwrap();
    dev.seed(4);
    let encoder = tl_core::model::SequentialConfig::new(vec![1, 16, 16])
        .linear(128)
        .relu()
        .init(&dev)
        .unwrap();
    let vae = Vae::on(encoder, &[128], &[16, 8], 6, &dev).unwrap();
    let mut batches = UnlabelledBatches::new(&data, 64, 4);
    let mut ctx = RunContext::new(&dev).with_seed(4);
    let train = TrainConfig::new().with_epochs(6).with_lr(2e-3).with_seed(4);
    let out = ctx
        .trainer(train)
        .train_module(
            vae,
            &mut batches,
            VaeObjective {
                penalty: Penalty::Kl { beta: 1.0 },
            },
            &dev,
        )
        .unwrap();
    let rec = |e: &tl_core::report::EpochRecord| e.extra["reconstruction"];
    let (first, last) = (rec(&out.history[0]), rec(out.history.last().unwrap()));
    eprintln!("conv decoder: reconstruction {first:.2} -> {last:.2}");
    assert!(last < 0.8 * first, "{first} -> {last}");
    let drawn = out.model.decode(&[vec![0.0; 6]], &dev).unwrap();
    assert_eq!(drawn[0].len(), 256);
    assert!(drawn[0].iter().all(|p| (0.0..=1.0).contains(p)));
}
