//! What the app writes: PLY sequences, the checkpoint, a screenshot, a turntable GIF. All atomic.

use super::model::LoadedModel;
use crate::export::ply::{export_sequence, sequence_times};
use crate::export::turntable::{TurntableSpec, render_turntable};
use crate::export::{Checkpoint, CheckpointMeta};
use crate::render::Rasterizer;
use std::path::{Path, PathBuf};

/// K evenly spaced times over the model's range, or its key frames when `frames` is 0.
pub fn export_times(model: &LoadedModel, frames: u32) -> Vec<f32> {
    sequence_times(model.time_range, &model.key_times, (frames > 0).then_some(frames))
}

pub fn export_ply_sequence(model: &LoadedModel, dir: &Path, frames: u32) -> anyhow::Result<Vec<PathBuf>> {
    Ok(export_sequence(&model.gaussians, &export_times(model, frames), dir, "frame")?)
}

pub fn save_checkpoint(model: &LoadedModel, path: &Path) -> anyhow::Result<()> {
    let meta = CheckpointMeta {
        format_version: crate::export::checkpoint::FORMAT_VERSION,
        time_range: [model.time_range.0, model.time_range.1],
        sh_degree: model.gaussians.sh_degree,
        background: model.background,
        rig: None,
        frame_times: model.key_times.clone(),
        iterations: 0,
        settings: serde_json::json!({ "saved_by": "efficient4d app", "source": model.source }),
    };
    Checkpoint { gaussians: model.gaussians.clone(), meta }.save(path)?;
    Ok(())
}

pub fn save_screenshot(image: &egui::ColorImage, path: &Path) -> anyhow::Result<()> {
    let [w, h] = image.size;
    let rgba: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let mut png = Vec::new();
    image::RgbaImage::from_raw(w as u32, h as u32, rgba)
        .ok_or_else(|| anyhow::anyhow!("screenshot buffer has the wrong size"))?
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    crate::atomic_file::write_atomically(path, &png)?;
    Ok(())
}

pub fn export_turntable(r: &Rasterizer, model: &LoadedModel, path: &Path, background: [f32; 3]) -> anyhow::Result<()> {
    let spec = TurntableSpec { time_range: model.time_range, background, ..Default::default() };
    let frames = render_turntable(r, &model.gaussians, &spec)?;
    crate::video::encode::write_gif(path, &frames, 24.0)?;
    Ok(())
}
