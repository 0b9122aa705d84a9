//! Stage 1 from a video: decode the key frames, mask and preprocess the object, and write the image
//! matrix with the available generator (today the weights-free `inflate` preview).

use super::inflate::{GenerateError, InflateOptions, generate_matrix};
use crate::render::Rasterizer;
use crate::video::{DecodeOptions, ObjectFrames, PreprocessOptions, VideoError, decode, prepare_object_frames};
use std::path::Path;
use std::sync::atomic::AtomicBool;

#[derive(Clone, Debug, Default)]
pub struct VideoToMatrix {
    pub decode: DecodeOptions,
    pub preprocess: PreprocessOptions,
    pub inflate: InflateOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error(transparent)]
    Generate(#[from] GenerateError),
}

/// Where stage 1 is: decoding and preprocessing, then generating frame `done` of `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage1Progress {
    Decoded { frames: usize },
    Generated { done: usize, total: usize },
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
    let objects = video_to_objects(video, options)?;
    progress(Stage1Progress::Decoded { frames: objects.frames.len() });
    generate_matrix(r, &objects, out, &options.inflate, cancel, &mut |done, total| {
        progress(Stage1Progress::Generated { done, total })
    })?;
    Ok(objects)
}
