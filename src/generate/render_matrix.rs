//! Renders a known 4D Gaussian scene into a dataset folder (D-NeRF convention, generator "render"):
//! the SyncDreamer rig's views as the training split and extra views as held-out ground truth.

use crate::camera::{Camera, SyncDreamerRig, rig::orbit_camera};
use crate::dataset::{DatasetError, DatasetWriter, Split, ViewToWrite};
use crate::gaussians::Gaussians4d;
use crate::render::{RasterError, RasterView, Rasterizer};
use image::RgbaImage;
use std::path::Path;

/// What to render.
#[derive(Clone, Debug)]
pub struct MatrixSpec {
    pub size: u32,
    pub frames: u32,
    /// Held-out cameras as (azimuth°, elevation°), at `test_frames` evenly spaced times.
    pub test_views: Vec<(f64, f64)>,
    pub test_frames: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    #[error(transparent)]
    Raster(#[from] RasterError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
}

/// Straight-alpha RGBA from a colour rendered over black (colour / alpha).
fn unpremultiply(rgba: &[f32], width: u32, height: u32) -> RgbaImage {
    RgbaImage::from_fn(width, height, |x, y| {
        let o = ((y * width + x) * 4) as usize;
        let a = rgba[o + 3].clamp(0.0, 1.0);
        let c = |k: usize| if a > 1e-4 { (rgba[o + k] / a).clamp(0.0, 1.0) } else { 0.0 };
        let q = |v: f32| (v * 255.0).round() as u8;
        image::Rgba([q(c(0)), q(c(1)), q(c(2)), q(a)])
    })
}

/// `n` key-frame times evenly spaced over [0, 1].
pub(crate) fn key_times(n: u32) -> Vec<f32> {
    if n <= 1 { vec![0.0] } else { (0..n).map(|f| f as f32 / (n - 1) as f32).collect() }
}

/// Renders `g` (already uploaded) from each camera at `time` as straight-alpha RGBA images.
pub(crate) fn render_views_rgba(
    r: &Rasterizer,
    params: &crate::render::GaussianBuffers,
    cameras: &[Camera],
    time: f32,
) -> Result<Vec<RgbaImage>, RasterError> {
    let k = cameras[0].intrinsics;
    let views: Vec<RasterView> =
        cameras.iter().map(|c| RasterView { camera: *c, time, background: [0.0; 3] }).collect();
    let img = r.read_color(&r.forward(params, &views, false)?)?;
    let px = (k.width * k.height * 4) as usize;
    Ok((0..cameras.len()).map(|i| unpremultiply(&img[i * px..(i + 1) * px], k.width, k.height)).collect())
}

/// Adds one key frame's views (index, camera) and their images to `writer`, named
/// `{split}/f{frame:03}_v{view:02}`.
pub(crate) fn add_frame_views(
    writer: &mut DatasetWriter,
    split: Split,
    frame: u32,
    time: f32,
    cameras: &[(u32, Camera)],
    images: &[RgbaImage],
) -> Result<(), DatasetError> {
    for ((view_index, camera), image) in cameras.iter().zip(images) {
        let name = format!("{}/f{frame:03}_v{view_index:02}", split.name());
        let view = ViewToWrite {
            name: &name,
            camera,
            time,
            image,
            confidence: None,
            frame_index: Some(frame),
            view_index: Some(*view_index),
        };
        writer.add(split, view)?;
    }
    Ok(())
}

fn render_split(
    r: &Rasterizer,
    params: &crate::render::GaussianBuffers,
    writer: &mut DatasetWriter,
    split: Split,
    cameras: &[(u32, Camera)],
    frames: u32,
) -> Result<(), MatrixError> {
    let only_cameras: Vec<Camera> = cameras.iter().map(|(_, c)| *c).collect();
    for (f, t) in key_times(frames).into_iter().enumerate() {
        let images = render_views_rgba(r, params, &only_cameras, t)?;
        add_frame_views(writer, split, f as u32, t, cameras, &images)?;
    }
    Ok(())
}

/// Writes `transforms_train.json` (the 16 rig views × `frames`) and `transforms_test.json`.
pub fn render_image_matrix(r: &Rasterizer, g: &Gaussians4d, out: &Path, spec: &MatrixSpec) -> Result<(), MatrixError> {
    let rig = SyncDreamerRig::default();
    let k = rig.intrinsics().scaled_to(spec.size, spec.size);
    let params = r.upload(g)?;
    let mut writer = DatasetWriter::new(out, Some("render"), Some(rig.clone()));
    let train: Vec<(u32, Camera)> = (0..rig.views)
        .map(|v| {
            let mut c = rig.camera(v);
            c.intrinsics = k;
            (v, c)
        })
        .collect();
    render_split(r, &params, &mut writer, Split::Train, &train, spec.frames)?;
    if !spec.test_views.is_empty() {
        // Held-out views are numbered after the rig's and the input view's indices.
        let test: Vec<(u32, Camera)> = spec
            .test_views
            .iter()
            .enumerate()
            .map(|(i, &(az, el))| (rig.views + 1 + i as u32, orbit_camera(az, el, rig.distance, k)))
            .collect();
        render_split(r, &params, &mut writer, Split::Test, &test, spec.test_frames)?;
    }
    writer.finish()?;
    Ok(())
}
