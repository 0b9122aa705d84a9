//! The CLI subcommands: each a thin driver of the library (`pipeline` for everything that runs
//! stages; the rest read, render or measure).

pub mod bench_app;
pub mod bench_confidence;
pub mod bench_generate;
pub mod bench_interpolate;
pub mod bench_player;
pub mod bench_raster;
pub mod bench_ring;
pub mod bench_view;
pub mod bench_viewers;
pub mod pipeline;
pub mod progress;
pub mod refine;
pub mod weights;

use crate::cli::{Cli, Command, ExportFormat, Overrides, RunLength, VideoCamera};
use anyhow::Context;
use efficient4d::dataset::{LoadOptions, Split, load_dataset};
use efficient4d::export::Checkpoint;
use efficient4d::export::ply::export_sequence;
use efficient4d::gpu::GpuContext;
use efficient4d::pipeline::{Control, Input, JobSpec, TrainReport, TrainSpec, TrainStart};
use efficient4d::render::Rasterizer;
use efficient4d::train::TrainConfig;
use efficient4d::video::encode::default_bit_rate;
use image::ImageEncoder;
use progress::Progress;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Runs the command line `cli` (parsed from `matches`).
pub fn dispatch(cli: Cli, matches: &clap::ArgMatches) -> anyhow::Result<ExitCode> {
    let Some(command) = cli.command else {
        return efficient4d::app::run(cli.input).map(|_| ExitCode::SUCCESS);
    };
    match command {
        Command::Run { video, out, stage1, run, settings, overrides, ply_frames, json } => {
            let train = run.train_spec(new_run(&run, settings, &overrides, None, false));
            pipeline::run(video.as_deref(), &out, &stage1, train, ply_frames, json)?
        }
        Command::Generate { video, out, stage1 } => pipeline::generate(&video, &out, &stage1)?,
        Command::Refine { matrix, refine, json } => refine::refine(&matrix, &refine, json)?,
        Command::Demo { out, frames } => pipeline::demo(&out, frames)?,
        Command::Train {
            dataset,
            out,
            run,
            resolution,
            json,
            settings,
            overrides,
            profile,
            eval_every,
            init,
            resume,
        } => {
            let given = matches.subcommand_matches("train").map(crate::cli::settings_given).unwrap_or_default();
            let start = if resume {
                anyhow::ensure!(
                    given.is_empty(),
                    "--resume goes on under the saved settings: {} cannot be given with it",
                    given.join(", ")
                );
                // Without a new length or budget, it goes on as the saved run was to stop.
                TrainStart::Resume {
                    iterations: run.iters,
                    saved_stop_rule: run.iters.is_none() && run.budget.is_none(),
                }
            } else {
                // With --init, the init's SH degree stands unless --sh-degree was given.
                let sh_degree_given = given.iter().any(|f| f == "--sh-degree");
                new_run(&run, settings, &overrides, init, !sh_degree_given)
            };
            let mut spec = run.train_spec(start);
            spec.eval_every = eval_every;
            spec.train_probe = true;
            spec.profile = profile;
            train(dataset, out, spec, resolution, json)?
        }
        Command::Export { checkpoint, out, format, frames, video, size, fps } => {
            let format = match (format, video) {
                (Some(f), Some(_)) if f != ExportFormat::Mp4 => anyhow::bail!("--video makes an MP4, not {f:?}"),
                (Some(f), _) => f,
                (None, Some(_)) => ExportFormat::Mp4,
                (None, None) => ExportFormat::from_path(&out),
            };
            let video = VideoExport { camera: video.unwrap_or(VideoCamera::Turntable), frames, size, fps };
            export(&checkpoint, &format.output_path(&out), format, frames, &video)?
        }
        Command::Render { checkpoint, out, frames, size } => render(&checkpoint, &out, frames, size)?,
        Command::Eval { checkpoint, dataset, json, background, resolution, images } => {
            eval(&checkpoint, &dataset, &EvalArgs { resolution, background, images, json })?
        }
        Command::Bench {
            what,
            json,
            iterations,
            run,
            size,
            frames,
            scene,
            settings,
            overrides,
            tiny,
            precision,
            view_batch,
            wgpu,
            models,
            window,
            splatv_viewer,
            gsplat,
        } => match what.as_str() {
            "raster" if !models.is_empty() => bench_models(&models, size, settings.batch_views, json, iterations)?,
            "raster" => bench_raster(json, iterations)?,
            "ring" => bench_ring::bench_ring(&bench_ring::RingArgs {
                scene,
                json,
                size,
                frames,
                run,
                settings,
                overrides: overrides.overrides,
            })?,
            "view" => bench_view(json, iterations)?,
            "player" => bench_player(&models, json, iterations)?,
            "viewers" => bench_viewers(bench_viewers::ViewerSources { splatv_viewer, gsplat }, &models, json)?,
            "generate" => bench_generate::bench_generate(&bench_generate::GenerateBenchArgs {
                json,
                iterations,
                frames: frames as usize,
                tiny,
                precision,
                view_batch,
                wgpu,
            })?,
            "interpolate" => bench_interpolate::bench_interpolate(json, iterations)?,
            "app" => bench_app::bench_app(&bench_app::AppBenchArgs { json, budget: run.budget, window })?,
            "confidence" => {
                let settings =
                    TrainConfig { iterations: run.iters.unwrap_or(bench_confidence::ABLATION_STEPS), ..settings };
                let settings = efficient4d::train::overrides::apply_overrides(&settings, &overrides.overrides)?;
                bench_confidence::bench_confidence(bench_confidence::AblationArgs { frames, size, json, settings })?
            }
            other => anyhow::bail!(
                "unknown benchmark `{other}` (expected raster, ring, view, player, viewers, interpolate, confidence, generate or app)"
            ),
        },
        Command::Weights { action: None } => weights::list()?,
        Command::Weights { action: Some(crate::cli::WeightsAction::Get { which, force }) } => {
            weights::get(which, force)?
        }
        Command::Inspect { dataset, resolution } => {
            let ds = load_dataset(&dataset, LoadOptions { max_side: resolution })?;
            print!("{}", efficient4d::dataset::summary(&ds));
        }
        Command::Gpu { check, json, save_render } => {
            let gpu = GpuContext::headless()?;
            if !check {
                println!("{}", gpu.describe());
                let device = gpu.burn_device()?;
                println!("burn registered on the same device: {device:?}");
                let machine = efficient4d::machine::Fingerprint::measure(&gpu).map_err(anyhow::Error::msg)?;
                println!("{}", machine.describe());
                return Ok(ExitCode::SUCCESS);
            }
            let report = efficient4d::gpu_check::run_checks(&gpu, save_render.as_deref())?;
            if !json {
                println!("{}", report.describe());
            }
            finish_bench(json, &report)?;
            if !report.passed() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A new run under the flags' settings, `--iters` and `--set` items.
fn new_run(
    run: &RunLength,
    settings: TrainConfig,
    overrides: &Overrides,
    init: Option<PathBuf>,
    init_sets_sh_degree: bool,
) -> TrainStart {
    TrainStart::New {
        settings: Box::new(run.apply(settings)),
        overrides: overrides.overrides.clone(),
        init,
        init_sets_sh_degree,
    }
}

/// The process's cancellation: the Ctrl-C handler is installed once and every job watches the same
/// flag — a second handler could not be installed, so a second flag would never be set.
pub fn interrupt_control() -> Control {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    let flag = FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        // Fails only if something else installed one (then Ctrl-C keeps its default: exit).
        let _ = ctrlc::set_handler(move || f.store(true, std::sync::atomic::Ordering::SeqCst));
        flag
    });
    Control::with_cancel_flag(flag.clone())
}

/// `train`: a job from a dataset through training; prints the summary (or the JSON report).
fn train(dataset: PathBuf, out: PathBuf, spec: TrainSpec, resolution: Option<u32>, json: bool) -> anyhow::Result<()> {
    let gpu = GpuContext::headless()?;
    let mut rast = Rasterizer::new(gpu.clone())?;
    if spec.profile {
        rast = rast.with_profiling()?;
    }
    let job = JobSpec {
        input: Input::Dataset(dataset),
        out,
        stage1: Default::default(),
        train: Some(spec),
        resolution,
        export: Default::default(),
    };
    let report =
        efficient4d::pipeline::run(&gpu, &Arc::new(rast), &job, &interrupt_control(), &mut Progress::new(json))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(t) = &report.train {
        print_train_summary(t);
    }
    Ok(())
}

/// Where the model went, the test split's scores and, when profiled, where a step goes.
fn print_train_summary(t: &TrainReport) {
    if let Some(p) = &t.profile {
        println!("step: {:.0} ms, of which our GPU stages {:.0} ms:", p.step_ms, p.gpu_stage_ms_per_step);
        for s in &p.stages {
            println!("  {:32} {:8.1} ms/step", s.stage, s.ms_per_step);
        }
    }
    let saved = t.checkpoint.as_ref().map(|p| format!("saved {} ", p.display())).unwrap_or_default();
    println!("{saved}after {} iterations in {:.1} s: {}", t.iters, t.seconds, t.stop_reason.describe());
    if let Some(r) = &t.eval {
        println!(
            "test split: PSNR {:.2} dB, SSIM {:.4} over {} views at {}x{}",
            r.psnr, r.ssim, r.views, r.width, r.height
        );
    }
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
    let r = efficient4d::train::eval::evaluate_each(&rast, &ck.gaussians, views, background, |i, rendered, target| {
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
    efficient4d::atomic_file::write_atomically(path, &png)?;
    Ok(())
}

/// The times to export: K evenly spaced over the trained range, or the training key frames.
pub fn export_times(meta: &efficient4d::export::CheckpointMeta, frames: Option<u32>) -> Vec<f32> {
    efficient4d::export::ply::sequence_times((meta.time_range[0], meta.time_range[1]), &meta.frame_times, frames)
}

/// What an MP4 export shows.
pub struct VideoExport {
    pub camera: VideoCamera,
    pub frames: Option<u32>,
    pub size: u32,
    pub fps: f64,
}

pub fn export(
    checkpoint: &Path,
    out: &Path,
    format: ExportFormat,
    frames: Option<u32>,
    video: &VideoExport,
) -> anyhow::Result<()> {
    let ck = Checkpoint::load(checkpoint)?;
    let time_range = (ck.meta.time_range[0], ck.meta.time_range[1]);
    let rig = ck.meta.rig.clone().unwrap_or_default();
    match format {
        ExportFormat::Ply => {
            let paths = export_sequence(&ck.gaussians, &export_times(&ck.meta, frames), out, "frame")
                .with_context(|| format!("writing PLY files to {}", out.display()))?;
            println!("wrote {} PLY files to {}", paths.len(), out.display());
        }
        ExportFormat::PlyZip => {
            let n = efficient4d::export::ply_zip::write_ply_zip(out, &ck.gaussians, &export_times(&ck.meta, frames))
                .with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {n} PLY frames into {}", out.display());
        }
        ExportFormat::Splatv => {
            let camera = efficient4d::camera::input_view_camera(&rig);
            let n = efficient4d::export::splatv::write_splatv(out, &ck.gaussians, time_range, &camera)
                .with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {n} splats to {} (splaTV layout; time 0..1 is {time_range:?})", out.display());
        }
        ExportFormat::Html => {
            use efficient4d::export::html_player::{PlayerSettings, rig_cameras, write_html_player};
            let settings = PlayerSettings::for_file(out, ck.meta.background);
            let n = write_html_player(out, &ck.gaussians, time_range, &rig_cameras(&rig, None), &settings)
                .with_context(|| format!("writing {}", out.display()))?;
            let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
            println!(
                "wrote {n} splats into the player {} ({:.1} MB; opens offline in a WebGL2 browser)",
                out.display(),
                size as f64 / 1e6
            );
        }
        ExportFormat::Mp4 => {
            use efficient4d::export::turntable::{CameraPath, TurntableSpec, render_turntable};
            anyhow::ensure!((16..=4096).contains(&video.size), "--size must be in 16..=4096");
            anyhow::ensure!(video.fps > 0.0 && video.fps <= 240.0, "--fps must be in (0, 240]");
            let path = match video.camera {
                VideoCamera::Turntable => CameraPath::Orbit { elevation_deg: 15.0 },
                VideoCamera::Camera => CameraPath::Fixed(efficient4d::camera::input_view_camera(&rig)),
            };
            let spec = TurntableSpec {
                frames: video.frames.unwrap_or(72).max(1),
                size: video.size,
                path,
                time_range,
                background: ck.meta.background,
            };
            let rast = Rasterizer::new(GpuContext::headless()?)?;
            let images = render_turntable(&rast, &ck.gaussians, &spec)?;
            let (w, h) = spec.frame_size();
            efficient4d::video::encode::write_mp4(out, &images, video.fps, default_bit_rate(w, h, video.fps))?;
            println!("wrote {} frames of {w}x{h} at {} fps to {}", images.len(), video.fps, out.display());
        }
    }
    Ok(())
}

/// Renders the 16 rig views of a checkpoint at each exported time into PNGs.
pub fn render(checkpoint: &Path, out: &Path, frames: Option<u32>, size: u32) -> anyhow::Result<()> {
    use efficient4d::render::RasterView;
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
            efficient4d::atomic_file::write_atomically(&out.join(format!("f{f:04}_v{v:02}.png")), &png)?;
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
    let report = bench_raster::bench_raster(&r, iterations, |row| {
        if !json {
            println!(
                "{:>9} {:>6} {:>6} {:>12.2} {:>14.2} {:>10.0} {:>11.0} {:>9.1}",
                row.gaussians,
                row.timing.resolution,
                row.timing.views_per_batch,
                row.timing.forward_ms_per_image,
                row.timing.forward_backward_ms_per_image,
                row.timing.visible_per_image,
                row.timing.tile_pairs_per_image,
                row.gpu_buffer_mb
            );
        }
    })?;
    if !json {
        println!("peak RSS: {:.0} MiB", report.peak_rss_mb);
    }
    finish_bench(json, &report)
}

/// `bench raster --model CKPT…`: the rasterizer on trained models, with the list depths behind its time.
fn bench_models(models: &[PathBuf], size: u32, batch: usize, json: bool, iterations: usize) -> anyhow::Result<()> {
    let gpu = GpuContext::headless()?;
    let r = Rasterizer::new(gpu)?;
    if !json {
        println!("device: {}", r.gpu().describe());
        println!(
            "{:>8} {:>12} {:>14} {:>10} {:>11} {:>10} {:>9} {:>9} {:>8}  model",
            "splats",
            "fwd ms/img",
            "fwd+bwd ms/img",
            "visible",
            "tile pairs",
            "tile list",
            "walk/px",
            "walk/tile",
            "covered"
        );
    }
    let mut rows = Vec::new();
    for path in models {
        let ck = Checkpoint::load(path).with_context(|| format!("--model {}", path.display()))?;
        let name = path.display().to_string();
        let row = bench_raster::bench_model(&r, &name, &ck.gaussians, size, batch, iterations)?;
        if !json {
            println!(
                "{:>8} {:>12.2} {:>14.2} {:>10.0} {:>11.0} {:>10.1} {:>9.1} {:>9.1} {:>7.0}%  {}",
                row.splats,
                row.timing.forward_ms_per_image,
                row.timing.forward_backward_ms_per_image,
                row.timing.visible_per_image,
                row.timing.tile_pairs_per_image,
                row.tile_list_mean,
                row.walked_per_pixel,
                row.walked_per_tile,
                row.covered_share * 100.0,
                row.model
            );
        }
        rows.push(row);
    }
    finish_bench(json, serde_json::json!({ "device": r.gpu().describe(), "models": rows }))
}

/// `bench view`: the viewer's frame time, zero-copy and with a read-back, at 512² and 1080p for 50k
/// and 200k splats.
pub fn bench_view(json: bool, iterations: usize) -> anyhow::Result<()> {
    let gpu = GpuContext::headless()?;
    let r = Rasterizer::new(gpu)?;
    if !json {
        println!("device: {}", r.gpu().describe());
        println!(
            "{:>9} {:>11} {:>10} {:>14} {:>14} {:>8} {:>12} {:>12}",
            "gaussians", "size", "render ms", "zero-copy ms", "read-back ms", "fps", "pairs", "pair slots"
        );
    }
    // A viewer frame is one image: time a few more of them than the batch benchmark does.
    let frames = iterations.max(1) * 4;
    let report = bench_view::bench_view(&r, frames, |row| {
        if !json {
            println!(
                "{:>9} {:>11} {:>10.1} {:>14.1} {:>14.1} {:>8.1} {:>12} {:>12}",
                row.gaussians,
                format!("{}x{}", row.width, row.height),
                row.render_ms,
                row.zero_copy_frame_ms,
                row.readback_frame_ms,
                row.fps,
                row.tile_pairs,
                row.pair_capacity
            );
        }
    })?;
    finish_bench(json, &report)
}

pub fn bench_player(models: &[PathBuf], json: bool, iterations: usize) -> anyhow::Result<()> {
    // Every frame re-sorts (the camera orbits, time runs): ten per timed iteration.
    let frames = iterations.max(1) * 10;
    let report = bench_player::bench_player(models, frames, |row| {
        if !json {
            println!(
                "{:<24} {:>8} splats {:>7.2} MB ({:.0} kB per 10k) sort {:>7.1} ms draw {:>7.1} ms ({:.1} fps at {c}x{c})",
                row.model,
                row.splats,
                row.file_bytes as f64 / 1e6,
                row.bytes_per_10k_splats / 1e3,
                row.sort_ms,
                row.draw_ms,
                row.fps,
                c = row.canvas
            );
        }
    })?;
    if !json {
        println!("browser: {}", report.browser);
    }
    finish_bench(json, &report)
}

/// `bench viewers`: our `.splatv` and HTML player in the browser viewers, against our render.
fn bench_viewers(sources: bench_viewers::ViewerSources, models: &[PathBuf], json: bool) -> anyhow::Result<()> {
    let model = models.first().ok_or_else(|| anyhow::anyhow!("bench viewers needs --model CHECKPOINT"))?;
    let report = bench_viewers::bench_viewers(&sources, model)?;
    if !json {
        for row in &report.rows {
            println!(
                "{:<20} u = {:.2}: silhouette IoU {:.4}, object PSNR {:.2} dB ({} pixels)",
                row.viewer, row.u, row.agreement.iou, row.agreement.psnr, row.agreement.object_pixels
            );
        }
        println!("browser: {}; page errors: {:?}", report.browser, report.page_errors);
    }
    finish_bench(json, &report)
}

/// Ends a benchmark's output with the machine it ran on, measured now (`machine::Fingerprint`): in
/// the JSON under `machine` beside the figures, else as a line after them. A time from another
/// machine compares with these after scaling by the two machines' references (docs/speed.md).
pub(crate) fn finish_bench(json: bool, report: impl serde::Serialize) -> anyhow::Result<()> {
    let gpu = GpuContext::shared()?;
    let machine = efficient4d::machine::Fingerprint::measure(&gpu).map_err(anyhow::Error::msg)?;
    if json {
        let mut value = serde_json::to_value(report)?;
        match &mut value {
            serde_json::Value::Object(fields) => {
                fields.insert("machine".into(), serde_json::to_value(&machine)?);
            }
            other => value = serde_json::json!({ "report": other.take(), "machine": machine }),
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{}", machine.describe());
    }
    Ok(())
}
