//! 4D Gaussians (Yang et al. 2024, as Efficient4D uses them): a 4D mean (x, y, z, t), 4D log-scales,
//! a left and a right unit quaternion forming a 4D rotation, an opacity logit and SH colour.
//! Parameters are stored raw (log / logit / unnormalised quaternions), as the optimiser sees them.

pub(crate) mod groups;
pub mod lift;
pub mod math;
pub mod random;
pub mod slice3d;

pub use groups::ParamGroups;

/// The SH DC constant: `rgb = 0.5 + SH_C0 * f_dc`.
pub(crate) const SH_C0: f64 = 0.282_094_791_773_878_14;

/// The highest spherical-harmonics degree of the colour (the rasterizer's shaders evaluate up to it).
pub(crate) const MAX_SH_DEGREE: u32 = 3;

/// Number of SH coefficients per channel for a degree (0..=MAX_SH_DEGREE).
pub const fn sh_coeffs(degree: u32) -> usize {
    ((degree + 1) * (degree + 1)) as usize
}

/// A set of 4D Gaussians on the CPU (struct of arrays, f32, row-major per Gaussian).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gaussians4d {
    /// N × 4: x, y, z, t.
    pub means: Vec<f32>,
    /// N × 4: log standard deviations along x, y, z, t (before rotation).
    pub log_scales: Vec<f32>,
    /// N × 4: left quaternion (a, b, c, d), not necessarily normalised.
    pub rot_left: Vec<f32>,
    /// N × 4: right quaternion (p, q, r, s), not necessarily normalised.
    pub rot_right: Vec<f32>,
    /// N: opacity logit.
    pub opacity: Vec<f32>,
    /// N × K × 3: SH coefficients, coefficient-major then channel (K = (degree + 1)²).
    pub sh: Vec<f32>,
    pub sh_degree: u32,
}

impl Gaussians4d {
    pub fn len(&self) -> usize {
        self.opacity.len()
    }

    pub fn is_empty(&self) -> bool {
        self.opacity.is_empty()
    }

    pub fn sh_stride(&self) -> usize {
        sh_coeffs(self.sh_degree) * 3
    }

    /// Values per splat in each group.
    pub(crate) fn widths(&self) -> ParamGroups<usize> {
        ParamGroups::widths(self.sh_degree)
    }

    /// The arrays by group.
    pub fn groups(&self) -> ParamGroups<&Vec<f32>> {
        ParamGroups {
            means: &self.means,
            log_scales: &self.log_scales,
            rot_left: &self.rot_left,
            rot_right: &self.rot_right,
            opacity: &self.opacity,
            sh: &self.sh,
        }
    }

    pub(crate) fn groups_mut(&mut self) -> ParamGroups<&mut Vec<f32>> {
        ParamGroups {
            means: &mut self.means,
            log_scales: &mut self.log_scales,
            rot_left: &mut self.rot_left,
            rot_right: &mut self.rot_right,
            opacity: &mut self.opacity,
            sh: &mut self.sh,
        }
    }

    /// Gaussians from their arrays by group.
    pub(crate) fn from_groups(g: ParamGroups<Vec<f32>>, sh_degree: u32) -> Self {
        let ParamGroups { means, log_scales, rot_left, rot_right, opacity, sh } = g;
        Self { means, log_scales, rot_left, rot_right, opacity, sh, sh_degree }
    }

    /// Checks that every array has the length N implies.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.len();
        let checks = [
            ("means", self.means.len(), n * 4),
            ("log_scales", self.log_scales.len(), n * 4),
            ("rot_left", self.rot_left.len(), n * 4),
            ("rot_right", self.rot_right.len(), n * 4),
            ("sh", self.sh.len(), n * self.sh_stride()),
        ];
        for (name, got, want) in checks {
            if got != want {
                return Err(format!("{name}: {got} values, expected {want} for {n} Gaussians"));
            }
        }
        if self.sh_degree > MAX_SH_DEGREE {
            return Err(format!("sh_degree {} > {MAX_SH_DEGREE}", self.sh_degree));
        }
        Ok(())
    }

    /// The Gaussians for which `keep(i)` holds, in order.
    pub fn filtered(&self, keep: impl Fn(usize) -> bool) -> Self {
        let k = self.sh_stride();
        let mut out = Self { sh_degree: self.sh_degree, ..Default::default() };
        for i in (0..self.len()).filter(|&i| keep(i)) {
            out.means.extend_from_slice(&self.means[i * 4..i * 4 + 4]);
            out.log_scales.extend_from_slice(&self.log_scales[i * 4..i * 4 + 4]);
            out.rot_left.extend_from_slice(&self.rot_left[i * 4..i * 4 + 4]);
            out.rot_right.extend_from_slice(&self.rot_right[i * 4..i * 4 + 4]);
            out.opacity.push(self.opacity[i]);
            out.sh.extend_from_slice(&self.sh[i * k..(i + 1) * k]);
        }
        out
    }

    /// The same Gaussians with SH of `degree`: higher coefficients dropped, or added as zeros.
    pub fn with_sh_degree(&self, degree: u32) -> Self {
        let (from, to) = (self.sh_stride(), sh_coeffs(degree) * 3);
        let sh =
            self.sh.chunks_exact(from).flat_map(|c| (0..to).map(move |j| c.get(j).copied().unwrap_or(0.0))).collect();
        Self { sh, sh_degree: degree, ..self.clone() }
    }

    /// Parameters of Gaussian `i` in f64, for the CPU reference and for export.
    pub fn get(&self, i: usize) -> math::Gaussian {
        let v4 = |a: &[f32]| [a[i * 4] as f64, a[i * 4 + 1] as f64, a[i * 4 + 2] as f64, a[i * 4 + 3] as f64];
        let k = self.sh_stride();
        math::Gaussian {
            mean: v4(&self.means),
            log_scale: v4(&self.log_scales),
            rot_left: v4(&self.rot_left),
            rot_right: v4(&self.rot_right),
            opacity_logit: self.opacity[i] as f64,
            sh: self.sh[i * k..(i + 1) * k].iter().map(|&v| v as f64).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Gaussians4d;

    #[test]
    fn changing_the_sh_degree_keeps_the_shared_coefficients() {
        let g = Gaussians4d {
            means: vec![0.0; 8],
            log_scales: vec![0.0; 8],
            rot_left: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            rot_right: vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
            opacity: vec![0.5, -0.5],
            sh: (0..24).map(|v| v as f32).collect(),
            sh_degree: 1,
        };
        let up = g.with_sh_degree(2);
        up.validate().unwrap();
        assert_eq!(&up.sh[..12], &g.sh[..12]);
        assert!(up.sh[12..27].iter().all(|&v| v == 0.0));
        assert_eq!(&up.sh[27..39], &g.sh[12..24]);
        let down = g.with_sh_degree(0);
        down.validate().unwrap();
        assert_eq!(down.sh, vec![0.0, 1.0, 2.0, 12.0, 13.0, 14.0]);
        assert_eq!(up.with_sh_degree(1), g);
    }
}
