//! Stage 1 with SyncDreamer-T: the preprocessed key frames → the 16-view × F-frame image matrix in the
//! D-NeRF convention (`generator: "syncdreamer-t"`), plus each frame's input view. All frames are
//! denoised together (time-synchronous volumes); the generated views are on white, and their alpha
//! is keyed from that background.

use super::model::{NoiseSource, SampleError, SampleOptions, SeededNoise, SyncDreamerT};
use super::{MODEL_NAME, SyncDreamerConfig};
use crate::camera::rig::input_view_camera;
use crate::camera::{Camera, SyncDreamerRig};
use crate::dataset::{DatasetWriter, Split};
use crate::generate::Stage1Progress;
use crate::generate::inflate::GenerateError;
use crate::generate::render_matrix::add_frame_views;
use crate::video::ObjectFrames;
use crate::video::mask::{KeyOptions, key_background};
use crate::video::preprocess::composite_on_white;
use crate::weights::{TensorTable, WeightsError, read_any};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbaImage;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Reads the published `syncdreamer-pretrain.ckpt` (or the same tensors as safetensors) and builds
/// the full-size model on `device`, its linear and convolution layers in f16 when `half`.
pub fn load_syncdreamer(path: &Path, device: &Device, half: bool) -> Result<SyncDreamerT, WeightsError> {
    let state = read_any(path, Some("state_dict"))?;
    let table = TensorTable::consuming(state, path, MODEL_NAME, device);
    let table = if half { table.half_weights() } else { table };
    SyncDreamerT::load(&table, SyncDreamerConfig::full(), device)
}

/// Whether `path` holds every tensor the loader of a `config`-sized model asks for, in its shape — from
/// the file's header alone, before a download is installed. The message says what does not fit.
pub fn check_checkpoint(path: &Path, config: SyncDreamerConfig) -> Result<(), String> {
    let file = crate::weights::read_shapes(path, Some("state_dict")).map_err(|e| e.to_string())?;
    let device = Device::flex();
    let recorder = TensorTable::recorder(MODEL_NAME, &device);
    SyncDreamerT::load(&recorder, config, &device).map_err(|e| e.to_string())?;
    crate::weights::check_against_loader(&file, |k| Some(k.to_string()), &recorder.requests())
}

/// The key frames as the model's input: [F, 3, 256, 256] in [−1, 1], composited on white.
pub(crate) fn frames_to_tensor(frames: &[RgbaImage], device: &Device) -> Tensor<4> {
    let (w, h) = (256usize, 256usize);
    let mut values = Vec::with_capacity(frames.len() * 3 * w * h);
    for frame in frames {
        let rgb = composite_on_white(frame);
        for c in 0..3 {
            values.extend((0..w * h).map(|i| rgb[i * 3 + c] * 2.0 - 1.0));
        }
    }
    Tensor::<4>::from_data(TensorData::new(values, [frames.len(), 3, h, w]), device)
}

/// Decoded views [V, 3, 256, 256] in [−1, 1] → RGBA images, alpha keyed from the white background
/// (fully opaque when no object can be separated from it).
fn views_to_images(views: Tensor<4>) -> Vec<RgbaImage> {
    let [v, _, h, w] = views.dims();
    let values: Vec<f32> = views.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 after convert");
    (0..v)
        .map(|k| {
            let plane = |c: usize, i: usize| values[((k * 3 + c) * h * w) + i];
            let rgb = RgbaImage::from_fn(w as u32, h as u32, |x, y| {
                let i = y as usize * w + x as usize;
                // The reference's `(clamp(x) + 1)·0.5·255` truncated to u8.
                image::Rgba(std::array::from_fn(
                    |c| if c < 3 { ((plane(c, i) + 1.0) * 0.5 * 255.0) as u8 } else { 255 },
                ))
            });
            key_background(&rgb, k, &KeyOptions::default()).unwrap_or(rgb)
        })
        .collect()
}

/// Generates the matrix of `objects` into `out`, reporting the DDIM steps (all frames are denoised
/// together), then each frame decoded and written.
pub fn generate_matrix_syncdreamer(
    model: &SyncDreamerT,
    objects: &ObjectFrames,
    out: &Path,
    options: &SampleOptions,
    seed: u64,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(Stage1Progress),
) -> Result<(), GenerateError> {
    let device = model.device().clone();
    let frames = objects.frames.len();
    let mut noise = SeededNoise::new(seed);
    let images = frames_to_tensor(&objects.frames, &device);
    let prepared = model.prepare(images, vec![0.0; frames], &mut noise as &mut dyn NoiseSource);
    let latents = model
        .sample(&prepared, options, &mut noise, &mut |done, total| {
            progress(Stage1Progress::Denoised { step: done, steps: total });
            !cancel.load(Ordering::Relaxed)
        })
        .map_err(|e| match e {
            SampleError::Cancelled => GenerateError::Cancelled,
        })?;

    let rig = SyncDreamerRig::default();
    let input_camera = input_view_camera(&rig);
    let cameras: Vec<(u32, Camera)> = (0..rig.views).map(|v| (v, rig.camera(v))).collect();
    let mut writer = DatasetWriter::new(out, Some("syncdreamer-t"), Some(rig.clone()));
    let times = objects.times();
    let views = model.config().views;
    for (f, canvas) in objects.frames.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(GenerateError::Cancelled);
        }
        let frame_latents = latents.clone().narrow(0, f, 1).reshape([views, 4, 32, 32]);
        let images = views_to_images(model.decode_views(frame_latents, options.view_batch));
        add_frame_views(&mut writer, Split::Train, f as u32, times[f], &cameras, &images)?;
        let input = [(rig.views, input_camera)];
        add_frame_views(&mut writer, Split::Train, f as u32, times[f], &input, std::slice::from_ref(canvas))?;
        progress(Stage1Progress::Generated { done: f + 1, total: frames });
    }
    writer.finish()?;
    Ok(())
}

/// SyncDreamer-T as a stage-1 [`Generator`](crate::generate::Generator): a loaded model, its sampler
/// settings and the noise seed.
pub(crate) struct SyncDreamerGenerator {
    pub model: SyncDreamerT,
    pub sample: SampleOptions,
    pub seed: u64,
}

impl crate::generate::Generator for SyncDreamerGenerator {
    fn name(&self) -> &'static str {
        "SyncDreamer-T"
    }

    fn generate(
        &self,
        objects: &ObjectFrames,
        out: &Path,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(Stage1Progress),
    ) -> Result<(), GenerateError> {
        generate_matrix_syncdreamer(&self.model, objects, out, &self.sample, self.seed, cancel, progress)
    }
}
