//! Rendering 4D Gaussians: the CPU reference (f64) and the WGSL tile-based rasterizer.

pub mod bench;
pub mod bench_view;
pub mod burn_op;
pub mod fused_loss;
pub mod gpu_buffers;
pub mod raster;
pub mod reference;
pub mod shaders;

pub use raster::{GaussianBuffers, GradientBuffers, RasterError, RasterView, Rasterizer, Rendered};
