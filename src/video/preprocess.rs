//! Efficient4D's input preprocessing (`prepare_inputs`): crop to the alpha box, scale so the long side is
//! 200, paste centred on a transparent 256² canvas; the model input is that canvas composited on white.
//! Checked against the reference's golden stages in `../shared/golden/input_preprocessing.safetensors`.

use super::mask::{KeyOptions, object_mask};
use super::pillow_resize::resize_bicubic_like_pillow;
use super::{DecodedVideo, VideoError};
use image::RgbaImage;

/// Inclusive box of the pixels with alpha ≠ 0, as (min_x, min_y, max_x, max_y) — `np.nonzero` in the reference.
pub fn alpha_bbox(img: &RgbaImage) -> Option<[u32; 4]> {
    let mut b: Option<[u32; 4]> = None;
    for (x, y, p) in img.enumerate_pixels() {
        if p[3] != 0 {
            let v = b.get_or_insert([x, y, x, y]);
            *v = [v[0].min(x), v[1].min(y), v[2].max(x), v[3].max(y)];
        }
    }
    b
}

/// The smallest box holding both.
pub(crate) fn union_box(a: [u32; 4], b: [u32; 4]) -> [u32; 4] {
    [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]
}

/// Each stage of one frame's preprocessing (the golden file stores the same stages).
#[derive(Clone, Debug)]
pub struct Stages {
    pub crop: RgbaImage,
    pub resized: RgbaImage,
    pub offset: (u32, u32),
    pub canvas: RgbaImage,
}

/// Crops with PIL's `crop(min_x, min_y, max_x, max_y)` (right and bottom edges excluded, as in the
/// reference, at least one pixel kept), scales the long side to `crop_size` (sizes truncated like
/// `int()`), with Pillow's bicubic in premultiplied alpha, and pastes centred on a transparent `image_size`² canvas.
pub fn crop_scale_centre(img: &RgbaImage, bbox: [u32; 4], crop_size: u32, image_size: u32) -> Stages {
    let [x0, y0, x1, y1] = bbox;
    let (w, h) = ((x1 - x0).max(1), (y1 - y0).max(1));
    let crop = image::imageops::crop_imm(img, x0, y0, w, h).to_image();
    let s = crop_size as f64 / w.max(h) as f64;
    let (rw, rh) = (((w as f64 * s) as u32).clamp(1, image_size), ((h as f64 * s) as u32).clamp(1, image_size));
    let resized = resize_bicubic_like_pillow(&crop, rw, rh);
    let offset = ((image_size - rw) / 2, (image_size - rh) / 2);
    let mut canvas = RgbaImage::new(image_size, image_size);
    image::imageops::replace(&mut canvas, &resized, offset.0 as i64, offset.1 as i64);
    Stages { crop, resized, offset, canvas }
}

/// `rgb·a + 1 − a` in f32, row-major RGB in [0, 1] (the model maps it to [-1, 1] itself).
pub fn composite_on_white(canvas: &RgbaImage) -> Vec<f32> {
    let mut out = Vec::with_capacity((canvas.width() * canvas.height() * 3) as usize);
    for p in canvas.pixels() {
        let a = p[3] as f32 / 255.0;
        for c in 0..3 {
            out.push(p[c] as f32 / 255.0 * a + 1.0 - a);
        }
    }
    out
}

/// One box per frame (the paper), one box around the object in every frame (keeps its motion and size),
/// or `auto`: the stable box unless it would shrink the object below `AUTO_MIN_SIZE` of the per-frame size
/// (an object that travels across the frame). Measured on the bundled demo: per-frame crops change the
/// scale by 3.8% between frames (limbs and tail change the box), the stable box costs 1.5% of size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
pub enum CropMode {
    #[default]
    Auto,
    PerFrame,
    Stable,
}

/// `CropMode::Auto` keeps the stable box while the object keeps at least this share of its per-frame size.
pub(crate) const AUTO_MIN_SIZE: f64 = 0.85;

/// Which mode `Auto` picks for these per-frame boxes.
pub(crate) fn resolve_crop(mode: CropMode, boxes: &[[u32; 4]]) -> CropMode {
    if mode != CropMode::Auto {
        return mode;
    }
    let long = |[x0, y0, x1, y1]: [u32; 4]| ((x1 - x0).max(y1 - y0)).max(1) as f64;
    let Some(union) = boxes.iter().copied().reduce(union_box) else { return CropMode::PerFrame };
    let mean_share = boxes.iter().map(|&b| long(b) / long(union)).sum::<f64>() / boxes.len() as f64;
    if mean_share >= AUTO_MIN_SIZE { CropMode::Stable } else { CropMode::PerFrame }
}

#[derive(Clone, Debug)]
pub struct PreprocessOptions {
    pub crop: CropMode,
    /// Long side of the object on the canvas (200 in the paper).
    pub crop_size: u32,
    /// Canvas size (256, SyncDreamer's input).
    pub image_size: u32,
    pub key: KeyOptions,
}

impl Default for PreprocessOptions {
    fn default() -> Self {
        Self { crop: CropMode::Auto, crop_size: 200, image_size: 256, key: KeyOptions::default() }
    }
}

/// The object in each key frame, ready for stage 1: 256² RGBA, transparent around the object.
#[derive(Clone, Debug)]
pub struct ObjectFrames {
    pub frames: Vec<RgbaImage>,
    /// Seconds from the start of the clip.
    pub seconds: Vec<f64>,
    pub source_indices: Vec<usize>,
    pub description: String,
    /// Canvas pixels per source pixel, per frame (constant with a stable crop).
    pub scales: Vec<f64>,
    /// The crop used (`Auto` resolved).
    pub crop: CropMode,
}

impl ObjectFrames {
    /// How much the scale changes between frames: (max − min) / mean. Per-frame crops make the object
    /// "breathe" when its box changes (limbs, tails); a stable crop gives 0.
    pub(crate) fn scale_jitter(&self) -> f64 {
        let (lo, hi) = self.scales.iter().fold((f64::MAX, f64::MIN), |(a, b), &s| (a.min(s), b.max(s)));
        let mean = self.scales.iter().sum::<f64>() / self.scales.len().max(1) as f64;
        if mean > 0.0 { (hi - lo) / mean } else { 0.0 }
    }

    /// Mean long side of the object's box on the canvas, in pixels (200 with per-frame crops).
    pub(crate) fn mean_object_size(&self) -> f64 {
        let sizes: Vec<f64> = self
            .frames
            .iter()
            .filter_map(alpha_bbox)
            .map(|[x0, y0, x1, y1]| ((x1 - x0).max(y1 - y0) + 1) as f64)
            .collect();
        sizes.iter().sum::<f64>() / sizes.len().max(1) as f64
    }

    /// Normalised times in [0, 1] (first key frame 0, last 1), the datasets' time axis.
    pub fn times(&self) -> Vec<f32> {
        let (a, b) = (self.seconds[0], *self.seconds.last().unwrap_or(&0.0));
        let span = (b - a).max(1e-9);
        self.seconds.iter().map(|s| ((s - a) / span) as f32).collect()
    }
}

/// Masks and preprocesses every decoded key frame.
pub fn prepare_object_frames(video: &DecodedVideo, options: &PreprocessOptions) -> Result<ObjectFrames, VideoError> {
    let masked: Vec<RgbaImage> = video
        .frames
        .iter()
        .enumerate()
        .map(|(i, f)| object_mask(f, video.source_indices[i], video.has_alpha, &options.key))
        .collect::<Result<_, _>>()?;
    let boxes: Vec<[u32; 4]> = masked
        .iter()
        .enumerate()
        .map(|(i, m)| alpha_bbox(m).ok_or(VideoError::NoObject { frame: video.source_indices[i] }))
        .collect::<Result<_, _>>()?;
    let stable = boxes.iter().copied().reduce(union_box).expect("at least two frames");
    let crop = resolve_crop(options.crop, &boxes);
    let (mut frames, mut scales) = (Vec::new(), Vec::new());
    for (m, &b) in masked.iter().zip(&boxes) {
        let bbox = if crop == CropMode::Stable { stable } else { b };
        let stages = crop_scale_centre(m, bbox, options.crop_size, options.image_size);
        scales.push(stages.resized.width() as f64 / stages.crop.width() as f64);
        frames.push(stages.canvas);
    }
    Ok(ObjectFrames {
        frames,
        seconds: video.seconds(),
        source_indices: video.source_indices.clone(),
        description: video.probe.description.clone(),
        scales,
        crop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_crop_is_stable_unless_the_object_travels() {
        let wiggling = [[100, 100, 200, 180], [95, 100, 205, 185], [100, 98, 198, 180]];
        assert_eq!(resolve_crop(CropMode::Auto, &wiggling), CropMode::Stable);
        let travelling = [[0, 100, 100, 180], [200, 100, 300, 180], [400, 100, 500, 180]];
        assert_eq!(resolve_crop(CropMode::Auto, &travelling), CropMode::PerFrame);
        assert_eq!(resolve_crop(CropMode::PerFrame, &wiggling), CropMode::PerFrame);
        assert_eq!(resolve_crop(CropMode::Stable, &travelling), CropMode::Stable);
    }
}
