//! LoRA (Hu et al. 2021) through Burn's built-in adapters: the pretrained weights are frozen,
//! each targeted weight matrix `W` gets a trainable low-rank update `W + alpha / rank * A B`,
//! and a new head trains fully. [`merge`] folds the adapters into the weights for deployment.
//!
//! Burn adapts rank-2 weights (linear layers, embeddings); convolution kernels have no
//! adapter and stay frozen.

use crate::common::{NEEDS, check_common, fine_tune, fine_tuning_fields};
use burn::config::Config;
use burn::module::{Lora, Module, ModuleVisitor, ParamGroup};
use tl_core::model::{Classifier, Encoder};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::{CrossEntropy, TrainConfig};
use tl_core::{CoreError, Result};

/// Name in reports.
pub const NAME: &str = "lora";

/// Low-rank adapters on the encoder's weight matrices, and a new head.
#[derive(Config, Debug)]
pub struct LoraFineTune {
    /// Rank of each update.
    #[config(default = 8)]
    pub rank: usize,
    /// Scale numerator: the update is multiplied by `alpha / rank`.
    #[config(default = 16.0)]
    pub alpha: f64,
    /// Regexes over parameter paths choosing the weights that get adapters (a `Sequential`
    /// layer's path holds its kind: `encoder.layers.10.Linear.weight`; a BERT's:
    /// `encoder.encoder.layers.3.mha.query.weight`); the default takes every weight matrix of
    /// the encoder. Targets that adapt nothing are an error.
    #[config(default = "vec![r\"^encoder\\..*weight$\".to_string()]")]
    pub targets: Vec<String>,
    /// Training.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Hidden widths of the new head; empty for a linear head.
    #[config(default = "Vec::new()")]
    pub head_hidden: Vec<usize>,
    /// The new head's learning rate as a multiple of `train.lr`.
    #[config(default = 1.0)]
    pub head_lr_factor: f64,
}

impl LoraFineTune {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(CoreError::InvalidConfig {
                field: "rank",
                reason: "must be at least 1".into(),
            });
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(CoreError::InvalidConfig {
                field: "alpha",
                reason: format!("{} must be finite and > 0", self.alpha),
            });
        }
        self.target_group()?;
        check_common(&self.train, &self.head_hidden, self.head_lr_factor)
    }

    fn target_group(&self) -> Result<ParamGroup> {
        if self.targets.is_empty() {
            return Err(CoreError::InvalidConfig {
                field: "targets",
                reason: "name at least one parameter path regex".into(),
            });
        }
        ParamGroup::from_any_regexes(self.targets.clone()).map_err(|e| CoreError::InvalidConfig {
            field: "targets",
            reason: format!("{e:?}"),
        })
    }
}

impl<E: Encoder + 'static> Strategy<E> for LoraFineTune {
    tl_core::strategy_basics!(NAME, Family::Inductive, NEEDS);

    /// Attaches adapters to the encoder, trains them and a new head on the task's labelled
    /// target set. The returned model still carries the adapters; [`merge`] folds them in.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let adapt = |model: Classifier<E>| {
            let head_group = model.head_group();
            let model = model
                .apply_lora(Lora::new(self.rank, self.alpha).set_param_group(self.target_group()?))
                .unfreeze_group(head_group);
            if count_adapters(&model) == 0 {
                return Err(CoreError::InvalidConfig {
                    field: "targets",
                    reason: format!(
                        "{:?} match no weight matrix of the encoder, so LoRA would train only the head",
                        self.targets
                    ),
                });
            }
            Ok(model)
        };
        fine_tune(self, NAME, start, task, ctx, adapt, CrossEntropy::new)
    }
}

/// How many parameters carry an adapter.
pub fn count_adapters<M: Module>(model: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn enter_module(&mut self, _name: &str, container: &str) {
            self.0 += usize::from(container == "Reparameterization");
        }
    }
    let mut c = Count(0);
    model.visit(&mut c);
    c.0
}

/// Folds every LoRA adapter into its base weight (`W + alpha / rank * A B`): the same
/// predictions without the adapters' extra work.
pub fn merge<M: Module>(model: M) -> M {
    model.materialize()
}

fine_tuning_fields!(LoraFineTune);
