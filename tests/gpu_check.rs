//! `efficient4d gpu --check` on this machine's adapter (lavapipe in CI): every check passes, and the
//! report says each error beside its tolerance.

mod common;

#[test]
fn every_check_passes_on_this_device() {
    let report = efficient4d::gpu_check::run_checks(&common::gpu(), None).unwrap();
    eprintln!("{}", report.describe());
    assert!(report.passed(), "{}", report.describe());
    // Both passes in every shader variant the device runs, then the loss, the op and the stored render.
    let variants = efficient4d::gpu_check::shader_variants(&common::gpu()).len();
    assert_eq!(report.checks.len(), 2 * variants + 4);
    assert!(report.checks.iter().all(|c| c.error.is_finite() && c.error <= c.tolerance), "{report:?}");
}

#[test]
fn the_cli_check_passes_with_4_lane_subgroups_too() {
    // lavapipe's vector width sets its subgroup size (256 bits: 8 lanes, 128: 4), so subgroup-size
    // generic code is exercised at a second size; other drivers ignore the variable.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_efficient4d"))
        .args(["gpu", "--check"])
        .env("LP_NATIVE_VECTOR_WIDTH", "128")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("all 12 checks passed") || !text.contains("llvmpipe"), "{text}");
    if text.contains("llvmpipe") {
        assert!(text.lines().next().unwrap().contains("subgroups: 4 lanes"), "{text}");
    }
}
