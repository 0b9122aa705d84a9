//! Image quality on the CPU in f64: PSNR, and SSIM with the window the training loss uses (11×11
//! Gaussian, σ = 1.5, zero padding, C1 = 0.01², C2 = 0.03²). Evaluation, confidence maps and the
//! loss's reference all measure with these.

pub const SSIM_WINDOW: usize = 11;
pub const SSIM_SIGMA: f64 = 1.5;
pub const C1: f64 = 0.01 * 0.01;
pub const C2: f64 = 0.03 * 0.03;

/// The normalised 1D Gaussian window, in f64.
pub fn gaussian_window_f64() -> Vec<f64> {
    let half = (SSIM_WINDOW / 2) as f64;
    let w: Vec<f64> =
        (0..SSIM_WINDOW).map(|i| (-(i as f64 - half).powi(2) / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp()).collect();
    let s: f64 = w.iter().sum();
    w.iter().map(|v| v / s).collect()
}

/// Per-pixel SSIM on the CPU in f64, averaged over channels: `a[c]` and `b[c]` are channel c of the
/// two images (w × h, row-major). Zero padding, the 11×11 Gaussian window, C1 = 0.01², C2 = 0.03².
pub fn ssim_map_cpu(a: &[&[f32]], b: &[&[f32]], width: usize, height: usize) -> Vec<f64> {
    assert_eq!(a.len(), b.len(), "SSIM needs the same channels");
    let win = gaussian_window_f64();
    let r = (SSIM_WINDOW / 2) as isize;
    // Separable blur (rows, then columns) with zeros outside the image.
    let blur = |src: &[f64]| -> Vec<f64> {
        let mut tmp = vec![0.0; width * height];
        for y in 0..height {
            for x in 0..width {
                let mut s = 0.0;
                for (k, wk) in win.iter().enumerate() {
                    let yy = y as isize + k as isize - r;
                    if yy >= 0 && (yy as usize) < height {
                        s += wk * src[yy as usize * width + x];
                    }
                }
                tmp[y * width + x] = s;
            }
        }
        let mut out = vec![0.0; width * height];
        for y in 0..height {
            for x in 0..width {
                let mut s = 0.0;
                for (k, wk) in win.iter().enumerate() {
                    let xx = x as isize + k as isize - r;
                    if xx >= 0 && (xx as usize) < width {
                        s += wk * tmp[y * width + xx as usize];
                    }
                }
                out[y * width + x] = s;
            }
        }
        out
    };
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
pub fn ssim_cpu(a: &[f32], b: &[f32], width: usize, height: usize, channels: usize) -> f64 {
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
