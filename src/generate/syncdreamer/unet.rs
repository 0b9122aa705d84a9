//! SyncDreamer's denoiser (`DepthWiseAttention`): the Stable Diffusion 1 UNet (8 input channels:
//! the noisy latent and the input view's latent) whose middle block and last nine output blocks are
//! followed by depth-wise attention over the target view's frustum features.

use super::attention::SpatialTransformer;
use super::conditioning::timestep_embedding;
use super::depth_attention::DepthTransformer;
use super::frustum_net::FrustumFeatures;
use super::layers::{Conv2d, GroupNorm, linear, silu};
use super::unet_blocks::{Downsample, ResBlock, Upsample, unet_norm};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;

pub(crate) const PREFIX: &str = "model.diffusion_model.";

/// The UNet's hyper-parameters (`unet_config` of `configs/syncdreamer.yaml`).
#[derive(Clone, Debug, PartialEq)]
pub struct UNetConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub model_channels: usize,
    pub channel_mult: Vec<usize>,
    pub num_res_blocks: usize,
    /// Downsampling factors that get a SpatialTransformer.
    pub attention_resolutions: Vec<usize>,
    pub num_heads: usize,
    pub context_dim: usize,
    /// Channels of the frustum features at widths 32, 16, 8, 4.
    pub volume_dims: [usize; 4],
}

impl UNetConfig {
    pub fn full() -> Self {
        Self {
            in_channels: 8,
            out_channels: 4,
            model_channels: 320,
            channel_mult: vec![1, 2, 4, 4],
            num_res_blocks: 2,
            attention_resolutions: vec![4, 2, 1],
            num_heads: 8,
            context_dim: 768,
            volume_dims: [64, 128, 256, 512],
        }
    }

    pub fn tiny() -> Self {
        Self {
            model_channels: 32,
            channel_mult: vec![1, 1, 1, 1],
            num_heads: 2,
            context_dim: 64,
            volume_dims: [8, 8, 16, 16],
            ..Self::full()
        }
    }

    pub(crate) fn time_embed_dim(&self) -> usize {
        4 * self.model_channels
    }

    /// (UNet width, frustum channels) of the depth-wise attention after the middle block and after
    /// output blocks 3..=11, as the reference lays them out.
    fn depth_conditions(&self) -> ((usize, usize), Vec<(usize, usize)>) {
        let [d0, d1, d2, d3] = self.volume_dims;
        let width = |level: usize| self.model_channels * self.channel_mult[level];
        let middle = (width(2), d3);
        let outputs = vec![
            (width(2), d2),
            (width(2), d2),
            (width(2), d1),
            (width(1), d1),
            (width(1), d1),
            (width(1), d0),
            (width(0), d0),
            (width(0), d0),
            (width(0), d0),
        ];
        (middle, outputs)
    }
}

enum Layer {
    Conv(Conv2d),
    Res(Box<ResBlock>),
    Attention(Box<SpatialTransformer>),
    Down(Downsample),
    Up(Upsample),
}

impl Layer {
    fn forward(&self, x: Tensor<4>, emb: &Tensor<2>, context: &Tensor<3>) -> Tensor<4> {
        match self {
            Layer::Conv(c) => c.forward(x),
            Layer::Res(r) => r.forward(x, emb),
            Layer::Attention(a) => a.forward(x, context),
            Layer::Down(d) => d.forward(x),
            Layer::Up(u) => u.forward(x),
        }
    }
}

type Block = Vec<Layer>;

fn run(block: &Block, mut x: Tensor<4>, emb: &Tensor<2>, context: &Tensor<3>) -> Tensor<4> {
    for layer in block {
        x = layer.forward(x, emb, context);
    }
    x
}

pub struct DepthWiseAttentionUNet {
    config: UNetConfig,
    time_w0: Tensor<2>,
    time_b0: Tensor<1>,
    time_w2: Tensor<2>,
    time_b2: Tensor<1>,
    input_blocks: Vec<Block>,
    middle_block: Block,
    output_blocks: Vec<Block>,
    middle_condition: DepthTransformer,
    output_conditions: Vec<DepthTransformer>,
    out_norm: GroupNorm,
    out_conv: Conv2d,
}

/// Output block k (from 3 on) is followed by depth condition k − 3.
const FIRST_CONDITIONED_OUTPUT: usize = 3;

impl DepthWiseAttentionUNet {
    pub fn load(t: &TensorTable, config: UNetConfig) -> Result<Self, WeightsError> {
        let c = &config;
        let p = |s: &str| format!("{PREFIX}{s}");
        let (mc, emb) = (c.model_channels, c.time_embed_dim());
        let res = |name: String, cin: usize, cout: usize| {
            ResBlock::load(t, &name, cin, cout, emb).map(|r| Layer::Res(Box::new(r)))
        };
        let attention = |name: String, ch: usize| {
            SpatialTransformer::load(t, &name, ch, c.num_heads, c.context_dim).map(|a| Layer::Attention(Box::new(a)))
        };

        let mut input_blocks = vec![vec![Layer::Conv(Conv2d::load(t, &p("input_blocks.0.0"), c.in_channels, mc, 3)?)]];
        let mut skip_channels = vec![mc];
        let (mut ch, mut ds) = (mc, 1);
        for (level, &mult) in c.channel_mult.iter().enumerate() {
            for _ in 0..c.num_res_blocks {
                let i = input_blocks.len();
                let mut block = vec![res(p(&format!("input_blocks.{i}.0")), ch, mult * mc)?];
                ch = mult * mc;
                if c.attention_resolutions.contains(&ds) {
                    block.push(attention(p(&format!("input_blocks.{i}.1")), ch)?);
                }
                input_blocks.push(block);
                skip_channels.push(ch);
            }
            if level + 1 != c.channel_mult.len() {
                let i = input_blocks.len();
                input_blocks.push(vec![Layer::Down(Downsample::load(t, &p(&format!("input_blocks.{i}.0")), ch)?)]);
                skip_channels.push(ch);
                ds *= 2;
            }
        }
        let middle_block = vec![
            res(p("middle_block.0"), ch, ch)?,
            attention(p("middle_block.1"), ch)?,
            res(p("middle_block.2"), ch, ch)?,
        ];
        let mut output_blocks = Vec::new();
        for (level, &mult) in c.channel_mult.iter().enumerate().rev() {
            for i in 0..=c.num_res_blocks {
                let k = output_blocks.len();
                let skip = skip_channels.pop().expect("one skip per input block");
                let mut block = vec![res(p(&format!("output_blocks.{k}.0")), ch + skip, mc * mult)?];
                ch = mc * mult;
                if c.attention_resolutions.contains(&ds) {
                    block.push(attention(p(&format!("output_blocks.{k}.1")), ch)?);
                }
                if level > 0 && i == c.num_res_blocks {
                    let name = p(&format!("output_blocks.{k}.{}", block.len()));
                    block.push(Layer::Up(Upsample::load(t, &name, ch)?));
                    ds /= 2;
                }
                output_blocks.push(block);
            }
        }
        let ((mid_dim, mid_ctx), outputs) = c.depth_conditions();
        let output_conditions = outputs
            .iter()
            .enumerate()
            .map(|(i, &(dim, ctx))| DepthTransformer::load(t, &p(&format!("output_conditions.{i}")), dim, ctx))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            time_w0: t.get(&p("time_embed.0.weight"), [emb, mc])?,
            time_b0: t.get(&p("time_embed.0.bias"), [emb])?,
            time_w2: t.get(&p("time_embed.2.weight"), [emb, emb])?,
            time_b2: t.get(&p("time_embed.2.bias"), [emb])?,
            input_blocks,
            middle_block,
            output_blocks,
            middle_condition: DepthTransformer::load(t, &p("middle_conditions"), mid_dim, mid_ctx)?,
            output_conditions,
            out_norm: unet_norm(t, &p("out.0"), mc)?,
            out_conv: Conv2d::load(t, &p("out.2"), mc, c.out_channels, 3)?,
            config,
        })
    }

    pub fn config(&self) -> &UNetConfig {
        &self.config
    }

    /// x [N, 8, 32, 32] (noisy latent | input latent), timesteps (N of them), context [N, 1, context_dim],
    /// frustum features of the N target views → ε [N, 4, 32, 32].
    pub fn forward(&self, x: Tensor<4>, timesteps: &[i64], context: &Tensor<3>, volume: &FrustumFeatures) -> Tensor<4> {
        let sinusoidal = timestep_embedding(timesteps, self.config.model_channels, &x.device());
        let emb =
            linear(silu(linear(sinusoidal, &self.time_w0, Some(&self.time_b0))), &self.time_w2, Some(&self.time_b2));
        let mut skips = Vec::with_capacity(self.input_blocks.len());
        let mut h = x;
        for block in &self.input_blocks {
            h = run(block, h, &emb, context);
            skips.push(h.clone());
        }
        h = run(&self.middle_block, h, &emb, context);
        let width = |h: &Tensor<4>| h.dims()[3];
        h = self.middle_condition.forward(h.clone(), volume.for_width(width(&h)));
        for (k, block) in self.output_blocks.iter().enumerate() {
            let skip = skips.pop().expect("one skip per output block");
            h = run(block, Tensor::cat(vec![h, skip], 1), &emb, context);
            if k >= FIRST_CONDITIONED_OUTPUT {
                h = self.output_conditions[k - FIRST_CONDITIONED_OUTPUT]
                    .forward(h.clone(), volume.for_width(width(&h)));
            }
        }
        self.out_conv.forward(silu(self.out_norm.forward(h)))
    }
}
