//! The SyncDreamer rig against the camera poses stored in the golden data (`camera-16.pkl` as the
//! reference code loads it: OpenCV world-to-camera [R|t] per view).

use efficient4d::camera::SyncDreamerRig;
use safetensors::SafeTensors;

#[test]
fn rig_matches_syncdreamer_poses() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/golden/c_spatial_volume.safetensors");
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let poses = st.tensor("poses_w2c_3x4").unwrap();
    assert_eq!(poses.shape(), &[16, 3, 4]);
    let vals: Vec<f32> = poses.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let rig = SyncDreamerRig::default();
    for v in 0..16 {
        let w2c = rig.camera(v as u32).world_to_camera;
        for r in 0..3 {
            for c in 0..4 {
                let ours = w2c.col(c)[r];
                let theirs = vals[v * 12 + r * 4 + c] as f64;
                assert!((ours - theirs).abs() < 1e-5, "view {v} [{r}][{c}]: {ours} vs {theirs}");
            }
        }
    }
    let ks = st.tensor("Ks").unwrap();
    let k: Vec<f32> = ks.data()[..36].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let ours = rig.intrinsics();
    assert_eq!((k[0] as f64, k[2] as f64, k[4] as f64, k[5] as f64), (ours.fx, ours.cx, ours.fy, ours.cy));
}
