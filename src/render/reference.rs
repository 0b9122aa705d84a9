//! A plain CPU reference renderer in f64: per pixel, over all Gaussians sorted by depth, with the
//! same culling and blending rules as the WGSL rasterizer, and its exact backward. Slow on purpose:
//! it is the yardstick the GPU kernels are tested against.

use crate::gaussians::Gaussians4d;
use crate::gaussians::math::{
    self, GaussianGrad, MAX_ALPHA, MIN_ALPHA, MIN_TRANSMITTANCE, Projected, ProjectedGrad, ViewParams,
};

/// One rendered image: RGB composited on the background, accumulated alpha, expected depth.
#[derive(Clone, Debug)]
pub struct ReferenceImage {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<[f64; 3]>,
    pub alpha: Vec<f64>,
    /// Σ Tᵢ αᵢ zᵢ (not normalised by alpha).
    pub depth: Vec<f64>,
}

/// Visible Gaussians of a view, front to back (ties broken by index, as the GPU sort does).
fn visible(gs: &Gaussians4d, view: &ViewParams) -> Vec<(usize, Projected)> {
    let mut vis: Vec<(usize, Projected)> =
        (0..gs.len()).filter_map(|i| math::project(&gs.get(i), view).map(|p| (i, p))).collect();
    vis.sort_by(|a, b| a.1.depth.total_cmp(&b.1.depth).then(a.0.cmp(&b.0)));
    vis
}

fn alpha_at(p: &Projected, px: f64, py: f64) -> (f64, f64, f64, f64) {
    let (dx, dy) = (px - p.mean2d[0], py - p.mean2d[1]);
    let power = 0.5 * (p.conic[0] * dx * dx + p.conic[2] * dy * dy) + p.conic[1] * dx * dy;
    let gauss = (-power).exp();
    (p.opacity * gauss, gauss, dx, dy)
}

#[allow(clippy::needless_range_loop)] // per-channel loops over parallel arrays
/// Renders one view. Pixel (x, y) is sampled at its centre (x + 0.5, y + 0.5).
pub fn render(gs: &Gaussians4d, view: &ViewParams, background: [f64; 3]) -> ReferenceImage {
    let vis = visible(gs, view);
    let (w, h) = (view.width, view.height);
    let n = (w * h) as usize;
    let mut img =
        ReferenceImage { width: w, height: h, rgb: vec![[0.0; 3]; n], alpha: vec![0.0; n], depth: vec![0.0; n] };
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
            let mut t = 1.0;
            let mut c = [0.0; 3];
            let mut d = 0.0;
            for (_, p) in &vis {
                let (a, ..) = alpha_at(p, px, py);
                let a = a.min(MAX_ALPHA);
                if a < MIN_ALPHA {
                    continue;
                }
                let next_t = t * (1.0 - a);
                if next_t < MIN_TRANSMITTANCE {
                    break;
                }
                for k in 0..3 {
                    c[k] += t * a * p.color[k];
                }
                d += t * a * p.depth;
                t = next_t;
            }
            let i = (y * w + x) as usize;
            img.rgb[i] = [0, 1, 2].map(|k| c[k] + t * background[k]);
            img.alpha[i] = 1.0 - t;
            img.depth[i] = d;
        }
    }
    img
}

#[allow(clippy::needless_range_loop)]
/// Gradients of a loss with respect to every raw parameter, given dL/d(rgb) and dL/d(alpha) per pixel.
pub fn render_backward(
    gs: &Gaussians4d,
    view: &ViewParams,
    background: [f64; 3],
    d_rgb: &[[f64; 3]],
    d_alpha: &[f64],
) -> Vec<GaussianGrad> {
    let vis = visible(gs, view);
    let mut proj_grads = vec![ProjectedGrad::default(); vis.len()];
    let (w, h) = (view.width, view.height);
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
            let i = (y * w + x) as usize;
            // Forward again, remembering who contributed.
            let mut t = 1.0;
            let mut contrib = Vec::new();
            for (slot, (_, p)) in vis.iter().enumerate() {
                let (raw, gauss, dx, dy) = alpha_at(p, px, py);
                let a = raw.min(MAX_ALPHA);
                if a < MIN_ALPHA {
                    continue;
                }
                let next_t = t * (1.0 - a);
                if next_t < MIN_TRANSMITTANCE {
                    break;
                }
                contrib.push((slot, a, raw > MAX_ALPHA, gauss, dx, dy));
                t = next_t;
            }
            let t_final = t;
            let (gc, ga) = (d_rgb[i], d_alpha[i]);
            // Back to front: `behind` is the colour accumulated behind the current splat, incl. background.
            let mut behind = [0, 1, 2].map(|k| t_final * background[k]);
            let mut t = t_final;
            for &(slot, a, clamped, gauss, dx, dy) in contrib.iter().rev() {
                let p = &vis[slot].1;
                let t_before = t / (1.0 - a);
                let g = &mut proj_grads[slot];
                let mut d_a = 0.0;
                for k in 0..3 {
                    g.color[k] += t_before * a * gc[k];
                    d_a += gc[k] * (t_before * p.color[k] - behind[k] / (1.0 - a));
                }
                d_a += ga * t_final / (1.0 - a);
                for k in 0..3 {
                    behind[k] += t_before * a * p.color[k];
                }
                t = t_before;
                if clamped {
                    continue;
                }
                g.opacity += d_a * gauss;
                let d_power = -d_a * a;
                g.conic[0] += d_power * 0.5 * dx * dx;
                g.conic[1] += d_power * dx * dy;
                g.conic[2] += d_power * 0.5 * dy * dy;
                g.mean2d[0] += -d_power * (p.conic[0] * dx + p.conic[1] * dy);
                g.mean2d[1] += -d_power * (p.conic[1] * dx + p.conic[2] * dy);
            }
        }
    }
    let mut grads: Vec<GaussianGrad> = (0..gs.len()).map(|i| gs.get(i).zero_like()).collect();
    for ((idx, _), pg) in vis.iter().zip(&proj_grads) {
        grads[*idx] = math::project_backward(&gs.get(*idx), view, pg);
    }
    grads
}
