//! Reading and validating D-NeRF-convention datasets.

use super::schema::{FrameEntry, TransformsFile};
use super::{Dataset, DatasetError, Split, View};
use crate::camera::{Camera, Intrinsics, rotation_determinant};
use glam::DMat4;
use image::{GrayImage, imageops::FilterType};
use std::path::{Path, PathBuf};

/// How to load images.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Downscale so the longer image side is at most this many pixels (intrinsics follow).
    pub max_side: Option<u32>,
}

/// Parses and validates one `transforms_*.json` (no images are touched).
pub fn read_transforms(path: &Path) -> Result<TransformsFile, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Io { path: path.to_path_buf(), source })?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    let file: TransformsFile = serde_path_to_error::deserialize(de).map_err(|e| DatasetError::Json {
        path: path.to_path_buf(),
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    validate(path, &file)?;
    Ok(file)
}

fn validate(path: &Path, file: &TransformsFile) -> Result<(), DatasetError> {
    let err = |field: String, msg: String| DatasetError::field(path, field, msg);
    match (file.camera_angle_x, file.fl_x) {
        (_, Some(fl)) if !(fl.is_finite() && fl > 0.0) => {
            return Err(err("fl_x".into(), format!("{fl} is not a positive focal length")));
        }
        (Some(a), None) if !(a.is_finite() && a > 0.0 && a < std::f64::consts::PI) => {
            return Err(err("camera_angle_x".into(), format!("{a} is not a field of view in (0, π) radians")));
        }
        (None, None) => {
            return Err(err("camera_angle_x".into(), "missing (and no fl_x either)".into()));
        }
        _ => {}
    }
    for (name, v) in [("fl_y", file.fl_y), ("cx", file.cx), ("cy", file.cy)] {
        if let Some(v) = v.filter(|v| !v.is_finite()) {
            return Err(err(name.into(), format!("{v} is not finite")));
        }
    }
    if file.frames.is_empty() {
        return Err(err("frames".into(), "no frames".into()));
    }
    for (i, frame) in file.frames.iter().enumerate() {
        validate_frame(frame).map_err(|(field, msg)| err(format!("frames[{i}].{field}"), msg))?;
    }
    Ok(())
}

fn validate_frame(frame: &FrameEntry) -> Result<(), (&'static str, String)> {
    if !frame.time.is_finite() {
        return Err(("time", format!("{} is not finite", frame.time)));
    }
    if frame.file_path.is_empty() {
        return Err(("file_path", "empty".into()));
    }
    let m = &frame.transform_matrix;
    if m.len() != 4 || m.iter().any(|row| row.len() != 4) {
        let shape: Vec<usize> = m.iter().map(Vec::len).collect();
        return Err(("transform_matrix", format!("expected 4x4, got {} rows of lengths {shape:?}", m.len())));
    }
    if m.iter().flatten().any(|v| !v.is_finite()) {
        return Err(("transform_matrix", "contains a non-finite number".into()));
    }
    let bottom = &m[3];
    if (bottom[0].abs() + bottom[1].abs() + bottom[2].abs() + (bottom[3] - 1.0).abs()) > 1e-6 {
        return Err(("transform_matrix", format!("last row must be [0, 0, 0, 1], got {bottom:?}")));
    }
    let det = rotation_determinant(&matrix_from_rows(m));
    if (det - 1.0).abs() > 1e-3 {
        return Err(("transform_matrix", format!("rotation has determinant {det:.6}, expected +1")));
    }
    Ok(())
}

/// Row-major JSON rows → glam (column-major).
pub(crate) fn matrix_from_rows(rows: &[Vec<f64>]) -> DMat4 {
    let mut cols = [0.0f64; 16];
    for (r, row) in rows.iter().enumerate().take(4) {
        for (c, v) in row.iter().enumerate().take(4) {
            cols[c * 4 + r] = *v;
        }
    }
    DMat4::from_cols_array(&cols)
}

/// The intrinsics a transforms file describes for an image of the given size.
fn intrinsics_for(file: &TransformsFile, width: u32, height: u32) -> Intrinsics {
    // Nerfstudio intrinsics are given for (w, h); rescale them to the image actually loaded.
    let (w0, h0) = (file.w.unwrap_or(width) as f64, file.h.unwrap_or(height) as f64);
    let base = match file.fl_x {
        Some(fx) => Intrinsics {
            fx,
            fy: file.fl_y.unwrap_or(fx),
            cx: file.cx.unwrap_or(w0 / 2.0),
            cy: file.cy.unwrap_or(h0 / 2.0),
            width: w0 as u32,
            height: h0 as u32,
        },
        None => Intrinsics::from_fov_x(file.camera_angle_x.unwrap_or(1.0), w0 as u32, h0 as u32),
    };
    base.scaled_to(width, height)
}

fn resolve(json_dir: &Path, rel: &str, default_ext: &str) -> PathBuf {
    let p = json_dir.join(rel);
    if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png") || e.eq_ignore_ascii_case("jpg")) {
        p
    } else {
        PathBuf::from(format!("{}{default_ext}", p.display()))
    }
}

fn target_size(width: u32, height: u32, max_side: Option<u32>) -> (u32, u32) {
    match max_side {
        Some(m) if width.max(height) > m && m > 0 => {
            let s = m as f64 / width.max(height) as f64;
            (((width as f64 * s).round() as u32).max(1), ((height as f64 * s).round() as u32).max(1))
        }
        _ => (width, height),
    }
}

/// Loads one split's views, decoding images on all cores. `Ok(None)` when the split's file is absent.
pub fn load_split(
    root: &Path,
    split: Split,
    opts: LoadOptions,
) -> Result<Option<(TransformsFile, Vec<View>)>, DatasetError> {
    let json = root.join(split.file_name());
    if !json.exists() {
        return Ok(None);
    }
    let file = read_transforms(&json)?;
    let json_dir = json.parent().unwrap_or(Path::new(".")).to_path_buf();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let chunk = file.frames.len().div_ceil(threads).max(1);
    let views = std::thread::scope(|scope| {
        let handles: Vec<_> = file
            .frames
            .chunks(chunk)
            .enumerate()
            .map(|(c, frames)| {
                let (file, json, json_dir) = (&file, &json, &json_dir);
                scope.spawn(move || {
                    frames
                        .iter()
                        .enumerate()
                        .map(|(i, f)| load_view(file, json, json_dir, c * chunk + i, f, opts))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(file.frames.len());
        for h in handles {
            all.extend(h.join().expect("image decoding thread panicked")?);
        }
        Ok::<_, DatasetError>(all)
    })?;
    Ok(Some((file, views)))
}

fn load_view(
    file: &TransformsFile,
    json: &Path,
    json_dir: &Path,
    index: usize,
    frame: &FrameEntry,
    opts: LoadOptions,
) -> Result<View, DatasetError> {
    let image_path = resolve(json_dir, &frame.file_path, ".png");
    let image_err = |field: &str, path: &Path, message: String| DatasetError::Image {
        json: json.to_path_buf(),
        field: format!("frames[{index}].{field}"),
        image: path.to_path_buf(),
        message,
    };
    let image = image::open(&image_path).map_err(|e| image_err("file_path", &image_path, e.to_string()))?.into_rgba8();
    let (w, h) = image.dimensions();
    if let (Some(fw), Some(fh)) = (file.w, file.h)
        && (fw, fh) != (w, h)
    {
        return Err(image_err("file_path", &image_path, format!("is {w}x{h} but the JSON says w={fw}, h={fh}")));
    }
    let (tw, th) = target_size(w, h, opts.max_side);
    let image = if (tw, th) == (w, h) { image } else { image::imageops::resize(&image, tw, th, FilterType::Triangle) };
    let confidence = match &frame.confidence_path {
        None => None,
        Some(rel) => {
            let path = resolve(json_dir, rel, ".png");
            let conf: GrayImage =
                image::open(&path).map_err(|e| image_err("confidence_path", &path, e.to_string()))?.into_luma8();
            if conf.dimensions() != (w, h) {
                let (cw, ch) = conf.dimensions();
                return Err(image_err("confidence_path", &path, format!("is {cw}x{ch} but its image is {w}x{h}")));
            }
            Some(if (tw, th) == (w, h) { conf } else { image::imageops::resize(&conf, tw, th, FilterType::Triangle) })
        }
    };
    let c2w = matrix_from_rows(&frame.transform_matrix);
    Ok(View {
        name: frame.file_path.clone(),
        camera: Camera::from_opengl_c2w(c2w, intrinsics_for(file, w, h).scaled_to(tw, th)),
        time: frame.time as f32,
        image,
        confidence,
        frame_index: frame.frame_index,
        view_index: frame.view_index,
    })
}

/// Loads every split present under `root` (at least one must be).
pub fn load_dataset(root: &Path, opts: LoadOptions) -> Result<Dataset, DatasetError> {
    if !root.is_dir() {
        return Err(DatasetError::Io {
            path: root.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
        });
    }
    let mut ds = Dataset { root: root.to_path_buf(), ..Default::default() };
    let mut found = false;
    for split in Split::ALL {
        if let Some((file, views)) = load_split(root, split, opts)? {
            found = true;
            ds.generator = ds.generator.or(file.generator);
            ds.rig = ds.rig.or(file.rig);
            match split {
                Split::Train => ds.train = views,
                Split::Val => ds.val = views,
                Split::Test => ds.test = views,
            }
        }
    }
    if !found {
        return Err(DatasetError::NotADataset(root.to_path_buf()));
    }
    Ok(ds)
}
