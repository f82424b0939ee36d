//! Refusals are permanent, say what to check, and never show the token.

use super::shapes::TOKEN;
use super::standin::Reply;
use super::{commit, Forge, KINDS};
use crate::report::forge::{build, ForgeKind};
use crate::report::{ContextName, ReportError, Status, StatusContext, StatusSink, StatusState};
use crate::support::clock::SystemClock;
use std::sync::Arc;

fn status() -> Status {
    Status::new(
        StatusContext::Apply,
        StatusState::Error,
        "provider unreachable",
    )
}

#[tokio::test]
async fn refusals_are_permanent_and_say_what_to_check() {
    let checks: [(u16, &[&str]); 4] = [
        (401, &["HTTP 401", "valid, unexpired token", "token"]),
        (403, &["HTTP 403", "scope"]),
        (404, &["HTTP 404", "repository name"]),
        (422, &["HTTP 422", "please report it"]),
    ];
    for kind in KINDS {
        for (code, phrases) in checks {
            let forge = Forge::start(kind).await;
            // A forge echoing the token back must not get it into a message.
            forge
                .server
                .reply(Reply::status(code).body(&format!("{{\"message\":\"bad {TOKEN}\"}}")));
            let error = forge.sink.post(commit(), &status()).await.unwrap_err();
            let message = error.to_string();
            println!("{message}");
            assert!(matches!(error, ReportError::Permanent { .. }), "{message}");
            assert!(message.starts_with(kind.as_str()), "{message}");
            for phrase in phrases {
                assert!(message.contains(phrase), "{kind} {code}: {message}");
            }
            assert!(!message.contains(TOKEN), "{message}");
            assert_eq!(forge.server.seen().len(), 1, "{kind} {code}: not retried");
        }
    }
}

#[tokio::test]
async fn gitlab_answering_already_set_is_success() {
    let forge = Forge::start(ForgeKind::GitLab).await;
    forge.server.reply(Reply::status(400).body(
        r#"{"message":"Cannot transition status via :run from :running (Reason(s): Status cannot transition via \"run\")"}"#,
    ));
    forge.sink.post(commit(), &status()).await.unwrap();
    assert_eq!(forge.server.seen().len(), 1);
}

#[tokio::test]
async fn an_unreadable_token_says_where_it_was_looked_for() {
    let mut config = super::config(
        ForgeKind::GitHub,
        "http://127.0.0.1:9",
        "/nonexistent/lbops-token".into(),
    );
    let sink = build(&config, ContextName::default(), Arc::new(SystemClock)).unwrap();
    let error = sink.post(commit(), &status()).await.unwrap_err();
    assert!(matches!(error, ReportError::Permanent { .. }), "{error}");
    assert!(
        error.to_string().contains("/nonexistent/lbops-token"),
        "{error}"
    );
    config.token_file = None;
    assert!(build(&config, ContextName::default(), Arc::new(SystemClock)).is_err());
}
