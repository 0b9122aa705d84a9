//! SyncDreamer-T's parts against the reference (golden tiny model in `../shared/golden/`, loaded from
//! its `.ckpt` exactly as the published checkpoint would be), on burn's CPU backend. Tolerances are
//! the golden README's: max abs error ≤ 1e-5 of max |reference| for single modules.

use burn::tensor::{Device, Tensor, TensorData};
use efficient4d::camera::rig::SyncDreamerRig;
use efficient4d::generate::syncdreamer::SyncDreamerConfig;
use efficient4d::generate::syncdreamer::clip::ClipImageEncoder;
use efficient4d::generate::syncdreamer::conditioning::{ContextProjection, TimeEmbed, viewpoint_embedding};
use efficient4d::generate::syncdreamer::ddim::{DdimSchedule, alphas_cumprod};
use efficient4d::generate::syncdreamer::frustum::{FrustumLayout, FrustumSampler, TrilinearSampler};
use efficient4d::generate::syncdreamer::frustum_net::FrustumTV3DNet;
use efficient4d::generate::syncdreamer::guidance::{Guidance, ViewConditions, branch_predictions};
use efficient4d::generate::syncdreamer::model::{NoiseSource, Prepared, SampleOptions, Smoothing, SyncDreamerT};
use efficient4d::generate::syncdreamer::smoothing::smoothing_weights;
use efficient4d::generate::syncdreamer::spatial_net::SpatialTime3DNet;
use efficient4d::generate::syncdreamer::target_encoder::NoisyTargetViewEncoder;
use efficient4d::generate::syncdreamer::unet::{DepthWiseAttentionUNet, UNetConfig};
use efficient4d::generate::syncdreamer::unproject::{ViewCamera, rig_buffers, unproject, unprojection_grid};
use efficient4d::generate::syncdreamer::vae::Vae;
use efficient4d::weights::{NamedTensor, TensorTable, read_pytorch, read_safetensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden").join(name)
}

fn checkpoint() -> &'static HashMap<String, NamedTensor> {
    static C: OnceLock<HashMap<String, NamedTensor>> = OnceLock::new();
    C.get_or_init(|| read_pytorch(&golden("tiny_syncdreamer.ckpt"), Some("state_dict")).expect("tiny checkpoint"))
}

fn table() -> TensorTable<'static> {
    static DEVICE: OnceLock<Device> = OnceLock::new();
    let device = DEVICE.get_or_init(Device::flex);
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path: &'static Path = PATH.get_or_init(|| golden("tiny_syncdreamer.ckpt"));
    TensorTable::new(checkpoint(), |k| Some(k.to_string()), path, "SyncDreamer (tiny)", device)
}

fn golden_file(name: &str) -> HashMap<String, NamedTensor> {
    read_safetensors(&golden(name)).unwrap()
}

/// The frame-0 model input, NCHW in [-1, 1].
fn input_image() -> Tensor<4> {
    let pre = golden_file("input_preprocessing.safetensors");
    let nhwc = &pre["frame0_input_image_nhwc"];
    // NHWC → NCHW on the host, so every consumer gets a contiguous tensor.
    let nchw: Vec<f32> = (0..3).flat_map(|c| (0..256 * 256).map(move |i| nhwc.values[i * 3 + c])).collect();
    Tensor::<4>::from_data(TensorData::new(nchw, [1, 3, 256, 256]), &Device::flex())
}

fn assert_close<const D: usize>(got: Tensor<D>, want: &NamedTensor, rel: f32, what: &str) {
    let got: Vec<f32> = got.into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(got.len(), want.values.len(), "{what}: size");
    let scale = want.values.iter().map(|v| v.abs()).fold(0.0f32, f32::max).max(1e-12);
    let err = got.iter().zip(&want.values).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err <= rel * scale, "{what}: max abs error {err:.3e} (max |ref| {scale:.3})");
}

#[test]
fn clip_image_embedding_matches_the_reference() {
    let clip = ClipImageEncoder::load(&table(), SyncDreamerConfig::tiny().clip).unwrap();
    let g = golden_file("a_clip.safetensors");
    let trace = clip.trace(input_image());
    assert_close(trace.preprocessed, &g["preprocessed_224"], 1e-5, "bicubic 224 + CLIP normalisation");
    assert_close(trace.patch_embed, &g["patch_embed_conv1_out"], 1e-5, "patch embedding");
    assert_close(trace.tokens_after_ln_pre, &g["tokens_after_ln_pre"], 1e-5, "tokens after ln_pre");
    assert_close(trace.tokens_after_transformer, &g["tokens_after_transformer_LND"], 1e-5, "transformer");
    assert_close(trace.cls_after_ln_post, &g["cls_after_ln_post"], 1e-5, "ln_post");
    assert_close(trace.embedding, &g["clip_embedding"], 1e-5, "embedding");
}

fn tensor4(t: &NamedTensor) -> Tensor<4> {
    let shape: [usize; 4] = t.shape.clone().try_into().unwrap();
    Tensor::<4>::from_data(TensorData::new(t.values.clone(), shape), &Device::flex())
}

#[test]
fn vae_encode_and_decode_match_the_reference() {
    let vae = Vae::load(&table(), SyncDreamerConfig::tiny().vae).unwrap();
    let g = golden_file("b_vae.safetensors");
    let (image, post_quant) = vae.decode_trace(tensor4(&g["decode_input_scaled_latent"]));
    assert_close(post_quant, &g["decode_post_quant_conv_out"], 1e-5, "post_quant_conv");
    assert_close(image, &g["decoded_image"], 1e-5, "decoded image");
    let posterior = vae.encode(input_image());
    assert_close(posterior.moments.clone(), &g["moments_quant_conv_out"], 1e-5, "moments");
    assert_close(posterior.mean.clone(), &g["posterior_mean"], 1e-5, "mean");
    assert_close(posterior.logvar.clone(), &g["posterior_logvar_clamped"], 1e-5, "logvar");
    assert_close(posterior.std.clone(), &g["posterior_std"], 1e-5, "std");
    let x_input = posterior.sample_scaled(tensor4(&g["sample_noise"]));
    assert_close(x_input, &g["scaled_latent_x_input"], 1e-5, "scaled latent sample");
}

#[test]
fn a_checkpoint_missing_a_clip_tensor_is_refused_by_name() {
    let mut state = checkpoint().clone();
    state.remove("clip_image_encoder.model.visual.ln_post.bias");
    let device = Device::flex();
    let path = golden("tiny_syncdreamer.ckpt");
    let t = TensorTable::new(&state, |k| Some(k.to_string()), &path, "SyncDreamer", &device);
    let err = ClipImageEncoder::load(&t, SyncDreamerConfig::tiny().clip).err().expect("refused").to_string();
    assert!(err.contains("ln_post.bias") && err.contains("tiny_syncdreamer.ckpt"), "{err}");
    // The full-size configuration does not fit the tiny weights: a shape error, not a crash.
    let err = ClipImageEncoder::load(&table(), SyncDreamerConfig::full().clip).err().expect("refused").to_string();
    assert!(err.contains("shape"), "{err}");
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn the_noise_schedule_and_one_ddim_step_match_the_reference() {
    let g = golden_file("e_ddim_step.safetensors");
    let (betas, ac) = alphas_cumprod();
    assert_eq!(max_diff(&betas, &g["betas"].values), 0.0, "betas are bit-identical");
    assert_eq!(max_diff(&ac, &g["alphas_cumprod"].values), 0.0, "alphas_cumprod are bit-identical");
    let s = DdimSchedule::uniform(50, 1.0);
    assert_eq!(s.len(), 50);
    assert_eq!((s.timesteps[0], s.timesteps[24], s.timesteps[49]), (1, 481, 981));
    for (name, ours) in [
        ("ddim50_alphas", &s.alphas),
        ("ddim50_alphas_prev", &s.alphas_prev),
        ("ddim50_sigmas", &s.sigmas),
        ("ddim50_sqrt_one_minus_alphas", &s.sqrt_one_minus_alphas),
    ] {
        assert!(max_diff(ours, &g[name].values) <= 1e-6, "{name}");
    }
    let c = golden_file("c_spatial_volume.safetensors");
    let d = golden_file("d_unet_eps.safetensors");
    let shape = [1, 16, 4, 32, 32];
    let t5 = |v: &NamedTensor| Tensor::<5>::from_data(TensorData::new(v.values.clone(), shape), &Device::flex());
    let x_prev = s.step(t5(&c["x_target_noisy"]), t5(&d["eps_dg_combined"]), 24, Some(t5(&g["noise"])));
    assert_close(x_prev, &g["x_prev"], 1e-5, "x_prev");
}

#[test]
fn smoothing_weights_match_efficient4d() {
    let text = std::fs::read_to_string(golden("smoothing_weights.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for n in 1..=16usize {
        for cyclic in [false, true] {
            let ours = smoothing_weights(n, cyclic);
            assert_eq!(ours.len(), n);
            for row in &ours {
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12, "n={n}: rows sum to 1");
            }
            let entry = &json["matrices"][format!("n{n}_{}", if cyclic { "cyc" } else { "noncyc" })];
            if entry.get("error").is_some_and(|e| !e.is_null()) {
                // The reference crashes here (cyclic, 5 or 6 frames); ours wraps the kernel: symmetric.
                for (i, row) in ours.iter().enumerate() {
                    for (j, w) in row.iter().enumerate() {
                        assert!((w - ours[j][i]).abs() < 1e-12);
                    }
                }
                continue;
            }
            let want = entry["w_row_normalised"].as_array().unwrap();
            for (i, row) in want.iter().enumerate() {
                for (j, w) in row.as_array().unwrap().iter().enumerate() {
                    let w = w.as_f64().unwrap();
                    assert!((ours[i][j] - w).abs() < 1e-7, "n={n} cyclic={cyclic} [{i}][{j}]: {} vs {w}", ours[i][j]);
                }
            }
        }
    }
}

#[test]
fn time_viewpoint_and_context_conditioning_match_the_reference() {
    let c = golden_file("c_spatial_volume.safetensors");
    let d = golden_file("d_unet_eps.safetensors");
    let a = golden_file("a_clip.safetensors");
    let device = Device::flex();
    let time = TimeEmbed::load(&table(), 48).unwrap();
    let (sinusoidal, embedded) = time.forward(&[481], &device);
    assert_close(sinusoidal, &c["time_sinusoidal"], 1e-5, "sinusoidal time embedding");
    assert_close(embedded, &c["time_embed"], 1e-5, "time_embed MLP");
    let azimuths = &checkpoint()["azimuth"].values;
    let viewpoints = viewpoint_embedding(&[0.0], azimuths, &device);
    assert_close(viewpoints.clone(), &c["viewpoint_embedding"], 1e-6, "viewpoint embedding");
    let clip = Tensor::<3>::from_data(TensorData::new(a["clip_embedding"].values.clone(), [1, 1, 64]), &device);
    let context = ContextProjection::load(&table(), 64, 64).unwrap().forward(clip, viewpoints);
    assert_close(context, &d["context_after_cc_projection"], 1e-5, "cc_projection context");
}

/// The noisy target-view encoder on the golden inputs of `c` (16 views at t = 481): [16, 16, 32, 32].
fn target_encoder_features(c: &HashMap<String, NamedTensor>) -> Tensor<4> {
    let device = Device::flex();
    let encoder = NoisyTargetViewEncoder::load(&table(), 48, 16, 16).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new(c["x_target_noisy"].values.clone(), [16, 4, 32, 32]), &device);
    let time =
        Tensor::<2>::from_data(TensorData::new(c["time_embed"].values.clone(), [1, 48]), &device).expand([16, 48]);
    let views = Tensor::<2>::from_data(TensorData::new(c["viewpoint_embedding"].values.clone(), [16, 4]), &device);
    encoder.forward(x, time, views)
}

#[test]
fn the_noisy_target_view_encoder_matches_the_reference() {
    let c = golden_file("c_spatial_volume.safetensors");
    let out = target_encoder_features(&c);
    let picked = Tensor::cat(vec![out.clone().narrow(0, 0, 1), out.narrow(0, 3, 1)], 0);
    assert_close(picked, &c["target_encoder_out_views_0_3"], 1e-5, "target encoder (views 0 and 3)");
}

#[test]
fn unprojection_into_the_spatial_volume_matches_the_reference() {
    let c = golden_file("c_spatial_volume.safetensors");
    let cameras = ViewCamera::from_buffers(&checkpoint()["poses"].values, &checkpoint()["Ks"].values);
    assert_eq!(cameras.len(), 16);
    assert_eq!(checkpoint()["poses"].values, c["poses_w2c_3x4"].values, "rig buffers as in the golden run");
    let grid = unprojection_grid(&cameras[0], 32, 0.5, 256, 32);
    let slices: Vec<f32> =
        [0usize, 15, 31].iter().flat_map(|&z| grid[z * 32 * 32 * 2..(z + 1) * 32 * 32 * 2].to_vec()).collect();
    let want = &c["unproj_grid_view0_zslices_0_15_31"];
    let err = slices.iter().zip(&want.values).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err <= 1e-5, "unprojection grid off by {err}");

    // Sampling the target encoder's features of view 0 there (channel 0, the same z slices).
    let feats = target_encoder_features(&c);
    let volume = unproject(feats, &cameras, 32, 0.5, 256);
    assert_eq!(volume.dims(), [16, 16, 32, 32, 32]);
    let view0: Vec<f32> = volume.narrow(0, 0, 1).narrow(1, 0, 1).into_data().try_to_vec::<f32>().unwrap();
    let picked: Vec<f32> = [0usize, 15, 31].iter().flat_map(|&z| view0[z * 1024..(z + 1) * 1024].to_vec()).collect();
    let want = &c["unproj_feats_view0_chan0_zslices_0_15_31"];
    let scale = want.values.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    let err = picked.iter().zip(&want.values).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err <= 1e-5 * scale, "unprojected features off by {err}");
}

#[test]
fn the_spatial_volume_matches_the_reference() {
    let c = golden_file("c_spatial_volume.safetensors");
    let cameras = ViewCamera::from_buffers(&checkpoint()["poses"].values, &checkpoint()["Ks"].values);
    let unprojected = unproject(target_encoder_features(&c), &cameras, 32, 0.5, 256).reshape([1, 16 * 16, 32, 32, 32]);
    let net = SpatialTime3DNet::load(&table(), 48, 256, [8, 8, 16, 16]).unwrap();
    let time = Tensor::<2>::from_data(TensorData::new(c["time_embed"].values.clone(), [1, 48]), &Device::flex());
    assert_close(net.forward(unprojected, time), &c["spatial_volume"], 1e-5, "spatial volume");
}

/// A golden tensor's raw little-endian bytes (for the integer and u8 tensors the f32 reader skips).
fn raw_bytes(file: &str, name: &str) -> Vec<u8> {
    let bytes = std::fs::read(golden(file)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensor(name).unwrap().data().to_vec()
}

fn tensor5(t: &NamedTensor) -> Tensor<5> {
    let shape: [usize; 5] = t.shape.clone().try_into().unwrap();
    Tensor::<5>::from_data(TensorData::new(t.values.clone(), shape), &Device::flex())
}

#[test]
fn frustum_geometry_and_sampling_match_the_reference() {
    let c = golden_file("c_spatial_volume.safetensors");
    let layout = FrustumLayout::SYNCDREAMER;
    let depths = layout.depths();
    assert!(max_diff(&depths, &c["frustum_depth_values"].values) <= 1e-6, "depths");
    let cameras = ViewCamera::from_buffers(&checkpoint()["poses"].values, &checkpoint()["Ks"].values);
    assert_eq!(raw_bytes("c_spatial_volume.safetensors", "frustum_target_view_index"), 3i64.to_le_bytes());
    let points = layout.normalized_points(&cameras[3]);
    let slices: Vec<f32> = [0usize, 23, 47].iter().flat_map(|&d| points[d * 1024..(d + 1) * 1024].concat()).collect();
    let want = &c["frustum_grid_xyz_normalized_dslices_0_23_47"];
    let scale = want.values.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    assert!(max_diff(&slices, &want.values) <= 1e-6 * scale, "frustum points");

    // Trilinear sampling at the reference's own points is exact.
    let device = Device::flex();
    let volume = tensor5(&c["spatial_volume"]).reshape([8, 32, 32, 32]);
    let golden_points: Vec<[f32; 3]> = want.values.chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
    let sampled =
        TrilinearSampler::new(&golden_points, 32, &device).sample(&volume.clone().reshape([8, 32768]), 0, 3072);
    let sampled: Vec<f32> = sampled.narrow(0, 0, 1).into_data().try_to_vec::<f32>().unwrap();
    let chan0 = &c["frustum_sampled_volume_chan0"].values;
    let want_slices: Vec<f32> =
        [0usize, 23, 47].iter().flat_map(|&d| chan0[d * 1024..(d + 1) * 1024].to_vec()).collect();
    assert!(max_diff(&sampled, &want_slices) <= 1e-6, "sampling at the reference's points");

    // At our points (the reference inverts P in float32 with LAPACK, we round the exact inverse:
    // ~2e-6 apart, which steep volume features turn into 1.4e-5 relative), and through the net.
    let sampler = FrustumSampler::new(layout, &cameras, 32, &device);
    let frustum = sampler.sample(volume, 3, 1);
    assert_eq!(frustum.dims(), [1, 8, 48, 32, 32]);
    assert_close(frustum.clone().narrow(1, 0, 1), &c["frustum_sampled_volume_chan0"], 3e-5, "sampled frustum");

    let net = FrustumTV3DNet::load(&table(), 8, 48, 4, [8, 8, 16, 16]).unwrap();
    let time = Tensor::<2>::from_data(TensorData::new(c["time_embed"].values.clone(), [1, 48]), &Device::flex());
    let views =
        Tensor::<2>::from_data(TensorData::new(c["viewpoint_embedding"].values.clone(), [16, 4]), &Device::flex());
    let features = net.forward(frustum, time, views.narrow(0, 3, 1));
    for (width, level) in [(32, 0), (16, 1), (8, 2), (4, 3)] {
        assert_eq!(features.for_width(width).dims(), features.levels[level].dims());
        // The net carries the points' 1.4e-5 along: 2e-5 (1e-5 is met by every other module).
        assert_close(features.levels[level].clone(), &c[&format!("frustum_feats_{width}")], 2e-5, "frustum features");
    }
}

/// The golden files of the CLIP, VAE, volume and UNet checks, whose tensors the UNet tests combine.
fn golden_files_a_to_d() -> [HashMap<String, NamedTensor>; 4] {
    ["a_clip", "b_vae", "c_spatial_volume", "d_unet_eps"].map(|n| golden_file(&format!("{n}.safetensors")))
}

fn tiny_model() -> &'static SyncDreamerT {
    static M: OnceLock<SyncDreamerT> = OnceLock::new();
    M.get_or_init(|| SyncDreamerT::load(&table(), SyncDreamerConfig::tiny(), &Device::flex()).expect("tiny model"))
}

#[test]
fn the_unet_branches_and_guidance_match_the_reference() {
    let [a, b, c, d] = golden_files_a_to_d();
    let device = Device::flex();
    let model = tiny_model();
    let prepared = Prepared {
        clip: Tensor::<3>::from_data(TensorData::new(a["clip_embedding"].values.clone(), [1, 1, 64]), &device),
        input_latents: tensor4(&b["scaled_latent_x_input"]),
        elevations: vec![0.0],
    };
    let x = Tensor::<5>::from_data(TensorData::new(c["x_target_noisy"].values.clone(), [1, 16, 4, 32, 32]), &device);
    let volume = tensor5(&c["spatial_volume"]);
    let cases = [
        (Guidance::None, "eps_branch_a_all_conditions"),
        (Guidance::EFFICIENT4D, "eps_dg_combined"),
        (Guidance::Classic(2.0), "eps_cfg_scale2"),
    ];
    for (guidance, name) in cases {
        // Views in two batches of 8 for one case: batching must not change the result.
        let view_batch = if guidance == Guidance::None { 8 } else { 16 };
        let options = SampleOptions { guidance, view_batch, ..SampleOptions::default() };
        let eps = model.predict_eps(&x, 481, &volume, &prepared, &options);
        assert_close(eps, &d[name], 1e-4, name);
    }
}

#[test]
fn the_unets_separate_branches_match_the_reference() {
    let [a, b, c, d] = golden_files_a_to_d();
    let device = Device::flex();
    let table = table();
    let unet = DepthWiseAttentionUNet::load(&table, UNetConfig::tiny()).unwrap();
    let cameras = ViewCamera::from_buffers(&checkpoint()["poses"].values, &checkpoint()["Ks"].values);
    let frustum = FrustumSampler::new(FrustumLayout::SYNCDREAMER, &cameras, 32, &device).sample(
        tensor5(&c["spatial_volume"]).reshape([8, 32, 32, 32]),
        0,
        16,
    );
    let net = FrustumTV3DNet::load(&table, 8, 48, 4, [8, 8, 16, 16]).unwrap();
    let time = Tensor::<2>::from_data(TensorData::new(c["time_embed"].values.clone(), [1, 48]), &device);
    let views = Tensor::<2>::from_data(TensorData::new(c["viewpoint_embedding"].values.clone(), [16, 4]), &device);
    let features = net.forward(frustum, time.expand([16, 48]), views);
    let clip = Tensor::<3>::from_data(TensorData::new(a["clip_embedding"].values.clone(), [1, 1, 64]), &device);
    let viewpoints =
        Tensor::<3>::from_data(TensorData::new(c["viewpoint_embedding"].values.clone(), [1, 16, 4]), &device);
    let context = ContextProjection::load(&table, 64, 64).unwrap().forward(clip, viewpoints);
    let latent = tensor4(&b["scaled_latent_x_input"]).expand([16, 4, 32, 32]);
    let x = Tensor::<4>::from_data(TensorData::new(c["x_target_noisy"].values.clone(), [16, 4, 32, 32]), &device);
    let conditions = ViewConditions { context: &context, volume: &features, input_latent: &latent };
    let branches = branch_predictions(&unet, Guidance::EFFICIENT4D, &x, &[481; 16], &conditions);
    assert_eq!(branches.len(), 3);
    let names = ["eps_branch_a_all_conditions", "eps_branch_b_no_clip_no_concat", "eps_branch_c_no_volume_concat_x4"];
    for (eps, name) in branches.into_iter().zip(names) {
        assert_close(eps, &d[name], 1e-4, name);
    }
}

/// Replays the draws recorded in the golden run, in order.
struct Recorded(std::collections::VecDeque<NamedTensor>);

impl NoiseSource for Recorded {
    fn normal(&mut self, shape: &[usize]) -> Vec<f32> {
        let t = self.0.pop_front().expect("a recorded draw");
        assert_eq!(t.shape, shape, "draw shape");
        t.values
    }
}

/// Values of a [F, C, 32, 32, 32] volume restricted to [.., 14:18, 14:18, 14:18].
fn center4(volume: Tensor<5>) -> Tensor<5> {
    volume.narrow(2, 14, 4).narrow(3, 14, 4).narrow(4, 14, 4)
}

#[test]
fn a_two_frame_three_step_run_with_smoothing_matches_the_reference() {
    let f = golden_file("f_sampling_run.safetensors");
    let model = tiny_model();
    // Both input frames as NCHW in [-1, 1], from the golden preprocessing.
    let frames: Vec<f32> = ["frame0_canvas_rgba_u8", "frame2_canvas_rgba_u8"]
        .iter()
        .flat_map(|name| {
            let rgba = raw_bytes("input_preprocessing.safetensors", name);
            (0..3).flat_map(move |c| {
                let rgba = rgba.clone();
                (0..256 * 256).map(move |i| {
                    let a = rgba[i * 4 + 3] as f32 / 255.0;
                    let v = rgba[i * 4 + c] as f32 / 255.0;
                    (v * a + 1.0 - a) * 2.0 - 1.0
                })
            })
        })
        .collect();
    // Frame 0 composited here is the golden model input exactly.
    let frame0: Vec<f32> = input_image().into_data().try_to_vec::<f32>().unwrap();
    assert!(max_diff(&frames[..3 * 256 * 256], &frame0) <= 1e-6, "composite on white");
    let images = Tensor::<4>::from_data(TensorData::new(frames, [2, 3, 256, 256]), &Device::flex());
    let mut noise = Recorded(
        ["input_latent_sample_noise", "initial_noise_shared", "step0_noise", "step1_noise"]
            .iter()
            .map(|n| f[*n].clone())
            .collect(),
    );
    let mut prepared = model.prepare(images, vec![0.0, 0.0], &mut noise);
    assert_close(prepared.clip.clone(), &f["clip_embedding"], 1e-5, "CLIP of both frames");
    // Our VAE encoding matches the reference's at 1e-5 (test above), yet the latents stored by this
    // run differ from that path by 1.3e-3 / 2.1e-3, most likely because the run fed the encoder a
    // permuted (NHWC-strided) tensor, which PyTorch's CPU kernels reduce differently. So: a looser
    // check here, and the run's own latents as the condition, which isolates the sampler.
    assert_close(prepared.input_latents.clone(), &f["x_input_latent_scaled"], 5e-3, "input latents");
    prepared.input_latents = tensor4(&f["x_input_latent_scaled"]);

    let options = SampleOptions {
        schedule: DdimSchedule::with_timesteps(vec![1, 334, 667], 1.0),
        guidance: Guidance::EFFICIENT4D,
        smoothing: Smoothing::Open,
        view_batch: 16,
    };
    for (name, ours) in [
        ("ddim3_alphas", &options.schedule.alphas),
        ("ddim3_alphas_prev", &options.schedule.alphas_prev),
        ("ddim3_sigmas", &options.schedule.sigmas),
    ] {
        assert!(max_diff(ours, &f[name].values) <= 1e-6, "{name}");
    }
    let initial = noise.normal(&[1, 16, 4, 32, 32]);
    let mut x = Tensor::<5>::from_data(TensorData::new(initial, [1, 16, 4, 32, 32]), &Device::flex())
        .expand([2, 16, 4, 32, 32]);
    for (step, index) in [2usize, 1, 0].into_iter().enumerate() {
        let out = model.denoise_step(x, index, &prepared, &options, &mut noise);
        let k = format!("step{step}");
        assert_close(center4(out.raw_volumes.clone()), &f[&format!("{k}_volume_raw_center4")], 1e-3, "raw volume");
        assert_close(
            center4(out.smoothed_volumes.clone()),
            &f[&format!("{k}_volume_smoothed_center4")],
            1e-3,
            "smoothed",
        );
        let means = out.smoothed_volumes.clone().mean_dim(4).mean_dim(3).mean_dim(2).reshape([2, 8]);
        assert_close(means, &f[&format!("{k}_volume_smoothed_chan_mean")], 1e-3, "smoothed channel means");
        if step < 2 {
            assert_close(out.latents.clone(), &f[&format!("{k}_x_out")], 1e-3, "latents after the step");
        }
        x = out.latents;
    }
    assert_close(x.clone(), &f["final_latents"], 1e-3, "final latents");
    let decoded = model.vae().decode(x.clone().narrow(0, 0, 1).narrow(1, 0, 1).reshape([1, 4, 32, 32]));
    assert_close(decoded, &f["decoded_frame0_view0"], 1e-3, "decoded frame 0 view 0");
    let decoded = model.vae().decode(x.narrow(0, 1, 1).narrow(1, 8, 1).reshape([1, 4, 32, 32]));
    assert_close(decoded, &f["decoded_frame1_view8"], 1e-3, "decoded frame 1 view 8");
}

#[test]
fn our_rig_gives_the_checkpoints_camera_buffers() {
    let ours = rig_buffers(&SyncDreamerRig::default());
    for name in ["poses", "Ks", "azimuth"] {
        let want = &checkpoint()[name];
        assert_eq!(ours[name].shape, want.shape, "{name}");
        assert!(max_diff(&ours[name].values, &want.values) <= 1e-5, "{name}");
    }
}

/// The full-size loader asks for exactly the published checkpoint's tensors (names and shapes from
/// `syncdreamer_full_keys.json`), except the ones the reference never uses either.
#[test]
fn the_full_size_loader_asks_for_the_published_keys() {
    let text = std::fs::read_to_string(golden("syncdreamer_full_keys.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let published: HashMap<String, Vec<usize>> = json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let shape = e["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
            (e["name"].as_str().unwrap().to_string(), shape)
        })
        .collect();
    assert_eq!(published.len(), 1618);
    let device = Device::flex();
    let recorder = TensorTable::recorder("SyncDreamer", &device);
    SyncDreamerT::load(&recorder, SyncDreamerConfig::full(), &device).unwrap();
    let requested: HashMap<String, Vec<usize>> = recorder.requests().into_iter().collect();
    for (name, shape) in &requested {
        assert_eq!(published.get(name), Some(shape), "{name}: requested {shape:?}");
    }
    let mut unused: Vec<&str> = published.keys().filter(|k| !requested.contains_key(*k)).map(|k| k.as_str()).collect();
    unused.sort_unstable();
    // The schedule is computed (bit-identical, tested above); the CLIP text tower is never used.
    let expected_unused = [
        "alphas",
        "alphas_cumprod",
        "betas",
        "clip_image_encoder.model.ln_final.bias",
        "clip_image_encoder.model.ln_final.weight",
        "clip_image_encoder.model.logit_scale",
        "clip_image_encoder.model.positional_embedding",
        "clip_image_encoder.model.text_projection",
        "clip_image_encoder.model.token_embedding.weight",
        "posterior_log_variance_clipped",
        "posterior_variance",
        "sqrt_alphas_cumprod",
        "sqrt_one_minus_alphas_cumprod",
    ];
    assert_eq!(unused, expected_unused);
}

#[test]
fn the_model_loads_from_an_owned_state_dict_taking_each_tensor_once() {
    // The path `load_syncdreamer` takes for the 5.5 GB checkpoint: tensors moved, not copied.
    let device = Device::flex();
    let path = golden("tiny_syncdreamer.ckpt");
    let table = TensorTable::consuming(checkpoint().clone(), &path, "SyncDreamer (tiny)", &device);
    SyncDreamerT::load(&table, SyncDreamerConfig::tiny(), &device).expect("every tensor is asked for once");
    let again = table.get::<1>("cc_projection.bias", [64]).expect_err("taken").to_string();
    assert!(again.contains("missing tensor cc_projection.bias"), "{again}");
}

/// Largest |got − want| relative to max |want|.
fn relative_error<const D: usize>(got: Tensor<D>, want: &NamedTensor) -> f32 {
    let got: Vec<f32> = got.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    let scale = want.values.iter().map(|v| v.abs()).fold(0.0f32, f32::max).max(1e-12);
    max_diff(&got, &want.values) / scale
}

/// The tiny model with its linear and convolution layers in f16 (`--precision f16`) against the
/// reference, which ran in f32: the UNet's three guidance branches, the spatial volume and the VAE
/// decode. Run on `device` (f16 needs `shader-f16` on wgpu, or the CPU backend's f16).
fn half_precision_errors(device: &Device) -> Vec<(&'static str, f32)> {
    let [a, b, c, d] = golden_files_a_to_d();
    let path = golden("tiny_syncdreamer.ckpt");
    let table = TensorTable::new(checkpoint(), |k| Some(k.to_string()), &path, "SyncDreamer (tiny)", device);
    let model = SyncDreamerT::load(&table.half_weights(), SyncDreamerConfig::tiny(), device).unwrap();
    let on =
        |t: &NamedTensor, shape: [usize; 5]| Tensor::<5>::from_data(TensorData::new(t.values.clone(), shape), device);
    let prepared = Prepared {
        clip: Tensor::<3>::from_data(TensorData::new(a["clip_embedding"].values.clone(), [1, 1, 64]), device),
        input_latents: Tensor::<4>::from_data(
            TensorData::new(b["scaled_latent_x_input"].values.clone(), b["scaled_latent_x_input"].shape.clone()),
            device,
        ),
        elevations: vec![0.0],
    };
    let x = on(&c["x_target_noisy"], [1, 16, 4, 32, 32]);
    let volume = model.spatial_volumes(&x, 481, &[0.0]);
    let mut errors = vec![("spatial volume", relative_error(volume.clone(), &c["spatial_volume"]))];
    for (guidance, name) in
        [(Guidance::None, "eps_branch_a_all_conditions"), (Guidance::EFFICIENT4D, "eps_dg_combined")]
    {
        let options = SampleOptions { guidance, view_batch: 16, ..SampleOptions::default() };
        let golden_volume = on(&c["spatial_volume"], c["spatial_volume"].shape.clone().try_into().unwrap());
        errors.push((name, relative_error(model.predict_eps(&x, 481, &golden_volume, &prepared, &options), &d[name])));
    }
    errors
}

#[test]
fn half_precision_stays_within_f16_tolerance_of_the_reference() {
    let errors = half_precision_errors(&Device::flex());
    for (what, err) in &errors {
        eprintln!("f16 {what}: max error {err:.2e} of max |ref|");
    }
    // f16 keeps 11 significant bits (a rounding of ≤ 4.9e-4 relative) at every layer input and
    // weight; through the tiny UNet's ~40 layers that compounds to a few 1e-3.
    for (what, err) in errors {
        assert!(err < 1e-2, "{what}: {err:.3e}");
    }
}

#[test]
fn half_precision_is_chosen_only_on_gpus_that_have_it() {
    use efficient4d::generate::syncdreamer::Precision;
    let gpu = efficient4d::gpu::GpuContext::shared().unwrap();
    // No GPU, or a CPU driver (the networks then run on the CPU backend, where f16 measured 1.5x
    // slower than f32): f32 unless asked.
    assert!(!Precision::Auto.half_on(None));
    if gpu.is_cpu_driver() {
        assert!(!Precision::Auto.half_on(Some(&gpu)));
    } else {
        assert_eq!(Precision::Auto.half_on(Some(&gpu)), gpu.caps.shader_f16);
    }
    assert!(Precision::F16.half_on(None) && !Precision::F32.half_on(Some(&gpu)));
    // A half-precision table hands out linear / convolution weights in f16, everything else in f32.
    let path = golden("tiny_syncdreamer.ckpt");
    let device = Device::flex();
    let table =
        TensorTable::new(checkpoint(), |k| Some(k.to_string()), &path, "SyncDreamer (tiny)", &device).half_weights();
    let linear = table.get::<2>("cc_projection.weight", [64, 68]).unwrap();
    let bias = table.get::<1>("cc_projection.bias", [64]).unwrap();
    assert_eq!((linear.dtype(), bias.dtype()), (burn::tensor::DType::F16, burn::tensor::DType::F32));
    assert_eq!(table.bytes_handed_out(), 64 * 68 * 2 + 64 * 4);
}
