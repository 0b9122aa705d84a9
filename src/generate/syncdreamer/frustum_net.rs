//! `FrustumTV3DNet`: the 3-D U-Net over each target view's frustum volume, conditioned on time and
//! viewpoint. Its four outputs, keyed by width (32, 16, 8, 4), are the contexts of the UNet's
//! depth-wise attention layers.

use super::volume_block::{Conv3d, Resample, VolumeBlock, as_volume};
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::Tensor;

pub(crate) const PREFIX: &str = "spatial_volume.frustum_volume_feats.";

/// The frustum features at the four widths: full, ½, ¼ and ⅛ of the frustum's size (depth too).
#[derive(Clone, Debug)]
pub struct FrustumFeatures {
    /// Finest first: [N, d0, 48, 32, 32], [N, d1, 24, 16, 16], [N, d2, 12, 8, 8], [N, d3, 6, 4, 4].
    pub levels: [Tensor<5>; 4],
}

impl FrustumFeatures {
    /// The features whose width matches a feature map of width `w` (the reference's `source_dict[w]`).
    pub fn for_width(&self, w: usize) -> &Tensor<5> {
        self.levels.iter().find(|l| l.dims()[4] == w).unwrap_or_else(|| panic!("no frustum features of width {w}"))
    }

    /// The features stacked once per entry of `keep`, zeroed where it is false: how guidance branches
    /// keep or drop the volume condition.
    pub(crate) fn stacked(&self, keep: &[bool]) -> Self {
        Self {
            levels: self.levels.clone().map(|l| {
                let parts = keep.iter().map(|&k| if k { l.clone() } else { l.zeros_like() }).collect();
                Tensor::cat(parts, 0)
            }),
        }
    }
}

pub struct FrustumTV3DNet {
    conv0: Conv3d,
    /// conv1..conv6 (down path), then up0, up1, up2.
    blocks: Vec<VolumeBlock>,
}

impl FrustumTV3DNet {
    /// `in_dim`: the spatial volume's channels (64); `dims`: (64, 128, 256, 512) in SyncDreamer.
    pub fn load(
        t: &TensorTable,
        in_dim: usize,
        time_dim: usize,
        view_dim: usize,
        dims: [usize; 4],
    ) -> Result<Self, WeightsError> {
        let [d0, d1, d2, d3] = dims;
        let (keep, down, up) = (Resample::Down(1), Resample::Down(2), Resample::Up);
        let spec: [(&str, usize, usize, Resample); 9] = [
            ("conv1", d0, d1, down),
            ("conv2", d1, d1, keep),
            ("conv3", d1, d2, down),
            ("conv4", d2, d2, keep),
            ("conv5", d2, d3, down),
            ("conv6", d3, d3, keep),
            ("up0", d3, d2, up),
            ("up1", d2, d1, up),
            ("up2", d1, d0, up),
        ];
        let blocks = spec
            .iter()
            .map(|&(name, cin, cout, r)| {
                VolumeBlock::load(t, &format!("{PREFIX}{name}"), (cin, cout), time_dim, Some(view_dim), r)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { conv0: Conv3d::load(t, &format!("{PREFIX}conv0"), in_dim, d0)?, blocks })
    }

    /// Frustum volumes [N, in_dim, D, H, W], time [N, time_dim], viewpoints [N, view_dim].
    pub fn forward(&self, x: Tensor<5>, time: Tensor<2>, view: Tensor<2>) -> FrustumFeatures {
        let (t, v) = (as_volume(time), as_volume(view));
        let run = |i: usize, x: Tensor<5>| self.blocks[i].forward(x, &t, Some(&v));
        let x0 = self.conv0.forward(x);
        let x1 = run(1, run(0, x0.clone()));
        let x2 = run(3, run(2, x1.clone()));
        let x3 = run(5, run(4, x2.clone()));
        let x2 = run(6, x3.clone()) + x2;
        let x1 = run(7, x2.clone()) + x1;
        let x0 = run(8, x1.clone()) + x0;
        FrustumFeatures { levels: [x0, x1, x2, x3] }
    }
}
