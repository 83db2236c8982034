//! The aligned model: an image encoder with a projection, the locked text vectors with a
//! trainable projection (or none), and CLIP's learned temperature; its training on image-text
//! pairs; and the classifiers it gives (zero-shot from prompts, trained on text only, a probe).

use crate::loss::{INIT_SCALE, MAX_SCALE, info_nce, info_nce_soft};
use crate::prompts::ClassPrompts;
use crate::text::TextVectors;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use tl_core::CoreError;
use tl_core::Result;
use tl_core::data::{BatchPlan, Inputs, LabelledSet};
use tl_core::model::{Encoder, Layer, Sequential, SequentialConfig, l2_normalize_rows};
use tl_core::train::{BatchSource, Objective, Step, StepAt, map_input_batches};
use tl_unsupervised::augment::ViewAugment;

/// Images and texts in one space: `encoder` then `image_head` for images, `text_head` (or
/// nothing) for the locked text vectors, both L2-normalised; `log_scale` is the log of the
/// logit scale (CLIP's inverse temperature).
#[derive(Module, Debug)]
pub struct ClipModel<E> {
    /// The image encoder (trained).
    pub encoder: E,
    /// Encoder features to the shared space (one linear layer).
    pub image_head: Sequential,
    /// Text vectors to the shared space (one linear layer), or none: the text space is the
    /// shared space.
    pub text_head: Option<Sequential>,
    /// Log of the logit scale, initialised at ln(1 / 0.07), used clamped at ln 100.
    pub log_scale: Param<Tensor<1>>,
}

impl<E: Encoder> ClipModel<E> {
    /// A fresh projection on `encoder`: to `dim` with a text projection from `text_dim`, or
    /// straight to `text_dim` without one.
    pub fn new(
        encoder: E,
        text_dim: usize,
        dim: usize,
        text_projection: bool,
        device: &Device,
    ) -> Result<Self> {
        if text_dim == 0 || (text_projection && dim == 0) {
            return Err(CoreError::config("dim", "the shared space needs a width"));
        }
        let out = if text_projection { dim } else { text_dim };
        let image_head = SequentialConfig::new(vec![encoder.feature_dim()])
            .linear(out)
            .init(device)?;
        let text_head = if text_projection {
            Some(
                SequentialConfig::new(vec![text_dim])
                    .linear(dim)
                    .init(device)?,
            )
        } else {
            None
        };
        let log_scale = Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![INIT_SCALE.ln() as f32], [1]),
            device,
        ));
        Ok(Self {
            encoder,
            image_head,
            text_head,
            log_scale,
        })
    }

    /// Width of the shared space.
    pub fn dim(&self) -> usize {
        self.image_head.output_dim()
    }

    /// Width of the text vectors it takes.
    pub fn text_dim(&self) -> usize {
        match &self.text_head {
            Some(h) => h.config().input_shape.iter().product(),
            None => self.dim(),
        }
    }

    /// The logit scale, `exp(log_scale)` clamped at 100 (`[1]`).
    pub fn scale(&self) -> Tensor<1> {
        self.log_scale.val().clamp_max(MAX_SCALE.ln()).exp()
    }

    /// Unit vectors of images (`[batch, input_size]` to `[batch, dim]`).
    pub fn image_features(&self, x: Tensor<2>) -> Tensor<2> {
        l2_normalize_rows(self.image_head.forward(self.encoder.encode(x)), 1e-12)
    }

    /// Unit vectors of text vectors (`[batch, text_dim]` to `[batch, dim]`).
    pub fn text_features(&self, t: Tensor<2>) -> Tensor<2> {
        let t = match &self.text_head {
            Some(h) => h.forward(t),
            None => t,
        };
        l2_normalize_rows(t, 1e-12)
    }

    /// Image features of every item of `inputs` (inference mode), row after row.
    pub fn embed_images(&self, inputs: &Inputs, device: &Device, batch: usize) -> Result<Vec<f32>> {
        inputs.check_fits(&self.encoder.input_shape(), "images")?;
        let model = self.valid();
        Ok(map_input_batches(inputs, device, batch, |x| {
            model.image_features(x).into_data().iter::<f32>().collect()
        }))
    }

    /// Refuses text vectors of another width than the model takes.
    pub fn check_text_width(&self, vectors: &TextVectors) -> Result<()> {
        if vectors.dim != self.text_dim() {
            return Err(CoreError::data(
                "text vectors",
                format!(
                    "of width {}, the model takes {} (another text encoder?)",
                    vectors.dim,
                    self.text_dim()
                ),
            ));
        }
        Ok(())
    }

    /// Text features of text vectors (inference mode), row after row. Refuses vectors of
    /// another width than the model takes.
    pub fn embed_texts(&self, vectors: &TextVectors, device: &Device) -> Result<Vec<f32>> {
        self.check_text_width(vectors)?;
        let plain = device.clone().without_autodiff();
        let model = self.valid();
        let t = Tensor::<2>::from_data(
            TensorData::new(vectors.values.clone(), [vectors.rows(), vectors.dim]),
            &plain,
        );
        Ok(model.text_features(t).into_data().iter::<f32>().collect())
    }

    /// One prototype per class, as open_clip builds zero-shot weights: every prompt's text
    /// feature (unit), averaged over the class's prompts, renormalised. `class_count * dim`.
    pub fn class_prototypes(
        &self,
        prompts: &ClassPrompts,
        vectors: &TextVectors,
        device: &Device,
    ) -> Result<Vec<f32>> {
        check_prompt_vectors(prompts, vectors)?;
        let features = self.embed_texts(vectors, device)?;
        let dim = self.dim();
        let mut out = Vec::with_capacity(prompts.num_classes() * dim);
        for members in &prompts.of_class {
            let mut mean = vec![0f32; dim];
            for &i in members {
                for (m, v) in mean.iter_mut().zip(&features[i * dim..(i + 1) * dim]) {
                    *m += v;
                }
            }
            let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            out.extend(mean.iter().map(|v| v / norm));
        }
        Ok(out)
    }

    /// The zero-shot head: the image projection, L2 normalisation, and a bias-free linear
    /// layer whose weights are the class prototypes times the logit scale (cosine scores as
    /// CLIP's logits). Put it on the encoder with [`tl_core::model::Classifier::new`].
    pub fn zero_shot_head(&self, prototypes: &[f32], device: &Device) -> Result<Sequential> {
        let dim = self.dim();
        if prototypes.is_empty() || dim == 0 || !prototypes.len().is_multiple_of(dim) {
            return Err(CoreError::data(
                "class prototypes",
                format!(
                    "{} values is not a whole number of {dim}-wide rows",
                    prototypes.len()
                ),
            ));
        }
        let classes = prototypes.len() / dim;
        let scale = tl_core::train::scalar(&self.scale()) as f32;
        let mut w = vec![0f32; dim * classes];
        for c in 0..classes {
            for j in 0..dim {
                w[j * classes + c] = scale * prototypes[c * dim + j]; // [in, out]
            }
        }
        let mut cosine = SequentialConfig::new(vec![dim])
            .l2_normalize()
            .linear(classes)
            .init(device)?;
        if let Some(Layer::Linear(l)) = cosine.layers_mut().last_mut() {
            l.weight = Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [dim, classes]),
                device,
            ));
            l.bias = None;
        }
        self.image_head.clone().then(cosine)
    }

    /// The image projection and L2 normalisation followed by `head` (a head trained on
    /// shared-space features: on text only, or a probe on images).
    pub fn shared_space_head(&self, head: Sequential, device: &Device) -> Result<Sequential> {
        let norm = SequentialConfig::new(vec![self.dim()])
            .l2_normalize()
            .init(device)?;
        self.image_head.clone().then(norm)?.then(head)
    }
}

/// Refuses prompts and vectors of different counts.
pub fn check_prompt_vectors(prompts: &ClassPrompts, vectors: &TextVectors) -> Result<()> {
    if vectors.rows() != prompts.texts.len() || vectors.values.len() != vectors.rows() * vectors.dim
    {
        return Err(CoreError::data(
            "captions",
            format!(
                "{} prompts but {} text vectors",
                prompts.texts.len(),
                vectors.rows()
            ),
        ));
    }
    Ok(())
}

/// Image-caption batches: every item of a labelled image set once per epoch, each with one
/// of its class's prompts drawn at random (seeded), as text vectors.
#[derive(Debug)]
pub struct CaptionBatches<'s> {
    images: &'s LabelledSet,
    prompts: &'s ClassPrompts,
    vectors: &'s TextVectors,
    plan: BatchPlan,
    order: Vec<Vec<usize>>,
    rng: rand::rngs::StdRng,
    augment: Option<(ViewAugment, u64)>,
}

/// One step of alignment: images, one caption vector per image, and each item's class.
#[derive(Debug, Clone)]
pub struct CaptionBatch {
    /// `[n, input_size]`.
    pub images: Tensor<2>,
    /// `[n, text_dim]`.
    pub texts: Tensor<2>,
    /// The class of each item (items of one class share positives).
    pub classes: Vec<usize>,
}

impl<'s> CaptionBatches<'s> {
    /// Batches of `batch_size` items of `images` with captions from `prompts` (`vectors`
    /// their text vectors, in order). Refuses prompts and vectors of different counts, and
    /// an image whose class has no prompt.
    pub fn new(
        images: &'s LabelledSet,
        prompts: &'s ClassPrompts,
        vectors: &'s TextVectors,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self> {
        check_prompt_vectors(prompts, vectors)?;
        if let Some(&l) = images.labels.iter().find(|&&l| l >= prompts.num_classes()) {
            return Err(CoreError::data(
                &images.domain,
                format!(
                    "class {l} (`{}`) has no prompt: {} classes have prompts",
                    images.class_names.get(l).map_or("", String::as_str),
                    prompts.num_classes()
                ),
            ));
        }
        Ok(Self {
            images,
            prompts,
            vectors,
            plan: BatchPlan::new(images.len(), batch_size, true, seed),
            order: Vec::new(),
            rng: rand::rngs::StdRng::seed_from_u64(seed ^ 0xC11F),
            augment: None,
        })
    }

    /// Each step's images as random views (crop, rotation, noise), drawn from `seed` and the
    /// step: augmentation for a source with one image per caption. Refuses items that are
    /// not images and bad settings.
    pub fn with_augment(mut self, augment: ViewAugment, seed: u64) -> Result<Self> {
        augment.validate()?;
        if self.images.inputs.item_shape.len() != 3 {
            return Err(CoreError::config(
                "augment",
                format!(
                    "random views need image items [c, h, w], not {:?}",
                    self.images.inputs.item_shape
                ),
            ));
        }
        self.augment = Some((augment, seed));
        Ok(self)
    }
}

impl BatchSource for CaptionBatches<'_> {
    type Batch = CaptionBatch;

    fn steps_per_epoch(&self) -> usize {
        self.plan.num_batches()
    }

    fn check(&self, input_shape: Option<&[usize]>, _classes: Option<usize>) -> Result<()> {
        let shape = input_shape.unwrap_or(&self.images.inputs.item_shape);
        tl_core::train::check_trainable(self.images, shape, None, "image-caption pairs")
    }

    fn start_epoch(&mut self) {
        self.order = self.plan.epoch();
    }

    fn batch(&mut self, at: StepAt, device: &Device) -> CaptionBatch {
        let idx = &self.order[at.step];
        let dim = self.vectors.dim;
        let mut texts = Vec::with_capacity(idx.len() * dim);
        let mut classes = Vec::with_capacity(idx.len());
        for &i in idx {
            let c = self.images.labels[i];
            let mine = &self.prompts.of_class[c];
            let p = mine[self.rng.random_range(0..mine.len())];
            texts.extend_from_slice(self.vectors.row(p));
            classes.push(c);
        }
        let images = match &self.augment {
            // Indices and shape were checked in `with_augment`: views cannot fail here.
            Some((augment, seed)) => {
                augment.step_views(&self.images.inputs, idx, *seed, at.global, device)
            }
            None => self.images.inputs.tensor(idx, device),
        };
        CaptionBatch {
            images,
            texts: Tensor::from_data(TensorData::new(texts, [idx.len(), dim]), device),
            classes,
        }
    }
}

/// Symmetric InfoNCE on caption batches; with `class_positives`, items of one class are
/// positives of each other (their captions name the same class).
#[derive(Debug, Clone, Copy)]
pub struct AlignObjective {
    /// Whether items of one class count as positives of each other.
    pub class_positives: bool,
    /// The share of each target taken from the locked text encoder's own similarities
    /// ([`crate::info_nce_soft`]; 0: none).
    pub soft_targets: f64,
    /// The temperature of those similarities.
    pub soft_temperature: f64,
}

impl<E: Encoder> Objective<ClipModel<E>, CaptionBatch> for AlignObjective {
    fn step(&mut self, model: &ClipModel<E>, batch: &CaptionBatch) -> Result<Step> {
        let images = model.image_features(batch.images.clone());
        let texts = model.text_features(batch.texts.clone());
        let groups = self.class_positives.then_some(batch.classes.as_slice());
        let loss = if self.soft_targets > 0.0 {
            info_nce_soft(
                images,
                texts,
                model.scale(),
                groups,
                batch.texts.clone(),
                self.soft_targets,
                self.soft_temperature,
            )
        } else {
            info_nce(images, texts, model.scale(), groups)
        };
        Ok(Step::new(loss))
    }
}

/// Recall@k of retrieval between `queries` and `keys` (unit rows of width `dim`): the share
/// of queries whose right key (`truth[q]`, or any key of the same group) ranks among the `k`
/// most similar. `ks` ascending.
pub fn recall_at(
    queries: &[f32],
    keys: &[f32],
    dim: usize,
    relevant: impl Fn(usize, usize) -> bool,
    ks: &[usize],
) -> Vec<f64> {
    let nq = queries.len() / dim.max(1);
    let nk = keys.len() / dim.max(1);
    let similarity = |q: usize, k: usize| -> f32 {
        let (qv, kv) = (
            &queries[q * dim..(q + 1) * dim],
            &keys[k * dim..(k + 1) * dim],
        );
        qv.iter().zip(kv).map(|(a, b)| a * b).sum()
    };
    recall_by_scores(nq, nk, similarity, relevant, ks)
}

/// Recall@k of retrieval ranked by any score (`score(q, k)`, higher first; ties to the
/// earlier key) for `nq` queries over `nk` keys: what [`recall_at`] computes from unit
/// vectors, for scores that are not one space's cosines (several models' logits summed).
pub fn recall_by_scores(
    nq: usize,
    nk: usize,
    score: impl Fn(usize, usize) -> f32,
    relevant: impl Fn(usize, usize) -> bool,
    ks: &[usize],
) -> Vec<f64> {
    let mut hits = vec![0usize; ks.len()];
    for q in 0..nq {
        let mut scores: Vec<(f32, usize)> = (0..nk).map(|k| (score(q, k), k)).collect();
        scores.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let first = scores.iter().position(|&(_, k)| relevant(q, k));
        for (h, &k) in hits.iter_mut().zip(ks) {
            if first.is_some_and(|r| r < k) {
                *h += 1;
            }
        }
    }
    hits.iter().map(|&h| h as f64 / nq.max(1) as f64).collect()
}
