//! Routing whatever the user opens (drag-and-drop, File › Open, the command line) to the right pipeline.

use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Openable {
    /// A video file or a folder of frames: stage 1 then training.
    Video(PathBuf),
    /// A dataset folder in the D-NeRF convention: training.
    Dataset(PathBuf),
    /// A native checkpoint: view it.
    Checkpoint(PathBuf),
    /// A folder of per-frame PLYs: view it as a flipbook.
    PlyFolder(PathBuf),
    /// One PLY: view it (static).
    Ply(PathBuf),
    /// A zip of per-frame PLYs (Brush's animation form): view it as a flipbook.
    PlyZip(PathBuf),
    /// A splaTV `.splatv` file: view it as a 4D model.
    Splatv(PathBuf),
}

const VIDEO_EXTENSIONS: [&str; 9] = ["mp4", "mov", "m4v", "gif", "webm", "mkv", "avi", "3gp", "mpg"];

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase()
}

fn folder_has(dir: &Path, pred: impl Fn(&Path) -> bool) -> bool {
    std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok()).any(|e| pred(&e.path()))).unwrap_or(false)
}

/// What `path` is, or a message saying why it cannot be opened.
pub fn classify(path: &Path) -> Result<Openable, String> {
    if !path.exists() {
        return Err(format!("{}: no such file or folder", path.display()));
    }
    if path.is_dir() {
        if folder_has(path, |p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("transforms_") && n.ends_with(".json"))
        }) {
            return Ok(Openable::Dataset(path.into()));
        }
        if folder_has(path, |p| extension(p) == "ply") {
            return Ok(Openable::PlyFolder(path.into()));
        }
        if folder_has(path, |p| matches!(extension(p).as_str(), "png" | "jpg" | "jpeg")) {
            return Ok(Openable::Video(path.into()));
        }
        return Err(format!(
            "{}: this folder holds no dataset (transforms_*.json), PLY frames or image frames",
            path.display()
        ));
    }
    let ext = extension(path);
    match ext.as_str() {
        "safetensors" => Ok(Openable::Checkpoint(path.into())),
        "ply" => Ok(Openable::Ply(path.into())),
        "zip" => Ok(Openable::PlyZip(path.into())),
        "splatv" => Ok(Openable::Splatv(path.into())),
        "json" if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("transforms_")) => {
            Ok(Openable::Dataset(path.parent().unwrap_or(Path::new(".")).into()))
        }
        e if VIDEO_EXTENSIONS.contains(&e) => Ok(Openable::Video(path.into())),
        _ => Err(format!(
            "{}: efficient4d opens videos ({}), frame or dataset folders, checkpoints (.safetensors), PLY files, zips of PLYs and .splatv files",
            path.display(),
            VIDEO_EXTENSIONS.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_goes_to_its_pipeline() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        for (name, content) in
            [("clip.MP4", &b"x"[..]), ("model.safetensors", b"x"), ("a.ply", b"x"), ("notes.txt", b"x")]
        {
            std::fs::write(p(name), content).unwrap();
        }
        assert_eq!(classify(&p("clip.MP4")), Ok(Openable::Video(p("clip.MP4"))));
        assert_eq!(classify(&p("model.safetensors")), Ok(Openable::Checkpoint(p("model.safetensors"))));
        assert_eq!(classify(&p("a.ply")), Ok(Openable::Ply(p("a.ply"))));
        assert!(classify(&p("notes.txt")).unwrap_err().contains("notes.txt"));
        assert!(classify(&p("missing.mp4")).unwrap_err().contains("no such file"));
        assert_eq!(classify(dir.path()), Ok(Openable::PlyFolder(dir.path().into())));
        let ds = p("ds");
        std::fs::create_dir(&ds).unwrap();
        std::fs::write(ds.join("transforms_train.json"), "{}").unwrap();
        assert_eq!(classify(&ds), Ok(Openable::Dataset(ds.clone())));
        assert_eq!(classify(&ds.join("transforms_train.json")), Ok(Openable::Dataset(ds.clone())));
        let empty = p("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(classify(&empty).is_err());
    }
}
