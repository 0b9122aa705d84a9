//! The machine a figure was measured on, measured in the same run: what it is (CPU model, cores,
//! adapter) and how fast it is right now, by two fixed workloads — a single-thread CPU loop and a
//! compute kernel on the adapter (`shaders/calibrate.wgsl`). Hosts of one nominal kind differ by
//! several times (lavapipe ran the same rasterizer workload 8× slower on one 2-core host than on
//! another), so every benchmark's JSON carries this beside its times, and a time from machine A
//! compares with one from B after scaling by the ratio of their references (docs/speed.md).
//! Also the process's peak memory, which reports print beside their figures.

use crate::gpu::GpuContext;
use serde::Serialize;
use std::time::{Duration, Instant};
use wgpu::util::DeviceExt;

const KERNEL: &str = include_str!("../shaders/calibrate.wgsl");
/// Invocations of the calibration kernel (64 per workgroup): ~17M scattered reads, ~50 ms on lavapipe.
const KERNEL_INVOCATIONS: u32 = 64 * 1024;
/// Floats in the kernel's source buffer (4 MiB: beyond most L2 caches).
const KERNEL_SOURCE: usize = 1 << 20;
/// Each reference is the best of this many runs: the least disturbed by whatever else ran.
const RUNS: usize = 5;

/// A machine and its speed at the time of measurement.
#[derive(Clone, Debug, Serialize)]
pub struct Fingerprint {
    /// `model name` of /proc/cpuinfo (empty where unknown).
    pub cpu: String,
    /// Threads this process may run at once.
    pub cores: usize,
    pub adapter: String,
    pub cpu_driver: bool,
    /// Milliseconds of the fixed single-thread loop (best of 5).
    pub cpu_reference_ms: f64,
    /// Milliseconds of the fixed calibration kernel on the adapter, submit to done (best of 5 after
    /// one that compiles it).
    pub gpu_reference_ms: f64,
    /// The 1-minute load average when measured (Linux): above 0.5 per core, the machine was busy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_average: Option<f64>,
}

impl Fingerprint {
    /// Measures this machine and `gpu`'s adapter (about a second on 2 CPU cores with lavapipe: each reference is the best of 5 runs of ~50 ms).
    pub fn measure(gpu: &GpuContext) -> Result<Self, String> {
        Ok(Self {
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            adapter: gpu.adapter_name(),
            cpu_driver: gpu.is_cpu_driver(),
            cpu_reference_ms: best_ms(cpu_reference),
            gpu_reference_ms: gpu_reference_ms(gpu)?,
            load_average: load_average(),
        })
    }

    /// One line for a benchmark's text output.
    pub fn describe(&self) -> String {
        let load = self.load_average.map(|l| format!(", load {l:.2}")).unwrap_or_default();
        format!(
            "machine: {} ({} cores), {}; CPU reference {:.1} ms, GPU reference {:.1} ms{load}",
            if self.cpu.is_empty() { "unknown CPU" } else { &self.cpu },
            self.cores,
            self.adapter,
            self.cpu_reference_ms,
            self.gpu_reference_ms
        )
    }
}

fn best_ms(mut run: impl FnMut() -> Duration) -> f64 {
    (0..RUNS).map(|_| run().as_secs_f64() * 1e3).fold(f64::INFINITY, f64::min)
}

/// A dependent chain of integer and float operations no compiler can vectorise or skip (~50 ms on
/// the CI machine).
fn cpu_reference() -> Duration {
    let start = Instant::now();
    let (mut hash, mut acc) = (0x9e37_79b9_u32, 0.0f64);
    for _ in 0..16_000_000 {
        hash = hash.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
        acc = acc.mul_add(0.999, f64::from(hash >> 8) * 1e-9);
    }
    std::hint::black_box(acc);
    start.elapsed()
}

fn gpu_reference_ms(gpu: &GpuContext) -> Result<f64, String> {
    let d = &gpu.device;
    let values: Vec<f32> = (0..KERNEL_SOURCE).map(|i| (i % 97) as f32 * 0.01).collect();
    let source = d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("calibrate source"),
        contents: bytemuck::cast_slice(&values),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let result = d.create_buffer(&wgpu::BufferDescriptor {
        label: Some("calibrate result"),
        size: u64::from(KERNEL_INVOCATIONS) * 4,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("calibrate"),
        source: wgpu::ShaderSource::Wgsl(KERNEL.into()),
    });
    let pipeline = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("calibrate"),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    let bind = d.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("calibrate"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry { binding: 0, resource: source.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: result.as_entire_binding() },
        ],
    });
    let run = || -> Result<Duration, String> {
        let start = Instant::now();
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("calibrate") });
        {
            let mut pass = enc
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("calibrate"), timestamp_writes: None });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(KERNEL_INVOCATIONS / 64, 1, 1);
        }
        let submitted = gpu.queue.submit([enc.finish()]);
        d.poll(wgpu::PollType::Wait { submission_index: Some(submitted), timeout: None })
            .map_err(|e| format!("the calibration kernel: {e}"))?;
        Ok(start.elapsed())
    };
    run()?; // compiles the pipeline
    let mut best = f64::INFINITY;
    for _ in 0..RUNS {
        best = best.min(run()?.as_secs_f64() * 1e3);
    }
    Ok(best)
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, v)| v.trim()))
        .unwrap_or_default()
        .to_string()
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
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
