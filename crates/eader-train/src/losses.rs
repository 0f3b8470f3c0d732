//! The loss terms of method.md, in candle ops (differentiable).

use candle::{DType, Tensor};

use crate::error::Result;

pub use eader_models::loss::bce_with_logits;

/// The attention-mining loss: the mean over pairs `p` of `sigmoid(logits[p, c_p])`,
/// the classifier's confidence for each erased class. `logits` `(P, K)`,
/// `class_idx` `(P,)` u32.
pub fn attention_mining(logits: &Tensor, class_idx: &Tensor) -> Result<Tensor> {
    let idx = class_idx.to_dtype(DType::U32)?.unsqueeze(1)?;
    let picked = logits.gather(&idx, 1)?;
    Ok(candle_sigmoid(&picked)?.mean_all()?)
}

/// `1 / (1 + exp(-x))` in differentiable candle ops.
pub fn candle_sigmoid(xs: &Tensor) -> Result<Tensor> {
    Ok(xs.neg()?.exp()?.affine(1.0, 1.0)?.recip()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle::{Device, Var};

    // torch:
    //   x = torch.tensor([[2.0,-1.0,0.5],[-3.0,0.0,4.0]], requires_grad=True)
    //   t = torch.tensor([[1.,0.,0.],[0.,1.,1.]])
    //   am = torch.sigmoid(x)[torch.arange(2), torch.tensor([2, 0])].mean()
    const AM: f32 = 0.334_942_6;
    const AM_GRAD: [f32; 6] = [0.0, 0.0, 0.117_501_855, 0.022_588_33, 0.0, 0.0];

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-5 * b.abs().max(1e-3)
    }

    #[test]
    fn attention_mining_matches_torch() {
        let dev = Device::Cpu;
        let x = Var::new(&[[2.0f32, -1.0, 0.5], [-3.0, 0.0, 4.0]], &dev).unwrap();
        let idx = Tensor::new(&[2u32, 0], &dev).unwrap();
        let am = attention_mining(x.as_tensor(), &idx).unwrap();
        assert!(close(am.to_scalar::<f32>().unwrap(), AM));
        let g: Vec<f32> = am
            .backward()
            .unwrap()
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (a, b) in g.iter().zip(AM_GRAD) {
            assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
        }
    }
}
