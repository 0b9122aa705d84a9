//! `efficient4d gpu --check`: is this GPU and driver computing the right thing? On the current
//! adapter, in every shader variant it can run (subgroup reductions or not, native f32 atomics or
//! the compare-and-swap fallback), the rasterizer's forward and backward on small fixed scenes
//! against the f64 CPU reference; the fused loss against the burn version; one step of the burn
//! op against the rasterizer it wraps; and the demo creature's 16 rig views at 256² against a stored
//! image. Each check gives its error and the tolerance it must stay under.

use crate::gaussians::Gaussians4d;
use crate::gaussians::random::RandomScene;
use crate::gpu::GpuContext;
use crate::render::compare::{
    ImageDiff, group_errors, image_diff, reference_gradients, reference_image, rig_view, test_pixel_grads,
};
use crate::render::shaders::ShaderFeatures;
use crate::render::{Counting, RasterView, Rasterizer};
use anyhow::Context;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The stored render: the demo creature at t = 0.5, the rig's 16 views at 256² on white, 4 × 4.
pub(crate) const STORED_RENDER: &[u8] = include_bytes!("../assets/gpu_check/creature_16_views.png");
const STORED_SIDE: u32 = 256;
const STORED_TIME: f32 = 0.5;
/// 8-bit channels of the stored render: at most this share may differ by more than 2 levels (a splat
/// at the alpha cut-off flips between devices), and the mean difference stays under a tenth of a level.
const STORED_MAX_SHARE_OVER_2: f64 = 1e-3;
const STORED_MEAN_LEVELS: f64 = 0.1;

/// One check: what was compared, its error and the tolerance it must stay under.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub error: f64,
    pub tolerance: f64,
    pub passed: bool,
    /// Where the worst error is, the other figures of the rule.
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    pub device: String,
    pub checks: Vec<Check>,
    pub seconds: f64,
}

impl CheckReport {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// One line per check, then the verdict.
    pub fn describe(&self) -> String {
        let mut out = format!("gpu check on {}\n", self.device);
        for c in &self.checks {
            out += &format!(
                "  {}  {:<58} error {:<10.3e} tolerance {:<8.1e} {}\n",
                if c.passed { "pass" } else { "FAIL" },
                c.name,
                c.error,
                c.tolerance,
                c.detail
            );
        }
        let failed = self.checks.iter().filter(|c| !c.passed).count();
        out += &match failed {
            0 => format!("all {} checks passed in {:.1} s", self.checks.len(), self.seconds),
            n => format!("{n} of {} checks FAILED ({:.1} s)", self.checks.len(), self.seconds),
        };
        out
    }
}

/// The shader variants `gpu` can run: the plain one always, subgroups and f32 atomics where offered.
pub fn shader_variants(gpu: &GpuContext) -> Vec<ShaderFeatures> {
    let caps = gpu.caps;
    let mut v = vec![ShaderFeatures { subgroups: false, float_atomics: false }];
    if caps.subgroups {
        v.push(ShaderFeatures { subgroups: true, float_atomics: false });
    }
    if caps.float_atomics {
        v.push(ShaderFeatures { subgroups: false, float_atomics: true });
    }
    if caps.subgroups && caps.float_atomics {
        v.push(ShaderFeatures { subgroups: true, float_atomics: true });
    }
    v
}

fn variant_name(f: ShaderFeatures) -> String {
    let reduce = if f.subgroups { "subgroups" } else { "no subgroups" };
    let atomics = if f.float_atomics { "f32 atomics" } else { "CAS atomics" };
    format!("{reduce}, {atomics}")
}

const BG: [f32; 3] = [1.0, 0.9, 0.8];

/// Small scenes whose forward pass is compared pixel by pixel: random splats at odd sizes (partial
/// edge tiles), view-dependent colour, tiny / huge / overlapping / out-of-time splats.
fn forward_scenes() -> Vec<(&'static str, Gaussians4d, Vec<RasterView>)> {
    let views = |list: &[(u32, f32)], size: (u32, u32)| list.iter().map(|&(v, t)| rig_view(v, t, size, BG)).collect();
    let mut edge =
        RandomScene { count: 1200, seed: 9, radius: 0.08, log_scale: (-3.5, -2.0), ..Default::default() }.build();
    for i in 0..20 {
        edge.log_scales[i * 4..i * 4 + 3].copy_from_slice(&[-8.0; 3]);
    }
    for i in 20..24 {
        edge.log_scales[i * 4..i * 4 + 3].copy_from_slice(&[0.3, 0.2, 0.4]);
        edge.opacity[i] = -3.0;
    }
    vec![
        (
            "random",
            RandomScene { count: 1500, seed: 7, ..Default::default() }.build(),
            views(&[(0, 0.1), (3, 0.5), (9, 0.93)], (45, 37)),
        ),
        (
            "view-dependent colour",
            RandomScene { count: 600, seed: 8, sh_degree: 3, ..Default::default() }.build(),
            views(&[(1, 0.3), (12, 0.7)], (64, 48)),
        ),
        ("tiny, huge, out of time", edge, views(&[(2, 0.5), (5, -0.4), (7, 2.5)], (50, 50))),
    ]
}

fn forward_check(
    rast: &Rasterizer,
    variant: &str,
    scenes: &[(&str, Gaussians4d, Vec<RasterView>)],
) -> anyhow::Result<Check> {
    let mut worst = ImageDiff::default();
    let mut worst_at = String::new();
    for (name, gs, views) in scenes {
        let img = rast.read_color(&rast.forward(&rast.upload(gs)?, views, false)?)?;
        let mut offset = 0;
        for (i, v) in views.iter().enumerate() {
            let px = (v.camera.intrinsics.width * v.camera.intrinsics.height) as usize * 4;
            let d = image_diff(&img[offset..offset + px], &reference_image(gs, v));
            offset += px;
            if d.max >= worst.max {
                worst_at = format!("{name}, view {i}");
            }
            worst = worst.worst(d);
        }
    }
    Ok(Check {
        name: format!("forward vs f64 reference ({variant})"),
        error: worst.max,
        tolerance: ImageDiff::MAX,
        passed: worst.passes(),
        detail: format!(
            "worst at {worst_at}; mean {:.1e} (< {:.0e}), {:.3} % off by > 1e-3 (< {} %)",
            worst.mean,
            ImageDiff::MEAN,
            worst.frac_over_1e3 * 100.0,
            ImageDiff::FRAC_OVER_1E3 * 100.0
        ),
    })
}

/// The viewer's forward pass (counts kept on the GPU, sorts dispatched indirectly) against the
/// read-back one: the same kernels on the same data, so the images must be bit-identical. A scene
/// with over 2^17 tile pairs makes the sorts' scans take several levels.
fn gpu_counted_check(rast: &Rasterizer, scenes: &[(&str, Gaussians4d, Vec<RasterView>)]) -> anyhow::Result<Check> {
    let big = RandomScene { count: 20_000, seed: 22, ..Default::default() }.build();
    let big_views = [(1, 0.2), (6, 0.6)].iter().map(|&(v, t)| rig_view(v, t, (256, 256), BG)).collect();
    let (mut worst, mut worst_at, mut pairs) = (0.0f64, String::from("-"), 0u64);
    for (name, gs, views) in scenes.iter().map(|(n, g, v)| (*n, g, v)).chain([("20k splats at 256²", &big, &big_views)])
    {
        let params = rast.upload(gs)?;
        let read_back = rast.forward(&params, views, false)?;
        let on_gpu = rast.forward_with(&params, views, false, None, Counting::OnGpu)?;
        pairs = pairs.max(read_back.tile_pairs.unwrap_or(0));
        let (a, b) = (rast.read_color(&read_back)?, rast.read_color(&on_gpu)?);
        let diff = a.iter().zip(&b).map(|(x, y)| (x - y).abs() as f64).fold(0.0, f64::max);
        if diff > worst || worst_at == "-" && diff > 0.0 {
            (worst, worst_at) = (diff, name.to_string());
        }
    }
    Ok(Check {
        name: "viewer pass (counts on the GPU) vs read-back pass".into(),
        error: worst,
        tolerance: 0.0,
        passed: worst == 0.0,
        detail: format!("bit-identical expected; worst at {worst_at}; up to {pairs} tile pairs"),
    })
}

/// A scene whose gradients are compared with the reference's exact backward (itself checked by
/// finite differences in the tests).
pub fn backward_scene() -> (Gaussians4d, Vec<RasterView>) {
    let gs = RandomScene {
        count: 250,
        seed: 21,
        radius: 0.35,
        log_scale: (-3.2, -2.2),
        opacity_logit: (-1.0, 1.5),
        ..Default::default()
    }
    .build();
    let views = [(0, 0.2), (5, 0.55), (11, 0.9)].iter().map(|&(v, t)| rig_view(v, t, (37, 29), BG)).collect();
    (gs, views)
}

fn backward_check(
    rast: &Rasterizer,
    variant: &str,
    (gs, views): &(Gaussians4d, Vec<RasterView>),
    want: &[crate::gaussians::math::GaussianGrad],
) -> anyhow::Result<Check> {
    let px: usize = views.iter().map(|v| (v.camera.intrinsics.width * v.camera.intrinsics.height) as usize).sum();
    let d = test_pixel_grads(1, px);
    let params = rast.upload(gs)?;
    let out = rast.forward(&params, views, false)?;
    let got = rast.download(&rast.backward(&params, &out, &rast.upload_pixel_grads(&d))?.0)?;
    let errors = group_errors(&got, want);
    let worst = errors.iter().copied().max_by(|a, b| a.worst.total_cmp(&b.worst)).context("no gradient groups")?;
    Ok(Check {
        name: format!("backward vs f64 reference ({variant})"),
        error: worst.worst,
        tolerance: 1.0,
        passed: worst.worst <= 1.0,
        detail: format!(
            "in tolerance units (1e-4 of the group's scale + 1e-3 of the value); worst {}[{}]: {:.4e} vs {:.4e}",
            worst.group, worst.index, worst.got, worst.want
        ),
    })
}

/// The fused WGSL loss (L1 + D-SSIM + mask, confidence-weighted) against the burn version, value
/// and gradient.
pub fn fused_loss_check(gpu: &Arc<GpuContext>, rast: &Arc<Rasterizer>) -> anyhow::Result<Check> {
    use crate::render::burn_op::{LossSpec, fused_loss};
    use crate::train::loss::{LossWeights, photometric_loss};
    use burn::tensor::{Tensor, TensorData};
    let device = gpu.burn_device()?.autodiff();
    // Not multiples of the blur's 32-pixel segments, several segments per line.
    let (b, h, w) = (2, 45, 70);
    let n = b * h * w;
    let noise = |i: usize, k: usize| ((i * 7919 + k * 104729) % 1000) as f32 / 1000.0;
    let rendered: Vec<f32> = (0..n * 4).map(|i| noise(i, 1)).collect();
    let target: Vec<f32> = (0..n * 4).map(|i| noise(i, 2) * 0.5 + rendered[i] * 0.5).collect();
    let conf: Vec<f32> = (0..n).map(|i| if i % 5 == 0 { 0.2 } else { 1.0 }).collect();
    let weights = LossWeights { ssim: 0.2, mask: 0.3, ..Default::default() };
    let t4 = |v: &[f32], c: usize| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [b, h, w, c]), &device);
    let x = t4(&rendered, 4).require_grad();
    let reference = photometric_loss(x.clone(), t4(&target, 4), t4(&conf, 1), weights);
    let g_ref = reference.total.clone().backward();
    let want_grad: Vec<f32> = x.grad(&g_ref).context("burn gradient")?.into_data().try_to_vec::<f32>()?;
    let want: Vec<f32> = [reference.total, reference.l1, reference.ssim, reference.mask]
        .map(|t| t.inner().into_scalar::<f32>())
        .to_vec();
    let y = t4(&rendered, 4).require_grad();
    let spec = LossSpec { rasterizer: rast.clone(), ssim_weight: weights.ssim, mask_weight: weights.mask };
    let (total, parts) = fused_loss(y.clone(), t4(&target, 4), t4(&conf, 1), &spec);
    let g = total.sum().backward();
    let got_grad: Vec<f32> = y.grad(&g).context("fused gradient")?.into_data().try_to_vec::<f32>()?;
    let got: Vec<f32> = parts.inner().into_data().try_to_vec::<f32>()?;
    // In tolerance units: 1e-5 relative for the loss values, 1e-3 of the largest gradient.
    let value_err = got.iter().zip(&want).map(|(g, w)| ((g - w).abs() / (1e-5 * (1.0 + w.abs()))) as f64);
    let scale = want_grad.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    let grad_err = got_grad.iter().zip(&want_grad).map(|(a, r)| ((a - r).abs() / (1e-3 * scale)) as f64);
    let worst = value_err.chain(grad_err).map(|e| if e.is_nan() { f64::INFINITY } else { e }).fold(0.0, f64::max);
    Ok(Check {
        name: "fused loss vs burn (value and gradient)".into(),
        error: worst,
        tolerance: 1.0,
        passed: worst <= 1.0 && got.len() == 4 && got_grad.len() == want_grad.len(),
        detail: format!(
            "in tolerance units (values 1e-5 relative, gradient 1e-3 of its scale); total {} vs {}",
            got[0], want[0]
        ),
    })
}

/// One step of the burn autodiff op (render, a linear loss, backward) against the rasterizer
/// called directly: the same image bit for bit, the same gradients, and the backward reusing the
/// forward's tile lists (kept between the two, released after) rather than rendering again.
pub fn burn_op_check(gpu: &Arc<GpuContext>, rast: &Arc<Rasterizer>) -> anyhow::Result<Check> {
    use crate::render::burn_op::{SplatBatch, SplatParams, render_splats};
    use burn::tensor::{Tensor, TensorData};
    let gs = RandomScene { count: 300, seed: 31, ..Default::default() }.build();
    let views: Vec<RasterView> = [(0, 0.3), (7, 0.6)].iter().map(|&(v, t)| rig_view(v, t, (40, 36), BG)).collect();
    let device = gpu.burn_device()?.autodiff();
    let n = gs.len();
    let t2 =
        |v: &[f32], cols: usize| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [n, cols]), &device).require_grad();
    let params = SplatParams {
        means: t2(&gs.means, 4),
        log_scales: t2(&gs.log_scales, 4),
        rot_left: t2(&gs.rot_left, 4),
        rot_right: t2(&gs.rot_right, 4),
        opacity: t2(&gs.opacity, 1),
        sh: t2(&gs.sh, gs.sh_stride()),
    };
    let batch = SplatBatch::new(rast.clone(), Arc::new(views.clone()), 0);
    let image = render_splats(&params, &batch);
    let weights = test_pixel_grads(2, 40 * 36);
    let w = Tensor::<4>::from_data(TensorData::new(weights.clone(), [2, 36, 40, 4]), &device);
    let loss = (image.clone() * w).sum();
    // burn runs lazily: reading the loss runs the forward, which keeps its tile lists for the backward.
    let _: f32 = loss.clone().inner().into_scalar();
    let kept_forward = batch.holds_forward_state();
    let grads = loss.backward();
    let p = rast.upload(&gs)?;
    let out = rast.forward(&p, &views, false)?;
    let direct_image = rast.read_color(&out)?;
    let via_burn: Vec<f32> = image.into_data().try_to_vec::<f32>()?;
    let image_same = via_burn.len() == direct_image.len()
        && via_burn.iter().zip(&direct_image).all(|(a, b)| a.to_bits() == b.to_bits());
    let direct = rast.download(&rast.backward(&p, &out, &rast.upload_pixel_grads(&weights))?.0)?;
    let mut worst = 0.0f64;
    for (t, want) in [
        (&params.means, &direct.means),
        (&params.log_scales, &direct.log_scales),
        (&params.rot_left, &direct.rot_left),
        (&params.rot_right, &direct.rot_right),
        (&params.opacity, &direct.opacity),
        (&params.sh, &direct.sh),
    ] {
        let got: Vec<f32> = t.grad(&grads).context("a parameter got no gradient")?.into_data().try_to_vec::<f32>()?;
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
        for (g, w) in got.iter().zip(want) {
            let e = ((g - w).abs() / (1e-4 * scale)) as f64;
            worst = worst.max(if e.is_nan() { f64::INFINITY } else { e });
        }
    }
    // Read after the gradients were, so the (lazy) backward has run.
    let released = !batch.holds_forward_state();
    Ok(Check {
        name: "burn op step vs the rasterizer".into(),
        error: worst,
        tolerance: 1.0,
        passed: worst <= 1.0 && image_same && kept_forward && released,
        detail: format!(
            "gradients in units of 1e-4 of each group's scale; image {}; forward state {}",
            if image_same { "bit-identical" } else { "DIFFERS" },
            match (kept_forward, released) {
                (true, true) => "kept for the backward, then released",
                (false, _) => "NOT KEPT (the backward renders again)",
                (true, false) => "NOT RELEASED",
            }
        ),
    })
}

/// The demo creature's 16 rig views at 256², as a 4 × 4 grid of opaque RGBA8 on white.
pub(crate) fn creature_grid(rast: &Rasterizer) -> anyhow::Result<image::RgbaImage> {
    let g = crate::generate::demo::creature(STORED_TIME as f64);
    let views: Vec<RasterView> =
        (0..16).map(|v| rig_view(v, STORED_TIME, (STORED_SIDE, STORED_SIDE), [1.0; 3])).collect();
    let rgba = crate::render::opaque_rgba8(&rast.read_color(&rast.forward(&rast.upload(&g)?, &views, false)?)?);
    let s = STORED_SIDE as usize;
    let mut grid = image::RgbaImage::new(STORED_SIDE * 4, STORED_SIDE * 4);
    for (v, chunk) in rgba.chunks_exact(s * s * 4).enumerate() {
        let (gx, gy) = ((v % 4) * s, (v / 4) * s);
        for (i, px) in chunk.chunks_exact(4).enumerate() {
            grid.put_pixel((gx + i % s) as u32, (gy + i / s) as u32, image::Rgba([px[0], px[1], px[2], px[3]]));
        }
    }
    Ok(grid)
}

fn stored_render_check(rast: &Rasterizer, save: Option<&Path>) -> anyhow::Result<Check> {
    let got = creature_grid(rast)?;
    if let Some(path) = save {
        let mut png = std::io::Cursor::new(Vec::new());
        got.write_to(&mut png, image::ImageFormat::Png)?;
        crate::atomic_file::write_atomically(path, png.get_ref())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let name = "16 views at 256² vs the stored render".to_string();
    let want = image::load_from_memory(STORED_RENDER)?.to_rgba8();
    if want.dimensions() != got.dimensions() {
        let detail = format!("the stored render is {:?}, this one {:?}", want.dimensions(), got.dimensions());
        return Ok(Check { name, error: 1.0, tolerance: STORED_MAX_SHARE_OVER_2, passed: false, detail });
    }
    let (mut over, mut sum, mut max, n) = (0usize, 0u64, 0u8, got.as_raw().len());
    for (a, b) in got.as_raw().iter().zip(want.as_raw()) {
        let d = a.abs_diff(*b);
        over += (d > 2) as usize;
        sum += d as u64;
        max = max.max(d);
    }
    let share = over as f64 / n as f64;
    let mean = sum as f64 / n as f64;
    Ok(Check {
        name,
        error: share,
        tolerance: STORED_MAX_SHARE_OVER_2,
        passed: share <= STORED_MAX_SHARE_OVER_2 && mean < STORED_MEAN_LEVELS,
        detail: format!(
            "share of 8-bit values off by > 2 levels; mean {mean:.3} levels (< {STORED_MEAN_LEVELS}), largest {max}"
        ),
    })
}

/// Runs every check on `gpu` (saving the stored-render check's image to `save_render` when given).
pub fn run_checks(gpu: &Arc<GpuContext>, save_render: Option<&Path>) -> anyhow::Result<CheckReport> {
    let start = Instant::now();
    let mut checks = Vec::new();
    let scenes = forward_scenes();
    let backward = backward_scene();
    let px: usize = backward.1.iter().map(|v| (v.camera.intrinsics.width * v.camera.intrinsics.height) as usize).sum();
    let want = reference_gradients(&backward.0, &backward.1, &test_pixel_grads(1, px));
    let chosen = ShaderFeatures::best_for(&gpu.caps);
    for f in shader_variants(gpu) {
        let rast = Rasterizer::with_features(gpu.clone(), f)?;
        let name = format!("{}{}", variant_name(f), if f == chosen { ", used" } else { "" });
        checks.push(forward_check(&rast, &name, &scenes)?);
        checks.push(backward_check(&rast, &name, &backward, &want)?);
    }
    let rast = Arc::new(Rasterizer::new(gpu.clone())?);
    checks.push(gpu_counted_check(&rast, &scenes)?);
    checks.push(fused_loss_check(gpu, &rast)?);
    checks.push(burn_op_check(gpu, &rast)?);
    checks.push(stored_render_check(&rast, save_render)?);
    Ok(CheckReport { device: gpu.describe(), checks, seconds: start.elapsed().as_secs_f64() })
}
