//! What the app writes: PLY sequences (a folder or one zip), a `.splatv`, the checkpoint, a screenshot,
//! a turntable GIF, an MP4 (turntable or the current view over the clip). All atomic.

use super::model::LoadedModel;
use crate::camera::Camera;
use crate::export::ply::{export_sequence, sequence_times};
use crate::export::turntable::{CameraPath, TurntableSpec, render_turntable};
use crate::export::{Checkpoint, CheckpointMeta};
use crate::render::Rasterizer;
use std::path::{Path, PathBuf};

/// K evenly spaced times over the model's range, or its key frames when `frames` is 0.
pub fn export_times(model: &LoadedModel, frames: u32) -> Vec<f32> {
    sequence_times(model.time_range, &model.key_times, (frames > 0).then_some(frames))
}

pub(crate) fn export_ply_sequence(model: &LoadedModel, dir: &Path, frames: u32) -> anyhow::Result<Vec<PathBuf>> {
    Ok(export_sequence(&model.gaussians, &export_times(model, frames), dir, "frame")?)
}

pub(crate) fn export_ply_zip(model: &LoadedModel, path: &Path, frames: u32) -> anyhow::Result<usize> {
    Ok(crate::export::ply_zip::write_ply_zip(path, &model.gaussians, &export_times(model, frames))?)
}

/// The whole 4D model in one `.splatv`; the browser viewer starts from `camera`.
pub(crate) fn export_splatv(model: &LoadedModel, path: &Path, camera: &Camera) -> anyhow::Result<usize> {
    Ok(crate::export::splatv::write_splatv(path, &model.gaussians, model.time_range, camera)?)
}

/// One HTML file that plays the model offline; it starts from `camera` (the app's view), and offers the
/// input view and the rig's views as snaps.
pub(crate) fn export_html_player(
    model: &LoadedModel,
    path: &Path,
    camera: &Camera,
    background: [f32; 3],
) -> anyhow::Result<usize> {
    use crate::export::html_player::{PlayerSettings, rig_cameras, write_html_player};
    let cameras = rig_cameras(&crate::camera::SyncDreamerRig::default(), Some(("your view", *camera)));
    let settings = PlayerSettings::for_file(path, background);
    Ok(write_html_player(path, &model.gaussians, model.time_range, &cameras, &settings)?)
}

/// What an MP4 export renders.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VideoSettings {
    pub frames: u32,
    /// Longer side in pixels.
    pub size: u32,
    pub fps: f64,
}

impl Default for VideoSettings {
    /// 3 s at 24 fps, 512 pixels on the longer side.
    fn default() -> Self {
        Self { frames: 72, size: 512, fps: 24.0 }
    }
}

/// An H.264 MP4 of the clip: the camera circles the object, or `camera` holds one camera still.
pub(crate) fn export_mp4(
    r: &Rasterizer,
    model: &LoadedModel,
    path: &Path,
    camera: CameraPath,
    background: [f32; 3],
    video: VideoSettings,
) -> anyhow::Result<()> {
    let spec = TurntableSpec {
        frames: video.frames,
        size: video.size,
        path: camera,
        time_range: model.time_range,
        background,
    };
    let frames = render_turntable(r, &model.gaussians, &spec)?;
    let (w, h) = spec.frame_size();
    crate::video::encode::write_mp4(path, &frames, video.fps, crate::video::encode::default_bit_rate(w, h, video.fps))?;
    Ok(())
}

pub(crate) fn save_checkpoint(model: &LoadedModel, path: &Path) -> anyhow::Result<()> {
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

pub(crate) fn save_screenshot(image: &egui::ColorImage, path: &Path) -> anyhow::Result<()> {
    let [w, h] = image.size;
    let rgba: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let mut png = Vec::new();
    image::RgbaImage::from_raw(w as u32, h as u32, rgba)
        .ok_or_else(|| anyhow::anyhow!("screenshot buffer has the wrong size"))?
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)?;
    crate::atomic_file::write_atomically(path, &png)?;
    Ok(())
}

pub(crate) fn export_turntable(
    r: &Rasterizer,
    model: &LoadedModel,
    path: &Path,
    background: [f32; 3],
) -> anyhow::Result<()> {
    let spec = TurntableSpec { time_range: model.time_range, background, ..Default::default() };
    let frames = render_turntable(r, &model.gaussians, &spec)?;
    crate::video::encode::write_gif(path, &frames, 24.0)?;
    Ok(())
}

/// Every export the app offers, from the File menu and the Export panel alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportKind {
    PlyFrames,
    PlyZip,
    Splatv,
    HtmlPlayer,
    Mp4Turntable,
    Mp4View,
    TurntableGif,
    Checkpoint,
    Screenshot,
}

impl ExportKind {
    pub const ALL: [Self; 9] = [
        Self::PlyFrames,
        Self::PlyZip,
        Self::Splatv,
        Self::HtmlPlayer,
        Self::Mp4Turntable,
        Self::Mp4View,
        Self::TurntableGif,
        Self::Checkpoint,
        Self::Screenshot,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::PlyFrames => "PLY frames (folder)...",
            Self::PlyZip => "PLY frames (zip, plays in Brush)...",
            Self::Splatv => "4D splats (.splatv, plays in splaTV)...",
            Self::HtmlPlayer => "HTML player (plays offline)...",
            Self::Mp4Turntable => "MP4 turntable...",
            Self::Mp4View => "MP4 from this view...",
            Self::TurntableGif => "Turntable GIF...",
            Self::Checkpoint => "Save checkpoint...",
            Self::Screenshot => "Screenshot...",
        }
    }

    /// The file name the save dialog suggests; `None`: the export is a folder.
    pub fn file_name(self) -> Option<&'static str> {
        match self {
            Self::PlyFrames => None,
            Self::PlyZip => Some("model.zip"),
            Self::Splatv => Some("model.splatv"),
            Self::HtmlPlayer => Some("model.html"),
            Self::Mp4Turntable => Some("turntable.mp4"),
            Self::Mp4View => Some("clip.mp4"),
            Self::TurntableGif => Some("turntable.gif"),
            Self::Checkpoint => Some("model.safetensors"),
            Self::Screenshot => Some("screenshot.png"),
        }
    }
}

impl super::App {
    /// Whether `kind` can be exported now (a model, or for a screenshot an image, is shown).
    pub(crate) fn can_export(&self, kind: ExportKind) -> bool {
        match kind {
            ExportKind::Screenshot => self.viewport.has_image(),
            _ => self.model.is_some(),
        }
    }

    /// The viewport's camera at the shape of its last image (square before the first).
    pub fn view_camera(&self) -> Camera {
        let s = self.viewport.stats;
        let (w, h) = if s.width > 0 && s.height > 0 { (s.width, s.height) } else { (512, 512) };
        self.orbit.camera(w, h)
    }

    /// Writes `kind` to `path` (a folder for PLY frames); the outcome goes to `status` or `error`.
    pub fn export_to(&mut self, kind: ExportKind, path: &Path) {
        let result = self.export_result(kind, path);
        match result {
            Ok(what) => self.status = format!("wrote {what}{}", path.display()),
            Err(e) => self.error = Some(format!("{}: {e:#}", path.display())),
        }
    }

    fn export_result(&self, kind: ExportKind, path: &Path) -> anyhow::Result<String> {
        if kind == ExportKind::Screenshot {
            let image = self.viewport.read_image()?.ok_or_else(|| anyhow::anyhow!("nothing rendered yet"))?;
            save_screenshot(&image, path)?;
            return Ok(String::new());
        }
        let model = self.model.as_ref().ok_or_else(|| anyhow::anyhow!("no model to export yet"))?;
        let r = self.viewport.rasterizer();
        Ok(match kind {
            ExportKind::PlyFrames => {
                format!("{} PLY files to ", export_ply_sequence(model, path, self.export_frames)?.len())
            }
            ExportKind::PlyZip => format!("{} PLY frames into ", export_ply_zip(model, path, self.export_frames)?),
            ExportKind::Splatv => format!("{} splats to ", export_splatv(model, path, &self.view_camera())?),
            ExportKind::HtmlPlayer => {
                let n = export_html_player(model, path, &self.view_camera(), self.background)?;
                format!("{n} splats into the player ")
            }
            ExportKind::Mp4Turntable => {
                export_mp4(r, model, path, CameraPath::Orbit { elevation_deg: 15.0 }, self.background, self.video)?;
                String::new()
            }
            ExportKind::Mp4View => {
                export_mp4(r, model, path, CameraPath::Fixed(self.view_camera()), self.background, self.video)?;
                String::new()
            }
            ExportKind::TurntableGif => {
                export_turntable(r, model, path, self.background)?;
                String::new()
            }
            ExportKind::Checkpoint => {
                save_checkpoint(model, path)?;
                String::new()
            }
            ExportKind::Screenshot => unreachable!("handled above"),
        })
    }
}
