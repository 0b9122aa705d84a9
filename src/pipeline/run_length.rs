//! How long a training run is planned to be and when it stops, as every command that trains takes it
//! (`--iters`, `--budget`, `--autosave`): the one rule from those flags to a [`TrainSpec`].

use super::stopping::{Plateau, StopRule};
use super::training::{TrainSpec, TrainStart};
use crate::train::TrainConfig;

/// How long a training run is planned to be, and when it stops.
#[derive(Debug, Clone, clap::Args)]
pub struct RunLength {
    /// Run exactly this many training steps (default: until the held-out views stop improving, at
    /// most the trainer's cap, on a plan fitted to 8 minutes). With `--resume`: the new total.
    #[arg(long = "iters", value_name = "N")]
    pub iters: Option<u32>,
    /// Wall time training may take, e.g. `90s`, `10m`, `1h30m`: the plan is fitted to it from the
    /// measured step time, so the schedules end with the budget (default without `--iters`: 8m).
    #[arg(long, value_name = "DURATION", value_parser = super::stopping::parse_duration)]
    pub budget: Option<std::time::Duration>,
    /// Save the model and the training state this often while training, e.g. `30s` or `5m` (default:
    /// every 2 minutes), and whenever the plan changes; `off`: only at the end. After a crash or a
    /// kill, `--resume` goes on from the last save.
    #[arg(long, value_name = "DURATION|off", value_parser = parse_autosave)]
    pub autosave: Option<Autosave>,
}

/// `--autosave`: a cadence, or none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Autosave {
    Off,
    Every(std::time::Duration),
}

fn parse_autosave(text: &str) -> Result<Autosave, String> {
    if text.trim() == "off" {
        return Ok(Autosave::Off);
    }
    super::stopping::parse_duration(text).map(Autosave::Every)
}

impl RunLength {
    /// `settings` with the planned length applied.
    pub fn apply(&self, mut settings: TrainConfig) -> TrainConfig {
        if let Some(n) = self.iters {
            settings.iterations = n;
        }
        settings
    }

    /// When the run stops: a count given is run in full; otherwise at a plateau of held-out views.
    pub fn stop_rule(&self) -> StopRule {
        match self.iters {
            // A forced count runs in full, within the budget when one is given.
            Some(_) => StopRule { budget: self.budget, plateau: None },
            None => StopRule { budget: self.budget.or(StopRule::default().budget), plateau: Some(Plateau::default()) },
        }
    }

    /// Training from `start`, stopping as these flags say.
    pub fn train_spec(&self, start: TrainStart) -> TrainSpec {
        let defaults = TrainSpec::new(start);
        let autosave_every = match self.autosave {
            None => defaults.autosave_every,
            Some(Autosave::Off) => None,
            Some(Autosave::Every(every)) => Some(every),
        };
        TrainSpec { stop: self.stop_rule(), autosave_every, ..defaults }
    }
}
