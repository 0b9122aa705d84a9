//! A folder of PNG/JPEG frames, ordered by the number in the file name (as Efficient4D sorts them).

use super::source::{FrameSource, Probe};
use super::{MAX_INPUT_SIDE, VideoError};
use image::{ImageReader, Limits, RgbaImage};
use std::path::{Path, PathBuf};

/// Frame rate assumed for image folders (they carry none).
pub const FOLDER_FPS: f64 = 30.0;

pub struct FolderSource {
    files: Vec<PathBuf>,
    probe: Probe,
}

fn is_frame(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
}

/// Sort key: the integer in the stem when there is one (so 2.png < 10.png), then the name.
fn order_key(path: &Path) -> (u64, String) {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let digits: String = stem.chars().filter(char::is_ascii_digit).collect();
    (digits.parse().unwrap_or(u64::MAX), stem.to_string())
}

/// Opens one image with allocation limits, so a 20000×20000 frame is refused instead of filling memory.
pub fn read_limited(path: &Path) -> Result<RgbaImage, VideoError> {
    let mut reader = ImageReader::open(path)
        .map_err(|e| VideoError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| VideoError::io(path, e))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_INPUT_SIDE);
    limits.max_image_height = Some(MAX_INPUT_SIDE);
    reader.limits(limits);
    let (width, height) = reader.into_dimensions().map_err(|e| VideoError::corrupt(path, e))?;
    if width > MAX_INPUT_SIDE || height > MAX_INPUT_SIDE {
        return Err(VideoError::TooLarge { path: path.into(), width, height, limit: MAX_INPUT_SIDE });
    }
    let image = ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| VideoError::io(path, e))?
        .decode()
        .map_err(|e| match e {
            image::ImageError::Limits(_) => {
                VideoError::TooLarge { path: path.into(), width, height, limit: MAX_INPUT_SIDE }
            }
            other => VideoError::corrupt(path, other),
        })?;
    Ok(image.to_rgba8())
}

impl FolderSource {
    pub fn open(dir: &Path) -> Result<Self, VideoError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| VideoError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && is_frame(p))
            .collect();
        files.sort_by_key(|p| order_key(p));
        if files.len() < 2 {
            return Err(VideoError::TooFewFrames { path: dir.into(), found: files.len(), needed: 2 });
        }
        let first = ImageReader::open(&files[0])
            .and_then(|r| r.with_guessed_format())
            .map_err(|e| VideoError::io(&files[0], e))?;
        let (width, height) = first.into_dimensions().map_err(|e| VideoError::corrupt(&files[0], e))?;
        let description = format!("image folder, {} frames of {width}×{height}", files.len());
        let probe = Probe { frames: files.len(), fps: FOLDER_FPS, width, height, description };
        Ok(Self { files, probe })
    }
}

impl FrameSource for FolderSource {
    fn probe(&self) -> &Probe {
        &self.probe
    }

    fn decode(
        &mut self,
        wanted: &[usize],
        keep: &mut dyn FnMut(usize, RgbaImage) -> Result<(), VideoError>,
    ) -> Result<(), VideoError> {
        for &i in wanted {
            keep(i, read_limited(&self.files[i])?)?;
        }
        Ok(())
    }
}
