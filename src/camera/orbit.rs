//! The viewport's camera: orbit (drag to orbit, right/middle drag to pan, wheel to zoom) or fly (drag
//! to look around, WASD/QE to move); snaps to the rig's views and the input view. World Z is up, as in
//! the rig. Both modes move the same state (a target and the eye's direction and distance from it),
//! so switching keeps the view.

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
    pub(crate) fn input_view(rig: &SyncDreamerRig) -> Self {
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
    pub(crate) fn pan(&mut self, dx: f32, dy: f32, height: f32) {
        let forward = (self.target - self.eye()).normalize();
        let right = forward.cross(DVec3::Z).normalize();
        let up = right.cross(forward);
        let per_point = 2.0 * self.distance * (self.fov_y_deg.to_radians() / 2.0).tan() / height.max(1.0) as f64;
        self.target += (-right * dx as f64 + up * dy as f64) * per_point;
    }

    /// Unit vector from the eye to the target.
    pub fn forward(&self) -> DVec3 {
        (self.target - self.eye()).normalize()
    }

    /// Fly mode: turn the view about the eye by a drag of (dx, dy) points (the eye stays put).
    pub fn look(&mut self, dx: f32, dy: f32) {
        let eye = self.eye();
        // The angles place the eye as seen from the target; a view turning right (clockwise from
        // above, Z up) is the eye's azimuth turning clockwise too, i.e. decreasing.
        self.azimuth_deg = (self.azimuth_deg - dx as f64 * 0.2).rem_euclid(360.0);
        self.elevation_deg = (self.elevation_deg + dy as f64 * 0.2).clamp(-89.0, 89.0);
        self.target = eye - self.distance * (self.eye() - self.target).normalize();
    }

    /// Fly mode: move eye and target together by `forward` along the view, `right` across it and `up`
    /// along world Z (world units).
    pub fn fly(&mut self, forward: f64, right: f64, up: f64) {
        let f = self.forward();
        let r = f.cross(DVec3::Z).normalize();
        self.target += f * forward + r * right + DVec3::Z * up;
    }

    /// Zoom by wheel `scroll` points (positive: closer).
    pub(crate) fn zoom(&mut self, scroll: f32) {
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

    #[test]
    fn flying_looks_about_the_eye_and_moves_along_the_view() {
        let mut c = OrbitCamera::default();
        let eye = c.eye();
        let right_before = c.forward().cross(DVec3::Z).normalize();
        c.look(50.0, 0.0);
        assert!((c.eye() - eye).length() < 1e-9, "looking must not move the eye");
        // Dragging right turns the view right.
        assert!(c.forward().dot(right_before) > 0.1, "forward {:?}", c.forward());
        let down_before = c.forward().z;
        c.look(0.0, 40.0);
        assert!(c.forward().z < down_before, "dragging down looks down");
        let (eye, f) = (c.eye(), c.forward());
        c.fly(0.3, 0.0, 0.0);
        assert!((c.eye() - (eye + f * 0.3)).length() < 1e-9);
        c.fly(0.0, 0.0, -0.2);
        assert!((c.eye().z - (eye.z + f.z * 0.3 - 0.2)).abs() < 1e-9);
        c.fly(0.0, 0.1, 0.0);
        assert!((c.forward() - f).length() < 1e-9, "moving does not turn");
    }
}
