//! `lbops plan`: what applying a repository to a data plane would do.

use anyhow::Context;
use clap::Args;
use lbops::plan::plan;
use lbops::provider::embedded::EmbeddedProvider;
use lbops::provider::Provider;
use lbops::spec;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The environment variable that may hold the data plane's admin token.
pub const TOKEN_ENV: &str = "LBOPS_DATAPLANE_TOKEN";

#[derive(Args)]
pub struct PlanArgs {
    /// The repository to plan for.
    #[arg(long, value_name = "DIR", default_value = ".")]
    repo: PathBuf,
    /// The data plane's admin API, e.g. http://127.0.0.1:8711.
    #[arg(long, value_name = "URL")]
    dataplane: String,
    /// A file holding the admin bearer token; or set LBOPS_DATAPLANE_TOKEN.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = crate::Output::Text)]
    output: crate::Output,
}

pub fn run(args: PlanArgs, now: i64) -> anyhow::Result<ExitCode> {
    let token = match (&args.token_file, std::env::var(TOKEN_ENV)) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .trim()
            .to_owned(),
        (None, Ok(token)) => token,
        (None, Err(_)) => {
            anyhow::bail!("give the admin token with --token-file FILE or {TOKEN_ENV}")
        }
    };
    let files = lbops::source::read_tree(&args.repo)?;
    let desired = match spec::load(&files, &spec::Options::at(now)) {
        Ok(validated) => validated.catalog,
        Err(invalid) => {
            for d in &invalid.diagnostics {
                eprintln!("{d}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    let provider = EmbeddedProvider::new(&args.dataplane, token);
    let unsupported = lbops::model::unsupported(&desired, &provider.capabilities());
    if !unsupported.is_empty() {
        for d in &unsupported {
            eprintln!("{d}");
        }
        return Ok(ExitCode::from(1));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let observed = runtime.block_on(provider.observe())?;
    let plan = plan(&desired, &observed);
    let mut stdout = std::io::stdout().lock();
    match args.output {
        crate::Output::Text => writeln!(stdout, "{plan}")?,
        crate::Output::Json => writeln!(stdout, "{}", serde_json::to_string_pretty(&plan.steps)?)?,
    }
    Ok(ExitCode::SUCCESS)
}
