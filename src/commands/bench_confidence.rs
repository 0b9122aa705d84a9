//! `bench confidence`: the ablation of confidence-aware training. The demo creature's true matrix
//! gets injected inconsistencies (some views of some frames shifted or recoloured, as a generator's
//! flicker would be); we train on it with and without confidence maps (and on the clean matrix, the
//! ceiling) and compare held-out PSNR. It also reports how well the maps single out the damage.

use efficient4d::dataset::{LoadOptions, load_dataset, load_split, png_bytes};
use efficient4d::generate::demo::write_truth_matrix;
use efficient4d::gpu::GpuContext;
use efficient4d::interpolate::{ConfidenceMetric, Interpolator, RefineOptions, refine_matrix};
use efficient4d::pipeline::training::train;
use efficient4d::pipeline::{TrainSpec, TrainStart};
use efficient4d::render::Rasterizer;
use efficient4d::train::TrainConfig;
use image::RgbaImage;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Training steps of each run of the ablation (`--iters` sets others).
pub const ABLATION_STEPS: u32 = 2000;

/// Settings of the ablation.
#[derive(Clone, Debug)]
pub struct AblationArgs {
    pub frames: u32,
    /// Training resolution (longer side).
    pub size: u32,
    pub json: bool,
    /// The training settings of all three runs (`iterations`: the steps).
    pub settings: TrainConfig,
}

/// How a view is damaged (its right half).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub enum Damage {
    /// Moved right and down by this many pixels (at 256²).
    Shift(i32),
    /// Red and blue swapped and darkened: a colour flicker.
    Recolour,
}

/// The damaged (frame, view) pairs for `frames` key frames: 4 of the 16 rig views in two interior
/// frames, one frame's shifted, the other's recoloured.
pub fn damage_plan(frames: u32) -> Vec<(u32, u32, Damage)> {
    let (a, b) = (frames / 3, (2 * frames) / 3);
    let views = [1, 5, 9, 13];
    views.iter().map(|&v| (a, v, Damage::Shift(14))).chain(views.iter().map(|&v| (b, v, Damage::Recolour))).collect()
}

/// Damages the right half of `img` (generator inconsistencies are local, and Efficient4D's
/// confidence ranks the pixels of one image against each other).
pub fn damage(img: &RgbaImage, how: Damage) -> RgbaImage {
    let half = img.width() / 2;
    RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        if x < half {
            return *img.get_pixel(x, y);
        }
        match how {
            Damage::Shift(d) => {
                let (sx, sy) = (x as i64 - d as i64, y as i64 - d as i64);
                if sx >= 0 && sy >= 0 { *img.get_pixel(sx as u32, sy as u32) } else { image::Rgba([255, 255, 255, 0]) }
            }
            Damage::Recolour => {
                let p = img.get_pixel(x, y);
                let dark = |c: u8| (c as f32 * 0.7) as u8;
                image::Rgba([dark(p[2]), dark(p[1]), dark(p[0]), p[3]])
            }
        }
    })
}

/// Overwrites the planned views of the matrix in `dir` with their damaged versions; returns the
/// files' names (as in the JSON) that were damaged.
fn damage_matrix(dir: &Path, plan: &[(u32, u32, Damage)]) -> anyhow::Result<Vec<String>> {
    let (_, views) = load_split(dir, efficient4d::dataset::Split::Train, LoadOptions::default())?.expect("train split");
    let mut names = Vec::new();
    for &(frame, view, how) in plan {
        let v = views
            .iter()
            .find(|v| v.frame_index == Some(frame) && v.view_index == Some(view))
            .ok_or_else(|| anyhow::anyhow!("no view {view} of frame {frame}"))?;
        let out = damage(&v.image, how);
        let path = dir.join(format!("{}.png", v.name.trim_start_matches("./")));
        efficient4d::atomic_file::write_atomically(
            &path,
            &png_bytes(out.width(), out.height(), out.as_raw(), image::ExtendedColorType::Rgba8),
        )?;
        names.push(v.name.clone());
    }
    Ok(names)
}

/// Trains on the matrix in `dir` through the pipeline's training stage; held-out scores and time.
fn train_and_eval(
    gpu: &Arc<GpuContext>,
    rast: &Arc<Rasterizer>,
    dir: &Path,
    args: &AblationArgs,
) -> anyhow::Result<serde_json::Value> {
    let ds = load_dataset(dir, LoadOptions { max_side: Some(args.size) })?;
    // An ablation compares equal runs: every one takes exactly the planned steps, on every view.
    let spec = TrainSpec::forced(TrainStart::fresh(args.settings.clone()));
    let (r, _) = train(gpu, rast, &ds, &spec, None, &super::interrupt_control(), &mut |_| {})?;
    Ok(serde_json::json!({"psnr": r.psnr, "ssim": r.ssim, "seconds": r.seconds, "splats": r.splats}))
}

pub fn bench_confidence(args: AblationArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.frames >= 5, "the ablation needs at least 5 key frames");
    args.settings.validate()?;
    let gpu = GpuContext::headless()?;
    let rast = Arc::new(Rasterizer::new(gpu.clone())?);
    let root = tempfile::tempdir()?;
    let (clean, plain, weighted) =
        (root.path().join("clean"), root.path().join("damaged"), root.path().join("weighted"));
    write_truth_matrix(&rast, &clean, args.frames, true)?;
    let plan = damage_plan(args.frames);
    for dir in [&plain, &weighted] {
        copy_dir(&clean, dir)?;
        damage_matrix(dir, &plan)?;
    }
    // Confidence maps only (no new frames), from the weights-free flow so the result does not
    // depend on what is installed.
    let interp = Interpolator::Flow(Default::default());
    let options = RefineOptions { new_frames_per_pair: 0, confidence: Some(ConfidenceMetric::Ssim) };
    let refine = refine_matrix(&weighted, &interp, &options, &AtomicBool::new(false), &mut |_, _| {})?;
    let separation = confidence_separation(&weighted, &plan)?;
    if !args.json {
        println!(
            "confidence maps: {:.1} s; mean confidence on the object: damaged views {:.3}, same views in clean frames {:.3}",
            refine.seconds, separation.0, separation.1
        );
    }
    let mut results = serde_json::Map::new();
    for (name, dir) in [("clean", &clean), ("damaged_plain", &plain), ("damaged_confidence", &weighted)] {
        let r = train_and_eval(&gpu, &rast, dir, &args)?;
        if !args.json {
            println!(
                "{name:20} held-out PSNR {:.2} dB  SSIM {:.4}  ({:.0} s)",
                r["psnr"].as_f64().unwrap_or(0.0),
                r["ssim"].as_f64().unwrap_or(0.0),
                r["seconds"].as_f64().unwrap_or(0.0)
            );
        }
        results.insert(name.into(), r);
    }
    let report = serde_json::json!({
        "device": gpu.describe(),
        "frames": args.frames, "views": 17, "steps": args.settings.iterations, "size": args.size,
        "damaged": plan.iter().map(|(f, v, d)| serde_json::json!({"frame": f, "view": v, "damage": d})).collect::<Vec<_>>(),
        "confidence_seconds": refine.seconds,
        "mean_confidence_damaged": separation.0, "mean_confidence_clean_same_views": separation.1,
        "results": results,
    });
    super::finish_bench(args.json, report)
}

/// Mean confidence over object pixels of the damaged views vs the same views in undamaged frames.
fn confidence_separation(dir: &Path, plan: &[(u32, u32, Damage)]) -> anyhow::Result<(f32, f32)> {
    let ds = load_dataset(dir, LoadOptions::default())?;
    let damaged_views: Vec<u32> = plan.iter().map(|p| p.1).collect();
    let (mut bad, mut good) = ((0.0f64, 0usize), (0.0f64, 0usize));
    for v in &ds.train {
        let (Some(f), Some(view), Some(conf)) = (v.frame_index, v.view_index, &v.confidence) else { continue };
        if !damaged_views.contains(&view) {
            continue;
        }
        let hit = plan.iter().any(|p| p.0 == f && p.1 == view);
        let slot = if hit { &mut bad } else { &mut good };
        for (p, c) in v.image.pixels().zip(conf.pixels()) {
            if p[3] >= 128 {
                slot.0 += c[0] as f64 / 255.0;
                slot.1 += 1;
            }
        }
    }
    let mean = |(s, n): (f64, usize)| if n > 0 { (s / n as f64) as f32 } else { f32::NAN };
    Ok((mean(bad), mean(good)))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
