//! Sizes of the forward pass's later passes (sorts, scans, emit, tile ranges): known on the host
//! after a read-back of the projection's counts, or left on the GPU and turned into parameter blocks
//! and indirect dispatches by `shaders/sizes.wgsl` (the viewer's frame path, which maps nothing).
//! The passes are encoded the same way in both cases; only where their sizes come from differs.

use super::gpu_buffers::{grid, storage, storage_init, uniform};
use bytemuck::Zeroable;

/// How many elements a pass works on.
#[derive(Clone, Copy, Debug)]
pub(super) enum Count {
    /// Known on the host.
    Host(u32),
    /// Value `index` of the GPU program's values, at most `max` (what buffers are sized for).
    Device { index: u32, max: u32 },
}

impl Count {
    /// The count, or its bound when it lives on the GPU: what buffers and recursion are sized for.
    pub(super) fn max(self) -> u32 {
        match self {
            Count::Host(n) => n,
            Count::Device { max, .. } => max,
        }
    }
}

/// A pass's parameter block, by the struct its shader reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Layout {
    /// `{ n, groups_x }` (scan, compact, tile ranges).
    Count,
    /// `{ n, shift, num_blocks, groups_x }` (radix sort).
    Sort { shift: u32 },
    /// `{ visible, groups_x, capacity, pad }` (emit).
    Emit { capacity: u32 },
}

/// Where a dispatch's workgroup counts come from.
#[derive(Clone, Debug)]
pub(super) enum Groups {
    Direct(u32, u32, u32),
    Indirect(wgpu::Buffer, u64),
}

impl From<(u32, u32, u32)> for Groups {
    fn from((x, y, z): (u32, u32, u32)) -> Self {
        Groups::Direct(x, y, z)
    }
}

/// A pass's parameter block: a whole uniform buffer, or a slot of the GPU program's.
#[derive(Clone, Debug)]
pub(super) struct Params {
    buffer: wgpu::Buffer,
    offset: u64,
}

impl Params {
    pub(super) fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset,
            size: Some(std::num::NonZeroU64::new(16).expect("16 > 0")),
        })
    }
}

/// Most parameter blocks one chunk's program writes (a forward pass needs ~30 after sharing).
const MAX_BLOCKS: u32 = 256;
const OP_LOAD: u32 = 0;
const OP_DERIVE: u32 = 1;
const OP_PARAMS: u32 = 2;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Instruction {
    op: u32,
    dst: u32,
    src: u32,
    div: u32,
    mul: u32,
    cap: u32,
    at: u32,
    pad: u32,
}

/// The GPU side of [`Sizes`]: the program recorded so far and the buffers it writes.
struct DeviceSizes {
    program: Vec<Instruction>,
    values: u32,
    /// Bytes between parameter blocks (the device's uniform offset alignment).
    stride: u64,
    params: wgpu::Buffer,
    indirect: wgpu::Buffer,
    blocks: std::collections::HashMap<(u32, u32, Layout), (u64, u64)>,
    derived: std::collections::HashMap<(u32, u32, u32), u32>,
}

/// Hands out parameter blocks and workgroup counts for passes of known or GPU-resident size.
pub(super) struct Sizes<'a> {
    device: &'a wgpu::Device,
    gpu: Option<DeviceSizes>,
}

impl<'a> Sizes<'a> {
    /// Every count known on the host.
    pub(super) fn host(device: &'a wgpu::Device) -> Self {
        Self { device, gpu: None }
    }

    /// Counts may live on the GPU; [`Sizes::program`] must run before the passes using them.
    pub(super) fn device(device: &'a wgpu::Device) -> Self {
        let stride = (device.limits().min_uniform_buffer_offset_alignment as u64).max(16);
        let params = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pass parameters"),
            size: stride * MAX_BLOCKS as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::UNIFORM,
            mapped_at_creation: false,
        });
        let indirect = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("indirect dispatches"),
            size: 16 * MAX_BLOCKS as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::INDIRECT,
            mapped_at_creation: false,
        });
        let gpu = DeviceSizes {
            program: Vec::new(),
            values: 0,
            stride,
            params,
            indirect,
            blocks: Default::default(),
            derived: Default::default(),
        };
        Self { device, gpu: Some(gpu) }
    }

    /// Counter `counter` of the projection's counters buffer, clamped to `max`.
    pub(super) fn counter(&mut self, counter: u32, max: u32) -> Count {
        let gpu = self.gpu.as_mut().expect("GPU counts need Sizes::device");
        let index = gpu.values;
        gpu.values += 1;
        gpu.program.push(Instruction { op: OP_LOAD, dst: index, src: counter, cap: max, ..Zeroable::zeroed() });
        Count::Device { index, max }
    }

    /// ceil(count / div) * mul.
    pub(super) fn derive(&mut self, count: Count, div: u32, mul: u32) -> Count {
        let of = |n: u32| n.div_ceil(div) * mul;
        match count {
            Count::Host(n) => Count::Host(of(n)),
            Count::Device { index: src, max } => {
                let gpu = self.gpu.as_mut().expect("a device count comes from Sizes::device");
                let max = of(max);
                let index = *gpu.derived.entry((src, div, mul)).or_insert_with(|| {
                    let index = gpu.values;
                    gpu.values += 1;
                    gpu.program.push(Instruction {
                        op: OP_DERIVE,
                        dst: index,
                        src,
                        div,
                        mul,
                        cap: max,
                        ..Zeroable::zeroed()
                    });
                    index
                });
                Count::Device { index, max }
            }
        }
    }

    /// The parameter block and workgroups of a pass over `count` items, `per_group` per workgroup.
    pub(super) fn pass(&mut self, count: Count, per_group: u32, layout: Layout) -> (Params, Groups) {
        match count {
            Count::Host(n) => {
                let groups = n.div_ceil(per_group);
                let (gx, gy) = grid(groups);
                let words: [u32; 4] = match layout {
                    Layout::Count => [n, gx, 0, 0],
                    Layout::Sort { shift } => [n, shift, groups, gx],
                    Layout::Emit { capacity } => [n, gx, capacity, 0],
                };
                (Params { buffer: uniform(self.device, "pass parameters", &words), offset: 0 }, (gx, gy, 1).into())
            }
            Count::Device { index: src, .. } => {
                let gpu = self.gpu.as_mut().expect("a device count comes from Sizes::device");
                let key = (src, per_group, layout);
                let next = gpu.blocks.len() as u64;
                // A pass with the same count, grouping and layout as an earlier one shares its block.
                let (offset, at) = match gpu.blocks.entry(key) {
                    std::collections::hash_map::Entry::Occupied(e) => *e.get(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        assert!(
                            next < MAX_BLOCKS as u64,
                            "a forward pass asked for over {MAX_BLOCKS} parameter blocks"
                        );
                        let (offset, at) = *e.insert((next * gpu.stride, next * 16));
                        let (mul, cap) = match layout {
                            Layout::Count => (0, 0),
                            Layout::Sort { shift } => (1, shift),
                            Layout::Emit { capacity } => (2, capacity),
                        };
                        gpu.program.push(Instruction {
                            op: OP_PARAMS,
                            dst: (offset / 4) as u32,
                            src,
                            div: per_group,
                            mul,
                            cap,
                            at: (at / 4) as u32,
                            pad: 0,
                        });
                        (offset, at)
                    }
                };
                (Params { buffer: gpu.params.clone(), offset }, Groups::Indirect(gpu.indirect.clone(), at))
            }
        }
    }

    /// The program's buffers (if any count lives on the GPU), in the `Sizes` stage's binding order
    /// after the counters: program, values, parameters, indirect arguments. The rasterizer records
    /// the stage after the counters are final and before any pass sized by it.
    pub(super) fn program(self) -> Option<[wgpu::Buffer; 4]> {
        let gpu = self.gpu?;
        if gpu.program.is_empty() {
            return None;
        }
        let program = storage_init(self.device, "size program", bytemuck::cast_slice(&gpu.program));
        let values = storage(self.device, "size values", gpu.values as u64 * 4);
        Some([program, values, gpu.params, gpu.indirect])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::shaders::{Stage, wgsl_struct_layout};
    use crate::rust_layout;

    #[test]
    fn the_instruction_struct_matches_the_shader() {
        let rust = rust_layout!(Instruction { op, dst, src, div, mul, cap, at, pad });
        assert_eq!(rust, wgsl_struct_layout(Stage::Sizes, "Instruction"));
    }
}
