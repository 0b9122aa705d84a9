//! `efficient4d bench raster`: forward and forward+backward time per image of the WGSL rasterizer.

use super::{RasterView, Rasterizer};
use crate::camera::{Intrinsics, SyncDreamerRig};
use crate::gaussians::random::RandomScene;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct RasterBenchRow {
    pub gaussians: usize,
    pub resolution: u32,
    pub views_per_batch: usize,
    pub forward_ms_per_image: f64,
    pub forward_backward_ms_per_image: f64,
    /// Visible (view, Gaussian) pairs and tile/splat pairs per image, to judge the workload.
    pub visible_per_image: f64,
    pub tile_pairs_per_image: f64,
    /// Bytes of the rasterizer's own GPU buffers for one batch (forward + backward).
    pub gpu_buffer_mb: f64,
    pub iterations: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct RasterBench {
    pub device: String,
    pub rows: Vec<RasterBenchRow>,
    /// Peak resident memory of the process (on a CPU driver this includes "GPU" memory).
    pub peak_rss_mb: f64,
}

/// Peak resident set size of this process in MiB (Linux; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
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
pub fn bench_scene(gaussians: usize) -> crate::gaussians::Gaussians4d {
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

/// Runs one configuration: `iterations` timed batches after one warm-up batch.
pub fn bench_case(
    r: &Rasterizer,
    gaussians: usize,
    size: u32,
    views_per_batch: usize,
    iterations: usize,
) -> Result<RasterBenchRow, super::RasterError> {
    let params = r.upload(&bench_scene(gaussians))?;
    let batch = views(views_per_batch, size);
    let grads: Vec<f32> =
        (0..views_per_batch * (size * size) as usize * 4).map(|i| ((i % 13) as f32 - 6.0) * 1e-3).collect();
    let d_color = r.upload_pixel_grads(&grads);
    let (mut fwd, mut both) = (0.0, 0.0);
    let (mut visible, mut pairs, mut bytes) = (0u64, 0u64, 0u64);
    for it in 0..=iterations {
        let t0 = Instant::now();
        let out = r.forward(&params, &batch, false)?;
        wait(r);
        let t1 = Instant::now();
        let g = r.backward(&params, &out, &d_color)?;
        wait(r);
        let t2 = Instant::now();
        if it > 0 {
            fwd += (t1 - t0).as_secs_f64();
            both += (t2 - t0).as_secs_f64();
        }
        visible = out.visible_splats;
        pairs = out.tile_pairs;
        bytes = out.gpu_bytes() + g.0.gpu_bytes();
    }
    let per = 1e3 / (iterations * views_per_batch) as f64;
    Ok(RasterBenchRow {
        gaussians,
        resolution: size,
        views_per_batch,
        forward_ms_per_image: fwd * per,
        forward_backward_ms_per_image: both * per,
        visible_per_image: visible as f64 / views_per_batch as f64,
        tile_pairs_per_image: pairs as f64 / views_per_batch as f64,
        gpu_buffer_mb: bytes as f64 / (1 << 20) as f64,
        iterations,
    })
}

/// The grid: 10k / 50k / 200k Gaussians at 256² in batches of 16 views, and at 1024².
pub fn bench_raster(
    r: &Rasterizer,
    iterations: usize,
    progress: impl Fn(&RasterBenchRow),
) -> Result<RasterBench, super::RasterError> {
    let mut rows = Vec::new();
    for (size, batch) in [(256, 16), (1024, 1)] {
        for n in [10_000, 50_000, 200_000] {
            let row = bench_case(r, n, size, batch, iterations)?;
            progress(&row);
            rows.push(row);
        }
    }
    Ok(RasterBench { device: r.gpu().describe(), rows, peak_rss_mb: peak_rss_mb() })
}
