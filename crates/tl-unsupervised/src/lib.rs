//! # tl-unsupervised
//!
//! Unsupervised transfer: neither domain has labels to begin with. An encoder first learns
//! what the unlabelled images of both domains have in common, by one of three objectives
//! (each a validated config whose `pretrain(encoder, &UnlabelledSet, &mut RunContext)` returns
//! the encoder, its decoder or projection head dropped, and the per-epoch history; as a
//! registered `Strategy` each pretrains on a task's unlabelled images and then fits its
//! `probe` on the few labels):
//!
//! | objective | what the encoder learns from |
//! |---|---|
//! | [`DenoisingAutoencoder`] | rebuilding clean images from noisy ones (Gaussian + masking noise) |
//! | [`MaskedAutoencoder`] | filling in hidden patches (loss on the masked pixels only) |
//! | [`SimClr`] | telling two random views of an image ([`ViewAugment`]) from the other images of the batch ([`nt_xent`]) |
//!
//! Then a few labels suffice: [`FewLabels`] draws k labelled items per class and runs
//! tl-inductive's linear probe and full fine-tuning on the pretrained encoder. Before any
//! label is used, [`kmeans::cluster_scores`] says how well the features cluster by class
//! (k-means, purity, NMI; labels only score).
//!
//! ```
//! use tl_core::data::{Inputs, UnlabelledSet};
//! use tl_core::model::SequentialConfig;
//! use tl_core::strategy::RunContext;
//! use tl_core::train::TrainConfig;
//! use tl_unsupervised::DenoisingAutoencoder;
//! let device = tl_core::device::device("flex")?;
//! let encoder = SequentialConfig::new(vec![1, 4, 4]).linear(8).relu().init(&device)?;
//! let images = UnlabelledSet::new(Inputs::new(vec![1, 4, 4], vec![0.5; 64])?, "toy")?;
//! let dae = DenoisingAutoencoder::new().with_train(TrainConfig::new().with_epochs(2));
//! let (encoder, history) = dae.pretrain(encoder, &images, &mut RunContext::new(&device))?;
//! assert_eq!(history.len(), 2);
//! # let _ = encoder;
//! # Ok::<(), tl_core::CoreError>(())
//! ```

pub mod augment;
pub mod autoencoder;
pub mod few_labels;
pub mod kmeans;
pub mod report;
pub mod simclr;

pub use augment::{AugmentedBatches, ViewAugment};
pub use autoencoder::{DenoisingAutoencoder, MaskedAutoencoder, Reconstructor};
pub use few_labels::{FewLabelRun, FewLabels};
pub use kmeans::{ClusterScores, KMeans, cluster_scores, nmi, purity};
pub use report::{Pretraining, unlabelled_images};
pub use simclr::{Contrastive, SimClr, nt_xent};

/// Registers every unsupervised objective (pretraining, then a linear probe) with its default
/// settings.
pub fn register(registry: &mut tl_core::strategy::Registry) -> tl_core::Result<()> {
    registry.register(
        "denoising autoencoder pretraining, then a linear probe",
        DenoisingAutoencoder::new,
    )?;
    registry.register(
        "masked autoencoder pretraining (image patches), then a linear probe",
        MaskedAutoencoder::new,
    )?;
    registry.register(
        "SimCLR contrastive pretraining (image views), then a linear probe",
        SimClr::new,
    )?;
    Ok(())
}
