//! Adaptive density control in 4D: splats whose mean gradient stays large are cloned (small ones)
//! or split (large ones, new means sampled from the 4D Gaussian, time included); nearly transparent
//! splats are pruned; the count never exceeds a cap. Works on CPU copies of the parameters and the
//! Adam moments, a few times per run.

use crate::gaussians::math::scaled_rotation;
use crate::gaussians::{Gaussians4d, ParamGroups};
use glam::DVec4;
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, clap::Args)]
pub struct DensifyConfig {
    /// Clone, split and prune splats as training goes (`--no-densify`: keep the initial splats).
    #[arg(long = "no-densify", action = clap::ArgAction::SetFalse)]
    pub enabled: bool,
    /// Fraction of the run in which densification happens: [start, end).
    #[arg(skip = DensifyConfig::default().start_fraction)]
    pub start_fraction: f32,
    #[arg(skip = DensifyConfig::default().end_fraction)]
    pub end_fraction: f32,
    #[arg(skip = DensifyConfig::default().interval)]
    pub interval: u32,
    /// Share of the splats (those with the largest position gradients) cloned or split at each
    /// densification.
    #[arg(long = "grow", value_name = "SHARE", default_value_t = DensifyConfig::default().grow_fraction)]
    pub grow_fraction: f32,
    /// A splat wider than this share of the scene extent (largest spatial standard deviation) is
    /// split rather than cloned (3DGS's `percent_dense`).
    #[arg(skip = DensifyConfig::default().split_scale)]
    pub split_scale: f32,
    /// Splats with opacity below this are removed.
    #[arg(skip = DensifyConfig::default().prune_opacity)]
    pub prune_opacity: f32,
    #[arg(skip = DensifyConfig::default().max_splats)]
    pub max_splats: usize,
}

impl Default for DensifyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            start_fraction: 0.1,
            end_fraction: 0.6,
            interval: 100,
            grow_fraction: 0.05,
            split_scale: 0.01,
            prune_opacity: 0.005,
            max_splats: 200_000,
        }
    }
}

/// Row-wise CPU copies of something shaped like the parameters (the parameters or one Adam moment).
pub type Rows = ParamGroups<Vec<f32>>;

/// What one densification did.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct DensifyStats {
    pub cloned: usize,
    pub split: usize,
    pub pruned: usize,
    pub total: usize,
}

/// Decides and applies clone / split / prune. `grad_norm` is the mean |∂L/∂μxyz| per splat over the
/// steps that saw it since the last densification. `moments` follow the same row operations (new rows
/// start at zero). `extent` is the scene's radius in world units.
pub fn densify(
    g: &mut Gaussians4d,
    moments: &mut [Rows],
    grad_norm: &[f32],
    cfg: &DensifyConfig,
    extent: f32,
    rng: &mut StdRng,
) -> DensifyStats {
    let n = g.len();
    let w = g.widths();
    let mut stats = DensifyStats::default();
    // Rank by gradient; grow the top share that fits under the cap.
    let room = cfg.max_splats.saturating_sub(n);
    let mut order: Vec<usize> = (0..n).filter(|&i| grad_norm[i] > 0.0 && grad_norm[i].is_finite()).collect();
    order.sort_by(|&a, &b| grad_norm[b].total_cmp(&grad_norm[a]));
    order.truncate(((n as f32 * cfg.grow_fraction) as usize).min(room));
    let mut keep = vec![true; n];
    let mut new_rows: Vec<(usize, [f32; 4], [f32; 4])> = Vec::new(); // (source, mean, log_scale)
    let mut clone_sources = Vec::new();
    for &i in &order {
        let max_scale = g.log_scales[i * 4..i * 4 + 3].iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)).exp();
        let mean = [g.means[i * 4], g.means[i * 4 + 1], g.means[i * 4 + 2], g.means[i * 4 + 3]];
        let ls = [g.log_scales[i * 4], g.log_scales[i * 4 + 1], g.log_scales[i * 4 + 2], g.log_scales[i * 4 + 3]];
        if max_scale > cfg.split_scale * extent {
            // Split: two children sampled from the parent (space and time), 1.6x smaller; parent goes.
            let l = scaled_rotation(&g.get(i));
            let child_ls = ls.map(|s| s - 1.6f32.ln());
            for _ in 0..2 {
                let z = DVec4::from_array([0; 4].map(|_| standard_normal(rng)));
                let off = l * z;
                let m = [0, 1, 2, 3].map(|k| mean[k] + off[k] as f32);
                new_rows.push((i, m, child_ls));
            }
            keep[i] = false;
            stats.split += 1;
        } else {
            new_rows.push((i, mean, ls));
            clone_sources.push(i);
            stats.cloned += 1;
        }
    }
    // A clone sits on its parent: two splats of opacity a' with (1 - a')² = 1 - a cover the pixels as
    // the parent did, so cloning does not darken the image and undo the last steps' fit (Rota Bulò et
    // al. 2024, "Revising densification in Gaussian splatting").
    for &i in &clone_sources {
        let a = 1.0 / (1.0 + (-g.opacity[i]).exp());
        let a_half = (1.0 - (1.0 - a).sqrt()).clamp(1e-6, 1.0 - 1e-6);
        g.opacity[i] = (a_half / (1.0 - a_half)).ln();
    }
    // Prune nearly transparent splats (and any non-finite one).
    for (i, kept) in keep.iter_mut().enumerate() {
        let op = 1.0 / (1.0 + (-g.opacity[i]).exp());
        let finite = g.means[i * 4..i * 4 + 4].iter().chain(&g.log_scales[i * 4..i * 4 + 4]).all(|v| v.is_finite());
        if *kept && (op < cfg.prune_opacity || !finite) {
            *kept = false;
            stats.pruned += 1;
        }
    }
    // Survivors keep their rows; new rows copy their source's, but for the sampled means and
    // scales. Moments of new rows start at zero.
    let kept_rows = |old: &[f32], width: usize| -> Vec<f32> {
        (0..n).filter(|&i| keep[i]).flat_map(|i| old[i * width..(i + 1) * width].to_vec()).collect()
    };
    let sampled = ParamGroups {
        means: Some(new_rows.iter().map(|r| r.1).collect::<Vec<_>>()),
        log_scales: Some(new_rows.iter().map(|r| r.2).collect::<Vec<_>>()),
        ..Default::default()
    };
    for ((col, width), sampled) in g.groups_mut().zip(w).zip(sampled).into_array() {
        let old = std::mem::take(col);
        let mut out = kept_rows(&old, width);
        for (k, (src, _, _)) in new_rows.iter().enumerate() {
            match &sampled {
                Some(rows) => out.extend(rows[k]),
                None => out.extend(&old[src * width..(src + 1) * width]),
            }
        }
        *col = out;
    }
    for m in moments.iter_mut() {
        for (col, width) in m.as_mut().zip(w).into_array() {
            let old = std::mem::take(col);
            let mut out = kept_rows(&old, width);
            out.resize(out.len() + new_rows.len() * width, 0.0);
            *col = out;
        }
    }
    stats.total = g.len();
    stats
}

fn standard_normal(rng: &mut StdRng) -> f64 {
    rng.sample(rand_distr::StandardNormal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaussians::random::RandomScene;
    use rand::SeedableRng;

    #[test]
    fn clones_splits_prunes_and_respects_the_cap() {
        let mut g = RandomScene { count: 100, seed: 3, log_scale: (-6.0, -3.0), ..Default::default() }.build();
        g.opacity[0] = -10.0; // prunable
        let w = g.widths();
        let mut moments: Vec<Rows> = vec![w.map(|width| vec![1.0; g.len() * width])];
        let grad: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let cfg = DensifyConfig { grow_fraction: 0.1, split_scale: 0.03, max_splats: 1000, ..Default::default() };
        let mut rng = StdRng::seed_from_u64(1);
        let before = g.clone();
        let s = densify(&mut g, &mut moments, &grad, &cfg, 1.0, &mut rng);
        assert_eq!(s.cloned + s.split, 10);
        assert_eq!(s.pruned, 1);
        assert_eq!(g.len(), 100 - s.split - 1 + s.cloned + 2 * s.split);
        g.validate().unwrap();
        for (col, width) in moments[0].as_ref().zip(w).into_array() {
            assert_eq!(col.len(), g.len() * width);
            // Survivors keep their moments, new rows start at zero.
            assert_eq!(col[0], 1.0);
            assert_eq!(*col.last().unwrap(), 0.0);
        }
        // Split children are smaller than their parent by 1.6x.
        assert!(s.split > 0 && s.cloned > 0, "{s:?}");
        let child_ls = g.log_scales[g.len() * 4 - 4];
        assert!(before.log_scales.iter().any(|&p| (p - 1.6f32.ln() - child_ls).abs() < 1e-5));
        // A clone and its parent together cover what the parent covered: 1 - (1 - a')² = a.
        let sigmoid = |x: f32| 1.0 / (1.0 + (-x).exp());
        let first_new = g.len() - s.cloned - 2 * s.split;
        let clones = (first_new..g.len()).filter_map(|j| {
            (0..before.len()).find(|&i| before.means[i * 4..i * 4 + 4] == g.means[j * 4..j * 4 + 4]).map(|i| (i, j))
        });
        let mut checked = 0;
        for (i, j) in clones {
            let (a, a_new) = (sigmoid(before.opacity[i]), sigmoid(g.opacity[j]));
            assert!((1.0 - (1.0 - a_new).powi(2) - a).abs() < 1e-4, "parent {a}, clone {a_new}");
            checked += 1;
        }
        assert_eq!(checked, s.cloned);
        // The cap holds.
        let cfg = DensifyConfig { grow_fraction: 0.5, max_splats: g.len() + 3, ..Default::default() };
        let mut m2: Vec<Rows> = vec![];
        let grad: Vec<f32> = vec![1.0; g.len()];
        let s = densify(&mut g, &mut m2, &grad, &cfg, 1.0, &mut rng);
        assert!(s.cloned + s.split <= 3);
    }
}
