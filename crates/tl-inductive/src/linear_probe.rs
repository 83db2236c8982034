//! Linear probe: the encoder stays frozen; its features are computed once, and only a new
//! head is trained on them.

use crate::common::{NEEDS, check_common, check_input, new_head, target_sets};
use burn::config::Config;
use burn::module::Module;
use tl_core::Result;
use tl_core::data::LabelledSet;
use tl_core::model::{Classifier, Encoder, Sequential, SequentialConfig};
use tl_core::report::EpochRecord;
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;

/// Name in reports.
pub const NAME: &str = "linear-probe";

/// A frozen encoder and a new head trained on its cached features.
#[derive(Config, Debug)]
pub struct LinearProbe {
    /// Training of the head.
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
    /// Hidden widths of the head; empty for a linear head (logistic regression).
    #[config(default = "Vec::new()")]
    pub head_hidden: Vec<usize>,
}

impl LinearProbe {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        check_common(&self.train, &self.head_hidden, 1.0)
    }

    /// Trains only the head on precomputed features (e.g. from an embedding cache; the set's
    /// items are feature vectors), with the run's seed.
    pub fn fit_head(
        &self,
        features: &LabelledSet,
        classes: usize,
        ctx: &mut RunContext<'_>,
    ) -> Result<(Sequential, Vec<EpochRecord>)> {
        self.validate()?;
        let width = features.inputs.item_size();
        let device = ctx.device().clone();
        device.seed(ctx.seed());
        let identity = SequentialConfig::new(vec![width]).init(&device)?;
        let head = new_head(width, &self.head_hidden, classes, &device)?;
        let probe = Classifier::new(identity, head)?;
        let out = ctx
            .trainer(ctx.train_config(&self.train))
            .fit(probe, features, None, &device)?;
        Ok((out.model.head.valid(), out.history))
    }
}

impl<E: Encoder + 'static> Strategy<E> for LinearProbe {
    tl_core::strategy_basics!(NAME, Family::Inductive, NEEDS);

    fn reads_features_only(&self) -> bool {
        true
    }

    /// Trains a head on the encoder's features of the task's labelled target set; returns the
    /// frozen encoder with that head, and its report on the target test set.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let encoder = start.encoder;
        let (train, test) = target_sets(task, NAME)?;
        ctx.begin();
        check_input(&encoder, train)?;
        let features = encode_set(&encoder, train, ctx.device(), ctx.eval_batch_size())?;
        let (head, history) = self.fit_head(&features, task.num_classes, ctx)?;
        let trained_params = head.num_params();
        let model = Classifier::new(encoder, head)?.freeze_encoder();
        let mut report = ctx.finish(NAME, self, &model, history, test)?;
        // Only the head trained (the model is returned for inference, where nothing tracks
        // gradients, so count it here).
        report.params.trainable = trained_params;
        Ok((model, report))
    }
}

/// The encoder's features of every item of a set, as a labelled set (tl-core's, here where
/// the probe's callers have long found it).
pub use tl_core::train::encode_set;
