//! Bounded fuzz pass over the PLY and dataset-JSON readers: mutated files give Ok or a clean error,
//! never a panic. (The video decoders have theirs in `video_decode.rs`.)

mod common;

use efficient4d::camera::SyncDreamerRig;
use efficient4d::dataset::{DatasetWriter, LoadOptions, Split, ViewToWrite, load_dataset};
use efficient4d::export::ply::{read_ply, slice_to_3d, write_ply};
use efficient4d::gaussians::random::RandomScene;
use image::RgbaImage;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A valid PLY and a valid dataset folder (its JSON is what gets mutated), made once.
struct Originals {
    _dir: tempfile::TempDir,
    ply: Vec<u8>,
    dataset: PathBuf,
    json: Vec<u8>,
}

fn originals() -> &'static Originals {
    static O: OnceLock<Originals> = OnceLock::new();
    O.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let g = RandomScene { count: 20, sh_degree: 1, ..Default::default() }.build();
        let ply_path = dir.path().join("frame.ply");
        write_ply(&ply_path, &slice_to_3d(&g, 0.5), 1).unwrap();
        let dataset = dir.path().join("ds");
        let rig = SyncDreamerRig::default();
        let mut w = DatasetWriter::new(&dataset, Some("test"), Some(rig.clone()));
        let image = RgbaImage::from_pixel(16, 16, image::Rgba([10, 20, 30, 255]));
        for v in 0..2 {
            let mut camera = rig.camera(v);
            camera.intrinsics = camera.intrinsics.scaled_to(16, 16);
            let name = format!("train/v{v}");
            let view = ViewToWrite {
                name: &name,
                camera: &camera,
                time: v as f32,
                image: &image,
                confidence: None,
                frame_index: Some(0),
                view_index: Some(v),
            };
            w.add(Split::Train, view).unwrap();
        }
        w.finish().unwrap();
        let json = std::fs::read(dataset.join("transforms_train.json")).unwrap();
        Originals { ply: std::fs::read(&ply_path).unwrap(), dataset, json, _dir: dir }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_ply_files_never_panic(
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..10),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let o = originals();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.ply");
        std::fs::write(&p, common::mutate(&o.ply, &flips, cut)).unwrap();
        let _ = read_ply(&p);
    }

    #[test]
    fn mutated_dataset_json_never_panics(
        flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..6),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let o = originals();
        let dir = tempfile::tempdir().unwrap();
        // Same images, mutated JSON.
        std::fs::create_dir_all(dir.path().join("train")).unwrap();
        for e in std::fs::read_dir(o.dataset.join("train")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.path().join("train").join(e.file_name())).unwrap();
        }
        std::fs::write(dir.path().join("transforms_train.json"), common::mutate(&o.json, &flips, cut)).unwrap();
        let _ = load_dataset(dir.path(), LoadOptions::default());
    }
}
