//! The hyper-parameters of SyncDreamer that the checkpoint does not carry. `full()` is the published
//! model (`configs/syncdreamer.yaml` plus the literals in its code); `tiny()` is the golden test model.

pub use super::unet::UNetConfig;

/// The CLIP ViT image tower.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipConfig {
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub patch: usize,
    pub resolution: usize,
    pub embed_dim: usize,
}

/// The KL-f8 autoencoder (`ddconfig` of `_init_first_stage`).
#[derive(Clone, Debug, PartialEq)]
pub struct VaeConfig {
    pub ch: usize,
    pub ch_mult: Vec<usize>,
    pub num_res_blocks: usize,
    pub z_channels: usize,
    pub embed_dim: usize,
    pub in_channels: usize,
    pub out_channels: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyncDreamerConfig {
    pub clip: ClipConfig,
    pub vae: VaeConfig,
    pub unet: UNetConfig,
    /// SyncDreamer's own time embedding (for the volume networks): 256.
    pub time_embed_dim: usize,
    /// Widths of the spatial and frustum 3-D U-Nets: (64, 128, 256, 512).
    pub volume_dims: [usize; 4],
    /// The noisy target-view encoder's running and output widths (16, 16).
    pub target_encoder_dims: (usize, usize),
    /// Target views of the rig (16).
    pub views: usize,
}

impl SyncDreamerConfig {
    /// The published model (ViT-L/14 image tower).
    pub fn full() -> Self {
        Self {
            clip: ClipConfig { width: 1024, layers: 24, heads: 16, patch: 14, resolution: 224, embed_dim: 768 },
            vae: VaeConfig::with(128, vec![1, 2, 4, 4]),
            unet: UNetConfig::full(),
            time_embed_dim: 256,
            volume_dims: [64, 128, 256, 512],
            target_encoder_dims: (16, 16),
            views: 16,
        }
    }

    /// The golden tiny model (`tiny_config.json`): CLIP built directly with 2 heads.
    pub fn tiny() -> Self {
        Self {
            clip: ClipConfig { width: 32, layers: 2, heads: 2, patch: 14, resolution: 224, embed_dim: 64 },
            vae: VaeConfig::with(32, vec![1, 1, 1, 1]),
            unet: UNetConfig::tiny(),
            time_embed_dim: 48,
            volume_dims: [8, 8, 16, 16],
            target_encoder_dims: (16, 16),
            views: 16,
        }
    }
}

/// CLIP's image normalisation (non-persistent buffers, so not in the checkpoint).
// Written as CLIP publishes them (the extra digits round to the same f32).
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];

impl VaeConfig {
    fn with(ch: usize, ch_mult: Vec<usize>) -> Self {
        Self { ch, ch_mult, num_res_blocks: 2, z_channels: 4, embed_dim: 4, in_channels: 3, out_channels: 3 }
    }
}
