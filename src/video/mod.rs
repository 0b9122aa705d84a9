//! Video in: decode (H.264 MP4, GIF, image folders; ffmpeg for other codecs), pick key frames, mask the
//! object and preprocess it exactly as Efficient4D does (crop to the box, long side 200, centred on 256²).

pub mod encode;
mod error;
pub(crate) mod ffmpeg;
pub(crate) mod folder;
pub(crate) mod gif;
pub(crate) mod h264;
pub(crate) mod mask;
mod mp4_boxes;
pub(crate) mod pillow_resize;
pub mod preprocess;
pub(crate) mod resize;
pub(crate) mod select;
mod source;

pub use error::VideoError;
pub use preprocess::{CropMode, ObjectFrames, PreprocessOptions, prepare_object_frames};
pub use source::{FrameSource, Probe};

use image::RgbaImage;
use std::io::Read;
use std::path::Path;

/// Frames larger than this on either side are refused (a 16384² RGBA frame is already 1 GiB).
pub(crate) const MAX_INPUT_SIDE: u32 = 16384;
/// Frames smaller than this on either side are refused: nothing can be segmented in them.
pub(crate) const MIN_INPUT_SIDE: u32 = 16;

/// Which frames to decode and how large to keep them.
#[derive(Clone, Debug)]
pub struct DecodeOptions {
    /// Number of evenly spaced key frames (the paper uses 16); at least 2.
    pub key_frames: usize,
    /// Only use this part of the clip, in seconds.
    pub range_s: Option<(f64, f64)>,
    /// Decoded frames are shrunk so the long side is at most this (the object ends up 200 px anyway).
    pub max_side: u32,
}

/// Key frames the paper takes from a clip.
pub const PAPER_KEY_FRAMES: usize = 16;

impl Default for DecodeOptions {
    fn default() -> Self {
        Self { key_frames: PAPER_KEY_FRAMES, range_s: None, max_side: 1024 }
    }
}

/// The key frames of a clip, as decoded (RGBA, alpha 255 where the source has none).
#[derive(Clone, Debug)]
pub struct DecodedVideo {
    pub frames: Vec<RgbaImage>,
    /// Index of each key frame in the source.
    pub source_indices: Vec<usize>,
    pub probe: Probe,
    /// Whether any key frame has a pixel with alpha < 255.
    pub has_alpha: bool,
}

impl DecodedVideo {
    /// Key-frame times in seconds from the start of the clip.
    pub fn seconds(&self) -> Vec<f64> {
        self.source_indices.iter().map(|&i| i as f64 / self.probe.fps).collect()
    }
}

enum Kind {
    Mp4,
    Gif,
    Folder,
    Image,
    Unknown,
}

fn sniff(path: &Path, head: &[u8]) -> Kind {
    if path.is_dir() {
        Kind::Folder
    } else if head.len() >= 8 && &head[4..8] == b"ftyp" {
        Kind::Mp4
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Kind::Gif
    } else if head.starts_with(b"\x89PNG") || head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Kind::Image
    } else {
        Kind::Unknown
    }
}

/// Opens any supported input and says how many frames it has, without decoding pixels.
pub fn open(path: &Path, max_side: u32) -> Result<Box<dyn FrameSource>, VideoError> {
    let source = open_unchecked(path, max_side)?;
    let p = source.probe();
    if p.width > MAX_INPUT_SIDE || p.height > MAX_INPUT_SIDE {
        return Err(VideoError::TooLarge {
            path: path.into(),
            width: p.width,
            height: p.height,
            limit: MAX_INPUT_SIDE,
        });
    }
    if p.width < MIN_INPUT_SIDE || p.height < MIN_INPUT_SIDE {
        return Err(VideoError::TooSmall { path: path.into(), width: p.width, height: p.height, min: MIN_INPUT_SIDE });
    }
    Ok(source)
}

fn open_unchecked(path: &Path, max_side: u32) -> Result<Box<dyn FrameSource>, VideoError> {
    if path.is_dir() {
        return Ok(Box::new(folder::FolderSource::open(path)?));
    }
    // Only the first bytes are read here: decoders stream from the file (bounded memory for long videos).
    let mut head = Vec::with_capacity(16);
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::take(f, 16).read_to_end(&mut head))
        .map_err(|e| VideoError::io(path, e))?;
    if head.is_empty() {
        return Err(VideoError::Empty { path: path.into() });
    }
    let source: Box<dyn FrameSource> = match sniff(path, &head) {
        Kind::Mp4 => match h264::H264Source::open(path)? {
            h264::Mp4Content::H264(s) => Box::new(s),
            h264::Mp4Content::OtherCodec(codec) if ffmpeg::available() => {
                log::info!("{}: {codec} is decoded by ffmpeg", path.display());
                Box::new(ffmpeg::FfmpegSource::open(path, max_side)?)
            }
            h264::Mp4Content::OtherCodec(codec) => {
                return Err(VideoError::UnsupportedCodec { path: path.into(), codec });
            }
        },
        Kind::Gif => Box::new(gif::GifSource::open(path)?),
        Kind::Folder => Box::new(folder::FolderSource::open(path)?),
        Kind::Image => return Err(VideoError::TooFewFrames { path: path.into(), found: 1, needed: 2 }),
        Kind::Unknown if ffmpeg::available() => Box::new(ffmpeg::FfmpegSource::open(path, max_side)?),
        Kind::Unknown => {
            let magic = head.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
            return Err(VideoError::NotAVideo { path: path.into(), magic });
        }
    };
    Ok(source)
}

/// Decodes the key frames of `path`, shrinking each as soon as it is decoded (bounded memory).
pub fn decode(path: &Path, options: &DecodeOptions) -> Result<DecodedVideo, VideoError> {
    let mut source = open(path, options.max_side)?;
    let probe = source.probe().clone();
    if probe.frames < 2 {
        return Err(VideoError::TooFewFrames { path: path.into(), found: probe.frames, needed: 2 });
    }
    let (first, last) = match options.range_s {
        None => (0, probe.frames - 1),
        Some((start, end)) => {
            select::range_to_indices(probe.frames, probe.fps, start, end).ok_or(VideoError::EmptyRange {
                path: path.into(),
                start,
                end,
                duration: probe.frames as f64 / probe.fps,
            })?
        }
    };
    // Fewer than two asked for is refused below with the rest (no silent clamp).
    let wanted = select::evenly_spaced(first, last, options.key_frames);
    if wanted.len() < 2 {
        return Err(VideoError::TooFewFrames { path: path.into(), found: wanted.len(), needed: 2 });
    }
    let mut frames = Vec::with_capacity(wanted.len());
    let mut indices = Vec::with_capacity(wanted.len());
    let mut first_size = None;
    source.decode(&wanted, &mut |i, frame| {
        let (width, height) = frame.dimensions();
        let (first_width, first_height) = *first_size.get_or_insert((width, height));
        if (width, height) != (first_width, first_height) {
            return Err(VideoError::SizeChanged {
                path: path.into(),
                frame: i,
                width,
                height,
                first_width,
                first_height,
            });
        }
        frames.push(resize::fit_long_side(frame, options.max_side));
        indices.push(i);
        Ok(())
    })?;
    if frames.len() < 2 {
        return Err(VideoError::TooFewFrames { path: path.into(), found: frames.len(), needed: 2 });
    }
    let has_alpha = frames.iter().any(|f| f.pixels().any(|p| p[3] < 255));
    Ok(DecodedVideo { frames, source_indices: indices, probe, has_alpha })
}
