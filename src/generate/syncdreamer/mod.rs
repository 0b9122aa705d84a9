//! SyncDreamer-T (Efficient4D's stage 1) in burn, built piece by piece against the golden tiny model
//! (`../shared/golden/`): same module tree and parameter names as the published checkpoint.
//! Done so far: the CLIP image encoder. Still to come (issue #7): VAE, spatial/frustum volumes, the
//! depth-wise-attention UNet, DDIM with Efficient4D's time-synchronous volumes.

pub mod clip;
pub mod config;
pub mod layers;

pub use config::SyncDreamerConfig;
