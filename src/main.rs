//! The `efficient4d` program: the command line (`cli`) and its subcommands (`commands`), drivers of the
//! library's pipeline; neither is library API.

mod cli;
mod commands;

use clap::{CommandFactory, FromArgMatches};
use cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    // The matches are kept beside the parsed command: `train --init` asks whether --sh-degree was given.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match commands::dispatch(cli, &matches) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
