//! The few-label step: a pretrained encoder meets k labelled items per class. It reuses
//! tl-inductive's linear probe and full fine-tuning (the same code the inductive crate
//! measures), so the figures of both crates compare.

use burn::config::Config;
use serde::{Deserialize, Serialize};
use tl_core::data::LabelledSet;
use tl_core::model::Encoder;
use tl_core::report::FitReport;
use tl_core::strategy::{Pretrained, RunContext, Strategy};
use tl_core::task::TransferTask;
use tl_core::train::TrainConfig;
use tl_core::{CoreError, Result};
use tl_data::split::k_per_class;
use tl_inductive::{FullFineTune, LinearProbe};

/// Which few-label fits to run on a pretrained encoder.
#[derive(Config, Debug)]
pub struct FewLabels {
    /// Labelled items per class, one run each.
    #[config(default = "vec![1, 5, 10]")]
    pub shots: Vec<usize>,
    /// The linear probe (frozen encoder, new linear head).
    #[config(
        default = "Some(LinearProbe::new().with_train(TrainConfig::new().with_epochs(100).with_lr(1e-2).with_batch_size(32)))"
    )]
    pub probe: Option<LinearProbe>,
    /// Full fine-tuning (everything trains): the pretrained encoder at a small rate (1e-4),
    /// the new head at 100 times that (as fast as the probe's head), so the few labels adjust
    /// the features rather than overwrite them.
    #[config(
        default = "Some(FullFineTune::new().with_train(TrainConfig::new().with_epochs(100).with_lr(1e-4).with_batch_size(32)).with_head_lr_factor(100.0))"
    )]
    pub fine_tune: Option<FullFineTune>,
}

/// One few-label fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FewLabelRun {
    /// Labelled items per class.
    pub shots: usize,
    /// The fit's report (strategy `linear-probe` or `full-fine-tune`), on the test set.
    pub report: FitReport,
}

impl FewLabels {
    /// Refuses bad fields.
    pub fn validate(&self) -> Result<()> {
        if self.shots.is_empty() || self.shots.contains(&0) {
            return Err(CoreError::config(
                "shots",
                "give at least one number of labels per class, each >= 1",
            ));
        }
        if self.probe.is_none() && self.fine_tune.is_none() {
            return Err(CoreError::config(
                "probe",
                "neither a linear probe nor fine-tuning was asked for",
            ));
        }
        if let Some(p) = &self.probe {
            p.validate()?;
        }
        if let Some(f) = &self.fine_tune {
            f.validate()?;
        }
        Ok(())
    }

    /// For each number of shots, draws that many labelled items per class from `pool` (with
    /// the run's seed), and fits the probe and fine-tuning on a copy of `encoder`; each
    /// reports on `test`. Both methods of one seed see the same labelled items.
    pub fn run<E: Encoder + Clone + 'static>(
        &self,
        encoder: &E,
        pool: &LabelledSet,
        test: &LabelledSet,
        ctx: &mut RunContext<'_>,
    ) -> Result<Vec<FewLabelRun>> {
        self.validate()?;
        let seed = ctx.seed();
        let classes = pool.num_classes().max(test.num_classes());
        let mut runs = Vec::new();
        for &shots in &self.shots {
            let (few, _) = k_per_class(pool, shots, seed)
                .map_err(|e| CoreError::data(&pool.domain, e.to_string()))?;
            let task = TransferTask::new(classes)
                .with_target_labelled(few)
                .with_target_test(test.clone());
            let methods: [Option<&dyn Strategy<E>>; 2] = [
                self.probe.as_ref().map(|p| p as &dyn Strategy<E>),
                self.fine_tune.as_ref().map(|f| f as &dyn Strategy<E>),
            ];
            for method in methods.into_iter().flatten() {
                let (_, report) = method.fit(Pretrained::encoder(encoder.clone()), &task, ctx)?;
                runs.push(FewLabelRun { shots, report });
            }
        }
        Ok(runs)
    }
}
