//! `bench interpolate`: time per interpolated frame at the matrix's 256², for the weights-free flow
//! and for RIFE (random weights: speed does not depend on them) on the device inference would use.

use efficient4d::gpu::GpuContext;
use efficient4d::interpolate::flow::FlowOptions;
use efficient4d::interpolate::planes::Planes;
use efficient4d::interpolate::rife::Rife;
use efficient4d::interpolate::sequence::Interpolator;
use std::time::Instant;

/// A smooth 256² RGBA test frame (a shaded disk at `shift` px), on white.
fn frame(shift: f32) -> Planes {
    let (w, h) = (256, 256);
    let mut p = Planes::zeros(4, w, h);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f32 - 110.0 - shift, y as f32 - 128.0);
            let inside = (60.0 - (dx * dx + dy * dy).sqrt() + 0.5).clamp(0.0, 1.0);
            let i = y * w + x;
            for c in 0..3 {
                let colour = 0.4 + 0.3 * dx / 60.0 + 0.1 * c as f32;
                p.data[c * w * h + i] = colour * inside + 1.0 - inside;
            }
            p.data[3 * w * h + i] = inside;
        }
    }
    p
}

pub fn bench_interpolate(json: bool, iterations: usize) -> anyhow::Result<()> {
    let gpu = GpuContext::headless().ok();
    let device = efficient4d::gpu::network_device(gpu.as_deref())?;
    let device_name = match &gpu {
        Some(g) if !g.is_cpu_driver() => g.describe(),
        _ => "burn CPU backend (flex)".to_string(),
    };
    let pairs_per_batch = 8;
    let frames: Vec<(Planes, Planes)> =
        (0..pairs_per_batch).map(|k| (frame(k as f32), frame(k as f32 + 12.0))).collect();
    let refs: Vec<(&Planes, &Planes)> = frames.iter().map(|(a, b)| (a, b)).collect();
    let mut rows = Vec::new();
    for (name, interp) in [
        ("flow", Interpolator::Flow(FlowOptions::default())),
        ("rife", Interpolator::Rife(Box::new(Rife::random(7, &device)))),
    ] {
        interp.midpoints(&refs[..1]); // warm-up (kernel compilation, allocation)
        let start = Instant::now();
        let mut mids = Vec::new();
        for _ in 0..iterations.max(1) {
            mids = interp.midpoints(&refs);
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / (iterations.max(1) * refs.len()) as f64;
        // Quality beside the time: the true middle frame is the disk halfway (RIFE's random weights
        // make its figure meaningless; it is given for the flow).
        let psnr = mids
            .iter()
            .enumerate()
            .map(|(k, m)| efficient4d::metrics::psnr(&m.data, &frame(k as f32 + 6.0).data))
            .sum::<f64>()
            / mids.len().max(1) as f64;
        let where_ = if name == "rife" { device_name.clone() } else { format!("CPU, {} threads", num_threads()) };
        if !json {
            let quality =
                if name == "flow" { format!(", {psnr:.2} dB against the true middle") } else { String::new() };
            println!("{name:5} {ms:8.1} ms per 256² midpoint (batches of {}), on {where_}{quality}", refs.len());
        }
        let psnr = (name == "flow").then_some(psnr);
        rows.push(serde_json::json!({"interpolator": name, "ms_per_frame": ms, "psnr_db": psnr, "size": 256, "batch": refs.len(), "device": where_}));
    }
    // What refining a 16-key-frame, 17-view matrix costs: 45 new frames and 26 predictions per view.
    let per_view = 45.0 + 26.0;
    let projected: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::json!({"interpolator": r["interpolator"], "seconds_16x17_matrix": r["ms_per_frame"].as_f64().unwrap_or(0.0) * per_view * 17.0 / 1e3}))
        .collect();
    if !json {
        for p in &projected {
            println!(
                "refine of a 16-key-frame matrix (17 views) with {}: ~{:.0} s",
                p["interpolator"],
                p["seconds_16x17_matrix"].as_f64().unwrap_or(0.0)
            );
        }
    }
    super::finish_bench(json, serde_json::json!({"results": rows, "projected_refine": projected}))
}

fn num_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
