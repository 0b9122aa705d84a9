//! Cameras: pinhole intrinsics, the two pose conventions the project meets, and the SyncDreamer rig.
//!
//! * D-NeRF / Blender / OpenGL **camera-to-world**: camera looks down −Z, +Y is up in the image.
//! * SyncDreamer / OpenCV **world-to-camera**: camera looks down +Z, +Y is down in the image.
//!
//! The renderer works in the OpenCV world-to-camera form (pixel = K · (R·x + t)), so datasets are
//! converted once when loaded.

pub mod orbit;
pub mod rig;

pub use rig::{SyncDreamerRig, input_view_camera};

use glam::{DMat3, DMat4, DVec3, DVec4};

/// Pinhole intrinsics in pixels; the principal point is measured from the image's top-left corner.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Intrinsics {
    pub fx: f64,
    pub fy: f64,
    pub cx: f64,
    pub cy: f64,
    pub width: u32,
    pub height: u32,
}

impl Intrinsics {
    /// Intrinsics from a horizontal field of view (the D-NeRF `camera_angle_x`), centred principal point.
    pub(crate) fn from_fov_x(fov_x: f64, width: u32, height: u32) -> Self {
        let fx = 0.5 * width as f64 / (0.5 * fov_x).tan();
        Self { fx, fy: fx, cx: 0.5 * width as f64, cy: 0.5 * height as f64, width, height }
    }

    /// The same camera seen at another resolution (focal lengths and principal point scale with it).
    pub fn scaled_to(&self, width: u32, height: u32) -> Self {
        let sx = width as f64 / self.width as f64;
        let sy = height as f64 / self.height as f64;
        Self { fx: self.fx * sx, fy: self.fy * sy, cx: self.cx * sx, cy: self.cy * sy, width, height }
    }
}

/// A posed pinhole camera, stored as OpenCV world-to-camera.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    pub world_to_camera: DMat4,
    pub intrinsics: Intrinsics,
}

/// Flips Y and Z: the change of camera axes between OpenGL and OpenCV (its own inverse).
const GL_CV_FLIP: DMat4 = DMat4::from_cols(
    DVec4::new(1.0, 0.0, 0.0, 0.0),
    DVec4::new(0.0, -1.0, 0.0, 0.0),
    DVec4::new(0.0, 0.0, -1.0, 0.0),
    DVec4::new(0.0, 0.0, 0.0, 1.0),
);

/// OpenGL camera-to-world (D-NeRF `transform_matrix`) → OpenCV world-to-camera.
pub(crate) fn opengl_c2w_to_opencv_w2c(c2w_gl: DMat4) -> DMat4 {
    rigid_inverse(c2w_gl * GL_CV_FLIP)
}

/// OpenCV world-to-camera → OpenGL camera-to-world (D-NeRF `transform_matrix`).
pub(crate) fn opencv_w2c_to_opengl_c2w(w2c_cv: DMat4) -> DMat4 {
    rigid_inverse(w2c_cv) * GL_CV_FLIP
}

/// Inverse of a rigid transform [R|t] without a general 4x4 inversion (exact for rotations).
pub(crate) fn rigid_inverse(m: DMat4) -> DMat4 {
    let r = DMat3::from_mat4(m);
    let t = m.w_axis.truncate();
    let rt = r.transpose();
    let t_inv = -(rt * t);
    DMat4::from_cols(rt.x_axis.extend(0.0), rt.y_axis.extend(0.0), rt.z_axis.extend(0.0), t_inv.extend(1.0))
}

impl Camera {
    pub(crate) fn from_opengl_c2w(c2w: DMat4, intrinsics: Intrinsics) -> Self {
        Self { world_to_camera: opengl_c2w_to_opencv_w2c(c2w), intrinsics }
    }

    pub(crate) fn opengl_c2w(&self) -> DMat4 {
        opencv_w2c_to_opengl_c2w(self.world_to_camera)
    }

    /// OpenCV camera-to-world: its translation is the camera centre.
    pub fn position(&self) -> DVec3 {
        rigid_inverse(self.world_to_camera).w_axis.truncate()
    }

    /// A camera at `eye` looking at `target`, with `up` the world's up direction (Z for our scenes).
    pub(crate) fn look_at(eye: DVec3, target: DVec3, up: DVec3, intrinsics: Intrinsics) -> Self {
        let forward = (target - eye).normalize();
        let right = forward.cross(up).normalize();
        let down = forward.cross(right);
        // Rows of R are the camera axes expressed in world coordinates.
        let r = DMat3::from_cols(right, down, forward).transpose();
        let t = -(r * eye);
        let w2c = DMat4::from_cols(r.x_axis.extend(0.0), r.y_axis.extend(0.0), r.z_axis.extend(0.0), t.extend(1.0));
        Self { world_to_camera: w2c, intrinsics }
    }

    /// Projects a world point to pixel coordinates (x right, y down; pixel centres at +0.5) and
    /// returns its depth along the optical axis. `None` when the point is not in front of the camera.
    pub fn project(&self, world: DVec3) -> Option<(f64, f64, f64)> {
        let p = self.world_to_camera.transform_point3(world);
        if p.z <= 1e-9 {
            return None;
        }
        let k = &self.intrinsics;
        Some((k.fx * p.x / p.z + k.cx, k.fy * p.y / p.z + k.cy, p.z))
    }
}

/// Determinant of the rotation block, used to reject reflections and scaled poses.
pub(crate) fn rotation_determinant(m: &DMat4) -> f64 {
    DMat3::from_mat4(*m).determinant()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> Intrinsics {
        Intrinsics { fx: 280.0, fy: 280.0, cx: 128.0, cy: 128.0, width: 256, height: 256 }
    }

    #[test]
    fn gl_cv_round_trip_is_identity() {
        let cam = Camera::look_at(DVec3::new(0.3, -2.0, 1.1), DVec3::ZERO, DVec3::Z, k());
        let back = Camera::from_opengl_c2w(cam.opengl_c2w(), k());
        assert!(back.world_to_camera.abs_diff_eq(cam.world_to_camera, 1e-12));
    }

    #[test]
    fn a_point_lands_on_the_same_pixel_in_both_conventions() {
        let cam = Camera::look_at(DVec3::new(1.0, 2.0, 0.5), DVec3::new(0.1, 0.0, 0.0), DVec3::Z, k());
        let point = DVec3::new(0.2, -0.1, 0.3);
        let (u, v, _) = cam.project(point).unwrap();
        // OpenGL path: camera space has −Z forward and +Y up, so pixel y grows with −y_gl.
        let c2w = cam.opengl_c2w();
        let p = c2w.inverse().transform_point3(point);
        let (u_gl, v_gl) = (280.0 * p.x / -p.z + 128.0, 280.0 * -p.y / -p.z + 128.0);
        assert!((u - u_gl).abs() < 1e-9 && (v - v_gl).abs() < 1e-9, "{u},{v} vs {u_gl},{v_gl}");
        assert!((rotation_determinant(&c2w) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn points_behind_the_camera_do_not_project() {
        let cam = Camera::look_at(DVec3::new(0.0, -2.0, 0.0), DVec3::ZERO, DVec3::Z, k());
        assert!(cam.project(DVec3::new(0.0, -3.0, 0.0)).is_none());
        assert!(cam.project(DVec3::new(0.0, 1.0, 0.0)).is_some());
    }

    #[test]
    fn fov_intrinsics_match_the_rig_numbers() {
        // 256 px with fx = 280 is a 49.13° field of view (spec §2).
        let kk = Intrinsics::from_fov_x(2.0 * (128.0f64 / 280.0).atan(), 256, 256);
        assert!((kk.fx - 280.0).abs() < 1e-9);
        let fov_y = 2.0 * (0.5 * kk.height as f64 / kk.fy).atan();
        assert!((fov_y.to_degrees() - 49.13).abs() < 0.01);
        let half = kk.scaled_to(128, 128);
        assert!((half.fx - 140.0).abs() < 1e-9 && (half.cx - 64.0).abs() < 1e-9);
    }
}
