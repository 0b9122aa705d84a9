//! Stage 1: making the multi-view, multi-time image matrix. Today: rendering a known 4D scene
//! (ground truth for benchmarks and tests). SyncDreamer-T (#7) and the weights-free `inflate`
//! preview (#6) come here.

pub mod render_matrix;
