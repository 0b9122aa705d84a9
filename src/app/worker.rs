//! Background work for the app: a pipeline job (`crate::pipeline`) on its own thread (burn needs all
//! of one model's GPU work on one thread), sharing the app's wgpu device. Its events reach the UI as
//! messages; the UI pauses and cancels through the job's `Control`.

use crate::camera::SyncDreamerRig;
use crate::gpu::GpuContext;
use crate::pipeline::{Control, Event, JobReport, JobSpec};
use crate::render::Rasterizer;
use image::RgbaImage;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, OnceLock};

/// What the worker tells the UI.
pub enum WorkerMsg {
    /// An event of the job.
    Event(Event),
    /// The views of a generated key frame, read back from the matrix on the worker's thread: 64²
    /// thumbnails of the 16 rig views and the input view, and the rig views at full size.
    Thumbnails { done: usize, total: usize, views: Vec<RgbaImage>, rig_views: Vec<RgbaImage> },
    /// The job ended: its report, or why it failed.
    Ended(Result<Box<JobReport>, String>),
}

/// A running job: its messages, and its control.
pub struct Worker {
    pub rx: Receiver<WorkerMsg>,
    pub control: Control,
    handle: Option<std::thread::JoinHandle<()>>,
    pub description: String,
    /// The window to wake when a message is sent, and the pace of routine updates (set by the first
    /// frame that sees the worker), so the UI repaints on events instead of polling every frame.
    waker: Arc<OnceLock<(egui::Context, std::time::Duration)>>,
}

impl Worker {
    pub fn start(gpu: Arc<GpuContext>, job: JobSpec) -> Self {
        let (tx, rx) = channel();
        let control = Control::default();
        let description = match &job.input {
            crate::pipeline::Input::Video(p) => format!("video -> 3D: {}", p.display()),
            crate::pipeline::Input::Dataset(p) => format!("training on {}", p.display()),
            crate::pipeline::Input::Checkpoint(p) => format!("exporting {}", p.display()),
        };
        let c = control.clone();
        let waker = Arc::new(OnceLock::<(egui::Context, std::time::Duration)>::new());
        let wake = waker.clone();
        let handle = std::thread::Builder::new()
            .name("efficient4d-worker".into())
            .spawn(move || {
                let mut forward = |event: Event| {
                    if let Event::FrameGenerated { frame, total, matrix } = &event {
                        let full = frame_views(matrix, *frame);
                        let views = full.iter().map(|v| image::imageops::thumbnail(v, 64, 64)).collect();
                        let rig_views = full.into_iter().take(SyncDreamerRig::default().views as usize).collect();
                        let msg = WorkerMsg::Thumbnails { done: frame + 1, total: *total, views, rig_views };
                        let _ = tx.send(msg);
                    }
                    // Routine updates (a step's figures, stage progress, the model as it trains) are shown
                    // at the window's pace; anything else (a stage starts, a warning, the end) at once.
                    let routine =
                        matches!(event, Event::Step(_) | Event::Progress { .. } | Event::Snapshot { last: false, .. });
                    // A UI that is gone stops the job at its next check.
                    if tx.send(WorkerMsg::Event(event)).is_err() {
                        c.cancel();
                    }
                    match wake.get() {
                        Some((ctx, pace)) if routine => ctx.request_repaint_after(*pace),
                        Some((ctx, _)) => ctx.request_repaint(),
                        None => {}
                    }
                };
                let result = Rasterizer::new(gpu.clone())
                    .map_err(anyhow::Error::from)
                    .and_then(|rast| crate::pipeline::run(&gpu, &Arc::new(rast), &job, &c, &mut forward));
                let _ = tx.send(WorkerMsg::Ended(result.map(Box::new).map_err(|e| format!("{e:#}"))));
                if let Some((ctx, _)) = wake.get() {
                    ctx.request_repaint();
                }
            })
            .expect("spawning a thread");
        Self { rx, control, handle: Some(handle), description, waker }
    }

    /// Wake `ctx`'s window when the job sends something: at once, or within `pace` for routine
    /// updates (the first call counts).
    pub(crate) fn wake(&self, ctx: &egui::Context, pace: std::time::Duration) {
        let _ = self.waker.set((ctx.clone(), pace));
    }

    pub(crate) fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }

    /// Asks the job to stop and waits for it (it stops within one training step).
    pub fn stop(&mut self) {
        self.control.cancel();
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

/// The views of one generated key frame (rig views in order, then the input view), read back from
/// the matrix folder as it is written.
fn frame_views(matrix: &Path, frame: usize) -> Vec<RgbaImage> {
    let prefix = format!("f{frame:03}_");
    let mut files: Vec<PathBuf> = std::fs::read_dir(matrix.join("train"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(&prefix)));
    // f000_v00 … f000_v15, then the input view f000_v16.
    files.sort();
    files.iter().filter_map(|p| image::open(p).ok()).map(|i| i.to_rgba8()).collect()
}

/// Where the app keeps a job's files (the generated matrix, the model): a fresh folder under `root`
/// (the system's temporary directory by default), named after the input.
pub(crate) fn work_dir_for(root: &Path, input: &Path) -> PathBuf {
    let stem = input.file_stem().and_then(|s| s.to_str()).unwrap_or("input");
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    root.join(format!("{stem}-{stamp}"))
}
