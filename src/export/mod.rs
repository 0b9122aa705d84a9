//! What leaves the trainer: the native checkpoint and the PLY sequence (INRIA 3DGS layout).

pub mod checkpoint;
pub mod ply;

pub use checkpoint::{Checkpoint, CheckpointMeta};
pub mod turntable;
