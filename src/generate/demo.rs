//! The bundled demo: a procedurally modelled, textured, deliberately non-symmetric creature (striped body,
//! one ear, a blue-tipped tail that wags, four walking legs, a nodding head), made of 3D Gaussians posed
//! at any time t ∈ [0, 1]. `assets/demo/creature.mp4` is its side view rendered by our rasterizer; its
//! true 16-view matrix is rendered on demand (`efficient4d demo --out DIR`) for training on the truth.

use crate::camera::rig::{input_view_camera, orbit_camera};
use crate::camera::{Camera, Intrinsics, SyncDreamerRig};
use crate::dataset::{DatasetWriter, Split};
use crate::gaussians::{Gaussians4d, SH_C0};
use crate::generate::render_matrix::{MatrixError, add_frame_views, key_times, render_views_rgba};
use crate::render::{RasterError, RasterView, Rasterizer};
use glam::{DMat3, DVec3};
use image::RgbaImage;
use std::path::Path;

/// Frames in the bundled clip: 46 at 23 fps (2 s), so that 16 evenly spaced key frames (0, 3, …, 45)
/// fall exactly on t = k/15, the truth matrix's times.
/// The bundled demo clip: `assets/demo/creature.mp4` in the source tree, or (for a binary moved
/// elsewhere) the same bytes, built into the binary, written once to the temporary folder.
pub fn demo_clip() -> std::path::PathBuf {
    const CLIP: &[u8] = include_bytes!("../../assets/demo/creature.mp4");
    let in_tree = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo/creature.mp4");
    if in_tree.is_file() {
        return in_tree;
    }
    let copy = std::env::temp_dir().join("efficient4d-demo-creature.mp4");
    let stale = std::fs::metadata(&copy).map(|m| m.len() as usize).ok() != Some(CLIP.len());
    if stale && let Err(e) = crate::atomic_file::write_atomically(&copy, CLIP) {
        log::warn!("could not write the demo clip to {}: {e}", copy.display());
    }
    copy
}

pub const CLIP_FRAMES: u32 = 46;
pub const CLIP_FPS: f64 = 23.0;
/// The clip's camera: the input view (azimuth 0, elevation 0, distance 1.5), 320×240.
pub(crate) fn clip_camera() -> Camera {
    let k = Intrinsics { fx: 250.0, fy: 250.0, cx: 160.0, cy: 120.0, width: 320, height: 240 };
    orbit_camera(0.0, 0.0, SyncDreamerRig::default().distance, k)
}

type Colour = fn(DVec3) -> [f64; 3];

struct Builder {
    g: Gaussians4d,
    /// Spacing of surface samples (world units).
    spacing: f64,
}

impl Builder {
    /// Samples the surface of an ellipsoid (centre, semi-axes along the columns of `frame`) with splats
    /// coloured by `colour(unit direction in the ellipsoid's frame)`.
    fn ellipsoid(&mut self, centre: DVec3, semi: DVec3, frame: DMat3, colour: Colour) {
        let (a, b, c) = (semi.x, semi.y, semi.z);
        // Knud Thomsen's approximation of the surface area.
        let p = 1.6075;
        let area =
            4.0 * std::f64::consts::PI * (((a * b).powf(p) + (a * c).powf(p) + (b * c).powf(p)) / 3.0).powf(1.0 / p);
        let n = ((area / (self.spacing * self.spacing)).ceil() as usize).max(12);
        let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
        let log_scale = (self.spacing * 0.7).ln() as f32;
        for i in 0..n {
            let z = 1.0 - 2.0 * (i as f64 + 0.5) / n as f64;
            let r = (1.0 - z * z).sqrt();
            let phi = golden * i as f64;
            let dir = DVec3::new(r * phi.cos(), r * phi.sin(), z);
            let world = centre + frame * (dir * semi);
            self.g.means.extend([world.x as f32, world.y as f32, world.z as f32, 0.0]);
            self.g.log_scales.extend([log_scale, log_scale, log_scale, 3.0]);
            self.g.rot_left.extend([1.0, 0.0, 0.0, 0.0]);
            self.g.rot_right.extend([1.0, 0.0, 0.0, 0.0]);
            self.g.opacity.push(3.0);
            self.g.sh.extend(colour(dir).map(|v| ((v - 0.5) / SH_C0) as f32));
        }
    }

    fn sphere(&mut self, centre: DVec3, radius: f64, colour: Colour) {
        self.ellipsoid(centre, DVec3::splat(radius), DMat3::IDENTITY, colour);
    }
}

fn body_colour(d: DVec3) -> [f64; 3] {
    if d.z < -0.55 {
        [0.98, 0.9, 0.75] // cream belly
    } else if d.x > 0.55 && (d.y - 0.1).abs() < 0.25 && (d.z - 0.2).abs() < 0.3 {
        [0.15, 0.35, 0.85] // one blue patch, on the flank the video sees
    } else if (d.y * 9.0).sin() > 0.45 {
        [0.4, 0.2, 0.08] // stripes
    } else {
        [0.95, 0.55, 0.15]
    }
}

/// The creature posed at `t` ∈ [0, 1] (two walk cycles over the clip); static 3D Gaussians (time mean 0,
/// a huge time scale) so that a slice at any time shows all of them.
pub fn creature(t: f64) -> Gaussians4d {
    let mut b = Builder { g: Gaussians4d { sh_degree: 0, ..Default::default() }, spacing: 0.011 };
    let phase = 2.0 * std::f64::consts::TAU * t;
    let s = 0.85; // overall size: keeps every splat inside the rig's r = 0.5 object ball
    let v = |x: f64, y: f64, z: f64| DVec3::new(x, y, z) * s;
    let bob = 0.012 * (2.0 * phase).sin();
    b.ellipsoid(v(0.0, 0.0, 0.02 + bob), v(0.14, 0.25, 0.13), DMat3::IDENTITY, body_colour);

    let head = v(0.0, 0.3, 0.15 + bob + 0.02 * phase.sin());
    b.ellipsoid(head, v(0.1, 0.11, 0.1), DMat3::IDENTITY, |_| [0.98, 0.78, 0.25]);
    b.sphere(head + v(0.0, 0.095, -0.025), 0.045 * s, |_| [0.95, 0.55, 0.6]);
    for side in [-1.0, 1.0] {
        b.sphere(head + v(0.07 * side, 0.06, 0.035), 0.028 * s, |_| [1.0, 1.0, 1.0]);
        b.sphere(head + v(0.093 * side, 0.072, 0.04), 0.014 * s, |_| [0.02, 0.02, 0.05]);
    }
    // A single ear, on the +x side, leaning back.
    let ear = DMat3::from_rotation_x(-0.5);
    b.ellipsoid(head + v(0.05, -0.03, 0.1), v(0.02, 0.035, 0.065), ear, |_| [0.6, 0.1, 0.15]);

    // Tail: a chain of shrinking spheres going back and up, wagging sideways (x), blue tip.
    let mut at = v(0.0, -0.24, 0.06 + bob);
    for k in 0..10 {
        let wag = 0.45 * (phase * 1.5 - k as f64 * 0.35).sin();
        let step = DVec3::new(wag * 0.03, -0.018, 0.016) * s;
        at += step;
        let colour: Colour = if k >= 7 { |_| [0.2, 0.4, 0.95] } else { |_| [0.9, 0.5, 0.13] };
        b.sphere(at, (0.042 - 0.0025 * k as f64) * s, colour);
    }

    // Legs: front-left with back-right, front-right with back-left.
    for (x, y, offset) in [(0.08, 0.14, 0.0), (-0.08, 0.14, 1.0), (0.08, -0.14, 1.0), (-0.08, -0.14, 0.0)] {
        let swing = 0.45 * (phase + offset * std::f64::consts::PI).sin();
        let hip = v(x, y, -0.05 + bob);
        let dir = DVec3::new(0.0, swing.sin(), -swing.cos());
        for k in 0..7 {
            let colour: Colour = if k == 6 { |_| [0.15, 0.08, 0.04] } else { |_| [0.45, 0.25, 0.1] };
            b.sphere(hip + dir * (0.035 * k as f64 * s), 0.034 * s, colour);
        }
    }
    b.g
}

/// The creature as one 4D model: `frames` poses over t ∈ [0, 1], each pose's splats centred at its own
/// time with a temporal σ of a third of the spacing (a flipbook; for viewers and tests).
pub fn creature_flipbook(frames: u32) -> Gaussians4d {
    let n = frames.max(2);
    let sigma_t = (1.0 / (n - 1) as f32 / 3.0).ln();
    let mut all = Gaussians4d { sh_degree: 0, ..Default::default() };
    for f in 0..n {
        let t = f as f32 / (n - 1) as f32;
        let mut g = creature(t as f64);
        for m in g.means.chunks_mut(4) {
            m[3] = t;
        }
        for s in g.log_scales.chunks_mut(4) {
            s[3] = sigma_t;
        }
        all.means.extend(g.means);
        all.log_scales.extend(g.log_scales);
        all.rot_left.extend(g.rot_left);
        all.rot_right.extend(g.rot_right);
        all.opacity.extend(g.opacity);
        all.sh.extend(g.sh);
    }
    all
}

/// The demo clip: the creature from the clip camera on white, `CLIP_FRAMES` frames.
pub fn render_clip(r: &Rasterizer) -> Result<Vec<RgbaImage>, RasterError> {
    let camera = clip_camera();
    let (w, h) = (camera.intrinsics.width, camera.intrinsics.height);
    (0..CLIP_FRAMES)
        .map(|f| {
            let g = creature(f as f64 / (CLIP_FRAMES - 1) as f64);
            let view = RasterView { camera, time: 0.0, background: [1.0; 3] };
            let rgba = r.read_color(&r.forward(&r.upload(&g)?, &[view], false)?)?;
            Ok(RgbaImage::from_raw(w, h, crate::render::opaque_rgba8(&rgba)).expect("size matches"))
        })
        .collect()
}

/// Held-out cameras of the truth matrix: between the rig's azimuths, above and below its elevation.
pub(crate) const TEST_VIEWS: [(f64, f64); 4] = [(11.25, 15.0), (101.25, 45.0), (191.25, 15.0), (281.25, 45.0)];

/// Writes the creature's true image matrix: the 16 rig views (and the input view, as a generated
/// matrix has it, when `with_input_view`) at `frames` key times (train split) and `TEST_VIEWS` at the
/// same times (test split), 256², D-NeRF convention.
pub fn write_truth_matrix(r: &Rasterizer, out: &Path, frames: u32, with_input_view: bool) -> Result<(), MatrixError> {
    let rig = SyncDreamerRig::default();
    let mut writer = DatasetWriter::new(out, Some("demo-truth"), Some(rig.clone()));
    let mut train: Vec<(u32, Camera)> = (0..rig.views).map(|v| (v, rig.camera(v))).collect();
    if with_input_view {
        train.push((rig.views, input_view_camera(&rig)));
    }
    let test: Vec<(u32, Camera)> = TEST_VIEWS
        .iter()
        .enumerate()
        .map(|(i, &(az, el))| (rig.views + 1 + i as u32, orbit_camera(az, el, rig.distance, rig.intrinsics())))
        .collect();
    for (f, t) in key_times(frames).into_iter().enumerate() {
        let params = r.upload(&creature(t as f64))?;
        for (split, cams) in [(Split::Train, &train), (Split::Test, &test)] {
            let cameras: Vec<Camera> = cams.iter().map(|(_, c)| *c).collect();
            let images = render_views_rgba(r, &params, &cameras, 0.0)?;
            add_frame_views(&mut writer, split, f as u32, t, cams, &images)?;
        }
    }
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creature_fits_the_object_ball_and_moves() {
        let a = creature(0.0);
        let b = creature(0.3);
        a.validate().unwrap();
        assert!(a.len() > 5_000 && a.len() < 60_000, "{} splats", a.len());
        let radius = a.means.chunks(4).map(|m| (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt()).fold(0.0, f32::max);
        assert!(radius < 0.5, "a splat at r = {radius}");
        assert_eq!(a.len(), b.len());
        assert_ne!(a.means, b.means, "the pose changes over time");
    }

    #[test]
    fn the_creature_is_not_mirror_symmetric() {
        // Mirror through the x = 0 plane: the single ear has no counterpart.
        let g = creature(0.0);
        let ear = |x_sign: f32| {
            let ear_sh = [0.6f64, 0.1, 0.15].map(|v| ((v - 0.5) / SH_C0) as f32);
            g.sh.chunks(3)
                .zip(g.means.chunks(4))
                .filter(|(c, m)| c.iter().zip(&ear_sh).all(|(a, b)| (a - b).abs() < 1e-3) && m[0] * x_sign > 0.0)
                .count()
        };
        assert!(ear(1.0) > 50 && ear(-1.0) == 0, "ear splats: right {}, left {}", ear(1.0), ear(-1.0));
    }
}
