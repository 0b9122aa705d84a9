//! The viewport's orbit camera: drag to orbit, right/middle drag to pan, wheel to zoom, snap to the rig's
//! views and the input view. World Z is up, as in the rig.

use crate::camera::{Camera, Intrinsics, SyncDreamerRig};
use glam::DVec3;

#[derive(Clone, Debug, PartialEq)]
pub struct OrbitCamera {
    pub target: DVec3,
    pub azimuth_deg: f64,
    pub elevation_deg: f64,
    pub distance: f64,
    /// Vertical field of view.
    pub fov_y_deg: f64,
}

impl Default for OrbitCamera {
    /// Rig view 0: azimuth 0, elevation 30°, distance 1.5, the rig's field of view.
    fn default() -> Self {
        let rig = SyncDreamerRig::default();
        Self::rig_view(&rig, 0)
    }
}

impl OrbitCamera {
    fn rig_fov_y(rig: &SyncDreamerRig) -> f64 {
        2.0 * (rig.image_size as f64 / 2.0 / rig.focal_px).atan().to_degrees()
    }

    /// Exactly where rig view `i` sits.
    pub fn rig_view(rig: &SyncDreamerRig, i: u32) -> Self {
        Self {
            target: DVec3::ZERO,
            azimuth_deg: rig.azimuth_deg(i),
            elevation_deg: rig.elevation_deg,
            distance: rig.distance,
            fov_y_deg: Self::rig_fov_y(rig),
        }
    }

    /// The input video's view (azimuth 0, elevation 0).
    pub fn input_view(rig: &SyncDreamerRig) -> Self {
        Self { elevation_deg: 0.0, ..Self::rig_view(rig, 0) }
    }

    pub fn eye(&self) -> DVec3 {
        let (az, el) = (self.azimuth_deg.to_radians(), self.elevation_deg.to_radians());
        self.target + self.distance * DVec3::new(el.cos() * az.cos(), el.cos() * az.sin(), el.sin())
    }

    /// The camera for a `width`×`height` viewport (square pixels, the vertical field of view kept).
    pub fn camera(&self, width: u32, height: u32) -> Camera {
        let f = height as f64 / 2.0 / (self.fov_y_deg.to_radians() / 2.0).tan();
        let k = Intrinsics { fx: f, fy: f, cx: width as f64 / 2.0, cy: height as f64 / 2.0, width, height };
        Camera::look_at(self.eye(), self.target, DVec3::Z, k)
    }

    /// Orbit by a drag of (dx, dy) points.
    pub fn orbit(&mut self, dx: f32, dy: f32) {
        self.azimuth_deg = (self.azimuth_deg - dx as f64 * 0.4).rem_euclid(360.0);
        self.elevation_deg = (self.elevation_deg + dy as f64 * 0.4).clamp(-89.0, 89.0);
    }

    /// Move the target in the view plane by a drag of (dx, dy) points on a `height`-point viewport.
    pub fn pan(&mut self, dx: f32, dy: f32, height: f32) {
        let forward = (self.target - self.eye()).normalize();
        let right = forward.cross(DVec3::Z).normalize();
        let up = right.cross(forward);
        let per_point = 2.0 * self.distance * (self.fov_y_deg.to_radians() / 2.0).tan() / height.max(1.0) as f64;
        self.target += (-right * dx as f64 + up * dy as f64) * per_point;
    }

    /// Zoom by wheel `scroll` points (positive: closer).
    pub fn zoom(&mut self, scroll: f32) {
        self.distance = (self.distance * (-scroll as f64 * 0.002).exp()).clamp(0.05, 50.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rig_views_match_the_rig_cameras() {
        let rig = SyncDreamerRig::default();
        for i in [0, 5, 12] {
            let ours = OrbitCamera::rig_view(&rig, i).camera(256, 256);
            let theirs = rig.camera(i);
            assert!((ours.position() - theirs.position()).length() < 1e-9);
            assert!((ours.intrinsics.fx - 280.0).abs() < 1e-9);
            let p = DVec3::new(0.1, -0.2, 0.05);
            let (a, b) = (ours.project(p).unwrap(), theirs.project(p).unwrap());
            assert!((a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6);
        }
    }

    #[test]
    fn orbit_pan_zoom_stay_sane() {
        let mut c = OrbitCamera::default();
        c.orbit(10000.0, 10000.0);
        assert!(c.elevation_deg <= 89.0 && (0.0..360.0).contains(&c.azimuth_deg));
        c.zoom(1e6);
        assert!(c.distance >= 0.05);
        let before = c.target;
        c.pan(100.0, 0.0, 500.0);
        assert!((c.target - before).length() > 0.0 && c.target.is_finite());
    }
}
