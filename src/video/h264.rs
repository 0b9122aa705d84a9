//! MP4/MOV with H.264: demuxed by re_mp4 (fragmented files included), decoded by OpenH264 (built from
//! source, no system ffmpeg). Samples are AVCC (length-prefixed NAL units); the decoder wants Annex B.

use super::source::{FrameSource, Probe};
use super::{MAX_INPUT_SIDE, VideoError};
use image::RgbaImage;
use openh264::decoder::{Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use re_mp4::{Mp4, StsdBoxContent, TrackKind};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const START_CODE: [u8; 4] = [0, 0, 0, 1];
/// No compressed frame is this large; a bigger size field is corruption (and would be a huge allocation).
const MAX_SAMPLE_BYTES: u64 = 256 << 20;

pub struct H264Source {
    path: PathBuf,
    file: BufReader<File>,
    samples: Vec<std::ops::Range<u64>>,
    sync: Vec<bool>,
    length_size: usize,
    parameter_sets: Vec<u8>,
    probe: Probe,
}

/// What an MP4 holds: H.264 we can decode, or another codec (named, for the error or for ffmpeg).
pub enum Mp4Content {
    H264(H264Source),
    OtherCodec(String),
}

/// Appends one AVCC sample as Annex B. Rejects lengths that run past the sample; skips empty units
/// (a zero length would otherwise never advance).
pub fn avcc_to_annex_b(sample: &[u8], length_size: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let mut at = 0usize;
    while at < sample.len() {
        if at + length_size > sample.len() {
            return Err(format!("NAL length field cut off at byte {at} of a {}-byte sample", sample.len()));
        }
        let len = sample[at..at + length_size].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        at += length_size;
        if len > sample.len() - at {
            return Err(format!("NAL unit of {len} bytes runs past the end of its sample"));
        }
        if len > 0 {
            out.extend_from_slice(&START_CODE);
            out.extend_from_slice(&sample[at..at + len]);
        }
        at += len;
    }
    Ok(())
}

impl H264Source {
    pub fn open(path: &Path) -> Result<Mp4Content, VideoError> {
        let file = File::open(path).map_err(|e| VideoError::io(path, e))?;
        let size = file.metadata().map_err(|e| VideoError::io(path, e))?.len();
        let mut file = BufReader::new(file);
        super::mp4_boxes::check_box_tree(&mut file, size).map_err(|e| VideoError::corrupt(path, e))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| VideoError::io(path, e))?;
        // The box tree is parsed from the file, skipping the media data (bounded memory). re_mp4 reports
        // malformed boxes as errors; a panic inside it is turned into one too.
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Mp4::read(&mut file, size)))
            .map_err(|_| VideoError::corrupt(path, "the MP4 parser gave up on malformed boxes"))?
            .map_err(|e| VideoError::corrupt(path, e))?;
        let track = parsed
            .tracks()
            .values()
            .find(|t| t.kind == Some(TrackKind::Video))
            .ok_or_else(|| VideoError::corrupt(path, "no video track"))?;
        let stsd = &track.trak(&parsed).mdia.minf.stbl.stsd.contents;
        let avc = match stsd {
            StsdBoxContent::Avc1(avc) => avc,
            other => {
                let codec = match other {
                    StsdBoxContent::Hvc1(_) | StsdBoxContent::Hev1(_) => "HEVC (H.265)".to_string(),
                    StsdBoxContent::Av01(_) => "AV1".to_string(),
                    StsdBoxContent::Vp08(_) => "VP8".to_string(),
                    StsdBoxContent::Vp09(_) => "VP9".to_string(),
                    _ => other.codec_string().unwrap_or_else(|| "an unknown".to_string()),
                };
                return Ok(Mp4Content::OtherCodec(codec));
            }
        };
        let config = &avc.avcc.contents;
        let mut parameter_sets = Vec::new();
        for nal in config.sequence_parameter_sets.iter().chain(&config.picture_parameter_sets) {
            parameter_sets.extend_from_slice(&START_CODE);
            parameter_sets.extend_from_slice(&nal.bytes);
        }
        let (width, height) = (track.width as u32, track.height as u32);
        if width > MAX_INPUT_SIDE || height > MAX_INPUT_SIDE {
            return Err(VideoError::TooLarge { path: path.into(), width, height, limit: MAX_INPUT_SIDE });
        }
        let mut samples = Vec::with_capacity(track.samples.len());
        let mut sync = Vec::with_capacity(track.samples.len());
        for s in &track.samples {
            let end = s.offset.checked_add(s.size).filter(|&e| e <= size && s.size <= MAX_SAMPLE_BYTES);
            let Some(end) = end else {
                return Err(VideoError::corrupt(
                    path,
                    format!("sample {} ends past the end of the file (truncated download?)", s.id),
                ));
            };
            samples.push(s.offset..end);
            sync.push(s.is_sync);
        }
        let seconds = track.duration as f64 / track.timescale.max(1) as f64;
        let fps = if seconds > 0.0 { samples.len() as f64 / seconds } else { 30.0 };
        let description = format!(
            "H.264 {width}×{height}, {} frames, {fps:.2} fps ({})",
            samples.len(),
            stsd.codec_string().unwrap_or_default()
        );
        let probe = Probe { frames: samples.len(), fps, width, height, description };
        Ok(Mp4Content::H264(Self {
            path: path.to_path_buf(),
            file,
            samples,
            sync,
            length_size: config.length_size_minus_one as usize % 4 + 1,
            parameter_sets,
            probe,
        }))
    }
}

fn to_rgba(yuv: &openh264::decoder::DecodedYUV<'_>) -> RgbaImage {
    let (w, h) = yuv.dimensions();
    let mut rgba = vec![0u8; w * h * 4];
    yuv.write_rgba8(&mut rgba);
    RgbaImage::from_raw(w as u32, h as u32, rgba).expect("buffer matches the frame size")
}

impl FrameSource for H264Source {
    fn probe(&self) -> &Probe {
        &self.probe
    }

    fn decode(
        &mut self,
        wanted: &[usize],
        keep: &mut dyn FnMut(usize, RgbaImage) -> Result<(), VideoError>,
    ) -> Result<(), VideoError> {
        let path = self.path.clone();
        // No flush after each packet: B-frames need the decoder to hold frames back for reordering.
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let mut decoder = Decoder::with_api_config(openh264::OpenH264API::from_source(), config)
            .map_err(|e| VideoError::corrupt(&path, format!("OpenH264: {e}")))?;
        // A damaged packet is concealed and decoding goes on; too many of them make the clip unusable.
        let (mut damaged, mut first_error) = (0usize, None);
        let last = wanted.last().copied().unwrap_or(0);
        // Frames come out in display order; count them as they appear.
        let mut shown = 0usize;
        let (mut packet, mut sample) = (Vec::new(), Vec::new());
        for (i, range) in self.samples.iter().enumerate() {
            if shown > last {
                break;
            }
            packet.clear();
            if self.sync[i] || i == 0 {
                packet.extend_from_slice(&self.parameter_sets);
            }
            sample.resize((range.end - range.start) as usize, 0);
            self.file
                .seek(SeekFrom::Start(range.start))
                .and_then(|_| self.file.read_exact(&mut sample))
                .map_err(|e| VideoError::io(&path, e))?;
            avcc_to_annex_b(&sample, self.length_size, &mut packet)
                .map_err(|e| VideoError::corrupt(&path, format!("sample {i}: {e}")))?;
            let decoded = match decoder.decode(&packet) {
                Ok(d) => d,
                Err(e) => {
                    damaged += 1;
                    first_error.get_or_insert_with(|| format!("sample {i}: {e}"));
                    if damaged * 10 > self.samples.len().max(10) {
                        let detail = first_error.take().unwrap_or_default();
                        return Err(VideoError::corrupt(&path, format!("{damaged} damaged samples, first {detail}")));
                    }
                    continue;
                }
            };
            if let Some(yuv) = decoded {
                if wanted.binary_search(&shown).is_ok() {
                    keep(shown, to_rgba(&yuv))?;
                }
                shown += 1;
            }
        }
        if shown <= last {
            let rest = decoder.flush_remaining().map_err(|e| VideoError::corrupt(&path, e))?;
            for yuv in rest {
                if wanted.binary_search(&shown).is_ok() {
                    keep(shown, to_rgba(&yuv))?;
                }
                shown += 1;
            }
        }
        if shown <= last {
            let why = first_error.map(|e| format!(" ({damaged} damaged samples, first {e})")).unwrap_or_default();
            return Err(VideoError::corrupt(
                &path,
                format!("only {shown} of {} frames decoded{why}", self.samples.len()),
            ));
        }
        if damaged > 0 {
            log::warn!("{}: {damaged} damaged H.264 samples were concealed", path.display());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_lengths_become_start_codes() {
        let sample = [0, 0, 0, 2, 0x65, 0xAA, 0, 0, 0, 0, 0, 0, 0, 1, 0x41];
        let mut out = Vec::new();
        avcc_to_annex_b(&sample, 4, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 0x65, 0xAA, 0, 0, 0, 1, 0x41]);
    }

    #[test]
    fn lengths_past_the_end_are_errors_not_panics() {
        let mut out = Vec::new();
        assert!(avcc_to_annex_b(&[0, 0, 0, 9, 1, 2], 4, &mut out).is_err());
        assert!(avcc_to_annex_b(&[0, 0], 4, &mut out).is_err());
        assert!(avcc_to_annex_b(&[0, 5, 1], 2, &mut out).is_err());
    }
}
