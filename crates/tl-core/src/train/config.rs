//! The training configuration: optimiser, schedule, clipping, early stopping, seed.

use crate::error::{CoreError, Result};
use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::lr_scheduler::LrSchedulerConfig;
use burn::lr_scheduler::cosine::CosineAnnealingLrSchedulerConfig;
use burn::lr_scheduler::linear::LinearLrSchedulerConfig;
use burn::lr_scheduler::sequential::SequentialLrSchedulerConfig;
use burn::lr_scheduler::step::StepLrSchedulerConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

/// Which optimiser, with its own settings; the learning rate lives in [`TrainConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Stochastic gradient descent with (optional) momentum and L2 weight decay.
    Sgd {
        /// Momentum factor; 0 for none.
        momentum: f64,
        /// L2 penalty added to the gradient; 0 for none.
        weight_decay: f64,
    },
    /// Adam with L2 weight decay added to the gradient.
    Adam {
        /// L2 penalty; 0 for none.
        weight_decay: f64,
    },
    /// AdamW: decoupled weight decay.
    AdamW {
        /// Decoupled decay; 0 for none.
        weight_decay: f64,
    },
}

/// How the learning rate evolves over the run (per optimiser step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Multiply by `gamma` every `epochs` epochs.
    Step {
        /// Epochs between decays.
        epochs: usize,
        /// Decay factor.
        gamma: f64,
    },
    /// Cosine annealing to `min_factor * lr` at the last step.
    Cosine {
        /// Final rate as a fraction of the initial one.
        min_factor: f64,
    },
}

/// Stop when validation accuracy has not improved for `patience` epochs, and keep the best.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Smallest gain that counts as an improvement.
    pub min_delta: f64,
}

/// Configuration of the shared training loop.
#[derive(Config, Debug, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training set.
    #[config(default = 10)]
    pub epochs: usize,
    /// Items per optimiser step.
    #[config(default = 32)]
    pub batch_size: usize,
    /// Base learning rate.
    #[config(default = 1e-3)]
    pub lr: f64,
    /// The optimiser.
    #[config(default = "OptimizerKind::Adam { weight_decay: 0.0 }")]
    pub optimizer: OptimizerKind,
    /// The learning-rate schedule.
    #[config(default = "Schedule::Constant")]
    pub schedule: Schedule,
    /// Linear warm-up from `lr / 100` over this many steps; 0 for none.
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// Clip the global gradient norm of each parameter to this value.
    #[config(default = "None")]
    pub grad_clip_norm: Option<f32>,
    /// Early stopping on validation accuracy (needs a validation set).
    #[config(default = "None")]
    pub early_stopping: Option<EarlyStopping>,
    /// Seed of the shuffling and of the device's random numbers (dropout).
    #[config(default = 0)]
    pub seed: u64,
}

impl TrainConfig {
    /// Refuses out-of-range values before any work.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(CoreError::config("epochs", "must be at least 1"));
        }
        if self.batch_size == 0 {
            return Err(CoreError::config("batch_size", "must be at least 1"));
        }
        if !(self.lr > 0.0 && self.lr <= 1.0) {
            return Err(CoreError::config(
                "lr",
                format!("{} not in (0, 1]", self.lr),
            ));
        }
        let decay = match self.optimizer {
            OptimizerKind::Sgd {
                momentum,
                weight_decay,
            } => {
                if !(0.0..1.0).contains(&momentum) {
                    return Err(CoreError::config(
                        "optimizer.momentum",
                        format!("{momentum} not in [0, 1)"),
                    ));
                }
                weight_decay
            }
            OptimizerKind::Adam { weight_decay } | OptimizerKind::AdamW { weight_decay } => {
                weight_decay
            }
        };
        if !(decay >= 0.0 && decay.is_finite()) {
            return Err(CoreError::config(
                "optimizer.weight_decay",
                format!("{decay} must be >= 0"),
            ));
        }
        match self.schedule {
            Schedule::Step { epochs, gamma } => {
                if epochs == 0 || !(gamma > 0.0 && gamma <= 1.0) {
                    return Err(CoreError::config(
                        "schedule",
                        "step needs epochs >= 1 and gamma in (0, 1]",
                    ));
                }
            }
            Schedule::Cosine { min_factor } => {
                if !(0.0..=1.0).contains(&min_factor) {
                    return Err(CoreError::config(
                        "schedule.min_factor",
                        format!("{min_factor} not in [0, 1]"),
                    ));
                }
            }
            Schedule::Constant => {}
        }
        if let Some(clip) = self.grad_clip_norm
            && !(clip > 0.0 && clip.is_finite())
        {
            return Err(CoreError::config(
                "grad_clip_norm",
                format!("{clip} must be > 0"),
            ));
        }
        if let Some(stop) = &self.early_stopping
            && !(stop.min_delta >= 0.0 && stop.min_delta.is_finite())
        {
            return Err(CoreError::config(
                "early_stopping.min_delta",
                format!("{} must be finite and >= 0", stop.min_delta),
            ));
        }
        Ok(())
    }

    pub(crate) fn optimizer(&self) -> ModuleOptimizer {
        let clip = self.grad_clip_norm.map(GradientClippingConfig::Norm);
        let decay = |w: f64| (w > 0.0).then(|| WeightDecayConfig::new(w as f32));
        match self.optimizer {
            OptimizerKind::Sgd {
                momentum,
                weight_decay,
            } => SgdConfig::new()
                .with_momentum((momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_dampening(0.0)
                }))
                .with_weight_decay(decay(weight_decay))
                .with_gradient_clipping(clip)
                .init(),
            OptimizerKind::Adam { weight_decay } => AdamConfig::new()
                .with_weight_decay(decay(weight_decay))
                .with_grad_clipping(clip)
                .init(),
            OptimizerKind::AdamW { weight_decay } => AdamWConfig::new()
                .with_weight_decay(weight_decay as f32)
                .with_grad_clipping(clip)
                .init(),
        }
    }

    /// Burn's schedule for a group whose rate is `lr`, over `steps_per_epoch * epochs` steps.
    pub(crate) fn schedule_for(&self, lr: f64, steps_per_epoch: usize) -> LrSchedulerConfig {
        let total = (steps_per_epoch * self.epochs).max(1);
        if lr == 0.0 {
            // A group held at rate 0 (Burn's decaying schedules refuse a zero start).
            return LrSchedulerConfig::Constant(0.0);
        }
        let warmup = self.warmup_steps.min(total.saturating_sub(1));
        let main_steps = (total - warmup).max(1);
        let main = match self.schedule {
            Schedule::Constant => LrSchedulerConfig::Constant(lr),
            Schedule::Step { epochs, gamma } => LrSchedulerConfig::Step(
                StepLrSchedulerConfig::new(lr, epochs * steps_per_epoch).with_gamma(gamma),
            ),
            Schedule::Cosine { min_factor } => LrSchedulerConfig::Cosine(
                CosineAnnealingLrSchedulerConfig::new(lr, main_steps).with_min_lr(lr * min_factor),
            ),
        };
        if warmup == 0 {
            return main;
        }
        LrSchedulerConfig::Sequential(SequentialLrSchedulerConfig::new(
            vec![
                LrSchedulerConfig::Linear(LinearLrSchedulerConfig::new(lr / 100.0, lr, warmup)),
                main,
            ],
            vec![warmup],
        ))
    }
}
