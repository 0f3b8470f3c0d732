//! Erasing `x (1 - m)` of a `(P, C, H, W)` image batch with a `(P, H, W)` mask, and the fused
//! [`mask_and_erase`] that computes the erased images straight from the normalised map.

use candle::backend::BackendStorage;
use candle::WithDType;
use candle::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::soft_mask::{check_mask_and_images, mask_value, soft_mask, soft_mask_ref};
use super::{cpu_data, with_float, Real};
use crate::Result;

/// Where the per-pixel mask comes from: the mask itself, or the map through the soft mask.
#[derive(Clone, Copy, Debug)]
enum MaskSource {
    Mask,
    Map { omega: f64, sigma: f64 },
}

impl MaskSource {
    /// The mask value of one stored element, in `T`.
    fn mask_fn<T: Real>(self) -> impl Fn(T) -> T + Sync + Send {
        let (from_map, omega, sigma) = match self {
            MaskSource::Mask => (false, 0.0, 0.0),
            MaskSource::Map { omega, sigma } => (true, omega, sigma),
        };
        let (omega, sigma) = (T::from_f64(omega), T::from_f64(sigma));
        move |v| {
            if from_map {
                mask_value(v, omega, sigma)
            } else {
                v
            }
        }
    }

    #[cfg(feature = "cuda")]
    fn kernel(self, mask: &'static str, map: &'static str) -> &'static str {
        match self {
            MaskSource::Mask => mask,
            MaskSource::Map { .. } => map,
        }
    }

    fn params(self) -> (f64, f64) {
        match self {
            MaskSource::Mask => (0.0, 0.0),
            MaskSource::Map { omega, sigma } => (omega, sigma),
        }
    }
}

/// `(x (P, C, H, W), mask or map (P, H, W)) -> x (1 - m)`. Run on `(grad_y, mask)` it is
/// also the images' gradient.
struct Erase(MaskSource);

/// `(x, mask or map, grad_y) -> grad` of the mask (`-sum_c dy x`) or of the map (that times
/// `omega m (1 - m)`), `(P, H, W)`.
struct EraseBackwardMask(MaskSource);

/// `(plane, channels)` of a `(P, C, H, W)` layout.
fn plane_and_channels(layout: &Layout) -> (usize, usize) {
    let dims = layout.dims();
    (dims[2] * dims[3], dims[1])
}

/// Pixels per block of the CPU erasing kernel: the block's mask values are computed once
/// into a stack buffer, then applied to every channel.
const BLOCK: usize = 1024;

fn erase_cpu<T: Real>(
    x: &[T],
    mask: &[T],
    plane: usize,
    channels: usize,
    source: MaskSource,
) -> Vec<T> {
    let mask_of = source.mask_fn::<T>();
    let mut out = vec![T::ZERO; x.len()];
    let image = channels * plane;
    out.par_chunks_mut(image)
        .zip(x.par_chunks(image))
        .zip(mask.par_chunks(plane))
        .for_each(|((out, x), mask)| {
            let mut keep = [T::ZERO; BLOCK];
            for start in (0..plane).step_by(BLOCK) {
                let len = BLOCK.min(plane - start);
                for (k, &m) in keep.iter_mut().zip(&mask[start..start + len]) {
                    *k = T::ONE - mask_of(m);
                }
                for c in 0..channels {
                    let offset = c * plane + start;
                    let (out, x) = (&mut out[offset..offset + len], &x[offset..offset + len]);
                    for ((o, &x), &k) in out.iter_mut().zip(x).zip(&keep[..len]) {
                        *o = x * k;
                    }
                }
            }
        });
    out
}

fn erase_bwd_mask_cpu<T: Real>(
    x: &[T],
    mask: &[T],
    grad_y: &[T],
    plane: usize,
    channels: usize,
    source: MaskSource,
) -> Vec<T> {
    let (omega, sigma) = source.params();
    let (omega, sigma) = (T::from_f64(omega), T::from_f64(sigma));
    let mut out = vec![T::ZERO; mask.len()];
    out.par_chunks_mut(plane).enumerate().for_each(|(p, out)| {
        let mask = &mask[p * plane..][..plane];
        for c in 0..channels {
            let start = (p * channels + c) * plane;
            let (x, dy) = (&x[start..][..plane], &grad_y[start..][..plane]);
            for ((o, &x), &dy) in out.iter_mut().zip(x).zip(dy) {
                *o += dy * x;
            }
        }
        for (o, &v) in out.iter_mut().zip(mask) {
            let mut g = T::ZERO - *o;
            if let MaskSource::Map { .. } = source {
                let m = mask_value(v, omega, sigma);
                g = g * omega * m * (T::ONE - m);
            }
            *o = g;
        }
    });
    out
}

impl CustomOp2 for Erase {
    fn name(&self) -> &'static str {
        match self.0 {
            MaskSource::Mask => "erase",
            MaskSource::Map { .. } => "mask-erase",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let (plane, channels) = plane_and_channels(l1);
        with_float!(self.name(), s1.dtype(), T => {
            let x = cpu_data::<T>(s1, l1, self.name())?;
            let mask = cpu_data::<T>(s2, l2, self.name())?;
            let out = erase_cpu(x, mask, plane, channels, self.0);
            Ok((T::to_cpu_storage_owned(out), l1.shape().clone()))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle::CudaStorage,
        l1: &Layout,
        s2: &candle::CudaStorage,
        l2: &Layout,
    ) -> candle::Result<(candle::CudaStorage, Shape)> {
        use candle::cuda_backend::cudarc::driver::PushKernelArg;
        use candle::cuda_backend::WrapErr;

        let device = s1.device().clone();
        let n = l1.shape().elem_count();
        let (plane, channels) = plane_and_channels(l1);
        let (Some((a1, b1)), Some((a2, b2))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle::bail!("{}: inputs must be contiguous", self.name())
        };
        let kernel = self.0.kernel("erase_fwd", "mask_erase_fwd");
        let (omega, sigma) = self.0.params();
        with_float!(self.name(), s1.dtype(), T => {
            let x = s1.as_cuda_slice::<T>()?.slice(a1..b1);
            let mask = s2.as_cuda_slice::<T>()?.slice(a2..b2);
            // SAFETY: every element is written by the kernel.
            let out = unsafe { device.alloc::<T>(n)? };
            let func = super::cuda::function(&device, &crate::kernels::ERASE, kernel, s1.dtype())?;
            let stream = device.cuda_stream();
            let mut args = stream.launch_builder(&func);
            let (plane, channels, len) = (plane as u64, channels as u64, n as u64);
            let (omega, sigma) = (T::from_f64(omega), T::from_f64(sigma));
            args.arg(&x).arg(&mask).arg(&out).arg(&plane).arg(&channels).arg(&len);
            if let MaskSource::Map { .. } = self.0 {
                args.arg(&omega).arg(&sigma);
            }
            // SAFETY: argument types match the kernel's signature.
            unsafe { args.launch(super::cuda::per_element(n)) }.w()?;
            Ok((candle::CudaStorage::wrap_cuda_slice(out, device), l1.shape().clone()))
        })
    }

    fn bwd(
        &self,
        images: &Tensor,
        mask: &Tensor,
        _erased: &Tensor,
        grad_erased: &Tensor,
    ) -> candle::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad_erased = grad_erased.contiguous()?;
        let grad_images = grad_erased.apply_op2_no_bwd(mask, &Erase(self.0))?;
        let grad_mask = images.apply_op3_no_bwd(mask, &grad_erased, &EraseBackwardMask(self.0))?;
        Ok((Some(grad_images), Some(grad_mask)))
    }
}

impl CustomOp3 for EraseBackwardMask {
    fn name(&self) -> &'static str {
        match self.0 {
            MaskSource::Mask => "erase-backward-mask",
            MaskSource::Map { .. } => "mask-erase-backward-maps",
        }
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
        let (plane, channels) = plane_and_channels(l1);
        with_float!(self.name(), s1.dtype(), T => {
            let x = cpu_data::<T>(s1, l1, self.name())?;
            let mask = cpu_data::<T>(s2, l2, self.name())?;
            let grad = cpu_data::<T>(s3, l3, self.name())?;
            let out = erase_bwd_mask_cpu(x, mask, grad, plane, channels, self.0);
            Ok((T::to_cpu_storage_owned(out), l2.shape().clone()))
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
        use candle::cuda_backend::cudarc::driver::PushKernelArg;
        use candle::cuda_backend::WrapErr;

        let device = s1.device().clone();
        let n = l2.shape().elem_count();
        let (plane, channels) = plane_and_channels(l1);
        let (Some((a1, b1)), Some((a2, b2)), Some((a3, b3))) = (
            l1.contiguous_offsets(),
            l2.contiguous_offsets(),
            l3.contiguous_offsets(),
        ) else {
            candle::bail!("{}: inputs must be contiguous", self.name())
        };
        let (omega, sigma) = self.0.params();
        with_float!(self.name(), s1.dtype(), T => {
            let x = s1.as_cuda_slice::<T>()?.slice(a1..b1);
            let mask = s2.as_cuda_slice::<T>()?.slice(a2..b2);
            let grad = s3.as_cuda_slice::<T>()?.slice(a3..b3);
            // SAFETY: every element is written by the kernel.
            let out = unsafe { device.alloc::<T>(n)? };
            let stream = device.cuda_stream();
            let (plane, channels, len) = (plane as u64, channels as u64, n as u64);
            let (omega, sigma) = (T::from_f64(omega), T::from_f64(sigma));
            let func;
            let mut args = match self.0 {
                MaskSource::Mask => {
                    func = super::cuda::function(&device, &crate::kernels::ERASE, "erase_bwd_mask", s1.dtype())?;
                    let mut args = stream.launch_builder(&func);
                    args.arg(&x).arg(&grad).arg(&out).arg(&plane).arg(&channels).arg(&len);
                    args
                }
                MaskSource::Map { .. } => {
                    func = super::cuda::function(&device, &crate::kernels::ERASE, "mask_erase_bwd_maps", s1.dtype())?;
                    let mut args = stream.launch_builder(&func);
                    args.arg(&x).arg(&mask).arg(&grad).arg(&out).arg(&plane).arg(&channels).arg(&len);
                    args.arg(&omega).arg(&sigma);
                    args
                }
            };
            // SAFETY: argument types match the kernel's signature.
            unsafe { args.launch(super::cuda::per_element(n)) }.w()?;
            Ok((candle::CudaStorage::wrap_cuda_slice(out, device), l2.shape().clone()))
        })
    }
}

/// Erases `images` `(P, C, H, W)` with `mask` `(P, H, W)`: `images (1 - mask)`, the same mask
/// on every channel, with gradients to both.
pub fn erase(images: &Tensor, mask: &Tensor) -> Result<Tensor> {
    check_mask_and_images("erase", mask, images)?;
    let (images, mask) = (images.contiguous()?, mask.contiguous()?);
    Ok(images.apply_op2(&mask, Erase(MaskSource::Mask))?)
}

/// [`erase`] composed of plain candle ops.
pub fn erase_ref(images: &Tensor, mask: &Tensor) -> Result<Tensor> {
    check_mask_and_images("erase_ref", mask, images)?;
    let keep = mask.affine(-1.0, 1.0)?.unsqueeze(1)?;
    Ok(images.broadcast_mul(&keep)?)
}

/// Soft mask and erasing in one call: from normalised maps `(P, H, W)` and images
/// `(P, C, H, W)`, returns `(mask (P, H, W), erased (P, C, H, W))` with
/// `mask = sigmoid(omega (maps - sigma))` and `erased = images (1 - mask)`. The erased
/// images are computed from the maps directly (one kernel, mask recomputed in registers),
/// and so is their backward: gradients reach `maps` from both outputs, and `images`.
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
        .apply_op2(&maps, Erase(MaskSource::Map { omega, sigma }))?;
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
