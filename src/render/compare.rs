//! Comparing the WGSL rasterizer with its f64 CPU reference: image differences, the reference's
//! gradients for a batch of views, and the worst gradient error per parameter group. The tests and
//! `efficient4d gpu --check` share these, so both judge a device by the same rule.

use super::RasterView;
use super::reference::{ReferenceImage, render, render_backward};
use crate::camera::{Intrinsics, SyncDreamerRig};
use crate::gaussians::math::{GaussianGrad, ViewParams};
use crate::gaussians::{Gaussians4d, ParamGroups};

/// Rig view `i` at `time`, rendered at w × h with the rig's field of view (stretched to the aspect).
pub fn rig_view(i: u32, time: f32, (w, h): (u32, u32), background: [f32; 3]) -> RasterView {
    let mut camera = SyncDreamerRig::default().camera(i);
    camera.intrinsics = Intrinsics {
        fx: 280.0 * w as f64 / 256.0,
        fy: 280.0 * h as f64 / 256.0,
        cx: w as f64 / 2.0,
        cy: h as f64 / 2.0,
        width: w,
        height: h,
    };
    RasterView { camera, time, background }
}

/// The reference render of `v`.
pub fn reference_image(gs: &Gaussians4d, v: &RasterView) -> ReferenceImage {
    render(gs, &ViewParams::new(&v.camera, v.time as f64), v.background.map(|c| c as f64))
}

/// Per-channel comparison statistics of a rendered RGBA (f32) image against the reference.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImageDiff {
    pub max: f64,
    pub mean: f64,
    /// Fraction of values off by more than 1e-3.
    pub frac_over_1e3: f64,
}

impl ImageDiff {
    /// The rule every forward check applies: splats right at the 1/255 alpha cut-off or the
    /// transmittance stop may flip between f32 and f64, so a few values may differ visibly, the
    /// mean hardly at all.
    pub const MAX: f64 = 5e-3;
    pub(crate) const MEAN: f64 = 1e-5;
    pub(crate) const FRAC_OVER_1E3: f64 = 1e-3;

    pub fn passes(&self) -> bool {
        self.max < Self::MAX && self.mean < Self::MEAN && self.frac_over_1e3 < Self::FRAC_OVER_1E3
    }

    /// The worse of two.
    pub fn worst(self, other: Self) -> Self {
        Self {
            max: self.max.max(other.max),
            mean: self.mean.max(other.mean),
            frac_over_1e3: self.frac_over_1e3.max(other.frac_over_1e3),
        }
    }
}

pub fn image_diff(rendered: &[f32], r: &ReferenceImage) -> ImageDiff {
    let (mut max, mut sum, mut over, mut n) = (0.0f64, 0.0, 0usize, 0usize);
    for (i, px) in rendered.chunks_exact(4).enumerate() {
        let want = [r.rgb[i][0], r.rgb[i][1], r.rgb[i][2], r.alpha[i]];
        for c in 0..4 {
            let e = (px[c] as f64 - want[c]).abs();
            let e = if e.is_nan() { f64::INFINITY } else { e };
            max = max.max(e);
            sum += e;
            over += (e > 1e-3) as usize;
            n += 1;
        }
    }
    ImageDiff { max, mean: sum / n.max(1) as f64, frac_over_1e3: over as f64 / n.max(1) as f64 }
}

/// dL/d(r, g, b, alpha) of a fixed pseudo-random linear loss, per pixel of `views` images.
pub fn test_pixel_grads(views: usize, pixels: usize) -> Vec<f32> {
    (0..views * pixels * 4).map(|i| (((i * 7919) % 101) as f32 / 101.0 - 0.45) * 0.8).collect()
}

/// The reference's gradients of every Gaussian over `views`, given dL/d(rgba) per pixel `d`.
pub fn reference_gradients(gs: &Gaussians4d, views: &[RasterView], d: &[f32]) -> Vec<GaussianGrad> {
    let mut total: Vec<GaussianGrad> = (0..gs.len()).map(|i| gs.get(i).zero_like()).collect();
    let mut offset = 0;
    for v in views {
        let px = (v.camera.intrinsics.width * v.camera.intrinsics.height) as usize;
        let slice = &d[offset * 4..(offset + px) * 4];
        offset += px;
        let d_rgb: Vec<[f64; 3]> = slice.chunks_exact(4).map(|c| [c[0] as f64, c[1] as f64, c[2] as f64]).collect();
        let d_a: Vec<f64> = slice.chunks_exact(4).map(|c| c[3] as f64).collect();
        let view = ViewParams::new(&v.camera, v.time as f64);
        let g = render_backward(gs, &view, v.background.map(|c| c as f64), &d_rgb, &d_a);
        for (t, gi) in total.iter_mut().zip(&g) {
            t.add_assign(gi);
        }
    }
    total
}

/// The parameter groups of a gradient held as Gaussians (the GPU's layout).
pub fn gradient_groups(g: &Gaussians4d) -> ParamGroups<&[f32]> {
    g.groups().map(|rows| rows.as_slice())
}

/// The same groups of the reference's gradients, in the same layout.
pub(crate) fn reference_groups(r: &[GaussianGrad]) -> ParamGroups<Vec<f64>> {
    ParamGroups {
        means: r.iter().flat_map(|g| g.mean).collect(),
        log_scales: r.iter().flat_map(|g| g.log_scale).collect(),
        rot_left: r.iter().flat_map(|g| g.rot_left).collect(),
        rot_right: r.iter().flat_map(|g| g.rot_right).collect(),
        opacity: r.iter().map(|g| g.opacity_logit).collect(),
        sh: r.iter().flat_map(|g| g.sh.clone()).collect(),
    }
}

/// The worst error of one gradient group against the reference, in units of its tolerance
/// (1e-4 of the group's largest magnitude plus 1e-3 of the value: atomics add in any order, f32
/// against f64): at most 1 passes. NaN counts as infinitely wrong; an all-zero reference, which
/// would test nothing, as well.
#[derive(Clone, Copy, Debug)]
pub struct GroupError {
    pub group: &'static str,
    pub worst: f64,
    pub index: usize,
    pub got: f32,
    pub want: f64,
}

pub fn group_errors(got: &Gaussians4d, want: &[GaussianGrad]) -> Vec<GroupError> {
    gradient_groups(got)
        .zip(reference_groups(want))
        .into_array()
        .into_iter()
        .zip(ParamGroups::<()>::NAMES)
        .map(|((got, want), group)| {
            let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let mut e = GroupError { group, worst: 0.0, index: 0, got: 0.0, want: 0.0 };
            if scale == 0.0 || got.len() != want.len() {
                e.worst = f64::INFINITY;
                return e;
            }
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                let err = (*g as f64 - w).abs() / (1e-4 * scale + 1e-3 * w.abs());
                let err = if err.is_nan() { f64::INFINITY } else { err };
                if err > e.worst {
                    e = GroupError { group, worst: err, index: i, got: *g, want: *w };
                }
            }
            e
        })
        .collect()
}

/// How closely another renderer's image of a view (a browser viewer's canvas: premultiplied RGBA8, top
/// row first) matches ours (RGBA f32 rendered on black, so its colour is premultiplied too).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CaptureAgreement {
    /// Intersection over union of the silhouettes (alpha above one half).
    pub iou: f64,
    /// PSNR of the colour over the union of the silhouettes.
    pub psnr: f64,
    /// Pixels in that union.
    pub object_pixels: usize,
}

pub fn capture_agreement(captured: &[u8], ours: &[f32]) -> CaptureAgreement {
    assert_eq!(captured.len(), ours.len(), "the two images must have the same size");
    let (mut both, mut either, mut squared) = (0usize, 0usize, 0.0f64);
    for (p, o) in captured.chunks_exact(4).zip(ours.chunks_exact(4)) {
        let (in_captured, in_ours) = (f64::from(p[3]) / 255.0 > 0.5, o[3] > 0.5);
        both += usize::from(in_captured && in_ours);
        if in_captured || in_ours {
            either += 1;
            squared += (0..3).map(|c| (f64::from(p[c]) / 255.0 - f64::from(o[c]).clamp(0.0, 1.0)).powi(2)).sum::<f64>();
        }
    }
    let mse = squared / (3 * either.max(1)) as f64;
    CaptureAgreement {
        iou: both as f64 / either.max(1) as f64,
        psnr: 10.0 * (1.0 / mse.max(1e-12)).log10(),
        object_pixels: either,
    }
}

#[cfg(test)]
mod capture_tests {
    use super::*;

    #[test]
    fn capture_agreement_counts_silhouettes_and_colour_error() {
        // Two pixels: both opaque red (one captured a level off), one only in ours, one empty.
        let captured = [254, 0, 0, 255, 255, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0];
        let ours = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.5, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        let a = capture_agreement(&captured, &ours);
        assert_eq!((a.iou, a.object_pixels), (2.0 / 3.0, 3));
        let mse = ((1.0f64 / 255.0).powi(2) + 0.25) / 9.0;
        assert!((a.psnr - 10.0 * (1.0 / mse).log10()).abs() < 1e-9, "{a:?}");
    }
}
