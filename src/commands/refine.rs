//! `refine` (interpolation + confidence maps between the stages) and `weights` (what is installed).

use crate::cli::RefineArgs;
use crate::gpu::GpuContext;
use crate::interpolate::{Interpolator, RefineSummary, refine_matrix};
use crate::weights;
use burn::tensor::Device;
use indicatif::ProgressBar;
use std::path::Path;

/// Where network inference runs: the shared GPU when it is a real one; on a CPU Vulkan driver burn's
/// CPU backend, which runs convolutions several times faster than lavapipe does.
pub fn inference_device(gpu: Option<&GpuContext>) -> anyhow::Result<Device> {
    match gpu {
        Some(g) if !g.is_cpu_driver() => Ok(g.burn_device()?),
        _ => Ok(Device::flex()),
    }
}

/// Refines the matrix in `matrix` as `args` says, with a progress bar unless `quiet`.
pub fn refine_with(
    matrix: &Path,
    args: &RefineArgs,
    gpu: Option<&GpuContext>,
    quiet: bool,
) -> anyhow::Result<Option<RefineSummary>> {
    if args.new_frames == 0 && args.confidence.metric().is_none() {
        return Ok(None);
    }
    let interp = Interpolator::new(args.interpolator, &inference_device(gpu)?)?;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_message(format!("refining the matrix ({} interpolation, confidence maps)", interp.name()));
    let cancel = super::interrupt_flag();
    let summary = refine_matrix(matrix, &interp, &args.options(), &cancel, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    if !quiet {
        print_summary(&summary);
    }
    Ok(Some(summary))
}

fn print_summary(s: &RefineSummary) {
    println!(
        "refined: {} key frames → {} frames × {} views ({} interpolation) in {:.1} s",
        s.key_frames, s.frames, s.views, s.interpolation, s.seconds
    );
    if let Some(c) = s.mean_object_confidence {
        print!("confidence on the object: {:.3} on average", c);
        if let Some((f, least)) = s.least_trusted_frame {
            print!(", lowest in frame {f} ({least:.3})");
        }
        println!();
    }
}

pub fn refine(matrix: &Path, args: &RefineArgs, json: bool) -> anyhow::Result<()> {
    let gpu = GpuContext::headless().ok();
    match refine_with(matrix, args, gpu.as_deref(), json)? {
        Some(summary) if json => println!("{}", serde_json::to_string_pretty(&summary)?),
        Some(_) => {}
        None => println!("nothing to do (--new-frames 0 --confidence none)"),
    }
    Ok(())
}

/// `efficient4d weights`: each known weight file, where it was found or where it is looked for.
pub fn weights() -> anyhow::Result<()> {
    println!("weights are looked for in (first match wins):");
    for dir in weights::search_folders() {
        println!("  {}", dir.display());
    }
    println!("(set {} to add a folder in front)", weights::WEIGHTS_ENV);
    for w in weights::ALL {
        match weights::find(&w) {
            Some(path) => {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                println!("installed: {} — {} ({:.1} MB)", w.what, path.display(), size as f64 / 1e6);
            }
            None => println!("missing:   {} — {} (from {})", w.what, w.file_name, w.source),
        }
    }
    Ok(())
}
