//! The object's mask: the alpha channel when the video has one; otherwise the background colour is
//! estimated from the frame border and keyed out (tolerance), keeping the largest connected component
//! with its holes filled.

use super::VideoError;
use image::RgbaImage;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug)]
pub struct KeyOptions {
    /// A pixel is background when every channel is within this fraction of full scale of the border colour.
    pub tolerance: f32,
    /// More than this fraction of border pixels away from the border colour means the background is not plain.
    pub max_busy_border: f64,
    /// Components smaller than this fraction of the frame are not an object.
    pub min_object_fraction: f64,
}

impl Default for KeyOptions {
    fn default() -> Self {
        Self { tolerance: 0.12, max_busy_border: 0.3, min_object_fraction: 0.001 }
    }
}

fn border_pixels(img: &RgbaImage, ring: u32) -> Vec<[u8; 3]> {
    let (w, h) = img.dimensions();
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            if x < ring || y < ring || x + ring >= w || y + ring >= h {
                let p = img.get_pixel(x, y);
                out.push([p[0], p[1], p[2]]);
            }
        }
    }
    out
}

fn median(mut v: Vec<u8>) -> u8 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Labels 4-connected components of `set` and returns the mask of the largest one.
fn largest_component(set: &[bool], w: usize, h: usize) -> (Vec<bool>, usize) {
    let mut label = vec![0u32; set.len()];
    let (mut best, mut best_size, mut next) = (0u32, 0usize, 0u32);
    let mut queue = VecDeque::new();
    for start in 0..set.len() {
        if !set[start] || label[start] != 0 {
            continue;
        }
        next += 1;
        label[start] = next;
        queue.push_back(start);
        let mut size = 0;
        while let Some(i) = queue.pop_front() {
            size += 1;
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if set[j] && label[j] == 0 {
                    label[j] = next;
                    queue.push_back(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        if size > best_size {
            (best, best_size) = (next, size);
        }
    }
    (label.iter().map(|&l| l == best && best != 0).collect(), best_size)
}

/// Everything not reachable from the border through non-object pixels is inside the object.
fn fill_holes(object: &mut [bool], w: usize, h: usize) {
    let mut outside = vec![false; object.len()];
    let mut queue: VecDeque<usize> = (0..object.len())
        .filter(|&i| {
            let (x, y) = (i % w, i / w);
            (x == 0 || y == 0 || x + 1 == w || y + 1 == h) && !object[i]
        })
        .collect();
    for &i in &queue {
        outside[i] = true;
    }
    while let Some(i) = queue.pop_front() {
        let (x, y) = (i % w, i / w);
        let neighbours =
            [(x > 0).then(|| i - 1), (x + 1 < w).then(|| i + 1), (y > 0).then(|| i - w), (y + 1 < h).then(|| i + w)];
        for j in neighbours.into_iter().flatten() {
            if !object[j] && !outside[j] {
                outside[j] = true;
                queue.push_back(j);
            }
        }
    }
    for (o, out) in object.iter_mut().zip(outside) {
        *o = !out;
    }
}

/// Writes the object mask into the alpha channel of an opaque frame by keying out its background.
pub fn key_background(frame: &RgbaImage, index: usize, options: &KeyOptions) -> Result<RgbaImage, VideoError> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let border = border_pixels(frame, 2);
    let bg: [u8; 3] = std::array::from_fn(|c| median(border.iter().map(|p| p[c]).collect()));
    let tol = (options.tolerance * 255.0).round() as i32;
    let is_bg = |p: &[u8]| (0..3).all(|c| (p[c] as i32 - bg[c] as i32).abs() <= tol);
    let busy = border.iter().filter(|p| !is_bg(&p[..])).count() as f64 / border.len() as f64;
    if busy > options.max_busy_border {
        return Err(VideoError::BackgroundNotUniform { frame: index, percent: busy * 100.0 });
    }
    let foreground: Vec<bool> = frame.pixels().map(|p| !is_bg(&p.0[..3])).collect();
    let (mut object, size) = largest_component(&foreground, w, h);
    if (size as f64) < options.min_object_fraction * (w * h) as f64 || size < 16 {
        return Err(VideoError::NoObject { frame: index });
    }
    fill_holes(&mut object, w, h);
    let mut out = frame.clone();
    for (p, &o) in out.pixels_mut().zip(&object) {
        p[3] = if o { 255 } else { 0 };
    }
    Ok(out)
}

/// The frame with its object mask in alpha: kept as is when the video has alpha, keyed otherwise.
pub fn object_mask(
    frame: &RgbaImage,
    index: usize,
    has_alpha: bool,
    options: &KeyOptions,
) -> Result<RgbaImage, VideoError> {
    if has_alpha {
        if frame.pixels().all(|p| p[3] == 0) {
            return Err(VideoError::NoObject { frame: index });
        }
        return Ok(frame.clone());
    }
    key_background(frame, index, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A green ring (with a hole showing the background) and a stray speck on a grey backdrop.
    fn ring_on_grey() -> RgbaImage {
        RgbaImage::from_fn(64, 48, |x, y| {
            let (dx, dy) = (x as f32 - 30.0, y as f32 - 24.0);
            let r = (dx * dx + dy * dy).sqrt();
            if (6.0..14.0).contains(&r) || (x == 60 && y == 5) {
                image::Rgba([30, 200, 40, 255])
            } else {
                image::Rgba([128 + (x % 3) as u8, 128, 127, 255])
            }
        })
    }

    #[test]
    fn keyed_mask_is_the_filled_largest_component() {
        let m = key_background(&ring_on_grey(), 0, &KeyOptions::default()).unwrap();
        assert_eq!(m.get_pixel(30, 24)[3], 255, "the hole is filled");
        assert_eq!(m.get_pixel(40, 24)[3], 255, "the ring is object");
        assert_eq!(m.get_pixel(60, 5)[3], 0, "the speck is dropped");
        assert_eq!(m.get_pixel(2, 2)[3], 0, "the backdrop is background");
    }

    #[test]
    fn empty_and_busy_frames_are_clear_errors() {
        let plain = RgbaImage::from_pixel(32, 32, image::Rgba([255, 255, 255, 255]));
        assert!(matches!(key_background(&plain, 3, &KeyOptions::default()), Err(VideoError::NoObject { frame: 3 })));
        let noise = RgbaImage::from_fn(32, 32, |x, y| {
            image::Rgba([((x * 37 + y * 91) % 256) as u8, ((x * 13) % 256) as u8, 0, 255])
        });
        assert!(matches!(
            key_background(&noise, 0, &KeyOptions::default()),
            Err(VideoError::BackgroundNotUniform { .. })
        ));
        let clear = RgbaImage::new(32, 32);
        assert!(matches!(object_mask(&clear, 1, true, &KeyOptions::default()), Err(VideoError::NoObject { frame: 1 })));
    }
}
