//! `.splatv` export: the conversion from a 4D Gaussian is exact before quantisation (the record the
//! viewer evaluates at any time is the model's slice), the file round-trips through our reader, and
//! its decoded splats rendered with our rasterizer match the 4D model at five times within the
//! format's quantisation (8-bit colour and opacity, f16 shape, motion and timing).

mod common;
use common::*;
use efficient4d::export::splatv::{self, SplatvCamera, SplatvFile, VIEWER_MIN_TEMPORAL_OPACITY};
use efficient4d::gaussians::lift::lift_static;
use efficient4d::gaussians::math::{MIN_TEMPORAL_WEIGHT, slice};
use efficient4d::gaussians::random::RandomScene;
use efficient4d::gaussians::slice3d::Splat3d;
use nalgebra::{Matrix3, Quaternion, UnitQuaternion, Vector3};

fn covariance(s: &Splat3d) -> Matrix3<f64> {
    let q = UnitQuaternion::from_quaternion(Quaternion::from(nalgebra::Vector4::new(
        s.rotation[1] as f64,
        s.rotation[2] as f64,
        s.rotation[3] as f64,
        s.rotation[0] as f64,
    )));
    let r = q.to_rotation_matrix();
    let d = Matrix3::from_diagonal(&Vector3::from(s.log_scale.map(|l| (2.0 * l as f64).exp())));
    r.matrix() * d * r.matrix().transpose()
}

fn sigmoid(x: f32) -> f64 {
    1.0 / (1.0 + (-(x as f64)).exp())
}

#[test]
fn a_record_evaluates_to_the_models_slice_at_every_time() {
    // A time range other than 0..1, so the mapping to viewer time is exercised.
    let g = RandomScene { count: 150, seed: 21, ..Default::default() }.build();
    let range = (2.0f32, 4.0f32);
    let mut g = g;
    for i in 0..g.len() {
        g.means[i * 4 + 3] = 2.0 + 2.0 * g.means[i * 4 + 3];
    }
    let mut checked = 0;
    for i in 0..g.len() {
        let gi = g.get(i);
        let Some(rec) = splatv::encode_gaussian(&gi, range) else { continue };
        for t in [2.0, 2.3, 2.9, 3.5, 4.0] {
            let s4 = slice(&gi, t);
            let u = ((t - 2.0) / 2.0) as f32;
            let Some(s) = rec.at(u, MIN_TEMPORAL_WEIGHT) else {
                assert!(s4.temporal_weight < MIN_TEMPORAL_WEIGHT * 1.0001, "splat {i} missing at t = {t}");
                continue;
            };
            checked += 1;
            let scale = s4.cov.to_cols_array().iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for k in 0..3 {
                let d = (s.position[k] as f64 - s4.mean[k]).abs();
                assert!(
                    d < 1e-5 * (1.0 + s4.mean[k].abs()),
                    "splat {i} t {t}: position {:?} vs {}",
                    s.position,
                    s4.mean
                );
            }
            let cov = covariance(&s);
            for r in 0..3 {
                for c in 0..3 {
                    assert!((cov[(r, c)] - s4.cov.col(c)[r]).abs() < 1e-4 * scale, "splat {i} t {t}: covariance");
                }
            }
            // The viewer's opacity: 8-bit alpha times the temporal factor (exact in the factor).
            let alpha8 = (sigmoid(gi.opacity_logit as f32) * 255.0).round() / 255.0;
            let want = alpha8 * s4.temporal_weight;
            assert!((sigmoid(s.opacity_logit) - want).abs() < 1e-5, "splat {i} t {t}: opacity");
        }
    }
    assert!(checked > 300, "only {checked} splat-times were present");
}

#[test]
fn the_file_round_trips_through_the_reader() {
    let g = RandomScene { count: 2500, seed: 22, ..Default::default() }.build();
    let records = splatv::encode(&g, (0.0, 1.0));
    let camera = SplatvCamera::from_camera(0, &rig_view(3, 0.0, 256, 256).camera);
    let bytes = splatv::to_bytes(&records, std::slice::from_ref(&camera), (0.0, 1.0));
    // 2500 splats fill three 1024-splat texture rows; the viewer counts every record, padding included.
    assert_eq!(bytes.len() - (8 + u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize), 3 * 1024 * 64);
    let file = splatv::from_bytes(&bytes).unwrap();
    assert_eq!(file.splats.len(), records.len());
    // JSON keeps the camera to the last bit or so (serde_json parses floats to within an ulp).
    let [back] = &file.cameras[..] else { panic!("one camera, got {}", file.cameras.len()) };
    assert_eq!((back.width, back.height, &back.img_name), (camera.width, camera.height, &camera.img_name));
    let numbers = |c: &SplatvCamera| -> Vec<f64> {
        c.position.iter().chain(c.rotation.iter().flatten()).chain(&[c.fx, c.fy]).copied().collect()
    };
    for (a, b) in numbers(back).iter().zip(numbers(&camera)) {
        assert!((a - b).abs() <= 1e-15 * b.abs().max(1.0), "camera {a} vs {b}");
    }
    assert_eq!(file.time_range, (0.0, 1.0));
    let rel = |a: f32, b: f32| (a - b).abs() <= 1e-3 * b.abs().max(1e-4);
    for (got, want) in file.splats.iter().zip(&records) {
        assert_eq!(got.position, want.position, "positions are stored as f32");
        assert_eq!(got.rgba, want.rgba);
        for (a, b) in got.rotation.iter().chain(&got.scale).zip(want.rotation.iter().chain(&want.scale)) {
            assert!(rel(*a, *b), "{got:?} vs {want:?}");
        }
        for (a, b) in got.motion.iter().zip(&want.motion) {
            assert!(rel(*a, *b) || (a - b).abs() < 1e-6, "motion {a} vs {b}");
        }
        assert!((got.trbf_center - want.trbf_center).abs() <= 5e-4 && rel(got.trbf_scale, want.trbf_scale));
    }
    // Without our count (as another reader sees it) every record is read, padding included: the
    // padding is never drawn by the viewer (transparent and far outside its time).
    let json_end = 8 + u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..json_end]).unwrap();
    header[0].as_object_mut().unwrap().remove("splats");
    let json = serde_json::to_vec(&header).unwrap();
    let mut other = 0x674bu32.to_le_bytes().to_vec();
    other.extend((json.len() as u32).to_le_bytes());
    other.extend(json);
    other.extend(&bytes[json_end..]);
    let all = splatv::from_bytes(&other).unwrap();
    assert_eq!(all.splats.len(), 3 * 1024);
    assert_eq!(all.splats[..records.len()], file.splats[..]);
    for pad in &all.splats[records.len()..] {
        assert!(
            pad.at(0.0, VIEWER_MIN_TEMPORAL_OPACITY).is_none() && pad.at(1.0, VIEWER_MIN_TEMPORAL_OPACITY).is_none()
        );
        assert_eq!(pad.rgba[3], 0);
    }
}

#[test]
fn bad_files_get_clear_errors() {
    let records = splatv::encode(&RandomScene { count: 10, ..Default::default() }.build(), (0.0, 1.0));
    let bytes = splatv::to_bytes(&records, &[], (0.0, 1.0));
    assert!(splatv::from_bytes(b"PK\x03\x04 a zip").unwrap_err().contains("not a .splatv file"));
    assert!(splatv::from_bytes(&bytes[..6]).unwrap_err().contains("ends inside its header"));
    assert!(splatv::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err().contains("cut short"));
    let json_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let mut bad_json = bytes.clone();
    bad_json[8] = b'{';
    assert!(splatv::from_bytes(&bad_json).unwrap_err().contains("bad JSON header"));
    assert!(splatv::from_bytes(&bytes[..8 + json_len - 2]).unwrap_err().contains("ends inside its JSON"));
}

/// Renders each model at `t` with the WGSL rasterizer (RGBA f32 per view).
fn render(g: &efficient4d::gaussians::Gaussians4d, views: &[efficient4d::render::RasterView]) -> Vec<f32> {
    let r = rasterizer();
    let params = r.upload(g).unwrap();
    let out = r.forward(&params, views, false).unwrap();
    r.read_color(&out).unwrap()
}

#[test]
fn decoded_splats_render_like_the_model_at_five_times() {
    let g = RandomScene { count: 1500, seed: 23, ..Default::default() }.build();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.splatv");
    let camera = rig_view(0, 0.0, 64, 64).camera;
    let written = splatv::write_splatv(&path, &g, (0.0, 1.0), &camera).unwrap();
    let file: SplatvFile = splatv::read_splatv(&path).unwrap();
    assert_eq!(file.splats.len(), written);
    let mut worst = (0.0f32, 0.0f64);
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let views: Vec<_> = [1, 6, 11].iter().map(|&v| rig_view(v, t, 64, 64)).collect();
        let want = render(&g, &views);
        // The decoded splats at t, as a static model (time support far wider than the clip).
        let at_t = lift_static(&file.splats_at(t), 0, t, 1e3);
        let got = render(&at_t, &views);
        let max = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        let mean = got.iter().zip(&want).map(|(a, b)| (a - b).abs() as f64).sum::<f64>() / got.len() as f64;
        let covered = want.chunks_exact(4).filter(|p| p[3] > 0.3).count();
        eprintln!("t {t}: max {max:.4} mean {mean:.2e}, {covered} covered pixels");
        assert!(covered > 3 * 64 * 64 / 10, "t {t}: the scene covers too little to test anything");
        worst = (worst.0.max(max), worst.1.max(mean));
    }
    // Quantisation bound: 8-bit colour and opacity move a pixel by at most ~1/255 per layer that
    // shows through; f16 shape by ~2⁻¹¹ relative. Measured on lavapipe: max 0.0105 (2.7 levels of
    // 8 bits), mean 3.8e-4 (a tenth of a level); the bound leaves about 2x.
    assert!(worst.0 < 0.02 && worst.1 < 1e-3, "worst max {} mean {}", worst.0, worst.1);
}

#[test]
fn the_app_reads_our_file_back_as_the_same_4d_model() {
    let g = RandomScene { count: 300, seed: 24, ..Default::default() }.build();
    let records = splatv::encode(&g, (0.0, 1.0));
    let file = splatv::from_bytes(&splatv::to_bytes(&records, &[], (0.0, 1.0))).unwrap();
    let (back, approximated) = file.to_gaussians4d();
    assert_eq!((back.len(), approximated), (records.len(), 0));
    // Sliced at any time, the reconstructed model is what the file says the viewer draws.
    for t in [0.1f32, 0.5, 0.9] {
        let mut compared = 0;
        for (i, rec) in file.splats.iter().enumerate() {
            let s4 = slice(&back.get(i), t as f64);
            let Some(s) = rec.at(t, 0.0) else { continue };
            if s4.temporal_weight < 1e-3 {
                continue;
            }
            compared += 1;
            for k in 0..3 {
                assert!((s.position[k] as f64 - s4.mean[k]).abs() < 1e-4, "splat {i}: position");
            }
            let cov = covariance(&s);
            let scale = cov.abs().max();
            for r in 0..3 {
                for c in 0..3 {
                    assert!((cov[(r, c)] - s4.cov.col(c)[r]).abs() < 1e-3 * scale, "splat {i}: covariance");
                }
            }
            assert!((sigmoid(s.opacity_logit) - s4.opacity).abs() < 1e-4, "splat {i}: opacity");
        }
        assert!(compared > 50);
    }
}
