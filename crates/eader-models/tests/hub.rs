//! The hub path against a cache folder the test fills in: no network.

use eader_models::hub::{self, HubOptions, WEIGHTS_FILE};
use eader_models::Architecture;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn populate(cache: &std::path::Path, repo: &str) -> std::path::PathBuf {
    let folder = cache.join(format!("models--{}", repo.replace('/', "--")));
    std::fs::create_dir_all(folder.join("refs")).unwrap();
    std::fs::write(folder.join("refs/main"), COMMIT).unwrap();
    let snapshot = folder.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&snapshot).unwrap();
    let file = snapshot.join(WEIGHTS_FILE);
    std::fs::write(&file, b"stand-in weights").unwrap();
    file
}

#[test]
fn offline_fetch_reads_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let expected = populate(dir.path(), "timm/resnet50.tv_in1k");
    let options = HubOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        offline: true,
        ..Default::default()
    };
    let path = hub::fetch(Architecture::Resnet50, &options).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(&expected).unwrap()
    );
}

#[test]
fn offline_fetch_of_an_uncached_model_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), "timm/resnet50.tv_in1k");
    let options = HubOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        offline: true,
        ..Default::default()
    };
    let err = hub::fetch(Architecture::Resnet18, &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("timm/resnet18.tv_in1k"), "{err}");
    assert!(
        err.contains("HF_HUB_OFFLINE") && err.contains("--weights"),
        "{err}"
    );
}

#[test]
fn unreachable_endpoint_falls_back_to_the_cache_or_explains() {
    // A closed local port stands in for "no network".
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), "timm/vgg16.tv_in1k");
    let options = HubOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        endpoint: Some("http://127.0.0.1:9".into()),
        ..Default::default()
    };
    let path = hub::fetch(Architecture::DeeplabLargefov, &options).unwrap();
    assert!(path.ends_with(WEIGHTS_FILE));
    let err = hub::fetch(Architecture::Resnet34, &options)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot download") && err.contains("--weights"),
        "{err}"
    );
}
