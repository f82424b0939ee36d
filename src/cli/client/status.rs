//! `lbops status`: the estate (`GET /v1/estate`) as a compact tree, in
//! colour on a terminal (never when stdout is not one, or `NO_COLOR` is
//! set), or the daemon's JSON with `--output json`; `--watch` draws it
//! again every `--interval` until interrupted.

use super::report::{self, Context};
use super::send::{self, Caller};
use super::{ready, request, runtime, Connection};
use crate::Output;
use clap::Args;
use lbops::daemon::pages::estate::model::Estate;
use lbops::daemon::pages::estate::tree::{tree, Colour};
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::Duration;

/// What `lbops status` exits with.
const STATUS_EXIT: &str = "Exit status: 0 the estate was read; 1 the daemon answered no \
    (401 no or bad token, 403 no state.read); 2 usage, token file or transport error, or the \
    daemon busy or failing after the retries (429/503/500). With --watch, the status of the \
    last read when interrupted.";

#[derive(Args)]
#[command(after_help = STATUS_EXIT)]
pub struct StatusArgs {
    #[command(flatten)]
    connection: Connection,
    /// Draw it again every --interval until interrupted (Ctrl-C).
    #[arg(long)]
    watch: bool,
    /// How often --watch draws (e.g. `2s`, `1m`).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = super::duration)]
    interval: Duration,
}

pub fn status(args: StatusArgs) -> ExitCode {
    let connection = &args.connection;
    let ready = match ready(connection) {
        Ok(ready) => ready,
        Err(code) => return code,
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(e) => return report::before_call(connection.output, "cli-runtime", &e.to_string()),
    };
    let caller = Caller {
        client: &ready.client,
        server: &ready.server,
        token: &ready.token,
        retries: connection.retries,
    };
    let request = request::estate();
    let cx = Context {
        output: connection.output,
        server: &ready.server,
        token: &ready.token,
        what: &request.what,
        key: None,
        waited: None,
    };
    let terminal = std::io::stdout().is_terminal();
    let colour = match terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) {
        true => Colour::Ansi,
        false => Colour::Plain,
    };
    loop {
        if args.watch && terminal {
            // Home and clear: each frame replaces the one before.
            print!("\x1b[H\x1b[2J");
        }
        let code = match runtime.block_on(send::call(&caller, &request, None)) {
            Ok(answer) => draw(&cx, &answer, colour),
            Err(failed) => report::no_answer(&cx, &failed),
        };
        let _ = std::io::stdout().flush();
        if !args.watch {
            return code;
        }
        let interrupted = runtime.block_on(async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => true,
                () = tokio::time::sleep(args.interval) => false,
            }
        });
        if interrupted {
            return code;
        }
    }
}

/// One frame: the tree for a readable answer; anything else as every
/// client command reports it.
fn draw(cx: &Context<'_>, answer: &send::Answer, colour: Colour) -> ExitCode {
    let parsed = match (&cx.output, answer.status.as_u16(), &answer.json) {
        (Output::Text, 200, Some(json)) => serde_json::from_value::<Estate>(json.clone()).ok(),
        _ => None,
    };
    match parsed {
        Some(estate) => {
            print!("{}", tree(&estate, colour));
            ExitCode::SUCCESS
        }
        // JSON output, errors and answers of another shape: the daemon's
        // body as `targets list` prints it, with the same exit status.
        None => report::list(cx, answer),
    }
}
