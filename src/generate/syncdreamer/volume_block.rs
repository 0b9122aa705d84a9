//! The block both of SyncDreamer's 3-D U-Nets are built from: add 1×1×1 projections of the time
//! embedding (and, in the frustum net, of the viewpoint), then GroupNorm(8) → SiLU → a 3³ convolution,
//! strided to go down or transposed (×2) to come back up.

use super::layers::{GroupNorm, as_f32, as_weight_dtype, bias_like, silu};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;
use burn::tensor::module::{conv_transpose3d, conv3d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

/// Which way the block's convolution goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resample {
    /// A 3³ convolution with this stride (1 keeps the size, 2 halves it).
    Down(usize),
    /// A 3³ transposed convolution, stride 2, output padding 1: doubles the size.
    Up,
}

/// A 1×1×1 convolution of a per-sample embedding [B, dim, 1, 1, 1] to [B, channels, 1, 1, 1].
struct EmbeddingProjection {
    weight: Tensor<5>,
    bias: Tensor<1>,
}

impl EmbeddingProjection {
    fn load(t: &TensorTable, name: &str, dim: usize, channels: usize) -> Result<Self, WeightsError> {
        Ok(Self {
            weight: t.get(&format!("{name}.weight"), [channels, dim, 1, 1, 1])?,
            bias: t.get(&format!("{name}.bias"), [channels])?,
        })
    }

    fn forward(&self, e: Tensor<5>) -> Tensor<5> {
        let (e, bias) = (as_weight_dtype(e, &self.weight), bias_like(Some(&self.bias), &self.weight));
        as_f32(conv3d(e, self.weight.clone(), bias, ConvOptions::new([1; 3], [0; 3], [1; 3], 1)))
    }
}

pub struct VolumeBlock {
    time: EmbeddingProjection,
    view: Option<EmbeddingProjection>,
    norm: GroupNorm,
    weight: Tensor<5>,
    bias: Tensor<1>,
    resample: Resample,
}

impl VolumeBlock {
    /// Loads `{name}.t_conv`, `{name}.v_conv` (when `view_dim` is given), the norm (`bn` going down,
    /// `norm` going up, as the reference names them) and `{name}.conv`.
    pub fn load(
        t: &TensorTable,
        name: &str,
        (cin, cout): (usize, usize),
        time_dim: usize,
        view_dim: Option<usize>,
        resample: Resample,
    ) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{name}.{s}");
        let (norm_name, weight_shape) = match resample {
            Resample::Down(_) => ("bn", [cout, cin, 3, 3, 3]),
            Resample::Up => ("norm", [cin, cout, 3, 3, 3]),
        };
        Ok(Self {
            time: EmbeddingProjection::load(t, &p("t_conv"), time_dim, cin)?,
            view: view_dim.map(|d| EmbeddingProjection::load(t, &p("v_conv"), d, cin)).transpose()?,
            norm: GroupNorm::load(t, &p(norm_name), cin, 8, 1e-5)?,
            weight: t.get(&p("conv.weight"), weight_shape)?,
            bias: t.get(&p("conv.bias"), [cout])?,
            resample,
        })
    }

    /// x [B, C, D, H, W]; time [B, time_dim, 1, 1, 1]; view [B, view_dim, 1, 1, 1] when the block has one.
    pub fn forward(&self, x: Tensor<5>, time: &Tensor<5>, view: Option<&Tensor<5>>) -> Tensor<5> {
        let mut x = x + self.time.forward(time.clone());
        if let (Some(projection), Some(v)) = (&self.view, view) {
            x = x + projection.forward(v.clone());
        }
        let h = as_weight_dtype(silu(self.norm.forward(x)), &self.weight);
        let (weight, bias) = (self.weight.clone(), bias_like(Some(&self.bias), &self.weight));
        as_f32(match self.resample {
            Resample::Down(stride) => conv3d(h, weight, bias, ConvOptions::new([stride; 3], [1; 3], [1; 3], 1)),
            Resample::Up => {
                conv_transpose3d(h, weight, bias, ConvTransposeOptions::new([2; 3], [1; 3], [1; 3], [1; 3], 1))
            }
        })
    }
}

/// A [B, dim] embedding as [B, dim, 1, 1, 1], to broadcast over a volume.
pub fn as_volume(e: Tensor<2>) -> Tensor<5> {
    let [b, d] = e.dims();
    e.reshape([b, d, 1, 1, 1])
}

/// A plain 3³ convolution (stride 1, padding 1) with bias: the nets' first layer.
pub struct Conv3d {
    weight: Tensor<5>,
    bias: Tensor<1>,
}

impl Conv3d {
    pub fn load(t: &TensorTable, name: &str, cin: usize, cout: usize) -> Result<Self, WeightsError> {
        Ok(Self {
            weight: t.get(&format!("{name}.weight"), [cout, cin, 3, 3, 3])?,
            bias: t.get(&format!("{name}.bias"), [cout])?,
        })
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let (x, bias) = (as_weight_dtype(x, &self.weight), bias_like(Some(&self.bias), &self.weight));
        as_f32(conv3d(x, self.weight.clone(), bias, ConvOptions::new([1; 3], [1; 3], [1; 3], 1)))
    }
}
