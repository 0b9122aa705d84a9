//! The 3D viewport: our WGSL rasterizer renders the model sliced at time t from the orbit camera.
//! With egui-wgpu's renderer attached (the app's window, `bench app`) the image never leaves the GPU:
//! a compute pass writes it into a texture egui draws directly (`render::present`). Without one the
//! image is read back and uploaded as an egui texture. Screenshots and tests read back on demand. It
//! re-renders only when the model, camera, time, size or look change.

use super::model::LoadedModel;
use crate::camera::orbit::OrbitCamera;
use crate::gpu::GpuContext;
use crate::render::present::{PresentTarget, Presenter};
use crate::render::{Counting, GaussianBuffers, RasterView, Rasterizer, Rendered};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, Debug, Default)]
pub struct RenderStats {
    pub milliseconds: f32,
    pub width: u32,
    pub height: u32,
    pub splats: usize,
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

/// egui-wgpu's renderer, shared with the window (eframe's `RenderState::renderer`).
pub type EguiRenderer = Arc<egui::mutex::RwLock<egui_wgpu::Renderer>>;

/// The zero-copy path: the presenter, egui's renderer, and the texture egui draws.
struct Native {
    presenter: Presenter,
    renderer: EguiRenderer,
    target: Option<(PresentTarget, egui::TextureId)>,
}

pub struct Viewport {
    rasterizer: Rasterizer,
    uploaded: Option<(u64, f32, GaussianBuffers, usize)>,
    native: Option<Native>,
    /// The read-back path's texture (no egui renderer attached).
    texture: Option<egui::TextureHandle>,
    last: Option<ViewRequest>,
    /// The last rendered frame, kept on the GPU for screenshots and tests ([`Viewport::read_image`]).
    last_rendered: Option<Rendered>,
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
            native: None,
            texture: None,
            last: None,
            last_rendered: None,
            stats: RenderStats::default(),
            max_side,
            last_render: None,
            deferred: 0,
            renders: 0,
            render_seconds: 0.0,
        })
    }

    /// Draw through egui-wgpu's renderer on the same device: from now on no frame is read back.
    pub fn attach_egui_renderer(&mut self, renderer: EguiRenderer) {
        let presenter = Presenter::new(self.rasterizer.gpu().clone());
        self.native = Some(Native { presenter, renderer, target: None });
        self.last = None;
    }

    /// Whether frames stay on the GPU (an egui renderer is attached).
    pub fn is_zero_copy(&self) -> bool {
        self.native.is_some()
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
    ) -> anyhow::Result<Option<egui::TextureId>> {
        let size = self.render_size(request.size, request.shared);
        let key = ViewRequest { size, ..request.clone() };
        let ViewRequest { model_version, splat_scale, time, background, .. } = key;
        if self.last.as_ref() == Some(&key) {
            return Ok(self.shown());
        }
        if self.shown().is_some() && self.paced(request.shared) {
            self.deferred += 1;
            return Ok(self.shown());
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
        let splats = *splats;
        let view = RasterView { camera: key.camera.camera(size.0, size.1), time, background };
        // Counted on the GPU: the frame path maps nothing (the sorts are dispatched indirectly).
        let rendered = self.rasterizer.forward_with(buffers, &[view], false, None, Counting::OnGpu)?;
        match &mut self.native {
            Some(native) => {
                let device = &self.rasterizer.gpu().device;
                if native.target.as_ref().is_none_or(|(t, _)| t.size != size) {
                    let target = native.presenter.target(size);
                    let mut renderer = native.renderer.write();
                    let id = match native.target.take() {
                        Some((_, id)) => {
                            renderer.update_egui_texture_from_wgpu_texture(
                                device,
                                &target.view,
                                wgpu::FilterMode::Linear,
                                id,
                            );
                            id
                        }
                        None => renderer.register_native_texture(device, &target.view, wgpu::FilterMode::Linear),
                    };
                    native.target = Some((target, id));
                }
                let (target, _) = native.target.as_ref().expect("made above");
                let submitted = native.presenter.present(&rendered, 0, target).map_err(anyhow::Error::msg)?;
                // Waiting (no copy, no map) makes the frame time real: the pacing above is budgeted from it.
                let wait = wgpu::PollType::Wait { submission_index: Some(submitted), timeout: None };
                device.poll(wait).map_err(|e| anyhow::anyhow!("waiting for the viewport frame: {e}"))?;
            }
            None => {
                let rgba = self.rasterizer.read_color(&rendered)?;
                let image = color_image(&rgba, size);
                match &mut self.texture {
                    Some(t) => t.set(image, egui::TextureOptions::LINEAR),
                    None => self.texture = Some(ctx.load_texture("viewport", image, egui::TextureOptions::LINEAR)),
                }
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        self.last_render = Some((Instant::now(), seconds));
        self.renders += 1;
        self.render_seconds += seconds;
        self.stats = RenderStats { milliseconds: seconds as f32 * 1000.0, width: size.0, height: size.1, splats };
        self.last_rendered = Some(rendered);
        self.last = Some(key);
        Ok(self.shown())
    }

    /// The texture egui should draw (none before the first frame).
    fn shown(&self) -> Option<egui::TextureId> {
        match &self.native {
            Some(n) => n.target.as_ref().map(|(_, id)| *id),
            None => self.texture.as_ref().map(|t| t.id()),
        }
    }

    /// Whether a frame has been rendered.
    pub fn has_image(&self) -> bool {
        self.last_rendered.is_some()
    }

    /// The last frame as RGBA8, read back now (screenshots, tests; never on the frame path).
    pub fn read_image(&self) -> anyhow::Result<Option<egui::ColorImage>> {
        let Some(r) = &self.last_rendered else { return Ok(None) };
        let rgba = self.rasterizer.read_color(r)?;
        Ok(Some(color_image(&rgba, (r.width, r.height))))
    }

    /// The zero-copy texture as egui samples it, read back (tests: it must equal [`Viewport::read_image`]).
    pub fn read_presented(&self) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(Native { presenter, target: Some((target, _)), .. }) = &self.native else { return Ok(None) };
        Ok(Some(presenter.read_target(target).map_err(anyhow::Error::msg)?))
    }

    /// Forget the uploaded model (a new one arrived or the old one was closed).
    pub fn clear(&mut self) {
        self.uploaded = None;
        self.last = None;
        self.last_rendered = None;
    }

    pub fn rasterizer(&self) -> &Rasterizer {
        &self.rasterizer
    }
}

/// A rendered RGBA f32 view as the opaque RGBA8 image egui shows.
fn color_image(rgba: &[f32], (w, h): (u32, u32)) -> egui::ColorImage {
    egui::ColorImage::from_rgba_unmultiplied([w as usize, h as usize], &crate::render::opaque_rgba8(rgba))
}
