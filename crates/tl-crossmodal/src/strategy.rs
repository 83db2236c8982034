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
use tl_unsupervised::augment::ViewAugment;

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
    /// The share of each alignment target taken from the locked text encoder's own
    /// similarities between the batch's captions (soft targets, [`crate::info_nce_soft`]; 0:
    /// CLIP's targets). In [0, 1].
    #[config(default = 0.0)]
    pub soft_targets: f64,
    /// The temperature of those similarities (cosines of the text vectors).
    #[config(default = 0.1)]
    pub soft_temperature: f64,
    /// Random views of the images at every step (crop, rotation, noise), or none: for
    /// sources with one image per caption, such as one drawing per symbol.
    #[config(default = "None")]
    pub augment: Option<ViewAugment>,
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
        if let Some(a) = &self.augment {
            a.validate()?;
        }
        if self.text_projection && self.dim == 0 {
            return Err(CoreError::config(
                "dim",
                "0: the shared space needs a width",
            ));
        }
        if !(0.0..=1.0).contains(&self.soft_targets) {
            return Err(CoreError::config(
                "soft_targets",
                format!("{} not in [0, 1]", self.soft_targets),
            ));
        }
        if !(self.soft_temperature > 0.0 && self.soft_temperature.is_finite()) {
            return Err(CoreError::config(
                "soft_temperature",
                format!("{} must be above 0", self.soft_temperature),
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
        self.validate()?;
        let device = ctx.device().clone();
        let model = ClipModel::new(
            encoder,
            vectors.dim,
            self.dim,
            self.text_projection,
            &device,
        )?;
        self.align_from(model, images, prompts, vectors, ctx)
    }

    /// Goes on aligning `model` (an aligned model, or a fresh one from [`ClipModel::new`]) on
    /// `images` with this strategy's objective, views and training settings: more pairs for
    /// a model already aligned (pseudo-labelled images, a new domain's). The model keeps its
    /// own shape (its `dim` and text projection, whatever this strategy's say). Refuses text
    /// vectors of another width than the model takes.
    pub fn align_from<E: Encoder + 'static>(
        &self,
        model: ClipModel<E>,
        images: &LabelledSet,
        prompts: &ClassPrompts,
        vectors: &TextVectors,
        ctx: &mut RunContext<'_>,
    ) -> Result<(ClipModel<E>, Vec<tl_core::report::EpochRecord>)> {
        self.validate()?;
        model.check_text_width(vectors)?;
        let device = ctx.device().clone();
        let train = ctx.train_config(&self.train);
        let mut batches =
            CaptionBatches::new(images, prompts, vectors, train.batch_size, train.seed)?;
        if let Some(augment) = &self.augment {
            batches = batches.with_augment(augment.clone(), train.seed)?;
        }
        let objective = AlignObjective {
            class_positives: self.class_positives,
            soft_targets: self.soft_targets,
            soft_temperature: self.soft_temperature,
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
        // The source's images are captioned by its own class names (its labels index them):
        // the task's when the source has the task's classes; otherwise alignment is on the
        // classes the source shows and the readout zero-shot to the task's, never shown.
        let captions = &source.class_names;
        let unseen = *captions != names;
        if unseen && self.readout == Readout::Probe {
            return Err(CoreError::config(
                "readout",
                format!(
                    "`{name}` reads out a probe on the source's labelled images, whose classes ({}) are not the task's ({}): zero-shot to other classes takes the `zero_shot` or `text_only` readout (`clip`, `clip-text-only`)",
                    captions.join(", "),
                    names.join(", ")
                ),
            ));
        }
        let prompts = ClassPrompts::from_templates(&names, &self.templates)?;
        ctx.begin();
        let vectors = self.text.embed(&prompts.strs(), ctx.device())?;
        // The source's captions, when its classes are other than the task's.
        let aligned = if unseen {
            let p = ClassPrompts::from_templates(captions, &self.templates)?;
            let v = self.text.embed(&p.strs(), ctx.device())?;
            Some((p, v))
        } else {
            None
        };
        let (align_prompts, align_vectors) = match &aligned {
            Some((p, v)) => (p, v),
            None => (&prompts, &vectors),
        };
        let (clip, history) =
            self.align(start.encoder, source, align_prompts, align_vectors, ctx)?;
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

/// Text to image, then a classifier trained on the drawings: a conditional VAE learns to draw
/// the source's images from their captions (the locked text encoder's vectors), draws
/// `per_class` images of every class of the task from prompts in `draw_templates` (a phrasing
/// the training captions never used), and the start encoder with a fresh head is trained on
/// the drawings alone. Classes the source never shows are drawn from their names: generated
/// data as the bridge from text to images (as feature-generating zero-shot methods do).
#[derive(Config, Debug)]
pub struct TextToImage {
    /// The locked text encoder.
    #[config(default = "TextSpace::minilm()")]
    pub text: TextSpace,
    /// Caption templates of training, each with `{}` for the class name.
    #[config(default = "default_templates()")]
    pub templates: Vec<String>,
    /// Templates of the prompts drawn from (new phrasings).
    #[config(default = "vec![\"an image of {}\".to_string()]")]
    pub draw_templates: Vec<String>,
    /// Latent width: small, so that what class a drawing shows must come from the text
    /// (on MNIST, latent 16 let the latent carry the class and only 20 % of the drawings
    /// showed the digit asked; latent 2 with beta 2, 88 %).
    #[config(default = 2)]
    pub latent: usize,
    /// Width of the text condition.
    #[config(default = 32)]
    pub condition: usize,
    /// Hidden widths of the recognition network (reversed for the decoder).
    #[config(default = "vec![256]")]
    pub hidden: Vec<usize>,
    /// Weight of the KL term.
    #[config(default = 2.0)]
    pub beta: f64,
    /// Drawings per class for the classifier.
    #[config(default = 30)]
    pub per_class: usize,
    /// Generator training.
    #[config(default = "TrainConfig::new().with_epochs(20).with_batch_size(64).with_lr(1e-3)")]
    pub train: TrainConfig,
    /// Training of the classifier on the drawings.
    #[config(default = "TrainConfig::new().with_epochs(20).with_batch_size(32).with_lr(2e-3)")]
    pub classifier: TrainConfig,
}

impl TextToImage {
    /// Refuses bad settings before any work.
    pub fn validate(&self) -> Result<()> {
        self.text.validate()?;
        self.train.validate()?;
        self.classifier.validate()?;
        ClassPrompts::from_templates(&["x".into()], &self.templates)?;
        ClassPrompts::from_templates(&["x".into()], &self.draw_templates)?;
        if self.per_class == 0 {
            return Err(CoreError::config("per_class", "0: nothing to train on"));
        }
        Ok(())
    }

    /// The trained generator on `source` with captions from `names`, and its history.
    pub fn generator(
        &self,
        source: &LabelledSet,
        names: &[String],
        ctx: &mut RunContext<'_>,
    ) -> Result<(crate::generate::TextCvae, Vec<tl_core::report::EpochRecord>)> {
        let prompts = ClassPrompts::from_templates(names, &self.templates)?;
        let vectors = self.text.embed(&prompts.strs(), ctx.device())?;
        let shape = crate::generate::CvaeShape {
            item_size: source.inputs.item_size(),
            text_dim: vectors.dim,
            condition: self.condition,
            latent: self.latent,
            hidden: self.hidden.clone(),
        };
        let model = crate::generate::TextCvae::new(&shape, self.beta, ctx.device())?;
        model.fit(source, &prompts, &vectors, &self.train, ctx)
    }

    /// `per_class` drawings of every class named in `names`, from the draw prompts, as a
    /// labelled set of `item_shape` items.
    pub fn drawings(
        &self,
        generator: &crate::generate::TextCvae,
        names: &[String],
        item_shape: &[usize],
        ctx: &RunContext<'_>,
    ) -> Result<LabelledSet> {
        let prompts = ClassPrompts::from_templates(names, &self.draw_templates)?;
        let vectors = self.text.embed(&prompts.strs(), ctx.device())?;
        let per_prompt = self.per_class.div_ceil(self.draw_templates.len());
        let drawn = generator.draw_texts(&vectors, per_prompt, ctx.device())?;
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for (c, members) in prompts.of_class.iter().enumerate() {
            let items = members
                .iter()
                .flat_map(|&p| drawn[p * per_prompt..(p + 1) * per_prompt].iter())
                .take(self.per_class);
            for item in items {
                values.extend_from_slice(item);
                labels.push(c);
            }
        }
        LabelledSet::new(
            Inputs::new(item_shape.to_vec(), values)?,
            labels,
            names.to_vec(),
            "drawn from text",
        )
    }
}

impl<E: Encoder + 'static> Strategy<E> for TextToImage {
    tl_core::strategy_basics!("text-to-image", Family::CrossModal, NEEDS);

    /// Trains the generator on the source's images and captions, draws every class of the
    /// task from its name, trains the start encoder with a fresh head on the drawings; the
    /// report's history is the generator's, its extras the drawings' count and the
    /// classifier's accuracy on them.
    fn run(
        &self,
        start: Pretrained<E>,
        task: &TransferTask,
        ctx: &mut RunContext<'_>,
    ) -> Result<(Classifier<E>, tl_core::report::FitReport)> {
        let name = "text-to-image";
        let source = task.labelled(TaskPart::SourceLabelled, name)?;
        let test = task.labelled(TaskPart::TargetTest, name)?;
        let names = Clip::new().class_names(task)?;
        crate::generate::check_unit_pixels(source)?;
        ctx.begin();
        // Trained on the source's captions (its own class names); draws the task's classes,
        // seen or not.
        let (generator, history) = self.generator(source, &source.class_names, ctx)?;
        let drawn = self.drawings(&generator, &names, &source.inputs.item_shape, ctx)?;
        let device = ctx.device().clone();
        let head = tl_core::model::head_config(start.encoder.feature_dim(), &[], names.len())
            .init(&device)?;
        let model = Classifier::new(start.encoder, head)?;
        let model = ctx
            .trainer(ctx.train_config(&self.classifier))
            .fit(model, &drawn, None, &device)?
            .model;
        let on_drawn = ctx.evaluate(&model, &drawn)?.accuracy;
        let mut report = ctx.finish(name, self, &model, history, test)?;
        report.extra.insert("drawn".into(), drawn.len() as f64);
        report.extra.insert("accuracy_on_drawn".into(), on_drawn);
        Ok((model, report))
    }
}
