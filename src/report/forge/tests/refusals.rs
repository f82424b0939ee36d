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
            if (kind, code) == (ForgeKind::GitLab, 403) {
                // Statuses on a protected branch need its push or merge rights.
                assert!(message.contains("protected branch"), "{message}");
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

#[tokio::test]
async fn a_redirect_is_not_followed_and_names_the_url_to_use() {
    for kind in KINDS {
        // Moved to another host: followed, the POST would become a GET
        // there, without its token.
        let forge = Forge::start(kind).await;
        let path = forge.server.path_of(commit());
        forge.server.reply(
            Reply::status(301).header("location", format!("https://forge.acme.test/api{path}")),
        );
        let error = forge.sink.post(commit(), &status()).await.unwrap_err();
        let message = error.to_string();
        println!("{message}");
        assert!(matches!(error, ReportError::Permanent { .. }), "{message}");
        assert!(message.contains("HTTP 301"), "{message}");
        assert!(
            message.contains("set api_url to https://forge.acme.test/api"),
            "{kind}: {message}"
        );
        assert_eq!(forge.server.seen().len(), 1, "{kind}");

        // Moved on the same server, by a relative Location: followed, the
        // stand-in would see a GET.
        let forge = Forge::start(kind).await;
        forge
            .server
            .reply(Reply::status(302).header("location", "/elsewhere"));
        let error = forge.sink.post(commit(), &status()).await.unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, ReportError::Permanent { .. }), "{message}");
        assert!(message.contains("/elsewhere"), "{kind}: {message}");
        assert_eq!(forge.server.seen().len(), 1, "{kind}");
    }
}

#[tokio::test]
async fn githubs_thousand_statuses_per_context_are_recognised_and_not_retried() {
    let forge = Forge::start(ForgeKind::GitHub).await;
    forge.server.rules(|rules| rules.status_limit = 3);
    let flip = |n: usize| {
        let state = match n % 2 {
            0 => StatusState::Failure,
            _ => StatusState::Success,
        };
        Status::new(StatusContext::Drift, state, "drift comes and goes")
    };
    for n in 0..3 {
        forge.sink.post(commit(), &flip(n)).await.unwrap();
    }
    let error = forge.sink.post(commit(), &flip(3)).await.unwrap_err();
    let message = error.to_string();
    println!("{message}");
    assert!(matches!(error, ReportError::Permanent { .. }), "{message}");
    assert!(message.contains("1,000 statuses"), "{message}");
    assert!(!message.contains("bug in lbops"), "{message}");
    // The forge still shows the failure: the same again needs nothing …
    forge.sink.post(commit(), &flip(4)).await.unwrap();
    // … and, known full, the next change of that context is not sent at all …
    let again = forge.sink.post(commit(), &flip(5)).await.unwrap_err();
    assert!(matches!(again, ReportError::Permanent { .. }), "{again}");
    assert_eq!(forge.server.seen().len(), 4);
    // … while the commit's other contexts still are.
    let other = Status::new(StatusContext::Apply, StatusState::Success, "applied");
    forge.sink.post(commit(), &other).await.unwrap();
    assert_eq!(forge.server.kept().len(), 4);
}

#[tokio::test]
async fn bitbucket_takes_an_api_token_with_its_email_and_an_api_url_with_2_0() {
    let forge = super::Forge::built(
        ForgeKind::Bitbucket,
        ContextName::default(),
        super::quick(),
        None,
        |config| {
            config.api_url = config.api_url.take().map(|url| format!("{url}/2.0/"));
            config.email = Some(super::shapes::EMAIL.into());
        },
    )
    .await;
    forge.sink.post(commit(), &status()).await.unwrap();
    assert_eq!(forge.server.kept().len(), 1);
    assert_eq!(forge.server.seen()[0].auth.as_deref(), Some("Basic"));
    // Without an email, the token is an access token, sent as Bearer.
    let forge = Forge::start(ForgeKind::Bitbucket).await;
    forge.sink.post(commit(), &status()).await.unwrap();
    assert_eq!(forge.server.seen()[0].auth.as_deref(), Some("Bearer"));
}
