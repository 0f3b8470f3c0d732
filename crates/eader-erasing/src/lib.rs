//! Attention maps to erased images, differentiably: the step that makes EADER end-to-end
//! (dataset → models → attention maps → **erasing** → adversarial → losses).
//!
//! The localizer's low-resolution class maps `(P, h, w)` (one per image and positive class)
//! go through three stages, each a candle custom op with forward and backward:
//! 1. [`upsample_normalize`]: bilinear upsampling to the image size (PyTorch's
//!    `align_corners=False` sampling), then per-map min-max normalisation to `[0, 1]`
//!    (a map whose range is 0 stays 0). candle's own `upsample_bilinear2d` has no backward.
//! 2. [`soft_mask`]: `m = sigmoid(omega (g - sigma))` ([`OMEGA`] 100, [`SIGMA`] 0.5).
//! 3. [`erase`]: `x (1 - m)` on a `(P, C, H, W)` image batch, the same mask on every channel.
//!
//! [`mask_and_erase`] fuses 2 and 3: it returns the mask and the erased images. The mask is
//! computed once (one sigmoid per pixel, forward and backward together); the erasing reads
//! it, and its backward is one pass writing the images' gradient and the map's (through
//! `omega m (1 - m)` of the same mask), so the mask's gradient is never materialised. A
//! gradient is computed only for inputs that track one (images are usually data).
//!
//! Every op runs on the CPU (rayon over maps and rows or blocks of pixels, no intermediate
//! tensor beyond the outputs, per-row sums and per-map scalars) and, with the `cuda` feature, on candle's CUDA device (CUDA C kernels beside each
//! op, compiled once per process with NVRTC, the module cached per device). f32 and f64.
//! Each op has a `*_ref` twin composed of plain candle ops: the tests hold the ops to it, to
//! finite differences and to PyTorch fixtures.
//!
//! # Gradients at the min and the max
//! The backward of [`upsample_normalize`] is PyTorch autograd's on
//! `s = u - u.amin(); d = s.amax(); g = s / where(d != 0, d, 1)`, including the gradient
//! through the min and the max. Tied extrema share it evenly, as `amin`/`amax` do (the
//! reference code's `min(dim)`/`max(dim)` would give it all to one index instead); a map
//! whose range is 0 gets `dg - mean(dg)`, upsampled back, as autograd gives it.
#![warn(missing_docs)]

mod error;
#[cfg(any(test, feature = "cuda"))]
mod kernels;
mod ops;

pub use error::{Error, Result};
pub use ops::erase::{erase, erase_ref, mask_and_erase, mask_and_erase_ref};
pub use ops::soft_mask::{soft_mask, soft_mask_ref, OMEGA, SIGMA};
pub use ops::upsample_normalize::{upsample_normalize, upsample_normalize_ref};
