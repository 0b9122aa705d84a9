//! A 4D model as one zip of per-frame PLYs (`frame_0000.ply`, … in the INRIA layout): Brush plays
//! such a zip as an animation, and the app opens it as a flipbook.

use super::ply::{Splat3d, frame_file_name, parse_ply, slice_to_3d, write_ply_to};
use crate::atomic_file::write_atomically_with;
use crate::gaussians::Gaussians4d;
use std::io::Read;
use std::path::Path;
use zip::write::SimpleFileOptions;

/// Writes the model sliced at each time into one zip (atomically). Returns the number of frames.
pub fn write_ply_zip(path: &Path, g: &Gaussians4d, times: &[f32]) -> std::io::Result<usize> {
    write_atomically_with(path, |w| {
        let mut zip = zip::ZipWriter::new(w);
        // PLY floats barely compress; the fastest deflate level keeps the export quick.
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(1));
        for (i, &t) in times.iter().enumerate() {
            zip.start_file(frame_file_name("frame", i), options).map_err(std::io::Error::other)?;
            write_ply_to(&mut zip, &slice_to_3d(g, t), g.sh_degree)?;
        }
        zip.finish().map_err(std::io::Error::other)?;
        Ok(())
    })?;
    Ok(times.len())
}

/// One frame read from a zip: its entry name, splats and SH degree.
#[derive(Debug)]
pub struct ZipFrame {
    pub name: String,
    pub splats: Vec<Splat3d>,
    pub sh_degree: u32,
}

/// Reads every `*.ply` entry of a zip, sorted by name (folders inside the zip included).
pub fn read_ply_zip(path: &Path) -> anyhow::Result<Vec<ZipFrame>> {
    use anyhow::Context;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .with_context(|| format!("{}: not a readable zip", path.display()))?;
    let mut frames = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let name = entry.name()?.into_owned();
        if entry.is_dir() || !name.to_ascii_lowercase().ends_with(".ply") {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).with_context(|| format!("{}: reading {name}", path.display()))?;
        let (splats, sh_degree) = parse_ply(&bytes, &format!("{}:{name}", path.display()))?;
        frames.push(ZipFrame { name, splats, sh_degree });
    }
    anyhow::ensure!(!frames.is_empty(), "{}: no .ply files in this zip", path.display());
    frames.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaussians::random::RandomScene;

    #[test]
    fn a_zip_holds_each_frame_as_its_ply() {
        let g = RandomScene { count: 40, sh_degree: 1, ..Default::default() }.build();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.zip");
        let times = [0.0, 0.5, 1.0];
        assert_eq!(write_ply_zip(&path, &g, &times).unwrap(), 3);
        let frames = read_ply_zip(&path).unwrap();
        let names: Vec<&str> = frames.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["frame_0000.ply", "frame_0001.ply", "frame_0002.ply"]);
        for (f, &t) in frames.iter().zip(&times) {
            assert_eq!(f.sh_degree, 1);
            assert_eq!(f.splats, slice_to_3d(&g, t), "frame at t = {t}");
        }
    }

    #[test]
    fn a_zip_without_plys_or_a_broken_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.zip");
        std::fs::write(&broken, b"PK not really").unwrap();
        assert!(read_ply_zip(&broken).unwrap_err().to_string().contains("not a readable zip"));
        let empty = dir.path().join("empty.zip");
        write_ply_zip(&empty, &Gaussians4d::default(), &[]).unwrap();
        assert!(read_ply_zip(&empty).unwrap_err().to_string().contains("no .ply files"));
    }
}
