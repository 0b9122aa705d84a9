//! SyncDreamer-T as a whole: every network of the published checkpoint, and Efficient4D's sampler —
//! all frames start from the same noise, and at every DDIM step each frame's spatial volume is
//! replaced by a weighted average over neighbouring frames before the UNet sees it.

use super::clip::ClipImageEncoder;
use super::conditioning::{ContextProjection, TimeEmbed, viewpoint_embedding};
use super::config::SyncDreamerConfig;
use super::ddim::DdimSchedule;
use super::frustum::{FrustumLayout, FrustumSampler};
use super::frustum_net::FrustumTV3DNet;
use super::guidance::{Guidance, ViewConditions, predict_eps};
use super::smoothing::smoothing_weights;
use super::spatial_net::SpatialTime3DNet;
use super::target_encoder::NoisyTargetViewEncoder;
use super::unet::DepthWiseAttentionUNet;
use super::unproject::{ViewCamera, unproject};
use super::vae::Vae;
use crate::weights::{TensorTable, WeightsError};
use burn::tensor::{Device, Tensor, TensorData};

/// Latent side (images are 256², the VAE downsamples by 8).
pub const LATENT: usize = 32;
/// The spatial volume: 32³ over [−0.5, 0.5]³.
pub(crate) const VOLUME_SIZE: usize = 32;
pub(crate) const VOLUME_LENGTH: f32 = 0.5;
pub(crate) const IMAGE_SIZE: usize = 256;

/// Where Gaussian noise comes from: seeded for real runs, replayed from recorded draws in tests.
pub trait NoiseSource {
    /// Standard normal values for a tensor of `shape`, row-major.
    fn normal(&mut self, shape: &[usize]) -> Vec<f32>;
}

/// A seeded standard-normal generator.
pub struct SeededNoise(rand::rngs::StdRng);

impl SeededNoise {
    pub fn new(seed: u64) -> Self {
        Self(rand::SeedableRng::seed_from_u64(seed))
    }
}

impl NoiseSource for SeededNoise {
    fn normal(&mut self, shape: &[usize]) -> Vec<f32> {
        use rand::Rng;
        let n: usize = shape.iter().product();
        (0..n).map(|_| self.0.sample::<f32, _>(rand_distr::StandardNormal)).collect()
    }
}

/// Time-synchronous smoothing of the spatial volumes over frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Smoothing {
    Off,
    /// Efficient4D's weights, the sequence treated as open.
    Open,
    /// The same weights wrapping around (a looping video).
    Cyclic,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SampleOptions {
    pub schedule: DdimSchedule,
    pub guidance: Guidance,
    pub smoothing: Smoothing,
    /// Target views per UNet batch (all 16 by default; fewer to fit a small GPU).
    pub view_batch: usize,
}

impl Default for SampleOptions {
    /// Efficient4D's `generate.py`: 50 DDIM steps, η = 1, decomposed guidance (2, 1), smoothing on.
    fn default() -> Self {
        Self {
            schedule: DdimSchedule::uniform(50, 1.0),
            guidance: Guidance::EFFICIENT4D,
            smoothing: Smoothing::Open,
            view_batch: 16,
        }
    }
}

/// What conditions the whole sampling run: one entry per frame.
pub struct Prepared {
    /// CLIP image embeddings [F, 1, clip_dim].
    pub clip: Tensor<3>,
    /// The input views' latents (posterior samples, scaled) [F, 4, 32, 32].
    pub input_latents: Tensor<4>,
    /// Input elevations in radians (0 for Efficient4D).
    pub elevations: Vec<f32>,
}

/// One DDIM step's results.
pub struct StepOutput {
    /// The spatial volumes before and after smoothing, [F, C, 32, 32, 32].
    pub raw_volumes: Tensor<5>,
    pub smoothed_volumes: Tensor<5>,
    /// The latents after the step, [F, views, 4, 32, 32].
    pub latents: Tensor<5>,
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("generation cancelled")]
    Cancelled,
}

pub struct SyncDreamerT {
    config: SyncDreamerConfig,
    clip: ClipImageEncoder,
    vae: Vae,
    time_embed: TimeEmbed,
    context: ContextProjection,
    target_encoder: NoisyTargetViewEncoder,
    spatial_net: SpatialTime3DNet,
    frustum_net: FrustumTV3DNet,
    frustum: FrustumSampler,
    unet: DepthWiseAttentionUNet,
    cameras: Vec<ViewCamera>,
    azimuths: Vec<f32>,
    device: Device,
}

impl SyncDreamerT {
    /// Every network and the rig buffers (`poses`, `Ks`, `azimuth`) from a state dict with the
    /// published names.
    pub fn load(t: &TensorTable, config: SyncDreamerConfig, device: &Device) -> Result<Self, WeightsError> {
        let views = config.views;
        let buffer = |name: &str, shape: &[usize]| -> Result<Vec<f32>, WeightsError> {
            let values = match shape.len() {
                1 => t.get::<1>(name, [shape[0]])?.into_data(),
                3 => t.get::<3>(name, [shape[0], shape[1], shape[2]])?.into_data(),
                _ => unreachable!("rig buffers are 1-D or 3-D"),
            };
            values.convert::<f32>().try_into_vec::<f32>().map_err(|e| t.mismatch(format!("{name}: {e:?}")))
        };
        let poses = buffer("poses", &[views, 3, 4])?;
        let ks = buffer("Ks", &[views, 3, 3])?;
        let azimuths = buffer("azimuth", &[views])?;
        let cameras = ViewCamera::from_buffers(&poses, &ks);
        let (run_dim, out_dim) = config.target_encoder_dims;
        let td = config.time_embed_dim;
        Ok(Self {
            clip: ClipImageEncoder::load(t, config.clip)?,
            vae: Vae::load(t, config.vae.clone())?,
            time_embed: TimeEmbed::load(t, td)?,
            context: ContextProjection::load(t, config.clip.embed_dim, config.unet.context_dim)?,
            target_encoder: NoisyTargetViewEncoder::load(t, td, run_dim, out_dim)?,
            spatial_net: SpatialTime3DNet::load(t, td, views * out_dim, config.volume_dims)?,
            frustum_net: FrustumTV3DNet::load(t, config.volume_dims[0], td, 4, config.volume_dims)?,
            frustum: FrustumSampler::new(FrustumLayout::SYNCDREAMER, &cameras, VOLUME_SIZE, device),
            unet: DepthWiseAttentionUNet::load(t, config.unet.clone())?,
            cameras,
            azimuths,
            config,
            device: device.clone(),
        })
    }

    pub fn config(&self) -> &SyncDreamerConfig {
        &self.config
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn unet(&self) -> &DepthWiseAttentionUNet {
        &self.unet
    }

    pub fn vae(&self) -> &Vae {
        &self.vae
    }

    /// Input views [F, 3, 256, 256] in [−1, 1] → CLIP embeddings and sampled latents (one noise draw
    /// of [F, 4, 32, 32], as the reference's `encode_first_stage(sample=True)`).
    pub fn prepare(&self, images: Tensor<4>, elevations: Vec<f32>, noise: &mut dyn NoiseSource) -> Prepared {
        let frames = images.dims()[0];
        let draw = noise.normal(&[frames, 4, LATENT, LATENT]);
        let draw = Tensor::<4>::from_data(TensorData::new(draw, [frames, 4, LATENT, LATENT]), &self.device);
        // One frame at a time: the encoder's activations at 256² would otherwise grow with the clip.
        let (clip, latents): (Vec<_>, Vec<_>) = (0..frames)
            .map(|f| {
                let image = images.clone().narrow(0, f, 1);
                let clip = self.clip.encode(image.clone());
                (clip, self.vae.encode(image).sample_scaled(draw.clone().narrow(0, f, 1)))
            })
            .unzip();
        Prepared { clip: Tensor::cat(clip, 0), input_latents: Tensor::cat(latents, 0), elevations }
    }

    /// The 64-channel spatial volume of each frame from its noisy latents [F, views, 4, 32, 32].
    pub fn spatial_volumes(&self, x: &Tensor<5>, timestep: i64, elevations: &[f32]) -> Tensor<5> {
        let [frames, views, c, h, w] = x.dims();
        let (_, time) = self.time_embed.forward(&vec![timestep; frames], &self.device);
        let td = time.dims()[1];
        let viewpoints = viewpoint_embedding(elevations, &self.azimuths, &self.device).reshape([frames * views, 4]);
        let per_view_time =
            time.clone().reshape([frames, 1, td]).expand([frames, views, td]).reshape([frames * views, td]);
        let features =
            self.target_encoder.forward(x.clone().reshape([frames * views, c, h, w]), per_view_time, viewpoints);
        let fc = features.dims()[1];
        let s = VOLUME_SIZE;
        // One frame at a time through the 3-D U-Net: its activations at 32³ are what fills memory.
        let per_frame: Vec<Tensor<5>> = (0..frames)
            .map(|f| {
                let frame_features = features.clone().narrow(0, f * views, views);
                let lifted = unproject(frame_features, &self.cameras, s, VOLUME_LENGTH, IMAGE_SIZE);
                self.spatial_net.forward(lifted.reshape([1, views * fc, s, s, s]), time.clone().narrow(0, f, 1))
            })
            .collect();
        Tensor::cat(per_frame, 0)
    }

    /// Each frame's volume replaced by the average over frames with Efficient4D's weights (each row
    /// normalised to sum to 1).
    pub(crate) fn smooth_volumes(volumes: Tensor<5>, smoothing: Smoothing) -> Tensor<5> {
        let dims = volumes.dims();
        let frames = dims[0];
        if smoothing == Smoothing::Off || frames < 2 {
            return volumes;
        }
        let w: Vec<f32> =
            smoothing_weights(frames, smoothing == Smoothing::Cyclic).into_iter().flatten().map(|v| v as f32).collect();
        let w = Tensor::<2>::from_data(TensorData::new(w, [frames, frames]), &volumes.device());
        let flat = volumes.reshape([frames, dims[1..].iter().product::<usize>()]);
        w.matmul(flat).reshape(dims)
    }

    /// The guided ε of every view of every frame, [F, views, 4, 32, 32].
    pub fn predict_eps(
        &self,
        x: &Tensor<5>,
        timestep: i64,
        volumes: &Tensor<5>,
        prepared: &Prepared,
        options: &SampleOptions,
    ) -> Tensor<5> {
        let [frames, views, c, h, w] = x.dims();
        let (_, time) = self.time_embed.forward(&[timestep], &self.device);
        let td = time.dims()[1];
        let viewpoints = viewpoint_embedding(&prepared.elevations, &self.azimuths, &self.device);
        let batch = options.view_batch;
        assert!((1..=views).contains(&batch), "a view batch of {batch} for {views} views");
        let mut per_frame = Vec::with_capacity(frames);
        for f in 0..frames {
            let volume = volumes.clone().narrow(0, f, 1).squeeze_dim::<4>(0);
            let clip = prepared.clip.clone().narrow(0, f, 1);
            let latent = prepared.input_latents.clone().narrow(0, f, 1);
            let frame_views = viewpoints.clone().narrow(0, f, 1);
            let mut chunks = Vec::new();
            for first in (0..views).step_by(batch) {
                let n = batch.min(views - first);
                let chunk_views = frame_views.clone().narrow(1, first, n);
                let frustum = self.frustum.sample(volume.clone(), first, n);
                let features = self.frustum_net.forward(
                    frustum,
                    time.clone().expand([n, td]),
                    chunk_views.clone().reshape([n, 4]),
                );
                let context = self.context.forward(clip.clone(), chunk_views);
                let input_latent = latent.clone().expand([n, c, h, w]);
                let conditions = ViewConditions { context: &context, volume: &features, input_latent: &input_latent };
                let x_chunk = x.clone().narrow(0, f, 1).narrow(1, first, n).reshape([n, c, h, w]);
                chunks.push(predict_eps(&self.unet, options.guidance, &x_chunk, &vec![timestep; n], &conditions));
            }
            per_frame.push(Tensor::cat(chunks, 0).reshape([1, views, c, h, w]));
        }
        Tensor::cat(per_frame, 0)
    }

    /// One DDIM step at schedule `index` (noise is drawn for every index but 0, as the reference does).
    pub fn denoise_step(
        &self,
        x: Tensor<5>,
        index: usize,
        prepared: &Prepared,
        options: &SampleOptions,
        noise: &mut dyn NoiseSource,
    ) -> StepOutput {
        let timestep = options.schedule.timesteps[index];
        let raw_volumes = self.spatial_volumes(&x, timestep, &prepared.elevations);
        let smoothed_volumes = Self::smooth_volumes(raw_volumes.clone(), options.smoothing);
        let eps = self.predict_eps(&x, timestep, &smoothed_volumes, prepared, options);
        let fresh = (index > 0).then(|| {
            let dims = x.dims();
            Tensor::<5>::from_data(TensorData::new(noise.normal(&dims), dims), &self.device)
        });
        let latents = options.schedule.step(x, eps, index, fresh);
        StepOutput { raw_volumes, smoothed_volumes, latents }
    }

    /// The whole run: shared initial noise [1, views, 4, 32, 32] for every frame, then every DDIM step
    /// from the last index down. `on_step(done, total)` reports progress; returning false cancels.
    pub fn sample(
        &self,
        prepared: &Prepared,
        options: &SampleOptions,
        noise: &mut dyn NoiseSource,
        on_step: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Tensor<5>, SampleError> {
        let frames = prepared.elevations.len();
        let shape = [1, self.config.views, 4, LATENT, LATENT];
        let initial = Tensor::<5>::from_data(TensorData::new(noise.normal(&shape), shape), &self.device);
        let mut x = initial.expand([frames, self.config.views, 4, LATENT, LATENT]);
        let total = options.schedule.len();
        for (done, index) in (0..total).rev().enumerate() {
            if !on_step(done, total) {
                return Err(SampleError::Cancelled);
            }
            x = self.denoise_step(x, index, prepared, options, noise).latents;
        }
        on_step(total, total);
        Ok(x)
    }

    /// Latents [views, 4, 32, 32] of one frame → images [views, 3, 256, 256], clamped to [−1, 1],
    /// decoded `view_batch` views at a time (the decoder's 256² activations are a run's largest).
    pub fn decode_views(&self, latents: Tensor<4>, view_batch: usize) -> Tensor<4> {
        let views = latents.dims()[0];
        let batch = view_batch;
        assert!((1..=views).contains(&batch), "a view batch of {batch} for {views} views");
        let parts = (0..views)
            .step_by(batch)
            .map(|first| self.vae.decode(latents.clone().narrow(0, first, batch.min(views - first))).clamp(-1.0, 1.0))
            .collect();
        Tensor::cat(parts, 0)
    }
}
