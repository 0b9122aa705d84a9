//! Video frames of a 4D model while time runs from the first to the last key frame: a turntable (the
//! camera circles the object once) or one fixed camera (the viewport's, the input view's).

use crate::camera::rig::orbit_camera;
use crate::camera::{Camera, SyncDreamerRig};
use crate::gaussians::Gaussians4d;
use crate::render::{RasterError, RasterView, Rasterizer};
use image::RgbaImage;

/// Where the camera is over the clip.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CameraPath {
    /// Circles the object once at this elevation, at the rig's distance.
    Orbit { elevation_deg: f64 },
    /// Stays put; its field of view and aspect are kept, scaled so the longer side is `size`.
    Fixed(Camera),
}

#[derive(Clone, Debug)]
pub struct TurntableSpec {
    pub frames: u32,
    /// The longer side of each frame in pixels.
    pub size: u32,
    pub path: CameraPath,
    /// Time at the first and the last frame.
    pub time_range: (f32, f32),
    pub background: [f32; 3],
}

impl Default for TurntableSpec {
    fn default() -> Self {
        Self {
            frames: 48,
            size: 256,
            path: CameraPath::Orbit { elevation_deg: 15.0 },
            time_range: (0.0, 1.0),
            background: [1.0; 3],
        }
    }
}

impl TurntableSpec {
    /// Width and height of every frame (even, as H.264 4:2:0 needs).
    pub fn frame_size(&self) -> (u32, u32) {
        match self.path {
            CameraPath::Orbit { .. } => (self.size & !1, self.size & !1),
            CameraPath::Fixed(c) => {
                let (w, h) = (c.intrinsics.width as f64, c.intrinsics.height as f64);
                let s = self.size as f64 / w.max(h);
                (((w * s).round() as u32).max(2) & !1, ((h * s).round() as u32).max(2) & !1)
            }
        }
    }

    /// The camera of frame `i` of `n`.
    fn camera(&self, i: u32, n: u32) -> Camera {
        let (w, h) = self.frame_size();
        match self.path {
            CameraPath::Orbit { elevation_deg } => {
                let rig = SyncDreamerRig::default();
                let k = rig.intrinsics().scaled_to(w, h);
                orbit_camera(360.0 * i as f64 / n as f64, elevation_deg, rig.distance, k)
            }
            CameraPath::Fixed(c) => Camera { intrinsics: c.intrinsics.scaled_to(w, h), ..c },
        }
    }
}

/// Renders the turntable frames (opaque RGBA over the background).
pub fn render_turntable(r: &Rasterizer, g: &Gaussians4d, spec: &TurntableSpec) -> Result<Vec<RgbaImage>, RasterError> {
    let (w, h) = spec.frame_size();
    let params = r.upload(g)?;
    let n = spec.frames.max(1);
    let mut out = Vec::with_capacity(n as usize);
    // A few frames per dispatch keeps memory small at large sizes.
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let views: Vec<RasterView> = chunk
            .iter()
            .map(|&i| {
                let f = i as f32 / (n.max(2) - 1) as f32;
                let time = spec.time_range.0 + f * (spec.time_range.1 - spec.time_range.0);
                RasterView { camera: spec.camera(i, n), time, background: spec.background }
            })
            .collect();
        let img = r.read_color(&r.forward(&params, &views, false)?)?;
        let px = (w * h * 4) as usize;
        for v in 0..views.len() {
            let pixels = crate::render::opaque_rgba8(&img[v * px..(v + 1) * px]);
            out.push(RgbaImage::from_raw(w, h, pixels).expect("size matches"));
        }
    }
    Ok(out)
}
