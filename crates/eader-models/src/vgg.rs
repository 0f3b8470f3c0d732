//! torchvision's VGG-16 (configuration D) and the DeepLab-v1 LargeFOV trunk.

use candle::Tensor;

use crate::error::Result;
use crate::layers::{Builder, Conv2d, Linear};
use crate::ops::{self, ConvConfig, MaxPoolConfig};

/// VGG-16's convolution widths; `0` marks a pooling layer.
const CFG_D: [usize; 18] = [
    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
];

#[derive(Debug, Clone)]
enum Layer {
    /// A convolution followed by ReLU (two indices of `features`).
    Conv(Conv2d),
    Pool(MaxPoolConfig),
}

/// The classifier on top of `features`.
#[derive(Debug, Clone)]
pub(crate) enum VggHead {
    /// torchvision's VGG: adaptive average pool to 7x7, flatten, then
    /// `classifier.0` (25088 -> 4096), ReLU, dropout, `classifier.3`
    /// (4096 -> 4096), ReLU, dropout, `classifier.6` (4096 -> K).
    Mlp {
        fc1: Linear,
        fc2: Linear,
        fc3: Linear,
        dropout: f32,
    },
    /// LargeFOV: global average pool, `classifier` (512 -> K).
    Linear(Linear),
}

/// A VGG trunk (`features.*`) with its head (`classifier.*`).
#[derive(Debug, Clone)]
pub(crate) struct Vgg {
    layers: Vec<Layer>,
    pub(crate) head: VggHead,
}

impl Vgg {
    /// VGG-16 (`large_fov == false`) or LargeFOV (`true`).
    pub(crate) fn new(b: &Builder, large_fov: bool, num_classes: usize) -> Result<Self> {
        let features = b.pp("features");
        let mut layers = Vec::new();
        let mut idx = 0;
        let mut c_in = 3;
        let mut pools = 0;
        for &v in CFG_D.iter() {
            if v == 0 {
                let cfg = if !large_fov {
                    MaxPoolConfig {
                        kernel: 2,
                        stride: 2,
                        padding: 0,
                    }
                } else {
                    MaxPoolConfig {
                        kernel: 3,
                        stride: if pools < 3 { 2 } else { 1 },
                        padding: 1,
                    }
                };
                pools += 1;
                layers.push(Layer::Pool(cfg));
                idx += 1;
            } else {
                // LargeFOV's conv5 block (after the fourth pool) is dilated.
                let dilation = if large_fov && pools == 4 { 2 } else { 1 };
                let cfg = ConvConfig {
                    stride: 1,
                    padding: dilation,
                    dilation,
                };
                layers.push(Layer::Conv(features.pp(idx).conv(c_in, v, 3, cfg, true)?));
                c_in = v;
                idx += 2;
            }
        }
        let classifier = b.pp("classifier").head();
        let head = if large_fov {
            VggHead::Linear(classifier.linear(512, num_classes, false)?)
        } else {
            VggHead::Mlp {
                fc1: b.pp("classifier").pp(0).linear(512 * 7 * 7, 4096, true)?,
                fc2: b.pp("classifier").pp(3).linear(4096, 4096, true)?,
                fc3: classifier.pp(6).linear(4096, num_classes, false)?,
                dropout: 0.5,
            }
        };
        Ok(Vgg { layers, head })
    }

    /// `(N, 3, H, W)` images to the output of `features` `(N, 512, h, w)`
    /// (after its last pooling layer, as the reference's hook sees it).
    pub(crate) fn features(&self, xs: &Tensor) -> Result<Tensor> {
        let mut xs = xs.clone();
        for layer in &self.layers {
            xs = match layer {
                Layer::Conv(conv) => conv.forward(&xs)?.relu()?,
                Layer::Pool(cfg) => ops::max_pool2d(&xs, *cfg)?,
            };
        }
        Ok(xs)
    }

    /// Features `(N, 512, h, w)` to logits `(N, K)`.
    pub(crate) fn head(&self, features: &Tensor, train: bool) -> Result<Tensor> {
        match &self.head {
            VggHead::Linear(fc) => fc.forward(&ops::global_avg_pool(features)?),
            VggHead::Mlp {
                fc1,
                fc2,
                fc3,
                dropout,
            } => {
                let xs = ops::adaptive_avg_pool2d(features, (7, 7))?.flatten_from(1)?;
                let xs = ops::dropout(&fc1.forward(&xs)?.relu()?, *dropout, train)?;
                let xs = ops::dropout(&fc2.forward(&xs)?.relu()?, *dropout, train)?;
                fc3.forward(&xs)
            }
        }
    }

    /// The same network with every parameter frozen.
    pub(crate) fn frozen(&self) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|layer| match layer {
                Layer::Conv(conv) => Layer::Conv(conv.frozen()),
                Layer::Pool(cfg) => Layer::Pool(*cfg),
            })
            .collect();
        let head = match &self.head {
            VggHead::Linear(fc) => VggHead::Linear(fc.frozen()),
            VggHead::Mlp {
                fc1,
                fc2,
                fc3,
                dropout,
            } => VggHead::Mlp {
                fc1: fc1.frozen(),
                fc2: fc2.frozen(),
                fc3: fc3.frozen(),
                dropout: *dropout,
            },
        };
        Vgg { layers, head }
    }
}
