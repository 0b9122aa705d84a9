//! Multi-view, multi-time datasets in the D-NeRF convention with our extensions (spec §1):
//! reading (with validation and optional downscaling) and writing.

mod error;
mod read;
pub(crate) mod schema;
mod write;

pub use error::DatasetError;
pub use read::{LoadOptions, load_dataset, load_split, read_transforms};
pub use write::{DatasetWriter, ViewToWrite, png_bytes, record_stage1};

use crate::camera::{Camera, SyncDreamerRig};
use image::{GrayImage, RgbaImage};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Val, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }

    pub fn file_name(self) -> String {
        format!("transforms_{}.json", self.name())
    }
}

/// One posed image at one time.
#[derive(Clone, Debug)]
pub struct View {
    /// `file_path` as written in the JSON (no extension).
    pub name: String,
    pub camera: Camera,
    pub time: f32,
    /// RGBA, straight alpha; alpha is the object mask.
    pub image: RgbaImage,
    /// Per-pixel trust in [0, 255]; `None` means fully trusted.
    pub confidence: Option<GrayImage>,
    pub frame_index: Option<u32>,
    pub view_index: Option<u32>,
}

impl View {
    /// The image as f32 (r, g, b, alpha) per pixel, colour composited over `background` (what the
    /// renderer produces for the same view).
    pub fn composited(&self, background: [f32; 3]) -> Vec<f32> {
        self.image
            .pixels()
            .flat_map(|p| {
                let a = p[3] as f32 / 255.0;
                let c = |k: usize| p[k] as f32 / 255.0 * a + background[k] * (1.0 - a);
                [c(0), c(1), c(2), a]
            })
            .collect()
    }
}

/// A whole dataset folder. Missing splits are empty.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub root: PathBuf,
    pub train: Vec<View>,
    pub val: Vec<View>,
    pub test: Vec<View>,
    pub generator: Option<String>,
    pub rig: Option<SyncDreamerRig>,
}

impl Dataset {
    pub fn split(&self, split: Split) -> &[View] {
        match split {
            Split::Train => &self.train,
            Split::Val => &self.val,
            Split::Test => &self.test,
        }
    }

    /// The smallest and largest `time` over all splits (0..0 when empty).
    pub fn time_range(&self) -> (f32, f32) {
        let times = self.train.iter().chain(&self.val).chain(&self.test).map(|v| v.time);
        times
            .fold(None, |acc: Option<(f32, f32)>, t| match acc {
                None => Some((t, t)),
                Some((lo, hi)) => Some((lo.min(t), hi.max(t))),
            })
            .unwrap_or((0.0, 0.0))
    }
}

/// A human-readable description of a loaded dataset (used by `efficient4d inspect`).
pub fn summary(ds: &Dataset) -> String {
    let mut out = format!("dataset {}\n", ds.root.display());
    if let Some(g) = &ds.generator {
        out += &format!("  generator: {g}\n");
    }
    let (t0, t1) = ds.time_range();
    out += &format!("  time range: {t0:.4} .. {t1:.4}\n");
    for split in Split::ALL {
        let views = ds.split(split);
        if let Some(v) = views.first() {
            let k = v.camera.intrinsics;
            let with_conf = views.iter().filter(|v| v.confidence.is_some()).count();
            out += &format!(
                "  {:5}: {:4} views, {}x{}, fx {:.2} fy {:.2} cx {:.1} cy {:.1}, {} with confidence maps\n",
                split.name(),
                views.len(),
                k.width,
                k.height,
                k.fx,
                k.fy,
                k.cx,
                k.cy,
                with_conf
            );
        }
    }
    out
}
