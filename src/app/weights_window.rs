//! The Weights window: each published weight file — installed, partly downloaded or missing — with a
//! button that downloads it (progress, rate, time left), Cancel (what arrived is kept) and Resume.
//! The download runs on its own thread ([`crate::pipeline::weights::install_into`]); the window only
//! reads where it stands.

use crate::pipeline::weights::{Installed, install_into, status_in};
use crate::weights::download::{Phase, Progress, human_bytes};
use crate::weights::{self, KnownWeights};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// Where the window installs and what it fetches from (the app's options; tests point both at a
/// folder and a hub of their own).
#[derive(Clone, Debug)]
pub struct WeightsPlace {
    pub dir: PathBuf,
    /// The hub or a mirror.
    pub endpoint: String,
}

impl Default for WeightsPlace {
    fn default() -> Self {
        Self {
            dir: weights::install_folder().unwrap_or_else(|| PathBuf::from("weights")),
            endpoint: weights::hub::endpoint(),
        }
    }
}

impl WeightsPlace {
    /// Where `w` stands: in every folder searched when this is the usual install folder (a file put in
    /// a later one by hand is found, as the generator finds it), else in `dir` alone.
    pub fn status(&self, w: &KnownWeights) -> Installed {
        if weights::install_folder().as_deref() == Some(self.dir.as_path()) {
            crate::pipeline::weights::status(w)
        } else {
            status_in(w, &self.dir)
        }
    }
}

/// A download under way.
struct Running {
    id: &'static str,
    progress: Arc<Mutex<Option<Progress>>>,
    cancel: Arc<AtomicBool>,
    done: mpsc::Receiver<Result<PathBuf, String>>,
}

#[derive(Default)]
pub struct WeightsWindow {
    pub open: bool,
    running: Option<Running>,
    /// The last outcome per file (installed where, or why not), shown under its row.
    outcome: Vec<(&'static str, String)>,
}

impl WeightsWindow {
    pub fn is_downloading(&self) -> bool {
        self.running.is_some()
    }

    /// Starts downloading `w` into `place` (going on from a partial download there).
    pub fn start(&mut self, w: KnownWeights, place: &WeightsPlace, ctx: &egui::Context) {
        if self.running.is_some() {
            return;
        }
        self.outcome.retain(|(id, _)| *id != w.id);
        let progress = Arc::new(Mutex::new(None));
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, done) = mpsc::channel();
        let (p, c, place, ctx) = (progress.clone(), cancel.clone(), place.clone(), ctx.clone());
        std::thread::spawn(move || {
            let result = install_into(&w, &place.dir, &place.endpoint, &c, &mut |now| {
                *p.lock().expect("progress lock") = Some(now.clone());
                // A few repaints a second are enough to move a progress bar.
                ctx.request_repaint_after(Duration::from_millis(250));
            });
            let _ = tx.send(result.map_err(|e| e.to_string()));
            ctx.request_repaint();
        });
        self.running = Some(Running { id: w.id, progress, cancel, done });
    }

    /// Stops the download at its next chunk; what arrived is kept for Resume.
    pub fn cancel(&self) {
        if let Some(r) = &self.running {
            r.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// Where the download stands (`None` when none runs).
    pub fn progress(&self) -> Option<(&'static str, Option<Progress>)> {
        let r = self.running.as_ref()?;
        Some((r.id, r.progress.lock().expect("progress lock").clone()))
    }

    /// The last outcome for `id`: where it was installed, or why it was not.
    pub fn outcome(&self, id: &str) -> Option<&str> {
        self.outcome.iter().find(|(i, _)| *i == id).map(|(_, s)| s.as_str())
    }

    /// Picks up a finished download; true when one finished this frame.
    pub fn poll(&mut self) -> bool {
        let Some(r) = &self.running else { return false };
        let Ok(result) = r.done.try_recv() else { return false };
        let id = r.id;
        self.running = None;
        let line = match result {
            Ok(path) => format!("installed {}", path.display()),
            Err(e) => e,
        };
        self.outcome.push((id, line));
        true
    }

    /// The window, when open.
    pub fn show(&mut self, ctx: &egui::Context, place: &WeightsPlace) {
        self.poll();
        if !self.open {
            return;
        }
        let mut open = self.open;
        egui::Window::new("Weights").open(&mut open).resizable(false).show(ctx, |ui| {
            ui.label(format!("Installed into {} (from {}).", place.dir.display(), place.endpoint));
            for w in weights::ALL {
                ui.separator();
                self.row(ui, w, place);
            }
        });
        self.open = open;
    }

    fn row(&mut self, ui: &mut egui::Ui, w: KnownWeights, place: &WeightsPlace) {
        ui.strong(w.what);
        let running_here = self.running.as_ref().is_some_and(|r| r.id == w.id);
        if running_here {
            let (_, progress) = self.progress().expect("running");
            ui.horizontal(|ui| {
                match &progress {
                    Some(p) => {
                        ui.add(egui::ProgressBar::new(fraction(p)).desired_width(260.0).text(progress_line(p)));
                    }
                    None => {
                        ui.spinner();
                    }
                }
                if ui.button("Cancel").on_hover_text("stop; what arrived is kept for Resume").clicked() {
                    self.cancel();
                }
            });
        } else {
            ui.horizontal(|ui| {
                let (line, button) = match place.status(&w) {
                    Installed::Yes { path, bytes } => {
                        (format!("installed: {} ({})", short(&path), human_bytes(bytes)), None)
                    }
                    Installed::Partial { bytes, total, .. } => {
                        (format!("partial: {} of {}", human_bytes(bytes), human_bytes(total)), Some("Resume"))
                    }
                    Installed::No => (format!("missing ({} from {})", w.file_name, w.hub.repo), Some("Get")),
                };
                ui.label(line);
                if let Some(label) = button
                    && ui.add_enabled(self.running.is_none(), egui::Button::new(label)).clicked()
                {
                    self.start(w, place, ui.ctx());
                }
            });
        }
        if let Some(outcome) = self.outcome(w.id) {
            ui.label(egui::RichText::new(outcome).small());
        }
    }
}

fn fraction(p: &Progress) -> f32 {
    if p.total == 0 { 0.0 } else { (p.done as f64 / p.total as f64) as f32 }
}

/// "1.20 GB of 5.57 GB, 48.0 MB/s, 1 min 31 s left" (or the phase, outside the download itself).
pub fn progress_line(p: &Progress) -> String {
    let of = format!("{} of {}", human_bytes(p.done), human_bytes(p.total));
    match p.phase {
        Phase::Rehashing => format!("{}: {of}", p.phase.what()),
        Phase::Downloading => match p.eta() {
            Some(eta) => {
                let s = eta.as_secs();
                let left = if s >= 60 { format!("{} min {} s", s / 60, s % 60) } else { format!("{s} s") };
                format!("{of}, {}/s, {left} left", human_bytes(p.bytes_per_second as u64))
            }
            None => of,
        },
        Phase::Asking | Phase::Checking | Phase::Installed => p.phase.what().into(),
    }
}

fn short(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}
