//! The residual join of a ResNet block: `relu(a + b)`, one pass forward and
//! one pass backward.

use candle::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::element::{
    check_dtype, cpu_slice, dispatch_float, to_storage, to_tensor, with_data, zeros, Float,
};
use crate::error::{shape_error, Result};
use crate::switch::use_fast;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

#[derive(Debug, Clone, Copy)]
struct AddReluOp;

impl CustomOp2 for AddReluOp {
    fn name(&self) -> &'static str {
        "eader-add-relu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle::Result<(CpuStorage, Shape)> {
        let name = self.name();
        let out = dispatch_float!(s1.dtype(), name, T => {
            let a = cpu_slice::<T>(s1, l1, name)?;
            let b = cpu_slice::<T>(s2, l2, name)?;
            let mut y = zeros::<T>(a.len());
            y.par_chunks_mut(CHUNK)
                .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
                .for_each(|(o, (a, b))| {
                    for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
                        *o = (a + b).relu();
                    }
                });
            Ok(to_storage(y))
        })?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        y: &Tensor,
        dy: &Tensor,
    ) -> candle::Result<(Option<Tensor>, Option<Tensor>)> {
        if !a.track_op() && !b.track_op() {
            return Ok((None, None));
        }
        let name = "eader-add-relu-backward";
        let grad = dispatch_float!(dy.dtype(), name, T => {
            with_data::<T, _>(y, name, |ys| {
                with_data::<T, _>(dy, name, |gs| {
                    let mut d = zeros::<T>(gs.len());
                    d.par_chunks_mut(CHUNK)
                        .zip(ys.par_chunks(CHUNK).zip(gs.par_chunks(CHUNK)))
                        .for_each(|(o, (ys, gs))| {
                            for ((o, &yv), &gv) in o.iter_mut().zip(ys).zip(gs) {
                                *o = if yv > T::ZERO { gv } else { T::ZERO };
                            }
                        });
                    to_tensor(d, y.shape())
                })
            })
        })?;
        Ok((
            a.track_op().then(|| grad.clone()),
            b.track_op().then_some(grad),
        ))
    }
}

/// `relu(a + b)` for two tensors of the same shape (any rank), e.g. a ResNet
/// block's residual branch and its shortcut, both `(N, C, H, W)`.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if a.dims() != b.dims() {
        return Err(shape_error(
            "add_relu",
            "second input",
            format!("{:?} like the first", a.dims()),
            b.dims(),
        ));
    }
    check_dtype("add_relu", "second input", b, a.dtype())?;
    if !use_fast(a) {
        return add_relu_ref(a, b);
    }
    Ok(a.contiguous()?.apply_op2(&b.contiguous()?, AddReluOp)?)
}

/// [`add_relu`] in candle's own ops (the reference).
pub fn add_relu_ref(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok((a + b)?.relu()?)
}
