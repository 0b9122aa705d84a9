//! SyncDreamer's CLIP image encoder (`FrozenCLIPImageEmbedder`): the input view, in [-1, 1], resized
//! to 224² (bicubic, A = −0.75, corners aligned, no antialiasing, as kornia does), normalised with
//! CLIP's mean/std, through the pre-LN ViT (QuickGELU, LayerNorm eps 1e-5, packed q|k|v attention);
//! the class token after `ln_post`, times `proj`, is the one context token.

use super::config::{CLIP_MEAN, CLIP_STD, ClipConfig};
use super::layers::{LayerNorm, as_f32, as_weight_dtype, linear, quick_gelu, resize_bicubic_aligned};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::activation::softmax;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

/// Parameter names start with this in the checkpoint.
pub(crate) const PREFIX: &str = "clip_image_encoder.model.visual.";

struct ResidualBlock {
    ln_1: LayerNorm,
    in_proj_weight: Tensor<2>,
    in_proj_bias: Tensor<1>,
    out_proj_weight: Tensor<2>,
    out_proj_bias: Tensor<1>,
    ln_2: LayerNorm,
    fc_weight: Tensor<2>,
    fc_bias: Tensor<1>,
    proj_weight: Tensor<2>,
    proj_bias: Tensor<1>,
}

impl ResidualBlock {
    fn load(t: &TensorTable, name: &str, w: usize) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{name}.{s}");
        Ok(Self {
            ln_1: LayerNorm::load(t, &p("ln_1"), w)?,
            in_proj_weight: t.get(&p("attn.in_proj_weight"), [3 * w, w])?,
            in_proj_bias: t.get(&p("attn.in_proj_bias"), [3 * w])?,
            out_proj_weight: t.get(&p("attn.out_proj.weight"), [w, w])?,
            out_proj_bias: t.get(&p("attn.out_proj.bias"), [w])?,
            ln_2: LayerNorm::load(t, &p("ln_2"), w)?,
            fc_weight: t.get(&p("mlp.c_fc.weight"), [4 * w, w])?,
            fc_bias: t.get(&p("mlp.c_fc.bias"), [4 * w])?,
            proj_weight: t.get(&p("mlp.c_proj.weight"), [w, 4 * w])?,
            proj_bias: t.get(&p("mlp.c_proj.bias"), [w])?,
        })
    }

    /// x: [N, L, W].
    fn forward(&self, x: Tensor<3>, heads: usize) -> Tensor<3> {
        let [n, l, w] = x.dims();
        let dh = w / heads;
        let qkv = linear(self.ln_1.forward(x.clone()), &self.in_proj_weight, Some(&self.in_proj_bias));
        let split = |k: usize| qkv.clone().narrow(2, k * w, w).reshape([n, l, heads, dh]).swap_dims(1, 2);
        let (q, k, v) = (split(0), split(1), split(2));
        let scores = q.matmul(k.swap_dims(2, 3)) / (dh as f64).sqrt();
        let attended = softmax(scores, 3).matmul(v).swap_dims(1, 2).reshape([n, l, w]);
        let x = x + linear(attended, &self.out_proj_weight, Some(&self.out_proj_bias));
        let hidden = quick_gelu(linear(self.ln_2.forward(x.clone()), &self.fc_weight, Some(&self.fc_bias)));
        x + linear(hidden, &self.proj_weight, Some(&self.proj_bias))
    }
}

/// The image tower with its weights on a device.
pub struct ClipImageEncoder {
    config: ClipConfig,
    conv1: Tensor<4>,
    class_embedding: Tensor<1>,
    positional_embedding: Tensor<2>,
    ln_pre: LayerNorm,
    blocks: Vec<ResidualBlock>,
    ln_post: LayerNorm,
    proj: Tensor<2>,
}

/// Every intermediate the golden data checks.
pub struct ClipTrace {
    pub preprocessed: Tensor<4>,
    pub patch_embed: Tensor<4>,
    pub tokens_after_ln_pre: Tensor<3>,
    pub tokens_after_transformer: Tensor<3>,
    pub cls_after_ln_post: Tensor<2>,
    /// [N, 1, embed_dim]: the context token.
    pub embedding: Tensor<3>,
}

impl ClipImageEncoder {
    /// `t` holds the checkpoint's names (with [`PREFIX`]).
    pub fn load(t: &TensorTable, config: ClipConfig) -> Result<Self, WeightsError> {
        let (w, p) = (config.width, config.patch);
        let tokens = (config.resolution / p).pow(2) + 1;
        let name = |s: &str| format!("{PREFIX}{s}");
        let blocks = (0..config.layers)
            .map(|i| ResidualBlock::load(t, &name(&format!("transformer.resblocks.{i}")), w))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            config,
            conv1: t.get(&name("conv1.weight"), [w, 3, p, p])?,
            class_embedding: t.get(&name("class_embedding"), [w])?,
            positional_embedding: t.get(&name("positional_embedding"), [tokens, w])?,
            ln_pre: LayerNorm::load(t, &name("ln_pre"), w)?,
            blocks,
            ln_post: LayerNorm::load(t, &name("ln_post"), w)?,
            proj: t.get(&name("proj"), [w, config.embed_dim])?,
        })
    }

    /// [-1, 1] images [N, 3, H, W] → CLIP's normalised 224² input.
    pub fn preprocess(&self, x: Tensor<4>) -> Tensor<4> {
        let r = self.config.resolution;
        // burn's bicubic kernel is the same filter but places source pixels more exactly than
        // PyTorch's float32 coordinates (1.4e-5 off the reference at strong edges); this separable
        // form reproduces PyTorch's coordinates.
        let x = (resize_bicubic_aligned(x, r, r) + 1.0) / 2.0;
        let device = x.device();
        let mean = Tensor::<1>::from_data(TensorData::new(CLIP_MEAN.to_vec(), [3]), &device).reshape([1, 3, 1, 1]);
        let std = Tensor::<1>::from_data(TensorData::new(CLIP_STD.to_vec(), [3]), &device).reshape([1, 3, 1, 1]);
        (x - mean) / std
    }

    /// The whole encoder with its intermediates.
    pub fn trace(&self, image: Tensor<4>) -> ClipTrace {
        let preprocessed = self.preprocess(image);
        let p = self.config.patch;
        let patches_in = as_weight_dtype(preprocessed.clone(), &self.conv1);
        let patch_embed =
            as_f32(conv2d(patches_in, self.conv1.clone(), None, ConvOptions::new([p, p], [0, 0], [1, 1], 1)));
        let [n, w, gh, gw] = patch_embed.dims();
        let patches = patch_embed.clone().reshape([n, w, gh * gw]).swap_dims(1, 2);
        let cls = self.class_embedding.clone().reshape([1, 1, w]).expand([n, 1, w]);
        let tokens = Tensor::cat(vec![cls, patches], 1) + self.positional_embedding.clone().unsqueeze::<3>();
        let tokens_after_ln_pre = self.ln_pre.forward(tokens);
        let mut x = tokens_after_ln_pre.clone();
        for block in &self.blocks {
            x = block.forward(x, self.config.heads);
        }
        let cls_after_ln_post = self.ln_post.forward(x.clone().narrow(1, 0, 1).reshape([n, w]));
        let embedding = cls_after_ln_post.clone().matmul(self.proj.clone()).unsqueeze_dim::<3>(1);
        ClipTrace {
            preprocessed,
            patch_embed,
            tokens_after_ln_pre,
            tokens_after_transformer: x,
            cls_after_ln_post,
            embedding,
        }
    }

    /// [-1, 1] images [N, 3, H, W] → context tokens [N, 1, embed_dim].
    pub fn encode(&self, image: Tensor<4>) -> Tensor<3> {
        self.trace(image).embedding
    }
}
