//! efficient4d: a short single-view video of an object → an animated 3D object (4D Gaussian splats),
//! after *Fast Dynamic 3D Object Generation from a Single-view Video* (Efficient4D).
//!
//! Modules depend downward only:
//! - foundations: `camera`, `gpu`, `dataset` (the D-NeRF convention between the stages), `gaussians`,
//!   `video` (decode, mask, crop), `metrics`, `weights`, `atomic_file`, `machine` (what a benchmark
//!   ran on, and how fast it was then), `browser` (a headless Chromium, where the HTML player is checked);
//! - `render`: the WGSL tile rasterizer, forward and backward, and its burn op;
//! - the stages: `generate` (stage 1: the 16-view image matrix), `interpolate` (new frames and
//!   confidence maps), `train` (stage 2), `export` (checkpoint, PLY, turntable);
//! - `pipeline`: one job that runs the stages for an input and reports events; `gpu_check`: the
//!   rasterizer, loss and burn op on this device against their references (`efficient4d gpu --check`);
//! - the desktop app, `app` (kept in the library so its tests drive it headless); the command line
//!   (`cli`, `commands`) lives in the binary, `src/main.rs`: neither front end is library API.

pub mod app;
pub mod atomic_file;
pub mod browser;
pub mod camera;
pub mod dataset;
pub mod export;
pub mod gaussians;
pub mod generate;
pub mod gpu;
pub mod gpu_check;
pub mod interpolate;
pub mod machine;
pub mod metrics;
pub mod pipeline;
pub mod render;
pub mod train;
pub mod video;
pub mod weights;
