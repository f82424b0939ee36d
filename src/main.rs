//! The `lbops` command line.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use lbops::dataplane::config::DataplaneConfig;
use lbops::dataplane::Dataplane;
use lbops::spec::{self, Diagnostic, Kind};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// GitOps for load balancers and the permissions over them.
#[derive(Parser)]
#[command(name = "lbops", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a repository of lbops YAML and report every problem with file:line:column.
    ///
    /// Exit status: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.
    Validate {
        /// The repository's root directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// How to print problems: `text` for people, `json` for CI and editors.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
        /// Check certificate expiry as of this date (YYYY-MM-DD or RFC 3339) instead of now.
        #[arg(long, value_name = "DATE")]
        at: Option<String>,
    },
    /// Print the JSON Schema of one kind, or of every kind together.
    Schema {
        /// LoadBalancer, Pool, Certificate, AddressPool, Role, User, Group or ServiceAccount.
        kind: Option<String>,
    },
    /// Print the action catalogue as the Markdown table in the README.
    Actions,
    /// Run the embedded data plane and serve a config until stopped (SIGINT/SIGTERM).
    Dataplane {
        /// A data-plane config file (JSON, the shape `lbops dataplane --print-config` shows).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "repo",
            conflicts_with = "repo"
        )]
        config: Option<PathBuf>,
        /// Or a repository directory: validated, then served.
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
        /// Print the config as JSON and exit instead of serving it.
        #[arg(long)]
        print_config: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Text,
    Json,
}

/// Exit status for input that does not validate.
const EXIT_INVALID: u8 = 1;
/// Exit status for a usage or I/O error (clap uses it for usage errors too).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lbops: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Validate { dir, output, at } => {
            let now = match at {
                Some(text) => text
                    .parse::<spec::units::Timestamp>()
                    .map_err(anyhow::Error::msg)
                    .context("--at")?
                    .unix(),
                None => unix_now(),
            };
            let files = lbops::source::read_tree(&dir)?;
            let result = spec::load(&files, &spec::Options::at(now));
            let (diagnostics, code) = match &result {
                Ok(validated) => (&validated.warnings, ExitCode::SUCCESS),
                Err(invalid) => (&invalid.diagnostics, ExitCode::from(EXIT_INVALID)),
            };
            match output {
                Output::Json => {
                    serde_json::to_writer_pretty(&mut stdout, diagnostics)?;
                    writeln!(stdout)?;
                }
                Output::Text => {
                    for d in diagnostics.iter() {
                        writeln!(stdout, "{d}")?;
                    }
                    writeln!(stdout, "{}", summary(&dir, &result))?;
                }
            }
            Ok(code)
        }
        Command::Schema { kind } => {
            let schema = match kind {
                None => spec::kinds::combined_json_schema(),
                Some(name) => {
                    let kind = Kind::parse(&name).with_context(|| {
                        format!(
                            "unknown kind `{name}`; choose one of {}",
                            Kind::names().join(", ")
                        )
                    })?;
                    spec::kinds::json_schema(kind)
                }
            };
            serde_json::to_writer_pretty(&mut stdout, &schema)?;
            writeln!(stdout)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Actions => {
            write!(stdout, "{}", lbops::actions::markdown_table())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dataplane {
            config,
            repo,
            print_config,
        } => {
            let config = match (config, repo) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    DataplaneConfig::parse(&text)
                        .with_context(|| format!("{} is not a data-plane config", path.display()))?
                }
                (None, Some(dir)) => {
                    let files = lbops::source::read_tree(&dir)?;
                    match spec::load(&files, &spec::Options::at(unix_now())) {
                        Ok(validated) => DataplaneConfig::from_catalog(&validated.catalog, 1),
                        Err(invalid) => {
                            for d in &invalid.diagnostics {
                                eprintln!("{d}");
                            }
                            return Ok(ExitCode::from(EXIT_INVALID));
                        }
                    }
                }
                (None, None) => anyhow::bail!("give --config FILE or --repo DIR"),
            };
            if print_config {
                writeln!(stdout, "{}", config.to_json())?;
                return Ok(ExitCode::SUCCESS);
            }
            run_dataplane(config)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Serves `config` until SIGINT or SIGTERM, then stops accepting.
fn run_dataplane(config: DataplaneConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let dataplane = Dataplane::new();
        dataplane.apply(config).await?;
        for address in dataplane.bound().await {
            eprintln!("lbops dataplane: listening on {address}");
        }
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        eprintln!("lbops dataplane: stopping");
        dataplane.shutdown().await;
        Ok(())
    })
}

fn summary(dir: &std::path::Path, result: &Result<spec::Validated, spec::Invalid>) -> String {
    let count =
        |ds: &[Diagnostic], errors: bool| ds.iter().filter(|d| d.is_error() == errors).count();
    match result {
        Ok(v) => format!(
            "{}: valid, {} resources, {} warning(s)",
            dir.display(),
            v.catalog.len(),
            v.warnings.len()
        ),
        Err(e) => format!(
            "{}: invalid, {} error(s), {} warning(s)",
            dir.display(),
            count(&e.diagnostics, true),
            count(&e.diagnostics, false)
        ),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
