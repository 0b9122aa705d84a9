//! Between stage 1 and stage 2: more frames and per-pixel trust for the image matrix.
//!
//! Efficient4D interpolates 3 new frames between each pair of generated key frames (RIFE, or here a
//! classical flow when RIFE's weights are not installed) and gives every frame a confidence map from
//! how well its neighbours in time predict it, so the trainer leans on the consistent pixels.

pub mod confidence;
pub mod flow;
pub mod matrix;
pub mod planes;
pub mod rife;
pub mod sequence;

pub use confidence::ConfidenceMetric;
pub use matrix::{RefineOptions, RefineSummary, refine_matrix};
pub use planes::Planes;
pub use sequence::{Interpolator, InterpolatorChoice};
