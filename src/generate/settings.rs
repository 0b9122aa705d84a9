//! Every setting of stage 1 a user chooses, in one typed form: flattened into the commands that start
//! from a video (`run`, `generate`), edited by the app, consumed by the pipeline. Defaults live in
//! `Default` only; `validate` is the one check, with the same words for every caller.

use super::syncdreamer::Precision;
use super::syncdreamer::memory::{MAX_VIEW_BATCH, ViewBatch};
use crate::video::{CropMode, PAPER_KEY_FRAMES};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default)]
pub struct Stage1Config {
    /// Key frames taken evenly from the clip (the paper uses 16; 2 works).
    #[arg(long = "frames", value_name = "K", default_value_t = Stage1Config::default().key_frames)]
    pub key_frames: usize,
    /// Only use this part of the clip, in seconds: `--range 1.5 4`.
    #[arg(long, num_args = 2, value_names = ["START", "END"])]
    pub range: Option<Vec<f64>>,
    /// How to crop: `auto` (one box for all frames unless the object travels, then one per frame),
    /// `per-frame` (the paper), `stable` (one box around the object in every frame).
    #[arg(long, value_enum, default_value_t = Stage1Config::default().crop)]
    pub crop: CropMode,
    /// Stage 1 generator: `auto` (SyncDreamer-T when installed and a GPU is present, else the
    /// preview), `inflate` (weights-free preview) or `syncdreamer-t` (the paper's).
    #[arg(long, value_enum, default_value_t = Stage1Config::default().generator)]
    pub generator: GeneratorChoice,
    /// SyncDreamer-T's precision: `auto` (f16 on a GPU with `shader-f16`, else f32), `f32` or `f16`
    /// (linear and convolution layers in half precision; norms, softmax and sampling in f32).
    #[arg(long, value_enum, default_value_t = Stage1Config::default().precision)]
    pub precision: Precision,
    /// SyncDreamer-T's DDIM steps (must divide 1000).
    #[arg(long, default_value_t = Stage1Config::default().ddim_steps)]
    pub ddim_steps: usize,
    /// Seed of SyncDreamer-T's noise.
    #[arg(long, default_value_t = Stage1Config::default().seed)]
    pub seed: u64,
    /// SyncDreamer-T's target views per batch: `auto` (the most the GPU's memory and buffer limits
    /// hold, said in the plan line) or 1..=16 (refused, naming one that fits, when it does not fit).
    #[arg(long, default_value_t = Stage1Config::default().view_batch)]
    pub view_batch: ViewBatch,
}

impl Default for Stage1Config {
    /// Efficient4D's: 16 key frames, SyncDreamer-T's 50 DDIM steps where it is installed.
    fn default() -> Self {
        Self {
            key_frames: PAPER_KEY_FRAMES,
            range: None,
            crop: CropMode::Auto,
            generator: GeneratorChoice::Auto,
            precision: Precision::Auto,
            ddim_steps: 50,
            seed: 0,
            view_batch: ViewBatch::Auto,
        }
    }
}

/// Key frames a clip may give.
pub(crate) const KEY_FRAMES: std::ops::RangeInclusive<usize> = 2..=256;

impl Stage1Config {
    /// Whether every setting is in range, whichever generator runs (a bad option is reported before any
    /// work); the message names the setting as the command line spells it.
    pub fn validate(&self) -> Result<(), String> {
        if !KEY_FRAMES.contains(&self.key_frames) {
            return Err(format!(
                "key frames (--frames): {} is outside {}..={}",
                self.key_frames,
                KEY_FRAMES.start(),
                KEY_FRAMES.end()
            ));
        }
        if let Some(range) = &self.range {
            match range.as_slice() {
                [a, b] if a.is_finite() && b.is_finite() && *a >= 0.0 && a < b => {}
                _ => return Err(format!("clip range (--range): {range:?} needs START < END, both ≥ 0 seconds")),
            }
        }
        if self.ddim_steps == 0 || 1000 % self.ddim_steps != 0 {
            return Err(format!(
                "DDIM steps (--ddim-steps): {} does not divide 1000 (50 as in the paper, or 25, 20, 10, ...)",
                self.ddim_steps
            ));
        }
        if let ViewBatch::Fixed(n) = self.view_batch
            && !(1..=MAX_VIEW_BATCH).contains(&n)
        {
            return Err(format!("views per batch (--view-batch): {n} is outside 1..={MAX_VIEW_BATCH} (or auto)"));
        }
        Ok(())
    }

    /// The clip range in seconds, once validated.
    pub fn range_s(&self) -> Option<(f64, f64)> {
        match self.range.as_deref() {
            Some([a, b]) => Some((*a, *b)),
            _ => None,
        }
    }
}

/// Which stage-1 generator to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeneratorChoice {
    /// SyncDreamer-T when its weights are installed and a GPU is there to run it, else `inflate`.
    #[default]
    Auto,
    /// The weights-free preview: each key frame inflated into a relief and rendered from the rig.
    Inflate,
    /// The paper's generator (needs `syncdreamer-pretrain.ckpt`; hours per clip without a GPU).
    #[value(name = "syncdreamer-t")]
    #[serde(rename = "syncdreamer-t")]
    SyncDreamerT,
}
