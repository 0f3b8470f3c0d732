//! The process-wide settings: the switch between fast kernels and candle's
//! composed ops, and the allocator policy. Their own test binary (process).

use candle::{DType, Device, Tensor, Var};
use eader_kernels::*;

/// Gradient of `sum(max_pool(x))` for an all-equal 3x3 input: the fast kernel
/// sends it to the first maximum (PyTorch's rule), candle's composed `max`
/// to every tied element. The two paths are told apart by it.
fn tie_gradient() -> Vec<f32> {
    let x = Var::from_tensor(&Tensor::ones((1, 1, 3, 3), DType::F32, &Device::Cpu).expect("x"))
        .expect("var");
    let y = max_pool2d(
        x.as_tensor(),
        MaxPoolConfig {
            kernel: 3,
            stride: 1,
            padding: 0,
        },
    )
    .expect("pool");
    let grads = y.sum_all().and_then(|l| l.backward()).expect("backward");
    grads
        .get(x.as_tensor())
        .expect("grad")
        .flatten_all()
        .and_then(|t| t.to_vec1())
        .expect("vec")
}

#[test]
fn environment_variable_then_setter_select_the_path() {
    // Before any kernel call, the environment decides.
    // SAFETY (edition 2021: safe call): no other thread of this binary runs yet.
    std::env::set_var("EADER_FAST_KERNELS", "0");
    assert!(!fast_kernels_enabled());
    let composed = tie_gradient();
    assert!(
        composed.iter().filter(|v| **v != 0.0).count() > 1,
        "{composed:?}"
    );

    set_fast_kernels(true);
    assert!(fast_kernels_enabled());
    let fast = tie_gradient();
    assert_eq!(fast, vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);

    set_fast_kernels(false);
    assert_eq!(tie_gradient(), composed);
}

/// The allocator policy applies on glibc and nowhere else; after it, freed
/// large buffers are reused and still read back what was written.
#[test]
fn keep_freed_memory_applies_on_glibc() {
    let off = matches!(
        std::env::var("EADER_KEEP_FREED_MEMORY")
            .as_deref()
            .map(str::trim),
        Ok("0") | Ok("false") | Ok("off")
    );
    assert_eq!(
        keep_freed_memory(),
        cfg!(all(target_os = "linux", target_env = "gnu")) && !off
    );
    for round in 0..3u8 {
        // 64 MiB, above glibc's largest mmap threshold: from the heap now.
        let big = vec![round; 64 << 20];
        assert!(big.iter().step_by(4096).all(|&b| b == round));
    }
}
