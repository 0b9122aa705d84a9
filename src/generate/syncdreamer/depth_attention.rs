//! SyncDreamer's depth-wise attention (`DepthTransformer`): every UNet feature pixel attends over the
//! depths of its target view's frustum volume, so the 3-D-consistent volume steers each view.
//! Query: 1×1 conv → GN(8) → SiLU; keys/values: 1×1×1 conv (no bias) → GN(8) → ReLU, then 1×1×1
//! projections; softmax over depth; out: 1×1 conv → GN → ReLU → 3×3 conv → GN → ReLU → 3×3 conv,
//! plus the input.

use super::layers::{Conv2d, GroupNorm, as_f32, as_weight_dtype, silu};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;
use burn::tensor::activation::{relu, softmax};
use burn::tensor::module::conv3d;
use burn::tensor::ops::ConvOptions;

/// The reference hard-codes four heads.
pub const HEADS: usize = 4;

fn norm(t: &TensorTable, name: &str, channels: usize) -> Result<GroupNorm, WeightsError> {
    GroupNorm::load(t, name, channels, 8, 1e-5)
}

fn conv1x1x1(x: Tensor<5>, weight: &Tensor<5>) -> Tensor<5> {
    as_f32(conv3d(as_weight_dtype(x, weight), weight.clone(), None, ConvOptions::new([1; 3], [0; 3], [1; 3], 1)))
}

pub struct DepthTransformer {
    in_conv: Conv2d,
    in_norm: GroupNorm,
    context_conv: Tensor<5>,
    context_norm: GroupNorm,
    to_q: Conv2d,
    to_k: Tensor<5>,
    to_v: Tensor<5>,
    to_out: Conv2d,
    out_norm0: GroupNorm,
    out_conv0: Conv2d,
    out_norm1: GroupNorm,
    out_conv1: Conv2d,
    head_dim: usize,
}

impl DepthTransformer {
    /// `dim`: the UNet's width there; `context_dim`: the frustum features' channels (head size is half
    /// of it, so the inner width is 2·context_dim).
    pub fn load(t: &TensorTable, name: &str, dim: usize, context_dim: usize) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{name}.{s}");
        let head_dim = context_dim / 2;
        let inner = HEADS * head_dim;
        let no_bias = |s: &str, cin: usize, cout: usize, k: usize| -> Result<Conv2d, WeightsError> {
            Ok(Conv2d { weight: t.get(&p(&format!("{s}.weight")), [cout, cin, k, k])?, bias: None })
        };
        Ok(Self {
            in_conv: Conv2d::load(t, &p("proj_in.0"), dim, inner, 1)?,
            in_norm: norm(t, &p("proj_in.1"), inner)?,
            context_conv: t.get(&p("proj_context.0.weight"), [context_dim, context_dim, 1, 1, 1])?,
            context_norm: norm(t, &p("proj_context.1"), context_dim)?,
            to_q: no_bias("depth_attn.to_q", inner, inner, 1)?,
            to_k: t.get(&p("depth_attn.to_k.weight"), [inner, context_dim, 1, 1, 1])?,
            to_v: t.get(&p("depth_attn.to_v.weight"), [inner, context_dim, 1, 1, 1])?,
            to_out: no_bias("depth_attn.to_out", inner, inner, 1)?,
            out_norm0: norm(t, &p("proj_out.0"), inner)?,
            out_conv0: no_bias("proj_out.2", inner, inner, 3)?,
            out_norm1: norm(t, &p("proj_out.3"), inner)?,
            out_conv1: no_bias("proj_out.5", inner, dim, 3)?,
            head_dim,
        })
    }

    /// x [N, dim, H, W]; context [N, context_dim, D, H, W] (the frustum features of the same width).
    pub fn forward(&self, x: Tensor<4>, context: &Tensor<5>) -> Tensor<4> {
        let [n, _, h, w] = x.dims();
        let depth = context.dims()[2];
        let query = silu(self.in_norm.forward(self.in_conv.forward(x.clone())));
        let context = relu(self.context_norm.forward(conv1x1x1(context.clone(), &self.context_conv)));
        let (heads, hd) = (HEADS, self.head_dim);
        let q = self.to_q.forward(query).reshape([n, heads, hd, 1, h * w]);
        let k = conv1x1x1(context.clone(), &self.to_k).reshape([n, heads, hd, depth, h * w]);
        let v = conv1x1x1(context, &self.to_v).reshape([n, heads, hd, depth, h * w]);
        let scores = (q * k).sum_dim(2) * (hd as f64).powf(-0.5); // [n, heads, 1, depth, hw]
        let attention = softmax(scores, 3);
        let out = (v * attention).sum_dim(3).reshape([n, heads * hd, h, w]);
        let out = self.to_out.forward(out);
        let out = self.out_conv0.forward(relu(self.out_norm0.forward(out)));
        let out = self.out_conv1.forward(relu(self.out_norm1.forward(out)));
        out + x
    }
}
