//! Input preprocessing against the reference implementation's golden stages
//! (`../shared/golden/input_preprocessing.safetensors`, made by Efficient4D's `prepare_inputs`).

use efficient4d::video::preprocess::{alpha_bbox, composite_on_white, crop_scale_centre};
use efficient4d::video::{CropMode, DecodeOptions, PreprocessOptions, decode, prepare_object_frames};
use image::RgbaImage;
use safetensors::SafeTensors;
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden")
}

struct Golden(Vec<u8>);

impl Golden {
    fn load() -> Self {
        Self(std::fs::read(golden_dir().join("input_preprocessing.safetensors")).expect("golden data in ../shared"))
    }
    fn u8s(&self, name: &str) -> (Vec<usize>, Vec<u8>) {
        let st = SafeTensors::deserialize(&self.0).unwrap();
        let t = st.tensor(name).unwrap();
        (t.shape().to_vec(), t.data().to_vec())
    }
    fn i64s(&self, name: &str) -> Vec<i64> {
        let (_, d) = self.u8s(name);
        d.chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
    }
    fn f32s(&self, name: &str) -> Vec<f32> {
        let (_, d) = self.u8s(name);
        d.chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()
    }
    fn image(&self, name: &str) -> RgbaImage {
        let (shape, d) = self.u8s(name);
        RgbaImage::from_raw(shape[1] as u32, shape[0] as u32, d).unwrap()
    }
}

fn frame(i: usize) -> RgbaImage {
    image::open(golden_dir().join(format!("test_rgba_frame{i}.png"))).unwrap().to_rgba8()
}

/// Largest absolute difference and the fraction of channels that differ by more than 1 level, on
/// premultiplied colour and alpha (the colour of a fully transparent pixel means nothing).
fn compare(a: &RgbaImage, b: &RgbaImage) -> (u8, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let premultiplied = |p: &image::Rgba<u8>| {
        let al = p[3] as u32;
        [0, 1, 2].map(|c| ((p[c] as u32 * al + 127) / 255) as u8).into_iter().chain([p[3]])
    };
    let mut worst = 0u8;
    let mut off = 0usize;
    for (x, y) in a.pixels().zip(b.pixels()) {
        for (u, v) in premultiplied(x).zip(premultiplied(y)) {
            let d = u.abs_diff(v);
            worst = worst.max(d);
            off += (d > 1) as usize;
        }
    }
    (worst, off as f64 / a.as_raw().len() as f64)
}

#[test]
fn frame0_stages_match_the_reference() {
    let g = Golden::load();
    let img = frame(0);
    let bbox = alpha_bbox(&img).unwrap();
    let want: Vec<u32> = g.i64s("frame0_bbox_minx_miny_maxx_maxy").iter().map(|&v| v as u32).collect();
    assert_eq!(bbox.to_vec(), want);

    let stages = crop_scale_centre(&img, bbox, 200, 256);
    assert_eq!(stages.crop, g.image("frame0_crop_rgba_u8"), "crop (PIL excludes the right/bottom edge)");
    let hw = g.i64s("frame0_resized_hw");
    assert_eq!((stages.resized.height() as i64, stages.resized.width() as i64), (hw[0], hw[1]));
    let off = g.i64s("frame0_paste_offset_xy");
    assert_eq!((stages.offset.0 as i64, stages.offset.1 as i64), (off[0], off[1]));

    // Pillow's bicubic, byte for byte.
    let (worst, frac) = compare(&stages.resized, &g.image("frame0_resized_rgba_u8"));
    println!("resized: worst {worst} levels, {:.3}% of channels off by more than 1", frac * 100.0);
    assert_eq!(stages.resized, g.image("frame0_resized_rgba_u8"), "resized differs: worst {worst}, {frac}");
    assert_eq!(stages.canvas, g.image("frame0_canvas_rgba_u8"));

    // The model input: composite on white, mapped to [-1, 1].
    let ours: Vec<f32> = composite_on_white(&stages.canvas).iter().map(|v| v * 2.0 - 1.0).collect();
    let want = g.f32s("frame0_input_image_nhwc");
    let mean: f32 = ours.iter().zip(&want).map(|(a, b)| (a - b).abs()).sum::<f32>() / want.len() as f32;
    let worst = ours.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(mean < 1e-6 && worst < 1e-5, "input image: mean |Δ| {mean}, worst {worst}");
}

#[test]
fn garbage_under_zero_alpha_never_leaks_and_frame2_matches() {
    let g = Golden::load();
    let img = frame(2);
    let stages = crop_scale_centre(&img, alpha_bbox(&img).unwrap(), 200, 256);
    let (worst, frac) = compare(&stages.canvas, &g.image("frame2_canvas_rgba_u8"));
    assert_eq!(stages.canvas, g.image("frame2_canvas_rgba_u8"), "frame 2 canvas differs: worst {worst}, {frac}");
    // Fully transparent canvas pixels composite to pure white whatever colour they carried.
    let white = composite_on_white(&stages.canvas);
    for (p, rgb) in stages.canvas.pixels().zip(white.chunks(3)) {
        if p[3] == 0 {
            assert_eq!(rgb, [1.0, 1.0, 1.0]);
        }
    }
}

#[test]
fn an_rgba_frame_folder_goes_through_decode_and_preprocess() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4 {
        std::fs::copy(golden_dir().join(format!("test_rgba_frame{i}.png")), dir.path().join(format!("{i}.png")))
            .unwrap();
    }
    let video = decode(dir.path(), &DecodeOptions { key_frames: 2, ..Default::default() }).unwrap();
    assert!(video.has_alpha);
    assert_eq!(video.source_indices, vec![0, 3]);
    // A box per frame, as the reference does.
    let options = PreprocessOptions { crop: CropMode::PerFrame, ..Default::default() };
    let objects = prepare_object_frames(&video, &options).unwrap();
    assert_eq!(objects.frames.len(), 2);
    assert_eq!(objects.times(), vec![0.0, 1.0]);
    // Same pipeline as the stage test, reached through the folder reader.
    let direct = crop_scale_centre(&frame(0), alpha_bbox(&frame(0)).unwrap(), 200, 256).canvas;
    assert_eq!(objects.frames[0], direct);
}
