//! Helpers shared by the cross-crate tests.
#![allow(dead_code)]

use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tl::prelude::*;

/// Burn's device random generator is process-wide and tests run on parallel threads: a test
/// that seeds it and expects reproducible draws (initial weights, dropout) holds this lock so
/// no other test draws in between.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    tl_core::device::seed_lock()
}

/// The device the tests run on: `TL_TEST_DEVICE` (e.g. `wgpu-cpu` in CI), else flex.
pub fn test_device() -> Device {
    let name = std::env::var("TL_TEST_DEVICE").unwrap_or_else(|_| "flex".into());
    device(&name).unwrap_or_else(|e| panic!("test device `{name}`: {e}"))
}

/// `n` points per class around `classes` well-separated centres in `dim` dimensions.
pub fn blobs(classes: usize, n: usize, dim: usize, spread: f32, seed: u64) -> LabelledSet {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n * classes {
        let c = i % classes;
        for d in 0..dim {
            let centre = if d % classes == c { 2.0 } else { -0.5 };
            let noise: f32 = rng.random_range(-1.0..1.0);
            values.push(centre + spread * noise);
        }
        labels.push(c);
    }
    LabelledSet::new(
        Inputs::new(vec![dim], values).unwrap(),
        labels,
        (0..classes).map(|c| format!("c{c}")).collect(),
        "blobs",
    )
    .unwrap()
}

/// A small MLP classifier on `device` for `dim` inputs and `classes` outputs.
pub fn mlp(dim: usize, hidden: usize, classes: usize, device: &Device) -> Classifier<Sequential> {
    let encoder = SequentialConfig::new(vec![dim])
        .linear(hidden)
        .relu()
        .init(device)
        .unwrap();
    let head = head_config(hidden, &[], classes).init(device).unwrap();
    Classifier::new(encoder, head).unwrap()
}

/// Every float parameter of a module, flattened, in visiting order.
pub fn weights<M: burn::module::Module>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::Tensor<D>>) {
            self.0.extend(param.val().into_data().iter::<f32>());
        }
    }
    let mut c = Collect(Vec::new());
    module.visit(&mut c);
    c.0
}

/// A fresh temporary folder for one test.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tl-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
