//! Rendering 4D Gaussians: the CPU reference (f64) and the WGSL tile-based rasterizer.

pub(crate) mod burn_op;
pub mod compare;
pub(crate) mod fused_loss;
pub mod gpu_buffers;
mod gpu_sizes;
pub mod present;
pub(crate) mod profiler;
pub(crate) mod raster;
pub mod reference;
pub(crate) mod shaders;

pub use raster::{
    ChunkCounts, Counting, GaussianBuffers, GradientBuffers, RasterError, RasterView, Rasterizer, Rendered,
};

/// A rendered colour buffer (r, g, b, alpha in f32, already over the view's background) as opaque
/// RGBA8: what screens, PNGs and GIFs get.
pub fn opaque_rgba8(color: &[f32]) -> Vec<u8> {
    color
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2], 1.0].map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8))
        .collect()
}
