//! The networks of eader, in candle: the second stage of the flow
//! (dataset → **models** → attention maps → erasing → losses).
//!
//! - [`Architecture`] names the networks as the reference does (`resnet18`,
//!   `resnet50`, `resnet101`, `resnet101deeplab`, `wide_resnet50`, `vgg16`,
//!   `deeplab_largefov`, …).
//! - [`Classifier`] builds one with a `num_classes` head from a
//!   `candle_nn::VarBuilder`; parameters *and* BatchNorm running statistics
//!   are `Var`s under torchvision's names (`layer1.0.bn1.running_mean`).
//!   [`Classifier::forward`] gives logits `(N, K)`,
//!   [`Classifier::forward_features`] the last convolutional stage `(N, C, h, w)`
//!   too. Training mode uses batch statistics and updates the running ones as
//!   PyTorch does (momentum 0.1, unbiased running variance).
//! - [`attention`]: the (image, positive class) [`attention::Pairs`] of a
//!   batch, CAM and Grad-CAM `(P, h, w)` at the features' resolution (Grad-CAM
//!   without a backward pass for GAP + linear heads).
//! - [`weights`]: strict safetensors loading (ImageNet trunks with a replaced
//!   head, or checkpoints) and saving under the same names;
//!   `hub` (feature `hub`): torchvision's ImageNet weights from the Hugging
//!   Face Hub (`timm/<arch>.tv_in1k`).
//! - [`ops`]: the layers' compute (convolution, batch norm, max pooling with
//!   PyTorch's padding and tie rule, forward and backward), kept in one place
//!   where `eader-kernels` plugs in.
//!
//! Upsampling and normalising the maps belong to `eader-erasing`, later in
//! the flow: this crate does not depend on it.
#![warn(missing_docs)]

mod arch;
pub mod attention;
mod classifier;
mod error;
#[cfg(feature = "hub")]
pub mod hub;
mod layers;
pub mod loss;
pub mod ops;
mod resnet;
mod vgg;
pub mod weights;

/// Serde through the names (`Display` / `FromStr`), as configuration files spell them.
#[cfg(feature = "serde")]
mod serde_names {
    use std::fmt::Display;
    use std::str::FromStr;

    fn serialize<T: Display, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: serde::Deserializer<'de>,
    {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }

    macro_rules! by_name {
        ($($t:ty),*) => {$(
            impl serde::Serialize for $t {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    serialize(self, s)
                }
            }
            impl<'de> serde::Deserialize<'de> for $t {
                fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    deserialize(d)
                }
            }
        )*};
    }

    by_name!(crate::Architecture, crate::AttentionKind);
}

pub use arch::Architecture;
pub use attention::AttentionKind;
pub use classifier::{Classifier, Head};
pub use error::{Error, Result};
pub use layers::{Param, ParamKind};
