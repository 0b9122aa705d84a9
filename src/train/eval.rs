//! Evaluation: PSNR and SSIM of a model on a dataset split, composited on a background.

use crate::dataset::View;
use crate::gaussians::Gaussians4d;
use crate::render::{RasterError, RasterView, Rasterizer};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub psnr: f64,
    pub ssim: f64,
    pub views: usize,
    pub width: u32,
    pub height: u32,
    pub per_view_psnr: Vec<f64>,
    /// The time of each view, beside its PSNR: on D-NeRF the clip's two ends are the worst views.
    pub per_view_time: Vec<f32>,
}

/// Renders every view (in batches) and compares RGB against the view's image composited on `background`.
pub fn evaluate(
    r: &Rasterizer,
    g: &Gaussians4d,
    views: &[View],
    background: [f32; 3],
) -> Result<EvalReport, RasterError> {
    evaluate_each(r, g, views, background, |_, _, _| {})
}

/// [`evaluate`], handing each view's rendered and target RGB (row-major, in [0, 1]) to `each` with
/// the view's index, e.g. to save them for a look.
pub fn evaluate_each(
    r: &Rasterizer,
    g: &Gaussians4d,
    views: &[View],
    background: [f32; 3],
    mut each: impl FnMut(usize, &[f32], &[f32]),
) -> Result<EvalReport, RasterError> {
    let first = views.first().ok_or_else(|| RasterError::Input("no views to evaluate".into()))?;
    let (w, h) = first.image.dimensions();
    let params = r.upload(g)?;
    let (mut psnrs, mut ssims) = (Vec::new(), Vec::new());
    for chunk in views.chunks(8) {
        let rv: Vec<RasterView> =
            chunk.iter().map(|v| RasterView { camera: v.camera, time: v.time, background }).collect();
        let out = r.forward(&params, &rv, false)?;
        let img = r.read_color(&out)?;
        for (i, v) in chunk.iter().enumerate() {
            let px = (w * h) as usize;
            let rendered: Vec<f32> =
                img[i * px * 4..(i + 1) * px * 4].chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
            let target: Vec<f32> = v.composited(background).chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
            each(psnrs.len(), &rendered, &target);
            psnrs.push(crate::metrics::psnr(&rendered, &target));
            ssims.push(crate::metrics::ssim_cpu(&rendered, &target, w as usize, h as usize, 3));
        }
    }
    let n = psnrs.len() as f64;
    Ok(EvalReport {
        psnr: psnrs.iter().sum::<f64>() / n,
        ssim: ssims.iter().sum::<f64>() / n,
        views: psnrs.len(),
        width: w,
        height: h,
        per_view_psnr: psnrs,
        per_view_time: views.iter().map(|v| v.time).collect(),
    })
}
