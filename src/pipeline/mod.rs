//! The library pipeline: one job runs the stages an input needs — a video or frame folder (decode →
//! generate → refine → train → export), an image matrix or D-NeRF dataset (train → export), a
//! checkpoint (export) — and reports typed events to one observer. The CLI, the app and the
//! benchmarks are drivers of it; none of them has a stage loop of its own.

pub(crate) mod clock;
pub(crate) mod events;
pub mod plan;
pub mod run_length;
pub mod stage1;
pub mod stopping;
pub mod training;
pub mod weights;

pub use clock::RunClock;
pub use events::{Control, CurvePoint, Event, Observer, Stage, StepReport};
pub use stage1::{RefineSpec, Stage1Report, Stage1Spec};
pub use stopping::{Plateau, StopReason, StopRule};
pub use training::{MODEL_FILE, TrainReport, TrainSpec, TrainStart};

use crate::dataset::{LoadOptions, load_dataset};
use crate::export::Checkpoint;
use crate::export::ply::{export_sequence, sequence_times};
use crate::export::turntable::{TurntableSpec, render_turntable};
use crate::gpu::GpuContext;
use crate::render::Rasterizer;
use crate::video::encode::write_gif;
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What a job starts from.
#[derive(Clone, Debug)]
pub enum Input {
    /// A video or a folder of frames: stage 1 makes the image matrix first.
    Video(PathBuf),
    /// An image matrix or any dataset in the D-NeRF convention.
    Dataset(PathBuf),
    /// A trained checkpoint: only the exports run.
    Checkpoint(PathBuf),
}

impl Input {
    pub fn path(&self) -> &Path {
        match self {
            Self::Video(p) | Self::Dataset(p) | Self::Checkpoint(p) => p,
        }
    }
}

/// What to export from the trained (or given) model.
#[derive(Clone, Debug, Default)]
pub struct ExportSpec {
    /// PLY frames into this folder: `frames` evenly spaced times, or one per key frame.
    pub ply: Option<(PathBuf, Option<u32>)>,
    /// A turntable preview GIF at this path.
    pub turntable: Option<PathBuf>,
}

/// One job: an input, the stages to run on it and where results go.
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub input: Input,
    /// The job's folder. A video's image matrix is written to `out/matrix` when the job goes on to
    /// train, else to `out` itself; the trained model (`model.safetensors`, `train_state.safetensors`)
    /// goes to `out`.
    pub out: PathBuf,
    /// Stage 1 (a video input only).
    pub stage1: Stage1Spec,
    /// Training (not for a checkpoint input). `None`: the job ends after stage 1.
    pub train: Option<TrainSpec>,
    /// Images downscaled so the longer side is at most this many pixels before training.
    pub resolution: Option<u32>,
    pub export: ExportSpec,
}

impl JobSpec {
    /// Where stage 1 writes the matrix of a video input.
    pub(crate) fn matrix_dir(&self) -> PathBuf {
        if self.train.is_some() { self.out.join("matrix") } else { self.out.clone() }
    }
}

/// What a job did.
#[derive(Clone, Debug, Serialize)]
pub struct JobReport {
    pub input: PathBuf,
    /// Wall seconds per stage that ran.
    pub stages: BTreeMap<&'static str, f64>,
    #[serde(flatten)]
    pub stage1: Option<Stage1Report>,
    #[serde(flatten)]
    pub train: Option<TrainReport>,
    pub ply_files: usize,
    pub turntable: Option<PathBuf>,
    /// Every file or folder the job wrote.
    pub written: Vec<PathBuf>,
    /// Stage 1 was cancelled (training that is cancelled saves its model and says `interrupted`).
    pub cancelled: bool,
    pub total_seconds: f64,
    /// The trained or loaded model.
    #[serde(skip)]
    pub checkpoint: Option<Checkpoint>,
}

/// Forwards events and keeps each finished stage's seconds.
struct Timed<'a> {
    inner: &'a mut dyn Observer,
    stages: BTreeMap<&'static str, f64>,
}

impl Observer for Timed<'_> {
    fn on_event(&mut self, event: Event) {
        if let Event::StageFinished { stage, seconds } = &event {
            *self.stages.entry(stage.name()).or_default() += seconds;
        }
        self.inner.on_event(event);
    }
}

/// Runs `spec` on the shared device. Errors stop the job (files of finished stages stay); a cancelled
/// stage 1 ends it with `cancelled`, cancelled training saves the model as it stands.
pub fn run(
    gpu: &Arc<GpuContext>,
    rast: &Arc<Rasterizer>,
    spec: &JobSpec,
    control: &Control,
    observer: &mut dyn Observer,
) -> anyhow::Result<JobReport> {
    let start = Instant::now();
    let mut timed = Timed { inner: observer, stages: BTreeMap::new() };
    let mut report = JobReport {
        input: spec.input.path().to_path_buf(),
        stages: BTreeMap::new(),
        stage1: None,
        train: None,
        ply_files: 0,
        turntable: None,
        written: Vec::new(),
        cancelled: false,
        total_seconds: 0.0,
        checkpoint: None,
    };
    let dataset_dir = match &spec.input {
        Input::Video(video) => {
            let matrix = spec.matrix_dir();
            match stage1::video_to_dataset(gpu, rast, video, &matrix, &spec.stage1, control, &mut timed) {
                Ok(r) => {
                    report.stage1 = Some(r);
                    report.written.push(matrix.clone());
                }
                Err(e) if control.is_cancelled() => {
                    timed.on_event(Event::Warning(format!("cancelled ({e:#})")));
                    report.cancelled = true;
                }
                Err(e) => return Err(e),
            }
            Some(matrix)
        }
        Input::Dataset(path) => Some(path.clone()),
        Input::Checkpoint(path) => {
            report.checkpoint = Some(Checkpoint::load(path)?);
            None
        }
    };
    if let (Some(dir), Some(train), false) = (&dataset_dir, &spec.train, report.cancelled) {
        let ds = Arc::new(load_dataset(dir, LoadOptions { max_side: spec.resolution })?);
        timed.on_event(Event::Dataset(ds.clone()));
        let (r, ckpt) = training::train(gpu, rast, &ds, train, Some(&spec.out), control, &mut timed)?;
        report.written.extend(r.checkpoint.iter().cloned());
        report.written.push(spec.out.join(crate::train::state::STATE_FILE));
        report.train = Some(r);
        report.checkpoint = Some(ckpt);
    }
    if let Some(ckpt) = report.checkpoint.take() {
        export(rast, &ckpt, &spec.export, &mut report, &mut timed)?;
        report.checkpoint = Some(ckpt);
    }
    report.stages = std::mem::take(&mut timed.stages);
    report.total_seconds = start.elapsed().as_secs_f64();
    timed.on_event(Event::Done { written: report.written.clone() });
    Ok(report)
}

/// The export stage: PLY frames and the turntable GIF, as `spec` asks.
fn export(
    rast: &Rasterizer,
    ckpt: &Checkpoint,
    spec: &ExportSpec,
    report: &mut JobReport,
    observer: &mut dyn Observer,
) -> anyhow::Result<()> {
    if spec.ply.is_none() && spec.turntable.is_none() {
        return Ok(());
    }
    stage1::as_stage(observer, Stage::Export, "writing PLY frames and the turntable".into(), |_| {
        if let Some((dir, frames)) = &spec.ply {
            let meta = &ckpt.meta;
            let times = sequence_times((meta.time_range[0], meta.time_range[1]), &meta.frame_times, *frames);
            let plys = export_sequence(&ckpt.gaussians, &times, dir, "frame")
                .with_context(|| format!("writing PLY files to {}", dir.display()))?;
            report.ply_files = plys.len();
            report.written.extend(plys);
        }
        if let Some(gif) = &spec.turntable {
            let turntable = TurntableSpec {
                time_range: (ckpt.meta.time_range[0], ckpt.meta.time_range[1]),
                background: ckpt.meta.background,
                ..Default::default()
            };
            let frames = render_turntable(rast, &ckpt.gaussians, &turntable)?;
            write_gif(gif, &frames, 24.0)?;
            report.turntable = Some(gif.clone());
            report.written.push(gif.clone());
        }
        Ok(())
    })
}
