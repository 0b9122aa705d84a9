//! The training stage: the one loop in the program that steps the trainer. The CLI's `train` and
//! `run`, the app and the benchmarks all come through here, so progress, pause, cancellation,
//! snapshots, evaluation along the way and the summary are the same for all of them.

use super::events::{Control, CurvePoint, Event, Observer, Stage, StepReport};
use crate::dataset::{Dataset, View};
use crate::export::Checkpoint;
use crate::gaussians::Gaussians4d;
use crate::gpu::GpuContext;
use crate::render::Rasterizer;
use crate::render::bench::peak_rss_mb;
use crate::render::profiler::StageTime;
use crate::train::eval::{EvalReport, evaluate};
use crate::train::state::{STATE_FILE, TrainState};
use crate::train::{TrainConfig, Trainer};
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The checkpoint's file name in a run's output folder.
pub const MODEL_FILE: &str = "model.safetensors";

/// How a run starts.
#[derive(Clone, Debug)]
pub enum TrainStart {
    /// A new run under `settings` (then the `--set KEY=VALUE` items in `overrides`), from random splats
    /// or from `init`: a checkpoint (its 4D Gaussians, a new schedule) or a 3DGS PLY (made static splats
    /// present over the whole clip).
    New {
        settings: Box<TrainConfig>,
        overrides: Vec<String>,
        init: Option<PathBuf>,
        /// With `init`: train at the init's SH degree instead of `settings.sh_degree` (when the user
        /// did not choose one).
        init_sets_sh_degree: bool,
    },
    /// Go on with the run saved in the output folder (model + training state) under its settings, to
    /// `iterations` steps in all (default: its total; a larger total stretches the schedules).
    Resume { iterations: Option<u32> },
}

impl TrainStart {
    /// A new run from random splats under `settings`.
    pub fn fresh(settings: TrainConfig) -> Self {
        Self::New { settings: Box::new(settings), overrides: Vec::new(), init: None, init_sets_sh_degree: false }
    }
}

/// What the training stage does besides stepping.
#[derive(Clone, Debug)]
pub struct TrainSpec {
    pub start: TrainStart,
    /// Evaluate on the test split every this many steps (`Event::Evaluated`, `TrainReport::curve`);
    /// evaluation time is not counted as training time.
    pub eval_every: Option<u32>,
    /// With `eval_every`: also score a probe of up to 20 training views (the overfitting gap).
    pub train_probe: bool,
    /// Collect the rasterizer's GPU stage times (the rasterizer must have been made with profiling).
    pub profile: bool,
    /// Send `Event::Snapshot` at most this often (wall time), and after the last step.
    pub snapshot_every: Option<Duration>,
}

impl TrainSpec {
    pub fn new(start: TrainStart) -> Self {
        Self { start, eval_every: None, train_probe: false, profile: false, snapshot_every: None }
    }
}

/// Where the GPU time of a step goes (`TrainSpec::profile`).
#[derive(Clone, Debug, Serialize)]
pub struct StepProfile {
    pub step_ms: f64,
    pub gpu_stage_ms_per_step: f64,
    pub stages: Vec<StageShare>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StageShare {
    pub stage: String,
    pub ms_per_step: f64,
    pub passes: u32,
}

/// What a training run did.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// Where the checkpoint was saved, when it was.
    pub checkpoint: Option<PathBuf>,
    pub iters: u32,
    pub resumed_from: Option<u32>,
    /// Stopped by the driver before the planned length.
    pub interrupted: bool,
    /// Seconds in training steps (evaluations along the way excluded).
    pub seconds: f64,
    pub splats: usize,
    /// On the test split, when the dataset has one.
    pub psnr: Option<f64>,
    pub ssim: Option<f64>,
    pub eval_resolution: Option<[u32; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_psnr: Option<f64>,
    /// With `eval_every`: the test split over training, ending with the final evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<Vec<CurvePoint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<StepProfile>,
    pub peak_rss_mb: f64,
    /// The final evaluation's details (per-view PSNR and times).
    #[serde(skip)]
    pub eval: Option<EvalReport>,
}

/// Up to 20 training views, evenly spread: their PSNR next to the test split's shows overfitting
/// (on D-NeRF the gap grew from 2 dB after 1000 steps to 4.7 dB after 3000).
fn train_probe(train: &[View]) -> Vec<View> {
    let stride = train.len().div_ceil(20).max(1);
    train.iter().step_by(stride).cloned().collect()
}

/// Splats to start training from: a checkpoint's 4D Gaussians as they are, or a 3DGS PLY's splats
/// made static 4D Gaussians centred in the dataset's time range and spanning it (`gaussians::lift`).
fn initial_splats(path: &Path, ds: &Dataset) -> anyhow::Result<Gaussians4d> {
    let is_ply = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("ply"));
    if !is_ply {
        let ckpt = Checkpoint::load(path).with_context(|| format!("--init {}", path.display()))?;
        return Ok(ckpt.gaussians);
    }
    let (splats, degree) = crate::export::ply::read_ply(path).with_context(|| format!("--init {}", path.display()))?;
    let (t0, t1) = ds.train.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(v.time), b.max(v.time)));
    let (mid, span) = if t0.is_finite() { ((t0 + t1) / 2.0, (t1 - t0).max(1e-3)) } else { (0.0, 1.0) };
    // σt twice the clip: at its ends a splat keeps 97 % of its opacity.
    Ok(crate::gaussians::lift::lift_static(&splats, degree, mid, 2.0 * span))
}

/// The trainer for `start`: settings range-checked (`Trainer::new`) before anything is written.
fn make_trainer(
    gpu: &Arc<GpuContext>,
    rast: &Arc<Rasterizer>,
    ds: &Dataset,
    start: &TrainStart,
    out: Option<&Path>,
) -> anyhow::Result<Trainer> {
    match start {
        TrainStart::Resume { iterations } => {
            let out = out.context("--resume needs the output folder of the run to go on with")?;
            let resume = |e: &dyn std::fmt::Display| anyhow::anyhow!("--resume {}: {e}", out.display());
            let ckpt = Checkpoint::load(&out.join(MODEL_FILE)).map_err(|e| resume(&e))?;
            let state = TrainState::load(&out.join(STATE_FILE)).map_err(|e| resume(&e))?;
            Trainer::resume(gpu, rast.clone(), ds, ckpt, state, *iterations).map_err(|e| resume(&e))
        }
        TrainStart::New { settings, overrides, init, init_sets_sh_degree } => {
            let init = init.as_deref().map(|p| initial_splats(p, ds)).transpose()?;
            let mut config = (**settings).clone();
            // A checkpoint or PLY keeps its colour detail unless the SH degree was chosen.
            if let (Some(g), true) = (&init, init_sets_sh_degree) {
                config.sh_degree = g.sh_degree;
            }
            let config = crate::train::overrides::apply_overrides(&config, overrides)?;
            let init = init.map(|g| g.with_sh_degree(config.sh_degree));
            Ok(Trainer::new(gpu, rast.clone(), ds, config, init)?)
        }
    }
}

/// Adds `more` into `totals`, stage by stage.
fn merge_stage_times(totals: &mut Vec<StageTime>, more: Vec<StageTime>) {
    for m in more {
        match totals.iter_mut().find(|t| t.stage == m.stage) {
            Some(t) => {
                t.ms += m.ms;
                t.passes += m.passes;
            }
            None => totals.push(m),
        }
    }
}

/// Trains on `ds` as `spec` says, saving the model (and what `--resume` needs) in `out` when given.
/// Returns the report and the final checkpoint. Stops early, saving what it has, when `control` is
/// cancelled; waits while it is paused.
pub fn train(
    gpu: &Arc<GpuContext>,
    rast: &Arc<Rasterizer>,
    ds: &Dataset,
    spec: &TrainSpec,
    out: Option<&Path>,
    control: &Control,
    observer: &mut dyn Observer,
) -> anyhow::Result<(TrainReport, Checkpoint)> {
    let mut trainer = make_trainer(gpu, rast, ds, &spec.start, out)?;
    if let Some(out) = out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let iterations = trainer.config().iterations;
    let resumed_from = matches!(spec.start, TrainStart::Resume { .. }).then(|| trainer.iteration());
    let first_step = trainer.iteration();
    observer.on_event(Event::StageStarted {
        stage: Stage::Train,
        what: format!(
            "{} steps on {} views of {}x{}, {} splats to start",
            iterations - first_step,
            ds.train.len(),
            ds.train[0].image.width(),
            ds.train[0].image.height(),
            trainer.splat_count()
        ),
    });
    let background = trainer.config().background;
    let eval_every = spec.eval_every.filter(|&n| n > 0 && !ds.test.is_empty());
    let probe = if eval_every.is_some() && spec.train_probe { train_probe(&ds.train) } else { Vec::new() };
    let probe_psnr = |g: &Gaussians4d| -> anyhow::Result<Option<f64>> {
        Ok(if probe.is_empty() { None } else { Some(evaluate(rast, g, &probe, background)?.psnr) })
    };
    let wall = Instant::now();
    let (mut seconds, mut curve, mut stages) = (0.0f64, Vec::new(), Vec::<StageTime>::new());
    let mut last_snapshot: Option<Instant> = None;
    let mut report = StepReport { iterations, ..Default::default() };
    while trainer.iteration() < iterations && !control.is_cancelled() {
        if control.is_paused() {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let t0 = Instant::now();
        let s = trainer.step();
        seconds += t0.elapsed().as_secs_f64();
        report = StepReport {
            iteration: s.iteration,
            iterations,
            loss: s.loss,
            psnr: s.psnr,
            splats: s.splats,
            seconds,
            steps_this_run: s.iteration - first_step,
        };
        observer.on_event(Event::Step(report));
        if spec.profile {
            merge_stage_times(&mut stages, rast.stage_times()?);
        }
        if let Some(n) = eval_every
            && s.iteration % n == 0
            && s.iteration < iterations
        {
            let g = trainer.gaussians();
            let r = evaluate(rast, &g, &ds.test, background)?;
            let point = CurvePoint {
                step: s.iteration,
                seconds,
                psnr: r.psnr,
                ssim: r.ssim,
                splats: s.splats,
                train_psnr: probe_psnr(&g)?,
            };
            observer.on_event(Event::Evaluated(point));
            curve.push(point);
        }
        if let Some(every) = spec.snapshot_every
            && last_snapshot.is_none_or(|t| t.elapsed() >= every)
            && s.iteration < iterations
        {
            last_snapshot = Some(Instant::now());
            observer.on_event(Event::Snapshot {
                checkpoint: Arc::new(trainer.checkpoint()),
                step: report,
                last: false,
            });
        }
    }
    let interrupted = control.is_cancelled() && trainer.iteration() < iterations;
    let ckpt = trainer.checkpoint();
    let saved = match out {
        Some(out) => {
            let path = out.join(MODEL_FILE);
            ckpt.save(&path)?;
            // Beside it, what `--resume` needs to go on (Adam's moments: twice the checkpoint's size).
            trainer.state().save(&out.join(STATE_FILE))?;
            Some(path)
        }
        None => None,
    };
    let eval = if ds.test.is_empty() { None } else { Some(evaluate(rast, &ckpt.gaussians, &ds.test, background)?) };
    let mut train_psnr = None;
    let curve = match (eval_every, &eval) {
        (Some(_), Some(r)) => {
            train_psnr = probe_psnr(&ckpt.gaussians)?;
            let point = CurvePoint {
                step: trainer.iteration(),
                seconds,
                psnr: r.psnr,
                ssim: r.ssim,
                splats: trainer.splat_count(),
                train_psnr,
            };
            observer.on_event(Event::Evaluated(point));
            curve.push(point);
            Some(curve)
        }
        (Some(_), None) => Some(curve),
        (None, _) => None,
    };
    let profile = spec.profile.then(|| {
        stages.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        let steps = (trainer.iteration() - first_step).max(1) as f64;
        StepProfile {
            step_ms: seconds * 1e3 / steps,
            gpu_stage_ms_per_step: stages.iter().map(|s| s.ms).sum::<f64>() / steps,
            stages: stages
                .iter()
                .map(|s| StageShare { stage: s.stage.clone(), ms_per_step: s.ms / steps, passes: s.passes })
                .collect(),
        }
    });
    if spec.snapshot_every.is_some() {
        observer.on_event(Event::Snapshot { checkpoint: Arc::new(ckpt.clone()), step: report, last: true });
    }
    observer.on_event(Event::StageFinished { stage: Stage::Train, seconds: wall.elapsed().as_secs_f64() });
    let report = TrainReport {
        checkpoint: saved,
        iters: trainer.iteration(),
        resumed_from,
        interrupted,
        seconds,
        splats: trainer.splat_count(),
        psnr: eval.as_ref().map(|r| r.psnr),
        ssim: eval.as_ref().map(|r| r.ssim),
        eval_resolution: eval.as_ref().map(|r| [r.width, r.height]),
        train_psnr,
        curve,
        profile,
        peak_rss_mb: peak_rss_mb(),
        eval,
    };
    Ok((report, ckpt))
}
