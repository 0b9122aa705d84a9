//! The CPU reference's analytic backward against central finite differences of its own forward
//! (f64), for every parameter group: means incl. t, all four log-scales, both quaternions, opacity, SH.

use efficient4d::camera::{Intrinsics, SyncDreamerRig};
use efficient4d::gaussians::Gaussians4d;
use efficient4d::gaussians::math::ViewParams;
use efficient4d::gaussians::random::RandomScene;
use efficient4d::render::reference::{render, render_backward};

const BG: [f64; 3] = [0.9, 0.7, 0.8];

fn view(w: u32, h: u32, view_index: u32, time: f64) -> ViewParams {
    let rig = SyncDreamerRig::default();
    let mut cam = rig.camera(view_index);
    // Zoom in so a few small splats cover the small test image.
    cam.intrinsics =
        Intrinsics { fx: 60.0, fy: 55.0, cx: w as f64 * 0.5 + 0.3, cy: h as f64 * 0.5 - 0.2, width: w, height: h };
    ViewParams::new(&cam, time)
}

/// A fixed random linear loss: L = Σ wᵢ·rgbᵢ + Σ vᵢ·alphaᵢ.
fn loss_weights(n: usize) -> (Vec<[f64; 3]>, Vec<f64>) {
    let f = |i: usize, k: usize| (((i * 7 + k * 13) % 17) as f64 / 17.0) - 0.4;
    ((0..n).map(|i| [f(i, 0), f(i, 1), f(i, 2)]).collect(), (0..n).map(|i| f(i, 3) * 0.7).collect())
}

fn loss(gs: &Gaussians4d, v: &ViewParams, w: &(Vec<[f64; 3]>, Vec<f64>)) -> f64 {
    let img = render(gs, v, BG);
    let mut l = 0.0;
    for i in 0..img.alpha.len() {
        l += (0..3).map(|k| img.rgb[i][k] * w.0[i][k]).sum::<f64>() + img.alpha[i] * w.1[i];
    }
    l
}

type Field = fn(&mut Gaussians4d) -> &mut Vec<f32>;

fn check_scene(gs: Gaussians4d, v: ViewParams) {
    let n = (v.width * v.height) as usize;
    let w = loss_weights(n);
    let grads = render_backward(&gs, &v, BG, &w.0, &w.1);
    let groups: [(&str, Field, usize); 6] = [
        ("means", |g| &mut g.means, 4),
        ("log_scales", |g| &mut g.log_scales, 4),
        ("rot_left", |g| &mut g.rot_left, 4),
        ("rot_right", |g| &mut g.rot_right, 4),
        ("opacity", |g| &mut g.opacity, 1),
        ("sh", |g| &mut g.sh, gs.sh_stride()),
    ];
    let mut checked_nonzero = 0;
    for (name, field, per) in groups {
        for (i, grad) in grads.iter().enumerate() {
            for c in 0..per {
                let analytic = match name {
                    "means" => grad.mean[c],
                    "log_scales" => grad.log_scale[c],
                    "rot_left" => grad.rot_left[c],
                    "rot_right" => grad.rot_right[c],
                    "opacity" => grad.opacity_logit,
                    _ => grad.sh[c],
                };
                // Parameters are f32: the actual steps are measured in f64, so f32 rounding cancels.
                let h = 1e-5f32;
                let idx = i * per + c;
                let x0 = field(&mut gs.clone())[idx] as f64;
                let (mut plus, mut minus) = (gs.clone(), gs.clone());
                field(&mut plus)[idx] += h;
                field(&mut minus)[idx] -= h;
                let step = field(&mut plus)[idx] as f64 - field(&mut minus)[idx] as f64;
                assert!(step > 0.0 && (field(&mut plus)[idx] as f64) > x0);
                let fd = (loss(&plus, &v, &w) - loss(&minus, &v, &w)) / step;
                let tol = 1e-3 * (1.0 + fd.abs().max(analytic.abs()));
                assert!(
                    (analytic - fd).abs() <= tol,
                    "{name}[{i}][{c}]: analytic {analytic:.6e} vs finite difference {fd:.6e}"
                );
                if fd.abs() > 1e-3 {
                    checked_nonzero += 1;
                }
            }
        }
        eprintln!("{name}: ok");
    }
    eprintln!("non-trivial gradients checked: {checked_nonzero}");
    assert!(
        checked_nonzero > 20,
        "too few non-trivial gradients ({checked_nonzero}); the scene does not exercise the backward"
    );
}

#[test]
fn every_gradient_group_matches_finite_differences() {
    // Opacities below sigmoid⁻¹(0.95) keep the 0.99 alpha cap out of play (it is not differentiable).
    let gs = RandomScene {
        count: 6,
        seed: 3,
        radius: 0.15,
        log_scale: (-2.6, -1.8),
        log_scale_t: (-0.5, 0.3),
        opacity_logit: (-0.5, 1.5),
        sh_degree: 0,
    }
    .build();
    check_scene(gs, view(23, 19, 1, 0.45));
}

#[test]
fn view_dependent_colour_gradients_match_finite_differences() {
    let gs = RandomScene {
        count: 4,
        seed: 11,
        radius: 0.12,
        log_scale: (-2.4, -1.9),
        log_scale_t: (-0.3, 0.3),
        opacity_logit: (0.0, 1.2),
        sh_degree: 3,
    }
    .build();
    check_scene(gs, view(17, 21, 5, 0.6));
}
