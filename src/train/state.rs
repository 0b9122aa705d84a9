//! What a run needs beyond its checkpoint to go on where it stopped (`train --resume`): the step,
//! the learning-rate scale left by roll-backs, the scene extent densification measures splats by, and
//! Adam's two moments of every parameter. Kept in its own file beside `model.safetensors`, so
//! checkpoints people share stay a third of the size.

use super::densify::Rows;
use crate::export::checkpoint::{CheckpointError, load_tensors, read_f32_tensor, serialize_tensors, write_file};
use crate::gaussians::ParamGroups;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The state's file name in a training output folder.
pub const STATE_FILE: &str = "train_state.safetensors";
const META_KEY: &str = "efficient4d_train_state";
/// 2: tensors and widths by group name (`m.means`, `{"means": 4, ...}`); 1 (still read): by position.
const VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateMeta {
    pub format_version: u32,
    /// Steps taken (the checkpoint's `iterations`).
    pub step: u32,
    pub lr_scale: f64,
    pub scene_extent: f32,
    pub splats: usize,
    /// Columns of the six parameter groups (format 1 wrote them as a list in the order of
    /// `ParamGroups::NAMES`, which is still read).
    #[serde(deserialize_with = "widths_by_name_or_position")]
    pub widths: ParamGroups<usize>,
    /// How the run was to stop, as the pipeline recorded it when saving (what was left of its time
    /// budget, its plateau rule), so `--resume` goes on under the same rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_rule: Option<serde_json::Value>,
}

fn widths_by_name_or_position<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ParamGroups<usize>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Widths {
        ByName(ParamGroups<usize>),
        ByPosition([usize; 6]),
    }
    Ok(match Widths::deserialize(d)? {
        Widths::ByName(w) => w,
        Widths::ByPosition(w) => ParamGroups::from_array(w),
    })
}

/// The tensor of moment `moment` ("m" or "v") of group `k` as format `version` names it.
fn tensor_name(version: u32, moment: &str, k: usize) -> String {
    if version < 2 { format!("{moment}.{k}") } else { format!("{moment}.{}", ParamGroups::<()>::NAMES[k]) }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    pub meta: StateMeta,
    /// First and second Adam moments, row-major per group.
    pub m: Rows,
    pub v: Rows,
}

impl TrainState {
    pub fn new(step: u32, lr_scale: f64, scene_extent: f32, widths: ParamGroups<usize>, m: Rows, v: Rows) -> Self {
        let splats = m.opacity.len() / widths.opacity.max(1);
        let meta = StateMeta { format_version: VERSION, step, lr_scale, scene_extent, splats, widths, stop_rule: None };
        Self { meta, m, v }
    }

    /// Columns of each parameter group.
    pub(crate) fn widths(&self) -> ParamGroups<usize> {
        self.meta.widths
    }

    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        write_file(path, &self.to_bytes(path)?)
    }

    /// The file's bytes (`path`: where they are going, named in errors).
    pub fn to_bytes(&self, path: &Path) -> Result<Vec<u8>, CheckpointError> {
        let invalid = |message: String| CheckpointError::Invalid { path: path.display().to_string(), message };
        // By group name: m.means … m.sh, v.means … v.sh.
        let names: Vec<String> =
            (0..6).flat_map(|k| [tensor_name(VERSION, "m", k), tensor_name(VERSION, "v", k)]).collect();
        let groups = self.m.as_ref().zip(self.v.as_ref()).zip(self.widths()).into_array();
        let mut views = Vec::new();
        for (pair, ((m, v), width)) in names.chunks_exact(2).zip(groups) {
            for (name, rows) in pair.iter().zip([m, v]) {
                let shape = vec![self.meta.splats, width];
                let view = TensorView::new(Dtype::F32, shape, bytemuck::cast_slice(rows))
                    .map_err(|e| invalid(format!("{name}: {e}")))?;
                views.push((name.as_str(), view));
            }
        }
        serialize_tensors(path, views, META_KEY, serde_json::to_string(&self.meta).expect("metadata serialises"))
    }

    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let p = path.display().to_string();
        let invalid = |message: String| CheckpointError::Invalid { path: p.clone(), message };
        let (bytes, meta_json) = load_tensors(path, META_KEY, "no training state in it")?;
        let meta: StateMeta = serde_json::from_str(&meta_json).map_err(|e| invalid(format!("bad metadata: {e}")))?;
        if meta.format_version > VERSION {
            return Err(invalid(format!("format version {} is newer than this build reads", meta.format_version)));
        }
        let st = SafeTensors::deserialize(&bytes).map_err(|e| invalid(e.to_string()))?;
        let read = |name: String, cols: usize| -> Result<Vec<f32>, CheckpointError> {
            let v = read_f32_tensor(&st, &name, &invalid, |shape| shape == [meta.splats, cols])?;
            if v.iter().any(|x| !x.is_finite()) {
                return Err(invalid(format!("tensor `{name}` is not finite")));
            }
            Ok(v)
        };
        let (mut m, mut v) = (Vec::with_capacity(6), Vec::with_capacity(6));
        for (k, cols) in meta.widths.into_array().into_iter().enumerate() {
            m.push(read(tensor_name(meta.format_version, "m", k), cols)?);
            v.push(read(tensor_name(meta.format_version, "v", k), cols)?);
        }
        let groups = |rows: Vec<Vec<f32>>| -> Rows { ParamGroups::from_array(rows.try_into().expect("six groups")) };
        Ok(Self { meta, m: groups(m), v: groups(v) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_round_trips_and_refuses_damage() {
        let widths = ParamGroups::from_array([4, 4, 4, 4, 1, 3]);
        let rows = |seed: f32| -> Rows { widths.map(|w| (0..5 * w).map(|i| seed + i as f32 * 0.5).collect()) };
        let s = TrainState::new(120, 0.5, 0.8, widths, rows(1.0), rows(-2.0));
        assert_eq!(s.meta.splats, 5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        s.save(&path).unwrap();
        assert_eq!(TrainState::load(&path).unwrap(), s);
        // A truncated file and a checkpoint of another kind are errors, not panics.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(TrainState::load(&path).is_err());
        let mut nan = s.clone();
        nan.v.rot_left[3] = f32::NAN;
        nan.save(&path).unwrap();
        assert!(TrainState::load(&path).unwrap_err().to_string().contains("v.rot_left"));
    }

    #[test]
    fn a_state_of_format_1_is_still_read() {
        let widths = ParamGroups::from_array([4, 4, 4, 4, 1, 3]);
        let rows = |seed: f32| -> Rows { widths.map(|w| (0..2 * w).map(|i| seed + i as f32).collect()) };
        let s = TrainState::new(7, 1.0, 0.5, widths, rows(1.0), rows(3.0));
        // Written as format 1 did: tensors by position, widths as a list.
        let (m, v) = (s.m.clone().into_array(), s.v.clone().into_array());
        let names: Vec<String> = (0..6).flat_map(|k| [format!("m.{k}"), format!("v.{k}")]).collect();
        let views: Vec<(&str, TensorView)> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let rows = if i % 2 == 0 { &m[i / 2] } else { &v[i / 2] };
                let shape = vec![2, widths.into_array()[i / 2]];
                (name.as_str(), TensorView::new(Dtype::F32, shape, bytemuck::cast_slice(rows)).unwrap())
            })
            .collect();
        let meta =
            r#"{"format_version":1,"step":7,"lr_scale":1.0,"scene_extent":0.5,"splats":2,"widths":[4,4,4,4,1,3]}"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        write_file(&path, &serialize_tensors(&path, views, META_KEY, meta.to_string()).unwrap()).unwrap();
        let old = TrainState::load(&path).unwrap();
        assert_eq!((old.widths(), old.m, old.v), (widths, s.m, s.v));
        assert_eq!(old.meta.format_version, 1);
    }
}
