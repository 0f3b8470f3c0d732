//! Soft mask `m = sigmoid(omega (g - sigma))` of normalised attention maps.

use candle::backend::BackendStorage;
use candle::WithDType;
use candle::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::{check_float, check_same, cpu_data, with_float, Real};
use crate::Result;

/// Default steepness of the soft mask (method.md: omega = 100).
pub const OMEGA: f64 = 100.0;
/// Default threshold of the soft mask (method.md: sigma = 0.5).
pub const SIGMA: f64 = 0.5;

/// Elements per rayon task of the element-wise kernels.
pub(crate) const MIN_LEN: usize = 1 << 14;

/// `sigmoid(omega (g - sigma))`, as `eader_soft_mask` in `common.cuh` computes it.
#[inline(always)]
pub(crate) fn mask_value<T: Real>(g: T, omega: T, sigma: T) -> T {
    let z = omega * (g - sigma);
    T::ONE / (T::ONE + (T::ZERO - z).exp())
}

struct SoftMask {
    omega: f64,
    sigma: f64,
}

impl CustomOp1 for SoftMask {
    fn name(&self) -> &'static str {
        "soft-mask"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        with_float!(self.name(), storage.dtype(), T => {
            let maps = cpu_data::<T>(storage, layout, self.name())?;
            let (omega, sigma) = (T::from_f64(self.omega), T::from_f64(self.sigma));
            let mask: Vec<T> = maps
                .par_iter()
                .with_min_len(MIN_LEN)
                .map(|&g| mask_value(g, omega, sigma))
                .collect();
            Ok((T::to_cpu_storage_owned(mask), layout.shape().clone()))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        storage: &candle::CudaStorage,
        layout: &Layout,
    ) -> candle::Result<(candle::CudaStorage, Shape)> {
        use candle::cuda_backend::cudarc::driver::PushKernelArg;
        use candle::cuda_backend::WrapErr;

        let device = storage.device().clone();
        let n = layout.shape().elem_count();
        with_float!(self.name(), storage.dtype(), T => {
            let maps = super::cuda::cuda_data::<T>(storage, layout, self.name())?;
            // SAFETY: every element is written by the kernel.
            let mask = unsafe { device.alloc::<T>(n)? };
            let func = super::cuda::function(&device, &crate::kernels::SOFT_MASK, "soft_mask_fwd", storage.dtype())?;
            let stream = device.cuda_stream();
            let mut args = stream.launch_builder(&func);
            let (len, omega, sigma) = (n as u64, T::from_f64(self.omega), T::from_f64(self.sigma));
            args.arg(&maps).arg(&mask).arg(&len).arg(&omega).arg(&sigma);
            // SAFETY: argument types match the kernel's signature.
            unsafe { args.launch(super::cuda::per_element(n)) }.w()?;
            Ok((candle::CudaStorage::wrap_cuda_slice(mask, device), layout.shape().clone()))
        })
    }

    fn bwd(
        &self,
        _maps: &Tensor,
        mask: &Tensor,
        grad_mask: &Tensor,
    ) -> candle::Result<Option<Tensor>> {
        let grad_mask = grad_mask.contiguous()?;
        let op = SoftMaskBackward { omega: self.omega };
        Ok(Some(mask.contiguous()?.apply_op2_no_bwd(&grad_mask, &op)?))
    }
}

/// `(mask, grad_mask) -> grad_maps = grad_mask omega m (1 - m)`.
struct SoftMaskBackward {
    omega: f64,
}

impl CustomOp2 for SoftMaskBackward {
    fn name(&self) -> &'static str {
        "soft-mask-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        with_float!(self.name(), s1.dtype(), T => {
            let mask = cpu_data::<T>(s1, l1, self.name())?;
            let grad = cpu_data::<T>(s2, l2, self.name())?;
            let omega = T::from_f64(self.omega);
            let out: Vec<T> = mask
                .par_iter()
                .zip(grad.par_iter())
                .with_min_len(MIN_LEN)
                .map(|(&m, &d)| d * omega * m * (T::ONE - m))
                .collect();
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
        with_float!(self.name(), s1.dtype(), T => {
            let mask = super::cuda::cuda_data::<T>(s1, l1, self.name())?;
            let grad = super::cuda::cuda_data::<T>(s2, l2, self.name())?;
            // SAFETY: every element is written by the kernel.
            let out = unsafe { device.alloc::<T>(n)? };
            let func = super::cuda::function(&device, &crate::kernels::SOFT_MASK, "soft_mask_bwd", s1.dtype())?;
            let stream = device.cuda_stream();
            let mut args = stream.launch_builder(&func);
            let (len, omega) = (n as u64, T::from_f64(self.omega));
            args.arg(&mask).arg(&grad).arg(&out).arg(&len).arg(&omega);
            // SAFETY: argument types match the kernel's signature.
            unsafe { args.launch(super::cuda::per_element(n)) }.w()?;
            Ok((candle::CudaStorage::wrap_cuda_slice(out, device), l1.shape().clone()))
        })
    }
}

/// Soft mask `m = sigmoid(omega (g - sigma))` of normalised maps `g`, any shape (usually
/// `(P, H, W)`), with gradient to `g`. Use [`OMEGA`] and [`SIGMA`] for the method's values.
pub fn soft_mask(maps: &Tensor, omega: f64, sigma: f64) -> Result<Tensor> {
    check_float("soft_mask", "maps", maps)?;
    Ok(maps.contiguous()?.apply_op1(SoftMask { omega, sigma })?)
}

/// [`soft_mask`] composed of plain candle ops (the reference the tests compare with).
pub fn soft_mask_ref(maps: &Tensor, omega: f64, sigma: f64) -> Result<Tensor> {
    check_float("soft_mask_ref", "maps", maps)?;
    let z = maps.affine(omega, -omega * sigma)?;
    Ok(z.neg()?.exp()?.affine(1.0, 1.0)?.recip()?)
}

/// Checks `maps` against `images` for the erasing ops: `(P, H, W)` and `(P, C, H, W)`.
pub(crate) fn check_mask_and_images(
    op: &'static str,
    maps: &Tensor,
    images: &Tensor,
) -> Result<()> {
    check_float(op, "images", images)?;
    check_same(op, ("images", images), ("maps", maps))?;
    let image_dims = super::dims_of(op, "images", "(P, C, H, W)", images, 4)?;
    let (p, h, w) = (image_dims[0], image_dims[2], image_dims[3]);
    if maps.dims() != [p, h, w] {
        return Err(crate::Error::Shape {
            op,
            name: "maps",
            expected: format!("(P, H, W) = ({p}, {h}, {w}) to match images"),
            actual: maps.dims().to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::test_utils::*;
    use candle::{DType, Device};

    #[test]
    fn forward_matches_ref_and_pytorch() {
        let fx = fixtures();
        for (omega, sigma, key) in [(OMEGA, SIGMA, "mask"), (7.0, 0.3, "mask_w7_s03")] {
            for dtype in [DType::F32, DType::F64] {
                let g = fx["erase_g"].to_dtype(dtype).unwrap();
                let mask = soft_mask(&g, omega, sigma).unwrap();
                let reference = soft_mask_ref(&g, omega, sigma).unwrap();
                let tol = tolerance(dtype);
                assert_close(&mask, &reference, tol, tol, "soft mask vs ref");
                assert_close(&mask, &fx[key], tol, tol, "soft mask vs pytorch");
            }
        }
    }

    #[test]
    fn gradient_matches_ref_and_finite_differences() {
        let g = random(&[2, 5, 7], 11, 0.3, 0.7, DType::F64, &Device::Cpu);
        let weights = random(&[2, 5, 7], 12, -1.0, 1.0, DType::F64, &Device::Cpu);
        let loss = |g: &Tensor| {
            (soft_mask(g, 9.0, 0.45).unwrap() * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
        };
        let grad = grad_of(&g, |g| loss(g));
        let grad_ref = grad_of(&g, |g| {
            (soft_mask_ref(g, 9.0, 0.45).unwrap() * &weights)
                .unwrap()
                .sum_all()
                .unwrap()
        });
        assert_close(&grad, &grad_ref, 1e-12, 1e-12, "soft mask grad vs ref");
        let numeric = finite_differences(&g, |g| loss(g), 1e-6);
        assert_close(
            &grad,
            &numeric,
            1e-6,
            1e-8,
            "soft mask grad vs finite differences",
        );
    }

    #[test]
    fn broadcast_gradient_is_accepted() {
        // `sum_all` hands the backward a broadcast (non-contiguous) gradient.
        let g = random(&[1, 3, 3], 3, 0.0, 1.0, DType::F32, &Device::Cpu);
        let grad = grad_of(&g, |g| {
            soft_mask(g, OMEGA, SIGMA).unwrap().sum_all().unwrap()
        });
        let grad_ref = grad_of(&g, |g| {
            soft_mask_ref(g, OMEGA, SIGMA).unwrap().sum_all().unwrap()
        });
        assert_close(&grad, &grad_ref, 1e-4, 1e-5, "soft mask grad of sum");
    }

    #[test]
    fn integer_maps_are_an_error() {
        let g = Tensor::zeros((1, 2, 2), DType::U8, &Device::Cpu).unwrap();
        let err = soft_mask(&g, OMEGA, SIGMA).unwrap_err().to_string();
        assert!(err.contains("soft_mask") && err.contains("U8"), "{err}");
    }

    fn check_device(device: &Device) {
        let g = random(&[3, 17, 9], 5, -0.2, 1.2, DType::F32, &Device::Cpu);
        let weights = random(&[3, 17, 9], 6, -1.0, 1.0, DType::F32, &Device::Cpu);
        let run = |device: &Device| {
            let g = g.to_device(device).unwrap();
            let w = weights.to_device(device).unwrap();
            let mask = soft_mask(&g, OMEGA, SIGMA).unwrap();
            let grad = grad_of(&g, |g| {
                (soft_mask(g, OMEGA, SIGMA).unwrap() * &w)
                    .unwrap()
                    .sum_all()
                    .unwrap()
            });
            (
                mask.to_device(&Device::Cpu).unwrap(),
                grad.to_device(&Device::Cpu).unwrap(),
            )
        };
        let (mask, grad) = run(device);
        let (mask_cpu, grad_cpu) = run(&Device::Cpu);
        assert_close(&mask, &mask_cpu, 1e-5, 1e-6, "mask vs cpu");
        assert_close(&grad, &grad_cpu, 1e-5, 1e-6, "grad vs cpu");
        let reference = soft_mask_ref(&g, OMEGA, SIGMA).unwrap();
        assert_close(&mask, &reference, 1e-4, 1e-5, "mask vs ref");
    }

    device_test!(check_device, soft_mask_device_cpu, soft_mask_device_cuda);
}
