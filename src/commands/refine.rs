//! `refine`: interpolation + confidence maps between the stages.

use super::progress::Progress;
use crate::cli::RefineArgs;
use efficient4d::gpu::GpuContext;
use std::path::Path;

/// `refine`: the refinement of a generated matrix, in place.
pub fn refine(matrix: &Path, args: &RefineArgs, json: bool) -> anyhow::Result<()> {
    // Without a GPU the networks run on the CPU backend: a missing Vulkan driver is no reason to stop.
    let gpu = GpuContext::headless().ok();
    let control = super::interrupt_control();
    match efficient4d::pipeline::stage1::refine(
        gpu.as_deref(),
        matrix,
        &args.spec(),
        &control,
        &mut Progress::new(json),
    )? {
        Some(summary) if json => println!("{}", serde_json::to_string_pretty(&summary)?),
        Some(_) => {}
        None => println!("nothing to do (--new-frames 0 --confidence none)"),
    }
    Ok(())
}
