//! Stage 1 from a video: the bundled demo clip decodes to what our renderer made, the inflate generator's
//! shape reproduces its input view, and `video_to_matrix` writes a valid 17-view image matrix.

mod common;

use efficient4d::camera::SyncDreamerRig;
use efficient4d::camera::rig::input_view_camera;
use efficient4d::dataset::{LoadOptions, load_dataset};
use efficient4d::generate::demo::demo_clip;
use efficient4d::generate::demo::{CLIP_FPS, CLIP_FRAMES, render_clip};
use efficient4d::generate::from_video::{GeneratorChoice, VideoToMatrix, video_to_matrix, video_to_objects};
use efficient4d::generate::inflate::{InflateOptions, inflate_frame};
use efficient4d::generate::settings::Stage1Config;
use efficient4d::render::RasterView;
use efficient4d::video::preprocess::composite_on_white;
use efficient4d::video::{DecodeOptions, decode};
use std::sync::atomic::AtomicBool;

fn psnr(a: &[f32], b: &[f32]) -> f64 {
    let mse: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.len() as f64;
    10.0 * (1.0 / mse.max(1e-12)).log10()
}

#[test]
fn the_bundled_clip_is_what_the_demo_code_renders() {
    let video = decode(&demo_clip(), &DecodeOptions::default()).unwrap();
    assert_eq!(video.probe.frames, CLIP_FRAMES as usize);
    assert!((video.probe.fps - CLIP_FPS).abs() < 0.05, "fps {}", video.probe.fps);
    // 16 key frames of 46 land on every third frame: the truth matrix's times k/15.
    assert_eq!(video.source_indices, (0..16).map(|k| k * 3).collect::<Vec<_>>());
    let rendered = render_clip(&common::rasterizer()).unwrap();
    for (&i, frame) in video.source_indices.iter().zip(&video.frames).step_by(5) {
        let a: Vec<f32> = frame.as_raw().iter().map(|&v| v as f32 / 255.0).collect();
        let b: Vec<f32> = rendered[i].as_raw().iter().map(|&v| v as f32 / 255.0).collect();
        let p = psnr(&a, &b);
        assert!(p > 30.0, "frame {i}: clip vs fresh render {p:.1} dB (regenerate with `efficient4d demo`)");
    }
}

#[test]
fn an_inflated_frame_reproduces_its_input_view() {
    let options =
        VideoToMatrix::from(Stage1Config { generator: GeneratorChoice::Inflate, key_frames: 2, ..Default::default() });
    let objects = video_to_objects(&demo_clip(), &options).unwrap();
    let canvas = &objects.frames[0];
    let camera = input_view_camera(&SyncDreamerRig::default());
    let g = inflate_frame(canvas, &camera, &InflateOptions::default());
    let r = common::rasterizer();
    let view = RasterView { camera, time: 0.0, background: [1.0; 3] };
    let img = r.read_color(&r.forward(&r.upload(&g).unwrap(), &[view], false).unwrap()).unwrap();
    let ours: Vec<f32> = img.chunks(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let want = composite_on_white(canvas);
    let p = psnr(&ours, &want);
    // Away from the silhouette (3 px), where the edge colours are not replaced by interior ones.
    let inside = |x: u32, y: u32| {
        (x.saturating_sub(3)..=(x + 3).min(255))
            .all(|xx| (y.saturating_sub(3)..=(y + 3).min(255)).all(|yy| canvas.get_pixel(xx, yy)[3] == 255))
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, (x, y, _)) in canvas.enumerate_pixels().enumerate() {
        if inside(x, y) {
            a.extend_from_slice(&ours[i * 3..i * 3 + 3]);
            b.extend_from_slice(&want[i * 3..i * 3 + 3]);
        }
    }
    let p_inside = psnr(&a, &b);
    println!("inflated input view: {p:.2} dB, {p_inside:.2} dB inside, {} splats", g.len());
    if let Ok(dir) = std::env::var("E4D_DEBUG_DIR") {
        let q = |v: &[f32]| v.iter().map(|c| (c.clamp(0.0, 1.0) * 255.0) as u8).collect::<Vec<u8>>();
        image::RgbImage::from_raw(256, 256, q(&ours)).unwrap().save(format!("{dir}/inflated.png")).unwrap();
        image::RgbImage::from_raw(256, 256, q(&want)).unwrap().save(format!("{dir}/canvas.png")).unwrap();
    }
    assert!(p > 20.0 && p_inside > 28.0, "input view re-rendered at {p:.2} dB ({p_inside:.2} dB inside)");
}

#[test]
fn video_to_matrix_writes_seventeen_views_per_key_frame() {
    let dir = tempfile::tempdir().unwrap();
    let options =
        VideoToMatrix::from(Stage1Config { generator: GeneratorChoice::Inflate, key_frames: 3, ..Default::default() });
    let mut steps = Vec::new();
    let objects =
        video_to_matrix(&common::rasterizer(), &demo_clip(), dir.path(), &options, &AtomicBool::new(false), &mut |p| {
            steps.push(p)
        })
        .unwrap();
    assert_eq!(objects.frames.len(), 3);
    assert_eq!(steps.len(), 4, "decoded + one step per frame: {steps:?}");
    let ds = load_dataset(dir.path(), LoadOptions::default()).unwrap();
    assert_eq!(ds.generator.as_deref(), Some("inflate"));
    assert_eq!(ds.train.len(), 3 * 17);
    let mut times: Vec<f32> = ds.train.iter().map(|v| v.time).collect();
    times.dedup();
    // Key frames 0, 23, 45 of the 46-frame clip.
    assert_eq!(times, vec![0.0, 23.0 / 45.0, 1.0]);
    for v in &ds.train {
        let covered = v.image.pixels().filter(|p| p[3] > 128).count() as f64 / (256.0 * 256.0);
        assert!((0.02..0.6).contains(&covered), "{}: object covers {:.1}%", v.name, covered * 100.0);
    }
}

#[test]
fn cancelling_stage1_stops_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("matrix");
    let options =
        VideoToMatrix::from(Stage1Config { generator: GeneratorChoice::Inflate, key_frames: 2, ..Default::default() });
    let err = video_to_matrix(&common::rasterizer(), &demo_clip(), &out, &options, &AtomicBool::new(true), &mut |_| {})
        .unwrap_err();
    assert!(err.to_string().contains("cancelled"));
    assert!(!out.join("transforms_train.json").exists());
}
