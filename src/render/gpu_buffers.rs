//! Small wgpu helpers for the rasterizer: sized storage buffers, uniforms, readback.

use wgpu::util::DeviceExt;

/// A byte range of a buffer: a whole buffer the rasterizer owns, or the storage of a burn tensor.
#[derive(Clone, Debug)]
pub struct GpuSlice {
    pub buffer: wgpu::Buffer,
    pub offset: u64,
    pub size: u64,
}

impl GpuSlice {
    pub fn whole(buffer: wgpu::Buffer) -> Self {
        let size = buffer.size();
        Self { buffer, offset: 0, size }
    }

    /// Named like `wgpu::Buffer::as_entire_binding` so call sites read the same for both.
    pub(crate) fn as_entire_binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: std::num::NonZeroU64::new(self.size),
        })
    }
}

/// Storage usage for every buffer the rasterizer owns (COPY_SRC for readback and tests).
pub(crate) const STORAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_DST).union(wgpu::BufferUsages::COPY_SRC);

/// A zero-filled storage buffer of at least `bytes` (wgpu rejects empty bindings, so at least 16).
pub fn storage(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(16).next_multiple_of(4),
        usage: STORAGE,
        mapped_at_creation: false,
    })
}

pub(crate) fn storage_init(device: &wgpu::Device, label: &str, data: &[u8]) -> wgpu::Buffer {
    if data.len() < 16 {
        let mut padded = data.to_vec();
        padded.resize(16, 0);
        return device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &padded,
            usage: STORAGE,
        });
    }
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents: data, usage: STORAGE })
}

pub fn uniform<T: bytemuck::Pod>(device: &wgpu::Device, label: &str, value: &T) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::bytes_of(value),
        usage: wgpu::BufferUsages::UNIFORM,
    })
}

/// Copies `bytes` starting at `offset` of `buffer` to the CPU (blocking; submits its own copy).
pub(crate) fn read_range(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    buffer: &wgpu::Buffer,
    offset: u64,
    bytes: u64,
) -> Result<Vec<u8>, String> {
    if bytes == 0 {
        return Ok(Vec::new());
    }
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: bytes.next_multiple_of(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("readback") });
    enc.copy_buffer_to_buffer(buffer, offset, &staging, 0, bytes.next_multiple_of(4));
    queue.submit([enc.finish()]);
    map_and_read(device, &staging, bytes)
}

/// Maps an already-filled MAP_READ buffer and copies out its first `bytes`.
pub(crate) fn map_and_read(device: &wgpu::Device, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, String> {
    let slice = staging.slice(..bytes.next_multiple_of(4));
    let (tx, rx) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::Wait { submission_index: None, timeout: None })
        .map_err(|e| format!("GPU wait failed: {e}"))?;
    rx.recv().map_err(|e| e.to_string())?.map_err(|e| format!("GPU readback failed: {e}"))?;
    let data = slice.get_mapped_range().map_err(|e| format!("GPU readback failed: {e}"))?[..bytes as usize].to_vec();
    staging.unmap();
    Ok(data)
}

pub(crate) fn read_f32(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    slice: &GpuSlice,
    count: usize,
) -> Result<Vec<f32>, String> {
    let bytes = read_range(device, queue, &slice.buffer, slice.offset, (count * 4) as u64)?;
    Ok(bytemuck::cast_slice(&bytes).to_vec())
}

/// Workgroup grid for `groups` workgroups: (x, y) with x ≤ 65535 (the per-dimension limit).
pub fn grid(groups: u32) -> (u32, u32) {
    let x = groups.clamp(1, 65535);
    (x, groups.div_ceil(x).max(1))
}
