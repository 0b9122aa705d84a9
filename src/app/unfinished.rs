//! Runs the app started and did not finish (the app was closed, killed or crashed, the machine lost
//! power): training autosaves into the job's work folder (`TrainSpec::autosave_every`), and the job
//! records there which dataset it trains on (`job.json`), so on the next launch the app finds the
//! newest such folder and offers to go on with it from its last save.

use crate::export::Checkpoint;
use crate::pipeline::MODEL_FILE;
use crate::train::state::STATE_FILE;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The job's record in its work folder.
const RECORD_FILE: &str = "job.json";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct JobRecord {
    /// The dataset (or generated matrix) training reads.
    dataset: PathBuf,
    /// The user declined to go on with it: never offered again.
    #[serde(default)]
    dismissed: bool,
}

impl JobRecord {
    fn write(&self, work: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(self).expect("a record serialises");
        crate::atomic_file::write_atomically(&work.join(RECORD_FILE), json.as_bytes())
    }
}

/// Notes in `work` that its training reads `dataset` (before the job starts).
pub fn record_job(work: &Path, dataset: &Path) -> std::io::Result<()> {
    JobRecord { dataset: dataset.to_path_buf(), dismissed: false }.write(work)
}

/// A run that stopped before its plan's end and can go on.
#[derive(Clone, Debug, PartialEq)]
pub struct Unfinished {
    /// The job's work folder (model and training state).
    pub work: PathBuf,
    pub dataset: PathBuf,
    /// Steps taken, and the plan's length.
    pub step: u32,
    pub planned: u32,
}

impl Unfinished {
    pub fn describe(&self) -> String {
        let name = self.dataset.file_name().or(self.work.file_name()).unwrap_or_default().to_string_lossy();
        format!(
            "an unfinished training run ({name}: step {} of {}) can go on where it stopped",
            self.step, self.planned
        )
    }

    /// Never offer this one again.
    pub(crate) fn dismiss(&self) -> std::io::Result<()> {
        JobRecord { dataset: self.dataset.clone(), dismissed: true }.write(&self.work)
    }
}

/// The folder under which the app keeps its jobs' work folders.
pub fn jobs_root() -> PathBuf {
    std::env::temp_dir().join("efficient4d")
}

/// The newest job folder under `root` whose run saved a model and training state before the end of
/// its plan, whose dataset is still there and which was not dismissed.
pub fn newest_unfinished(root: &Path) -> Option<Unfinished> {
    let mut found: Vec<(std::time::SystemTime, Unfinished)> = std::fs::read_dir(root)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let work = entry.path();
            let record: JobRecord = serde_json::from_slice(&std::fs::read(work.join(RECORD_FILE)).ok()?).ok()?;
            if record.dismissed || !record.dataset.exists() || !work.join(STATE_FILE).is_file() {
                return None;
            }
            let model = work.join(MODEL_FILE);
            let saved = std::fs::metadata(&model).and_then(|m| m.modified()).ok()?;
            let meta = Checkpoint::load(&model).ok()?.meta;
            let planned = meta.settings.get("iterations")?.as_u64()? as u32;
            (meta.iterations < planned)
                .then_some((saved, Unfinished { work, dataset: record.dataset, step: meta.iterations, planned }))
        })
        .collect();
    found.sort_by_key(|(saved, _)| *saved);
    found.pop().map(|(_, u)| u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runs_saved_before_their_end_and_not_dismissed_are_offered() {
        let root = tempfile::tempdir().unwrap();
        let dataset = root.path().join("data");
        std::fs::create_dir_all(&dataset).unwrap();
        let job = |name: &str, step: u32, planned: u32| {
            let work = root.path().join(name);
            std::fs::create_dir_all(&work).unwrap();
            record_job(&work, &dataset).unwrap();
            let ckpt = crate::export::Checkpoint {
                gaussians: crate::gaussians::random::RandomScene { count: 3, ..Default::default() }.build(),
                meta: crate::export::CheckpointMeta {
                    format_version: 1,
                    time_range: [0.0, 1.0],
                    sh_degree: 0,
                    background: [1.0; 3],
                    rig: None,
                    frame_times: vec![0.0],
                    iterations: step,
                    settings: serde_json::json!({ "iterations": planned }),
                },
            };
            ckpt.save(&work.join(MODEL_FILE)).unwrap();
            std::fs::write(work.join(STATE_FILE), b"state").unwrap();
            // Saved in this order: the later, the newer.
            std::thread::sleep(std::time::Duration::from_millis(20));
            work
        };
        assert_eq!(newest_unfinished(root.path()), None);
        let older = job("older", 10, 100);
        job("finished", 100, 100);
        assert_eq!(newest_unfinished(root.path()).map(|u| u.work), Some(older.clone()));
        let newer = job("newer", 42, 1117);
        let found = newest_unfinished(root.path()).unwrap();
        assert_eq!((found.work.clone(), found.step, found.planned), (newer.clone(), 42, 1117));
        assert!(found.describe().contains("step 42 of 1117"), "{}", found.describe());
        // Dismissed: the next newest is offered; a folder without its training state is not.
        found.dismiss().unwrap();
        assert_eq!(newest_unfinished(root.path()).map(|u| u.work), Some(older.clone()));
        std::fs::remove_file(older.join(STATE_FILE)).unwrap();
        assert_eq!(newest_unfinished(root.path()), None);
    }
}
