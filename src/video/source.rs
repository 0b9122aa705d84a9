//! The common shape of every decoder: say how many frames there are, then hand over the wanted ones.

use super::VideoError;
use image::RgbaImage;

/// What a decoder knows before decoding pixels.
#[derive(Clone, Debug)]
pub struct Probe {
    pub frames: usize,
    /// Frames per second (30 is assumed for image folders).
    pub fps: f64,
    pub width: u32,
    pub height: u32,
    /// e.g. "H.264 1280×720, 150 frames, 30.00 fps".
    pub description: String,
}

pub trait FrameSource {
    fn probe(&self) -> &Probe;
    /// Decodes in order and calls `keep` with the index and pixels of each frame listed in `wanted`
    /// (sorted); other frames are decoded only as far as the codec needs them.
    fn decode(
        &mut self,
        wanted: &[usize],
        keep: &mut dyn FnMut(usize, RgbaImage) -> Result<(), VideoError>,
    ) -> Result<(), VideoError>;
}
