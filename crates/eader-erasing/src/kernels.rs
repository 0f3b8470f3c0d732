//! The CUDA C sources of the ops, as NVRTC compiles them: `ops/common.cuh` followed by one
//! op's `.cu` file. Every kernel exists for f32 and f64 (`<name>_f32`, `<name>_f64`).

/// One op family's source and the kernels it defines (names without the dtype suffix).
pub(crate) struct KernelSource {
    /// Module name under which candle caches the loaded PTX, per device.
    pub(crate) module: &'static str,
    /// The full CUDA C source.
    pub(crate) source: &'static str,
    /// The `extern "C"` kernels it defines, without the `_f32`/`_f64` suffix (checked by
    /// the NVRTC test).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) kernels: &'static [&'static str],
}

pub(crate) const UPSAMPLE_NORMALIZE: KernelSource = KernelSource {
    module: "eader_erasing_upsample_normalize",
    source: concat!(
        include_str!("ops/common.cuh"),
        include_str!("ops/upsample_normalize.cu")
    ),
    kernels: &[
        "upsample_normalize_upsample",
        "upsample_normalize_minmax",
        "upsample_normalize_fwd",
        "upsample_normalize_bwd_stats",
        "upsample_normalize_bwd_rows",
        "upsample_normalize_bwd",
    ],
};

pub(crate) const SOFT_MASK: KernelSource = KernelSource {
    module: "eader_erasing_soft_mask",
    source: concat!(
        include_str!("ops/common.cuh"),
        include_str!("ops/soft_mask.cu")
    ),
    kernels: &["soft_mask_fwd", "soft_mask_bwd"],
};

pub(crate) const ERASE: KernelSource = KernelSource {
    module: "eader_erasing_erase",
    source: concat!(include_str!("ops/common.cuh"), include_str!("ops/erase.cu")),
    kernels: &["erase_fwd", "erase_bwd"],
};

/// Every source, for the NVRTC compilation test.
#[cfg(test)]
pub(crate) const ALL: [&KernelSource; 3] = [&UPSAMPLE_NORMALIZE, &SOFT_MASK, &ERASE];

/// NVRTC options of every compilation: no fused multiply-add, so the GPU rounds as the CPU
/// kernels do (identical bilinear weights and values, hence identical ties at min and max).
pub(crate) const NVRTC_FMAD: bool = false;

#[cfg(test)]
mod tests {
    //! Compiles every kernel with NVRTC for sm_80 and sm_90, without a GPU and without the
    //! `cuda` feature. NVRTC is loaded at run time: from a library path (`LD_LIBRARY_PATH`,
    //! the system's), from `EADER_NVRTC_LIB` (the file), or from a Python environment's
    //! NVIDIA wheels (`pip install nvidia-cuda-nvrtc` (CUDA 13) or `nvidia-cuda-nvrtc-cu12`),
    //! found under the usual site-packages folders. Without it the test passes with a
    //! notice locally, and fails when the `CI` environment variable is set.
    use super::*;
    use std::path::{Path, PathBuf};

    /// Library files of PyPI's NVRTC wheels, relative to a site-packages folder.
    const WHEEL_LIBS: [&str; 2] = [
        "nvidia/cu13/lib/libnvrtc.so.13",
        "nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
    ];

    /// Folders holding `python3.*` installations' `lib`.
    fn python_lib_roots() -> Vec<PathBuf> {
        let mut roots = vec![
            PathBuf::from("/usr/local/lib"),
            PathBuf::from("/usr/lib"),
            PathBuf::from("/opt/conda/lib"),
        ];
        for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
            if let Some(dir) = std::env::var_os(var) {
                roots.push(Path::new(&dir).join("lib"));
            }
        }
        if let Some(home) = std::env::var_os("HOME") {
            roots.push(Path::new(&home).join(".local/lib"));
            let pyenv = std::env::var_os("PYENV_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(|| Path::new(&home).join(".pyenv"));
            if let Ok(versions) = std::fs::read_dir(pyenv.join("versions")) {
                roots.extend(versions.flatten().map(|v| v.path().join("lib")));
            }
        }
        roots
    }

    /// Every NVRTC library file of a Python environment on this machine.
    fn wheel_candidates() -> Vec<PathBuf> {
        let mut found = Vec::new();
        if let Some(file) = std::env::var_os("EADER_NVRTC_LIB") {
            found.push(PathBuf::from(file));
        }
        for root in python_lib_roots() {
            let Ok(entries) = std::fs::read_dir(&root) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_name().to_string_lossy().starts_with("python3") {
                    continue;
                }
                for packages in ["site-packages", "dist-packages"] {
                    for lib in WHEEL_LIBS {
                        let path = entry.path().join(packages).join(lib);
                        if path.is_file() {
                            found.push(path);
                        }
                    }
                }
            }
        }
        found
    }

    /// Loads NVRTC and keeps it loaded, so that cudarc's own `dlopen("libnvrtc.so.N")` finds
    /// the already loaded library by its soname. Returns where it came from.
    fn load_nvrtc() -> Option<String> {
        static LOADED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        LOADED
            .get_or_init(|| {
                let by_name = ["libnvrtc.so", "libnvrtc.so.13", "libnvrtc.so.12"];
                let mut candidates: Vec<PathBuf> = by_name.iter().map(PathBuf::from).collect();
                candidates.extend(wheel_candidates());
                for candidate in candidates {
                    // SAFETY: loading NVRTC runs no initialisation code with preconditions.
                    if let Ok(lib) = unsafe { libloading::Library::new(&candidate) } {
                        std::mem::forget(lib);
                        return Some(candidate.display().to_string());
                    }
                }
                None
            })
            .clone()
    }

    #[test]
    fn every_kernel_compiles_with_nvrtc_for_sm80_and_sm90() {
        let Some(library) = load_nvrtc() else {
            let message = "libnvrtc not found: install PyPI's nvidia-cuda-nvrtc (CUDA 13) or \
                           nvidia-cuda-nvrtc-cu12, set EADER_NVRTC_LIB to the library file, or \
                           add its folder to LD_LIBRARY_PATH";
            // .ci/run sets EADER_CI: there a missing NVRTC fails instead of skipping.
            assert!(
                std::env::var_os("EADER_CI").is_none() && std::env::var_os("CI").is_none(),
                "{message}"
            );
            eprintln!("skipping the NVRTC compilation check: {message}");
            return;
        };
        eprintln!("NVRTC: {library}");
        for source in ALL {
            for (arch, target) in [("compute_80", "sm_80"), ("compute_90", "sm_90")] {
                let opts = cudarc::nvrtc::CompileOptions {
                    arch: Some(arch),
                    fmad: Some(NVRTC_FMAD),
                    name: Some(format!("{}.cu", source.module)),
                    ..Default::default()
                };
                let ptx = cudarc::nvrtc::compile_ptx_with_opts(source.source, opts)
                    .unwrap_or_else(|e| panic!("{} for {arch}: {e:?}", source.module))
                    .to_src();
                assert!(
                    ptx.contains(&format!(".target {target}")),
                    "{} for {arch}: no `.target {target}` in the PTX",
                    source.module
                );
                for kernel in source.kernels {
                    for dtype in ["f32", "f64"] {
                        let entry = format!(".entry {kernel}_{dtype}(");
                        assert!(
                            ptx.contains(&entry),
                            "{} for {arch}: kernel {kernel}_{dtype} missing",
                            source.module
                        );
                    }
                }
            }
        }
    }
}
