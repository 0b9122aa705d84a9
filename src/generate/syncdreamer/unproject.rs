//! Lifting per-view 2-D features into SyncDreamer's 32³ spatial volume: every voxel centre of the cube
//! [−0.5, 0.5]³ (memory order [C, z, y, x]) is projected into each view with
//! P = diag(32/256, 32/256, 1)·K·[R|t] (OpenCV world-to-camera, the checkpoint's `poses` and `Ks`), and
//! the view's feature map is sampled there (bilinear, zeros outside, corners aligned).

use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Device, Tensor, TensorData};

/// One view's camera as stored in the checkpoint: row-major 3×4 world-to-camera and 3×3 intrinsics.
#[derive(Clone, Copy, Debug)]
pub struct ViewCamera {
    pub w2c: [[f32; 4]; 3],
    pub k: [[f32; 3]; 3],
}

impl ViewCamera {
    /// The 16 views from the `poses` [16, 3, 4] and `Ks` [16, 3, 3] buffers' values.
    pub fn from_buffers(poses: &[f32], ks: &[f32]) -> Vec<Self> {
        poses
            .chunks_exact(12)
            .zip(ks.chunks_exact(9))
            .map(|(p, k)| ViewCamera {
                w2c: [[p[0], p[1], p[2], p[3]], [p[4], p[5], p[6], p[7]], [p[8], p[9], p[10], p[11]]],
                k: [[k[0], k[1], k[2]], [k[3], k[4], k[5]], [k[6], k[7], k[8]]],
            })
            .collect()
    }

    /// P = diag(s, s, 1)·K·[R|t] with s = feature size / image size.
    pub fn projection(&self, scale: f32) -> [[f32; 4]; 3] {
        let mut p = [[0.0f32; 4]; 3];
        for (r, row) in p.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = (0..3).map(|m| self.k[r][m] * self.w2c[m][c]).sum::<f32>() * if r < 2 { scale } else { 1.0 };
            }
        }
        p
    }
}

/// Axis coordinates of the volume: `linspace(−length, length, size)`.
fn axis(size: usize, length: f32) -> Vec<f32> {
    (0..size).map(|i| -length + 2.0 * length * i as f32 / (size - 1) as f32).collect()
}

/// The grid_sample grid of one view, [size (z), size (y), size (x), 2 (u, v)] in [−1, 1] of a
/// `feature_size`² map, for a volume of `size`³ over [−length, length]³ seen in `image_size` px images.
pub fn unprojection_grid(
    camera: &ViewCamera,
    size: usize,
    length: f32,
    image_size: usize,
    feature_size: usize,
) -> Vec<f32> {
    let p = camera.projection(feature_size as f32 / image_size as f32);
    let coords = axis(size, length);
    let half = (feature_size - 1) as f32 / 2.0;
    let mut grid = Vec::with_capacity(size * size * size * 2);
    for &z in &coords {
        for &y in &coords {
            for &x in &coords {
                let proj = |r: usize| p[r][0] * x + p[r][1] * y + p[r][2] * z + p[r][3];
                let depth = proj(2).max(1e-4);
                grid.push(proj(0) / depth / half - 1.0);
                grid.push(proj(1) / depth / half - 1.0);
            }
        }
    }
    grid
}

/// Samples each view's features [V, C, h, w] into the volume: [V, C, size, size, size].
pub fn unproject(
    features: Tensor<4>,
    cameras: &[ViewCamera],
    size: usize,
    length: f32,
    image_size: usize,
) -> Tensor<5> {
    let [v, c, h, _] = features.dims();
    let device: Device = features.device();
    let grids: Vec<f32> =
        cameras.iter().take(v).flat_map(|cam| unprojection_grid(cam, size, length, image_size, h)).collect();
    // grid_sample_2d over a [size·size, size] "image" of sample points per view.
    let grid = Tensor::<4>::from_data(TensorData::new(grids, [v, size * size, size, 2]), &device);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Zeros)
        .with_align_corners(true);
    features.grid_sample_2d(grid, options).reshape([v, c, size, size, size])
}

/// The checkpoint's rig buffers (`poses` [V, 3, 4], `Ks` [V, 3, 3], `azimuth` [V] wrapped to
/// [−π, π)) computed from our own rig description: random-weight models need them, and comparing
/// them with a real checkpoint's checks that the rig is SyncDreamer's.
pub fn rig_buffers(
    rig: &crate::camera::rig::SyncDreamerRig,
) -> std::collections::HashMap<String, crate::weights::NamedTensor> {
    use crate::weights::NamedTensor;
    let cameras = rig.cameras();
    let views = cameras.len();
    let mut poses = Vec::with_capacity(views * 12);
    let mut ks = Vec::with_capacity(views * 9);
    for camera in &cameras {
        let m = camera.world_to_camera;
        for r in 0..3 {
            poses.extend((0..4).map(|c| m.col(c)[r] as f32));
        }
        let k = camera.intrinsics;
        ks.extend([k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0].map(|v| v as f32));
    }
    let azimuth = (0..views as u32)
        .map(|v| {
            let a = rig.azimuth_deg(v).to_radians();
            ((a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI) as f32
        })
        .collect();
    [
        ("poses", NamedTensor { shape: vec![views, 3, 4], values: poses }),
        ("Ks", NamedTensor { shape: vec![views, 3, 3], values: ks }),
        ("azimuth", NamedTensor { shape: vec![views], values: azimuth }),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
