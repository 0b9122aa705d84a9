//! Pillow's BICUBIC resize of RGBA, reproduced to the byte: Efficient4D preprocesses its input with
//! `PIL.Image.resize(..., BICUBIC)`, and the golden stages in `../shared/golden/` are Pillow's output.
//! General-purpose resizers (fast_image_resize included) differ from it by up to a dozen levels on
//! anti-aliased edges, so this follows Pillow's arithmetic: RGBA is premultiplied (RGBa), resampled
//! separably — horizontal pass into an 8-bit intermediate, then vertical — with Keys' cubic (a = −0.5)
//! stretched by the downscale factor, weights normalised and quantised to 22 fractional bits, and
//! un-premultiplied again.

use image::RgbaImage;

const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// For each output sample: the first input index and the fixed-point weights.
fn coefficients(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let weights: Vec<f64> = (xmin..xmax).map(|x| bicubic((x as f64 - center + 0.5) / filter_scale)).collect();
            let total: f64 = weights.iter().sum();
            let fixed = weights
                .iter()
                .map(|w| {
                    let k = if total != 0.0 { w / total } else { *w };
                    let v = k * (1u64 << PRECISION_BITS) as f64;
                    if v < 0.0 { (v - 0.5) as i32 } else { (v + 0.5) as i32 }
                })
                .collect();
            (xmin, fixed)
        })
        .collect()
}

fn clip8(v: i64) -> u8 {
    if v >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resamples 4-channel rows along x (`horizontal`) or y.
fn pass(src: &[u8], (w, h): (usize, usize), out_len: usize, horizontal: bool) -> Vec<u8> {
    let coeffs = coefficients(if horizontal { w } else { h }, out_len);
    let (ow, oh) = if horizontal { (out_len, h) } else { (w, out_len) };
    let mut out = vec![0u8; ow * oh * 4];
    for y in 0..oh {
        for x in 0..ow {
            let (start, k) = if horizontal { &coeffs[x] } else { &coeffs[y] };
            let mut acc = [1i64 << (PRECISION_BITS - 1); 4];
            for (j, &kj) in k.iter().enumerate() {
                let (sx, sy) = if horizontal { (start + j, y) } else { (x, start + j) };
                let p = &src[(sy * w + sx) * 4..(sy * w + sx) * 4 + 4];
                for c in 0..4 {
                    acc[c] += p[c] as i64 * kj as i64;
                }
            }
            for c in 0..4 {
                out[(y * ow + x) * 4 + c] = clip8(acc[c]);
            }
        }
    }
    out
}

/// `img.resize((width, height), Image.BICUBIC)` for an RGBA image, as Pillow computes it.
pub fn resize_bicubic_like_pillow(img: &RgbaImage, width: u32, height: u32) -> RgbaImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (ow, oh) = (width.max(1) as usize, height.max(1) as usize);
    // RGBA → RGBa: c·a/255 with Pillow's rounding.
    let mut data: Vec<u8> = img
        .pixels()
        .flat_map(|p| {
            let a = p[3] as u32;
            let mul = |c: u8| {
                let t = c as u32 * a + 128;
                (((t >> 8) + t) >> 8) as u8
            };
            [mul(p[0]), mul(p[1]), mul(p[2]), p[3]]
        })
        .collect();
    let mut size = (w, h);
    if ow != w {
        data = pass(&data, size, ow, true);
        size = (ow, h);
    }
    if oh != h {
        data = pass(&data, size, oh, false);
    }
    // RGBa → RGBA.
    for p in data.chunks_exact_mut(4) {
        let a = p[3] as u32;
        if a != 0 && a != 255 {
            for c in &mut p[..3] {
                *c = ((255 * *c as u32) / a).min(255) as u8;
            }
        }
    }
    RgbaImage::from_raw(ow as u32, oh as u32, data).expect("size matches")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_identity_sizes_copy() {
        for (i, o) in [(152, 198), (300, 200), (7, 3)] {
            for (_, k) in coefficients(i, o) {
                let sum: i64 = k.iter().map(|&v| v as i64).sum();
                assert!((sum - (1 << PRECISION_BITS)).abs() <= k.len() as i64, "{i}->{o}: {sum}");
            }
        }
        let img = RgbaImage::from_fn(5, 4, |x, y| image::Rgba([x as u8 * 40, y as u8 * 60, 7, 255]));
        assert_eq!(resize_bicubic_like_pillow(&img, 5, 4), img);
    }

    #[test]
    fn hidden_colour_under_zero_alpha_does_not_bleed() {
        let img = RgbaImage::from_fn(16, 16, |x, _| {
            if x < 8 { image::Rgba([255, 255, 255, 255]) } else { image::Rgba([255, 0, 0, 0]) }
        });
        for p in resize_bicubic_like_pillow(&img, 7, 7).pixels().filter(|p| p[3] > 0) {
            assert!(p[1] > 240 && p[2] > 240, "red leaked into {p:?}");
        }
    }
}
