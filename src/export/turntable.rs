//! A turntable / time-lapse preview of a 4D model: the camera circles the object once while time runs
//! from the first to the last key frame.

use crate::camera::SyncDreamerRig;
use crate::camera::rig::orbit_camera;
use crate::gaussians::Gaussians4d;
use crate::render::{RasterError, RasterView, Rasterizer};
use image::RgbaImage;

#[derive(Clone, Debug)]
pub struct TurntableSpec {
    pub frames: u32,
    pub size: u32,
    pub elevation_deg: f64,
    /// Time at the first and the last frame.
    pub time_range: (f32, f32),
    pub background: [f32; 3],
}

impl Default for TurntableSpec {
    fn default() -> Self {
        Self { frames: 48, size: 256, elevation_deg: 15.0, time_range: (0.0, 1.0), background: [1.0; 3] }
    }
}

/// Renders the turntable frames (opaque RGBA over the background).
pub fn render_turntable(r: &Rasterizer, g: &Gaussians4d, spec: &TurntableSpec) -> Result<Vec<RgbaImage>, RasterError> {
    let rig = SyncDreamerRig::default();
    let k = rig.intrinsics().scaled_to(spec.size, spec.size);
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
                let camera = orbit_camera(360.0 * i as f64 / n as f64, spec.elevation_deg, rig.distance, k);
                RasterView { camera, time, background: spec.background }
            })
            .collect();
        let img = r.read_color(&r.forward(&params, &views, false)?)?;
        let px = (spec.size * spec.size * 4) as usize;
        for v in 0..views.len() {
            let pixels = crate::render::opaque_rgba8(&img[v * px..(v + 1) * px]);
            out.push(RgbaImage::from_raw(spec.size, spec.size, pixels).expect("size matches"));
        }
    }
    Ok(out)
}
