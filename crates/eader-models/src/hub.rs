//! Pretrained ImageNet weights from the Hugging Face Hub (feature `hub`).
//!
//! The `timm/<arch>.tv_in1k` repositories hold torchvision's original
//! ImageNet weights as `model.safetensors` (see [`Architecture::hub_repo`]).
//! Files land in the standard Hugging Face cache (`$HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `~/.cache/huggingface/hub`) and are reused from there;
//! `HF_HUB_OFFLINE=1` forbids any network request. Load the returned file
//! with [`crate::weights::load`] and [`crate::weights::LoadMode::ReplaceHead`].

use std::path::PathBuf;
use std::sync::Arc;

use hf_hub::progress::{DownloadEvent, ProgressEvent, ProgressHandler};
use hf_hub::{HFClientBuilder, HFError};

use crate::arch::Architecture;
use crate::error::{Error, Result};

/// The weights file inside each `timm/<arch>.tv_in1k` repository.
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// Called with `(bytes done, bytes total)` while a file downloads.
pub type ProgressFn = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Where and how to fetch.
#[derive(Clone, Default)]
pub struct HubOptions {
    /// The cache folder (the `hub` folder); `None` follows `HF_HUB_CACHE` /
    /// `HF_HOME` as the Hugging Face tools do.
    pub cache_dir: Option<PathBuf>,
    /// Never touch the network; only the cache.
    pub offline: bool,
    /// Another endpoint than `https://huggingface.co` (also `HF_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Download progress callback (the CLI draws a bar with it).
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for HubOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubOptions")
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("endpoint", &self.endpoint)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl HubOptions {
    /// Options from the environment: `HF_HUB_OFFLINE` (`1`, `true`, `yes`)
    /// sets `offline`; the cache folder and endpoint are left to hf-hub,
    /// which reads `HF_HUB_CACHE`, `HF_HOME` and `HF_ENDPOINT`.
    pub fn from_env() -> Self {
        let offline = std::env::var("HF_HUB_OFFLINE")
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
            .unwrap_or(false);
        HubOptions {
            offline,
            ..Default::default()
        }
    }
}

struct Bridge(ProgressFn);

impl ProgressHandler for Bridge {
    fn on_progress(&self, event: &ProgressEvent) {
        match event {
            ProgressEvent::Download(DownloadEvent::Progress { files }) => {
                for f in files {
                    (self.0)(f.bytes_completed, f.total_bytes);
                }
            }
            ProgressEvent::Download(DownloadEvent::AggregateProgress {
                bytes_completed,
                total_bytes,
                ..
            }) => (self.0)(*bytes_completed, *total_bytes),
            _ => {}
        }
    }
}

/// The local path of `arch`'s ImageNet weights, downloading them into the
/// cache first unless they are there (or `options.offline`).
pub fn fetch(arch: Architecture, options: &HubOptions) -> Result<PathBuf> {
    let repo_id = arch.hub_repo();
    let hub_err = |msg: String| Error::Hub {
        repo: repo_id.to_string(),
        msg,
    };
    let mut builder = HFClientBuilder::new().retry_max_attempts(1);
    if let Some(dir) = &options.cache_dir {
        builder = builder.cache_dir(dir.clone());
    }
    if let Some(endpoint) = &options.endpoint {
        builder = builder.endpoint(endpoint.clone());
    }
    let client = builder
        .build()
        .map_err(|e| hub_err(format!("cannot start the hub client: {e}")))?;
    let cache = client.cache_dir().to_path_buf();
    let client = hf_hub::HFClientSync::from_inner(client)
        .map_err(|e| hub_err(format!("cannot start the hub client: {e}")))?;
    let (owner, name) = hf_hub::split_id(repo_id);
    let repo = client.model(owner, name);
    let request = repo
        .download_file()
        .filename(WEIGHTS_FILE)
        .local_files_only(options.offline)
        .maybe_progress(
            options
                .progress
                .clone()
                .map(|p| hf_hub::progress::Progress::new(Bridge(p))),
        );
    request.send().map_err(|e| match e {
        HFError::LocalEntryNotFound { .. } if options.offline => hub_err(format!(
            "{WEIGHTS_FILE} is not in the cache {} and offline mode (HF_HUB_OFFLINE) forbids \
             downloading it; run once with network access, or download it yourself and pass \
             --weights PATH",
            cache.display()
        )),
        e => hub_err(format!(
            "cannot download {WEIGHTS_FILE} ({e}) and it is not in the cache {}; check the \
             network (or HF_ENDPOINT), or download it yourself and pass --weights PATH",
            cache.display()
        )),
    })
}
