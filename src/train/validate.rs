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
}

/// The rules, each a test on the value (as f64 where numeric) and the words shown when it fails.
mod rule {
    pub fn non_negative(x: f64) -> bool {
        x.is_finite() && x >= 0.0
    }
    pub const NON_NEGATIVE: &str = "must be a finite number ≥ 0";
    pub fn positive(x: f64) -> bool {
        x.is_finite() && x > 0.0
    }
    pub const POSITIVE: &str = "must be a finite number > 0";
    pub fn share(x: f64) -> bool {
        (0.0..=1.0).contains(&x)
    }
    pub const SHARE: &str = "must be a share in 0..=1";
    pub fn splat_count(n: usize) -> bool {
        (1..=super::MAX_SPLATS_LIMIT).contains(&n)
    }
    /// Spelled out from `MAX_SPLATS_LIMIT` and `MAX_SH_DEGREE` (checked by a test).
    pub const SPLAT_COUNT: &str = "must be in 1..=20000000";
    pub const SH_DEGREE: &str = "must be 0..=3";
}

/// `check!(checker, self, path.to.field, test, RULE)`: the setting's key is the field's path as written,
/// so it is the path `--set` takes and cannot drift from the struct (a test sets every key).
macro_rules! check {
    ($c:expr, $cfg:ident, $($field:ident).+, $test:expr, $rule:expr) => {{
        let value = $cfg.$($field).+;
        #[allow(clippy::redundant_closure_call)]
        let ok = ($test)(value);
        $c.check(stringify!($($field).+), value, ok, $rule)
    }};
}

impl TrainConfig {
    /// The first setting out of its range, if any.
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        use rule::*;
        let c = &mut Checker(None);
        let f = |x: f32| x as f64;
        check!(c, self, iterations, |n| n >= 1, "must be at least 1");
        check!(c, self, batch_views, |n| n >= 1, "must be at least 1");
        check!(c, self, init_points, splat_count, SPLAT_COUNT);
        check!(c, self, init_time_scale, |x| positive(f(x)), POSITIVE);
        check!(c, self, end_balance, |x| non_negative(f(x)), NON_NEGATIVE);
        check!(c, self, end_balance_spacings, |x| positive(f(x)), POSITIVE);
        check!(c, self, sh_degree, |d| d <= crate::gaussians::MAX_SH_DEGREE, SH_DEGREE);
        for v in self.background {
            c.check("background", v, share(f(v)), SHARE);
        }
        check!(c, self, lr.position_init, positive, POSITIVE);
        check!(c, self, lr.position_final_ratio, |x| positive(x) && x <= 1.0, "must be in (0, 1]");
        check!(c, self, lr.position_decay_fraction, share, SHARE);
        check!(c, self, lr.time_per_spacing, non_negative, NON_NEGATIVE);
        check!(c, self, lr.time_max, non_negative, NON_NEGATIVE);
        check!(c, self, lr.color, non_negative, NON_NEGATIVE);
        check!(c, self, lr.opacity, non_negative, NON_NEGATIVE);
        check!(c, self, lr.scale, non_negative, NON_NEGATIVE);
        check!(c, self, lr.rotation, non_negative, NON_NEGATIVE);
        check!(c, self, loss.ssim, |x| share(f(x)), SHARE);
        check!(c, self, loss.mask, |x| non_negative(f(x)), NON_NEGATIVE);
        check!(c, self, loss.time_floor, |x| non_negative(f(x)), NON_NEGATIVE);
        check!(c, self, loss.time_floor_spacings, |x| non_negative(f(x)), NON_NEGATIVE);
        check!(c, self, loss.time_floor_end_boost, |x| non_negative(f(x)), NON_NEGATIVE);
        check!(c, self, loss.motion, |x| non_negative(f(x)), NON_NEGATIVE);
        check!(c, self, loss.motion_neighbours, |k| (1..=64).contains(&k), "must be 1..=64");
        check!(c, self, input_view_weight, |x| non_negative(f(x)), NON_NEGATIVE);
        check!(c, self, coarse_share, |x| share(f(x)), SHARE);
        let d = &self.densify;
        check!(c, self, densify.start_fraction, |x| share(f(x)), SHARE);
        check!(c, self, densify.end_fraction, |x| share(f(x)), SHARE);
        check!(c, self, densify.end_fraction, |x| x >= d.start_fraction, "must not be before densify.start_fraction");
        check!(c, self, densify.interval, |n| n >= 1, "must be at least 1");
        check!(c, self, densify.grow_fraction, |x| share(f(x)), SHARE);
        check!(c, self, densify.split_scale, |x| positive(f(x)), POSITIVE);
        check!(
            c,
            self,
            densify.prune_opacity,
            |x| (0.0..1.0).contains(&x),
            "must be in 0..1 (1 would prune every splat)"
        );
        check!(c, self, densify.max_splats, splat_count, SPLAT_COUNT);
        c.0.take().map_or(Ok(()), Err)
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

    #[test]
    fn the_limits_are_spelled_from_their_constants() {
        assert_eq!(rule::SPLAT_COUNT, format!("must be in 1..={MAX_SPLATS_LIMIT}"));
        assert_eq!(rule::SH_DEGREE, format!("must be 0..={}", crate::gaussians::MAX_SH_DEGREE));
    }

    /// Every key a rule can name is a path `--set` accepts: break each setting in turn and set the
    /// named key back to its default through `--set`.
    #[test]
    fn every_key_named_is_a_set_path() {
        let breakers: Vec<fn(&mut TrainConfig)> = vec![
            |c| c.iterations = 0,
            |c| c.init_time_scale = -1.0,
            |c| c.lr.position_final_ratio = 2.0,
            |c| c.lr.time_max = -1.0,
            |c| c.loss.motion_neighbours = 0,
            |c| c.loss.time_floor_end_boost = -1.0,
            |c| c.input_view_weight = -1.0,
            |c| c.densify.split_scale = 0.0,
            |c| c.densify.max_splats = 0,
            |c| c.densify.interval = 0,
        ];
        for brk in breakers {
            let mut c = TrainConfig::default();
            brk(&mut c);
            let key = c.validate().unwrap_err().key;
            let default = serde_json::to_value(TrainConfig::default()).unwrap();
            let value = key.split('.').fold(&default, |v, k| &v[k]);
            let fixed = crate::train::overrides::apply_overrides(&c, &[format!("{key}={value}")])
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            fixed.validate().unwrap_or_else(|e| panic!("{key} set back, still: {e}"));
        }
    }
}
