//! The cross-modal strategies on the shared contract: align the task's labelled source images
//! with captions made from their class names, then read a classifier for the task's classes
//! out of the shared space.

use crate::model::{AlignObjective, CaptionBatches, ClipModel};
use crate::prompts::ClassPrompts;
use crate::text::{TextSpace, TextVectors};
use burn::config::Config;
use burn::module::Module;
use serde::{Deserialize, Serialize};
use tl_core::CoreError;
use tl_core::Result;
use tl_core::data::{Inputs, LabelledSet};
use tl_core::model::{Classifier, Encoder};
use tl_core::strategy::{Family, Pretrained, RunContext, Strategy};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::TrainConfig;
use tl_inductive::LinearProbe;

/// How the aligned space becomes a classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Readout {
    /// Zero-shot: images scored by cosine against each class's prompt prototype (no image
    /// label is used after alignment; classes never seen in alignment work the same way).
    ZeroShot,
    /// Cross-modal transfer: a linear classifier trained on the prompts' text features
    /// only, applied to image features.
    TextOnly,
    /// A linear probe on the aligned image features of the labelled source (the usual upper
    /// reference; it knows only the source's classes).
    Probe,
}

const NEEDS: &[TaskPart] = &[TaskPart::SourceLabelled, TaskPart::TargetTest];

/// CLIP-style alignment of an image encoder with a locked text encoder (symmetric InfoNCE,
/// learned temperature), the captions made from the class names of the labelled source with
/// `templates`; then a classifier by `readout`. The class names are the task's (its test
/// set's), so classes the source never shows are scored from their names alone.
#[derive(Config, Debug)]
pub struct Clip {
    /// How the classifier is read out.
    #[config(default = "Readout::ZeroShot")]
    pub readout: Readout,
    /// The locked text encoder.
    #[config(default = "TextSpace::minilm()")]
    pub text: TextSpace,
    /// Caption templates, each with `{}` for the class name.
    #[config(default = "default_templates()")]
    pub templates: Vec<String>,
    /// Width of the shared space (with a text projection).
    #[config(default = 128)]
    pub dim: usize,
    /// Whether the text vectors get a trainable linear projection; without one the image
    /// side is projected straight into the text space (LiT's locked tower).
    #[config(default = true)]
    pub text_projection: bool,
    /// Whether items of one class are positives of each other (captions from labels).
    #[config(default = true)]
    pub class_positives: bool,
    /// Alignment training.
    #[config(default = "TrainConfig::new().with_epochs(10).with_batch_size(128).with_lr(1e-3)")]
    pub train: TrainConfig,
    /// The head of the text-only and probe readouts (logistic regression).
    #[config(
        default = "LinearProbe::new().with_train(TrainConfig::new().with_epochs(100).with_lr(1e-2).with_batch_size(32))"
    )]
    pub probe: LinearProbe,
}

/// Generic caption templates.
pub fn default_templates() -> Vec<String> {
    ["a photo of {}", "a picture of {}", "a drawing of {}", "{}"]
        .map(String::from)
        .to_vec()
}

impl Clip {
    /// The text-only readout.
    pub fn text_only() -> Self {
        Self::new().with_readout(Readout::TextOnly)
    }

    /// The probe readout.
    pub fn probe() -> Self {
        Self::new().with_readout(Readout::Probe)
    }

    /// `clip`, `clip-text-only` or `clip-probe`.
    pub fn name(&self) -> &'static str {
        match self.readout {
            Readout::ZeroShot => "clip",
            Readout::TextOnly => "clip-text-only",
            Readout::Probe => "clip-probe",
        }
    }

    /// Refuses bad settings before any work.
    pub fn validate(&self) -> Result<()> {
        self.text.validate()?;
        self.train.validate()?;
        self.probe.validate()?;
        if self.text_projection && self.dim == 0 {
            return Err(CoreError::config(
                "dim",
                "0: the shared space needs a width",
            ));
        }
        ClassPrompts::from_templates(&["x".into()], &self.templates)?;
        Ok(())
    }

    /// The task's class names (its test set's, one per class).
    pub fn class_names(&self, task: &TransferTask) -> Result<Vec<String>> {
        let test = task.labelled(TaskPart::TargetTest, self.name())?;
        if test.class_names.len() != task.num_classes {
            return Err(CoreError::data(
                &test.domain,
                format!(
                    "{} class names for a task of {} classes: zero-shot needs every class named",
                    test.class_names.len(),
                    task.num_classes
                ),
            ));
        }
        Ok(test.class_names.clone())
    }

    /// Aligns `encoder` with the text space on `images` (their captions from `prompts`,
    /// whose vectors are `vectors`): the trained model (inference mode) and its history.
    pub fn align<E: Encoder + 'static>(
        &self,
        encoder: E,
        images: &LabelledSet,
        prompts: &ClassPrompts,
        vectors: &TextVectors,
        ctx: &mut RunContext<'_>,
    ) -> Result<(ClipModel<E>, Vec<tl_core::report::EpochRecord>)> {
        let device = ctx.device().clone();
        let model = ClipModel::new(
            encoder,
            vectors.dim,
            self.dim,
            self.text_projection,
            &device,
        )?;
        let train = ctx.train_config(&self.train);
        let mut batches =
            CaptionBatches::new(images, prompts, vectors, train.batch_size, train.seed)?;
        let objective = AlignObjective {
            class_positives: self.class_positives,
        };
        let out = ctx
            .trainer(train)
            .train_module(model, &mut batches, objective, &device)?;
        Ok((out.model.valid(), out.history))
    }

    /// The classifier `readout` reads out of an aligned model.
    pub fn read_out<E: Encoder + 'static>(
        &self,
        clip: &ClipModel<E>,
        prompts: &ClassPrompts,
        vectors: &TextVectors,
        images: &LabelledSet,
        ctx: &mut RunContext<'_>,
    ) -> Result<Classifier<E>> {
        let device = ctx.device().clone();
        let classes = prompts.num_classes();
        let head = match self.readout {
            Readout::ZeroShot => {
                let prototypes = clip.class_prototypes(prompts, vectors, &device)?;
                clip.zero_shot_head(&prototypes, &device)?
            }
            Readout::TextOnly => {
                let features = clip.embed_texts(vectors, &device)?;
                let set = LabelledSet::new(
                    Inputs::new(vec![clip.dim()], features)?,
                    prompts.class_of.clone(),
                    (0..classes).map(|c| c.to_string()).collect(),
                    "class prompts",
                )?;
                let (head, _) = self.probe.fit_head(&set, classes, ctx)?;
                clip.shared_space_head(head, &device)?
            }
            Readout::Probe => {
                let features = clip.embed_images(&images.inputs, &device, ctx.eval_batch_size())?;
                let set = LabelledSet::new(
                    Inputs::new(vec![clip.dim()], features)?,
                    images.labels.clone(),
                    images.class_names.clone(),
                    images.domain.clone(),
                )?;
                let (head, _) = self.probe.fit_head(&set, classes, ctx)?;
                clip.shared_space_head(head, &device)?
            }
        };
        Classifier::new(clip.encoder.clone(), head)
    }
}

impl<E: Encoder + 'static> Strategy<E> for Clip {
    tl_core::strategy_basics!(fn Clip::name, Family::CrossModal, NEEDS);

    /// Aligns the start encoder (its head dropped) on the source's images and class
    /// captions, then reads out a classifier for every class of the task; the report's extras
    /// hold the learned logit scale, the number of prompts and whether the text vectors came
    /// from the cache.
    fn run(
        &self,
        start: Pretrained<E>,
        task: &TransferTask,
        ctx: &mut RunContext<'_>,
    ) -> Result<(Classifier<E>, tl_core::report::FitReport)> {
        let name = self.name();
        let source = task.labelled(TaskPart::SourceLabelled, name)?;
        let test = task.labelled(TaskPart::TargetTest, name)?;
        let names = self.class_names(task)?;
        let prompts = ClassPrompts::from_templates(&names, &self.templates)?;
        ctx.begin();
        let vectors = self.text.embed(&prompts.strs(), ctx.device())?;
        let (clip, history) = self.align(start.encoder, source, &prompts, &vectors, ctx)?;
        // On the training device, as every trained model is: it can be trained further.
        let model = self
            .read_out(&clip, &prompts, &vectors, source, ctx)?
            .fork(&ctx.device().clone().autodiff())
            .train();
        let mut report = ctx.finish(name, self, &model, history, test)?;
        let scale = tl_core::train::scalar(&clip.scale());
        report.extra.insert("logit_scale".into(), scale);
        report
            .extra
            .insert("prompts".into(), prompts.texts.len() as f64);
        report
            .extra
            .insert("text_cache_hit".into(), f64::from(u8::from(vectors.cached)));
        Ok((model, report))
    }
}
