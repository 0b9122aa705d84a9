//! Writing datasets in the D-NeRF convention (what stage 1 produces and stage 2 reads).

use super::schema::{FrameEntry, TransformsFile};
use super::{DatasetError, Split};
use crate::atomic_file::write_atomically;
use crate::camera::{Camera, Intrinsics, SyncDreamerRig};
use image::{GrayImage, ImageEncoder, RgbaImage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One view to add: `name` is the JSON `file_path` (e.g. `train/r_000`, no extension).
pub struct ViewToWrite<'a> {
    pub name: &'a str,
    pub camera: &'a Camera,
    pub time: f32,
    pub image: &'a RgbaImage,
    pub confidence: Option<&'a GrayImage>,
    pub frame_index: Option<u32>,
    pub view_index: Option<u32>,
}

/// Writes images as they come and the `transforms_*.json` files at [`DatasetWriter::finish`], each
/// file atomically, so a dataset folder never holds a JSON that names missing images.
pub struct DatasetWriter {
    root: PathBuf,
    generator: Option<String>,
    rig: Option<SyncDreamerRig>,
    splits: BTreeMap<&'static str, (Intrinsics, Vec<FrameEntry>)>,
}

/// An 8-bit image encoded as PNG in memory.
pub fn png_bytes(width: u32, height: u32, data: &[u8], color: image::ExtendedColorType) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(data, width, height, color)
        .expect("encoding a PNG into memory cannot fail for a well-sized buffer");
    out
}

impl DatasetWriter {
    pub fn new(root: &Path, generator: Option<&str>, rig: Option<SyncDreamerRig>) -> Self {
        Self { root: root.to_path_buf(), generator: generator.map(str::to_owned), rig, splits: BTreeMap::new() }
    }

    pub fn add(&mut self, split: Split, view: ViewToWrite) -> Result<(), DatasetError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DatasetError::Io { path, source }
        };
        let k = view.camera.intrinsics;
        if (k.width, k.height) != view.image.dimensions() {
            let json = self.root.join(split.file_name());
            return Err(DatasetError::field(
                &json,
                "frames",
                format!(
                    "image {} is {:?} but its camera is {}x{}",
                    view.name,
                    view.image.dimensions(),
                    k.width,
                    k.height
                ),
            ));
        }
        let image_path = self.root.join(format!("{}.png", view.name));
        let (w, h) = view.image.dimensions();
        write_atomically(&image_path, &png_bytes(w, h, view.image.as_raw(), image::ExtendedColorType::Rgba8))
            .map_err(io(&image_path))?;
        let confidence_path = match view.confidence {
            None => None,
            Some(conf) => {
                let rel = format!("{}_confidence.png", view.name);
                let path = self.root.join(&rel);
                let (cw, ch) = conf.dimensions();
                write_atomically(&path, &png_bytes(cw, ch, conf.as_raw(), image::ExtendedColorType::L8))
                    .map_err(io(&path))?;
                Some(format!("./{rel}"))
            }
        };
        let c2w = view.camera.opengl_c2w().transpose().to_cols_array_2d(); // rows of the original
        let entry = FrameEntry {
            file_path: format!("./{}", view.name),
            time: view.time as f64,
            transform_matrix: c2w.iter().map(|r| r.to_vec()).collect(),
            frame_index: view.frame_index,
            view_index: view.view_index,
            confidence_path,
        };
        let slot = self.splits.entry(split.name()).or_insert_with(|| (k, Vec::new()));
        if slot.0 != k {
            let json = self.root.join(split.file_name());
            return Err(DatasetError::field(&json, "frames", "all views of a split must share intrinsics"));
        }
        slot.1.push(entry);
        Ok(())
    }

    /// Writes the JSON files; returns the dataset folder.
    pub fn finish(self) -> Result<PathBuf, DatasetError> {
        for (split, (k, frames)) in self.splits {
            let file = TransformsFile {
                camera_angle_x: Some(2.0 * (0.5 * k.width as f64 / k.fx).atan()),
                fl_x: Some(k.fx),
                fl_y: Some(k.fy),
                cx: Some(k.cx),
                cy: Some(k.cy),
                w: Some(k.width),
                h: Some(k.height),
                frames,
                generator: self.generator.clone(),
                rig: self.rig.clone(),
                refinement: None,
                stage1: None,
            };
            let path = self.root.join(format!("transforms_{split}.json"));
            let json = serde_json::to_vec_pretty(&file).expect("dataset JSON is always serialisable");
            write_atomically(&path, &json).map_err(|source| DatasetError::Io { path, source })?;
        }
        Ok(self.root)
    }
}

/// Records `settings` (the stage-1 settings that made it) in every `transforms_*.json` of `root`.
pub fn record_stage1(root: &Path, settings: serde_json::Value) -> Result<(), DatasetError> {
    for split in ["train", "val", "test"] {
        let path = root.join(format!("transforms_{split}.json"));
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let mut file: TransformsFile = serde_json::from_slice(&bytes).map_err(|e| DatasetError::Json {
            path: path.clone(),
            field: String::new(),
            message: e.to_string(),
        })?;
        file.stage1 = Some(settings.clone());
        let json = serde_json::to_vec_pretty(&file).expect("dataset JSON is always serialisable");
        write_atomically(&path, &json).map_err(|source| DatasetError::Io { path, source })?;
    }
    Ok(())
}
