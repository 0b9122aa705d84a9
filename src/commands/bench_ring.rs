//! `bench ring`: train on a 16-view × F-frame ring rendered from a known animated scene
//! (`generate::ring`) and report held-out PSNR over training time (evaluation excluded), incl. the time
//! to reach 30 dB. The training is the pipeline's, as `train` runs it.

use efficient4d::dataset::{LoadOptions, load_dataset};
use efficient4d::generate::ring::{RingScene, write_ring};
use efficient4d::gpu::GpuContext;
use efficient4d::pipeline::training::train;
use efficient4d::pipeline::{Event, TrainStart};
use efficient4d::render::Rasterizer;
use efficient4d::train::TrainConfig;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct RingArgs {
    pub scene: RingScene,
    pub json: bool,
    /// Image size (`Random` only; the creature's matrix is 256²).
    pub size: u32,
    pub frames: u32,
    /// `--iters N` (run in full) or the default stop at a plateau.
    pub run: crate::cli::RunLength,
    /// The training settings.
    pub settings: TrainConfig,
    /// `--set KEY=VALUE` items (`train::overrides`), applied after the other settings.
    pub overrides: Vec<String>,
}

pub fn bench_ring(args: &RingArgs) -> anyhow::Result<()> {
    // Before the ring is rendered, so a mistyped setting fails at once.
    let config =
        efficient4d::train::overrides::apply_overrides(&args.run.apply(args.settings.clone()), &args.overrides)?;
    config.validate()?;
    let cap = config.iterations;
    let gpu = GpuContext::headless()?;
    let rast = Arc::new(Rasterizer::new(gpu.clone())?);
    let dir = tempfile::tempdir()?;
    write_ring(&rast, dir.path(), args.scene, args.size, args.frames)?;
    let ds = load_dataset(dir.path(), LoadOptions::default())?;
    if !args.json {
        println!("device: {}", gpu.describe());
        println!("{} training views, {} held out ({:?} scene)", ds.train.len(), ds.test.len(), args.scene);
    }
    let batch =
        if config.batch_by_frame { serde_json::json!("by frame") } else { serde_json::json!(config.batch_views) };
    let mut spec = args.run.train_spec(TrainStart::fresh(config));
    // Ten points over a forced run; every 300 steps otherwise (the decision views are separate).
    spec.eval_every = Some(args.run.iters.map_or(300, |n| (n / 10).max(1)));
    let quiet = args.json;
    let mut print_curve = |e: Event| {
        if let Event::Evaluated(p) = e
            && !quiet
        {
            println!(
                "step {:5}  {:7.1} s  held-out PSNR {:.2} dB  SSIM {:.4}  splats {}",
                p.step, p.seconds, p.psnr, p.ssim, p.splats
            );
        }
    };
    let (report, _) = train(&gpu, &rast, &ds, &spec, None, &super::interrupt_control(), &mut print_curve)?;
    let curve = report.curve.clone().unwrap_or_default();
    let to_30 = curve.iter().find(|p| p.psnr >= 30.0).map(|p| p.seconds);
    let json = serde_json::json!({
        "device": gpu.describe(),
        "scene": args.scene,
        "size": ds.train[0].image.width(), "frames": args.frames, "views": 16, "steps": report.iters, "cap_steps": cap, "planned_steps": report.planned_iters,
        "stop_reason": report.stop_reason, "decision_views": report.decision_views,
        "train_views": ds.train.len() - report.decision_views, "test_views": ds.test.len(),
        "settings": args.overrides,
        "batch": batch,
        "psnr": report.psnr, "ssim": report.ssim, "seconds": report.seconds,
        "seconds_to_30db": to_30, "splats": report.splats, "curve": curve, "peak_rss_mb": report.peak_rss_mb,
    });
    if let (false, Some(s)) = (args.json, to_30) {
        println!("30 dB held out after {s:.1} s of training");
    }
    super::finish_bench(args.json, json)
}
