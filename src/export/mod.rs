//! What leaves the trainer: the native checkpoint, the PLY sequence (INRIA 3DGS layout) as files or one
//! zip, the one-file 4D `.splatv` for browser viewers, one HTML file that plays the model offline, and
//! turntable previews.

pub(crate) mod checkpoint;
pub mod html_player;
pub mod ply;
pub mod ply_zip;
pub mod splatv;

pub use checkpoint::{Checkpoint, CheckpointMeta};
pub mod turntable;
