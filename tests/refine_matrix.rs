//! `refine` on a matrix on disk: new frames between key frames, confidence maps that single out a
//! damaged view, the JSON rewritten last, and a second refine refused.

mod common;

use efficient4d::dataset::{LoadOptions, load_dataset, read_transforms};
use efficient4d::interpolate::{ConfidenceMetric, Interpolator, RefineOptions, refine_matrix};
use std::sync::atomic::AtomicBool;

fn flow() -> Interpolator {
    Interpolator::Flow(Default::default())
}

#[test]
fn refine_adds_frames_and_confidence_maps() {
    let dir = tempfile::tempdir().unwrap();
    common::write_truth(dir.path(), 64, 13);
    let before = load_dataset(dir.path(), LoadOptions::default()).unwrap();
    // Damage view 3 of key frame 6: a colour flicker only that view has.
    let victim = before.train.iter().find(|v| v.frame_index == Some(6) && v.view_index == Some(3)).unwrap();
    let path = dir.path().join(format!("{}.png", victim.name.trim_start_matches("./")));
    // Its right half only: generator inconsistencies are local, and confidence ranks the pixels of
    // one image against each other (Efficient4D normalises each error map by its own range).
    let flipped = image::RgbaImage::from_fn(64, 64, |x, y| {
        let p = victim.image.get_pixel(x, y);
        if x >= 32 { image::Rgba([p[2], 255 - p[1], p[0], p[3]]) } else { *p }
    });
    flipped.save(&path).unwrap();

    let options = RefineOptions { new_frames_per_pair: 3, confidence: Some(ConfidenceMetric::Ssim) };
    let mut calls = 0;
    let summary =
        refine_matrix(dir.path(), &flow(), &options, &AtomicBool::new(false), &mut |_, _| calls += 1).unwrap();
    assert_eq!((summary.key_frames, summary.frames, summary.views), (13, 49, 16));
    assert_eq!(calls, 16);
    let after = load_dataset(dir.path(), LoadOptions::default()).unwrap();
    assert_eq!(after.train.len(), 16 * 49);
    assert_eq!(after.test.len(), before.test.len(), "held-out views untouched");
    assert!(after.train.iter().all(|v| v.confidence.is_some()));
    // Times: key frames keep theirs, new ones sit evenly between.
    let mut times: Vec<f32> = after.train.iter().filter(|v| v.view_index == Some(0)).map(|v| v.time).collect();
    times.sort_by(f32::total_cmp);
    for (i, t) in times.iter().enumerate() {
        assert!((t - i as f32 / 48.0).abs() < 1e-6, "frame {i} at {t}");
    }
    let json = read_transforms(&dir.path().join("transforms_train.json")).unwrap();
    let r = json.refinement.expect("refinement recorded");
    assert_eq!((r.interpolation.as_str(), r.new_frames_per_pair, r.key_frames), ("flow", 3, 13));
    // In the damaged view the damaged half is trusted less than the other half; the same view in
    // other key frames shows no such split; frames interpolated next to it inherit some of it.
    let halves = |frame: u32| {
        let v = after.train.iter().find(|v| v.frame_index == Some(frame) && v.view_index == Some(3)).unwrap();
        let conf = v.confidence.as_ref().unwrap();
        let mut sums = [(0.0f64, 0usize); 2];
        for (x, y, p) in v.image.enumerate_pixels() {
            if p[3] > 128 {
                let half = &mut sums[(x >= 32) as usize];
                half.0 += conf.get_pixel(x, y)[0] as f64 / 255.0;
                half.1 += 1;
            }
        }
        let [l, r] = sums.map(|(s, n)| s / n.max(1) as f64);
        l - r
    };
    // Key frame 6 is frame 24 of 49; key frames 3 and 9 (frames 12, 36) are not predicted from it.
    let split = halves(24);
    for clean in [12, 36] {
        assert!(split > halves(clean) + 0.1, "left-right split {split:.3} vs frame {clean} {:.3}", halves(clean));
    }
    assert!(halves(23) > halves(12) && halves(25) > halves(36), "{} {}", halves(23), halves(25));
    // First and last frames are fully trusted.
    let first = after.train.iter().find(|v| v.frame_index == Some(0)).unwrap();
    assert!(first.confidence.as_ref().unwrap().pixels().all(|p| p[0] == 255));

    let again = refine_matrix(dir.path(), &flow(), &options, &AtomicBool::new(false), &mut |_, _| {});
    assert!(again.unwrap_err().to_string().contains("already refined"));
}

#[test]
fn a_cancelled_refine_leaves_the_matrix_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    common::write_truth(dir.path(), 32, 3);
    let json = dir.path().join("transforms_train.json");
    let before = std::fs::read(&json).unwrap();
    let cancel = AtomicBool::new(false);
    let options = RefineOptions::default();
    let err = refine_matrix(dir.path(), &flow(), &options, &cancel, &mut |done, _| {
        if done == 3 {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    })
    .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert_eq!(std::fs::read(&json).unwrap(), before);
    load_dataset(dir.path(), LoadOptions::default()).unwrap();
}

#[test]
fn a_dataset_without_view_indices_is_not_a_matrix() {
    let dir = tempfile::tempdir().unwrap();
    common::write_truth(dir.path(), 32, 3);
    let json = dir.path().join("transforms_train.json");
    let text = std::fs::read_to_string(&json).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    for f in value["frames"].as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("view_index");
    }
    std::fs::write(&json, serde_json::to_vec(&value).unwrap()).unwrap();
    let err = refine_matrix(dir.path(), &flow(), &RefineOptions::default(), &AtomicBool::new(false), &mut |_, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("view_index"), "{err}");
}
