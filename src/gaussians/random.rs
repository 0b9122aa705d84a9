//! Random 4D Gaussian scenes for tests and benchmarks (seeded, reproducible).

use super::{Gaussians4d, sh_coeffs};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// Ranges of a random scene; `Default` gives an object-sized cloud in the unit cube over t ∈ [0, 1].
#[derive(Clone, Debug)]
pub struct RandomScene {
    pub count: usize,
    pub seed: u64,
    /// Means are uniform in a ball of this radius around the origin.
    pub radius: f32,
    /// Spatial log-scale range.
    pub log_scale: (f32, f32),
    /// Temporal log-scale range.
    pub log_scale_t: (f32, f32),
    pub opacity_logit: (f32, f32),
    pub sh_degree: u32,
}

impl Default for RandomScene {
    fn default() -> Self {
        Self {
            count: 1000,
            seed: 1,
            radius: 0.5,
            log_scale: (-4.0, -2.5),
            log_scale_t: (-1.5, 0.5),
            opacity_logit: (-1.0, 2.5),
            sh_degree: 0,
        }
    }
}

impl RandomScene {
    pub fn build(&self) -> Gaussians4d {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let n = self.count;
        let k = sh_coeffs(self.sh_degree);
        let mut g = Gaussians4d { sh_degree: self.sh_degree, ..Default::default() };
        for _ in 0..n {
            let p = loop {
                let p: [f32; 3] =
                    [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)];
                if p.iter().map(|v| v * v).sum::<f32>() <= 1.0 {
                    break p;
                }
            };
            g.means.extend([p[0] * self.radius, p[1] * self.radius, p[2] * self.radius, rng.random_range(0.0..1.0)]);
            for _ in 0..3 {
                g.log_scales.push(rng.random_range(self.log_scale.0..self.log_scale.1));
            }
            g.log_scales.push(rng.random_range(self.log_scale_t.0..self.log_scale_t.1));
            for _ in 0..4 {
                g.rot_left.push(rng.random_range(-1.0..1.0));
                g.rot_right.push(rng.random_range(-1.0..1.0));
            }
            g.opacity.push(rng.random_range(self.opacity_logit.0..self.opacity_logit.1));
            for c in 0..k * 3 {
                let spread = if c < 3 { 1.5 } else { 0.3 };
                g.sh.push(rng.random_range(-spread..spread));
            }
        }
        g
    }
}
