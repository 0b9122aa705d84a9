//! Installing the published weights: each known file fetched from the hub ([`crate::weights::download`])
//! and checked by its own loader before it is installed. One place for the CLI's `weights get` and the
//! app's Weights window.

use crate::generate::syncdreamer::{SyncDreamerConfig, matrix::check_checkpoint};
use crate::interpolate::rife::Rife;
use crate::weights::download::{self, DownloadError, Progress, Request};
use crate::weights::{KnownWeights, RIFE, SYNCDREAMER};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

/// Where a known file stands in the install folder.
#[derive(Clone, Debug, PartialEq)]
pub enum Installed {
    /// Found (in any searched folder), with its size.
    Yes {
        path: PathBuf,
        bytes: u64,
    },
    /// A download stopped part way in the install folder: bytes so far of the total.
    Partial {
        path: PathBuf,
        bytes: u64,
        total: u64,
    },
    No,
}

/// Whether `w` is installed (in any folder searched), partly downloaded in the install folder, or missing.
pub fn status(w: &KnownWeights) -> Installed {
    if let Some(path) = crate::weights::find(w) {
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        return Installed::Yes { path, bytes };
    }
    crate::weights::install_folder().map_or(Installed::No, |dir| status_in(w, &dir))
}

/// Whether `w` is installed, partly downloaded or missing in `dir`.
pub(crate) fn status_in(w: &KnownWeights, dir: &Path) -> Installed {
    let target = dir.join(w.file_name);
    if let Ok(meta) = std::fs::metadata(&target)
        && meta.is_file()
    {
        return Installed::Yes { path: target, bytes: meta.len() };
    }
    match download::partial(&target) {
        Some((bytes, record)) => Installed::Partial { path: download::part_path(&target), bytes, total: record.size },
        None => Installed::No,
    }
}

/// The structure check of `w`: its loader's names and shapes (the full-size model), from the header.
pub fn check(w: &KnownWeights) -> fn(&Path) -> Result<(), String> {
    if w.id == SYNCDREAMER.id {
        |p| check_checkpoint(p, SyncDreamerConfig::full())
    } else {
        debug_assert_eq!(w.id, RIFE.id);
        Rife::check_weights
    }
}

/// The request that fetches `w` into `dir` from `endpoint` (the hub or a mirror).
pub fn request(w: &KnownWeights, dir: &Path, endpoint: &str) -> Request {
    Request { expected_size: w.size, endpoint: endpoint.to_string(), ..Request::new(w.hub, w.file_name, dir) }
}

/// Fetches `w` into the install folder from the hub (or the mirror `HF_ENDPOINT` names), checks it and
/// installs it; goes on from a partial download.
pub fn install(
    w: &KnownWeights,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<PathBuf, InstallError> {
    let dir = crate::weights::install_folder().ok_or(InstallError::NoFolder)?;
    Ok(install_into(w, &dir, &crate::weights::hub::endpoint(), cancel, progress)?)
}

/// [`install`] into `dir` from `endpoint`.
pub(crate) fn install_into(
    w: &KnownWeights,
    dir: &Path,
    endpoint: &str,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(&Progress),
) -> Result<PathBuf, DownloadError> {
    download::download(&request(w, dir, endpoint), &check(w), cancel, progress)
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("no folder to install weights in: set {} to one", crate::weights::WEIGHTS_ENV)]
    NoFolder,
    #[error(transparent)]
    Download(#[from] DownloadError),
}
