//! `NoisyTargetViewEncoder`: each view's noisy latent, conditioned on the diffusion time and its
//! viewpoint, into the features that are unprojected into the spatial volume.

use super::layers::{Conv2d, GroupNorm, silu};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;

const PREFIX: &str = "spatial_volume.target_encoder.";
/// The volume networks' GroupNorm: 8 groups, eps 1e-5.
const GROUPS: usize = 8;
const EPS: f64 = 1e-5;

/// A GroupNorm with this network's groups and eps.
fn norm(t: &TensorTable, name: &str, c: usize) -> Result<GroupNorm, WeightsError> {
    GroupNorm::load(t, name, c, GROUPS, EPS)
}

/// `x + conv(x + time_embed(t) + view_embed(v))`, conv = GN → SiLU → conv3 → GN → SiLU → conv3.
struct ResBlockWithTimeView {
    time_embed: Conv2d,
    view_embed: Conv2d,
    norm0: GroupNorm,
    conv2: Conv2d,
    norm3: GroupNorm,
    conv5: Conv2d,
}

impl ResBlockWithTimeView {
    fn load(t: &TensorTable, name: &str, dim: usize, tdim: usize, vdim: usize) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{name}.{s}");
        Ok(Self {
            time_embed: Conv2d::load(t, &p("time_embed"), tdim, dim, 1)?,
            view_embed: Conv2d::load(t, &p("view_embed"), vdim, dim, 1)?,
            norm0: norm(t, &p("conv.0"), dim)?,
            conv2: Conv2d::load(t, &p("conv.2"), dim, dim, 3)?,
            norm3: norm(t, &p("conv.3"), dim)?,
            conv5: Conv2d::load(t, &p("conv.5"), dim, dim, 3)?,
        })
    }

    /// x [N, C, H, W]; t [N, tdim, 1, 1]; v [N, vdim, 1, 1].
    fn forward(&self, x: Tensor<4>, t: Tensor<4>, v: Tensor<4>) -> Tensor<4> {
        let h = x.clone() + self.time_embed.forward(t) + self.view_embed.forward(v);
        let h = self.conv2.forward(silu(self.norm0.forward(h)));
        x + self.conv5.forward(silu(self.norm3.forward(h)))
    }
}

pub struct NoisyTargetViewEncoder {
    init_conv: Conv2d,
    blocks: Vec<ResBlockWithTimeView>,
    final_norm: GroupNorm,
    final_conv: Conv2d,
}

impl NoisyTargetViewEncoder {
    /// `run_dim` / `output_dim`: 16 and 16 in SyncDreamer; `time_dim`: 256 (48 in the tiny model).
    pub fn load(t: &TensorTable, time_dim: usize, run_dim: usize, output_dim: usize) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{PREFIX}{s}");
        let blocks = (0..3)
            .map(|i| ResBlockWithTimeView::load(t, &p(&format!("out_conv{i}")), run_dim, time_dim, 4))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            init_conv: Conv2d::load(t, &p("init_conv"), 4, run_dim, 3)?,
            blocks,
            final_norm: norm(t, &p("final_out.0"), run_dim)?,
            final_conv: Conv2d::load(t, &p("final_out.2"), run_dim, output_dim, 3)?,
        })
    }

    /// Noisy latents [N, 4, 32, 32], time embeddings [N, time_dim], viewpoints [N, 4] → [N, out, 32, 32].
    pub fn forward(&self, x: Tensor<4>, time: Tensor<2>, viewpoint: Tensor<2>) -> Tensor<4> {
        let as_map = |e: Tensor<2>| {
            let [n, d] = e.dims();
            e.reshape([n, d, 1, 1])
        };
        let (t, v) = (as_map(time), as_map(viewpoint));
        let mut h = self.init_conv.forward(x);
        for b in &self.blocks {
            h = b.forward(h, t.clone(), v.clone());
        }
        self.final_conv.forward(silu(self.final_norm.forward(h)))
    }
}
