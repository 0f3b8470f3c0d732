//! Layers holding their parameters as candle `Var`s under torchvision names,
//! and the builder that creates them (fresh initialisation and loading share
//! this one path: a `VarBuilder` over a `VarMap` creates missing tensors with
//! torchvision's initialisation).

use std::cell::RefCell;
use std::rc::Rc;

use candle::{Tensor, Var};
use candle_nn::{Init, VarBuilder};
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::error::Result;
use crate::ops::{self, ConvConfig};

/// What a named tensor is, which decides its initialisation and whether it
/// is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// Convolution kernel: kaiming-normal, `fan_out` mode, ReLU gain
    /// (`std = sqrt(2 / (C_out k k))`), as torchvision's ResNet and VGG.
    ConvWeight {
        /// `C_out * k * k`.
        fan_out: usize,
    },
    /// Convolution bias: zero (torchvision's VGG).
    ConvBias,
    /// BatchNorm scale: one.
    BnWeight,
    /// BatchNorm shift: zero.
    BnBias,
    /// BatchNorm running mean (a buffer): zero.
    RunningMean,
    /// BatchNorm running variance (a buffer): one.
    RunningVar,
    /// A head's linear weight, `nn.Linear`'s default: uniform in
    /// `±1 / sqrt(fan_in)` (kaiming-uniform with `a = sqrt(5)`).
    LinearWeight {
        /// Input features.
        fan_in: usize,
    },
    /// A head's linear bias, `nn.Linear`'s default: uniform in `±1 / sqrt(fan_in)`.
    LinearBias {
        /// Input features.
        fan_in: usize,
    },
    /// VGG's hidden classifier layers (torchvision): normal with std 0.01.
    HiddenLinearWeight,
    /// VGG's hidden classifier biases: zero.
    HiddenLinearBias,
}

impl ParamKind {
    /// Whether this is a buffer (running statistics), not trained.
    pub fn is_buffer(self) -> bool {
        matches!(self, ParamKind::RunningMean | ParamKind::RunningVar)
    }

    /// candle's initialisation hint for this kind.
    fn init(self) -> Init {
        match self {
            ParamKind::ConvWeight { fan_out } => Init::Randn {
                mean: 0.0,
                stdev: (2.0 / fan_out as f64).sqrt(),
            },
            ParamKind::ConvBias
            | ParamKind::BnBias
            | ParamKind::RunningMean
            | ParamKind::HiddenLinearBias => Init::Const(0.0),
            ParamKind::BnWeight | ParamKind::RunningVar => Init::Const(1.0),
            ParamKind::LinearWeight { fan_in } | ParamKind::LinearBias { fan_in } => {
                let bound = 1.0 / (fan_in as f64).sqrt();
                Init::Uniform {
                    lo: -bound,
                    up: bound,
                }
            }
            ParamKind::HiddenLinearWeight => Init::Randn {
                mean: 0.0,
                stdev: 0.01,
            },
        }
    }

    /// Draws `n` initial values from `rng` (seeded initialisation).
    pub(crate) fn sample<R: Rng>(self, n: usize, rng: &mut R) -> Vec<f32> {
        match self.init() {
            Init::Const(v) => vec![v as f32; n],
            Init::Randn { mean, stdev } => match Normal::new(mean, stdev) {
                Ok(dist) => (0..n).map(|_| dist.sample(rng) as f32).collect(),
                Err(_) => vec![mean as f32; n],
            },
            Init::Uniform { lo, up } => match Uniform::new(lo, up) {
                Ok(dist) => (0..n).map(|_| dist.sample(rng) as f32).collect(),
                Err(_) => vec![lo as f32; n],
            },
            Init::Kaiming { .. } => vec![0.0; n],
        }
    }
}

/// One named tensor of a model.
#[derive(Debug, Clone)]
pub struct Param {
    /// torchvision name, e.g. `layer1.0.bn1.running_mean`.
    pub name: String,
    /// What it is.
    pub kind: ParamKind,
    /// Whether it belongs to the replaced classification head.
    pub head: bool,
    /// The variable (shared with the `VarMap` the model was built from).
    pub var: Var,
}

/// Creates layers from a `VarBuilder` and records every tensor it hands out.
#[derive(Clone)]
pub(crate) struct Builder<'a> {
    vb: VarBuilder<'a>,
    params: Rc<RefCell<Vec<Param>>>,
    head: bool,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(vb: VarBuilder<'a>) -> Self {
        Builder {
            vb,
            params: Rc::new(RefCell::new(Vec::new())),
            head: false,
        }
    }

    /// A builder one name level down (`vb.pp(s)`).
    pub(crate) fn pp(&self, s: impl ToString) -> Self {
        Builder {
            vb: self.vb.pp(s),
            params: self.params.clone(),
            head: self.head,
        }
    }

    /// Marks the tensors created through the result as the replaced head.
    pub(crate) fn head(&self) -> Self {
        Builder {
            head: true,
            ..self.clone()
        }
    }

    pub(crate) fn into_params(self) -> Vec<Param> {
        self.params.take()
    }

    fn get(&self, shape: &[usize], name: &str, kind: ParamKind) -> Result<Var> {
        let t = self.vb.get_with_hints(shape, name, kind.init())?;
        let var = Var::from_tensor(&t)?;
        let prefix = self.vb.prefix();
        let full = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        self.params.borrow_mut().push(Param {
            name: full,
            kind,
            head: self.head,
            var: var.clone(),
        });
        Ok(var)
    }

    pub(crate) fn conv(
        &self,
        c_in: usize,
        c_out: usize,
        k: usize,
        cfg: ConvConfig,
        bias: bool,
    ) -> Result<Conv2d> {
        let weight = self.get(
            &[c_out, c_in, k, k],
            "weight",
            ParamKind::ConvWeight {
                fan_out: c_out * k * k,
            },
        )?;
        let bias = if bias {
            Some(self.get(&[c_out], "bias", ParamKind::ConvBias)?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            cfg,
            frozen: false,
        })
    }

    pub(crate) fn batch_norm(&self, c: usize) -> Result<BatchNorm> {
        Ok(BatchNorm {
            weight: self.get(&[c], "weight", ParamKind::BnWeight)?,
            bias: self.get(&[c], "bias", ParamKind::BnBias)?,
            running_mean: self.get(&[c], "running_mean", ParamKind::RunningMean)?,
            running_var: self.get(&[c], "running_var", ParamKind::RunningVar)?,
            momentum: 0.1,
            eps: 1e-5,
            frozen: false,
        })
    }

    /// A linear layer; `hidden` selects VGG's hidden-layer initialisation.
    pub(crate) fn linear(&self, c_in: usize, c_out: usize, hidden: bool) -> Result<Linear> {
        let (wk, bk) = if hidden {
            (ParamKind::HiddenLinearWeight, ParamKind::HiddenLinearBias)
        } else {
            (
                ParamKind::LinearWeight { fan_in: c_in },
                ParamKind::LinearBias { fan_in: c_in },
            )
        };
        Ok(Linear {
            weight: self.get(&[c_out, c_in], "weight", wk)?,
            bias: self.get(&[c_out], "bias", bk)?,
            frozen: false,
        })
    }
}

/// A 2D convolution; `weight: (C_out, C_in, k, k)`, `bias: (C_out,)`.
#[derive(Debug, Clone)]
pub(crate) struct Conv2d {
    weight: Var,
    bias: Option<Var>,
    cfg: ConvConfig,
    frozen: bool,
}

impl Conv2d {
    pub(crate) fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let bias = self.bias.as_ref().map(|b| param(b, self.frozen));
        ops::conv2d(
            xs,
            &param(&self.weight, self.frozen),
            bias.as_ref(),
            self.cfg,
        )
    }

    /// The same layer with its parameters frozen (see [`param`]).
    pub(crate) fn frozen(&self) -> Self {
        Conv2d {
            frozen: true,
            ..self.clone()
        }
    }
}

/// A parameter as a forward pass uses it: the `Var`'s own tensor, so that
/// backward computes its gradient; or, in a frozen layer, a detached view of
/// the same storage, so that backward skips it (e.g. the adversarial's
/// weight gradients in the localizer phase, which nothing would use).
fn param(var: &Var, frozen: bool) -> Tensor {
    if frozen {
        var.as_detached_tensor()
    } else {
        var.as_tensor().clone()
    }
}

/// BatchNorm2d with PyTorch's training behaviour: batch statistics (biased
/// variance) normalise; the running estimates move with momentum 0.1 towards
/// the batch mean and the *unbiased* batch variance. `eps = 1e-5`.
#[derive(Debug, Clone)]
pub(crate) struct BatchNorm {
    weight: Var,
    bias: Var,
    running_mean: Var,
    running_var: Var,
    momentum: f64,
    eps: f64,
    frozen: bool,
}

impl BatchNorm {
    pub(crate) fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_relu(xs, train, false)
    }

    /// [`Self::forward`] followed by a ReLU when `relu` (fused in one pass).
    pub(crate) fn forward_relu(&self, xs: &Tensor, train: bool, relu: bool) -> Result<Tensor> {
        let (weight, bias) = (
            param(&self.weight, self.frozen),
            param(&self.bias, self.frozen),
        );
        if !train {
            return ops::batch_norm_eval(
                xs,
                &weight,
                &bias,
                self.running_mean.as_tensor(),
                self.running_var.as_tensor(),
                self.eps,
                relu,
            );
        }
        let (ys, mean, var) = ops::batch_norm_train(xs, &weight, &bias, self.eps, relu)?;
        let (n, _, h, w) = xs.dims4()?;
        let count = (n * h * w) as f64;
        let m = self.momentum;
        let new_mean = ((self.running_mean.as_detached_tensor() * (1.0 - m))? + (mean * m)?)?;
        let new_var = ((self.running_var.as_detached_tensor() * (1.0 - m))?
            + (var * (m * count / (count - 1.0)))?)?;
        self.running_mean.set(&new_mean)?;
        self.running_var.set(&new_var)?;
        Ok(ys)
    }

    /// The same layer with its scale and shift frozen; the running statistics
    /// are the same `Var`s and still move in training mode.
    pub(crate) fn frozen(&self) -> Self {
        BatchNorm {
            frozen: true,
            ..self.clone()
        }
    }
}

/// A linear layer; `weight: (C_out, C_in)`, `bias: (C_out,)`.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    weight: Var,
    bias: Var,
    frozen: bool,
}

impl Linear {
    pub(crate) fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        ops::linear(xs, &self.weight(), Some(&self.bias()))
    }

    /// The weight `(C_out, C_in)` as the forward pass uses it.
    pub(crate) fn weight(&self) -> Tensor {
        param(&self.weight, self.frozen)
    }

    /// The bias `(C_out,)` as the forward pass uses it.
    pub(crate) fn bias(&self) -> Tensor {
        param(&self.bias, self.frozen)
    }

    /// The same layer with its parameters frozen.
    pub(crate) fn frozen(&self) -> Self {
        Linear {
            frozen: true,
            ..self.clone()
        }
    }
}
