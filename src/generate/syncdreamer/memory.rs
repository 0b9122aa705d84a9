//! How much device memory SyncDreamer-T needs, and the view batch that fits a device.
//!
//! The model counts what stays on the device for the whole run (the weights in their precision, the
//! frustum sampler's lookup tables, every frame's latents and spatial volumes) and, for each phase of a
//! run, the phase's largest tensor times [`LIVE_TENSORS`]: how many tensors of that size burn's
//! allocator was seen to hold at a phase's worst moment. That count comes from burn's pool report on
//! the golden tiny model, which has the same graph with narrower layers (docs/syncdreamer.md: 3.1 for
//! the spatial volume, 4.3 encoding, 4.6 denoising, 4.5-5.1 decoding). A device must also hold each
//! tensor in one buffer, so the largest one is checked against the adapter's binding limit: that is
//! what stops the tiny model's 16-view batch on lavapipe (a 144 MiB key tensor over a 128 MiB limit).
//!
//! Only the weights depend on the precision: activations stay f32 (half precision casts the inputs of
//! linear and convolution layers, not what flows between them).

use super::config::SyncDreamerConfig;
use super::frustum::FrustumLayout;
use super::guidance::Guidance;
use super::model::{IMAGE_SIZE, LATENT, VOLUME_SIZE};

use serde::{Deserialize, Serialize};

const F32: u64 = 4;
const MIB: f64 = (1u64 << 20) as f64;
const GIB: f64 = (1u64 << 30) as f64;

/// Tensors of a phase's largest size held at once, at most (measured up to 5.1 on the tiny model).
pub(crate) const LIVE_TENSORS: u64 = 6;

/// The allocator's pages are never exactly full: what the resident state costs beyond its bytes, and a
/// floor for the small tensors' pools (measured on the tiny model: 20 MiB of pages over 58 MiB held).
const PAGE_SLACK: f64 = 0.1;
const SMALL_POOLS: u64 = 128 << 20;

/// The most views per batch: all of the rig's 16.
pub(crate) const MAX_VIEW_BATCH: usize = 16;

/// Where [`DeviceMemory::host`] says its (unplanned) capacity lives.
const HOST_MEMORY: &str = "host memory";

/// The view batches tried, largest first: divisors of the 16 views, so every batch has the same shape
/// (one kernel tuning per shape).
pub(crate) const VIEW_BATCHES: [usize; 5] = [MAX_VIEW_BATCH, 8, 4, 2, 1];

/// What one run of SyncDreamer-T keeps on the device, in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryEstimate {
    pub weights: u64,
    /// The frustum sampler's lookup tables, built once for the rig.
    pub tables: u64,
    /// Every frame's latents, ε and spatial volumes (raw, smoothed and one being built).
    pub frames_state: u64,
    /// The heaviest phase and its working memory ([`LIVE_TENSORS`] × its largest tensor).
    pub phase: Phase,
    pub working: u64,
    /// The largest single tensor of the run: it must fit one buffer binding.
    pub largest_tensor: u64,
}

impl MemoryEstimate {
    /// Everything resident for the whole run.
    pub fn resident(&self) -> u64 {
        self.weights + self.tables + self.frames_state
    }

    /// The expected peak of the device allocator.
    pub fn peak(&self) -> u64 {
        (self.resident() as f64 * (1.0 + PAGE_SLACK)) as u64 + SMALL_POOLS + self.working
    }
}

/// The phases of a run, each with its own working set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// CLIP and the VAE encoder on one key frame.
    Encode,
    /// The spatial volume of one frame (target encoder for every frame's views, unprojection, 3-D U-Net).
    Volume,
    /// One view batch of one frame: frustum volumes and their net, the UNet's guidance branches.
    Denoise,
    /// The VAE decoder on one view batch.
    Decode,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Self::Encode => "encoding",
            Self::Volume => "spatial volume",
            Self::Denoise => "denoising",
            Self::Decode => "decoding",
        }
    }
}

/// Bytes of the weights the loader hands out, each tensor in the dtype a `half` load gives it.
pub fn weights_bytes(config: &SyncDreamerConfig, half: bool) -> u64 {
    let device = burn::tensor::Device::flex();
    let recorder = crate::weights::TensorTable::recorder(super::MODEL_NAME, &device);
    super::model::SyncDreamerT::load(&recorder, config.clone(), &device)
        .expect("a recorder hands out every tensor a model asks for");
    recorder
        .requests()
        .iter()
        .map(|(name, shape)| {
            let elements = shape.iter().product::<usize>() as u64;
            elements * if half && crate::weights::halved_in_half_precision(name, shape.len()) { 2 } else { 4 }
        })
        .sum()
}

/// Channels at each resolution of the VAE (finest first), and what a level's widest tensor holds per
/// image: a level works at its own width and takes (or hands) the next level's width at its
/// resolution across the resample.
fn vae_largest_per_image(config: &SyncDreamerConfig) -> (u64, u64) {
    let vae = &config.vae;
    let widths: Vec<u64> = vae.ch_mult.iter().map(|m| (vae.ch * m) as u64).collect();
    let side = |level: usize| (IMAGE_SIZE >> level) as u64;
    let encode = (0..widths.len())
        .map(|l| widths[l].max(if l == 0 { vae.ch as u64 } else { widths[l - 1] }) * side(l) * side(l))
        .max()
        .unwrap_or(0);
    let decode = (0..widths.len())
        .map(|l| widths[l].max(*widths.get(l + 1).unwrap_or(&widths[l])) * side(l) * side(l))
        .max()
        .unwrap_or(0);
    (encode * F32, decode * F32)
}

/// The largest tensor of each phase, in bytes, for `frames` frames and `view_batch` views per batch.
pub fn largest_tensors(config: &SyncDreamerConfig, frames: usize, view_batch: usize) -> [(Phase, u64); 4] {
    let (views, n, f) = (config.views as u64, view_batch as u64, frames as u64);
    let latent_px = (LATENT * LATENT) as u64;
    let volume_voxels = (VOLUME_SIZE * VOLUME_SIZE * VOLUME_SIZE) as u64;
    let depth = FrustumLayout::SYNCDREAMER.depth as u64;
    let d0 = config.volume_dims[0] as u64;
    let (vae_encode, vae_decode) = vae_largest_per_image(config);

    let clip = &config.clip;
    let tokens = ((clip.resolution / clip.patch).pow(2) + 1) as u64;
    let clip_mlp = tokens * 4 * clip.width as u64 * F32;
    let encode = vae_encode.max(clip_mlp);

    let (run_dim, out_dim) = config.target_encoder_dims;
    let target_features = f * views * run_dim.max(out_dim) as u64 * latent_px * F32;
    let unprojected = views * out_dim as u64 * volume_voxels * F32;
    let volume = target_features.max(unprojected).max(d0 * volume_voxels * F32);

    // The depth-wise attention at the latent's width: keys, values and their products with the query
    // are [branches·n, 2·d0, 48, 32·32]; the frustum volumes [n, d0, 48, 32, 32]; the UNet's own
    // activations at 32² are far smaller, and burn's fused attention never holds the score matrix.
    let branches = Guidance::EFFICIENT4D.branches() as u64;
    let keys = branches * n * 2 * d0 * depth * latent_px * F32;
    let frustum = n * d0 * depth * latent_px * F32;
    let unet = branches * n * (config.unet.model_channels * config.unet.channel_mult[0]) as u64 * latent_px * F32;
    let denoise = keys.max(frustum).max(unet);

    [(Phase::Encode, encode), (Phase::Volume, volume), (Phase::Denoise, denoise), (Phase::Decode, n * vae_decode)]
}

/// The device memory of a run of `frames` frames with `view_batch` views per batch.
pub fn estimate(config: &SyncDreamerConfig, frames: usize, view_batch: usize, half: bool) -> MemoryEstimate {
    estimate_with_weights(config, frames, view_batch, weights_bytes(config, half))
}

/// What a device offers SyncDreamer-T.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceMemory {
    /// Bytes free for us when the run was planned; `None` where nothing states it.
    pub capacity: Option<u64>,
    /// Where the capacity came from (`gpu::memory`).
    pub source: &'static str,
    /// The largest buffer one tensor may live in (storage binding and buffer size limits).
    pub max_buffer: u64,
    /// Whether it computes in f16.
    pub f16: bool,
}

impl DeviceMemory {
    /// Where the networks run for `gpu` (`gpu::network_device`): the GPU itself, or burn's CPU backend
    /// on a CPU driver.
    pub fn for_networks(gpu: &crate::gpu::GpuContext) -> Self {
        if gpu.is_cpu_driver() { Self::host() } else { Self::of_gpu(gpu) }
    }

    /// burn's CPU backend: host memory (not planned for) and no buffer limit.
    pub fn host() -> Self {
        Self { capacity: None, source: HOST_MEMORY, max_buffer: u64::MAX, f16: true }
    }

    /// The GPU itself: its free memory where the vendor's tools state it, its buffer limits, whether
    /// it has `shader-f16`.
    pub fn of_gpu(gpu: &crate::gpu::GpuContext) -> Self {
        let limits = gpu.device.limits();
        let capacity = gpu.memory_capacity();
        Self {
            capacity: capacity.as_ref().map(|c| c.free),
            source: capacity.map_or("not stated", |c| c.source),
            max_buffer: limits.max_storage_buffer_binding_size.min(limits.max_buffer_size),
            f16: gpu.caps.shader_f16,
        }
    }

    /// What a run may use: the capacity less room for the window, our rasterizer and the driver
    /// (a tenth, at least 512 MiB).
    pub(crate) fn usable(&self) -> Option<u64> {
        self.capacity.map(|c| c.saturating_sub((c / 10).max(512 << 20)))
    }

    fn fits(&self, e: &MemoryEstimate) -> bool {
        e.largest_tensor <= self.max_buffer && self.usable().is_none_or(|u| e.peak() <= u)
    }
}

/// `--view-batch`: a number of views per UNet batch, or `auto` (the largest that fits the device).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ViewBatch {
    #[default]
    Auto,
    Fixed(usize),
}

impl std::str::FromStr for ViewBatch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            return Ok(Self::Auto);
        }
        match s.parse::<usize>() {
            Ok(n) if (1..=MAX_VIEW_BATCH).contains(&n) => Ok(Self::Fixed(n)),
            _ => Err(format!("`{s}`: the view batch is `auto` or a number of views in 1..={MAX_VIEW_BATCH}")),
        }
    }
}

// As the command line spells it ("auto", "8"), in the matrix's and the app's JSON too.
impl Serialize for ViewBatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ViewBatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for ViewBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// The stage-1 setting chosen for a device, and what it is expected to cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage1Fit {
    pub view_batch: usize,
    pub half: bool,
    pub auto: bool,
    pub estimate: MemoryEstimate,
    pub device: DeviceMemory,
}

impl Stage1Fit {
    /// The plan line: "f16, 8 views per batch (auto), expected peak 6.1 GiB of 70.3 GiB usable".
    pub fn describe(&self) -> String {
        let of = match self.device.usable() {
            Some(u) => format!(" of {} usable ({})", gib(u), self.device.source),
            None if self.device.source == HOST_MEMORY => format!(" ({HOST_MEMORY})"),
            None => format!(" (the GPU's memory is not stated: set {})", crate::gpu::memory::MEMORY_ENV),
        };
        format!(
            "{}, {} views per batch{}, expected peak {}{of}",
            if self.half { "f16" } else { "f32" },
            self.view_batch,
            if self.auto { " (auto)" } else { "" },
            gib(self.estimate.peak()),
        )
    }
}

/// Bytes as GiB with one decimal ("6.1 GiB"); under 1 GiB in MiB.
pub fn gib(bytes: u64) -> String {
    if bytes < 1 << 30 { format!("{:.0} MiB", bytes as f64 / MIB) } else { format!("{:.1} GiB", bytes as f64 / GIB) }
}

/// Chooses the view batch for `frames` frames in the given precision (`auto`: the largest that fits;
/// a fixed one: checked) and refuses, naming the smallest setting that fits, when the request does not.
pub fn fit(
    config: &SyncDreamerConfig,
    frames: usize,
    batch: ViewBatch,
    half: bool,
    device: &DeviceMemory,
) -> Result<Stage1Fit, String> {
    let candidates: Vec<usize> = match batch {
        ViewBatch::Auto => VIEW_BATCHES.to_vec(),
        ViewBatch::Fixed(n) => vec![n],
    };
    let weights = weights_bytes(config, half);
    let try_batch = |n: usize| estimate_with_weights(config, frames, n, weights);
    for &n in &candidates {
        let e = try_batch(n);
        if device.fits(&e) {
            return Ok(Stage1Fit {
                view_batch: n,
                half,
                auto: batch == ViewBatch::Auto,
                estimate: e,
                device: device.clone(),
            });
        }
    }
    Err(refusal(config, frames, batch, half, device, &try_batch(*candidates.last().expect("a candidate"))))
}

fn estimate_with_weights(config: &SyncDreamerConfig, frames: usize, view_batch: usize, weights: u64) -> MemoryEstimate {
    // Eight corners per frustum point, each an index and a weight (4 bytes each on a GPU).
    let views = config.views as u64;
    let layout = FrustumLayout::SYNCDREAMER;
    let tables = 8 * views * (layout.depth * layout.size * layout.size) as u64 * 8;
    let latents = views * 4 * (LATENT * LATENT) as u64 * F32;
    let volume = config.volume_dims[0] as u64 * (VOLUME_SIZE * VOLUME_SIZE * VOLUME_SIZE) as u64 * F32;
    let phases = largest_tensors(config, frames, view_batch);
    let (phase, largest) = phases.iter().copied().max_by_key(|&(_, bytes)| bytes).expect("four phases");
    MemoryEstimate {
        weights,
        tables,
        frames_state: frames as u64 * (3 * latents + 3 * volume),
        phase,
        working: LIVE_TENSORS * largest,
        largest_tensor: largest,
    }
}

/// Why nothing fits, and the smallest change that would.
fn refusal(
    config: &SyncDreamerConfig,
    frames: usize,
    batch: ViewBatch,
    half: bool,
    device: &DeviceMemory,
    smallest: &MemoryEstimate,
) -> String {
    let precision = if half { "f16" } else { "f32" };
    let have = match device.usable() {
        Some(u) => format!("{} usable on this device", gib(u)),
        None => "no capacity stated".into(),
    };
    let needs = if smallest.largest_tensor > device.max_buffer {
        format!(
            "its largest tensor ({}, {}) is over the device's largest buffer ({})",
            gib(smallest.largest_tensor),
            smallest.phase.name(),
            gib(device.max_buffer)
        )
    } else {
        format!("it needs {} ({})", gib(smallest.peak()), have)
    };
    let asked = match batch {
        ViewBatch::Auto => format!("SyncDreamer-T in {precision}, even at 1 view per batch, {frames} frames:"),
        ViewBatch::Fixed(n) => format!("SyncDreamer-T in {precision}, {n} views per batch, {frames} frames:"),
    };
    // The smallest setting that fits: a smaller view batch, then half precision, then fewer frames.
    // The weights are counted once per precision (each count walks the whole model).
    let weights = [weights_bytes(config, false), weights_bytes(config, true)];
    let fits = |n: usize, h: bool, f: usize| {
        let e = estimate_with_weights(config, f, n, weights[usize::from(h)]);
        device.fits(&e).then_some(e)
    };
    let suggestion = if let ViewBatch::Fixed(_) = batch
        && let Some(n) = VIEW_BATCHES.iter().copied().find(|&n| fits(n, half, frames).is_some())
    {
        format!("--view-batch {n} fits (or leave it at auto)")
    } else if !half && device.f16 && fits(1, true, frames).is_some() {
        "--precision f16 fits".into()
    } else if let Some(f) = (2..frames).rev().find(|&f| fits(1, half || device.f16, f).is_some()) {
        format!("--frames {f} with --view-batch 1 fits")
    } else {
        format!(
            "no setting fits; the smallest run (f16 if the device has it, 1 view per batch, 2 frames) needs {}",
            gib(estimate_with_weights(config, 2, 1, weights[usize::from(half || device.f16)]).peak())
        )
    };
    format!("{asked} {needs}; {suggestion}")
}

/// What the model predicts for cards of `cards_gib` GiB (all of it free, a 2 GiB buffer limit) at full
/// size with `frames` frames: one Markdown row per card, f16 and f32 (docs/syncdreamer.md keeps it).
pub fn card_table(cards_gib: &[u64], frames: usize) -> String {
    let config = SyncDreamerConfig::full();
    let mut rows = vec![
        "| GPU memory | usable | f16: views per batch, peak | f32: views per batch, peak |".to_string(),
        "|---|---|---|---|".to_string(),
    ];
    for &card in cards_gib {
        let device = DeviceMemory { capacity: Some(card << 30), source: "table", max_buffer: 2 << 30, f16: true };
        let cell = |half: bool| match fit(&config, frames, ViewBatch::Auto, half, &device) {
            Ok(f) => format!("{}, {}", f.view_batch, gib(f.estimate.peak())),
            Err(_) => format!("does not fit ({} at 1)", gib(estimate(&config, frames, 1, half).peak())),
        };
        let usable = gib(device.usable().expect("a stated capacity"));
        rows.push(format!("| {card} GiB | {usable} | {} | {} |", cell(true), cell(false)));
    }
    rows.join("\n")
}
