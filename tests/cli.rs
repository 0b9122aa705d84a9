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
fn bench_generate_reports_its_figures_as_json() {
    // The harness on the tiny model (the full-size run takes minutes on a CPU and is run by hand).
    let out = e4d(&["bench", "generate", "--tiny", "--iterations", "1", "--frames", "2", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in
        ["encode_seconds", "spatial_volume_seconds", "unet_seconds", "frustum_seconds", "decode_seconds", "peak_rss_mb"]
    {
        let v = report[key].as_f64().unwrap_or(-1.0);
        assert!(v >= 0.0 && v.is_finite(), "{key}: {}", report[key]);
    }
    assert_eq!(report["model"], "tiny");
    let projected = report["projected"]["seconds"].as_f64().unwrap();
    let guided = report["guided_prediction_seconds"].as_f64().unwrap();
    assert!(projected >= 2.0 * 50.0 * guided, "projection counts every guided prediction of every step");
    assert_eq!(report["view_batch"], 16, "auto takes every view where nothing limits memory");
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
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a safetensors file"));
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
        "--eval-every",
        "10",
        "--set",
        "densify.interval=5",
        "--json",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    for key in ["psnr", "ssim", "seconds", "iters", "splats", "peak_rss_mb"] {
        assert!(report.get(key).is_some_and(|v| !v.is_null()), "--json lacks {key}: {report}");
    }
    assert_eq!(report["iters"], 20);
    // The test-split curve: one point per 10 steps, the last one the final evaluation.
    let curve = report["curve"].as_array().expect("--eval-every adds a curve");
    let steps: Vec<u64> = curve.iter().map(|p| p["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [10, 20]);
    assert_eq!(curve[1]["psnr"], report["psnr"]);
    // Each point also has the PSNR on a probe of training views (the overfitting gap).
    assert!(curve.iter().all(|p| p["train_psnr"].as_f64().is_some_and(f64::is_finite)), "{report}");
    assert_eq!(curve[1]["train_psnr"], report["train_psnr"]);
    assert!(curve[0]["seconds"].as_f64().unwrap() <= curve[1]["seconds"].as_f64().unwrap());
    let ckpt = out.join("model.safetensors");
    // --set reached the trainer: the checkpoint's settings carry it.
    let meta = efficient4d::export::Checkpoint::load(&ckpt).unwrap().meta;
    assert_eq!(meta.settings["densify"]["interval"], 5);
    // A mistyped --set key is an error that names the known keys, and nothing is trained.
    let typo = e4d(&[
        "train",
        data.to_str().unwrap(),
        "--out",
        dir.path().join("typo").to_str().unwrap(),
        "--set",
        "lr.tiem=1",
    ]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&typo.stderr).contains("no such setting"),
        "{}",
        String::from_utf8_lossy(&typo.stderr)
    );
    assert!(!dir.path().join("typo").exists(), "nothing is written on failure");
    // Out-of-range values are refused the same way, by flag or by --set, naming the setting.
    for bad in [&["--set", "densify.grow_fraction=5"][..], &["--grow", "5"], &["--sh-degree", "7"]] {
        let run = e4d(
            &[&["train", data.to_str().unwrap(), "--out", dir.path().join("typo").to_str().unwrap()], bad].concat()
        );
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains("grow_fraction") || err.contains("sh_degree"), "{bad:?}: {err}");
        assert!(!dir.path().join("typo").exists(), "nothing is written on failure");
    }
    let ply = dir.path().join("ply");
    let exp = e4d(&["export", ckpt.to_str().unwrap(), "--out", ply.to_str().unwrap(), "--frames", "3"]);
    assert!(exp.status.success(), "{}", String::from_utf8_lossy(&exp.stderr));
    for i in 0..3 {
        assert!(ply.join(format!("frame_{i:04}.ply")).exists());
    }
    // The other exports: the format from the extension (or --format, or --video), each read back.
    let file = |name: &str| dir.path().join(name);
    let export = |args: &[&str]| {
        let run = e4d(&[&["export", ckpt.to_str().unwrap()], args].concat());
        assert!(run.status.success(), "{args:?}: {}", String::from_utf8_lossy(&run.stderr));
    };
    export(&["--out", file("m.zip").to_str().unwrap(), "--frames", "3"]);
    assert_eq!(efficient4d::export::ply_zip::read_ply_zip(&file("m.zip")).unwrap().len(), 3);
    export(&["--out", file("m.splatv").to_str().unwrap()]);
    let splatv = efficient4d::export::splatv::read_splatv(&file("m.splatv")).unwrap();
    assert!(!splatv.splats.is_empty() && splatv.cameras.len() == 1);
    export(&["--out", file("frames.bin").to_str().unwrap(), "--format", "ply-zip", "--frames", "2"]);
    assert_eq!(efficient4d::export::ply_zip::read_ply_zip(&file("frames.bin")).unwrap().len(), 2);
    // A name without an extension gets the format's, and the message says the path written.
    let run = e4d(&["export", ckpt.to_str().unwrap(), "--out", file("model").to_str().unwrap(), "--format", "splatv"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains(file("model.splatv").to_str().unwrap()));
    assert!(efficient4d::export::splatv::read_splatv(&file("model.splatv")).is_ok() && !file("model").exists());
    export(&["--out", file("t.mp4").to_str().unwrap(), "--frames", "5", "--size", "64"]);
    export(&["--out", file("c.mp4").to_str().unwrap(), "--video", "camera", "--frames", "4", "--size", "48"]);
    for (name, frames, side) in [("t.mp4", 5, 64), ("c.mp4", 4, 48)] {
        let options = efficient4d::video::DecodeOptions { key_frames: frames, range_s: None, max_side: 4096 };
        let video = efficient4d::video::decode(&file(name), &options).unwrap();
        assert_eq!(video.frames.len(), frames, "{name}");
        assert_eq!(video.frames[0].dimensions(), (side, side), "{name}");
    }
    let clash = e4d(&[
        "export",
        ckpt.to_str().unwrap(),
        "--out",
        file("x.zip").to_str().unwrap(),
        "--format",
        "splatv",
        "--video",
        "turntable",
    ]);
    assert_eq!(clash.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&clash.stderr).contains("--video makes an MP4"));
    assert!(!file("x.zip").exists());
    let pairs = dir.path().join("pairs");
    let ev =
        e4d(&["eval", ckpt.to_str().unwrap(), data.to_str().unwrap(), "--json", "--images", pairs.to_str().unwrap()]);
    assert!(ev.status.success(), "{}", String::from_utf8_lossy(&ev.stderr));
    let ev: serde_json::Value = serde_json::from_slice(&ev.stdout).unwrap();
    assert!((ev["psnr"].as_f64().unwrap() - report["psnr"].as_f64().unwrap()).abs() < 1e-6);
    // --images: one render | truth pair per view, whose halves give that view's PSNR (8-bit rounding aside).
    assert_eq!(std::fs::read_dir(&pairs).unwrap().count() as u64, ev["views"].as_u64().unwrap());
    let pair = image::open(pairs.join("view_0000.png")).unwrap().to_rgb8();
    assert_eq!(pair.dimensions(), (64, 32));
    let mse: f64 = (0..32)
        .flat_map(|y| (0..32).map(move |x| (x, y)))
        .flat_map(|(x, y)| {
            let (a, b) = (pair.get_pixel(x, y).0, pair.get_pixel(x + 32, y).0);
            (0..3).map(move |k| ((a[k] as f64 - b[k] as f64) / 255.0).powi(2))
        })
        .sum::<f64>()
        / (32.0 * 32.0 * 3.0);
    let view_psnr = ev["per_view_psnr"][0].as_f64().unwrap();
    // Each view's time comes with its PSNR (the truth has test views at times 0 and 1).
    let times: Vec<f64> = ev["per_view_time"].as_array().unwrap().iter().map(|t| t.as_f64().unwrap()).collect();
    assert_eq!(times.len() as u64, ev["views"].as_u64().unwrap());
    assert!(times.contains(&0.0) && times.contains(&1.0), "{times:?}");
    assert!((-10.0 * mse.log10() - view_psnr).abs() < 0.2, "{} vs {view_psnr}", -10.0 * mse.log10());
    // Eval composites on the checkpoint's background (white here) unless told otherwise; on black the
    // same model scores differently, since its alpha is not exactly the truth's.
    assert_eq!(ev["background"], serde_json::json!([1.0, 1.0, 1.0]));
    let on_black = e4d(&["eval", ckpt.to_str().unwrap(), data.to_str().unwrap(), "--json", "--background", "black"]);
    assert!(on_black.status.success(), "{}", String::from_utf8_lossy(&on_black.stderr));
    let on_black: serde_json::Value = serde_json::from_slice(&on_black.stdout).unwrap();
    assert_eq!(on_black["background"], serde_json::json!([0.0, 0.0, 0.0]));
    assert_ne!(on_black["psnr"], ev["psnr"]);
    // Trained on black, the checkpoint keeps black and eval uses it.
    let black = dir.path().join("black");
    let run = e4d(&[
        "train",
        data.to_str().unwrap(),
        "--out",
        black.to_str().unwrap(),
        "--iters",
        "2",
        "--json",
        "--background",
        "0,0,0",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let black_ckpt = black.join("model.safetensors");
    assert_eq!(efficient4d::export::Checkpoint::load(&black_ckpt).unwrap().meta.background, [0.0; 3]);
    let ev_black = e4d(&["eval", black_ckpt.to_str().unwrap(), data.to_str().unwrap(), "--json"]);
    assert!(ev_black.status.success(), "{}", String::from_utf8_lossy(&ev_black.stderr));
    let ev_black: serde_json::Value = serde_json::from_slice(&ev_black.stdout).unwrap();
    assert_eq!(ev_black["background"], serde_json::json!([0.0, 0.0, 0.0]));
    let r: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let (a, b) = (ev_black["psnr"].as_f64().unwrap(), r["psnr"].as_f64().unwrap());
    assert!((a - b).abs() < 1e-6, "train's own evaluation is on its background too: {a} vs {b}");
    // A colour that is not one is refused before anything runs.
    let bad = e4d(&["eval", ckpt.to_str().unwrap(), data.to_str().unwrap(), "--background", "grey"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("R,G,B"));
    // --init: one step from the checkpoint keeps its splats and about its PSNR; one step from an
    // exported frame starts from that frame's splats; a file that is neither is refused.
    let ckpt_splats = efficient4d::export::Checkpoint::load(&ckpt).unwrap().gaussians.len() as u64;
    let ply_splats = efficient4d::export::ply::read_ply(&ply.join("frame_0000.ply")).unwrap().0.len() as u64;
    for (init, splats) in [(ckpt.clone(), ckpt_splats), (ply.join("frame_0000.ply"), ply_splats)] {
        let again = dir.path().join("again");
        let args = ["--iters", "1", "--no-densify", "--json", "--init", init.to_str().unwrap()];
        let run = e4d(&[&["train", data.to_str().unwrap(), "--out", again.to_str().unwrap()][..], &args].concat());
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let r: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(r["splats"].as_u64(), Some(splats), "{init:?}");
        if init == ckpt {
            assert!(r["psnr"].as_f64().unwrap() > report["psnr"].as_f64().unwrap() - 1.0, "{r}");
        }
    }
    let bad = dir.path().join("bad-init");
    let json = data.join("transforms_train.json");
    let run = e4d(&["train", data.to_str().unwrap(), "--out", bad.to_str().unwrap(), "--init", json.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--init"), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(!bad.exists(), "nothing is written on failure");
    // --resume goes on from step 20 of the run in `out` to 30 in all; without a state it is refused.
    let more =
        e4d(&["train", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--resume", "--iters", "30", "--json"]);
    assert!(more.status.success(), "{}", String::from_utf8_lossy(&more.stderr));
    let more: serde_json::Value = serde_json::from_slice(&more.stdout).unwrap();
    assert_eq!((more["resumed_from"].as_u64(), more["iters"].as_u64()), (Some(20), Some(30)));
    assert_eq!(efficient4d::export::Checkpoint::load(&ckpt).unwrap().meta.iterations, 30);
    let fresh = dir.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::copy(&ckpt, fresh.join("model.safetensors")).unwrap();
    let run = e4d(&["train", data.to_str().unwrap(), "--out", fresh.to_str().unwrap(), "--resume"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("train_state.safetensors"));
    assert_eq!(std::fs::read(fresh.join("model.safetensors")).unwrap(), std::fs::read(&ckpt).unwrap());
    // The saved settings stand: a settings flag with --resume is refused, naming it, and changes nothing.
    let run = e4d(&["train", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--resume", "--batch", "2"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--batch"), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(efficient4d::export::Checkpoint::load(&ckpt).unwrap().meta.iterations, 30);
    let renders = dir.path().join("renders");
    let r = e4d(&["render", ckpt.to_str().unwrap(), "--out", renders.to_str().unwrap(), "--size", "32"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read_dir(&renders).unwrap().count(), 2 * 16);
}

/// The command with its weights search confined to `weights` (and an empty data folder).
fn e4d_with_weights(args: &[&str], weights: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_efficient4d"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .env("EFFICIENT4D_WEIGHTS", weights)
        .env("XDG_DATA_HOME", weights.join("data"))
        .output()
        .unwrap()
}

#[test]
fn weights_shows_what_is_installed_and_where_it_looks() {
    let dir = tempfile::tempdir().unwrap();
    let out = e4d_with_weights(&["weights"], dir.path());
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(dir.path().to_str().unwrap()), "{text}");
    assert!(text.contains("missing:   SyncDreamer") && text.contains("missing:   RIFE"), "{text}");
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/golden");
    std::fs::copy(golden.join("rife_ifnet_hdv3_random_f16.safetensors"), dir.path().join("flownet.pkl")).unwrap();
    let text = String::from_utf8_lossy(&e4d_with_weights(&["weights"], dir.path()).stdout).to_string();
    assert!(text.contains("installed: RIFE"), "{text}");
}

#[test]
fn refine_interpolates_a_matrix_and_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let matrix = dir.path().join("m");
    common::write_truth(&matrix, 32, 3);
    let weights = dir.path().join("no-weights");
    // RIFE asked for but not installed: a clear message naming the file, the matrix untouched.
    let before = std::fs::read(matrix.join("transforms_train.json")).unwrap();
    let out = e4d_with_weights(&["refine", matrix.to_str().unwrap(), "--interpolator", "rife"], &weights);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flownet.pkl"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(matrix.join("transforms_train.json")).unwrap(), before);
    let out = e4d_with_weights(&["refine", matrix.to_str().unwrap(), "--new-frames", "2"], &weights);
    assert_eq!(out.status.code(), Some(2), "2 new frames per pair is refused");

    let args = ["refine", matrix.to_str().unwrap(), "--new-frames", "1", "--confidence", "rgb", "--json"];
    let out = e4d_with_weights(&args, &weights);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["interpolation"], "flow");
    assert_eq!((report["key_frames"].as_u64(), report["frames"].as_u64()), (Some(3), Some(5)));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(matrix.join("transforms_train.json")).unwrap()).unwrap();
    assert_eq!(json["refinement"]["confidence"], "rgb");
    assert_eq!(json["frames"].as_array().unwrap().len(), 16 * 5);
}

#[test]
fn generate_with_syncdreamer_asked_for_but_not_installed_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("matrix");
    let clip = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/creature.mp4");
    let args = ["generate", clip.to_str().unwrap(), "--out", out_dir.to_str().unwrap(), "--generator", "syncdreamer-t"];
    let out = e4d_with_weights(&args, &dir.path().join("no-weights"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("syncdreamer-pretrain.ckpt") && err.contains("EFFICIENT4D_WEIGHTS"), "{err}");
    assert!(!out_dir.exists(), "nothing written");
    let out = e4d_with_weights(&["generate", clip.to_str().unwrap(), "--out", "x", "--ddim-steps", "3"], dir.path());
    assert_eq!(out.status.code(), Some(2), "--ddim-steps is checked even when the preview would run");
}

#[test]
fn generate_says_its_stage_1_setting_before_it_loads_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    // A file under the checkpoint's name that is not one: the plan is made and said, then the load fails.
    std::fs::write(dir.path().join("syncdreamer-pretrain.ckpt"), b"not a checkpoint").unwrap();
    let clip = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/creature.mp4");
    let out_dir = dir.path().join("matrix");
    let mut args = vec!["generate", clip.to_str().unwrap(), "--out", out_dir.to_str().unwrap()];
    args.extend(["--generator", "syncdreamer-t", "--frames", "4", "--view-batch", "4"]);
    let out = e4d_with_weights(&args, dir.path());
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("stage 1 generator: SyncDreamer-T"), "{said}");
    assert!(said.contains("f32, 4 views per batch, expected peak") && said.contains("(host memory)"), "{said}");
    assert!(!out_dir.join("transforms_train.json").exists(), "nothing written");

    let last = args.len() - 1;
    args[last] = "17";
    let out = e4d_with_weights(&args, dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1..=16"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn bench_ring_trains_on_the_creatures_rig_views_and_scores_the_held_out_ones() {
    let out = e4d(&["bench", "ring", "--iters", "4", "--frames", "2", "--json", "--set", "densify.grow_fraction=0.15"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["scene"], "creature");
    assert_eq!(report["settings"], serde_json::json!(["densify.grow_fraction=0.15"]));
    // The 16 rig views of each key frame (no input view); the demo's 4 test cameras held out.
    assert_eq!((report["train_views"].as_u64(), report["test_views"].as_u64()), (Some(32), Some(8)));
    assert_eq!(report["size"], 256);
    let psnr = report["psnr"].as_f64().unwrap();
    assert!(psnr.is_finite() && psnr > 5.0, "held-out PSNR {psnr}");
    assert!(report["curve"].as_array().is_some_and(|c| !c.is_empty()));
    // A bad setting is refused before anything is rendered, naming it.
    let bad = e4d(&["bench", "ring", "--iters", "4", "--set", "densify.grow_fraction=5"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("grow_fraction"));
}

#[test]
fn run_reports_seconds_per_stage_and_why_training_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let run =
        e4d(&["run", "--out", out.to_str().unwrap(), "--frames", "2", "--new-frames", "1", "--iters", "2", "--json"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("one JSON object");
    for stage in ["decode", "generate", "refine", "train", "export"] {
        let s = report["stages"][stage].as_f64();
        assert!(s.is_some_and(|s| s >= 0.0 && s.is_finite()), "{stage}: {report}");
    }
    assert_eq!((report["iters"].as_u64(), report["planned_iters"].as_u64()), (Some(2), Some(2)));
    assert_eq!(report["stop_reason"]["kind"], "planned", "--iters runs exactly its steps");
    assert_eq!(report["key_frames"], 2);
    // Everything the job says it wrote is there: the matrix, the model and its state, the PLYs, the GIF.
    let written: Vec<&str> = report["written"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(written.iter().all(|p| std::path::Path::new(p).exists()), "{written:?}");
    for file in ["model.safetensors", "train_state.safetensors", "turntable.gif", "ply/frame_0000.ply"] {
        assert!(out.join(file).exists(), "{file}");
    }
}
