//! `efficient4d bench view`: the viewer's frame time — one view rendered by the rasterizer (forward
//! only), then shown either the app's zero-copy way (counts kept on the GPU, a compute pass writes
//! the image into the texture egui draws: nothing mapped) or the read-back way (counts and image
//! copied to the CPU, converted to RGBA8 and uploaded again as a texture, what the viewport did
//! before) — at 512² and 1920×1080 for 50k and 200k splats. The camera orbits and time advances
//! every frame, so no two frames are alike.

use super::bench_raster::{bench_scene, wait};
use efficient4d::camera::orbit::OrbitCamera;
use efficient4d::machine::peak_rss_mb;
use efficient4d::render::present::Presenter;
use efficient4d::render::{Counting, RasterView, Rasterizer};
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct ViewBenchRow {
    pub gaussians: usize,
    pub width: u32,
    pub height: u32,
    /// Rasterizer forward pass with its counts kept on the GPU, submitted and finished.
    pub render_ms: f64,
    /// Render, then written into the displayed texture on the GPU (the app's frame path).
    pub zero_copy_frame_ms: f64,
    /// Render with counts read back, image read back, converted to RGBA8 and uploaded into a
    /// texture again (the old path).
    pub readback_frame_ms: f64,
    /// Bytes mapped per frame on each path.
    pub zero_copy_mapped_bytes: f64,
    pub readback_mapped_bytes: f64,
    /// (tile, splat) pairs of the last frame, and the slots the GPU-counted pass reserved for them.
    pub tile_pairs: u32,
    pub pair_capacity: u32,
    /// Frames per second of the zero-copy path.
    pub fps: f64,
    pub frames: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ViewBench {
    pub device: String,
    pub rows: Vec<ViewBenchRow>,
    pub peak_rss_mb: f64,
}

fn frame_view(i: usize, width: u32, height: u32) -> RasterView {
    let orbit = OrbitCamera { azimuth_deg: i as f64 * 7.0, ..Default::default() };
    RasterView { camera: orbit.camera(width, height), time: (i % 30) as f32 / 30.0, background: [1.0; 3] }
}

pub fn bench_view_case(
    r: &Rasterizer,
    gaussians: usize,
    width: u32,
    height: u32,
    frames: usize,
) -> Result<ViewBenchRow, efficient4d::render::RasterError> {
    let params = r.upload(&bench_scene(gaussians))?;
    let presenter = Presenter::new(r.gpu().clone());
    let target = presenter.target((width, height));
    let gpu = r.gpu();
    let (mut render, mut zero_copy, mut readback) = (0.0, 0.0, 0.0);
    let mapped_before = r.readback_bytes();
    let mut last = None;
    // Frame 0 of each path warms up (pipelines, allocations) and is not counted.
    for i in 0..=frames {
        let t0 = Instant::now();
        let out = r.forward_with(&params, &[frame_view(i, width, height)], false, None, Counting::OnGpu)?;
        wait(r);
        let t1 = Instant::now();
        presenter.present(&out, 0, &target).map_err(efficient4d::render::RasterError::Gpu)?;
        wait(r);
        if i > 0 {
            render += (t1 - t0).as_secs_f64();
            zero_copy += t0.elapsed().as_secs_f64();
        }
        last = Some(out);
    }
    let zero_copy_mapped = r.readback_bytes() - mapped_before;
    let counts = r.read_counts(&last.expect("at least one frame"))?;
    let mapped_before = r.readback_bytes();
    for i in 0..=frames {
        let t0 = Instant::now();
        let out = r.forward(&params, &[frame_view(i, width, height)], false)?;
        let pixels = efficient4d::render::opaque_rgba8(&r.read_color(&out)?);
        gpu.queue.write_texture(
            target.texture.as_image_copy(),
            &pixels,
            wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(width * 4), rows_per_image: Some(height) },
            wgpu::Extent3d { width, height, depth_or_array_layers: 1 },
        );
        gpu.queue.submit([]);
        wait(r);
        if i > 0 {
            readback += t0.elapsed().as_secs_f64();
        }
    }
    let readback_mapped = r.readback_bytes() - mapped_before;
    let per = 1e3 / frames.max(1) as f64;
    let per_frame = |bytes: u64| bytes as f64 / (frames + 1) as f64;
    Ok(ViewBenchRow {
        gaussians,
        width,
        height,
        render_ms: render * per,
        zero_copy_frame_ms: zero_copy * per,
        readback_frame_ms: readback * per,
        zero_copy_mapped_bytes: per_frame(zero_copy_mapped),
        readback_mapped_bytes: per_frame(readback_mapped),
        tile_pairs: counts.iter().map(|c| c.pairs).sum(),
        pair_capacity: counts.iter().map(|c| c.pair_capacity).sum(),
        fps: 1e3 / (zero_copy * per).max(1e-9),
        frames,
    })
}

/// The grid: 50k and 200k splats at 512² and 1920×1080.
pub fn bench_view(
    r: &Rasterizer,
    frames: usize,
    progress: impl Fn(&ViewBenchRow),
) -> Result<ViewBench, efficient4d::render::RasterError> {
    let mut rows = Vec::new();
    for (w, h) in [(512, 512), (1920, 1080)] {
        for n in [50_000, 200_000] {
            let row = bench_view_case(r, n, w, h, frames)?;
            progress(&row);
            rows.push(row);
        }
    }
    Ok(ViewBench { device: r.gpu().describe(), rows, peak_rss_mb: peak_rss_mb() })
}
