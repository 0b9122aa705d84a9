//! PLY export: a round trip through an independent PLY reader (ply-rs) gives back exactly the raw
//! values we meant (logit opacity, log scales, w-first quaternions), and those values describe the
//! sliced 3D Gaussian (activated once, not twice).

use efficient4d::export::ply::{export_sequence, frame_file_name, read_ply, slice_to_3d, write_ply};
use efficient4d::gaussians::math::slice;
use efficient4d::gaussians::random::RandomScene;
use nalgebra::{Matrix3, Quaternion, UnitQuaternion};
use ply_rs::parser::Parser;
use ply_rs::ply::{DefaultElement, Property};

fn float(e: &DefaultElement, name: &str) -> f32 {
    match e.get(name) {
        Some(Property::Float(v)) => *v,
        other => panic!("property {name}: {other:?}"),
    }
}

#[test]
fn an_independent_reader_sees_the_raw_values() {
    let g = RandomScene { count: 200, seed: 5, sh_degree: 2, ..Default::default() }.build();
    let splats = slice_to_3d(&g, 0.4);
    assert!(splats.len() > 20 && splats.len() < 200, "{} splats active at t = 0.4", splats.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame_0000.ply");
    write_ply(&path, &splats, 2).unwrap();

    let mut f = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let ply = Parser::<DefaultElement>::new().read_ply(&mut f).unwrap();
    let names: Vec<&String> = ply.header.elements["vertex"].properties.keys().collect();
    assert_eq!(names[..9], ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]);
    assert_eq!(names.len(), 17 + 24);
    assert_eq!(names[9 + 24], "opacity");
    let vertices = &ply.payload["vertex"];
    assert_eq!(vertices.len(), splats.len());
    for (v, s) in vertices.iter().zip(&splats) {
        assert_eq!([float(v, "x"), float(v, "y"), float(v, "z")], s.position);
        assert_eq!(float(v, "nx"), 0.0);
        assert_eq!(float(v, "opacity"), s.opacity_logit);
        assert_eq!([float(v, "scale_0"), float(v, "scale_1"), float(v, "scale_2")], s.log_scale);
        assert_eq!([float(v, "rot_0"), float(v, "rot_1"), float(v, "rot_2"), float(v, "rot_3")], s.rotation);
        for i in 0..24 {
            assert_eq!(float(v, &format!("f_rest_{i}")), s.f_rest[i]);
        }
    }
    // Our own reader agrees too.
    let (back, degree) = read_ply(&path).unwrap();
    assert_eq!((back, degree), (splats, 2));
}

#[test]
fn stored_values_describe_the_sliced_gaussian() {
    let g = RandomScene { count: 100, seed: 6, sh_degree: 1, ..Default::default() }.build();
    let t = 0.6;
    let splats = slice_to_3d(&g, t);
    // Match each stored splat to its source by position.
    let mut matched = 0;
    for i in 0..g.len() {
        let s4 = slice(&g.get(i), t as f64);
        let Some(s) = splats.iter().find(|s| {
            (s.position[0] as f64 - s4.mean.x).abs() < 1e-6 && (s.position[1] as f64 - s4.mean.y).abs() < 1e-6
        }) else {
            continue;
        };
        matched += 1;
        // Opacity is a logit of the sliced opacity: activating it once gives it back.
        let sig = 1.0 / (1.0 + (-(s.opacity_logit as f64)).exp());
        assert!((sig - s4.opacity).abs() < 1e-5, "opacity {sig} vs {}", s4.opacity);
        // Scales are log standard deviations and rot is w-first: R diag(e^{2s}) Rᵀ is the covariance.
        let q = UnitQuaternion::from_quaternion(Quaternion::new(
            s.rotation[0] as f64,
            s.rotation[1] as f64,
            s.rotation[2] as f64,
            s.rotation[3] as f64,
        ));
        let r = q.to_rotation_matrix();
        let d = Matrix3::from_diagonal(&nalgebra::Vector3::from(s.log_scale.map(|l| (2.0 * l as f64).exp())));
        let cov = r.matrix() * d * r.matrix().transpose();
        let scale = s4.cov.to_cols_array().iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for row in 0..3 {
            for col in 0..3 {
                let want = s4.cov.col(col)[row];
                assert!(
                    (cov[(row, col)] - want).abs() < 1e-4 * scale,
                    "cov[{row}][{col}] {} vs {want}",
                    cov[(row, col)]
                );
            }
        }
        // DC colour is stored raw: rgb = 0.5 + C0 · f_dc.
        assert_eq!(s.f_dc, [g.sh[i * 12], g.sh[i * 12 + 1], g.sh[i * 12 + 2]]);
        // f_rest is channel-major: R's 3 coefficients, then G's, then B's.
        assert_eq!(s.f_rest[0], g.sh[i * 12 + 3]);
        assert_eq!(s.f_rest[3], g.sh[i * 12 + 3 + 1]);
        assert_eq!(s.f_rest[1], g.sh[i * 12 + 6]);
    }
    assert_eq!(matched, splats.len());
}

#[test]
fn sequences_are_zero_padded_and_bad_files_are_refused() {
    let g = RandomScene { count: 50, seed: 7, ..Default::default() }.build();
    let dir = tempfile::tempdir().unwrap();
    let paths = export_sequence(&g, &[0.0, 0.5, 1.0], dir.path(), "frame").unwrap();
    assert_eq!(paths[2].file_name().unwrap().to_str().unwrap(), "frame_0002.ply");
    assert_eq!(frame_file_name("x", 12), "x_0012.ply");
    let bad = dir.path().join("bad.ply");
    std::fs::write(&bad, b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1\n").unwrap();
    assert!(read_ply(&bad).unwrap_err().to_string().contains("ascii"));
    let truncated = std::fs::read(&paths[0]).unwrap();
    std::fs::write(&bad, &truncated[..truncated.len() - 5]).unwrap();
    assert!(read_ply(&bad).unwrap_err().to_string().contains("truncated"));
    std::fs::write(&bad, b"").unwrap();
    assert!(read_ply(&bad).is_err());
}
