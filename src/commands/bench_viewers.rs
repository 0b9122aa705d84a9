//! `efficient4d bench viewers --model CKPT [--splatv-viewer DIR] [--gsplat DIR]`: our `.splatv` in the
//! browser viewers that read it — splaTV (`index.html` + `hybrid.js`) and gsplat.js
//! (`assets/viewers/gsplat.html`, our harness page around the npm package's `dist`) — served on
//! 127.0.0.1, and our own HTML player (from `file://`, as exported), in headless Chromium, each compared
//! with our rasterizer's render of the same camera and time (silhouette IoU, PSNR on the object). `scripts/splatv-viewers.sh` fetches the viewers' code
//! (never kept in this repository) and runs this; `tests/html_player.rs` runs it with gsplat.js.
//!
//! Both viewers play time from the wall clock (`sin(Date.now() / 1000) / 2 + 1/2`), so the page's clock is
//! held where that gives the time asked for; their WebGL drawing buffers are kept (`preserveDrawingBuffer`)
//! so that the last frame can be read back with its alpha. `EFFICIENT4D_VIEWERS_SAVE=DIR` keeps the images.

use efficient4d::browser::Browser;
use efficient4d::camera::Camera;
use efficient4d::export::Checkpoint;
use efficient4d::export::html_player::{capture_expression, parse_captures};
use efficient4d::export::splatv::{SplatvCamera, write_splatv};
use efficient4d::render::compare::{CaptureAgreement, capture_agreement};
use efficient4d::render::{RasterView, Rasterizer};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

/// A folder to save every capture and our render in (PNG, RGBA), to look at what the figures say.
const SAVE_VAR: &str = "EFFICIENT4D_VIEWERS_SAVE";
/// Viewer times compared.
const TIMES: [f32; 3] = [0.0, 0.5, 1.0];
/// Frames each viewer draws before its image is read (its worker sorts meanwhile).
const SETTLE_FRAMES: u32 = 60;

/// Holds the page's clock at the viewer time in `?e4d_u=`, keeps WebGL drawing buffers readable, counts
/// animation frames, and hands the header camera to our gsplat.js page.
const INIT_SCRIPT: &str = r#"(() => {
  const params = new URLSearchParams(location.search);
  const u = Number(params.get('e4d_u') || 0);
  const held = 1000 * Math.asin(Math.min(Math.max(2 * u - 1, -1), 1));
  Date.now = () => held;
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type, options) {
    const context = getContext.call(this, type, Object.assign({}, options, { preserveDrawingBuffer: true }));
    if (type === 'webgl2' && context) window.__efficient4dGl = context;
    return context;
  };
  window.__efficient4dFrames = 0;
  const requestFrame = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (f) => requestFrame((t) => { window.__efficient4dFrames++; f(t); });
  window.__efficient4dHeaderCamera = JSON.parse(params.get('e4d_camera') || 'null');
})();"#;

/// Reads the WebGL2 drawing buffer: premultiplied RGBA8, bottom row first, in base64.
const READ_PIXELS: &str = r#"(() => {
  const gl = window.__efficient4dGl;
  const w = gl.drawingBufferWidth, h = gl.drawingBufferHeight;
  const pixels = new Uint8Array(w * h * 4);
  gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
  let s = '';
  for (let i = 0; i < pixels.length; i += 0x8000) s += String.fromCharCode.apply(null, pixels.subarray(i, i + 0x8000));
  return { width: w, height: h, rgba: btoa(s) };
})()"#;

#[derive(Clone, Debug, Serialize)]
pub struct ViewerRow {
    pub viewer: String,
    /// Viewer time 0..1 (the model's time range mapped onto it).
    pub u: f32,
    #[serde(flatten)]
    pub agreement: CaptureAgreement,
}

#[derive(Clone, Debug, Serialize)]
pub struct ViewersReport {
    pub browser: String,
    pub model: String,
    pub size: u32,
    pub rows: Vec<ViewerRow>,
    /// Errors the viewers' pages reported (console errors, exceptions).
    pub page_errors: Vec<String>,
}

/// Column-major world-to-camera matrix, as splaTV takes it in the address's hash.
fn view_matrix(camera: &Camera) -> Vec<f64> {
    camera.world_to_camera.to_cols_array().to_vec()
}

fn capture(browser: &mut Browser, url: &str) -> anyhow::Result<(u32, u32, Vec<u8>)> {
    browser.open(url, Duration::from_secs(120))?;
    browser.wait_until(
        &format!("window.__efficient4dGl && window.__efficient4dFrames > {SETTLE_FRAMES}"),
        Duration::from_secs(300),
    )?;
    let image = browser.evaluate(READ_PIXELS, Duration::from_secs(60))?;
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(image["rgba"].as_str().unwrap_or_default())?;
    let (w, h) = (image["width"].as_u64().unwrap_or(0) as u32, image["height"].as_u64().unwrap_or(0) as u32);
    anyhow::ensure!(bytes.len() == (w * h * 4) as usize, "{url}: read {} bytes for {w}x{h}", bytes.len());
    // Top row first, as our renders are.
    let row = (w * 4) as usize;
    let flipped = bytes.chunks_exact(row).rev().flatten().copied().collect();
    Ok((w, h, flipped))
}

/// Where the viewers' code is: a folder holding splaTV's `index.html` and `hybrid.js`, and gsplat.js's
/// `dist` folder (the one with `index.es.js`). At least one.
pub struct ViewerSources {
    pub splatv_viewer: Option<PathBuf>,
    pub gsplat: Option<PathBuf>,
}

/// Our harness page around gsplat.js.
const GSPLAT_PAGE: &str = include_str!("../../assets/viewers/gsplat.html");

/// Serves `model.splatv`, our gsplat.js page, gsplat.js under `gsplat/`, and splaTV's two files on
/// 127.0.0.1 (ES modules and `fetch` need http://, not file://). Returns the base address.
fn serve(model_splatv: PathBuf, sources: &ViewerSources) -> anyhow::Result<String> {
    let server = tiny_http::Server::http("127.0.0.1:0").map_err(|e| anyhow::anyhow!("a loopback server: {e}"))?;
    let port = server.server_addr().to_ip().map(|a| a.port()).ok_or_else(|| anyhow::anyhow!("no port"))?;
    let splatv_viewer = sources.splatv_viewer.clone();
    let gsplat = sources.gsplat.clone();
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let path = request.url().split(['?', '#']).next().unwrap_or_default().to_string();
            let file = match path.as_str() {
                "/model.splatv" => Some(model_splatv.clone()),
                "/index.html" | "/hybrid.js" => splatv_viewer.as_ref().map(|d| d.join(&path[1..])),
                p if p.starts_with("/gsplat/") && !p.contains("..") => gsplat.as_ref().map(|d| d.join(&p[8..])),
                _ => None,
            };
            let content_type = match path.rsplit('.').next() {
                Some("js") => "text/javascript",
                Some("html") => "text/html; charset=utf-8",
                _ => "application/octet-stream",
            };
            let header = tiny_http::Header::from_bytes("Content-Type", content_type).expect("a valid header");
            let body = if path == "/gsplat.html" {
                Some(GSPLAT_PAGE.as_bytes().to_vec())
            } else {
                file.and_then(|f| std::fs::read(f).ok())
            };
            let _ = match body {
                Some(bytes) => request.respond(tiny_http::Response::from_data(bytes).with_header(header)),
                // The browser asks for an icon by itself: none, and no error for it.
                None if path == "/favicon.ico" => request.respond(tiny_http::Response::empty(204)),
                None => request.respond(tiny_http::Response::empty(404)),
            };
        }
    });
    Ok(format!("http://127.0.0.1:{port}"))
}

pub fn bench_viewers(sources: &ViewerSources, model: &std::path::Path) -> anyhow::Result<ViewersReport> {
    anyhow::ensure!(
        sources.splatv_viewer.is_some() || sources.gsplat.is_some(),
        "bench viewers needs --splatv-viewer DIR (splaTV's index.html and hybrid.js) or --gsplat DIR (gsplat.js's dist)"
    );
    for dir in [&sources.splatv_viewer, &sources.gsplat].into_iter().flatten() {
        anyhow::ensure!(dir.is_dir(), "{}: no such folder", dir.display());
    }
    let ck = Checkpoint::load(model)?;
    let rig = ck.meta.rig.clone().unwrap_or_default();
    // The camera our .splatv export writes first: the viewers start there.
    let camera = efficient4d::camera::input_view_camera(&rig);
    let size = camera.intrinsics.width;
    let header = serde_json::to_string(&SplatvCamera::from_camera(0, &camera))?;
    let hash = serde_json::to_string(&view_matrix(&camera))?;
    let encode = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let (t0, t1) = (ck.meta.time_range[0], ck.meta.time_range[1]);
    let dir = tempfile::tempdir()?;
    let splatv = dir.path().join("model.splatv");
    write_splatv(&splatv, &ck.gaussians, (t0, t1), &camera)?;
    let base = serve(splatv, sources)?;

    let mut browser = Browser::launch(size, size)?;
    browser.set_viewport(size, size)?;
    browser.add_init_script(INIT_SCRIPT)?;
    let rast = Rasterizer::new(efficient4d::gpu::GpuContext::shared()?)?;
    let params = rast.upload(&ck.gaussians)?;
    let mut rows = Vec::new();
    // Our player first: camera 0 of its snaps is the input view, as the .splatv's header camera is.
    let html = dir.path().join("player.html");
    let cameras = efficient4d::export::html_player::rig_cameras(&rig, None);
    let settings = efficient4d::export::html_player::PlayerSettings::new("bench", [0.0; 3]);
    efficient4d::export::html_player::write_html_player(&html, &ck.gaussians, (t0, t1), &cameras, &settings)?;
    browser.open(&format!("file://{}", html.display()), Duration::from_secs(120))?;
    browser
        .wait_until("window.efficient4dPlayer && efficient4dPlayer.player.drawCount > 0", Duration::from_secs(300))?;
    let shots: Vec<(usize, f32)> = TIMES.iter().map(|&u| (0, u)).collect();
    let images = browser.evaluate(&capture_expression(&shots, size), Duration::from_secs(300))?;
    for capture in parse_captures(&images).map_err(anyhow::Error::msg)? {
        let view = RasterView { camera, time: t0 + capture.u * (t1 - t0), background: [0.0; 3] };
        let ours = rast.read_color(&rast.forward(&params, &[view], false)?)?;
        anyhow::ensure!(capture.rgba.len() == ours.len(), "the player drew {}x{}", capture.width, capture.height);
        let agreement = capture_agreement(&capture.rgba, &ours);
        rows.push(ViewerRow { viewer: "efficient4d player".into(), u: capture.u, agreement });
    }
    for &u in &TIMES {
        let view = RasterView { camera, time: t0 + u * (t1 - t0), background: [0.0; 3] };
        let ours = rast.read_color(&rast.forward(&params, &[view], false)?)?;
        let mut pages = Vec::new();
        if sources.splatv_viewer.is_some() {
            // splaTV resolves a relative `url` against its own model host: the address must be whole.
            let url = format!("{base}/index.html?url={base}/model.splatv&e4d_u={u}#{}", encode(&hash));
            pages.push(("splaTV (hybrid.js)", url));
        }
        if sources.gsplat.is_some() {
            pages.push((
                "gsplat.js",
                format!("{base}/gsplat.html?size={size}&e4d_u={u}&e4d_camera={}", encode(&header)),
            ));
        }
        for (viewer, url) in pages {
            let (w, h, rgba) = capture(&mut browser, &url)?;
            anyhow::ensure!((w, h) == (size, size), "{viewer} drew {w}x{h}, not {size}x{size}");
            if let Ok(dir) = std::env::var(SAVE_VAR) {
                let name = format!("{dir}/{}-{u}.png", viewer.split(' ').next().unwrap_or("viewer"));
                image::save_buffer(&name, &rgba, w, h, image::ExtendedColorType::Rgba8)?;
                let ours8: Vec<u8> = ours.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect();
                image::save_buffer(format!("{dir}/ours-{u}.png"), &ours8, w, h, image::ExtendedColorType::Rgba8)?;
            }
            rows.push(ViewerRow { viewer: viewer.into(), u, agreement: capture_agreement(&rgba, &ours) });
        }
    }
    Ok(ViewersReport {
        browser: browser.product.clone(),
        model: model.display().to_string(),
        size,
        rows,
        page_errors: browser.errors().to_vec(),
    })
}
