//! Linear probe: the encoder stays frozen; its features are computed once, and only a new
//! head is trained on them.

use crate::common::{Run, check_common, check_input, new_head, target_sets};
use burn::config::Config;
use burn::module::Module;
use burn::tensor::Device;
use tl_core::Result;
use tl_core::data::{Inputs, LabelledSet};
use tl_core::model::{Classifier, Encoder, SequentialConfig};
use tl_core::report::FitReport;
use tl_core::task::TransferTask;
use tl_core::train::{TrainConfig, Trainer, encode_all};

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

    /// Trains a head on `encoder`'s features of the task's labelled target set; returns the
    /// frozen encoder with that head, and its report on the target test set.
    pub fn fit<E: Encoder + 'static>(
        &self,
        encoder: E,
        task: &TransferTask,
        device: &Device,
    ) -> Result<(Classifier<E>, FitReport)> {
        let (train, test) = target_sets(task, NAME)?;
        self.validate()?;
        let run = Run::start(self.train.seed, device);
        check_input(&encoder, train)?;
        let features = encode_set(&encoder, train, device, 256)?;
        let (head, history) = self.fit_head(&features, task.num_classes, device)?;
        let trained_params = head.num_params();
        let model = Classifier::new(encoder, head)?.freeze_encoder();
        let mut report = run.report(NAME, self, &model, history, test, device)?;
        // Only the head trained (the model is returned for inference, where nothing tracks
        // gradients, so count it here).
        report.params.trainable = trained_params;
        Ok((model, report))
    }

    /// Trains only the head on precomputed features (e.g. from an embedding cache); the set's
    /// items are feature vectors.
    pub fn fit_head(
        &self,
        features: &LabelledSet,
        classes: usize,
        device: &Device,
    ) -> Result<(
        tl_core::model::Sequential,
        Vec<tl_core::report::EpochRecord>,
    )> {
        self.validate()?;
        let width = features.inputs.item_size();
        device.seed(self.train.seed);
        let identity = SequentialConfig::new(vec![width]).init(device)?;
        let head = new_head(width, &self.head_hidden, classes, device)?;
        let probe = Classifier::new(identity, head)?;
        let out = Trainer::new(self.train.clone()).fit(probe, features, None, device)?;
        Ok((out.model.head.valid(), out.history))
    }
}

/// The encoder's features of every item of `set` (inference mode), as a labelled set of
/// feature vectors with the same labels.
pub fn encode_set<E: Encoder>(
    encoder: &E,
    set: &LabelledSet,
    device: &Device,
    batch_size: usize,
) -> Result<LabelledSet> {
    let values = encode_all(encoder, set, device, batch_size)?;
    LabelledSet::new(
        Inputs::new(vec![encoder.feature_dim()], values)?,
        set.labels.clone(),
        set.class_names.clone(),
        set.domain.clone(),
    )
}
