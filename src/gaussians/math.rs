//! The per-Gaussian math in f64: 4D covariance, slicing at time t, EWA projection, SH colour, and the
//! exact analytic backward of all of it. This is the specification the WGSL kernels follow and the
//! CPU reference renderer uses; `export` uses the slicing.

// Culling tests are written `!(x >= limit)` on purpose: NaN fails them, so NaN is culled.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use glam::{DMat3, DMat4, DVec3, DVec4};

use super::SH_C0;

/// Temporal marginal below which a Gaussian is skipped at time t.
pub const MIN_TEMPORAL_WEIGHT: f64 = 0.05;
/// Points closer than this to the camera plane are culled.
pub(crate) const NEAR_PLANE: f64 = 0.01;
/// Screen-space low-pass filter added to the 2D covariance (pixels²).
pub(crate) const LOW_PASS: f64 = 0.3;
/// Alpha below which a splat does not contribute to a pixel.
pub(crate) const MIN_ALPHA: f64 = 1.0 / 255.0;
/// Alpha cap, so transmittance never reaches zero in one splat.
pub(crate) const MAX_ALPHA: f64 = 0.99;
/// Blending stops once transmittance would fall below this.
pub(crate) const MIN_TRANSMITTANCE: f64 = 1e-4;
/// Tangent bound (×half field of view) past which the EWA Jacobian is clamped, as in 3DGS.
pub(crate) const FRUSTUM_GUARD: f64 = 1.3;

const SH_C1: f64 = 0.488_602_511_902_919_9;
const SH_C2: [f64; 5] = [
    1.092_548_430_592_079_2,
    -1.092_548_430_592_079_2,
    0.315_391_565_252_520_05,
    -1.092_548_430_592_079_2,
    0.546_274_215_296_039_6,
];
const SH_C3: [f64; 7] = [
    -0.590_043_589_926_643_5,
    2.890_611_442_640_554,
    -0.457_045_799_464_465_8,
    0.373_176_332_590_115_4,
    -0.457_045_799_464_465_8,
    1.445_305_721_320_277,
    -0.590_043_589_926_643_5,
];

/// One Gaussian's raw parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gaussian {
    pub mean: [f64; 4],
    pub log_scale: [f64; 4],
    pub rot_left: [f64; 4],
    pub rot_right: [f64; 4],
    pub opacity_logit: f64,
    /// K × 3, coefficient-major.
    pub sh: Vec<f64>,
}

/// Gradient with respect to every raw parameter (same layout as [`Gaussian`]).
pub(crate) type GaussianGrad = Gaussian;

impl Gaussian {
    pub(crate) fn zero_like(&self) -> Self {
        Self { sh: vec![0.0; self.sh.len()], ..Default::default() }
    }

    pub(crate) fn add_assign(&mut self, o: &Self) {
        for k in 0..4 {
            self.mean[k] += o.mean[k];
            self.log_scale[k] += o.log_scale[k];
            self.rot_left[k] += o.rot_left[k];
            self.rot_right[k] += o.rot_right[k];
        }
        self.opacity_logit += o.opacity_logit;
        for (a, b) in self.sh.iter_mut().zip(&o.sh) {
            *a += b;
        }
    }
}

/// A camera at a time, as the renderer needs it (OpenCV world-to-camera, pixels).
#[derive(Clone, Copy, Debug)]
pub struct ViewParams {
    pub world_to_camera: DMat4,
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    pub width: u32,
    pub height: u32,
    pub time: f64,
}

impl ViewParams {
    pub fn new(camera: &crate::camera::Camera, time: f64) -> Self {
        let k = camera.intrinsics;
        Self {
            world_to_camera: camera.world_to_camera,
            fx: k.fx,
            fy: k.fy,
            cx: k.cx,
            cy: k.cy,
            width: k.width,
            height: k.height,
            time,
        }
    }

    fn rotation(&self) -> DMat3 {
        DMat3::from_mat4(self.world_to_camera)
    }

    pub(crate) fn camera_position(&self) -> DVec3 {
        -(self.rotation().transpose() * self.world_to_camera.w_axis.truncate())
    }
}

fn rows4(r: [[f64; 4]; 4]) -> DMat4 {
    DMat4::from_cols_array_2d(&r).transpose()
}

/// Left-isoclinic matrix of q_l = (a, b, c, d).
pub(crate) fn left_matrix(q: [f64; 4]) -> DMat4 {
    let [a, b, c, d] = q;
    rows4([[a, -b, -c, -d], [b, a, -d, c], [c, d, a, -b], [d, -c, b, a]])
}

/// Right-isoclinic matrix of q_r = (p, q, r, s).
pub(crate) fn right_matrix(q: [f64; 4]) -> DMat4 {
    let [p, q, r, s] = q;
    rows4([[p, q, r, s], [-q, p, -s, r], [-r, s, p, -q], [-s, -r, q, p]])
}

fn normalize4(q: [f64; 4]) -> ([f64; 4], f64) {
    let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
    ([q[0] / n, q[1] / n, q[2] / n, q[3] / n], n)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn at(m: &DMat4, r: usize, c: usize) -> f64 {
    m.col(c)[r]
}

/// The full 4D covariance Σ = (R S)(R S)ᵀ and its factors.
struct Covariance4 {
    ql: [f64; 4],
    ql_norm: f64,
    qr: [f64; 4],
    qr_norm: f64,
    ml: DMat4,
    mr: DMat4,
    r: DMat4,
    s: DVec4,
    l: DMat4,
    sigma: DMat4,
}

fn covariance4(g: &Gaussian) -> Covariance4 {
    let (ql, ql_norm) = normalize4(g.rot_left);
    let (qr, qr_norm) = normalize4(g.rot_right);
    let ml = left_matrix(ql);
    let mr = right_matrix(qr);
    let r = ml * mr;
    let s = DVec4::from_array(g.log_scale).map(f64::exp);
    let l = DMat4::from_cols(r.x_axis * s.x, r.y_axis * s.y, r.z_axis * s.z, r.w_axis * s.w);
    let sigma = l * l.transpose();
    Covariance4 { ql, ql_norm, qr, qr_norm, ml, mr, r, s, l, sigma }
}

/// L = R·diag(exp(s)): the 4D Gaussian is mean + L·z with z ~ N(0, I₄) (used to split splats).
pub(crate) fn scaled_rotation(g: &Gaussian) -> DMat4 {
    covariance4(g).l
}

/// A 4D Gaussian conditioned on time t: a 3D Gaussian with a time-attenuated opacity.
#[derive(Clone, Copy, Debug)]
pub struct Sliced {
    pub mean: DVec3,
    pub cov: DMat3,
    /// sigmoid(logit) × temporal marginal.
    pub opacity: f64,
    pub temporal_weight: f64,
}

struct SliceParts {
    cov4: Covariance4,
    cross: DVec3,
    var_t: f64,
    dt: f64,
    sig_o: f64,
    out: Sliced,
}

fn slice_parts(g: &Gaussian, t: f64) -> SliceParts {
    let cov4 = covariance4(g);
    let s = &cov4.sigma;
    let sigma3 = DMat3::from_mat4(*s);
    let cross = DVec3::new(at(s, 0, 3), at(s, 1, 3), at(s, 2, 3));
    let var_t = at(s, 3, 3);
    let dt = t - g.mean[3];
    let temporal_weight = (-0.5 * dt * dt / var_t).exp();
    let mean = DVec3::new(g.mean[0], g.mean[1], g.mean[2]) + cross * (dt / var_t);
    let cov = sigma3 - outer(cross, cross) / var_t;
    let sig_o = sigmoid(g.opacity_logit);
    let out = Sliced { mean, cov, opacity: sig_o * temporal_weight, temporal_weight };
    SliceParts { cov4, cross, var_t, dt, sig_o, out }
}

/// Slices a 4D Gaussian at time t (no culling).
pub fn slice(g: &Gaussian, t: f64) -> Sliced {
    slice_parts(g, t).out
}

fn outer(a: DVec3, b: DVec3) -> DMat3 {
    DMat3::from_cols(a * b.x, a * b.y, a * b.z)
}

/// What the rasterizer needs of one Gaussian in one view.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Projected {
    pub mean2d: [f64; 2],
    /// Inverse 2D covariance (A, B, C) = [[A, B], [B, C]].
    pub conic: [f64; 3],
    pub opacity: f64,
    pub color: [f64; 3],
    pub depth: f64,
    /// Pixel radius outside which alpha < 1/255 (for tile overlap).
    pub radius: f64,
}

/// Gradient of the loss with respect to a [`Projected`] (radius and depth have none).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ProjectedGrad {
    pub mean2d: [f64; 2],
    pub conic: [f64; 3],
    pub opacity: f64,
    pub color: [f64; 3],
}

/// SH basis values for a unit direction, up to `k` coefficients.
pub(crate) fn sh_basis(d: DVec3, k: usize) -> [f64; 16] {
    let (x, y, z) = (d.x, d.y, d.z);
    let mut b = [0.0; 16];
    b[0] = SH_C0;
    if k > 1 {
        b[1] = -SH_C1 * y;
        b[2] = SH_C1 * z;
        b[3] = -SH_C1 * x;
    }
    if k > 4 {
        let (xx, yy, zz) = (x * x, y * y, z * z);
        b[4] = SH_C2[0] * x * y;
        b[5] = SH_C2[1] * y * z;
        b[6] = SH_C2[2] * (2.0 * zz - xx - yy);
        b[7] = SH_C2[3] * x * z;
        b[8] = SH_C2[4] * (xx - yy);
        if k > 9 {
            b[9] = SH_C3[0] * y * (3.0 * xx - yy);
            b[10] = SH_C3[1] * x * y * z;
            b[11] = SH_C3[2] * y * (4.0 * zz - xx - yy);
            b[12] = SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
            b[13] = SH_C3[4] * x * (4.0 * zz - xx - yy);
            b[14] = SH_C3[5] * z * (xx - yy);
            b[15] = SH_C3[6] * x * (xx - 3.0 * yy);
        }
    }
    b
}

/// d(basis_k)/d(x, y, z) for each coefficient.
fn sh_basis_grad(d: DVec3, k: usize) -> [DVec3; 16] {
    let (x, y, z) = (d.x, d.y, d.z);
    let mut g = [DVec3::ZERO; 16];
    if k > 1 {
        g[1] = DVec3::new(0.0, -SH_C1, 0.0);
        g[2] = DVec3::new(0.0, 0.0, SH_C1);
        g[3] = DVec3::new(-SH_C1, 0.0, 0.0);
    }
    if k > 4 {
        let c = SH_C2;
        g[4] = DVec3::new(c[0] * y, c[0] * x, 0.0);
        g[5] = DVec3::new(0.0, c[1] * z, c[1] * y);
        g[6] = DVec3::new(-2.0 * c[2] * x, -2.0 * c[2] * y, 4.0 * c[2] * z);
        g[7] = DVec3::new(c[3] * z, 0.0, c[3] * x);
        g[8] = DVec3::new(2.0 * c[4] * x, -2.0 * c[4] * y, 0.0);
        if k > 9 {
            let c = SH_C3;
            let (xx, yy, zz) = (x * x, y * y, z * z);
            g[9] = DVec3::new(6.0 * c[0] * x * y, c[0] * (3.0 * xx - 3.0 * yy), 0.0);
            g[10] = DVec3::new(c[1] * y * z, c[1] * x * z, c[1] * x * y);
            g[11] = DVec3::new(-2.0 * c[2] * x * y, c[2] * (4.0 * zz - xx - 3.0 * yy), 8.0 * c[2] * y * z);
            g[12] = DVec3::new(-6.0 * c[3] * x * z, -6.0 * c[3] * y * z, c[3] * (6.0 * zz - 3.0 * xx - 3.0 * yy));
            g[13] = DVec3::new(c[4] * (4.0 * zz - 3.0 * xx - yy), -2.0 * c[4] * x * y, 8.0 * c[4] * x * z);
            g[14] = DVec3::new(2.0 * c[5] * x * z, -2.0 * c[5] * y * z, c[5] * (xx - yy));
            g[15] = DVec3::new(c[6] * (3.0 * xx - 3.0 * yy), -6.0 * c[6] * x * y, 0.0);
        }
    }
    g
}

/// Raw colour before the clamp at zero.
fn sh_color(sh: &[f64], dir: DVec3) -> [f64; 3] {
    let k = sh.len() / 3;
    let b = sh_basis(dir, k);
    let mut c = [0.5; 3];
    for (i, bi) in b.iter().enumerate().take(k) {
        for (ch, cc) in c.iter_mut().enumerate() {
            *cc += bi * sh[i * 3 + ch];
        }
    }
    c
}

struct ProjectParts {
    slice: SliceParts,
    p_cam: DVec3,
    t_xz: f64,
    t_yz: f64,
    clamped_x: bool,
    clamped_y: bool,
    jw: [[f64; 3]; 2],
    dir: DVec3,
    dir_len: f64,
    raw_color: [f64; 3],
    out: Projected,
}

fn project_parts(g: &Gaussian, v: &ViewParams) -> Option<ProjectParts> {
    let slice = slice_parts(g, v.time);
    let sl = slice.out;
    if !(sl.temporal_weight >= MIN_TEMPORAL_WEIGHT) {
        return None;
    }
    let w = v.rotation();
    let p_cam = w * sl.mean + v.world_to_camera.w_axis.truncate();
    if !(p_cam.z > NEAR_PLANE) {
        return None;
    }
    let (lim_x, lim_y) = (FRUSTUM_GUARD * 0.5 * v.width as f64 / v.fx, FRUSTUM_GUARD * 0.5 * v.height as f64 / v.fy);
    let (rx, ry) = (p_cam.x / p_cam.z, p_cam.y / p_cam.z);
    let t_xz = rx.clamp(-lim_x, lim_x);
    let t_yz = ry.clamp(-lim_y, lim_y);
    let z = p_cam.z;
    let j = [[v.fx / z, 0.0, -v.fx * t_xz / z], [0.0, v.fy / z, -v.fy * t_yz / z]];
    // T = J W (2×3); W's rows are w.row(k).
    let mut jw = [[0.0; 3]; 2];
    for (r, jr) in j.iter().enumerate() {
        for (c, out) in jw[r].iter_mut().enumerate() {
            *out = (0..3).map(|k| jr[k] * w.row(k)[c]).sum();
        }
    }
    let cov = sl.cov;
    let tc = |r: usize, c: usize| -> f64 { (0..3).map(|k| jw[r][k] * cov.col(c)[k]).sum() };
    let tct = |r: usize, s: usize| -> f64 { (0..3).map(|c| tc(r, c) * jw[s][c]).sum() };
    let cov2 = [tct(0, 0) + LOW_PASS, tct(0, 1), tct(1, 1) + LOW_PASS];
    let det = cov2[0] * cov2[2] - cov2[1] * cov2[1];
    if !(det > 0.0) {
        return None;
    }
    let conic = [cov2[2] / det, -cov2[1] / det, cov2[0] / det];
    let mean2d = [v.fx * rx + v.cx, v.fy * ry + v.cy];
    let opacity = sl.opacity;
    if !(opacity >= MIN_ALPHA) {
        return None;
    }
    let to_mean = sl.mean - v.camera_position();
    let dir_len = to_mean.length();
    let dir = to_mean / dir_len;
    let raw_color = sh_color(&g.sh, dir);
    if !raw_color.iter().all(|c| c.is_finite()) {
        return None;
    }
    let color = raw_color.map(|c| c.max(0.0));
    let mid = 0.5 * (cov2[0] + cov2[2]);
    let lambda_max = mid + (mid * mid - det).max(0.0).sqrt();
    let radius = (2.0 * (opacity / MIN_ALPHA).ln() * lambda_max).sqrt();
    let out = Projected { mean2d, conic, opacity, color, depth: z, radius };
    if !out.mean2d.iter().chain(&out.conic).chain(&out.color).all(|x| x.is_finite()) {
        return None;
    }
    Some(ProjectParts {
        slice,
        p_cam,
        t_xz,
        t_yz,
        clamped_x: rx != t_xz,
        clamped_y: ry != t_yz,
        jw,
        dir,
        dir_len,
        raw_color,
        out,
    })
}

/// Slices and projects a Gaussian into a view; `None` when it is culled (temporal weight, near plane,
/// degenerate covariance, invisible opacity, non-finite values).
pub fn project(g: &Gaussian, v: &ViewParams) -> Option<Projected> {
    project_parts(g, v).map(|p| p.out)
}

/// Chain rule from the projected quantities back to every raw parameter.
#[allow(clippy::needless_range_loop)] // small matrix products read clearest with indices
pub(crate) fn project_backward(g: &Gaussian, v: &ViewParams, grad: &ProjectedGrad) -> GaussianGrad {
    let mut out = g.zero_like();
    let Some(pp) = project_parts(g, v) else {
        return out;
    };
    let sp = &pp.slice;
    let (fx, fy) = (v.fx, v.fy);
    let w = v.rotation();

    // Colour: SH coefficients directly, the view direction through the mean.
    let k = g.sh.len() / 3;
    let basis = sh_basis(pp.dir, k);
    let basis_grad = sh_basis_grad(pp.dir, k);
    let mut d_dir = DVec3::ZERO;
    for ch in 0..3 {
        let gc = if pp.raw_color[ch] < 0.0 { 0.0 } else { grad.color[ch] };
        for i in 0..k {
            out.sh[i * 3 + ch] = basis[i] * gc;
            d_dir += basis_grad[i] * (g.sh[i * 3 + ch] * gc);
        }
    }
    let mut d_mean3 = (d_dir - pp.dir * pp.dir.dot(d_dir)) / pp.dir_len;

    // Conic = inverse(cov2): dCov2 = −Conic · G · Conic with G the symmetric gradient matrix.
    let [ca, cb, cc] = pp.out.conic;
    let gm = [[grad.conic[0], 0.5 * grad.conic[1]], [0.5 * grad.conic[1], grad.conic[2]]];
    let cm = [[ca, cb], [cb, cc]];
    let mut d_cov2 = [[0.0; 2]; 2];
    for r in 0..2 {
        for c in 0..2 {
            let mut acc = 0.0;
            for a in 0..2 {
                for b in 0..2 {
                    acc += cm[r][a] * gm[a][b] * cm[b][c];
                }
            }
            d_cov2[r][c] = -acc;
        }
    }
    // cov2 = T cov3 Tᵀ: dcov3 = Tᵀ dCov2 T, dT = 2 dCov2 T cov3.
    let t = pp.jw;
    let cov3 = sp.out.cov;
    let mut d_cov3 = DMat3::ZERO;
    for r in 0..3 {
        for c in 0..3 {
            let mut acc = 0.0;
            for a in 0..2 {
                for b in 0..2 {
                    acc += t[a][r] * d_cov2[a][b] * t[b][c];
                }
            }
            d_cov3.col_mut(c)[r] = acc;
        }
    }
    let mut d_t = [[0.0; 3]; 2];
    for (a, row) in d_t.iter_mut().enumerate() {
        for (c, out_ac) in row.iter_mut().enumerate() {
            let mut acc = 0.0;
            for b in 0..2 {
                for m in 0..3 {
                    acc += d_cov2[a][b] * t[b][m] * cov3.col(c)[m];
                }
            }
            *out_ac = 2.0 * acc;
        }
    }
    // T = J W: dJ = dT Wᵀ.
    let mut d_j = [[0.0; 3]; 2];
    for (a, row) in d_j.iter_mut().enumerate() {
        for (kk, out_ak) in row.iter_mut().enumerate() {
            *out_ak = (0..3).map(|c| d_t[a][c] * w.row(kk)[c]).sum();
        }
    }
    let (x, y, z) = (pp.p_cam.x, pp.p_cam.y, pp.p_cam.z);
    let mut d_p = DVec3::ZERO;
    // J00 = fx/z, J11 = fy/z, J02 = −fx·t_xz/z, J12 = −fy·t_yz/z.
    d_p.z += d_j[0][0] * (-fx / (z * z)) + d_j[1][1] * (-fy / (z * z));
    d_p.z += d_j[0][2] * fx * pp.t_xz / (z * z) + d_j[1][2] * fy * pp.t_yz / (z * z);
    if !pp.clamped_x {
        d_p.x += d_j[0][2] * (-fx / z) / z;
        d_p.z += d_j[0][2] * (-fx / z) * (-x / (z * z));
    }
    if !pp.clamped_y {
        d_p.y += d_j[1][2] * (-fy / z) / z;
        d_p.z += d_j[1][2] * (-fy / z) * (-y / (z * z));
    }
    // Mean in pixels.
    d_p.x += grad.mean2d[0] * fx / z;
    d_p.y += grad.mean2d[1] * fy / z;
    d_p.z += -grad.mean2d[0] * fx * x / (z * z) - grad.mean2d[1] * fy * y / (z * z);
    d_mean3 += w.transpose() * d_p;

    // Opacity = sigmoid(o) · exp(−½ dt²/Σtt).
    let (dt, var_t, cross) = (sp.dt, sp.var_t, sp.cross);
    let wt = sp.out.temporal_weight;
    out.opacity_logit = grad.opacity * wt * sp.sig_o * (1.0 - sp.sig_o);
    let d_wt = grad.opacity * sp.sig_o;
    let mut d_dt = d_wt * wt * (-dt / var_t);
    let mut d_var_t = d_wt * wt * 0.5 * dt * dt / (var_t * var_t);
    // mean3 = μxyz + σ·dt/Σtt.
    let mut d_cross = d_mean3 * (dt / var_t);
    d_dt += d_mean3.dot(cross) / var_t;
    d_var_t += -d_mean3.dot(cross) * dt / (var_t * var_t);
    // cov3 = Σ3 − σσᵀ/Σtt (d_cov3 is symmetric).
    let d_cov3_sym = (d_cov3 + d_cov3.transpose()) * 0.5;
    d_cross += -(d_cov3_sym * cross) * (2.0 / var_t);
    d_var_t += cross.dot(d_cov3_sym * cross) / (var_t * var_t);
    out.mean = [d_mean3.x, d_mean3.y, d_mean3.z, -d_dt];

    // Gradient matrix of the symmetric Σ.
    let mut g_sigma = DMat4::ZERO;
    for r in 0..3 {
        for c in 0..3 {
            g_sigma.col_mut(c)[r] = d_cov3_sym.col(c)[r];
        }
        g_sigma.col_mut(3)[r] = 0.5 * d_cross[r];
        g_sigma.col_mut(r)[3] = 0.5 * d_cross[r];
    }
    g_sigma.col_mut(3)[3] = d_var_t;

    // Σ = L Lᵀ, L = R·diag(s).
    let c4 = &sp.cov4;
    let d_l = (g_sigma + g_sigma.transpose()) * c4.l;
    let s = c4.s;
    let d_r = DMat4::from_cols(d_l.x_axis * s.x, d_l.y_axis * s.y, d_l.z_axis * s.z, d_l.w_axis * s.w);
    for j in 0..4 {
        let ds: f64 = d_l.col(j).dot(c4.r.col(j));
        out.log_scale[j] = ds * s[j];
    }
    // R = Ml · Mr.
    let d_ml = d_r * c4.mr.transpose();
    let d_mr = c4.ml.transpose() * d_r;
    let gl = |r, c| at(&d_ml, r, c);
    let d_ql = [
        gl(0, 0) + gl(1, 1) + gl(2, 2) + gl(3, 3),
        -gl(0, 1) + gl(1, 0) - gl(2, 3) + gl(3, 2),
        -gl(0, 2) + gl(1, 3) + gl(2, 0) - gl(3, 1),
        -gl(0, 3) - gl(1, 2) + gl(2, 1) + gl(3, 0),
    ];
    let gr = |r, c| at(&d_mr, r, c);
    let d_qr = [
        gr(0, 0) + gr(1, 1) + gr(2, 2) + gr(3, 3),
        gr(0, 1) - gr(1, 0) - gr(2, 3) + gr(3, 2),
        gr(0, 2) + gr(1, 3) - gr(2, 0) - gr(3, 1),
        gr(0, 3) - gr(1, 2) + gr(2, 1) - gr(3, 0),
    ];
    out.rot_left = normalize_backward(c4.ql, c4.ql_norm, d_ql);
    out.rot_right = normalize_backward(c4.qr, c4.qr_norm, d_qr);
    out
}

fn normalize_backward(q_hat: [f64; 4], norm: f64, d: [f64; 4]) -> [f64; 4] {
    let dot: f64 = (0..4).map(|i| q_hat[i] * d[i]).sum();
    [0, 1, 2, 3].map(|i| (d[i] - q_hat[i] * dot) / norm)
}

/// Factors a 4D rotation matrix into the left and right unit quaternions with
/// `left_matrix(l) · right_matrix(r) = m` (unique up to a common sign). The product is bilinear in
/// (l, r), so `m` is a linear image of the outer product l·rᵀ; that map is inverted and l, r are read
/// off the rank-one result. Used to turn 3D splats (PLY frames) into 4D Gaussians.
pub(crate) fn factor_rotation4(m: DMat4) -> ([f64; 4], [f64; 4]) {
    use nalgebra::{SMatrix, SVector};
    let basis = |i: usize| {
        let mut q = [0.0; 4];
        q[i] = 1.0;
        q
    };
    let mut map = SMatrix::<f64, 16, 16>::zeros();
    for a in 0..4 {
        for b in 0..4 {
            let r = left_matrix(basis(a)) * right_matrix(basis(b));
            for (k, v) in r.to_cols_array().iter().enumerate() {
                map[(k, a * 4 + b)] = *v;
            }
        }
    }
    let target = SVector::<f64, 16>::from_column_slice(&m.to_cols_array());
    let outer = map.lu().solve(&target).unwrap_or_else(SVector::zeros);
    let p = |a: usize, b: usize| outer[a * 4 + b];
    // The row of l·rᵀ with the largest norm is l_a · r; normalise it to get r, then l = P·r.
    let best = (0..4)
        .max_by(|&x, &y| {
            let n = |a: usize| (0..4).map(|b| p(a, b).powi(2)).sum::<f64>();
            n(x).total_cmp(&n(y))
        })
        .unwrap_or(0);
    let row: [f64; 4] = std::array::from_fn(|b| p(best, b));
    let (r, _) = normalize4(row);
    let l: [f64; 4] = std::array::from_fn(|a| (0..4).map(|b| p(a, b) * r[b]).sum());
    (normalize4(l).0, r)
}

#[cfg(test)]
mod factor_tests {
    use super::*;

    #[test]
    fn factoring_recovers_the_rotation() {
        let cases = [([0.3, -0.5, 0.7, 0.1], [0.9, 0.2, -0.1, 0.4]), ([1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0])];
        for (l, r) in cases {
            let (l, r) = (normalize4(l).0, normalize4(r).0);
            let m = left_matrix(l) * right_matrix(r);
            let (l2, r2) = factor_rotation4(m);
            let back = left_matrix(l2) * right_matrix(r2);
            assert!(back.abs_diff_eq(m, 1e-9), "{m} vs {back}");
        }
        // A pure 3D rotation (t untouched) factors too.
        let r3 = DMat3::from_euler(glam::EulerRot::XYZ, 0.4, -1.1, 2.0);
        let m = DMat4::from_mat3(r3);
        let (l, r) = factor_rotation4(m);
        assert!((left_matrix(l) * right_matrix(r)).abs_diff_eq(m, 1e-9));
    }
}
