//! The Stable Diffusion KL-f8 autoencoder (`first_stage_model`): 256² images ↔ 4×32×32 latents.
//! ResNet blocks with GroupNorm(32, eps 1e-6) and SiLU, one self-attention block in the middle,
//! strided-conv downsampling (padded right/bottom), nearest ×2 upsampling + conv. Latents outside
//! are in the sampler's scaled space (× 0.18215).

use super::config::VaeConfig;
use super::layers::{Conv2d, GroupNorm, silu};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

pub(crate) const PREFIX: &str = "first_stage_model.";
/// Latents the sampler sees are the VAE's times this.
pub(crate) const SCALE_FACTOR: f32 = 0.18215;
const GROUPS: usize = 32;
const EPS: f64 = 1e-6;

/// A GroupNorm with this network's groups and eps.
fn norm(t: &TensorTable, name: &str, c: usize) -> Result<GroupNorm, WeightsError> {
    GroupNorm::load(t, name, c, GROUPS, EPS)
}

struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

impl ResnetBlock {
    fn load(t: &TensorTable, name: &str, cin: usize, cout: usize) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{name}.{s}");
        Ok(Self {
            norm1: norm(t, &p("norm1"), cin)?,
            conv1: Conv2d::load(t, &p("conv1"), cin, cout, 3)?,
            norm2: norm(t, &p("norm2"), cout)?,
            conv2: Conv2d::load(t, &p("conv2"), cout, cout, 3)?,
            shortcut: if cin != cout { Some(Conv2d::load(t, &p("nin_shortcut"), cin, cout, 1)?) } else { None },
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = self.conv1.forward(silu(self.norm1.forward(x.clone())));
        let h = self.conv2.forward(silu(self.norm2.forward(h)));
        match &self.shortcut {
            Some(s) => s.forward(x) + h,
            None => x + h,
        }
    }
}

/// Single-head self-attention over the pixels, with a residual.
struct AttnBlock {
    norm: GroupNorm,
    q: Conv2d,
    k: Conv2d,
    v: Conv2d,
    proj_out: Conv2d,
}

impl AttnBlock {
    fn load(t: &TensorTable, name: &str, c: usize) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{name}.{s}");
        Ok(Self {
            norm: norm(t, &p("norm"), c)?,
            q: Conv2d::load(t, &p("q"), c, c, 1)?,
            k: Conv2d::load(t, &p("k"), c, c, 1)?,
            v: Conv2d::load(t, &p("v"), c, c, 1)?,
            proj_out: Conv2d::load(t, &p("proj_out"), c, c, 1)?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let normed = self.norm.forward(x.clone());
        let flat = |t: Tensor<4>| t.reshape([n, c, h * w]);
        let q = flat(self.q.forward(normed.clone())).swap_dims(1, 2); // [n, hw, c]
        let k = flat(self.k.forward(normed.clone())); // [n, c, hw]
        let v = flat(self.v.forward(normed));
        let weights = softmax(q.matmul(k) / (c as f64).sqrt(), 2); // [n, hw(query), hw(key)]
        let out = v.matmul(weights.swap_dims(1, 2)).reshape([n, c, h, w]);
        x + self.proj_out.forward(out)
    }
}

struct Mid {
    block_1: ResnetBlock,
    attn_1: AttnBlock,
    block_2: ResnetBlock,
}

impl Mid {
    fn load(t: &TensorTable, name: &str, c: usize) -> Result<Self, WeightsError> {
        Ok(Self {
            block_1: ResnetBlock::load(t, &format!("{name}.block_1"), c, c)?,
            attn_1: AttnBlock::load(t, &format!("{name}.attn_1"), c)?,
            block_2: ResnetBlock::load(t, &format!("{name}.block_2"), c, c)?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.block_2.forward(self.attn_1.forward(self.block_1.forward(x)))
    }
}

struct Level {
    blocks: Vec<ResnetBlock>,
    /// Downsample (encoder) or upsample (decoder) conv, absent on the last/first level.
    resample: Option<Conv2d>,
}

/// The autoencoder with its weights on a device.
pub struct Vae {
    enc_conv_in: Conv2d,
    enc_levels: Vec<Level>,
    enc_mid: Mid,
    enc_norm_out: GroupNorm,
    enc_conv_out: Conv2d,
    quant_conv: Conv2d,
    post_quant_conv: Conv2d,
    dec_conv_in: Conv2d,
    dec_mid: Mid,
    /// Decoder levels in the order they run (deepest first), as `up.{L-1} … up.0`.
    dec_levels: Vec<Level>,
    dec_norm_out: GroupNorm,
    dec_conv_out: Conv2d,
}

/// The encoder's posterior and its pieces (for checks).
pub struct Posterior {
    /// quant_conv output: [mean | logvar], [N, 8, 32, 32].
    pub moments: Tensor<4>,
    pub mean: Tensor<4>,
    /// logvar clamped to [−30, 20].
    pub logvar: Tensor<4>,
    pub std: Tensor<4>,
}

impl Posterior {
    /// mean + std·noise, scaled into the sampler's space (Efficient4D encodes the input view with
    /// `sample=True`, not the mode).
    pub fn sample_scaled(&self, noise: Tensor<4>) -> Tensor<4> {
        (self.mean.clone() + self.std.clone() * noise) * SCALE_FACTOR
    }
}

impl Vae {
    pub fn load(t: &TensorTable, config: VaeConfig) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{PREFIX}{s}");
        let (ch, mult, nrb, z) = (config.ch, &config.ch_mult, config.num_res_blocks, config.z_channels);
        let levels = mult.len();
        let mut enc_levels = Vec::new();
        let mut block_in = ch;
        for (i, &m) in mult.iter().enumerate() {
            let block_out = ch * m;
            let mut blocks = Vec::new();
            for b in 0..nrb {
                let cin = if b == 0 { block_in } else { block_out };
                blocks.push(ResnetBlock::load(t, &p(&format!("encoder.down.{i}.block.{b}")), cin, block_out)?);
            }
            block_in = block_out;
            let resample = if i + 1 < levels {
                Some(Conv2d::load(t, &p(&format!("encoder.down.{i}.downsample.conv")), block_in, block_in, 3)?)
            } else {
                None
            };
            enc_levels.push(Level { blocks, resample });
        }
        let top = ch * mult[levels - 1];
        let mut dec_levels = Vec::new();
        let mut block_in_dec = top;
        for i in (0..levels).rev() {
            let block_out = ch * mult[i];
            let mut blocks = Vec::new();
            for b in 0..=nrb {
                let cin = if b == 0 { block_in_dec } else { block_out };
                blocks.push(ResnetBlock::load(t, &p(&format!("decoder.up.{i}.block.{b}")), cin, block_out)?);
            }
            block_in_dec = block_out;
            let resample = if i > 0 {
                Some(Conv2d::load(t, &p(&format!("decoder.up.{i}.upsample.conv")), block_out, block_out, 3)?)
            } else {
                None
            };
            dec_levels.push(Level { blocks, resample });
        }
        Ok(Self {
            enc_conv_in: Conv2d::load(t, &p("encoder.conv_in"), config.in_channels, ch, 3)?,
            enc_levels,
            enc_mid: Mid::load(t, &p("encoder.mid"), top)?,
            enc_norm_out: norm(t, &p("encoder.norm_out"), top)?,
            enc_conv_out: Conv2d::load(t, &p("encoder.conv_out"), top, 2 * z, 3)?,
            quant_conv: Conv2d::load(t, &p("quant_conv"), 2 * z, 2 * config.embed_dim, 1)?,
            post_quant_conv: Conv2d::load(t, &p("post_quant_conv"), config.embed_dim, z, 1)?,
            dec_conv_in: Conv2d::load(t, &p("decoder.conv_in"), z, top, 3)?,
            dec_mid: Mid::load(t, &p("decoder.mid"), top)?,
            dec_levels,
            dec_norm_out: norm(t, &p("decoder.norm_out"), ch * mult[0])?,
            dec_conv_out: Conv2d::load(t, &p("decoder.conv_out"), ch * mult[0], config.out_channels, 3)?,
        })
    }

    /// Images in [-1, 1], [N, 3, 256, 256] → the posterior over [N, 4, 32, 32] latents.
    pub fn encode(&self, x: Tensor<4>) -> Posterior {
        let mut h = self.enc_conv_in.forward(x);
        for level in &self.enc_levels {
            for b in &level.blocks {
                h = b.forward(h);
            }
            if let Some(down) = &level.resample {
                // Pad one zero column/row on the right/bottom, then a strided conv without padding.
                let [n, c, hh, ww] = h.dims();
                let padded =
                    Tensor::<4>::zeros([n, c, hh + 1, ww + 1], &h.device()).slice_assign([0..n, 0..c, 0..hh, 0..ww], h);
                h = down.forward_with(padded, 2, 0);
            }
        }
        h = self.enc_mid.forward(h);
        h = self.enc_conv_out.forward(silu(self.enc_norm_out.forward(h)));
        let moments = self.quant_conv.forward(h);
        let z = moments.dims()[1] / 2;
        let mean = moments.clone().narrow(1, 0, z);
        let logvar = moments.clone().narrow(1, z, z).clamp(-30.0, 20.0);
        let std = (logvar.clone() * 0.5).exp();
        Posterior { moments, mean, logvar, std }
    }

    /// Scaled latents [N, 4, 32, 32] → images [N, 3, 256, 256] (not clamped), and the
    /// post_quant_conv output.
    pub fn decode_trace(&self, latent_scaled: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let z = self.post_quant_conv.forward(latent_scaled / SCALE_FACTOR);
        let mut h = self.dec_mid.forward(self.dec_conv_in.forward(z.clone()));
        for level in &self.dec_levels {
            for b in &level.blocks {
                h = b.forward(h);
            }
            if let Some(up) = &level.resample {
                h = up.forward(upsample_nearest2(h));
            }
        }
        (self.dec_conv_out.forward(silu(self.dec_norm_out.forward(h))), z)
    }

    pub fn decode(&self, latent_scaled: Tensor<4>) -> Tensor<4> {
        self.decode_trace(latent_scaled).0
    }
}

/// Nearest-neighbour ×2 upsampling.
fn upsample_nearest2(x: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])
}
