//! Stage 1: making the multi-view, multi-time image matrix: from a known 4D scene (`render_matrix`,
//! ground truth for benchmarks, tests and the demo) or from a video's key frames by a [`Generator`]:
//! the weights-free `inflate` preview or SyncDreamer-T (`syncdreamer`).

pub mod demo;
pub mod from_video;
pub mod inflate;
pub mod render_matrix;
pub mod ring;
pub mod settings;
pub mod syncdreamer;

use crate::video::ObjectFrames;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Where stage 1 is: the key frames decoded and the generator ready (weights loaded), SyncDreamer-T's
/// denoising steps (all frames at once), then frame `done` of `total` written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage1Progress {
    Decoded { frames: usize, generator: &'static str },
    Denoised { step: usize, steps: usize },
    Generated { done: usize, total: usize },
}

/// A stage-1 generator: an object's key frames (256² RGBA, masked and centred) → the image matrix
/// (the rig's 16 views and the input view per frame) as a dataset in `out`.
pub trait Generator {
    /// Its name for the user.
    fn name(&self) -> &'static str;

    /// Writes the matrix, reporting progress; stops with `GenerateError::Cancelled` once `cancel` is set.
    fn generate(
        &self,
        objects: &ObjectFrames,
        out: &Path,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(Stage1Progress),
    ) -> Result<(), inflate::GenerateError>;
}
