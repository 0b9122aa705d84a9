//! GPU time per rasterizer stage, from timestamp queries written at the start and end of every
//! compute pass: where a forward, backward or loss spends its time, by shader entry point.

use super::shaders::Stage;
use std::sync::Mutex;

/// Passes that can be timed between two reports (two queries each; wgpu caps a set at 4096).
const CAPACITY: u32 = 2048;

pub struct StageProfiler {
    queries: wgpu::QuerySet,
    labels: Mutex<Vec<(Stage, &'static str)>>,
}

/// Summed GPU time of one stage since the last report.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct StageTime {
    /// `Stage::entry_point`, e.g. `RadixSort::scatter`.
    pub stage: String,
    pub ms: f64,
    pub passes: u32,
}

impl StageProfiler {
    /// None when the device cannot write timestamps inside compute passes.
    pub fn new(device: &wgpu::Device) -> Option<Self> {
        if !device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return None;
        }
        let queries = device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("stage timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count: CAPACITY * 2,
        });
        Some(Self { queries, labels: Mutex::new(Vec::new()) })
    }

    /// The timestamp writes for the next pass, a dispatch of `entry` of `stage` (None once the set is
    /// full: the pass then simply goes untimed).
    pub fn claim(&self, stage: Stage, entry: &'static str) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let mut labels = self.labels.lock().unwrap_or_else(|e| e.into_inner());
        let index = labels.len() as u32;
        if index >= CAPACITY {
            return None;
        }
        labels.push((stage, entry));
        Some(wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * index),
            end_of_pass_write_index: Some(2 * index + 1),
        })
    }

    /// Resolves every pass timed since the last report (waits for the GPU), sums them by stage in
    /// order of first appearance, and starts over.
    pub fn report(&self, device: &wgpu::Device, queue: &wgpu::Queue) -> Result<Vec<StageTime>, String> {
        let labels = std::mem::take(&mut *self.labels.lock().unwrap_or_else(|e| e.into_inner()));
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let bytes = labels.len() as u64 * 16;
        let resolved = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("resolved timestamps"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("resolve") });
        enc.resolve_query_set(&self.queries, 0..2 * labels.len() as u32, &resolved, 0);
        queue.submit([enc.finish()]);
        let raw = super::gpu_buffers::read_range(device, queue, &resolved, 0, bytes)?;
        let ticks: &[u64] = bytemuck::cast_slice(&raw);
        let ns_per_tick = queue.get_timestamp_period() as f64;
        let mut out: Vec<StageTime> = Vec::new();
        for (i, (stage, entry)) in labels.iter().enumerate() {
            let ms = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * ns_per_tick / 1e6;
            let stage = format!("{stage:?}::{entry}");
            match out.iter_mut().find(|s| s.stage == stage) {
                Some(s) => {
                    s.ms += ms;
                    s.passes += 1;
                }
                None => out.push(StageTime { stage, ms, passes: 1 }),
            }
        }
        Ok(out)
    }
}
