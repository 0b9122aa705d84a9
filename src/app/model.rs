//! What the viewer shows: a 4D model from a checkpoint or a `.splatv`, a PLY sequence in a folder or a
//! zip (a flipbook of 3D frames, each frame's splats given a short time support) or one PLY (static).

use crate::export::Checkpoint;
use crate::export::ply::{Splat3d, read_ply};
use crate::export::ply_zip::read_ply_zip;
use crate::export::splatv::read_splatv;
use crate::gaussians::Gaussians4d;
use crate::gaussians::math::factor_rotation4;
use glam::{DMat4, DQuat};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct LoadedModel {
    pub gaussians: Gaussians4d,
    pub time_range: (f32, f32),
    /// Key frame times (for stepping and PLY export).
    pub key_times: Vec<f32>,
    pub background: [f32; 3],
    /// Where it came from, for the title and messages.
    pub source: String,
}

impl LoadedModel {
    pub fn from_checkpoint(path: &Path) -> anyhow::Result<Self> {
        let ck = Checkpoint::load(path)?;
        Ok(Self::from_checkpoint_data(ck, path.display().to_string()))
    }

    pub fn from_checkpoint_data(ck: Checkpoint, source: String) -> Self {
        Self {
            gaussians: ck.gaussians,
            time_range: (ck.meta.time_range[0], ck.meta.time_range[1]),
            key_times: ck.meta.frame_times,
            background: ck.meta.background,
            source,
        }
    }

    /// A folder of `*.ply` frames (sorted by name) as a flipbook over t ∈ [0, 1].
    pub fn from_ply_folder(dir: &Path) -> anyhow::Result<Self> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("ply")))
            .collect();
        files.sort();
        anyhow::ensure!(!files.is_empty(), "{}: no .ply files in this folder", dir.display());
        let frames =
            files.iter().map(|f| Ok((f.display().to_string(), read_ply(f)?))).collect::<anyhow::Result<Vec<_>>>()?;
        Self::flipbook(frames, dir)
    }

    /// A zip of `*.ply` frames (sorted by name), as Brush reads an animation, as a flipbook.
    pub fn from_ply_zip(path: &Path) -> anyhow::Result<Self> {
        let frames = read_ply_zip(path)?.into_iter().map(|f| (f.name, (f.splats, f.sh_degree))).collect();
        Self::flipbook(frames, path)
    }

    /// Frames (name, splats, SH degree) spread over t ∈ [0, 1], each visible around its own time.
    fn flipbook(frames: Vec<(String, (Vec<Splat3d>, u32))>, source: &Path) -> anyhow::Result<Self> {
        let n = frames.len();
        let times: Vec<f32> = (0..n).map(|i| if n > 1 { i as f32 / (n - 1) as f32 } else { 0.0 }).collect();
        // Each frame is visible around its own time only: σ_t of a third of the frame spacing.
        let sigma_t = if n > 1 { 1.0 / (n - 1) as f32 / 3.0 } else { 1e3 };
        let mut g = Gaussians4d::default();
        for (i, (name, (splats, degree))) in frames.iter().enumerate() {
            if i == 0 {
                g.sh_degree = *degree;
            }
            anyhow::ensure!(degree == &g.sh_degree, "{name}: SH degree {degree} differs from the first frame's");
            append_splats(&mut g, splats, times[i], sigma_t);
        }
        Ok(Self {
            gaussians: g,
            time_range: (0.0, 1.0),
            key_times: times,
            background: [1.0; 3],
            source: source.display().to_string(),
        })
    }

    /// A `.splatv` (ours exactly; another tool's with its linear motion only, said in the log).
    pub fn from_splatv(path: &Path) -> anyhow::Result<Self> {
        let file = read_splatv(path)?;
        let (gaussians, approximated) = file.to_gaussians4d();
        anyhow::ensure!(!gaussians.is_empty(), "{}: no visible splats", path.display());
        if approximated > 0 {
            log::warn!(
                "{}: {approximated} splats accelerate or turn; only their linear motion is shown",
                path.display()
            );
        }
        let (t0, t1) = file.time_range;
        Ok(Self {
            gaussians,
            time_range: file.time_range,
            key_times: (0..=8).map(|i| t0 + (t1 - t0) * i as f32 / 8.0).collect(),
            background: [1.0; 3],
            source: path.display().to_string(),
        })
    }

    pub fn from_ply_file(path: &Path) -> anyhow::Result<Self> {
        let (splats, degree) = read_ply(path)?;
        let mut g = Gaussians4d { sh_degree: degree, ..Default::default() };
        append_splats(&mut g, &splats, 0.0, 1e3);
        Ok(Self {
            gaussians: g,
            time_range: (0.0, 1.0),
            key_times: vec![0.0],
            background: [1.0; 3],
            source: path.display().to_string(),
        })
    }
}

/// Appends 3D splats as 4D Gaussians centred at `time` with temporal σ `sigma_t`.
fn append_splats(g: &mut Gaussians4d, splats: &[Splat3d], time: f32, sigma_t: f32) {
    let k = crate::gaussians::sh_coeffs(g.sh_degree);
    for s in splats {
        g.means.extend([s.position[0], s.position[1], s.position[2], time]);
        g.log_scales.extend([s.log_scale[0], s.log_scale[1], s.log_scale[2], sigma_t.ln()]);
        let [w, x, y, z] = s.rotation.map(|v| v as f64);
        let q = DQuat::from_xyzw(x, y, z, w).normalize();
        let (l, r) = factor_rotation4(DMat4::from_quat(q));
        g.rot_left.extend(l.map(|v| v as f32));
        g.rot_right.extend(r.map(|v| v as f32));
        g.opacity.push(s.opacity_logit);
        // PLY stores f_rest channel-major; ours is coefficient-major then channel.
        let rest = k - 1;
        g.sh.extend(s.f_dc);
        for c in 0..rest {
            for ch in 0..3 {
                g.sh.push(s.f_rest.get(ch * rest + c).copied().unwrap_or(0.0));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ply::{slice_to_3d, write_ply};
    use crate::gaussians::random::RandomScene;

    #[test]
    fn a_ply_round_trips_through_the_flipbook_loader() {
        let g = RandomScene { count: 30, sh_degree: 1, ..Default::default() }.build();
        let frame = slice_to_3d(&g, 0.5);
        let dir = tempfile::tempdir().unwrap();
        write_ply(&dir.path().join("frame_0000.ply"), &frame, 1).unwrap();
        let m = LoadedModel::from_ply_file(&dir.path().join("frame_0000.ply")).unwrap();
        // Slicing the loaded (static) model gives the same 3D splats back.
        let again = slice_to_3d(&m.gaussians, 0.0);
        assert_eq!(again.len(), frame.len());
        for (a, b) in frame.iter().zip(&again) {
            for i in 0..3 {
                assert!((a.position[i] - b.position[i]).abs() < 1e-4);
                assert!((a.log_scale[i] - b.log_scale[i]).abs() < 1e-3, "{:?} vs {:?}", a.log_scale, b.log_scale);
            }
            assert!((a.f_dc[0] - b.f_dc[0]).abs() < 1e-6);
            assert_eq!(a.f_rest, b.f_rest);
        }
    }
}
