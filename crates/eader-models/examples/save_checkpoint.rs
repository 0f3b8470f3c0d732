//! Writes checkpoints that `tests/fixtures/make_fixtures.py --check-saved DIR`
//! loads into torchvision with `load_state_dict(strict=True)`:
//! `DIR/<arch>.weights.safetensors` (seeded torchvision-style initialisation,
//! then one training-mode pass so the running statistics are not trivial) and
//! `DIR/<arch>.logits.safetensors` (an input and the eval-mode logits eader
//! computes for it).
//!
//! ```sh
//! cargo run -p eader-models --example save_checkpoint -- /tmp/saved
//! python3 crates/eader-models/tests/fixtures/make_fixtures.py --check-saved /tmp/saved
//! ```

use std::collections::HashMap;
use std::path::PathBuf;

use candle::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use eader_models::{weights, Architecture, Classifier};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: save_checkpoint DIR")?,
    );
    std::fs::create_dir_all(&dir)?;
    let dev = Device::Cpu;
    // VGG-16 is left out: its 528 MB checkpoint adds nothing the others do not test.
    let archs = [
        Architecture::Resnet18,
        Architecture::Resnet34,
        Architecture::Resnet50,
        Architecture::WideResnet50,
        Architecture::Resnet101Deeplab,
        Architecture::DeeplabLargefov,
    ];
    for (i, arch) in archs.into_iter().enumerate() {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let model = Classifier::new(arch, 7, vb)?;
        model.init_seeded(i as u64)?;
        let input = Tensor::randn(0f32, 1.0, (2, 3, 64, 64), &dev)?;
        model.forward(&input, true)?;
        let logits = model.forward(&input, false)?;
        weights::save(&model, &dir.join(format!("{arch}.weights.safetensors")))?;
        let out: HashMap<String, Tensor> =
            [("input".to_string(), input), ("logits".to_string(), logits)].into();
        candle::safetensors::save(&out, dir.join(format!("{arch}.logits.safetensors")))?;
        println!("{arch}: saved");
    }
    Ok(())
}
