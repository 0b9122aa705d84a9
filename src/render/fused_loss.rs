//! Host side of the fused training loss (shaders/loss.wgsl): the loss value and its gradient with
//! respect to the rendered images in one sequence of passes, no autodiff graph. Measured on
//! lavapipe it replaces ~1.6 s of burn ops per 4×256² batch (see the trainer issue's note).

use super::gpu_buffers::{GpuSlice, grid, storage, uniform};
use super::raster::{RasterError, Rasterizer};
use super::shaders::Stage;

/// Outputs per blur invocation (`SEGMENT` in shaders/loss.wgsl).
const BLUR_SEGMENT: u32 = 32;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct LossParams {
    views: u32,
    width: u32,
    height: u32,
    maps: u32,
    ssim_weight: f32,
    mask_weight: f32,
    groups_x: u32,
    partial_count: u32,
}

/// The tensors of one loss evaluation ([views, height, width, 4] images, [.., 1] confidence).
pub struct LossBuffers<'a> {
    pub rendered: &'a GpuSlice,
    pub target: &'a GpuSlice,
    pub confidence: &'a GpuSlice,
    /// Out: dL/d(rendered), same layout as `rendered`.
    pub grad: &'a GpuSlice,
    /// Out: [total, l1, ssim, mask].
    pub loss: &'a GpuSlice,
    /// Out: [total].
    pub total: &'a GpuSlice,
}

impl Rasterizer {
    /// Evaluates (1 − λ)·L1_C + λ·(1 − SSIM_C) + w·L1(alpha) and its gradient.
    pub fn loss_into(
        &self,
        b: LossBuffers,
        views: u32,
        width: u32,
        height: u32,
        ssim_weight: f32,
        mask_weight: f32,
    ) -> Result<(), RasterError> {
        let pixels = views as u64 * width as u64 * height as u64;
        if pixels == 0 {
            return Err(RasterError::Input("empty loss batch".into()));
        }
        for (name, s, bytes) in [
            ("rendered", b.rendered, 16),
            ("target", b.target, 16),
            ("confidence", b.confidence, 4),
            ("gradient", b.grad, 16),
        ] {
            if s.size < pixels * bytes {
                return Err(RasterError::Input(format!("{name} holds {} bytes, {} needed", s.size, pixels * bytes)));
            }
        }
        let d = self.device();
        let groups = (pixels as u32).div_ceil(256);
        let (gx, gy) = grid(groups);
        let maps_a = storage(d, "loss maps a", pixels * 16 * 4);
        let maps_b = storage(d, "loss maps b", pixels * 16 * 4);
        let partials = storage(d, "loss partials", gx as u64 * gy as u64 * 3 * 4);
        let p = |maps: u32| LossParams {
            views,
            width,
            height,
            maps,
            ssim_weight,
            mask_weight,
            groups_x: gx,
            partial_count: gx * gy,
        };
        let (p16, p9) = (uniform(d, "loss 16", &p(16)), uniform(d, "loss 9", &p(9)));
        let mut enc = d.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("loss") });
        fn bind<'a>(
            b: &'a LossBuffers,
            params: &'a wgpu::Buffer,
            maps_a: &'a wgpu::Buffer,
            maps_b: &'a wgpu::Buffer,
            partials: &'a wgpu::Buffer,
        ) -> [(u32, wgpu::BindingResource<'a>); 10] {
            [
                (0, params.as_entire_binding()),
                (1, b.rendered.as_entire_binding()),
                (2, b.target.as_entire_binding()),
                (3, b.confidence.as_entire_binding()),
                (4, maps_a.as_entire_binding()),
                (5, maps_b.as_entire_binding()),
                (6, partials.as_entire_binding()),
                (7, b.grad.as_entire_binding()),
                (8, b.loss.as_entire_binding()),
                (9, b.total.as_entire_binding()),
            ]
        }
        let pass =
            |enc: &mut wgpu::CommandEncoder, entry: &'static str, params: &wgpu::Buffer, groups: (u32, u32, u32)| {
                self.dispatch(enc, Stage::Loss, entry, &bind(&b, params, &maps_a, &maps_b, &partials), groups);
            };
        let all = (gx, gy, 1);
        // One blur invocation per (line, 32-pixel segment, map); see `blur_segment` in the shader.
        let blur_grid = |maps: u32, horizontal: bool| {
            let (lines, length) = if horizontal { (views * height, width) } else { (views * width, height) };
            let (x, y) = grid((lines * length.div_ceil(BLUR_SEGMENT) * maps).div_ceil(256));
            (x, y, 1)
        };
        pass(&mut enc, "products", &p16, all);
        pass(&mut enc, "blur_h", &p16, blur_grid(16, true));
        pass(&mut enc, "blur_v", &p16, blur_grid(16, false));
        pass(&mut enc, "ssim_terms", &p16, all);
        pass(&mut enc, "blur_v", &p9, blur_grid(9, false));
        pass(&mut enc, "blur_h", &p9, blur_grid(9, true));
        pass(&mut enc, "gradient", &p9, all);
        pass(&mut enc, "reduce", &p9, (1, 1, 1));
        self.gpu().queue.submit([enc.finish()]);
        Ok(())
    }
}

#[cfg(test)]
mod uniform_layout {
    use super::LossParams;
    use crate::render::shaders::{Stage, wgsl_struct_layout};
    use crate::rust_layout;

    #[test]
    fn loss_params_match_the_shader() {
        let rust =
            rust_layout!(LossParams { views, width, height, maps, ssim_weight, mask_weight, groups_x, partial_count });
        assert_eq!(rust, wgsl_struct_layout(Stage::Loss, "LossParams"));
    }
}
