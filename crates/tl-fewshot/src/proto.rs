//! Prototypical networks (Snell, Swersky and Zemel 2017): a class is the mean of its embedded
//! support examples, and a query goes to the nearest prototype in squared Euclidean distance.

use crate::episodes::{EpisodeBatch, EpisodeShape};
use burn::config::Config;
use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use tl_core::data::LabelledSet;
use tl_core::model::{Classifier, Encoder, Layer, head_config};
use tl_core::strategy::{Family, Fitted, Pretrained, RunContext, Strategy};
use tl_core::task::{TaskPart, TransferTask};
use tl_core::train::{CrossEntropy, Objective, Step, TrainConfig, argmax_rows, encode_all};
use tl_core::{CoreError, Result};
use tl_data::split::Episode;

/// Class means of embedded items.
///
/// # Shapes
/// - `embeddings`: `[n, dim]`
/// - `labels`: `n` labels in `0..way`, each class at least once
/// - returns `[way, dim]`
pub fn prototypes(embeddings: Tensor<2>, labels: &[usize], way: usize) -> Tensor<2> {
    let n = labels.len();
    let mut counts = vec![0f32; way];
    for &l in labels {
        counts[l] += 1.0;
    }
    // Row c of `weights` averages the items of class c.
    let mut weights = vec![0f32; way * n];
    for (i, &l) in labels.iter().enumerate() {
        weights[l * n + i] = 1.0 / counts[l].max(1.0);
    }
    let weights = Tensor::<2>::from_data(TensorData::new(weights, [way, n]), &embeddings.device());
    weights.matmul(embeddings)
}

/// Squared Euclidean distances between every row of `a` and every row of `b`.
///
/// # Shapes
/// - `a`: `[m, dim]`, `b`: `[n, dim]`
/// - returns `[m, n]`
pub fn squared_distances(a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    let aa = a.clone().powf_scalar(2.0).sum_dim(1); // [m, 1]
    let bb = b.clone().powf_scalar(2.0).sum_dim(1).transpose(); // [1, n]
    (aa + bb - a.matmul(b.transpose()) * 2.0).clamp_min(0.0)
}

/// Class scores of queries: minus the squared distance to each prototype.
pub fn proto_logits(queries: Tensor<2>, prototypes: Tensor<2>) -> Tensor<2> {
    -squared_distances(queries, prototypes)
}

/// ProtoNet's episodic loss: cross-entropy of the queries' scores against their labels.
#[derive(Debug, Clone)]
pub struct ProtoLoss {
    ce: CrossEntropy,
}

impl ProtoLoss {
    /// The loss for a model trained on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            ce: CrossEntropy::new(device),
        }
    }
}

impl<E: Encoder> Objective<E, EpisodeBatch> for ProtoLoss {
    fn step(&mut self, encoder: &E, b: &EpisodeBatch) -> Result<Step> {
        let n = b.support_label_values.len();
        let m = b.query.dims()[0];
        let all = encoder.encode(Tensor::cat(vec![b.support.clone(), b.query.clone()], 0));
        let support = all.clone().slice(0..n);
        let query = all.slice(n..n + m);
        let logits = proto_logits(query, prototypes(support, &b.support_label_values, b.way));
        let loss = self.ce.loss(logits.clone(), b.query_labels.clone());
        Ok(Step::new(loss).with_accuracy(logits, &b.query_labels))
    }
}

/// A linear head that scores like the prototypes: `-|x - c|^2 = 2 c.x - |c|^2 - |x|^2`, and
/// `|x|^2` is the same for every class, so `W = 2 c`, `b = -|c|^2` give the same softmax and
/// the same predictions.
pub fn prototype_head(
    prototypes: &[Vec<f32>],
    device: &Device,
) -> Result<tl_core::model::Sequential> {
    let way = prototypes.len();
    let dim = prototypes.first().map_or(0, Vec::len);
    if way == 0 || dim == 0 {
        return Err(CoreError::data(
            "support set",
            "no prototype to build a head from",
        ));
    }
    if let Some(c) = prototypes.iter().position(|p| p.len() != dim) {
        return Err(CoreError::data(
            "support set",
            format!(
                "prototype {c} has width {}, prototype 0 has {dim}",
                prototypes[c].len()
            ),
        ));
    }
    let mut head = head_config(dim, &[], way).init(device)?;
    let mut w = vec![0f32; dim * way];
    let mut bias = vec![0f32; way];
    for (c, p) in prototypes.iter().enumerate() {
        for (j, v) in p.iter().enumerate() {
            w[j * way + c] = 2.0 * v; // Burn's Linear weight is [in, out]
        }
        bias[c] = -p.iter().map(|v| v * v).sum::<f32>();
    }
    if let Some(Layer::Linear(l)) = head.layers_mut().first_mut() {
        l.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [dim, way]), device));
        l.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [way]),
            device,
        )));
    }
    Ok(head)
}

/// The prototypes of a labelled set's classes under `encoder` (inference mode), one row per
/// class of the set.
pub fn set_prototypes<E: Encoder>(
    encoder: &E,
    set: &LabelledSet,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    let features = encode_all(encoder, set, device, 256)?;
    let dim = encoder.feature_dim();
    let way = set.num_classes();
    let mut sums = vec![vec![0f64; dim]; way];
    let mut counts = vec![0usize; way];
    for (i, &l) in set.labels.iter().enumerate() {
        counts[l] += 1;
        for (s, v) in sums[l].iter_mut().zip(&features[i * dim..(i + 1) * dim]) {
            *s += *v as f64;
        }
    }
    if let Some(c) = counts.iter().position(|&c| c == 0) {
        return Err(CoreError::data(
            &set.domain,
            format!("class {c} ({}) has no support example", set.class_names[c]),
        ));
    }
    Ok(sums
        .into_iter()
        .zip(counts)
        .map(|(s, n)| s.into_iter().map(|v| (v / n as f64) as f32).collect())
        .collect())
}

/// ProtoNet's accuracy on one episode's queries with a fixed encoder.
pub fn protonet_accuracy<E: Encoder>(
    encoder: &E,
    episode: &Episode,
    device: &Device,
) -> Result<f64> {
    let protos = set_prototypes(encoder, &episode.support, device)?;
    let dim = encoder.feature_dim();
    let query = encode_all(encoder, &episode.query, device, 256)?;
    let mut right = 0usize;
    for (i, &y) in episode.query.labels.iter().enumerate() {
        let q = &query[i * dim..(i + 1) * dim];
        let best = protos
            .iter()
            .map(|p| p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(0, |(c, _)| c);
        right += usize::from(best == y);
    }
    Ok(right as f64 / episode.query.len().max(1) as f64)
}

/// Prototypical networks: optional episodic training of the encoder on the task's labelled
/// source (base classes), then a head whose classes are the prototypes of the labelled
/// target set (the support); scored on the target test set (the queries).
#[derive(Config, Debug)]
pub struct ProtoNet {
    /// Train the encoder episodically on the source first (false: prototypes on the
    /// encoder as given).
    #[config(default = true)]
    pub meta_train: bool,
    /// Training episodes' shape (more ways than at test time helps, as the paper shows).
    #[config(default = "EpisodeShape::new(20, 1, 5)")]
    pub episodes: EpisodeShape,
    /// Episodes per epoch.
    #[config(default = 100)]
    pub episodes_per_epoch: usize,
    /// Training (its batch size is unused: an episode is a batch).
    #[config(default = "TrainConfig::new()")]
    pub train: TrainConfig,
}

/// Name in reports.
pub const NAME: &str = "protonet";

impl ProtoNet {
    /// Refuses bad fields before any work.
    pub fn validate(&self) -> Result<()> {
        crate::episodes::check_training_episodes(self.episodes, self.episodes_per_epoch)?;
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
            ProtoLoss::new(&device),
            ctx,
        )
    }
}

impl<E: Encoder + 'static> Strategy<E> for ProtoNet {
    tl_core::strategy_basics!(NAME, Family::FewShot, fn ProtoNet::parts);

    fn trains(&self) -> bool {
        self.meta_train
    }

    /// Without meta-training it only embeds the support and the queries.
    fn reads_features_only(&self) -> bool {
        !self.meta_train
    }

    /// Meta-trains the encoder on the source (when asked), then classifies the target by its
    /// support prototypes; the head returned scores exactly as the prototypes do.
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
        let protos = set_prototypes(&encoder, support, &device)?;
        let model = Classifier::new(encoder, prototype_head(&protos, &device)?)?;
        let report = ctx.finish(NAME, self, &model, history, test)?;
        Ok((model, report))
    }
}

/// Prototype accuracy of a fixed encoder on the episodes of `shape` (for tables).
pub fn protonet_score<E: Encoder>(
    encoder: &E,
    set: &LabelledSet,
    shape: EpisodeShape,
    episodes: usize,
    seed: u64,
    device: &Device,
) -> Result<crate::episodes::EpisodeScore> {
    crate::episodes::evaluate_episodes(set, shape, episodes, seed, |e| {
        protonet_accuracy(encoder, e, device)
    })
}

/// Predicted classes of `queries` by nearest prototype (host side, for checks).
pub fn nearest(queries: Tensor<2>, prototypes: Tensor<2>) -> Vec<usize> {
    argmax_rows(proto_logits(queries, prototypes))
}
