//! The command line as a user meets it: help, honest "not yet", clear errors with exit code 2, and
//! train → export → eval → render on a small dataset.

mod common;
use std::process::Command;

fn e4d(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_efficient4d"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap()
}

#[test]
fn help_lists_every_subcommand() {
    let out = e4d(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["run", "generate", "train", "export", "render", "eval", "bench", "weights"] {
        assert!(text.contains(sub), "--help lacks {sub}:\n{text}");
    }
}

#[test]
fn unbuilt_stages_say_so_with_exit_code_2() {
    for args in [&["weights"][..], &["bench", "generate"]] {
        let out = e4d(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not implemented yet"), "{args:?}");
    }
}

#[test]
fn bad_input_gets_a_clear_message_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = e4d(&["train", dir.path().to_str().unwrap(), "--out", dir.path().join("o").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no transforms_train.json"));
    let bogus = dir.path().join("model.safetensors");
    std::fs::write(&bogus, b"junk").unwrap();
    let out = e4d(&["export", bogus.to_str().unwrap(), "--out", dir.path().join("ply").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a safetensors checkpoint"));
    assert!(!dir.path().join("ply").exists(), "nothing is written on failure");

    // A text file renamed .mp4, and a missing video: named in the message, nothing written.
    let fake = dir.path().join("holiday.mp4");
    std::fs::write(&fake, b"this is not a video").unwrap();
    let matrix = dir.path().join("matrix");
    for video in [fake.clone(), dir.path().join("missing.mp4")] {
        let out = e4d(&["generate", video.to_str().unwrap(), "--out", matrix.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{video:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(video.file_name().unwrap().to_str().unwrap()), "{err}");
        assert!(!matrix.exists(), "nothing is written on failure");
    }
}

#[test]
fn train_export_eval_and_render_a_small_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    common::write_truth(&data, 32, 2);
    let out = dir.path().join("out");
    let run = e4d(&[
        "train",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--iters",
        "20",
        "--points",
        "500",
        "--json",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    for key in ["psnr", "ssim", "seconds", "iters", "splats", "peak_rss_mb"] {
        assert!(report.get(key).is_some_and(|v| !v.is_null()), "--json lacks {key}: {report}");
    }
    assert_eq!(report["iters"], 20);
    let ckpt = out.join("model.safetensors");
    let ply = dir.path().join("ply");
    let exp = e4d(&["export", ckpt.to_str().unwrap(), "--out", ply.to_str().unwrap(), "--frames", "3"]);
    assert!(exp.status.success(), "{}", String::from_utf8_lossy(&exp.stderr));
    for i in 0..3 {
        assert!(ply.join(format!("frame_{i:04}.ply")).exists());
    }
    let ev = e4d(&["eval", ckpt.to_str().unwrap(), data.to_str().unwrap(), "--json"]);
    assert!(ev.status.success(), "{}", String::from_utf8_lossy(&ev.stderr));
    let ev: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert!((ev["psnr"].as_f64().unwrap() - report["psnr"].as_f64().unwrap()).abs() < 1e-6);
    let renders = dir.path().join("renders");
    let r = e4d(&["render", ckpt.to_str().unwrap(), "--out", renders.to_str().unwrap(), "--size", "32"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read_dir(&renders).unwrap().count(), 2 * 16);
}
