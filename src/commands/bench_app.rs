//! `bench app`: the desktop app on the bundled demo clip, driven headless through the library (its
//! whole UI built every frame at ~30 frames a second in a 1280×800 window, the timeline playing and the
//! camera turning once there is a model, so the viewport always wants a new image), timed from launch:
//! the clip shown, the first generated views, the matrix, the first training step, the first model, a
//! model within 1 dB of the final one on the matrix it was trained on (every 16th view: how far
//! training has come). Then the same job without the UI, as `run` does it, for the steps per second
//! the viewer costs. Both final models are also scored on the demo's true held-out views (the inflate
//! preview the jobs train on is not the truth: a long run fits its errors, and scores lower there than
//! a blurry early model, so the truth says nothing about convergence).

use efficient4d::app::preview::Pick;
use efficient4d::app::{App, AppOptions, job_spec, video_stage1};
use efficient4d::dataset::{LoadOptions, View, load_dataset};
use efficient4d::gaussians::Gaussians4d;
use efficient4d::generate::demo::{demo_clip, write_truth_matrix};
use efficient4d::gpu::GpuContext;
use efficient4d::pipeline::stopping::StopRule;
use efficient4d::pipeline::{Control, Input, JobReport, TrainReport};
use efficient4d::render::Rasterizer;
use efficient4d::train::eval::evaluate;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// UI frames per second the bench asks for (a display's refresh, halved).
const FRAME_RATE: f64 = 30.0;
/// Models kept for the quality curve, at most this often (each is scored after the run).
const KEEP_EVERY_S: f64 = 15.0;
/// Key frames of the truth matrix (as `efficient4d demo` writes it).
const TRUTH_FRAMES: u32 = 16;
/// Every this many training views of the job's matrix score the kept models.
const MATRIX_STRIDE: usize = 16;

pub struct AppBenchArgs {
    pub json: bool,
    /// In a real window (eframe; needs a display, e.g. Xvfb) instead of headless.
    pub window: bool,
    /// Training time budget (default: the app's, `pipeline::plan::DEFAULT_TRAIN_TIME`).
    pub budget: Option<Duration>,
}

/// Seconds from launch to each thing the user sees.
#[derive(Debug, Default, Serialize)]
pub struct Milestones {
    pub clip_shown: Option<f64>,
    pub generated_views_shown: Option<f64>,
    pub matrix_shown: Option<f64>,
    pub first_step: Option<f64>,
    pub first_model: Option<f64>,
    /// The first kept model (every 15 s) within 1 dB of the final one on the job's matrix.
    pub within_1db_of_final: Option<f64>,
    pub done: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct KeptModel {
    pub seconds: f64,
    pub step: u32,
    pub splats: usize,
    /// On every 16th view of the job's matrix.
    pub matrix_psnr: f64,
}

/// One job's training figures.
#[derive(Debug, Serialize)]
pub struct JobFigures {
    pub steps: u32,
    /// Seconds inside steps, and wall seconds of the training stage.
    pub step_seconds: f64,
    pub train_wall_seconds: f64,
    pub steps_per_second: f64,
    pub stop_reason: String,
    pub stages: std::collections::BTreeMap<&'static str, f64>,
    /// On every 16th view of the app job's matrix (what training fits).
    pub matrix_psnr: f64,
    /// Held out on the demo's true views (all 4 test cameras × 16 times).
    pub truth_psnr: f64,
    pub truth_ssim: f64,
}

#[derive(Debug, Serialize)]
pub struct AppBench {
    pub device: String,
    /// In a real window (`--window`), or headless with the timeline playing and the camera turning.
    pub window: bool,
    pub milestones: Milestones,
    pub app: JobFigures,
    pub cli: JobFigures,
    /// In-app steps per second over the CLI's.
    pub app_over_cli: f64,
    pub ui_frames: u64,
    pub mean_ui_frame_ms: f64,
    pub viewport_renders: u64,
    pub viewport_renders_deferred: u64,
    /// Share of the training stage's wall time spent in viewport renders.
    pub viewport_share_of_training: f64,
    pub kept_models: Vec<KeptModel>,
}

/// What the frames of the app's run saw: the milestones, the models kept for the quality curve, the
/// UI's cost.
struct Recorder {
    launch: Instant,
    json: bool,
    milestones: Milestones,
    kept: Vec<(f64, u32, Gaussians4d)>,
    last_kept: Option<f64>,
    frames: u64,
    ui_seconds: f64,
}

impl Recorder {
    fn new(launch: Instant, json: bool) -> Self {
        Self {
            launch,
            json,
            milestones: Milestones::default(),
            kept: Vec::new(),
            last_kept: None,
            frames: 0,
            ui_seconds: 0.0,
        }
    }

    /// Notes what `app` shows after a frame that took `frame_seconds` to build.
    fn after_frame(&mut self, app: &App, frame_seconds: f64) {
        let now = self.launch.elapsed().as_secs_f64();
        self.frames += 1;
        self.ui_seconds += frame_seconds;
        // Each milestone is marked the first time a frame shows it.
        let json = self.json;
        let m = &mut self.milestones;
        let mark = |slot: &mut Option<f64>, what: &str| {
            if slot.is_none() {
                *slot = Some(now);
                if !json {
                    println!("{now:7.1} s  {what}");
                }
            }
        };
        if app.model.is_none() {
            match app.preview.pick(app.job_seconds()) {
                Some(Pick::Clip(_)) => mark(&mut m.clip_shown, "the input clip plays"),
                Some(Pick::Generated(_)) => mark(&mut m.generated_views_shown, "generated views turn"),
                Some(Pick::Matrix { .. }) => mark(&mut m.matrix_shown, "the image matrix turns"),
                None => {}
            }
        }
        if app.train_stats.is_some() {
            mark(&mut m.first_step, "first training step");
        }
        if let (Some(model), Some(stats)) = (&app.model, app.train_stats) {
            mark(&mut m.first_model, "first model");
            if self.last_kept.is_none_or(|t| now - t >= KEEP_EVERY_S) {
                self.last_kept = Some(now);
                self.kept.push((now, stats.iteration, model.gaussians.clone()));
            }
        }
    }
}

/// What the app's run left for scoring, taken from it when its job ended.
struct Outcome {
    report: Box<JobReport>,
    matrix: Arc<efficient4d::dataset::Dataset>,
    model: Gaussians4d,
    viewport: (u64, u64, f64),
}

impl Outcome {
    fn take(app: &mut App) -> anyhow::Result<Self> {
        if let Some(e) = &app.error {
            anyhow::bail!("the app's job failed: {e}");
        }
        Ok(Self {
            report: app.last_report.take().ok_or_else(|| anyhow::anyhow!("the app's job left no report"))?,
            matrix: app.preview.matrix().ok_or_else(|| anyhow::anyhow!("the app's job made no matrix"))?.clone(),
            model: app.model.as_ref().map(|m| m.gaussians.clone()).ok_or_else(|| anyhow::anyhow!("no model"))?,
            viewport: (app.viewport.renders, app.viewport.deferred, app.viewport.render_seconds),
        })
    }
}

/// The app headless: its whole UI built at [`FRAME_RATE`], the timeline playing and the camera
/// turning once there is a model (the viewport always wants a new image: the worst case for training).
fn run_headless(gpu: &Arc<GpuContext>, options: &AppOptions, rec: &mut Recorder) -> anyhow::Result<Outcome> {
    let mut app = App::new(gpu.clone(), None, options.clone())?;
    // The window's renderer, headless: the viewport takes the same zero-copy path as in the window.
    let renderer = egui_wgpu::Renderer::new(&gpu.device, efficient4d::render::present::FORMAT, Default::default());
    app.attach_egui_renderer(std::sync::Arc::new(egui::mutex::RwLock::new(renderer)));
    anyhow::ensure!(app.worker.is_some(), "the demo job did not start: {:?}", app.error);
    let ctx = egui::Context::default();
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1280.0, 800.0));
    let frame_time = Duration::from_secs_f64(1.0 / FRAME_RATE);
    while app.worker.is_some() {
        let frame_start = Instant::now();
        if app.model.is_some() {
            app.timeline.playing = true;
            app.orbit.orbit(3.0, 0.0);
        }
        let _ = ctx.run_ui(egui::RawInput { screen_rect: Some(screen), ..Default::default() }, |ui| app.show(ui));
        rec.after_frame(&app, frame_start.elapsed().as_secs_f64());
        if let Some(wait) = frame_time.checked_sub(frame_start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    Outcome::take(&mut app)
}

/// What the window run hands back when its job ends.
type WindowResult = anyhow::Result<(Outcome, Recorder)>;

/// The app in a real 1280×800 window (eframe, painted by egui-wgpu on the shared device), left alone
/// as a user who launched it and watches would: it repaints at its own pace. Closes when the job ends.
fn run_in_window(gpu: &Arc<GpuContext>, options: &AppOptions, rec: Recorder) -> anyhow::Result<(Outcome, Recorder)> {
    struct Watched {
        app: App,
        rec: Option<Recorder>,
        done: Arc<std::sync::Mutex<Option<WindowResult>>>,
    }
    impl eframe::App for Watched {
        fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
            let start = Instant::now();
            self.app.show(ui);
            let Some(rec) = self.rec.as_mut() else { return };
            rec.after_frame(&self.app, start.elapsed().as_secs_f64());
            if self.app.worker.is_none() {
                let rec = self.rec.take().expect("checked above");
                let outcome = Outcome::take(&mut self.app).map(|o| (o, rec));
                *self.done.lock().expect("not poisoned") = Some(outcome);
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }
    let done = Arc::new(std::sync::Mutex::new(None));
    let slot = done.clone();
    let (gpu, options) = (gpu.clone(), options.clone());
    let native = efficient4d::app::native_options(&gpu, [1280.0, 800.0]);
    eframe::run_native(
        "efficient4d (bench app --window)",
        native,
        Box::new(move |cc| {
            let app = App::for_window(cc, gpu, None, options).map_err(|e| e.to_string())?;
            Ok(Box::new(Watched { app, rec: Some(rec), done: slot }))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))?;
    done.lock()
        .expect("not poisoned")
        .take()
        .ok_or_else(|| anyhow::anyhow!("the window closed before the job ended"))?
}

pub fn bench_app(args: &AppBenchArgs) -> anyhow::Result<()> {
    let launch = Instant::now();
    let gpu = GpuContext::headless()?;
    let stop = StopRule { budget: args.budget.or(StopRule::default().budget), ..StopRule::default() };
    let options = AppOptions { stop, ..AppOptions::default() };
    let (outcome, rec) = if args.window {
        run_in_window(&gpu, &options, Recorder::new(launch, args.json))?
    } else {
        let mut rec = Recorder::new(launch, args.json);
        let outcome = run_headless(&gpu, &options, &mut rec)?;
        (outcome, rec)
    };
    let Recorder { mut milestones, kept, frames, ui_seconds, .. } = rec;
    milestones.done = Some(launch.elapsed().as_secs_f64());
    if !args.json {
        println!("{:7.1} s  done", milestones.done.unwrap_or_default());
    }
    let Outcome { report, matrix, model: final_model, viewport: (renders, deferred, render_seconds) } = outcome;
    let matrix_views: Vec<View> = matrix.train.iter().step_by(MATRIX_STRIDE).cloned().collect();
    let train_wall = report.stages.get("train").copied().unwrap_or_default();

    // Scored on the demo's true held-out views (the inflate preview the job trained on is not the truth).
    let rast = Arc::new(Rasterizer::new(gpu.clone())?);
    let truth_dir = tempfile::tempdir()?;
    write_truth_matrix(&rast, truth_dir.path(), TRUTH_FRAMES, true)?;
    let truth = load_dataset(truth_dir.path(), LoadOptions::default())?;
    let background = report.checkpoint.as_ref().map_or([1.0; 3], |c| c.meta.background);
    let scoring = Scoring { rast: &rast, matrix: &matrix_views, truth: &truth.test, background };
    let app_figures = scoring.figures(&report, &final_model)?;
    let mut kept_models = Vec::new();
    for (seconds, step, g) in &kept {
        let matrix_psnr = evaluate(&rast, g, &matrix_views, background)?.psnr;
        kept_models.push(KeptModel { seconds: *seconds, step: *step, splats: g.len(), matrix_psnr });
    }
    milestones.within_1db_of_final =
        kept_models.iter().find(|k| k.matrix_psnr >= app_figures.matrix_psnr - 1.0).map(|k| k.seconds);

    // The same job without the UI, as `run` does it (no snapshots).
    if !args.json {
        println!("the same job without the UI ...");
    }
    let work = tempfile::tempdir()?;
    let mut spec = job_spec(&options, Input::Video(demo_clip()), video_stage1(&options), work.path().to_path_buf());
    if let Some(t) = spec.train.as_mut() {
        t.snapshot_every = None;
    }
    let cli_report = efficient4d::pipeline::run(&gpu, &rast, &spec, &Control::default(), &mut |_| {})?;
    let cli_model = cli_report.checkpoint.as_ref().map(|c| c.gaussians.clone()).unwrap_or_default();
    let cli_figures = scoring.figures(&cli_report, &cli_model)?;

    let out = AppBench {
        device: gpu.describe(),
        window: args.window,
        app_over_cli: app_figures.steps_per_second / cli_figures.steps_per_second.max(1e-9),
        milestones,
        app: app_figures,
        cli: cli_figures,
        ui_frames: frames,
        mean_ui_frame_ms: ui_seconds * 1000.0 / frames.max(1) as f64,
        viewport_renders: renders,
        viewport_renders_deferred: deferred,
        viewport_share_of_training: render_seconds / train_wall.max(1e-9),
        kept_models,
    };
    if !args.json {
        print_summary(&out);
    }
    super::finish_bench(args.json, &out)
}

/// What the final models are scored on.
struct Scoring<'a> {
    rast: &'a Rasterizer,
    matrix: &'a [View],
    truth: &'a [View],
    background: [f32; 3],
}

impl Scoring<'_> {
    fn figures(&self, report: &JobReport, model: &Gaussians4d) -> anyhow::Result<JobFigures> {
        let train: &TrainReport = report.train.as_ref().ok_or_else(|| anyhow::anyhow!("the job did not train"))?;
        let wall = report.stages.get("train").copied().unwrap_or_default();
        let truth = evaluate(self.rast, model, self.truth, self.background)?;
        Ok(JobFigures {
            steps: train.iters,
            step_seconds: train.seconds,
            train_wall_seconds: wall,
            steps_per_second: train.iters as f64 / wall.max(1e-9),
            stop_reason: train.stop_reason.describe(),
            stages: report.stages.clone(),
            matrix_psnr: evaluate(self.rast, model, self.matrix, self.background)?.psnr,
            truth_psnr: truth.psnr,
            truth_ssim: truth.ssim,
        })
    }
}

fn print_summary(b: &AppBench) {
    let m = &b.milestones;
    let s = |v: Option<f64>| v.map_or("never".to_string(), |v| format!("{v:.1} s"));
    println!("device: {}", b.device);
    println!(
        "from launch: clip {}, generated views {}, matrix {}, first step {}, first model {}, within 1 dB of the final {}, done {}",
        s(m.clip_shown),
        s(m.generated_views_shown),
        s(m.matrix_shown),
        s(m.first_step),
        s(m.first_model),
        s(m.within_1db_of_final),
        s(m.done)
    );
    for (name, f) in [("app", &b.app), ("cli", &b.cli)] {
        println!(
            "{name}: {} steps in {:.0} s of training ({:.2} steps/s), {}; {:.2} dB on the matrix, {:.2} dB / {:.4} on the true held-out views",
            f.steps, f.train_wall_seconds, f.steps_per_second, f.stop_reason, f.matrix_psnr, f.truth_psnr, f.truth_ssim
        );
    }
    println!(
        "app/cli steps per second {:.2}; viewport: {} renders ({} put off), {:.1} % of training's wall time; UI {:.1} ms per frame over {} frames",
        b.app_over_cli,
        b.viewport_renders,
        b.viewport_renders_deferred,
        b.viewport_share_of_training * 100.0,
        b.mean_ui_frame_ms,
        b.ui_frames
    );
}
