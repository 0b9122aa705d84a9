//! The SyncDreamer camera rig (spec §2): 16 views on a ring at elevation 30°, distance 1.5.

use super::{Camera, Intrinsics};
use glam::DVec3;
use serde::{Deserialize, Serialize};

/// The rig's description, written into generated datasets as the top-level `"rig"` field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncDreamerRig {
    pub name: String,
    pub views: u32,
    pub elevation_deg: f64,
    pub azimuth_step_deg: f64,
    pub distance: f64,
    pub image_size: u32,
    pub focal_px: f64,
}

impl Default for SyncDreamerRig {
    fn default() -> Self {
        Self {
            name: "syncdreamer-16".into(),
            views: 16,
            elevation_deg: 30.0,
            azimuth_step_deg: 22.5,
            distance: 1.5,
            image_size: 256,
            focal_px: 280.0,
        }
    }
}

impl SyncDreamerRig {
    pub fn intrinsics(&self) -> Intrinsics {
        let c = self.image_size as f64 / 2.0;
        Intrinsics {
            fx: self.focal_px,
            fy: self.focal_px,
            cx: c,
            cy: c,
            width: self.image_size,
            height: self.image_size,
        }
    }

    pub fn azimuth_deg(&self, view: u32) -> f64 {
        view as f64 * self.azimuth_step_deg
    }

    /// Camera of view `i`, looking at the origin with world +Z up; azimuth grows counter-clockwise
    /// seen from above (view 4 sits on +Y), as in SyncDreamer's `camera-16.pkl`.
    pub fn camera(&self, view: u32) -> Camera {
        orbit_camera(self.azimuth_deg(view), self.elevation_deg, self.distance, self.intrinsics())
    }

    pub fn cameras(&self) -> Vec<Camera> {
        (0..self.views).map(|v| self.camera(v)).collect()
    }
}

/// The input video's view: azimuth 0, elevation 0, same distance and intrinsics as the rig.
pub fn input_view_camera(rig: &SyncDreamerRig) -> Camera {
    orbit_camera(0.0, 0.0, rig.distance, rig.intrinsics())
}

/// A camera on a sphere around the origin, looking at it, world Z up.
pub(crate) fn orbit_camera(azimuth_deg: f64, elevation_deg: f64, distance: f64, k: Intrinsics) -> Camera {
    let (az, el) = (azimuth_deg.to_radians(), elevation_deg.to_radians());
    let eye = distance * DVec3::new(el.cos() * az.cos(), el.cos() * az.sin(), el.sin());
    Camera::look_at(eye, DVec3::ZERO, DVec3::Z, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_zero_sits_where_syncdreamer_puts_it() {
        let rig = SyncDreamerRig::default();
        let p = rig.camera(0).position();
        assert!((p - DVec3::new(1.299038, 0.0, 0.75)).length() < 1e-5, "{p}");
    }

    #[test]
    fn the_origin_projects_to_the_image_centre_in_all_views() {
        let rig = SyncDreamerRig::default();
        for (i, cam) in rig.cameras().iter().enumerate() {
            let (u, v, d) = cam.project(DVec3::ZERO).unwrap();
            assert!((u - 128.0).abs() < 1e-9 && (v - 128.0).abs() < 1e-9, "view {i}: {u},{v}");
            assert!((d - 1.5).abs() < 1e-12);
        }
    }

    #[test]
    fn world_up_points_up_in_every_image() {
        let rig = SyncDreamerRig::default();
        for cam in rig.cameras() {
            let (_, v_top, _) = cam.project(DVec3::new(0.0, 0.0, 0.2)).unwrap();
            assert!(v_top < 128.0);
        }
    }
}
