//! The CLI's observer of a pipeline job: progress bars on a terminal, lines for what the user should
//! read, nothing but warnings and evaluation lines (on stderr) under `--json`.

use efficient4d::pipeline::{Event, Observer, Stage};
use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    /// `--json`: stdout carries one JSON object only.
    quiet: bool,
    bar: ProgressBar,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Self { quiet, bar: ProgressBar::hidden() }
    }

    /// A progress line above the bar (or on stderr when the bar is hidden, under `--json` or when
    /// stderr is no terminal: a long run's progress still shows, and stdout keeps only results).
    fn progress_line(&self, text: &str) {
        if self.bar.is_hidden() { eprintln!("{text}") } else { self.bar.println(text) }
    }

    /// A line of result for the user, above the bar or on stdout.
    fn result_line(&self, text: &str) {
        if self.bar.is_hidden() { println!("{text}") } else { self.bar.println(text) }
    }

    fn new_bar(&mut self, bar: ProgressBar) {
        self.bar.finish_and_clear();
        self.bar = if self.quiet { ProgressBar::hidden() } else { bar };
    }
}

impl Observer for Progress {
    fn on_event(&mut self, event: Event) {
        match event {
            Event::StageStarted { stage: Stage::Train, what } => {
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} {msg} [{elapsed_precise} < {eta_precise}, {per_sec}]",
                    )
                    .expect("valid template"),
                );
                self.new_bar(bar);
                if !self.quiet {
                    self.result_line(&format!("training: {what}"));
                }
            }
            Event::StageStarted { what, .. } => {
                let bar = ProgressBar::new_spinner();
                bar.set_message(what);
                self.new_bar(bar);
            }
            Event::Progress { done, total, what, .. } => {
                self.bar.set_length(total as u64);
                self.bar.set_position(done as u64);
                self.bar.set_message(what);
            }
            Event::StageFinished { .. } => self.new_bar(ProgressBar::hidden()),
            Event::Generator { why, .. } if !self.quiet => self.result_line(&format!("stage 1 generator: {why}")),
            Event::Info(text) if !self.quiet => self.result_line(&text),
            Event::Warning(text) => eprintln!("warning: {text}"),
            Event::Step(s) => {
                self.bar.set_length(s.iterations as u64);
                self.bar.set_position(s.iteration as u64);
                self.bar.set_message(format!("loss {:.4} psnr {:.2} splats {}", s.loss, s.psnr, s.splats));
            }
            Event::Evaluated(p) => {
                let probe = p.train_psnr.map(|t| format!("  (train views {t:.2} dB)")).unwrap_or_default();
                self.progress_line(&format!(
                    "step {:6}  {:8.1} s  test PSNR {:.2} dB  SSIM {:.4}{probe}  splats {}",
                    p.step, p.seconds, p.psnr, p.ssim, p.splats
                ));
            }
            _ => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
