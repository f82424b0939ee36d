//! Every lbops state of every context, as each forge names it.

use super::{commit, Forge, KINDS};
use crate::report::forge::ForgeKind;
use crate::report::{ContextName, Status, StatusContext, StatusSink, StatusState};

const STATES: [StatusState; 4] = [
    StatusState::Pending,
    StatusState::Success,
    StatusState::Failure,
    StatusState::Error,
];

/// The forge's name for each of [`STATES`], from its API documentation.
fn expected_states(kind: ForgeKind) -> [&'static str; 4] {
    match kind {
        ForgeKind::GitHub | ForgeKind::Gitea => ["pending", "success", "failure", "error"],
        ForgeKind::GitLab => ["pending", "success", "failed", "failed"],
        ForgeKind::Bitbucket => ["INPROGRESS", "SUCCESSFUL", "FAILED", "FAILED"],
    }
}

/// The body field holding the context name.
fn context_field(kind: ForgeKind) -> &'static str {
    match kind {
        ForgeKind::GitHub | ForgeKind::Gitea => "context",
        ForgeKind::GitLab | ForgeKind::Bitbucket => "name",
    }
}

#[tokio::test]
async fn every_state_of_every_context_reaches_each_forge_in_its_shape() {
    for kind in KINDS {
        let forge = Forge::start(kind).await;
        let mut expected = Vec::new();
        for context in StatusContext::ALL {
            for (n, state) in STATES.into_iter().enumerate() {
                let mut status =
                    Status::new(context, state, &format!("{} is {n}", context.as_str()));
                if n % 2 == 1 {
                    status = status.with_url(format!("https://lbops.example/commit/{}", commit()));
                }
                forge.sink.post(commit(), &status).await.unwrap();
                expected.push((
                    format!("lbops/{}", context.as_str()),
                    expected_states(kind)[n],
                    status,
                ));
            }
        }
        let seen = forge.server.seen();
        assert_eq!(seen.len(), expected.len(), "{kind}");
        for (seen, (context, state, status)) in seen.iter().zip(&expected) {
            let body = &seen.body;
            assert!(
                seen.path.contains(&commit().to_string()),
                "{kind}: {}",
                seen.path
            );
            assert_eq!(body["state"], *state, "{kind}");
            assert_eq!(body[context_field(kind)], *context, "{kind}");
            assert_eq!(body["description"], status.description, "{kind}");
            let url_field = match kind {
                ForgeKind::Bitbucket => "url",
                _ => "target_url",
            };
            match (&status.target_url, kind) {
                (Some(url), _) => assert_eq!(body[url_field], *url, "{kind}"),
                // Bitbucket requires a URL: the commit's page stands in.
                (None, ForgeKind::Bitbucket) => assert_eq!(
                    body["url"],
                    format!("https://bitbucket.org/acme/lb-config/commits/{}", commit())
                ),
                (None, _) => assert!(body.get(url_field).is_none(), "{kind}"),
            }
            if kind == ForgeKind::Bitbucket {
                assert_eq!(body["key"], *context);
            }
        }
    }
}

#[tokio::test]
async fn an_instance_prefix_and_a_long_description_still_fit() {
    for kind in KINDS {
        let names = ContextName::new(Some("eu west 1".into()));
        let forge = Forge::with(kind, names, super::quick()).await;
        let mut status = Status::new(StatusContext::Apply, StatusState::Failure, "x");
        status.description = "y ".repeat(300); // built by hand, past the limit
        forge.sink.post(commit(), &status).await.unwrap();
        let seen = forge.server.seen();
        assert_eq!(seen.len(), 1, "{kind}");
        let body = &seen[0].body;
        assert_eq!(body[context_field(kind)], "lbops/eu west 1/apply", "{kind}");
        assert_eq!(
            body["description"].as_str().unwrap().chars().count(),
            crate::report::MAX_DESCRIPTION
        );
        if kind == ForgeKind::Bitbucket {
            assert!(body["key"]
                .as_str()
                .unwrap()
                .starts_with("lbops/eu-west-1/apply-"));
        }
    }
}
