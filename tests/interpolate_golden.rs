//! Frame interpolation and confidence maps against Efficient4D's reference (golden data made by its
//! `IFNet_HDv3` with seeded full-size random weights and its `video_confidence.py` logic, in
//! `../shared/golden/`), run on burn's CPU backend.

use burn::tensor::{Device, Tensor, TensorData};
use efficient4d::interpolate::confidence::{ConfidenceMetric, frame_confidence};
use efficient4d::interpolate::planes::{Planes, map_to_gray_truncated};
use efficient4d::interpolate::rife::Rife;
use efficient4d::interpolate::sequence::{Interpolator, sequence_confidence};
use efficient4d::weights::{NamedTensor, read_safetensors};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden")
}

fn golden() -> &'static HashMap<String, NamedTensor> {
    static G: OnceLock<HashMap<String, NamedTensor>> = OnceLock::new();
    G.get_or_init(|| read_safetensors(&golden_dir().join("rife_golden.safetensors")).expect("golden RIFE data"))
}

fn tensor(name: &str) -> &'static NamedTensor {
    golden().get(name).unwrap_or_else(|| panic!("golden tensor {name}"))
}

/// Toy frame `i` as RGB planes in [0, 1] (uint8 / 255, as the reference reads them).
fn toy(i: usize) -> Planes {
    let img = image::open(golden_dir().join(format!("rife_toy_frame{i}.png"))).unwrap().to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut p = Planes::zeros(3, w, h);
    for (k, px) in img.pixels().enumerate() {
        for c in 0..3 {
            p.data[c * w * h + k] = px[c] as f32 / 255.0;
        }
    }
    p
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().map(|v| v.abs()).fold(0.0, f32::max)
}

/// Rows/cols 112..144 of an [C, 256, 256] array.
fn centre32(values: &[f32], channels: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for c in 0..channels {
        for y in 112..144 {
            out.extend_from_slice(&values[c * 256 * 256 + y * 256 + 112..c * 256 * 256 + y * 256 + 144]);
        }
    }
    out
}

fn rife() -> &'static Rife {
    static R: OnceLock<Rife> = OnceLock::new();
    R.get_or_init(|| {
        Rife::load(&golden_dir().join("rife_ifnet_hdv3_random_f16.safetensors"), &Device::flex()).expect("RIFE weights")
    })
}

fn to_tensor(p: &Planes) -> Tensor<4> {
    Tensor::<4>::from_data(TensorData::new(p.data.clone(), [1, p.channels, p.height, p.width]), &Device::flex())
}

fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn confidence_of_frame1_matches_the_reference_given_its_prediction() {
    // Frame 1's prediction from (0, 2) is exactly the golden midpoint.
    let prediction = Planes::from_vec(3, 256, 256, tensor("midpoint_merged").values.clone());
    let frame = toy(1);
    let ssim = frame_confidence(&frame, std::slice::from_ref(&prediction), ConfidenceMetric::Ssim);
    let d = max_abs_diff(&ssim, &tensor("frame1_ssim_conf").values);
    assert!(d <= 1e-3, "SSIM confidence off by {d}");
    let rgb = frame_confidence(&frame, std::slice::from_ref(&prediction), ConfidenceMetric::Rgb);
    let d = max_abs_diff(&rgb, &tensor("frame1_rgb_conf").values);
    assert!(d <= 1e-5, "RGB confidence off by {d}");

    // The 8-bit map as written (truncated): equal except where a value sits on a 1/255 step.
    let bytes = std::fs::read(golden_dir().join("rife_golden.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let want = st.tensor("frame1_ssim_conf_u8").unwrap();
    let ours = map_to_gray_truncated(&ssim, 256, 256);
    let off: Vec<i32> = ours.as_raw().iter().zip(want.data()).map(|(&a, &b)| a as i32 - b as i32).collect();
    assert!(off.iter().all(|d| d.abs() <= 1), "8-bit map off by more than one level");
    let differing = off.iter().filter(|d| **d != 0).count();
    // The reference computes SSIM in float32 (~5e-4 of cancellation error, golden README §8); that
    // moves about a quarter of a level, so some pixels land on the other side of a step.
    assert!(differing < 256 * 256 / 20, "{differing} pixels of the 8-bit map differ");
}

#[test]
fn rife_midpoint_matches_the_reference() {
    let out = rife().forward(to_tensor(&toy(0)), to_tensor(&toy(2)));
    let merged = values(out.merged.clone());
    let want = &tensor("midpoint_merged").values;
    let d = max_abs_diff(&merged, want);
    assert!(d <= 1e-4 * max_abs(want), "midpoint off by {d}");

    let mask = values(out.masks[2].clone());
    let d = max_abs_diff(&mask, &tensor("midpoint_mask_sigmoid").values);
    assert!(d <= 1e-4, "mask off by {d}");

    for (k, name) in ["midpoint_flow_block0_every4px", "midpoint_flow_block1_every4px", "midpoint_flow_final_every4px"]
        .iter()
        .enumerate()
    {
        let flow = values(out.flows[k].clone());
        let sampled: Vec<f32> = (0..4)
            .flat_map(|c| (0..64).flat_map(move |i| (0..64).map(move |j| (c, i, j))))
            .map(|(c, i, j)| flow[c * 256 * 256 + 4 * i * 256 + 4 * j])
            .collect();
        let want = &tensor(name).values;
        let d = max_abs_diff(&sampled, want);
        assert!(d <= 1e-4 * max_abs(want).max(1.0), "{name} off by {d}");
    }
    for (k, name) in ["midpoint_merged_block0_center32", "midpoint_merged_block1_center32"].iter().enumerate() {
        let got = centre32(&values(out.merged_per_block[k].clone()), 3);
        let d = max_abs_diff(&got, &tensor(name).values);
        assert!(d <= 1e-4, "{name} off by {d}");
    }
}

#[test]
fn rife_confidence_of_a_sequence_matches_the_reference() {
    let frames: Vec<Planes> = (0..5).map(toy).collect();
    let interp = Interpolator::Rife(Box::new(
        Rife::load(&golden_dir().join("rife_ifnet_hdv3_random_f16.safetensors"), &Device::flex()).unwrap(),
    ));
    let ssim = sequence_confidence(&interp, &frames, ConfidenceMetric::Ssim);
    let rgb = sequence_confidence(&interp, &frames, ConfidenceMetric::Rgb);
    assert!(ssim[0].iter().chain(&ssim[4]).all(|&c| c == 1.0), "end frames are fully trusted");
    let check = |got: &[f32], name: &str, tol: f32| {
        let d = max_abs_diff(got, &tensor(name).values);
        assert!(d <= tol, "{name} off by {d}");
    };
    check(&ssim[1], "frame1_ssim_conf", 1e-3);
    check(&rgb[1], "frame1_rgb_conf", 1e-4);
    check(&ssim[2], "frame2_ssim_conf", 1e-3);
    check(&rgb[2], "frame2_rgb_conf", 1e-4);
    check(&centre32(&ssim[3], 1), "frame3_ssim_conf_center32", 1e-3);
    check(&centre32(&rgb[3], 1), "frame3_rgb_conf_center32", 1e-4);

    // The two predictions of frame 2 themselves.
    let preds = interp.midpoints(&[(&frames[1], &frames[3]), (&frames[0], &frames[4])]);
    check(&centre32(&preds[0].data, 3), "frame2_warp_1_3_center32", 1e-4);
    check(&centre32(&preds[1].data, 3), "frame2_warp_0_4_center32", 1e-4);
}

#[test]
fn rife_weights_with_a_wrong_shape_or_no_prefix_are_refused_clearly() {
    let path = golden_dir().join("rife_ifnet_hdv3_random_f16.safetensors");
    let mut state = read_safetensors(&path).unwrap();
    let key = "module.block1.convblock2.0.0.weight";
    state.get_mut(key).unwrap().shape = vec![90, 90, 1, 9];
    let err = Rife::from_state_dict(&state, &path, &Device::flex()).err().expect("shape mismatch refused").to_string();
    assert!(err.contains("block1.convblock2.0.0.weight") && err.contains("shape"), "{err}");
    let unprefixed: HashMap<String, NamedTensor> =
        state.into_iter().map(|(k, v)| (k.replacen("module.", "", 1), v)).collect();
    let err = Rife::from_state_dict(&unprefixed, &path, &Device::flex()).err().expect("refused").to_string();
    assert!(err.contains("module."), "{err}");
}

#[test]
fn the_weights_free_flow_interpolates_the_toy_sequence_better_than_blending() {
    use efficient4d::interpolate::flow::{FlowOptions, midpoint_frame};
    let psnr = |a: &Planes, b: &Planes| {
        let mse = a.data.iter().zip(&b.data).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>() / a.data.len() as f64;
        -10.0 * mse.log10()
    };
    for (a, mid, b) in [(0, 1, 2), (1, 2, 3), (2, 3, 4), (0, 2, 4)] {
        let (fa, fb, truth) = (toy(a), toy(b), toy(mid));
        let flow = midpoint_frame(&fa, &fb, &FlowOptions::default());
        let blend = Planes::from_vec(3, 256, 256, fa.data.iter().zip(&fb.data).map(|(x, y)| 0.5 * (x + y)).collect());
        let (p_flow, p_blend) = (psnr(&flow, &truth), psnr(&blend, &truth));
        println!("toy {a}-{b} → {mid}: flow {p_flow:.2} dB, blend {p_blend:.2} dB");
        // Neighbours (disk moves ~16 px each way): clearly better. Two apart (~32 px each way over a
        // textured static background) is beyond what a local flow resolves well: still no worse.
        let margin = if b - a == 2 { 5.0 } else { 0.5 };
        assert!(p_flow > p_blend + margin, "toy {a}-{b}: flow {p_flow:.2} dB vs blend {p_blend:.2} dB");
    }
}

#[test]
fn the_tensors_rife_reads_are_those_of_flownet_pkl() {
    let text = std::fs::read_to_string(golden_dir().join("rife_flownet_keys.json")).unwrap();
    let keys: serde_json::Value = serde_json::from_str(&text).unwrap();
    let published: HashMap<String, Vec<usize>> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let shape = k["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            (k["name"].as_str().unwrap().to_string(), shape)
        })
        .collect();
    let expected = efficient4d::interpolate::rife::expected_tensors();
    for (name, shape) in &expected {
        assert_eq!(published.get(&format!("module.{name}")), Some(shape), "{name}");
    }
    // Everything else in the file is the teacher block, loaded by RIFE but unused at inference.
    let rest: Vec<&String> =
        published.keys().filter(|k| !expected.iter().any(|(n, _)| format!("module.{n}") == **k)).collect();
    assert!(rest.iter().all(|k| k.starts_with("module.block_tea.")), "{rest:?}");
}
