//! Matching networks (Vinyals et al. 2016): a query attends to every support example by
//! cosine similarity, `a_i = softmax_i(scale * cos(f(x), f(x_i)))`, and the probability of a
//! class is the attention its examples get, `P(c | x) = sum_{i: y_i = c} a_i`. One encoder
//! embeds support and queries (the paper's variant without full context embeddings).

use crate::episodes::{EpisodeBatch, EpisodeShape};
use burn::config::Config;
use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use tl_core::data::LabelledSet;
use tl_core::model::{Classifier, Encoder, Layer, Sequential, SequentialConfig, l2_normalize_rows};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{CrossEntropy, Objective, Step, TrainConfig, encode_all};
use tl_core::{CoreError, Result};
use tl_data::split::Episode;

/// Name in reports.
pub const NAME: &str = "matching-net";

/// Class scores of queries under a matching network: `log sum_{i: y_i = c} exp(scale *
/// cos(q, s_i))`, which is `log P(c | q)` plus a constant per query (the log of the attention's
/// normaliser), so its softmax is the network's class distribution.
///
/// # Shapes
/// - `queries`: `[m, dim]`, `support`: `[n, dim]`
/// - `labels`: `n` labels in `0..way`, each class at least once
/// - returns `[m, way]`
pub fn matching_logits(
    queries: Tensor<2>,
    support: Tensor<2>,
    labels: &[usize],
    way: usize,
    scale: f64,
) -> Tensor<2> {
    debug_assert!(
        (0..way).all(|c| labels.contains(&c)),
        "every class needs support"
    );
    let cos =
        l2_normalize_rows(queries, 1e-12).matmul(l2_normalize_rows(support, 1e-12).transpose());
    tl_core::model::GroupLogSumExp {
        groups: labels.to_vec(),
    }
    .forward(cos * scale)
}

/// The matching network's episodic loss: `-log P(y | query)`, averaged over the queries.
#[derive(Debug, Clone)]
pub struct MatchingLoss {
    ce: CrossEntropy,
    scale: f64,
}

impl MatchingLoss {
    /// The loss for a model trained on `device`, cosine similarities multiplied by `scale`.
    pub fn new(device: &Device, scale: f64) -> Self {
        Self {
            ce: CrossEntropy::new(device),
            scale,
        }
    }
}

impl<E: Encoder> Objective<E, EpisodeBatch> for MatchingLoss {
    fn step(&mut self, encoder: &E, b: &EpisodeBatch) -> Result<Step> {
        let n = b.support_label_values.len();
        let m = b.query.dims()[0];
        let all = encoder.encode(Tensor::cat(vec![b.support.clone(), b.query.clone()], 0));
        let logits = matching_logits(
            all.clone().slice(n..n + m),
            all.slice(0..n),
            &b.support_label_values,
            b.way,
            self.scale,
        );
        let loss = self.ce.loss(logits.clone(), b.query_labels.clone());
        Ok(Step::new(loss).with_accuracy(logits, &b.query_labels))
    }
}

/// A head that scores exactly as the matching network over `support` (embedded examples,
/// one row each, labelled `labels` in `0..classes`, each class at least once):
/// `[L2Normalize, Linear, GroupLogSumExp]`, the linear layer's columns the unit support
/// embeddings times `scale`.
pub fn matching_head(
    support: &[Vec<f32>],
    labels: &[usize],
    classes: usize,
    scale: f64,
    device: &Device,
) -> Result<Sequential> {
    let n = support.len();
    let dim = support.first().map_or(0, Vec::len);
    if n == 0 || dim == 0 || labels.len() != n {
        return Err(CoreError::data(
            "support set",
            format!(
                "{n} embedded examples of width {dim} and {} labels: need one label per example",
                labels.len()
            ),
        ));
    }
    if let Some(i) = support.iter().position(|s| s.len() != dim) {
        return Err(CoreError::data(
            "support set",
            format!(
                "embedded example {i} has width {}, example 0 has {dim}",
                support[i].len()
            ),
        ));
    }
    if let Some(c) = (0..classes).find(|c| !labels.contains(c)) {
        return Err(CoreError::data(
            "support set",
            format!("class {c} of {classes} has no support example"),
        ));
    }
    if let Some(l) = labels.iter().find(|&&l| l >= classes) {
        return Err(CoreError::data(
            "support set",
            format!("label {l} is not one of the {classes} classes"),
        ));
    }
    let mut head = SequentialConfig::new(vec![dim])
        .l2_normalize()
        .linear(n)
        .group_log_sum_exp(labels.to_vec())
        .init(device)?;
    let mut w = vec![0f32; dim * n];
    for (i, s) in support.iter().enumerate() {
        let norm = s.iter().map(|v| v * v).sum::<f32>().max(1e-12).sqrt();
        for (j, v) in s.iter().enumerate() {
            w[j * n + i] = scale as f32 * v / norm; // Burn's Linear weight is [in, out]
        }
    }
    if let Some(Layer::Linear(l)) = head.layers_mut().get_mut(1) {
        l.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [dim, n]), device));
        l.bias = None;
    }
    Ok(head)
}

/// The embedded examples of `set` under `encoder` (inference mode), one row each.
pub fn embed_rows<E: Encoder>(
    encoder: &E,
    set: &LabelledSet,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let dim = encoder.feature_dim();
    let features = encode_all(encoder, set, device, 256)?;
    Ok(features.chunks(dim.max(1)).map(<[f32]>::to_vec).collect())
}

/// A matching network's accuracy on one episode's queries with a fixed encoder.
pub fn matching_accuracy<E: Encoder + 'static>(
    encoder: &E,
    episode: &Episode,
    scale: f64,
    device: &Device,
) -> Result<f64> {
    let support = embed_rows(encoder, &episode.support, device)?;
    let head = matching_head(
        &support,
        &episode.support.labels,
        episode.classes.len(),
        scale,
        device,
    )?;
    let model = Classifier::new(encoder.clone(), head)?;
    Ok(tl_core::train::evaluate(&model, &episode.query, device, 256)?.accuracy)
}

/// Matching networks: optional episodic training of the encoder on the task's labelled
/// source (base classes), then a head that attends over the labelled target set (the
/// support); scored on the target test set (the queries).
#[derive(Config, Debug)]
pub struct MatchingNet {
    /// Train the encoder episodically on the source first (false: the encoder as given).
    #[config(default = true)]
    pub meta_train: bool,
    /// Training episodes' shape.
    #[config(default = "EpisodeShape::new(20, 1, 5)")]
    pub episodes: EpisodeShape,
    /// Episodes per epoch.
    #[config(default = 100)]
    pub episodes_per_epoch: usize,
    /// Multiplies the cosine similarities before the attention's softmax (cosines lie in
    /// [-1, 1], so without a scale the attention cannot be sharp; 10 as in Chen et al.'s
    /// cosine classifiers).
    #[config(default = 10.0)]
    pub scale: f64,
    /// Training (its batch size is unused: an episode is a batch).
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
}

impl MatchingNet {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        crate::episodes::check_training_episodes(self.episodes, self.episodes_per_epoch)?;
        if !(self.scale.is_finite() && self.scale > 0.0) {
            return Err(CoreError::config(
                "scale",
                format!("{} must be > 0", self.scale),
            ));
        }
        self.train.validate()
    }

    /// The task parts it needs: the source only when it meta-trains.
    pub fn parts(&self) -> &'static [TaskPart] {
        crate::episodes::episodic_parts(self.meta_train)
    }

    /// Trains `encoder` episodically on `set` (the loop's progress, checkpoints and history).
    pub fn meta_train<E: Encoder + 'static>(
        &self,
        encoder: E,
        set: &LabelledSet,
        ctx: &mut RunContext,
    ) -> Result<(E, Vec<tl_core::report::EpochRecord>)> {
        let device = ctx.device().clone();
        crate::episodes::train_episodic(
            encoder,
            set,
            self.episodes,
            self.episodes_per_epoch,
            &self.train,
            MatchingLoss::new(&device, self.scale),
            ctx,
        )
    }
}

impl<E: Encoder + 'static> Strategy<E> for MatchingNet {
    tl_core::strategy_basics!(NAME, Family::FewShot, fn MatchingNet::parts);

    fn trains(&self) -> bool {
        self.meta_train
    }

    /// Without meta-training it only embeds the support and the queries.
    fn reads_features_only(&self) -> bool {
        !self.meta_train
    }

    /// Meta-trains the encoder on the source (when asked), then classifies the target by
    /// attention over its support; the head returned scores exactly as the network does.
    fn run(&self, start: Pretrained<E>, task: &TransferTask, ctx: &mut RunContext) -> Fitted<E> {
        let support = task.labelled(TaskPart::TargetLabelled, NAME)?;
        let test = task.labelled(TaskPart::TargetTest, NAME)?;
        let source = crate::episodes::episodic_source(task, self.meta_train, self.episodes, NAME)?;
        ctx.begin();
        let device = ctx.device().clone();
        let (encoder, history) = match source {
            Some(s) => self.meta_train(start.encoder, s, ctx)?,
            None => (start.encoder, Vec::new()),
        };
        crate::episodes::check_support(support, task.num_classes)?;
        let rows = embed_rows(&encoder, support, &device)?;
        let head = matching_head(
            &rows,
            &support.labels,
            task.num_classes,
            self.scale,
            &device,
        )?;
        let model = Classifier::new(encoder, head)?;
        let report = ctx.finish(NAME, self, &model, history, test)?;
        Ok((model, report))
    }
}
