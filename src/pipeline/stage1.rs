//! Stage 1 and the refinement between the stages: video → key frames → image matrix → interpolated
//! frames and confidence maps, each reported as a stage.

use super::events::{Control, Event, Observer, Stage};
use crate::generate::Stage1Progress;
use crate::generate::from_video::{VideoToMatrix, objects_to_matrix, resolve_generator, video_to_objects};
use crate::gpu::GpuContext;
use crate::interpolate::{Interpolator, InterpolatorChoice, RefineOptions, RefineSummary, refine_matrix};
use crate::render::Rasterizer;
use crate::video::CropMode;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// How the generated matrix is refined before training.
#[derive(Clone, Copy, Debug, Default)]
pub struct RefineSpec {
    pub interpolator: InterpolatorChoice,
    pub options: RefineOptions,
}

impl RefineSpec {
    /// Whether there is anything to do (new frames or confidence maps).
    pub(crate) fn does_something(&self) -> bool {
        self.options.new_frames_per_pair > 0 || self.options.confidence.is_some()
    }
}

/// What stage 1 does with a video.
#[derive(Clone, Debug, Default)]
pub struct Stage1Spec {
    pub generate: VideoToMatrix,
    /// `None`: train on the matrix as generated.
    pub refine: Option<RefineSpec>,
}

/// What stage 1 made.
#[derive(Clone, Debug, Serialize)]
pub struct Stage1Report {
    pub key_frames: usize,
    /// The generator that ran, and why it was chosen.
    pub generator: String,
    /// What the input was (decoder, size, frames).
    pub source: String,
    pub refine: Option<RefineSummary>,
}

/// Runs `f` as `stage`: started and finished events around it, with its wall time.
pub(super) fn as_stage<T>(
    observer: &mut dyn Observer,
    stage: Stage,
    what: String,
    f: impl FnOnce(&mut dyn Observer) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    observer.on_event(Event::StageStarted { stage, what });
    let out = f(observer)?;
    observer.on_event(Event::StageFinished { stage, seconds: start.elapsed().as_secs_f64() });
    Ok(out)
}

/// Decodes `video`, generates its image matrix into `matrix` and refines it as `spec` says.
pub(crate) fn video_to_dataset(
    gpu: &GpuContext,
    rast: &Rasterizer,
    video: &Path,
    matrix: &Path,
    spec: &Stage1Spec,
    control: &Control,
    observer: &mut dyn Observer,
) -> anyhow::Result<Stage1Report> {
    // Resolved once, before the video is decoded: bad settings, missing weights or a GPU too small fail
    // before any work.
    let (resolved, why) = resolve_generator(&spec.generate, rast)?;
    let preview = matches!(resolved, crate::generate::from_video::Resolved::Inflate);
    observer.on_event(Event::Generator { preview, why: why.clone() });
    let mut clock = Instant::now();
    observer.on_event(Event::StageStarted { stage: Stage::Decode, what: format!("decoding {}", video.display()) });
    let objects = video_to_objects(video, &spec.generate)?;
    // At once, so a viewer can play the clip while the matrix is made.
    observer.on_event(Event::KeyFrames(objects.frames.clone()));
    objects_to_matrix(rast, resolved, &objects, matrix, &spec.generate, control.cancel_flag(), &mut |p| match p {
        Stage1Progress::Decoded { frames, generator } => {
            observer.on_event(Event::StageFinished { stage: Stage::Decode, seconds: clock.elapsed().as_secs_f64() });
            clock = Instant::now();
            observer.on_event(Event::StageStarted {
                stage: Stage::Generate,
                what: format!("generating {frames} key frames ({generator})"),
            });
        }
        Stage1Progress::Denoised { step, steps } => observer.on_event(Event::Progress {
            stage: Stage::Generate,
            done: step,
            total: steps,
            what: "SyncDreamer-T: denoising every frame together".into(),
        }),
        Stage1Progress::Generated { done, total } => {
            observer.on_event(Event::Progress { stage: Stage::Generate, done, total, what: "key frames".into() });
            observer.on_event(Event::FrameGenerated { frame: done - 1, total, matrix: matrix.to_path_buf() });
        }
    })?;
    let settings = serde_json::to_value(&spec.generate.settings).expect("stage-1 settings serialise");
    crate::dataset::record_stage1(matrix, settings)?;
    observer.on_event(Event::StageFinished { stage: Stage::Generate, seconds: clock.elapsed().as_secs_f64() });
    observer.on_event(Event::Info(format!(
        "stage 1: {} key frames of {} -> {} (16 views + the input view per frame)",
        objects.frames.len(),
        objects.description,
        matrix.display()
    )));
    observer.on_event(Event::Info(format!(
        "crop: object {:.0} px on the canvas on average, scale varies by {:.1}% between frames{}",
        objects.mean_object_size(),
        objects.scale_jitter() * 100.0,
        match objects.crop {
            CropMode::Stable => " (one box for all frames)",
            _ => " (a box per frame)",
        }
    )));
    let key_frames = objects.frames.len();
    let refine = match spec.refine {
        Some(r) => refine(Some(gpu), matrix, &r, control, observer)?,
        None => None,
    };
    Ok(Stage1Report { key_frames, generator: why, source: objects.description, refine })
}

/// Interpolates the matrix in `matrix` and gives its frames confidence maps, in place, as `spec` says
/// (`None` when there is nothing to do).
pub fn refine(
    gpu: Option<&GpuContext>,
    matrix: &Path,
    spec: &RefineSpec,
    control: &Control,
    observer: &mut dyn Observer,
) -> anyhow::Result<Option<RefineSummary>> {
    if !spec.does_something() {
        return Ok(None);
    }
    let interp = Interpolator::new(spec.interpolator, &crate::gpu::network_device(gpu)?)?;
    let what = match (spec.options.new_frames_per_pair, spec.options.confidence) {
        (0, _) => "making confidence maps".to_string(),
        (n, None) => format!("interpolating {n} frames per pair ({})", interp.name()),
        (n, Some(_)) => format!("interpolating {n} frames per pair ({}) and making confidence maps", interp.name()),
    };
    let summary = as_stage(observer, Stage::Refine, what.clone(), |observer| {
        Ok(refine_matrix(matrix, &interp, &spec.options, control.cancel_flag(), &mut |done, total| {
            observer.on_event(Event::Progress { stage: Stage::Refine, done, total, what: what.clone() })
        })?)
    })?;
    observer.on_event(Event::Info(summary_line(&summary)));
    Ok(Some(summary))
}

/// The refinement in words.
fn summary_line(s: &RefineSummary) -> String {
    let mut line = format!(
        "refined: {} key frames -> {} frames × {} views ({} interpolation) in {:.1} s",
        s.key_frames, s.frames, s.views, s.interpolation, s.seconds
    );
    if let Some(c) = s.mean_object_confidence {
        line += &format!("\nconfidence on the object: {c:.3} on average");
        if let Some((f, least)) = s.least_trusted_frame {
            line += &format!(", lowest in frame {f} ({least:.3})");
        }
    }
    line
}
