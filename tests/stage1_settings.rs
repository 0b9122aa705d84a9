//! Stage 1's settings are decided once, in the library (`generate::settings::Stage1Config`): the CLI,
//! the app and a library caller refuse the same out-of-range setting with the same words, and make the
//! same matrix from the same settings, byte for byte.

mod common;
use efficient4d::app::worker::{Worker, WorkerMsg};
use efficient4d::app::{AppOptions, job_spec, video_stage1};
use efficient4d::generate::from_video::GeneratorChoice;
use efficient4d::generate::settings::Stage1Config;
use efficient4d::interpolate::InterpolatorChoice;
use efficient4d::interpolate::confidence::ConfidenceMetric;
use efficient4d::interpolate::matrix::RefineOptions;
use efficient4d::pipeline::{Control, ExportSpec, Input, JobSpec, RefineSpec, Stage1Spec};
use efficient4d::video::CropMode;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn clip() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/creature.mp4")
}

/// The refinement all three drivers are asked for: one flow-interpolated frame per pair, SSIM confidence.
fn refine() -> RefineSpec {
    RefineSpec {
        interpolator: InterpolatorChoice::Flow,
        options: RefineOptions { new_frames_per_pair: 1, confidence: Some(ConfidenceMetric::Ssim) },
    }
}

/// The CLI's `generate` with `settings` spelled as flags.
fn cli_generate(settings: &[&str], out: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_efficient4d"))
        .args(["generate", clip().to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--new-frames", "1", "--interpolator", "flow", "--confidence", "ssim"])
        .args(settings)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("EFFICIENT4D_WEIGHTS", out.with_extension("no-weights"))
        .output()
        .unwrap()
}

/// A library caller: stage 1 alone into `out`.
fn library_generate(settings: &Stage1Config, out: &Path) -> anyhow::Result<()> {
    let job = JobSpec {
        input: Input::Video(clip()),
        out: out.to_path_buf(),
        stage1: Stage1Spec { generate: settings.clone().into(), refine: Some(refine()) },
        train: None,
        resolution: None,
        export: ExportSpec::default(),
    };
    let rast = Arc::new(efficient4d::render::Rasterizer::new(common::gpu())?);
    efficient4d::pipeline::run(&common::gpu(), &rast, &job, &Control::default(), &mut |_| {}).map(|_| ())
}

/// The app's job for a video opened with `settings` (one training step after stage 1); its result.
fn app_generate(settings: &Stage1Config, out: &Path) -> anyhow::Result<()> {
    let options = AppOptions {
        open_demo: false,
        train_iterations: 1,
        stage1: settings.clone(),
        refine: Some(refine()),
        offer_unfinished: false,
        ..Default::default()
    };
    let job = job_spec(&options, Input::Video(clip()), video_stage1(&options), out.to_path_buf());
    let mut worker = Worker::start(common::gpu(), job);
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < common::HANG_CEILING, "the app's job did not end");
        if let Ok(WorkerMsg::Ended(result)) = worker.rx.recv_timeout(Duration::from_secs(1)) {
            worker.stop();
            return result.map(|_| ()).map_err(|e| anyhow::anyhow!(e));
        }
    }
}

#[test]
fn every_driver_refuses_an_out_of_range_setting_with_the_same_words() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, settings) in [
        (vec!["--frames", "1"], Stage1Config { key_frames: 1, ..Default::default() }),
        (vec!["--ddim-steps", "3"], Stage1Config { ddim_steps: 3, ..Default::default() }),
        (vec!["--range", "4", "2"], Stage1Config { range: Some(vec![4.0, 2.0]), ..Default::default() }),
    ] {
        let words = settings.validate().unwrap_err();
        let cli = cli_generate(&flags, &dir.path().join("cli"));
        assert_eq!(cli.status.code(), Some(2), "{flags:?}");
        assert!(
            String::from_utf8_lossy(&cli.stderr).contains(&words),
            "{flags:?}: {}",
            String::from_utf8_lossy(&cli.stderr)
        );
        let library = library_generate(&settings, &dir.path().join("library")).unwrap_err();
        assert_eq!(format!("{library:#}"), words, "{flags:?}");
        let app = app_generate(&settings, &dir.path().join("app")).unwrap_err();
        assert!(format!("{app:#}").contains(&words), "{flags:?}: {app:#}");
        for driver in ["cli", "library", "app"] {
            assert!(!dir.path().join(driver).join("transforms_train.json").exists(), "{driver} wrote a matrix");
        }
    }
}

/// Every file of a matrix folder, by name, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = walk(dir)
        .into_iter()
        .map(|p| (p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] })
        .collect()
}

#[test]
fn every_driver_makes_the_same_matrix_from_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Stage1Config {
        key_frames: 2,
        crop: CropMode::Stable,
        generator: GeneratorChoice::Inflate,
        range: Some(vec![0.5, 2.5]),
        ..Default::default()
    };
    let cli = dir.path().join("cli");
    let out =
        cli_generate(&["--frames", "2", "--crop", "stable", "--generator", "inflate", "--range", "0.5", "2.5"], &cli);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let library = dir.path().join("library");
    library_generate(&settings, &library).unwrap();
    let app = dir.path().join("app");
    app_generate(&settings, &app).unwrap();

    let cli_files = files(&cli);
    assert!(cli_files.iter().filter(|(name, _)| name.ends_with(".png")).count() >= 3 * 17, "{}", cli_files.len());
    assert_eq!(cli_files, files(&library), "the CLI's and the library's matrices differ");
    // The matrix records the settings that made it, as the library reads them back.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cli.join("transforms_train.json")).unwrap()).unwrap();
    let recorded: Stage1Config = serde_json::from_value(json["stage1"].clone()).unwrap();
    assert_eq!(recorded, settings);
    assert_eq!(cli_files, files(&app.join("matrix")), "the CLI's and the app's matrices differ");
}
