//! [`Classifier`]: one of the [`Architecture`]s with a `num_classes` head.

use candle::{Tensor, Var};
use candle_nn::VarBuilder;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::arch::Architecture;
use crate::error::{bad_input, Result};
use crate::layers::{Builder, Param};
use crate::ops;
use crate::resnet::{BlockKind, ResNet, ResNetConfig};
use crate::vgg::{Vgg, VggHead};

#[derive(Debug, Clone)]
enum Net {
    ResNet(ResNet),
    Vgg(Vgg),
}

/// The head on top of the features, as the attention maps need to know it.
#[derive(Debug, Clone)]
pub enum Head {
    /// Global average pooling then one linear layer (ResNets, LargeFOV):
    /// Grad-CAM needs no backward pass.
    GapLinear {
        /// The linear weight `(K, C)` (the tensor of the model's `Var`, so
        /// gradients flow into it).
        weight: Tensor,
        /// The bias `(K,)`.
        bias: Tensor,
    },
    /// Any other head (VGG-16's MLP): Grad-CAM takes the gradient by autograd.
    Other,
}

/// A classification network with a `num_classes`-way head, its parameters
/// and BatchNorm running statistics held as `Var`s under torchvision names.
///
/// Build it from a `VarBuilder` over a `candle_nn::VarMap` for training: every
/// tensor, running statistics included, is a `Var` of that map (e.g.
/// `layer1.0.bn1.running_mean`); missing tensors are created with
/// torchvision's initialisation. Load pretrained weights into it with
/// [`crate::weights::load`].
#[derive(Debug, Clone)]
pub struct Classifier {
    arch: Architecture,
    num_classes: usize,
    net: Net,
    params: Vec<Param>,
}

impl Classifier {
    /// Builds `arch` with a `num_classes`-way head from `vb`.
    pub fn new(arch: Architecture, num_classes: usize, vb: VarBuilder) -> Result<Self> {
        if num_classes == 0 {
            return Err(bad_input("Classifier::new", "num_classes must be positive"));
        }
        let b = Builder::new(vb);
        let resnet = |block, layers, width_per_group, dilate| ResNetConfig {
            block,
            layers,
            width_per_group,
            dilate,
        };
        let no_dilation = [false; 3];
        let net = match arch {
            Architecture::Resnet18 => Net::ResNet(ResNet::new(
                &b,
                resnet(BlockKind::Basic, [2, 2, 2, 2], 64, no_dilation),
                num_classes,
            )?),
            Architecture::Resnet34 => Net::ResNet(ResNet::new(
                &b,
                resnet(BlockKind::Basic, [3, 4, 6, 3], 64, no_dilation),
                num_classes,
            )?),
            Architecture::Resnet50 => Net::ResNet(ResNet::new(
                &b,
                resnet(BlockKind::Bottleneck, [3, 4, 6, 3], 64, no_dilation),
                num_classes,
            )?),
            Architecture::Resnet101 => Net::ResNet(ResNet::new(
                &b,
                resnet(BlockKind::Bottleneck, [3, 4, 23, 3], 64, no_dilation),
                num_classes,
            )?),
            Architecture::Resnet152 => Net::ResNet(ResNet::new(
                &b,
                resnet(BlockKind::Bottleneck, [3, 8, 36, 3], 64, no_dilation),
                num_classes,
            )?),
            Architecture::WideResnet50 => Net::ResNet(ResNet::new(
                &b,
                resnet(BlockKind::Bottleneck, [3, 4, 6, 3], 128, no_dilation),
                num_classes,
            )?),
            Architecture::Resnet101Deeplab => Net::ResNet(ResNet::new(
                &b,
                resnet(
                    BlockKind::Bottleneck,
                    [3, 4, 23, 3],
                    64,
                    [false, true, true],
                ),
                num_classes,
            )?),
            Architecture::Vgg16 => Net::Vgg(Vgg::new(&b, false, num_classes)?),
            Architecture::DeeplabLargefov => Net::Vgg(Vgg::new(&b, true, num_classes)?),
        };
        Ok(Classifier {
            arch,
            num_classes,
            net,
            params: b.into_params(),
        })
    }

    /// The architecture.
    pub fn arch(&self) -> Architecture {
        self.arch
    }

    /// Number of classes of the head.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Images `(N, 3, H, W)` to logits `(N, K)`; `train` selects BatchNorm's
    /// batch statistics (and updates the running ones) and VGG's dropout.
    pub fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.forward_features(xs, train)?.1)
    }

    /// Images `(N, 3, H, W)` to the last convolutional stage's output
    /// `(N, C, h, w)` (ResNet: layer4 after its ReLU; VGG: `features` after
    /// its last pool) and the logits `(N, K)`.
    pub fn forward_features(&self, xs: &Tensor, train: bool) -> Result<(Tensor, Tensor)> {
        ops::check_images(xs)?;
        let features = match &self.net {
            Net::ResNet(net) => net.features(xs, train)?,
            Net::Vgg(net) => net.features(xs)?,
        };
        let logits = self.head_forward(&features, train)?;
        Ok((features, logits))
    }

    /// The head alone: features `(N, C, h, w)` to logits `(N, K)`.
    pub fn head_forward(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        match &self.net {
            Net::ResNet(net) => net.head(features),
            Net::Vgg(net) => net.head(features, train),
        }
    }

    /// The same network with its parameters frozen: its forward passes use
    /// detached views of the same weights, so a backward through it computes
    /// gradients for its input but none for its parameters. The running
    /// statistics are the same `Var`s and still move in training mode; the
    /// parameters the original network trains are unchanged. EADER's
    /// localizer phase runs the adversarial this way (its weight gradients
    /// would be thrown away).
    pub fn frozen(&self) -> Classifier {
        let net = match &self.net {
            Net::ResNet(net) => Net::ResNet(net.frozen()),
            Net::Vgg(net) => Net::Vgg(net.frozen()),
        };
        Classifier {
            arch: self.arch,
            num_classes: self.num_classes,
            net,
            params: self.params.clone(),
        }
    }

    /// Which kind of head the network has (for the fast Grad-CAM path).
    pub fn head(&self) -> Head {
        let linear = match &self.net {
            Net::ResNet(net) => Some(&net.fc),
            Net::Vgg(net) => match &net.head {
                VggHead::Linear(fc) => Some(fc),
                VggHead::Mlp { .. } => None,
            },
        };
        match linear {
            Some(fc) => Head::GapLinear {
                weight: fc.weight(),
                bias: fc.bias(),
            },
            None => Head::Other,
        }
    }

    /// Every named tensor (parameters and buffers) in construction order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The trainable parameters `(name, var)` (running statistics excluded).
    pub fn trainable(&self) -> Vec<(String, Var)> {
        self.params
            .iter()
            .filter(|p| !p.kind.is_buffer())
            .map(|p| (p.name.clone(), p.var.clone()))
            .collect()
    }

    /// The trainable `Var`s alone, e.g. for an optimizer.
    pub fn trainable_vars(&self) -> Vec<Var> {
        self.params
            .iter()
            .filter(|p| !p.kind.is_buffer())
            .map(|p| p.var.clone())
            .collect()
    }

    /// Whether `name` is a buffer (BatchNorm running statistics, or
    /// `num_batches_tracked`, which eader does not keep) rather than a
    /// trainable parameter.
    pub fn is_buffer(name: &str) -> bool {
        name.ends_with(".running_mean")
            || name.ends_with(".running_var")
            || name.ends_with(".num_batches_tracked")
    }

    /// The names of the head's tensors (replaced by a fresh `num_classes` head
    /// when loading ImageNet weights).
    pub fn head_names(&self) -> Vec<String> {
        self.params
            .iter()
            .filter(|p| p.head)
            .map(|p| p.name.clone())
            .collect()
    }

    /// Sets VGG-16's dropout probability (0.5 by default, as torchvision);
    /// no effect on other architectures.
    pub fn set_dropout(&mut self, p: f32) {
        if let Net::Vgg(vgg) = &mut self.net {
            if let VggHead::Mlp { dropout, .. } = &mut vgg.head {
                *dropout = p;
            }
        }
    }

    /// Re-initialises every tensor as torchvision does (kaiming-normal
    /// `fan_out` convolutions, BatchNorm 1/0, running statistics 0/1,
    /// `nn.Linear`'s default for heads, N(0, 0.01) for VGG's hidden layers),
    /// drawing from a ChaCha8 generator seeded with `seed`, so one seed gives
    /// one network.
    pub fn init_seeded(&self, seed: u64) -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for p in &self.params {
            self.init_param(p, &mut rng)?;
        }
        Ok(())
    }

    /// Re-initialises only the head (after loading a backbone), seeded.
    pub fn init_head_seeded(&self, seed: u64) -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for p in self.params.iter().filter(|p| p.head) {
            self.init_param(p, &mut rng)?;
        }
        Ok(())
    }

    fn init_param(&self, p: &Param, rng: &mut ChaCha8Rng) -> Result<()> {
        let t = p.var.as_tensor();
        let values = p.kind.sample(t.elem_count(), rng);
        let fresh = Tensor::from_vec(values, t.shape(), t.device())?.to_dtype(t.dtype())?;
        p.var.set(&fresh)?;
        Ok(())
    }
}
