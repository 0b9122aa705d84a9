//! Silhouette carving of the initial splats: a point (x, y, z, t) is kept only where the training
//! views nearest to t show the object (alpha) at its projection. Uniform samples of the whole view
//! volume otherwise put many splats in empty space (about half of them on D-NeRF's jumpingjacks and
//! on the demo ring), where they only cost time until pruning removes them a few hundred steps in.

use crate::camera::Camera;
use crate::dataset::View;
use glam::DVec3;

/// Views voting on each point: the nearest ones in time (every view of a key frame, at least this many).
const VOTERS: usize = 8;
/// Share of the voters that see the point which must see it on the object.
const AGREEMENT: f64 = 0.75;
/// Alpha above which a pixel is on the object.
const ALPHA_ON: u8 = 25;
/// Side of the max-pooled mask cell in pixels: a point within about a cell of the silhouette is kept,
/// which forgives the object's motion between neighbouring times and soft edges.
const CELL: u32 = 4;

struct MaskView {
    camera: Camera,
    time: f32,
    /// Max-pooled object mask, `cells_x` × `cells_y`.
    mask: Vec<bool>,
    cells_x: u32,
    cells_y: u32,
}

impl MaskView {
    /// On the object (within a cell), `None` when the point is outside the image or behind the camera.
    fn sees_object(&self, p: DVec3) -> Option<bool> {
        let (u, v, _) = self.camera.project(p)?;
        let k = &self.camera.intrinsics;
        if u < 0.0 || v < 0.0 || u >= k.width as f64 || v >= k.height as f64 {
            return None;
        }
        let (cx, cy) = ((u as u32 / CELL) as i64, (v as u32 / CELL) as i64);
        let hit = (-1..=1).any(|dy| {
            (-1..=1).any(|dx| {
                let (x, y) = (cx + dx, cy + dy);
                x >= 0
                    && y >= 0
                    && x < self.cells_x as i64
                    && y < self.cells_y as i64
                    && self.mask[(y * self.cells_x as i64 + x) as usize]
            })
        });
        Some(hit)
    }
}

pub struct SilhouetteCarver {
    views: Vec<MaskView>,
}

impl SilhouetteCarver {
    /// `None` when the views carry no usable mask (every pixel opaque, or no pixel on the object).
    pub fn from_views(views: &[View]) -> Option<Self> {
        let mut any_background = false;
        let mut any_object = false;
        let masks: Vec<MaskView> = views
            .iter()
            .map(|v| {
                let (w, h) = v.image.dimensions();
                let (cells_x, cells_y) = (w.div_ceil(CELL), h.div_ceil(CELL));
                let mut mask = vec![false; (cells_x * cells_y) as usize];
                for (x, y, p) in v.image.enumerate_pixels() {
                    if p[3] > ALPHA_ON {
                        mask[((y / CELL) * cells_x + x / CELL) as usize] = true;
                        any_object = true;
                    } else {
                        any_background = true;
                    }
                }
                MaskView { camera: v.camera, time: v.time, mask, cells_x, cells_y }
            })
            .collect();
        (any_background && any_object).then_some(Self { views: masks })
    }

    /// True when most of the views nearest to `t` that see `p` see the object there.
    pub fn keeps(&self, p: DVec3, t: f32) -> bool {
        let mut by_time: Vec<(f32, usize)> =
            self.views.iter().enumerate().map(|(i, v)| ((v.time - t).abs(), i)).collect();
        let n = VOTERS.min(by_time.len());
        if n == 0 {
            return true;
        }
        by_time.select_nth_unstable_by(n - 1, |a, b| a.0.total_cmp(&b.0));
        let reach = by_time[n - 1].0;
        let (mut seen, mut on) = (0usize, 0usize);
        for &(d, i) in &by_time {
            if d > reach {
                continue;
            }
            if let Some(hit) = self.views[i].sees_object(p) {
                seen += 1;
                on += hit as usize;
            }
        }
        seen > 0 && on as f64 >= AGREEMENT * seen as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::SyncDreamerRig;
    use crate::camera::rig::orbit_camera;
    use image::RgbaImage;

    /// Views of a sphere of radius `r` at the origin: its silhouette drawn from the projected centre.
    fn sphere_views(r: f64) -> Vec<View> {
        let rig = SyncDreamerRig::default();
        (0..8)
            .map(|i| {
                let camera = orbit_camera(i as f64 * 45.0, 30.0, rig.distance, rig.intrinsics());
                let (cu, cv, z) = camera.project(DVec3::ZERO).unwrap();
                let radius_px = camera.intrinsics.fx * r / z;
                let image = RgbaImage::from_fn(camera.intrinsics.width, camera.intrinsics.height, |x, y| {
                    let d = ((x as f64 + 0.5 - cu).powi(2) + (y as f64 + 0.5 - cv).powi(2)).sqrt();
                    image::Rgba([200, 100, 50, if d < radius_px { 255 } else { 0 }])
                });
                View {
                    name: format!("v{i}"),
                    camera,
                    time: i as f32 / 7.0,
                    image,
                    confidence: None,
                    frame_index: None,
                    view_index: None,
                }
            })
            .collect()
    }

    #[test]
    fn keeps_points_on_the_object_and_carves_empty_space() {
        let carver = SilhouetteCarver::from_views(&sphere_views(0.2)).expect("masks");
        for t in [0.0, 0.5, 1.0] {
            assert!(carver.keeps(DVec3::ZERO, t));
            assert!(carver.keeps(DVec3::new(0.1, -0.1, 0.05), t));
            assert!(!carver.keeps(DVec3::new(0.4, 0.0, 0.0), t));
            assert!(!carver.keeps(DVec3::new(-0.3, 0.3, 0.2), t));
        }
    }

    #[test]
    fn carved_initial_splats_lie_on_the_object() {
        use crate::train::init::{InitVolume, initial_gaussians};
        let views = sphere_views(0.2);
        let carver = SilhouetteCarver::from_views(&views).unwrap();
        let cameras: Vec<Camera> = views.iter().map(|v| v.camera).collect();
        let ball = InitVolume::Ball { center: [0.0; 3], radius: 0.5 };
        let g = initial_gaussians(1000, ball, &cameras, Some(&carver), (0.0, 1.0), 0.1, 0, 3);
        assert_eq!(g.len(), 1000);
        // Within the sphere plus the carving's tolerance: up to two mask cells (~0.04 here), more
        // along the vertical, which a ring of cameras at one elevation constrains less, and a
        // quarter of the voters may disagree.
        let radius = |i: usize| g.means[i * 4..i * 4 + 3].iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((0..g.len()).all(|i| radius(i) < 0.32), "max radius {}", (0..1000).map(radius).fold(0.0, f32::max));
        let near = (0..g.len()).filter(|&i| radius(i) < 0.24).count();
        assert!(near > 800, "{near} of 1000 within 0.24");
        // Without carving, most of the ball's points would lie outside it.
        let loose = initial_gaussians(1000, ball, &cameras, None, (0.0, 1.0), 0.1, 0, 3);
        let outside = (0..1000).filter(|&i| loose.means[i * 4..i * 4 + 3].iter().map(|v| v * v).sum::<f32>() > 0.0676);
        assert!(outside.count() > 800);
    }

    #[test]
    fn opaque_images_give_no_carver() {
        let mut views = sphere_views(0.2);
        for v in &mut views {
            v.image.pixels_mut().for_each(|p| p[3] = 255);
        }
        assert!(SilhouetteCarver::from_views(&views).is_none());
    }
}
