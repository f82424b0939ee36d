//! `lbops token create`: a new API token for a ServiceAccount. The token
//! is printed once; what goes into git is the entry with its hash, added
//! in a commit that someone allowed `access.tokens.issue` signs, like any
//! other change of access.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use lbops::spec::actions;
use lbops::spec::material::api_token::ApiToken;
use lbops::spec::units::{Name, Timestamp};
use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an API token: prints the token once, and the entry to add
    /// under the ServiceAccount's `tokens` in git (its id, hash, scopes,
    /// resources, expiry and creation time; never the token).
    ///
    /// Exit status: 0 created, 2 usage error.
    Create {
        /// The ServiceAccount the token acts as.
        #[arg(long, value_name = "NAME")]
        service_account: Name,
        /// A name for the entry (default: `token-<id>`).
        #[arg(long, value_name = "NAME")]
        name: Option<Name>,
        /// Actions (or patterns) the token may use; they only narrow the
        /// account's roles. None: whatever the roles allow.
        #[arg(long, value_name = "ACTION,…", value_delimiter = ',')]
        scopes: Vec<String>,
        /// Resources (`kind/name` patterns) the token may touch.
        #[arg(long, value_name = "PATTERN,…", value_delimiter = ',')]
        resources: Vec<String>,
        /// When it expires: a number of days (`30d`), or a date or RFC 3339
        /// time.
        #[arg(long, value_name = "WHEN", default_value = "90d")]
        expires: String,
        /// `text` for people, `json` for scripts.
        #[arg(long, value_enum, default_value_t = crate::Output::Text)]
        output: crate::Output,
    },
}

/// The entry for the ServiceAccount's `tokens`, as it goes into git.
#[derive(Serialize)]
struct Entry {
    name: String,
    id: String,
    hash: String,
    expires: String,
    created: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<String>,
}

impl Entry {
    /// The entry as a YAML list item, indented to sit under `tokens:`.
    fn yaml(&self) -> String {
        // A pattern that starts with `*` would read as a YAML alias.
        let item = |text: &String| {
            if text.starts_with('*') {
                format!("'{text}'")
            } else {
                text.clone()
            }
        };
        let list = |items: &[String]| {
            let items: Vec<String> = items.iter().map(item).collect();
            format!("[{}]", items.join(", "))
        };
        let mut lines = vec![
            format!("    - name: {}", self.name),
            format!("      id: {}", self.id),
            format!("      hash: {}", self.hash),
            format!("      expires: {}", self.expires),
            format!("      created: {}", self.created),
        ];
        if !self.scopes.is_empty() {
            lines.push(format!("      scopes: {}", list(&self.scopes)));
        }
        if !self.resources.is_empty() {
            lines.push(format!("      resources: {}", list(&self.resources)));
        }
        lines.join("\n") + "\n"
    }
}

pub fn run(args: TokenArgs, now: OffsetDateTime) -> anyhow::Result<ExitCode> {
    let TokenCommand::Create {
        service_account,
        name,
        scopes,
        resources,
        expires,
        output,
    } = args.command;
    for scope in &scopes {
        if actions::expand(scope).is_empty() {
            bail!(
                "`{scope}` names no action; see `lbops actions` (patterns such as `pool.*` work)"
            );
        }
    }
    for pattern in &resources {
        if !lbops::spec::kinds::is_resource_pattern(pattern) {
            bail!("`{pattern}` is not a resource pattern: write KIND/NAME, e.g. `pool/web-*`");
        }
    }
    let expires = expiry(&expires, now)?;
    let rng = ring::rand::SystemRandom::new();
    let token = ApiToken::generate(|buffer| {
        ring::rand::SecureRandom::fill(&rng, buffer)
            .expect("the operating system's random source works");
    });
    let name = match name {
        Some(name) => name.to_string(),
        None => format!("token-{}", token.id()),
    };
    let entry = Entry {
        name,
        id: token.id().to_string(),
        hash: token.stored_hash(),
        expires: expires.format(&Rfc3339)?,
        created: now.replace_nanosecond(0)?.format(&Rfc3339)?,
        scopes,
        resources,
    };
    let mut stdout = std::io::stdout().lock();
    match output {
        crate::Output::Json => {
            #[derive(Serialize)]
            struct Created<'a> {
                service_account: String,
                token: &'a str,
                entry: &'a Entry,
            }
            let created = Created {
                service_account: service_account.to_string(),
                token: token.expose(),
                entry: &entry,
            };
            serde_json::to_writer_pretty(&mut stdout, &created)?;
            writeln!(stdout)?;
        }
        crate::Output::Text => write!(
            stdout,
            "Token for serviceaccount/{service_account}, shown once (keep it in your \
             pipeline's secret store, never in git):\n\n{}\n\n\
             Add this entry under `spec.tokens` of ServiceAccount {service_account}, in a \
             commit signed by someone allowed `access.tokens.issue`:\n\n{}",
            token.expose(),
            entry.yaml()
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `30d` from `now`, or an absolute date or time; never in the past.
fn expiry(text: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    let at = match text.strip_suffix('d').map(str::parse::<u16>) {
        Some(Ok(days)) if days > 0 => now + time::Duration::days(i64::from(days)),
        Some(_) => bail!("`{text}`: give a number of days from 1, e.g. `30d`"),
        None => {
            let at: Timestamp = text
                .parse()
                .map_err(|e: String| anyhow::anyhow!(e))
                .with_context(|| format!("`{text}` is neither `<days>d` nor a date or time"))?;
            OffsetDateTime::from_unix_timestamp(at.unix())?
        }
    };
    if at <= now {
        bail!("`{text}` is not in the future");
    }
    Ok(at.replace_nanosecond(0)?)
}
