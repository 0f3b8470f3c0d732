//! One semantic label map per annotated image, from its instance masks.
//!
//! The rule is the converter ToCo's README recommends for COCO
//! (alicranck/coco2voc, `coco2voc_aux.py`, `annotations_to_seg`): the
//! image's annotations in file order are sorted by `area`, smallest first
//! (a stable sort: equal areas keep file order), and a pixel takes the class
//! of the first annotation covering it, so small objects are not painted
//! over by large ones. Crowd regions (`iscrowd: 1`) are painted with their
//! class like any other annotation, as that converter does; no pixel is void
//! (255). Labels are 1..=80 (see [`super::annotations::label_order`]), 0 is
//! background.

use std::collections::HashMap;

use anyhow::{bail, Result};

use super::annotations::{self, Annotation, Image};
use crate::prepare_voc::labels::LabelMap;

/// The label map of `image` from its `annotations` (file order), with
/// `label_of` mapping COCO category ids to labels.
pub fn label_map(
    image: &Image,
    annotations: &[&Annotation],
    label_of: &HashMap<u64, u8>,
) -> Result<LabelMap> {
    let (h, w) = (image.height as usize, image.width as usize);
    if h == 0 || w == 0 {
        bail!("image {} is {w}x{h}", image.file_name);
    }
    let mut order: Vec<&Annotation> = annotations.to_vec();
    order.sort_by(|a, b| a.area.total_cmp(&b.area));
    let mut data = vec![0u8; h * w];
    for annotation in order {
        let Some(&label) = label_of.get(&annotation.category_id) else {
            bail!(
                "annotation {} (image {}) has category id {}, which is not among the listed categories",
                annotation.id,
                image.file_name,
                annotation.category_id
            );
        };
        for rle in annotations::annotation_mask(annotation, image.height, image.width)? {
            rle.for_each_run(|first, len| {
                for index in first..first + len {
                    let pixel = &mut data[(index % h) * w + index / h];
                    if *pixel == 0 {
                        *pixel = label;
                    }
                }
            });
        }
    }
    Ok(LabelMap {
        width: image.width,
        height: image.height,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepare_coco::annotations;
    use crate::prepare_coco::mask::tests::fixture;

    #[test]
    fn label_maps_match_the_reference_converter() {
        let expected = fixture("expected.json");
        let mut checked = 0;
        for split in ["train", "val"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/fixtures/coco/instances_{split}2014.json"));
            let instances = annotations::read(std::fs::File::open(path).unwrap()).unwrap();
            let order = annotations::label_order(&instances.categories).unwrap();
            assert_eq!(order.len(), 80);
            let label_of: HashMap<u64, u8> = order
                .iter()
                .enumerate()
                .map(|(i, c)| (c.id, (i + 1) as u8))
                .collect();
            let by_image = annotations::by_image(&instances.annotations);
            for image in &instances.images {
                let Some(anns) = by_image.get(&image.id) else {
                    continue;
                };
                let map = label_map(image, anns, &label_of).unwrap();
                let stem = image.file_name.trim_end_matches(".jpg");
                let runs = expected["labels"][stem].as_array().unwrap();
                let want: Vec<u8> = runs
                    .iter()
                    .flat_map(|run| {
                        let value = run[0].as_u64().unwrap() as u8;
                        std::iter::repeat_n(value, run[1].as_u64().unwrap() as usize)
                    })
                    .collect();
                assert_eq!(map.data, want, "{stem}");
                checked += 1;
            }
        }
        assert_eq!(checked, expected["labels"].as_object().unwrap().len());
    }

    #[test]
    fn an_unknown_category_is_named() {
        let text = r#"{"images": [{"id": 1, "file_name": "a.jpg", "height": 2, "width": 2}],
            "annotations": [{"id": 7, "image_id": 1, "category_id": 12, "area": 1,
                             "segmentation": [[0, 0, 1, 0, 1, 1]]}],
            "categories": [{"id": 1, "name": "person"}]}"#;
        let instances = annotations::read(text.as_bytes()).unwrap();
        let label_of = HashMap::from([(1, 1)]);
        let anns: Vec<&Annotation> = instances.annotations.iter().collect();
        let error = label_map(&instances.images[0], &anns, &label_of).unwrap_err();
        assert!(format!("{error:#}").contains("annotation 7 (image a.jpg) has category id 12"));
    }
}
