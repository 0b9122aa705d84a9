//! `efficient4d bench player`: the one-file HTML player as a receiver gets it — its size, and its frame
//! time in headless Chromium (WebGL2 on SwiftShader here, the CPU; a real GPU in a desktop browser is far
//! faster) — for random 4D clouds of 10k and 100k splats and for any checkpoints given (`--model`).
//! The camera orbits and time runs, so every frame is sorted anew; the sort (in the player's worker)
//! and the draw are timed apart, because in the player they overlap: a frame costs the draw, and the
//! order lags by a frame when the sort is the slower.

use super::bench_raster::bench_scene;
use efficient4d::browser::Browser;
use efficient4d::export::Checkpoint;
use efficient4d::export::html_player::{PlayerSettings, rig_cameras, write_html_player};
use efficient4d::gaussians::Gaussians4d;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The drawing buffer's side in pixels.
pub const CANVAS: u32 = 800;

#[derive(Clone, Debug, Serialize)]
pub struct PlayerBenchRow {
    /// `random N` (splats) or the checkpoint's path.
    pub model: String,
    pub splats: usize,
    pub file_bytes: u64,
    pub bytes_per_10k_splats: f64,
    /// Median per frame: the depth sort (worker, including the hand-over) and the draw (waited for).
    pub sort_ms: f64,
    pub draw_ms: f64,
    /// Frames per second the draw allows.
    pub fps: f64,
    pub frames: usize,
    pub canvas: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlayerBench {
    pub browser: String,
    pub rows: Vec<PlayerBenchRow>,
}

fn bench_one(
    browser: &mut Browser,
    dir: &Path,
    name: &str,
    g: &Gaussians4d,
    frames: usize,
) -> anyhow::Result<PlayerBenchRow> {
    let html = dir.join("player.html");
    let rig = efficient4d::camera::SyncDreamerRig::default();
    let splats =
        write_html_player(&html, g, (0.0, 1.0), &rig_cameras(&rig, None), &PlayerSettings::new(name, [1.0; 3]))?;
    let file_bytes = std::fs::metadata(&html)?.len();
    browser.open(&format!("file://{}", html.display()), Duration::from_secs(120))?;
    browser
        .wait_until("window.efficient4dPlayer && efficient4dPlayer.player.drawCount > 0", Duration::from_secs(300))?;
    let figures =
        browser.evaluate(&format!("efficient4dPlayer.benchmark({frames}, {CANVAS})"), Duration::from_secs(1800))?;
    anyhow::ensure!(browser.errors().is_empty(), "the player reported errors: {:?}", browser.errors());
    let ms = |key: &str| figures[key].as_f64().ok_or_else(|| anyhow::anyhow!("no `{key}` in {figures}"));
    let (sort_ms, draw_ms) = (ms("sort_ms")?, ms("draw_ms")?);
    Ok(PlayerBenchRow {
        model: name.to_string(),
        splats,
        file_bytes,
        bytes_per_10k_splats: file_bytes as f64 * 1e4 / splats.max(1) as f64,
        sort_ms,
        draw_ms,
        fps: 1e3 / draw_ms.max(1e-9),
        frames,
        canvas: CANVAS,
    })
}

/// Random clouds of 10k and 100k splats, then each checkpoint in `models`.
pub fn bench_player(
    models: &[PathBuf],
    frames: usize,
    progress: impl Fn(&PlayerBenchRow),
) -> anyhow::Result<PlayerBench> {
    let dir = tempfile::tempdir()?;
    let mut browser = Browser::launch(CANVAS, CANVAS)?;
    let mut rows = Vec::new();
    let mut cases: Vec<(String, Gaussians4d)> =
        [10_000, 100_000].into_iter().map(|n| (format!("random {n}"), bench_scene(n))).collect();
    for path in models {
        cases.push((path.display().to_string(), Checkpoint::load(path)?.gaussians));
    }
    for (name, g) in &cases {
        let row = bench_one(&mut browser, dir.path(), name, g, frames)?;
        progress(&row);
        rows.push(row);
    }
    Ok(PlayerBench { browser: browser.product.clone(), rows })
}
