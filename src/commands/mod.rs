//! The CLI subcommands: each a thin layer over the library. `pipeline` holds the video ones.

pub mod bench_confidence;
pub mod bench_generate;
pub mod bench_interpolate;
pub mod bench_ring;
pub mod pipeline;
pub mod refine;

use crate::dataset::{LoadOptions, Split, load_dataset};
use crate::export::Checkpoint;
use crate::export::ply::export_sequence;
use crate::gpu::GpuContext;
use crate::render::Rasterizer;
use crate::render::bench::peak_rss_mb;
use crate::render::profiler::StageTime;
use crate::train::eval::evaluate;
use crate::train::state::{STATE_FILE, TrainState};
use crate::train::{TrainConfig, Trainer};
use anyhow::Context;
use image::ImageEncoder;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Settings of `efficient4d train` beyond the dataset and output folder.
pub struct TrainArgs {
    pub iterations: Option<u32>,
    pub resolution: Option<u32>,
    pub batch_views: Option<usize>,
    pub by_frame: bool,
    pub init_points: Option<usize>,
    /// Initial temporal standard deviation as a share of the duration (`TrainConfig::init_time_scale`).
    pub init_time_scale: Option<f32>,
    pub sh_degree: Option<u32>,
    /// Initial position learning rate; the final one keeps the default ratio to it.
    pub position_lr: Option<f64>,
    pub densify: bool,
    /// Carve the initial splats with the views' silhouettes (`TrainConfig::carve_init`).
    pub carve: bool,
    /// Share of the splats grown at each densification (`DensifyConfig::grow_fraction`).
    pub grow_fraction: Option<f32>,
    pub json: bool,
    /// Time the GPU stages of every step (`train --profile`).
    pub profile: bool,
    /// Evaluate on the test split every this many steps and report the curve (time excludes it).
    pub eval_every: Option<u32>,
    /// Colour the images are composited on (`TrainConfig::background`; white when unset).
    pub background: Option<[f32; 3]>,
    /// `--set KEY=VALUE` items (`train::overrides`), applied after the other settings.
    pub overrides: Vec<String>,
    /// Start from these splats (a checkpoint, or a 3DGS PLY lifted to static 4D) instead of the
    /// random initialisation.
    pub init: Option<std::path::PathBuf>,
    /// Go on with the run saved in the output folder (`Trainer::resume`); the setting fields are unused.
    pub resume: bool,
}

/// The process's Ctrl-C flag: the handler is installed once and every stage (stage 1, then training in
/// `run`) watches the same flag — a second handler could not be installed, so a second flag would never
/// be set.
fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // Fails only if something else installed one (then Ctrl-C keeps its default: exit).
        let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
        flag
    })
    .clone()
}

pub fn train(dataset: &Path, out: &Path, args: TrainArgs) -> anyhow::Result<()> {
    let ds = load_dataset(dataset, LoadOptions { max_side: args.resolution })?;
    let gpu = GpuContext::headless()?;
    let mut rast = Rasterizer::new(gpu.clone())?;
    if args.profile {
        rast = rast.with_profiling()?;
    }
    let rast = Arc::new(rast);
    let (summary, _) = train_loaded(&gpu, &rast, &ds, out, &args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    Ok(())
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

/// One point of a test curve (`train --eval-every`, `bench ring`).
/// `train_psnr`: the same on a probe of training views, where measured (`train_probe`).
fn curve_point(
    step: u32,
    seconds: f64,
    r: &crate::train::eval::EvalReport,
    splats: usize,
    train_psnr: Option<f64>,
) -> serde_json::Value {
    let mut point =
        serde_json::json!({"step": step, "seconds": seconds, "psnr": r.psnr, "ssim": r.ssim, "splats": splats});
    if let Some(p) = train_psnr {
        point["train_psnr"] = p.into();
    }
    point
}

/// Up to 20 training views, evenly spread: their PSNR next to the test split's shows overfitting
/// (on D-NeRF the gap grew from 2 dB after 1000 steps to 4.7 dB after 3000).
fn train_probe(train: &[crate::dataset::View]) -> Vec<crate::dataset::View> {
    let stride = train.len().div_ceil(20).max(1);
    train.iter().step_by(stride).cloned().collect()
}

/// Splats to start training from: a checkpoint's 4D Gaussians as they are, or a 3DGS PLY's splats
/// made static 4D Gaussians centred in the dataset's time range and spanning it (`gaussians::lift`).
fn initial_splats(path: &Path, ds: &crate::dataset::Dataset) -> anyhow::Result<crate::gaussians::Gaussians4d> {
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

/// The settings and initial splats of a new run, from the flags (`--set` last).
fn new_run_config(
    args: &TrainArgs,
    ds: &crate::dataset::Dataset,
) -> anyhow::Result<(TrainConfig, Option<crate::gaussians::Gaussians4d>)> {
    let mut config = TrainConfig::default();
    if let Some(i) = args.iterations {
        config.iterations = i;
    }
    if let Some(b) = args.batch_views {
        config.batch_views = b;
    }
    config.batch_by_frame = args.by_frame;
    if let Some(p) = args.init_points {
        config.init_points = p;
    }
    if let Some(s) = args.init_time_scale {
        config.init_time_scale = s;
    }
    if let Some(lr) = args.position_lr {
        config.lr = config.lr.with_position_init(lr);
    }
    if let Some(d) = args.sh_degree {
        config.sh_degree = d;
    }
    if let Some(bg) = args.background {
        config.background = bg;
    }
    config.densify.enabled = args.densify;
    config.carve_init = args.carve;
    if let Some(g) = args.grow_fraction {
        config.densify.grow_fraction = g;
    }
    let init = args.init.as_deref().map(|p| initial_splats(p, ds)).transpose()?;
    // A checkpoint or PLY keeps its colour detail unless the SH degree is set explicitly.
    if let (Some(g), None) = (&init, args.sh_degree) {
        config.sh_degree = g.sh_degree;
    }
    let config = crate::train::overrides::apply_overrides(&config, &args.overrides)?;
    let init = init.map(|g| g.with_sh_degree(config.sh_degree));
    Ok((config, init))
}

/// Trains on a loaded dataset, saves `out/model.safetensors` and returns the summary (evaluated on the
/// test split when there is one) with the saved checkpoint. Prints progress unless `args.json`.
pub fn train_loaded(
    gpu: &Arc<GpuContext>,
    rast: &Arc<Rasterizer>,
    ds: &crate::dataset::Dataset,
    out: &Path,
    args: &TrainArgs,
) -> anyhow::Result<(serde_json::Value, Checkpoint)> {
    // `Trainer::new` range-checks the settings (flags and `--set` alike); the output folder is made
    // only once they passed, so a refused run leaves nothing behind.
    let mut trainer = if args.resume {
        let resume = |e: &dyn std::fmt::Display| anyhow::anyhow!("--resume {}: {e}", out.display());
        let ckpt = Checkpoint::load(&out.join("model.safetensors")).map_err(|e| resume(&e))?;
        let state = TrainState::load(&out.join(STATE_FILE)).map_err(|e| resume(&e))?;
        Trainer::resume(gpu, rast.clone(), ds, ckpt, state, args.iterations).map_err(|e| resume(&e))?
    } else {
        let (config, init) = new_run_config(args, ds)?;
        Trainer::new(gpu, rast.clone(), ds, config, init)?
    };
    let (iterations, resumed_from) = (trainer.config().iterations, args.resume.then(|| trainer.iteration()));
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let stop = interrupt_flag();
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(iterations as u64) };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}, {per_sec}]")
            .expect("valid template"),
    );
    bar.set_position(trainer.iteration() as u64);
    let mut stages: Vec<StageTime> = Vec::new();
    // Training time only: evaluations along the way are not counted.
    let (mut seconds, mut curve) = (0.0f64, Vec::new());
    let eval_every = args.eval_every.filter(|&n| n > 0 && !ds.test.is_empty());
    let probe = if eval_every.is_some() { train_probe(&ds.train) } else { Vec::new() };
    let train_psnr =
        |g: &crate::gaussians::Gaussians4d, bg| -> anyhow::Result<f64> { Ok(evaluate(rast, g, &probe, bg)?.psnr) };
    while trainer.iteration() < iterations && !stop.load(Ordering::SeqCst) {
        let t0 = Instant::now();
        let s = trainer.step();
        seconds += t0.elapsed().as_secs_f64();
        bar.set_position(s.iteration as u64);
        bar.set_message(format!("loss {:.4} psnr {:.2} splats {}", s.loss, s.psnr, s.splats));
        if args.profile {
            merge_stage_times(&mut stages, rast.stage_times()?);
        }
        if let Some(n) = eval_every
            && s.iteration % n == 0
            && s.iteration < iterations
        {
            let g = trainer.gaussians();
            let r = evaluate(rast, &g, &ds.test, trainer.config().background)?;
            let on_train = train_psnr(&g, trainer.config().background)?;
            let line = format!(
                "step {:6}  {:8.1} s  test PSNR {:.2} dB  SSIM {:.4}  (train views {on_train:.2} dB)  splats {}",
                s.iteration, seconds, r.psnr, r.ssim, s.splats
            );
            // A hidden bar (--json, or output not a terminal) would swallow the line: progress of a
            // long run still shows on stderr.
            if bar.is_hidden() {
                eprintln!("{line}")
            } else {
                bar.println(line)
            }
            curve.push(curve_point(s.iteration, seconds, &r, s.splats, Some(on_train)));
        }
    }
    bar.finish();
    let interrupted = stop.load(Ordering::SeqCst);
    let ckpt = trainer.checkpoint();
    let path = out.join("model.safetensors");
    ckpt.save(&path)?;
    // Beside it, what `--resume` needs to go on (Adam's moments: twice the checkpoint's size).
    trainer.state().save(&out.join(STATE_FILE))?;
    let report =
        if ds.test.is_empty() { None } else { Some(evaluate(rast, &ckpt.gaussians, &ds.test, ckpt.meta.background)?) };
    let mut summary = serde_json::json!({
        "checkpoint": path,
        "iters": trainer.iteration(),
        "resumed_from": resumed_from,
        "interrupted": interrupted,
        "seconds": seconds,
        "splats": trainer.splat_count(),
        "psnr": report.as_ref().map(|r| r.psnr),
        "ssim": report.as_ref().map(|r| r.ssim),
        "eval_resolution": report.as_ref().map(|r| [r.width, r.height]),
        "peak_rss_mb": peak_rss_mb(),
    });
    if eval_every.is_some() {
        if let Some(r) = &report {
            let on_train = train_psnr(&ckpt.gaussians, ckpt.meta.background)?;
            curve.push(curve_point(trainer.iteration(), seconds, r, trainer.splat_count(), Some(on_train)));
            summary["train_psnr"] = on_train.into();
        }
        summary["curve"] = serde_json::Value::Array(curve);
    }
    if args.profile {
        stages.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        let steps = trainer.iteration().max(1) as f64;
        let gpu_ms: f64 = stages.iter().map(|s| s.ms).sum();
        summary["profile"] = serde_json::json!({
            "step_ms": seconds * 1e3 / steps,
            "gpu_stage_ms_per_step": gpu_ms / steps,
            "stages": stages.iter().map(|s| serde_json::json!({"stage": s.stage, "ms_per_step": s.ms / steps, "passes": s.passes})).collect::<Vec<_>>(),
        });
        if !args.json {
            println!("step: {:.0} ms, of which our GPU stages {:.0} ms:", seconds * 1e3 / steps, gpu_ms / steps);
            for s in &stages {
                println!("  {:32} {:8.1} ms/step", s.stage, s.ms / steps);
            }
        }
    }
    if !args.json {
        println!(
            "saved {} after {} iterations in {seconds:.1} s{}",
            path.display(),
            trainer.iteration(),
            if interrupted { " (interrupted)" } else { "" }
        );
        if let Some(r) = report {
            println!(
                "test split: PSNR {:.2} dB, SSIM {:.4} over {} views at {}x{}",
                r.psnr, r.ssim, r.views, r.width, r.height
            );
        }
    }
    Ok((summary, ckpt))
}

/// Settings of `efficient4d eval` beyond the checkpoint and dataset.
pub struct EvalArgs {
    /// Evaluate at this resolution (longer side).
    pub resolution: Option<u32>,
    /// Composite on this colour instead of the checkpoint's own background.
    pub background: Option<[f32; 3]>,
    /// Save each view here as render | truth PNG.
    pub images: Option<std::path::PathBuf>,
    pub json: bool,
}

/// `eval`: PSNR / SSIM on the test split (the train split when there is none); with `images`, each view
/// is also saved there as one PNG, the render on the left and the truth on the right.
pub fn eval(checkpoint: &Path, dataset: &Path, args: &EvalArgs) -> anyhow::Result<()> {
    let ck = Checkpoint::load(checkpoint)?;
    let (resolution, images, json) = (args.resolution, args.images.as_deref(), args.json);
    let background = args.background.unwrap_or(ck.meta.background);
    let ds = load_dataset(dataset, LoadOptions { max_side: resolution })?;
    let views = if ds.test.is_empty() { &ds.train } else { ds.split(Split::Test) };
    let gpu = GpuContext::headless()?;
    let rast = Rasterizer::new(gpu)?;
    if let Some(dir) = images {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (w, h) = views.first().map(|v| v.image.dimensions()).unwrap_or((0, 0));
    let mut write_error: Option<anyhow::Error> = None;
    let r = crate::train::eval::evaluate_each(&rast, &ck.gaussians, views, background, |i, rendered, target| {
        if let Some(dir) = images
            && write_error.is_none()
        {
            let path = dir.join(format!("view_{i:04}.png"));
            if let Err(e) = write_pair_png(&path, rendered, target, w, h) {
                write_error = Some(e.context(format!("writing {}", path.display())));
            }
        }
    })?;
    if let Some(e) = write_error {
        return Err(e);
    }
    if json {
        let mut out = serde_json::to_value(&r)?;
        out["background"] = serde_json::json!(background);
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "PSNR {:.2} dB, SSIM {:.4} over {} views at {}x{} on background {background:?}",
            r.psnr, r.ssim, r.views, r.width, r.height
        );
        let mut worst: Vec<(f64, f32, usize)> =
            r.per_view_psnr.iter().zip(&r.per_view_time).enumerate().map(|(i, (&p, &t))| (p, t, i)).collect();
        worst.sort_by(|a, b| a.0.total_cmp(&b.0));
        let listed: Vec<String> =
            worst.iter().take(3).map(|(p, t, i)| format!("view {i} (t = {t:.3}) {p:.2} dB")).collect();
        println!("worst: {}", listed.join(", "));
    }
    Ok(())
}

/// `rendered` | `target` (RGB in [0, 1], `w` × `h` each) side by side as one PNG, written atomically.
fn write_pair_png(path: &Path, rendered: &[f32], target: &[f32], w: u32, h: u32) -> anyhow::Result<()> {
    let pair = image::RgbImage::from_fn(2 * w, h, |x, y| {
        let (src, x) = if x < w { (rendered, x) } else { (target, x - w) };
        let o = ((y * w + x) * 3) as usize;
        image::Rgb([0, 1, 2].map(|k| (src[o + k].clamp(0.0, 1.0) * 255.0).round() as u8))
    });
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png).write_image(&pair, 2 * w, h, image::ExtendedColorType::Rgb8)?;
    crate::atomic_file::write_atomically(path, &png)?;
    Ok(())
}

/// The times to export: K evenly spaced over the trained range, or the training key frames.
pub fn export_times(meta: &crate::export::CheckpointMeta, frames: Option<u32>) -> Vec<f32> {
    crate::export::ply::sequence_times((meta.time_range[0], meta.time_range[1]), &meta.frame_times, frames)
}

pub fn export(checkpoint: &Path, out: &Path, frames: Option<u32>) -> anyhow::Result<()> {
    let ck = Checkpoint::load(checkpoint)?;
    let times = export_times(&ck.meta, frames);
    let paths = export_sequence(&ck.gaussians, &times, out, "frame")
        .with_context(|| format!("writing PLY files to {}", out.display()))?;
    println!("wrote {} PLY files to {}", paths.len(), out.display());
    Ok(())
}

/// Renders the 16 rig views of a checkpoint at each exported time into PNGs.
pub fn render(checkpoint: &Path, out: &Path, frames: Option<u32>, size: u32) -> anyhow::Result<()> {
    use crate::render::RasterView;
    anyhow::ensure!((16..=4096).contains(&size), "--size must be in 16..=4096");
    let ck = Checkpoint::load(checkpoint)?;
    let rig = ck.meta.rig.clone().unwrap_or_default();
    let times = export_times(&ck.meta, frames);
    let gpu = GpuContext::headless()?;
    let rast = Rasterizer::new(gpu)?;
    let params = rast.upload(&ck.gaussians)?;
    std::fs::create_dir_all(out)?;
    let scale = size as f64 / rig.image_size as f64;
    for (f, &t) in times.iter().enumerate() {
        let views: Vec<RasterView> = (0..rig.views)
            .map(|v| {
                let mut camera = rig.camera(v);
                camera.intrinsics = camera
                    .intrinsics
                    .scaled_to((rig.image_size as f64 * scale) as u32, (rig.image_size as f64 * scale) as u32);
                RasterView { camera, time: t, background: ck.meta.background }
            })
            .collect();
        let img = rast.read_color(&rast.forward(&params, &views, false)?)?;
        let px = (size * size) as usize;
        for v in 0..views.len() {
            let rgb: Vec<u8> = img[v * px * 4..(v + 1) * px * 4]
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]].map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8))
                .collect();
            let mut png = Vec::new();
            image::codecs::png::PngEncoder::new(&mut png).write_image(
                &rgb,
                size,
                size,
                image::ExtendedColorType::Rgb8,
            )?;
            crate::atomic_file::write_atomically(&out.join(format!("f{f:04}_v{v:02}.png")), &png)?;
        }
    }
    println!("rendered {} frames × {} views to {}", times.len(), rig.views, out.display());
    Ok(())
}

/// `bench raster`: the rasterizer grid of the issue, as a table or JSON.
pub fn bench_raster(json: bool, iterations: usize) -> anyhow::Result<()> {
    let gpu = GpuContext::headless()?;
    let r = Rasterizer::new(gpu)?;
    if !json {
        println!("device: {}", r.gpu().describe());
        println!(
            "{:>9} {:>6} {:>6} {:>12} {:>14} {:>10} {:>11} {:>9}",
            "gaussians", "size", "batch", "fwd ms/img", "fwd+bwd ms/img", "visible", "tile pairs", "GPU MiB"
        );
    }
    let report = crate::render::bench::bench_raster(&r, iterations, |row| {
        if !json {
            println!(
                "{:>9} {:>6} {:>6} {:>12.2} {:>14.2} {:>10.0} {:>11.0} {:>9.1}",
                row.gaussians,
                row.resolution,
                row.views_per_batch,
                row.forward_ms_per_image,
                row.forward_backward_ms_per_image,
                row.visible_per_image,
                row.tile_pairs_per_image,
                row.gpu_buffer_mb
            );
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("peak RSS: {:.0} MiB", report.peak_rss_mb);
    }
    Ok(())
}

/// `bench view`: the viewer's frame time (render + read back) at 512² and 1080p for 50k and 200k splats.
pub fn bench_view(json: bool, iterations: usize) -> anyhow::Result<()> {
    let gpu = GpuContext::headless()?;
    let r = Rasterizer::new(gpu)?;
    if !json {
        println!("device: {}", r.gpu().describe());
        println!("{:>9} {:>11} {:>10} {:>10} {:>8}", "gaussians", "size", "render ms", "frame ms", "fps");
    }
    // A viewer frame is one image: time a few more of them than the batch benchmark does.
    let frames = iterations.max(1) * 4;
    let report = crate::render::bench_view::bench_view(&r, frames, |row| {
        if !json {
            println!(
                "{:>9} {:>11} {:>10.1} {:>10.1} {:>8.1}",
                row.gaussians,
                format!("{}x{}", row.width, row.height),
                row.render_ms,
                row.frame_ms,
                row.fps
            );
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
