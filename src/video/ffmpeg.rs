//! Other codecs (VP9, AV1, HEVC, ...) through an `ffmpeg` binary when one is on PATH: frames are written
//! downscaled to a temporary folder (bounded memory), then read like an image folder.

use super::VideoError;
use super::folder::FolderSource;
use super::source::{FrameSource, Probe};
use image::RgbaImage;
use std::path::Path;
use std::process::Command;

pub struct FfmpegSource {
    // Keeps the extracted frames alive as long as the source.
    _dir: tempfile::TempDir,
    frames: FolderSource,
    probe: Probe,
}

/// Whether an `ffmpeg` binary answers on PATH.
pub fn available() -> bool {
    Command::new("ffmpeg").arg("-version").output().map(|o| o.status.success()).unwrap_or(false)
}

fn frame_rate(path: &Path) -> Option<f64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=avg_frame_rate", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (n, d) = text.trim().split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then_some(n / d)
}

impl FfmpegSource {
    pub fn open(path: &Path, max_side: u32) -> Result<Self, VideoError> {
        let dir = tempfile::tempdir().map_err(|e| VideoError::io(std::env::temp_dir(), e))?;
        let scale = format!("scale=w='min({max_side},iw)':h='min({max_side},ih)':force_original_aspect_ratio=decrease");
        let out = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-vf", &scale, "-pix_fmt", "rgba", "-vsync", "0"])
            .arg(dir.path().join("%06d.png"))
            .output()
            .map_err(|e| VideoError::Ffmpeg { path: path.into(), detail: e.to_string() })?;
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no message").to_string();
            return Err(VideoError::Ffmpeg { path: path.into(), detail });
        }
        let frames = FolderSource::open(dir.path()).map_err(|e| match e {
            VideoError::TooFewFrames { found, needed, .. } => {
                VideoError::TooFewFrames { path: path.into(), found, needed }
            }
            other => other,
        })?;
        let mut probe = frames.probe().clone();
        probe.fps = frame_rate(path).unwrap_or(probe.fps);
        probe.description =
            format!("ffmpeg: {} frames of {}×{}, {:.2} fps", probe.frames, probe.width, probe.height, probe.fps);
        Ok(Self { _dir: dir, frames, probe })
    }
}

impl FrameSource for FfmpegSource {
    fn probe(&self) -> &Probe {
        &self.probe
    }

    fn decode(
        &mut self,
        wanted: &[usize],
        keep: &mut dyn FnMut(usize, RgbaImage) -> Result<(), VideoError>,
    ) -> Result<(), VideoError> {
        self.frames.decode(wanted, keep)
    }
}
