//! The loader: determinism across thread counts, equality with the
//! transforms applied one by one, errors per batch.

use candle::Device;
use eader_dataset::transforms::{
    center_crop, center_crop_labels, hflip, resize_shorter, resize_shorter_labels, resized_crop,
    Normalize, RandomResizedCrop,
};
use eader_dataset::{sample_rng, Batch, Error, Loader, LoaderConfig, LoaderMode, VocDataset};
use rand::Rng;

use crate::util::small_dataset;

fn collect(loader: &Loader, epoch: u64) -> Vec<Batch> {
    loader.epoch(epoch).map(|b| b.unwrap()).collect()
}

fn images(b: &Batch) -> Vec<f32> {
    b.images.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn train_batches_are_independent_of_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    small_dataset(dir.path(), 11);
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    let mut cfg = LoaderConfig::train(24, 4, 7);
    cfg.threads = 1;
    let one = Loader::new(ds.clone(), cfg.clone(), &Device::Cpu).unwrap();
    cfg.threads = 3;
    cfg.prefetch = 2;
    let three = Loader::new(ds, cfg, &Device::Cpu).unwrap();
    assert_eq!(one.len(), 2, "11 images, batch 4, drop_last");
    for epoch in [0, 1] {
        let (a, b) = (collect(&one, epoch), collect(&three, epoch));
        assert_eq!(a.len(), 2);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.ids, y.ids);
            assert_eq!(x.images.dims(), &[4, 3, 24, 24]);
            assert_eq!(x.labels.dims(), &[4, 20]);
            assert_eq!(images(x), images(y));
            assert_eq!(
                x.labels.to_vec2::<f32>().unwrap(),
                y.labels.to_vec2::<f32>().unwrap()
            );
            assert!(x.masks.is_empty());
        }
    }
    // Another epoch reshuffles and re-augments.
    let (e0, e1) = (collect(&one, 0), collect(&one, 1));
    assert_ne!(e0[0].ids, e1[0].ids);
    // Every image appears at most once per epoch.
    let mut seen: Vec<usize> = e0.iter().flat_map(|b| b.indices.clone()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 8);
}

#[test]
fn train_samples_equal_the_transforms_applied_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    small_dataset(dir.path(), 5);
    let ds = VocDataset::open(dir.path(), "train")
        .unwrap()
        .scan_labels()
        .unwrap();
    let seed = 99;
    let loader = Loader::new(ds.clone(), LoaderConfig::train(16, 5, seed), &Device::Cpu).unwrap();
    let batch = loader.epoch(3).next().unwrap().unwrap();
    let data = images(&batch);
    let labels = batch.labels.to_vec2::<f32>().unwrap();
    let mut flips = 0;
    for (slot, &i) in batch.indices.iter().enumerate() {
        let img = ds.load_image(i).unwrap();
        let mut rng = sample_rng(seed, 3, i as u64);
        let rect = RandomResizedCrop::new(16).params(img.width(), img.height(), &mut rng);
        let flip = rng.random_bool(0.5);
        flips += flip as usize;
        let mut out = resized_crop(&img, rect, 16, 16);
        if flip {
            out = hflip(&out);
        }
        let expected = Normalize::imagenet().to_chw(&out);
        assert_eq!(
            &data[slot * 768..(slot + 1) * 768],
            &expected[..],
            "sample {i}"
        );
        assert_eq!(labels[slot], ds.load(i).unwrap().labels.to_f32());
    }
    assert!(
        flips > 0 && flips < 5,
        "both flip outcomes occur ({flips} of 5)"
    );
}

#[test]
fn val_and_eval_batches_carry_label_maps() {
    let dir = tempfile::tempdir().unwrap();
    small_dataset(dir.path(), 5);
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    let val = Loader::new(ds.clone(), LoaderConfig::val(20, 2), &Device::Cpu).unwrap();
    assert_eq!(val.len(), 3, "5 images, batch 2, last batch kept");
    let batches = collect(&val, 0);
    assert_eq!(batches[2].images.dims(), &[1, 3, 20, 20]);
    let short = 21; // round(1.05 * 20)
    for b in &batches {
        let data = images(b);
        for (slot, &i) in b.indices.iter().enumerate() {
            let s = ds.load(i).unwrap();
            let img = center_crop(&resize_shorter(&s.image, short), 20, 20);
            assert_eq!(
                &data[slot * 1200..(slot + 1) * 1200],
                &Normalize::imagenet().to_chw(&img)[..]
            );
            let mask = center_crop_labels(&resize_shorter_labels(&s.mask, short), 20, 20);
            assert_eq!(b.masks[slot], mask);
        }
    }
    assert_eq!(
        batches
            .iter()
            .flat_map(|b| b.indices.clone())
            .collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 4]
    );

    let eval = Loader::new(ds.clone(), LoaderConfig::eval(), &Device::Cpu).unwrap();
    let batches = collect(&eval, 0);
    assert_eq!(batches.len(), 5);
    for (i, b) in batches.iter().enumerate() {
        let s = ds.load(i).unwrap();
        let (w, h) = s.image.dimensions();
        assert_eq!(b.images.dims(), &[1, 3, h as usize, w as usize]);
        assert_eq!(images(b), Normalize::imagenet().to_chw(&s.image));
        assert_eq!(b.masks, vec![s.mask.clone()]);
        assert_eq!(b.ids, vec![s.id.clone()]);
        assert_eq!(b.labels.to_vec2::<f32>().unwrap(), vec![s.labels.to_f32()]);
    }
    let mut bad = LoaderConfig::eval();
    bad.batch_size = 2;
    assert!(matches!(
        Loader::new(ds.clone(), bad, &Device::Cpu),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        Loader::new(ds, LoaderConfig::train(0, 2, 0), &Device::Cpu),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn a_corrupt_image_is_an_error_of_its_batch_only() {
    let dir = tempfile::tempdir().unwrap();
    let ids = small_dataset(dir.path(), 6);
    std::fs::write(
        dir.path()
            .join("JPEGImages")
            .join(format!("{}.jpg", ids[3])),
        b"garbage",
    )
    .unwrap();
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    let mut cfg = LoaderConfig::val(16, 2);
    cfg.threads = 2;
    let loader = Loader::new(ds, cfg, &Device::Cpu).unwrap();
    let results: Vec<_> = loader.epoch(0).collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok());
    let err = results[1].as_ref().unwrap_err();
    assert!(
        matches!(err, Error::Decode { kind: "image", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&format!("{}.jpg", ids[3])),
        "{err}"
    );
}

#[test]
fn dropping_an_epoch_early_does_not_hang() {
    let dir = tempfile::tempdir().unwrap();
    small_dataset(dir.path(), 12);
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    let loader = Loader::new(ds, LoaderConfig::train(16, 2, 1), &Device::Cpu).unwrap();
    let mut it = loader.epoch(0);
    assert_eq!(it.len(), 6);
    assert!(it.next().unwrap().is_ok());
    drop(it);
    // The loader still works afterwards.
    assert_eq!(loader.epoch(1).count(), 6);
    assert_eq!(loader.batches(1), loader.batches(1));
    assert_ne!(loader.batches(1), loader.batches(2));
    let cfg = LoaderConfig {
        mode: LoaderMode::Train { size: 16 },
        shuffle: false,
        ..LoaderConfig::val(16, 5)
    };
    let plain = Loader::new(loader.dataset().clone(), cfg, &Device::Cpu).unwrap();
    assert_eq!(
        plain.batches(0),
        vec![vec![0, 1, 2, 3, 4], vec![5, 6, 7, 8, 9], vec![10, 11]]
    );
}

#[test]
fn an_epoch_resumed_mid_way_gives_the_same_tail() {
    let dir = tempfile::tempdir().unwrap();
    small_dataset(dir.path(), 13);
    let ds = VocDataset::open(dir.path(), "train").unwrap();
    let loader = Loader::new(ds, LoaderConfig::train(16, 3, 5), &Device::Cpu).unwrap();
    let full = collect(&loader, 2);
    assert_eq!(full.len(), 4);
    let tail: Vec<Batch> = loader.epoch_from(2, 1).map(|b| b.unwrap()).collect();
    assert_eq!(tail.len(), 3);
    for (x, y) in full[1..].iter().zip(&tail) {
        assert_eq!(x.ids, y.ids);
        assert_eq!(images(x), images(y));
    }
    assert_eq!(loader.epoch_from(2, 4).count(), 0);
    assert_eq!(loader.epoch_from(2, 9).len(), 0);
}
