//! One place that decides the instruction set of the hot loops: with AVX2 present at
//! run time, each chunk of work is compiled a second time for it (8-lane registers
//! instead of SSE's 4). No FMA is enabled and Rust never contracts `a * b + c`, so both
//! paths do the same IEEE operations and give bit-identical results (the hand-written
//! AVX2 kernels of `fused` included: `crf::tests::avx2_and_portable_paths_agree_bitwise`).

/// Whether the AVX2 path is used on this CPU.
#[inline]
pub(crate) fn avx2() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
thread_local! {
    /// Tests set it to run the portable code on this thread even where AVX2 is there.
    pub(crate) static PORTABLE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `body`, compiled for AVX2 when `avx2` is true (from [`avx2`]).
#[inline(always)]
pub(crate) fn run<R>(avx2: bool, body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` comes from `is_x86_feature_detected!("avx2")`.
        return unsafe { run_avx2(body) };
    }
    let _ = avx2;
    body()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2<R>(body: impl FnOnce() -> R) -> R {
    body()
}
