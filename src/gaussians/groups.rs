//! The parameter groups of a 4D Gaussian by name — one value per group: the trainer's tensors, Adam's
//! moments, learning rates, CPU rows, row widths. Code that treats every group alike maps over them;
//! code that treats one group specially names it.

/// One `T` per parameter group, in the order of [`ParamGroups::NAMES`]; on disk, a map by name.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParamGroups<T> {
    /// [N, 4]: x, y, z, t.
    pub means: T,
    /// [N, 4]: log standard deviations before rotation.
    pub log_scales: T,
    /// [N, 4]: the left quaternion of the 4D rotation.
    pub rot_left: T,
    /// [N, 4]: the right quaternion.
    pub rot_right: T,
    /// [N, 1]: the opacity logit.
    pub opacity: T,
    /// [N, K·3]: SH coefficients.
    pub sh: T,
}

impl<T> ParamGroups<T> {
    /// The groups' names, as files and messages spell them.
    pub const NAMES: [&'static str; 6] = ["means", "log_scales", "rot_left", "rot_right", "opacity", "sh"];

    pub fn from_array([means, log_scales, rot_left, rot_right, opacity, sh]: [T; 6]) -> Self {
        Self { means, log_scales, rot_left, rot_right, opacity, sh }
    }

    /// The values in the order of `NAMES`.
    pub fn into_array(self) -> [T; 6] {
        [self.means, self.log_scales, self.rot_left, self.rot_right, self.opacity, self.sh]
    }

    pub fn as_ref(&self) -> ParamGroups<&T> {
        ParamGroups {
            means: &self.means,
            log_scales: &self.log_scales,
            rot_left: &self.rot_left,
            rot_right: &self.rot_right,
            opacity: &self.opacity,
            sh: &self.sh,
        }
    }

    pub fn as_mut(&mut self) -> ParamGroups<&mut T> {
        ParamGroups {
            means: &mut self.means,
            log_scales: &mut self.log_scales,
            rot_left: &mut self.rot_left,
            rot_right: &mut self.rot_right,
            opacity: &mut self.opacity,
            sh: &mut self.sh,
        }
    }

    /// `f` applied to each group's value, in the order of `NAMES`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> ParamGroups<U> {
        ParamGroups::from_array(self.into_array().map(f))
    }

    /// Pairs each group's value with the same group's value in `other`.
    pub fn zip<U>(self, other: ParamGroups<U>) -> ParamGroups<(T, U)> {
        let mut other = other.into_array().into_iter();
        self.map(|t| (t, other.next().expect("six groups")))
    }

    /// `(name, value)` for each group, in order.
    pub fn named(self) -> impl Iterator<Item = (&'static str, T)> {
        Self::NAMES.into_iter().zip(self.into_array())
    }
}

impl<A, B> ParamGroups<(A, B)> {
    pub fn unzip(self) -> (ParamGroups<A>, ParamGroups<B>) {
        let [a0, a1, a2, a3, a4, a5] = self.into_array();
        (
            ParamGroups::from_array([a0.0, a1.0, a2.0, a3.0, a4.0, a5.0]),
            ParamGroups::from_array([a0.1, a1.1, a2.1, a3.1, a4.1, a5.1]),
        )
    }
}

impl ParamGroups<&'static str> {
    /// Each group's name ("means", ...).
    pub fn names() -> Self {
        Self::from_array(Self::NAMES)
    }
}

impl ParamGroups<usize> {
    /// Values per splat in each group, for spherical harmonics of `sh_degree`.
    pub fn widths(sh_degree: u32) -> Self {
        let sh = super::sh_coeffs(sh_degree) * 3;
        Self { means: 4, log_scales: 4, rot_left: 4, rot_right: 4, opacity: 1, sh }
    }
}

#[cfg(test)]
mod tests {
    use super::ParamGroups;

    #[test]
    fn map_zip_and_unzip_keep_each_value_with_its_group() {
        let g = ParamGroups::from_array([0, 1, 2, 3, 4, 5]);
        assert_eq!((g.means, g.opacity, g.sh), (0, 4, 5));
        let names: Vec<_> = g.named().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(names[3], "rot_right=3");
        let (a, b) = g.zip(g.map(|v| v * 10)).unzip();
        assert_eq!(a, g);
        assert_eq!(b.log_scales, 10);
    }
}
