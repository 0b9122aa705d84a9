//! `bench generate`: SyncDreamer-T's cost at full size with random weights (speed does not depend on
//! the values): one UNet evaluation for the 16 views of a frame, the frustum features, the spatial
//! volume and the VAE decode, each timed after a warm-up on the device generation would use; then the
//! projection to a whole Efficient4D run (F frames × 50 DDIM steps × 3 guidance branches).

use crate::camera::rig::SyncDreamerRig;
use crate::generate::syncdreamer::frustum_net::FrustumFeatures;
use crate::generate::syncdreamer::model::{LATENT, Prepared, SampleOptions, SyncDreamerT};
use crate::generate::syncdreamer::unproject::rig_buffers;
use crate::generate::syncdreamer::{SyncDreamerConfig, guidance::Guidance};
use crate::gpu::GpuContext;
use crate::machine::peak_rss_mb;
use crate::weights::TensorTable;
use burn::tensor::{Distribution, Tensor};
use std::time::Instant;

pub struct GenerateBenchArgs {
    pub json: bool,
    pub iterations: usize,
    /// Frames of the projected run.
    pub frames: usize,
    /// The golden tiny model's sizes instead of the published ones (a quick check of the harness).
    pub tiny: bool,
    pub precision: crate::generate::syncdreamer::Precision,
}

/// Mean seconds of `f` over `iterations` runs after one warm-up; `f` must read its result back.
fn time(iterations: usize, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    for _ in 0..iterations.max(1) {
        f();
    }
    start.elapsed().as_secs_f64() / iterations.max(1) as f64
}

pub fn bench_generate(args: &GenerateBenchArgs) -> anyhow::Result<()> {
    let gpu = GpuContext::headless().ok();
    let device = crate::gpu::network_device(gpu.as_deref())?;
    let device_name = match &gpu {
        Some(g) if !g.is_cpu_driver() => g.describe(),
        _ => {
            format!("burn CPU backend (flex), {} threads", std::thread::available_parallelism().map_or(1, |n| n.get()))
        }
    };
    let config = if args.tiny { SyncDreamerConfig::tiny() } else { SyncDreamerConfig::full() };
    let say = |s: &str| {
        if !args.json {
            println!("{s}");
        }
    };
    say(&format!(
        "building SyncDreamer-T ({}) with random weights on {device_name} ...",
        if args.tiny { "tiny" } else { "full size" }
    ));
    let built = Instant::now();
    let rig = rig_buffers(&SyncDreamerRig::default());
    let half = args.precision.half_on(gpu.as_deref().filter(|g| !g.is_cpu_driver()));
    anyhow::ensure!(
        !half || device.supports_dtype(burn::tensor::FloatDType::F16),
        "{device_name} does not compute in f16; use --precision f32"
    );
    let table = TensorTable::random(7, &rig, "SyncDreamer-T (random)", &device);
    let table = if half { table.half_weights() } else { table };
    let model = SyncDreamerT::load(&table, config.clone(), &device)?;
    let weights_mb = table.bytes_handed_out() as f64 / (1 << 20) as f64;
    let precision = if half { "f16" } else { "f32" };
    let build_seconds = built.elapsed().as_secs_f64();
    say(&format!("built in {build_seconds:.1} s: {precision}, weights {weights_mb:.0} MiB"));

    let views = config.views;
    let normal = Distribution::Normal(0.0, 1.0);
    let x = Tensor::<5>::random([1, views, 4, LATENT, LATENT], normal, &device);
    let timestep = 481;
    let volume = model.spatial_volumes(&x, timestep, &[0.0]);
    let volume_seconds = time(args.iterations, || {
        model.spatial_volumes(&x, timestep, &[0.0]).sum().into_data();
    });
    say(&format!("spatial volume (1 frame, {views} views):      {volume_seconds:8.3} s"));

    // One UNet evaluation of the 16 views (one guidance branch), with fixed conditions.
    let unet = model.unet();
    let uc = unet.config().clone();
    let dims = config.volume_dims;
    let features = FrustumFeatures {
        levels: std::array::from_fn(|i| {
            let (depth, side) = (48 >> i, LATENT >> i);
            Tensor::<5>::random([views, dims[i], depth, side, side], normal, &device)
        }),
    };
    let input = Tensor::<4>::random([views, uc.in_channels, LATENT, LATENT], normal, &device);
    let context = Tensor::<3>::random([views, 1, uc.context_dim], normal, &device);
    let timesteps = vec![timestep; views];
    let unet_seconds = time(args.iterations, || {
        unet.forward(input.clone(), &timesteps, &context, &features).sum().into_data();
    });
    say(&format!("UNet, one branch ({views} views at {LATENT}x{LATENT}):  {unet_seconds:8.3} s"));

    // Frustum sampling and net for the 16 views, as the guided prediction runs them once per step.
    let options = SampleOptions { guidance: Guidance::None, ..Default::default() };
    let prepared = Prepared {
        clip: Tensor::<3>::random([1, 1, config.clip.embed_dim], normal, &device),
        input_latents: Tensor::<4>::random([1, 4, LATENT, LATENT], normal, &device),
        elevations: vec![0.0],
    };
    let eps_one_seconds = time(args.iterations, || {
        model.predict_eps(&x, timestep, &volume, &prepared, &options).sum().into_data();
    });
    let frustum_seconds = (eps_one_seconds - unet_seconds).max(0.0);
    say(&format!("frustum volumes + net ({views} views):         {frustum_seconds:8.3} s"));

    let latents = Tensor::<4>::random([views, 4, LATENT, LATENT], normal, &device);
    let decode_seconds = time(args.iterations, || {
        model.decode_views(latents.clone()).sum().into_data();
    });
    say(&format!("VAE decode ({views} views to 256x256):        {decode_seconds:8.3} s"));

    let steps = 50;
    let branches = Guidance::EFFICIENT4D.branches() as f64;
    let per_step_frame = volume_seconds + frustum_seconds + branches * unet_seconds;
    let projected = args.frames as f64 * (steps as f64 * per_step_frame + decode_seconds);
    let peak = peak_rss_mb();
    // The device allocator's view (GPU backends): the most bytes its pools ever held, and what it
    // holds now (weights included). `None` where the backend does not report them.
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let pool_peak_mb =
        device.memory_pool_report().map(|pools| mb(pools.iter().map(|p| p.page_size * p.pages_peak).sum()));
    let reserved_mb = device.memory_pool_usage().map(|u| mb(u.bytes_reserved));
    if let (Some(peak), Some(reserved)) = (pool_peak_mb, reserved_mb) {
        say(&format!("device memory: pools peaked at {peak:.0} MiB, {reserved:.0} MiB reserved at the end"));
    }
    say(&format!(
        "projected Efficient4D run ({} frames x {steps} steps x {branches} branches): {:.1} min; peak RSS {peak:.0} MiB",
        args.frames,
        projected / 60.0
    ));
    let report = serde_json::json!({
        "device": device_name,
        "model": if args.tiny { "tiny" } else { "full" },
        "precision": precision,
        "weights_mb": weights_mb,
        "views": views,
        "latent": LATENT,
        "build_seconds": build_seconds,
        "spatial_volume_seconds": volume_seconds,
        "unet_one_branch_seconds": unet_seconds,
        "frustum_seconds": frustum_seconds,
        "decode_seconds": decode_seconds,
        "projected": {"frames": args.frames, "steps": steps, "branches": branches, "seconds": projected},
        "peak_rss_mb": peak,
        "device_pool_peak_mb": pool_peak_mb,
        "device_reserved_mb": reserved_mb,
    });
    super::finish_bench(args.json, report)
}
