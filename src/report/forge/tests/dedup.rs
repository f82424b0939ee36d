//! A status already posted is not posted again.

use super::{commit, Forge, KINDS};
use crate::report::{Status, StatusContext, StatusSink, StatusState};

#[tokio::test]
async fn the_same_status_twice_is_one_request() {
    for kind in KINDS {
        let forge = Forge::start(kind).await;
        let ok = Status::new(
            StatusContext::Validate,
            StatusState::Success,
            "16 resources valid",
        );
        forge.sink.post(commit(), &ok).await.unwrap();
        forge.sink.post(commit(), &ok).await.unwrap();
        assert_eq!(forge.server.seen().len(), 1, "{kind}");

        // Anything shown that differs is a new status …
        let linked = ok.clone().with_url("https://lbops.example/c");
        forge.sink.post(commit(), &linked).await.unwrap();
        let other = Status::new(
            StatusContext::Drift,
            StatusState::Success,
            "16 resources valid",
        );
        forge.sink.post(commit(), &other).await.unwrap();
        assert_eq!(forge.server.seen().len(), 3, "{kind}");
        // … and going back to an earlier one posts it again.
        forge.sink.post(commit(), &ok).await.unwrap();
        assert_eq!(forge.server.seen().len(), 4, "{kind}");
    }
}

#[tokio::test]
async fn a_failed_post_is_not_remembered() {
    use super::standin::Reply;
    for kind in KINDS {
        let forge = Forge::start(kind).await;
        forge.server.reply(Reply::status(401));
        let ok = Status::new(StatusContext::Apply, StatusState::Success, "applied");
        assert!(forge.sink.post(commit(), &ok).await.is_err());
        forge.sink.post(commit(), &ok).await.unwrap();
        assert_eq!(forge.server.seen().len(), 2, "{kind}");
    }
}
