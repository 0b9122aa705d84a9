//! When a training run ends: at its planned length, when the held-out decision views stop improving
//! (then after a short finish at the final learning rate), when its time budget is spent, or when the
//! driver cancels. The plan shrinks to fit a budget from the measured step time, so the schedules
//! (learning-rate decay, densification window) are laid over the steps the run will really take.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a run decides to stop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopRule {
    /// Wall time the training stage may take (steps, evaluations and snapshots together).
    pub budget: Option<Duration>,
    /// Stop once more steps no longer pay (`None`: run the planned length, as `--iters` forces).
    pub plateau: Option<Plateau>,
}

impl Default for StopRule {
    /// Neither a step count nor a budget given: a plateau ends the run, and the plan is fitted to
    /// the default training time from the measured step time.
    fn default() -> Self {
        Self { budget: Some(super::plan::DEFAULT_TRAIN_TIME), plateau: Some(Plateau::default()) }
    }
}

/// A plateau of the decision views' PSNR: checked every `every` steps; reached when the best of the
/// last `patience` checks beats the best before them by less than `min_gain_db`. The run then
/// finishes with `finish_share` of the steps taken so far (at least `every`) on a plan that ends there,
/// so the learning rates decay as at the end of a planned run. On the ring benchmark a finish of 0.2
/// lost 2.5 dB against a forced 3000-step run, 0.5 lost 0.7 dB, 1.0 lost 0.1 dB in 2/3 of the time
/// (docs/training.md): the plateau comes mid-densification, and the model needs as long again to settle.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    pub every: u32,
    pub patience: usize,
    pub min_gain_db: f64,
    pub finish_share: f64,
}

impl Default for Plateau {
    fn default() -> Self {
        Self { every: 100, patience: 3, min_gain_db: 0.1, finish_share: 1.0 }
    }
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StopReason {
    /// It ran the planned length (`--iters`, or the default cap without a plateau).
    Planned,
    /// The decision views stopped improving at `at_step` (best `psnr` dB); the finish then ran to the end.
    Converged { at_step: u32, psnr: f64 },
    /// The plan was fitted to the time budget (given, or the default training time) and ran to its end.
    Budget,
    /// The budget ran out at `at_step`, before the end of the `planned` steps (a step far slower than
    /// those the plan was fitted to): the run is cut, not complete.
    OutOfTime { at_step: u32, planned: u32 },
    /// The driver cancelled (Ctrl-C, Cancel).
    Cancelled,
}

impl StopReason {
    pub fn describe(&self) -> String {
        match self {
            Self::Planned => "ran the planned steps".into(),
            Self::Converged { at_step, psnr } => {
                format!("converged at step {at_step} (held-out decision views {psnr:.2} dB), then finished")
            }
            Self::Budget => "ran the plan fitted to the time budget".into(),
            Self::OutOfTime { at_step, planned } => {
                format!("out of time at step {at_step} of the {planned} planned")
            }
            Self::Cancelled => "cancelled".into(),
        }
    }
}

/// The plateau test over a run's decision PSNRs, one per check.
#[derive(Clone, Debug, Default)]
pub(crate) struct PlateauWatch {
    history: Vec<f64>,
}

impl PlateauWatch {
    /// Records a check; true when the plateau `p` is reached.
    pub fn record(&mut self, psnr: f64, p: &Plateau) -> bool {
        self.history.push(psnr);
        let n = self.history.len();
        if n <= p.patience {
            return false;
        }
        let best = |s: &[f64]| s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (before, recent) = self.history.split_at(n - p.patience);
        best(recent) - best(before) < p.min_gain_db
    }

    pub(crate) fn best(&self) -> f64 {
        self.history.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }
}

/// The longest plan (never more than `cap`, never before `step` + 1) whose steps after `step` fit in
/// `remaining` wall time, where `seconds_left(plan)` is what they would take under that plan (it
/// grows with the plan).
pub(crate) fn fit_to_budget(step: u32, cap: u32, remaining: Duration, seconds_left: impl Fn(u32) -> f64) -> u32 {
    let budget = remaining.as_secs_f64();
    let (mut lo, mut hi) = (step + 1, cap.max(step + 1));
    if seconds_left(hi) <= budget {
        return hi;
    }
    // The last plan that fits lies in [lo, hi).
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if seconds_left(mid) <= budget { lo = mid } else { hi = mid }
    }
    lo
}

/// A refitted plan must beat the current one by this share before the run lengthens: the step time
/// is noisy, and a plan that grows and shrinks by a few steps at every refit only stirs the
/// learning-rate schedule.
pub(crate) const GROW_MARGIN: f64 = 0.05;

/// The plan to lay the rest of a run over, given the `current` one and the longest that fits the
/// budget (`fitted`, within the cap). It shrinks at once; it grows only by more than [`GROW_MARGIN`]
/// (the first estimate of a full-resolution step is a guess from the coarse ones, and the first
/// steps carry the kernels' compilation, so early plans come out short), and never so far that a run
/// already at full resolution would fall back into its coarse share.
pub(crate) fn refit(current: u32, fitted: u32, step: u32, coarse_share: f64, now_coarse: bool) -> u32 {
    if fitted <= current {
        return fitted;
    }
    let ceiling = if !now_coarse && coarse_share > 0.0 {
        // The coarse share ends at ceil(share × plan) steps; it must stay at or before `step`.
        (step as f64 / coarse_share).floor() as u32
    } else {
        u32::MAX
    };
    let grown = fitted.min(ceiling);
    if (grown as f64) > current as f64 * (1.0 + GROW_MARGIN) { grown } else { current }
}

/// How long a step takes at each resolution, measured as a run goes (`--coarse` steps render a
/// quarter of the pixels). Until a full-resolution step has been timed, it is estimated from the
/// coarse ones by [`FULL_OVER_COARSE_STEP`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StepClock {
    coarse: (f64, u32),
    full: (f64, u32),
}

/// A full-resolution step over a half-resolution one: 2.25 on the refined demo matrix (1000 steps:
/// 462 s at full resolution throughout, 334 s with the first half coarse; docs/speed.md).
pub(crate) const FULL_OVER_COARSE_STEP: f64 = 2.25;

impl StepClock {
    pub fn record(&mut self, coarse: bool, seconds: f64) {
        let slot = if coarse { &mut self.coarse } else { &mut self.full };
        slot.0 += seconds;
        slot.1 += 1;
    }

    /// Seconds per (coarse, full) step; None before any step.
    pub(crate) fn per_step(&self) -> Option<(f64, f64)> {
        let mean = |(s, n): (f64, u32)| (n > 0).then(|| s / n as f64);
        match (mean(self.coarse), mean(self.full)) {
            (_, Some(full)) => Some((mean(self.coarse).unwrap_or(full / FULL_OVER_COARSE_STEP), full)),
            (Some(coarse), None) => Some((coarse, coarse * FULL_OVER_COARSE_STEP)),
            (None, None) => None,
        }
    }

    /// Seconds the steps after `step` take under a plan of `plan` steps whose first `coarse_share`
    /// are coarse, times `overhead` (wall time over step time: evaluations, snapshots).
    pub(crate) fn seconds_left(&self, step: u32, plan: u32, coarse_share: f64, overhead: f64) -> f64 {
        let Some((coarse, full)) = self.per_step() else { return 0.0 };
        let coarse_end = ((coarse_share * plan as f64).ceil() as u32).min(plan);
        let coarse_left = coarse_end.saturating_sub(step);
        let full_left = plan.saturating_sub(step.max(coarse_end));
        overhead * (coarse_left as f64 * coarse + full_left as f64 * full)
    }
}

/// Parses a duration as `90s`, `10m`, `1h30m` or plain seconds (`--budget`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds, text);
    }
    let (mut total, mut number) = (0.0f64, String::new());
    for c in text.chars() {
        match c {
            '0'..='9' | '.' => number.push(c),
            'h' | 'm' | 's' => {
                let n: f64 = number.parse().map_err(|_| format!("`{text}`: a number must come before `{c}`"))?;
                total += n * match c {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
                number.clear();
            }
            _ => return Err(format!("`{text}`: expected a duration like 90s, 10m or 1h30m")),
        }
    }
    if !number.is_empty() {
        return Err(format!("`{text}`: `{number}` needs a unit (h, m or s)"));
    }
    seconds_to_duration(total, text)
}

fn seconds_to_duration(seconds: f64, text: &str) -> Result<Duration, String> {
    if seconds.is_finite() && seconds > 0.0 && seconds < 1e9 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!("`{text}`: the budget must be a positive time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plateau_is_a_stall_of_the_best_over_the_last_checks() {
        let p = Plateau { every: 100, patience: 3, min_gain_db: 0.1, finish_share: 0.2 };
        let mut w = PlateauWatch::default();
        // Rising: never a plateau, whatever the noise.
        for psnr in [20.0, 24.0, 26.0, 25.5, 27.0, 27.5] {
            assert!(!w.record(psnr, &p), "{psnr}");
        }
        // Three checks no better than 27.5 + 0.1: a plateau.
        assert!(!w.record(27.55, &p));
        assert!(!w.record(27.4, &p));
        assert!(w.record(27.58, &p));
        assert_eq!(w.best(), 27.58);
        // Too few checks to judge.
        let mut short = PlateauWatch::default();
        assert!(!short.record(30.0, &p) && !short.record(30.0, &p) && !short.record(30.0, &p));
        assert!(short.record(30.0, &p));
    }

    #[test]
    fn the_plan_fits_the_budget_and_its_cap() {
        let flat = |plan: u32| (plan - 100) as f64 * 0.5;
        assert_eq!(fit_to_budget(100, 3000, Duration::from_secs(50), flat), 200);
        assert_eq!(fit_to_budget(100, 150, Duration::from_secs(50), flat), 150);
        assert_eq!(fit_to_budget(100, 3000, Duration::ZERO, flat), 101);
        // Coarse steps at a quarter of the cost: the plan counts them at their own price.
        let mut clock = StepClock::default();
        for _ in 0..10 {
            clock.record(true, 0.1);
        }
        let (coarse, full) = clock.per_step().unwrap();
        assert!((coarse - 0.1).abs() < 1e-12 && (full - 0.1 * FULL_OVER_COARSE_STEP).abs() < 1e-12);
        clock.record(false, 0.4);
        let (coarse, full) = clock.per_step().unwrap();
        assert!((coarse - 0.1).abs() < 1e-12 && (full - 0.4).abs() < 1e-12);
        // Plan 1000, half coarse, from step 10: 490 coarse steps (49 s) and 500 full ones (200 s).
        assert!((clock.seconds_left(10, 1000, 0.5, 1.0) - 249.0).abs() < 1e-9);
        let fitted = fit_to_budget(10, 3000, Duration::from_secs(249), |p| clock.seconds_left(10, p, 0.5, 1.0));
        assert_eq!(fitted, 1000);
    }

    #[test]
    fn a_refit_shrinks_at_once_grows_past_a_margin_and_never_reopens_the_coarse_share() {
        // Shrinking: always, by any amount.
        assert_eq!(refit(1000, 990, 300, 0.5, true), 990);
        // Growing by less than the margin: kept as it is.
        assert_eq!(refit(1000, 1040, 300, 0.5, true), 1000);
        // Growing past it while coarse: the coarse share stretches with the plan, as planned.
        assert_eq!(refit(1000, 1200, 300, 0.5, true), 1200);
        // At full resolution from step 500 of 1000 (share 0.5): at step 560 the plan may reach 1120
        // (coarse end 560, this very step), not more.
        assert_eq!(refit(1000, 1300, 560, 0.5, false), 1120);
        // Too early to grow by the margin without reopening the coarse share: the plan stays.
        assert_eq!(refit(1000, 1300, 520, 0.5, false), 1000);
        assert_eq!(refit(1000, 1300, 500, 0.5, false), 1000);
        // No coarse share: the fitted plan, whatever the step.
        assert_eq!(refit(1000, 1300, 560, 0.0, false), 1300);
        // The ceiling keeps the invariant: no step at or after `step` is coarse under the new plan.
        for step in 500..700 {
            let plan = refit(1000, 2000, step, 0.5, false);
            assert!((step as f64) >= 0.5 * plan as f64, "{step} -> {plan}");
        }
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        for bad in ["", "10x", "m", "5m3", "-3", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
