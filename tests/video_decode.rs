//! Decoding: H.264 MP4 and GIF written by our encoders come back; bad input is a clear error, never a
//! panic (including a bounded fuzz pass over mutated files).

mod common;

use efficient4d::video::encode::{mp4_bytes, write_gif};
use efficient4d::video::{DecodeOptions, VideoError, decode};
use image::RgbaImage;
use proptest::prelude::*;
use std::path::Path;

/// A red disc moving left to right over a white backdrop, with a blue square that grows.
fn clip(frames: u32, w: u32, h: u32) -> Vec<RgbaImage> {
    (0..frames)
        .map(|f| {
            let cx = 16.0 + f as f32 * (w as f32 - 32.0) / (frames - 1) as f32;
            RgbaImage::from_fn(w, h, |x, y| {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - h as f32 / 2.0).powi(2)).sqrt();
                if d < 12.0 {
                    image::Rgba([220, 30, 30, 255])
                } else if x < 6 + f && y < 6 + f {
                    image::Rgba([30, 40, 200, 255])
                } else {
                    image::Rgba([255, 255, 255, 255])
                }
            })
        })
        .collect()
}

fn mean_abs_diff(a: &RgbaImage, b: &RgbaImage) -> f64 {
    let s: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| x.abs_diff(*y) as u64).sum();
    s as f64 / a.as_raw().len() as f64
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn h264_mp4_round_trip_picks_evenly_spaced_frames() {
    let frames = clip(21, 96, 64);
    let bytes = mp4_bytes(&frames, 25.0, 2_000_000).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "clip.mp4", &bytes);
    let video = decode(&path, &DecodeOptions { key_frames: 5, ..Default::default() }).unwrap();
    assert_eq!(video.probe.frames, 21);
    assert!((video.probe.fps - 25.0).abs() < 0.1, "fps {}", video.probe.fps);
    assert_eq!(video.source_indices, vec![0, 5, 10, 15, 20]);
    assert!(!video.has_alpha);
    for (&i, got) in video.source_indices.iter().zip(&video.frames) {
        let d = mean_abs_diff(got, &frames[i]);
        assert!(d < 6.0, "frame {i}: mean difference {d} levels");
    }
    // A time range: 0.2 s .. 0.6 s at 25 fps is frames 5..=15.
    let part =
        decode(&path, &DecodeOptions { key_frames: 3, range_s: Some((0.2, 0.6)), ..Default::default() }).unwrap();
    assert_eq!(part.source_indices, vec![5, 10, 15]);
}

#[test]
fn gif_round_trip_keeps_transparency() {
    let mut frames = clip(6, 64, 48);
    for f in &mut frames {
        for p in f.pixels_mut().filter(|p| p.0 == [255, 255, 255, 255]) {
            p.0 = [0, 0, 0, 0];
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.gif");
    write_gif(&path, &frames, 10.0).unwrap();
    let video = decode(&path, &DecodeOptions { key_frames: 2, ..Default::default() }).unwrap();
    assert_eq!(video.probe.frames, 6);
    assert_eq!(video.source_indices, vec![0, 5]);
    assert!(video.has_alpha);
    assert_eq!(video.frames[1].get_pixel(0, 47)[3], 0);
    assert_eq!(video.frames[1].get_pixel(48, 24)[3], 255);
}

/// A PNG claiming `w`×`h` with no image data (enough for a size check).
fn png_header(w: u32, h: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    // An empty IDAT ends the header for the decoder's size query.
    png.extend(0u32.to_be_bytes());
    png.extend(b"IDAT");
    png.extend(crc32(b"IDAT").to_be_bytes());
    png
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DecodeOptions::default();
    let err = |p: &Path| decode(p, &opts).unwrap_err();

    assert!(matches!(err(&write(dir.path(), "empty.mp4", b"")), VideoError::Empty { .. }));
    let text = err(&write(dir.path(), "notes.mp4", b"hello, this is not a video at all"));
    assert!(matches!(text, VideoError::NotAVideo { .. } | VideoError::Ffmpeg { .. }), "{text}");

    let mp4 = mp4_bytes(&clip(8, 64, 48), 25.0, 1_000_000).unwrap();
    let truncated = err(&write(dir.path(), "cut.mp4", &mp4[..mp4.len() / 2]));
    assert!(matches!(truncated, VideoError::Corrupt { .. }), "{truncated}");
    assert!(truncated.to_string().contains("cut.mp4"));

    let mut png = Vec::new();
    RgbaImage::new(32, 32).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let one = err(&write(dir.path(), "still.mp4", &png));
    assert!(matches!(one, VideoError::TooFewFrames { found: 1, needed: 2, .. }), "{one}");

    let empty_dir = dir.path().join("frames_none");
    std::fs::create_dir(&empty_dir).unwrap();
    assert!(matches!(err(&empty_dir), VideoError::TooFewFrames { found: 0, .. }));

    let tiny = dir.path().join("frames_tiny");
    std::fs::create_dir(&tiny).unwrap();
    for i in 0..2 {
        RgbaImage::new(1, 1).save(tiny.join(format!("{i}.png"))).unwrap();
    }
    assert!(matches!(err(&tiny), VideoError::TooSmall { .. }));

    let huge = dir.path().join("frames_huge");
    std::fs::create_dir(&huge).unwrap();
    for i in 0..2 {
        std::fs::write(huge.join(format!("{i}.png")), png_header(20000, 20000)).unwrap();
    }
    assert!(matches!(err(&huge), VideoError::TooLarge { width: 20000, .. }), "{}", err(&huge));

    assert!(matches!(err(&dir.path().join("missing.mp4")), VideoError::Io { .. }));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_videos_never_panic(
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..12),
        cut in proptest::option::of(any::<usize>()),
        which in 0usize..3,
    ) {
        // Our own Baseline MP4, our GIF, and x264's High-profile fragmented MP4 with B-frames.
        static CLIPS: std::sync::OnceLock<[(Vec<u8>, &'static str); 3]> = std::sync::OnceLock::new();
        let clips = CLIPS.get_or_init(|| {
            let frames = clip(6, 48, 32);
            let dir = tempfile::tempdir().unwrap();
            let g = dir.path().join("c.gif");
            write_gif(&g, &frames, 10.0).unwrap();
            let x264 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/x264_high_bframes_frag.mp4");
            [
                (mp4_bytes(&frames, 25.0, 500_000).unwrap(), "f.mp4"),
                (std::fs::read(&g).unwrap(), "f.gif"),
                (std::fs::read(x264).unwrap(), "f.mp4"),
            ]
        });
        let (source, name) = &clips[which];
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), name, &common::mutate(source, &flips, cut));
        // Ok (damage the decoder tolerated) or a clean error; a panic fails the test.
        let _ = decode(&path, &DecodeOptions { key_frames: 3, ..Default::default() });
    }
}

/// `tests/data/x264_high_bframes_frag.mp4` is the demo clip re-encoded by x264 (High profile, CABAC,
/// B-frames, fragmented MP4): the common real-world case. Its frames must come out in display order and
/// match the demo clip's.
#[test]
fn x264_high_profile_with_b_frames_in_a_fragmented_mp4_decodes_in_display_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let opts = DecodeOptions { key_frames: 16, ..Default::default() };
    let x264 = decode(&root.join("tests/data/x264_high_bframes_frag.mp4"), &opts).unwrap();
    let demo = decode(&root.join("assets/demo/creature.mp4"), &opts).unwrap();
    assert_eq!(x264.probe.frames, 46);
    assert_eq!(x264.source_indices, demo.source_indices);
    for (i, (a, b)) in x264.frames.iter().zip(&demo.frames).enumerate() {
        let d = mean_abs_diff(a, b);
        assert!(d < 3.0, "key frame {i}: {d} levels from the demo clip's frame");
    }
    // Out-of-order frames would match a neighbour better than their own: check the diagonal wins.
    for i in 1..15 {
        let own = mean_abs_diff(&x264.frames[i], &demo.frames[i]);
        assert!(own < mean_abs_diff(&x264.frames[i], &demo.frames[i + 1]), "frame {i} looks like frame {}", i + 1);
        assert!(own < mean_abs_diff(&x264.frames[i], &demo.frames[i - 1]), "frame {i} looks like frame {}", i - 1);
    }
}
