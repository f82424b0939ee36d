//! `lbops dataplane`: run the embedded data plane as its own process.

use anyhow::Context;
use clap::Args;
use lbops::dataplane::admin::{self, AdminConfig, AdminServer};
use lbops::dataplane::config::DataplaneConfig;
use lbops::dataplane::limits::{MAX_CONNECTIONS_PER_LISTENER, REQUEST_HEAD_TIMEOUT};
use lbops::dataplane::{ConnectionLimits, Dataplane};
use lbops::spec;
use lbops::spec::units::Dur;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable that may hold the admin token's SHA-256 (hex).
pub const TOKEN_ENV: &str = "LBOPS_ADMIN_TOKEN_SHA256";

#[derive(Args)]
pub struct DataplaneArgs {
    /// A data-plane config file (JSON, the shape `--print-config` shows).
    #[arg(long, value_name = "FILE", conflicts_with = "repo")]
    config: Option<PathBuf>,
    /// Or a repository directory: validated, then served.
    #[arg(long, value_name = "DIR")]
    repo: Option<PathBuf>,
    /// Print the config as JSON and exit instead of serving it.
    #[arg(long)]
    print_config: bool,
    /// Where the last accepted config is kept, so a restart serves it again
    /// with no controller. Without --config or --repo, that config is served.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/lbops/dataplane")]
    state_dir: PathBuf,
    /// The admin API's address (loopback unless you mean otherwise).
    #[arg(long, value_name = "ADDR", default_value_t = admin::DEFAULT_LISTEN)]
    admin_listen: SocketAddr,
    /// A file holding the SHA-256 (hex) of the admin bearer token; or set
    /// LBOPS_ADMIN_TOKEN_SHA256. Without either, the admin API stays off.
    #[arg(long, value_name = "FILE")]
    admin_token_sha256_file: Option<PathBuf>,
    /// How long a new client connection has, from accept, to send its
    /// first complete request head, TLS handshake included (`tls`
    /// listeners: the handshake); a listener's shorter `idle_timeout`
    /// wins. E.g. 2500ms [default: 10s]
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    request_head_timeout: Option<Duration>,
    /// Client connections each listening address keeps open at most;
    /// further ones are closed at once and counted in
    /// lbops_dataplane_connections_refused_total. Mind LimitNOFILE: a
    /// proxied connection holds two descriptors.
    #[arg(long, value_name = "N", default_value_t = NonZeroUsize::new(MAX_CONNECTIONS_PER_LISTENER).unwrap_or(NonZeroUsize::MIN))]
    max_connections_per_listener: NonZeroUsize,
}

/// A duration as the repository format writes them, not zero (a zero
/// deadline would close every connection before it could say anything).
fn positive_duration(text: &str) -> Result<Duration, String> {
    match text.parse::<Dur>()? {
        Dur(d) if d.is_zero() => Err("must be longer than zero, e.g. `10s`".to_owned()),
        Dur(d) => Ok(d),
    }
}

/// Runs the subcommand; `Ok(1)` when a repository does not validate.
pub fn run(args: DataplaneArgs, now: i64) -> anyhow::Result<ExitCode> {
    let initial = match (&args.config, &args.repo) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(
                DataplaneConfig::parse(&text)
                    .with_context(|| format!("{} is not a data-plane config", path.display()))?,
            )
        }
        (None, Some(dir)) => {
            let files = lbops::source::read_tree(dir)?;
            match spec::load(&files, &spec::Options::at(now)) {
                Ok(validated) => Some(DataplaneConfig::from_catalog(&validated.catalog, 1)),
                Err(invalid) => {
                    for d in &invalid.diagnostics {
                        eprintln!("{d}");
                    }
                    return Ok(ExitCode::from(1));
                }
            }
        }
        (None, None) => None,
    };
    if args.print_config {
        println!("{}", initial.unwrap_or_default().to_json());
        return Ok(ExitCode::SUCCESS);
    }
    let token = admin_token(&args)?;
    crate::cli::run::init_logs(lbops::daemon::config::LogFormat::Auto);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, initial, token))?;
    Ok(ExitCode::SUCCESS)
}

fn admin_token(args: &DataplaneArgs) -> anyhow::Result<Option<[u8; 32]>> {
    let text = match (&args.admin_token_sha256_file, std::env::var(TOKEN_ENV)) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        (None, Ok(value)) => value,
        (None, Err(_)) => return Ok(None),
    };
    admin::parse_token_sha256(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("the admin token hash: {e}"))
}

async fn serve(
    args: DataplaneArgs,
    initial: Option<DataplaneConfig>,
    token: Option<[u8; 32]>,
) -> anyhow::Result<()> {
    // Listen for SIGTERM before anything is announced: a supervisor may
    // send it as soon as it sees the first line.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let limits = ConnectionLimits {
        // The default is the library's constant, not a copy of it here.
        request_head_timeout: args.request_head_timeout.unwrap_or(REQUEST_HEAD_TIMEOUT),
        max_connections_per_listener: args.max_connections_per_listener.get(),
    };
    let dataplane = Arc::new(Dataplane::with_limits(limits));
    match initial {
        Some(config) => dataplane.apply(config).await?,
        None => match admin::restore(&dataplane, &args.state_dir).await? {
            Some(version) => eprintln!(
                "lbops dataplane: serving config version {version} from {}",
                args.state_dir.display()
            ),
            None => eprintln!("lbops dataplane: no config yet; waiting for one on the admin API"),
        },
    }
    for address in dataplane.bound().await {
        eprintln!("lbops dataplane: listening on {address}");
    }
    eprintln!(
        "lbops dataplane: a new connection has {}ms to send a request head; at most {} connections per listener",
        limits.request_head_timeout.as_millis(),
        limits.max_connections_per_listener
    );
    let admin = match token {
        Some(token_sha256) => {
            let config = AdminConfig {
                listen: args.admin_listen,
                token_sha256,
                state_dir: args.state_dir.clone(),
            };
            let server = AdminServer::start(dataplane.clone(), config).await?;
            eprintln!("lbops dataplane: admin API on {}", server.local_addr());
            Some(server)
        }
        None => {
            eprintln!("lbops dataplane: admin API off (no token hash given: --admin-token-sha256-file or {TOKEN_ENV})");
            None
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    eprintln!("lbops dataplane: stopping");
    if let Some(admin) = admin {
        admin.shutdown().await;
    }
    dataplane.shutdown().await;
    Ok(())
}
