//! The trainer end to end on a small known scene: a random 4D scene rendered from the SyncDreamer
//! rig is the dataset; training from a fresh initialisation must reproduce held-out views.

mod common;
use common::*;
use efficient4d::camera::{Intrinsics, SyncDreamerRig};
use efficient4d::dataset::{DatasetWriter, LoadOptions, Split, ViewToWrite, load_dataset};
use efficient4d::export::Checkpoint;
use efficient4d::gaussians::random::RandomScene;
use efficient4d::render::RasterView;
use efficient4d::train::eval::evaluate;
use efficient4d::train::{TrainConfig, Trainer};
use image::RgbaImage;
use std::sync::Arc;

/// Renders `scene` from every rig view at `frames` times into a dataset folder (even views train,
/// odd views test).
fn write_truth(dir: &std::path::Path, size: u32, frames: u32) {
    let scene = RandomScene {
        count: 400,
        seed: 77,
        radius: 0.35,
        log_scale: (-3.2, -2.3),
        log_scale_t: (-0.5, 0.5),
        opacity_logit: (0.0, 3.0),
        ..Default::default()
    }
    .build();
    let rig = SyncDreamerRig::default();
    let r = rasterizer();
    let p = r.upload(&scene).unwrap();
    let mut writer = DatasetWriter::new(dir, Some("render"), Some(rig.clone()));
    for f in 0..frames {
        let t = f as f32 / (frames - 1) as f32;
        let views: Vec<RasterView> = (0..rig.views)
            .map(|v| {
                let mut camera = rig.camera(v);
                camera.intrinsics = Intrinsics {
                    fx: 280.0 * size as f64 / 256.0,
                    fy: 280.0 * size as f64 / 256.0,
                    cx: size as f64 / 2.0,
                    cy: size as f64 / 2.0,
                    width: size,
                    height: size,
                };
                RasterView { camera, time: t, background: [0.0; 3] }
            })
            .collect();
        let img = r.read_color(&r.forward(&p, &views, false).unwrap()).unwrap();
        for (v, view) in views.iter().enumerate() {
            let px = (size * size) as usize;
            // Straight alpha: the colour rendered on black divided by alpha.
            let rgba = RgbaImage::from_fn(size, size, |x, y| {
                let o = (v * px + (y * size + x) as usize) * 4;
                let a = img[o + 3].clamp(0.0, 1.0);
                let c = |k: usize| if a > 1e-4 { (img[o + k] / a).clamp(0.0, 1.0) } else { 0.0 };
                image::Rgba([
                    (c(0) * 255.0).round() as u8,
                    (c(1) * 255.0).round() as u8,
                    (c(2) * 255.0).round() as u8,
                    (a * 255.0).round() as u8,
                ])
            });
            let split = if v % 2 == 0 { Split::Train } else { Split::Test };
            let name = format!("{}/f{f:02}_v{v:02}", split.name());
            writer
                .add(
                    split,
                    ViewToWrite {
                        name: &name,
                        camera: &view.camera,
                        time: t,
                        image: &rgba,
                        confidence: None,
                        frame_index: Some(f),
                        view_index: Some(v as u32),
                    },
                )
                .unwrap();
        }
    }
    writer.finish().unwrap();
}

#[test]
fn training_reproduces_held_out_views_of_a_known_scene() {
    let dir = tempfile::tempdir().unwrap();
    write_truth(dir.path(), 64, 3);
    let ds = load_dataset(dir.path(), LoadOptions::default()).unwrap();
    let rast = Arc::new(efficient4d::render::Rasterizer::new(gpu()).unwrap());
    let config = TrainConfig { iterations: 300, batch_views: 4, init_points: 3000, ..Default::default() };
    let mut trainer = Trainer::new(&gpu(), rast.clone(), &ds, config, None).unwrap();
    let before = evaluate(&rast, &trainer.gaussians(), &ds.test, [1.0; 3]).unwrap();
    let mut last = None;
    for _ in 0..300 {
        let s = trainer.step();
        assert!(!s.rolled_back && s.loss.is_finite(), "{s:?}");
        last = Some(s);
    }
    let after = evaluate(&rast, &trainer.gaussians(), &ds.test, [1.0; 3]).unwrap();
    eprintln!(
        "held-out PSNR {:.2} → {:.2} dB, SSIM {:.3} → {:.3}; last step {:?}",
        before.psnr, after.psnr, before.ssim, after.ssim, last
    );
    // Measured: 10.9 → 24.6 dB (only 8 training views per frame; the held-out views lie between them).
    assert!(after.psnr > before.psnr + 10.0, "training did not improve held-out views enough");
    assert!(after.psnr > 22.0, "held-out PSNR {:.2} dB", after.psnr);

    // The checkpoint round-trips and evaluates the same.
    let path = dir.path().join("model.safetensors");
    trainer.checkpoint().save(&path).unwrap();
    let ck = Checkpoint::load(&path).unwrap();
    let again = evaluate(&rast, &ck.gaussians, &ds.test, [1.0; 3]).unwrap();
    assert!((again.psnr - after.psnr).abs() < 1e-9);
    assert_eq!(ck.meta.iterations, 300);
    assert_eq!(ck.meta.frame_times, vec![0.0, 0.5, 1.0]);
}
