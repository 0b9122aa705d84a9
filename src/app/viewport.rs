//! The 3D viewport: our WGSL rasterizer renders the model sliced at time t from the orbit camera; the
//! image goes to an egui texture. It re-renders only when the model, camera, time, size or look change.

use super::model::LoadedModel;
use crate::camera::orbit::OrbitCamera;
use crate::gpu::GpuContext;
use crate::render::{GaussianBuffers, RasterView, Rasterizer};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, Debug, Default)]
pub struct RenderStats {
    pub milliseconds: f32,
    pub width: u32,
    pub height: u32,
    pub splats: usize,
    pub visible: u64,
}

/// Everything a viewport image depends on besides the model's splats.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewRequest {
    /// Bumped by the app whenever the model changes.
    pub model_version: u64,
    pub splat_scale: f32,
    pub camera: OrbitCamera,
    pub time: f32,
    /// Pixels wanted (the CPU driver renders fewer and lets egui scale).
    pub size: (u32, u32),
    pub background: [f32; 3],
    /// A job is working on the same device: render at a quarter of the pixels, and keep to
    /// [`LIVE_SHARE`] of the time.
    pub shared: bool,
}

/// While a job works on the device, the viewport renders at most this share of the wall time: after
/// a frame of `d` it waits `d·(1 − share)/share` before the next (re-renders are the app's only
/// device work beside the job's; training's step rate comes first, docs/speed.md measures it).
pub const LIVE_SHARE: f64 = 0.1;
/// Side scale of a shared-device render (a quarter of the pixels); idle or paused, full size.
const LIVE_SCALE: f32 = 0.5;

pub struct Viewport {
    rasterizer: Rasterizer,
    uploaded: Option<(u64, f32, GaussianBuffers, usize)>,
    texture: Option<egui::TextureHandle>,
    last: Option<ViewRequest>,
    /// The last rendered image (RGBA8), for screenshots and tests.
    pub image: Option<egui::ColorImage>,
    pub stats: RenderStats,
    /// Longest side rendered; the CPU driver gets a smaller one to stay interactive.
    pub max_side: u32,
    /// When the last render ended, and how long it took.
    last_render: Option<(Instant, f64)>,
    /// Renders the pacing put off, and renders done (`bench app` reports both).
    pub deferred: u64,
    pub renders: u64,
    /// Seconds spent rendering, all renders together.
    pub render_seconds: f64,
}

impl Viewport {
    pub fn new(gpu: Arc<GpuContext>) -> anyhow::Result<Self> {
        let max_side = if gpu.is_cpu_driver() { 640 } else { 4096 };
        Ok(Self {
            rasterizer: Rasterizer::new(gpu)?,
            uploaded: None,
            texture: None,
            last: None,
            image: None,
            stats: RenderStats::default(),
            max_side,
            last_render: None,
            deferred: 0,
            renders: 0,
            render_seconds: 0.0,
        })
    }

    /// The size actually rendered for a viewport of `size` pixels (`shared`: while a job works).
    pub fn render_size(&self, size: (u32, u32), shared: bool) -> (u32, u32) {
        let long = size.0.max(size.1).max(1);
        let scale = if shared { LIVE_SCALE } else { 1.0 };
        let shrink = (self.max_side as f32 / long as f32).min(1.0) * scale;
        (((size.0 as f32 * shrink) as u32).max(8), ((size.1 as f32 * shrink) as u32).max(8))
    }

    /// True while the pacing of a shared device puts a new render off.
    fn paced(&self, shared: bool) -> bool {
        let Some((ended, seconds)) = self.last_render else { return false };
        shared && ended.elapsed().as_secs_f64() < seconds * (1.0 - LIVE_SHARE) / LIVE_SHARE
    }

    /// Renders if anything changed; returns the texture to show.
    pub fn update(
        &mut self,
        ctx: &egui::Context,
        model: &LoadedModel,
        request: &ViewRequest,
    ) -> anyhow::Result<Option<egui::TextureHandle>> {
        let size = self.render_size(request.size, request.shared);
        let key = ViewRequest { size, ..request.clone() };
        let ViewRequest { model_version, splat_scale, time, background, .. } = key;
        if self.last.as_ref() == Some(&key) {
            return Ok(self.texture.clone());
        }
        if self.texture.is_some() && self.paced(request.shared) {
            self.deferred += 1;
            return Ok(self.texture.clone());
        }
        let start = Instant::now();
        let stale = self.uploaded.as_ref().is_none_or(|(v, s, _, _)| *v != model_version || *s != splat_scale);
        if stale {
            let mut g = model.gaussians.clone();
            if splat_scale != 1.0 {
                let ds = splat_scale.max(1e-3).ln();
                for s in g.log_scales.chunks_mut(4) {
                    for v in &mut s[..3] {
                        *v += ds;
                    }
                }
            }
            let n = g.len();
            self.uploaded = Some((model_version, splat_scale, self.rasterizer.upload(&g)?, n));
        }
        let (_, _, buffers, splats) = self.uploaded.as_ref().expect("uploaded above");
        let view = RasterView { camera: key.camera.camera(size.0, size.1), time, background };
        let rendered = self.rasterizer.forward(buffers, &[view], false)?;
        let rgba = self.rasterizer.read_color(&rendered)?;
        let pixels = crate::render::opaque_rgba8(&rgba);
        let image = egui::ColorImage::from_rgba_unmultiplied([size.0 as usize, size.1 as usize], &pixels);
        match &mut self.texture {
            Some(t) => t.set(image.clone(), egui::TextureOptions::LINEAR),
            None => self.texture = Some(ctx.load_texture("viewport", image.clone(), egui::TextureOptions::LINEAR)),
        }
        self.image = Some(image);
        let seconds = start.elapsed().as_secs_f64();
        self.last_render = Some((Instant::now(), seconds));
        self.renders += 1;
        self.render_seconds += seconds;
        self.stats = RenderStats {
            milliseconds: seconds as f32 * 1000.0,
            width: size.0,
            height: size.1,
            splats: *splats,
            visible: rendered.visible_splats,
        };
        self.last = Some(key);
        Ok(self.texture.clone())
    }

    /// Forget the uploaded model (a new one arrived or the old one was closed).
    pub fn clear(&mut self) {
        self.uploaded = None;
        self.last = None;
    }

    pub fn rasterizer(&self) -> &Rasterizer {
        &self.rasterizer
    }
}
