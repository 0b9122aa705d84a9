//! The library pipeline as its drivers use it: the CLI's `train` and the app's worker run the same job
//! and get the same model; pause, cancel and the checkpoint-only job do what they say.

mod common;
use efficient4d::app::worker::{Worker, WorkerMsg};
use efficient4d::export::Checkpoint;
use efficient4d::pipeline::{
    Control, Event, ExportSpec, Input, JobSpec, MODEL_FILE, Plateau, StopReason, StopRule, TrainSpec, TrainStart,
    training,
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
        assert!(start.elapsed() < Duration::from_secs(300), "the app's job did not finish");
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
    let started = rx.recv_timeout(Duration::from_secs(120)).unwrap();
    assert!(matches!(started, Event::StageStarted { .. }));
    std::thread::sleep(Duration::from_millis(500));
    assert!(rx.try_recv().is_err(), "a paused job sent something");
    control.set_paused(false);
    let first = rx.recv_timeout(Duration::from_secs(120)).unwrap();
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

/// Trains the small truth matrix under `stop`, with at most `cap` steps: the report, and the number of
/// training views in the dataset.
fn train_until(stop: StopRule, cap: u32) -> (training::TrainReport, usize) {
    let dir = tempfile::tempdir().unwrap();
    common::write_truth(dir.path(), 32, 3);
    let ds = efficient4d::dataset::load_dataset(dir.path(), Default::default()).unwrap();
    let gpu = common::gpu();
    let rast = Arc::new(Rasterizer::new(gpu.clone()).unwrap());
    let settings = TrainConfig { iterations: cap, init_points: 300, ..Default::default() };
    let spec = TrainSpec { stop, ..TrainSpec::new(TrainStart::fresh(settings)) };
    let mut said = String::new();
    let mut watch = |e: Event| {
        if let Event::StageStarted { what, .. } = e {
            said = what;
        }
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
    (report, ds.train.len())
}

#[test]
fn a_plateau_ends_the_run_after_a_short_finish() {
    // A gain no run can make: the plateau comes at the third check (step 15), then 5 more steps.
    let plateau = Plateau { every: 5, patience: 2, min_gain_db: 100.0, finish_share: 0.2 };
    let (report, views) = train_until(StopRule { budget: None, plateau: Some(plateau) }, 1000);
    assert!(matches!(report.stop_reason, StopReason::Converged { at_step: 15, .. }), "{:?}", report.stop_reason);
    assert_eq!((report.iters, report.planned_iters), (20, 20));
    // 3 frames × 16 rig views: one in eight held out to decide.
    assert_eq!((views, report.decision_views), (48, 6));
}

#[test]
fn a_budget_shrinks_the_plan_and_ends_the_run() {
    let budget = Duration::from_secs(4);
    let (report, _) = train_until(StopRule { budget: Some(budget), plateau: None }, 100_000);
    // The fitted plan ends within the budget, or (a loaded machine slowing the last steps) the budget
    // cuts it, and the report says where.
    match report.stop_reason {
        StopReason::Budget => assert_eq!(report.iters, report.planned_iters, "{report:?}"),
        StopReason::OutOfTime { at_step, planned } => {
            assert_eq!((at_step, planned), (report.iters, report.planned_iters), "{report:?}");
            assert!(at_step < planned);
        }
        other => panic!("{other:?}"),
    }
    assert!(report.planned_iters < 100_000 && report.iters <= report.planned_iters, "{report:?}");
    assert_eq!(report.decision_views, 0, "no plateau rule: nothing held out");
}
