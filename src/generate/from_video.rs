//! Stage 1 from a video: decode the key frames, mask and preprocess the object, and write the image
//! matrix with the chosen generator: SyncDreamer-T when its weights are installed (and a GPU can run
//! it), else the weights-free `inflate` preview.

use super::inflate::{GenerateError, InflateOptions, generate_matrix};
use super::syncdreamer::ddim::DdimSchedule;
use super::syncdreamer::matrix::{generate_matrix_syncdreamer, load_syncdreamer};
use super::syncdreamer::model::SampleOptions;
use crate::render::Rasterizer;
use crate::video::{DecodeOptions, ObjectFrames, PreprocessOptions, VideoError, decode, prepare_object_frames};
use crate::weights::{SYNCDREAMER, WeightsError, find, missing_message};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Which stage-1 generator to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GeneratorChoice {
    /// SyncDreamer-T when its weights are installed and a GPU is there to run it, else `inflate`.
    #[default]
    Auto,
    /// The weights-free preview: each key frame inflated into a relief and rendered from the rig.
    Inflate,
    /// The paper's generator (needs `syncdreamer-pretrain.ckpt`; hours per clip without a GPU).
    #[value(name = "syncdreamer-t")]
    SyncDreamerT,
}

#[derive(Clone, Debug)]
pub struct VideoToMatrix {
    pub decode: DecodeOptions,
    pub preprocess: PreprocessOptions,
    pub inflate: InflateOptions,
    pub generator: GeneratorChoice,
    /// SyncDreamer-T's DDIM steps (50 in the paper).
    pub ddim_steps: usize,
    pub seed: u64,
    /// SyncDreamer-T's target views per UNet batch.
    pub view_batch: usize,
}

impl Default for VideoToMatrix {
    fn default() -> Self {
        Self {
            decode: DecodeOptions::default(),
            preprocess: PreprocessOptions::default(),
            inflate: InflateOptions::default(),
            generator: GeneratorChoice::Auto,
            ddim_steps: 50,
            seed: 0,
            view_batch: 16,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    #[error("{0}")]
    Options(String),
}

/// Where stage 1 is: decoding and preprocessing, SyncDreamer-T's denoising steps (all frames at
/// once), then frame `done` of `total` written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage1Progress {
    Decoded { frames: usize, generator: &'static str },
    Denoised { step: usize, steps: usize },
    Generated { done: usize, total: usize },
}

/// The generator `choice` resolves to on this machine, and why (for the user).
pub fn resolve_generator(choice: GeneratorChoice, r: &Rasterizer) -> Result<(GeneratorChoice, String), WeightsError> {
    let weights = find(&SYNCDREAMER);
    let gpu = !r.gpu().is_cpu_driver();
    match (choice, weights) {
        (GeneratorChoice::Inflate, _) => Ok((GeneratorChoice::Inflate, "inflate preview (asked for)".into())),
        (GeneratorChoice::SyncDreamerT, Some(path)) => {
            Ok((GeneratorChoice::SyncDreamerT, format!("SyncDreamer-T ({})", path.display())))
        }
        (GeneratorChoice::SyncDreamerT, None) => Err(WeightsError::Missing(missing_message(&SYNCDREAMER))),
        (GeneratorChoice::Auto, Some(path)) if gpu => {
            Ok((GeneratorChoice::SyncDreamerT, format!("SyncDreamer-T ({})", path.display())))
        }
        (GeneratorChoice::Auto, Some(_)) => Ok((
            GeneratorChoice::Inflate,
            "inflate preview: SyncDreamer-T is installed but there is no GPU (`--generator syncdreamer-t` forces it)"
                .into(),
        )),
        (GeneratorChoice::Auto, None) => Ok((
            GeneratorChoice::Inflate,
            "inflate preview (SyncDreamer-T weights not installed; see `efficient4d weights`)".into(),
        )),
    }
}

/// Decodes and preprocesses `video`: the key frames' objects, 256² RGBA.
pub fn video_to_objects(video: &Path, options: &VideoToMatrix) -> Result<ObjectFrames, VideoError> {
    let decoded = decode(video, &options.decode)?;
    prepare_object_frames(&decoded, &options.preprocess)
}

/// The whole of stage 1: `video` → image matrix dataset in `out`. Returns the preprocessed key frames.
pub fn video_to_matrix(
    r: &Rasterizer,
    video: &Path,
    out: &Path,
    options: &VideoToMatrix,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(Stage1Progress),
) -> Result<ObjectFrames, PipelineError> {
    // Checked whichever generator runs, so a bad option is reported before any work.
    if options.ddim_steps == 0 || 1000 % options.ddim_steps != 0 {
        return Err(PipelineError::Options(format!(
            "{} DDIM steps: the schedule needs a step count that divides 1000 (50 as in the paper, or 25, 20, 10, ...)",
            options.ddim_steps
        )));
    }
    let (generator, _) = resolve_generator(options.generator, r)?;
    let objects = video_to_objects(video, options)?;
    let frames = objects.frames.len();
    match generator {
        GeneratorChoice::SyncDreamerT => {
            progress(Stage1Progress::Decoded { frames, generator: "SyncDreamer-T" });
            let weights = find(&SYNCDREAMER).ok_or_else(|| WeightsError::Missing(missing_message(&SYNCDREAMER)))?;
            let device = if r.gpu().is_cpu_driver() { burn::tensor::Device::flex() } else { r.gpu().burn_device()? };
            let model = load_syncdreamer(&weights, &device)?;
            let sample = SampleOptions {
                schedule: DdimSchedule::uniform(options.ddim_steps, 1.0),
                view_batch: options.view_batch,
                ..Default::default()
            };
            generate_matrix_syncdreamer(&model, &objects, out, &sample, options.seed, cancel, progress)?;
        }
        _ => {
            progress(Stage1Progress::Decoded { frames, generator: "inflate preview" });
            generate_matrix(r, &objects, out, &options.inflate, cancel, &mut |done, total| {
                progress(Stage1Progress::Generated { done, total })
            })?;
        }
    }
    Ok(objects)
}
