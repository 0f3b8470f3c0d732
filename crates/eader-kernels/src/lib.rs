//! Fast CPU training kernels for eader's networks: the layers that dominate a
//! ResNet or VGG training step, as candle custom ops with forward and
//! backward passes.
//!
//! - [`conv2d`]: im2col + GEMM (the `gemm` crate) for any kernel size, stride,
//!   padding and dilation, with input- and weight-gradient kernels
//!   ([`conv2d_input_grad`], [`conv2d_weight_grad`]), batch x spatial
//!   threading and a reused scratch workspace.
//! - [`batch_norm_train`] / [`batch_norm_eval`]: batch norm fused with an
//!   optional ReLU, two passes over memory per direction;
//!   [`update_running_stats`] moves running statistics as PyTorch does.
//! - [`max_pool2d`] (argmax kept, PyTorch's tie rule), [`global_avg_pool`],
//!   [`add_relu`] (a residual block's join).
//!
//! Every op has a `*_ref` twin in candle's own ops. The public functions check
//! shapes, then run the fast kernel when the tensors are on the CPU in `f32`
//! or `f64` and the switch is on ([`set_fast_kernels`], or the environment
//! variable `EADER_FAST_KERNELS=0` to start with it off); otherwise (CUDA,
//! other dtypes) they run the `*_ref` twin. All tensors are NCHW.
//!
//! [`keep_freed_memory`] sets the allocator policy a training process wants
//! (freed buffers stay mapped for the next step).
//!
//! This crate sits below `eader-models` in the flow: it knows layers, not
//! networks.
#![warn(missing_docs)]

mod batch_norm;
mod conv;
mod element;
mod error;
mod gemm;
mod memory;
mod pool;
mod residual;
mod switch;
mod sync_ptr;
mod workspace;

pub use batch_norm::{
    batch_norm_eval, batch_norm_eval_ref, batch_norm_train, batch_norm_train_ref,
    update_running_stats, BatchNormConfig, BatchNormOutput,
};
pub use conv::{
    conv2d, conv2d_input_grad, conv2d_ref, conv2d_weight_grad, Conv2dConfig, ConvGeometry,
};
pub use element::Float;
pub use error::{Error, Result};
pub use memory::keep_freed_memory;
pub use pool::{global_avg_pool, global_avg_pool_ref, max_pool2d, max_pool2d_ref, MaxPoolConfig};
pub use residual::{add_relu, add_relu_ref};
pub use switch::{fast_kernels_enabled, set_fast_kernels};
