//! `lbops targets`, `lbops weights`, `lbops routes`, `lbops status`: the
//! daemon's API from a pipeline or a terminal. Each write becomes a signed commit by the token's
//! ServiceAccount, judged and applied like any other.
//!
//! * [`request`]: the arguments, checked, as the call they make;
//! * [`connect`]: `--server`, `--token-file`, `--ca-file`;
//! * [`send`]: retries and `--wait`;
//! * [`report`]: the exit status and the output.

mod connect;
mod report;
mod request;
mod send;
mod status;

pub use status::{status, StatusArgs};

use crate::Output;
use clap::{Args, Subcommand};
use lbops::spec::units::{Dur, Name};
use report::Context;
use request::Request;
use send::{Caller, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The exit status every client command documents.
const EXIT_STATUS: &str = "Exit status: 0 applied (with --wait) or accepted (without) or \
    read; 1 the daemon answered no: denied, invalid, not found, conflict, not applied, or not \
    applied within --timeout (401/403/404/409/422/502, 202 after --wait); 2 usage, token \
    file or transport error, or the daemon still busy or failing after the retries \
    (429/503/500).";

/// Where the daemon is and how to reach it; every client command takes these.
#[derive(Args)]
pub struct Connection {
    /// The daemon's base URL: its `api.listen`, or the proxy in front of it.
    #[arg(long, env = "LBOPS_SERVER", hide_env_values = true, value_name = "URL")]
    server: String,
    /// A file holding the API token, alone on a line (`-`: standard
    /// input). Not readable by "others". There is no option taking the
    /// token itself: it would land in shell history and `ps`.
    #[arg(
        long,
        env = "LBOPS_TOKEN_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    token_file: PathBuf,
    /// Trust only this CA (PEM) for an https daemon, instead of the system's roots.
    #[arg(
        long,
        env = "LBOPS_CA_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    ca_file: Option<PathBuf>,
    /// How many times a call that got no answer, or a 429/503 with
    /// Retry-After, is sent again (a write with the same Idempotency-Key).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: u32,
    /// `text`: one line saying what happened, then the daemon's message and
    /// hint; `json`: the daemon's answer as it sent it.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

/// What every write takes besides the connection.
#[derive(Args)]
pub struct WriteArgs {
    #[command(flatten)]
    connection: Connection,
    /// Wait until the daemon applied the commit (or refused it).
    #[arg(long)]
    wait: bool,
    /// How long --wait waits (e.g. `90s`, `5m`); then exit 1 with the commit made.
    #[arg(long, value_name = "DURATION", default_value = "60s", requires = "wait",
          value_parser = duration)]
    timeout: Duration,
    /// Makes running the same command again answer with the first
    /// commit instead of making a second one. Default: a fresh key per
    /// run (kept for the command's own retries).
    #[arg(long, value_name = "KEY", value_parser = idempotency_key)]
    idempotency_key: Option<String>,
}

#[derive(Args)]
#[command(after_help = EXIT_STATUS)]
pub struct TargetsArgs {
    #[command(subcommand)]
    command: TargetsCommand,
}

#[derive(Subcommand)]
enum TargetsCommand {
    /// Register a target in a pool (`pool.targets.update`).
    #[command(after_help = EXIT_STATUS)]
    Add {
        /// The pool: `pool/web` or `web`.
        #[arg(value_parser = request::pool_ref)]
        pool: Name,
        /// The target, `host:port`.
        #[arg(value_parser = request::address)]
        address: String,
        /// Its weight.
        #[arg(long, default_value_t = 1)]
        weight: u32,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Deregister a target from a pool (`pool.targets.update`).
    #[command(after_help = EXIT_STATUS)]
    Remove {
        #[arg(value_parser = request::pool_ref)]
        pool: Name,
        #[arg(value_parser = request::address)]
        address: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Drain a target: weight 0, kept in the pool (`pool.weights.update`).
    #[command(after_help = EXIT_STATUS)]
    Drain {
        #[arg(value_parser = request::pool_ref)]
        pool: Name,
        #[arg(value_parser = request::address)]
        address: String,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// List a pool's targets with their live health (`state.read`).
    #[command(after_help = EXIT_STATUS)]
    List {
        #[arg(value_parser = request::pool_ref)]
        pool: Name,
        #[command(flatten)]
        connection: Connection,
    },
}

#[derive(Args)]
#[command(after_help = EXIT_STATUS)]
pub struct WeightsArgs {
    #[command(subcommand)]
    command: WeightsCommand,
}

#[derive(Subcommand)]
enum WeightsCommand {
    /// Set the weights of some of a pool's targets (`pool.weights.update`).
    #[command(after_help = EXIT_STATUS)]
    Set {
        #[arg(value_parser = request::pool_ref)]
        pool: Name,
        /// `ADDRESS=WEIGHT`, e.g. `10.0.0.7:8080=3`.
        #[arg(required = true, value_name = "ADDRESS=WEIGHT",
              value_parser = request::address_weight)]
        weights: Vec<(String, u32)>,
        #[command(flatten)]
        write: WriteArgs,
    },
}

#[derive(Args)]
#[command(after_help = EXIT_STATUS)]
pub struct RoutesArgs {
    #[command(subcommand)]
    command: RoutesCommand,
}

#[derive(Subcommand)]
enum RoutesCommand {
    /// Split a route's traffic between pools by weight.
    #[command(after_help = EXIT_STATUS)]
    Split {
        /// The balancer: `loadbalancer/edge` or `edge`.
        #[arg(value_parser = request::balancer_ref)]
        balancer: Name,
        /// The route's name.
        route: Name,
        /// `POOL=WEIGHT`, e.g. `web-stable=90 web-canary=10`.
        #[arg(required = true, value_name = "POOL=WEIGHT", value_parser = request::pool_weight)]
        pools: Vec<(Name, u32)>,
        #[command(flatten)]
        write: WriteArgs,
    },
}

pub fn targets(args: TargetsArgs) -> ExitCode {
    match args.command {
        TargetsCommand::Add {
            pool,
            address,
            weight,
            write,
        } => execute_write(&write, Ok(request::add_target(&pool, &address, weight))),
        TargetsCommand::Remove {
            pool,
            address,
            write,
        } => execute_write(&write, Ok(request::remove_target(&pool, &address))),
        TargetsCommand::Drain {
            pool,
            address,
            write,
        } => execute_write(&write, Ok(request::drain_target(&pool, &address))),
        TargetsCommand::List { pool, connection } => execute_list(&connection, &pool),
    }
}

pub fn weights(args: WeightsArgs) -> ExitCode {
    let WeightsCommand::Set {
        pool,
        weights,
        write,
    } = args.command;
    execute_write(&write, request::set_weights(&pool, &weights))
}

pub fn routes(args: RoutesArgs) -> ExitCode {
    let RoutesCommand::Split {
        balancer,
        route,
        pools,
        write,
    } = args.command;
    execute_write(&write, request::split_route(&balancer, &route, &pools))
}

/// What every call needs, ready: the client, the server, the token.
struct Ready {
    client: reqwest::Client,
    server: reqwest::Url,
    token: lbops::spec::material::api_token::ApiToken,
}

fn ready(connection: &Connection) -> Result<Ready, ExitCode> {
    let fail =
        |e: connect::ConnectError| report::before_call(connection.output, e.code(), &e.to_string());
    let server = connect::server_url(&connection.server).map_err(fail)?;
    let token = connect::read_token(&connection.token_file).map_err(fail)?;
    let client = connect::client(connection.ca_file.as_deref()).map_err(fail)?;
    Ok(Ready {
        client,
        server,
        token,
    })
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn execute_write(args: &WriteArgs, request: Result<Request, String>) -> ExitCode {
    let output = args.connection.output;
    let request = match request {
        Ok(request) => request,
        Err(why) => return report::before_call(output, "cli-usage", &why),
    };
    let ready = match ready(&args.connection) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let key = match &args.idempotency_key {
        Some(key) => key.clone(),
        None => fresh_key(),
    };
    let caller = Caller {
        client: &ready.client,
        server: &ready.server,
        token: &ready.token,
        retries: args.connection.retries,
    };
    let waited = args.wait.then_some(args.timeout);
    let cx = Context {
        output,
        server: &ready.server,
        token: &ready.token,
        what: &request.what,
        key: Some(&key),
        waited,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => return report::before_call(output, "cli-runtime", &e.to_string()),
    };
    let write = Write {
        key: &key,
        wait_until: waited.map(|t| Instant::now() + t),
    };
    match runtime.block_on(send::call(&caller, &request, Some(&write))) {
        Ok(answer) => report::write(&cx, &answer),
        Err(failed) => report::no_answer(&cx, &failed),
    }
}

fn execute_list(connection: &Connection, pool: &Name) -> ExitCode {
    let ready = match ready(connection) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let caller = Caller {
        client: &ready.client,
        server: &ready.server,
        token: &ready.token,
        retries: connection.retries,
    };
    let request = request::list_targets(pool);
    let cx = Context {
        output: connection.output,
        server: &ready.server,
        token: &ready.token,
        what: &request.what,
        key: None,
        waited: None,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => return report::before_call(connection.output, "cli-runtime", &e.to_string()),
    };
    let answer = runtime.block_on(async {
        let answer = send::call(&caller, &request, None).await?;
        // A daemon older than `GET …/targets` has the same list in the pool.
        let older = answer.status == reqwest::StatusCode::METHOD_NOT_ALLOWED
            || answer
                .json
                .as_ref()
                .is_some_and(|b| b["code"] == "no-such-endpoint");
        match older {
            true => send::call(&caller, &request::pool(pool), None).await,
            false => Ok(answer),
        }
    });
    match answer {
        Ok(answer) => report::list(&cx, &answer),
        Err(failed) => report::no_answer(&cx, &failed),
    }
}

/// A new Idempotency-Key: random, so two runs never share one by accident.
fn fresh_key() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("the operating system's random source works");
    format!("lbops-cli-{}", lbops::support::hex::encode(&bytes))
}

/// `--idempotency-key`: what the daemon takes, 1 to 255 visible characters.
fn idempotency_key(text: &str) -> Result<String, String> {
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("an Idempotency-Key is 1 to 255 visible ASCII characters".into());
    }
    Ok(text.to_owned())
}

/// `--timeout`: `90s`, `5m`, `1m30s`.
fn duration(text: &str) -> Result<Duration, String> {
    text.parse::<Dur>().map(|d| d.0)
}
