//! The UNet's `SpatialTransformer` (Stable Diffusion 1): GroupNorm(32, eps 1e-6) → 1×1 conv in →
//! one transformer block (self-attention, cross-attention to the context token, GEGLU feed-forward,
//! each pre-LayerNorm with a residual) → 1×1 conv out, plus the input.

use super::layers::{Conv2d, GroupNorm, LayerNorm, linear};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;
use burn::tensor::activation::gelu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

/// Multi-head attention with bias-free q/k/v projections and a biased output projection.
pub struct CrossAttention {
    to_q: Tensor<2>,
    to_k: Tensor<2>,
    to_v: Tensor<2>,
    out_weight: Tensor<2>,
    out_bias: Tensor<1>,
    heads: usize,
}

impl CrossAttention {
    pub fn load(
        t: &TensorTable,
        name: &str,
        dim: usize,
        context_dim: usize,
        heads: usize,
        head_dim: usize,
    ) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{name}.{s}");
        let inner = heads * head_dim;
        Ok(Self {
            to_q: t.get(&p("to_q.weight"), [inner, dim])?,
            to_k: t.get(&p("to_k.weight"), [inner, context_dim])?,
            to_v: t.get(&p("to_v.weight"), [inner, context_dim])?,
            out_weight: t.get(&p("to_out.0.weight"), [dim, inner])?,
            out_bias: t.get(&p("to_out.0.bias"), [dim])?,
            heads,
        })
    }

    /// x [B, L, dim] attends to context [B, M, context_dim] → [B, L, dim].
    pub fn forward(&self, x: Tensor<3>, context: Tensor<3>) -> Tensor<3> {
        let split = |t: Tensor<3>| {
            let [b, l, inner] = t.dims();
            t.reshape([b, l, self.heads, inner / self.heads]).swap_dims(1, 2)
        };
        let q = split(linear(x, &self.to_q, None));
        let k = split(linear(context.clone(), &self.to_k, None));
        let v = split(linear(context, &self.to_v, None));
        let [b, heads, l, head_dim] = q.dims();
        // burn's fused scaled-dot-product attention (flash attention on the CPU backend: no
        // [views, heads, 1024, 1024] score tensor), scale 1/√head_dim as the reference.
        let out = attention(q, k, v, None, None, AttentionModuleOptions::default());
        let out = out.swap_dims(1, 2).reshape([b, l, heads * head_dim]);
        linear(out, &self.out_weight, Some(&self.out_bias))
    }
}

/// GEGLU feed-forward: `Linear(dim → 8·dim)`, split into value | gate, value·GELU(gate), `Linear(4·dim → dim)`.
struct FeedForward {
    proj_weight: Tensor<2>,
    proj_bias: Tensor<1>,
    out_weight: Tensor<2>,
    out_bias: Tensor<1>,
}

impl FeedForward {
    fn load(t: &TensorTable, name: &str, dim: usize) -> Result<Self, WeightsError> {
        let inner = 4 * dim;
        Ok(Self {
            proj_weight: t.get(&format!("{name}.net.0.proj.weight"), [2 * inner, dim])?,
            proj_bias: t.get(&format!("{name}.net.0.proj.bias"), [2 * inner])?,
            out_weight: t.get(&format!("{name}.net.2.weight"), [dim, inner])?,
            out_bias: t.get(&format!("{name}.net.2.bias"), [dim])?,
        })
    }

    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = linear(x, &self.proj_weight, Some(&self.proj_bias));
        let inner = h.dims()[2] / 2;
        let value = h.clone().narrow(2, 0, inner);
        let gate = h.narrow(2, inner, inner);
        linear(value * gelu(gate), &self.out_weight, Some(&self.out_bias))
    }
}

struct TransformerBlock {
    norm1: LayerNorm,
    attn1: CrossAttention,
    norm2: LayerNorm,
    attn2: CrossAttention,
    norm3: LayerNorm,
    ff: FeedForward,
}

pub struct SpatialTransformer {
    norm: GroupNorm,
    proj_in: Conv2d,
    block: TransformerBlock,
    proj_out: Conv2d,
}

impl SpatialTransformer {
    pub fn load(
        t: &TensorTable,
        name: &str,
        channels: usize,
        heads: usize,
        context_dim: usize,
    ) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{name}.{s}");
        let head_dim = channels / heads;
        let b = |s: &str| p(&format!("transformer_blocks.0.{s}"));
        Ok(Self {
            norm: GroupNorm::load(t, &p("norm"), channels, 32, 1e-6)?,
            proj_in: Conv2d::load(t, &p("proj_in"), channels, channels, 1)?,
            block: TransformerBlock {
                norm1: LayerNorm::load(t, &b("norm1"), channels)?,
                attn1: CrossAttention::load(t, &b("attn1"), channels, channels, heads, head_dim)?,
                norm2: LayerNorm::load(t, &b("norm2"), channels)?,
                attn2: CrossAttention::load(t, &b("attn2"), channels, context_dim, heads, head_dim)?,
                norm3: LayerNorm::load(t, &b("norm3"), channels)?,
                ff: FeedForward::load(t, &b("ff"), channels)?,
            },
            proj_out: Conv2d::load(t, &p("proj_out"), channels, channels, 1)?,
        })
    }

    /// x [N, C, H, W]; context [N, M, context_dim].
    pub fn forward(&self, x: Tensor<4>, context: &Tensor<3>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let tokens = self.proj_in.forward(self.norm.forward(x.clone())).reshape([n, c, h * w]).swap_dims(1, 2);
        let b = &self.block;
        let normed = b.norm1.forward(tokens.clone());
        let tokens = b.attn1.forward(normed.clone(), normed) + tokens;
        let tokens = b.attn2.forward(b.norm2.forward(tokens.clone()), context.clone()) + tokens;
        let tokens = b.ff.forward(b.norm3.forward(tokens.clone())) + tokens;
        let map = tokens.swap_dims(1, 2).reshape([n, c, h, w]);
        self.proj_out.forward(map) + x
    }
}
