//! `generate`, `run` and `demo`: the commands that start from a video.

use super::{TrainArgs, interrupt_flag, train_loaded};
use crate::cli::Stage1Args;
use crate::dataset::{LoadOptions, load_dataset};
use crate::export::ply::export_sequence;
use crate::export::turntable::{TurntableSpec, render_turntable};
use crate::generate::demo;
use crate::generate::from_video::{Stage1Progress, VideoToMatrix, resolve_generator, video_to_matrix};
use crate::gpu::GpuContext;
use crate::render::Rasterizer;
use crate::video::encode::{write_gif, write_mp4};
use crate::video::{CropMode, DecodeOptions};
use anyhow::Context;
use indicatif::ProgressBar;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The bundled demo clip: `assets/demo/creature.mp4` in the source tree, or (for a binary moved
/// elsewhere) the same bytes, built into the binary, written once to the temporary folder.
pub fn demo_clip() -> PathBuf {
    const CLIP: &[u8] = include_bytes!("../../assets/demo/creature.mp4");
    let in_tree = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo/creature.mp4");
    if in_tree.is_file() {
        return in_tree;
    }
    let copy = std::env::temp_dir().join("efficient4d-demo-creature.mp4");
    let stale = std::fs::metadata(&copy).map(|m| m.len() as usize).ok() != Some(CLIP.len());
    if stale && let Err(e) = crate::atomic_file::write_atomically(&copy, CLIP) {
        log::warn!("could not write the demo clip to {}: {e}", copy.display());
    }
    copy
}

fn stage1_options(args: &Stage1Args) -> anyhow::Result<VideoToMatrix> {
    anyhow::ensure!((2..=256).contains(&args.frames), "--frames must be in 2..=256");
    let range_s = match args.range.as_deref() {
        None => None,
        Some([a, b]) if a.is_finite() && b.is_finite() && a < b && *a >= 0.0 => Some((*a, *b)),
        Some(_) => anyhow::bail!("--range needs START < END, both ≥ 0 seconds"),
    };
    let mut options = VideoToMatrix {
        decode: DecodeOptions { key_frames: args.frames, range_s, ..Default::default() },
        ..Default::default()
    };
    options.preprocess.crop = args.crop;
    options.generator = args.generator;
    options.ddim_steps = args.ddim_steps;
    options.seed = args.seed;
    anyhow::ensure!((1..=16).contains(&args.view_batch), "--view-batch must be in 1..=16");
    options.view_batch = args.view_batch;
    Ok(options)
}

/// Stage 1 and the refinement of its matrix (interpolation, confidence maps). Returns the number of
/// key frames and what the refinement did.
fn stage1(
    gpu: &GpuContext,
    rast: &Rasterizer,
    video: &Path,
    out: &Path,
    args: &Stage1Args,
    quiet: bool,
) -> anyhow::Result<(usize, Option<crate::interpolate::RefineSummary>)> {
    let options = stage1_options(args)?;
    let cancel = interrupt_flag();
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    bar.set_message(format!("decoding {}", video.display()));
    let (_, why) = resolve_generator(options.generator, rast)?;
    if !quiet {
        println!("stage 1 generator: {why}");
    }
    let objects = video_to_matrix(rast, video, out, &options, &cancel, &mut |p| match p {
        Stage1Progress::Decoded { frames, generator } => {
            bar.set_length(frames as u64);
            bar.set_message(format!("generating {frames} key frames ({generator})"));
        }
        Stage1Progress::Denoised { step, steps } => {
            bar.set_length(steps as u64);
            bar.set_position(step as u64);
            bar.set_message("SyncDreamer-T: denoising every frame together");
        }
        Stage1Progress::Generated { done, total } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })?;
    bar.finish_and_clear();
    if !quiet {
        println!(
            "stage 1: {} key frames of {} → {} (16 views + the input view per frame)",
            objects.frames.len(),
            objects.description,
            out.display()
        );
        println!(
            "crop: object {:.0} px on the canvas on average, scale varies by {:.1}% between frames{}",
            objects.mean_object_size(),
            objects.scale_jitter() * 100.0,
            match objects.crop {
                CropMode::Stable => " (one box for all frames)",
                _ => " (a box per frame)",
            }
        );
    }
    let refined = super::refine::refine_with(out, &args.refine, Some(gpu), quiet)?;
    Ok((objects.frames.len(), refined))
}

pub fn generate(video: &Path, out: &Path, args: &Stage1Args) -> anyhow::Result<()> {
    let gpu = GpuContext::headless()?;
    let rast = Rasterizer::new(gpu.clone())?;
    stage1(&gpu, &rast, video, out, args, false)?;
    Ok(())
}

/// Settings of `efficient4d run` beyond stage 1.
pub struct RunArgs {
    pub iterations: Option<u32>,
    pub ply_frames: Option<u32>,
    pub json: bool,
}

pub fn run(video: Option<&Path>, out: &Path, stage1_args: &Stage1Args, args: &RunArgs) -> anyhow::Result<()> {
    let clip = demo_clip();
    let video = video.unwrap_or(&clip);
    let start = Instant::now();
    let gpu = GpuContext::headless()?;
    let rast = std::sync::Arc::new(Rasterizer::new(gpu.clone())?);
    let matrix = out.join("matrix");
    let (key_frames, refined) = stage1(&gpu, &rast, video, &matrix, stage1_args, args.json)?;
    let stage1_seconds = start.elapsed().as_secs_f64();
    let ds = load_dataset(&matrix, LoadOptions::default())?;
    let train_args = TrainArgs {
        iterations: args.iterations,
        resolution: None,
        batch_views: None,
        by_frame: false,
        init_points: None,
        init_time_scale: None,
        sh_degree: None,
        position_lr: None,
        densify: true,
        carve: true,
        grow_fraction: None,
        json: args.json,
        profile: false,
        eval_every: None,
        background: None,
        overrides: Vec::new(),
        init: None,
        resume: false,
    };
    let (mut summary, ck) = train_loaded(&gpu, &rast, &ds, out, &train_args)?;
    let ckpt_path = out.join("model.safetensors");
    let times = super::export_times(&ck.meta, args.ply_frames);
    let ply_dir = out.join("ply");
    let plys = export_sequence(&ck.gaussians, &times, &ply_dir, "frame")
        .with_context(|| format!("writing PLY files to {}", ply_dir.display()))?;
    let turntable = render_turntable(&rast, &ck.gaussians, &TurntableSpec::default())?;
    let gif = out.join("turntable.gif");
    write_gif(&gif, &turntable, 24.0)?;
    summary["video"] = serde_json::json!(video);
    summary["key_frames"] = serde_json::json!(key_frames);
    summary["stage1_seconds"] = serde_json::json!(stage1_seconds);
    summary["refine"] = serde_json::json!(refined);
    summary["total_seconds"] = serde_json::json!(start.elapsed().as_secs_f64());
    summary["ply_files"] = serde_json::json!(plys.len());
    summary["turntable"] = serde_json::json!(gif);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "wrote {} PLY files to {} and a turntable preview to {}",
            plys.len(),
            ply_dir.display(),
            gif.display()
        );
        println!("done in {:.0} s; open it with: efficient4d {}", start.elapsed().as_secs_f64(), ckpt_path.display());
    }
    Ok(())
}

/// Writes the demo clip (MP4 + GIF) and the creature's true matrix. The shipped clip was made by this.
pub fn demo(out: &Path, frames: u32) -> anyhow::Result<()> {
    anyhow::ensure!((2..=256).contains(&frames), "--frames must be in 2..=256");
    let gpu = GpuContext::headless()?;
    let rast = Rasterizer::new(gpu)?;
    let clip = demo::render_clip(&rast)?;
    write_mp4(&out.join("creature.mp4"), &clip, demo::CLIP_FPS, DEMO_BITRATE)?;
    write_gif(&out.join("creature.gif"), &clip, demo::CLIP_FPS)?;
    demo::write_truth_matrix(&rast, &out.join("truth"), frames, true)?;
    println!(
        "wrote {} (and .gif), {} frames at {} fps, and the true {frames}-frame matrix in {}",
        out.join("creature.mp4").display(),
        clip.len(),
        demo::CLIP_FPS,
        out.join("truth").display()
    );
    Ok(())
}

/// Bit rate of the demo clip: high enough that coding artefacts stay below the keying tolerance.
pub const DEMO_BITRATE: u32 = 1_500_000;
