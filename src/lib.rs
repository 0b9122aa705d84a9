//! efficient4d: a short single-view video of an object → an animated 3D object (4D Gaussian splats),
//! after *Fast Dynamic 3D Object Generation from a Single-view Video* (Efficient4D).
//!
//! Modules follow the pipeline: `video` (decode, mask, crop) → `generate` (stage 1: the 16-view
//! image matrix) → `dataset` (the D-NeRF convention between the stages) → `gaussians` + `render` +
//! `train` (stage 2) → `export`; `app` is the desktop viewer; `gpu` owns the shared wgpu device.

pub mod app;
pub mod atomic_file;
pub mod camera;
pub mod cli;
pub mod commands;
pub mod dataset;
pub mod export;
pub mod gaussians;
pub mod generate;
pub mod gpu;
pub mod interpolate;
pub mod render;
pub mod train;
pub mod video;
pub mod weights;
