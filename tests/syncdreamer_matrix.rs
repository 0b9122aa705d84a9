//! SyncDreamer-T as stage 1: the golden tiny model turns two key frames into an image matrix on disk
//! (one DDIM step, so the test stays short), and a cancelled run writes nothing.

use burn::tensor::Device;
use efficient4d::dataset::{LoadOptions, load_dataset};
use efficient4d::generate::inflate::GenerateError;
use efficient4d::generate::syncdreamer::SyncDreamerConfig;
use efficient4d::generate::syncdreamer::ddim::DdimSchedule;
use efficient4d::generate::syncdreamer::matrix::generate_matrix_syncdreamer;
use efficient4d::generate::syncdreamer::model::{SampleOptions, SyncDreamerT};
use efficient4d::video::{CropMode, ObjectFrames};
use efficient4d::weights::{TensorTable, read_pytorch};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden").join(name)
}

fn tiny_model() -> SyncDreamerT {
    let path = golden("tiny_syncdreamer.ckpt");
    let state = read_pytorch(&path, Some("state_dict")).unwrap();
    let device = Device::flex();
    let table = TensorTable::new(&state, |k| Some(k.to_string()), &path, "SyncDreamer (tiny)", &device);
    SyncDreamerT::load(&table, SyncDreamerConfig::tiny(), &device).unwrap()
}

/// The golden preprocessed canvases of source frames 0 and 2.
fn key_frames() -> ObjectFrames {
    let bytes = std::fs::read(golden("input_preprocessing.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let frames = ["frame0_canvas_rgba_u8", "frame2_canvas_rgba_u8"]
        .iter()
        .map(|n| image::RgbaImage::from_raw(256, 256, st.tensor(n).unwrap().data().to_vec()).unwrap())
        .collect();
    ObjectFrames {
        frames,
        seconds: vec![0.0, 0.5],
        source_indices: vec![0, 2],
        description: "golden test frames".into(),
        scales: vec![1.0, 1.0],
        crop: CropMode::PerFrame,
    }
}

#[test]
fn the_tiny_model_writes_a_seventeen_view_matrix_and_cancelling_writes_nothing() {
    let model = tiny_model();
    let objects = key_frames();
    let options = SampleOptions { schedule: DdimSchedule::with_timesteps(vec![1], 1.0), ..Default::default() };
    let dir = tempfile::tempdir().unwrap();

    let cancelled = dir.path().join("cancelled");
    let err =
        generate_matrix_syncdreamer(&model, &objects, &cancelled, &options, 1, &AtomicBool::new(true), &mut |_| {});
    assert!(matches!(err, Err(GenerateError::Cancelled)));
    assert!(!cancelled.exists(), "a cancelled run leaves nothing behind");

    let out = dir.path().join("matrix");
    let mut events = Vec::new();
    generate_matrix_syncdreamer(&model, &objects, &out, &options, 1, &AtomicBool::new(false), &mut |p| events.push(p))
        .unwrap();
    assert!(events.len() >= 3, "steps and frames are reported: {events:?}");
    let ds = load_dataset(&out, LoadOptions::default()).unwrap();
    assert_eq!(ds.generator.as_deref(), Some("syncdreamer-t"));
    assert_eq!(ds.train.len(), 2 * 17, "16 generated views and the input view per frame");
    assert!(ds.train.iter().all(|v| v.image.width() == 256 && v.image.height() == 256));
}
