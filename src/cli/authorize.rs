//! `lbops authorize`: what a pull-request pipeline runs to show, before
//! merge, who each commit is proven to be from and which changes the
//! trusted policy allows.

use anyhow::Context;
use clap::Args;
use lbops::identity::{ApiKey, Keyring};
use lbops::judge::{self, TrustAnchor};
use lbops::source::GitSource;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct AuthorizeArgs {
    /// The git repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    repo: PathBuf,
    /// The trusted revision (what is applied now, e.g. `origin/main`): its
    /// policy judges every commit after it.
    #[arg(long, value_name = "REV", required_unless_present = "bootstrap_key")]
    from: Option<String>,
    /// The revision to judge (a pull request's head).
    #[arg(long, value_name = "REV", default_value = "HEAD")]
    to: String,
    /// With no trusted revision yet: a file holding an admin public key
    /// (an SSH line or an armored OpenPGP block) whose signed commits may
    /// write the first policy. Repeat for several admins.
    #[arg(long, value_name = "FILE", conflicts_with = "from")]
    bootstrap_key: Vec<PathBuf>,
    /// The public half (`.pub` line) of the daemon's API signing key
    /// (`api.signing_key_file`): commits it signed are judged as the
    /// ServiceAccount and token their trailers name, as the daemon judges
    /// them. Without it such commits identify nobody, and are refused.
    #[arg(long, value_name = "FILE")]
    api_key: Option<PathBuf>,
    /// `text` for people, `json` for tools.
    #[arg(long, value_enum, default_value_t = crate::Output::Text)]
    output: crate::Output,
    /// Judge as of this date (YYYY-MM-DD or RFC 3339) instead of now: key
    /// expiry, certificate expiry of the head, and which Freezes are in force.
    #[arg(long, value_name = "DATE")]
    at: Option<String>,
    /// The daemon config: balancers are checked against the providers it
    /// places them on (without it, every balancer is checked against the
    /// embedded data plane), so that this check and the daemon agree.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn run(args: AuthorizeArgs, now: i64) -> anyhow::Result<ExitCode> {
    let now = crate::parse_at(args.at.as_deref())?.unwrap_or(now);
    let source = GitSource::open(&args.repo, "HEAD")?;
    let anchor = match &args.from {
        Some(rev) => TrustAnchor::Commit(source.resolve(rev).context("--from")?),
        None => {
            let keys = args
                .bootstrap_key
                .iter()
                .map(|path| {
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            TrustAnchor::AdminKeys(std::sync::Arc::new(
                Keyring::bootstrap(&keys).context("--bootstrap-key")?,
            ))
        }
    };
    let api_key = match &args.api_key {
        Some(path) => {
            let line = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(ApiKey::parse(&line).context("--api-key")?)
        }
        None => None,
    };
    let aws = crate::aws_placement(args.config.as_deref())?;
    let head = source.resolve(&args.to).context("--to")?;
    let budget = judge::Budget::starting_now(judge::Budget::DEFAULT);
    let judged = judge::judge_range(
        &source,
        &anchor,
        head,
        now,
        judge::Checks {
            verification: judge::Verification::Required,
            api: api_key.as_ref(),
            // The daemon's SCIM directory is its own state; this answer
            // is git's alone (the daemon can only deny more).
            idp: lbops::idp::Idp::Absent,
        },
        budget,
    )?;
    // The same admission as the daemon's; the addresses balancers hold
    // now are the daemon's to know, and do not change the answer.
    let placement = lbops::admission::Placement { aws: aws.as_ref() };
    let (judgement, _) = lbops::admission::admit(judged, &placement, &Default::default());
    let mut stdout = std::io::stdout().lock();
    match args.output {
        crate::Output::Json => {
            serde_json::to_writer_pretty(&mut stdout, &judgement)?;
            writeln!(stdout)?;
        }
        crate::Output::Text => write!(stdout, "{judgement}")?,
    }
    Ok(if judgement.accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_INVALID)
    })
}
