//! A motion-coherence prior: splats that are neighbours in space and time should move alike.
//! D-NeRF-style data sees each time from one camera only, so a splat's depth along that camera's
//! ray is fixed only by its motion across neighbouring times; nothing ties it to the splats beside
//! it, and other cameras see a depth error as ghosting. Deformation-field methods share motion
//! between neighbours by construction; here the penalty
//! mean over splats i and their k nearest neighbours j of ρ(v_i − v_j), ρ(d) = √(|d|² + ε²) − ε,
//! asks for it, with v a splat's velocity (the slope of its sliced mean: Σxyz,t / Σtt) measured in
//! scene radii per clip. ρ is nearly L1, so the motion may still break between body parts.

use super::time_floor::unit_quaternions;
use crate::gaussians::math::{left_matrix, right_matrix};
use burn::tensor::{Device, Int, Tensor, TensorData};
use glam::DMat4;
use kiddo::{ImmutableKdTree, SquaredEuclidean};
use std::num::NonZeroUsize;

/// ε of the robust distance, in scene radii per clip.
const ROBUST_EPS: f64 = 1e-3;

/// The [4, 16] matrix that maps a quaternion to the 16 row-major entries of its isoclinic matrix
/// (both are linear in q, so its rows are the matrices of the four unit quaternions).
fn isoclinic_basis(matrix: fn([f64; 4]) -> DMat4) -> Vec<f32> {
    let mut out = vec![0.0f32; 64];
    for c in 0..4 {
        let mut e = [0.0; 4];
        e[c] = 1.0;
        let m = matrix(e);
        for i in 0..4 {
            for j in 0..4 {
                out[c * 16 + i * 4 + j] = m.col(j)[i] as f32;
            }
        }
    }
    out
}

/// The [N, 4, 4] isoclinic matrices of unit quaternions q ([N, 4]), built by broadcasting (a
/// matmul would be autotuned anew for every splat count).
fn isoclinic(q: &Tensor<2>, matrix: fn([f64; 4]) -> DMat4) -> Tensor<3> {
    let n = q.dims()[0];
    let mut basis = Tensor::<2>::from_data(TensorData::new(isoclinic_basis(matrix), [4, 16]), &q.device());
    if q.is_autodiff() {
        basis = basis.autodiff();
    }
    // [N, 4, 1] * [1, 4, 16] summed over the quaternion's components.
    let entries = (q.clone().reshape([n, 4, 1]) * basis.reshape([1, 4, 16])).sum_dim(1);
    entries.reshape([n, 4, 4])
}

/// Each splat's velocity [N, 3]: the slope Σxyz,t / Σtt of its mean sliced at time t, from the
/// raw parameters (4D covariance R·S²·Rᵀ, R = L(q_l)·R(q_r)). Σtt is clamped below at `min_var`
/// so a splat that lives an instant has a bounded velocity.
pub fn velocities(log_scales: &Tensor<2>, rot_left: &Tensor<2>, rot_right: &Tensor<2>, min_var: f64) -> Tensor<2> {
    let n = log_scales.dims()[0];
    let left = isoclinic(&unit_quaternions(rot_left), left_matrix);
    let right = isoclinic(&unit_quaternions(rot_right), right_matrix);
    // R[i][j] = Σ_m L[i][m]·R'[m][j]: [N, 4, 4, 1] * [N, 1, 4, 4] summed over m.
    let rotation = (left.reshape([n, 4, 4, 1]) * right.reshape([n, 1, 4, 4])).sum_dim(2).reshape([n, 4, 4]);
    // Σ[i][3] = Σ_j R[i][j]·R[3][j]·s_j².
    let scales2 = (log_scales.clone() * 2.0).exp().reshape([n, 1, 4]);
    let time_row = rotation.clone().narrow(1, 3, 1) * scales2;
    let cross = (rotation * time_row).sum_dim(2).reshape([n, 4]);
    let var_t = cross.clone().narrow(1, 3, 1).clamp_min(min_var);
    cross.narrow(1, 0, 3) / var_t
}

/// mean over splats and their neighbours of ρ(v_i − v_j) (module doc). `neighbours` is [N·k],
/// row i·k..(i+1)·k holding splat i's neighbours; `velocity_unit` converts world units per unit
/// of time into the penalty's units (scene radii per clip).
pub(crate) fn motion_penalty(velocity: Tensor<2>, neighbours: &Tensor<1, Int>, velocity_unit: f64) -> Tensor<1> {
    let [n, _] = velocity.dims();
    let k = neighbours.dims()[0] / n.max(1);
    let v = velocity * velocity_unit;
    let others = v.clone().select(0, neighbours.clone()).reshape([n, k, 3]);
    let diff = others - v.reshape([n, 1, 3]);
    let dist = (diff.powf_scalar(2.0).sum_dim(2) + ROBUST_EPS * ROBUST_EPS).sqrt() - ROBUST_EPS;
    dist.mean()
}

/// The `k` nearest other splats of every splat in (x, y, z, time · `time_to_space`), flattened
/// to [N·k] indices (a splat with fewer than k others repeats its farthest; none: itself).
pub fn nearest_neighbours(means: &[f32], k: usize, time_to_space: f32) -> Vec<i64> {
    // A non-finite mean (rolled back within 50 steps) is put far away rather than break the tree.
    let finite = |x: f32| if x.is_finite() { x } else { 1e30 };
    let points: Vec<[f32; 4]> =
        means.chunks_exact(4).map(|p| [p[0], p[1], p[2], p[3] * time_to_space].map(finite)).collect();
    let n = points.len();
    let alone = || (0..n).flat_map(|i| std::iter::repeat_n(i as i64, k)).collect();
    if n < 2 || k == 0 {
        return alone();
    }
    let Ok(tree) = ImmutableKdTree::<f32, 4>::new_from_slice(&points) else { return alone() };
    let want = NonZeroUsize::new((k + 1).min(n)).expect("k + 1 > 0");
    let found = tree.query_batch(&points).nearest_n::<SquaredEuclidean<f32>>(want).execute();
    let mut out = Vec::with_capacity(n * k);
    for (i, hits) in found.iter().enumerate() {
        let others: Vec<i64> = hits.iter().map(|h| h.item as i64).filter(|&j| j != i as i64).take(k).collect();
        let last = *others.last().unwrap_or(&(i as i64));
        out.extend(others.iter().copied().chain(std::iter::repeat(last)).take(k));
    }
    out
}

/// Uploads neighbour indices for [`motion_penalty`].
pub(crate) fn neighbour_tensor(indices: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    let n = indices.len();
    Tensor::<1, Int>::from_data(TensorData::new(indices, [n]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaussians::math::slice;
    use crate::gaussians::random::RandomScene;
    use crate::train::time_floor::tests::{check_penalty_gradient, tensor};

    #[test]
    fn velocities_are_the_slope_of_the_f64_sliced_mean() {
        let g = RandomScene { count: 40, seed: 3, ..Default::default() }.build();
        let device = Device::flex();
        let [ls, ql, qr] = [&g.log_scales, &g.rot_left, &g.rot_right].map(|v| tensor(v, &device));
        let v: Vec<f32> = velocities(&ls, &ql, &qr, 1e-12).into_data().try_to_vec().unwrap();
        for i in 0..g.len() {
            let s = g.get(i);
            let (a, b) = (slice(&s, s.mean[3]).mean, slice(&s, s.mean[3] + 1.0).mean);
            let expected = b - a;
            for k in 0..3 {
                let got = v[i * 3 + k] as f64;
                assert!((got - expected[k]).abs() <= 1e-3 * expected.length() + 1e-5, "splat {i}: {got} vs {expected}");
            }
        }
        // The clamp bounds the velocity of a splat that lives an instant.
        let mut short = g.clone();
        for i in 0..short.len() {
            short.log_scales[i * 4 + 3] = -30.0;
        }
        let ls = tensor(&short.log_scales, &device);
        let v: Vec<f32> = velocities(&ls, &ql, &qr, 1e-2).into_data().try_to_vec().unwrap();
        assert!(v.iter().all(|x| x.is_finite() && x.abs() < 1.0), "{v:?}");
    }

    #[test]
    fn neighbours_match_a_brute_force_search() {
        let g = RandomScene { count: 300, seed: 5, ..Default::default() }.build();
        let (k, time_to_space) = (3, 0.7f32);
        let found = nearest_neighbours(&g.means, k, time_to_space);
        assert_eq!(found.len(), g.len() * k);
        let point = |i: usize| {
            let m = &g.means[i * 4..i * 4 + 4];
            [m[0], m[1], m[2], m[3] * time_to_space]
        };
        let d2 = |i: usize, j: usize| (0..4).map(|c| (point(i)[c] - point(j)[c]).powi(2)).sum::<f32>();
        for i in 0..g.len() {
            let mut others: Vec<usize> = (0..g.len()).filter(|&j| j != i).collect();
            others.sort_by(|&a, &b| d2(i, a).total_cmp(&d2(i, b)));
            let mut want: Vec<f32> = others[..k].iter().map(|&j| d2(i, j)).collect();
            let mut got: Vec<f32> = found[i * k..(i + 1) * k].iter().map(|&j| d2(i, j as usize)).collect();
            want.sort_by(f32::total_cmp);
            got.sort_by(f32::total_cmp);
            assert_eq!(got, want, "splat {i}");
            assert!(found[i * k..(i + 1) * k].iter().all(|&j| j != i as i64), "splat {i} is its own neighbour");
        }
        // Degenerate clouds: none, one splat (itself), two splats asked for three neighbours.
        assert!(nearest_neighbours(&[], 4, 1.0).is_empty());
        assert_eq!(nearest_neighbours(&[0.0; 4], 2, 1.0), vec![0, 0]);
        assert_eq!(nearest_neighbours(&[0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0], 3, 1.0), vec![1, 1, 1, 0, 0, 0]);
    }

    #[test]
    fn the_penalty_is_zero_for_a_common_motion_and_its_gradient_matches_finite_differences() {
        let device = Device::flex();
        let neighbours = || neighbour_tensor(vec![1, 2, 0, 2, 0, 1, 4, 5, 3, 5, 3, 4], &device);
        // Equal velocities: no penalty (up to the robust distance's ε).
        let same = Tensor::<2>::from_data(TensorData::new([0.3f32, -0.2, 1.0].repeat(6), [6, 3]), &device);
        let zero: f32 = motion_penalty(same, &neighbours(), 2.0).into_scalar();
        assert!(zero.abs() < 1e-6, "{zero}");
        // Two groups that each move together but differently: penalised only within a group.
        let mut two = [0.3f32, -0.2, 1.0].repeat(3);
        two.extend([0.0f32, 0.5, 0.0].repeat(3));
        let two = Tensor::<2>::from_data(TensorData::new(two, [6, 3]), &device);
        let apart: f32 = motion_penalty(two, &neighbours(), 2.0).into_scalar();
        assert!(apart.abs() < 1e-6, "{apart}");
        // One outlier: each of its 2 pairs and the 2 pairs pointing at it cost |Δv|·unit.
        let mut odd = [0.0f32; 18];
        odd[0] = 1.0;
        let odd = Tensor::<2>::from_data(TensorData::new(odd.to_vec(), [6, 3]), &device);
        let cost: f32 = motion_penalty(odd, &neighbours(), 2.0).into_scalar();
        let expected = 4.0 * ((4.0 + 1e-6f64).sqrt() - 1e-3) / 12.0;
        assert!((cost as f64 - expected).abs() < 1e-5, "{cost} vs {expected}");

        let g = RandomScene { count: 6, seed: 4, ..Default::default() }.build();
        check_penalty_gradient(&g, &device, |ls, ql, qr| {
            motion_penalty(velocities(ls, ql, qr, 1e-6), &neighbours(), 0.5)
        });
    }
}
