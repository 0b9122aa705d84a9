//! `bench ring`: train on a 16-view × F-frame ring rendered from a known animated scene and report
//! held-out PSNR over training time (evaluation excluded), incl. the time to reach 30 dB. The scene is
//! the demo creature (its true matrix without the input view; held out: the demo's test cameras,
//! between the rig's azimuths and above and below its elevation) or a random cloud of 4D splats.

use crate::dataset::{LoadOptions, load_dataset};
use crate::gpu::GpuContext;
use crate::render::Rasterizer;
use crate::render::bench::peak_rss_mb;
use crate::train::eval::evaluate;
use crate::train::{TrainConfig, Trainer};
use std::sync::Arc;
use std::time::Instant;

/// The known scene the ring is rendered from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RingScene {
    /// The bundled demo's creature (256², the rig's intrinsics).
    Creature,
    /// 2000 random splats in the object ball, moved by their 4D rotations (any size).
    Random,
}

#[derive(Clone, Debug)]
pub struct RingArgs {
    pub scene: RingScene,
    pub json: bool,
    pub steps: u32,
    /// Image size (`Random` only; the creature's matrix is 256²).
    pub size: u32,
    pub frames: u32,
    pub batch: Option<usize>,
    pub by_frame: bool,
    /// `--set KEY=VALUE` items (`train::overrides`), applied after the other settings.
    pub overrides: Vec<String>,
}

/// Renders the ring into `dir`.
fn write_ring(rast: &Rasterizer, dir: &std::path::Path, args: &RingArgs) -> anyhow::Result<()> {
    use crate::gaussians::random::RandomScene;
    use crate::generate::render_matrix::{MatrixSpec, render_image_matrix};
    match args.scene {
        RingScene::Creature => crate::generate::demo::write_truth_matrix(rast, dir, args.frames, false)?,
        RingScene::Random => {
            let truth = RandomScene {
                count: 2000,
                seed: 2024,
                radius: 0.4,
                log_scale: (-3.8, -2.6),
                log_scale_t: (-1.0, 0.3),
                opacity_logit: (0.0, 3.0),
                sh_degree: 0,
            }
            .build();
            let test_views: Vec<(f64, f64)> =
                (0..8).map(|i| (i as f64 * 45.0 + 11.25, 30.0)).chain([(0.0, 0.0), (90.0, 10.0)]).collect();
            let spec = MatrixSpec { size: args.size, frames: args.frames, test_views, test_frames: 4 };
            render_image_matrix(rast, &truth, dir, &spec)?;
        }
    }
    Ok(())
}

pub fn bench_ring(args: RingArgs) -> anyhow::Result<()> {
    let steps = args.steps;
    let mut config = TrainConfig { iterations: steps, batch_by_frame: args.by_frame, ..Default::default() };
    if let Some(b) = args.batch {
        config.batch_views = b;
    }
    // Before the ring is rendered, so a mistyped setting fails at once.
    let config = crate::train::overrides::apply_overrides(&config, &args.overrides)?;
    config.validate()?;
    let gpu = GpuContext::headless()?;
    let rast = Arc::new(Rasterizer::new(gpu.clone())?);
    let dir = tempfile::tempdir()?;
    write_ring(&rast, dir.path(), &args)?;
    let ds = load_dataset(dir.path(), LoadOptions::default())?;
    let mut trainer = Trainer::new(&gpu, rast.clone(), &ds, config, None)?;
    let eval_every = (steps / 10).max(1);
    let (mut train_seconds, mut curve, mut to_30) = (0.0f64, Vec::new(), None);
    if !args.json {
        println!("device: {}", gpu.describe());
        println!("{} training views, {} held out ({:?} scene)", ds.train.len(), ds.test.len(), args.scene);
    }
    while trainer.iteration() < steps {
        let t0 = Instant::now();
        trainer.step();
        train_seconds += t0.elapsed().as_secs_f64();
        if trainer.iteration() % eval_every == 0 || trainer.iteration() == steps {
            let r = evaluate(&rast, &trainer.gaussians(), &ds.test, [1.0; 3])?;
            if r.psnr >= 30.0 && to_30.is_none() {
                to_30 = Some(train_seconds);
            }
            if !args.json {
                println!(
                    "step {:5}  {:7.1} s  held-out PSNR {:.2} dB  SSIM {:.4}  splats {}",
                    trainer.iteration(),
                    train_seconds,
                    r.psnr,
                    r.ssim,
                    trainer.splat_count()
                );
            }
            curve.push(super::curve_point(trainer.iteration(), train_seconds, &r, trainer.splat_count(), None));
        }
    }
    let last = curve.last().cloned().unwrap_or_default();
    let size = ds.train[0].image.width();
    let report = serde_json::json!({
        "device": gpu.describe(),
        "scene": args.scene,
        "size": size, "frames": args.frames, "views": 16, "steps": steps,
        "train_views": ds.train.len(), "test_views": ds.test.len(),
        "settings": args.overrides,
        "batch": if args.by_frame { serde_json::json!("by frame") } else { serde_json::json!(trainer.config().batch_views) },
        "psnr": last["psnr"], "ssim": last["ssim"], "seconds": train_seconds,
        "seconds_to_30db": to_30, "splats": trainer.splat_count(), "curve": curve, "peak_rss_mb": peak_rss_mb(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(s) = to_30 {
        println!("30 dB held out after {s:.1} s of training");
    }
    Ok(())
}
