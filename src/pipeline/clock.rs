//! The time a training run reads when it fits its plan to a budget, spends the budget, takes
//! snapshots and autosaves: the wall clock, or a step-time model that the caller controls. With a
//! model, time passes only in steps (each takes what the model says), so a test or a what-if plan
//! gets the same arithmetic on any machine, however fast or loaded; the steps themselves still run.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Seconds a step takes under a model: called with the step's number (1-based) and whether it ran at
/// half resolution.
pub type StepTime = Arc<dyn Fn(u32, bool) -> Duration + Send + Sync>;

/// Where a run's time comes from.
#[derive(Clone, Default)]
pub enum RunClock {
    /// The wall clock (every real run).
    #[default]
    Wall,
    /// Time advances by the model's step time at each step and by nothing else (evaluations,
    /// snapshots, saves and pauses are free).
    Modelled(StepTime),
}

impl RunClock {
    /// Every step takes `per_step`.
    pub fn constant(per_step: Duration) -> Self {
        Self::Modelled(Arc::new(move |_, _| per_step))
    }

    /// Starts timing a run now.
    pub(crate) fn start(&self) -> RunTimer {
        RunTimer { origin: Instant::now(), model: self.clone(), modelled: Duration::ZERO }
    }
}

impl fmt::Debug for RunClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Wall => "Wall",
            Self::Modelled(_) => "Modelled",
        })
    }
}

/// A running run's clock.
pub(crate) struct RunTimer {
    origin: Instant,
    model: RunClock,
    modelled: Duration,
}

impl RunTimer {
    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        match self.model {
            RunClock::Wall => self.origin.elapsed(),
            RunClock::Modelled(_) => self.modelled,
        }
    }

    /// Runs step number `step` (`coarse`: at half resolution) and returns its result and its time in
    /// seconds.
    pub fn time_step<R>(&mut self, step: u32, coarse: bool, run: impl FnOnce() -> R) -> (R, f64) {
        let start = Instant::now();
        let result = run();
        let took = match &self.model {
            RunClock::Wall => start.elapsed(),
            RunClock::Modelled(model) => {
                let took = model(step, coarse);
                self.modelled += took;
                took
            }
        };
        (result, took.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modelled_time_passes_only_in_steps() {
        let clock = RunClock::Modelled(Arc::new(|step, coarse| {
            Duration::from_millis(if coarse { 10 } else { 100 } * u64::from(step))
        }));
        let mut timer = clock.start();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(timer.elapsed(), Duration::ZERO);
        let (value, seconds) = timer.time_step(2, true, || 7);
        assert_eq!((value, seconds), (7, 0.02));
        timer.time_step(3, false, || ());
        assert_eq!(timer.elapsed(), Duration::from_millis(320));
        // The wall clock moves by itself.
        let wall = RunClock::Wall.start();
        std::thread::sleep(Duration::from_millis(2));
        assert!(wall.elapsed() >= Duration::from_millis(2));
    }
}
