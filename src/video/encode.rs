//! Video out: H.264 in MP4 (OpenH264 encoder + the `mp4` muxer) and animated GIF, written atomically.
//! Used for the bundled demo clip and for turntable / time-lapse exports.

use crate::atomic_file::write_atomically;
use image::RgbaImage;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate};
use openh264::formats::{RgbaSliceU8, YUVBuffer};
use std::io::Cursor;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("no frames to encode")]
    NoFrames,
    #[error("frame {0} has a different size from the first")]
    SizeChanged(usize),
    #[error("H.264 encoder: {0}")]
    Encoder(String),
    #[error("MP4 muxer: {0}")]
    Mux(String),
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}

/// Strips the Annex B start code the encoder puts in front of each NAL unit.
fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

/// Encodes RGBA frames (alpha ignored; composite first) as H.264 Baseline in an MP4 at `fps`.
/// Odd sizes are cropped by one pixel (4:2:0 needs even sizes).
pub fn mp4_bytes(frames: &[RgbaImage], fps: f64, bits_per_second: u32) -> Result<Vec<u8>, EncodeError> {
    let first = frames.first().ok_or(EncodeError::NoFrames)?;
    let (w, h) = (first.width() & !1, first.height() & !1);
    let config =
        EncoderConfig::new().bitrate(BitRate::from_bps(bits_per_second)).max_frame_rate(FrameRate::from_hz(fps as f32));
    let api = openh264::OpenH264API::from_source();
    let mut encoder = Encoder::with_api_config(api, config).map_err(|e| EncodeError::Encoder(e.to_string()))?;
    let (mut sps, mut pps) = (None, None);
    let mut samples = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        if frame.dimensions() != first.dimensions() {
            return Err(EncodeError::SizeChanged(i));
        }
        let cropped = image::imageops::crop_imm(frame, 0, 0, w, h).to_image();
        let yuv = YUVBuffer::from_rgb_source(RgbaSliceU8::new(cropped.as_raw(), (w as usize, h as usize)));
        let stream = encoder.encode(&yuv).map_err(|e| EncodeError::Encoder(e.to_string()))?;
        let mut sample = Vec::new();
        let mut is_sync = false;
        for l in 0..stream.num_layers() {
            let layer = stream.layer(l).expect("layer index in range");
            for n in 0..layer.nal_count() {
                let nal = strip_start_code(layer.nal_unit(n).expect("NAL index in range"));
                match nal.first().map(|b| b & 0x1f) {
                    Some(7) => sps = sps.or(Some(nal.to_vec())),
                    Some(8) => pps = pps.or(Some(nal.to_vec())),
                    Some(t) => {
                        is_sync |= t == 5;
                        sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                        sample.extend_from_slice(nal);
                    }
                    None => {}
                }
            }
        }
        samples.push((sample, is_sync));
    }
    let (Some(sps), Some(pps)) = (sps, pps) else {
        return Err(EncodeError::Encoder("no SPS/PPS produced".into()));
    };
    let timescale = 90_000u32;
    let duration = (timescale as f64 / fps).round() as u32;
    let config = mp4::Mp4Config {
        major_brand: str::parse("isom").expect("valid fourcc"),
        minor_version: 512,
        compatible_brands: ["isom", "iso2", "avc1", "mp41"]
            .iter()
            .map(|b| str::parse(b).expect("valid fourcc"))
            .collect(),
        timescale: 1000,
    };
    let mux = |e: mp4::Error| EncodeError::Mux(e.to_string());
    let mut writer = mp4::Mp4Writer::write_start(Cursor::new(Vec::new()), &config).map_err(mux)?;
    let track = mp4::TrackConfig {
        track_type: mp4::TrackType::Video,
        timescale,
        language: "und".into(),
        media_conf: mp4::MediaConfig::AvcConfig(mp4::AvcConfig {
            width: w as u16,
            height: h as u16,
            seq_param_set: sps,
            pic_param_set: pps,
        }),
    };
    writer.add_track(&track).map_err(mux)?;
    for (i, (bytes, is_sync)) in samples.into_iter().enumerate() {
        let sample = mp4::Mp4Sample {
            start_time: i as u64 * duration as u64,
            duration,
            rendering_offset: 0,
            is_sync,
            bytes: bytes::Bytes::from(bytes),
        };
        writer.write_sample(1, &sample).map_err(mux)?;
    }
    writer.write_end().map_err(mux)?;
    Ok(writer.into_writer().into_inner())
}

/// A bit rate for rendered clips: about 0.2 bits per pixel per frame keeps splat renders clean at a
/// small file size.
pub fn default_bit_rate(width: u32, height: u32, fps: f64) -> u32 {
    (0.2 * width as f64 * height as f64 * fps).clamp(500_000.0, 40_000_000.0) as u32
}

/// Writes an H.264 MP4 atomically.
pub fn write_mp4(path: &Path, frames: &[RgbaImage], fps: f64, bits_per_second: u32) -> Result<(), EncodeError> {
    let bytes = mp4_bytes(frames, fps, bits_per_second)?;
    write_atomically(path, &bytes).map_err(|source| EncodeError::Io { path: path.into(), source })
}

/// Writes a looping animated GIF atomically (transparency is kept where alpha is 0).
pub fn write_gif(path: &Path, frames: &[RgbaImage], fps: f64) -> Result<(), EncodeError> {
    if frames.is_empty() {
        return Err(EncodeError::NoFrames);
    }
    let mut bytes = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new_with_speed(&mut bytes, 10);
        encoder.set_repeat(image::codecs::gif::Repeat::Infinite).map_err(|e| EncodeError::Mux(e.to_string()))?;
        let delay = image::Delay::from_numer_denom_ms((1000.0 / fps).round() as u32, 1);
        for frame in frames {
            let f = image::Frame::from_parts(frame.clone(), 0, 0, delay);
            encoder.encode_frame(f).map_err(|e| EncodeError::Mux(e.to_string()))?;
        }
    }
    write_atomically(path, &bytes).map_err(|source| EncodeError::Io { path: path.into(), source })
}
