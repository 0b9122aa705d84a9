//! The desktop app driven through egui_kittest, rendered with wgpu on the shared device (lavapipe here):
//! it opens a checkpoint, scrubbing changes the image, dropped files reach the right pipeline, exports
//! write files, and it runs the whole pipeline on the demo clip.

mod common;

use efficient4d::app::preview::Pick;
use efficient4d::app::{App, AppOptions};
use efficient4d::export::Checkpoint;
use efficient4d::generate::demo::creature_flipbook;
use efficient4d::interpolate::{ConfidenceMetric, InterpolatorChoice, RefineOptions};
use efficient4d::pipeline::RefineSpec;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const WIDTH: f32 = 1100.0;

fn options() -> AppOptions {
    // One interpolated frame between the two key frames, with confidence maps (the flow: no weights here).
    let refine = RefineOptions { new_frames_per_pair: 1, confidence: Some(ConfidenceMetric::Ssim) };
    AppOptions {
        open_demo: false,
        train_iterations: 3,
        key_frames: 2,
        refine: Some(RefineSpec { interpolator: InterpolatorChoice::Flow, options: refine }),
        ..Default::default()
    }
}

fn harness(input: Option<PathBuf>, options: AppOptions) -> Harness<'static, App> {
    let gpu = common::gpu();
    let setup = egui_wgpu::WgpuSetup::Existing(egui_wgpu::WgpuSetupExisting {
        instance: gpu.instance.clone(),
        adapter: gpu.adapter.clone(),
        device: gpu.device.clone(),
        queue: gpu.queue.clone(),
    });
    Harness::builder()
        .with_size(egui::vec2(WIDTH, 700.0))
        .wgpu_setup(setup)
        .build_eframe(move |_cc| App::new(gpu, input, options).unwrap())
}

#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

fn drop_file(h: &mut Harness<'static, App>, path: &Path) {
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(path.to_path_buf())));
    h.step();
    h.input_mut().dropped_files.clear();
}

fn viewport_pixels(h: &Harness<'static, App>) -> Vec<u8> {
    h.state().viewport.image.as_ref().expect("the viewport rendered").as_raw().to_vec()
}

#[test]
fn a_checkpoint_opens_and_scrubbing_changes_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(Some(common::flipbook_checkpoint(dir.path())), options());
    h.run_steps(3);
    assert!(h.state().error.is_none(), "{:?}", h.state().error);
    assert_eq!(h.state().model.as_ref().unwrap().gaussians.len(), creature_flipbook(3).len());
    let before = viewport_pixels(&h);
    assert!(before.chunks(4).any(|p| p[0] < 200), "the model is visible");
    // → steps to the next key frame (t = 0.5).
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(2);
    assert_eq!(h.state().timeline.time, 0.5);
    let after = viewport_pixels(&h);
    let changed = before.iter().zip(&after).filter(|(a, b)| a.abs_diff(**b) > 8).count();
    assert!(changed > 500, "only {changed} channels changed when scrubbing");
    // Orbiting changes it too.
    h.state_mut().orbit.orbit(80.0, 0.0);
    h.run_steps(2);
    assert_ne!(viewport_pixels(&h), after);
    // The render timing varies from run to run (and so does the width of its text): mask its lines out
    // of the snapshot, to the window's right edge.
    let timing = h.get_by_label_contains("fps").rect();
    h.mask(egui::Rect::from_min_max(timing.min, egui::pos2(WIDTH, timing.max.y)));
    h.snapshot("app_checkpoint");
}

#[test]
fn dropped_files_go_to_their_pipeline_and_bad_ones_get_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(None, options());
    h.run_steps(2);
    assert!(h.state().model.is_none());
    h.snapshot("app_empty");

    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "hello").unwrap();
    drop_file(&mut h, &notes);
    h.run_steps(2);
    let error = h.state().error.clone().expect("an error for a text file");
    assert!(error.contains("notes.txt"), "{error}");
    assert!(h.query_by_label_contains("efficient4d opens videos").is_some(), "the message is shown in the window");

    // PLY frames exported from a checkpoint come back as a flipbook.
    let ck = Checkpoint::load(&common::flipbook_checkpoint(dir.path())).unwrap();
    let plys = dir.path().join("ply");
    efficient4d::export::ply::export_sequence(&ck.gaussians, &[0.0, 0.5, 1.0], &plys, "frame").unwrap();
    drop_file(&mut h, &plys);
    h.run_steps(2);
    assert!(h.state().error.is_none(), "{:?}", h.state().error);
    assert_eq!(h.state().model.as_ref().unwrap().key_times, vec![0.0, 0.5, 1.0]);

    // A dataset starts training; cancelling stops it.
    let ds = dir.path().join("ds");
    common::write_truth(&ds, 32, 2);
    drop_file(&mut h, &ds);
    assert!(h.state().worker.is_some(), "training started");
    h.state_mut().stop_job();
    assert!(h.state().worker.is_none());
    // A stopped training run is kept on disk (nothing is lost); tidy up its folder.
    let status = h.state().status.clone();
    assert!(status.contains("stopped after"), "{status}");
    let saved = status.split("saved ").nth(1).expect("the checkpoint path");
    assert!(Path::new(saved).exists());
    std::fs::remove_dir_all(Path::new(saved).parent().unwrap()).unwrap();
}

#[test]
fn exports_write_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(Some(common::flipbook_checkpoint(dir.path())), options());
    h.run_steps(3);
    let app = h.state();
    let model = app.model.as_ref().unwrap();
    let out = dir.path().join("frames");
    let files = efficient4d::app::actions::export_ply_sequence(model, &out, 4).unwrap();
    assert_eq!(files.len(), 4);
    assert!(files.iter().all(|f| f.exists()));
    let shot = dir.path().join("shot.png");
    efficient4d::app::actions::save_screenshot(app.viewport.image.as_ref().unwrap(), &shot).unwrap();
    assert_eq!(image::open(&shot).unwrap().width() as usize, app.viewport.image.as_ref().unwrap().size[0]);
    let saved = dir.path().join("again.safetensors");
    efficient4d::app::actions::save_checkpoint(model, &saved).unwrap();
    assert_eq!(Checkpoint::load(&saved).unwrap().gaussians, model.gaussians);
    let gif = dir.path().join("turntable.gif");
    efficient4d::app::actions::export_turntable(app.viewport.rasterizer(), model, &gif, [1.0; 3]).unwrap();
    assert!(std::fs::metadata(&gif).unwrap().len() > 1000);
}

#[test]
fn the_app_runs_the_pipeline_on_the_demo_clip() {
    let mut h = harness(None, AppOptions { open_demo: true, ..options() });
    let start = Instant::now();
    // What the viewport showed before the first model: 0 clip, 1 generated views, 2 the matrix.
    let mut shown = Vec::new();
    while h.state().worker.is_some() {
        assert!(start.elapsed() < Duration::from_secs(300), "the demo job did not finish: {}", h.state().status);
        h.step();
        let app = h.state();
        if app.model.is_none() {
            match app.preview.pick(app.job_seconds()) {
                Some(Pick::Clip(_)) => shown.push(0),
                Some(Pick::Generated(_)) => shown.push(1),
                Some(Pick::Matrix { .. }) => shown.push(2),
                None => {}
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The clip plays from decoding on (generating a key frame takes over a second), and the preview
    // only moves forward: clip, then generated views, then the matrix.
    assert_eq!(shown.first(), Some(&0), "{shown:?}");
    assert!(shown.windows(2).all(|w| w[0] <= w[1]), "{shown:?}");
    let app = h.state();
    assert!(app.error.is_none(), "{:?}", app.error);
    assert!(app.status.contains("trained after 3 steps"), "{}", app.status);
    assert_eq!(app.generation, Some((2, 2)));
    assert_eq!(app.matrix_views(), vec![17, 17, 17], "16 rig views and the input view per frame, one interpolated");
    assert!(app.has_confidence_maps(), "the refined matrix carries confidence maps");
    assert_eq!(app.matrix_thumbnails(1, true).len(), 17);
    assert_eq!(app.curve.len(), 3);
    assert!(app.model.as_ref().unwrap().gaussians.len() > 1000);
    let saved = app.status.split("saved ").nth(1).expect("the checkpoint path");
    assert!(Path::new(saved).exists());
    // The job's folder (matrix + checkpoint) lives under the temporary directory; tidy up.
    let work = Path::new(saved).parent().unwrap();
    assert!(work.starts_with(std::env::temp_dir()));
    std::fs::remove_dir_all(work).unwrap();
}

#[test]
fn crop_and_delete_apply_at_every_time_and_undo_redo() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(Some(common::flipbook_checkpoint(dir.path())), options());
    h.run_steps(2);
    let full = h.state().model.as_ref().unwrap().gaussians.clone();
    // Keep only the front half (x > 0) of the creature, in every pose.
    h.state_mut().crop_box = Some(([0.0, -1.0, -1.0], [1.0, 1.0, 1.0]));
    h.state_mut().crop();
    h.run_steps(2);
    let cropped = h.state().model.as_ref().unwrap().gaussians.clone();
    assert!(cropped.len() < full.len() && !cropped.is_empty());
    assert!(cropped.means.chunks(4).all(|m| m[0] >= 0.0));
    // Select everything visible in the left half of the image at t = 0 and delete it with the Delete key.
    let camera = h.state().orbit.camera(256, 256);
    let picked = efficient4d::app::edit::select_in_rect(&cropped, &camera, 0.0, [0.0, 0.0, 128.0, 256.0], 0.05);
    assert!(!picked.is_empty());
    h.state_mut().selection = picked.clone();
    h.key_press(egui::Key::Delete);
    h.run_steps(2);
    assert_eq!(h.state().model.as_ref().unwrap().gaussians.len(), cropped.len() - picked.len());
    // Ctrl+Z twice gets the full model back, Ctrl+Y redoes the crop.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.run_steps(2);
    assert_eq!(h.state().model.as_ref().unwrap().gaussians, full);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Y);
    h.run_steps(2);
    assert_eq!(h.state().model.as_ref().unwrap().gaussians, cropped);
}
