//! `.splatv`: the one-file 4D splat format of the splaTV browser viewer (antimatter15/splaTV,
//! `hybrid.js`), the "lite" Spacetime Gaussians layout. We write it, read it back, and open it.
//!
//! Container (little endian): `u32` magic 0x674b, `u32` byte length of a JSON header, the header (an
//! array of chunks; ours has one, `{"type": "splat", "size", "texwidth", "texheight", "cameras"}`, plus
//! our own `"splats"` count and `"time_range"`, which the viewer ignores), then each chunk's bytes.
//! The splat chunk is an RGBA32UI texture 4096 texels wide: splat `i` fills texels
//! `(4·(i mod 1024) + k, i div 1024)`, k = 0..4, i.e. 16 `u32` per splat:
//!
//! | words | content |
//! |---|---|
//! | 0-2 | position x, y, z (f32 bits) at the splat's temporal centre |
//! | 3, 4 | rotation (w, x), (y, z) as f16 pairs |
//! | 5, 6 | scale x, y and z (linear σ, world units) as f16 |
//! | 7 | RGBA8 (colour, opacity) |
//! | 8-12 | motion_0..8 as f16: velocity, acceleration, jerk (world units per unit of viewer time) |
//! | 13, 14 | omega_0..3 as f16: rotation velocity |
//! | 15 | trbf_center, trbf_scale as f16 |
//!
//! The viewer plays time u ∈ [0, 1] and draws, at dt = u − trbf_center, the splat at
//! `position + m₀₋₂·dt + m₃₋₅·dt² + m₆₋₈·dt³`, rotation `normalize(rot + omega·dt)`, opacity
//! `alpha · exp(−(dt / trbf_scale)²)` (skipped below 0.02).
//!
//! Why the conversion from our model is exact up to quantisation: a 4D Gaussian conditioned on t is
//! a 3D Gaussian whose mean moves linearly in t (velocity Σ_xt / Σ_tt), whose covariance does not
//! depend on t, and whose opacity is scaled by exp(−½ dt² / Σ_tt). So: position = the slice at the
//! temporal mean, motion_0..2 = the velocity, higher motion and omega zero, trbf_scale = √(2 Σ_tt).
//! What is lost: f16 rounding of rotation, scale, motion and timing (relative 2⁻¹¹), 8 bits of colour
//! and opacity, colour above 1, and view-dependent colour (the format has no SH: the DC term is kept).

use crate::atomic_file::write_atomically_with;
use crate::camera::Camera;
use crate::gaussians::math::{Gaussian, MIN_TEMPORAL_WEIGHT, factor_rotation4, scaled_rotation, slice};
use crate::gaussians::slice3d::{Splat3d, to_splat3d};
use crate::gaussians::{Gaussians4d, SH_C0};
use glam::{DMat3, DMat4, DQuat, DVec3};
use half::f16;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

pub(crate) const MAGIC: u32 = 0x674b;
/// Splats per texture row: the viewer indexes texels as `((i & 0x3ff) << 2) | k, i >> 10`.
const SPLATS_PER_ROW: usize = 1024;
const WORDS_PER_SPLAT: usize = 16;
/// The viewer's own temporal cut-off (ours is [`MIN_TEMPORAL_WEIGHT`]).
pub const VIEWER_MIN_TEMPORAL_OPACITY: f64 = 0.02;
/// Padding records sit here in time, so the viewer's temporal cut skips them.
const PADDING_TIME: f32 = 65504.0;

/// A camera in the INRIA `cameras.json` form the viewer starts from: camera centre, camera-to-world
/// rotation (rows; OpenCV axes: x right, y down, z forward) and focal lengths in pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplatvCamera {
    pub id: u32,
    pub img_name: String,
    pub width: u32,
    pub height: u32,
    pub position: [f64; 3],
    pub rotation: [[f64; 3]; 3],
    pub fx: f64,
    pub fy: f64,
}

impl SplatvCamera {
    /// `camera` under the name viewers list it by (`img_name`).
    pub fn named(id: u32, name: &str, camera: &Camera) -> Self {
        Self { img_name: name.to_string(), ..Self::from_camera(id, camera) }
    }

    pub fn from_camera(id: u32, camera: &Camera) -> Self {
        let w2c = camera.world_to_camera;
        let r = DMat3::from_mat4(w2c);
        let centre = -(r.transpose() * w2c.w_axis.truncate());
        // Rows of the camera-to-world rotation Rᵀ are the columns of R.
        let rotation = [r.x_axis, r.y_axis, r.z_axis].map(|c| c.to_array());
        let k = camera.intrinsics;
        Self {
            id,
            img_name: format!("{id:05}"),
            width: k.width,
            height: k.height,
            position: centre.to_array(),
            rotation,
            fx: k.fx,
            fy: k.fy,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Chunk {
    #[serde(rename = "type")]
    kind: String,
    size: u64,
    #[serde(default)]
    texwidth: u32,
    #[serde(default)]
    texheight: u32,
    #[serde(default)]
    cameras: Vec<SplatvCamera>,
    /// Ours: how many records are splats (the rest of the last row is padding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    splats: Option<usize>,
    /// Ours: the model's time range that viewer time 0..1 stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_range: Option<[f32; 2]>,
}

/// One splat as the file holds it (f16 and 8-bit values decoded to f32).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplatvSplat {
    pub position: [f32; 3],
    /// w, x, y, z (not necessarily unit).
    pub rotation: [f32; 4],
    pub scale: [f32; 3],
    pub rgba: [u8; 4],
    pub motion: [f32; 9],
    pub omega: [f32; 4],
    pub trbf_center: f32,
    pub trbf_scale: f32,
}

/// The 3D splat the viewer draws for one record at viewer time `u`, or `None` where its temporal
/// opacity is below `min_temporal_opacity` (the viewer uses [`VIEWER_MIN_TEMPORAL_OPACITY`]).
impl SplatvSplat {
    pub fn at(&self, u: f32, min_temporal_opacity: f64) -> Option<Splat3d> {
        let dt = (u - self.trbf_center) as f64;
        let temporal = (-(dt / self.trbf_scale as f64).powi(2)).exp();
        // NaN timing (a zero scale at its centre) is not drawn either.
        if temporal.is_nan() || temporal < min_temporal_opacity || self.rgba[3] == 0 {
            return None;
        }
        let m = self.motion.map(f64::from);
        let position: [f32; 3] = std::array::from_fn(|i| {
            (self.position[i] as f64 + m[i] * dt + m[3 + i] * dt * dt + m[6 + i] * dt * dt * dt) as f32
        });
        let rot: [f64; 4] = std::array::from_fn(|i| self.rotation[i] as f64 + self.omega[i] as f64 * dt);
        let norm = rot.iter().map(|v| v * v).sum::<f64>().sqrt();
        let opacity = (self.rgba[3] as f64 / 255.0 * temporal).min(1.0 - 1e-7);
        Some(Splat3d {
            position,
            f_dc: [0, 1, 2].map(|c| ((self.rgba[c] as f64 / 255.0 - 0.5) / SH_C0) as f32),
            f_rest: Vec::new(),
            opacity_logit: (opacity / (1.0 - opacity)).ln() as f32,
            log_scale: self.scale.map(|s| (s as f64).max(1e-30).ln() as f32),
            rotation: rot.map(|v| (v / norm) as f32),
        })
    }

    /// Whether the record moves only linearly and does not turn (what our 4D Gaussians can hold exactly).
    pub(crate) fn is_linear(&self) -> bool {
        self.motion[3..].iter().chain(&self.omega).all(|&v| v == 0.0)
    }
}

/// A `.splatv` file: its splats, the cameras it suggests, and the model time range it stands for.
#[derive(Clone, Debug, PartialEq)]
pub struct SplatvFile {
    pub splats: Vec<SplatvSplat>,
    pub cameras: Vec<SplatvCamera>,
    /// Viewer time 0..1 in model time (ours; (0, 1) for files that do not say).
    pub time_range: (f32, f32),
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SplatvError {
    pub path: String,
    pub message: String,
}

fn half(v: f64) -> u32 {
    f16::from_f64(v).to_bits() as u32
}

fn pack(a: f64, b: f64) -> u32 {
    half(a) | (half(b) << 16)
}

fn unpack(w: u32) -> [f32; 2] {
    [f16::from_bits(w as u16).to_f32(), f16::from_bits((w >> 16) as u16).to_f32()]
}

/// One 4D Gaussian as a splaTV record, with model time `time_range` mapped to viewer time 0..1.
/// `None` for Gaussians that are invisible or not finite.
pub fn encode_gaussian(g: &Gaussian, (t0, t1): (f32, f32)) -> Option<SplatvSplat> {
    let span = (t1 - t0).max(f32::EPSILON) as f64;
    let at_centre = slice(g, g.mean[3]);
    let splat = to_splat3d(g, &at_centre, 1)?;
    // Σ = L·Lᵀ: the slice's mean moves with velocity Σ_xt / Σ_tt.
    let l = scaled_rotation(g);
    let row_t = l.row(3);
    let var_t = row_t.length_squared();
    let velocity = [0, 1, 2].map(|i| l.row(i).dot(row_t) / var_t);
    let alpha = 1.0 / (1.0 + (-g.opacity_logit).exp());
    let rgb = [0, 1, 2].map(|c| (0.5 + SH_C0 * g.sh[c]).clamp(0.0, 1.0));
    let mut motion = [0.0f32; 9];
    for i in 0..3 {
        motion[i] = (velocity[i] * span) as f32;
    }
    let record = SplatvSplat {
        position: splat.position,
        rotation: splat.rotation,
        scale: splat.log_scale.map(|s| (s as f64).exp() as f32),
        rgba: [rgb[0], rgb[1], rgb[2], alpha].map(|v| (v * 255.0).round() as u8),
        motion,
        omega: [0.0; 4],
        trbf_center: ((g.mean[3] - t0 as f64) / span) as f32,
        trbf_scale: ((2.0 * var_t).sqrt() / span) as f32,
    };
    let finite = record.motion.iter().chain(&[record.trbf_center, record.trbf_scale]).all(|v| v.is_finite());
    (finite && record.trbf_scale > 0.0).then_some(record)
}

/// The records of a whole model (invisible or non-finite Gaussians left out).
pub fn encode(g: &Gaussians4d, time_range: (f32, f32)) -> Vec<SplatvSplat> {
    (0..g.len()).filter_map(|i| encode_gaussian(&g.get(i), time_range)).collect()
}

fn texture_words(splats: &[SplatvSplat]) -> (Vec<u32>, u32) {
    let rows = splats.len().div_ceil(SPLATS_PER_ROW).max(1);
    let mut words = vec![0u32; rows * SPLATS_PER_ROW * WORDS_PER_SPLAT];
    for (i, rec) in words.chunks_exact_mut(WORDS_PER_SPLAT).enumerate() {
        let Some(s) = splats.get(i) else {
            // Padding: transparent, and so far from every viewer time that the temporal cut skips it.
            rec[15] = pack(PADDING_TIME as f64, 1.0);
            continue;
        };
        let r = s.rotation.map(f64::from);
        let m = s.motion.map(f64::from);
        let o = s.omega.map(f64::from);
        rec[0..3].copy_from_slice(&s.position.map(f32::to_bits));
        rec[3] = pack(r[0], r[1]);
        rec[4] = pack(r[2], r[3]);
        rec[5] = pack(s.scale[0] as f64, s.scale[1] as f64);
        rec[6] = pack(s.scale[2] as f64, 0.0);
        rec[7] = u32::from_le_bytes(s.rgba);
        rec[8] = pack(m[0], m[1]);
        rec[9] = pack(m[2], m[3]);
        rec[10] = pack(m[4], m[5]);
        rec[11] = pack(m[6], m[7]);
        rec[12] = pack(m[8], 0.0);
        rec[13] = pack(o[0], o[1]);
        rec[14] = pack(o[2], o[3]);
        rec[15] = pack(s.trbf_center as f64, s.trbf_scale as f64);
    }
    (words, rows as u32)
}

/// The whole file's bytes.
pub fn to_bytes(splats: &[SplatvSplat], cameras: &[SplatvCamera], time_range: (f32, f32)) -> Vec<u8> {
    let (words, rows) = texture_words(splats);
    let chunk = Chunk {
        kind: "splat".into(),
        size: (words.len() * 4) as u64,
        texwidth: (SPLATS_PER_ROW * 4) as u32,
        texheight: rows,
        cameras: cameras.to_vec(),
        splats: Some(splats.len()),
        time_range: Some([time_range.0, time_range.1]),
    };
    let json = serde_json::to_vec(&[chunk]).expect("the header serialises");
    let mut out = Vec::with_capacity(8 + json.len() + words.len() * 4);
    out.extend(MAGIC.to_le_bytes());
    out.extend((json.len() as u32).to_le_bytes());
    out.extend(json);
    out.extend(bytemuck::cast_slice::<u32, u8>(&words));
    out
}

/// Writes a model as `.splatv` (atomically); `camera` is where the viewer starts. Returns the splat count.
pub fn write_splatv(path: &Path, g: &Gaussians4d, time_range: (f32, f32), camera: &Camera) -> std::io::Result<usize> {
    let splats = encode(g, time_range);
    let bytes = to_bytes(&splats, &[SplatvCamera::from_camera(0, camera)], time_range);
    write_atomically_with(path, |w| w.write_all(&bytes))?;
    Ok(splats.len())
}

/// Parses a `.splatv` file's bytes (ours or another tool's).
pub fn from_bytes(bytes: &[u8]) -> Result<SplatvFile, String> {
    let word = |at: usize| -> Result<u32, String> {
        let b = bytes.get(at..at + 4).ok_or("the file ends inside its header")?;
        Ok(u32::from_le_bytes(b.try_into().expect("4 bytes")))
    };
    if word(0)? != MAGIC {
        return Err(format!("not a .splatv file (magic {:#x}, expected {MAGIC:#x})", word(0)?));
    }
    let json_len = word(4)? as usize;
    let json = bytes.get(8..8 + json_len).ok_or("the file ends inside its JSON header")?;
    let chunks: Vec<Chunk> = serde_json::from_slice(json).map_err(|e| format!("bad JSON header: {e}"))?;
    let mut offset = 8 + json_len;
    for chunk in chunks {
        let size = usize::try_from(chunk.size).map_err(|_| "a chunk is too large")?;
        let data =
            bytes.get(offset..offset + size).ok_or_else(|| format!("the `{}` chunk is cut short", chunk.kind))?;
        offset += size;
        if chunk.kind != "splat" {
            continue;
        }
        if chunk.texwidth as usize != SPLATS_PER_ROW * 4 {
            return Err(format!("texture width {} (the layout needs {})", chunk.texwidth, SPLATS_PER_ROW * 4));
        }
        let records = size / (WORDS_PER_SPLAT * 4);
        let count = chunk.splats.unwrap_or(records).min(records);
        let splats = data
            .chunks_exact(WORDS_PER_SPLAT * 4)
            .take(count)
            .map(|rec| decode_record(&bytemuck::pod_collect_to_vec::<u8, u32>(rec)))
            .collect();
        let time_range = chunk.time_range.map_or((0.0, 1.0), |[a, b]| (a, b));
        return Ok(SplatvFile { splats, cameras: chunk.cameras, time_range });
    }
    Err("no `splat` chunk".into())
}

fn decode_record(w: &[u32]) -> SplatvSplat {
    let [r0, r1] = unpack(w[3]);
    let [r2, r3] = unpack(w[4]);
    let [s0, s1] = unpack(w[5]);
    let [s2, _] = unpack(w[6]);
    let m: Vec<f32> = w[8..13].iter().flat_map(|&v| unpack(v)).collect();
    let [o0, o1] = unpack(w[13]);
    let [o2, o3] = unpack(w[14]);
    let [trbf_center, trbf_scale] = unpack(w[15]);
    SplatvSplat {
        position: [0, 1, 2].map(|i| f32::from_bits(w[i])),
        rotation: [r0, r1, r2, r3],
        scale: [s0, s1, s2],
        rgba: w[7].to_le_bytes(),
        motion: std::array::from_fn(|i| m[i]),
        omega: [o0, o1, o2, o3],
        trbf_center,
        trbf_scale,
    }
}

pub fn read_splatv(path: &Path) -> Result<SplatvFile, SplatvError> {
    let err = |message: String| SplatvError { path: path.display().to_string(), message };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    from_bytes(&bytes).map_err(err)
}

impl SplatvFile {
    /// The splats as 4D Gaussians over the file's time range (SH degree 0). Exact for records that
    /// move linearly without turning (every file we write); for others (Spacetime Gaussians with
    /// acceleration or rotation velocity) only the linear motion is kept. Returns the model and how
    /// many records lost motion.
    pub fn to_gaussians4d(&self) -> (Gaussians4d, usize) {
        let (t0, t1) = self.time_range;
        let span = (t1 - t0) as f64;
        let mut g = Gaussians4d::default();
        let mut approximated = 0;
        for s in &self.splats {
            approximated += usize::from(!s.is_linear());
            if s.rgba[3] == 0 || s.trbf_scale.is_nan() || s.trbf_scale <= 0.0 {
                continue;
            }
            let [w, x, y, z] = s.rotation.map(f64::from);
            let rot = DMat3::from_quat(DQuat::from_xyzw(x, y, z, w).normalize());
            let scale = DVec3::from_array(s.scale.map(f64::from));
            let cov3 = rot * DMat3::from_diagonal(scale * scale) * rot.transpose();
            // Model-time velocity and variance: viewer time u = (t − t0) / span.
            let v = DVec3::new(s.motion[0] as f64, s.motion[1] as f64, s.motion[2] as f64) / span;
            let var_t = (s.trbf_scale as f64 * span).powi(2) / 2.0;
            // The joint Gaussian of (x, t) whose slices are N(p + v·dt, cov3) weighted exp(−½dt²/var_t).
            let cross = v * var_t;
            let mut sigma = nalgebra::Matrix4::<f64>::zeros();
            for r in 0..3 {
                for c in 0..3 {
                    sigma[(r, c)] = cov3.col(c)[r] + v[r] * v[c] * var_t;
                }
                sigma[(r, 3)] = cross[r];
                sigma[(3, r)] = cross[r];
            }
            sigma[(3, 3)] = var_t;
            let eig = sigma.symmetric_eigen();
            let mut vecs = eig.eigenvectors;
            if vecs.determinant() < 0.0 {
                vecs.set_column(3, &(-vecs.column(3)));
            }
            let m = DMat4::from_cols_array(&std::array::from_fn(|k| vecs[(k % 4, k / 4)]));
            let (left, right) = factor_rotation4(m);
            let t_centre = t0 as f64 + s.trbf_center as f64 * span;
            g.means.extend([s.position[0], s.position[1], s.position[2], t_centre as f32]);
            g.log_scales.extend(eig.eigenvalues.iter().map(|&l| (0.5 * l.max(1e-30).ln()) as f32));
            g.rot_left.extend(left.map(|v| v as f32));
            g.rot_right.extend(right.map(|v| v as f32));
            let alpha = (s.rgba[3] as f64 / 255.0).min(1.0 - 1e-7);
            g.opacity.push((alpha / (1.0 - alpha)).ln() as f32);
            g.sh.extend([0, 1, 2].map(|c| ((s.rgba[c] as f64 / 255.0 - 0.5) / SH_C0) as f32));
        }
        (g, approximated)
    }

    /// The 3D splats at model time `t` with our renderer's temporal cut-off.
    pub fn splats_at(&self, t: f32) -> Vec<Splat3d> {
        let (t0, t1) = self.time_range;
        let u = (t - t0) / (t1 - t0).max(f32::EPSILON);
        self.splats.iter().filter_map(|s| s.at(u, MIN_TEMPORAL_WEIGHT)).collect()
    }
}
