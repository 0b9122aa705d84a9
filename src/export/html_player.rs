//! One HTML file that plays a 4D model offline: our own WebGL2 player (`assets/player/`) with the
//! model embedded as a gzipped `.splatv` in base64 (the browser's own `DecompressionStream` unpacks it:
//! Chrome 80, Firefox 113, Safari 16.4 and later). gzip takes the 64 bytes a splat to ~40 on trained
//! models (the layout's unused acceleration, jerk and rotation velocity compress away). The player draws
//! by our rasterizer's rules (its shader follows `gaussians::math::project`), sorts in a worker, and
//! offers orbit / pan / zoom (touch too), a time scrubber, play / pause / loop / speed, the cameras
//! below as snaps and the background colour. It makes no network request, so it opens from `file://`.

use super::splatv::{SplatvCamera, encode, to_bytes};
use crate::atomic_file::write_atomically;
use crate::camera::{Camera, SyncDreamerRig, input_view_camera};
use crate::gaussians::Gaussians4d;
use base64::Engine as _;
use serde::Serialize;
use std::path::Path;

/// The page around the player; `{{…}}` marks what [`player_html`] fills in.
const TEMPLATE: &str = include_str!("../../assets/player/player.html");
/// The element that holds the model (gzipped `.splatv`, base64).
const MODEL_TAG: &str = r#"<script id="model" type="application/gzip">"#;
/// The player itself, inlined into the page.
pub(crate) const PLAYER_JS: &str = include_str!("../../assets/player/player.js");

/// What the page starts with besides the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlayerSettings {
    pub title: String,
    /// Linear RGB in 0..1, as the checkpoint stores it.
    pub background: [f32; 3],
    /// Seconds that the whole time range takes to play at 1×.
    pub duration_s: f64,
    /// The world's up, which orbiting turns about (ours: +Z).
    pub up: [f64; 3],
}

impl PlayerSettings {
    /// Ours: +Z up; 3 s for the clip, as the MP4 export's default (72 frames at 24 fps).
    pub fn new(title: &str, background: [f32; 3]) -> Self {
        Self { title: title.to_string(), background, duration_s: 3.0, up: [0.0, 0.0, 1.0] }
    }

    /// Titled after the file it is written to (`creature.html`: "creature"), as the CLI and the app name it.
    pub fn for_file(path: &Path, background: [f32; 3]) -> Self {
        Self::new(&path.file_stem().map_or("efficient4d".into(), |s| s.to_string_lossy()), background)
    }
}

/// The snaps a player offers for a model trained on `rig`: `first` (e.g. the app's current view) if
/// given, the input video's view, then the rig's views.
pub fn rig_cameras(rig: &SyncDreamerRig, first: Option<(&str, Camera)>) -> Vec<(String, Camera)> {
    let mut cameras: Vec<(String, Camera)> = first.map(|(n, c)| (n.to_string(), c)).into_iter().collect();
    cameras.push(("input view".into(), input_view_camera(rig)));
    cameras.extend((0..rig.views).map(|v| (format!("rig view {v} ({}°)", rig.azimuth_deg(v)), rig.camera(v))));
    cameras
}

/// Replaces what HTML would read as markup.
fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `bytes` gzipped (the format `DecompressionStream("gzip")` reads).
fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// The page for a `.splatv` file's bytes. JSON inside a `<script>` cannot close it: `<` is escaped.
pub(crate) fn player_html(splatv: &[u8], settings: &PlayerSettings) -> String {
    let json = serde_json::to_string(settings).expect("settings serialise").replace('<', "\\u003c");
    let model = base64::engine::general_purpose::STANDARD.encode(gzip(splatv));
    // Each placeholder once, in the template's order, so that nothing filled in is searched again.
    let mut out = String::with_capacity(TEMPLATE.len() + PLAYER_JS.len() + model.len());
    let mut rest = TEMPLATE;
    for (mark, value) in [
        ("{{TITLE}}", escape_html(&settings.title).as_str()),
        ("{{SETTINGS_JSON}}", json.as_str()),
        ("{{MODEL_BASE64}}", model.as_str()),
        ("{{PLAYER_JS}}", PLAYER_JS),
    ] {
        let (before, after) = rest.split_once(mark).expect("the template holds each placeholder once, in order");
        out.push_str(before);
        out.push_str(value);
        rest = after;
    }
    out.push_str(rest);
    out
}

/// The `.splatv` bytes a player page holds (what [`player_html`] embedded).
pub fn embedded_splatv(html: &str) -> Result<Vec<u8>, String> {
    let (_, rest) = html.split_once(MODEL_TAG).ok_or("no embedded model (not an efficient4d player page)")?;
    let (text, _) = rest.split_once("</script>").ok_or("the embedded model is cut short")?;
    let gz =
        base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|e| format!("embedded model: {e}"))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut bytes)
        .map_err(|e| format!("embedded model: {e}"))?;
    Ok(bytes)
}

/// One image from the player's capture mode (`efficient4dPlayer.capture` in the page, what the tests and
/// `bench viewers` read): header camera `camera` at viewer time `u`, premultiplied RGBA8, top row first.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayerCapture {
    pub camera: usize,
    pub u: f32,
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
}

/// The JavaScript that captures `shots` (header camera, viewer time) at `size` pixels wide.
pub fn capture_expression(shots: &[(usize, f32)], size: u32) -> String {
    let shots: Vec<String> = shots.iter().map(|(c, u)| format!("{{camera: {c}, u: {u}}}")).collect();
    format!("efficient4dPlayer.capture([{}], {size})", shots.join(", "))
}

/// The images a [`capture_expression`] returned.
pub fn parse_captures(value: &serde_json::Value) -> Result<Vec<PlayerCapture>, String> {
    let images = value.as_array().ok_or_else(|| format!("not an array of images: {value:.80}"))?;
    images
        .iter()
        .map(|image| {
            let number = |key: &str| image[key].as_f64().ok_or_else(|| format!("an image without `{key}`"));
            let rgba = base64::engine::general_purpose::STANDARD
                .decode(image["rgba"].as_str().ok_or("an image without pixels")?)
                .map_err(|e| format!("an image's pixels: {e}"))?;
            let (width, height) = (number("width")? as u32, number("height")? as u32);
            if rgba.len() != (width * height * 4) as usize {
                return Err(format!("{} bytes for a {width}x{height} image", rgba.len()));
            }
            Ok(PlayerCapture { camera: number("camera")? as usize, u: number("u")? as f32, width, height, rgba })
        })
        .collect()
}

/// Writes the player for a 4D model (atomically). Returns how many splats it holds.
pub fn write_html_player(
    path: &Path,
    g: &Gaussians4d,
    time_range: (f32, f32),
    cameras: &[(String, Camera)],
    settings: &PlayerSettings,
) -> std::io::Result<usize> {
    let splats = encode(g, time_range);
    let cameras: Vec<SplatvCamera> =
        cameras.iter().enumerate().map(|(i, (name, c))| SplatvCamera::named(i as u32, name, c)).collect();
    let html = player_html(&to_bytes(&splats, &cameras, time_range), settings);
    write_atomically(path, html.as_bytes())?;
    Ok(splats.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_holds_every_part_once_and_nothing_closes_a_script_early() {
        let settings = PlayerSettings::new("a <b> & </script>", [0.1, 0.2, 0.3]);
        let html = player_html(&[1, 2, 3, 4], &settings);
        assert!(!html.contains("{{"), "a placeholder was left");
        assert!(html.contains("<title>a &lt;b&gt; &amp; &lt;/script&gt;</title>"));
        assert!(html.contains(r#""title":"a \u003cb> & \u003c/script>""#), "{html:.0}");
        assert_eq!(embedded_splatv(&html).unwrap(), [1, 2, 3, 4], "the model, gzipped, in base64");
        assert!(embedded_splatv("<html></html>").unwrap_err().contains("not an efficient4d player"));
        assert_eq!(html.matches("</script>").count(), 3, "settings, model and player close once each");
        assert!(!PLAYER_JS.contains("</script"), "the player's source would end its script tag");
        assert!(!PLAYER_JS.contains("http://") && !PLAYER_JS.contains("https://"), "the player fetches nothing");
    }

    #[test]
    fn rig_cameras_list_the_given_view_the_input_view_and_the_rig() {
        let rig = SyncDreamerRig::default();
        let names: Vec<String> =
            rig_cameras(&rig, Some(("your view", rig.camera(3)))).into_iter().map(|c| c.0).collect();
        assert_eq!(names.len(), 18);
        assert_eq!(names[..3], ["your view", "input view", "rig view 0 (0°)"]);
        assert_eq!(names[17], "rig view 15 (337.5°)");
    }
}
