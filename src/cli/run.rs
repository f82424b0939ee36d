//! `lbops run`: the daemon.

use clap::Args;
use lbops::daemon::config::LogFormat;
use lbops::daemon::{self, DaemonConfig};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct RunArgs {
    /// The daemon config (see examples/lbops.yaml).
    #[arg(long, value_name = "FILE", default_value = "/etc/lbops/lbops.yaml")]
    config: PathBuf,
    /// Check the config, print every problem with file:line, and exit
    /// (0 valid, 1 invalid).
    #[arg(long)]
    check_config: bool,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = match DaemonConfig::load(&args.config) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(crate::EXIT_INVALID));
        }
    };
    if args.check_config {
        println!("{}: valid", args.config.display());
        return Ok(ExitCode::SUCCESS);
    }
    init_logs(config.log.format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        };
        daemon::run(config, stop).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Human lines on a terminal, JSON lines otherwise (journald, containers);
/// `LBOPS_LOG` sets the level (`info` by default).
pub fn init_logs(format: LogFormat) {
    let level = std::env::var("LBOPS_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let json = match format {
        LogFormat::Auto => !std::io::stderr().is_terminal(),
        LogFormat::Text => false,
        LogFormat::Json => true,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
