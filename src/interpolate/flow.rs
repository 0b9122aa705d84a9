//! The weights-free interpolator: a classical coarse-to-fine optical flow, estimated *at the
//! midpoint* so both neighbours can be warped there directly.
//!
//! For a midpoint displacement d(x), frame 0 is sampled at x − d and frame 1 at x + d. On each level
//! of a Gaussian pyramid (coarse to fine) d is refined by a few Lucas–Kanade steps on the symmetric
//! residual r = I1(x + d) − I0(x − d): with G = ∇I1(x + d) + ∇I0(x − d), each step solves
//! (Σ_w G Gᵀ + λ I) δ = −Σ_w G r over a Gaussian window, then the flow is median-filtered to drop
//! outliers. The interpolated frame averages the two warped neighbours (all channels, alpha too).

use super::planes::Planes;
use crate::metrics::{Border, separable_blur};

#[derive(Clone, Copy, Debug)]
pub struct FlowOptions {
    /// Pyramid levels are added while the coarsest side stays at least this long.
    pub min_side: usize,
    /// Lucas–Kanade steps per level.
    pub iterations: usize,
    /// Standard deviation (pixels) of the window that pools the normal equations.
    pub window_sigma: f32,
    /// Tikhonov weight λ: keeps flat regions (no gradient) from moving.
    pub regularisation: f32,
}

impl Default for FlowOptions {
    fn default() -> Self {
        Self { min_side: 8, iterations: 6, window_sigma: 2.5, regularisation: 1e-6 }
    }
}

/// One single-channel image.
#[derive(Clone, Debug)]
struct Gray {
    w: usize,
    h: usize,
    v: Vec<f32>,
}

impl Gray {
    /// Bilinear sample with the coordinates clamped to the image (border padding).
    fn sample(&self, x: f32, y: f32) -> f32 {
        let x = x.clamp(0.0, (self.w - 1) as f32);
        let y = y.clamp(0.0, (self.h - 1) as f32);
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(self.w - 1), (y0 + 1).min(self.h - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let at = |x: usize, y: usize| self.v[y * self.w + x];
        let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
        let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// Central-difference gradients (one-sided at the border).
    fn gradients(&self) -> (Vec<f32>, Vec<f32>) {
        let (w, h) = (self.w, self.h);
        let mut gx = vec![0.0; w * h];
        let mut gy = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let (xl, xr) = (x.saturating_sub(1), (x + 1).min(w - 1));
                let (yu, yd) = (y.saturating_sub(1), (y + 1).min(h - 1));
                gx[y * w + x] = (self.v[y * w + xr] - self.v[y * w + xl]) / (xr - xl).max(1) as f32;
                gy[y * w + x] = (self.v[yd * w + x] - self.v[yu * w + x]) / (yd - yu).max(1) as f32;
            }
        }
        (gx, gy)
    }

    /// Blur with [1 4 6 4 1]/16 then keep every second pixel.
    fn downsample(&self) -> Gray {
        let blurred = blur(&self.v, self.w, self.h, &binomial5());
        let (w, h) = (self.w.div_ceil(2), self.h.div_ceil(2));
        let v = (0..w * h).map(|i| blurred[(i / w) * 2 * self.w + (i % w) * 2]).collect();
        Gray { w, h, v }
    }
}

fn binomial5() -> Vec<f32> {
    [1.0, 4.0, 6.0, 4.0, 1.0].iter().map(|v| v / 16.0).collect()
}

fn gaussian_taps(sigma: f32) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as i32;
    let taps: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let sum: f32 = taps.iter().sum();
    taps.iter().map(|t| t / sum).collect()
}

/// Separable blur with clamped borders.
fn blur(src: &[f32], w: usize, h: usize, taps: &[f32]) -> Vec<f32> {
    separable_blur(src, w, h, taps, Border::Clamp)
}

/// 3×3 median of one flow component (drops isolated wrong vectors).
fn median3(src: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut n = [0.0f32; 9];
            let mut k = 0;
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    let sx = (x as isize + dx).clamp(0, w as isize - 1) as usize;
                    let sy = (y as isize + dy).clamp(0, h as isize - 1) as usize;
                    n[k] = src[sy * w + sx];
                    k += 1;
                }
            }
            n.sort_by(f32::total_cmp);
            out[y * w + x] = n[4];
        }
    }
    out
}

/// Where the image leaves the flow undetermined (flat areas, or a gradient in one direction only:
/// the aperture problem), replaces it by the strength-weighted average of its surroundings, so
/// motion found at edges and corners spreads inwards; well-determined pixels keep their own.
fn fill_weak(dx: &[f32], dy: &[f32], strength: &[f32], w: usize, h: usize, sigma: f32) -> (Vec<f32>, Vec<f32>) {
    let positive: Vec<f32> = strength.iter().copied().filter(|s| *s > 0.0).collect();
    if positive.is_empty() {
        return (dx.to_vec(), dy.to_vec());
    }
    let typical = positive.iter().sum::<f32>() / positive.len() as f32;
    let taps = gaussian_taps(sigma);
    let weight = blur(strength, w, h, &taps);
    let weighted = |d: &[f32]| blur(&d.iter().zip(strength).map(|(d, s)| d * s).collect::<Vec<_>>(), w, h, &taps);
    let (sx, sy) = (weighted(dx), weighted(dy));
    let mut out = (dx.to_vec(), dy.to_vec());
    for i in 0..w * h {
        if weight[i] <= 0.0 {
            continue;
        }
        let own = strength[i] / (strength[i] + typical);
        out.0[i] = own * dx[i] + (1.0 - own) * sx[i] / weight[i];
        out.1[i] = own * dy[i] + (1.0 - own) * sy[i] / weight[i];
    }
    out
}

/// The midpoint flow field: frame 0 is seen at x − d, frame 1 at x + d (pixels).
#[derive(Clone, Debug)]
pub(crate) struct MidpointFlow {
    pub width: usize,
    pub height: usize,
    pub dx: Vec<f32>,
    pub dy: Vec<f32>,
}

/// Estimates the symmetric midpoint flow between two frames (first three planes used as luma; an
/// alpha plane 3, when present, is added as a cue so silhouettes align too; further planes ride along).
pub(crate) fn midpoint_flow(a: &Planes, b: &Planes, options: &FlowOptions) -> MidpointFlow {
    assert_eq!((a.width, a.height), (b.width, b.height), "frames differ in size");
    let cue = |p: &Planes| {
        // Non-finite pixels (a broken generator output) become black rather than poisoning the flow.
        let mut v: Vec<f32> = p.luma().into_iter().map(|v| if v.is_finite() { v } else { 0.0 }).collect();
        if p.channels >= 4 {
            for (v, a) in v.iter_mut().zip(p.plane(3)) {
                *v = 0.5 * *v + if a.is_finite() { 0.5 * a } else { 0.0 };
            }
        }
        Gray { w: p.width, h: p.height, v }
    };
    let mut pyr0 = vec![cue(a)];
    let mut pyr1 = vec![cue(b)];
    while pyr0.last().map(|g| g.w.min(g.h) / 2 >= options.min_side).unwrap_or(false) {
        let (n0, n1) = (pyr0.last().unwrap().downsample(), pyr1.last().unwrap().downsample());
        pyr0.push(n0);
        pyr1.push(n1);
    }
    let window = gaussian_taps(options.window_sigma);
    let top = pyr0.last().unwrap();
    let (mut dx, mut dy) = (vec![0.0f32; top.w * top.h], vec![0.0f32; top.w * top.h]);
    let (mut fw, mut fh) = (top.w, top.h);
    for level in (0..pyr0.len()).rev() {
        let (i0, i1) = (&pyr0[level], &pyr1[level]);
        let (w, h) = (i0.w, i0.h);
        if (w, h) != (fw, fh) {
            // Upsample the coarser flow (nearest-bilinear) and double it.
            let coarse = Gray { w: fw, h: fh, v: dx };
            let coarse_y = Gray { w: fw, h: fh, v: dy };
            let sx = fw as f32 / w as f32;
            let sy = fh as f32 / h as f32;
            let up = |g: &Gray| -> Vec<f32> {
                (0..w * h)
                    .map(|i| {
                        let (x, y) = ((i % w) as f32, (i / w) as f32);
                        2.0 * g.sample((x + 0.5) * sx - 0.5, (y + 0.5) * sy - 0.5)
                    })
                    .collect()
            };
            dx = up(&coarse);
            dy = up(&coarse_y);
            (fw, fh) = (w, h);
        }
        let mut strength = vec![0.0f32; w * h];
        for _ in 0..options.iterations {
            let warp = |g: &Gray, sign: f32| Gray {
                w,
                h,
                v: (0..w * h).map(|i| g.sample((i % w) as f32 + sign * dx[i], (i / w) as f32 + sign * dy[i])).collect(),
            };
            let (w0, w1) = (warp(i0, -1.0), warp(i1, 1.0));
            let (g0x, g0y) = w0.gradients();
            let (g1x, g1y) = w1.gradients();
            let mut terms: [Vec<f32>; 5] = std::array::from_fn(|_| vec![0.0; w * h]);
            for i in 0..w * h {
                let (gx, gy) = (g0x[i] + g1x[i], g0y[i] + g1y[i]);
                let r = w1.v[i] - w0.v[i];
                terms[0][i] = gx * gx;
                terms[1][i] = gx * gy;
                terms[2][i] = gy * gy;
                terms[3][i] = gx * r;
                terms[4][i] = gy * r;
            }
            let [axx, axy, ayy, bx, by] = terms.map(|t| blur(&t, w, h, &window));
            let lambda = options.regularisation;
            for i in 0..w * h {
                // How well the window pins the flow down: the structure tensor's smaller eigenvalue.
                let half_trace = 0.5 * (axx[i] + ayy[i]);
                let spread = (0.25 * (axx[i] - ayy[i]).powi(2) + axy[i] * axy[i]).sqrt();
                strength[i] = (half_trace - spread).max(0.0);
                let (a, b, c) = (axx[i] + lambda, axy[i], ayy[i] + lambda);
                let det = a * c - b * b;
                if det.is_nan() || det.abs() < 1e-12 {
                    continue;
                }
                // δ = −A⁻¹ b, limited to a pixel per step so a bad linearisation cannot run away.
                let ddx = (-(c * bx[i] - b * by[i]) / det).clamp(-1.0, 1.0);
                let ddy = (-(a * by[i] - b * bx[i]) / det).clamp(-1.0, 1.0);
                dx[i] += ddx;
                dy[i] += ddy;
            }
        }
        dx = median3(&dx, w, h);
        dy = median3(&dy, w, h);
        (dx, dy) = fill_weak(&dx, &dy, &strength, w, h, options.window_sigma * 2.0);
    }
    MidpointFlow { width: fw, height: fh, dx, dy }
}

/// The frame halfway between `a` and `b`: both warped to the midpoint and averaged.
pub fn midpoint_frame(a: &Planes, b: &Planes, options: &FlowOptions) -> Planes {
    let flow = midpoint_flow(a, b, options);
    warp_average(a, b, &flow)
}

/// `(a(x − d) + b(x + d)) / 2` on every plane.
pub(crate) fn warp_average(a: &Planes, b: &Planes, flow: &MidpointFlow) -> Planes {
    let (w, h) = (a.width, a.height);
    assert_eq!((flow.width, flow.height), (w, h), "the flow was estimated for frames of another size");
    let mut out = Planes::zeros(a.channels, w, h);
    for c in 0..a.channels {
        let pa = Gray { w, h, v: a.plane(c).to_vec() };
        let pb = Gray { w, h, v: b.plane(c).to_vec() };
        for (i, o) in out.plane_mut(c).iter_mut().enumerate() {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            let (dx, dy) = (flow.dx[i], flow.dy[i]);
            *o = 0.5 * (pa.sample(x - dx, y - dy) + pb.sample(x + dx, y + dy));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured disk (radius 30) centred at (cx, cy) on white, with alpha.
    fn disk(cx: f32, cy: f32) -> Planes {
        let (w, h) = (128, 96);
        let mut p = Planes::zeros(4, w, h);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let inside = ((30.0 - (dx * dx + dy * dy).sqrt()) + 0.5).clamp(0.0, 1.0);
                // A shading that is not periodic, so the match is unambiguous.
                let tex = 0.5 + 0.25 * dx / 30.0 + 0.2 * (dy / 30.0).powi(2);
                let i = y * w + x;
                for c in 0..3 {
                    let colour = tex * [1.0, 0.6, 0.3][c];
                    p.data[c * w * h + i] = colour * inside + (1.0 - inside);
                }
                p.data[3 * w * h + i] = inside;
            }
        }
        p
    }

    fn psnr(a: &Planes, b: &Planes) -> f64 {
        let mse: f64 =
            a.data.iter().zip(&b.data).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.data.len() as f64;
        -10.0 * mse.log10()
    }

    #[test]
    fn midpoint_of_a_moving_disk_lands_halfway() {
        let (a, b, truth) = (disk(44.0, 50.0), disk(60.0, 42.0), disk(52.0, 46.0));
        let flow = midpoint_flow(&a, &b, &FlowOptions::default());
        // At the disk's centre in the middle frame the displacement is half the motion.
        let i = 46 * 128 + 52;
        assert!(
            (flow.dx[i] - 8.0).abs() < 0.5 && (flow.dy[i] + 4.0).abs() < 0.5,
            "d = ({}, {})",
            flow.dx[i],
            flow.dy[i]
        );
        let mid = warp_average(&a, &b, &flow);
        let blend = Planes::from_vec(4, 128, 96, a.data.iter().zip(&b.data).map(|(x, y)| 0.5 * (x + y)).collect());
        let (p_mid, p_blend) = (psnr(&mid, &truth), psnr(&blend, &truth));
        assert!(p_mid > 30.0 && p_mid > p_blend + 8.0, "flow {p_mid:.1} dB vs blend {p_blend:.1} dB");
    }

    #[test]
    fn identical_frames_give_zero_flow_and_the_same_frame() {
        let a = disk(64.0, 48.0);
        let flow = midpoint_flow(&a, &a, &FlowOptions::default());
        assert!(flow.dx.iter().chain(&flow.dy).all(|d| d.abs() < 1e-3));
        assert!(psnr(&warp_average(&a, &a, &flow), &a) > 60.0);
    }

    #[test]
    fn flat_and_tiny_frames_do_not_break() {
        let white = Planes::from_vec(4, 5, 3, vec![1.0; 60]);
        let mid = midpoint_frame(&white, &white, &FlowOptions::default());
        assert!(mid.data.iter().all(|v| (v - 1.0).abs() < 1e-6));
        let mut nan = white.clone();
        nan.data[7] = f32::NAN;
        let mid = midpoint_frame(&white, &nan, &FlowOptions::default());
        assert_eq!(mid.data.len(), 60);
    }
}
