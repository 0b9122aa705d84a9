//! The library pipeline as its drivers use it: the CLI's `train` and the app's worker run the same job
//! and get the same model; pause, cancel and the checkpoint-only job do what they say.

mod common;
use efficient4d::app::worker::{Worker, WorkerMsg};
use efficient4d::export::Checkpoint;
use efficient4d::pipeline::{
    Control, Event, ExportSpec, Input, JobSpec, MODEL_FILE, Plateau, RunClock, StopReason, StopRule, TrainSpec,
    TrainStart, training,
};
use efficient4d::render::Rasterizer;
use efficient4d::train::TrainConfig;
use std::sync::Arc;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

const STEPS: u32 = 6;

/// A job training the small truth matrix in `data` for exactly `STEPS` steps (as `--iters` asks) into
/// `out`, with the app's snapshots.
fn app_job(data: &std::path::Path, out: &std::path::Path) -> JobSpec {
    let settings = TrainConfig { iterations: STEPS, init_points: 400, ..Default::default() };
    let train =
        TrainSpec { snapshot_every: Some(Duration::from_millis(1)), ..TrainSpec::forced(TrainStart::fresh(settings)) };
    JobSpec {
        input: Input::Dataset(data.to_path_buf()),
        out: out.to_path_buf(),
        stage1: Default::default(),
        train: Some(train),
        resolution: None,
        export: ExportSpec::default(),
    }
}

#[test]
fn the_cli_and_the_app_run_the_same_job_to_the_same_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_truth(&data, 32, 2);
    let (cli_out, app_out) = (dir.path().join("cli"), dir.path().join("app"));
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_efficient4d"))
        .args(["train", data.to_str().unwrap(), "--out", cli_out.to_str().unwrap()])
        .args(["--iters", &STEPS.to_string(), "--points", "400", "--json"])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));

    let mut worker = Worker::start(common::gpu(), app_job(&data, &app_out));
    let (mut steps, mut snapshots, mut report) = (0, 0, None);
    let start = Instant::now();
    while report.is_none() {
        assert!(start.elapsed() < common::HANG_CEILING, "the app's job did not finish");
        match worker.rx.recv_timeout(Duration::from_secs(1)) {
            Ok(WorkerMsg::Event(Event::Step(_))) => steps += 1,
            Ok(WorkerMsg::Event(Event::Snapshot { .. })) => snapshots += 1,
            Ok(WorkerMsg::Ended(r)) => report = Some(r.unwrap()),
            _ => {}
        }
    }
    worker.stop();
    assert_eq!(steps, STEPS);
    assert!(snapshots >= 2, "snapshots along the way and after the last step: {snapshots}");
    let report = report.unwrap();
    assert_eq!(report.train.as_ref().unwrap().iters, STEPS);

    let cli = Checkpoint::load(&cli_out.join(MODEL_FILE)).unwrap();
    let app = Checkpoint::load(&app_out.join(MODEL_FILE)).unwrap();
    // The flags' defaults are the library's defaults: the same settings, field for field.
    assert_eq!(cli.meta.settings, app.meta.settings);
    assert_eq!(cli.meta.iterations, app.meta.iterations);
    // Same initialisation and batches (same seed). On the CPU driver every kernel is deterministic
    // (reruns are bit-identical), so the two models are too; a GPU's backward adds with atomics in
    // no fixed order, so there they agree to float noise.
    let tolerance = if common::gpu().is_cpu_driver() { 0.0 } else { 1e-3 };
    let (a, b) = (&cli.gaussians, &app.gaussians);
    assert_eq!(a.len(), b.len());
    let worst = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
    for (name, x, y) in [
        ("means", &a.means, &b.means),
        ("log_scales", &a.log_scales, &b.log_scales),
        ("rot_left", &a.rot_left, &b.rot_left),
        ("rot_right", &a.rot_right, &b.rot_right),
        ("opacity", &a.opacity, &b.opacity),
        ("sh", &a.sh, &b.sh),
    ] {
        let d = worst(x, y);
        eprintln!("{name}: largest difference {d:e}");
        assert!(d <= tolerance, "{name} differs by {d}");
    }
}

#[test]
fn a_paused_job_waits_and_a_cancelled_one_saves_what_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_truth(&data, 32, 2);
    let ds = efficient4d::dataset::load_dataset(&data, Default::default()).unwrap();
    let out = dir.path().join("out");
    let control = Control::default();
    control.set_paused(true);
    let (tx, rx) = channel();
    let (c, o) = (control.clone(), out.clone());
    let job = std::thread::spawn(move || {
        let gpu = common::gpu();
        let rast = Arc::new(Rasterizer::new(gpu.clone()).unwrap());
        let settings = TrainConfig { iterations: 1000, init_points: 300, ..Default::default() };
        let spec = TrainSpec::new(TrainStart::fresh(settings));
        let mut send = |e: Event| {
            let _ = tx.send(e);
        };
        training::train(&gpu, &rast, &ds, &spec, Some(&o), &c, &mut send).unwrap().0
    });
    // Paused: it prepares (the stage starts) but takes no step.
    let started = rx.recv_timeout(common::HANG_CEILING).unwrap();
    assert!(matches!(started, Event::StageStarted { .. }));
    // Not a timing: a paused job sends nothing however long it is watched; half a second of watching
    // is what this test can afford, and a fast or slow machine only changes how much work it skips.
    std::thread::sleep(Duration::from_millis(500));
    assert!(rx.try_recv().is_err(), "a paused job sent something");
    control.set_paused(false);
    let first = rx.recv_timeout(common::HANG_CEILING).unwrap();
    assert!(matches!(first, Event::Step(s) if s.iteration == 1));
    control.cancel();
    let report = job.join().unwrap();
    assert!(report.interrupted && report.iters >= 1 && report.iters < 1000, "{report:?}");
    let saved = Checkpoint::load(&out.join(MODEL_FILE)).unwrap();
    assert_eq!(saved.meta.iterations, report.iters);
}

#[test]
fn a_checkpoint_job_exports_its_frames_and_turntable() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = common::flipbook_checkpoint(dir.path());
    let out = dir.path().join("out");
    let spec = JobSpec {
        input: Input::Checkpoint(ckpt),
        out: out.clone(),
        stage1: Default::default(),
        train: None,
        resolution: None,
        export: ExportSpec { ply: Some((out.join("ply"), None)), turntable: Some(out.join("turntable.gif")) },
    };
    let gpu = common::gpu();
    let rast = Arc::new(Rasterizer::new(gpu.clone()).unwrap());
    let mut stages = Vec::new();
    let mut record = |e: Event| match e {
        Event::StageStarted { stage, .. } => stages.push(stage),
        Event::Done { written } => assert!(written.iter().all(|p| p.exists()), "{written:?}"),
        _ => {}
    };
    let report = efficient4d::pipeline::run(&gpu, &rast, &spec, &Control::default(), &mut record).unwrap();
    assert_eq!(stages, [efficient4d::pipeline::Stage::Export]);
    assert_eq!(report.ply_files, 3, "one PLY per key frame");
    assert!(std::fs::metadata(out.join("turntable.gif")).unwrap().len() > 1000);
    assert!(report.stages.contains_key("export") && report.train.is_none());
}

/// Trains the small truth matrix under `stop`, with at most `cap` steps, on `clock`: the report, the
/// number of training views in the dataset and what the run said along the way (info and warnings).
fn train_until(stop: StopRule, cap: u32, clock: RunClock) -> (training::TrainReport, usize, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    common::write_truth(dir.path(), 32, 3);
    let ds = efficient4d::dataset::load_dataset(dir.path(), Default::default()).unwrap();
    let gpu = common::gpu();
    let rast = Arc::new(Rasterizer::new(gpu.clone()).unwrap());
    let settings = TrainConfig { iterations: cap, init_points: 300, ..Default::default() };
    let spec = TrainSpec { stop, clock, ..TrainSpec::new(TrainStart::fresh(settings)) };
    let (mut said, mut infos) = (String::new(), Vec::new());
    let mut watch = |e: Event| match e {
        Event::StageStarted { what, .. } => said = what,
        Event::Info(line) | Event::Warning(line) => infos.push(line),
        _ => {}
    };
    let (report, _) = training::train(&gpu, &rast, &ds, &spec, None, &Control::default(), &mut watch).unwrap();
    let plan = &report.plan;
    assert_eq!(plan.training_views + report.decision_views, ds.train.len(), "decision views are held out of training");
    // The plan said at the start is the one reported.
    assert_eq!(said, plan.describe());
    assert!(said.contains(&format!("of {} views per step", plan.training_views)), "{said}");
    // 32² images are too small to train coarse, and the plan says none.
    assert_eq!(plan.coarse_share, 0.0);
    assert!(!said.contains("of the steps at"), "{said}");
    (report, ds.train.len(), infos)
}

#[test]
fn a_plateau_ends_the_run_after_a_short_finish() {
    // A gain no run can make: the plateau comes at the third check (step 15), then 5 more steps.
    let plateau = Plateau { every: 5, patience: 2, min_gain_db: 100.0, finish_share: 0.2 };
    let (report, views, _) = train_until(StopRule { budget: None, plateau: Some(plateau) }, 1000, RunClock::Wall);
    assert!(matches!(report.stop_reason, StopReason::Converged { at_step: 15, .. }), "{:?}", report.stop_reason);
    assert_eq!((report.iters, report.planned_iters), (20, 20));
    // 3 frames × 16 rig views: one in eight held out to decide.
    assert_eq!((views, report.decision_views), (48, 6));
}

/// A budget is spent in modelled time (every step 1/16 s, a binary fraction so the arithmetic is
/// exact), so the plan is the same on any machine however fast or busy it is.
const STEP: Duration = Duration::from_micros(62_500);

#[test]
fn a_budget_shrinks_the_plan_and_ends_the_run() {
    let rule = StopRule { budget: Some(Duration::from_secs(4)), plateau: None };
    let (report, _, infos) = train_until(rule, 100_000, RunClock::constant(STEP));
    // The first step compiles kernels and is not timed; steps 2-10 give 1/16 s per step. At step 10
    // (0.625 s spent) 3.375 s remain: 54 more steps, a plan of 64, which then runs to its end.
    assert_eq!(infos[0], "0.06 s per step: the plan is 64 steps, to end within 4 s");
    // So short a plan is said to be short, with what would fit more: half the 4 views per step, or
    // the budget that fits 500 steps (4 s × 500 / 64 = 31 s, said in whole minutes).
    assert_eq!(infos.len(), 2, "{infos:?}");
    assert!(
        infos[1].starts_with("this machine fits only 64 training steps in 4 s (0.06 s per full step)"),
        "{infos:?}"
    );
    assert!(
        infos[1].ends_with("To train more: `--batch 2` (about 128 steps) or `--budget 1m` (500 steps)"),
        "{infos:?}"
    );
    assert_eq!(report.stop_reason, StopReason::Budget, "{report:?}");
    assert_eq!((report.iters, report.planned_iters), (64, 64));
    assert_eq!(report.seconds, 64.0 * STEP.as_secs_f64());
    assert_eq!(report.decision_views, 0, "no plateau rule: nothing held out");
}

#[test]
fn a_run_whose_steps_slow_down_is_cut_when_the_budget_is_spent() {
    // Fitted to 64 steps as above; from step 21 every step takes a second: 1.25 s after step 20,
    // 4.25 s after step 23, so the budget check before step 24 ends the run there.
    let slowing = RunClock::Modelled(Arc::new(|step, _| if step > 20 { Duration::from_secs(1) } else { STEP }));
    let rule = StopRule { budget: Some(Duration::from_secs(4)), plateau: None };
    let (report, _, _) = train_until(rule, 100_000, slowing);
    assert_eq!(report.stop_reason, StopReason::OutOfTime { at_step: 23, planned: 64 }, "{report:?}");
    assert_eq!((report.iters, report.planned_iters), (23, 64));
}

#[test]
fn a_killed_run_resumes_from_its_last_autosave_and_ends_where_it_would_have() {
    const TOTAL: u32 = 400;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_truth(&data, 32, 2);
    let out = dir.path().join("out");
    let (data_arg, out_arg) = (data.to_str().unwrap(), out.to_str().unwrap());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_efficient4d"))
        .args(["train", data_arg, "--out", out_arg, "--iters", &TOTAL.to_string(), "--points", "400"])
        .args(["--autosave", "0.1s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Waits on the first save (the event a user's crash would come after), then kills at once.
    let model = out.join(MODEL_FILE);
    let start = Instant::now();
    while !model.exists() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it saved anything");
        assert!(start.elapsed() < common::HANG_CEILING, "no autosave");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
    child.kill().unwrap(); // SIGKILL: no handler runs, nothing is flushed.
    child.wait().unwrap();

    // What the kill left: a whole model and state from the same step, mid-run.
    let saved = Checkpoint::load(&model).unwrap();
    let state = efficient4d::train::state::TrainState::load(&out.join(efficient4d::train::state::STATE_FILE)).unwrap();
    assert_eq!(state.meta.step, saved.meta.iterations);
    assert!(saved.meta.iterations >= 1 && saved.meta.iterations < TOTAL, "{}", saved.meta.iterations);
    let settings: TrainConfig = serde_json::from_value(saved.meta.settings.clone()).unwrap();
    assert_eq!(settings.iterations, TOTAL, "the plan is saved with the model");

    // `--resume` alone goes on under the saved plan and rule (exactly TOTAL steps, no plateau, no
    // default time budget) to where the uninterrupted run would have ended.
    let resumed = std::process::Command::new(env!("CARGO_BIN_EXE_efficient4d"))
        .args(["train", data_arg, "--out", out_arg, "--resume", "--json"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let report: serde_json::Value = serde_json::from_slice(&resumed.stdout).unwrap();
    let train = &report; // the job's report carries the training report's fields
    assert_eq!(train["resumed_from"].as_u64(), Some(saved.meta.iterations as u64), "{train}");
    assert_eq!((train["iters"].as_u64(), train["planned_iters"].as_u64()), (Some(TOTAL as u64), Some(TOTAL as u64)));
    assert_eq!(train["stop_reason"]["kind"], "planned", "{train}");
    let done = Checkpoint::load(&model).unwrap();
    assert_eq!(done.meta.iterations, TOTAL);
    assert_eq!(done.meta.settings, saved.meta.settings, "the same settings to the end");
    assert!(!done.gaussians.is_empty());
}
