//! Background work for the app: stage 1 (video → image matrix) and training, on their own thread
//! (burn needs all of one model's GPU work on one thread), sharing the app's wgpu device. Results reach
//! the UI as messages; the UI can pause and cancel.

use crate::dataset::{Dataset, LoadOptions, load_dataset};
use crate::export::Checkpoint;
use crate::generate::from_video::{Stage1Progress, VideoToMatrix, video_to_matrix};
use crate::gpu::GpuContext;
use crate::interpolate::{Interpolator, InterpolatorChoice, RefineOptions, refine_matrix};
use crate::render::Rasterizer;
use crate::train::{TrainConfig, Trainer};
use image::RgbaImage;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// What the worker tells the UI.
pub enum WorkerMsg {
    Status(String),
    /// Stage 1 decoded and preprocessed the key frames (256² RGBA, in time order).
    KeyFrames(Vec<RgbaImage>),
    /// Stage 1 finished the matrix: the dataset it wrote.
    Matrix(Box<Dataset>),
    /// Stage 1 progress: frames generated of total, with the views of the frame just made (the 16 rig
    /// views, then the input view; 64² thumbnails).
    Generated {
        done: usize,
        total: usize,
        views: Vec<RgbaImage>,
    },
    /// A training snapshot to show, with the stats of the step that produced it.
    Snapshot {
        checkpoint: Box<Checkpoint>,
        stats: TrainStats,
    },
    /// Per-step stats (for the plot), sent more often than snapshots.
    Step(TrainStats),
    Finished {
        checkpoint: Option<Box<Checkpoint>>,
        message: String,
    },
    Failed(String),
}

#[derive(Clone, Copy, Debug, Default)]
pub struct TrainStats {
    pub iteration: u32,
    pub iterations: u32,
    pub loss: f32,
    pub psnr: f32,
    pub splats: usize,
    pub steps_per_second: f32,
}

/// What to run.
#[derive(Clone, Debug)]
pub enum Job {
    /// Video or frame folder → matrix in `work_dir` → training.
    Pipeline {
        video: PathBuf,
        work_dir: PathBuf,
        stage1: Box<VideoToMatrix>,
        /// Interpolation and confidence maps between the stages (`None`: train on the matrix as made).
        refine: Option<(InterpolatorChoice, RefineOptions)>,
        train: Box<TrainConfig>,
    },
    /// Training on an existing dataset.
    Train { dataset: PathBuf, train: Box<TrainConfig> },
}

/// A running job: its messages, and flags the UI sets.
pub struct Worker {
    pub rx: Receiver<WorkerMsg>,
    pub cancel: Arc<AtomicBool>,
    pub pause: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
    pub description: String,
}

impl Worker {
    pub fn start(gpu: Arc<GpuContext>, job: Job) -> Self {
        let (tx, rx) = channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let pause = Arc::new(AtomicBool::new(false));
        let description = match &job {
            Job::Pipeline { video, .. } => format!("video -> 3D: {}", video.display()),
            Job::Train { dataset, .. } => format!("training on {}", dataset.display()),
        };
        let (c, p) = (cancel.clone(), pause.clone());
        let handle = std::thread::Builder::new()
            .name("efficient4d-worker".into())
            .spawn(move || {
                let result = run_job(&gpu, job, &tx, &c, &p);
                if let Err(e) = result {
                    let _ = tx.send(WorkerMsg::Failed(format!("{e:#}")));
                }
            })
            .expect("spawning a thread");
        Self { rx, cancel, pause, handle: Some(handle), description }
    }

    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Asks the job to stop and waits for it (it stops within one training step).
    pub fn stop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
        self.pause.store(false, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run_job(
    gpu: &Arc<GpuContext>,
    job: Job,
    tx: &Sender<WorkerMsg>,
    cancel: &AtomicBool,
    pause: &AtomicBool,
) -> anyhow::Result<()> {
    let rast = Arc::new(Rasterizer::new(gpu.clone())?);
    let (dataset, config) = match job {
        Job::Pipeline { video, work_dir, stage1, refine, train } => {
            let _ = tx.send(WorkerMsg::Status(format!("decoding {}", video.display())));
            let matrix = work_dir.join("matrix");
            let objects = video_to_matrix(&rast, &video, &matrix, &stage1, cancel, &mut |p| match p {
                Stage1Progress::Decoded { frames, generator } => {
                    let _ = tx.send(WorkerMsg::Status(format!(
                        "generating the image matrix of {frames} key frames ({generator})"
                    )));
                }
                Stage1Progress::Denoised { step, steps } => {
                    let _ = tx.send(WorkerMsg::Status(format!("SyncDreamer-T: denoising step {step} of {steps}")));
                }
                Stage1Progress::Generated { done, total } => {
                    let views = frame_thumbnails(&matrix, done - 1);
                    let _ = tx.send(WorkerMsg::Generated { done, total, views });
                }
            });
            let objects = match objects {
                Err(e) if cancel.load(Ordering::SeqCst) => {
                    let _ = tx.send(WorkerMsg::Finished { checkpoint: None, message: format!("cancelled ({e})") });
                    return Ok(());
                }
                other => other?,
            };
            let _ = tx.send(WorkerMsg::KeyFrames(objects.frames));
            if let Some((choice, options)) = refine {
                match refine_live(gpu, &matrix, choice, &options, tx, cancel) {
                    Err(e) if cancel.load(Ordering::SeqCst) => {
                        let _ = tx.send(WorkerMsg::Finished { checkpoint: None, message: format!("cancelled ({e})") });
                        return Ok(());
                    }
                    other => other?,
                }
            }
            let ds = load_dataset(&matrix, LoadOptions::default())?;
            let _ = tx.send(WorkerMsg::Matrix(Box::new(ds.clone())));
            (ds, *train)
        }
        Job::Train { dataset, train } => (load_dataset(&dataset, LoadOptions::default())?, *train),
    };
    train_live(gpu, rast, &dataset, config, tx, cancel, pause)
}

/// Interpolates the matrix and makes its confidence maps, reporting each view done.
fn refine_live(
    gpu: &GpuContext,
    matrix: &Path,
    choice: InterpolatorChoice,
    options: &RefineOptions,
    tx: &Sender<WorkerMsg>,
    cancel: &AtomicBool,
) -> anyhow::Result<()> {
    let interp = Interpolator::new(choice, &crate::commands::refine::inference_device(Some(gpu))?)?;
    let what = match (options.new_frames_per_pair, options.confidence) {
        (0, _) => "making confidence maps".to_string(),
        (n, None) => format!("interpolating {n} frames per pair ({})", interp.name()),
        (n, Some(_)) => format!("interpolating {n} frames per pair ({}) and making confidence maps", interp.name()),
    };
    let _ = tx.send(WorkerMsg::Status(what.clone()));
    refine_matrix(matrix, &interp, options, cancel, &mut |done, total| {
        let _ = tx.send(WorkerMsg::Status(format!("{what}: view {done}/{total}")));
    })?;
    Ok(())
}

/// The thumbnails of one generated key frame, read back from the matrix folder as it is written.
fn frame_thumbnails(matrix: &Path, frame: usize) -> Vec<RgbaImage> {
    let prefix = format!("f{frame:03}_");
    let mut files: Vec<PathBuf> = std::fs::read_dir(matrix.join("train"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix)));
    // f000_v00 … f000_v15, then the input view f000_v16.
    files.sort();
    files
        .iter()
        .filter_map(|p| image::open(p).ok())
        .map(|i| image::imageops::thumbnail(&i.to_rgba8(), 64, 64))
        .collect()
}

/// Trains, sending a snapshot at most every `SNAPSHOT_EVERY` of wall time.
fn train_live(
    gpu: &Arc<GpuContext>,
    rast: Arc<Rasterizer>,
    dataset: &Dataset,
    config: TrainConfig,
    tx: &Sender<WorkerMsg>,
    cancel: &AtomicBool,
    pause: &AtomicBool,
) -> anyhow::Result<()> {
    const SNAPSHOT_EVERY: Duration = Duration::from_millis(1500);
    let iterations = config.iterations;
    let _ = tx.send(WorkerMsg::Status("preparing training (the first steps compile GPU kernels)".into()));
    let mut trainer = Trainer::new(gpu, rast, dataset, config, None)?;
    let started = Instant::now();
    let mut last_snapshot = Instant::now() - SNAPSHOT_EVERY;
    let _ = tx.send(WorkerMsg::Status("training".into()));
    while trainer.iteration() < iterations {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        if pause.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let s = trainer.step();
        let stats = TrainStats {
            iteration: s.iteration,
            iterations,
            loss: s.loss,
            psnr: s.psnr,
            splats: s.splats,
            steps_per_second: s.iteration as f32 / started.elapsed().as_secs_f32().max(1e-3),
        };
        if last_snapshot.elapsed() >= SNAPSHOT_EVERY || s.iteration == iterations {
            last_snapshot = Instant::now();
            if tx.send(WorkerMsg::Snapshot { checkpoint: Box::new(trainer.checkpoint()), stats }).is_err() {
                return Ok(()); // the UI is gone
            }
        } else if tx.send(WorkerMsg::Step(stats)).is_err() {
            return Ok(());
        }
    }
    let stopped = cancel.load(Ordering::SeqCst);
    let message = format!(
        "{} after {} steps in {:.0} s",
        if stopped { "stopped" } else { "trained" },
        trainer.iteration(),
        started.elapsed().as_secs_f64()
    );
    let _ = tx.send(WorkerMsg::Finished { checkpoint: Some(Box::new(trainer.checkpoint())), message });
    Ok(())
}

/// Where the app keeps a job's files (the generated matrix): a fresh folder under the system's
/// temporary directory, named after the input.
pub fn work_dir_for(input: &Path) -> PathBuf {
    let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("input");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    std::env::temp_dir().join("efficient4d").join(format!("{stem}-{stamp}"))
}
