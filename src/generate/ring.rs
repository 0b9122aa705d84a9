//! The benchmark ring: a 16-view × F-frame matrix rendered from a known animated scene, with held-out
//! views, to train on and score against the truth (`bench ring`).

use crate::gaussians::random::RandomScene;
use crate::generate::render_matrix::{MatrixError, MatrixSpec, render_image_matrix};
use crate::render::Rasterizer;
use std::path::Path;

/// The known scene the ring is rendered from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RingScene {
    /// The bundled demo's creature (256², the rig's intrinsics).
    Creature,
    /// 2000 random splats in the object ball, moved by their 4D rotations (any size).
    Random,
}

/// Renders the ring of `scene` into `dir`: `frames` key frames; `size`² images for `Random` (the
/// creature's matrix is 256²). Held out: the demo's test cameras (creature), or eight in-between
/// azimuths and two other elevations (random).
pub fn write_ring(rast: &Rasterizer, dir: &Path, scene: RingScene, size: u32, frames: u32) -> Result<(), MatrixError> {
    match scene {
        RingScene::Creature => crate::generate::demo::write_truth_matrix(rast, dir, frames, false),
        RingScene::Random => {
            let truth = RandomScene {
                count: 2000,
                seed: 2024,
                radius: 0.4,
                log_scale: (-3.8, -2.6),
                log_scale_t: (-1.0, 0.3),
                opacity_logit: (0.0, 3.0),
                sh_degree: 0,
            }
            .build();
            let test_views: Vec<(f64, f64)> =
                (0..8).map(|i| (i as f64 * 45.0 + 11.25, 30.0)).chain([(0.0, 0.0), (90.0, 10.0)]).collect();
            let spec = MatrixSpec { size, frames, test_views, test_frames: 4 };
            render_image_matrix(rast, &truth, dir, &spec)
        }
    }
}
