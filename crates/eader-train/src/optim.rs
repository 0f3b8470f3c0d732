//! Optimizers with PyTorch's update rules: SGD, Adam and RMSprop over candle [`Var`]s.
//!
//! The hyper-parameters are the reference's (`training_utils.load_optimizer`):
//! - SGD: momentum 0.9, dampening 0, weight decay 1e-4, no Nesterov. The momentum
//!   buffer is the first gradient itself on a parameter's first update
//!   (`torch.optim.SGD`), then `buf = momentum * buf + g`; `p -= lr * buf`, with
//!   `g = grad + weight_decay * p`.
//! - Adam: betas (0.5, 0.999), eps 1e-8, no weight decay (the reference passes
//!   none), no AMSGrad; PyTorch's bias correction:
//!   `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
//! - RMSprop: PyTorch's defaults, alpha 0.99, eps 1e-8, no momentum, not centred:
//!   `v = alpha * v + (1 - alpha) * g^2`, `p -= lr * g / (sqrt(v) + eps)`.
//!
//! As in PyTorch, a parameter without a gradient in a step (absent from the
//! [`GradStore`]) is skipped, and its state is created on its first update.
//! The state exports to and imports from named tensors
//! (`<param>.momentum_buffer`, `<param>.exp_avg`, `<param>.exp_avg_sq`,
//! `<param>.square_avg`, `<param>.step`) for checkpoints.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use candle::backprop::GradStore;
use candle::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// SGD momentum.
pub const SGD_MOMENTUM: f64 = 0.9;
/// SGD weight decay (L2 penalty added to the gradient).
pub const SGD_WEIGHT_DECAY: f64 = 1e-4;
/// Adam's `beta1`.
pub const ADAM_BETA1: f64 = 0.5;
/// Adam's `beta2`.
pub const ADAM_BETA2: f64 = 0.999;
/// Adam's `eps`.
pub const ADAM_EPS: f64 = 1e-8;
/// RMSprop's smoothing constant `alpha` (PyTorch's default).
pub const RMSPROP_ALPHA: f64 = 0.99;
/// RMSprop's `eps` (PyTorch's default).
pub const RMSPROP_EPS: f64 = 1e-8;

/// The optimization algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Stochastic gradient descent with momentum and weight decay.
    Sgd,
    /// Adam.
    Adam,
    /// RMSprop.
    Rmsprop,
}

impl OptimizerKind {
    /// Every kind, in the order the help text lists them.
    pub const ALL: [OptimizerKind; 3] = [Self::Sgd, Self::Adam, Self::Rmsprop];

    /// The name used on the command line and in config files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sgd => "sgd",
            Self::Adam => "adam",
            Self::Rmsprop => "rmsprop",
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OptimizerKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == s.to_ascii_lowercase())
            .ok_or_else(|| format!("unknown optimizer {s:?}, expected one of sgd, adam, rmsprop"))
    }
}

/// Per-parameter state, created on the parameter's first update.
#[derive(Debug, Clone)]
enum ParamState {
    /// No update yet.
    Empty,
    Sgd {
        momentum_buffer: Tensor,
    },
    Adam {
        step: u64,
        exp_avg: Tensor,
        exp_avg_sq: Tensor,
    },
    Rmsprop {
        step: u64,
        square_avg: Tensor,
    },
}

#[derive(Debug, Clone)]
struct Param {
    name: String,
    var: Var,
    state: ParamState,
}

/// An optimizer over named parameters (torchvision names such as `layer1.0.conv1.weight`).
#[derive(Debug, Clone)]
pub struct Optimizer {
    kind: OptimizerKind,
    learning_rate: f64,
    params: Vec<Param>,
}

impl Optimizer {
    /// An optimizer of `kind` with `learning_rate` over `params` (name, variable).
    ///
    /// Only trainable parameters belong here: BatchNorm running statistics are
    /// updated by the forward pass, not by the optimizer.
    pub fn new(
        kind: OptimizerKind,
        learning_rate: f64,
        params: Vec<(String, Var)>,
    ) -> Result<Self> {
        if !(learning_rate.is_finite() && learning_rate >= 0.0) {
            return Err(Error::option(
                "learning-rate",
                format!("must be a finite number >= 0, got {learning_rate}"),
            ));
        }
        let params = params
            .into_iter()
            .map(|(name, var)| Param {
                name,
                var,
                state: ParamState::Empty,
            })
            .collect();
        Ok(Self {
            kind,
            learning_rate,
            params,
        })
    }

    /// The algorithm.
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// The learning rate.
    pub fn learning_rate(&self) -> f64 {
        self.learning_rate
    }

    /// Names of the optimized parameters, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|p| p.name.as_str())
    }

    /// Updates every parameter that has a gradient in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let lr = self.learning_rate;
        let kind = self.kind;
        for param in &mut self.params {
            let Some(grad) = grads.get(param.var.as_tensor()) else {
                continue;
            };
            let p = param.var.as_tensor();
            match kind {
                OptimizerKind::Sgd => {
                    // torch: d_p = grad.add(param, alpha=weight_decay)
                    let d_p = (grad + p.affine(SGD_WEIGHT_DECAY, 0.0)?)?;
                    let buf = match &param.state {
                        // torch: buf = torch.clone(d_p).detach()
                        ParamState::Sgd { momentum_buffer } => {
                            // torch: buf.mul_(momentum).add_(d_p, alpha=1 - dampening)
                            (momentum_buffer.affine(SGD_MOMENTUM, 0.0)? + &d_p)?
                        }
                        _ => d_p,
                    };
                    // torch: param.add_(buf, alpha=-lr)
                    let new_p = (p - buf.affine(lr, 0.0)?)?;
                    param.var.set(&new_p)?;
                    param.state = ParamState::Sgd {
                        momentum_buffer: buf,
                    };
                }
                OptimizerKind::Adam => {
                    let (step, exp_avg, exp_avg_sq) = match &param.state {
                        ParamState::Adam {
                            step,
                            exp_avg,
                            exp_avg_sq,
                        } => (*step, exp_avg.clone(), exp_avg_sq.clone()),
                        _ => (0, grad.zeros_like()?, grad.zeros_like()?),
                    };
                    let step = step + 1;
                    // torch: exp_avg.lerp_(grad, 1 - beta1), i.e. m + (1 - b1) * (g - m)
                    let exp_avg = (&exp_avg + (grad - &exp_avg)?.affine(1.0 - ADAM_BETA1, 0.0)?)?;
                    // torch: exp_avg_sq.mul_(beta2).addcmul_(grad, grad.conj(), value=1 - beta2)
                    let exp_avg_sq = (exp_avg_sq.affine(ADAM_BETA2, 0.0)?
                        + grad.sqr()?.affine(1.0 - ADAM_BETA2, 0.0)?)?;
                    let bias_correction1 = 1.0 - ADAM_BETA1.powi(step as i32);
                    let bias_correction2 = 1.0 - ADAM_BETA2.powi(step as i32);
                    let step_size = lr / bias_correction1;
                    // torch: denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                    let denom = exp_avg_sq
                        .sqrt()?
                        .affine(1.0 / bias_correction2.sqrt(), ADAM_EPS)?;
                    // torch: param.addcdiv_(exp_avg, denom, value=-step_size)
                    let new_p = (p - (&exp_avg / denom)?.affine(step_size, 0.0)?)?;
                    param.var.set(&new_p)?;
                    param.state = ParamState::Adam {
                        step,
                        exp_avg,
                        exp_avg_sq,
                    };
                }
                OptimizerKind::Rmsprop => {
                    let (step, square_avg) = match &param.state {
                        ParamState::Rmsprop { step, square_avg } => (*step, square_avg.clone()),
                        _ => (0, grad.zeros_like()?),
                    };
                    // torch: square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                    let square_avg = (square_avg.affine(RMSPROP_ALPHA, 0.0)?
                        + grad.sqr()?.affine(1.0 - RMSPROP_ALPHA, 0.0)?)?;
                    // torch: avg = square_avg.sqrt().add_(eps); param.addcdiv_(grad, avg, value=-lr)
                    let avg = square_avg.sqrt()?.affine(1.0, RMSPROP_EPS)?;
                    let new_p = (p - (grad / avg)?.affine(lr, 0.0)?)?;
                    param.var.set(&new_p)?;
                    param.state = ParamState::Rmsprop {
                        step: step + 1,
                        square_avg,
                    };
                }
            }
        }
        Ok(())
    }

    /// The state as named tensors, each name prefixed by `prefix` (for example
    /// `localizer_optimizer.`). Parameters never updated have no entry, as in PyTorch.
    pub fn state_tensors(&self, prefix: &str) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for param in &self.params {
            let name = |buffer: &str| format!("{prefix}{}.{buffer}", param.name);
            let step_tensor = |step: u64| Tensor::new(step as i64, param.var.device());
            match &param.state {
                ParamState::Empty => {}
                ParamState::Sgd { momentum_buffer } => {
                    out.push((name("momentum_buffer"), momentum_buffer.clone()));
                }
                ParamState::Adam {
                    step,
                    exp_avg,
                    exp_avg_sq,
                } => {
                    out.push((name("step"), step_tensor(*step)?));
                    out.push((name("exp_avg"), exp_avg.clone()));
                    out.push((name("exp_avg_sq"), exp_avg_sq.clone()));
                }
                ParamState::Rmsprop { step, square_avg } => {
                    out.push((name("step"), step_tensor(*step)?));
                    out.push((name("square_avg"), square_avg.clone()));
                }
            }
        }
        Ok(out)
    }

    /// Replaces the state with the tensors named `prefix<param>.<buffer>` in `tensors`,
    /// as written by [`Optimizer::state_tensors`]. Tensors are moved to each
    /// parameter's device. Every tensor under `prefix` must belong to a parameter
    /// of this optimizer with the right shape, and each parameter has either all
    /// of its buffers or none.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, prefix: &str) -> Result<()> {
        let buffers: &[&str] = match self.kind {
            OptimizerKind::Sgd => &["momentum_buffer"],
            OptimizerKind::Adam => &["step", "exp_avg", "exp_avg_sq"],
            OptimizerKind::Rmsprop => &["step", "square_avg"],
        };
        let mut expected: HashMap<String, (usize, &str)> = HashMap::new();
        for (idx, param) in self.params.iter().enumerate() {
            for buffer in buffers {
                expected.insert(format!("{prefix}{}.{buffer}", param.name), (idx, buffer));
            }
        }
        for name in tensors.keys().filter(|name| name.starts_with(prefix)) {
            if !expected.contains_key(name) {
                return Err(Error::OptimizerState {
                    name: name.clone(),
                    message: format!(
                        "not a state tensor of this {} optimizer over these parameters",
                        self.kind
                    ),
                });
            }
        }
        let mut states = Vec::with_capacity(self.params.len());
        for param in &self.params {
            let get = |buffer: &str| -> Result<Option<Tensor>> {
                let name = format!("{prefix}{}.{buffer}", param.name);
                let Some(t) = tensors.get(&name) else {
                    return Ok(None);
                };
                let want_shape = if buffer == "step" {
                    &[][..]
                } else {
                    param.var.dims()
                };
                if t.dims() != want_shape {
                    return Err(Error::OptimizerState {
                        name,
                        message: format!("shape {:?}, expected {:?}", t.dims(), want_shape),
                    });
                }
                let t = if buffer == "step" {
                    t.to_dtype(DType::I64)?
                } else {
                    t.to_dtype(param.var.dtype())?
                        .to_device(param.var.device())?
                };
                Ok(Some(t))
            };
            let found: Vec<Option<Tensor>> =
                buffers.iter().map(|b| get(b)).collect::<Result<_>>()?;
            let n_found = found.iter().filter(|t| t.is_some()).count();
            if n_found == 0 {
                states.push(ParamState::Empty);
                continue;
            }
            if n_found != buffers.len() {
                return Err(Error::OptimizerState {
                    name: format!("{prefix}{}", param.name),
                    message: format!("incomplete state, expected all of {buffers:?}"),
                });
            }
            let mut found = found.into_iter().flatten();
            let mut next = || {
                found
                    .next()
                    .ok_or_else(|| candle::Error::Msg("unreachable".into()))
            };
            let to_step = |t: Tensor| -> Result<u64> {
                let step = t.to_scalar::<i64>()?;
                u64::try_from(step).map_err(|_| Error::OptimizerState {
                    name: format!("{prefix}{}.step", param.name),
                    message: format!("negative step {step}"),
                })
            };
            let state = match self.kind {
                OptimizerKind::Sgd => ParamState::Sgd {
                    momentum_buffer: next()?,
                },
                OptimizerKind::Adam => ParamState::Adam {
                    step: to_step(next()?)?,
                    exp_avg: next()?,
                    exp_avg_sq: next()?,
                },
                OptimizerKind::Rmsprop => ParamState::Rmsprop {
                    step: to_step(next()?)?,
                    square_avg: next()?,
                },
            };
            states.push(state);
        }
        for (param, state) in self.params.iter_mut().zip(states) {
            param.state = state;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
