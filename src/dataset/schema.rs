//! The JSON of a D-NeRF `transforms_<split>.json`, with our extensions (spec §1). Unknown fields
//! (e.g. D-NeRF's per-frame `rotation`) are ignored on read.

use crate::camera::SyncDreamerRig;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TransformsFile {
    /// Horizontal field of view in radians; nerfstudio intrinsics below override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_angle_x: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fl_x: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fl_y: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cx: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cy: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<u32>,
    pub frames: Vec<FrameEntry>,
    /// What made the matrix: "syncdreamer-t", "inflate", "render" (a known scene), ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rig: Option<SyncDreamerRig>,
    /// What was done to the generated matrix before training (interpolation, confidence maps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refinement: Option<Refinement>,
    /// The stage-1 settings that made the matrix from a video (`generate::settings::Stage1Config`,
    /// kept as JSON here; other readers ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage1: Option<serde_json::Value>,
}

/// Our record of `efficient4d refine` on a matrix (an extension; other readers ignore it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refinement {
    /// "rife", "flow" or "none".
    pub interpolation: String,
    /// New frames between each pair of key frames.
    pub new_frames_per_pair: u32,
    /// The key frames the generator made.
    pub key_frames: u32,
    /// "ssim", "rgb", or absent when no confidence maps were made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FrameEntry {
    /// Relative to the JSON's folder, without extension (".png" is appended).
    pub file_path: String,
    pub time: f64,
    /// OpenGL camera-to-world, row-major 4x4.
    pub transform_matrix: Vec<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_index: Option<u32>,
    /// Single-channel 8-bit PNG (255 = fully trusted), relative like `file_path` but with extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_path: Option<String>,
}
