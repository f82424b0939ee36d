//! `lbops audit`: check and search the tamper-evident audit log.

use anyhow::Context;
use clap::{Args, Subcommand};
use lbops::audit::{self, AuditError, AuditLog, Filter, Head, Record, VerifyError};
use lbops::support::clock::{Clock, SystemClock};
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check that no record was edited, inserted, reordered or deleted.
    ///
    /// Prints `FILE: N records, chain intact, head SEQ HASH`, or
    /// `FILE:LINE: what is wrong` for the first bad line.
    /// Exit status: 0 intact, 1 tampered or damaged, 2 usage or I/O error.
    ///
    /// Given the logs of several replicas on etcd, also checks them
    /// together: each leader epoch in one log only, a log's epochs only
    /// growing, and no commit recorded applied under two epochs; then
    /// prints `joined: …`.
    Verify {
        /// The audit log; or the logs of every replica, joined.
        #[arg(required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// The head the writer persisted, SEQ:HASH (the seq and hash a
        /// previous verify printed, joined by `:`); catches records deleted
        /// from the end.
        #[arg(long, value_name = "SEQ:HASH")]
        head: Option<Head>,
    },
    /// Accept that a log lost its end, and record that in the log.
    ///
    /// For when lbops refuses to start because its audit log does not hold
    /// the record it wrote last (records deleted from the end, an older
    /// copy put back) and no backup holds them. Appends a `trust` record
    /// naming the head that was lost, the end accepted, who ran this and
    /// why; lbops starts on the log again from there. Run it with lbops
    /// stopped, as the user lbops runs as.
    /// Exit status: 0 accepted (or accepted before), 1 nothing to accept or
    /// the chain is broken, 2 usage or I/O error.
    AcceptEnd {
        /// The audit log.
        file: PathBuf,
        /// The head lbops had written, SEQ:HASH: the one its refusal to
        /// start names.
        #[arg(long, value_name = "SEQ:HASH")]
        was: Head,
        /// What happened to the missing records; kept in the record.
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Print the records that match every filter given, oldest first.
    ///
    /// Exit status: 0 shown, 1 shown but the chain is broken (the first bad
    /// line is named on stderr), 2 usage or I/O error.
    Show {
        /// The audit log.
        file: PathBuf,
        /// Only records about a commit whose id starts with this.
        #[arg(long, value_name = "SHA-PREFIX")]
        commit: Option<String>,
        /// Only records of this actor, exactly: user/alice, serviceaccount/deploy-bot, lbops, …
        #[arg(long, value_name = "ACTOR")]
        identity: Option<String>,
        /// Only records that touch this resource, e.g. pool/web.
        #[arg(long, value_name = "ID")]
        resource: Option<String>,
        /// `text` for people (one record per line), `json` for tools.
        #[arg(long, value_enum, default_value_t = crate::Output::Text)]
        output: crate::Output,
    },
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify { files, head } => verify(&files, head.as_ref()),
        AuditCommand::AcceptEnd { file, was, reason } => accept_end(&file, &was, &reason),
        AuditCommand::Show {
            file,
            commit,
            identity,
            resource,
            output,
        } => show(
            &file,
            &Filter {
                commit,
                identity,
                resource,
            },
            output,
        ),
    }
}

fn verify(files: &[PathBuf], head: Option<&Head>) -> anyhow::Result<ExitCode> {
    if files.len() > 1 && head.is_some() {
        anyhow::bail!("--head names one log's head: verify that log alone with it");
    }
    let mut logs = Vec::new();
    for file in files {
        if verify_one(file, head)? != ExitCode::SUCCESS {
            return Ok(ExitCode::from(1));
        }
        let records = audit::read_records(BufReader::new(open(file)?))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("cannot read {}", file.display()))?;
        logs.push(audit::join::ReplicaLog {
            name: file.display().to_string(),
            records,
        });
    }
    if logs.len() < 2 {
        return Ok(ExitCode::SUCCESS);
    }
    let mut stdout = std::io::stdout().lock();
    match audit::join::join(&logs) {
        Ok(joined) => {
            let epochs: Vec<String> = joined
                .epochs
                .iter()
                .map(|(epoch, log)| format!("{epoch} ({log})"))
                .collect();
            writeln!(
                stdout,
                "joined: {} logs, leader epochs {}; {} decisions, {} commits applied, each under one epoch",
                logs.len(),
                if epochs.is_empty() { "none".to_owned() } else { epochs.join(", ") },
                joined.decisions,
                joined.applied
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(problem) => {
            writeln!(stdout, "{problem}")?;
            Ok(ExitCode::from(1))
        }
    }
}

fn verify_one(file: &Path, head: Option<&Head>) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match check(file, head)? {
        Ok(summary) => {
            writeln!(
                stdout,
                "{}: {} records, chain intact, head {} {}",
                file.display(),
                summary.records,
                summary.head.seq,
                summary.head.hash
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            writeln!(stdout, "{}:{}: {}", file.display(), e.line, e.problem)?;
            Ok(ExitCode::from(1))
        }
    }
}

fn accept_end(file: &Path, was: &Head, reason: &str) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    let name = file.display();
    if reason.trim().is_empty() {
        anyhow::bail!("--reason is empty: say what happened to the missing records");
    }
    match AuditLog::open_continuing(file, Some(was)) {
        Ok(opened) => {
            match opened.accepted {
                Some(accepted) => writeln!(
                    stdout,
                    "{name}: accepted before: {accepted}; lbops starts on it as it is"
                )?,
                None => {
                    writeln!(
                        stdout,
                        "{name}: nothing to accept: the log holds record {} with that hash; lbops starts on it as it is",
                        was.seq
                    )?;
                    return Ok(ExitCode::from(1));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(AuditError::Discontinued(_)) => {
            let opened = AuditLog::open(file)?;
            let mut log = opened.log;
            let end = log.head().clone();
            let event = audit::accept::end_accepted(was, &end, &operator(), reason.trim());
            let head = log.append(&event, time::OffsetDateTime::from(SystemClock.now()))?;
            writeln!(
                stdout,
                "{name}: accepted the end at seq {} in place of seq {}, recorded as record {}; the head is now {head}. Start lbops again",
                end.seq, was.seq, head.seq
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(AuditError::Broken { error, .. }) => {
            writeln!(
                stdout,
                "{name}:{}: {}; a broken chain cannot be accepted: restore the log from a backup, or move it aside (kept as evidence) and let lbops start a new one",
                error.line, error.problem
            )?;
            Ok(ExitCode::from(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// Who is accepting, as the record names them: the login name the
/// environment gives, and the uid.
fn operator() -> String {
    let uid = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").map_or_else(|_| "?".to_owned(), |m| m.uid().to_string())
    };
    let user = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()));
    match user {
        Some(user) => format!("operator {user} (uid {uid})"),
        None => format!("operator uid {uid}"),
    }
}

/// Verifies `file`; the outer error is an I/O error, the inner a broken chain.
fn check(
    file: &Path,
    head: Option<&Head>,
) -> anyhow::Result<Result<audit::VerifySummary, VerifyError>> {
    let reader = BufReader::new(open(file)?);
    match audit::verify(reader, head) {
        Err(e) if e.problem.is_io() => Err(anyhow::anyhow!(
            "{}:{}: {}",
            file.display(),
            e.line,
            e.problem
        )),
        result => Ok(result),
    }
}

fn open(file: &Path) -> anyhow::Result<File> {
    File::open(file).with_context(|| format!("cannot open the audit log {}", file.display()))
}

fn show(file: &Path, filter: &Filter, output: crate::Output) -> anyhow::Result<ExitCode> {
    let broken = check(file, None)?.err();
    let mut matched = Vec::new();
    for record in audit::read_records(BufReader::new(open(file)?)) {
        let record = record.with_context(|| format!("cannot read {}", file.display()))?;
        if filter.matches(&record.event) {
            matched.push(record);
        }
    }
    let mut stdout = std::io::stdout().lock();
    match output {
        crate::Output::Text => {
            for record in &matched {
                writeln!(stdout, "{}", text_line(record))?;
            }
        }
        crate::Output::Json => {
            writeln!(stdout, "{}", serde_json::to_string_pretty(&matched)?)?;
        }
    }
    match broken {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            eprintln!(
                "{}:{}: {}; records from this line on cannot be trusted",
                file.display(),
                e.line,
                e.problem
            );
            Ok(ExitCode::from(1))
        }
    }
}

/// `time  #seq  kind  actor  commit  resources  outcome`, with `-` for none.
fn text_line(record: &Record) -> String {
    let event = &record.event;
    let commit = event
        .commit
        .as_deref()
        .map_or("-", |c| c.get(..12).unwrap_or(c));
    let resources = if event.resources.is_empty() {
        "-".to_owned()
    } else {
        event.resources.join(",")
    };
    format!(
        "{}  #{}  {}  {}  {}  {}  {}",
        record.time, record.seq, event.kind, event.actor, commit, resources, event.outcome
    )
}
