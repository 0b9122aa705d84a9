//! The WGSL tile-based rasterizer for 4D Gaussians: batched forward (many (camera, time) pairs in
//! one go) and backward, on the shared wgpu device.
//!
//! Forward, per chunk of views (chunks keep every binding under the device's size limit):
//! project → scan visibility → compact → [the visible / pair counts: read back, or kept on the GPU
//! for indirect dispatch (`Counting`)] → radix sort by
//! depth → gather + scan tile counts → emit (tile, splat) pairs → stable radix sort by tile →
//! tile ranges → rasterize. Backward: rasterize_backward (per-splat 2D gradients, atomics) →
//! project_backward (per Gaussian, summed over the chunk's views, deterministic).

use super::gpu_buffers::{self as gb, GpuSlice, grid, storage, uniform};
use super::gpu_sizes::{Count, Groups, Layout, Sizes};
use super::profiler::{StageProfiler, StageTime};
use super::shaders::{ShaderFeatures, Stage, layout_entries, parse_and_validate};
use crate::camera::Camera;
use crate::gaussians::{Gaussians4d, ParamGroups, sh_coeffs};
use crate::gpu::GpuContext;
use std::collections::HashMap;
use std::sync::Arc;

pub const TILE: u32 = 16;
/// Bytes per (view, Gaussian) of projection records (3 × vec4).
const PROJ_BYTES: u64 = 48;

#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    #[error("shader: {0}")]
    Shader(String),
    #[error("bad input: {0}")]
    Input(String),
    #[error("GPU: {0}")]
    Gpu(String),
    #[error("out of memory: {0}")]
    TooLarge(String),
}

/// One image to render: a camera at a time, over a background colour.
#[derive(Clone, Copy, Debug)]
pub struct RasterView {
    pub camera: Camera,
    pub time: f32,
    pub background: [f32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GlobalsGpu {
    num_gaussians: u32,
    num_views: u32,
    sh_coeffs: u32,
    width: u32,
    height: u32,
    tiles_x: u32,
    tiles_y: u32,
    view_offset: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ViewGpu {
    world_to_camera: [[f32; 4]; 4],
    position_time: [f32; 4],
    intrinsics: [f32; 4],
    background: [f32; 4],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CountParams {
    n: u32,
    groups_x: u32,
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct RasterParams {
    total_views: u32,
    write_depth: u32,
}

/// Gaussian parameters resident on the GPU (the layout of [`Gaussians4d`]).
/// Each field may be a whole buffer or a range of one (a burn tensor's storage).
#[derive(Clone, Debug)]
pub struct GaussianBuffers {
    /// The six parameter groups, bound in the order of `ParamGroups::NAMES`.
    pub groups: ParamGroups<GpuSlice>,
    pub count: u32,
    pub sh_degree: u32,
}

/// Gradients for every parameter group, on the GPU (same layout as the parameters).
pub struct GradientBuffers(pub GaussianBuffers);

/// What one chunk of views keeps for the backward pass.
struct ChunkState {
    views: u32,
    globals: wgpu::Buffer,
    proj: [wgpu::Buffer; 3],
    ranges: wgpu::Buffer,
    tile_values: wgpu::Buffer,
    /// Visible splats and (tile, splat) pairs: exact when read back, else their bounds.
    visible: u32,
    pairs: u32,
    /// Slots of the pair buffers (pairs past it were dropped).
    pair_capacity: u32,
    /// [visible, pairs] as the projection counted them, on the GPU.
    counters: wgpu::Buffer,
}

/// The output of a forward pass: images of every view (rgb + alpha, optional depth) and the state
/// the backward pass needs.
pub struct Rendered {
    pub width: u32,
    pub height: u32,
    pub views: u32,
    /// views × height × width × (r, g, b, alpha), f32.
    pub color: GpuSlice,
    /// views × height × width expected depth Σ Tᵢ αᵢ zᵢ (zeros unless asked for).
    pub depth: wgpu::Buffer,
    final_t: wgpu::Buffer,
    last: wgpu::Buffer,
    view_buffer: wgpu::Buffer,
    chunks: Vec<ChunkState>,
    /// Visible (view, Gaussian) pairs and (tile, splat) pairs over all chunks (known on the host
    /// only when counted by a read-back: see [`Counting`]).
    pub visible_splats: Option<u64>,
    pub tile_pairs: Option<u64>,
}

/// Where a forward pass gets the visible and (tile, splat) pair counts that size its sorts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counting {
    /// Read back (8 bytes per chunk of views): buffers sized exactly, counts reported. Training.
    ReadBack,
    /// Kept on the GPU (its passes dispatched indirectly): nothing is mapped, buffers are sized by
    /// bounds, and pairs beyond the rasterizer's pair budget are dropped, farthest splats first.
    /// The viewer's frame path; such a pass cannot be differentiated (its pair buffers are reused).
    OnGpu,
}

/// One chunk's counts as the projection made them, read back on request ([`Rasterizer::read_counts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkCounts {
    pub visible: u32,
    pub pairs: u32,
    /// Pair slots the chunk had: `pairs` above it means some were dropped.
    pub pair_capacity: u32,
}

struct Pipeline {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

pub struct Rasterizer {
    gpu: Arc<GpuContext>,
    features: ShaderFeatures,
    pipelines: HashMap<(Stage, &'static str), Pipeline>,
    /// Cap on (views × Gaussians) per chunk; the binding-size limit lowers it further.
    pub max_chunk_pairs: u64,
    /// Times every pass when profiling is on ([`Rasterizer::with_profiling`]).
    profiler: Option<StageProfiler>,
    /// Bytes mapped back to the CPU so far (the viewport's frame path must stay at zero).
    readback_bytes: std::sync::atomic::AtomicU64,
    /// Most (tile, splat) pairs per chunk a [`Counting::OnGpu`] pass makes room for.
    pub pair_budget: u64,
    /// The pair buffers (keys and values, twice) of [`Counting::OnGpu`] passes, kept between
    /// frames: sized by a bound rather than the count, making them anew each frame would cost more
    /// than the frame (wgpu zeroes new buffers).
    pair_scratch: std::sync::Mutex<Option<PairScratch>>,
}

struct PairScratch {
    capacity: u32,
    keys: [wgpu::Buffer; 2],
    values: [wgpu::Buffer; 2],
}

const ENTRY_POINTS: [(Stage, &str); 19] = [
    (Stage::Project, "main"),
    (Stage::Scan, "scan_blocks"),
    (Stage::Scan, "add_offsets"),
    (Stage::RadixSort, "count"),
    (Stage::RadixSort, "scatter"),
    (Stage::Compact, "main"),
    (Stage::Emit, "gather_counts"),
    (Stage::Emit, "emit"),
    (Stage::TileRanges, "main"),
    (Stage::Rasterize, "main"),
    (Stage::RasterizeBackward, "main"),
    (Stage::ProjectBackward, "main"),
    (Stage::Loss, "products"),
    (Stage::Loss, "blur_h"),
    (Stage::Loss, "blur_v"),
    (Stage::Loss, "ssim_terms"),
    (Stage::Loss, "gradient"),
    (Stage::Loss, "reduce"),
    (Stage::Sizes, "main"),
];

impl Rasterizer {
    pub fn new(gpu: Arc<GpuContext>) -> Result<Self, RasterError> {
        let features = ShaderFeatures::best_for(&gpu.caps);
        Self::with_features(gpu, features)
    }

    /// Forces a feature set (tests use it to exercise the fallbacks on a device that has more).
    pub fn with_features(gpu: Arc<GpuContext>, features: ShaderFeatures) -> Result<Self, RasterError> {
        if (features.subgroups && !gpu.caps.subgroups) || (features.float_atomics && !gpu.caps.float_atomics) {
            return Err(RasterError::Shader(format!("the device lacks features asked for: {features:?}")));
        }
        let device = &gpu.device;
        let mut pipelines = HashMap::new();
        let mut modules = HashMap::new();
        for (stage, entry) in ENTRY_POINTS {
            if let std::collections::hash_map::Entry::Vacant(v) = modules.entry(stage) {
                let naga_module = parse_and_validate(stage, features).map_err(RasterError::Shader)?;
                let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                    label: Some(&format!("{stage:?}")),
                    entries: &layout_entries(&naga_module),
                });
                let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&format!("{stage:?}")),
                    source: wgpu::ShaderSource::Wgsl(stage.source(features).into()),
                });
                v.insert((module, layout));
            }
            let (module, layout) = &modules[&stage];
            let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(entry),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&format!("{stage:?}::{entry}")),
                layout: Some(&pl),
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
            pipelines.insert((stage, entry), Pipeline { pipeline, layout: layout.clone() });
        }
        let pair_budget = default_pair_budget(&gpu.caps);
        Ok(Self {
            gpu,
            features,
            pipelines,
            max_chunk_pairs: 1 << 22,
            profiler: None,
            readback_bytes: Default::default(),
            pair_budget,
            pair_scratch: Default::default(),
        })
    }

    /// Turns on per-stage GPU timing (when the device has timestamp queries; else an error).
    pub fn with_profiling(mut self) -> Result<Self, RasterError> {
        let profiler = StageProfiler::new(self.device())
            .ok_or_else(|| RasterError::Input("this device has no timestamp queries to profile with".into()))?;
        self.profiler = Some(profiler);
        Ok(self)
    }

    /// GPU time per stage of every pass since the last call (empty without profiling).
    pub fn stage_times(&self) -> Result<Vec<StageTime>, RasterError> {
        match &self.profiler {
            Some(p) => p.report(self.device(), &self.gpu.queue).map_err(RasterError::Gpu),
            None => Ok(Vec::new()),
        }
    }

    pub fn features(&self) -> ShaderFeatures {
        self.features
    }

    pub fn gpu(&self) -> &Arc<GpuContext> {
        &self.gpu
    }

    pub(super) fn device(&self) -> &wgpu::Device {
        &self.gpu.device
    }

    /// Records one compute dispatch binding `buffers` at their binding indices.
    pub(super) fn dispatch(
        &self,
        enc: &mut wgpu::CommandEncoder,
        stage: Stage,
        entry: &'static str,
        buffers: &[(u32, wgpu::BindingResource)],
        groups: impl Into<Groups>,
    ) {
        let p = &self.pipelines[&(stage, entry)];
        let entries: Vec<wgpu::BindGroupEntry> =
            buffers.iter().map(|(b, r)| wgpu::BindGroupEntry { binding: *b, resource: r.clone() }).collect();
        let bind_group = self.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &p.layout,
            entries: &entries,
        });
        let timestamp_writes = self.profiler.as_ref().and_then(|p| p.claim(stage, entry));
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(entry), timestamp_writes });
        pass.set_pipeline(&p.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        match groups.into() {
            Groups::Direct(x, y, z) => pass.dispatch_workgroups(x, y, z),
            Groups::Indirect(buffer, offset) => pass.dispatch_workgroups_indirect(&buffer, offset),
        }
    }

    /// Uploads CPU Gaussians.
    pub fn upload(&self, g: &Gaussians4d) -> Result<GaussianBuffers, RasterError> {
        g.validate().map_err(RasterError::Input)?;
        let d = self.device();
        let b = |label: &str, v: &[f32]| GpuSlice::whole(gb::storage_init(d, label, bytemuck::cast_slice(v)));
        Ok(GaussianBuffers {
            groups: ParamGroups::names().zip(g.groups()).map(|(name, values)| b(name, values)),
            count: g.len() as u32,
            sh_degree: g.sh_degree,
        })
    }

    /// Exclusive prefix sum of `n` u32 in `data`, in place.
    fn encode_scan(&self, enc: &mut wgpu::CommandEncoder, sizes: &mut Sizes, data: &wgpu::Buffer, n: Count) {
        if n.max() == 0 {
            return;
        }
        let blocks = n.max().div_ceil(1024);
        let (params, groups) = sizes.pass(n, 1024, Layout::Count);
        let sums = storage(self.device(), "block sums", blocks as u64 * 4);
        let bind = [(0, params.binding()), (1, data.as_entire_binding()), (2, sums.as_entire_binding())];
        self.dispatch(enc, Stage::Scan, "scan_blocks", &bind, groups.clone());
        // A GPU-resident count may need fewer levels than its bound: a one-block level scans to 0
        // and adds nothing, so recursing to the bound's depth stays exact.
        if blocks > 1 {
            let block_count = sizes.derive(n, 1024, 1);
            self.encode_scan(enc, sizes, &sums, block_count);
            self.dispatch(enc, Stage::Scan, "add_offsets", &bind, groups);
        }
    }

    /// Stable sort of `n` (key, value) pairs by the low `bits` bits of the key. Returns the index
    /// (0 or 1) of the buffer pair holding the result.
    fn encode_sort(
        &self,
        enc: &mut wgpu::CommandEncoder,
        sizes: &mut Sizes,
        keys: [&wgpu::Buffer; 2],
        values: [&wgpu::Buffer; 2],
        n: Count,
        bits: u32,
    ) -> usize {
        let mut current = 0;
        if n.max() <= 1 {
            return current;
        }
        let blocks = n.max().div_ceil(2048);
        let hist = storage(self.device(), "histograms", blocks as u64 * 16 * 4);
        let hist_count = sizes.derive(n, 2048, 16);
        for pass in 0..bits.div_ceil(4) {
            let (params, groups) = sizes.pass(n, 2048, Layout::Sort { shift: pass * 4 });
            let (src, dst) = (current, 1 - current);
            let bind = [
                (0, params.binding()),
                (1, keys[src].as_entire_binding()),
                (2, values[src].as_entire_binding()),
                (3, keys[dst].as_entire_binding()),
                (4, values[dst].as_entire_binding()),
                (5, hist.as_entire_binding()),
            ];
            self.dispatch(enc, Stage::RadixSort, "count", &bind, groups.clone());
            self.encode_scan(enc, sizes, &hist, hist_count);
            self.dispatch(enc, Stage::RadixSort, "scatter", &bind, groups);
            current = dst;
        }
        current
    }

    /// How many views fit in one chunk for `n` Gaussians.
    fn views_per_chunk(&self, n: u32) -> u32 {
        let by_binding = self.gpu.caps.max_storage_binding / PROJ_BYTES;
        let cap = self.max_chunk_pairs.min(by_binding);
        ((cap / (n.max(1) as u64)).max(1)).min(u32::MAX as u64) as u32
    }

    /// Renders every view into one batch of images (all views share a resolution).
    pub fn forward(
        &self,
        params: &GaussianBuffers,
        views: &[RasterView],
        write_depth: bool,
    ) -> Result<Rendered, RasterError> {
        self.forward_into(params, views, write_depth, None)
    }

    /// Like [`Rasterizer::forward`], writing the colour into `color_out` when given (e.g. a burn
    /// tensor's storage, views × height × width × 4 f32).
    pub fn forward_into(
        &self,
        params: &GaussianBuffers,
        views: &[RasterView],
        write_depth: bool,
        color_out: Option<GpuSlice>,
    ) -> Result<Rendered, RasterError> {
        self.forward_with(params, views, write_depth, color_out, Counting::ReadBack)
    }

    /// The general forward pass: [`Rasterizer::forward_into`] with a choice of [`Counting`].
    pub fn forward_with(
        &self,
        params: &GaussianBuffers,
        views: &[RasterView],
        write_depth: bool,
        color_out: Option<GpuSlice>,
        counting: Counting,
    ) -> Result<Rendered, RasterError> {
        let first = views.first().ok_or_else(|| RasterError::Input("no views to render".into()))?;
        let (width, height) = (first.camera.intrinsics.width, first.camera.intrinsics.height);
        if views.iter().any(|v| (v.camera.intrinsics.width, v.camera.intrinsics.height) != (width, height)) {
            return Err(RasterError::Input("all views of a batch must share one resolution".into()));
        }
        if width == 0 || height == 0 || width > 16384 || height > 16384 {
            return Err(RasterError::Input(format!("image size {width}x{height} is out of range (1..=16384)")));
        }
        let n = params.count;
        let pixels = views.len() as u64 * width as u64 * height as u64;
        if pixels * 16 > self.gpu.caps.max_storage_binding {
            return Err(RasterError::TooLarge(format!(
                "{} views of {width}x{height} need {} MiB of output, over the device's {} MiB binding limit; render fewer views at once",
                views.len(),
                (pixels * 16) >> 20,
                self.gpu.caps.max_storage_binding >> 20
            )));
        }
        let d = self.device();
        let view_data: Vec<ViewGpu> = views.iter().map(view_to_gpu).collect();
        let view_buffer = gb::storage_init(d, "views", bytemuck::cast_slice(&view_data));
        let color = match color_out {
            Some(c) if c.size < pixels * 16 => {
                return Err(RasterError::Input(format!(
                    "colour target holds {} bytes, {} needed",
                    c.size,
                    pixels * 16
                )));
            }
            Some(c) => c,
            None => GpuSlice::whole(storage(d, "color", pixels * 16)),
        };
        let depth = storage(d, "depth", pixels * 4);
        let final_t = storage(d, "final T", pixels * 4);
        let last = storage(d, "last contributor", pixels * 4);
        let (tiles_x, tiles_y) = (width.div_ceil(TILE), height.div_ceil(TILE));
        let per_chunk = self.views_per_chunk(n);
        let mut chunks = Vec::new();
        let (mut visible_total, mut pairs_total) = (0u64, 0u64);
        let mut offset = 0u32;
        while (offset as usize) < views.len() {
            let count = per_chunk.min(views.len() as u32 - offset);
            let globals = GlobalsGpu {
                num_gaussians: n,
                num_views: count,
                sh_coeffs: sh_coeffs(params.sh_degree) as u32,
                width,
                height,
                tiles_x,
                tiles_y,
                view_offset: offset,
            };
            let chunk = self.forward_chunk(
                params,
                &globals,
                &view_buffer,
                (&color, [&depth, &final_t, &last]),
                &RasterParams { total_views: views.len() as u32, write_depth: write_depth as u32 },
                counting,
            )?;
            visible_total += chunk.visible as u64;
            pairs_total += chunk.pairs as u64;
            chunks.push(chunk);
            offset += count;
        }
        Ok(Rendered {
            width,
            height,
            views: views.len() as u32,
            color,
            depth,
            final_t,
            last,
            view_buffer,
            chunks,
            visible_splats: (counting == Counting::ReadBack).then_some(visible_total),
            tile_pairs: (counting == Counting::ReadBack).then_some(pairs_total),
        })
    }

    fn forward_chunk(
        &self,
        params: &GaussianBuffers,
        globals: &GlobalsGpu,
        view_buffer: &wgpu::Buffer,
        outputs: (&GpuSlice, [&wgpu::Buffer; 3]),
        raster: &RasterParams,
        counting: Counting,
    ) -> Result<ChunkState, RasterError> {
        let d = self.device();
        let total = globals.num_gaussians * globals.num_views;
        let globals_buf = uniform(d, "globals", globals);
        let proj = [
            storage(d, "proj mean/depth/opacity", total as u64 * 16),
            storage(d, "proj conic/radius", total as u64 * 16),
            storage(d, "proj colour", total as u64 * 16),
        ];
        let tile_counts = storage(d, "tile counts", total as u64 * 4);
        let positions = storage(d, "visible positions", total as u64 * 4);
        let counters = storage(d, "counters", 8);
        let depth_keys = [storage(d, "depth keys", total as u64 * 4), storage(d, "depth keys 2", total as u64 * 4)];
        let depth_values =
            [storage(d, "depth values", total as u64 * 4), storage(d, "depth values 2", total as u64 * 4)];

        // Part 1: project, compact, count.
        let mut project = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("project") });
        if total > 0 {
            let (gx, gy) = grid(total.div_ceil(256));
            let mut bind = vec![(0, globals_buf.as_entire_binding()), (1, view_buffer.as_entire_binding())];
            bind.extend(params.bindings(2));
            bind.extend([
                (8, proj[0].as_entire_binding()),
                (9, proj[1].as_entire_binding()),
                (10, proj[2].as_entire_binding()),
                (11, tile_counts.as_entire_binding()),
                (12, positions.as_entire_binding()),
                (13, counters.as_entire_binding()),
            ]);
            self.dispatch(&mut project, Stage::Project, "main", &bind, (gx, gy, 1));
            self.encode_scan(&mut project, &mut Sizes::host(d), &positions, Count::Host(total));
            let cp = uniform(d, "compact", &CountParams { n: total, groups_x: gx });
            self.dispatch(
                &mut project,
                Stage::Compact,
                "main",
                &[
                    (0, cp.as_entire_binding()),
                    (1, tile_counts.as_entire_binding()),
                    (2, positions.as_entire_binding()),
                    (3, proj[0].as_entire_binding()),
                    (4, depth_keys[0].as_entire_binding()),
                    (5, depth_values[0].as_entire_binding()),
                ],
                (gx, gy, 1),
            );
        }
        let tiles_per_chunk = globals.tiles_x * globals.tiles_y * globals.num_views;
        // Part 1 waits for the size program when the counts stay on the GPU.
        let mut pending = Some(project);
        // The counts that size part 2: read back, or left on the GPU with buffers at their bounds.
        let (mut sizes, visible, pairs, pair_capacity) = match counting {
            Counting::ReadBack => {
                let staging = d.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("counters readback"),
                    size: 8,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                let mut project = pending.take().expect("part 1 is pending");
                project.copy_buffer_to_buffer(&counters, 0, &staging, 0, 8);
                self.gpu.queue.submit([project.finish()]);
                self.count_readback(8);
                let counts: Vec<u32> =
                    bytemuck::cast_slice(&gb::map_and_read(d, &staging, 8).map_err(RasterError::Gpu)?).to_vec();
                let (visible, pairs) = (counts[0], counts[1]);
                if pairs as u64 * 4 > self.gpu.caps.max_storage_binding {
                    return Err(RasterError::TooLarge(format!(
                        "{pairs} tile/splat pairs exceed the device's binding limit; render fewer views at once or lower the resolution"
                    )));
                }
                (Sizes::host(d), Count::Host(visible), Count::Host(pairs), pairs)
            }
            Counting::OnGpu => {
                let bound = total as u64 * (globals.tiles_x * globals.tiles_y) as u64;
                let capacity = bound.min(self.pair_budget).min(u32::MAX as u64) as u32;
                let mut sizes = Sizes::device(d);
                let visible = sizes.counter(0, total);
                let pairs = sizes.counter(1, capacity);
                (sizes, visible, pairs, capacity)
            }
        };

        // Part 2: sort by depth, emit pairs, sort by tile, find ranges, rasterize.
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("rasterize") });
        let sorted = self.encode_sort(
            &mut enc,
            &mut sizes,
            [&depth_keys[0], &depth_keys[1]],
            [&depth_values[0], &depth_values[1]],
            visible,
            32,
        );
        let (tile_keys, tile_values) = self.pair_buffers(pairs.max(), counting);
        let ranges = storage(d, "tile ranges", tiles_per_chunk as u64 * 8);
        let mut final_values = 0;
        if visible.max() > 0 {
            let counts_in_order = storage(d, "counts in depth order", visible.max() as u64 * 4);
            let (ep, groups) = sizes.pass(visible, 256, Layout::Emit { capacity: pair_capacity });
            let bind = [
                (0, globals_buf.as_entire_binding()),
                (1, depth_values[sorted].as_entire_binding()),
                (2, tile_counts.as_entire_binding()),
                (3, counts_in_order.as_entire_binding()),
                (4, proj[0].as_entire_binding()),
                (5, proj[1].as_entire_binding()),
                (6, proj[2].as_entire_binding()),
                (7, tile_keys[0].as_entire_binding()),
                (8, tile_values[0].as_entire_binding()),
                (9, ep.binding()),
            ];
            self.dispatch(&mut enc, Stage::Emit, "gather_counts", &bind, groups.clone());
            self.encode_scan(&mut enc, &mut sizes, &counts_in_order, visible);
            self.dispatch(&mut enc, Stage::Emit, "emit", &bind, groups);
            let tile_bits = 32 - (tiles_per_chunk.max(2) - 1).leading_zeros();
            final_values = self.encode_sort(
                &mut enc,
                &mut sizes,
                [&tile_keys[0], &tile_keys[1]],
                [&tile_values[0], &tile_values[1]],
                pairs,
                tile_bits,
            );
            let (rp, groups) = sizes.pass(pairs, 256, Layout::Count);
            self.dispatch(
                &mut enc,
                Stage::TileRanges,
                "main",
                &[(0, rp.binding()), (1, tile_keys[final_values].as_entire_binding()), (2, ranges.as_entire_binding())],
                groups,
            );
        }
        let raster_params = uniform(d, "raster", raster);
        let (color, [depth, final_t, last]) = outputs;
        self.dispatch(
            &mut enc,
            Stage::Rasterize,
            "main",
            &[
                (0, globals_buf.as_entire_binding()),
                (1, view_buffer.as_entire_binding()),
                (2, ranges.as_entire_binding()),
                (3, tile_values[final_values].as_entire_binding()),
                (4, proj[0].as_entire_binding()),
                (5, proj[1].as_entire_binding()),
                (6, proj[2].as_entire_binding()),
                (7, color.as_entire_binding()),
                (8, depth.as_entire_binding()),
                (9, last.as_entire_binding()),
                (10, raster_params.as_entire_binding()),
                (11, final_t.as_entire_binding()),
            ],
            (globals.tiles_x, globals.tiles_y, globals.num_views),
        );
        match pending {
            Some(mut project) => {
                if let Some([program, values, params, indirect]) = sizes.program() {
                    let bindings = [counters.as_entire_binding(), program.as_entire_binding()];
                    let more = [values.as_entire_binding(), params.as_entire_binding(), indirect.as_entire_binding()];
                    let entries: Vec<(u32, wgpu::BindingResource)> =
                        bindings.into_iter().chain(more).enumerate().map(|(i, b)| (i as u32, b)).collect();
                    self.dispatch(&mut project, Stage::Sizes, "main", &entries, (1, 1, 1));
                }
                self.gpu.queue.submit([project.finish(), enc.finish()])
            }
            None => self.gpu.queue.submit([enc.finish()]),
        };
        let [tv0, tv1] = tile_values;
        Ok(ChunkState {
            views: globals.num_views,
            globals: globals_buf,
            proj,
            ranges,
            tile_values: if final_values == 0 { tv0 } else { tv1 },
            visible: visible.max(),
            pairs: pairs.max(),
            pair_capacity,
            counters,
        })
    }

    /// Room for `pairs` (tile, splat) pairs: new buffers for a read-back pass (its `Rendered` keeps
    /// them for the backward pass), the kept ones for a GPU-counted pass (grown when too small).
    fn pair_buffers(&self, pairs: u32, counting: Counting) -> ([wgpu::Buffer; 2], [wgpu::Buffer; 2]) {
        let d = self.device();
        let make = |capacity: u32| {
            let bytes = capacity as u64 * 4;
            PairScratch {
                capacity,
                keys: [storage(d, "tile keys", bytes), storage(d, "tile keys 2", bytes)],
                values: [storage(d, "tile values", bytes), storage(d, "tile values 2", bytes)],
            }
        };
        if counting == Counting::ReadBack {
            let PairScratch { keys, values, .. } = make(pairs);
            return (keys, values);
        }
        let mut kept = self.pair_scratch.lock().unwrap_or_else(|e| e.into_inner());
        if kept.as_ref().is_none_or(|k| k.capacity < pairs) {
            *kept = Some(make(pairs));
        }
        let k = kept.as_ref().expect("made above");
        (k.keys.clone(), k.values.clone())
    }

    /// Gradients of every parameter given dL/d(r, g, b, alpha) per pixel of `rendered`
    /// (a buffer laid out like `rendered.color`).
    pub fn backward(
        &self,
        params: &GaussianBuffers,
        rendered: &Rendered,
        d_color: &GpuSlice,
    ) -> Result<GradientBuffers, RasterError> {
        let d = self.device();
        let n = params.count as u64;
        let grads = GaussianBuffers {
            groups: ParamGroups::names()
                .zip(ParamGroups::widths(params.sh_degree))
                .map(|(name, width)| GpuSlice::whole(storage(d, &format!("d {name}"), n * width as u64 * 4))),
            count: params.count,
            sh_degree: params.sh_degree,
        };
        self.backward_into(params, rendered, d_color, &grads)?;
        Ok(GradientBuffers(grads))
    }

    /// Like [`Rasterizer::backward`], writing into caller-provided gradient storage (overwritten).
    pub fn backward_into(
        &self,
        params: &GaussianBuffers,
        rendered: &Rendered,
        d_color: &GpuSlice,
        grads: &GaussianBuffers,
    ) -> Result<(), RasterError> {
        if rendered.visible_splats.is_none() {
            // Its pair buffers are reused by the next such pass.
            return Err(RasterError::Input(
                "a forward pass with counts on the GPU is for display; render with Counting::ReadBack to differentiate"
                    .into(),
            ));
        }
        let d = self.device();
        let pixels = rendered.views as u64 * rendered.width as u64 * rendered.height as u64;
        if d_color.size < pixels * 16 {
            return Err(RasterError::Input(format!(
                "pixel gradients hold {} bytes, {} needed",
                d_color.size,
                pixels * 16
            )));
        }
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("backward") });
        for g in grads.groups().into_array() {
            enc.clear_buffer(&g.buffer, g.offset, Some(g.size));
        }
        for chunk in &rendered.chunks {
            let total = params.count as u64 * chunk.views as u64;
            let proj_grads = storage(d, "projected gradients", total * 9 * 4);
            if chunk.pairs > 0 {
                self.dispatch(
                    &mut enc,
                    Stage::RasterizeBackward,
                    "main",
                    &[
                        (0, chunk.globals.as_entire_binding()),
                        (1, rendered.view_buffer.as_entire_binding()),
                        (2, chunk.ranges.as_entire_binding()),
                        (3, chunk.tile_values.as_entire_binding()),
                        (4, chunk.proj[0].as_entire_binding()),
                        (5, chunk.proj[1].as_entire_binding()),
                        (6, chunk.proj[2].as_entire_binding()),
                        (7, rendered.final_t.as_entire_binding()),
                        (8, rendered.last.as_entire_binding()),
                        (9, d_color.as_entire_binding()),
                        (10, proj_grads.as_entire_binding()),
                    ],
                    (rendered.width.div_ceil(TILE), rendered.height.div_ceil(TILE), chunk.views),
                );
            }
            if params.count > 0 && chunk.visible > 0 {
                let (gx, gy) = grid(params.count.div_ceil(256));
                let mut bind =
                    vec![(0, chunk.globals.as_entire_binding()), (1, rendered.view_buffer.as_entire_binding())];
                bind.extend(params.bindings(2));
                bind.push((8, proj_grads.as_entire_binding()));
                bind.extend(grads.bindings(9));
                self.dispatch(&mut enc, Stage::ProjectBackward, "main", &bind, (gx, gy, 1));
            }
        }
        self.gpu.queue.submit([enc.finish()]);
        Ok(())
    }

    fn count_readback(&self, bytes: u64) {
        self.readback_bytes.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Bytes this rasterizer has mapped back to the CPU since it was made.
    pub fn readback_bytes(&self) -> u64 {
        self.readback_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reads the rendered images: views × height × width × (r, g, b, alpha).
    pub fn read_color(&self, r: &Rendered) -> Result<Vec<f32>, RasterError> {
        self.count_readback((r.views * r.width * r.height * 16) as u64);
        gb::read_f32(self.device(), &self.gpu.queue, &r.color, (r.views * r.width * r.height * 4) as usize)
            .map_err(RasterError::Gpu)
    }

    /// How many entries of its tile's depth-sorted list each pixel walked before it saturated (or
    /// the list ended): views × height × width. The work of both raster kernels grows with it.
    pub fn read_walked(&self, r: &Rendered) -> Result<Vec<u32>, RasterError> {
        let bytes = (r.views * r.width * r.height) as u64 * 4;
        self.count_readback(bytes);
        let raw = gb::read_range(self.device(), &self.gpu.queue, &r.last, 0, bytes).map_err(RasterError::Gpu)?;
        Ok(bytemuck::pod_collect_to_vec(&raw))
    }

    /// Each chunk's counts as the projection made them (a read-back: tests and benchmarks).
    pub fn read_counts(&self, r: &Rendered) -> Result<Vec<ChunkCounts>, RasterError> {
        r.chunks
            .iter()
            .map(|c| {
                self.count_readback(8);
                let raw =
                    gb::read_range(self.device(), &self.gpu.queue, &c.counters, 0, 8).map_err(RasterError::Gpu)?;
                let counts: Vec<u32> = bytemuck::pod_collect_to_vec(&raw);
                Ok(ChunkCounts { visible: counts[0], pairs: counts[1], pair_capacity: c.pair_capacity })
            })
            .collect()
    }

    pub fn read_depth(&self, r: &Rendered) -> Result<Vec<f32>, RasterError> {
        let depth = GpuSlice::whole(r.depth.clone());
        self.count_readback((r.views * r.width * r.height * 4) as u64);
        gb::read_f32(self.device(), &self.gpu.queue, &depth, (r.views * r.width * r.height) as usize)
            .map_err(RasterError::Gpu)
    }

    /// Reads GPU parameters (or gradients) back into the CPU layout.
    pub fn download(&self, b: &GaussianBuffers) -> Result<Gaussians4d, RasterError> {
        let n = b.count as usize;
        let read = |buf: &GpuSlice, count: usize| {
            self.count_readback(count as u64 * 4);
            gb::read_f32(self.device(), &self.gpu.queue, buf, count).map_err(RasterError::Gpu)
        };
        let rows = b.groups.as_ref().zip(ParamGroups::widths(b.sh_degree)).into_array();
        let mut read_back = Vec::with_capacity(6);
        for (buf, width) in rows {
            read_back.push(read(buf, n * width)?);
        }
        let groups = ParamGroups::from_array(read_back.try_into().expect("six groups"));
        Ok(Gaussians4d::from_groups(groups, b.sh_degree))
    }

    /// Uploads per-pixel gradients dL/d(r, g, b, alpha) laid out like `Rendered::color`.
    pub fn upload_pixel_grads(&self, data: &[f32]) -> GpuSlice {
        GpuSlice::whole(gb::storage_init(self.device(), "d colour", bytemuck::cast_slice(data)))
    }
}

impl Rendered {
    /// Bytes of every GPU buffer this forward pass holds (outputs and backward state).
    pub fn gpu_bytes(&self) -> u64 {
        let own = self.color.size
            + [&self.depth, &self.final_t, &self.last, &self.view_buffer].iter().map(|b| b.size()).sum::<u64>();
        own + self
            .chunks
            .iter()
            .map(|c| c.proj.iter().map(|b| b.size()).sum::<u64>() + c.ranges.size() + c.tile_values.size())
            .sum::<u64>()
    }
}

impl GaussianBuffers {
    pub fn gpu_bytes(&self) -> u64 {
        self.groups().into_array().iter().map(|b| b.size).sum()
    }

    /// The six groups by name; their binding order is `ParamGroups::NAMES`'.
    pub fn groups(&self) -> ParamGroups<&GpuSlice> {
        self.groups.as_ref()
    }

    /// The six groups bound at consecutive indices from `first` (the layout of gaussian_params.wgsl).
    fn bindings(&self, first: u32) -> impl Iterator<Item = (u32, wgpu::BindingResource<'_>)> {
        self.groups().into_array().into_iter().zip(first..).map(|(s, i)| (i, s.as_entire_binding()))
    }
}

/// Pair slots a [`Counting::OnGpu`] pass reserves per chunk: 16 bytes each (keys and values, twice),
/// so 2^24 pairs take 256 MiB, and never more than one binding holds.
fn default_pair_budget(caps: &crate::gpu::GpuCaps) -> u64 {
    (caps.max_storage_binding / 4).min(1 << 24)
}

fn view_to_gpu(v: &RasterView) -> ViewGpu {
    let k = v.camera.intrinsics;
    let pos = v.camera.position();
    ViewGpu {
        world_to_camera: v.camera.world_to_camera.as_mat4().to_cols_array_2d(),
        position_time: [pos.x as f32, pos.y as f32, pos.z as f32, v.time],
        intrinsics: [k.fx as f32, k.fy as f32, k.cx as f32, k.cy as f32],
        background: [v.background[0], v.background[1], v.background[2], 0.0],
    }
}

#[cfg(test)]
mod uniform_layouts {
    use super::*;
    use crate::render::shaders::wgsl_struct_layout;
    use crate::rust_layout;

    /// Every uniform struct written from Rust has the layout its shader reads.
    #[test]
    fn rust_uniforms_match_their_wgsl_structs() {
        let globals = rust_layout!(GlobalsGpu {
            num_gaussians,
            num_views,
            sh_coeffs,
            width,
            height,
            tiles_x,
            tiles_y,
            view_offset
        });
        assert_eq!(globals, wgsl_struct_layout(Stage::Project, "Globals"));
        let view = rust_layout!(ViewGpu { world_to_camera, position_time, intrinsics, background });
        assert_eq!(view, wgsl_struct_layout(Stage::Project, "View"));
        let count = rust_layout!(CountParams { n, groups_x });
        let users =
            [(Stage::Scan, "ScanParams"), (Stage::Compact, "CompactParams"), (Stage::TileRanges, "RangeParams")];
        for (stage, name) in users {
            assert_eq!(count, wgsl_struct_layout(stage, name), "{name}");
        }
        // Parameter blocks written as words by `gpu_sizes`: four u32 in declaration order.
        let words = (vec![(0, 4), (4, 4), (8, 4), (12, 4)], 16);
        assert_eq!(words, wgsl_struct_layout(Stage::RadixSort, "SortParams"));
        assert_eq!(words, wgsl_struct_layout(Stage::Emit, "EmitParams"));
        let raster = rust_layout!(RasterParams { total_views, write_depth });
        assert_eq!(raster, wgsl_struct_layout(Stage::Rasterize, "RasterParams"));
    }
}
