//! `SpatialTime3DNet`: the 3-D U-Net over the unprojected view features that makes SyncDreamer's
//! 32³ spatial feature volume (the one Efficient4D averages over frames at every step). Each block
//! adds a 1×1×1 projection of the time embedding, then GroupNorm(8) → SiLU → 3³ convolution (strided to
//! go down, transposed to come back up); skips add the encoder's features.

use super::layers::{GroupNorm, silu};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;
use burn::tensor::module::{conv_transpose3d, conv3d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

pub const PREFIX: &str = "spatial_volume.spatial_volume_feats.";

struct TimeBlock {
    t_weight: Tensor<5>,
    t_bias: Tensor<1>,
    norm: GroupNorm,
    weight: Tensor<5>,
    bias: Tensor<1>,
    stride: usize,
    /// Transposed (×2 up) instead of a plain convolution.
    up: bool,
}

impl TimeBlock {
    fn load(
        t: &TensorTable,
        name: &str,
        cin: usize,
        tdim: usize,
        cout: usize,
        stride: usize,
        up: bool,
    ) -> Result<Self, WeightsError> {
        let p = |s: &str| format!("{PREFIX}{name}.{s}");
        let norm_name = if up { "norm" } else { "bn" };
        let weight_shape = if up { [cin, cout, 3, 3, 3] } else { [cout, cin, 3, 3, 3] };
        Ok(Self {
            t_weight: t.get(&p("t_conv.weight"), [cin, tdim, 1, 1, 1])?,
            t_bias: t.get(&p("t_conv.bias"), [cin])?,
            norm: GroupNorm::load(t, &p(norm_name), cin, 8, 1e-5)?,
            weight: t.get(&p("conv.weight"), weight_shape)?,
            bias: t.get(&p("conv.bias"), [cout])?,
            stride,
            up,
        })
    }

    /// x [B, C, D, H, W]; t [B, tdim, 1, 1, 1].
    fn forward(&self, x: Tensor<5>, t: Tensor<5>) -> Tensor<5> {
        let t =
            conv3d(t, self.t_weight.clone(), Some(self.t_bias.clone()), ConvOptions::new([1; 3], [0; 3], [1; 3], 1));
        let h = silu(self.norm.forward(x + t));
        if self.up {
            let options = ConvTransposeOptions::new([2; 3], [1; 3], [1; 3], [1; 3], 1);
            conv_transpose3d(h, self.weight.clone(), Some(self.bias.clone()), options)
        } else {
            let options = ConvOptions::new([self.stride; 3], [1; 3], [1; 3], 1);
            conv3d(h, self.weight.clone(), Some(self.bias.clone()), options)
        }
    }
}

pub struct SpatialTime3DNet {
    init_weight: Tensor<5>,
    init_bias: Tensor<1>,
    /// conv0, conv1, conv2_0, conv2_1, conv3, conv4_0, conv4_1, conv5, conv6_0, conv6_1, conv7, conv8, conv9.
    blocks: Vec<TimeBlock>,
}

impl SpatialTime3DNet {
    /// `input_dim`: views × target-encoder channels (256); `dims`: (64, 128, 256, 512) in SyncDreamer.
    pub fn load(t: &TensorTable, time_dim: usize, input_dim: usize, dims: [usize; 4]) -> Result<Self, WeightsError> {
        let [d0, d1, d2, d3] = dims;
        let spec: [(&str, usize, usize, usize, bool); 13] = [
            ("conv0", d0, d0, 1, false),
            ("conv1", d0, d1, 2, false),
            ("conv2_0", d1, d1, 1, false),
            ("conv2_1", d1, d1, 1, false),
            ("conv3", d1, d2, 2, false),
            ("conv4_0", d2, d2, 1, false),
            ("conv4_1", d2, d2, 1, false),
            ("conv5", d2, d3, 2, false),
            ("conv6_0", d3, d3, 1, false),
            ("conv6_1", d3, d3, 1, false),
            ("conv7", d3, d2, 2, true),
            ("conv8", d2, d1, 2, true),
            ("conv9", d1, d0, 2, true),
        ];
        let blocks = spec
            .iter()
            .map(|&(name, cin, cout, stride, up)| TimeBlock::load(t, name, cin, time_dim, cout, stride, up))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            init_weight: t.get(&format!("{PREFIX}init_conv.weight"), [d0, input_dim, 3, 3, 3])?,
            init_bias: t.get(&format!("{PREFIX}init_conv.bias"), [d0])?,
            blocks,
        })
    }

    /// Unprojected features [B, views·C, 32, 32, 32] and time embeddings [B, time_dim] → [B, d0, 32, 32, 32].
    pub fn forward(&self, x: Tensor<5>, time: Tensor<2>) -> Tensor<5> {
        let [b, td] = time.dims();
        let t = time.reshape([b, td, 1, 1, 1]);
        let options = ConvOptions::new([1; 3], [1; 3], [1; 3], 1);
        let x = conv3d(x, self.init_weight.clone(), Some(self.init_bias.clone()), options);
        let run = |i: usize, x: Tensor<5>| self.blocks[i].forward(x, t.clone());
        let conv0 = run(0, x);
        let conv2 = run(3, run(2, run(1, conv0.clone())));
        let conv4 = run(6, run(5, run(4, conv2.clone())));
        let x = run(9, run(8, run(7, conv4.clone())));
        let x = conv4 + run(10, x);
        let x = conv2 + run(11, x);
        conv0 + run(12, x)
    }
}
