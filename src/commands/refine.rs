//! `refine` (interpolation + confidence maps between the stages) and `weights` (what is installed).

use super::progress::Progress;
use crate::cli::RefineArgs;
use crate::gpu::GpuContext;
use crate::weights;
use std::path::Path;

/// `refine`: the refinement of a generated matrix, in place.
pub fn refine(matrix: &Path, args: &RefineArgs, json: bool) -> anyhow::Result<()> {
    // Without a GPU the networks run on the CPU backend: a missing Vulkan driver is no reason to stop.
    let gpu = GpuContext::headless().ok();
    let control = super::interrupt_control();
    match crate::pipeline::stage1::refine(gpu.as_deref(), matrix, &args.spec(), &control, &mut Progress::new(json))? {
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
