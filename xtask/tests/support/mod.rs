//! Helpers of the `prepare-voc` and `prepare-coco` tests: tiny archives in
//! the real layouts, a local HTTP server, and a runner for the `xtask` binary.

// Each test binary uses a part of the support code.
#![allow(dead_code)]

pub mod archives;
pub mod coco;
pub mod http;

use std::path::Path;
use std::process::Command;

/// What a run of `xtask` printed and how it ended.
pub struct Run {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `xtask prepare-voc --root ROOT ARGS...` with no proxy and no mirror
/// variables from the caller's environment.
pub fn prepare_voc(root: &Path, args: &[&str]) -> Run {
    xtask("prepare-voc", root, args)
}

/// Runs `xtask prepare-coco --root ROOT ARGS...`, as [`prepare_voc`].
pub fn prepare_coco(root: &Path, args: &[&str]) -> Run {
    xtask("prepare-coco", root, args)
}

fn xtask(task: &str, root: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg(task)
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("EADER_VOC_URLS")
        .env_remove("EADER_SBD_URLS")
        .env_remove("EADER_COCO_TRAIN_URLS")
        .env_remove("EADER_COCO_VAL_URLS")
        .env_remove("EADER_COCO_ANNOTATIONS_URLS")
        .env_remove("http_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .expect("cannot run the xtask binary");
    Run {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}
