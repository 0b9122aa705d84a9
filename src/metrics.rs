//! Image quality on the CPU in f64: PSNR, and SSIM with the window the training loss uses (11×11
//! Gaussian, σ = 1.5, zero padding, C1 = 0.01², C2 = 0.03²). Evaluation, confidence maps and the
//! loss's reference all measure with these.

pub(crate) const SSIM_WINDOW: usize = 11;
pub(crate) const SSIM_SIGMA: f64 = 1.5;
pub(crate) const C1: f64 = 0.01 * 0.01;
pub(crate) const C2: f64 = 0.03 * 0.03;

/// The normalised 1D Gaussian window, in f64.
pub(crate) fn gaussian_window_f64() -> Vec<f64> {
    let half = (SSIM_WINDOW / 2) as f64;
    let w: Vec<f64> =
        (0..SSIM_WINDOW).map(|i| (-(i as f64 - half).powi(2) / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp()).collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| v / s).collect()
}

/// What a blur reads beyond the image's edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Border {
    /// Zeros (SSIM's convention).
    Zero,
    /// The nearest edge pixel.
    Clamp,
}

/// Separable blur of a w × h image with an odd-length kernel (rows, then columns). Each pass adds
/// the taps' shifted copies of whole rows (a padded one for the horizontal pass), which the compiler
/// vectorises; each pixel's sum still runs in tap order.
pub(crate) fn separable_blur<T>(src: &[T], w: usize, h: usize, taps: &[T], border: Border) -> Vec<T>
where
    T: Copy + Default + std::ops::Mul<Output = T> + std::ops::AddAssign,
{
    assert_eq!(src.len(), w * h, "blur: the image is not w × h");
    if src.is_empty() {
        return Vec::new();
    }
    let r = taps.len() / 2;
    let mut rows = vec![T::default(); w * h];
    let mut padded = vec![T::default(); w + 2 * r];
    for (src_row, out_row) in src.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
        if border == Border::Clamp {
            padded[..r].fill(src_row[0]);
            padded[r + w..].fill(src_row[w - 1]);
        }
        padded[r..r + w].copy_from_slice(src_row);
        for (k, &t) in taps.iter().enumerate() {
            for (o, &s) in out_row.iter_mut().zip(&padded[k..k + w]) {
                *o += t * s;
            }
        }
    }
    let mut out = vec![T::default(); w * h];
    for (y, out_row) in out.chunks_exact_mut(w).enumerate() {
        for (k, &t) in taps.iter().enumerate() {
            let sy = y + k;
            let sy = match border {
                Border::Zero if sy < r || sy - r >= h => continue,
                Border::Zero => sy - r,
                Border::Clamp => sy.saturating_sub(r).min(h - 1),
            };
            for (o, &s) in out_row.iter_mut().zip(&rows[sy * w..(sy + 1) * w]) {
                *o += t * s;
            }
        }
    }
    out
}

/// Per-pixel SSIM on the CPU in f64, averaged over channels: `a[c]` and `b[c]` are channel c of the
/// two images (w × h, row-major). Zero padding, the 11×11 Gaussian window, C1 = 0.01², C2 = 0.03².
pub(crate) fn ssim_map_cpu(a: &[&[f32]], b: &[&[f32]], width: usize, height: usize) -> Vec<f64> {
    assert_eq!(a.len(), b.len(), "SSIM needs the same channels");
    let win = gaussian_window_f64();
    let blur = |src: &[f64]| separable_blur(src, width, height, &win, Border::Zero);
    let mut mean = vec![0.0f64; width * height];
    for (pa, pb) in a.iter().zip(b) {
        let pa: Vec<f64> = pa.iter().map(|&v| v as f64).collect();
        let pb: Vec<f64> = pb.iter().map(|&v| v as f64).collect();
        let product = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(p, q)| p * q).collect::<Vec<_>>();
        let (mu_a, mu_b) = (blur(&pa), blur(&pb));
        let (saa, sbb, sab) = (blur(&product(&pa, &pa)), blur(&product(&pb, &pb)), blur(&product(&pa, &pb)));
        for (i, m) in mean.iter_mut().enumerate() {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let (va, vb, cov) = (saa[i] - ma * ma, sbb[i] - mb * mb, sab[i] - ma * mb);
            *m += ((2.0 * ma * mb + C1) * (2.0 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
        }
    }
    mean.iter_mut().for_each(|m| *m /= a.len() as f64);
    mean
}

/// SSIM of two images on the CPU in f64 (evaluation): rgb in [0, 1], interleaved, w × h.
pub(crate) fn ssim_cpu(a: &[f32], b: &[f32], width: usize, height: usize, channels: usize) -> f64 {
    let planes = |img: &[f32]| -> Vec<Vec<f32>> {
        (0..channels).map(|c| img.iter().skip(c).step_by(channels).copied().collect()).collect()
    };
    let (pa, pb) = (planes(a), planes(b));
    let (ra, rb): (Vec<&[f32]>, Vec<&[f32]>) = pa.iter().zip(&pb).map(|(a, b)| (a.as_slice(), b.as_slice())).unzip();
    let map = ssim_map_cpu(&ra, &rb, width, height);
    map.iter().sum::<f64>() / map.len() as f64
}

pub fn psnr(a: &[f32], b: &[f32]) -> f64 {
    let mse: f64 = a.iter().zip(b).map(|(x, y)| ((*x as f64) - (*y as f64)).powi(2)).sum::<f64>() / a.len() as f64;
    -10.0 * mse.max(1e-20).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_blur_is_the_per_pixel_double_sum_with_either_border() {
        let taps: Vec<f64> = gaussian_window_f64();
        let r = (taps.len() / 2) as isize;
        for (w, h) in [(37, 23), (3, 2), (1, 5), (40, 1)] {
            let src: Vec<f64> = (0..w * h).map(|i| ((i * 7919) % 101) as f64 / 101.0).collect();
            for border in [Border::Zero, Border::Clamp] {
                let at = |x: isize, y: isize| match border {
                    Border::Zero if x < 0 || y < 0 || x >= w as isize || y >= h as isize => 0.0,
                    _ => src[y.clamp(0, h as isize - 1) as usize * w + x.clamp(0, w as isize - 1) as usize],
                };
                let fast = separable_blur(&src, w, h, &taps, border);
                for y in 0..h as isize {
                    for x in 0..w as isize {
                        let want: f64 = (-r..=r)
                            .flat_map(|j| (-r..=r).map(move |i| (i, j)))
                            .map(|(i, j)| taps[(i + r) as usize] * taps[(j + r) as usize] * at(x + i, y + j))
                            .sum();
                        let got = fast[y as usize * w + x as usize];
                        assert!((got - want).abs() < 1e-12, "{border:?} {w}x{h} at ({x}, {y}): {got} vs {want}");
                    }
                }
            }
        }
        assert!(separable_blur::<f64>(&[], 0, 0, &taps, Border::Clamp).is_empty());
    }
}
