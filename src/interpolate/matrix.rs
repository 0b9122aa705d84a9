//! `efficient4d refine`: interpolates an image matrix on disk and gives its frames confidence maps,
//! in place. Key frames keep their files; new frames are added next to them
//! (`f003i2_v05` = the second new frame after key frame 3, view 5); `transforms_train.json` is rewritten
//! atomically last, so an interrupted run leaves the matrix as it was.

use super::confidence::ConfidenceMetric;
use super::planes::{Planes, map_to_gray_truncated};
use super::sequence::{Interpolator, interpolate_sequence, sequence_confidence};
use crate::atomic_file::write_atomically;
use crate::dataset::schema::{FrameEntry, Refinement, TransformsFile};
use crate::dataset::{DatasetError, LoadOptions, Split, load_split, png_bytes};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct RefineOptions {
    /// New frames between each pair of key frames: 0, 1 or 3 (Efficient4D: 3).
    pub new_frames_per_pair: u32,
    /// Make confidence maps with this error measure (`None`: no maps).
    pub confidence: Option<ConfidenceMetric>,
}

impl Default for RefineOptions {
    fn default() -> Self {
        Self { new_frames_per_pair: 3, confidence: Some(ConfidenceMetric::Ssim) }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct RefineSummary {
    pub interpolation: String,
    pub key_frames: usize,
    pub frames: usize,
    pub views: usize,
    /// Mean confidence over the object's pixels (alpha ≥ 0.5) of all frames and views.
    pub mean_object_confidence: Option<f32>,
    /// The frame whose object pixels are least trusted, with that mean (finds a bad key frame).
    pub least_trusted_frame: Option<(usize, f32)>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RefineError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{path}: {message}")]
    NotAMatrix { path: PathBuf, message: String },
    #[error("{0} was already refined (interpolated or given confidence maps); refine the generator's output only once")]
    AlreadyRefined(PathBuf),
    #[error("could not write {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cancelled; the matrix is unchanged")]
    Cancelled,
    #[error("{0}")]
    Options(String),
}

/// Interpolates the matrix under `root` and writes confidence maps, as `options` says.
/// `progress(done, total)` counts views.
pub fn refine_matrix(
    root: &Path,
    interp: &Interpolator,
    options: &RefineOptions,
    cancel: &AtomicBool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<RefineSummary, RefineError> {
    let start = Instant::now();
    let per_pair = options.new_frames_per_pair as usize;
    let json = root.join(Split::Train.file_name());
    if !matches!(per_pair, 0 | 1 | 3) {
        return Err(RefineError::Options(format!("{per_pair} new frames per pair: 0, 1 or 3 are possible")));
    }
    let not_matrix = |message: String| RefineError::NotAMatrix { path: json.clone(), message };
    let (file, views) = load_split(root, Split::Train, LoadOptions::default())?
        .ok_or_else(|| not_matrix("no transforms_train.json".into()))?;
    if file.refinement.is_some() || views.iter().any(|v| v.confidence.is_some()) {
        return Err(RefineError::AlreadyRefined(root.to_path_buf()));
    }
    // view index → key frames in time order (index into `views` / `file.frames`).
    let mut by_view: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, v) in views.iter().enumerate() {
        let view = v.view_index.ok_or_else(|| not_matrix(format!("frame {i} has no view_index")))?;
        by_view.entry(view).or_default().push(i);
    }
    for list in by_view.values_mut() {
        list.sort_by(|&a, &b| views[a].time.total_cmp(&views[b].time));
    }
    let key_times: Vec<f32> =
        by_view.values().next().map(|l| l.iter().map(|&i| views[i].time).collect()).unwrap_or_default();
    for (view, list) in &by_view {
        let times: Vec<f32> = list.iter().map(|&i| views[i].time).collect();
        if times != key_times {
            return Err(not_matrix(format!("view {view} has frames at other times than the others")));
        }
    }
    let keys = key_times.len();
    if keys == 0 {
        return Err(not_matrix("no frames".into()));
    }
    let per_pair = if keys < 2 { 0 } else { per_pair };
    let step = per_pair + 1;
    let frames_out = (keys - 1) * step + 1;

    let mut entries: Vec<(usize, u32, FrameEntry)> = Vec::new();
    let (mut conf_sum, mut conf_count) = (0.0f64, 0usize);
    let mut per_frame = vec![(0.0f64, 0usize); frames_out];
    let json_dir = json.parent().unwrap_or(Path::new(".")).to_path_buf();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RefineError::Io { path, source }
    };
    for (done, (&view, list)) in by_view.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(RefineError::Cancelled);
        }
        let mut planes: Vec<Planes> = list.iter().map(|&i| Planes::from_rgba_on_white(&views[i].image)).collect();
        // Confidence is measured on the generated frames, where the inconsistencies are; it then rides
        // through the interpolation as a fifth plane, so a new frame made from a distrusted region is
        // distrusted too.
        if let Some(metric) = options.confidence {
            let maps = sequence_confidence(interp, &planes, metric);
            for (p, map) in planes.iter_mut().zip(maps) {
                p.push_plane(&map);
            }
        }
        let sequence = if per_pair > 0 { interpolate_sequence(interp, &planes, per_pair) } else { planes };
        let confidence: Option<Vec<Vec<f32>>> =
            options.confidence.map(|_| sequence.iter().map(|p| p.plane(4).to_vec()).collect());
        for (f, frame) in sequence.iter().enumerate() {
            let frame = &frame.first_planes(4);
            let (key, between) = (f / step, f % step);
            let source = &file.frames[list[key]];
            let mut entry = source.clone();
            entry.frame_index = Some(f as u32);
            if between > 0 {
                // A new frame: its own image, between key frames `key` and `key + 1`.
                let base = source.file_path.trim_start_matches("./");
                let name = match base.rsplit_once("_v") {
                    Some((head, tail)) => format!("{head}i{between}_v{tail}"),
                    None => format!("{base}_i{between}"),
                };
                let (t0, t1) = (key_times[key] as f64, key_times[key + 1] as f64);
                entry.time = t0 + (t1 - t0) * between as f64 / step as f64;
                let path = json_dir.join(format!("{name}.png"));
                let rgba = frame.to_rgba_from_white();
                let bytes = png_bytes(rgba.width(), rgba.height(), rgba.as_raw(), image::ExtendedColorType::Rgba8);
                write_atomically(&path, &bytes).map_err(io(&path))?;
                entry.file_path = format!("./{name}");
            }
            if let Some(maps) = &confidence {
                let map = &maps[f];
                let rel = format!("{}_confidence.png", entry.file_path.trim_start_matches("./"));
                let path = json_dir.join(&rel);
                let gray = map_to_gray_truncated(map, frame.width, frame.height);
                write_atomically(
                    &path,
                    &png_bytes(gray.width(), gray.height(), gray.as_raw(), image::ExtendedColorType::L8),
                )
                .map_err(io(&path))?;
                entry.confidence_path = Some(format!("./{rel}"));
                for (c, a) in map.iter().zip(frame.plane(3)) {
                    if *a >= 0.5 {
                        conf_sum += *c as f64;
                        conf_count += 1;
                        per_frame[f].0 += *c as f64;
                        per_frame[f].1 += 1;
                    }
                }
            }
            entries.push((f, view, entry));
        }
        progress(done + 1, by_view.len());
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(RefineError::Cancelled);
    }
    entries.sort_by_key(|(f, v, _)| (*f, *v));
    let refinement = Refinement {
        interpolation: if per_pair > 0 { interp.name().to_string() } else { "none".into() },
        new_frames_per_pair: per_pair as u32,
        key_frames: keys as u32,
        confidence: options.confidence.map(|m| format!("{m:?}").to_lowercase()),
    };
    let out = TransformsFile {
        frames: entries.into_iter().map(|(_, _, e)| e).collect(),
        refinement: Some(refinement),
        ..file
    };
    let bytes = serde_json::to_vec_pretty(&out).expect("dataset JSON is always serialisable");
    write_atomically(&json, &bytes).map_err(io(&json))?;
    let least = per_frame
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(f, (s, n))| (f, (*s / *n as f64) as f32))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    Ok(RefineSummary {
        interpolation: out.refinement.as_ref().map(|r| r.interpolation.clone()).unwrap_or_default(),
        key_frames: keys,
        frames: frames_out,
        views: by_view.len(),
        mean_object_confidence: (conf_count > 0).then(|| (conf_sum / conf_count as f64) as f32),
        least_trusted_frame: least,
        seconds: start.elapsed().as_secs_f64(),
    })
}
