//! `efficient4d weights` (what is installed, where) and `weights get` (download, check, install).

use crate::cli::WeightsChoice;
use efficient4d::pipeline::weights::{Installed, install, status};
use efficient4d::weights::download::{Phase, human_bytes};
use efficient4d::weights::{self, hub};
use indicatif::{ProgressBar, ProgressStyle};

/// `efficient4d weights`: each known weight file — installed, partly downloaded or missing — and the
/// folders searched.
pub fn list() -> anyhow::Result<()> {
    println!("weights are looked for in (first match wins; `weights get` installs into the first):");
    for dir in weights::search_folders() {
        println!("  {}", dir.display());
    }
    println!("(set {} to add a folder in front)", weights::WEIGHTS_ENV);
    for w in weights::ALL {
        match status(&w) {
            Installed::Yes { path, bytes } => {
                println!("installed: {} — {} ({})", w.what, path.display(), human_bytes(bytes))
            }
            Installed::Partial { path, bytes, total } => println!(
                "partial:   {} — {} of {} in {} (`efficient4d weights get {}` goes on)",
                w.what,
                human_bytes(bytes),
                human_bytes(total),
                path.display(),
                w.id
            ),
            Installed::No => println!(
                "missing:   {} — `efficient4d weights get {}` (from {} on {})",
                w.what,
                w.id,
                w.hub.repo,
                hub::endpoint()
            ),
        }
    }
    Ok(())
}

/// `efficient4d weights get`: downloads what is missing (or everything under `force`), with a
/// progress bar; Ctrl-C stops and keeps the partial file.
pub fn get(which: WeightsChoice, force: bool) -> anyhow::Result<()> {
    let control = super::interrupt_control();
    for w in which.files() {
        if let (Installed::Yes { path, bytes }, false) = (status(&w), force) {
            println!("{} is installed: {} ({}); --force fetches it again", w.what, path.display(), human_bytes(bytes));
            continue;
        }
        println!("{}: {} from {} on {}", w.what, w.file_name, w.hub.repo, hub::endpoint());
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} [{binary_bytes_per_sec}, {eta} left]")
                .expect("valid template"),
        );
        let mut phase = None;
        let result = install(&w, control.cancel_flag(), &mut |p| {
            bar.set_length(p.total);
            bar.set_position(p.done);
            if phase != Some(p.phase) {
                phase = Some(p.phase);
                bar.set_message(p.phase.what());
                if p.phase == Phase::Downloading {
                    // The rate and time left count this attempt's bytes only, not those kept from before.
                    bar.reset_eta();
                }
            }
        });
        bar.finish_and_clear();
        let path = result?;
        println!("installed {} ({})", path.display(), human_bytes(std::fs::metadata(&path)?.len()));
    }
    Ok(())
}
