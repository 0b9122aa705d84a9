//! The hyper-parameters of SyncDreamer that the checkpoint does not carry. `full()` is the published
//! model (`configs/syncdreamer.yaml` plus the literals in its code); `tiny()` is the golden test model.

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

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyncDreamerConfig {
    pub clip: ClipConfig,
}

impl SyncDreamerConfig {
    /// The published model (ViT-L/14 image tower).
    pub fn full() -> Self {
        Self { clip: ClipConfig { width: 1024, layers: 24, heads: 16, patch: 14, resolution: 224, embed_dim: 768 } }
    }

    /// The golden tiny model (`tiny_config.json`): CLIP built directly with 2 heads.
    pub fn tiny() -> Self {
        Self { clip: ClipConfig { width: 32, layers: 2, heads: 2, patch: 14, resolution: 224, embed_dim: 64 } }
    }
}

/// CLIP's image normalisation (non-persistent buffers, so not in the checkpoint).
pub const CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
pub const CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];
