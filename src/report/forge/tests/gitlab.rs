//! GitLab as it answers: its state machine, its 409, `ref` and its 404
//! "References for commit", and `target_url` of at most 255 characters.

use super::standin::Reply;
use super::{commit, Forge};
use crate::report::forge::ForgeKind;
use crate::report::{ReportError, Status, StatusContext, StatusSink, StatusState};

fn pending(description: &str) -> Status {
    Status::new(StatusContext::Apply, StatusState::Pending, description).on_ref("refs/heads/main")
}

#[tokio::test]
async fn statuses_name_the_watched_branch_as_their_ref() {
    let forge = Forge::start(ForgeKind::GitLab).await;
    forge
        .sink
        .post(commit(), &pending("applying"))
        .await
        .unwrap();
    let kept = forge.server.kept();
    assert_eq!(kept[0].body["ref"], "main");
    // A status about no branch (a merge request's head) names none.
    let plan = Status::new(StatusContext::Plan, StatusState::Success, "3 changes")
        .on_ref("refs/merge-requests/7/head");
    forge.sink.post(commit(), &plan).await.unwrap();
    assert!(forge.server.kept()[1].body.get("ref").is_none());
}

#[tokio::test]
async fn a_commit_not_on_the_branch_is_reported_as_such() {
    let forge = Forge::start(ForgeKind::GitLab).await;
    let status = Status::new(StatusContext::Apply, StatusState::Success, "applied")
        .on_ref("refs/heads/release");
    let error = forge.sink.post(commit(), &status).await.unwrap_err();
    let message = error.to_string();
    println!("{message}");
    assert!(matches!(error, ReportError::Permanent { .. }), "{message}");
    assert!(message.contains("References for commit"), "{message}");
    assert!(message.contains("branch"), "{message}");
    assert!(!message.contains("repository name"), "{message}");
}

#[tokio::test]
async fn another_update_in_progress_is_tried_again() {
    let forge = Forge::start(ForgeKind::GitLab).await;
    forge
        .server
        .reply(Reply::status(409).body(r#"{"message":"Another update in progress"}"#));
    forge
        .sink
        .post(commit(), &pending("applying"))
        .await
        .unwrap();
    assert_eq!(forge.server.seen().len(), 2);
    assert_eq!(forge.server.kept().len(), 1);
}

#[tokio::test]
async fn a_refused_pending_to_pending_is_not_taken_for_the_new_description() {
    let forge = Forge::start(ForgeKind::GitLab).await;
    forge
        .sink
        .post(commit(), &pending("judging"))
        .await
        .unwrap();
    // GitLab refuses pending → pending and keeps "judging" …
    forge
        .sink
        .post(commit(), &pending("applying"))
        .await
        .unwrap();
    assert_eq!(forge.server.kept().len(), 1);
    assert_eq!(forge.server.kept()[0].body["description"], "judging");
    // … so "applying" is not what the forge shows: posting it again asks
    // the forge again rather than taking it as done.
    forge
        .sink
        .post(commit(), &pending("applying"))
        .await
        .unwrap();
    assert_eq!(forge.server.seen().len(), 3);
    // A finished status starts afresh: anything may follow it.
    let done = Status::new(StatusContext::Apply, StatusState::Success, "applied");
    forge.sink.post(commit(), &done).await.unwrap();
    forge
        .sink
        .post(commit(), &pending("applying again"))
        .await
        .unwrap();
    assert_eq!(forge.server.kept().len(), 3);
}

#[tokio::test]
async fn a_target_url_gitlab_would_refuse_is_left_out() {
    let forge = Forge::start(ForgeKind::GitLab).await;
    let long = format!(
        "https://lbops.example/{}/commits/{}",
        "p".repeat(220),
        commit()
    );
    let status =
        Status::new(StatusContext::Validate, StatusState::Success, "valid").with_url(long.clone());
    forge.sink.post(commit(), &status).await.unwrap();
    let kept = forge.server.kept();
    assert!(kept[0].body.get("target_url").is_none());
    // One that fits is sent.
    let fits = status.with_url("https://lbops.example/commits/c");
    forge.sink.post(commit(), &fits).await.unwrap();
    assert_eq!(
        forge.server.kept()[1].body["target_url"],
        "https://lbops.example/commits/c"
    );
}
