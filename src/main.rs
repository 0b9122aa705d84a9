use clap::Parser;
use efficient4d::cli::{Cli, Command};
use efficient4d::commands;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => efficient4d::app::run(cli.input).map(|_| ExitCode::SUCCESS),
        Some(Command::Run { video, out, stage1, iters, ply_frames, json }) => {
            let args = commands::pipeline::RunArgs { iterations: iters, ply_frames, json };
            commands::pipeline::run(video.as_deref(), &out, &stage1, &args).map(|_| ExitCode::SUCCESS)
        }
        Some(Command::Generate { video, out, stage1 }) => {
            commands::pipeline::generate(&video, &out, &stage1).map(|_| ExitCode::SUCCESS)
        }
        Some(Command::Refine { matrix, refine, json }) => {
            commands::refine::refine(&matrix, &refine, json).map(|_| ExitCode::SUCCESS)
        }
        Some(Command::Demo { out, frames }) => commands::pipeline::demo(&out, frames).map(|_| ExitCode::SUCCESS),
        Some(Command::Train {
            dataset,
            out,
            iters,
            resolution,
            json,
            batch,
            by_frame,
            points,
            time_scale,
            sh_degree,
            position_lr,
            no_densify,
            no_carve,
            grow,
            profile,
            eval_every,
            background,
            overrides,
            init,
            resume,
        }) => {
            let args = commands::TrainArgs {
                iterations: iters,
                resolution,
                batch_views: batch,
                by_frame,
                init_points: points,
                init_time_scale: time_scale,
                sh_degree,
                position_lr,
                densify: !no_densify,
                carve: !no_carve,
                grow_fraction: grow,
                json,
                profile,
                eval_every,
                background,
                overrides,
                init,
                resume,
            };
            commands::train(&dataset, &out, args).map(|_| ExitCode::SUCCESS)
        }
        Some(Command::Export { checkpoint, out, frames }) => {
            commands::export(&checkpoint, &out, frames).map(|_| ExitCode::SUCCESS)
        }
        Some(Command::Render { checkpoint, out, frames, size }) => {
            commands::render(&checkpoint, &out, frames, size).map(|_| ExitCode::SUCCESS)
        }
        Some(Command::Eval { checkpoint, dataset, json, background, resolution, images }) => {
            let args = commands::EvalArgs { resolution, background, images, json };
            commands::eval(&checkpoint, &dataset, &args).map(|_| ExitCode::SUCCESS)
        }
        Some(Command::Bench {
            what,
            json,
            iterations,
            steps,
            size,
            frames,
            batch,
            by_frame,
            scene,
            overrides,
            tiny,
        }) => match what.as_str() {
            "raster" => commands::bench_raster(json, iterations).map(|_| ExitCode::SUCCESS),
            "ring" => {
                let args =
                    commands::bench_ring::RingArgs { scene, json, steps, size, frames, batch, by_frame, overrides };
                commands::bench_ring::bench_ring(args).map(|_| ExitCode::SUCCESS)
            }
            "view" => commands::bench_view(json, iterations).map(|_| ExitCode::SUCCESS),
            "generate" => {
                let args =
                    commands::bench_generate::GenerateBenchArgs { json, iterations, frames: frames as usize, tiny };
                commands::bench_generate::bench_generate(&args).map(|_| ExitCode::SUCCESS)
            }
            "interpolate" => {
                commands::bench_interpolate::bench_interpolate(json, iterations).map(|_| ExitCode::SUCCESS)
            }
            "confidence" => {
                let args = commands::bench_confidence::AblationArgs { frames, steps, size, json };
                commands::bench_confidence::bench_confidence(args).map(|_| ExitCode::SUCCESS)
            }
            other => {
                anyhow::bail!(
                    "unknown benchmark `{other}` (expected raster, ring, view, interpolate, confidence or generate)"
                )
            }
        },
        Some(Command::Weights) => commands::refine::weights().map(|_| ExitCode::SUCCESS),
        Some(Command::Inspect { dataset, resolution }) => {
            let ds = efficient4d::dataset::load_dataset(
                &dataset,
                efficient4d::dataset::LoadOptions { max_side: resolution },
            )?;
            print!("{}", efficient4d::dataset::summary(&ds));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Gpu) => {
            let gpu = efficient4d::gpu::GpuContext::headless()?;
            println!("{}", gpu.describe());
            let device = gpu.burn_device()?;
            println!("burn registered on the same device: {device:?}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
