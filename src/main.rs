//! The `lbops` command line.

mod cli;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use lbops::spec::{self, Diagnostic, Kind};
use lbops::support::clock::{Clock, SystemClock};
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
        /// The daemon config (`lbops.yaml`): also check each balancer against
        /// what its provider can do (balancers `provider.aws` places, against
        /// ELBv2's limits; the rest against the embedded data plane's).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the JSON Schema of one kind, or of every kind together.
    Schema {
        /// LoadBalancer, Pool, Certificate, AddressPool, Role, User, Group or ServiceAccount.
        kind: Option<String>,
    },
    /// Print the action catalogue as the Markdown table in the README.
    Actions,
    /// Run the embedded data plane and serve a config until stopped (SIGINT/SIGTERM).
    Dataplane(cli::dataplane::DataplaneArgs),
    /// Show the ordered steps that would bring a data plane in line with a repository.
    Plan(cli::plan::PlanArgs),
    /// Judge the commits between a trusted revision and another: who signed
    /// each (verified), and which of its changes the trusted policy allows.
    ///
    /// Exit status: 0 when every change is allowed, 1 when any is refused
    /// (or the head does not validate), 2 on a usage or I/O error.
    Authorize(cli::authorize::AuthorizeArgs),
    /// Run the daemon: watch the repository, judge each new commit, apply
    /// what is allowed, keep the balancers in line, report on the commits.
    Run(cli::run::RunArgs),
    /// Check or search the tamper-evident audit log.
    Audit(cli::audit::AuditArgs),
    /// Create API tokens for ServiceAccounts.
    Token(cli::token::TokenArgs),
    /// Register, deregister, drain or list a pool's targets through the
    /// daemon's API, with a ServiceAccount's token (for pipelines).
    Targets(cli::client::TargetsArgs),
    /// Set a pool's target weights through the daemon's API.
    Weights(cli::client::WeightsArgs),
    /// Split a balancer route's traffic between pools through the daemon's API.
    Routes(cli::client::RoutesArgs),
    /// Show every balancer, route, pool and target as it runs — health,
    /// weights, split, live figures, drift — as a tree, through the
    /// daemon's API (`state.read`).
    Status(cli::client::StatusArgs),
    /// Try lbops on this machine: the example repository as a fresh git
    /// repository signed with a demo key, backends for its pools, and the
    /// daemon serving it; prints what to try (curl, a signed commit, the
    /// statuses). Ctrl-C stops it.
    Demo(cli::demo::DemoArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

/// Exit status for input that does not validate.
pub(crate) const EXIT_INVALID: u8 = 1;
/// Exit status for a usage or I/O error (clap uses it for usage errors too).
pub(crate) const EXIT_USAGE: u8 = 2;

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
    // Locked per write, not for the whole command: the daemon and the demo
    // print from other threads too.
    let mut stdout = std::io::stdout();
    match cli.command {
        Command::Validate {
            dir,
            output,
            at,
            config,
        } => {
            let now = parse_at(at.as_deref())?.unwrap_or_else(unix_now);
            let aws = aws_placement(config.as_deref())?;
            let files = lbops::source::read_tree(&dir)?;
            let placement = lbops::admission::Placement { aws: aws.as_ref() };
            let result = spec::load(&files, &spec::Options::at(now)).and_then(|validated| {
                match placement.check(&validated.catalog) {
                    Ok(()) => Ok(validated),
                    Err(refused) => Err(spec::Invalid {
                        diagnostics: refused
                            .diagnostics
                            .into_iter()
                            .chain(validated.warnings)
                            .collect(),
                    }),
                }
            });
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
            write!(stdout, "{}", lbops::spec::actions::markdown_table())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Dataplane(args) => cli::dataplane::run(args, unix_now()),
        Command::Plan(args) => cli::plan::run(args, unix_now()),
        Command::Authorize(args) => cli::authorize::run(args, unix_now()),
        Command::Run(args) => cli::run::run(args),
        Command::Audit(args) => cli::audit::run(args),
        Command::Token(args) => cli::token::run(
            args,
            time::OffsetDateTime::from(lbops::support::clock::Clock::now(
                &lbops::support::clock::SystemClock,
            )),
        ),
        Command::Demo(args) => cli::demo::run(args),
        Command::Targets(args) => Ok(cli::client::targets(args)),
        Command::Weights(args) => Ok(cli::client::weights(args)),
        Command::Routes(args) => Ok(cli::client::routes(args)),
        Command::Status(args) => Ok(cli::client::status(args)),
    }
}

/// The balancers a daemon config (`--config`) places on AWS; none without
/// one, so every balancer is checked against the embedded data plane.
pub(crate) fn aws_placement(
    config: Option<&std::path::Path>,
) -> anyhow::Result<Option<lbops::provider::aws::AwsConfig>> {
    let Some(path) = config else {
        return Ok(None);
    };
    Ok(lbops::daemon::config::DaemonConfig::load(path)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .provider
        .aws)
}

/// Reads an `--at DATE` option as Unix seconds.
pub(crate) fn parse_at(at: Option<&str>) -> anyhow::Result<Option<i64>> {
    at.map(|text| {
        text.parse::<spec::units::Timestamp>()
            .map(spec::units::Timestamp::unix)
            .map_err(anyhow::Error::msg)
            .context("--at")
    })
    .transpose()
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

/// The command's "now", read once at the edge from the one wall clock.
fn unix_now() -> i64 {
    SystemClock.unix_seconds()
}
