//! The desktop app (eframe on the wgpu renderer, one device shared with burn and our rasterizer):
//! open or drop a video, a frame folder, a dataset, a checkpoint or PLY frames; watch stage 1 and
//! training live; scrub time, orbit; export PLY frames (a folder or a zip), a `.splatv`, an MP4 or GIF,
//! a checkpoint or a screenshot.

pub mod actions;
pub mod edit;
pub(crate) mod model;
pub(crate) mod open;
mod panels;
pub mod preview;
pub(crate) mod timeline;
pub mod unfinished;
pub(crate) mod viewport;
pub mod weights_window;
pub mod worker;

use crate::camera::SyncDreamerRig;
use crate::camera::orbit::OrbitCamera;
use crate::generate::settings::Stage1Config;
use crate::gpu::GpuContext;
use crate::pipeline::stopping::StopRule;
use crate::pipeline::{Event, Input, JobReport, JobSpec, RefineSpec, Stage1Spec, StepReport, TrainSpec, TrainStart};
use crate::train::TrainConfig;
use model::LoadedModel;
use open::{Openable, classify};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use timeline::Timeline;
use viewport::Viewport;
use worker::{Worker, WorkerMsg, work_dir_for};

/// Start-up choices (tests turn the demo off and shorten training).
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// With no input, open the bundled demo clip and run the pipeline on it.
    pub open_demo: bool,
    /// At most this many training steps for jobs started from the app (a run ends earlier once its
    /// held-out decision views stop improving).
    pub train_iterations: u32,
    /// Stage 1's settings for a video (key frames, generator, ...), as `run` takes them.
    pub stage1: Stage1Config,
    /// Interpolation and confidence maps between the stages (`None`: off).
    pub refine: Option<RefineSpec>,
    /// When training ends early: a plateau, or the plan fitted to a time budget (as `run` does).
    pub stop: StopRule,
    /// Where jobs keep their work folders (the matrix, the model and its autosaves).
    pub jobs_root: PathBuf,
    /// On launch, offer to go on with the newest run under `jobs_root` that did not finish.
    pub offer_unfinished: bool,
    /// Where the Weights window installs and what it downloads from.
    pub weights: weights_window::WeightsPlace,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            open_demo: true,
            train_iterations: TrainConfig::default().iterations,
            stage1: Stage1Config::default(),
            refine: Some(Default::default()),
            stop: StopRule::default(),
            jobs_root: unfinished::jobs_root(),
            offer_unfinished: true,
            weights: Default::default(),
        }
    }
}

/// Stage 1 of a video the app opens: `options.stage1`, refined as `options` says.
pub fn video_stage1(options: &AppOptions) -> Stage1Spec {
    Stage1Spec { generate: options.stage1.clone().into(), refine: options.refine }
}

/// How often the viewport gets the model as it trains.
pub(crate) const SNAPSHOT_EVERY: Duration = Duration::from_millis(1500);

/// The job the app runs for `input` under `options` (stage 1 as `stage1` says for a video, then
/// training with snapshots for the viewport) in the work folder `out`.
pub fn job_spec(options: &AppOptions, input: Input, stage1: Stage1Spec, out: PathBuf) -> JobSpec {
    let settings = TrainConfig { iterations: options.train_iterations, ..Default::default() };
    let train = TrainSpec {
        snapshot_every: Some(SNAPSHOT_EVERY),
        stop: options.stop,
        ..TrainSpec::new(TrainStart::fresh(settings))
    };
    JobSpec { out, input, stage1, train: Some(train), resolution: None, export: Default::default() }
}

/// One entry of the training curve.
#[derive(Clone, Copy, Debug)]
pub struct CurvePoint {
    pub iteration: u32,
    pub loss: f32,
    pub psnr: f32,
}

pub struct App {
    gpu: Arc<GpuContext>,
    options: AppOptions,
    pub viewport: Viewport,
    pub orbit: OrbitCamera,
    /// Fly mode (drag looks around, WASD/QE move at `fly_speed` world units per second) or orbit.
    pub fly: bool,
    pub fly_speed: f64,
    pub timeline: Timeline,
    pub model: Option<LoadedModel>,
    model_version: u64,
    pub background: [f32; 3],
    pub splat_scale: f32,
    pub worker: Option<Worker>,
    /// What the app is doing, in words.
    pub status: String,
    /// The last error, shown until dismissed.
    pub error: Option<String>,
    /// The input's preprocessed key frames (stage 1) and their times.
    key_frames: Vec<egui::TextureHandle>,
    /// What the viewport shows while the job has no model yet, and when the job started.
    pub preview: preview::StagePreview,
    job_started: Option<Instant>,
    /// The image matrix: per frame (key frames and, once refined, the interpolated ones), the
    /// thumbnails of its views.
    matrix: Vec<Vec<egui::TextureHandle>>,
    matrix_times: Vec<f32>,
    /// The same thumbnails with the confidence maps over them (empty when the matrix has none).
    matrix_confidence: Vec<Vec<egui::TextureHandle>>,
    /// Show `matrix_confidence` instead of `matrix`.
    pub show_confidence: bool,
    pub generation: Option<(usize, usize)>,
    pub train_stats: Option<StepReport>,
    pub curve: Vec<CurvePoint>,
    pub export_frames: u32,
    /// Frames, size and rate of MP4 exports.
    pub video: actions::VideoSettings,
    pub history: edit::History,
    /// The crop box (min, max corners in world units) while it is shown.
    pub crop_box: Option<([f32; 3], [f32; 3])>,
    /// Indices of the selected Gaussians (by a shift-drag rectangle in the viewport).
    pub selection: Vec<usize>,
    /// The last finished job's report.
    pub last_report: Option<Box<JobReport>>,
    /// A run an earlier launch started and did not finish, offered to go on with.
    pub unfinished: Option<unfinished::Unfinished>,
    /// Set by wgpu when the device is lost (driver reset, GPU removed).
    device_lost: Arc<std::sync::Mutex<Option<String>>>,
    /// The Weights window (downloads of the published weights).
    pub weights_window: weights_window::WeightsWindow,
    /// The running job's stage-1 generator was the weights-free preview (the central panel says what a
    /// full result needs).
    pub made_by_preview: bool,
}

impl App {
    pub fn new(gpu: Arc<GpuContext>, input: Option<PathBuf>, options: AppOptions) -> anyhow::Result<Self> {
        let mut app = Self::build(gpu, options)?;
        app.open_initial(input);
        Ok(app)
    }

    /// The app with nothing opened yet.
    fn build(gpu: Arc<GpuContext>, options: AppOptions) -> anyhow::Result<Self> {
        let device_lost = Arc::new(std::sync::Mutex::new(None));
        let lost = device_lost.clone();
        gpu.device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut l) = lost.lock() {
                *l = Some(format!("{reason:?}: {message}"));
            }
        });
        Ok(Self {
            viewport: Viewport::new(gpu.clone())?,
            gpu,
            options,
            orbit: OrbitCamera::default(),
            fly: false,
            fly_speed: 0.5,
            timeline: Timeline::default(),
            model: None,
            model_version: 0,
            background: [1.0; 3],
            splat_scale: 1.0,
            worker: None,
            status: "drop a video, a frame folder, a dataset, a checkpoint or PLY frames here".into(),
            error: None,
            key_frames: Vec::new(),
            preview: Default::default(),
            job_started: None,
            matrix: Vec::new(),
            matrix_times: Vec::new(),
            matrix_confidence: Vec::new(),
            show_confidence: false,
            generation: None,
            train_stats: None,
            curve: Vec::new(),
            export_frames: 0,
            video: Default::default(),
            history: edit::History::default(),
            crop_box: None,
            selection: Vec::new(),
            last_report: None,
            unfinished: None,
            device_lost,
            weights_window: Default::default(),
            made_by_preview: false,
        })
    }

    /// Opens what the app was started with: `input`, or the demo clip when there is none (if asked);
    /// finds the newest run that did not finish, to offer it.
    fn open_initial(&mut self, input: Option<PathBuf>) {
        if self.options.offer_unfinished {
            self.unfinished = unfinished::newest_unfinished(&self.options.jobs_root);
        }
        match input {
            Some(path) => self.open(&path),
            None if self.options.open_demo => self.open(&crate::generate::demo::demo_clip()),
            None => {}
        }
    }

    /// The app in eframe's window: like [`App::new`], drawing the viewport through the window's
    /// egui-wgpu renderer when there is one (zero-copy).
    pub fn for_window(
        cc: &eframe::CreationContext<'_>,
        gpu: Arc<GpuContext>,
        input: Option<PathBuf>,
        options: AppOptions,
    ) -> anyhow::Result<Self> {
        let mut app = Self::build(gpu, options)?;
        if let Some(state) = &cc.wgpu_render_state {
            app.attach_egui_renderer(state.renderer.clone());
        }
        app.open_initial(input);
        Ok(app)
    }

    /// Draw the viewport through the window's egui-wgpu renderer (same device): no frame is read back.
    pub fn attach_egui_renderer(&mut self, renderer: viewport::EguiRenderer) {
        self.viewport.attach_egui_renderer(renderer);
    }

    /// Opens anything the app understands; a wrong file sets `error`, never panics.
    pub fn open(&mut self, path: &Path) {
        self.error = None;
        self.made_by_preview = false;
        match classify(path) {
            Err(message) => self.error = Some(message),
            Ok(what) => {
                if let Err(e) = self.open_classified(what) {
                    self.error = Some(format!("{e:#}"));
                }
            }
        }
    }

    fn open_classified(&mut self, what: Openable) -> anyhow::Result<()> {
        match what {
            Openable::Checkpoint(p) => self.show_model(LoadedModel::from_checkpoint(&p)?),
            Openable::PlyFolder(p) => self.show_model(LoadedModel::from_ply_folder(&p)?),
            Openable::Ply(p) => self.show_model(LoadedModel::from_ply_file(&p)?),
            Openable::PlyZip(p) => self.show_model(LoadedModel::from_ply_zip(&p)?),
            Openable::Splatv(p) => self.show_model(LoadedModel::from_splatv(&p)?),
            Openable::Video(p) => self.start(Input::Video(p), video_stage1(&self.options)),
            Openable::Dataset(p) => self.start(Input::Dataset(p), Stage1Spec::default()),
        }
        Ok(())
    }

    /// Starts the job for `input` (stage 1 as `stage1` says for a video, then training) in a fresh
    /// work folder, where the matrix and the model stay.
    fn start(&mut self, input: Input, stage1: Stage1Spec) {
        let out = work_dir_for(&self.options.jobs_root, input.path());
        self.start_job(job_spec(&self.options, input, stage1, out));
    }

    /// Stage 1's settings for the next video (the right panel edits them).
    pub fn stage1_settings_mut(&mut self) -> &mut Stage1Config {
        &mut self.options.stage1
    }

    /// Goes on with the unfinished run on offer from its last save, in its own work folder.
    pub(crate) fn resume_unfinished(&mut self) {
        let Some(run) = self.unfinished.take() else { return };
        let mut job = job_spec(&self.options, Input::Dataset(run.dataset), Stage1Spec::default(), run.work);
        if let Some(train) = job.train.as_mut() {
            train.start = TrainStart::Resume { iterations: None, saved_stop_rule: true };
        }
        self.start_job(job);
    }

    /// Stops offering the unfinished run, now and on later launches.
    pub(crate) fn dismiss_unfinished(&mut self) {
        if let Some(run) = self.unfinished.take()
            && let Err(e) = run.dismiss()
        {
            log::warn!("{}: {e}", run.work.display());
        }
    }

    fn start_job(&mut self, job: JobSpec) {
        self.stop_job();
        self.key_frames.clear();
        self.preview.clear();
        self.made_by_preview = false;
        self.job_started = Some(Instant::now());
        // The viewport shows the new job's progress, not the last model (its first snapshot would
        // replace that one anyway).
        self.model = None;
        self.history.clear();
        self.after_model_change();
        self.matrix.clear();
        self.matrix_times.clear();
        self.matrix_confidence.clear();
        self.curve.clear();
        self.train_stats = None;
        self.generation = None;
        // Where training will read its dataset from, so a later launch can go on with this run.
        if job.train.is_some() {
            let dataset = match &job.input {
                Input::Video(_) => job.matrix_dir(),
                other => other.path().to_path_buf(),
            };
            if let Err(e) = std::fs::create_dir_all(&job.out).and_then(|()| unfinished::record_job(&job.out, &dataset))
            {
                log::warn!("{}: {e}", job.out.display());
            }
        }
        let worker = Worker::start(self.gpu.clone(), job);
        self.status = worker.description.clone();
        self.worker = Some(worker);
    }

    pub fn stop_job(&mut self) {
        if let Some(mut w) = self.worker.take() {
            w.stop();
            let before = self.status.clone();
            self.drain(&mut w);
            // Keep the job's last word ("stopped after N steps; saved ...") when it had one.
            if self.status == before {
                self.status = "stopped".into();
            }
        }
    }

    pub(crate) fn toggle_pause(&mut self) {
        if let Some(w) = &self.worker {
            w.control.set_paused(!w.control.is_paused());
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.worker.as_ref().is_some_and(|w| w.control.is_paused())
    }

    /// Whether edits are allowed now (not while a job is producing the model).
    pub(crate) fn can_edit(&self) -> bool {
        self.model.is_some() && self.worker.is_none()
    }

    /// Replaces the model's Gaussians by an edited version, remembering the old ones for undo.
    pub(crate) fn apply_edit(
        &mut self,
        edit: impl FnOnce(&crate::gaussians::Gaussians4d) -> crate::gaussians::Gaussians4d,
    ) {
        if !self.can_edit() {
            return;
        }
        let Some(model) = self.model.as_mut() else { return };
        let edited = edit(&model.gaussians);
        let before = std::mem::replace(&mut model.gaussians, edited);
        self.history.push(before);
        self.after_model_change();
    }

    pub fn crop(&mut self) {
        if let Some((min, max)) = self.crop_box {
            self.apply_edit(|g| edit::crop_to_box(g, min, max));
        }
    }

    pub(crate) fn delete_selection(&mut self) {
        let selection = std::mem::take(&mut self.selection);
        if !selection.is_empty() {
            self.apply_edit(|g| edit::delete(g, &selection));
        }
    }

    pub(crate) fn undo(&mut self) {
        self.step_history(true);
    }

    pub(crate) fn redo(&mut self) {
        self.step_history(false);
    }

    fn step_history(&mut self, back: bool) {
        if !self.can_edit() {
            return;
        }
        let Some(model) = self.model.as_mut() else { return };
        let current = model.gaussians.clone();
        let state = if back { self.history.undo(current) } else { self.history.redo(current) };
        if let Some(g) = state {
            model.gaussians = g;
            self.after_model_change();
        }
    }

    fn after_model_change(&mut self) {
        self.selection.clear();
        self.model_version += 1;
        self.viewport.clear();
    }

    fn show_model(&mut self, model: LoadedModel) {
        let first_model = self.model.is_none();
        self.timeline.set_range(model.time_range, model.key_times.clone());
        if first_model {
            self.background = model.background;
        }
        self.model = Some(model);
        self.history.clear();
        self.after_model_change();
    }

    /// Applies the worker's messages (called every frame).
    pub(crate) fn poll_worker(&mut self, ctx: &egui::Context) {
        let Some(mut w) = self.worker.take() else { return };
        // Checked before draining: a thread that had ended has sent everything we are about to read.
        let running = w.is_running();
        let finished = self.drain_with_ctx(&mut w, Some(ctx));
        if finished || !running {
            if !finished && self.error.is_none() {
                self.error = Some("the background job ended without a result".into());
            }
        } else {
            self.worker = Some(w);
        }
    }

    fn drain(&mut self, w: &mut Worker) {
        self.drain_with_ctx(w, None);
    }

    /// Returns true when the job finished or failed.
    fn drain_with_ctx(&mut self, w: &mut Worker, ctx: Option<&egui::Context>) -> bool {
        let mut done = false;
        while let Ok(msg) = w.rx.try_recv() {
            match msg {
                WorkerMsg::Event(event) => self.apply_event(event, ctx),
                WorkerMsg::Thumbnails { done, total, views, rig_views } => {
                    self.generation = Some((done, total));
                    self.preview.set_generated(done - 1, total, rig_views);
                    if let Some(ctx) = ctx {
                        let thumbs = views
                            .iter()
                            .enumerate()
                            .map(|(v, img)| texture(ctx, &format!("m{done}_{v}"), img))
                            .collect();
                        self.matrix.push(thumbs);
                    }
                }
                WorkerMsg::Ended(Ok(report)) => {
                    self.finish(*report);
                    done = true;
                }
                WorkerMsg::Ended(Err(e)) => {
                    self.error = Some(e);
                    self.status = "the job failed".into();
                    done = true;
                }
            }
        }
        done
    }

    /// One event of the running job.
    fn apply_event(&mut self, event: Event, ctx: Option<&egui::Context>) {
        match event {
            Event::StageStarted { what, .. } | Event::Info(what) | Event::Warning(what) => self.status = what,
            Event::Generator { preview, why } => {
                self.made_by_preview = preview;
                self.status = format!("stage 1 generator: {why}");
            }
            Event::Progress { done, total, what, .. } => self.status = format!("{what}: {done}/{total}"),
            Event::KeyFrames(frames) => {
                self.preview.set_clip(frames.clone());
                if let Some(ctx) = ctx {
                    self.key_frames =
                        frames.iter().enumerate().map(|(i, f)| texture(ctx, &format!("key{i}"), f)).collect();
                }
            }
            Event::Dataset(ds) => {
                self.preview.set_matrix(ds.clone());
                if let Some(ctx) = ctx {
                    self.set_matrix(ctx, &ds);
                }
            }
            Event::Step(stats) => self.record(stats),
            Event::Snapshot { checkpoint, step, last } => {
                self.record(step);
                let what = if last { "trained" } else { "training" };
                self.show_model(LoadedModel::from_checkpoint_data(Arc::unwrap_or_clone(checkpoint), what.into()));
            }
            Event::StageFinished { .. }
            | Event::FrameGenerated { .. }
            | Event::Evaluated(_)
            | Event::Saved { .. }
            | Event::Done { .. } => {}
        }
    }

    /// The job's last word in the status line (where its model is kept), and its model shown.
    fn finish(&mut self, mut report: JobReport) {
        if let Some(t) = &report.train {
            let verb = if t.interrupted { "stopped" } else { "trained" };
            let saved = t.checkpoint.as_ref().map(|p| format!("; saved {}", p.display())).unwrap_or_default();
            self.status =
                format!("{verb} after {} steps in {:.0} s ({}){saved}", t.iters, t.seconds, t.stop_reason.describe());
        } else if report.cancelled {
            self.status = "cancelled".into();
        }
        // A training job showed its model in its last snapshot.
        if report.train.is_none()
            && let Some(ck) = report.checkpoint.take()
        {
            self.show_model(LoadedModel::from_checkpoint_data(ck, "loaded".into()));
        }
        self.last_report = Some(Box::new(report));
    }

    fn record(&mut self, stats: StepReport) {
        // The snapshot after the last step repeats that step's figures.
        if self.train_stats.is_some_and(|s| s.iteration == stats.iteration) {
            return;
        }
        self.train_stats = Some(stats);
        self.curve.push(CurvePoint { iteration: stats.iteration, loss: stats.loss, psnr: stats.psnr });
    }

    fn set_matrix(&mut self, ctx: &egui::Context, ds: &crate::dataset::Dataset) {
        type ViewRef<'a> = (u32, &'a image::RgbaImage, Option<&'a image::GrayImage>);
        let mut frames: Vec<(f32, Vec<ViewRef>)> = Vec::new();
        for v in &ds.train {
            let view = (v.view_index.unwrap_or(0), &v.image, v.confidence.as_ref());
            match frames.iter_mut().find(|(t, _)| *t == v.time) {
                Some((_, list)) => list.push(view),
                None => frames.push((v.time, vec![view])),
            }
        }
        frames.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (_, views) in &mut frames {
            views.sort_by_key(|(v, _, _)| *v);
        }
        self.matrix_times = frames.iter().map(|(t, _)| *t).collect();
        let thumbs = |f: usize, views: &[ViewRef], overlay: bool| -> Vec<egui::TextureHandle> {
            views
                .iter()
                .map(|(v, img, conf)| {
                    // Overlays are drawn at thumbnail size: a matrix has a thousand views or more.
                    let thumb = image::imageops::thumbnail(*img, 64, 64);
                    let thumb = match (overlay, conf) {
                        (true, Some(c)) => confidence_overlay(&thumb, &image::imageops::thumbnail(*c, 64, 64)),
                        _ => thumb,
                    };
                    texture(ctx, &format!("m{f}_{v}_{overlay}"), &thumb)
                })
                .collect()
        };
        self.matrix = frames.iter().enumerate().map(|(f, (_, views))| thumbs(f, views, false)).collect();
        let any_confidence = ds.train.iter().any(|v| v.confidence.is_some());
        self.matrix_confidence = if any_confidence {
            frames.iter().enumerate().map(|(f, (_, views))| thumbs(f, views, true)).collect()
        } else {
            Vec::new()
        };
    }

    /// The key frame nearest to the timeline's time (index into the stage-1 panels).
    fn nearest_key(&self, times: &[f32]) -> Option<usize> {
        (0..times.len())
            .min_by(|&a, &b| (times[a] - self.timeline.time).abs().total_cmp(&(times[b] - self.timeline.time).abs()))
    }

    pub(crate) fn snap_to_rig(&mut self, view: Option<u32>) {
        let rig = SyncDreamerRig::default();
        self.orbit = match view {
            Some(i) => OrbitCamera::rig_view(&rig, i),
            None => OrbitCamera::input_view(&rig),
        };
    }

    /// Handles files dropped on the window.
    fn handle_drops(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        if let Some(path) = dropped.first() {
            self.open(path);
        }
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        ctx.input(|i| {
            if i.key_pressed(egui::Key::Space) {
                self.timeline.playing = !self.timeline.playing;
            }
            if i.key_pressed(egui::Key::ArrowRight) {
                self.timeline.step_key(true);
            }
            if i.key_pressed(egui::Key::ArrowLeft) {
                self.timeline.step_key(false);
            }
        });
        let (delete, undo, redo) = ctx.input(|i| {
            let cmd = i.modifiers.command;
            (
                i.key_pressed(egui::Key::Delete),
                cmd && !i.modifiers.shift && i.key_pressed(egui::Key::Z),
                cmd && (i.key_pressed(egui::Key::Y) || (i.modifiers.shift && i.key_pressed(egui::Key::Z))),
            )
        });
        if delete {
            self.delete_selection();
        }
        if undo {
            self.undo();
        }
        if redo {
            self.redo();
        }
    }

    pub fn has_confidence_maps(&self) -> bool {
        !self.matrix_confidence.is_empty()
    }

    /// The view thumbnails of matrix frame `k`, with the confidence overlay when asked and available.
    pub fn matrix_thumbnails(&self, k: usize, overlay: bool) -> Vec<egui::TextureHandle> {
        let source = if overlay && k < self.matrix_confidence.len() { &self.matrix_confidence } else { &self.matrix };
        source.get(k).cloned().unwrap_or_default()
    }

    /// How many view thumbnails each key frame of the image matrix has (as produced so far).
    pub fn matrix_views(&self) -> Vec<usize> {
        self.matrix.iter().map(Vec::len).collect()
    }

    /// Seconds since the running job (or the last one) started.
    pub fn job_seconds(&self) -> f64 {
        self.job_started.map_or(0.0, |t| t.elapsed().as_secs_f64())
    }

    /// True while a job runs and is not paused: the viewport then keeps to its share of the device.
    pub(crate) fn job_is_running(&self) -> bool {
        self.worker.as_ref().is_some_and(|w| !w.control.is_paused())
    }
}

fn texture(ctx: &egui::Context, name: &str, img: &image::RgbaImage) -> egui::TextureHandle {
    let image = egui::ColorImage::from_rgba_unmultiplied([img.width() as usize, img.height() as usize], img.as_raw());
    ctx.load_texture(name, image, egui::TextureOptions::LINEAR)
}

impl App {
    /// How often the window repaints by itself while a job runs: once a second on a CPU adapter (a
    /// frame of a 1280×800 window cost ~150 ms of the cores the job trains on, so 4-5 frames a second
    /// took a third of training's speed; docs/app.md), a display's rate on a GPU.
    pub(crate) fn job_repaint_pace(&self) -> Duration {
        if self.gpu.is_cpu_driver() { Duration::from_secs(1) } else { Duration::from_millis(16) }
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

impl App {
    /// One frame of the whole window (eframe calls it; `bench app` drives it headless).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        if let Some(lost) = self.device_lost.lock().ok().and_then(|l| l.clone()) {
            // Nothing can render any more; say so instead of failing on every frame.
            egui::CentralPanel::default().show(ui, |ui| {
                ui.heading("The GPU device was lost");
                ui.label(format!("{lost}\nSaved checkpoints are safe; restart efficient4d to continue."));
            });
            return;
        }
        self.poll_worker(&ctx);
        self.handle_drops(&ctx);
        self.handle_keys(&ctx);
        let dt = ctx.input(|i| i.stable_dt).min(0.1);
        if self.timeline.advance(dt) {
            ctx.request_repaint();
        } else if let Some(worker) = &self.worker {
            // A running job wakes the window on its events; otherwise the window repaints at a pace the
            // device can afford (the job's clock, the clip playing during stage 1) rather than every
            // frame, which in a real window on a CPU adapter cost training a third of its speed
            // (docs/app.md).
            let pace = self.job_repaint_pace();
            worker.wake(&ctx, pace);
            ctx.request_repaint_after(pace);
        }
        panels::menu_bar(self, ui);
        panels::timeline_bar(self, ui);
        panels::left_panel(self, ui);
        panels::right_panel(self, ui);
        panels::central(self, ui);
        self.weights_window.show(&ctx, &self.options.weights);
    }

    /// Where the Weights window installs and what it downloads from.
    pub(crate) fn weights_place(&self) -> &weights_window::WeightsPlace {
        &self.options.weights
    }
}

/// A window of `size` points painted by egui-wgpu on `gpu`'s device, the one burn and the rasterizer use.
pub fn native_options(gpu: &GpuContext, size: [f32; 2]) -> eframe::NativeOptions {
    let mut options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_inner_size(size).with_drag_and_drop(true),
        ..Default::default()
    };
    options.wgpu_options.wgpu_setup = egui_wgpu::WgpuSetup::Existing(egui_wgpu::WgpuSetupExisting {
        instance: gpu.instance.clone(),
        adapter: gpu.adapter.clone(),
        device: gpu.device.clone(),
        queue: gpu.queue.clone(),
    });
    options
}

/// Opens the window on one GPU context shared with egui and burn.
pub fn run(input: Option<PathBuf>) -> anyhow::Result<()> {
    let gpu = GpuContext::headless()?;
    let options = native_options(&gpu, [1400.0, 860.0]);
    eframe::run_native(
        "efficient4d",
        options,
        Box::new(move |cc| {
            Ok(Box::new(App::for_window(cc, gpu, input, AppOptions::default()).map_err(|e| e.to_string())?))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))
}

/// The image with distrusted pixels tinted red (1 − confidence), so inconsistencies stand out.
pub(crate) fn confidence_overlay(img: &image::RgbaImage, confidence: &image::GrayImage) -> image::RgbaImage {
    image::RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y);
        let distrust = 1.0 - confidence.get_pixel(x, y)[0] as f32 / 255.0;
        // On white, as the generator drew it, then blended towards red.
        let a = p[3] as f32 / 255.0;
        let on_white = |c: u8| c as f32 * a + 255.0 * (1.0 - a);
        let mix = |c: f32, red: f32| (c * (1.0 - distrust) + red * distrust).round() as u8;
        image::Rgba([mix(on_white(p[0]), 255.0), mix(on_white(p[1]), 0.0), mix(on_white(p[2]), 0.0), 255])
    })
}
