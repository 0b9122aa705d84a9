//! Stage 2: fit 4D Gaussians to a multi-view, multi-time dataset (an image matrix from stage 1, or
//! any dataset in the D-NeRF convention) with the confidence-aware loss, on the shared GPU.

pub(crate) mod adam;
pub(crate) mod carve;
pub(crate) mod densify;
pub mod eval;
pub(crate) mod init;
pub(crate) mod loss;
pub mod motion_prior;
pub mod overrides;
pub(crate) mod sampling;
pub mod state;
pub(crate) mod time_floor;
pub(crate) mod validate;

use crate::dataset::Dataset;
use crate::export::{Checkpoint, CheckpointMeta, checkpoint::FORMAT_VERSION};
use crate::gaussians::{Gaussians4d, ParamGroups};
use crate::gpu::GpuContext;
use crate::render::burn_op::{LossSpec, SplatBatch, SplatParams, fused_loss, render_splats};
use crate::render::{RasterView, Rasterizer};
use adam::{Moments, lr_row};
use burn::tensor::{Device, Int, Tensor, TensorData};
use init::{InitVolume, initial_gaussians, view_volume};
use loss::LossWeights;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Learning rates per parameter group, as the Efficient4D authors used for video except the positions
/// and times: their position rate 0.01 → 2e-4 kept D-NeRF jumpingjacks at ~24 dB until it had decayed
/// (test PSNR over steps), 0.002 → 4e-5 reached 26.7 dB in 1000 steps where the authors' rate stood at
/// 24.0 dB. The time rate is relative to the key-frame spacing (see `time_per_spacing`).
///
/// Like [`TrainConfig`], both command-line flags (the few worth a flag) and serde (the rest through
/// `--set lr.KEY=VALUE`); the defaults live in `Default` only.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, clap::Args)]
pub struct LearningRates {
    /// Initial learning rate of the positions (decays exponentially to `position_final_ratio` of it).
    #[arg(long = "position-lr", value_name = "RATE", default_value_t = LearningRates::default().position_init)]
    pub position_init: f64,
    /// The final position rate as a share of the initial one (0.002 → 4e-5).
    #[arg(skip = LearningRates::default().position_final_ratio)]
    #[serde(default = "default_position_final_ratio")]
    pub position_final_ratio: f64,
    /// The position rate decays exponentially over this fraction of the steps, then stays.
    #[arg(skip = LearningRates::default().position_decay_fraction)]
    pub position_decay_fraction: f64,
    /// Rate of the temporal means in key-frame spacings per step: 0.15 gives the authors' 0.01 when 16
    /// key frames span [0, 1]. A fixed 0.01 is two frames per step on D-NeRF's 200 frames: temporal
    /// means wandered out of the clip and jumpingjacks stood 1.9 dB lower after 500 steps than at 0.001.
    #[arg(skip = LearningRates::default().time_per_spacing)]
    pub time_per_spacing: f64,
    /// Upper bound of the time rate: the authors' 0.01, so clips of fewer key frames (wider spacings,
    /// not measured) never get a faster rate than the published one.
    #[arg(skip = LearningRates::default().time_max)]
    #[serde(default = "default_time_max")]
    pub time_max: f64,
    /// Decay the time rate as the position rate (same ratio and steps) instead of keeping it.
    #[arg(skip)]
    #[serde(default)]
    pub time_decays: bool,
    #[arg(skip = LearningRates::default().color)]
    pub color: f64,
    #[arg(skip = LearningRates::default().opacity)]
    pub opacity: f64,
    #[arg(skip = LearningRates::default().scale)]
    pub scale: f64,
    #[arg(skip = LearningRates::default().rotation)]
    pub rotation: f64,
}

impl Default for LearningRates {
    fn default() -> Self {
        Self {
            position_init: 0.002,
            position_final_ratio: default_position_final_ratio(),
            position_decay_fraction: 0.6,
            time_per_spacing: 0.15,
            time_max: default_time_max(),
            time_decays: false,
            color: 0.01,
            opacity: 0.05,
            scale: 0.005,
            rotation: 0.005,
        }
    }
}

impl LearningRates {
    pub(crate) fn position_at(&self, step: u32, total: u32) -> f64 {
        let decay_steps = (total as f64 * self.position_decay_fraction).max(1.0);
        let f = (step as f64 / decay_steps).min(1.0);
        self.position_init * self.position_final_ratio.powf(f)
    }

    /// The temporal means' rate at `step` for key frames `spacing` apart.
    pub(crate) fn time_at(&self, step: u32, total: u32, spacing: f64) -> f64 {
        let decay = if self.time_decays { self.position_at(step, total) / self.position_init } else { 1.0 };
        (self.time_per_spacing * spacing).min(self.time_max) * decay
    }
}

/// 0.002 → 4e-5. Settings saved before the ratio was a setting (with `position_final`) read as this,
/// which their ratio was unless changed by `--set`.
fn default_position_final_ratio() -> f64 {
    0.02
}

fn default_time_max() -> f64 {
    0.01
}

/// Every setting of a training run, in one typed form: command-line flags (flattened into the commands
/// that train; the rest through `--set KEY=VALUE` by their serde paths) and the checkpoint's
/// `settings`. Defaults live in `Default` only; ranges are checked in `validate`.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct TrainConfig {
    /// Training steps: every schedule (learning-rate decay, densification window) is laid over them.
    /// Set by the commands' `--iters`, which `--resume` reads as the new total.
    #[arg(skip = TrainConfig::default().iterations)]
    pub iterations: u32,
    /// Views rendered per step.
    #[arg(long = "batch", value_name = "VIEWS", default_value_t = TrainConfig::default().batch_views)]
    pub batch_views: usize,
    /// Every view of one key frame per step (the paper's schedule) instead of `--batch` random views.
    #[arg(long = "by-frame")]
    #[serde(default)]
    pub batch_by_frame: bool,
    /// Visit views near the clip's ends up to 1 + this many times per pass (`train::sampling`); 0
    /// visits every view once. Measured on D-NeRF jumpingjacks: no gain (docs/training.md), so off.
    #[arg(skip)]
    #[serde(default)]
    pub end_balance: f32,
    /// The window of the end balance, in key-frame spacings either side of a view's time.
    #[arg(skip = default_end_balance_spacings())]
    #[serde(default = "default_end_balance_spacings")]
    pub end_balance_spacings: f32,
    /// Initial number of Gaussians.
    #[arg(long = "points", value_name = "N", default_value_t = TrainConfig::default().init_points)]
    pub init_points: usize,
    /// Initial temporal standard deviation of every splat as a share of the clip's duration (never
    /// under two key-frame spacings). Broad at first, so each splat is seen at many times and the
    /// optimiser narrows it where the object moves.
    #[arg(long = "time-scale", value_name = "SHARE", default_value_t = default_init_time_scale())]
    #[serde(default = "default_init_time_scale")]
    pub init_time_scale: f32,
    /// Place the initial splats only where the training views' alpha shows the object
    /// (`--no-carve`: in the whole view volume).
    #[arg(long = "no-carve", action = clap::ArgAction::SetFalse)]
    #[serde(default)]
    pub carve_init: bool,
    /// Spherical-harmonics degree of the colour (0..=3).
    #[arg(long = "sh-degree", value_name = "D", default_value_t = TrainConfig::default().sh_degree)]
    pub sh_degree: u32,
    /// Colour the images are composited on for training and evaluation: `white`, `black` or `R,G,B`
    /// in 0..1. The checkpoint keeps it; 4D-GS's published D-NeRF figures are on black.
    #[arg(long, value_name = "COLOUR", value_parser = parse_background, default_value = "white")]
    pub background: [f32; 3],
    #[command(flatten)]
    pub lr: LearningRates,
    #[arg(skip)]
    pub loss: LossWeights,
    /// Loss weight of the input view: in a generated matrix it has `view_index` = the rig's view
    /// count (16), after the generated views 0..15. Plain D-NeRF data has none.
    #[arg(skip = TrainConfig::default().input_view_weight)]
    pub input_view_weight: f32,
    /// Share of the planned steps trained at half resolution before the full one (coarse to fine):
    /// such a step renders a quarter of the pixels. 0 trains at full resolution throughout.
    // Measured at 1000 steps: the ring reaches 30 dB in 124 s instead of 210 s; the demo matrix trains
    // 28 % faster at the same held-out PSNR (docs/speed.md). Settings saved before it read as 0, as
    // they trained.
    #[arg(long = "coarse", value_name = "SHARE", default_value_t = TrainConfig::default().coarse_share)]
    #[serde(default)]
    pub coarse_share: f32,
    #[arg(skip)]
    pub seed: u64,
    #[command(flatten)]
    pub densify: densify::DensifyConfig,
}

/// `--background`: `white`, `black` or `R,G,B` with each channel in 0..1.
pub fn parse_background(text: &str) -> Result<[f32; 3], String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "white" => return Ok([1.0; 3]),
        "black" => return Ok([0.0; 3]),
        _ => {}
    }
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() != 3 {
        return Err("expected white, black or R,G,B (three numbers in 0..1)".into());
    }
    let mut rgb = [0.0f32; 3];
    for (slot, part) in rgb.iter_mut().zip(parts) {
        let value: f32 = part.trim().parse().map_err(|_| format!("`{}` is not a number", part.trim()))?;
        // NaN fails the range check too.
        if !(0.0..=1.0).contains(&value) {
            return Err(format!("channel {value} is outside 0..1"));
        }
        *slot = value;
    }
    Ok(rgb)
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            iterations: 3000,
            batch_views: 4,
            batch_by_frame: false,
            end_balance: 0.0,
            end_balance_spacings: default_end_balance_spacings(),
            init_points: 20_000,
            init_time_scale: default_init_time_scale(),
            carve_init: true,
            sh_degree: 0,
            background: [1.0; 3],
            lr: LearningRates::default(),
            loss: LossWeights::default(),
            input_view_weight: 1.0,
            coarse_share: 0.5,
            seed: 0,
            densify: densify::DensifyConfig::default(),
        }
    }
}

fn default_end_balance_spacings() -> f32 {
    8.0
}

fn default_init_time_scale() -> f32 {
    0.1
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("the dataset has no training views")]
    NoViews,
    #[error("the initial splats are unusable: {0}")]
    BadInit(String),
    #[error("cannot go on with the saved run: {0}")]
    Resume(String),
    #[error("training views differ in size ({0}); load the dataset with a resolution")]
    MixedSizes(String),
    #[error(transparent)]
    Setting(#[from] validate::InvalidSetting),
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    #[error(transparent)]
    Raster(#[from] crate::render::RasterError),
}

/// One training view, kept on the CPU; batches are uploaded per step.
struct TrainView {
    view: RasterView,
    /// rgb composited on the background + alpha, row-major.
    target: Vec<f32>,
    /// Per-pixel confidence in [0, 1] (times the view's weight).
    confidence: Vec<f32>,
}

impl TrainView {
    /// The view at half resolution: 2×2 pixel blocks averaged (an odd last row or column dropped), the
    /// camera's focal lengths and principal point halved so every pixel keeps its rays.
    fn half_resolution(&self, width: usize, height: usize) -> TrainView {
        let (w, h) = (width / 2, height / 2);
        let mut target = vec![0.0; w * h * 4];
        let mut confidence = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                let (top, bottom) = ((2 * y) * width + 2 * x, (2 * y + 1) * width + 2 * x);
                for p in [top, top + 1, bottom, bottom + 1] {
                    for c in 0..4 {
                        target[(y * w + x) * 4 + c] += 0.25 * self.target[p * 4 + c];
                    }
                    confidence[y * w + x] += 0.25 * self.confidence[p];
                }
            }
        }
        let k = self.view.camera.intrinsics;
        let mut view = self.view;
        view.camera.intrinsics = crate::camera::Intrinsics {
            fx: 0.5 * k.fx,
            fy: 0.5 * k.fy,
            cx: 0.5 * k.cx,
            cy: 0.5 * k.cy,
            width: w as u32,
            height: h as u32,
        };
        TrainView { view, target, confidence }
    }
}

/// Progress of one step.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct StepStats {
    pub iteration: u32,
    pub loss: f32,
    pub psnr: f32,
    pub splats: usize,
    /// True when the step produced non-finite values and was rolled back.
    pub rolled_back: bool,
}

/// The parameters as the trainer keeps them: inner (non-autodiff) tensors by group.
type Params = ParamGroups<Tensor<2>>;

pub struct Trainer {
    rasterizer: Arc<Rasterizer>,
    device: Device,
    config: TrainConfig,
    views: Vec<TrainView>,
    width: u32,
    height: u32,
    /// means, log_scales, rot_left, rot_right, opacity [N, 1], sh: inner (non-autodiff) tensors.
    params: Params,
    moments: ParamGroups<Moments>,
    last_good: Option<(Params, ParamGroups<Moments>)>,
    lr_scale: f64,
    step: u32,
    /// The current pass over the training views (`sampling::weighted_pass`) and the position in it.
    order: Vec<usize>,
    cursor: usize,
    /// Expected visits of each view per pass.
    view_weights: Vec<f32>,
    /// Shuffled key-frame indices and the position in them (batching by frame).
    frame_order: Vec<usize>,
    frame_cursor: usize,
    rng: StdRng,
    time_range: (f32, f32),
    frame_times: Vec<f32>,
    /// Mean spacing of the key frames (1 for a single frame): the unit of the time learning rate.
    frame_spacing: f64,
    rig: Option<crate::camera::SyncDreamerRig>,
    /// Per splat since the last densification ([N, 2]): Σ |∂L/∂μxyz| and the number of steps in
    /// which the splat was seen (a non-zero gradient), so a splat that lives in few frames or views
    /// is judged by the steps that saw it, as 3DGS divides by its visibility count.
    grad_accum: Option<Tensor<2>>,
    pub last_densify: Option<densify::DensifyStats>,
    /// Radius of the initial cloud around its centre (world units), the scale densification uses.
    scene_extent: f32,
    /// The motion prior's neighbours ([N·k], `motion_prior::nearest_neighbours`) and the step they
    /// were found at; None after the splats changed.
    motion_neighbours: Option<(Tensor<1, Int>, u32)>,
    /// `views` at half resolution while the coarse share of the plan runs (made on its first step,
    /// dropped after its last).
    coarse_views: Option<Vec<TrainView>>,
}

/// Images smaller than this on either side are never trained coarse: halved below 64 pixels, too
/// little of the object is left to fit.
const MIN_COARSE_SIDE: u32 = 128;

/// True when no element of any tensor is NaN or infinite (one small GPU reduction each).
pub fn all_finite(tensors: &[Tensor<2>]) -> bool {
    tensors.iter().all(|t| {
        let bad: bool = (t.clone().is_nan().any().int().into_scalar::<i64>() != 0)
            || (t.clone().is_inf().any().int().into_scalar::<i64>() != 0);
        !bad
    })
}

/// Largest distance of the (x, y, z) means from their centroid (1 for an empty cloud).
fn cloud_radius(means: &[f32]) -> f32 {
    let n = means.len() / 4;
    if n == 0 {
        return 1.0;
    }
    let mut c = [0.0f64; 3];
    for p in means.chunks_exact(4) {
        for k in 0..3 {
            c[k] += p[k] as f64 / n as f64;
        }
    }
    let r = means
        .chunks_exact(4)
        .map(|p| (0..3).map(|k| (p[k] as f64 - c[k]).powi(2)).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    if r > 0.0 { r as f32 } else { 1.0 }
}

/// A tensor's values on the CPU (every trainer tensor is f32).
fn read_f32(t: &Tensor<2>) -> Vec<f32> {
    t.clone().into_data().try_to_vec::<f32>().expect("f32 tensor")
}

fn tensor2(v: &[f32], cols: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(TensorData::new(v.to_vec(), [v.len() / cols.max(1), cols]), device)
}

impl Trainer {
    /// Prepares training on `dataset`'s train split, from `init` or a fresh initialisation.
    pub fn new(
        gpu: &Arc<GpuContext>,
        rasterizer: Arc<Rasterizer>,
        dataset: &Dataset,
        config: TrainConfig,
        init: Option<Gaussians4d>,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        if let Some(g) = &init {
            check_init(g, config.sh_degree)?;
        }
        let first = dataset.train.first().ok_or(TrainError::NoViews)?;
        let (width, height) = first.image.dimensions();
        if let Some(v) = dataset.train.iter().find(|v| v.image.dimensions() != (width, height)) {
            return Err(TrainError::MixedSizes(format!("{width}x{height} and {:?}", v.image.dimensions())));
        }
        let bg = config.background;
        let views: Vec<TrainView> = dataset
            .train
            .iter()
            .map(|v| {
                let is_input = matches!((&dataset.rig, v.view_index), (Some(rig), Some(i)) if i == rig.views);
                let weight = if is_input { config.input_view_weight } else { 1.0 };
                let target = v.composited(bg);
                let confidence = match &v.confidence {
                    Some(c) => c.pixels().map(|p| p[0] as f32 / 255.0 * weight).collect(),
                    None => vec![weight; (width * height) as usize],
                };
                TrainView { view: RasterView { camera: v.camera, time: v.time, background: bg }, target, confidence }
            })
            .collect();
        let mut frame_times: Vec<f32> = dataset.train.iter().map(|v| v.time).collect();
        frame_times.sort_by(f32::total_cmp);
        frame_times.dedup();
        let time_range = (frame_times[0], *frame_times.last().unwrap_or(&frame_times[0]));
        let spacing =
            if frame_times.len() > 1 { (time_range.1 - time_range.0) / (frame_times.len() - 1) as f32 } else { 1.0 };
        let gaussians = init.unwrap_or_else(|| {
            let cameras: Vec<_> = dataset.train.iter().map(|v| v.camera).collect();
            let volume = match dataset.rig {
                Some(_) => InitVolume::Ball { center: [0.0; 3], radius: 0.5 },
                None => view_volume(&cameras),
            };
            let duration = time_range.1 - time_range.0;
            let time_sigma = (2.0 * spacing).max(config.init_time_scale * duration);
            let carver = if config.carve_init { carve::SilhouetteCarver::from_views(&dataset.train) } else { None };
            initial_gaussians(
                config.init_points,
                volume,
                &cameras,
                carver.as_ref(),
                time_range,
                time_sigma,
                config.sh_degree,
                config.seed,
            )
        });
        let scene_extent = cloud_radius(&gaussians.means);
        let device = gpu.burn_device()?;
        let params = gaussians.groups().zip(gaussians.widths()).map(|(rows, width)| tensor2(rows, width, &device));
        let moments = params.as_ref().map(Moments::zeros_like);
        let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5eed);
        let view_times: Vec<f32> = views.iter().map(|v| v.view.time).collect();
        let window = config.end_balance_spacings * spacing;
        let view_weights = sampling::end_balance_weights(&view_times, time_range, window, config.end_balance);
        let order = sampling::weighted_pass(&view_weights, &mut rng);
        Ok(Self {
            rasterizer,
            device,
            views,
            width,
            height,
            params,
            moments,
            last_good: None,
            lr_scale: 1.0,
            step: 0,
            order,
            cursor: 0,
            view_weights,
            frame_order: (0..frame_times.len()).collect(),
            frame_cursor: frame_times.len(),
            rng,
            time_range,
            frame_times,
            frame_spacing: spacing as f64,
            rig: dataset.rig.clone(),
            config,
            grad_accum: None,
            last_densify: None,
            scene_extent,
            motion_neighbours: None,
            coarse_views: None,
        })
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn iteration(&self) -> u32 {
        self.step
    }

    /// Lays the rest of the run over `iterations` steps in all (at least one more than taken): the
    /// learning-rate decay and the densification window follow the new length from the next step on.
    pub(crate) fn replan(&mut self, iterations: u32) {
        self.config.iterations = iterations.max(self.step + 1);
    }

    pub(crate) fn splat_count(&self) -> usize {
        self.params.opacity.dims()[0]
    }

    /// The next `batch_views` views of a shuffled pass over the training set, or (batching by frame)
    /// every view of the next key frame of a shuffled pass over the frames. Indices into the training
    /// split; public so tools and tests can see the schedule.
    pub fn next_batch(&mut self) -> Vec<usize> {
        if self.config.batch_by_frame {
            if self.frame_cursor == self.frame_order.len() {
                self.frame_order.shuffle(&mut self.rng);
                self.frame_cursor = 0;
            }
            let t = self.frame_times[self.frame_order[self.frame_cursor]];
            self.frame_cursor += 1;
            return (0..self.views.len()).filter(|&i| self.views[i].view.time == t).collect();
        }
        let b = self.config.batch_views.clamp(1, self.views.len());
        let mut out = Vec::with_capacity(b);
        while out.len() < b {
            if self.cursor == self.order.len() {
                self.order = sampling::weighted_pass(&self.view_weights, &mut self.rng);
                self.cursor = 0;
            }
            out.push(self.order[self.cursor]);
            self.cursor += 1;
        }
        out
    }

    /// Each group's learning rate now: one per column (the mean's x, y, z and t differ) or one for all.
    fn learning_rates(&self) -> ParamGroups<Vec<f64>> {
        let lr = &self.config.lr;
        let s = self.lr_scale;
        let pos = lr.position_at(self.step, self.config.iterations) * s;
        let time = lr.time_at(self.step, self.config.iterations, self.frame_spacing) * s;
        ParamGroups {
            means: vec![pos, pos, pos, time],
            log_scales: vec![lr.scale * s],
            rot_left: vec![lr.rotation * s],
            rot_right: vec![lr.rotation * s],
            opacity: vec![lr.opacity * s],
            sh: vec![lr.color * s],
        }
    }

    /// The share of the plan trained at half resolution (0 for images too small to halve).
    pub fn coarse_share(&self) -> f64 {
        if self.width.min(self.height) >= MIN_COARSE_SIDE { self.config.coarse_share as f64 } else { 0.0 }
    }

    /// True while the run is in the coarse (half-resolution) share of its plan.
    pub fn is_coarse(&self) -> bool {
        (self.step as f64) < self.coarse_share() * self.config.iterations as f64
    }

    /// The training views at this step's resolution.
    fn views_now(&mut self) -> &[TrainView] {
        if !self.is_coarse() {
            self.coarse_views = None;
            return &self.views;
        }
        let (w, h) = (self.width as usize, self.height as usize);
        self.coarse_views.get_or_insert_with(|| self.views.iter().map(|v| v.half_resolution(w, h)).collect())
    }

    /// One optimisation step on a batch of views.
    pub fn step(&mut self) -> StepStats {
        let batch_idx = self.next_batch();
        let all = self.views_now();
        let k = all[batch_idx[0]].view.camera.intrinsics;
        let (w, h) = (k.width as usize, k.height as usize);
        let b = batch_idx.len();
        let mut target = Vec::with_capacity(b * w * h * 4);
        let mut conf = Vec::with_capacity(b * w * h);
        let mut views = Vec::with_capacity(b);
        for &i in &batch_idx {
            target.extend_from_slice(&all[i].target);
            conf.extend_from_slice(&all[i].confidence);
            views.push(all[i].view);
        }
        let target = Tensor::<4>::from_data(TensorData::new(target, [b, h, w, 4]), &self.device).autodiff();
        let conf = Tensor::<4>::from_data(TensorData::new(conf, [b, h, w, 1]), &self.device).autodiff();
        let leaves: SplatParams = self.params.clone().map(|p| p.autodiff().require_grad());
        let batch = SplatBatch::new(self.rasterizer.clone(), Arc::new(views), self.config.sh_degree);
        let image = render_splats(&leaves, &batch);
        let mse = (image.clone().narrow(3, 0, 3) - target.clone().narrow(3, 0, 3)).powf_scalar(2.0).mean();
        // The fused WGSL loss (same value and gradient as `loss::photometric_loss`, tested), ~10x
        // faster than the burn-op version on lavapipe.
        let spec = LossSpec {
            rasterizer: self.rasterizer.clone(),
            ssim_weight: self.config.loss.ssim,
            mask_weight: self.config.loss.mask,
        };
        let (mut total, _parts) = fused_loss(image, target, conf, &spec);
        if self.config.loss.time_floor > 0.0 {
            let floor = (self.config.loss.time_floor_spacings as f64 * self.frame_spacing).max(1e-6);
            let (log_scales, rot_left, rot_right) = (&leaves.log_scales, &leaves.rot_left, &leaves.rot_right);
            let boost = self.config.loss.time_floor_end_boost as f64;
            // The per-splat floor costs a few tensor ops per step: only when the ends are boosted.
            let penalty = if boost > 0.0 {
                let n = self.params.means.dims()[0];
                let mean_t = self.params.means.clone().narrow(1, 3, 1).reshape([n]);
                let log_floor = time_floor::log_floor_near_ends(mean_t, self.time_range, floor, boost).autodiff();
                time_floor::time_floor_penalty_per_splat(log_scales, rot_left, rot_right, log_floor)
            } else {
                time_floor::time_floor_penalty(log_scales, rot_left, rot_right, floor)
            };
            total = total + penalty * self.config.loss.time_floor as f64;
        }
        if self.config.loss.motion > 0.0 {
            let (log_scales, rot_left, rot_right) = (&leaves.log_scales, &leaves.rot_left, &leaves.rot_right);
            let neighbours = self.motion_neighbours();
            // Σtt is clamped at a tenth of a frame spacing squared: below it, velocities are noise.
            let min_var = (0.1 * self.frame_spacing).powi(2).max(1e-12);
            let velocity = motion_prior::velocities(log_scales, rot_left, rot_right, min_var);
            let unit = self.motion_velocity_unit() as f64;
            let penalty = motion_prior::motion_penalty(velocity, &neighbours, unit);
            total = total + penalty * self.config.loss.motion as f64;
        }
        let grads = total.clone().backward();
        let loss: f32 = total.inner().into_scalar();
        let mse: f32 = mse.inner().into_scalar();
        self.step += 1;
        if !loss.is_finite() {
            return self.roll_back(loss);
        }
        let grads = leaves.map(|leaf| leaf.grad(&grads));
        if self.config.densify.enabled
            && let Some(grad) = &grads.means
        {
            let norm = grad.clone().narrow(1, 0, 3).powf_scalar(2.0).sum_dim(1).sqrt();
            let seen = norm.clone().greater_elem(0.0).float();
            let row = Tensor::cat(vec![norm, seen], 1);
            self.grad_accum = Some(match self.grad_accum.take() {
                Some(acc) => acc + row,
                None => row,
            });
        }
        let step = self.step;
        let groups = self.params.clone().zip(self.moments.clone()).zip(grads).zip(self.learning_rates());
        let (params, moments) = groups
            .map(|(((param, mut moments), grad), lr)| match grad {
                // A group the loss does not reach keeps its values.
                None => (param, moments),
                Some(grad) => {
                    let cols = param.dims()[1];
                    let row = if lr.len() == cols { lr } else { vec![lr[0]; cols] };
                    let lr = lr_row(&row, &param);
                    (moments.update(param, grad, lr, step), moments)
                }
            })
            .unzip();
        (self.params, self.moments) = (params, moments);
        self.maybe_densify();
        // Every 50 steps: make sure no parameter went non-finite, and keep this state as the one to
        // roll back to (cheap: tensors are reference-counted on the GPU).
        if self.step % 50 == 1 {
            if !all_finite(&self.params.clone().into_array()) {
                return self.roll_back(f32::NAN);
            }
            self.last_good = Some((self.params.clone(), self.moments.clone()));
        }
        StepStats {
            iteration: self.step,
            loss,
            psnr: -10.0 * mse.max(1e-10).log10(),
            splats: self.splat_count(),
            rolled_back: false,
        }
    }

    /// The clip's duration over the cloud's radius: turns a velocity in world units per unit of time
    /// into scene radii per clip (the motion prior's unit); its inverse scales time into space for
    /// the prior's neighbour search, so the clip spans the cloud's radius.
    fn motion_velocity_unit(&self) -> f32 {
        (self.time_range.1 - self.time_range.0).max(1e-6) / self.scene_extent.max(1e-6)
    }

    /// The motion prior's neighbour indices, found anew after every change of the splats and every
    /// `densify.interval` steps (splats move): a k-d tree over the 4D means, time measured so that
    /// the clip spans the cloud's radius.
    fn motion_neighbours(&mut self) -> Tensor<1, Int> {
        let interval = self.config.densify.interval.max(1);
        if let Some((idx, at)) = &self.motion_neighbours
            && self.step < at + interval
        {
            return idx.clone();
        }
        let means = read_f32(&self.params.means);
        let k = self.config.loss.motion_neighbours;
        let found = motion_prior::nearest_neighbours(&means, k, 1.0 / self.motion_velocity_unit());
        let idx = motion_prior::neighbour_tensor(found, &self.device).autodiff();
        self.motion_neighbours = Some((idx.clone(), self.step));
        idx
    }

    fn maybe_densify(&mut self) {
        let d = self.config.densify;
        let total = self.config.iterations as f32;
        let in_window = (self.step as f32) >= d.start_fraction * total && (self.step as f32) < d.end_fraction * total;
        if !d.enabled || !in_window || !self.step.is_multiple_of(d.interval) {
            return;
        }
        let Some(acc) = self.grad_accum.take() else { return };
        let grad: Vec<f32> =
            read_f32(&acc).chunks_exact(2).map(|r| if r[1] > 0.0 { r[0] / r[1] } else { 0.0 }).collect();
        let mut g = self.gaussians();
        let mut moments: Vec<densify::Rows> =
            vec![self.moments.as_ref().map(|m| read_f32(&m.m)), self.moments.as_ref().map(|m| read_f32(&m.v))];
        let stats = densify::densify(&mut g, &mut moments, &grad, &d, self.scene_extent, &mut self.rng);
        let widths = g.widths();
        let dev = &self.device;
        let upload = |rows: ParamGroups<&Vec<f32>>| rows.zip(widths).map(|(r, w)| tensor2(r, w, dev));
        self.params = upload(g.groups());
        let [m, v] = [&moments[0], &moments[1]].map(|rows| upload(rows.as_ref()));
        self.moments = m.zip(v).map(|(m, v)| Moments { m, v });
        self.last_good = None;
        self.motion_neighbours = None;
        self.last_densify = Some(stats);
        log::info!("step {}: densified {stats:?}", self.step);
    }

    /// Non-finite loss or parameters: restore the last good state and halve the learning rates.
    fn roll_back(&mut self, loss: f32) -> StepStats {
        if let Some((p, m)) = self.last_good.clone() {
            self.params = p;
            self.moments = m;
        }
        self.lr_scale *= 0.5;
        log::warn!(
            "step {}: non-finite values (loss {loss}); rolled back to the last good state, learning rates now ×{}",
            self.step,
            self.lr_scale
        );
        StepStats { iteration: self.step, loss, psnr: 0.0, splats: self.splat_count(), rolled_back: true }
    }

    /// The current parameters on the CPU.
    pub fn gaussians(&self) -> Gaussians4d {
        Gaussians4d::from_groups(self.params.as_ref().map(read_f32), self.config.sh_degree)
    }

    /// What `resume` needs besides the checkpoint (a read-back of Adam's moments).
    pub fn state(&self) -> state::TrainState {
        let widths = self.params.as_ref().map(|p| p.dims()[1]);
        let m = self.moments.as_ref().map(|m| read_f32(&m.m));
        let v = self.moments.as_ref().map(|m| read_f32(&m.v));
        state::TrainState::new(self.step, self.lr_scale, self.scene_extent, widths, m, v)
    }

    /// Goes on with the run `checkpoint` + `state` were saved from, under the checkpoint's settings, to
    /// `iterations` steps in all when given (the schedules stretch to the new total) or the saved total.
    pub fn resume(
        gpu: &Arc<GpuContext>,
        rasterizer: Arc<Rasterizer>,
        dataset: &Dataset,
        checkpoint: Checkpoint,
        state: state::TrainState,
        iterations: Option<u32>,
    ) -> Result<Self, TrainError> {
        let mut config: TrainConfig = serde_json::from_value(checkpoint.meta.settings.clone())
            .map_err(|e| TrainError::Resume(format!("the checkpoint's training settings: {e}")))?;
        if let Some(n) = iterations {
            config.iterations = n;
        }
        if state.meta.step != checkpoint.meta.iterations {
            return Err(TrainError::Resume(format!(
                "the training state is from step {}, the checkpoint from step {}: they were not saved together",
                state.meta.step, checkpoint.meta.iterations
            )));
        }
        let g = checkpoint.gaussians;
        if state.meta.splats != g.len() || state.widths() != g.widths() {
            return Err(TrainError::Resume(format!(
                "the training state is for {} splats, the checkpoint has {}",
                state.meta.splats,
                g.len()
            )));
        }
        let mut t = Self::new(gpu, rasterizer, dataset, config, Some(g))?;
        let w = state.widths();
        let dev = &t.device;
        t.moments =
            state.m.zip(state.v).zip(w).map(|((m, v), w)| Moments { m: tensor2(&m, w, dev), v: tensor2(&v, w, dev) });
        t.step = state.meta.step;
        t.lr_scale = state.meta.lr_scale;
        t.scene_extent = state.meta.scene_extent;
        // A fresh batch order for the rest of the run (the saved one is not kept).
        t.rng = StdRng::seed_from_u64(t.config.seed ^ 0x5eed ^ ((t.step as u64) << 32));
        t.order = sampling::weighted_pass(&t.view_weights, &mut t.rng);
        Ok(t)
    }

    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            gaussians: self.gaussians(),
            meta: CheckpointMeta {
                format_version: FORMAT_VERSION,
                time_range: [self.time_range.0, self.time_range.1],
                sh_degree: self.config.sh_degree,
                background: self.config.background,
                rig: self.rig.clone(),
                frame_times: self.frame_times.clone(),
                iterations: self.step,
                settings: serde_json::to_value(&self.config).unwrap_or_default(),
            },
        }
    }
}

/// Initial splats given by the caller must be consistent, of the training's SH degree, and finite
/// (a NaN would spread through the first step's gradients).
fn check_init(g: &Gaussians4d, sh_degree: u32) -> Result<(), TrainError> {
    g.validate().map_err(TrainError::BadInit)?;
    if g.is_empty() {
        return Err(TrainError::BadInit("there are none".into()));
    }
    if g.sh_degree != sh_degree {
        return Err(TrainError::BadInit(format!("SH degree {} where training uses {sh_degree}", g.sh_degree)));
    }
    let arrays = [&g.means, &g.log_scales, &g.rot_left, &g.rot_right, &g.opacity, &g.sh];
    if let Some(name) = arrays
        .iter()
        .zip(["means", "log_scales", "rot_left", "rot_right", "opacity", "sh"])
        .find_map(|(a, name)| a.iter().any(|v| !v.is_finite()).then_some(name))
    {
        return Err(TrainError::BadInit(format!("non-finite values in {name}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{LearningRates, TrainView};

    #[test]
    fn a_half_resolution_view_averages_pixel_blocks_and_keeps_every_pixels_rays() {
        let camera = crate::camera::SyncDreamerRig::default().camera(3);
        let (w, h) = (camera.intrinsics.width as usize, camera.intrinsics.height as usize);
        let target: Vec<f32> = (0..w * h * 4).map(|i| (i % 7) as f32 / 7.0).collect();
        let confidence: Vec<f32> = (0..w * h).map(|i| (i % 5) as f32 / 5.0).collect();
        let full = TrainView {
            view: crate::render::RasterView { camera, time: 0.5, background: [1.0; 3] },
            target,
            confidence,
        };
        let half = full.half_resolution(w, h);
        let k = half.view.camera.intrinsics;
        assert_eq!((k.width as usize, k.height as usize), (w / 2, h / 2));
        // A world point lands at half the pixel coordinates.
        for p in [glam::DVec3::new(0.1, -0.2, 0.3), glam::DVec3::new(-0.4, 0.25, 0.0)] {
            let (u, v, z) = camera.project(p).unwrap();
            let (u2, v2, z2) = half.view.camera.project(p).unwrap();
            assert!((u2 - 0.5 * u).abs() < 1e-9 && (v2 - 0.5 * v).abs() < 1e-9 && (z2 - z).abs() < 1e-12);
        }
        // Pixel (x, y) of the half view is the mean of its 2×2 block.
        let (x, y) = (17, 40);
        let block = [(2 * y, 2 * x), (2 * y, 2 * x + 1), (2 * y + 1, 2 * x), (2 * y + 1, 2 * x + 1)];
        for c in 0..4 {
            let want: f32 = block.iter().map(|(r, q)| full.target[(r * w + q) * 4 + c]).sum::<f32>() / 4.0;
            assert!((half.target[(y * (w / 2) + x) * 4 + c] - want).abs() < 1e-6);
        }
        let want: f32 = block.iter().map(|(r, q)| full.confidence[r * w + q]).sum::<f32>() / 4.0;
        assert!((half.confidence[y * (w / 2) + x] - want).abs() < 1e-6);
    }

    #[test]
    fn the_position_rate_decays_from_its_initial_value_to_its_final_share() {
        let lr = LearningRates { position_init: 0.01, ..Default::default() };
        assert!((lr.position_at(0, 1000) - 0.01).abs() < 1e-15);
        // Halfway through the decay: the geometric mean of the two ends.
        let mid = lr.position_at(300, 1000);
        assert!((mid - 0.01 * lr.position_final_ratio.sqrt()).abs() < 1e-12, "{mid}");
        // After the decay fraction (0.6 of the run), the final rate stays.
        for step in [600, 999] {
            assert!((lr.position_at(step, 1000) - 0.01 * lr.position_final_ratio).abs() < 1e-15);
        }
    }

    #[test]
    fn parse_background_reads_names_and_triples() {
        use super::parse_background;
        assert_eq!(parse_background("white"), Ok([1.0; 3]));
        assert_eq!(parse_background("Black"), Ok([0.0; 3]));
        assert_eq!(parse_background("0.5, 0,1"), Ok([0.5, 0.0, 1.0]));
        assert!(parse_background("grey").is_err());
        assert!(parse_background("0.5,0.5").is_err());
        assert!(parse_background("0.5,0.5,2").unwrap_err().contains("0..1"));
        assert!(parse_background("0.5,x,0").unwrap_err().contains("`x`"));
        assert!(parse_background("NaN,0,0").is_err());
    }

    #[test]
    fn the_time_rate_follows_the_key_frame_spacing() {
        let d = LearningRates::default();
        // 16 key frames over [0, 1]: the authors' 0.01; D-NeRF's 200 frames: 20x less per step.
        assert!((d.time_at(0, 1000, 1.0 / 15.0) - 0.01).abs() < 1e-12);
        assert!((d.time_at(999, 1000, 1.0 / 199.0) - 0.15 / 199.0).abs() < 1e-12);
        // Fewer, wider-spaced frames keep the published rate.
        assert_eq!(d.time_at(0, 1000, 1.0), 0.01);
        // Decaying with the position rate: the same ratio at every step.
        let decaying = LearningRates { time_decays: true, ..d };
        for step in [0, 300, 600, 1000] {
            let ratio = decaying.time_at(step, 1000, 0.1) / d.time_at(step, 1000, 0.1);
            assert!((ratio - d.position_at(step, 1000) / d.position_init).abs() < 1e-12);
        }
    }
}
