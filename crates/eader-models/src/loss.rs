//! The classifiers' training loss, shared by training and evaluation.

use candle::Tensor;

use crate::error::Result;

/// Binary cross-entropy between `sigmoid(logits)` and multi-hot `targets`, both
/// `(N, K)`, averaged over all elements: `torch.nn.BCELoss()(sigmoid(x), t)`.
///
/// Computed from the logits as `max(x, 0) - x t + log(1 + exp(-|x|))`, which is
/// the same function but stays finite where `sigmoid` saturates in f32; PyTorch's
/// `BCELoss` instead clamps each log at -100 there (|x| > ~17), so the two differ
/// only for saturated outputs, where ours keeps the gradient `sigmoid(x) - t`.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let targets = targets.to_dtype(logits.dtype())?;
    let softplus_neg_abs = logits.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?;
    let loss = ((logits.relu()? - (logits * targets)?)? + softplus_neg_abs)?;
    Ok(loss.mean_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle::{Device, Var};

    // torch:
    //   x = torch.tensor([[2.0,-1.0,0.5],[-3.0,0.0,4.0]], requires_grad=True)
    //   t = torch.tensor([[1.,0.,0.],[0.,1.,1.]])
    //   l = torch.nn.BCELoss()(torch.sigmoid(x), t); l.backward()
    const LOSS: f32 = 0.362_358_54;
    const GRAD: [f32; 6] = [
        -0.019_867_161,
        0.044_823_572,
        0.103_743_225,
        0.007_904_312,
        -0.083_333_336,
        -0.002_997_706,
    ];

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-5 * b.abs().max(1e-3)
    }

    #[test]
    fn bce_matches_torch() {
        let dev = Device::Cpu;
        let x = Var::new(&[[2.0f32, -1.0, 0.5], [-3.0, 0.0, 4.0]], &dev).unwrap();
        let t = Tensor::new(&[[1.0f32, 0.0, 0.0], [0.0, 1.0, 1.0]], &dev).unwrap();
        let loss = bce_with_logits(x.as_tensor(), &t).unwrap();
        assert!(close(loss.to_scalar::<f32>().unwrap(), LOSS));
        let grads = loss.backward().unwrap();
        let g: Vec<f32> = grads
            .get(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (a, b) in g.iter().zip(GRAD) {
            assert!(close(*a, b), "{a} vs {b}");
        }
        // Saturated logits stay finite.
        let big = Tensor::new(&[[200.0f32, -200.0]], &dev).unwrap();
        let t = Tensor::new(&[[0.0f32, 1.0]], &dev).unwrap();
        let l = bce_with_logits(&big, &t)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(l, 200.0);
    }
}
