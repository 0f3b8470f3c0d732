//! Erasing `x (1 - m)` of a `(P, C, H, W)` image batch with a `(P, H, W)` mask, and the fused
//! [`mask_and_erase`] whose erasing reads the soft mask it has just computed and whose
//! backward reaches the maps straight through `omega m (1 - m)`.
//!
//! One sigmoid per pixel in all: the forward computes the mask once ([`soft_mask`]), the
//! erasing and both backward gradients reuse it. The backward is one pass over the images
//! and their gradient that writes the images' gradient and the mask's (or map's) together.

use std::mem::MaybeUninit;

use candle::backend::BackendStorage;
use candle::WithDType;
use candle::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::soft_mask::{check_mask_and_images, soft_mask, soft_mask_ref};
use super::{cpu_data, uninit_output, with_float, Real};
use crate::Result;

/// `(x (P, C, H, W), mask (P, H, W)) -> x (1 - m)`: [`erase`].
struct Erase;

/// `(x (P, C, H, W), maps (P, H, W), mask (P, H, W)) -> x (1 - m)`, the erasing half of
/// [`mask_and_erase`]: `mask` is the (detached) soft mask of `maps`, which only receive
/// the gradient, `-sum_c dy x omega m (1 - m)`.
struct MaskErase {
    omega: f64,
}

/// `(x, mask, grad_y) -> [grad_x | grad_mask]`, one flat buffer: `grad_x = dy (1 - m)`
/// `(P, C, H, W)` when `images`, then `grad_mask = -sum_c dy x` `(P, H, W)` when `mask`,
/// times `omega m (1 - m)` (the gradient to the soft mask's maps) when `omega` is set.
struct EraseBackward {
    images: bool,
    mask: bool,
    omega: Option<f64>,
}

/// `(plane, channels)` of a `(P, C, H, W)` layout.
fn plane_and_channels(layout: &Layout) -> (usize, usize) {
    let dims = layout.dims();
    (dims[2] * dims[3], dims[1])
}

/// Pixels per rayon task of the erasing kernels (and length of the backward's stack
/// accumulator): maps are split into blocks, so that few maps still use every core.
const BLOCK: usize = 2048;

/// `x (1 - m)`, parallel over planes and blocks of pixels.
fn erase_cpu<T: Real>(x: &[T], mask: &[T], plane: usize, channels: usize) -> Vec<T> {
    let fill = |out: &mut [MaybeUninit<T>]| {
        out.par_chunks_mut(plane)
            .zip(x.par_chunks(plane))
            .enumerate()
            .for_each(|(pc, (out, x))| {
                let mask = &mask[pc / channels * plane..][..plane];
                out.par_chunks_mut(BLOCK)
                    .zip(x.par_chunks(BLOCK))
                    .zip(mask.par_chunks(BLOCK))
                    .for_each(|((out, x), mask)| {
                        for ((o, &x), &m) in out.iter_mut().zip(x).zip(mask) {
                            o.write(x * (T::ONE - m));
                        }
                    });
            })
    };
    // SAFETY: the planes of `x` tile `out`, and every element of each is written.
    unsafe { uninit_output(x.len(), fill) }
}

/// One block of the backward: pixels `start..start + len` of the flattened `(P, H, W)`
/// mask, with the slices of the outputs that it writes (one per channel for the images'
/// gradient, none when it is not wanted).
struct Block<'a, T> {
    start: usize,
    grad_x: Vec<&'a mut [MaybeUninit<T>]>,
    grad_mask: Option<&'a mut [MaybeUninit<T>]>,
}

/// Splits the outputs of the backward into [`Block`]s of up to [`BLOCK`] pixels, map by map.
fn blocks<'a, T>(
    grad_x: &'a mut [MaybeUninit<T>],
    grad_mask: &'a mut [MaybeUninit<T>],
    pixels: usize,
    plane: usize,
    channels: usize,
) -> Vec<Block<'a, T>> {
    let per_map = plane.div_ceil(BLOCK);
    let mut blocks: Vec<Block<'a, T>> = (0..pixels / plane * per_map)
        .map(|b| Block {
            start: b / per_map * plane + b % per_map * BLOCK,
            grad_x: Vec::with_capacity(if grad_x.is_empty() { 0 } else { channels }),
            grad_mask: None,
        })
        .collect();
    for (pc, grad_x) in grad_x.chunks_mut(plane).enumerate() {
        let first = pc / channels * per_map;
        for (block, chunk) in blocks[first..].iter_mut().zip(grad_x.chunks_mut(BLOCK)) {
            block.grad_x.push(chunk);
        }
    }
    for (p, grad_mask) in grad_mask.chunks_mut(plane).enumerate() {
        for (block, chunk) in blocks[p * per_map..]
            .iter_mut()
            .zip(grad_mask.chunks_mut(BLOCK))
        {
            block.grad_mask = Some(chunk);
        }
    }
    blocks
}

/// [`EraseBackward`] on the CPU: one pass over `x` and `dy`, parallel over maps and
/// blocks of pixels, the channel sum in a stack buffer.
fn erase_backward_cpu<T: Real>(
    x: &[T],
    mask: &[T],
    grad_y: &[T],
    (plane, channels): (usize, usize),
    op: &EraseBackward,
) -> Vec<T> {
    let len_x = if op.images { x.len() } else { 0 };
    let len_mask = if op.mask { mask.len() } else { 0 };
    let omega = op.omega.map(T::from_f64);
    let fill = |out: &mut [MaybeUninit<T>]| {
        let (grad_x, grad_mask) = out.split_at_mut(len_x);
        blocks(grad_x, grad_mask, mask.len(), plane, channels)
            .into_par_iter()
            .for_each(|mut block| {
                let (p, offset) = (block.start / plane, block.start % plane);
                let len = BLOCK.min(plane - offset);
                let mask = &mask[block.start..][..len];
                let mut acc = [T::ZERO; BLOCK];
                let acc = &mut acc[..len];
                for c in 0..channels {
                    let start = (p * channels + c) * plane + offset;
                    let (x, dy) = (&x[start..][..len], &grad_y[start..][..len]);
                    if let Some(grad_x) = block.grad_x.get_mut(c) {
                        for ((g, &dy), &m) in grad_x.iter_mut().zip(dy).zip(mask) {
                            g.write(dy * (T::ONE - m));
                        }
                    }
                    if block.grad_mask.is_some() {
                        for ((a, &dy), &x) in acc.iter_mut().zip(dy).zip(x) {
                            *a += dy * x;
                        }
                    }
                }
                match (block.grad_mask, omega) {
                    (Some(grad_maps), Some(omega)) => {
                        for ((g, &a), &m) in grad_maps.iter_mut().zip(&*acc).zip(mask) {
                            g.write((T::ZERO - a) * omega * m * (T::ONE - m));
                        }
                    }
                    (Some(grad_mask), None) => {
                        for (g, &a) in grad_mask.iter_mut().zip(&*acc) {
                            g.write(T::ZERO - a);
                        }
                    }
                    (None, _) => {}
                }
            })
    };
    // SAFETY: the blocks tile every map; each writes all its pixels of every channel of
    // the images' gradient (when there is one) and of the mask's.
    unsafe { uninit_output(len_x + len_mask, fill) }
}

/// The forward of [`Erase`] and [`MaskErase`] from the images' and the mask's storages.
fn erase_fwd_cpu(
    name: &str,
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
) -> candle::Result<(CpuStorage, Shape)> {
    let (plane, channels) = plane_and_channels(l1);
    with_float!(name, s1.dtype(), T => {
        let x = cpu_data::<T>(s1, l1, name)?;
        let mask = cpu_data::<T>(s2, l2, name)?;
        let out = erase_cpu(x, mask, plane, channels);
        Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
    })
}

/// The forward of [`Erase`] and [`MaskErase`] on CUDA, one thread per element.
#[cfg(feature = "cuda")]
fn erase_fwd_cuda(
    name: &str,
    (s1, l1): (&candle::CudaStorage, &Layout),
    (s2, l2): (&candle::CudaStorage, &Layout),
) -> candle::Result<(candle::CudaStorage, Shape)> {
    use super::cuda::{cuda_data, function, per_element};
    use candle::cuda_backend::cudarc::driver::PushKernelArg;
    use candle::cuda_backend::WrapErr;

    let device = s1.device().clone();
    let n = l1.shape().elem_count();
    let (plane, channels) = plane_and_channels(l1);
    with_float!(name, s1.dtype(), T => {
        let x = cuda_data::<T>(s1, l1, name)?;
        let mask = cuda_data::<T>(s2, l2, name)?;
        // SAFETY: every element is written by the kernel.
        let out = unsafe { device.alloc::<T>(n)? };
        let func = function(&device, &crate::kernels::ERASE, "erase_fwd", s1.dtype())?;
        let stream = device.cuda_stream();
        let mut args = stream.launch_builder(&func);
        let (plane, channels, len) = (plane as u64, channels as u64, n as u64);
        args.arg(&x).arg(&mask).arg(&out).arg(&plane).arg(&channels).arg(&len);
        // SAFETY: argument types match the kernel's signature.
        unsafe { args.launch(per_element(n)) }.w()?;
        Ok((candle::CudaStorage::wrap_cuda_slice(out, device), l1.shape().clone()))
    })
}

impl EraseBackward {
    /// The gradients `(to images, to mask or maps)` of `x (1 - mask)` for `grad_y`, those
    /// of inputs that track no gradient left out.
    fn run(
        images: &Tensor,
        target: &Tensor,
        mask: &Tensor,
        grad_y: &Tensor,
        omega: Option<f64>,
    ) -> candle::Result<(Option<Tensor>, Option<Tensor>)> {
        let op = EraseBackward {
            images: images.track_op(),
            mask: target.track_op(),
            omega,
        };
        if !op.images && !op.mask {
            return Ok((None, None));
        }
        let out = images.apply_op3_no_bwd(mask, &grad_y.contiguous()?, &op)?;
        let len_x = if op.images { images.elem_count() } else { 0 };
        let grad_x = if op.images {
            Some(out.narrow(0, 0, len_x)?.reshape(images.shape())?)
        } else {
            None
        };
        let grad_mask = if op.mask {
            Some(
                out.narrow(0, len_x, mask.elem_count())?
                    .reshape(mask.shape())?,
            )
        } else {
            None
        };
        Ok((grad_x, grad_mask))
    }

    fn out_len(&self, l1: &Layout, l2: &Layout) -> usize {
        let len_x = if self.images {
            l1.shape().elem_count()
        } else {
            0
        };
        let len_mask = if self.mask {
            l2.shape().elem_count()
        } else {
            0
        };
        len_x + len_mask
    }
}

impl CustomOp2 for Erase {
    fn name(&self) -> &'static str {
        "erase"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        erase_fwd_cpu(self.name(), (s1, l1), (s2, l2))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle::CudaStorage,
        l1: &Layout,
        s2: &candle::CudaStorage,
        l2: &Layout,
    ) -> candle::Result<(candle::CudaStorage, Shape)> {
        erase_fwd_cuda(self.name(), (s1, l1), (s2, l2))
    }

    fn bwd(
        &self,
        images: &Tensor,
        mask: &Tensor,
        _erased: &Tensor,
        grad_erased: &Tensor,
    ) -> candle::Result<(Option<Tensor>, Option<Tensor>)> {
        EraseBackward::run(images, mask, mask, grad_erased, None)
    }
}

impl CustomOp3 for MaskErase {
    fn name(&self) -> &'static str {
        "mask-erase"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        _s2: &CpuStorage,
        _l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        erase_fwd_cpu(self.name(), (s1, l1), (s3, l3))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle::CudaStorage,
        l1: &Layout,
        _s2: &candle::CudaStorage,
        _l2: &Layout,
        s3: &candle::CudaStorage,
        l3: &Layout,
    ) -> candle::Result<(candle::CudaStorage, Shape)> {
        erase_fwd_cuda(self.name(), (s1, l1), (s3, l3))
    }

    fn bwd(
        &self,
        images: &Tensor,
        maps: &Tensor,
        mask: &Tensor,
        _erased: &Tensor,
        grad_erased: &Tensor,
    ) -> candle::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (grad_images, grad_maps) =
            EraseBackward::run(images, maps, mask, grad_erased, Some(self.omega))?;
        Ok((grad_images, grad_maps, None))
    }
}

impl CustomOp3 for EraseBackward {
    fn name(&self) -> &'static str {
        "erase-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let dims = plane_and_channels(l1);
        with_float!(self.name(), s1.dtype(), T => {
            let x = cpu_data::<T>(s1, l1, self.name())?;
            let mask = cpu_data::<T>(s2, l2, self.name())?;
            let grad = cpu_data::<T>(s3, l3, self.name())?;
            let out = erase_backward_cpu(x, mask, grad, dims, self);
            Ok((T::to_cpu_storage_owned(out), Shape::from(self.out_len(l1, l2))))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle::CudaStorage,
        l1: &Layout,
        s2: &candle::CudaStorage,
        l2: &Layout,
        s3: &candle::CudaStorage,
        l3: &Layout,
    ) -> candle::Result<(candle::CudaStorage, Shape)> {
        use super::cuda::{cuda_data, function, per_element};
        use candle::cuda_backend::cudarc::driver::PushKernelArg;
        use candle::cuda_backend::WrapErr;

        let device = s1.device().clone();
        let pixels = l2.shape().elem_count();
        let (plane, channels) = plane_and_channels(l1);
        let len = self.out_len(l1, l2);
        with_float!(self.name(), s1.dtype(), T => {
            let x = cuda_data::<T>(s1, l1, self.name())?;
            let mask = cuda_data::<T>(s2, l2, self.name())?;
            let grad = cuda_data::<T>(s3, l3, self.name())?;
            // SAFETY: every element is written by the kernel.
            let out = unsafe { device.alloc::<T>(len)? };
            let func = function(&device, &crate::kernels::ERASE, "erase_bwd", s1.dtype())?;
            let stream = device.cuda_stream();
            let mut args = stream.launch_builder(&func);
            let (plane, channels, pixels_u) = (plane as u64, channels as u64, pixels as u64);
            let flags = [self.images, self.mask, self.omega.is_some()].map(i32::from);
            let omega = T::from_f64(self.omega.unwrap_or(0.0));
            args.arg(&x).arg(&mask).arg(&grad).arg(&out).arg(&plane).arg(&channels).arg(&pixels_u);
            args.arg(&flags[0]).arg(&flags[1]).arg(&flags[2]).arg(&omega);
            // SAFETY: argument types match the kernel's signature.
            unsafe { args.launch(per_element(pixels)) }.w()?;
            Ok((candle::CudaStorage::wrap_cuda_slice(out, device), Shape::from(len)))
        })
    }
}

/// Erases `images` `(P, C, H, W)` with `mask` `(P, H, W)`: `images (1 - mask)`, the same mask
/// on every channel, with gradients to both.
pub fn erase(images: &Tensor, mask: &Tensor) -> Result<Tensor> {
    check_mask_and_images("erase", mask, images)?;
    let (images, mask) = (images.contiguous()?, mask.contiguous()?);
    Ok(images.apply_op2(&mask, Erase)?)
}

/// [`erase`] composed of plain candle ops.
pub fn erase_ref(images: &Tensor, mask: &Tensor) -> Result<Tensor> {
    check_mask_and_images("erase_ref", mask, images)?;
    let keep = mask.affine(-1.0, 1.0)?.unsqueeze(1)?;
    Ok(images.broadcast_mul(&keep)?)
}

/// Soft mask and erasing in one call: from normalised maps `(P, H, W)` and images
/// `(P, C, H, W)`, returns `(mask (P, H, W), erased (P, C, H, W))` with
/// `mask = sigmoid(omega (maps - sigma))` and `erased = images (1 - mask)`. The mask is
/// computed once and the erasing reads it; the erasing's backward takes the gradient
/// straight to `maps` (`omega m (1 - m)` from the same mask, no gradient tensor of the mask
/// in between), and to `images` when they track gradients. Gradients reach `maps` from
/// both outputs.
pub fn mask_and_erase(
    maps: &Tensor,
    images: &Tensor,
    omega: f64,
    sigma: f64,
) -> Result<(Tensor, Tensor)> {
    check_mask_and_images("mask_and_erase", maps, images)?;
    let maps = maps.contiguous()?;
    let mask = soft_mask(&maps, omega, sigma)?;
    let erased = images
        .contiguous()?
        .apply_op3(&maps, &mask.detach(), MaskErase { omega })?;
    Ok((mask, erased))
}

/// [`mask_and_erase`] composed of plain candle ops.
pub fn mask_and_erase_ref(
    maps: &Tensor,
    images: &Tensor,
    omega: f64,
    sigma: f64,
) -> Result<(Tensor, Tensor)> {
    check_mask_and_images("mask_and_erase_ref", maps, images)?;
    let mask = soft_mask_ref(maps, omega, sigma)?;
    let erased = erase_ref(images, &mask)?;
    Ok((mask, erased))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::soft_mask::{OMEGA, SIGMA};
    use crate::ops::test_utils::*;
    use candle::{DType, Device};

    /// `sum(mask * wm) + sum(erased * we)`, so both outputs feed the gradient.
    fn fused_loss(
        maps: &Tensor,
        images: &Tensor,
        wm: &Tensor,
        we: &Tensor,
        omega: f64,
        sigma: f64,
        reference: bool,
    ) -> Tensor {
        let (mask, erased) = if reference {
            mask_and_erase_ref(maps, images, omega, sigma).unwrap()
        } else {
            mask_and_erase(maps, images, omega, sigma).unwrap()
        };
        ((mask * wm).unwrap().sum_all().unwrap() + (erased * we).unwrap().sum_all().unwrap())
            .unwrap()
    }

    #[test]
    fn forward_and_gradients_match_pytorch() {
        let fx = fixtures();
        for dtype in [DType::F32, DType::F64] {
            let get = |k: &str| fx[k].to_dtype(dtype).unwrap();
            let (g, x, wm, we) = (
                get("erase_g"),
                get("erase_x"),
                get("erase_wm"),
                get("erase_we"),
            );
            let tol = tolerance(dtype);
            let (mask, erased) = mask_and_erase(&g, &x, OMEGA, SIGMA).unwrap();
            assert_close(&mask, &fx["mask"], tol, tol, "mask vs pytorch");
            assert_close(&erased, &fx["erased"], tol, tol, "erased vs pytorch");
            assert_close(
                &erase(&x, &mask).unwrap(),
                &fx["erased"],
                tol,
                tol,
                "erase vs pytorch",
            );
            let (gv, xv) = (
                candle::Var::from_tensor(&g).unwrap(),
                candle::Var::from_tensor(&x).unwrap(),
            );
            let grads = fused_loss(&gv, &xv, &wm, &we, OMEGA, SIGMA, false)
                .backward()
                .unwrap();
            // The gradient through a sigmoid of slope 100 scales errors by up to 25.
            let gtol = if dtype == DType::F32 { 1e-3 } else { 1e-10 };
            assert_close(
                grads.get(&gv).unwrap(),
                &fx["erase_grad_g"],
                gtol,
                gtol,
                "grad g vs pytorch",
            );
            assert_close(
                grads.get(&xv).unwrap(),
                &fx["erase_grad_x"],
                tol,
                tol,
                "grad x vs pytorch",
            );
        }
    }

    #[test]
    fn fused_matches_composition_and_ref() {
        let device = Device::Cpu;
        let g = random(&[3, 5, 4], 1, 0.0, 1.0, DType::F64, &device);
        let x = random(&[3, 2, 5, 4], 2, -2.0, 2.0, DType::F64, &device);
        let (mask, erased) = mask_and_erase(&g, &x, 6.0, 0.4).unwrap();
        let (mask_ref, erased_ref) = mask_and_erase_ref(&g, &x, 6.0, 0.4).unwrap();
        assert_close(&mask, &mask_ref, 1e-14, 1e-14, "mask");
        assert_close(&erased, &erased_ref, 1e-14, 1e-14, "erased");
        let composed = erase(&x, &soft_mask(&g, 6.0, 0.4).unwrap()).unwrap();
        assert_close(&erased, &composed, 1e-14, 1e-14, "fused vs composed");
    }

    #[test]
    fn gradients_match_ref_and_finite_differences() {
        let device = Device::Cpu;
        let g = random(&[2, 3, 5], 3, 0.2, 0.8, DType::F64, &device);
        let x = random(&[2, 3, 3, 5], 4, -2.0, 2.0, DType::F64, &device);
        let wm = random(&[2, 3, 5], 5, -1.0, 1.0, DType::F64, &device);
        let we = random(&[2, 3, 3, 5], 6, -1.0, 1.0, DType::F64, &device);
        let (omega, sigma) = (5.0, 0.55);
        for reference in [false, true] {
            let dg = grad_of(&g, |g| fused_loss(g, &x, &wm, &we, omega, sigma, reference));
            let dx = grad_of(&x, |x| fused_loss(&g, x, &wm, &we, omega, sigma, reference));
            let dg_num = finite_differences(
                &g,
                |g| fused_loss(g, &x, &wm, &we, omega, sigma, false),
                1e-6,
            );
            let dx_num = finite_differences(
                &x,
                |x| fused_loss(&g, x, &wm, &we, omega, sigma, false),
                1e-6,
            );
            assert_close(
                &dg,
                &dg_num,
                1e-6,
                1e-8,
                "fused grad g vs finite differences",
            );
            assert_close(
                &dx,
                &dx_num,
                1e-6,
                1e-8,
                "fused grad x vs finite differences",
            );
        }
        // The unfused pair: erase's own backward to the mask and the images.
        let mask = random(&[2, 3, 5], 7, 0.0, 1.0, DType::F64, &device);
        let loss =
            |x: &Tensor, m: &Tensor| (erase(x, m).unwrap() * &we).unwrap().sum_all().unwrap();
        let dm = grad_of(&mask, |m| loss(&x, m));
        let dm_num = finite_differences(&mask, |m| loss(&x, m), 1e-6);
        assert_close(
            &dm,
            &dm_num,
            1e-6,
            1e-8,
            "erase grad mask vs finite differences",
        );
        let dx = grad_of(&x, |x| loss(x, &mask));
        let dx_ref = grad_of(&x, |x| {
            (erase_ref(x, &mask).unwrap() * &we)
                .unwrap()
                .sum_all()
                .unwrap()
        });
        assert_close(&dx, &dx_ref, 1e-14, 1e-14, "erase grad x vs ref");
    }

    /// Maps larger than one block (2491 pixels: a full block and a partial one): the
    /// blocked kernels against the ref, with both inputs tracking gradients and each alone.
    #[test]
    fn blocked_kernels_match_ref_on_maps_of_several_blocks() {
        let device = Device::Cpu;
        let g = random(&[2, 47, 53], 31, 0.3, 0.7, DType::F64, &device);
        let x = random(&[2, 3, 47, 53], 32, -2.0, 2.0, DType::F64, &device);
        let wm = random(&[2, 47, 53], 33, -1.0, 1.0, DType::F64, &device);
        let we = random(&[2, 3, 47, 53], 34, -1.0, 1.0, DType::F64, &device);
        let (omega, sigma) = (20.0, 0.5);
        let close = |a: &Tensor, b: &Tensor, what: &str| assert_close(a, b, 1e-12, 1e-12, what);

        let (mask, erased) = mask_and_erase(&g, &x, omega, sigma).unwrap();
        let (mask_ref, erased_ref) = mask_and_erase_ref(&g, &x, omega, sigma).unwrap();
        close(&mask, &mask_ref, "mask");
        close(&erased, &erased_ref, "erased");

        let both = |reference: bool| {
            let (gv, xv) = (
                candle::Var::from_tensor(&g).unwrap(),
                candle::Var::from_tensor(&x).unwrap(),
            );
            let grads = fused_loss(&gv, &xv, &wm, &we, omega, sigma, reference)
                .backward()
                .unwrap();
            [gv.as_tensor(), xv.as_tensor()].map(|v| grads.get(v).unwrap().clone())
        };
        let [dg, dx] = both(false);
        let [dg_ref, dx_ref] = both(true);
        close(&dg, &dg_ref, "grad g, both tracked");
        close(&dx, &dx_ref, "grad x, both tracked");
        let dg = grad_of(&g, |g| fused_loss(g, &x, &wm, &we, omega, sigma, false));
        close(&dg, &dg_ref, "grad g alone");
        let dx = grad_of(&x, |x| fused_loss(&g, x, &wm, &we, omega, sigma, false));
        close(&dx, &dx_ref, "grad x alone");

        let erase_loss = |f: fn(&Tensor, &Tensor) -> Result<Tensor>, m: &Tensor| {
            (f(&x, m).unwrap() * &we).unwrap().sum_all().unwrap()
        };
        let dm = grad_of(&mask, |m| erase_loss(erase, m));
        let dm_ref = grad_of(&mask, |m| erase_loss(erase_ref, m));
        close(&dm, &dm_ref, "erase grad mask");
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let device = Device::Cpu;
        let x = Tensor::zeros((2, 3, 4, 5), DType::F32, &device).unwrap();
        let bad = Tensor::zeros((2, 4, 4), DType::F32, &device).unwrap();
        let err = erase(&x, &bad).unwrap_err().to_string();
        assert!(err.contains("erase") && err.contains("[2, 4, 4]"), "{err}");
        let err = mask_and_erase(&bad, &x.get(0).unwrap(), OMEGA, SIGMA)
            .unwrap_err()
            .to_string();
        assert!(err.contains("(P, C, H, W)"), "{err}");
        let f64_map = Tensor::zeros((2, 4, 5), DType::F64, &device).unwrap();
        let err = erase(&x, &f64_map).unwrap_err().to_string();
        assert!(err.contains("F32") && err.contains("F64"), "{err}");
    }

    fn check_device(device: &Device) {
        let g = random(&[3, 9, 13], 21, -0.1, 1.1, DType::F32, &Device::Cpu);
        let x = random(&[3, 3, 9, 13], 22, -2.0, 2.0, DType::F32, &Device::Cpu);
        let wm = random(&[3, 9, 13], 23, -1.0, 1.0, DType::F32, &Device::Cpu);
        let we = random(&[3, 3, 9, 13], 24, -1.0, 1.0, DType::F32, &Device::Cpu);
        let run = |device: &Device| {
            let on = |t: &Tensor| t.to_device(device).unwrap();
            let (g, x, wm, we) = (on(&g), on(&x), on(&wm), on(&we));
            let (mask, erased) = mask_and_erase(&g, &x, OMEGA, SIGMA).unwrap();
            let dg = grad_of(&g, |g| fused_loss(g, &x, &wm, &we, OMEGA, SIGMA, false));
            let dx = grad_of(&x, |x| fused_loss(&g, x, &wm, &we, OMEGA, SIGMA, false));
            let dm = grad_of(&mask, |m| {
                (erase(&x, m).unwrap() * &we).unwrap().sum_all().unwrap()
            });
            [mask, erased, dg, dx, dm].map(|t| t.to_device(&Device::Cpu).unwrap())
        };
        let on_device = run(device);
        let on_cpu = run(&Device::Cpu);
        for (name, (a, b)) in ["mask", "erased", "grad g", "grad x", "grad mask"]
            .iter()
            .zip(on_device.iter().zip(&on_cpu))
        {
            assert_close(a, b, 1e-5, 1e-6, name);
        }
        let (mask_ref, erased_ref) = mask_and_erase_ref(&g, &x, OMEGA, SIGMA).unwrap();
        assert_close(&on_device[0], &mask_ref, 1e-4, 1e-5, "mask vs ref");
        assert_close(&on_device[1], &erased_ref, 1e-4, 1e-5, "erased vs ref");
    }

    device_test!(check_device, erase_device_cpu, erase_device_cuda);
}
