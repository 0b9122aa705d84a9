//! What a running job tells its driver (typed events through one observer), and how the driver steers
//! it (one cancellation token, one pause flag).

use crate::dataset::Dataset;
use crate::export::Checkpoint;
use image::RgbaImage;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The stages of a job, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Video → key frames, masked, cropped and centred.
    Decode,
    /// Key frames → the 16-view image matrix (stage 1).
    Generate,
    /// Interpolated frames and confidence maps between the stages.
    Refine,
    /// 4D Gaussians fitted to the matrix (stage 2).
    Train,
    /// PLY frames and the turntable preview.
    Export,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Generate => "generate",
            Self::Refine => "refine",
            Self::Train => "train",
            Self::Export => "export",
        }
    }
}

/// One training step, as drivers show it.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct StepReport {
    pub iteration: u32,
    /// The planned length of the run.
    pub iterations: u32,
    pub loss: f32,
    /// PSNR of the step's batch (training views).
    pub psnr: f32,
    pub splats: usize,
    /// Seconds spent in training steps so far in this run (evaluations excluded).
    pub seconds: f64,
    /// Steps this run has taken (a resumed run starts counting at its first new step).
    pub steps_this_run: u32,
}

impl StepReport {
    pub fn steps_per_second(&self) -> f64 {
        self.steps_this_run as f64 / self.seconds.max(1e-6)
    }
}

/// One point of the held-out curve (`TrainSpec::eval_every`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CurvePoint {
    pub step: u32,
    /// Training seconds up to this step.
    pub seconds: f64,
    pub psnr: f64,
    pub ssim: f64,
    pub splats: usize,
    /// The same on a probe of training views (`TrainSpec::train_probe`): the gap shows overfitting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_psnr: Option<f64>,
}

/// What a job reports while it runs.
#[derive(Clone)]
pub enum Event {
    StageStarted {
        stage: Stage,
        what: String,
    },
    /// `done` of `total` units of the stage (frames, views, denoising steps).
    Progress {
        stage: Stage,
        done: usize,
        total: usize,
        what: String,
    },
    StageFinished {
        stage: Stage,
        seconds: f64,
    },
    /// The stage-1 generator chosen for this job and why; `preview` when it is the weights-free
    /// inflate preview rather than SyncDreamer-T (the app then says what a full result needs).
    Generator {
        preview: bool,
        why: String,
    },
    /// A line for the user (what stage 1 made, a refine summary); plain text the app's default font
    /// draws (no arrows).
    Info(String),
    Warning(String),
    /// The input's preprocessed key frames (256² RGBA, in time order).
    KeyFrames(Vec<RgbaImage>),
    /// Stage 1 wrote key frame `frame` of `total` (its views are on disk in `matrix`).
    FrameGenerated {
        frame: usize,
        total: usize,
        matrix: PathBuf,
    },
    /// The dataset training is about to fit.
    Dataset(Arc<Dataset>),
    Step(StepReport),
    Evaluated(CurvePoint),
    /// The model as it stands; `last` on the one after the final step.
    Snapshot {
        checkpoint: Arc<Checkpoint>,
        step: StepReport,
        last: bool,
    },
    /// Training saved itself at `step` (`TrainSpec::autosave_every`) to `path`, in `seconds`.
    Saved {
        step: u32,
        path: PathBuf,
        seconds: f64,
    },
    /// The job ended; these files were written.
    Done {
        written: Vec<PathBuf>,
    },
}

/// Receives a job's events, on the job's thread.
pub trait Observer {
    fn on_event(&mut self, event: Event);
}

impl<F: FnMut(Event)> Observer for F {
    fn on_event(&mut self, event: Event) {
        self(event)
    }
}

/// Cancellation and pause, shared between a job and whoever drives it.
#[derive(Clone, Debug, Default)]
pub struct Control {
    cancel: Arc<AtomicBool>,
    pause: Arc<AtomicBool>,
}

impl Control {
    /// A control whose cancellation is `flag` (e.g. the process's Ctrl-C flag).
    pub fn with_cancel_flag(flag: Arc<AtomicBool>) -> Self {
        Self { cancel: flag, pause: Arc::default() }
    }

    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        // A paused job must wake to see it.
        self.pause.store(false, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// The cancellation flag itself, for stage functions that poll an `AtomicBool`.
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    pub fn set_paused(&self, paused: bool) {
        self.pause.store(paused, Ordering::SeqCst);
    }

    pub fn is_paused(&self) -> bool {
        self.pause.load(Ordering::SeqCst)
    }
}
