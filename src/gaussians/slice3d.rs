//! A 4D model at one time as plain 3D Gaussians in their stored (raw) form — what a PLY frame holds
//! and what a 3DGS PLY gives to start from.

use super::math::{Gaussian, MIN_TEMPORAL_WEIGHT, Sliced, slice};
use super::{Gaussians4d, sh_coeffs};
use nalgebra::{Matrix3, Rotation3, UnitQuaternion};

/// One 3D Gaussian in the stored (raw) form.
#[derive(Clone, Debug, PartialEq)]
pub struct Splat3d {
    pub position: [f32; 3],
    pub f_dc: [f32; 3],
    /// Channel-major: all R coefficients, then G, then B.
    pub f_rest: Vec<f32>,
    pub opacity_logit: f32,
    pub log_scale: [f32; 3],
    /// Quaternion w, x, y, z.
    pub rotation: [f32; 4],
}

/// Slices every Gaussian at time `t`; Gaussians that are not present then (temporal weight below
/// the renderer's cut-off) or not finite are left out.
pub fn slice_to_3d(g: &Gaussians4d, t: f32) -> Vec<Splat3d> {
    let k = sh_coeffs(g.sh_degree);
    (0..g.len())
        .filter_map(|i| {
            let gi = g.get(i);
            let s = slice(&gi, t as f64);
            (s.temporal_weight >= MIN_TEMPORAL_WEIGHT).then(|| to_splat3d(&gi, &s, k)).flatten()
        })
        .collect()
}

/// One Gaussian's slice `s` as a stored 3D splat with the first `k` SH coefficients; `None` when its
/// opacity is 0 or 1 (no finite logit) or a value is not finite.
pub(crate) fn to_splat3d(gi: &Gaussian, s: &Sliced, k: usize) -> Option<Splat3d> {
    if !(s.opacity > 0.0 && s.opacity < 1.0) {
        return None;
    }
    let m = Matrix3::from_fn(|r, c| s.cov.col(c)[r]);
    let eig = m.symmetric_eigen();
    let mut vecs = eig.eigenvectors;
    if vecs.determinant() < 0.0 {
        vecs.set_column(2, &(-vecs.column(2)));
    }
    let q = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(vecs));
    let log_scale = eig.eigenvalues.map(|l| 0.5 * l.max(1e-30).ln());
    let splat = Splat3d {
        position: [s.mean.x as f32, s.mean.y as f32, s.mean.z as f32],
        f_dc: [gi.sh[0] as f32, gi.sh[1] as f32, gi.sh[2] as f32],
        f_rest: (0..3).flat_map(|c| (1..k).map(move |j| (c, j))).map(|(c, j)| gi.sh[j * 3 + c] as f32).collect(),
        opacity_logit: (s.opacity / (1.0 - s.opacity)).ln() as f32,
        log_scale: [log_scale[0] as f32, log_scale[1] as f32, log_scale[2] as f32],
        rotation: [q.w as f32, q.i as f32, q.j as f32, q.k as f32],
    };
    let finite = splat.position.iter().chain(&splat.log_scale).chain(&splat.rotation).all(|v| v.is_finite());
    (finite && splat.opacity_logit.is_finite()).then_some(splat)
}
