//! What an answer means for a pipeline, and how it is printed: the exit
//! status (one table, [`verdict`]), one line saying what happened, then
//! the daemon's message and hint; or, with `--output json`, the daemon's
//! body as it sent it. Every line printed goes through [`scrub`], so the
//! token cannot reach a CI log even if something echoed it.

use super::send::{Answer, NoAnswer};
use crate::Output;
use lbops::spec::material::api_token::ApiToken;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;

/// Exit status: the daemon applied the change (or, without `--wait`,
/// accepted it), or answered a read.
pub const EXIT_DONE: u8 = 0;
/// Exit status: the daemon answered, and the change is not (yet) in
/// effect: denied, invalid, not found, conflict, not applied, or not
/// applied within `--timeout`. Running the same command again gets the
/// same answer until someone changes something.
pub const EXIT_REFUSED: u8 = crate::EXIT_INVALID;
/// Exit status: the command never got an answer that decides: bad
/// arguments or token file, the daemon unreachable, still busy (429/503)
/// after the retries, or failing (500); trying again later may work.
pub const EXIT_FAILED: u8 = crate::EXIT_USAGE;

/// What an answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Done,
    Refused,
    Failed,
}

impl Verdict {
    fn exit(self) -> ExitCode {
        ExitCode::from(match self {
            Verdict::Done => EXIT_DONE,
            Verdict::Refused => EXIT_REFUSED,
            Verdict::Failed => EXIT_FAILED,
        })
    }
}

/// The exit status table: `status` answered to a call that `waited`
/// (`--wait`) or not.
#[must_use]
pub fn verdict(status: StatusCode, waited: bool) -> Verdict {
    match status.as_u16() {
        200 | 201 | 204 => Verdict::Done,
        202 if waited => Verdict::Refused,
        202 => Verdict::Done,
        429 => Verdict::Failed,
        400..=499 | 501 | 502 => Verdict::Refused,
        _ => Verdict::Failed,
    }
}

/// What a printed report needs besides the answer.
pub struct Context<'a> {
    pub output: Output,
    pub server: &'a Url,
    pub token: &'a ApiToken,
    /// What the call did ("register 10.0.0.7:8080 in pool/web").
    pub what: &'a str,
    /// For a write: its Idempotency-Key, and `--timeout` when it waited.
    pub key: Option<&'a str>,
    pub waited: Option<Duration>,
}

impl Context<'_> {
    fn out(&self, text: &str) {
        println!("{}", scrub(text, self.token));
    }

    fn err(&self, text: &str) {
        eprintln!("{}", scrub(text, self.token));
    }

    /// The daemon's page for a commit, from the answer's `status_url`.
    fn page(&self, body: &Value) -> Option<String> {
        let path = body["status_url"].as_str()?;
        let base = self.server.as_str().trim_end_matches('/');
        Some(format!("{base}{path}"))
    }

    /// How to try again without a second commit, for answers after which
    /// that is what to do: on stderr whatever the output, so that a
    /// pipeline reading JSON on stdout still logs it.
    fn again(&self) {
        if let Some(key) = self.key {
            self.err(&format!(
                "  to try again without committing twice, run it with --idempotency-key {key}"
            ));
        }
    }
}

/// Prints the answer to a write and says how the command exits.
pub fn write(cx: &Context<'_>, answer: &Answer) -> ExitCode {
    let verdict = verdict(answer.status, cx.waited.is_some());
    let Some(body) = &answer.json else {
        return unexpected(cx, answer);
    };
    let status = answer.status.as_u16();
    // Whether the same command with the same key is what to run next.
    // (Not after 501 or 502: the same call gets the same answer.)
    let again = verdict != Verdict::Done && matches!(status, 202 | 409 | 429 | 500 | 503);
    if let Output::Json = cx.output {
        cx.out(&pretty(body));
        if again {
            cx.again();
        }
        return verdict.exit();
    }
    let commit = short(body["commit"].as_str().unwrap_or("?"));
    let page = cx.page(body);
    let see = page
        .as_deref()
        .map_or_else(String::new, |p| format!("; see {p}"));
    match (verdict, status) {
        // A drain, weights or split the branch already had: nothing to commit.
        (Verdict::Done, 200) if body["unchanged"] == true => cx.out(&format!(
            "unchanged: {}: the branch already has it; no commit made",
            cx.what
        )),
        (Verdict::Done, 202) => cx.out(&format!(
            "accepted: {} as commit {commit}; the daemon applies it next (--wait waits for that){see}",
            cx.what
        )),
        (Verdict::Done, _) => cx.out(&format!(
            "applied: {} as commit {commit}; the daemon runs it{see}",
            cx.what
        )),
        (_, 202) => {
            let within = cx.waited.map_or_else(String::new, |t| {
                format!(" within {}", humantime(t))
            });
            cx.err(&format!(
                "lbops: {}: committed as {commit} but not applied{within}{see}",
                cx.what
            ));
        }
        (_, status) => {
            cx.err(&format!(
                "lbops: {}: {} ({} {})",
                cx.what,
                headline(status),
                status,
                body["code"].as_str().unwrap_or("no code")
            ));
            message_and_hint(cx, body);
            if let Some(page) = page {
                cx.err(&format!("  see {page}"));
            }
        }
    }
    if again {
        cx.again();
    }
    verdict.exit()
}

/// Prints the answer to `targets list` and says how the command exits.
pub fn list(cx: &Context<'_>, answer: &Answer) -> ExitCode {
    let verdict = verdict(answer.status, false);
    let Some(body) = &answer.json else {
        return unexpected(cx, answer);
    };
    if let Output::Json = cx.output {
        cx.out(&pretty(body));
        return verdict.exit();
    }
    if verdict != Verdict::Done {
        let status = answer.status.as_u16();
        cx.err(&format!(
            "lbops: {}: {} ({} {})",
            cx.what,
            headline(status),
            status,
            body["code"].as_str().unwrap_or("no code")
        ));
        message_and_hint(cx, body);
        return verdict.exit();
    }
    // `GET …/targets` answers them at the top; `GET /v1/pools/{name}` in `pool`.
    let targets = body["targets"]
        .as_array()
        .or_else(|| body["pool"]["targets"].as_array());
    let Some(targets) = targets else {
        return unexpected(cx, answer);
    };
    cx.out(&format!(
        "{:<40} {:>6}  {:<10} {}",
        "ADDRESS", "WEIGHT", "HEALTH", "NOTE"
    ));
    for t in targets {
        let mut note = Vec::new();
        if t["backup"].as_bool() == Some(true) {
            note.push("backup");
        }
        if t["in_git"].as_bool() == Some(false) {
            note.push("not in git (draining)");
        }
        cx.out(&format!(
            "{:<40} {:>6}  {:<10} {}",
            t["address"].as_str().unwrap_or("?"),
            t["weight"]
                .as_u64()
                .map_or_else(|| "?".to_owned(), |w| w.to_string()),
            t["health"].as_str().unwrap_or("unknown"),
            note.join(", ")
        ));
    }
    verdict.exit()
}

/// No answer at all: the daemon could not be reached.
pub fn no_answer(cx: &Context<'_>, failed: &NoAnswer) -> ExitCode {
    let tries = match failed.attempts {
        1 => "1 try".to_owned(),
        n => format!("{n} tries"),
    };
    let message = format!(
        "cannot reach the daemon at {} ({tries}): {}",
        cx.server, failed.why
    );
    let hint = if failed.why.contains("certificate") {
        "the daemon's certificate is not trusted here: give the CA that signed it with --ca-file \
         (LBOPS_CA_FILE)"
    } else {
        "check --server (LBOPS_SERVER) and that the daemon runs and listens there"
    };
    match cx.output {
        Output::Json => cx.out(&pretty(&error_body("cli-unreachable", &message, hint))),
        Output::Text => {
            cx.err(&format!("lbops: {}: {message}", cx.what));
            cx.err(&format!("  hint: {hint}"));
        }
    }
    cx.again();
    Verdict::Failed.exit()
}

/// A problem found before calling (token file, server URL, CA file).
pub fn before_call(output: Output, code: &str, message: &str) -> ExitCode {
    let hint = "see `lbops help` for the command's arguments";
    match output {
        Output::Json => println!("{}", pretty(&error_body(code, message, hint))),
        Output::Text => eprintln!("lbops: {message}"),
    }
    Verdict::Failed.exit()
}

/// An answer that is not the API's JSON (a proxy's error page, say).
fn unexpected(cx: &Context<'_>, answer: &Answer) -> ExitCode {
    let mut start: String = answer.text.chars().take(200).collect();
    start.retain(|c| !c.is_control() || c == ' ');
    let message = format!(
        "the server answered {} with a body that is not the lbops API's: {start:?}",
        answer.status
    );
    let hint =
        "check that --server names the daemon (its api.listen), not something in front of it";
    match cx.output {
        Output::Json => cx.out(&pretty(&error_body(
            "cli-unexpected-answer",
            &message,
            hint,
        ))),
        Output::Text => {
            cx.err(&format!("lbops: {}: {message}", cx.what));
            cx.err(&format!("  hint: {hint}"));
        }
    }
    match verdict(answer.status, cx.waited.is_some()) {
        Verdict::Done => Verdict::Failed.exit(),
        other => other.exit(),
    }
}

fn message_and_hint(cx: &Context<'_>, body: &Value) {
    if let Some(message) = body["message"].as_str() {
        cx.err(&format!("  {message}"));
    }
    if let Some(hint) = body["hint"].as_str() {
        cx.err(&format!("  hint: {hint}"));
    }
}

/// What a refusal's status means, in a few words.
fn headline(status: u16) -> &'static str {
    match status {
        400 => "the daemon did not understand the request",
        401 => "the token was not accepted",
        403 => "denied",
        404 => "not found",
        405 => "this daemon has no such endpoint (is it older than this client?)",
        409 => "not committed: the branch kept moving",
        413 | 431 => "the request is too large",
        422 => "invalid",
        429 => "too many calls, even after the retries",
        501 => "this daemon cannot do that",
        502 => "committed but not applied",
        503 => "the daemon is not ready, even after the retries",
        500..=599 => "the daemon failed",
        _ => "unexpected answer",
    }
}

/// The error object `--output json` prints for what the client itself
/// found: the daemon's shape, with `cli-` codes.
fn error_body(code: &str, message: &str, hint: &str) -> Value {
    json!({ "code": code, "message": message, "hint": hint })
}

fn pretty(body: &Value) -> String {
    serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string())
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

fn humantime(d: Duration) -> String {
    match d.subsec_millis() {
        0 => format!("{}s", d.as_secs()),
        _ => format!("{}ms", d.as_millis()),
    }
}

/// `text` with the token blanked out, should anything have echoed it.
#[must_use]
pub fn scrub(text: &str, token: &ApiToken) -> String {
    text.replace(token.expose(), "[token]")
}
