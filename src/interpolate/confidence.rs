//! Efficient4D's confidence maps: how far each pixel of a frame is from what its neighbours in time
//! predict. A frame the generator drew inconsistently with its neighbours disagrees with their
//! interpolation, so its pixels get less weight in the trainer's loss.
//!
//! For frame i of n (per view): frames 0 and n−1 are fully trusted; frames 1 and n−2 are predicted
//! from (i−1, i+1); the others average the error maps of (i−1, i+1) and (i−2, i+2). An error map is
//! `1 − mean_c SSIM` (11×11 Gaussian window, σ = 1.5, zero padding, C1 = 0.01², C2 = 0.03²) or
//! `Σ_c |I − prediction|`; it becomes a confidence by `(max e − e) / max(max e − e)`, clamped to [0, 1].

use super::planes::Planes;
use crate::metrics::ssim_map_cpu;

/// Which error map becomes the confidence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ConfidenceMetric {
    /// 1 − SSIM: structural disagreement (Efficient4D's choice).
    #[default]
    Ssim,
    /// Σ_c |Δ|: colour disagreement.
    Rgb,
}

/// Per-pixel SSIM averaged over channels (dynamic range 1), computed in f64: the trainer's evaluation
/// SSIM, per pixel.
pub(crate) fn ssim_map(a: &Planes, b: &Planes) -> Vec<f32> {
    assert_eq!((a.channels, a.width, a.height), (b.channels, b.width, b.height), "SSIM needs equal shapes");
    let (pa, pb): (Vec<&[f32]>, Vec<&[f32]>) = (0..a.channels).map(|c| (a.plane(c), b.plane(c))).unzip();
    ssim_map_cpu(&pa, &pb, a.width, a.height).into_iter().map(|s| s as f32).collect()
}

/// The error map of `frame` against its `prediction` (same channels; use RGB on the background).
pub(crate) fn error_map(frame: &Planes, prediction: &Planes, metric: ConfidenceMetric) -> Vec<f32> {
    match metric {
        ConfidenceMetric::Ssim => ssim_map(frame, prediction).iter().map(|s| 1.0 - s).collect(),
        ConfidenceMetric::Rgb => {
            let n = frame.width * frame.height;
            let mut e = vec![0.0f32; n];
            for c in 0..frame.channels {
                for ((e, a), b) in e.iter_mut().zip(frame.plane(c)).zip(prediction.plane(c)) {
                    *e += (a - b).abs();
                }
            }
            e
        }
    }
}

/// Error → confidence: `(max e − e) / max(max e − e)`, clamped to [0, 1]. A flat error (nothing
/// stands out, e.g. a perfect prediction) gives full confidence rather than 0/0.
pub(crate) fn error_to_confidence(error: &[f32]) -> Vec<f32> {
    let (lo, hi) = error.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &e| {
        if e.is_finite() { (lo.min(e), hi.max(e)) } else { (lo, hi) }
    });
    let range = hi - lo;
    if range.is_nan() || range <= 0.0 {
        return vec![1.0; error.len()];
    }
    // Non-finite errors (a broken prediction) are treated as the worst seen.
    error.iter().map(|&e| if e.is_finite() { ((hi - e) / range).clamp(0.0, 1.0) } else { 0.0 }).collect()
}

/// Which neighbour pairs predict frame `i` of `n` (empty: fully trusted).
pub(crate) fn neighbour_pairs(i: usize, n: usize) -> Vec<(usize, usize)> {
    if i == 0 || i + 1 >= n {
        return Vec::new();
    }
    let mut pairs = vec![(i - 1, i + 1)];
    if i >= 2 && i + 2 < n {
        pairs.push((i - 2, i + 2));
    }
    pairs
}

/// The confidence of `frame` given its predictions from the pairs of [`neighbour_pairs`] (error
/// maps averaged first, then converted). No predictions: all ones.
pub fn frame_confidence(frame: &Planes, predictions: &[Planes], metric: ConfidenceMetric) -> Vec<f32> {
    let n = frame.width * frame.height;
    if predictions.is_empty() {
        return vec![1.0; n];
    }
    let mut mean = vec![0.0f32; n];
    for p in predictions {
        for (m, e) in mean.iter_mut().zip(error_map(frame, p, metric)) {
            *m += e;
        }
    }
    let k = predictions.len() as f32;
    mean.iter_mut().for_each(|m| *m /= k);
    error_to_confidence(&mean)
}
