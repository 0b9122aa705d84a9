//! `generate`, `run` and `demo`: the commands that start from a video.

use super::progress::Progress;
use crate::cli::Stage1Args;
use efficient4d::generate::demo::{self, demo_clip};
use efficient4d::gpu::GpuContext;
use efficient4d::pipeline::{ExportSpec, Input, JobSpec, Stage1Spec, TrainSpec};
use efficient4d::render::Rasterizer;
use efficient4d::video::encode::{write_gif, write_mp4};
use std::path::Path;
use std::sync::Arc;

/// What `args` ask of stage 1; the settings are checked by the pipeline, as for every caller.
fn stage1_spec(args: &Stage1Args) -> anyhow::Result<Stage1Spec> {
    Ok(Stage1Spec { generate: args.settings.clone().into(), refine: Some(args.refine.spec()) })
}

/// `generate`: stage 1 and the refinement, the matrix written into `out`.
pub fn generate(video: &Path, out: &Path, args: &Stage1Args) -> anyhow::Result<()> {
    let job = JobSpec {
        input: Input::Video(video.to_path_buf()),
        out: out.to_path_buf(),
        stage1: stage1_spec(args)?,
        train: None,
        resolution: None,
        export: ExportSpec::default(),
    };
    let gpu = GpuContext::headless()?;
    let rast = Arc::new(Rasterizer::new(gpu.clone())?);
    efficient4d::pipeline::run(&gpu, &rast, &job, &super::interrupt_control(), &mut Progress::new(false))?;
    Ok(())
}

/// `run`: the whole pipeline on `video` (the bundled demo clip when none), everything into `out`.
pub fn run(
    video: Option<&Path>,
    out: &Path,
    stage1: &Stage1Args,
    train: TrainSpec,
    ply_frames: Option<u32>,
    json: bool,
) -> anyhow::Result<()> {
    let video = video.map(Path::to_path_buf).unwrap_or_else(demo_clip);
    let job = JobSpec {
        input: Input::Video(video),
        out: out.to_path_buf(),
        stage1: stage1_spec(stage1)?,
        train: Some(train),
        resolution: None,
        export: ExportSpec { ply: Some((out.join("ply"), ply_frames)), turntable: Some(out.join("turntable.gif")) },
    };
    let gpu = GpuContext::headless()?;
    let rast = Arc::new(Rasterizer::new(gpu.clone())?);
    let report = efficient4d::pipeline::run(&gpu, &rast, &job, &super::interrupt_control(), &mut Progress::new(json))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if let Some(t) = &report.train {
        super::print_train_summary(t);
    }
    println!(
        "wrote {} PLY files to {} and a turntable preview to {}",
        report.ply_files,
        out.join("ply").display(),
        out.join("turntable.gif").display()
    );
    let model = out.join(efficient4d::pipeline::MODEL_FILE);
    println!("done in {:.0} s; open it with: efficient4d {}", report.total_seconds, model.display());
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
