//! What conditions SyncDreamer besides the images: the diffusion time (sinusoidal embedding, then
//! SyncDreamer's own MLP for the volume networks), each target view's viewpoint relative to the
//! input view, and the one cross-attention token `cc_projection([CLIP | viewpoint])`.

use super::layers::{linear, silu};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::{Device, Tensor, TensorData};

/// `[cos(t·f) | sin(t·f)]`, `f_i = exp(−ln(10000)·i/half)`, in float32 as the reference computes it
/// (a float64 version is already 7e-6 off at t = 481).
pub(crate) fn timestep_embedding(timesteps: &[i64], dim: usize, device: &Device) -> Tensor<2> {
    let half = dim / 2;
    let scale = -(10000f64.ln() as f32);
    let freqs: Vec<f32> = (0..half).map(|i| (scale * i as f32 / half as f32).exp()).collect();
    let mut out = Vec::with_capacity(timesteps.len() * dim);
    for &t in timesteps {
        let args: Vec<f32> = freqs.iter().map(|f| t as f32 * f).collect();
        out.extend(args.iter().map(|a| a.cos()));
        out.extend(args.iter().map(|a| a.sin()));
        if dim % 2 == 1 {
            out.push(0.0);
        }
    }
    Tensor::<2>::from_data(TensorData::new(out, [timesteps.len(), dim]), device)
}

/// SyncDreamer's `time_embed`: Linear → SiLU → Linear over the sinusoidal embedding.
pub struct TimeEmbed {
    dim: usize,
    w0: Tensor<2>,
    b0: Tensor<1>,
    w2: Tensor<2>,
    b2: Tensor<1>,
}

impl TimeEmbed {
    pub fn load(t: &TensorTable, dim: usize) -> Result<Self, WeightsError> {
        Ok(Self {
            dim,
            w0: t.get("time_embed.0.weight", [dim, dim])?,
            b0: t.get("time_embed.0.bias", [dim])?,
            w2: t.get("time_embed.2.weight", [dim, dim])?,
            b2: t.get("time_embed.2.bias", [dim])?,
        })
    }

    /// The sinusoidal embedding of `timesteps` and the MLP's output, both [N, dim].
    pub fn forward(&self, timesteps: &[i64], device: &Device) -> (Tensor<2>, Tensor<2>) {
        let sinusoidal = timestep_embedding(timesteps, self.dim, device);
        let hidden = silu(linear(sinusoidal.clone(), &self.w0, Some(&self.b0)));
        (sinusoidal, linear(hidden, &self.w2, Some(&self.b2)))
    }
}

/// Per target view: `[−30° + elevation_in, sin(az_i − az_0), cos(az_i − az_0), 0]` (radians), for
/// each input elevation → [B, views, 4]. `azimuths` is the checkpoint's `azimuth` buffer.
pub fn viewpoint_embedding(input_elevations: &[f32], azimuths: &[f32], device: &Device) -> Tensor<3> {
    let d_elev_base = (-30.0f32).to_radians();
    let mut out = Vec::new();
    for &elev in input_elevations {
        for &az in azimuths {
            let d_az = az - azimuths[0];
            out.extend([d_elev_base + elev, d_az.sin(), d_az.cos(), 0.0]);
        }
    }
    Tensor::<3>::from_data(TensorData::new(out, [input_elevations.len(), azimuths.len(), 4]), device)
}

/// `cc_projection`: Linear(clip_dim + 4 → context_dim) over [CLIP embedding | viewpoint].
pub struct ContextProjection {
    weight: Tensor<2>,
    bias: Tensor<1>,
}

impl ContextProjection {
    pub fn load(t: &TensorTable, clip_dim: usize, context_dim: usize) -> Result<Self, WeightsError> {
        Ok(Self {
            weight: t.get("cc_projection.weight", [context_dim, clip_dim + 4])?,
            bias: t.get("cc_projection.bias", [context_dim])?,
        })
    }

    /// `clip` [B, 1, clip_dim] and `viewpoints` [B, V, 4] → one context token per view [B·V, 1, context_dim].
    pub fn forward(&self, clip: Tensor<3>, viewpoints: Tensor<3>) -> Tensor<3> {
        let [b, v, _] = viewpoints.dims();
        let clip_dim = clip.dims()[2];
        let joined = Tensor::cat(vec![clip.expand([b, v, clip_dim]), viewpoints], 2);
        let projected = linear(joined, &self.weight, Some(&self.bias));
        let d = projected.dims()[2];
        projected.reshape([b * v, 1, d])
    }
}
