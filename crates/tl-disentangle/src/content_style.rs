//! A content/style model trained on pairs that share content: the same symbol drawn by two
//! vendors, two digits of one class in two domains. Each item gets a content code and a style
//! code; a pair's content is one code, a style code is each item's own.
//!
//! The design is ML-VAE's (Bouchacourt et al. 2018, "Multi-Level Variational Autoencoder"):
//! the two items' content posteriors are combined into the group's by a product of Gaussians
//! (precisions add), one content sample serves both items, each item is decoded from it and
//! its own style sample, and the group's content KL is paid once. To that is added a **swap**
//! term: each item is also decoded from the *other* item's content code alone (and its own
//! style), the cross-reconstruction of cycle-consistent VAEs (Jha et al. 2018). The swap is
//! what makes a single item's content code enough at test time (a Twitter drawing looked up
//! among Google drawings, an MNIST digit classified from its content), while ML-VAE's pooling
//! keeps content out of the style code: style is paid per item, content per pair. A
//! `style_beta` above 1 (beta-VAE on the style alone) squeezes the style code further.
//!
//! Items must be pixels in [0, 1] (Bernoulli reconstruction, summed over pixels).

use crate::vae::{pixel_decoder, pixel_rows};
use burn::module::Module;
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use tl_core::data::{Inputs, UnlabelledSet};
use tl_core::model::{Encoder, Sequential, SequentialConfig};
use tl_core::train::{
    Objective, Step, UnlabelledBatch, bernoulli_nll, gaussian_kl, reparameterize, scalar,
};
use tl_core::{CoreError, Result};

/// Widths and weights of a content/style model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentStyleShape {
    /// Content code width.
    pub content: usize,
    /// Style code width.
    pub style: usize,
    /// Hidden widths of the decoder (reversed from the codes).
    pub decoder_hidden: Vec<usize>,
    /// Channels of the decoder's transposed convolutions (empty: an MLP decoder; see
    /// [`pixel_decoder`]).
    #[serde(default)]
    pub decoder_conv: Vec<usize>,
}

impl ContentStyleShape {
    /// Refuses widths of 0.
    pub fn validate(&self) -> Result<()> {
        if self.content == 0 || self.style == 0 {
            return Err(CoreError::config(
                "content/style",
                format!(
                    "content {} and style {}: each code needs at least 1 value",
                    self.content, self.style
                ),
            ));
        }
        if self.decoder_hidden.contains(&0) {
            return Err(CoreError::config(
                "decoder_hidden",
                "hidden layer widths must be at least 1",
            ));
        }
        crate::vae::check_decoder_conv(&self.decoder_conv)?;
        Ok(())
    }
}

/// The model: a backbone (any [`Encoder`]), linear maps from its features to the content
/// mean, the content log-variance and the style statistics, and a decoder (MLP, or
/// transposed convolutions: [`pixel_decoder`]) from `[content, style]` to pixel logits.
#[derive(Module, Debug)]
pub struct ContentStyle<E> {
    /// Items to features.
    pub backbone: E,
    /// Features to the content code's mean (one linear layer).
    pub content_mean: Sequential,
    /// Features to the content code's log-variance.
    pub content_log_var: Sequential,
    /// Features to the style code's `[mean, log-variance]`.
    pub style_stats: Sequential,
    /// `[content, style]` to item logits.
    pub decoder: Sequential,
    /// The style mean to the domain's logit (the second item of a pair is domain 1): read by
    /// the objective's `domain` term only.
    pub domain_head: Sequential,
    /// Content width.
    pub content: usize,
    /// Style width.
    pub style: usize,
}

/// One code per row.
pub type CodeRows = Vec<Vec<f32>>;

/// One item's codes: content mean and log-variance, style mean and log-variance.
type Codes = (Tensor<2>, Tensor<2>, Tensor<2>, Tensor<2>);

impl<E: Encoder> ContentStyle<E> {
    /// A fresh model on `backbone`.
    pub fn on(backbone: E, shape: &ContentStyleShape, device: &Device) -> Result<Self> {
        shape.validate()?;
        let features = backbone.feature_dim();
        let item_shape = backbone.input_shape();
        let linear = |out: usize| {
            SequentialConfig::new(vec![features])
                .linear(out)
                .init(device)
        };
        Ok(Self {
            backbone,
            content_mean: linear(shape.content)?,
            content_log_var: linear(shape.content)?,
            style_stats: linear(2 * shape.style)?,
            decoder: pixel_decoder(
                shape.content + shape.style,
                &shape.decoder_hidden,
                &shape.decoder_conv,
                &item_shape,
                device,
            )?,
            domain_head: SequentialConfig::new(vec![shape.style])
                .linear(1)
                .init(device)?,
            content: shape.content,
            style: shape.style,
        })
    }

    fn codes(&self, x: Tensor<2>) -> Codes {
        let h = self.backbone.encode(x);
        let (sm, slv) =
            tl_core::train::gaussian_stats(self.style_stats.forward(h.clone()), self.style);
        let clv = self.content_log_var.forward(h.clone()).clamp(-10.0, 10.0);
        (self.content_mean.forward(h), clv, sm, slv)
    }

    fn decode_logits(&self, content: Tensor<2>, style: Tensor<2>) -> Tensor<2> {
        self.decoder.forward(Tensor::cat(vec![content, style], 1))
    }

    /// The means of the content and style codes of `inputs` (inference mode), one row each.
    pub fn codes_of(&self, inputs: &Inputs, device: &Device) -> Result<(CodeRows, CodeRows)> {
        inputs.check_fits(&self.backbone.input_shape(), "content/style inputs")?;
        let model = self.valid();
        let (c, s) = (self.content, self.style);
        let flat: Vec<f32> = tl_core::train::map_input_batches(inputs, device, 256, |x| {
            let (cm, _, sm, _) = model.codes(x);
            Tensor::cat(vec![cm, sm], 1)
                .into_data()
                .iter::<f32>()
                .collect()
        });
        let rows = flat.chunks(c + s);
        Ok(rows.map(|r| (r[..c].to_vec(), r[c..].to_vec())).unzip())
    }

    /// Pixels (in [0, 1]) drawn from each `(content, style)` pair of codes (inference mode).
    pub fn draw(
        &self,
        content: &[Vec<f32>],
        style: &[Vec<f32>],
        device: &Device,
    ) -> Result<Vec<Vec<f32>>> {
        if content.len() != style.len() {
            return Err(CoreError::config(
                "codes",
                format!(
                    "{} content codes for {} style codes",
                    content.len(),
                    style.len()
                ),
            ));
        }
        let bad = |w: usize, k: &[Vec<f32>]| k.iter().find(|c| c.len() != w).map(Vec::len);
        if let Some(w) = bad(self.content, content).or(bad(self.style, style)) {
            return Err(CoreError::config(
                "codes",
                format!(
                    "a code of {w} values for content {} / style {}",
                    self.content, self.style
                ),
            ));
        }
        if content.is_empty() {
            return Ok(Vec::new());
        }
        let model = self.valid();
        let t = |k: &[Vec<f32>], w: usize| {
            Tensor::<2>::from_data(
                burn::tensor::TensorData::new(k.concat(), [k.len(), w]),
                device,
            )
        };
        let logits = model.decode_logits(t(content, self.content), t(style, self.style));
        Ok(pixel_rows(logits))
    }

    /// The content codes' head: `features -> content mean` (a copy), for a classifier on the
    /// backbone that reads the content code.
    pub fn content_head(&self) -> Sequential {
        self.content_mean.clone()
    }
}

/// Pairs that share content as one set for tl-core's batches: item `i` is `first[i]`
/// followed by `second[i]` (shape `[2, item_size]`). Both sides must have the same item shape
/// and count.
pub fn pair_set(first: &Inputs, second: &Inputs, domain: &str) -> Result<UnlabelledSet> {
    if first.item_shape != second.item_shape || first.len() != second.len() {
        return Err(CoreError::data(
            domain,
            format!(
                "pairs need two sides of one shape and count: {} items of {:?} and {} of {:?}",
                first.len(),
                first.item_shape,
                second.len(),
                second.item_shape
            ),
        ));
    }
    let d = first.item_size();
    let mut values = Vec::with_capacity(2 * first.values.len());
    for i in 0..first.len() {
        values.extend_from_slice(&first.values[i * d..(i + 1) * d]);
        values.extend_from_slice(&second.values[i * d..(i + 1) * d]);
    }
    UnlabelledSet::new(Inputs::new(vec![2, d], values)?, domain)
}

/// The ML-VAE objective with the swap terms, per pair:
/// `rec(a | c_group, s_a) + rec(b | c_group, s_b) + swap * [rec(a | c_b, s_a) +
/// rec(b | c_a, s_b)] + style_swap * [rec(a | c_a, s_a') + rec(b | c_b, s_b')] + KL(c_group)
/// + style_beta * [KL(s_a) + KL(s_b)] + align * |mu_c(a) - mu_c(b)|^2 + domain * [bce(h(mu_s(a)),
/// 0) + bce(h(mu_s(b)), 1)]`, averaged over pairs, where `a'` is the next pair's first item in
/// the batch and `h` the model's `domain_head`. The style swap is for pairs whose first items
/// all come from one domain and second items from the other (a Google and a Twitter drawing, an
/// MNIST and a USPS digit): any item of the same domain must then lend its style, so the style
/// code keeps what the domain shares and nothing of the item. The domain term reads the same
/// order as a label: the style code must tell the domains apart linearly (the domain label
/// every ordered pair carries for free, as domain-conditioned style encoders use it). Set both
/// to 0 for pairs without that order.
/// History: `reconstruction`, `swap_reconstruction`, `style_swap_reconstruction`, `content_disagreement`,
/// `content_kl`, `style_kl`, `domain_nll`.
#[derive(Debug, Clone)]
pub struct ContentStyleObjective {
    /// Weight of the swap reconstructions.
    pub swap: f64,
    /// Weight of the style-swap reconstructions (0 when pairs are not ordered by domain).
    pub style_swap: f64,
    /// Weight of the style codes' KL.
    pub style_beta: f64,
    /// Weight of the content agreement: the squared distance between the two items' content
    /// means (summed over the code), so that one item's content code stands for its pair's.
    pub align: f64,
    /// Weight of the domain term: the cross-entropy of the domain (first item 0, second 1)
    /// read from the style mean by the model's `domain_head` (0: the head is not trained).
    pub domain: f64,
}

impl ContentStyleObjective {
    /// Refuses negative or non-finite weights.
    pub fn validate(&self) -> Result<()> {
        for (name, w) in [
            ("swap", self.swap),
            ("style_swap", self.style_swap),
            ("style_beta", self.style_beta),
            ("align", self.align),
            ("domain", self.domain),
        ] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(CoreError::config(name, format!("{w}: must be >= 0")));
            }
        }
        Ok(())
    }

    /// The loss and its terms on a batch of pairs (`[m, 2 * item_size]`).
    pub fn terms<E: Encoder>(
        &self,
        model: &ContentStyle<E>,
        pairs: Tensor<2>,
    ) -> (Tensor<1>, [Tensor<1>; 7]) {
        let [m, two_d] = pairs.dims();
        let d = two_d / 2;
        let pairs_device = pairs.device();
        let xa = pairs.clone().slice([0..m, 0..d]);
        let xb = pairs.slice([0..m, d..two_d]);
        let (cma, clva, sma, slva) = model.codes(xa.clone());
        let (cmb, clvb, smb, slvb) = model.codes(xb.clone());
        // Product of the two Gaussians: precisions add, means are precision-weighted.
        let agreement = (cma.clone() - cmb.clone())
            .powf_scalar(2.0)
            .sum_dim(1)
            .mean()
            .reshape([1]);
        let (pa, pb) = ((-clva.clone()).exp(), (-clvb.clone()).exp());
        let precision = pa.clone() + pb.clone();
        let group_mean = (cma.clone() * pa + cmb.clone() * pb) / precision.clone();
        let group_log_var = -precision.log();
        let c = reparameterize(group_mean.clone(), group_log_var.clone());
        let (sa, sb) = (
            reparameterize(sma.clone(), slva.clone()),
            reparameterize(smb.clone(), slvb.clone()),
        );
        let rec = bernoulli_nll(model.decode_logits(c.clone(), sa.clone()), xa.clone())
            + bernoulli_nll(model.decode_logits(c, sb.clone()), xb.clone());
        let (ca, cb) = (reparameterize(cma, clva), reparameterize(cmb, clvb));
        let swap = bernoulli_nll(model.decode_logits(cb.clone(), sa.clone()), xa.clone())
            + bernoulli_nll(model.decode_logits(ca.clone(), sb.clone()), xb.clone());
        // The next pair's style (rolled by one in the batch), from the same domain.
        let roll = |s: Tensor<2>| {
            if m < 2 {
                s
            } else {
                let width = s.dims()[1];
                Tensor::cat(
                    vec![s.clone().slice([1..m, 0..width]), s.slice([0..1, 0..width])],
                    0,
                )
            }
        };
        let style_swap = bernoulli_nll(model.decode_logits(ca, roll(sa)), xa)
            + bernoulli_nll(model.decode_logits(cb, roll(sb)), xb);
        // The domain from the style means (binary cross-entropy: softplus(l) for label 0,
        // softplus(-l) for label 1), summed over the pair's two items.
        let domain_nll = if self.domain > 0.0 {
            let logit = |s: Tensor<2>| model.domain_head.forward(s).reshape([m]);
            (softplus(logit(sma.clone()), 1.0) + softplus(-logit(smb.clone()), 1.0))
                .mean()
                .reshape([1])
        } else {
            Tensor::zeros([1], &pairs_device)
        };
        let content_kl = gaussian_kl(group_mean, group_log_var);
        let style_kl = gaussian_kl(sma, slva) + gaussian_kl(smb, slvb);
        let loss = rec.clone()
            + swap.clone() * self.swap
            + style_swap.clone() * self.style_swap
            + content_kl.clone()
            + style_kl.clone() * self.style_beta
            + agreement.clone() * self.align
            + domain_nll.clone() * self.domain;
        (
            loss,
            [
                rec, swap, style_swap, content_kl, style_kl, agreement, domain_nll,
            ],
        )
    }
}

impl<E: Encoder> Objective<ContentStyle<E>, UnlabelledBatch<'_>> for ContentStyleObjective {
    fn step(&mut self, model: &ContentStyle<E>, batch: &UnlabelledBatch) -> Result<Step> {
        let (loss, [rec, swap, style_swap, ckl, skl, agree, domain]) =
            self.terms(model, batch.inputs());
        let mut step = Step::new(loss);
        step.stats = vec![
            ("reconstruction", scalar(&rec)),
            ("swap_reconstruction", scalar(&swap)),
            ("style_swap_reconstruction", scalar(&style_swap)),
            ("content_kl", scalar(&ckl)),
            ("style_kl", scalar(&skl)),
            ("content_disagreement", scalar(&agree)),
            ("domain_nll", scalar(&domain)),
        ];
        Ok(step)
    }
}

/// The share of `queries` whose nearest code in `gallery` (Euclidean) is the one at the same
/// index: retrieval top-1 (e.g. a Twitter drawing's content code finding the Google drawing
/// of the same symbol). Chance is `1 / gallery.len()`.
pub fn retrieval_top1(queries: &[Vec<f32>], gallery: &[Vec<f32>]) -> Result<f64> {
    if queries.is_empty() || queries.len() != gallery.len() {
        return Err(CoreError::data(
            "retrieval",
            format!(
                "{} queries for {} gallery codes: need one per query, at least one",
                queries.len(),
                gallery.len()
            ),
        ));
    }
    let width = queries[0].len();
    for (what, codes) in [("query", queries), ("gallery code", gallery)] {
        if let Some(i) = codes.iter().position(|c| c.len() != width) {
            return Err(CoreError::data(
                "retrieval",
                format!(
                    "{what} {i} has {} values, query 0 has {width}",
                    codes[i].len()
                ),
            ));
        }
    }
    let dist =
        |a: &[f32], b: &[f32]| -> f32 { a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum() };
    let hits = queries
        .iter()
        .enumerate()
        .filter(|(i, q)| {
            let own = dist(q, &gallery[*i]);
            gallery
                .iter()
                .enumerate()
                .all(|(j, g)| j == *i || dist(q, g) > own)
        })
        .count();
    Ok(hits as f64 / queries.len() as f64)
}
