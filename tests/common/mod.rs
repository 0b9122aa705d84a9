//! Helpers shared by the rasterizer tests.
#![allow(dead_code)]

pub mod hub;

use efficient4d::gaussians::random::RandomScene;
use efficient4d::generate::render_matrix::{MatrixSpec, render_image_matrix};
use efficient4d::gpu::GpuContext;
use efficient4d::render::compare;
use efficient4d::render::reference::ReferenceImage;
use efficient4d::render::{RasterView, Rasterizer};
use std::sync::{Arc, Mutex, OnceLock};

pub const BG: [f32; 3] = [1.0, 0.9, 0.8];

/// How long a test waits on a background job before it calls the job hung. It is a hang ceiling and
/// nothing more: no test asserts how fast anything runs. The longest wait it guards (the app's whole
/// demo job in `app_ui`) takes under 30 s on an idle 2-core CI machine with warm caches (the whole
/// `app_ui` binary: 27 s; docs/tests.md); at 10× slower (a cold, slow, busy host) that is under 5
/// minutes, and CI's own limit is 90.
pub const HANG_CEILING: std::time::Duration = std::time::Duration::from_secs(20 * 60);

pub fn gpu() -> Arc<GpuContext> {
    GpuContext::shared().expect("a GPU adapter (install mesa-vulkan-drivers for a CPU one)")
}

/// One rasterizer per process (pipeline creation costs ~1 s on lavapipe); tests take turns.
pub fn rasterizer() -> std::sync::MutexGuard<'static, Rasterizer> {
    static R: OnceLock<Mutex<Rasterizer>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Rasterizer::new(gpu()).unwrap())).lock().unwrap_or_else(|e| e.into_inner())
}

/// Rig view `i` at `time`, rendered at w × h on `BG`.
pub fn rig_view(i: u32, time: f32, w: u32, h: u32) -> RasterView {
    compare::rig_view(i, time, (w, h), BG)
}

pub fn reference(gs: &efficient4d::gaussians::Gaussians4d, v: &RasterView) -> ReferenceImage {
    compare::reference_image(gs, v)
}

pub fn diff(rendered: &[f32], r: &ReferenceImage) -> compare::ImageDiff {
    compare::image_diff(rendered, r)
}

/// Renders a small random 4D scene into a dataset: the 16 rig views × `frames` for training, 8
/// in-between azimuths at the same times held out.
pub fn write_truth(dir: &std::path::Path, size: u32, frames: u32) {
    let scene = RandomScene {
        count: 400,
        seed: 77,
        radius: 0.35,
        log_scale: (-3.2, -2.3),
        log_scale_t: (-0.5, 0.5),
        opacity_logit: (0.0, 3.0),
        ..Default::default()
    }
    .build();
    let test_views = (0..8).map(|i| (i as f64 * 45.0 + 11.25, 30.0)).collect();
    let spec = MatrixSpec { size, frames, test_views, test_frames: frames };
    render_image_matrix(&rasterizer(), &scene, dir, &spec).unwrap();
}

/// `bytes` with the byte at each `at` (mod length) XORed by its value, then cut at `cut` (mod length + 1):
/// the mutations of the bounded fuzz passes.
pub fn mutate(bytes: &[u8], flips: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for &(at, v) in flips {
        let i = at % out.len();
        out[i] ^= v;
    }
    if let Some(c) = cut {
        out.truncate(c % (out.len() + 1));
    }
    out
}

/// The demo creature in three poses (a 4D flipbook) saved in `dir` as a checkpoint with three key
/// frames at times 0, 0.5 and 1; its path.
pub fn flipbook_checkpoint(dir: &std::path::Path) -> std::path::PathBuf {
    use efficient4d::export::{Checkpoint, CheckpointMeta};
    let gaussians = efficient4d::generate::demo::creature_flipbook(3);
    let meta = CheckpointMeta {
        format_version: 1,
        time_range: [0.0, 1.0],
        sh_degree: 0,
        background: [1.0; 3],
        rig: None,
        frame_times: vec![0.0, 0.5, 1.0],
        iterations: 0,
        settings: serde_json::Value::Null,
    };
    let path = dir.join("model.safetensors");
    Checkpoint { gaussians, meta }.save(&path).unwrap();
    path
}
