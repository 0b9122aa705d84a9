//! Presenting a rendered view without a read-back: a compute pass copies one view of the rasterizer's
//! colour buffer into an RGBA8 texture on the same device (`shaders/present.wgsl`), which the app hands
//! to egui-wgpu as a native texture. Screenshots and tests read the colour buffer back on demand only.

use super::Rendered;
use super::gpu_buffers::uniform;
use crate::gpu::GpuContext;
use std::sync::Arc;

pub(crate) const SHADER: &str = include_str!("../../shaders/present.wgsl");
/// What egui-wgpu samples a native texture as.
pub const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
struct PresentParams {
    width: u32,
    height: u32,
    offset: u32,
    _pad: u32,
}

/// A texture the presenter writes and egui samples.
pub struct PresentTarget {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub size: (u32, u32),
}

pub struct Presenter {
    gpu: Arc<GpuContext>,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl Presenter {
    pub fn new(gpu: Arc<GpuContext>) -> Self {
        let d = &gpu.device;
        let buffer = |binding, ty| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer { ty, has_dynamic_offset: false, min_binding_size: None },
            count: None,
        };
        let layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("present"),
            entries: &[
                buffer(0, wgpu::BufferBindingType::Uniform),
                buffer(1, wgpu::BufferBindingType::Storage { read_only: true }),
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::StorageTexture {
                        access: wgpu::StorageTextureAccess::WriteOnly,
                        format: FORMAT,
                        view_dimension: wgpu::TextureViewDimension::D2,
                    },
                    count: None,
                },
            ],
        });
        let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("present"),
            source: wgpu::ShaderSource::Wgsl(SHADER.into()),
        });
        let pl = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("present"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("present"),
            layout: Some(&pl),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Self { gpu, pipeline, layout }
    }

    /// A texture of `size` the presenter can write and egui can sample (and tests can copy from).
    pub fn target(&self, size: (u32, u32)) -> PresentTarget {
        let texture = self.gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("viewport image"),
            size: wgpu::Extent3d { width: size.0, height: size.1, depth_or_array_layers: 1 },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FORMAT,
            // COPY_DST: `bench view` uploads into the same texture to time the read-back path.
            usage: wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        PresentTarget { texture, view, size }
    }

    /// Writes view `index` of `rendered` into `target` (same size) and submits; returns the submission.
    pub fn present(
        &self,
        rendered: &Rendered,
        index: u32,
        target: &PresentTarget,
    ) -> Result<wgpu::SubmissionIndex, String> {
        let (w, h) = (rendered.width, rendered.height);
        if target.size != (w, h) || index >= rendered.views {
            return Err(format!("present: view {index} of {w}x{h} into a {:?} target", target.size));
        }
        let d = &self.gpu.device;
        let params = uniform(d, "present", &PresentParams { width: w, height: h, offset: index * w * h, _pad: 0 });
        let bind = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("present"),
            layout: &self.layout,
            entries: &[
                wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 1, resource: rendered.color.as_entire_binding() },
                wgpu::BindGroupEntry { binding: 2, resource: wgpu::BindingResource::TextureView(&target.view) },
            ],
        });
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("present") });
        {
            let mut pass =
                enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("present"), timestamp_writes: None });
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(w.div_ceil(8), h.div_ceil(8), 1);
        }
        Ok(self.gpu.queue.submit([enc.finish()]))
    }

    /// Reads a target back as RGBA8 rows (tests and benchmarks only: the frame path never does).
    pub(crate) fn read_target(&self, target: &PresentTarget) -> Result<Vec<u8>, String> {
        let (w, h) = target.size;
        let row = (w * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let d = &self.gpu.device;
        let staging = d.create_buffer(&wgpu::BufferDescriptor {
            label: Some("viewport image readback"),
            size: (row * h) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("read target") });
        enc.copy_texture_to_buffer(
            target.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &staging,
                layout: wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(row), rows_per_image: Some(h) },
            },
            wgpu::Extent3d { width: w, height: h, depth_or_array_layers: 1 },
        );
        self.gpu.queue.submit([enc.finish()]);
        let bytes = super::gpu_buffers::map_and_read(d, &staging, (row * h) as u64)?;
        Ok(bytes.chunks_exact(row as usize).flat_map(|r| &r[..(w * 4) as usize]).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_params_match_the_wgsl_struct() {
        let module = naga::front::wgsl::parse_str(SHADER).expect("present.wgsl parses");
        let want = crate::render::shaders::struct_layout_in(&module, "PresentParams");
        assert_eq!(crate::rust_layout!(PresentParams { width, height, offset, _pad }), want);
    }
}
