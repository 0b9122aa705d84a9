//! Initial 4D Gaussians: uniform in the object volume (carved by the views' silhouettes where they
//! have them) and over the (slightly extended) time range, opacity 0.1, spatial scale from
//! nearest-neighbour distances, a given temporal standard deviation.

use super::carve::SilhouetteCarver;
use crate::camera::Camera;
use crate::gaussians::{Gaussians4d, sh_coeffs};
use glam::DVec3;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::collections::HashMap;

/// Where the object is.
#[derive(Clone, Copy, Debug)]
pub enum InitVolume {
    /// The SyncDreamer rig's object ball (radius 0.5 around the origin).
    Ball { center: [f32; 3], radius: f32 },
    /// An axis-aligned box; points outside most cameras' views are rejected (see [`view_volume`]).
    Box { min: [f32; 3], max: [f32; 3] },
}

/// The box in which the cameras' views overlap: half the extent of the view cone at the look-at
/// distance, around the origin (D-NeRF and SyncDreamer cameras look at it).
pub fn view_volume(cameras: &[Camera]) -> InitVolume {
    let h = cameras
        .iter()
        .map(|c| c.position().length() * (0.5 * c.intrinsics.width as f64 / c.intrinsics.fx))
        .fold(f64::INFINITY, f64::min);
    let h = if h.is_finite() { h as f32 } else { 1.0 };
    InitVolume::Box { min: [-h; 3], max: [h; 3] }
}

fn visible_fraction(p: DVec3, cameras: &[Camera]) -> f64 {
    if cameras.is_empty() {
        return 1.0;
    }
    let inside = cameras
        .iter()
        .filter(|c| {
            c.project(p).is_some_and(|(u, v, _)| {
                u >= 0.0 && v >= 0.0 && u < c.intrinsics.width as f64 && v < c.intrinsics.height as f64
            })
        })
        .count();
    inside as f64 / cameras.len() as f64
}

/// Root mean squared distance to the 3 nearest neighbours of every point (a uniform grid search).
pub fn neighbour_distances(points: &[[f32; 3]]) -> Vec<f32> {
    let n = points.len();
    if n < 2 {
        return vec![0.01; n];
    }
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for p in points {
        for k in 0..3 {
            lo[k] = lo[k].min(p[k]);
            hi[k] = hi[k].max(p[k]);
        }
    }
    let volume: f32 = (0..3).map(|k| (hi[k] - lo[k]).max(1e-6)).product();
    let cell = (volume / n as f32 * 4.0).cbrt().max(1e-6);
    let key = |p: &[f32; 3]| [0, 1, 2].map(|k| ((p[k] - lo[k]) / cell).floor() as i64);
    let mut grid: HashMap<[i64; 3], Vec<usize>> = HashMap::new();
    for (i, p) in points.iter().enumerate() {
        grid.entry(key(p)).or_default().push(i);
    }
    points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let c = key(p);
            let mut best = [f32::INFINITY; 3];
            for ring in 1..=3i64 {
                for dx in -ring..=ring {
                    for dy in -ring..=ring {
                        for dz in -ring..=ring {
                            if dx.abs().max(dy.abs()).max(dz.abs()) != ring && ring > 1 {
                                continue;
                            }
                            let Some(list) = grid.get(&[c[0] + dx, c[1] + dy, c[2] + dz]) else { continue };
                            for &j in list {
                                if j == i {
                                    continue;
                                }
                                let q = points[j];
                                let d2 = (0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f32>();
                                if d2 < best[2] {
                                    best[2] = d2;
                                    best.sort_by(f32::total_cmp);
                                }
                            }
                        }
                    }
                }
                // Neighbours beyond this ring are at least `ring * cell` away.
                if best[2] <= (ring as f32 * cell).powi(2) {
                    break;
                }
            }
            let found: Vec<f32> = best.iter().copied().filter(|d| d.is_finite()).collect();
            if found.is_empty() { cell } else { (found.iter().sum::<f32>() / found.len() as f32).sqrt() }
        })
        .collect()
}

/// `count` Gaussians in `volume` over `time_range`, each with temporal standard deviation `time_sigma`;
/// with a `carver`, only where the views nearest in time see the object (if too few candidates pass,
/// the rest are placed without it).
#[allow(clippy::too_many_arguments)]
pub fn initial_gaussians(
    count: usize,
    volume: InitVolume,
    cameras: &[Camera],
    mut carver: Option<&SilhouetteCarver>,
    time_range: (f32, f32),
    time_sigma: f32,
    sh_degree: u32,
    seed: u64,
) -> Gaussians4d {
    let mut rng = StdRng::seed_from_u64(seed);
    let (t0, t1) = time_range;
    let extend = 0.05 * (t1 - t0).max(time_sigma);
    let mut points = Vec::with_capacity(count);
    let mut times = Vec::with_capacity(count);
    let mut attempts = 0usize;
    while points.len() < count {
        attempts += 1;
        if attempts > count * 200 {
            match carver.take() {
                Some(_) => {
                    log::warn!("silhouette carving kept {} of {count} initial points; the rest uncarved", points.len());
                    attempts = 0;
                }
                None => break,
            }
        }
        let t = rng.random_range((t0 - extend)..=(t1 + extend));
        let p = match volume {
            InitVolume::Ball { center, radius } => {
                let d =
                    [rng.random_range(-1.0..1.0f32), rng.random_range(-1.0..1.0f32), rng.random_range(-1.0..1.0f32)];
                if d.iter().map(|v| v * v).sum::<f32>() > 1.0 {
                    continue;
                }
                [center[0] + d[0] * radius, center[1] + d[1] * radius, center[2] + d[2] * radius]
            }
            InitVolume::Box { min, max } => {
                let p = [0, 1, 2].map(|k| rng.random_range(min[k]..max[k]));
                // Keep points most cameras see: the object is where the views overlap.
                if visible_fraction(DVec3::new(p[0] as f64, p[1] as f64, p[2] as f64), cameras) < 0.9 {
                    continue;
                }
                p
            }
        };
        if let Some(c) = carver
            && !c.keeps(DVec3::new(p[0] as f64, p[1] as f64, p[2] as f64), t.clamp(t0, t1))
        {
            continue;
        }
        points.push(p);
        times.push(t);
    }
    let dists = neighbour_distances(&points);
    let log_scale_t = time_sigma.max(1e-3).ln();
    let k = sh_coeffs(sh_degree);
    let mut g = Gaussians4d { sh_degree, ..Default::default() };
    for ((p, d), &t) in points.iter().zip(&dists).zip(&times) {
        g.means.extend([p[0], p[1], p[2], t]);
        let s = d.max(1e-4).ln();
        g.log_scales.extend([s, s, s, log_scale_t]);
        g.rot_left.extend([1.0, 0.0, 0.0, 0.0]);
        g.rot_right.extend([1.0, 0.0, 0.0, 0.0]);
        g.opacity.push((0.1f32 / 0.9).ln());
        for c in 0..k * 3 {
            g.sh.push(if c < 3 { rng.random_range(-0.5..0.5) } else { 0.0 });
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbour_distances_match_brute_force() {
        let mut rng = StdRng::seed_from_u64(5);
        let pts: Vec<[f32; 3]> = (0..400).map(|_| [rng.random(), rng.random::<f32>() * 0.3, rng.random()]).collect();
        let fast = neighbour_distances(&pts);
        for (i, p) in pts.iter().enumerate() {
            let mut d: Vec<f32> = pts
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, q)| (0..3).map(|k| (p[k] - q[k]).powi(2)).sum())
                .collect();
            d.sort_by(f32::total_cmp);
            let want = ((d[0] + d[1] + d[2]) / 3.0).sqrt();
            assert!((fast[i] - want).abs() < 1e-5, "{i}: {} vs {want}", fast[i]);
        }
    }

    #[test]
    fn initial_gaussians_fill_the_ball_and_the_time_range() {
        let g = initial_gaussians(
            2000,
            InitVolume::Ball { center: [0.0; 3], radius: 0.5 },
            &[],
            None,
            (0.0, 1.0),
            2.0 / 15.0,
            0,
            1,
        );
        assert_eq!(g.len(), 2000);
        g.validate().unwrap();
        for i in 0..g.len() {
            let p = &g.means[i * 4..i * 4 + 4];
            assert!(p[0] * p[0] + p[1] * p[1] + p[2] * p[2] <= 0.25 + 1e-6);
            assert!(p[3] >= -0.05 && p[3] <= 1.05);
            assert!((g.opacity[i] - (0.1f32 / 0.9).ln()).abs() < 1e-6);
        }
    }
}
