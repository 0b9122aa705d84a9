//! The training stage: the one loop in the program that steps the trainer. The CLI's `train` and
//! `run`, the app and the benchmarks all come through here, so progress, pause, cancellation,
//! snapshots, evaluation along the way and the summary are the same for all of them.

use super::clock::RunClock;
use super::events::{Control, CurvePoint, Event, Observer, Stage, StepReport};
use super::plan::TrainPlan;
use super::stopping::{PlateauWatch, StepClock, StopReason, StopRule, fit_to_budget, refit};
use crate::dataset::{Dataset, View};
use crate::export::Checkpoint;
use crate::gaussians::Gaussians4d;
use crate::gpu::GpuContext;
use crate::machine::peak_rss_mb;
use crate::render::Rasterizer;
use crate::render::profiler::StageTime;
use crate::train::eval::{EvalReport, evaluate};
use crate::train::state::{STATE_FILE, TrainState};
use crate::train::{TrainConfig, Trainer};
use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The checkpoint's file name in a run's output folder.
pub const MODEL_FILE: &str = "model.safetensors";

/// How often a run with an output folder saves itself by default. A save of the demo's model and
/// optimiser state took 63 ms on 2 CPU cores (docs/training.md): 0.05 % of two minutes.
pub const AUTOSAVE_EVERY: Duration = Duration::from_secs(120);

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
    Resume {
        iterations: Option<u32>,
        /// Stop as the saved run was to (what was left of its budget, its plateau rule) instead of as
        /// `TrainSpec::stop` says: a resumed run then ends where the uninterrupted one would have.
        saved_stop_rule: bool,
    },
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
    /// When the run ends before its planned length (a plateau, a time budget).
    pub stop: StopRule,
    /// The time the budget, snapshots and autosaves are measured in (the wall clock but in tests).
    pub clock: RunClock,
    /// With an output folder: save the model and what `--resume` needs this often, and whenever the
    /// plan changes, so a killed process loses at most this much work (`None`: at the end only).
    pub autosave_every: Option<Duration>,
}

impl TrainSpec {
    /// Training from `start` with the default stop rule: to the planned length or a plateau.
    pub fn new(start: TrainStart) -> Self {
        Self {
            start,
            eval_every: None,
            train_probe: false,
            profile: false,
            snapshot_every: None,
            stop: StopRule::default(),
            clock: RunClock::Wall,
            autosave_every: Some(AUTOSAVE_EVERY),
        }
    }

    /// The same, running exactly the planned length (`--iters`): no plateau stop.
    pub fn forced(start: TrainStart) -> Self {
        Self { stop: StopRule { plateau: None, budget: None }, ..Self::new(start) }
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
    /// Why the run ended.
    pub stop_reason: StopReason,
    /// The length the schedules were laid over in the end (shorter than asked for when a budget or a
    /// plateau ended the run early).
    pub planned_iters: u32,
    /// Views held out of training for the stop decision (0 without a plateau rule).
    pub decision_views: usize,
    /// The plan as the run started.
    pub plan: TrainPlan,
    /// Seconds in training steps (evaluations along the way excluded).
    pub seconds: f64,
    /// Saves along the way (`TrainSpec::autosave_every`, plan changes) and the wall seconds they took.
    pub autosaves: u32,
    pub autosave_seconds: f64,
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

/// Most views a stop decision is made on (a render of each every `Plateau::every` steps).
const MAX_DECISION_VIEWS: usize = 16;

/// The views the stop decision is made on, and the dataset to train on: the val split when there is
/// one (training keeps every view), else about one in eight of the training views (never the input
/// views of a generated matrix, at most `MAX_DECISION_VIEWS`), spread over times and cameras and held
/// out of training. None when the dataset is too small to spare any.
fn decision_views(ds: &Dataset) -> Option<(Option<Dataset>, Vec<View>)> {
    if !ds.val.is_empty() {
        let stride = ds.val.len().div_ceil(MAX_DECISION_VIEWS);
        return Some((None, ds.val.iter().step_by(stride).cloned().collect()));
    }
    let input_view = ds.rig.as_ref().map(|r| r.views);
    let candidates: Vec<usize> =
        (0..ds.train.len()).filter(|&i| input_view.is_none_or(|v| ds.train[i].view_index != Some(v))).collect();
    let count = (candidates.len() / 8).min(MAX_DECISION_VIEWS);
    if count < 2 {
        return None;
    }
    let stride = candidates.len() / count;
    // A different offset in each stride, so a matrix stored frame by frame does not give the same
    // camera every time.
    let held: Vec<usize> = (0..count).map(|i| candidates[i * stride + (i * 5 + stride / 2) % stride]).collect();
    // Training reads the train split only: the other splits (their images) are not copied.
    let train = Dataset {
        root: ds.root.clone(),
        train: (0..ds.train.len()).filter(|i| !held.contains(i)).map(|i| ds.train[i].clone()).collect(),
        val: Vec::new(),
        test: Vec::new(),
        generator: ds.generator.clone(),
        rig: ds.rig.clone(),
    };
    Some((Some(train), held.iter().map(|&i| ds.train[i].clone()).collect()))
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

/// The rule a run stops by: `spec.stop`, or for a run resumed under its saved rule, the one saved in
/// `out` (a run saved before the rule was recorded goes on under `spec.stop`).
fn stop_rule(spec: &TrainSpec, out: Option<&Path>) -> anyhow::Result<StopRule> {
    let (TrainStart::Resume { saved_stop_rule: true, .. }, Some(out)) = (&spec.start, out) else {
        return Ok(spec.stop);
    };
    let path = out.join(STATE_FILE);
    let Some(rule) = TrainState::load(&path).ok().and_then(|s| s.meta.stop_rule) else { return Ok(spec.stop) };
    serde_json::from_value(rule).with_context(|| format!("--resume {}: the saved stop rule", path.display()))
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
        TrainStart::Resume { iterations, .. } => {
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

/// Saves the run as it stands in `out`: the model, and beside it what `--resume` needs to go on
/// (Adam's moments: twice the model's size; `stop`, the rule it goes on under, its budget less the
/// `elapsed` time). Both files are written before either replaces the old one, so a process killed
/// while saving leaves the last save whole. Returns the model's path.
fn save_run(out: &Path, trainer: &Trainer, stop: StopRule, elapsed: Duration) -> anyhow::Result<PathBuf> {
    let (model, state) = (out.join(MODEL_FILE), out.join(STATE_FILE));
    let model_bytes = trainer.checkpoint().to_bytes(&model)?;
    let mut run_state = trainer.state();
    let left = StopRule { budget: stop.budget.map(|b| b.saturating_sub(elapsed)), ..stop };
    run_state.meta.stop_rule = Some(serde_json::to_value(left).expect("a stop rule serialises"));
    let state_bytes = run_state.to_bytes(&state)?;
    crate::atomic_file::write_files_atomically(&[(&state, &state_bytes), (&model, &model_bytes)])
        .with_context(|| format!("saving the run in {}", out.display()))?;
    Ok(model)
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
/// Returns the report and the final checkpoint. Ends at the planned length, on a plateau of the
/// decision views, when the budget is spent, or — saving what it has — when `control` is cancelled;
/// waits while it is paused.
pub fn train(
    gpu: &Arc<GpuContext>,
    rast: &Arc<Rasterizer>,
    ds: &Dataset,
    spec: &TrainSpec,
    out: Option<&Path>,
    control: &Control,
    observer: &mut dyn Observer,
) -> anyhow::Result<(TrainReport, Checkpoint)> {
    let mut timer = spec.clock.start();
    let stop = stop_rule(spec, out)?;
    let plateau = stop.plateau;
    let decision = plateau.and_then(|_| decision_views(ds));
    if plateau.is_some() && decision.is_none() {
        observer.on_event(Event::Warning(
            "too few views to hold some out for the stop decision: training runs the planned steps".into(),
        ));
    }
    let (held_out_ds, decision_set) = decision.unwrap_or_default();
    let train_ds = held_out_ds.as_ref().unwrap_or(ds);
    let mut trainer = make_trainer(gpu, rast, train_ds, &spec.start, out)?;
    if let Some(out) = out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let cap = trainer.config().iterations;
    let resumed_from = matches!(spec.start, TrainStart::Resume { .. }).then(|| trainer.iteration());
    let first_step = trainer.iteration();
    let first_image = &train_ds.train[0].image;
    let plan = TrainPlan::new(
        gpu,
        &trainer,
        stop.budget,
        decision_set.len(),
        (first_image.width(), first_image.height()),
        train_ds.train.len(),
    );
    observer.on_event(Event::StageStarted { stage: Stage::Train, what: plan.describe() });
    let background = trainer.config().background;
    let eval_every = spec.eval_every.filter(|&n| n > 0 && !ds.test.is_empty());
    let probe = if eval_every.is_some() && spec.train_probe { train_probe(&train_ds.train) } else { Vec::new() };
    let probe_psnr = |g: &Gaussians4d| -> anyhow::Result<Option<f64>> {
        Ok(if probe.is_empty() { None } else { Some(evaluate(rast, g, &probe, background)?.psnr) })
    };
    let (mut seconds, mut curve, mut stages) = (0.0f64, Vec::new(), Vec::<StageTime>::new());
    let mut last_snapshot: Option<Duration> = None;
    let (mut last_save, mut autosaves) = (Duration::ZERO, (0u32, 0.0f64));
    let mut report = StepReport { iterations: cap, ..Default::default() };
    let mut watch = PlateauWatch::default();
    let (mut clock, mut timed_from) = (StepClock::default(), None::<(Duration, f64)>);
    let (mut reason, mut budget_limited) = (StopReason::Planned, false);
    loop {
        if control.is_cancelled() {
            reason = StopReason::Cancelled;
            break;
        }
        if trainer.iteration() >= trainer.config().iterations {
            break;
        }
        if stop.budget.is_some_and(|b| timer.elapsed() >= b) {
            let (at_step, planned) = (trainer.iteration(), trainer.config().iterations);
            reason = StopReason::OutOfTime { at_step, planned };
            break;
        }
        if control.is_paused() {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let coarse = trainer.is_coarse();
        let (s, step_seconds) = timer.time_step(trainer.iteration() + 1, coarse, || trainer.step());
        seconds += step_seconds;
        // The first step compiles kernels: the clocks start after it.
        match timed_from {
            Some(_) => clock.record(coarse, step_seconds),
            None => timed_from = Some((timer.elapsed(), seconds)),
        }
        let steps_this_run = s.iteration - first_step;
        let mut replanned = false;
        // Fit the plan to the budget from the wall time per step so far (evaluations included), after
        // a few steps (the first compiles kernels) and then every 50. It shrinks at once and grows
        // back by a margin (`stopping::refit`), but not after a plateau: its finish stays as decided.
        if let Some(budget) = stop.budget
            && (steps_this_run == 10 || (steps_this_run > 10 && steps_this_run.is_multiple_of(50)))
        {
            // Wall time over step time since the first step: evaluations and snapshots.
            let overhead = timed_from
                .map_or(1.0, |(at, before)| (timer.elapsed() - at).as_secs_f64() / (seconds - before).max(1e-9))
                .max(1.0);
            let remaining = budget.saturating_sub(timer.elapsed());
            let share = trainer.coarse_share();
            let left = |plan: u32| clock.seconds_left(s.iteration, plan, share, overhead);
            let current = trainer.config().iterations;
            let ceiling = if matches!(reason, StopReason::Planned) { cap } else { current };
            let fitted = fit_to_budget(s.iteration, ceiling, remaining, left);
            let next = refit(current, fitted, s.iteration, share, trainer.is_coarse());
            if next != current {
                let (coarse, full) = clock.per_step().unwrap_or_default();
                let coarse = if share > 0.0 { format!(" ({coarse:.2} s at half resolution)") } else { String::new() };
                let verb = if !budget_limited {
                    "is"
                } else if next > current {
                    "grows to"
                } else {
                    "shrinks to"
                };
                observer.on_event(Event::Info(format!(
                    "{full:.2} s per step{coarse}: the plan {verb} {next} steps, to end within {}",
                    super::plan::clock(budget.as_secs_f64())
                )));
                if !budget_limited
                    && let Some(warning) =
                        super::plan::short_plan_warning(next, budget, full, trainer.config().batch_views)
                {
                    observer.on_event(Event::Warning(warning));
                }
                trainer.replan(next);
                budget_limited = next < cap;
                replanned = true;
            }
        }
        report = StepReport {
            iteration: s.iteration,
            iterations: trainer.config().iterations,
            loss: s.loss,
            psnr: s.psnr,
            splats: s.splats,
            seconds,
            steps_this_run,
        };
        observer.on_event(Event::Step(report));
        if spec.profile {
            merge_stage_times(&mut stages, rast.stage_times()?);
        }
        let planned = trainer.config().iterations;
        if let Some(n) = eval_every
            && s.iteration % n == 0
            && s.iteration < planned
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
        if let Some(p) = plateau
            && !decision_set.is_empty()
            && matches!(reason, StopReason::Planned)
            && s.iteration.is_multiple_of(p.every)
            && s.iteration < planned
        {
            let psnr = evaluate(rast, &trainer.gaussians(), &decision_set, background)?.psnr;
            if watch.record(psnr, &p) {
                // Finish on a plan that ends soon, so the rates decay as at the end of a planned run.
                let finish = ((s.iteration as f64 * p.finish_share).round() as u32).max(p.every);
                trainer.replan((s.iteration + finish).min(planned));
                replanned = true;
                reason = StopReason::Converged { at_step: s.iteration, psnr: watch.best() };
                observer.on_event(Event::Info(format!(
                    "step {}: held-out decision views at {:.2} dB, less than {} dB better over the last {} checks; finishing in {} steps",
                    s.iteration,
                    psnr,
                    p.min_gain_db,
                    p.patience,
                    trainer.config().iterations - s.iteration
                )));
            }
        }
        if let (Some(out), Some(every)) = (out, spec.autosave_every)
            && s.iteration < trainer.config().iterations
            && (replanned || timer.elapsed() - last_save >= every)
        {
            let saving = std::time::Instant::now();
            let path = save_run(out, &trainer, stop, timer.elapsed())?;
            last_save = timer.elapsed();
            let took = saving.elapsed().as_secs_f64();
            autosaves = (autosaves.0 + 1, autosaves.1 + took);
            observer.on_event(Event::Saved { step: s.iteration, path, seconds: took });
        }
        if let Some(every) = spec.snapshot_every
            && last_snapshot.is_none_or(|t| timer.elapsed() - t >= every)
            && s.iteration < trainer.config().iterations
        {
            last_snapshot = Some(timer.elapsed());
            observer.on_event(Event::Snapshot {
                checkpoint: Arc::new(trainer.checkpoint()),
                step: report,
                last: false,
            });
        }
    }
    if matches!(reason, StopReason::Planned) && budget_limited {
        reason = StopReason::Budget;
    }
    let interrupted = matches!(reason, StopReason::Cancelled);
    let ckpt = trainer.checkpoint();
    let saved = out.map(|out| save_run(out, &trainer, stop, timer.elapsed())).transpose()?;
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
    observer.on_event(Event::StageFinished { stage: Stage::Train, seconds: timer.elapsed().as_secs_f64() });
    let report = TrainReport {
        checkpoint: saved,
        iters: trainer.iteration(),
        resumed_from,
        interrupted,
        stop_reason: reason,
        planned_iters: trainer.config().iterations,
        decision_views: decision_set.len(),
        plan,
        seconds,
        autosaves: autosaves.0,
        autosave_seconds: autosaves.1,
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
