//! Animated GIF through `image` (frames come composited on the full canvas, transparency kept).

use super::source::{FrameSource, Probe};
use super::{MAX_INPUT_SIDE, VideoError};
use image::AnimationDecoder;
use image::RgbaImage;
use image::codecs::gif::GifDecoder;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

pub struct GifSource {
    path: PathBuf,
    probe: Probe,
}

fn decoder(path: &Path) -> Result<GifDecoder<BufReader<File>>, VideoError> {
    let file = File::open(path).map_err(|e| VideoError::io(path, e))?;
    GifDecoder::new(BufReader::new(file)).map_err(|e| VideoError::corrupt(path, e))
}

fn frames(path: &Path) -> Result<image::Frames<'static>, VideoError> {
    Ok(decoder(path)?.into_frames())
}

impl GifSource {
    pub fn open(path: &Path) -> Result<Self, VideoError> {
        let (width, height) = image::ImageDecoder::dimensions(&decoder(path)?);
        if width > MAX_INPUT_SIDE || height > MAX_INPUT_SIDE {
            return Err(VideoError::TooLarge { path: path.into(), width, height, limit: MAX_INPUT_SIDE });
        }
        // Counting needs one pass over the LZW data (streamed, one frame in memory at a time).
        let mut count = 0usize;
        let mut millis = 0.0f64;
        for frame in frames(path)? {
            let frame = frame.map_err(|e| VideoError::corrupt(path, format!("frame {count}: {e}")))?;
            let (n, d) = frame.delay().numer_denom_ms();
            millis += n as f64 / d.max(1) as f64;
            count += 1;
        }
        // Browsers show 0-delay GIFs at 10 fps; do the same.
        let fps = if millis > 0.0 { count as f64 * 1000.0 / millis } else { 10.0 };
        let description = format!("GIF {width}×{height}, {count} frames, {fps:.2} fps");
        Ok(Self { path: path.to_path_buf(), probe: Probe { frames: count, fps, width, height, description } })
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
        for (i, frame) in frames(&self.path)?.enumerate().take(last + 1) {
            let frame = frame.map_err(|e| VideoError::corrupt(&self.path, format!("frame {i}: {e}")))?;
            if wanted.binary_search(&i).is_ok() {
                keep(i, frame.into_buffer())?;
            }
        }
        Ok(())
    }
}
