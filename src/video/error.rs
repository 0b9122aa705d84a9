//! Everything that can go wrong between a file on disk and the preprocessed object frames. Each message
//! names the file and says what to do about it; the CLI prints it and exits with code 2.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error(
        "{path}: not a video or image format efficient4d can read (expected mp4/mov with H.264, GIF, or a folder of \
         PNG/JPEG frames; first bytes {magic})"
    )]
    NotAVideo { path: PathBuf, magic: String },
    #[error(
        "{path}: the video uses the {codec} codec, which the built-in decoder (H.264 only) cannot read; install \
         ffmpeg (it is used automatically when on PATH) or convert the video to H.264"
    )]
    UnsupportedCodec { path: PathBuf, codec: String },
    #[error("{path}: corrupt or truncated video: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: {found} frame(s) found, at least {needed} needed")]
    TooFewFrames { path: PathBuf, found: usize, needed: usize },
    #[error("{path}: frames are {width}×{height}; the limit is {limit}×{limit}")]
    TooLarge { path: PathBuf, width: u32, height: u32, limit: u32 },
    #[error("{path}: frames are {width}×{height}; at least {min}×{min} pixels are needed")]
    TooSmall { path: PathBuf, width: u32, height: u32, min: u32 },
    #[error("{path}: frame {frame} is {width}×{height} but the first frame is {first_width}×{first_height}")]
    SizeChanged { path: PathBuf, frame: usize, width: u32, height: u32, first_width: u32, first_height: u32 },
    #[error("{path}: ffmpeg failed: {detail}")]
    Ffmpeg { path: PathBuf, detail: String },
    #[error("{path}: the time range {start}s..{end}s holds no frames (the video lasts {duration:.2}s)")]
    EmptyRange { path: PathBuf, start: f64, end: f64, duration: f64 },
    #[error(
        "frame {frame}: no object found (the alpha channel is empty, or nothing differs from the background colour \
         estimated from the border)"
    )]
    NoObject { frame: usize },
    #[error(
        "frame {frame}: the background is not a plain colour ({percent:.0}% of the border pixels differ from its \
         median); use a video with a plain background or RGBA frames with alpha"
    )]
    BackgroundNotUniform { frame: usize, percent: f64 },
}

impl VideoError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt { path: path.into(), detail: detail.to_string() }
    }
}
