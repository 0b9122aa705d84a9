//! Command-line interface. Each subcommand maps onto one pipeline stage; one whose issue is not
//! done yet says so and exits with code 2 instead of pretending.

use clap::{Parser, Subcommand};
use efficient4d::generate::ring::RingScene;
use efficient4d::pipeline::RefineSpec;
pub use efficient4d::pipeline::run_length::RunLength;
use efficient4d::train::TrainConfig;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "efficient4d", version, about = "Single-view video → animated 3D object (4D Gaussian splats)", long_about = None)]
pub struct Cli {
    /// Open this video, image folder, dataset, checkpoint or PLY sequence in the app
    /// (the bundled demo when omitted).
    pub input: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Whole pipeline: video → image matrix → 4D Gaussians → checkpoint + PLY sequence + turntable GIF.
    Run {
        /// Video (mp4/mov H.264, GIF, other codecs through ffmpeg) or folder of frames; the bundled demo
        /// clip when omitted.
        video: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        stage1: Stage1Args,
        #[command(flatten)]
        run: RunLength,
        #[command(flatten)]
        settings: TrainConfig,
        #[command(flatten)]
        overrides: Overrides,
        /// PLY files to export (default: one per key frame).
        #[arg(long)]
        ply_frames: Option<u32>,
        /// Print one JSON object at the end instead of progress bars.
        #[arg(long)]
        json: bool,
    },
    /// Stage 1 only: video → 16-view image matrix (D-NeRF convention).
    Generate {
        video: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        stage1: Stage1Args,
    },
    /// Between the stages: interpolate an image matrix (3 new frames per pair) and give its frames
    /// confidence maps, in place.
    Refine {
        matrix: PathBuf,
        #[command(flatten)]
        refine: RefineArgs,
        /// Print one JSON object instead of a progress bar.
        #[arg(long)]
        json: bool,
    },
    /// Write the bundled demo: its clip (MP4 and GIF) and its true 16-view matrix with held-out views.
    Demo {
        #[arg(long)]
        out: PathBuf,
        /// Key frames of the truth matrix.
        #[arg(long, default_value_t = efficient4d::video::PAPER_KEY_FRAMES as u32)]
        frames: u32,
    },
    /// Stage 2 only: train 4D Gaussians on a dataset in the D-NeRF convention.
    Train {
        dataset: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        run: RunLength,
        /// Downscale images so the longer side is at most this many pixels.
        #[arg(long)]
        resolution: Option<u32>,
        /// Print one JSON object (psnr, ssim, seconds, iters, splats, peak_rss_mb) instead of a progress bar.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        settings: TrainConfig,
        #[command(flatten)]
        overrides: Overrides,
        /// Time every GPU stage (timestamp queries) and report where the step goes.
        #[arg(long)]
        profile: bool,
        /// Evaluate on the test split every N steps and report PSNR over training time (`curve` in --json).
        #[arg(long, value_name = "N")]
        eval_every: Option<u32>,
        /// Start from these splats instead of random ones: a checkpoint (its 4D Gaussians, a new
        /// schedule) or a 3DGS PLY (made static splats present over the whole clip).
        #[arg(long, value_name = "CKPT_OR_PLY", conflicts_with_all = ["init_points", "init_time_scale", "carve_init"])]
        init: Option<PathBuf>,
        /// Go on with the run saved in --out (model.safetensors + train_state.safetensors) under its
        /// settings, to --iters steps in all (default: its total; a larger total stretches the schedule).
        // The settings' own flags are refused with it by `settings_given`: clap's derive leaves the
        // group of a struct with nested flattened structs empty.
        #[arg(long, conflicts_with_all = ["init", "overrides"])]
        resume: bool,
    },
    /// Export a checkpoint: a PLY per frame (a folder), one zip of them (Brush plays it), one `.splatv`
    /// (the whole 4D model for browser viewers), or an H.264 MP4.
    Export {
        checkpoint: PathBuf,
        /// A folder for PLY frames, else a file; `.zip`, `.splatv` and `.mp4` pick their format.
        #[arg(long)]
        out: PathBuf,
        /// What to write (default: from --out's extension; a folder of PLYs otherwise).
        #[arg(long, value_enum)]
        format: Option<ExportFormat>,
        /// PLY frames (default: one per key frame) or video frames (default: 72).
        #[arg(long)]
        frames: Option<u32>,
        /// The video's camera: `turntable` circles the object, `camera` watches from the input view
        /// (implies --format mp4).
        #[arg(long, value_enum)]
        video: Option<VideoCamera>,
        /// Longer side of the video in pixels.
        #[arg(long, default_value_t = 512)]
        size: u32,
        /// Video frame rate.
        #[arg(long, default_value_t = 24.0)]
        fps: f64,
    },
    /// Render the rig's views of a checkpoint at each key frame (or K evenly spaced times) to PNGs.
    Render {
        checkpoint: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        frames: Option<u32>,
        #[arg(long, default_value_t = 256)]
        size: u32,
    },
    /// PSNR / SSIM of a checkpoint on a dataset's test split, on the background it was trained on.
    Eval {
        checkpoint: PathBuf,
        dataset: PathBuf,
        #[arg(long)]
        json: bool,
        /// Composite renders and truth on this colour instead of the checkpoint's: `white`, `black` or `R,G,B`.
        #[arg(long, value_name = "COLOUR", value_parser = efficient4d::train::parse_background)]
        background: Option<[f32; 3]>,
        /// Evaluate at this resolution (longer side).
        #[arg(long)]
        resolution: Option<u32>,
        /// Also save each view here as a PNG: the render on the left, the truth on the right.
        #[arg(long, value_name = "DIR")]
        images: Option<PathBuf>,
    },
    /// Benchmarks: `raster` (rasterizer speed), `ring` (training on a known 16-view ring),
    /// `view`, `interpolate` (time per interpolated frame), `confidence` (training with and without
    /// confidence maps on a damaged matrix), `generate`, `app` (the app on the demo, headless, from
    /// launch to a trained model; then the same job without the UI).
    Bench {
        what: String,
        #[arg(long)]
        json: bool,
        /// Timed iterations per configuration (after one warm-up).
        #[arg(long, default_value_t = 3)]
        iterations: usize,
        /// `ring`, `app`, `confidence`: how long training runs, as `train` takes it (`--iters N`: exactly
        /// N steps; `ring` by default stops when its held-out views stop improving, `confidence` runs
        /// `commands::bench_confidence::ABLATION_STEPS`; `--budget`: `app`'s time per job).
        #[command(flatten)]
        run: RunLength,
        /// `ring --scene random`: image size; `confidence`: training resolution.
        #[arg(long, default_value_t = 256)]
        size: u32,
        /// `ring`, `confidence`: key frames.
        #[arg(long, default_value_t = efficient4d::video::PAPER_KEY_FRAMES as u32)]
        frames: u32,
        /// `ring`: the known scene the ring is rendered from.
        #[arg(long, value_enum, default_value_t = RingScene::Creature)]
        scene: RingScene,
        /// `ring`, `confidence`: the training settings, as `train` takes them.
        #[command(flatten)]
        settings: TrainConfig,
        #[command(flatten)]
        overrides: Overrides,
        /// `generate`: the golden tiny model's sizes instead of the published ones (checks the harness).
        #[arg(long)]
        tiny: bool,
        /// `generate`: SyncDreamer-T's precision (`auto`: f16 on a GPU with `shader-f16`).
        #[arg(long, value_enum, default_value_t = efficient4d::generate::syncdreamer::Precision::Auto)]
        precision: efficient4d::generate::syncdreamer::Precision,
        /// `generate`: views per batch, as `run` takes it (`auto`: the most the device holds).
        #[arg(long, default_value_t = efficient4d::generate::settings::Stage1Config::default().view_batch)]
        view_batch: efficient4d::generate::syncdreamer::memory::ViewBatch,
        /// `generate`: run the networks on the wgpu device even where it is a CPU driver (lavapipe), to
        /// check the memory model against burn's pool report without a GPU (slow).
        #[arg(long)]
        wgpu: bool,
        /// `raster`: time these trained models (checkpoints) as training renders them — the rig's 16
        /// views over the clip, `--batch` views at a time, at `--size` — instead of random clouds, with
        /// how deep each pixel walks its tile's list (repeatable). `player`: also measure the HTML
        /// player of each.
        #[arg(long = "model", value_name = "CHECKPOINT")]
        models: Vec<PathBuf>,
        /// `app`: in a real window (needs a display; under Xvfb without one) as a user watching it sees
        /// it, instead of headless with the timeline playing.
        #[arg(long)]
        window: bool,
        /// `viewers`: a folder with splaTV's `index.html` and `hybrid.js` (scripts/splatv-viewers.sh).
        #[arg(long, value_name = "DIR")]
        splatv_viewer: Option<PathBuf>,
        /// `viewers`: gsplat.js's `dist` folder (npm `gsplat`; .ci/run installs it).
        #[arg(long, value_name = "DIR")]
        gsplat: Option<PathBuf>,
    },
    /// Show which model weights are installed, partly downloaded or missing, and where they go;
    /// `weights get` downloads them.
    Weights {
        #[command(subcommand)]
        action: Option<WeightsAction>,
    },
    /// Inspect a dataset folder: splits, views, times, intrinsics (validates everything).
    Inspect {
        dataset: PathBuf,
        /// Downscale so the longer side is at most this many pixels.
        #[arg(long)]
        resolution: Option<u32>,
    },
    /// Show the GPU adapter and the features the rasterizer will use; `--check` also checks that it
    /// computes the right thing (exits 1 when a check fails).
    Gpu {
        /// Run the rasterizer's forward and backward (every shader variant the device runs) against
        /// the f64 CPU reference, the fused loss against burn's, one burn op step, and a 16-view
        /// render against a stored image; print each error beside its tolerance.
        #[arg(long)]
        check: bool,
        /// With `--check`: print the report as JSON.
        #[arg(long, requires = "check")]
        json: bool,
        /// With `--check`: save the 16-view render it compared (PNG, 4 × 4 views) here.
        #[arg(long, value_name = "PNG", requires = "check")]
        save_render: Option<PathBuf>,
    },
}

/// Stage 1's settings and the refinement after it, as `run` and `generate` take them.
#[derive(Debug, Clone, clap::Args)]
pub struct Stage1Args {
    #[command(flatten)]
    pub settings: efficient4d::generate::settings::Stage1Config,
    #[command(flatten)]
    pub refine: RefineArgs,
}

/// How the generated matrix is refined before training (`refine`, and after stage 1 in `run`/`generate`).
#[derive(Debug, Clone, clap::Args)]
pub struct RefineArgs {
    /// New frames between each pair of key frames: 0 (none), 1 or 3 (Efficient4D).
    #[arg(long, default_value_t = 3, value_parser = parse_new_frames)]
    pub new_frames: u32,
    /// Interpolator: `auto` (RIFE when flownet.pkl is installed, else the classical flow), `rife`, `flow`.
    #[arg(long, value_enum, default_value_t = efficient4d::interpolate::InterpolatorChoice::Auto)]
    pub interpolator: efficient4d::interpolate::InterpolatorChoice,
    /// Confidence maps from temporal inconsistency: `ssim` (Efficient4D), `rgb`, or `none`.
    #[arg(long, value_enum, default_value_t = ConfidenceArg::Ssim)]
    pub confidence: ConfidenceArg,
}

/// What `efficient4d weights` does besides listing.
#[derive(Debug, Subcommand)]
pub enum WeightsAction {
    /// Download published weights from the Hugging Face hub into the first weights folder (see
    /// `efficient4d weights`): syncdreamer is the stage-1 generator (5.57 GB), rife the frame
    /// interpolator (12 MB). Shows bytes, rate and time left; Ctrl-C stops and keeps what arrived,
    /// and the next `get` goes on from there. A file is installed only once its SHA-256 matches the
    /// hub's and its tensors are the ones our loader needs. A mirror of the hub: set HF_ENDPOINT; a
    /// gated repository: set HF_TOKEN.
    Get {
        #[arg(value_enum, default_value_t = WeightsChoice::All)]
        which: WeightsChoice,
        /// Download again even when installed (the installed file is replaced only by one that passes
        /// every check).
        #[arg(long)]
        force: bool,
    },
}

/// Which published weights `weights get` fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightsChoice {
    Syncdreamer,
    Rife,
    All,
}

impl WeightsChoice {
    pub fn files(self) -> Vec<efficient4d::weights::KnownWeights> {
        match self {
            Self::Syncdreamer => vec![efficient4d::weights::SYNCDREAMER],
            Self::Rife => vec![efficient4d::weights::RIFE],
            Self::All => efficient4d::weights::ALL.to_vec(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Ply,
    PlyZip,
    Splatv,
    /// One HTML file that plays the model offline in any WebGL2 browser.
    Html,
    Mp4,
}

impl ExportFormat {
    /// The extension of a file of this format (`None`: PLY frames go to a folder).
    pub fn extension(self) -> Option<&'static str> {
        match self {
            Self::Ply => None,
            Self::PlyZip => Some("zip"),
            Self::Splatv => Some("splatv"),
            Self::Html => Some("html"),
            Self::Mp4 => Some("mp4"),
        }
    }

    /// Where an export of this format named `out` goes: `out` as given when it has an extension,
    /// else with this format's (`--out model --format splatv` writes `model.splatv`).
    pub fn output_path(self, out: &std::path::Path) -> std::path::PathBuf {
        match self.extension() {
            Some(ext) if out.extension().is_none() => out.with_extension(ext),
            _ => out.to_path_buf(),
        }
    }

    /// The format `out` asks for by its extension (a folder of PLYs otherwise).
    pub fn from_path(out: &std::path::Path) -> Self {
        match out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("zip") => Self::PlyZip,
            Some("splatv") => Self::Splatv,
            Some("html" | "htm") => Self::Html,
            Some("mp4") => Self::Mp4,
            _ => Self::Ply,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VideoCamera {
    Turntable,
    Camera,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConfidenceArg {
    Ssim,
    Rgb,
    None,
}

impl ConfidenceArg {
    pub fn metric(self) -> Option<efficient4d::interpolate::ConfidenceMetric> {
        match self {
            Self::Ssim => Some(efficient4d::interpolate::ConfidenceMetric::Ssim),
            Self::Rgb => Some(efficient4d::interpolate::ConfidenceMetric::Rgb),
            Self::None => None,
        }
    }
}

fn parse_new_frames(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n @ (0 | 1 | 3)) => Ok(n),
        _ => Err(format!("`{s}`: expected 0, 1 or 3")),
    }
}

impl RefineArgs {
    pub fn spec(&self) -> RefineSpec {
        RefineSpec {
            interpolator: self.interpolator,
            options: efficient4d::interpolate::RefineOptions {
                new_frames_per_pair: self.new_frames,
                confidence: self.confidence.metric(),
            },
        }
    }
}

/// The training-settings flags (`TrainConfig`'s) given on the command line of the (sub)command whose
/// `matches` these are, by their long names.
pub fn settings_given(matches: &clap::ArgMatches) -> Vec<String> {
    use clap::Args;
    let settings = TrainConfig::augment_args(clap::Command::new("settings"));
    settings
        .get_arguments()
        .filter(|a| matches.value_source(a.get_id().as_str()) == Some(clap::parser::ValueSource::CommandLine))
        .map(|a| format!("--{}", a.get_long().unwrap_or(a.get_id().as_str())))
        .collect()
}

/// `--set KEY=VALUE` (repeatable).
#[derive(Debug, Clone, clap::Args)]
pub struct Overrides {
    /// Change any training setting by its path in the checkpoint's settings, e.g. `--set lr.time_per_spacing=0.2
    /// --set densify.end_fraction=0.5` (repeatable; applied after the other flags).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::{Cli, Command};
    use clap::Parser;
    use efficient4d::train::TrainConfig;

    fn train_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        [&["efficient4d", "train", "data", "--out", "out"][..], extra].concat()
    }

    fn settings(extra: &[&str]) -> TrainConfig {
        match Cli::try_parse_from(train_args(extra)).unwrap().command {
            Some(Command::Train { settings, .. }) => settings,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn without_a_step_count_the_run_stops_on_a_plateau_within_the_default_time_as_the_help_says() {
        use efficient4d::pipeline::plan::{DEFAULT_TRAIN_TIME, clock};
        let length = |extra: &[&str]| match Cli::try_parse_from(train_args(extra)).unwrap().command {
            Some(Command::Train { run, .. }) => run.stop_rule(),
            other => panic!("{other:?}"),
        };
        let default = length(&[]);
        assert_eq!(default.budget, Some(DEFAULT_TRAIN_TIME));
        assert!(default.plateau.is_some());
        let forced = length(&["--iters", "50"]);
        assert_eq!((forced.budget, forced.plateau), (None, None));
        let given = length(&["--budget", "90s"]);
        assert_eq!(given.budget, Some(std::time::Duration::from_secs(90)));
        // The flags' help names the default time.
        let help = <Cli as clap::CommandFactory>::command()
            .find_subcommand_mut("train")
            .unwrap()
            .render_long_help()
            .to_string();
        let minutes = clock(DEFAULT_TRAIN_TIME.as_secs_f64()).replace(" min", "");
        assert!(help.contains(&format!("fitted to {minutes} minutes")), "{help}");
        assert!(help.contains(&format!("default without `--iters`: {minutes}m")), "{help}");
    }

    #[test]
    fn autosave_takes_a_cadence_or_off_and_defaults_to_the_library_s() {
        use efficient4d::pipeline::TrainStart;
        use efficient4d::pipeline::training::AUTOSAVE_EVERY;
        let cadence = |extra: &[&str]| match Cli::try_parse_from(train_args(extra)).unwrap().command {
            Some(Command::Train { run, .. }) => {
                run.train_spec(TrainStart::Resume { iterations: None, saved_stop_rule: true }).autosave_every
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(cadence(&[]), Some(AUTOSAVE_EVERY));
        assert_eq!(cadence(&["--autosave", "30s"]), Some(std::time::Duration::from_secs(30)));
        assert_eq!(cadence(&["--autosave", "off"]), None);
        assert!(Cli::try_parse_from(train_args(&["--autosave", "soon"])).is_err());
        let minutes = AUTOSAVE_EVERY.as_secs() / 60;
        let help = <Cli as clap::CommandFactory>::command()
            .find_subcommand_mut("train")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains(&format!("default: every {minutes} minutes")), "{help}");
    }

    #[test]
    fn the_flags_defaults_are_the_settings_defaults() {
        let json = |c: &TrainConfig| serde_json::to_value(c).unwrap();
        assert_eq!(json(&settings(&[])), json(&TrainConfig::default()));
    }

    #[test]
    fn each_flag_sets_its_setting() {
        let c = settings(&[
            "--batch",
            "8",
            "--by-frame",
            "--points",
            "123",
            "--time-scale",
            "0.3",
            "--no-carve",
            "--sh-degree",
            "2",
            "--background",
            "black",
            "--position-lr",
            "0.004",
            "--no-densify",
            "--grow",
            "0.2",
        ]);
        assert_eq!((c.batch_views, c.batch_by_frame, c.init_points, c.init_time_scale), (8, true, 123, 0.3));
        assert_eq!((c.carve_init, c.sh_degree, c.background), (false, 2, [0.0; 3]));
        assert_eq!((c.lr.position_init, c.densify.enabled, c.densify.grow_fraction), (0.004, false, 0.2));
        // The final position rate keeps its share of the initial one.
        assert_eq!(c.lr.position_final_ratio, TrainConfig::default().lr.position_final_ratio);
    }

    /// Every settings flag given is found (so `train --resume` can refuse it), none by default.
    #[test]
    fn given_settings_are_named_by_their_flags() {
        use clap::{Args, CommandFactory};
        let given = |extra: &[&str]| {
            let m = Cli::command().try_get_matches_from(train_args(extra)).unwrap();
            super::settings_given(m.subcommand_matches("train").unwrap())
        };
        assert!(given(&["--resume", "--iters", "50"]).is_empty());
        let all = TrainConfig::augment_args(clap::Command::new("s"));
        for arg in all.get_arguments() {
            let flag = format!("--{}", arg.get_long().unwrap());
            // A value flag gets its own default, spelled as the user would.
            let value = arg.get_default_values().first().map(|v| v.to_string_lossy().to_string());
            let mut extra = vec![flag.as_str()];
            if arg.get_action().takes_values() {
                extra.push(value.as_deref().unwrap());
            }
            assert_eq!(given(&extra), std::slice::from_ref(&flag), "{flag}");
        }
        assert!(Cli::try_parse_from(train_args(&["--resume", "--set", "lr.color=0.1"])).is_err());
        assert!(Cli::try_parse_from(train_args(&["--resume", "--init", "x.ply"])).is_err());
        assert!(Cli::try_parse_from(train_args(&["--init", "x.ply", "--points", "5"])).is_err());
    }

    #[test]
    fn run_and_bench_take_the_same_settings() {
        let run = Cli::try_parse_from(["efficient4d", "run", "--out", "o", "--batch", "2", "--set", "lr.color=0.1"]);
        assert!(matches!(run.unwrap().command, Some(Command::Run { settings, .. }) if settings.batch_views == 2));
        let bench = Cli::try_parse_from(["efficient4d", "bench", "ring", "--by-frame", "--iters", "10"]);
        assert!(matches!(bench.unwrap().command, Some(Command::Bench { settings, .. }) if settings.batch_by_frame));
    }
}
