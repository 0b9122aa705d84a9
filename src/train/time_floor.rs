//! A soft floor on each splat's temporal standard deviation. D-NeRF-style data sees every time from
//! one camera only, so a splat that lives for less than a frame spacing is fitted to a single view
//! and generalises badly to others (measured: train-view PSNR rises past 36 dB while test views stall
//! near 32). The penalty mean(relu(ln σ_floor − ln σt)) lets the optimiser shorten lifetimes only
//! where the images pay for it.

use burn::tensor::Tensor;

/// The raw quaternions ([N, 4]) scaled to unit length, as the rasterizer uses them.
pub fn unit_quaternions(q: &Tensor<2>) -> Tensor<2> {
    q.clone() / q.clone().powf_scalar(2.0).sum_dim(1).sqrt()
}

/// Σtt of every splat, the temporal variance of the 4D covariance R·S²·Rᵀ with R = L(q_l)·R(q_r),
/// as a differentiable burn expression of the raw parameters ([N, 4] each). Row 3 of R, written
/// out (see `gaussians::math::left_matrix` / `right_matrix`), weights the four squared scales.
pub fn temporal_variance(log_scales: &Tensor<2>, rot_left: &Tensor<2>, rot_right: &Tensor<2>) -> Tensor<1> {
    let (ql, qr) = (unit_quaternions(rot_left), unit_quaternions(rot_right));
    let col = |t: &Tensor<2>, k: usize| t.clone().narrow(1, k, 1);
    let (a, b, c, d) = (col(&ql, 0), col(&ql, 1), col(&ql, 2), col(&ql, 3));
    let (p, q, r, s) = (col(&qr, 0), col(&qr, 1), col(&qr, 2), col(&qr, 3));
    let row3 = [
        d.clone() * p.clone() + c.clone() * q.clone() - b.clone() * r.clone() - a.clone() * s.clone(),
        d.clone() * q.clone() - c.clone() * p.clone() + b.clone() * s.clone() - a.clone() * r.clone(),
        d.clone() * r.clone() + c.clone() * s.clone() + b.clone() * p.clone() + a.clone() * q.clone(),
        d * s - c * r - b * q + a * p,
    ];
    let scales2 = (log_scales.clone() * 2.0).exp();
    let weights = Tensor::cat(row3.map(|v| v.powf_scalar(2.0)).to_vec(), 1);
    let n = log_scales.dims()[0];
    (weights * scales2).sum_dim(1).reshape([n])
}

/// mean over splats of relu(ln floor − ½ ln Σtt): zero for splats that live at least `floor`.
pub fn time_floor_penalty(
    log_scales: &Tensor<2>,
    rot_left: &Tensor<2>,
    rot_right: &Tensor<2>,
    floor: f64,
) -> Tensor<1> {
    let log_sigma = temporal_variance(log_scales, rot_left, rot_right).log() * 0.5;
    (log_sigma.neg() + floor.ln()).clamp_min(0.0).mean()
}

/// The same penalty with each splat's own ln floor ([N], a constant: no gradient flows into it).
pub fn time_floor_penalty_per_splat(
    log_scales: &Tensor<2>,
    rot_left: &Tensor<2>,
    rot_right: &Tensor<2>,
    log_floor: Tensor<1>,
) -> Tensor<1> {
    let log_sigma = temporal_variance(log_scales, rot_left, rot_right).log() * 0.5;
    (log_sigma.neg() + log_floor).clamp_min(0.0).mean()
}

/// ln of each splat's floor when splats near the clip's ends get a higher one. A splat at an end
/// is seen from one side of its temporal mean only, by half the training views a splat in the
/// middle sees (measured: the ends are the worst test views). Its floor is (1 + boost)·floor at
/// the end (or beyond it), falling linearly to `floor` at 2·(1 + boost)·floor inside the clip,
/// where its boosted lifetime no longer reaches the end. `mean_t` is the splats' temporal mean.
pub fn log_floor_near_ends(mean_t: Tensor<1>, time_range: (f32, f32), floor: f64, end_boost: f64) -> Tensor<1> {
    let (start, end) = (time_range.0 as f64, time_range.1 as f64);
    let from_start = mean_t.clone() - start;
    let to_end = mean_t.neg() + end;
    let distance = from_start.min_pair(to_end).clamp_min(0.0);
    let reach = 2.0 * floor * (1.0 + end_boost);
    let nearness = (distance / reach).neg().add_scalar(1.0).clamp_min(0.0);
    (nearness * end_boost).add_scalar(1.0).log().add_scalar(floor.ln())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::gaussians::Gaussians4d;
    use crate::gaussians::math::scaled_rotation;
    use crate::gaussians::random::RandomScene;
    use burn::tensor::{Device, TensorData};

    pub(crate) fn tensor(values: &[f32], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values.to_vec(), [values.len() / 4, 4]), device)
    }

    #[test]
    fn temporal_variance_matches_the_f64_covariance() {
        let g = RandomScene { count: 50, seed: 9, ..Default::default() }.build();
        let device = Device::flex();
        let [ls, ql, qr] = [&g.log_scales, &g.rot_left, &g.rot_right].map(|v| tensor(v, &device));
        let var: Vec<f32> = temporal_variance(&ls, &ql, &qr).into_data().try_to_vec::<f32>().unwrap();
        for (i, v) in var.iter().enumerate() {
            let l = scaled_rotation(&g.get(i));
            let expected: f64 = (0..4).map(|k| l.col(k)[3].powi(2)).sum();
            assert!((*v as f64 - expected).abs() <= 1e-4 * expected + 1e-9, "splat {i}: {v} vs {expected}");
        }
        // The penalty is zero above the floor and ln(floor/σ) below it.
        let penalty = |floor: f64| -> f32 { time_floor_penalty(&ls, &ql, &qr, floor).into_scalar() };
        let floor = (var.iter().copied().fold(f32::INFINITY, f32::min) as f64).sqrt() * 0.5;
        assert_eq!(penalty(floor), 0.0);
        let high = 10.0 * var.iter().copied().fold(0.0f32, f32::max).sqrt() as f64;
        let p = penalty(high);
        let expected: f64 = var.iter().map(|v| high.ln() - 0.5 * (*v as f64).ln()).sum::<f64>() / var.len() as f64;
        assert!((p as f64 - expected).abs() < 1e-3 * expected, "{p} vs {expected}");
    }

    #[test]
    fn the_floor_is_raised_near_the_ends_only() {
        let device = Device::flex();
        // Clip [0, 1], floor 0.01, boost 1: the floor doubles at the ends and beyond, is back to
        // 0.01 from 0.04 inside, and halfway (1.5x) at 0.02.
        let times = [-0.5f32, 0.0, 0.02, 0.04, 0.5, 0.98, 1.0, 1.3];
        let expected = [0.02, 0.02, 0.015, 0.01, 0.01, 0.015, 0.02, 0.02];
        let t = Tensor::<1>::from_data(TensorData::new(times.to_vec(), [times.len()]), &device);
        let floors: Vec<f32> = log_floor_near_ends(t, (0.0, 1.0), 0.01, 1.0).exp().into_data().try_to_vec().unwrap();
        for ((f, e), t) in floors.iter().zip(expected).zip(times) {
            assert!((*f as f64 - e).abs() < 1e-6, "t = {t}: floor {f}, expected {e}");
        }
        // No boost: the plain floor everywhere.
        let t = Tensor::<1>::from_data(TensorData::new(times.to_vec(), [times.len()]), &device);
        let plain: Vec<f32> = log_floor_near_ends(t, (0.0, 1.0), 0.01, 0.0).exp().into_data().try_to_vec().unwrap();
        assert!(plain.iter().all(|f| (*f - 0.01).abs() < 1e-7), "{plain:?}");
    }

    #[test]
    fn the_penalty_gradient_matches_finite_differences() {
        let g = RandomScene { count: 6, seed: 4, ..Default::default() }.build();
        let device = Device::flex();
        // Floors above every splat's σt: the smooth branch of the relu everywhere. Checked for one
        // floor (`time_floor_penalty`) and for a floor per splat (`time_floor_penalty_per_splat`).
        let floors = [10.0f32, 20.0, 10.0, 30.0, 15.0, 10.0];
        let per_splat_floor = || Tensor::<1>::from_data(TensorData::new(floors.map(f32::ln).to_vec(), [6]), &device);
        let penalty = |ls: &Tensor<2>, ql: &Tensor<2>, qr: &Tensor<2>, per_splat: bool| {
            if per_splat {
                time_floor_penalty_per_splat(ls, ql, qr, per_splat_floor().autodiff())
            } else {
                time_floor_penalty(ls, ql, qr, floors[0] as f64)
            }
        };
        for per_splat in [false, true] {
            check_penalty_gradient(&g, &device, |ls, ql, qr| penalty(ls, ql, qr, per_splat));
        }
    }

    /// Checks a penalty's autodiff gradient in the log-scales and both quaternions against central
    /// differences (shared with the other priors on the same parameters).
    pub(crate) fn check_penalty_gradient(
        g: &Gaussians4d,
        device: &Device,
        penalty: impl Fn(&Tensor<2>, &Tensor<2>, &Tensor<2>) -> Tensor<1>,
    ) {
        let eval = |ls: &[f32], ql: &[f32], qr: &[f32]| -> f64 {
            let p: f32 = penalty(&tensor(ls, device), &tensor(ql, device), &tensor(qr, device)).into_scalar();
            p as f64
        };
        let leaves = [&g.log_scales, &g.rot_left, &g.rot_right].map(|v| tensor(v, device).autodiff().require_grad());
        let grads = penalty(&leaves[0], &leaves[1], &leaves[2]).backward();
        for (k, leaf) in leaves.iter().enumerate() {
            let analytic: Vec<f32> = leaf.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
            assert!(analytic.iter().any(|v| v.abs() > 1e-2), "group {k}: {analytic:?}");
            for i in 0..analytic.len() {
                let mut groups = [g.log_scales.clone(), g.rot_left.clone(), g.rot_right.clone()];
                let h = 1e-2;
                groups[k][i] += h;
                let up = eval(&groups[0], &groups[1], &groups[2]);
                groups[k][i] -= 2.0 * h;
                let down = eval(&groups[0], &groups[1], &groups[2]);
                let numeric = (up - down) / (2.0 * h as f64);
                assert!(
                    (analytic[i] as f64 - numeric).abs() < 2e-3 + 2e-2 * numeric.abs(),
                    "group {k} [{i}]: {} vs {numeric}",
                    analytic[i]
                );
            }
        }
    }
}
