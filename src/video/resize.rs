//! Shrinking decoded frames (fast_image_resize, alpha handled in premultiplied form so colour under
//! transparent pixels never bleeds into the object). The preprocessing resize is `pillow_resize`.

use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image};
use image::RgbaImage;

fn resize_with(src: &RgbaImage, width: u32, height: u32, filter: FilterType) -> RgbaImage {
    let (width, height) = (width.max(1), height.max(1));
    if src.dimensions() == (width, height) {
        return src.clone();
    }
    let from = Image::from_vec_u8(src.width(), src.height(), src.as_raw().clone(), PixelType::U8x4)
        .expect("buffer length matches an RGBA image");
    let mut to = Image::new(width, height, PixelType::U8x4);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter)).use_alpha(true);
    Resizer::new().resize(&from, &mut to, &options).expect("same pixel type on both sides");
    RgbaImage::from_raw(width, height, to.into_vec()).expect("buffer length matches the size")
}

/// Shrinks so the longer side is at most `max_side` (never enlarges); a box-like filter for big ratios.
pub fn fit_long_side(src: RgbaImage, max_side: u32) -> RgbaImage {
    let (w, h) = src.dimensions();
    let long = w.max(h);
    if long <= max_side {
        return src;
    }
    let s = max_side as f64 / long as f64;
    let (nw, nh) = (((w as f64 * s).round() as u32).max(1), ((h as f64 * s).round() as u32).max(1));
    resize_with(&src, nw, nh, FilterType::Lanczos3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_colour_under_zero_alpha_does_not_bleed() {
        // Left half opaque white, right half transparent but bright red underneath.
        let img = RgbaImage::from_fn(64, 64, |x, _| {
            if x < 32 { image::Rgba([255, 255, 255, 255]) } else { image::Rgba([255, 0, 0, 0]) }
        });
        let small = fit_long_side(img, 20);
        for p in small.pixels().filter(|p| p[3] > 0) {
            assert!(p[1] > 240 && p[2] > 240, "red leaked into {p:?}");
        }
    }

    #[test]
    fn fit_keeps_aspect_and_never_enlarges() {
        let img = RgbaImage::new(400, 100);
        assert_eq!(fit_long_side(img.clone(), 200).dimensions(), (200, 50));
        assert_eq!(fit_long_side(img, 1000).dimensions(), (400, 100));
    }
}
