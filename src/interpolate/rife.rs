//! RIFE (IFNet HDv3, as shipped with Efficient4D) in burn: three IFBlocks refine a pair of flows
//! (middle → frame 0, middle → frame 1) and a fusion mask coarse to fine (scales 4, 2, 1); each
//! block runs on (I0, I1) and on the swapped pair, and the two answers are averaged. The middle frame
//! is `warp(I0)·σ(mask) + warp(I1)·(1 − σ(mask))`. Inference only, any burn device.
//!
//! Weights: `flownet.pkl` as published (keys `module.blockN.…`; only keys holding `module.` are
//! used, with it stripped, as RIFE's own loader does), or the same names in a safetensors file.

use super::planes::Planes;
use crate::weights::{NamedTensor, TensorTable, WeightsError};
use burn::tensor::module::{conv_transpose2d, conv2d, interpolate};
use burn::tensor::ops::{
    ConvOptions, ConvTransposeOptions, GridSampleOptions, GridSamplePaddingMode, InterpolateMode, InterpolateOptions,
};
use burn::tensor::{Device, Tensor, TensorData, activation};
use std::collections::HashMap;
use std::path::Path;

const MODEL_NAME: &str = "RIFE IFNet HDv3";

/// RIFE's loader keeps the keys holding "module." and strips it (the file was saved from DDP).
fn strip_ddp_prefix(k: &str) -> Option<String> {
    k.contains("module.").then(|| k.replacen("module.", "", 1))
}

/// Channels of the IFBlocks' features.
const WIDTH: usize = 90;
/// Input channels of a block: warped I0, warped I1 (RGB), mask, flow (4).
const BLOCK_IN: usize = 11;
/// Scales of the three blocks (RIFE's `scale_list` for scale = 1.0).
const SCALES: [usize; 3] = [4, 2, 1];
/// Images are padded to a multiple of this (the coarsest block sees 1/16 of the size).
const PAD_TO: usize = 32;

/// A 3×3 convolution followed by PReLU.
struct ConvPrelu {
    weight: Tensor<4>,
    bias: Tensor<1>,
    slope: Tensor<1>,
    stride: usize,
}

impl ConvPrelu {
    fn load(t: &TensorTable, prefix: &str, cin: usize, cout: usize, stride: usize) -> Result<Self, WeightsError> {
        Ok(Self {
            weight: t.get(&format!("{prefix}.0.weight"), [cout, cin, 3, 3])?,
            bias: t.get(&format!("{prefix}.0.bias"), [cout])?,
            slope: t.get(&format!("{prefix}.1.weight"), [cout])?,
            stride,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let options = ConvOptions::new([self.stride; 2], [1, 1], [1, 1], 1);
        activation::prelu(conv2d(x, self.weight.clone(), Some(self.bias.clone()), options), self.slope.clone())
    }
}

/// ConvTranspose(4, stride 2) → PReLU → ConvTranspose(4, stride 2): ×4 upsampling head.
struct UpHead {
    w1: Tensor<4>,
    b1: Tensor<1>,
    slope: Tensor<1>,
    w2: Tensor<4>,
    b2: Tensor<1>,
}

impl UpHead {
    fn load(t: &TensorTable, prefix: &str, cout: usize) -> Result<Self, WeightsError> {
        Ok(Self {
            w1: t.get(&format!("{prefix}.0.weight"), [WIDTH, WIDTH / 2, 4, 4])?,
            b1: t.get(&format!("{prefix}.0.bias"), [WIDTH / 2])?,
            slope: t.get(&format!("{prefix}.1.weight"), [WIDTH / 2])?,
            w2: t.get(&format!("{prefix}.2.weight"), [WIDTH / 2, cout, 4, 4])?,
            b2: t.get(&format!("{prefix}.2.bias"), [cout])?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let options = || ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        let x = conv_transpose2d(x, self.w1.clone(), Some(self.b1.clone()), options());
        let x = activation::prelu(x, self.slope.clone());
        conv_transpose2d(x, self.w2.clone(), Some(self.b2.clone()), options())
    }
}

struct IfBlock {
    conv0: [ConvPrelu; 2],
    convblocks: Vec<[ConvPrelu; 2]>,
    flow_head: UpHead,
    mask_head: UpHead,
}

fn resize(x: Tensor<4>, h: usize, w: usize) -> Tensor<4> {
    let [_, _, xh, xw] = x.dims();
    if (xh, xw) == (h, w) {
        return x;
    }
    // Half-pixel bilinear without antialiasing: PyTorch's `interpolate(align_corners=False)`.
    let options = InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false).with_output_size([h, w]);
    interpolate(x, options)
}

impl IfBlock {
    /// Block `name` (e.g. `block0`) from a table whose names lack the `module.` prefix.
    fn load(t: &TensorTable, name: &str) -> Result<Self, WeightsError> {
        let conv0 = [
            ConvPrelu::load(t, &format!("{name}.conv0.0"), BLOCK_IN, WIDTH / 2, 2)?,
            ConvPrelu::load(t, &format!("{name}.conv0.1"), WIDTH / 2, WIDTH, 2)?,
        ];
        let convblocks = (0..4)
            .map(|k| {
                Ok([
                    ConvPrelu::load(t, &format!("{name}.convblock{k}.0"), WIDTH, WIDTH, 1)?,
                    ConvPrelu::load(t, &format!("{name}.convblock{k}.1"), WIDTH, WIDTH, 1)?,
                ])
            })
            .collect::<Result<Vec<_>, WeightsError>>()?;
        Ok(Self {
            conv0,
            convblocks,
            flow_head: UpHead::load(t, &format!("{name}.conv1"), 4)?,
            mask_head: UpHead::load(t, &format!("{name}.conv2"), 1)?,
        })
    }

    /// (flow [N,4,H,W], mask [N,1,H,W]) from the block input x [N,7,H,W] and the current flow.
    fn forward(&self, x: Tensor<4>, flow: Tensor<4>, scale: usize) -> (Tensor<4>, Tensor<4>) {
        let [_, _, h, w] = x.dims();
        let (sh, sw) = (h / scale, w / scale);
        let x = resize(x, sh, sw);
        let flow = resize(flow, sh, sw) / scale as f32;
        let mut feat = Tensor::cat(vec![x, flow], 1);
        for c in &self.conv0 {
            feat = c.forward(feat);
        }
        for [a, b] in &self.convblocks {
            feat = b.forward(a.forward(feat.clone())) + feat;
        }
        let flow = resize(self.flow_head.forward(feat.clone()), h, w) * scale as f32;
        let mask = resize(self.mask_head.forward(feat), h, w);
        (flow, mask)
    }
}

/// The IFNet with its weights on a device.
pub struct Rife {
    blocks: Vec<IfBlock>,
    device: Device,
}

/// Intermediate results of one run, for checks against the reference.
pub struct RifeOutput {
    /// [N, C, H, W] middle frames.
    pub merged: Tensor<4>,
    /// Accumulated flow after each block, [N, 4, H, W] (dx0, dy0, dx1, dy1 in pixels).
    pub flows: Vec<Tensor<4>>,
    /// σ(mask) after each block, [N, 1, H, W].
    pub masks: Vec<Tensor<4>>,
    /// The fused frame after each block (the last equals `merged`).
    pub merged_per_block: Vec<Tensor<4>>,
}

/// Every tensor the inference network reads (names without the `module.` prefix) with its shape.
pub fn expected_tensors() -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    for b in 0..3 {
        let mut conv = |name: String, cin: usize, cout: usize| {
            out.push((format!("{name}.0.weight"), vec![cout, cin, 3, 3]));
            out.push((format!("{name}.0.bias"), vec![cout]));
            out.push((format!("{name}.1.weight"), vec![cout]));
        };
        conv(format!("block{b}.conv0.0"), BLOCK_IN, WIDTH / 2);
        conv(format!("block{b}.conv0.1"), WIDTH / 2, WIDTH);
        for k in 0..4 {
            conv(format!("block{b}.convblock{k}.0"), WIDTH, WIDTH);
            conv(format!("block{b}.convblock{k}.1"), WIDTH, WIDTH);
        }
        for (head, cout) in [("conv1", 4), ("conv2", 1)] {
            let p = format!("block{b}.{head}");
            out.push((format!("{p}.0.weight"), vec![WIDTH, WIDTH / 2, 4, 4]));
            out.push((format!("{p}.0.bias"), vec![WIDTH / 2]));
            out.push((format!("{p}.1.weight"), vec![WIDTH / 2]));
            out.push((format!("{p}.2.weight"), vec![WIDTH / 2, cout, 4, 4]));
            out.push((format!("{p}.2.bias"), vec![cout]));
        }
    }
    out
}

impl Rife {
    /// The network with seeded random weights (U(±1/√fan_in), PReLU slopes 0.25): for benchmarks.
    pub fn random(seed: u64, device: &Device) -> Self {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let state: HashMap<String, NamedTensor> = expected_tensors()
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let values = if name.ends_with(".1.weight") && shape.len() == 1 {
                    vec![0.25; n]
                } else {
                    let fan_in = if shape.len() == 4 { shape[1] * shape[2] * shape[3] } else { WIDTH };
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
                };
                (format!("module.{name}"), NamedTensor { shape, values })
            })
            .collect();
        Self::from_state_dict(&state, Path::new("(random)"), device).expect("random weights have the expected shapes")
    }

    /// Builds the network from a state dict read by [`crate::weights::read_any`] (`path` is named
    /// in errors).
    pub fn from_state_dict(
        state: &HashMap<String, NamedTensor>,
        path: &Path,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let table = TensorTable::new(state, strip_ddp_prefix, path, MODEL_NAME, device);
        if table.is_empty() {
            return Err(table.mismatch("no tensor has the `module.` prefix of flownet.pkl".into()));
        }
        Self::from_table(&table, device)
    }

    fn from_table(table: &TensorTable, device: &Device) -> Result<Self, WeightsError> {
        let blocks = (0..3).map(|i| IfBlock::load(table, &format!("block{i}"))).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { blocks, device: device.clone() })
    }

    /// Whether `path` holds every tensor this loader asks for, in its shape — from the file's header
    /// alone, before a download is installed (hubs carry many RIFE versions as `flownet.pkl`).
    pub fn check_weights(path: &Path) -> Result<(), String> {
        let file = crate::weights::read_shapes(path, None).map_err(|e| e.to_string())?;
        let device = Device::flex();
        let recorder = TensorTable::recorder(MODEL_NAME, &device);
        Self::from_table(&recorder, &device).map_err(|e| e.to_string())?;
        crate::weights::check_against_loader(&file, strip_ddp_prefix, &recorder.requests())
    }

    /// Loads `flownet.pkl` (or a safetensors file with the same names).
    pub fn load(path: &Path, device: &Device) -> Result<Self, WeightsError> {
        let state = crate::weights::read_any(path, None)?;
        Self::from_state_dict(&state, path, device)
    }

    /// Samples `img` [N,C,H,W] at pixel + `flow` [N,2,H,W] (bilinear, border clamped).
    fn warp(img: Tensor<4>, flow: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = img.dims();
        let device = img.device();
        let xs: Vec<f32> = (0..w).map(|x| -1.0 + 2.0 * x as f32 / (w - 1).max(1) as f32).collect();
        let ys: Vec<f32> = (0..h).map(|y| -1.0 + 2.0 * y as f32 / (h - 1).max(1) as f32).collect();
        let base: Vec<f32> = (0..h * w).flat_map(|i| [xs[i % w], ys[i / w]]).collect();
        let base = Tensor::<4>::from_data(TensorData::new(base, [1, h, w, 2]), &device);
        let norm = Tensor::<1>::from_data(
            TensorData::new(vec![2.0 / (w - 1).max(1) as f32, 2.0 / (h - 1).max(1) as f32], [2]),
            &device,
        )
        .reshape([1, 1, 1, 2]);
        let grid = base + flow.permute([0, 2, 3, 1]) * norm;
        let options = GridSampleOptions::new(InterpolateMode::Bilinear)
            .with_padding_mode(GridSamplePaddingMode::Border)
            .with_align_corners(true);
        img.grid_sample_2d(grid, options)
    }

    /// Runs the IFNet on `img0`, `img1` [N, C ≥ 3, H, W] with H, W multiples of 32.
    pub fn forward(&self, img0: Tensor<4>, img1: Tensor<4>) -> RifeOutput {
        let [n, c, h, w] = img0.dims();
        assert!(c >= 3 && h % PAD_TO == 0 && w % PAD_TO == 0, "RIFE needs ≥3 channels and sizes a multiple of 32");
        let device = img0.device();
        let mut flow = Tensor::<4>::zeros([n, 4, h, w], &device);
        let mut mask = Tensor::<4>::zeros([n, 1, h, w], &device);
        let (mut warped0, mut warped1) = (img0.clone(), img1.clone());
        let mut out =
            RifeOutput { merged: img0.clone(), flows: Vec::new(), masks: Vec::new(), merged_per_block: Vec::new() };
        let swap = |f: Tensor<4>| Tensor::cat(vec![f.clone().narrow(1, 2, 2), f.narrow(1, 0, 2)], 1);
        for (block, &scale) in self.blocks.iter().zip(&SCALES) {
            let rgb0 = warped0.clone().narrow(1, 0, 3);
            let rgb1 = warped1.clone().narrow(1, 0, 3);
            // Both directions in one batch: (I0, I1, mask, flow) and (I1, I0, −mask, swapped flow).
            let x = Tensor::cat(
                vec![
                    Tensor::cat(vec![rgb0.clone(), rgb1.clone(), mask.clone()], 1),
                    Tensor::cat(vec![rgb1, rgb0, -mask.clone()], 1),
                ],
                0,
            );
            let f = Tensor::cat(vec![flow.clone(), swap(flow.clone())], 0);
            let (df, dm) = block.forward(x, f, scale);
            let (f0, f1) = (df.clone().narrow(0, 0, n), df.narrow(0, n, n));
            let (m0, m1) = (dm.clone().narrow(0, 0, n), dm.narrow(0, n, n));
            flow = flow + (f0 + swap(f1)) / 2.0;
            mask = mask + (m0 - m1) / 2.0;
            warped0 = Self::warp(img0.clone(), flow.clone().narrow(1, 0, 2));
            warped1 = Self::warp(img1.clone(), flow.clone().narrow(1, 2, 2));
            let sigma = activation::sigmoid(mask.clone());
            let merged = warped0.clone() * sigma.clone() + warped1.clone() * (sigma.clone().neg() + 1.0);
            out.flows.push(flow.clone());
            out.masks.push(sigma);
            out.merged_per_block.push(merged);
        }
        out.merged = out.merged_per_block.last().expect("three blocks").clone();
        out
    }

    /// The middle frame of each pair (all planes warped alike, so alpha comes along), padding to a
    /// multiple of 32 and cropping back.
    pub fn midpoints(&self, pairs: &[(&Planes, &Planes)]) -> Vec<Planes> {
        if pairs.is_empty() {
            return Vec::new();
        }
        let (c, w, h) = (pairs[0].0.channels, pairs[0].0.width, pairs[0].0.height);
        let (pw, ph) = (w.div_ceil(PAD_TO) * PAD_TO, h.div_ceil(PAD_TO) * PAD_TO);
        let stack = |second: bool| {
            let mut data = vec![0.0f32; pairs.len() * c * ph * pw];
            for (k, pair) in pairs.iter().enumerate() {
                let p = if second { pair.1 } else { pair.0 };
                assert_eq!((p.channels, p.width, p.height), (c, w, h), "frames of one batch differ in size");
                for ch in 0..c {
                    for y in 0..h {
                        let dst = ((k * c + ch) * ph + y) * pw;
                        data[dst..dst + w].copy_from_slice(&p.plane(ch)[y * w..(y + 1) * w]);
                    }
                }
            }
            Tensor::<4>::from_data(TensorData::new(data, [pairs.len(), c, ph, pw]), &self.device)
        };
        let merged = self.forward(stack(false), stack(true)).merged;
        let values: Vec<f32> = merged.into_data().try_to_vec::<f32>().expect("f32 output");
        (0..pairs.len())
            .map(|k| {
                let mut p = Planes::zeros(c, w, h);
                for ch in 0..c {
                    for y in 0..h {
                        let src = ((k * c + ch) * ph + y) * pw;
                        p.plane_mut(ch)[y * w..(y + 1) * w].copy_from_slice(&values[src..src + w]);
                    }
                }
                p
            })
            .collect()
    }
}
