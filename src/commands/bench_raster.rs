//! `efficient4d bench raster`: forward and forward+backward time per image of the WGSL rasterizer.

use efficient4d::camera::{Intrinsics, SyncDreamerRig};
use efficient4d::gaussians::random::RandomScene;
use efficient4d::render::gpu_buffers::GpuSlice;
use efficient4d::render::{GaussianBuffers, GradientBuffers, RasterError, RasterView, Rasterizer, Rendered};
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct RasterBenchRow {
    pub gaussians: usize,
    #[serde(flatten)]
    pub timing: BatchTiming,
    /// Bytes of the rasterizer's own GPU buffers for one batch (forward + backward).
    pub gpu_buffer_mb: f64,
    pub iterations: usize,
}

/// The rasterizer's time per image and its workload, for random clouds and trained models alike.
#[derive(Clone, Debug, Serialize)]
pub struct BatchTiming {
    pub resolution: u32,
    pub views_per_batch: usize,
    pub forward_ms_per_image: f64,
    pub forward_backward_ms_per_image: f64,
    /// Visible (view, Gaussian) pairs and tile/splat pairs per image, to judge the workload.
    pub visible_per_image: f64,
    pub tile_pairs_per_image: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RasterBench {
    pub device: String,
    pub rows: Vec<RasterBenchRow>,
    /// Peak resident memory of the process (on a CPU driver this includes "GPU" memory).
    pub peak_rss_mb: f64,
}

fn views(count: usize, size: u32) -> Vec<RasterView> {
    let rig = SyncDreamerRig::default();
    (0..count)
        .map(|i| {
            let mut camera = rig.camera((i % 16) as u32);
            let s = size as f64 / 256.0;
            camera.intrinsics =
                Intrinsics { fx: 280.0 * s, fy: 280.0 * s, cx: 128.0 * s, cy: 128.0 * s, width: size, height: size };
            RasterView { camera, time: (i / 16) as f32 / 4.0 + (i % 16) as f32 / 64.0, background: [1.0; 3] }
        })
        .collect()
}

/// Object-sized splats: ~1-3% of the object's extent, temporal scales covering ~a quarter of the clip.
pub fn bench_scene(gaussians: usize) -> efficient4d::gaussians::Gaussians4d {
    RandomScene {
        count: gaussians,
        seed: 42,
        radius: 0.45,
        log_scale: (-5.0, -3.8),
        log_scale_t: (-1.8, -0.8),
        opacity_logit: (-2.0, 3.0),
        sh_degree: 0,
    }
    .build()
}

pub(crate) fn wait(r: &Rasterizer) {
    let _ = r.gpu().device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None });
}

/// Fixed, small pixel gradients for `views` images of `size`² (the backward's input in the benchmarks).
fn bench_pixel_grads(r: &Rasterizer, views: usize, size: u32) -> GpuSlice {
    let grads: Vec<f32> = (0..views * (size * size) as usize * 4).map(|i| ((i % 13) as f32 - 6.0) * 1e-3).collect();
    r.upload_pixel_grads(&grads)
}

/// One forward and one backward pass of `batch`, each waited for: the outputs, and the seconds of the
/// forward and of both together.
fn timed_pass(
    r: &Rasterizer,
    params: &GaussianBuffers,
    batch: &[RasterView],
    d_color: &GpuSlice,
) -> Result<(Rendered, GradientBuffers, f64, f64), RasterError> {
    let t0 = Instant::now();
    let out = r.forward(params, batch, false)?;
    wait(r);
    let forward = t0.elapsed().as_secs_f64();
    let grads = r.backward(params, &out, d_color)?;
    wait(r);
    Ok((out, grads, forward, t0.elapsed().as_secs_f64()))
}

/// Runs one configuration: `iterations` timed batches after one warm-up batch.
pub fn bench_case(
    r: &Rasterizer,
    gaussians: usize,
    size: u32,
    views_per_batch: usize,
    iterations: usize,
) -> Result<RasterBenchRow, RasterError> {
    let params = r.upload(&bench_scene(gaussians))?;
    let batch = views(views_per_batch, size);
    let d_color = bench_pixel_grads(r, views_per_batch, size);
    let (mut fwd, mut both) = (0.0, 0.0);
    let (mut visible, mut pairs, mut bytes) = (0u64, 0u64, 0u64);
    for it in 0..=iterations {
        let (out, g, forward, forward_backward) = timed_pass(r, &params, &batch, &d_color)?;
        if it > 0 {
            fwd += forward;
            both += forward_backward;
        }
        visible = out.visible_splats.expect("a read-back pass counts");
        pairs = out.tile_pairs.expect("a read-back pass counts");
        bytes = out.gpu_bytes() + g.0.gpu_bytes();
    }
    let per = 1e3 / (iterations * views_per_batch) as f64;
    Ok(RasterBenchRow {
        gaussians,
        timing: BatchTiming {
            resolution: size,
            views_per_batch,
            forward_ms_per_image: fwd * per,
            forward_backward_ms_per_image: both * per,
            visible_per_image: visible as f64 / views_per_batch as f64,
            tile_pairs_per_image: pairs as f64 / views_per_batch as f64,
        },
        gpu_buffer_mb: bytes as f64 / (1 << 20) as f64,
        iterations,
    })
}

/// The grid: 10k / 50k / 200k Gaussians at 256² in batches of 16 views, and at 1024².
pub fn bench_raster(
    r: &Rasterizer,
    iterations: usize,
    progress: impl Fn(&RasterBenchRow),
) -> Result<RasterBench, RasterError> {
    let mut rows = Vec::new();
    for (size, batch) in [(256, 16), (1024, 1)] {
        for n in [10_000, 50_000, 200_000] {
            let row = bench_case(r, n, size, batch, iterations)?;
            progress(&row);
            rows.push(row);
        }
    }
    Ok(RasterBench { device: r.gpu().describe(), rows, peak_rss_mb: efficient4d::machine::peak_rss_mb() })
}

/// One trained model rendered as training renders it: what its images cost and why.
#[derive(Clone, Debug, Serialize)]
pub struct ModelBenchRow {
    pub model: String,
    pub splats: usize,
    #[serde(flatten)]
    pub timing: BatchTiming,
    /// Entries of a tile's depth-sorted list, on average over the tiles of every image.
    pub tile_list_mean: f64,
    /// Entries each pixel walked before it saturated or its list ended (mean over pixels).
    pub walked_per_pixel: f64,
    /// The largest walk of each tile, averaged over tiles: a tile's workgroup runs until its last
    /// pixel is done (forward) and replays to its deepest pixel (backward), so this is the work.
    pub walked_per_tile: f64,
    /// Share of pixels the model covers (alpha > 0.5).
    pub covered_share: f64,
    pub iterations: usize,
}

/// The rig's 16 views at times spread evenly over [0, 1] (a trained model's clip), `size`².
pub fn rig_views_over_clip(size: u32) -> Vec<RasterView> {
    views(16, size).into_iter().enumerate().map(|(i, v)| RasterView { time: i as f32 / 15.0, ..v }).collect()
}

/// Times a trained model over the rig's 16 views in batches of `views_per_batch` (forward, then
/// backward with fixed pixel gradients) and measures the list walks that make up the work.
pub fn bench_model(
    r: &Rasterizer,
    model: &str,
    g: &efficient4d::gaussians::Gaussians4d,
    size: u32,
    views_per_batch: usize,
    iterations: usize,
) -> Result<ModelBenchRow, RasterError> {
    let params = r.upload(g)?;
    let all = rig_views_over_clip(size);
    let d_color = bench_pixel_grads(r, views_per_batch, size);
    let tiles = size.div_ceil(16) as usize;
    let (mut fwd, mut both) = (0.0, 0.0);
    let (mut visible, mut pairs) = (0u64, 0u64);
    let (mut walked_pixels, mut walked_tiles, mut covered) = (0u64, 0u64, 0u64);
    for it in 0..=iterations {
        for batch in all.chunks(views_per_batch) {
            let (out, _, forward, forward_backward) = timed_pass(r, &params, batch, &d_color)?;
            if it > 0 {
                fwd += forward;
                both += forward_backward;
                continue;
            }
            // The first (warm-up) pass also measures the workload.
            visible += out.visible_splats.expect("a read-back pass counts");
            pairs += out.tile_pairs.expect("a read-back pass counts");
            let walked = r.read_walked(&out)?;
            let color = r.read_color(&out)?;
            covered += color.chunks_exact(4).filter(|p| p[3] > 0.5).count() as u64;
            walked_pixels += walked.iter().map(|&w| w as u64).sum::<u64>();
            let side = size as usize;
            for image in walked.chunks_exact(side * side) {
                for (ty, tx) in (0..tiles).flat_map(|ty| (0..tiles).map(move |tx| (ty, tx))) {
                    let deepest = (ty * 16..((ty + 1) * 16).min(side))
                        .flat_map(|y| (tx * 16..((tx + 1) * 16).min(side)).map(move |x| y * side + x))
                        .map(|p| image[p])
                        .max()
                        .unwrap_or(0);
                    walked_tiles += deepest as u64;
                }
            }
        }
    }
    let images = all.len() as f64;
    let pixels = images * (size * size) as f64;
    let per = 1e3 / (iterations as f64 * images);
    Ok(ModelBenchRow {
        model: model.to_string(),
        splats: g.len(),
        timing: BatchTiming {
            resolution: size,
            views_per_batch,
            forward_ms_per_image: fwd * per,
            forward_backward_ms_per_image: both * per,
            visible_per_image: visible as f64 / images,
            tile_pairs_per_image: pairs as f64 / images,
        },
        tile_list_mean: pairs as f64 / (images * (tiles * tiles) as f64),
        walked_per_pixel: walked_pixels as f64 / pixels,
        walked_per_tile: walked_tiles as f64 / (images * (tiles * tiles) as f64),
        covered_share: covered as f64 / pixels,
        iterations,
    })
}
