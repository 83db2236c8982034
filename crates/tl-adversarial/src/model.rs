//! A classifier with a domain discriminator beside it, as DANN and CDAN train it.

use burn::module::Module;
use burn::tensor::Tensor;
use tl_core::model::{Classifier, Encoder, Sequential};
use tl_core::train::ClassifierModel;

/// The classifier being adapted and the discriminator that trains against its features.
#[derive(Module, Debug)]
pub struct WithDiscriminator<E> {
    /// Encoder and head.
    pub classifier: Classifier<E>,
    /// Features (or, for CDAN, features x predictions) to a domain logit.
    pub discriminator: Sequential,
}

impl<E: Encoder + 'static> ClassifierModel for WithDiscriminator<E> {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        self.classifier.forward(x)
    }

    fn input_shape(&self) -> Vec<usize> {
        self.classifier.encoder.input_shape()
    }

    fn num_classes(&self) -> usize {
        self.classifier.num_classes()
    }
}
