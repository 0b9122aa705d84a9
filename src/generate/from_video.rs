//! Stage 1 from a video: decode the key frames, mask and preprocess the object, and write the image
//! matrix with the chosen generator: SyncDreamer-T when its weights are installed (and a GPU can run
//! it), else the weights-free `inflate` preview.

use super::inflate::{GenerateError, Inflate, InflateOptions};
use super::settings::Stage1Config;
use super::syncdreamer::SyncDreamerConfig;
use super::syncdreamer::ddim::DdimSchedule;
use super::syncdreamer::matrix::{SyncDreamerGenerator, load_syncdreamer};
use super::syncdreamer::memory::{DeviceMemory, Stage1Fit, fit};
use super::syncdreamer::model::SampleOptions;
use super::{Generator, Stage1Progress};
use crate::render::Rasterizer;
use crate::video::{DecodeOptions, ObjectFrames, PreprocessOptions, VideoError, decode, prepare_object_frames};
use crate::weights::{SYNCDREAMER, WeightsError, find, missing_message};
use std::path::Path;
use std::sync::atomic::AtomicBool;

pub use super::settings::GeneratorChoice;

/// Stage 1 from a video: the user's settings, and what they do not choose.
#[derive(Clone, Debug)]
pub struct VideoToMatrix {
    pub settings: Stage1Config,
    /// The canvas, the object's size on it and the background key (its `crop` is the settings').
    pub preprocess: PreprocessOptions,
    pub inflate: InflateOptions,
    /// Decoded frames are shrunk so the long side is at most this.
    pub max_side: u32,
}

impl Default for VideoToMatrix {
    fn default() -> Self {
        Self {
            settings: Stage1Config::default(),
            preprocess: PreprocessOptions::default(),
            inflate: InflateOptions::default(),
            max_side: DecodeOptions::default().max_side,
        }
    }
}

impl From<Stage1Config> for VideoToMatrix {
    fn from(settings: Stage1Config) -> Self {
        Self { settings, ..Default::default() }
    }
}

impl VideoToMatrix {
    pub(crate) fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            key_frames: self.settings.key_frames,
            range_s: self.settings.range_s(),
            max_side: self.max_side,
        }
    }

    pub(crate) fn preprocess_options(&self) -> PreprocessOptions {
        PreprocessOptions { crop: self.settings.crop, ..self.preprocess.clone() }
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

/// The generator a choice resolves to on this machine.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Resolved {
    Inflate,
    /// SyncDreamer-T with its checkpoint here, and its setting for this device.
    SyncDreamerT {
        weights: std::path::PathBuf,
        fit: Stage1Fit,
    },
}

/// The generator `options` resolve to on this machine, and why (for the user): SyncDreamer-T comes
/// with the precision and view batch that fit the device, or a refusal naming what would fit.
pub(crate) fn resolve_generator(options: &VideoToMatrix, r: &Rasterizer) -> Result<(Resolved, String), PipelineError> {
    // Every way into stage 1 resolves its generator first: the settings are checked here, whichever
    // generator runs, before any work.
    options.settings.validate().map_err(PipelineError::Options)?;
    let weights = find(&SYNCDREAMER);
    let gpu = !r.gpu().is_cpu_driver();
    let syncdreamer = |path: std::path::PathBuf| -> Result<(Resolved, String), PipelineError> {
        let half = options.settings.precision.half_on(Some(r.gpu()));
        let device = DeviceMemory::for_networks(r.gpu());
        if half && !device.f16 {
            return Err(PipelineError::Options("this device does not compute in f16: use --precision f32".into()));
        }
        let frames = options.settings.key_frames;
        let fit = fit(&SyncDreamerConfig::full(), frames, options.settings.view_batch, half, &device)
            .map_err(PipelineError::Options)?;
        let why = format!("SyncDreamer-T ({}): {}", path.display(), fit.describe());
        Ok((Resolved::SyncDreamerT { weights: path, fit }, why))
    };
    match (options.settings.generator, weights) {
        (GeneratorChoice::Inflate, _) => Ok((Resolved::Inflate, "inflate preview (asked for)".into())),
        (GeneratorChoice::SyncDreamerT, Some(path)) => syncdreamer(path),
        (GeneratorChoice::SyncDreamerT, None) => Err(WeightsError::Missing(missing_message(&SYNCDREAMER)).into()),
        (GeneratorChoice::Auto, Some(path)) if gpu => syncdreamer(path),
        (GeneratorChoice::Auto, Some(_)) => Ok((
            Resolved::Inflate,
            "inflate preview: SyncDreamer-T is installed but there is no GPU (`--generator syncdreamer-t` forces it)"
                .into(),
        )),
        (GeneratorChoice::Auto, None) => Ok((
            Resolved::Inflate,
            "inflate preview (SyncDreamer-T weights not installed: `efficient4d weights get syncdreamer`)".into(),
        )),
    }
}

/// The `resolved` generator, ready to run with `options` (SyncDreamer-T's weights loaded on the device
/// `gpu::network_device` picks, in the precision and view batch its fit chose).
pub(crate) fn make_generator<'a>(
    r: &'a Rasterizer,
    resolved: Resolved,
    options: &VideoToMatrix,
) -> Result<Box<dyn Generator + 'a>, PipelineError> {
    Ok(match resolved {
        Resolved::Inflate => Box::new(Inflate { rasterizer: r, options: options.inflate.clone() }),
        Resolved::SyncDreamerT { weights, fit } => {
            let device = crate::gpu::network_device(Some(r.gpu()))?;
            let sample = SampleOptions {
                schedule: DdimSchedule::uniform(options.settings.ddim_steps, 1.0),
                view_batch: fit.view_batch,
                ..Default::default()
            };
            let model = load_syncdreamer(&weights, &device, fit.half)?;
            log::info!("SyncDreamer-T: {}", fit.describe());
            Box::new(SyncDreamerGenerator { model, sample, seed: options.settings.seed })
        }
    })
}

/// Decodes and preprocesses `video`: the key frames' objects, 256² RGBA.
pub fn video_to_objects(video: &Path, options: &VideoToMatrix) -> Result<ObjectFrames, VideoError> {
    let decoded = decode(video, &options.decode_options())?;
    prepare_object_frames(&decoded, &options.preprocess_options())
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
    // Resolved before the video is decoded (bad settings, missing weights or a GPU too small fail
    // before any work), loaded after (a bad video fails before a long load).
    let (resolved, _) = resolve_generator(options, r)?;
    let objects = video_to_objects(video, options)?;
    objects_to_matrix(r, resolved, &objects, out, options, cancel, progress)?;
    Ok(objects)
}

/// Stage 1's second half: loads the `resolved` generator and writes the matrix of `objects` into `out`.
pub(crate) fn objects_to_matrix(
    r: &Rasterizer,
    resolved: Resolved,
    objects: &ObjectFrames,
    out: &Path,
    options: &VideoToMatrix,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(Stage1Progress),
) -> Result<(), PipelineError> {
    let generator = make_generator(r, resolved, options)?;
    progress(Stage1Progress::Decoded { frames: objects.frames.len(), generator: generator.name() });
    generator.generate(objects, out, cancel, progress)?;
    Ok(())
}
