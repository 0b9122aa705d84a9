//! Per-target-view frustum volumes: each view's 32×32 feature pixels are pushed out to 48 depths
//! around the object (`linspace(0, 1, 48)·2·0.86603 + 1.5 − 0.86603`), lifted to world space with the
//! inverse of the view's padded 4×4 projection P = diag(32/256, 32/256, 1)·K·[R|t], and the spatial
//! volume is sampled there trilinearly (zeros outside, corners aligned), giving [C, 48, 32, 32].

use super::unproject::ViewCamera;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// The frustum's layout: `size`² pixels × `depth` depths from `origin − half_length` to `origin + half_length`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrustumLayout {
    pub depth: usize,
    pub size: usize,
    pub image_size: usize,
    pub origin: f32,
    pub half_length: f32,
    /// Half the side of the spatial volume being sampled ([−length, length]³).
    pub volume_length: f32,
}

impl FrustumLayout {
    /// SyncDreamer's: 48 depths, 32² pixels of a 256² image, around 1.5 ± 0.86603, volume [−0.5, 0.5]³.
    pub const SYNCDREAMER: Self =
        Self { depth: 48, size: 32, image_size: 256, origin: 1.5, half_length: 0.86603, volume_length: 0.5 };

    /// The depths, computed in float32 as the reference does (near + t·(far − near)).
    pub fn depths(&self) -> Vec<f32> {
        let near = self.origin - self.half_length;
        let far = self.origin + self.half_length;
        (0..self.depth).map(|i| (i as f32 / (self.depth - 1) as f32) * (far - near) + near).collect()
    }

    /// World points of one view's frustum divided by `volume_length` (so the volume spans [−1, 1]),
    /// in [depth, y, x] order, each (x, y, z).
    pub fn normalized_points(&self, camera: &ViewCamera) -> Vec<[f32; 3]> {
        let p = camera.projection(self.size as f32 / self.image_size as f32);
        // The padded 4×4 [M t; 0 1] inverts to [M⁻¹ −M⁻¹t; 0 1]; applied as the reference does,
        // A·(d·x, d·y, d) + b in float32.
        let (a, b) = invert_projection(p);
        let depths = self.depths();
        let mut out = Vec::with_capacity(self.depth * self.size * self.size);
        for &d in &depths {
            for y in 0..self.size {
                for x in 0..self.size {
                    let ray = [d * x as f32, d * y as f32, d];
                    let world: [f32; 3] =
                        std::array::from_fn(|r| a[r][0] * ray[0] + a[r][1] * ray[1] + a[r][2] * ray[2] + b[r]);
                    out.push(world.map(|v| v / self.volume_length));
                }
            }
        }
        out
    }
}

/// The inverse of a 3×4 projection [M | t] as (M⁻¹, −M⁻¹·t), computed in f64 and rounded to f32.
fn invert_projection(p: [[f32; 4]; 3]) -> ([[f32; 3]; 3], [f32; 3]) {
    let m: [[f64; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|c| p[r][c] as f64));
    let cof = |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let adj = [
        [cof(1, 2, 1, 2), -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
        [-cof(1, 2, 0, 2), cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
        [cof(1, 2, 0, 1), -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
    ];
    let det = m[0][0] * adj[0][0] + m[0][1] * adj[1][0] + m[0][2] * adj[2][0];
    let inverse: [[f64; 3]; 3] = std::array::from_fn(|r| std::array::from_fn(|c| adj[r][c] / det));
    let offset = std::array::from_fn(|r| -(0..3).map(|c| inverse[r][c] * p[c][3] as f64).sum::<f64>() as f32);
    (inverse.map(|row| row.map(|v| v as f32)), offset)
}

/// Trilinear sampling of a cube volume at fixed points, precomputed as 8 (index, weight) gathers:
/// the geometry of the rig never changes, so it is worked out once on the host.
pub struct TrilinearSampler {
    points: usize,
    corners: Vec<(Tensor<1, Int>, Tensor<1>)>,
}

impl TrilinearSampler {
    /// Points in [−1, 1]³ (x, y, z) of a `size`³ volume stored [z, y, x]; `grid_sample` semantics with
    /// `align_corners = True` and zero padding: a corner outside the volume contributes nothing.
    pub fn new(points: &[[f32; 3]], size: usize, device: &Device) -> Self {
        let n = points.len();
        let mut index = vec![vec![0i64; n]; 8];
        let mut weight = vec![vec![0f32; n]; 8];
        let extent = (size - 1) as f32;
        for (i, p) in points.iter().enumerate() {
            let [ix, iy, iz] = p.map(|v| (v + 1.0) / 2.0 * extent);
            let (x0, y0, z0) = (ix.floor(), iy.floor(), iz.floor());
            let (fx, fy, fz) = (ix - x0, iy - y0, iz - z0);
            for corner in 0..8 {
                let (dx, dy, dz) = (corner & 1, (corner >> 1) & 1, (corner >> 2) & 1);
                let (cx, cy, cz) = (x0 + dx as f32, y0 + dy as f32, z0 + dz as f32);
                let inside = |c: f32| c >= 0.0 && c <= extent;
                if !(inside(cx) && inside(cy) && inside(cz) && ix.is_finite() && iy.is_finite() && iz.is_finite()) {
                    continue;
                }
                let w = |d: usize, f: f32| if d == 1 { f } else { 1.0 - f };
                weight[corner][i] = w(dx, fx) * w(dy, fy) * w(dz, fz);
                index[corner][i] = ((cz as usize * size + cy as usize) * size + cx as usize) as i64;
            }
        }
        let corners = index
            .into_iter()
            .zip(weight)
            .map(|(idx, w)| {
                (
                    Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), device),
                    Tensor::<1>::from_data(TensorData::new(w, [n]), device),
                )
            })
            .collect();
        Self { points: n, corners }
    }

    /// Samples `volume` [C, size³] (flattened) at points `start..start + count` → [C, count].
    pub fn sample(&self, volume: &Tensor<2>, start: usize, count: usize) -> Tensor<2> {
        assert!(start + count <= self.points, "sample range outside the sampler's points");
        let mut out: Option<Tensor<2>> = None;
        for (index, weight) in &self.corners {
            let gathered = volume.clone().select(1, index.clone().narrow(0, start, count));
            let term = gathered * weight.clone().narrow(0, start, count).unsqueeze::<2>();
            out = Some(match out {
                Some(acc) => acc + term,
                None => term,
            });
        }
        out.expect("eight corners")
    }
}

/// The frustum sampling of every view of the rig, ready to turn spatial volumes into frustum volumes.
pub struct FrustumSampler {
    layout: FrustumLayout,
    views: usize,
    sampler: TrilinearSampler,
}

impl FrustumSampler {
    pub fn new(layout: FrustumLayout, cameras: &[ViewCamera], volume_size: usize, device: &Device) -> Self {
        let points: Vec<[f32; 3]> = cameras.iter().flat_map(|c| layout.normalized_points(c)).collect();
        Self { layout, views: cameras.len(), sampler: TrilinearSampler::new(&points, volume_size, device) }
    }

    /// One frame's spatial volume [C, V, V, V] seen from views `first..first + count` →
    /// [count, C, depth, size, size].
    pub fn sample(&self, volume: Tensor<4>, first: usize, count: usize) -> Tensor<5> {
        assert!(first + count <= self.views, "views {first}..{} of {}", first + count, self.views);
        let [c, d, h, w] = volume.dims();
        let flat = volume.reshape([c, d * h * w]);
        let l = self.layout;
        let per_view = l.depth * l.size * l.size;
        let sampled = self.sampler.sample(&flat, first * per_view, count * per_view);
        sampled.reshape([c, count, l.depth, l.size, l.size]).swap_dims(0, 1)
    }
}
