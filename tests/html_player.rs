//! The one-file HTML player (`export CKPT --out M --format html`), opened as a receiver would: from
//! `file://` in Debian's Chromium, headless, WebGL2 on SwiftShader. It must start and draw without an
//! error, and its renders of a small trained model must match our rasterizer's renders of the same
//! cameras and times (silhouette IoU and PSNR on the object). Planted errors in the player — a mirrored
//! axis, time running backwards — must fail that comparison, so it is shown to tell. Its controls answer
//! mouse and keyboard events, and a damaged file is reported. No browser, no pass: a Chromium that
//! cannot start fails the test.

mod common;
use common::*;
use efficient4d::browser::Browser;
use efficient4d::camera::SyncDreamerRig;
use efficient4d::dataset::{LoadOptions, load_dataset};
use efficient4d::export::Checkpoint;
use efficient4d::export::html_player::{PlayerCapture, capture_expression, parse_captures, rig_cameras};
use efficient4d::render::compare::capture_agreement;
use efficient4d::render::{RasterView, Rasterizer};
use efficient4d::train::{TrainConfig, Trainer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Capture width in pixels (the rig's cameras are square).
const SIZE: u32 = 96;
/// Viewer times 0..1 compared.
const TIMES: [f32; 3] = [0.0, 0.5, 1.0];
/// Header cameras compared: the input view and rig view 4 (azimuth 90°, elevation 30°).
const CAMERAS: [usize; 2] = [0, 5];
/// The agreement every shot must reach.
const MIN_IOU: f64 = 0.9;
const MIN_PSNR: f64 = 30.0;

/// A small model trained on the truth matrix (64², 3 key frames): 60 steps from 1500 points.
fn trained_checkpoint(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    write_truth(&data, 64, 3);
    let ds = load_dataset(&data, LoadOptions::default()).unwrap();
    let rast = Arc::new(Rasterizer::new(gpu()).unwrap());
    let config = TrainConfig { iterations: 60, batch_views: 4, init_points: 1500, ..Default::default() };
    let mut trainer = Trainer::new(&gpu(), rast, &ds, config, None).unwrap();
    for _ in 0..60 {
        trainer.step();
    }
    let path = dir.join("model.safetensors");
    trainer.checkpoint().save(&path).unwrap();
    path
}

/// Opens `html`, waits for the interactive page's first sorted frame, then captures every compared view.
fn capture(browser: &mut Browser, html: &Path) -> Vec<PlayerCapture> {
    browser.open(&format!("file://{}", html.display()), Duration::from_secs(60)).unwrap();
    browser
        .wait_until(
            "window.efficient4dPlayer && efficient4dPlayer.framesDrawn > 0 && efficient4dPlayer.player.drawCount > 0",
            Duration::from_secs(60),
        )
        .unwrap_or_else(|e| panic!("{e:#}\nbrowser log: {:#?}", browser.log_tail(20)));
    let shots: Vec<(usize, f32)> = CAMERAS.iter().flat_map(|&c| TIMES.iter().map(move |&u| (c, u))).collect();
    let images = browser.evaluate(&capture_expression(&shots, SIZE), Duration::from_secs(120)).unwrap();
    let captures = parse_captures(&images).unwrap();
    assert!(captures.iter().all(|c| (c.width, c.height) == (SIZE, SIZE)), "captures of {SIZE}x{SIZE} asked for");
    captures
}

/// Our rasterizer's render (RGBA, on black, so colour is premultiplied) of every shot's camera and time.
fn our_renders(ck: &Checkpoint, shots: &[PlayerCapture]) -> Vec<Vec<f32>> {
    let rig = ck.meta.rig.clone().unwrap_or_default();
    let cameras = rig_cameras(&rig, None);
    let (t0, t1) = (ck.meta.time_range[0], ck.meta.time_range[1]);
    let rast = rasterizer();
    let params = rast.upload(&ck.gaussians).unwrap();
    shots
        .iter()
        .map(|shot| {
            let mut camera = cameras[shot.camera].1;
            camera.intrinsics = camera.intrinsics.scaled_to(SIZE, SIZE);
            let view = RasterView { camera, time: t0 + shot.u * (t1 - t0), background: [0.0; 3] };
            rast.read_color(&rast.forward(&params, &[view], false).unwrap()).unwrap()
        })
        .collect()
}

/// Every shot's (camera, u, IoU, PSNR) against `ours`, our renders of the same shots.
fn compare(ours: &[Vec<f32>], shots: &[PlayerCapture]) -> Vec<(usize, f32, f64, f64)> {
    assert_eq!(ours.len(), shots.len(), "one render of ours per capture");
    ours.iter()
        .zip(shots)
        .map(|(ours, shot)| {
            let a = capture_agreement(&shot.rgba, ours);
            assert!(a.object_pixels > 100, "the object covers only {} pixels: nothing to compare", a.object_pixels);
            (shot.camera, shot.u, a.iou, a.psnr)
        })
        .collect()
}

fn agrees(figures: &[(usize, f32, f64, f64)]) -> bool {
    figures.iter().all(|&(_, _, iou, psnr)| iou >= MIN_IOU && psnr >= MIN_PSNR)
}

/// `html` with `from` (which must occur) replaced by `to`, written beside it as `name`.
fn planted(html: &Path, name: &str, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(html).unwrap();
    assert_eq!(text.matches(from).count(), 1, "the player no longer holds `{from}`: update the planted error");
    let path = html.with_file_name(name);
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

#[test]
fn the_html_player_renders_like_our_rasterizer_and_a_planted_error_fails() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = trained_checkpoint(dir.path());
    let ck = Checkpoint::load(&ckpt).unwrap();
    assert_eq!(ck.meta.rig.clone().unwrap_or_default(), SyncDreamerRig::default());

    // The command a user runs; no extension on --out: the format's is added and the path said.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_efficient4d"))
        .args(["export", ckpt.to_str().unwrap(), "--out", dir.path().join("player").to_str().unwrap()])
        .args(["--format", "html"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    let html = dir.path().join("player.html");
    assert!(said.contains(&html.display().to_string()), "{said}");

    let mut browser = Browser::launch(640, 480).expect("Chromium must start: the player cannot be checked without it");
    let shots = capture(&mut browser, &html);
    assert!(browser.errors().is_empty(), "the page reported errors: {:#?}", browser.errors());
    // The same shots in the same order every time: our renders are made once.
    let ours = our_renders(&ck, &shots);
    let figures = compare(&ours, &shots);
    for (camera, u, iou, psnr) in &figures {
        eprintln!("camera {camera}, u = {u}: silhouette IoU {iou:.4}, object PSNR {psnr:.2} dB");
    }
    assert!(agrees(&figures), "the player differs from our rasterizer: {figures:?}");

    // The controls, driven as a user's mouse, fingers and keyboard would: a drag orbits, a right-drag
    // pans, a pinch zooms, space plays, the view list snaps to a rig camera.
    let pose = |b: &mut Browser| b.evaluate("JSON.stringify(efficient4dPlayer.pose)", Duration::from_secs(30)).unwrap();
    let before = pose(&mut browser);
    browser.drag((320.0, 240.0), (420.0, 260.0), "left", 0).unwrap();
    let orbited = pose(&mut browser);
    assert_ne!(orbited, before, "a drag orbits");
    let eye_to_target = |b: &mut Browser| {
        b.evaluate("efficient4dPlayer.pose.distance", Duration::from_secs(30)).unwrap().as_f64().unwrap()
    };
    let distance = eye_to_target(&mut browser);
    browser.drag((320.0, 240.0), (300.0, 200.0), "right", 0).unwrap();
    assert_ne!(pose(&mut browser), orbited, "a right-drag pans");
    assert_eq!(eye_to_target(&mut browser), distance, "panning keeps the distance");
    browser.pinch((320.0, 240.0), 60.0, 180.0).unwrap();
    let pinched = eye_to_target(&mut browser);
    assert!(pinched < distance * 0.6, "spreading two fingers zooms in: {distance} → {pinched}");
    browser.press_key(" ", "Space").unwrap();
    browser.wait_until("efficient4dPlayer.playing && efficient4dPlayer.player.u > 0", Duration::from_secs(30)).unwrap();
    browser.press_key(" ", "Space").unwrap();
    browser.wait_until("!efficient4dPlayer.playing", Duration::from_secs(30)).unwrap();
    let snapped = browser
        .evaluate(
            "(() => { const s = document.getElementById('camera'); s.value = '5'; s.dispatchEvent(new Event('change')); \
             const p = efficient4dPlayer.pose, c = efficient4dPlayer.file.cameras[5]; \
             return [efficient4dPlayer.cameraIndex, Math.hypot(...p.eye.map((v, i) => v - c.position[i]))]; })()",
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(snapped[0], 5, "{snapped}");
    assert!(snapped[1].as_f64().unwrap() < 1e-6, "the snap puts the eye at the rig camera: {snapped}");
    assert!(browser.errors().is_empty(), "the page reported errors: {:#?}", browser.errors());

    // A damaged file says so on the page and in the console rather than showing nothing.
    let text = std::fs::read_to_string(&html).unwrap();
    let (head, rest) = text.split_once(r#"<script id="model" type="application/gzip">"#).unwrap();
    let broken = dir.path().join("broken.html");
    std::fs::write(
        &broken,
        format!("{head}<script id=\"model\" type=\"application/gzip\">H4sIAAAAAAAA{}", &rest[200..]),
    )
    .unwrap();
    browser.open(&format!("file://{}", broken.display()), Duration::from_secs(60)).unwrap();
    browser
        .wait_until("document.getElementById('status').textContent.startsWith('error')", Duration::from_secs(60))
        .unwrap();
    assert!(!browser.errors().is_empty(), "the damage went unreported");

    // The same comparison fails on a player with a mirrored x axis, and on one playing time backwards.
    for (name, from, to) in [
        ("mirrored.html", "uintBitsToFloat(t0.xyz)", "uintBitsToFloat(t0.xyz) * vec3(-1.0, 1.0, 1.0)"),
        ("backwards.html", "float dt = u_time - timing.x;", "float dt = (1.0 - u_time) - timing.x;"),
    ] {
        let shots = capture(&mut browser, &planted(&html, name, from, to));
        let figures = compare(&ours, &shots);
        let worst = figures.iter().map(|f| f.3).fold(f64::INFINITY, f64::min);
        eprintln!(
            "planted {name}: worst PSNR {worst:.2} dB, IoU {:?}",
            figures.iter().map(|f| f.2).collect::<Vec<_>>()
        );
        assert!(!agrees(&figures), "{name}: a planted error passed the comparison: {figures:?}");
    }
}

/// gsplat.js's `dist` folder: `EFFICIENT4D_GSPLAT` (set by `.ci/run`), else where `.ci/run` installs the
/// version it pins (`GSPLAT_VERSION=` in `.ci/run`, the one place it is written).
fn gsplat_dist() -> PathBuf {
    if let Some(dir) = std::env::var_os("EFFICIENT4D_GSPLAT") {
        return dir.into();
    }
    let ci = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    let version = ci.lines().find_map(|l| l.strip_prefix("GSPLAT_VERSION=")).expect(".ci/run pins gsplat");
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").expect("HOME")).join(".cache"));
    let dist = cache.join(format!("efficient4d/gsplat-{version}/node_modules/gsplat/dist"));
    assert!(
        dist.join("index.es.js").is_file(),
        "gsplat.js is not installed at {}: `bash .ci/run` installs it (npm install --prefix {} gsplat@{version}), \
         or set EFFICIENT4D_GSPLAT to its dist folder",
        dist.display(),
        cache.join(format!("efficient4d/gsplat-{version}")).display()
    );
    dist
}

/// gsplat.js (npm, pinned) reads our `.splatv` as we mean it: the same silhouette as our render at three
/// times, through `efficient4d bench viewers`, beside our own player. gsplat.js orders splats its own way
/// (docs/export.md), so its colour figure is printed, not held to ours; a silhouette does not depend on
/// the order.
#[test]
fn gsplat_js_shows_our_splatv_with_our_silhouette() {
    let gsplat = gsplat_dist();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = trained_checkpoint(dir.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_efficient4d"))
        .args(["bench", "viewers", "--json", "--model", ckpt.to_str().unwrap(), "--gsplat", gsplat.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    let rows = report["rows"].as_array().unwrap();
    for viewer in ["gsplat.js", "efficient4d player"] {
        let ours: Vec<&serde_json::Value> = rows.iter().filter(|r| r["viewer"] == viewer).collect();
        assert_eq!(ours.len(), 3, "{viewer}: three times");
        for r in ours {
            let (iou, psnr) = (r["iou"].as_f64().unwrap(), r["psnr"].as_f64().unwrap());
            eprintln!("{viewer}, u = {}: silhouette IoU {iou:.4}, object PSNR {psnr:.2} dB", r["u"]);
            assert!(iou >= 0.95, "{viewer} at u = {}: IoU {iou}", r["u"]);
        }
    }
    assert!(report["page_errors"].as_array().unwrap().is_empty(), "{}", report["page_errors"]);
}
