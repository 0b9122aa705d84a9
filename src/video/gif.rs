//! Animated GIF through `image` (frames come composited on the full canvas, transparency kept).

use super::VideoError;
use super::source::{FrameSource, Probe};
use image::AnimationDecoder;
use image::RgbaImage;
use image::codecs::gif::GifDecoder;
use std::io::Cursor;
use std::path::{Path, PathBuf};

pub struct GifSource {
    path: PathBuf,
    bytes: Vec<u8>,
    probe: Probe,
}

fn frames(path: &Path, bytes: &[u8]) -> Result<image::Frames<'static>, VideoError> {
    // The decoder borrows nothing once built from an owned cursor.
    let decoder = GifDecoder::new(Cursor::new(bytes.to_vec())).map_err(|e| VideoError::corrupt(path, e))?;
    Ok(decoder.into_frames())
}

impl GifSource {
    pub fn open(path: &Path, bytes: Vec<u8>) -> Result<Self, VideoError> {
        let decoder = GifDecoder::new(Cursor::new(&bytes)).map_err(|e| VideoError::corrupt(path, e))?;
        let (width, height) = image::ImageDecoder::dimensions(&decoder);
        // Counting needs one pass over the LZW data; GIFs are small enough for that.
        let mut count = 0usize;
        let mut millis = 0.0f64;
        for frame in frames(path, &bytes)? {
            let frame = frame.map_err(|e| VideoError::corrupt(path, format!("frame {count}: {e}")))?;
            let (n, d) = frame.delay().numer_denom_ms();
            millis += n as f64 / d.max(1) as f64;
            count += 1;
        }
        // Browsers show 0-delay GIFs at 10 fps; do the same.
        let fps = if millis > 0.0 { count as f64 * 1000.0 / millis } else { 10.0 };
        let description = format!("GIF {width}×{height}, {count} frames, {fps:.2} fps");
        Ok(Self { path: path.to_path_buf(), bytes, probe: Probe { frames: count, fps, width, height, description } })
    }
}

impl FrameSource for GifSource {
    fn probe(&self) -> &Probe {
        &self.probe
    }

    fn decode(
        &mut self,
        wanted: &[usize],
        keep: &mut dyn FnMut(usize, RgbaImage) -> Result<(), VideoError>,
    ) -> Result<(), VideoError> {
        let last = wanted.last().copied().unwrap_or(0);
        for (i, frame) in frames(&self.path, &self.bytes)?.enumerate().take(last + 1) {
            let frame = frame.map_err(|e| VideoError::corrupt(&self.path, format!("frame {i}: {e}")))?;
            if wanted.binary_search(&i).is_ok() {
                keep(i, frame.into_buffer())?;
            }
        }
        Ok(())
    }
}
