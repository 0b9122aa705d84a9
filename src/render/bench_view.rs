//! `efficient4d bench view`: the viewer's frame time — one view rendered by the rasterizer (forward
//! only) and, as the app does, read back for display — at 512² and 1920×1080 for 50k and 200k splats.
//! The camera orbits and time advances every frame, so no two frames are alike.

use super::bench::{bench_scene, peak_rss_mb, wait};
use super::{RasterView, Rasterizer};
use crate::camera::orbit::OrbitCamera;
use serde::Serialize;
use std::time::Instant;

#[derive(Clone, Debug, Serialize)]
pub struct ViewBenchRow {
    pub gaussians: usize,
    pub width: u32,
    pub height: u32,
    /// Rasterizer forward pass, submitted and finished.
    pub render_ms: f64,
    /// Render plus reading the image back to the CPU (what the app's viewport does today).
    pub frame_ms: f64,
    pub fps: f64,
    pub frames: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ViewBench {
    pub device: String,
    pub rows: Vec<ViewBenchRow>,
    pub peak_rss_mb: f64,
}

pub fn bench_view_case(
    r: &Rasterizer,
    gaussians: usize,
    width: u32,
    height: u32,
    frames: usize,
) -> Result<ViewBenchRow, super::RasterError> {
    let params = r.upload(&bench_scene(gaussians))?;
    let (mut render, mut total) = (0.0, 0.0);
    for i in 0..=frames {
        let orbit = OrbitCamera { azimuth_deg: i as f64 * 7.0, ..Default::default() };
        let view =
            RasterView { camera: orbit.camera(width, height), time: (i % 30) as f32 / 30.0, background: [1.0; 3] };
        let t0 = Instant::now();
        let out = r.forward(&params, &[view], false)?;
        wait(r);
        let t1 = Instant::now();
        let pixels = r.read_color(&out)?;
        std::hint::black_box(&pixels);
        let t2 = Instant::now();
        if i > 0 {
            render += (t1 - t0).as_secs_f64();
            total += (t2 - t0).as_secs_f64();
        }
    }
    let per = 1e3 / frames.max(1) as f64;
    Ok(ViewBenchRow {
        gaussians,
        width,
        height,
        render_ms: render * per,
        frame_ms: total * per,
        fps: 1e3 / (total * per).max(1e-9),
        frames,
    })
}

/// The grid: 50k and 200k splats at 512² and 1920×1080.
pub fn bench_view(
    r: &Rasterizer,
    frames: usize,
    progress: impl Fn(&ViewBenchRow),
) -> Result<ViewBench, super::RasterError> {
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
