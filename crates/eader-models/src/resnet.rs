//! torchvision's ResNet family (v1.5: the stride sits on the 3x3 convolution
//! of a bottleneck), including Wide-ResNet-50-2 and the dilated ResNet-101.

use candle::Tensor;

use crate::error::Result;
use crate::layers::{BatchNorm, Builder, Conv2d, Linear};
use crate::ops::{self, ConvConfig, MaxPoolConfig};

/// Which residual block a ResNet stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// Two 3x3 convolutions (ResNet-18/34), expansion 1.
    Basic,
    /// 1x1, 3x3, 1x1 convolutions (ResNet-50 and deeper), expansion 4.
    Bottleneck,
}

impl BlockKind {
    fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }
}

/// Shape of a ResNet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResNetConfig {
    pub(crate) block: BlockKind,
    /// Blocks in layer1..layer4.
    pub(crate) layers: [usize; 4],
    /// 64 for ResNets, 128 for Wide-ResNet-50-2.
    pub(crate) width_per_group: usize,
    /// torchvision's `replace_stride_with_dilation` for layer2..layer4.
    pub(crate) dilate: [bool; 3],
}

#[derive(Debug, Clone)]
struct Downsample {
    conv: Conv2d,
    bn: BatchNorm,
}

#[derive(Debug, Clone)]
struct Block {
    convs: Vec<(Conv2d, BatchNorm)>,
    downsample: Option<Downsample>,
}

impl Block {
    #[allow(clippy::too_many_arguments)]
    fn new(
        b: &Builder,
        kind: BlockKind,
        inplanes: usize,
        planes: usize,
        stride: usize,
        dilation: usize,
        width_per_group: usize,
        downsample: bool,
    ) -> Result<Self> {
        let out = planes * kind.expansion();
        let conv3x3 = ConvConfig {
            stride,
            padding: dilation,
            dilation,
        };
        let plain = ConvConfig::default();
        let convs = match kind {
            BlockKind::Basic => vec![
                (
                    b.pp("conv1").conv(inplanes, planes, 3, conv3x3, false)?,
                    b.pp("bn1").batch_norm(planes)?,
                ),
                (
                    b.pp("conv2").conv(
                        planes,
                        planes,
                        3,
                        ConvConfig {
                            stride: 1,
                            ..conv3x3
                        },
                        false,
                    )?,
                    b.pp("bn2").batch_norm(planes)?,
                ),
            ],
            BlockKind::Bottleneck => {
                let width = planes * width_per_group / 64;
                vec![
                    (
                        b.pp("conv1").conv(inplanes, width, 1, plain, false)?,
                        b.pp("bn1").batch_norm(width)?,
                    ),
                    (
                        b.pp("conv2").conv(width, width, 3, conv3x3, false)?,
                        b.pp("bn2").batch_norm(width)?,
                    ),
                    (
                        b.pp("conv3").conv(width, out, 1, plain, false)?,
                        b.pp("bn3").batch_norm(out)?,
                    ),
                ]
            }
        };
        let downsample = if downsample {
            let d = b.pp("downsample");
            Some(Downsample {
                conv: d
                    .pp(0)
                    .conv(inplanes, out, 1, ConvConfig { stride, ..plain }, false)?,
                bn: d.pp(1).batch_norm(out)?,
            })
        } else {
            None
        };
        Ok(Block { convs, downsample })
    }

    fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut ys = xs.clone();
        let last = self.convs.len() - 1;
        for (i, (conv, bn)) in self.convs.iter().enumerate() {
            ys = bn.forward_relu(&conv.forward(&ys)?, train, i != last)?;
        }
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(&d.conv.forward(xs)?, train)?,
            None => xs.clone(),
        };
        ops::add_relu(&ys, &identity)
    }

    fn frozen(&self) -> Self {
        Block {
            convs: self
                .convs
                .iter()
                .map(|(conv, bn)| (conv.frozen(), bn.frozen()))
                .collect(),
            downsample: self.downsample.as_ref().map(|d| Downsample {
                conv: d.conv.frozen(),
                bn: d.bn.frozen(),
            }),
        }
    }
}

/// A ResNet trunk with its `fc` head.
#[derive(Debug, Clone)]
pub(crate) struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm,
    layers: Vec<Vec<Block>>,
    pub(crate) fc: Linear,
}

impl ResNet {
    pub(crate) fn new(b: &Builder, cfg: ResNetConfig, num_classes: usize) -> Result<Self> {
        let conv1 = b.pp("conv1").conv(
            3,
            64,
            7,
            ConvConfig {
                stride: 2,
                padding: 3,
                dilation: 1,
            },
            false,
        )?;
        let bn1 = b.pp("bn1").batch_norm(64)?;
        let expansion = cfg.block.expansion();
        let mut inplanes = 64;
        let mut dilation = 1;
        let mut layers = Vec::with_capacity(4);
        for (i, &n_blocks) in cfg.layers.iter().enumerate() {
            let planes = 64 << i;
            let mut stride = if i == 0 { 1 } else { 2 };
            let previous_dilation = dilation;
            if i > 0 && cfg.dilate[i - 1] {
                dilation *= stride;
                stride = 1;
            }
            let lb = b.pp(format!("layer{}", i + 1));
            let downsample = stride != 1 || inplanes != planes * expansion;
            let mut blocks = Vec::with_capacity(n_blocks);
            blocks.push(Block::new(
                &lb.pp(0),
                cfg.block,
                inplanes,
                planes,
                stride,
                previous_dilation,
                cfg.width_per_group,
                downsample,
            )?);
            inplanes = planes * expansion;
            for j in 1..n_blocks {
                blocks.push(Block::new(
                    &lb.pp(j),
                    cfg.block,
                    inplanes,
                    planes,
                    1,
                    dilation,
                    cfg.width_per_group,
                    false,
                )?);
            }
            layers.push(blocks);
        }
        let fc = b.pp("fc").head().linear(inplanes, num_classes, false)?;
        Ok(ResNet {
            conv1,
            bn1,
            layers,
            fc,
        })
    }

    /// `(N, 3, H, W)` images to layer4's output `(N, C, H/32, W/32)` (after its ReLU).
    pub(crate) fn features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let xs = self
            .bn1
            .forward_relu(&self.conv1.forward(xs)?, train, true)?;
        let mut xs = ops::max_pool2d(&xs, MaxPoolConfig::STEM)?;
        for layer in &self.layers {
            for block in layer {
                xs = block.forward(&xs, train)?;
            }
        }
        Ok(xs)
    }

    /// Features `(N, C, h, w)` to logits `(N, K)`: global average pool, `fc`.
    pub(crate) fn head(&self, features: &Tensor) -> Result<Tensor> {
        self.fc.forward(&ops::global_avg_pool(features)?)
    }

    /// The same network with every parameter frozen (running statistics shared).
    pub(crate) fn frozen(&self) -> Self {
        ResNet {
            conv1: self.conv1.frozen(),
            bn1: self.bn1.frozen(),
            layers: self
                .layers
                .iter()
                .map(|layer| layer.iter().map(Block::frozen).collect())
                .collect(),
            fc: self.fc.frozen(),
        }
    }
}
