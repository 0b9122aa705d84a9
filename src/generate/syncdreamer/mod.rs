//! SyncDreamer-T (Efficient4D's stage 1) in burn: the module tree and parameter names of the
//! published checkpoint, every part checked against the golden tiny model (`../shared/golden/`).
//! `model` puts the networks together and runs Efficient4D's sampler (shared initial noise,
//! spatial volumes averaged over frames at every DDIM step, decomposed guidance); `matrix` turns its
//! output into the image matrix on disk.

pub mod attention;
pub mod clip;
pub mod conditioning;
pub mod config;
pub mod ddim;
pub mod depth_attention;
pub mod frustum;
pub mod frustum_net;
pub mod guidance;
pub mod layers;
pub mod matrix;
pub mod model;
pub mod smoothing;
pub mod spatial_net;
pub mod target_encoder;
pub mod unet;
pub mod unet_blocks;
pub mod unproject;
pub mod vae;
pub mod volume_block;

pub use config::SyncDreamerConfig;

/// How weight errors name the model.
pub const MODEL_NAME: &str = "SyncDreamer-T";
