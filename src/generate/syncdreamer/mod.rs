//! SyncDreamer-T (Efficient4D's stage 1) in burn: the module tree and parameter names of the
//! published checkpoint, every part checked against the golden tiny model (`../shared/golden/`).
//! `model` puts the networks together and runs Efficient4D's sampler (shared initial noise,
//! spatial volumes averaged over frames at every DDIM step, decomposed guidance); `matrix` turns its
//! output into the image matrix on disk.

pub(crate) mod attention;
pub mod clip;
pub mod conditioning;
pub(crate) mod config;
pub mod ddim;
pub(crate) mod depth_attention;
pub mod frustum;
pub mod frustum_net;
pub mod guidance;
pub(crate) mod layers;
pub mod matrix;
pub mod memory;
pub mod model;
pub mod smoothing;
pub mod spatial_net;
pub mod target_encoder;
pub mod unet;
pub(crate) mod unet_blocks;
pub mod unproject;
pub mod vae;
pub(crate) mod volume_block;

pub use config::SyncDreamerConfig;

/// How weight errors name the model.
pub(crate) const MODEL_NAME: &str = "SyncDreamer-T";

/// Numeric precision of SyncDreamer-T's matmul-class layers (linear, convolutions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// f16 on a GPU whose adapter has `shader-f16`, else f32.
    #[default]
    Auto,
    F32,
    /// Weights of linear and convolution layers and their inputs in f16, as PyTorch's autocast runs
    /// them; norms, softmax, attention products, residual sums and the DDIM arithmetic in f32.
    F16,
}

impl Precision {
    /// Whether to run in half precision on `gpu` (`None`: the CPU backend, which stays f32).
    pub fn half_on(self, gpu: Option<&crate::gpu::GpuContext>) -> bool {
        match self {
            Self::F32 => false,
            Self::F16 => true,
            // On a CPU driver the networks run on burn's CPU backend (`gpu::network_device`): f32.
            Self::Auto => gpu.is_some_and(|g| !g.is_cpu_driver() && g.caps.shader_f16),
        }
    }
}
