//! PLY sequences in the INRIA 3DGS layout (spec §3): each 4D Gaussian sliced at a time to a 3D
//! Gaussian, written raw (logit opacity, log scales, w-first quaternion, SH DC + channel-major rest).

use crate::atomic_file::write_atomically_with;
use crate::gaussians::{Gaussians4d, sh_coeffs};
// The 3D splats a 4D model is at one time: defined with the Gaussians, written and read here.
pub use crate::gaussians::slice3d::{Splat3d, slice_to_3d};
use std::io::Write;
use std::path::{Path, PathBuf};

fn property_names(rest: usize) -> Vec<String> {
    let mut names: Vec<String> =
        ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"].map(String::from).to_vec();
    names.extend((0..rest).map(|i| format!("f_rest_{i}")));
    names.extend(["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"].map(String::from));
    names
}

/// Writes one PLY (binary little endian), atomically.
pub fn write_ply(path: &Path, splats: &[Splat3d], sh_degree: u32) -> std::io::Result<()> {
    write_atomically_with(path, |w| write_ply_to(w, splats, sh_degree))
}

/// Writes one PLY (binary little endian) into any writer (a file, a zip entry).
pub(crate) fn write_ply_to(w: &mut impl Write, splats: &[Splat3d], sh_degree: u32) -> std::io::Result<()> {
    let rest = (sh_coeffs(sh_degree) - 1) * 3;
    if let Some(s) = splats.iter().find(|s| s.f_rest.len() != rest) {
        return Err(std::io::Error::other(format!(
            "a splat has {} f_rest values, degree {sh_degree} needs {rest}",
            s.f_rest.len()
        )));
    }
    writeln!(w, "ply\nformat binary_little_endian 1.0\nelement vertex {}", splats.len())?;
    for name in property_names(rest) {
        writeln!(w, "property float {name}")?;
    }
    writeln!(w, "end_header")?;
    for s in splats {
        let mut row: Vec<f32> = Vec::with_capacity(17 + rest);
        row.extend(s.position);
        row.extend([0.0; 3]);
        row.extend(s.f_dc);
        row.extend(&s.f_rest);
        row.push(s.opacity_logit);
        row.extend(s.log_scale);
        row.extend(s.rotation);
        w.write_all(bytemuck::cast_slice(&row))?;
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PlyError {
    pub path: String,
    pub message: String,
}

/// Reads a 3DGS PLY: properties found by name, normals optional, SH degree 0..=3 from the f_rest
/// count. Returns the splats and the SH degree.
pub fn read_ply(path: &Path) -> Result<(Vec<Splat3d>, u32), PlyError> {
    let bytes =
        std::fs::read(path).map_err(|e| PlyError { path: path.display().to_string(), message: e.to_string() })?;
    parse_ply(&bytes, &path.display().to_string())
}

/// Parses a 3DGS PLY's bytes; `name` (a path or a zip entry) goes into errors.
pub(crate) fn parse_ply(bytes: &[u8], name: &str) -> Result<(Vec<Splat3d>, u32), PlyError> {
    let err = |message: String| PlyError { path: name.to_string(), message };
    let end = bytes
        .windows(11)
        .position(|w| w == b"end_header\n")
        .ok_or_else(|| err("no end_header: not a PLY file".into()))?;
    let header = std::str::from_utf8(&bytes[..end]).map_err(|_| err("header is not text".into()))?;
    let mut lines = header.lines();
    if lines.next() != Some("ply") {
        return Err(err("does not start with `ply`".into()));
    }
    let (mut count, mut props, mut in_vertex, mut format_ok) = (None, Vec::new(), false, false);
    for line in lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["format", "binary_little_endian", _] => format_ok = true,
            ["format", other, _] => {
                return Err(err(format!("format `{other}` is not supported (binary_little_endian only)")));
            }
            ["element", "vertex", n] => {
                count = Some(n.parse::<usize>().map_err(|_| err(format!("bad vertex count `{n}`")))?);
                in_vertex = true;
            }
            ["element", ..] => in_vertex = false,
            ["property", "float", name] if in_vertex => props.push(name.to_string()),
            ["property", ty, name] if in_vertex => {
                return Err(err(format!("property `{name}` is `{ty}`; only float is supported")));
            }
            _ => {}
        }
    }
    if !format_ok {
        return Err(err("no binary_little_endian format line".into()));
    }
    let count = count.ok_or_else(|| err("no vertex element".into()))?;
    let stride = props.len();
    let data = &bytes[end + 11..];
    let need = count.checked_mul(stride * 4).ok_or_else(|| err("vertex count overflows".into()))?;
    if data.len() < need {
        return Err(err(format!("truncated: {} bytes of vertex data, {need} expected", data.len())));
    }
    let index = |name: &str| props.iter().position(|p| p == name);
    let req = |name: &str| index(name).ok_or_else(|| err(format!("missing property `{name}`")));
    let rest_count = props.iter().filter(|p| p.starts_with("f_rest_")).count();
    let degree = match rest_count {
        0 => 0,
        9 => 1,
        24 => 2,
        45 => 3,
        n => return Err(err(format!("{n} f_rest properties do not match SH degree 0..=3"))),
    };
    let cols = |names: &[&str]| names.iter().map(|n| req(n)).collect::<Result<Vec<_>, _>>();
    let pos = cols(&["x", "y", "z"])?;
    let dc = cols(&["f_dc_0", "f_dc_1", "f_dc_2"])?;
    let rest: Vec<usize> = (0..rest_count).map(|i| req(&format!("f_rest_{i}"))).collect::<Result<_, _>>()?;
    let op = req("opacity")?;
    let sc = cols(&["scale_0", "scale_1", "scale_2"])?;
    let rot = cols(&["rot_0", "rot_1", "rot_2", "rot_3"])?;
    let floats: &[u8] = &data[..need];
    let value = |row: usize, col: usize| {
        let o = (row * stride + col) * 4;
        f32::from_le_bytes([floats[o], floats[o + 1], floats[o + 2], floats[o + 3]])
    };
    let splats = (0..count)
        .map(|r| Splat3d {
            position: [value(r, pos[0]), value(r, pos[1]), value(r, pos[2])],
            f_dc: [value(r, dc[0]), value(r, dc[1]), value(r, dc[2])],
            f_rest: rest.iter().map(|&c| value(r, c)).collect(),
            opacity_logit: value(r, op),
            log_scale: [value(r, sc[0]), value(r, sc[1]), value(r, sc[2])],
            rotation: [value(r, rot[0]), value(r, rot[1]), value(r, rot[2]), value(r, rot[3])],
        })
        .collect();
    Ok((splats, degree))
}

/// Zero-padded frame file name: `<name>_0007.ply`.
/// The times a PLY sequence is sliced at: `frames` evenly spaced over `range` (ends included; one frame
/// is the start), or the key frames when `frames` is `None` (the start when there are none).
pub fn sequence_times(range: (f32, f32), key_times: &[f32], frames: Option<u32>) -> Vec<f32> {
    let (t0, t1) = range;
    match frames {
        Some(k) if k >= 2 => (0..k).map(|i| t0 + (t1 - t0) * i as f32 / (k - 1) as f32).collect(),
        Some(_) => vec![t0],
        None if !key_times.is_empty() => key_times.to_vec(),
        None => vec![t0],
    }
}

pub fn frame_file_name(name: &str, index: usize) -> String {
    format!("{name}_{index:04}.ply")
}

/// Writes one PLY per time into `dir`; returns the paths.
pub fn export_sequence(g: &Gaussians4d, times: &[f32], dir: &Path, name: &str) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let path = dir.join(frame_file_name(name, i));
            write_ply(&path, &slice_to_3d(g, t), g.sh_degree)?;
            Ok(path)
        })
        .collect()
}
