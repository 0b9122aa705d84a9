//! D-NeRF dataset reading and writing: the real scenes, a round trip, and bad input.

use efficient4d::camera::{Camera, SyncDreamerRig};
use efficient4d::dataset::{DatasetError, DatasetWriter, LoadOptions, Split, ViewToWrite, load_dataset};
use image::{GrayImage, Rgba, RgbaImage};
use std::path::{Path, PathBuf};

fn dnerf(scene: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/dnerf").join(scene)
}

#[test]
fn both_dnerf_scenes_load_with_downscaling() {
    for (scene, train) in [("jumpingjacks", 200), ("hellwarrior", 100)] {
        let ds = load_dataset(&dnerf(scene), LoadOptions { max_side: Some(400) }).unwrap();
        assert_eq!(ds.train.len(), train, "{scene}");
        assert_eq!(ds.val.len(), 20);
        assert_eq!(ds.test.len(), 20);
        let v = &ds.train[0];
        assert_eq!(v.image.dimensions(), (400, 400));
        let k = v.camera.intrinsics;
        // camera_angle_x = 0.6911 at 800 px → fx ≈ 1111; at 400 px half of it.
        assert!((k.fx - 0.5 * 400.0 / (0.5f64 * 0.6911112070083618).tan()).abs() < 1e-6);
        assert!((k.cx - 200.0).abs() < 1e-9);
        for view in ds.train.iter().chain(&ds.test) {
            // Every camera sits 4.031 from the origin and sees it near the image centre.
            let d = view.camera.position().length();
            assert!((d - 4.031).abs() < 0.01, "{scene}: distance {d}");
            let (u, v, _) = view.camera.project(glam::DVec3::ZERO).unwrap();
            assert!((u - 200.0).abs() < 2.0 && (v - 200.0).abs() < 2.0, "{scene}: origin at {u},{v}");
        }
        let (t0, t1) = ds.time_range();
        assert!(t0 >= 0.0 && t1 <= 1.0 && t1 > t0 + 0.5);
        // The object is in the alpha channel: some pixels opaque, some transparent.
        let alpha: Vec<u8> = v.image.pixels().map(|p| p[3]).collect();
        assert!(alpha.contains(&0) && alpha.contains(&255));
    }
}

fn synthetic_matrix(root: &Path, frames: u32) -> Vec<(Camera, RgbaImage, GrayImage, f32, u32, u32)> {
    let rig = SyncDreamerRig::default();
    let mut writer = DatasetWriter::new(root, Some("render"), Some(rig.clone()));
    let mut written = Vec::new();
    for f in 0..frames {
        for v in 0..rig.views {
            let cam = rig.camera(v);
            let image = RgbaImage::from_fn(256, 256, |x, y| {
                Rgba([(x + f) as u8, (y * 3 + v) as u8, (x ^ y) as u8, ((x * y + v) % 256) as u8])
            });
            let conf = GrayImage::from_fn(256, 256, |x, y| image::Luma([((x + y + f) % 256) as u8]));
            let time = f as f32 / (frames - 1) as f32;
            let name = format!("train/f{f:03}_v{v:02}");
            writer
                .add(
                    Split::Train,
                    ViewToWrite {
                        name: &name,
                        camera: &cam,
                        time,
                        image: &image,
                        confidence: Some(&conf),
                        frame_index: Some(f),
                        view_index: Some(v),
                    },
                )
                .unwrap();
            written.push((cam, image, conf, time, f, v));
        }
    }
    writer.finish().unwrap();
    written
}

#[test]
fn a_written_matrix_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let written = synthetic_matrix(dir.path(), 2);
    let ds = load_dataset(dir.path(), LoadOptions::default()).unwrap();
    assert_eq!(ds.generator.as_deref(), Some("render"));
    assert_eq!(ds.rig, Some(SyncDreamerRig::default()));
    assert_eq!(ds.train.len(), written.len());
    for (view, (cam, image, conf, time, f, v)) in ds.train.iter().zip(&written) {
        assert!(view.camera.world_to_camera.abs_diff_eq(cam.world_to_camera, 1e-9), "{}", view.name);
        assert!((view.camera.intrinsics.fx - 280.0).abs() < 1e-9);
        assert_eq!(&view.image, image);
        assert_eq!(view.confidence.as_ref(), Some(conf));
        assert_eq!((view.time, view.frame_index, view.view_index), (*time, Some(*f), Some(*v)));
    }
    // Half resolution: intrinsics follow the images.
    let half = load_dataset(dir.path(), LoadOptions { max_side: Some(128) }).unwrap();
    let k = half.train[0].camera.intrinsics;
    assert_eq!((k.width, k.height), (128, 128));
    assert!((k.fx - 140.0).abs() < 1e-9 && (k.cx - 64.0).abs() < 1e-9);
    assert_eq!(half.train[0].confidence.as_ref().unwrap().dimensions(), (128, 128));
}

/// Writes a one-frame dataset whose JSON is `json`, with a valid 4x4 image at `train/a.png`.
fn with_json(json: &str) -> (tempfile::TempDir, Result<efficient4d::dataset::Dataset, DatasetError>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    RgbaImage::new(4, 4).save(dir.path().join("train/a.png")).unwrap();
    std::fs::write(dir.path().join("transforms_train.json"), json).unwrap();
    let r = load_dataset(dir.path(), LoadOptions::default());
    (dir, r)
}

const IDENTITY: &str = "[[1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]";

fn frame_json(matrix: &str, extra: &str) -> String {
    format!(
        r#"{{"camera_angle_x": 0.69, "frames": [{{"file_path": "./train/a", "time": 0.5, "transform_matrix": {matrix}{extra}}}]}}"#
    )
}

fn expect_error(json: &str, needles: &[&str]) {
    let (_dir, r) = with_json(json);
    let msg = r.expect_err("bad input must be rejected").to_string();
    assert!(msg.contains("transforms_train.json"), "message does not name the file: {msg}");
    for n in needles {
        assert!(msg.contains(n), "message `{msg}` lacks `{n}`");
    }
}

#[test]
fn a_valid_minimal_file_loads() {
    let (_dir, r) = with_json(&frame_json(IDENTITY, ""));
    let ds = r.unwrap();
    assert_eq!(ds.train.len(), 1);
    assert_eq!(ds.train[0].time, 0.5);
}

#[test]
fn bad_input_names_the_file_and_the_field() {
    expect_error("{ not json", &["invalid JSON"]);
    expect_error(r#"{"camera_angle_x": 0.7}"#, &["frames"]);
    expect_error(r#"{"camera_angle_x": 0.7, "frames": []}"#, &["frames", "no frames"]);
    expect_error(&frame_json(IDENTITY, "").replace("0.69", "\"wide\""), &["camera_angle_x"]);
    expect_error(&frame_json(IDENTITY, "").replace(r#""camera_angle_x": 0.69, "#, ""), &["camera_angle_x", "missing"]);
    expect_error(&frame_json("[[1,0,0,0],[0,1,0,0],[0,0,1,4]]", ""), &["frames[0].transform_matrix", "4x4"]);
    expect_error(&frame_json("[[1,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]", ""), &["frames[0].transform_matrix", "4x4"]);
    // A reflection (det −1) and a scaled rotation (det 8).
    expect_error(
        &frame_json("[[-1,0,0,0],[0,1,0,0],[0,0,1,4],[0,0,0,1]]", ""),
        &["frames[0].transform_matrix", "determinant"],
    );
    expect_error(&frame_json("[[2,0,0,0],[0,2,0,0],[0,0,2,4],[0,0,0,1]]", ""), &["determinant"]);
    // JSON cannot spell NaN; an overflowing literal is the closest thing and must be refused.
    expect_error(&frame_json("[[1,0,0,0],[0,1,0,0],[0,0,1,1e999],[0,0,0,1]]", ""), &["transform_matrix"]);
    expect_error(&frame_json(IDENTITY, "").replace("\"time\": 0.5", "\"time\": \"late\""), &["frames[0].time"]);
    expect_error(
        &frame_json(IDENTITY, "").replace("./train/a", "./train/missing"),
        &["frames[0].file_path", "missing.png"],
    );
    expect_error(&frame_json(IDENTITY, r#", "confidence_path": "./train/nope.png""#), &["frames[0].confidence_path"]);
}

#[test]
fn a_confidence_map_of_the_wrong_size_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("train")).unwrap();
    RgbaImage::new(4, 4).save(dir.path().join("train/a.png")).unwrap();
    GrayImage::new(3, 4).save(dir.path().join("train/c.png")).unwrap();
    std::fs::write(
        dir.path().join("transforms_train.json"),
        frame_json(IDENTITY, r#", "confidence_path": "./train/c.png""#),
    )
    .unwrap();
    let msg = load_dataset(dir.path(), LoadOptions::default()).unwrap_err().to_string();
    assert!(msg.contains("3x4") && msg.contains("confidence_path"), "{msg}");
}

#[test]
fn a_folder_without_transforms_is_not_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_dataset(dir.path(), LoadOptions::default()).unwrap_err();
    assert!(matches!(err, DatasetError::NotADataset(_)), "{err}");
}
