//! SyncDreamer-T (Efficient4D's stage 1) in burn, built piece by piece against the golden tiny model
//! (`../shared/golden/`): same module tree and parameter names as the published checkpoint.
//! Done so far: the CLIP image encoder and the VAE. Still to come (issue #7): spatial/frustum volumes, the
//! depth-wise-attention UNet, DDIM with Efficient4D's time-synchronous volumes.

pub mod clip;
pub mod config;
pub mod layers;
pub mod vae;

pub use config::SyncDreamerConfig;
