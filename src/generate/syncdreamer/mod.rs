//! SyncDreamer-T (Efficient4D's stage 1) in burn, built piece by piece against the golden tiny model
//! (`../shared/golden/`): same module tree and parameter names as the published checkpoint.
//! Done so far: the CLIP image encoder, the VAE, the time/viewpoint/context conditioning, the noisy
//! target-view encoder, the DDIM schedule and update, Efficient4D's smoothing weights. Still to come
//! (issue #7): the spatial/frustum volume nets (unprojection is done), the depth-wise-attention UNet, the
//! sampling loop with time-synchronous volumes and decomposed guidance.

pub mod clip;
pub mod conditioning;
pub mod config;
pub mod ddim;
pub mod layers;
pub mod smoothing;
pub mod target_encoder;
pub mod unproject;
pub mod vae;

pub use config::SyncDreamerConfig;
