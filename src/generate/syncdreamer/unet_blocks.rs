//! The Stable Diffusion UNet's convolutional pieces: the time-conditioned ResBlock and the ×2
//! down/up-samplers. Their GroupNorms are `GroupNorm32`: 32 groups, eps 1e-5, computed in float32.

use super::layers::{Conv2d, GroupNorm, linear, silu};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;

pub fn unet_norm(t: &TensorTable, name: &str, channels: usize) -> Result<GroupNorm, WeightsError> {
    GroupNorm::load(t, name, channels, 32, 1e-5)
}

/// `skip(x) + out(in(x) + emb_proj(emb))`; `skip` is a 1×1 conv when the width changes.
pub struct ResBlock {
    in_norm: GroupNorm,
    in_conv: Conv2d,
    emb_weight: Tensor<2>,
    emb_bias: Tensor<1>,
    out_norm: GroupNorm,
    out_conv: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    pub fn load(t: &TensorTable, name: &str, cin: usize, cout: usize, emb_dim: usize) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{name}.{s}");
        Ok(Self {
            in_norm: unet_norm(t, &p("in_layers.0"), cin)?,
            in_conv: Conv2d::load(t, &p("in_layers.2"), cin, cout, 3)?,
            emb_weight: t.get(&p("emb_layers.1.weight"), [cout, emb_dim])?,
            emb_bias: t.get(&p("emb_layers.1.bias"), [cout])?,
            out_norm: unet_norm(t, &p("out_layers.0"), cout)?,
            out_conv: Conv2d::load(t, &p("out_layers.3"), cout, cout, 3)?,
            skip: if cin == cout { None } else { Some(Conv2d::load(t, &p("skip_connection"), cin, cout, 1)?) },
        })
    }

    /// x [N, cin, H, W]; emb [N, emb_dim] → [N, cout, H, W].
    pub fn forward(&self, x: Tensor<4>, emb: &Tensor<2>) -> Tensor<4> {
        let h = self.in_conv.forward(silu(self.in_norm.forward(x.clone())));
        let e = linear(silu(emb.clone()), &self.emb_weight, Some(&self.emb_bias));
        let [n, c] = e.dims();
        let h = h + e.reshape([n, c, 1, 1]);
        let h = self.out_conv.forward(silu(self.out_norm.forward(h)));
        let skip = match &self.skip {
            Some(conv) => conv.forward(x),
            None => x,
        };
        skip + h
    }
}

/// A 3×3 convolution with stride 2 (`op`).
pub struct Downsample(Conv2d);

impl Downsample {
    pub fn load(t: &TensorTable, name: &str, channels: usize) -> Result<Self, WeightsError> {
        Ok(Self(Conv2d::load(t, &format!("{name}.op"), channels, channels, 3)?))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.0.forward_with(x, 2, 1)
    }
}

/// Nearest-neighbour ×2, then a 3×3 convolution (`conv`).
pub struct Upsample(Conv2d);

impl Upsample {
    pub fn load(t: &TensorTable, name: &str, channels: usize) -> Result<Self, WeightsError> {
        Ok(Self(Conv2d::load(t, &format!("{name}.conv"), channels, channels, 3)?))
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.0.forward(upsample_nearest2(x))
    }
}

/// Each pixel repeated into a 2×2 block.
pub fn upsample_nearest2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
}
