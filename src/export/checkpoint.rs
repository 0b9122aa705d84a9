//! The native checkpoint: every 4D parameter as a safetensors tensor, and the metadata (time range,
//! SH degree, rig, background, training settings) as JSON in the safetensors header, one file.

use crate::atomic_file::write_atomically;
use crate::camera::SyncDreamerRig;
use crate::gaussians::{Gaussians4d, sh_coeffs};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

pub const FORMAT_VERSION: u32 = 1;
const META_KEY: &str = "efficient4d";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub format_version: u32,
    /// The time range the model was trained on (key frames span it).
    pub time_range: [f32; 2],
    pub sh_degree: u32,
    pub background: [f32; 3],
    #[serde(default)]
    pub rig: Option<SyncDreamerRig>,
    /// Times of the training key frames (export slices here by default).
    #[serde(default)]
    pub frame_times: Vec<f32>,
    pub iterations: u32,
    /// The training settings, as the trainer wrote them.
    #[serde(default)]
    pub settings: serde_json::Value,
}

#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub gaussians: Gaussians4d,
    pub meta: CheckpointMeta,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

fn f32_bytes(v: &[f32]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// `views` with one JSON metadata entry under `key` as the bytes of a safetensors file (`path`: the
/// file they are for, named in errors).
pub(crate) fn serialize_tensors(
    path: &Path,
    views: Vec<(&str, TensorView)>,
    key: &str,
    meta_json: String,
) -> Result<Vec<u8>, CheckpointError> {
    let invalid = |message: String| CheckpointError::Invalid { path: path.display().to_string(), message };
    safetensors::serialize(views, Some(HashMap::from([(key.to_string(), meta_json)])))
        .map_err(|e| invalid(e.to_string()))
}

/// Writes `bytes` to `path` atomically.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    write_atomically(path, bytes).map_err(|source| CheckpointError::Io { path: path.display().to_string(), source })
}

/// A safetensors file's bytes and its JSON metadata entry `key` (`missing` says what the file is not
/// when it has none).
pub(crate) fn load_tensors(path: &Path, key: &str, missing: &str) -> Result<(Vec<u8>, String), CheckpointError> {
    let invalid = |message: String| CheckpointError::Invalid { path: path.display().to_string(), message };
    let bytes =
        std::fs::read(path).map_err(|source| CheckpointError::Io { path: path.display().to_string(), source })?;
    let (_, header) =
        SafeTensors::read_metadata(&bytes).map_err(|e| invalid(format!("not a safetensors file: {e}")))?;
    let meta = header.metadata().as_ref().and_then(|m| m.get(key)).cloned().ok_or_else(|| invalid(missing.into()))?;
    Ok((bytes, meta))
}

/// The F32 tensor `name` of `st` as values, when its shape passes `shape_ok`.
pub(crate) fn read_f32_tensor(
    st: &SafeTensors,
    name: &str,
    invalid: &dyn Fn(String) -> CheckpointError,
    shape_ok: impl Fn(&[usize]) -> bool,
) -> Result<Vec<f32>, CheckpointError> {
    let t = st.tensor(name).map_err(|e| invalid(format!("tensor `{name}`: {e}")))?;
    if t.dtype() != Dtype::F32 {
        return Err(invalid(format!("tensor `{name}` is {:?}, expected F32", t.dtype())));
    }
    if !shape_ok(t.shape()) {
        return Err(invalid(format!("tensor `{name}` has shape {:?}", t.shape())));
    }
    Ok(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

impl Checkpoint {
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        write_file(path, &self.to_bytes(path)?)
    }

    /// The file's bytes (`path`: where they are going, named in errors).
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>, CheckpointError> {
        let g = &self.gaussians;
        g.validate().map_err(|message| CheckpointError::Invalid { path: path.display().to_string(), message })?;
        let n = g.len();
        let k3 = g.sh_stride();
        let tensors = [
            ("means", &g.means, vec![n, 4]),
            ("log_scales", &g.log_scales, vec![n, 4]),
            ("rot_left", &g.rot_left, vec![n, 4]),
            ("rot_right", &g.rot_right, vec![n, 4]),
            ("opacity", &g.opacity, vec![n]),
            ("sh", &g.sh, vec![n, k3]),
        ];
        let views: Vec<(&str, TensorView)> = tensors
            .iter()
            .map(|(name, data, shape)| {
                (*name, TensorView::new(Dtype::F32, shape.clone(), f32_bytes(data)).expect("shape matches data"))
            })
            .collect();
        serialize_tensors(path, views, META_KEY, serde_json::to_string(&self.meta).expect("metadata serialises"))
    }

    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let p = path.display().to_string();
        let invalid = |message: String| CheckpointError::Invalid { path: p.clone(), message };
        let (bytes, meta_json) =
            load_tensors(path, META_KEY, "no efficient4d metadata: not a checkpoint of this tool")?;
        let meta: CheckpointMeta =
            serde_json::from_str(&meta_json).map_err(|e| invalid(format!("bad metadata: {e}")))?;
        if meta.format_version > FORMAT_VERSION {
            return Err(invalid(format!(
                "format version {} is newer than this build reads ({FORMAT_VERSION})",
                meta.format_version
            )));
        }
        let st = SafeTensors::deserialize(&bytes).map_err(|e| invalid(e.to_string()))?;
        let read = |name: &str, cols: usize| {
            read_f32_tensor(&st, name, &invalid, |shape| match cols {
                0 => shape.len() == 1,
                c => shape.len() == 2 && shape[1] == c,
            })
        };
        let gaussians = Gaussians4d {
            means: read("means", 4)?,
            log_scales: read("log_scales", 4)?,
            rot_left: read("rot_left", 4)?,
            rot_right: read("rot_right", 4)?,
            opacity: read("opacity", 0)?,
            sh: read("sh", sh_coeffs(meta.sh_degree) * 3)?,
            sh_degree: meta.sh_degree,
        };
        gaussians.validate().map_err(invalid)?;
        if gaussians.means.iter().chain(&gaussians.opacity).any(|v| !v.is_finite()) {
            return Err(invalid("non-finite parameters".into()));
        }
        Ok(Self { gaussians, meta })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaussians::random::RandomScene;

    fn meta() -> CheckpointMeta {
        CheckpointMeta {
            format_version: FORMAT_VERSION,
            time_range: [0.0, 1.0],
            sh_degree: 1,
            background: [1.0; 3],
            rig: Some(SyncDreamerRig::default()),
            frame_times: vec![0.0, 0.5, 1.0],
            iterations: 7,
            settings: serde_json::json!({"lr": 0.01}),
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let ck = Checkpoint {
            gaussians: RandomScene { count: 33, sh_degree: 1, ..Default::default() }.build(),
            meta: meta(),
        };
        ck.save(&path).unwrap();
        let back = Checkpoint::load(&path).unwrap();
        assert_eq!(back.gaussians, ck.gaussians);
        assert_eq!(back.meta, ck.meta);
    }

    #[test]
    fn garbage_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        std::fs::write(&path, b"not a checkpoint").unwrap();
        assert!(Checkpoint::load(&path).unwrap_err().to_string().contains("not a safetensors"));
        let foreign =
            safetensors::serialize([("w", TensorView::new(Dtype::F32, vec![1], &[0u8; 4]).unwrap())], None).unwrap();
        std::fs::write(&path, foreign).unwrap();
        assert!(Checkpoint::load(&path).unwrap_err().to_string().contains("not a checkpoint of this tool"));
    }
}
