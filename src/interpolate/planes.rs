//! A float image with its channels stored one plane after another (C×H×W, values in [0, 1]): the
//! layout the flow, RIFE and SSIM code all work in.

use image::{GrayImage, RgbaImage};

#[derive(Clone, Debug, PartialEq)]
pub struct Planes {
    pub channels: usize,
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Planes {
    pub fn zeros(channels: usize, width: usize, height: usize) -> Self {
        Self { channels, width, height, data: vec![0.0; channels * width * height] }
    }

    pub fn from_vec(channels: usize, width: usize, height: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), channels * width * height, "plane data does not match its size");
        Self { channels, width, height, data }
    }

    /// RGBA 8-bit (straight alpha) → 4 planes in [0, 1].
    pub(crate) fn from_rgba(img: &RgbaImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut out = Self::zeros(4, w, h);
        for (i, p) in img.pixels().enumerate() {
            for c in 0..4 {
                out.data[c * w * h + i] = p[c] as f32 / 255.0;
            }
        }
        out
    }

    /// 4 planes (straight alpha) → RGBA 8-bit, rounded and clamped.
    pub(crate) fn to_rgba(&self) -> RgbaImage {
        assert_eq!(self.channels, 4, "to_rgba needs four planes");
        let n = self.width * self.height;
        let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        RgbaImage::from_fn(self.width as u32, self.height as u32, |x, y| {
            let i = y as usize * self.width + x as usize;
            image::Rgba([q(self.data[i]), q(self.data[n + i]), q(self.data[2 * n + i]), q(self.data[3 * n + i])])
        })
    }

    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.width * self.height;
        &self.data[c * n..(c + 1) * n]
    }

    pub(crate) fn plane_mut(&mut self, c: usize) -> &mut [f32] {
        let n = self.width * self.height;
        &mut self.data[c * n..(c + 1) * n]
    }

    /// Channel-weighted luminance of the first three planes (Rec. 601), one plane.
    pub(crate) fn luma(&self) -> Vec<f32> {
        let (r, g, b) = (self.plane(0), self.plane(1), self.plane(2));
        r.iter().zip(g).zip(b).map(|((r, g), b)| 0.299 * r + 0.587 * g + 0.114 * b).collect()
    }

    /// Appends one plane (width × height values).
    pub(crate) fn push_plane(&mut self, plane: &[f32]) {
        assert_eq!(plane.len(), self.width * self.height, "plane size");
        self.data.extend_from_slice(plane);
        self.channels += 1;
    }

    /// The first `n` planes.
    pub(crate) fn first_planes(&self, n: usize) -> Planes {
        assert!(n <= self.channels, "asked for {n} of {} planes", self.channels);
        let len = self.width * self.height;
        Planes::from_vec(n, self.width, self.height, self.data[..n * len].to_vec())
    }

    /// RGBA 8-bit (straight alpha) → (RGB composited on white, alpha): what the interpolators work
    /// on, so colours under transparent pixels cannot bleed in and the RGB is what the generator drew.
    pub(crate) fn from_rgba_on_white(img: &RgbaImage) -> Self {
        let mut out = Self::from_rgba(img);
        let n = out.width * out.height;
        for i in 0..n {
            let a = out.data[3 * n + i];
            for c in 0..3 {
                out.data[c * n + i] = out.data[c * n + i] * a + (1.0 - a);
            }
        }
        out
    }

    /// The inverse of [`Planes::from_rgba_on_white`]: straight-alpha RGBA 8-bit (colour of fully
    /// transparent pixels: white).
    pub(crate) fn to_rgba_from_white(&self) -> RgbaImage {
        assert_eq!(self.channels, 4, "needs RGB on white plus alpha");
        let n = self.width * self.height;
        let mut straight = self.clone();
        for i in 0..n {
            let a = self.data[3 * n + i].clamp(0.0, 1.0);
            for c in 0..3 {
                let on_white = self.data[c * n + i];
                straight.data[c * n + i] = if a > 1e-3 { (on_white - (1.0 - a)) / a } else { 1.0 };
            }
        }
        straight.to_rgba()
    }
}

/// A [0, 1] map → 8-bit grey, truncating like `(x * 255).astype(uint8)` (what Efficient4D writes).
pub fn map_to_gray_truncated(map: &[f32], width: usize, height: usize) -> GrayImage {
    let px: Vec<u8> = map.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0) as u8).collect();
    GrayImage::from_raw(width as u32, height as u32, px).expect("map size matches the image")
}
