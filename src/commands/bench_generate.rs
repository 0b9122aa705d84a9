//! `bench generate`: SyncDreamer-T's cost at full size with random weights (speed does not depend on
//! the values): one UNet evaluation for the 16 views of a frame, the frustum features, the spatial
//! volume and the VAE decode, each timed after a warm-up on the device generation would use; then the
//! projection to a whole Efficient4D run (F frames × 50 DDIM steps × 3 guidance branches). The view
//! batch is chosen as `run` chooses it (`--view-batch auto` fits the device), and on a GPU backend the
//! device allocator's readings after each phase are set beside the memory model's prediction.

use burn::tensor::{Distribution, Tensor};
use efficient4d::camera::rig::SyncDreamerRig;
use efficient4d::generate::syncdreamer::frustum_net::FrustumFeatures;
use efficient4d::generate::syncdreamer::memory::{DeviceMemory, ViewBatch, fit};
use efficient4d::generate::syncdreamer::model::{LATENT, Prepared, SampleOptions, SyncDreamerT};
use efficient4d::generate::syncdreamer::unproject::rig_buffers;
use efficient4d::generate::syncdreamer::{SyncDreamerConfig, guidance::Guidance};
use efficient4d::gpu::GpuContext;
use efficient4d::machine::peak_rss_mb;
use efficient4d::weights::TensorTable;
use std::time::Instant;

pub struct GenerateBenchArgs {
    pub json: bool,
    pub iterations: usize,
    /// Frames of the projected run.
    pub frames: usize,
    /// The golden tiny model's sizes instead of the published ones (a quick check of the harness).
    pub tiny: bool,
    pub precision: efficient4d::generate::syncdreamer::Precision,
    pub view_batch: ViewBatch,
    /// Run the networks on the wgpu device even where it is a CPU driver (lavapipe), so burn's pool
    /// report can check the memory model without a GPU.
    pub wgpu: bool,
}

/// The device allocator's view: the most its pools' pages ever held, what it holds now, and the
/// largest allocation a pool served. `None` where the backend does not report them (CPU).
#[derive(Clone, Copy, Debug, Default)]
struct PoolReading {
    pool_peak: u64,
    reserved: u64,
    largest: u64,
}

fn read_pools(device: &burn::tensor::Device) -> Option<PoolReading> {
    let pools = device.memory_pool_report()?;
    let usage = device.memory_pool_usage()?;
    Some(PoolReading {
        pool_peak: pools.iter().map(|p| p.page_size * p.pages_peak).sum(),
        reserved: usage.bytes_reserved,
        largest: pools.iter().map(|p| p.largest_alloc).max().unwrap_or(0),
    })
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
    let on_wgpu = gpu.as_deref().is_some_and(|g| args.wgpu || !g.is_cpu_driver());
    let device = match &gpu {
        Some(g) if on_wgpu => g.burn_device()?,
        _ => efficient4d::gpu::network_device(gpu.as_deref())?,
    };
    let device_name = match &gpu {
        Some(g) if on_wgpu => g.describe(),
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
    let half = args.precision.half_on(gpu.as_deref().filter(|g| on_wgpu && !g.is_cpu_driver()));
    anyhow::ensure!(
        !half || device.supports_dtype(burn::tensor::FloatDType::F16),
        "{device_name} does not compute in f16; use --precision f32"
    );
    let memory = match &gpu {
        Some(g) if on_wgpu => DeviceMemory::of_gpu(g),
        Some(g) => DeviceMemory::for_networks(g),
        None => DeviceMemory::host(),
    };
    let plan = fit(&config, args.frames, args.view_batch, half, &memory).map_err(|e| anyhow::anyhow!(e))?;
    let batch = plan.view_batch;
    say(&format!("plan: {}", plan.describe()));
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
    let mut readings = vec![("built", read_pools(&device))];
    let images = Tensor::<4>::random([1, 3, 256, 256], normal, &device);
    let encode_seconds = time(args.iterations, || {
        let mut noise = efficient4d::generate::syncdreamer::model::SeededNoise::new(1);
        let p = model.prepare(images.clone(), vec![0.0], &mut noise);
        (p.clip.sum() + p.input_latents.sum()).into_data();
    });
    readings.push(("encoding", read_pools(&device)));
    say(&format!("encoding (1 frame: CLIP and the VAE encoder): {encode_seconds:8.3} s"));
    let volume = model.spatial_volumes(&x, timestep, &[0.0]);
    let volume_seconds = time(args.iterations, || {
        model.spatial_volumes(&x, timestep, &[0.0]).sum().into_data();
    });
    say(&format!("spatial volume (1 frame, {views} views):      {volume_seconds:8.3} s"));

    readings.push(("spatial volume", read_pools(&device)));

    // The UNet on the 16 views' guidance branches, batched as the sampler batches them (the branches
    // of a view batch in one call), with fixed conditions.
    let unet = model.unet();
    let uc = unet.config().clone();
    let dims = config.volume_dims;
    let branches = Guidance::EFFICIENT4D.branches();
    let rows = branches * batch;
    let features = FrustumFeatures {
        levels: std::array::from_fn(|i| {
            let (depth, side) = (48 >> i, LATENT >> i);
            Tensor::<5>::random([rows, dims[i], depth, side, side], normal, &device)
        }),
    };
    let input = Tensor::<4>::random([rows, uc.in_channels, LATENT, LATENT], normal, &device);
    let context = Tensor::<3>::random([rows, 1, uc.context_dim], normal, &device);
    let timesteps = vec![timestep; rows];
    let batches = views.div_ceil(batch);
    let unet_seconds = batches as f64
        * time(args.iterations, || {
            unet.forward(input.clone(), &timesteps, &context, &features).sum().into_data();
        });
    // Gone before the guided prediction, whose memory is the run's to compare with the model.
    drop((features, input, context));
    say(&format!(
        "UNet, {branches} branches ({views} views at {LATENT}x{LATENT}, {batch} per batch): {unet_seconds:8.3} s"
    ));

    // The whole guided prediction of a frame's 16 views, as a DDIM step runs it; the frustum's share
    // is what it takes beyond the UNet's branches.
    let options = SampleOptions { guidance: Guidance::EFFICIENT4D, view_batch: batch, ..Default::default() };
    let prepared = Prepared {
        clip: Tensor::<3>::random([1, 1, config.clip.embed_dim], normal, &device),
        input_latents: Tensor::<4>::random([1, 4, LATENT, LATENT], normal, &device),
        elevations: vec![0.0],
    };
    let eps_seconds = time(args.iterations, || {
        model.predict_eps(&x, timestep, &volume, &prepared, &options).sum().into_data();
    });
    let frustum_seconds = (eps_seconds - unet_seconds).max(0.0);
    readings.push(("denoising", read_pools(&device)));
    say(&format!("guided prediction ({views} views, {branches} branches):   {eps_seconds:8.3} s"));
    say(&format!("  of which frustum volumes + net:                {frustum_seconds:8.3} s"));

    let latents = Tensor::<4>::random([views, 4, LATENT, LATENT], normal, &device);
    let decode_seconds = time(args.iterations, || {
        model.decode_views(latents.clone(), batch).sum().into_data();
    });
    readings.push(("decoding", read_pools(&device)));
    say(&format!("VAE decode ({views} views to 256x256):        {decode_seconds:8.3} s"));

    let steps = 50;
    let per_step_frame = volume_seconds + eps_seconds;
    let projected = args.frames as f64 * (encode_seconds + steps as f64 * per_step_frame + decode_seconds);
    let peak = peak_rss_mb();
    // The device allocator's view (GPU backends) after each phase, against the memory model. The
    // allocator keeps pages for reuse, so the most it reserved or its pools held is the run's peak.
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    let measured: Vec<(&str, PoolReading)> = readings.iter().filter_map(|(what, r)| Some((*what, (*r)?))).collect();
    let device_peak = measured.iter().map(|(_, r)| r.pool_peak.max(r.reserved)).max();
    let device_largest = measured.iter().map(|(_, r)| r.largest).max();
    for (what, r) in &measured {
        say(&format!(
            "device after {what}: {:.0} MiB reserved, pools peaked at {:.0} MiB, largest allocation {:.0} MiB",
            mb(r.reserved),
            mb(r.pool_peak),
            mb(r.largest)
        ));
    }
    let predicted = &plan.estimate;
    if let (Some(peak), Some(largest)) = (device_peak, device_largest) {
        say(&format!(
            "memory model: peak {:.0} MiB predicted, {:.0} MiB measured; largest tensor {:.0} MiB predicted, {:.0} MiB measured",
            mb(predicted.peak()),
            mb(peak),
            mb(predicted.largest_tensor),
            mb(largest)
        ));
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
        "view_batch": batch,
        "plan": plan.describe(),
        "encode_seconds": encode_seconds,
        "unet_seconds": unet_seconds,
        "guided_prediction_seconds": eps_seconds,
        "frustum_seconds": frustum_seconds,
        "decode_seconds": decode_seconds,
        "projected": {"frames": args.frames, "steps": steps, "branches": branches, "seconds": projected},
        "peak_rss_mb": peak,
        "device_peak_mb": device_peak.map(mb),
        "device_largest_alloc_mb": device_largest.map(mb),
        "device_after": measured.iter().map(|(what, r)| serde_json::json!({
            "phase": what, "reserved_mb": mb(r.reserved), "pool_peak_mb": mb(r.pool_peak), "largest_alloc_mb": mb(r.largest),
        })).collect::<Vec<_>>(),
        "memory_model": {
            "predicted_peak_mb": mb(predicted.peak()),
            "predicted_largest_tensor_mb": mb(predicted.largest_tensor),
            "heaviest_phase": predicted.phase.name(),
            "weights_mb": mb(predicted.weights),
            "capacity_mb": memory.capacity.map(mb),
            "max_buffer_mb": mb(memory.max_buffer),
        },
    });
    super::finish_bench(args.json, report)
}
