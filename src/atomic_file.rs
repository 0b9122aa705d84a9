//! Atomic file writes: a temporary file in the destination folder, then a rename, so a crash or a
//! cancelled export never leaves a half-written file under the final name.
//!
//! A process killed mid-write (kill -9, a power cut) still leaves its temporary file behind. Ours are
//! named `.tmp-efficient4d-*` and locked (an OS advisory lock, released by the OS when the process
//! dies) for as long as they are being written, so the next write into the same folder can tell a
//! stale one from a live one and removes only the stale.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The prefix of our temporary files.
pub(crate) const TEMP_PREFIX: &str = ".tmp-efficient4d-";

/// A temporary file this old that nobody holds locked is stale. The age covers the instant between
/// a writer creating its file and locking it, when the file is unlocked but live.
const STALE_AFTER: Duration = Duration::from_secs(60);

pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |w| w.write_all(bytes))
}

/// Streams into a temporary file beside `path`; the file appears under `path` only if `fill` succeeds.
pub(crate) fn write_atomically_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = filled_temp(path, fill)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes several files, each atomically, with every one fully written before the first is renamed
/// into place: a failure while writing leaves all the old files; only a crash in the instant between
/// the renames (in the order given) can leave some new and some old.
pub(crate) fn write_files_atomically(files: &[(&Path, &[u8])]) -> std::io::Result<()> {
    let mut temps = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let tmp = filled_temp(path, |w| w.write_all(bytes))?;
        tmp.as_file().sync_all()?;
        temps.push(tmp);
    }
    for (tmp, (path, _)) in temps.into_iter().zip(files) {
        tmp.persist(path).map_err(|e| e.error)?;
    }
    Ok(())
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A locked temporary file beside `path` holding what `fill` wrote (the folder's stale temporary
/// files removed first).
fn filled_temp(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = folder_of(path);
    std::fs::create_dir_all(dir)?;
    remove_stale_temps(dir);
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempfile_in(dir)?;
    // Held until the file is closed (after its rename) or the process dies.
    tmp.as_file().try_lock().map_err(std::io::Error::other)?;
    {
        let mut writer = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut writer)?;
        writer.flush()?;
    }
    // tempfile creates 0600 files; a finished export should have the usual permissions (umask applies
    // to the folder we create, not to this rename).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(tmp)
}

/// Removes the temporary files of ours in `dir` that no live writer holds (a killed process's), and
/// returns how many. Best effort: what cannot be read or removed is left.
pub(crate) fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let is_ours = entry.file_name().to_str().is_some_and(|n| n.starts_with(TEMP_PREFIX));
        let old = entry
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .and_then(|m| m.modified().ok())
            .is_some_and(|t| t.elapsed().is_ok_and(|age| age >= STALE_AFTER));
        if !is_ours || !old {
            continue;
        }
        // The lock is free only when the writer is gone; dropping `file` releases ours.
        let Ok(file) = std::fs::OpenOptions::new().read(true).open(entry.path()) else { continue };
        if file.try_lock().is_ok() && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_fill_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let err = write_atomically_with(&target, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("cancelled"))
        });
        assert!(err.is_err());
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temp file left behind");
        write_atomically(&target, b"whole").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"whole");
    }

    /// A temporary file of ours aged past `STALE_AFTER`.
    fn aged_temp(dir: &Path, name: &str) -> std::fs::File {
        let file = std::fs::File::create(dir.join(name)).unwrap();
        file.set_modified(std::time::SystemTime::now() - STALE_AFTER * 2).unwrap();
        file
    }

    #[test]
    fn a_write_removes_stale_temporary_files_and_keeps_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        // A killed writer's file: old and unlocked.
        drop(aged_temp(dir.path(), ".tmp-efficient4d-killed"));
        // A live writer's: old (a long export) but locked by its open handle.
        let live = aged_temp(dir.path(), ".tmp-efficient4d-live");
        live.try_lock().unwrap();
        // Young and unlocked: a writer between creating and locking its file.
        std::fs::write(dir.path().join(".tmp-efficient4d-young"), b"").unwrap();
        // Not ours, however old.
        drop(aged_temp(dir.path(), ".tmp-other-tool"));
        write_atomically(&dir.path().join("out.bin"), b"x").unwrap();
        let mut left: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, [".tmp-efficient4d-live", ".tmp-efficient4d-young", ".tmp-other-tool", "out.bin"]);
        // Once the live writer is gone, its file is stale too.
        drop(live);
        assert_eq!(remove_stale_temps(dir.path()), 1);
        assert!(!dir.path().join(".tmp-efficient4d-live").exists());
    }

    #[test]
    fn several_files_are_written_together() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write_files_atomically(&[(&a, b"1"), (&b, b"2")]).unwrap();
        assert_eq!((std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap()), (b"1".to_vec(), b"2".to_vec()));
        // A file that cannot be written (its folder is a file) leaves the others as they were.
        let blocked = a.join("c");
        assert!(write_files_atomically(&[(&b, b"new"), (&blocked, b"3")]).is_err());
        assert_eq!(std::fs::read(&b).unwrap(), b"2");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "temp files left behind");
    }
}
