//! SyncDreamer-T (Efficient4D's stage 1) in burn, built piece by piece against the golden tiny model
//! (`../shared/golden/`): same module tree and parameter names as the published checkpoint.
//! Done so far: the CLIP image encoder, the VAE, the time/viewpoint/context conditioning, the noisy
//! target-view encoder, unprojection and the spatial volume net, the DDIM schedule and update,
//! Efficient4D's smoothing weights. Still to come (issue #7): the frustum volumes and their net, the
//! depth-wise-attention UNet, the sampling loop with time-synchronous volumes and decomposed guidance.

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

/// How errors name the model.
pub fn weights_table_name() -> &'static str {
    "SyncDreamer-T"
}
