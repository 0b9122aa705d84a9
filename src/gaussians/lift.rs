//! 3D splats (a 3DGS PLY) lifted to static 4D Gaussians, to start training from a user's
//! reconstruction: the 4D rotation is the 3D one with time left alone, the temporal mean sits in the
//! middle of the clip and the temporal deviation spans it, so each splat is present at every time
//! (and moves only once the optimiser gives it a velocity).

use super::Gaussians4d;
use super::slice3d::Splat3d;

/// Hamilton product of quaternions stored (w, x, y, z).
fn mul(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    let [aw, ax, ay, az] = a;
    let [bw, bx, by, bz] = b;
    [
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ]
}

fn conj(q: [f64; 4]) -> [f64; 4] {
    [q[0], -q[1], -q[2], -q[3]]
}

/// Left and right quaternions whose 4D rotation (`math::left_matrix · math::right_matrix`) is the 3D
/// rotation of `q` (w, x, y, z; any length) on x, y, z and leaves t alone.
///
/// Why this form: the rotation maps a 4D vector v, read as the quaternion x + y·i + z·j + t·k, to
/// q_l · v · conj(q_r). It fixes t (the k axis) exactly when q_r = k·q_l·conj(k); then v·k turns
/// (x, y, z) into the pure quaternion (z, −y, x) = P·(x, y, z), on which the map is the ordinary
/// rotation by q_l. P is the half turn about (1, 0, 1)/√2, so q_l = p·q·conj(p) rotates x, y, z by q.
pub(crate) fn rotation_3d_to_4d(q: [f64; 4]) -> ([f64; 4], [f64; 4]) {
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    let q = if n > 0.0 && n.is_finite() { q.map(|v| v / n) } else { [1.0, 0.0, 0.0, 0.0] };
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let p = [0.0, h, 0.0, h];
    let k = [0.0, 0.0, 0.0, 1.0];
    let left = mul(mul(p, q), conj(p));
    let right = mul(mul(k, left), conj(k));
    (left, right)
}

/// Static 4D Gaussians from 3D splats of SH degree `sh_degree`: temporal mean `time`, temporal
/// standard deviation `sigma_t`, everything else as stored (raw log scales, opacity logits, SH).
pub fn lift_static(splats: &[Splat3d], sh_degree: u32, time: f32, sigma_t: f32) -> Gaussians4d {
    let k = super::sh_coeffs(sh_degree);
    let mut g = Gaussians4d { sh_degree, ..Default::default() };
    for s in splats {
        g.means.extend([s.position[0], s.position[1], s.position[2], time]);
        g.log_scales.extend([s.log_scale[0], s.log_scale[1], s.log_scale[2], sigma_t.ln()]);
        let (left, right) = rotation_3d_to_4d(s.rotation.map(f64::from));
        g.rot_left.extend(left.map(|v| v as f32));
        g.rot_right.extend(right.map(|v| v as f32));
        g.opacity.push(s.opacity_logit);
        // Stored SH: DC then the rest channel-major; ours is coefficient-major, channels inside.
        for j in 0..k {
            for c in 0..3 {
                g.sh.push(if j == 0 { s.f_dc[c] } else { s.f_rest.get(c * (k - 1) + j - 1).copied().unwrap_or(0.0) });
            }
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaussians::math::{left_matrix, right_matrix};
    use crate::gaussians::slice3d::slice_to_3d;
    use glam::{DMat3, DMat4, DQuat, DVec4};

    fn random_quaternion(i: u32) -> [f64; 4] {
        let f = |k: u32| ((i * 7 + k * 13) as f64 * 0.618).sin() * 2.0;
        [f(0), f(1), f(2), f(3)]
    }

    #[test]
    fn the_lifted_rotation_is_the_3d_one_and_leaves_time_alone() {
        for i in 0..50 {
            let q = random_quaternion(i);
            let (l, r) = rotation_3d_to_4d(q);
            let m = left_matrix(l) * right_matrix(r);
            let r3 = DMat3::from_quat(DQuat::from_xyzw(q[1], q[2], q[3], q[0]).normalize());
            let want = DMat4::from_cols(
                r3.x_axis.extend(0.0),
                r3.y_axis.extend(0.0),
                r3.z_axis.extend(0.0),
                DVec4::new(0.0, 0.0, 0.0, 1.0),
            );
            assert!(m.abs_diff_eq(want, 1e-12), "q {q:?}:\n{m}\nwant\n{want}");
        }
        // A zero or non-finite quaternion is the identity, not NaN.
        for q in [[0.0; 4], [f64::NAN, 0.0, 0.0, 0.0]] {
            let (l, r) = rotation_3d_to_4d(q);
            assert!((left_matrix(l) * right_matrix(r)).abs_diff_eq(DMat4::IDENTITY, 1e-12));
        }
    }

    #[test]
    fn a_lifted_splat_slices_back_to_itself_and_stays_over_the_clip() {
        let splats: Vec<Splat3d> = (0..20)
            .map(|i| Splat3d {
                position: [0.1 * i as f32, -0.2, 0.05 * i as f32],
                f_dc: [0.3, -0.1, 0.2 + i as f32 * 0.01],
                f_rest: (0..9).map(|k| k as f32 * 0.01 - i as f32 * 0.001).collect(),
                opacity_logit: -1.0 + 0.2 * i as f32,
                log_scale: [-3.0, -2.5 + 0.05 * i as f32, -4.0],
                rotation: random_quaternion(i).map(|v| v as f32),
            })
            .collect();
        let g = lift_static(&splats, 1, 0.5, 2.0);
        g.validate().unwrap();
        let back = slice_to_3d(&g, 0.5);
        assert_eq!(back.len(), splats.len());
        for (a, b) in splats.iter().zip(&back) {
            assert_eq!(a.position, b.position);
            assert!((a.opacity_logit - b.opacity_logit).abs() < 1e-4);
            assert_eq!((a.f_dc, &a.f_rest), (b.f_dc, &b.f_rest));
            // Same covariance (the eigen-decomposition may order or sign the axes differently).
            let cov = |s: &Splat3d| {
                let q = DQuat::from_xyzw(
                    s.rotation[1] as f64,
                    s.rotation[2] as f64,
                    s.rotation[3] as f64,
                    s.rotation[0] as f64,
                )
                .normalize();
                let r = DMat3::from_quat(q);
                let d = DMat3::from_diagonal(glam::DVec3::from_array(s.log_scale.map(|v| (2.0 * v as f64).exp())));
                r * d * r.transpose()
            };
            assert!(cov(a).abs_diff_eq(cov(b), 1e-7), "{:?} vs {:?}", cov(a), cov(b));
        }
        // At the clip's ends (0 and 1) the splats are still there, 3 % fainter (σt is twice the clip).
        let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        for t in [0.0, 1.0] {
            let s = slice_to_3d(&g, t);
            assert_eq!(s.len(), splats.len());
            for (a, b) in s.iter().zip(&back) {
                let ratio = sigmoid(a.opacity_logit) / sigmoid(b.opacity_logit);
                assert!((ratio - (-0.5f32 * 0.25 * 0.25).exp()).abs() < 1e-4, "{ratio}");
            }
        }
    }
}
