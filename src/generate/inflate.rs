//! The weights-free generator (`inflate`), a *preview* used when no SyncDreamer weights are installed:
//! each key frame's silhouette is inflated into a closed 3D shape — a height field from the distance
//! transform (exact for a disc: a sphere), the frame as the front texture and, mirrored through the
//! silhouette plane, as the back texture — made of small 3D Gaussians, and rendered from the 16-view rig
//! with our rasterizer into an image matrix (D-NeRF convention, `generator: "inflate"`).

use crate::camera::rig::input_view_camera;
use crate::camera::{Camera, SyncDreamerRig, rigid_inverse};
use crate::dataset::{DatasetWriter, Split};
use crate::gaussians::{Gaussians4d, SH_C0};
use crate::generate::render_matrix::{add_frame_views, render_views_rgba};
use crate::render::Rasterizer;
use crate::video::ObjectFrames;
use glam::DVec3;
use image::RgbaImage;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Debug)]
pub struct InflateOptions {
    /// Depth of the shape relative to a sphere of the silhouette's inscribed radius (1 = sphere).
    pub thickness: f64,
    /// Pixels whose alpha is below this are outside the object.
    pub alpha_threshold: u8,
}

impl Default for InflateOptions {
    fn default() -> Self {
        Self { thickness: 0.8, alpha_threshold: 128 }
    }
}

/// Two-pass chamfer distance (1, √2) to the nearest pixel outside the mask, in pixels.
pub(crate) fn distance_to_outside(inside: &[bool], w: usize, h: usize) -> Vec<f32> {
    const D: f32 = std::f32::consts::SQRT_2;
    let mut d: Vec<f32> = inside.iter().map(|&i| if i { f32::INFINITY } else { 0.0 }).collect();
    // Pixels on the image border are next to the outside too.
    let get = |d: &[f32], x: isize, y: isize| {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize { 0.0 } else { d[y as usize * w + x as usize] }
    };
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            let best = (get(&d, x - 1, y) + 1.0)
                .min(get(&d, x, y - 1) + 1.0)
                .min(get(&d, x - 1, y - 1) + D)
                .min(get(&d, x + 1, y - 1) + D);
            d[i] = d[i].min(best);
        }
    }
    for y in (0..h as isize).rev() {
        for x in (0..w as isize).rev() {
            let i = y as usize * w + x as usize;
            let best = (get(&d, x + 1, y) + 1.0)
                .min(get(&d, x, y + 1) + 1.0)
                .min(get(&d, x + 1, y + 1) + D)
                .min(get(&d, x - 1, y + 1) + D);
            d[i] = d[i].min(best);
        }
    }
    d
}

/// Object colours with the outermost ring replaced by colours pulled from further inside, so background
/// mixed into anti-aliased or keyed edges does not become a halo on the sides of the shape.
fn extend_inward(canvas: &RgbaImage, dist: &[f32], ring: f32) -> Vec<[f32; 3]> {
    let (w, h) = (canvas.width() as usize, canvas.height() as usize);
    let mut colour: Vec<[f32; 3]> = canvas.pixels().map(|p| [p[0] as f32, p[1] as f32, p[2] as f32]).collect();
    let mut order: Vec<usize> = (0..w * h).filter(|&i| dist[i] > 0.0 && dist[i] < ring).collect();
    order.sort_by(|&a, &b| dist[b].total_cmp(&dist[a]));
    for i in order {
        let (x, y) = ((i % w) as isize, (i / w) as isize);
        let (mut sum, mut n) = ([0.0f32; 3], 0.0f32);
        for (dx, dy) in [(-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1)] {
            let (nx, ny) = (x + dx, y + dy);
            if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                continue;
            }
            let j = ny as usize * w + nx as usize;
            if dist[j] > dist[i] {
                for c in 0..3 {
                    sum[c] += colour[j][c];
                }
                n += 1.0;
            }
        }
        if n > 0.0 {
            colour[i] = sum.map(|s| s / n);
        }
    }
    colour
}

/// Lifts one preprocessed frame (256² RGBA, seen from the input view) into static 3D Gaussians.
pub fn inflate_frame(canvas: &RgbaImage, camera: &Camera, options: &InflateOptions) -> Gaussians4d {
    let (w, h) = (canvas.width() as usize, canvas.height() as usize);
    let inside: Vec<bool> = canvas.pixels().map(|p| p[3] >= options.alpha_threshold).collect();
    let dist = distance_to_outside(&inside, w, h);
    let dmax = dist.iter().copied().fold(0.0f32, f32::max).max(1.0) as f64;
    let colour = extend_inward(canvas, &dist, 2.5);
    let k = camera.intrinsics;
    let c2w = rigid_inverse(camera.world_to_camera);
    let depth0 = camera.world_to_camera.transform_point3(DVec3::ZERO).z;
    let pixel = depth0 / k.fx; // world size of one pixel at the object's depth
    // Height above the silhouette plane, in world units: sqrt(d (2 dmax − d)) is a sphere for a disc.
    let height = |i: usize| {
        let d = dist[i] as f64;
        options.thickness * (d * (2.0 * dmax - d)).max(0.0).sqrt() * pixel
    };
    let mut g = Gaussians4d { sh_degree: 0, ..Default::default() };
    let splat = (pixel * 0.5).ln() as f32;
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if !inside[i] {
                continue;
            }
            let hi = height(i);
            // Steep sides (near the silhouette) are closed by extra splats down the pixel's own ray (an
            // isotropic stack: a splat stretched along a world axis would smear sideways off-centre).
            let drop = [(1isize, 0isize), (0, 1), (-1, 0), (0, -1)]
                .iter()
                .filter_map(|&(dx, dy)| {
                    let (nx, ny) = (x as isize + dx, y as isize + dy);
                    (nx >= 0 && ny >= 0 && (nx as usize) < w && (ny as usize) < h)
                        .then(|| hi - height(ny as usize * w + nx as usize))
                })
                .fold(0.0f64, f64::max)
                .min(hi);
            let layers = (drop / (pixel * 0.8)).ceil().max(1.0) as usize;
            let rgb = colour[i].map(|c| c / 255.0);
            // The rasterizer's splats reach about a pixel beyond their centre: the outermost ring is
            // half transparent so the silhouette does not grow (sigmoid(4.6) ≈ 0.99 inside).
            let opacity = if dist[i] < 1.5 { 0.0 } else { 4.6 };
            for side in [-1.0, 1.0] {
                for layer in 0..layers {
                    let depth = hi - drop * layer as f64 / layers as f64;
                    let z = depth0 + side * depth;
                    let cam = DVec3::new((x as f64 + 0.5 - k.cx) / k.fx * z, (y as f64 + 0.5 - k.cy) / k.fy * z, z);
                    let p = c2w.transform_point3(cam);
                    g.means.extend([p.x as f32, p.y as f32, p.z as f32, 0.0]);
                    g.log_scales.extend([splat, splat, splat, 3.0]);
                    g.rot_left.extend([1.0, 0.0, 0.0, 0.0]);
                    g.rot_right.extend([1.0, 0.0, 0.0, 0.0]);
                    g.opacity.push(opacity);
                    g.sh.extend(rgb.map(|c| ((c as f64 - 0.5) / SH_C0) as f32));
                }
            }
        }
    }
    g
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error(transparent)]
    Raster(#[from] crate::render::RasterError),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("cancelled")]
    Cancelled,
}

/// Writes the image matrix of `objects` to `out`: the 16 rig views of every key frame (generated) and the
/// input view (the preprocessed frame itself, view index = rig.views), all in the train split.
/// `progress(done, total)` is called after each frame.
pub(crate) fn generate_matrix(
    r: &Rasterizer,
    objects: &ObjectFrames,
    out: &Path,
    options: &InflateOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), GenerateError> {
    let rig = SyncDreamerRig::default();
    let input_camera = input_view_camera(&rig);
    let mut writer = DatasetWriter::new(out, Some("inflate"), Some(rig.clone()));
    let times = objects.times();
    let cameras: Vec<(u32, Camera)> = (0..rig.views).map(|v| (v, rig.camera(v))).collect();
    let only_cameras: Vec<Camera> = cameras.iter().map(|(_, c)| *c).collect();
    for (f, (canvas, &t)) in objects.frames.iter().zip(&times).enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(GenerateError::Cancelled);
        }
        let g = inflate_frame(canvas, &input_camera, options);
        let images = render_views_rgba(r, &r.upload(&g)?, &only_cameras, 0.0)?;
        add_frame_views(&mut writer, Split::Train, f as u32, t, &cameras, &images)?;
        // The input view itself, numbered after the rig's views.
        let input = [(rig.views, input_camera)];
        add_frame_views(&mut writer, Split::Train, f as u32, t, &input, std::slice::from_ref(canvas))?;
        progress(f + 1, objects.frames.len());
    }
    writer.finish()?;
    Ok(())
}

/// The weights-free preview as a stage-1 [`Generator`](super::Generator).
pub struct Inflate<'a> {
    pub rasterizer: &'a Rasterizer,
    pub options: InflateOptions,
}

impl super::Generator for Inflate<'_> {
    fn name(&self) -> &'static str {
        "inflate preview"
    }

    fn generate(
        &self,
        objects: &ObjectFrames,
        out: &Path,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(super::Stage1Progress),
    ) -> Result<(), GenerateError> {
        generate_matrix(self.rasterizer, objects, out, &self.options, cancel, &mut |done, total| {
            progress(super::Stage1Progress::Generated { done, total })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_of_a_disc_peaks_at_its_centre() {
        let (w, h) = (41, 41);
        let inside: Vec<bool> = (0..w * h)
            .map(|i| (((i % w) as f32 - 20.0).powi(2) + ((i / w) as f32 - 20.0).powi(2)).sqrt() < 15.0)
            .collect();
        let d = distance_to_outside(&inside, w, h);
        let centre = d[20 * w + 20];
        assert!((centre - 15.0).abs() < 1.5, "centre distance {centre}");
        assert_eq!(d[0], 0.0);
        assert!(d[20 * w + 6] <= 2.0);
    }

    #[test]
    fn every_splat_projects_onto_its_own_pixel_in_the_input_view() {
        let rig = SyncDreamerRig::default();
        let camera = input_view_camera(&rig);
        let canvas = RgbaImage::from_fn(256, 256, |x, y| {
            if (60..200).contains(&x) && (90..150).contains(&y) {
                image::Rgba([9, 9, 9, 255])
            } else {
                image::Rgba([0; 4])
            }
        });
        let g = inflate_frame(&canvas, &camera, &InflateOptions::default());
        for m in g.means.chunks(4) {
            let (u, v, _) = camera.project(DVec3::new(m[0] as f64, m[1] as f64, m[2] as f64)).unwrap();
            let (fu, fv) = (u - u.floor(), v - v.floor());
            assert!((fu - 0.5).abs() < 1e-3 && (fv - 0.5).abs() < 1e-3, "splat at pixel ({u}, {v})");
            assert!((60.0..200.0).contains(&u) && (90.0..150.0).contains(&v), "splat at pixel ({u}, {v})");
        }
    }

    #[test]
    fn a_disc_inflates_to_a_ball_in_front_of_and_behind_the_plane() {
        let rig = SyncDreamerRig::default();
        let camera = input_view_camera(&rig);
        let canvas = RgbaImage::from_fn(256, 256, |x, y| {
            let r = ((x as f32 - 127.5).powi(2) + (y as f32 - 127.5).powi(2)).sqrt();
            if r < 50.0 { image::Rgba([200, 50, 50, 255]) } else { image::Rgba([0, 0, 0, 0]) }
        });
        let g = inflate_frame(&canvas, &camera, &InflateOptions { thickness: 1.0, ..Default::default() });
        g.validate().unwrap();
        let xs: Vec<f32> = g.means.chunks(4).map(|m| m[0]).collect();
        let (lo, hi) = xs.iter().fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        // Radius in world units: 50 px at depth 1.5 with f = 280.
        let radius = 50.0 * 1.5 / 280.0;
        assert!((hi - radius as f32).abs() < 0.03 && (lo + radius as f32).abs() < 0.03, "depth range {lo}..{hi}");
    }
}
