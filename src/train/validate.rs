//! Range checks of a `TrainConfig`, whichever way it was made (flags, `--set`, the app, a library
//! caller): a bad value is refused before any GPU work, by the setting's path in the checkpoint's
//! `settings` JSON, instead of surfacing later as NaN or a silent no-op.

use super::TrainConfig;

/// Splats a run may start with or grow to: beyond this the per-splat buffers (~100 floats each with
/// gradients and Adam moments) no longer fit a desktop GPU, so it is refused up front.
pub const MAX_SPLATS_LIMIT: usize = 20_000_000;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("training setting {key} = {value}: {rule}")]
pub struct InvalidSetting {
    /// The setting's path, as `train --set` takes it.
    pub key: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// Collects the first broken rule.
struct Checker(Option<InvalidSetting>);

impl Checker {
    fn check(&mut self, key: &'static str, value: impl std::fmt::Display, ok: bool, rule: &'static str) {
        if self.0.is_none() && !ok {
            self.0 = Some(InvalidSetting { key, value: value.to_string(), rule });
        }
    }

    /// A finite, non-negative rate or weight.
    fn non_negative<T: Into<f64> + std::fmt::Display + Copy>(&mut self, key: &'static str, v: T) {
        let x: f64 = v.into();
        self.check(key, v, x.is_finite() && x >= 0.0, "must be a finite number ≥ 0");
    }

    fn positive<T: Into<f64> + std::fmt::Display + Copy>(&mut self, key: &'static str, v: T) {
        let x: f64 = v.into();
        self.check(key, v, x.is_finite() && x > 0.0, "must be a finite number > 0");
    }

    fn share<T: Into<f64> + std::fmt::Display + Copy>(&mut self, key: &'static str, v: T) {
        self.check(key, v, (0.0..=1.0).contains(&v.into()), "must be a share in 0..=1");
    }
}

impl TrainConfig {
    /// The first setting out of its range, if any.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let mut c = Checker(None);
        c.check("iterations", self.iterations, self.iterations >= 1, "must be at least 1");
        c.check("batch_views", self.batch_views, self.batch_views >= 1, "must be at least 1");
        c.check(
            "init_points",
            self.init_points,
            (1..=MAX_SPLATS_LIMIT).contains(&self.init_points),
            "must be in 1..=20000000",
        );
        c.positive("init_time_scale", self.init_time_scale);
        c.non_negative("end_balance", self.end_balance);
        c.positive("end_balance_spacings", self.end_balance_spacings);
        c.check("sh_degree", self.sh_degree, self.sh_degree <= 3, "must be 0..=3");
        for v in self.background {
            c.share("background", v);
        }
        let lr = &self.lr;
        c.positive("lr.position_init", lr.position_init);
        c.positive("lr.position_final", lr.position_final);
        c.share("lr.position_decay_fraction", lr.position_decay_fraction);
        c.non_negative("lr.time_per_spacing", lr.time_per_spacing);
        c.non_negative("lr.time_max", lr.time_max);
        c.non_negative("lr.color", lr.color);
        c.non_negative("lr.opacity", lr.opacity);
        c.non_negative("lr.scale", lr.scale);
        c.non_negative("lr.rotation", lr.rotation);
        c.share("loss.ssim", self.loss.ssim);
        c.non_negative("loss.mask", self.loss.mask);
        c.non_negative("loss.time_floor", self.loss.time_floor);
        c.non_negative("loss.time_floor_spacings", self.loss.time_floor_spacings);
        c.non_negative("loss.time_floor_end_boost", self.loss.time_floor_end_boost);
        c.non_negative("loss.motion", self.loss.motion);
        c.check(
            "loss.motion_neighbours",
            self.loss.motion_neighbours,
            (1..=64).contains(&self.loss.motion_neighbours),
            "must be 1..=64",
        );
        c.non_negative("input_view_weight", self.input_view_weight);
        let d = &self.densify;
        c.share("densify.start_fraction", d.start_fraction);
        c.share("densify.end_fraction", d.end_fraction);
        c.check(
            "densify.end_fraction",
            d.end_fraction,
            d.end_fraction >= d.start_fraction,
            "must not be before densify.start_fraction",
        );
        c.check("densify.interval", d.interval, d.interval >= 1, "must be at least 1");
        c.share("densify.grow_fraction", d.grow_fraction);
        c.positive("densify.split_scale", d.split_scale);
        c.check(
            "densify.prune_opacity",
            d.prune_opacity,
            (0.0..1.0).contains(&d.prune_opacity),
            "must be in 0..1 (1 would prune every splat)",
        );
        c.check(
            "densify.max_splats",
            d.max_splats,
            (1..=MAX_SPLATS_LIMIT).contains(&d.max_splats),
            "must be in 1..=20000000",
        );
        c.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        TrainConfig::default().validate().unwrap();
    }

    #[test]
    fn each_kind_of_bad_value_names_its_setting() {
        let bad = |f: &dyn Fn(&mut TrainConfig)| {
            let mut c = TrainConfig::default();
            f(&mut c);
            c.validate().unwrap_err().key
        };
        assert_eq!(bad(&|c| c.densify.grow_fraction = 5.0), "densify.grow_fraction");
        assert_eq!(bad(&|c| c.lr.color = f64::NAN), "lr.color");
        assert_eq!(bad(&|c| c.lr.position_init = 0.0), "lr.position_init");
        assert_eq!(bad(&|c| c.sh_degree = 4), "sh_degree");
        assert_eq!(bad(&|c| c.batch_views = 0), "batch_views");
        assert_eq!(bad(&|c| c.init_points = MAX_SPLATS_LIMIT + 1), "init_points");
        assert_eq!(bad(&|c| c.background = [1.0, -0.1, 1.0]), "background");
        assert_eq!(bad(&|c| c.init_time_scale = f32::INFINITY), "init_time_scale");
        assert_eq!(bad(&|c| c.end_balance = -1.0), "end_balance");
        assert_eq!(bad(&|c| c.end_balance_spacings = 0.0), "end_balance_spacings");
        assert_eq!(
            bad(&|c| {
                c.densify.start_fraction = 0.7;
                c.densify.end_fraction = 0.5
            }),
            "densify.end_fraction"
        );
        assert_eq!(bad(&|c| c.densify.prune_opacity = 1.0), "densify.prune_opacity");
        let e = {
            let mut c = TrainConfig::default();
            c.loss.ssim = 2.0;
            c.validate().unwrap_err()
        };
        assert_eq!(e.to_string(), "training setting loss.ssim = 2: must be a share in 0..=1");
    }
}
