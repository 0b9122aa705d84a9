//! `SpatialTime3DNet`: the 3-D U-Net over the unprojected view features that makes SyncDreamer's
//! 32³ spatial feature volume (the one Efficient4D averages over frames at every step). Skips add the
//! encoder's features.

use super::volume_block::{Conv3d, Resample, VolumeBlock, as_volume};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;

pub(crate) const PREFIX: &str = "spatial_volume.spatial_volume_feats.";

pub struct SpatialTime3DNet {
    init_conv: Conv3d,
    /// conv0, conv1, conv2_0, conv2_1, conv3, conv4_0, conv4_1, conv5, conv6_0, conv6_1, conv7, conv8, conv9.
    blocks: Vec<VolumeBlock>,
}

impl SpatialTime3DNet {
    /// `input_dim`: views × target-encoder channels (256); `dims`: (64, 128, 256, 512) in SyncDreamer.
    pub fn load(t: &TensorTable, time_dim: usize, input_dim: usize, dims: [usize; 4]) -> Result<Self, WeightsError> {
        let [d0, d1, d2, d3] = dims;
        let (keep, down, up) = (Resample::Down(1), Resample::Down(2), Resample::Up);
        let spec: [(&str, usize, usize, Resample); 13] = [
            ("conv0", d0, d0, keep),
            ("conv1", d0, d1, down),
            ("conv2_0", d1, d1, keep),
            ("conv2_1", d1, d1, keep),
            ("conv3", d1, d2, down),
            ("conv4_0", d2, d2, keep),
            ("conv4_1", d2, d2, keep),
            ("conv5", d2, d3, down),
            ("conv6_0", d3, d3, keep),
            ("conv6_1", d3, d3, keep),
            ("conv7", d3, d2, up),
            ("conv8", d2, d1, up),
            ("conv9", d1, d0, up),
        ];
        let blocks = spec
            .iter()
            .map(|&(name, cin, cout, r)| {
                VolumeBlock::load(t, &format!("{PREFIX}{name}"), (cin, cout), time_dim, None, r)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { init_conv: Conv3d::load(t, &format!("{PREFIX}init_conv"), input_dim, d0)?, blocks })
    }

    /// Unprojected features [B, views·C, 32, 32, 32] and time embeddings [B, time_dim] → [B, d0, 32, 32, 32].
    pub fn forward(&self, x: Tensor<5>, time: Tensor<2>) -> Tensor<5> {
        let t = as_volume(time);
        let run = |i: usize, x: Tensor<5>| self.blocks[i].forward(x, &t, None);
        let conv0 = run(0, self.init_conv.forward(x));
        let conv2 = run(3, run(2, run(1, conv0.clone())));
        let conv4 = run(6, run(5, run(4, conv2.clone())));
        let x = run(9, run(8, run(7, conv4.clone())));
        let x = conv4 + run(10, x);
        let x = conv2 + run(11, x);
        conv0 + run(12, x)
    }
}
