//! Stage 1: making the multi-view, multi-time image matrix: from a known 4D scene (`render_matrix`,
//! ground truth for benchmarks, tests and the demo) or from a video's key frames by the weights-free
//! `inflate` preview. SyncDreamer-T (#7) comes here too.

pub mod demo;
pub mod from_video;
pub mod inflate;
pub mod render_matrix;
pub mod syncdreamer;
