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
        stage1: efficient4d::generate::settings::Stage1Config { key_frames: 2, ..Default::default() },
        refine: Some(RefineSpec { interpolator: InterpolatorChoice::Flow, options: refine }),
        // What earlier runs on this machine left is not these tests' business (one test offers its own).
        offer_unfinished: false,
        // Nor the weights installed on it: the app sees none (one test serves its own).
        weights: efficient4d::app::weights_window::WeightsPlace {
            dir: std::env::temp_dir().join("efficient4d-tests-no-weights"),
            endpoint: "http://127.0.0.1:9".into(),
        },
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
        .build_eframe(move |cc| App::for_window(cc, gpu, input, options).unwrap())
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
    let image = h.state().viewport.read_image().unwrap().expect("the viewport rendered");
    image.as_raw().to_vec()
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
fn every_export_writes_a_file_that_reads_back() {
    use efficient4d::app::actions::{ExportKind, VideoSettings};
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(Some(common::flipbook_checkpoint(dir.path())), options());
    h.run_steps(3);
    // Small videos keep the test quick; the path is the same as the defaults'.
    h.state_mut().video = VideoSettings { frames: 6, size: 96, fps: 12.0 };
    h.state_mut().export_frames = 4;
    for kind in ExportKind::ALL {
        let path = dir.path().join(kind.file_name().unwrap_or("frames"));
        h.state_mut().export_to(kind, &path);
        assert!(h.state().error.is_none(), "{kind:?}: {:?}", h.state().error);
        assert!(h.state().status.contains(&*path.to_string_lossy()), "{kind:?}: {}", h.state().status);
    }
    let app = h.state();
    let model = app.model.as_ref().unwrap();
    let at = |name: &str| dir.path().join(name);
    let frames: Vec<_> = std::fs::read_dir(at("frames")).unwrap().collect();
    assert_eq!(frames.len(), 4);
    let zipped = efficient4d::export::ply_zip::read_ply_zip(&at("model.zip")).unwrap();
    assert_eq!(zipped.len(), 4);
    let (first, _) = efficient4d::export::ply::read_ply(&at("frames").join("frame_0000.ply")).unwrap();
    assert_eq!(zipped[0].splats, first, "the zip holds the same frames as the folder");
    let splatv = efficient4d::export::splatv::read_splatv(&at("model.splatv")).unwrap();
    assert!(splatv.splats.len() > model.gaussians.len() / 2, "{} splats in the .splatv", splatv.splats.len());
    assert_eq!(splatv.time_range, model.time_range);
    assert_eq!(splatv.cameras.len(), 1);
    let html = std::fs::read_to_string(at("model.html")).unwrap();
    let embedded =
        efficient4d::export::splatv::from_bytes(&efficient4d::export::html_player::embedded_splatv(&html).unwrap())
            .unwrap();
    assert_eq!(embedded.splats, splatv.splats, "the player holds the same splats as the .splatv");
    let snaps: Vec<&str> = embedded.cameras.iter().map(|c| c.img_name.as_str()).collect();
    assert_eq!(snaps[..2], ["your view", "input view"], "the app's view first, then the input view and the rig's 16");
    assert_eq!(snaps.len(), 18);
    // The MP4s decode with our own decoder: the frame count and size asked for.
    let view_size = efficient4d::export::turntable::TurntableSpec {
        size: 96,
        path: efficient4d::export::turntable::CameraPath::Fixed(app.view_camera()),
        ..Default::default()
    }
    .frame_size();
    for (name, size) in [("turntable.mp4", (96, 96)), ("clip.mp4", view_size)] {
        let options = efficient4d::video::DecodeOptions { key_frames: 6, range_s: None, max_side: 4096 };
        let video = efficient4d::video::decode(&at(name), &options).unwrap();
        assert_eq!(video.frames.len(), 6, "{name}");
        assert_eq!(video.frames[0].dimensions(), size, "{name}");
        let probe = efficient4d::video::open(&at(name), 4096).unwrap().probe().clone();
        assert_eq!(probe.frames, 6, "{name}: frames in the container");
    }
    assert_eq!(Checkpoint::load(&at("model.safetensors")).unwrap().gaussians, model.gaussians);
    let shot = image::open(at("screenshot.png")).unwrap().to_rgba8();
    assert_eq!(shot.as_raw(), app.viewport.read_image().unwrap().unwrap().as_raw(), "the screenshot is the frame");
    assert!(std::fs::metadata(at("turntable.gif")).unwrap().len() > 1000);
}

#[test]
fn the_viewport_frame_stays_on_the_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(Some(common::flipbook_checkpoint(dir.path())), options());
    h.run_steps(3);
    assert!(h.state().viewport.is_zero_copy(), "the window's egui renderer is attached");
    let before = h.state().viewport.rasterizer().readback_bytes();
    let renders = h.state().viewport.renders;
    for _ in 0..5 {
        h.state_mut().orbit.orbit(15.0, 0.0);
        h.run_steps(1);
    }
    let frames = h.state().viewport.renders - renders;
    let read = h.state().viewport.rasterizer().readback_bytes() - before;
    let s = h.state().viewport.stats;
    assert_eq!(frames, 5, "every orbit step renders");
    // Nothing comes back: not the image, nor the forward pass's splat counts (its sorts are
    // dispatched indirectly from counts that stay on the GPU).
    assert_eq!(read, 0, "{read} bytes read back over {frames} frames of {}x{}", s.width, s.height);
    // What egui draws is exactly the frame (the read-back path's image), to within rounding.
    let presented = h.state().viewport.read_presented().unwrap().expect("a presented texture");
    let frame = h.state().viewport.read_image().unwrap().unwrap();
    assert_eq!(presented.len(), frame.as_raw().len());
    let off = presented.iter().zip(frame.as_raw()).filter(|(a, b)| a.abs_diff(**b) > 1).count();
    assert_eq!(off, 0, "{off} values differ by more than one level");
    assert!(presented.chunks(4).any(|p| p[0] < 200), "the model is in the presented image");
}

#[test]
fn the_fly_camera_moves_the_image_and_keeps_the_view_when_switching() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(Some(common::flipbook_checkpoint(dir.path())), options());
    h.run_steps(3);
    let before = viewport_pixels(&h);
    let eye = h.state().orbit.eye();
    h.state_mut().fly = true;
    h.state_mut().fly_speed = 0.5;
    h.run_steps(1);
    assert_eq!(viewport_pixels(&h), before, "switching to fly keeps the view");
    // Hold W: the camera flies forward, towards the object.
    h.key_down(egui::Key::W);
    h.run_steps(6);
    h.key_up(egui::Key::W);
    h.run_steps(1);
    let moved = h.state().orbit.eye();
    assert!((moved - eye).length() > 0.01 && moved.length() < eye.length(), "{eye} -> {moved}");
    let after = viewport_pixels(&h);
    let changed = before.iter().zip(&after).filter(|(a, b)| a.abs_diff(**b) > 8).count();
    assert!(changed > 500, "only {changed} channels changed when flying");
    // Looking around turns the view without moving the eye.
    h.state_mut().orbit.look(60.0, 0.0);
    h.run_steps(1);
    assert!((h.state().orbit.eye() - moved).length() < 1e-9);
    assert_ne!(viewport_pixels(&h), after);
}

#[test]
fn the_app_runs_the_pipeline_on_the_demo_clip() {
    let mut h = harness(None, AppOptions { open_demo: true, ..options() });
    let start = Instant::now();
    // What the viewport showed before the first model: 0 clip, 1 generated views, 2 the matrix.
    let mut shown = Vec::new();
    while h.state().worker.is_some() {
        assert!(start.elapsed() < common::HANG_CEILING, "the demo job did not finish: {}", h.state().status);
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
    // The matrix came from the weights-free preview: one line says so, and what a full result needs.
    assert!(app.made_by_preview);
    assert!(h.query_by_label_contains("weights-free inflate preview").is_some());
    assert!(h.query_by_label("Get them").is_some());
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

#[test]
fn the_app_offers_an_unfinished_run_and_goes_on_with_it() {
    use efficient4d::pipeline::{Control, Event, MODEL_FILE, TrainSpec, TrainStart, training};
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    common::write_truth(&data, 32, 2);
    // A run of 12 steps stopped after its first, as a crash after an autosave would leave it.
    let work = root.path().join("jobs").join("data-1");
    let control = Control::default();
    let ds = efficient4d::dataset::load_dataset(&data, Default::default()).unwrap();
    let gpu = common::gpu();
    let rast = std::sync::Arc::new(efficient4d::render::Rasterizer::new(gpu.clone()).unwrap());
    let settings = efficient4d::train::TrainConfig { iterations: 12, init_points: 300, ..Default::default() };
    let spec = TrainSpec::forced(TrainStart::fresh(settings));
    let stop = control.clone();
    let mut cancel_after_first = move |e: Event| {
        if matches!(e, Event::Step(_)) {
            stop.cancel();
        }
    };
    training::train(&gpu, &rast, &ds, &spec, Some(&work), &control, &mut cancel_after_first).unwrap();
    efficient4d::app::unfinished::record_job(&work, &data).unwrap();
    assert_eq!(Checkpoint::load(&work.join(MODEL_FILE)).unwrap().meta.iterations, 1);

    let jobs_root = root.path().join("jobs");
    let mut h = harness(None, AppOptions { offer_unfinished: true, jobs_root: jobs_root.clone(), ..options() });
    h.run_steps(2);
    assert!(h.query_by_label_contains("step 1 of 12").is_some(), "the offer is shown");
    h.get_by_label("Resume").click();
    h.run_steps(2);
    assert!(h.state().unfinished.is_none() && h.state().worker.is_some());
    let start = Instant::now();
    while h.state().worker.is_some() {
        assert!(start.elapsed() < common::HANG_CEILING, "the resumed run did not finish: {}", h.state().status);
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.state().error.is_none(), "{:?}", h.state().error);
    let report = h.state().last_report.as_ref().unwrap().train.clone().unwrap();
    assert_eq!((report.resumed_from, report.iters), (Some(1), 12), "{}", h.state().status);
    assert_eq!(Checkpoint::load(&work.join(MODEL_FILE)).unwrap().meta.iterations, 12);
    // Finished: not offered again.
    assert!(efficient4d::app::unfinished::newest_unfinished(&jobs_root).is_none());
}

/// The Weights window, against a hub on 127.0.0.1: reached from the status line, Get shows progress,
/// Cancel keeps what arrived, Resume goes on from there, and the file is installed and says so.
#[test]
fn the_weights_window_gets_cancels_resumes_and_installs() {
    use common::hub::{LoopbackHub, Served};
    use efficient4d::app::weights_window::WeightsPlace;
    use efficient4d::weights::RIFE;
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden/rife_ifnet_hdv3_random_f16.safetensors"),
    )
    .unwrap();
    // Slow enough (4 s for the file) to cancel part way.
    let served = Served { rate: Some(bytes.len() / 4), ..Served::new(bytes.clone()) };
    let hub = LoopbackHub::start(vec![(&format!("{}/{}", RIFE.hub.repo, RIFE.hub.path), served)]);
    let dir = tempfile::tempdir().unwrap();
    let place = WeightsPlace { dir: dir.path().to_path_buf(), endpoint: hub.endpoint.clone() };
    let mut h = harness(None, AppOptions { weights: place, ..options() });
    h.run_steps(2);
    h.get_by_label_contains("SyncDreamer-T weights: not installed").click();
    h.run_steps(2);
    assert!(h.state().weights_window.open, "the status line opens the Weights window");
    // The rows in catalogue order: SyncDreamer, then RIFE.
    assert_eq!(h.get_all_by_label("Get").count(), 2);
    h.get_all_by_label("Get").nth(1).unwrap().click();
    h.run_steps(2);
    let wait_for = |h: &mut Harness<'static, App>, what: &str, done: &dyn Fn(&App) -> bool| {
        let start = Instant::now();
        while !done(h.state()) {
            assert!(start.elapsed() < common::HANG_CEILING, "{what}");
            h.step();
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(&mut h, "no bytes arrived", &|app| {
        app.weights_window.progress().and_then(|(_, p)| p).is_some_and(|p| p.done > 0)
    });
    h.run_steps(1);
    assert!(h.query_by_label_contains("rife: ").is_some(), "the status line shows the download");
    h.get_by_label("Cancel").click();
    wait_for(&mut h, "cancel did not stop the download", &|app| !app.weights_window.is_downloading());
    h.run_steps(2);
    let outcome = h.state().weights_window.outcome("rife").unwrap().to_string();
    assert!(outcome.contains("cancelled"), "{outcome}");
    assert!(h.query_by_label_contains("partial: ").is_some(), "the row shows the partial download");
    assert!(!dir.path().join("flownet.pkl").exists());
    h.get_by_label("Resume").click();
    h.run_steps(1);
    wait_for(&mut h, "the resumed download did not finish", &|app| !app.weights_window.is_downloading());
    h.run_steps(2);
    let outcome = h.state().weights_window.outcome("rife").unwrap().to_string();
    assert!(outcome.starts_with("installed"), "{outcome}");
    assert!(h.query_by_label_contains("installed: flownet.pkl").is_some(), "the row says installed");
    assert_eq!(std::fs::read(dir.path().join("flownet.pkl")).unwrap(), bytes);
    // The second request asked for the rest only.
    let ranges = hub.ranges();
    assert!(ranges.len() == 2 && ranges[0] == 0 && ranges[1] > 0, "{ranges:?}");
}

/// Stage 1's settings in the right panel: one out of range is said there, and a video opened with it is
/// refused in the same words as the command line and the library use (`Stage1Config::validate`).
#[test]
fn stage_1_settings_out_of_range_are_said_and_refused_in_the_librarys_words() {
    let mut h = harness(None, options());
    h.run_steps(2);
    h.get_by_label("Stage 1 (next video)").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("key frames").is_some(), "the section opened");
    h.state_mut().stage1_settings_mut().key_frames = 1;
    h.run_steps(2);
    let words = h.state_mut().stage1_settings_mut().validate().unwrap_err();
    assert!(h.query_by_label_contains(&words).is_some(), "the panel says `{words}`");

    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/creature.mp4");
    drop_file(&mut h, &clip);
    let start = std::time::Instant::now();
    while h.state().error.is_none() {
        assert!(start.elapsed() < common::HANG_CEILING, "the job was not refused");
        h.run_steps(1);
    }
    let error = h.state().error.clone().unwrap();
    assert!(error.contains(&words), "{error}");
}
