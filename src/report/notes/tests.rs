//! Real repositories made with the `git` CLI in temp dirs; what is
//! checked is what `git` itself shows.

use super::*;
use crate::report::{StatusContext, StatusState};
use std::path::Path;
use std::process::Command;

/// Runs git in `dir` with a fixed identity and no user or system config.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.test"])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

/// A work tree with `n` commits; their ids, oldest first.
fn repo_with_commits(dir: &Path, n: usize) -> Vec<CommitId> {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    (0..n)
        .map(|i| {
            std::fs::write(dir.join("lb.yaml"), format!("v: {i}\n")).unwrap();
            git(dir, &["add", "-A"]);
            git(dir, &["commit", "-q", "-m", &format!("change {i}")]);
            CommitId::parse(&git(dir, &["rev-parse", "HEAD"])).unwrap()
        })
        .collect()
}

fn sink(repository: &Path, instance: Option<&str>) -> GitNotes {
    GitNotes::new(NotesConfig::new(
        repository,
        ContextName::new(instance.map(Into::into)),
    ))
    .unwrap()
}

fn pushing_sink(repository: &Path, remote: &Path) -> GitNotes {
    let mut config = NotesConfig::new(repository, ContextName::default());
    config.push = Some(PushTarget {
        url: format!("file://{}", remote.display()),
        credentials: None,
    });
    GitNotes::new(config).unwrap()
}

/// The note lines `git log --notes=lbops -1 <commit>` shows.
fn shown_note(dir: &Path, commit: CommitId) -> Vec<String> {
    let log = git(dir, &["log", "--notes=lbops", "-1", &commit.to_string()]);
    let Some((_, note)) = log.split_once("Notes (lbops):\n") else {
        return Vec::new();
    };
    note.lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l).to_owned())
        .collect()
}

fn notes_head(dir: &Path) -> String {
    git(dir, &["rev-parse", "refs/notes/lbops"])
}

#[tokio::test]
async fn each_context_shows_its_latest_status_in_git_log() {
    let dir = tempfile::tempdir().unwrap();
    let [first, commit] = repo_with_commits(dir.path(), 2)[..] else {
        unreachable!()
    };
    let notes = sink(dir.path(), None);
    let url = format!("http://127.0.0.1:8712/commits/{commit}");
    let validate = Status::new(StatusContext::Validate, StatusState::Pending, "validating");
    notes.post(commit, &validate).await.unwrap();
    let validate = Status::new(
        StatusContext::Validate,
        StatusState::Success,
        "16 resources, all valid",
    );
    notes.post(commit, &validate).await.unwrap();
    let authorize = Status::new(
        StatusContext::Authorize,
        StatusState::Failure,
        "user/bob may not pool.weights.update on pool/db",
    )
    .with_url(&url);
    notes.post(commit, &authorize).await.unwrap();

    assert_eq!(
        shown_note(dir.path(), commit),
        [
            "lbops/validate: success — 16 resources, all valid".to_owned(),
            "lbops/authorize: failure — user/bob may not pool.weights.update on pool/db".to_owned(),
            format!("  details: {url}"),
        ]
    );
    assert!(shown_note(dir.path(), first).is_empty());
    assert_eq!(
        notes.read(commit).unwrap(),
        [
            NoteEntry {
                context: "lbops/validate".into(),
                state: StatusState::Success,
                description: "16 resources, all valid".into(),
                target_url: None,
            },
            NoteEntry {
                context: "lbops/authorize".into(),
                state: StatusState::Failure,
                description: "user/bob may not pool.weights.update on pool/db".into(),
                target_url: Some(url),
            },
        ]
    );
    assert!(notes.read(first).unwrap().is_empty());
    let authors = git(
        dir.path(),
        &["log", "--format=%an <%ae>", "refs/notes/lbops"],
    );
    assert_eq!(
        authors.lines().collect::<Vec<_>>(),
        ["lbops <lbops@localhost>"; 3]
    );
}

#[tokio::test]
async fn the_same_status_twice_makes_no_second_notes_commit() {
    let dir = tempfile::tempdir().unwrap();
    let [commit] = repo_with_commits(dir.path(), 1)[..] else {
        unreachable!()
    };
    let notes = sink(dir.path(), None);
    let status = Status::new(
        StatusContext::Apply,
        StatusState::Success,
        "applied 3 changes",
    )
    .with_url("http://x/");
    notes.post(commit, &status).await.unwrap();
    let before = notes_head(dir.path());
    notes.post(commit, &status).await.unwrap();
    notes.post(commit, &status.clone()).await.unwrap();
    assert_eq!(notes_head(dir.path()), before);
    let changed = Status::new(
        StatusContext::Apply,
        StatusState::Success,
        "applied 4 changes",
    )
    .with_url("http://x/");
    notes.post(commit, &changed).await.unwrap();
    assert_ne!(notes_head(dir.path()), before);
}

#[tokio::test]
async fn two_instances_on_one_repository_keep_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let [commit] = repo_with_commits(dir.path(), 1)[..] else {
        unreachable!()
    };
    let staging = sink(dir.path(), Some("staging"));
    let prod = sink(dir.path(), Some("prod"));
    let status = |state, text| Status::new(StatusContext::Apply, state, text);
    staging
        .post(commit, &status(StatusState::Pending, "applying"))
        .await
        .unwrap();
    prod.post(commit, &status(StatusState::Error, "lb-1 unreachable"))
        .await
        .unwrap();
    staging
        .post(commit, &status(StatusState::Success, "applied"))
        .await
        .unwrap();
    assert_eq!(
        shown_note(dir.path(), commit),
        [
            "lbops/prod/apply: error — lb-1 unreachable",
            "lbops/staging/apply: success — applied",
        ]
    );
    let contexts: Vec<String> = prod
        .read(commit)
        .unwrap()
        .into_iter()
        .map(|e| e.context)
        .collect();
    assert_eq!(contexts, ["lbops/prod/apply", "lbops/staging/apply"]);
}

#[tokio::test]
async fn a_bare_mirror_gets_the_note_on_the_right_commit() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let ids = repo_with_commits(&work, 3);
    let bare = dir.path().join("mirror.git");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let notes = sink(&bare, None);
    notes
        .post(
            ids[1],
            &Status::new(StatusContext::Drift, StatusState::Success, "no drift"),
        )
        .await
        .unwrap();
    let listed = git(&bare, &["notes", "--ref=lbops", "list"]);
    let annotated: Vec<&str> = listed.lines().filter_map(|l| l.split(' ').nth(1)).collect();
    assert_eq!(annotated, [ids[1].to_string()]);
    assert_eq!(
        git(
            &bare,
            &["notes", "--ref=lbops", "show", &ids[1].to_string()]
        ),
        "lbops/drift: success — no drift"
    );
    assert_eq!(
        shown_note(&bare, ids[1]),
        ["lbops/drift: success — no drift"]
    );
}

#[tokio::test]
async fn notes_are_pushed_and_merged_with_notes_someone_else_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote.git");
    git(
        dir.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    let work = dir.path().join("work");
    let ids = repo_with_commits(&work, 2);
    git(&work, &["push", "-q", remote.to_str().unwrap(), "main"]);
    let (ours, theirs) = (ids[1], ids[0]);
    let notes = pushing_sink(&work, &remote);
    notes
        .post(
            ours,
            &Status::new(StatusContext::Validate, StatusState::Success, "valid"),
        )
        .await
        .unwrap();
    assert_eq!(
        git(
            &remote,
            &["notes", "--ref=lbops", "show", &ours.to_string()]
        ),
        "lbops/validate: success — valid"
    );

    // Another writer adds a note to another commit and a line of another
    // instance to ours, and pushes.
    let other = dir.path().join("other");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    git(
        &other,
        &["fetch", "-q", "origin", "refs/notes/lbops:refs/notes/lbops"],
    );
    git(
        &other,
        &[
            "notes",
            "--ref=lbops",
            "add",
            "-m",
            "reviewed by alice",
            &theirs.to_string(),
        ],
    );
    git(
        &other,
        &[
            "notes",
            "--ref=lbops",
            "append",
            "--no-separator",
            "-m",
            "lbops/prod/apply: success — applied",
            &ours.to_string(),
        ],
    );
    git(&other, &["push", "-q", "origin", "refs/notes/lbops"]);

    notes
        .post(
            ours,
            &Status::new(StatusContext::Authorize, StatusState::Success, "allowed"),
        )
        .await
        .unwrap();
    assert_eq!(
        git(
            &remote,
            &["notes", "--ref=lbops", "show", &ours.to_string()]
        ),
        "lbops/validate: success — valid\n\
         lbops/authorize: success — allowed\n\
         lbops/prod/apply: success — applied"
    );
    assert_eq!(
        git(
            &remote,
            &["notes", "--ref=lbops", "show", &theirs.to_string()]
        ),
        "reviewed by alice"
    );
    // Local and remote agree, and the remote's history has theirs in it.
    assert_eq!(
        notes_head(&work),
        git(&remote, &["rev-parse", "refs/notes/lbops"])
    );
    git(
        &remote,
        &[
            "merge-base",
            "--is-ancestor",
            &git(&other, &["rev-parse", "refs/notes/lbops"]),
            "refs/notes/lbops",
        ],
    );
    assert_eq!(shown_note(&work, theirs), ["reviewed by alice"]);
}

#[tokio::test]
async fn a_failed_push_is_transient_and_the_next_post_pushes_what_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let [commit] = repo_with_commits(&work, 1)[..] else {
        unreachable!()
    };
    let remote = dir.path().join("remote.git");
    let status = Status::new(StatusContext::Validate, StatusState::Failure, "2 errors");
    let err = pushing_sink(&work, &remote)
        .post(commit, &status)
        .await
        .unwrap_err();
    let ReportError::Transient { sink, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*sink, "git-notes");
    assert!(
        message.contains("check that the remote is reachable"),
        "{message}"
    );
    // Written locally all the same.
    assert_eq!(
        shown_note(&work, commit),
        ["lbops/validate: failure — 2 errors"]
    );

    git(
        dir.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    let before = notes_head(&work);
    pushing_sink(&work, &remote)
        .post(commit, &status)
        .await
        .unwrap();
    assert_eq!(notes_head(&work), before, "nothing new to write");
    assert_eq!(git(&remote, &["rev-parse", "refs/notes/lbops"]), before);
}

#[tokio::test]
async fn descriptions_cannot_forge_lines() {
    let dir = tempfile::tempdir().unwrap();
    let [commit] = repo_with_commits(dir.path(), 1)[..] else {
        unreachable!()
    };
    let notes = sink(dir.path(), None);
    let forged = Status {
        context: StatusContext::Validate,
        state: StatusState::Failure,
        description: "bad\nlbops/authorize: success — forged\r\n\u{1b}[2J".into(),
        target_url: Some("http://x/\n  details: http://evil/".into()),
        branch: None,
    };
    notes.post(commit, &forged).await.unwrap();
    let entries = notes.read(commit).unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].context, "lbops/validate");
    assert_eq!(
        shown_note(dir.path(), commit),
        [
            "lbops/validate: failure — bad lbops/authorize: success — forged [2J",
            "  details: http://x/%20details:%20http://evil/",
        ]
    );
}

#[tokio::test]
async fn what_retrying_cannot_fix_is_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let status = Status::new(StatusContext::Drift, StatusState::Pending, "");
    let missing = sink(&dir.path().join("nope"), None);
    let some_commit = CommitId::parse(&"a".repeat(40)).unwrap();
    let err = missing.post(some_commit, &status).await.unwrap_err();
    assert!(matches!(err, ReportError::Permanent { .. }), "{err}");
    assert!(err.to_string().contains("not a git repository"), "{err}");
    assert!(matches!(
        missing.read(some_commit),
        Err(ReportError::Permanent { .. })
    ));

    repo_with_commits(dir.path(), 1);
    let err = sink(dir.path(), None)
        .post(some_commit, &status)
        .await
        .unwrap_err();
    assert!(matches!(err, ReportError::Permanent { .. }), "{err}");
    assert!(err.to_string().contains("fetch it"), "{err}");

    let bad_ref = NotesConfig {
        notes_ref: "refs/heads/main".into(),
        ..NotesConfig::new(dir.path(), ContextName::default())
    };
    assert!(matches!(
        GitNotes::new(bad_ref),
        Err(NotesError::BadNotesRef(_))
    ));
    let short = NotesConfig {
        notes_ref: "ci".into(),
        ..NotesConfig::new(dir.path(), ContextName::default())
    };
    assert_eq!(GitNotes::new(short).unwrap().notes_ref(), "refs/notes/ci");
    let bad_author = NotesConfig {
        author: Author {
            name: "lbops".into(),
            email: "<evil>\n".into(),
        },
        ..NotesConfig::new(dir.path(), ContextName::default())
    };
    assert!(matches!(
        GitNotes::new(bad_author),
        Err(NotesError::BadAuthor { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_left_by_a_killed_writer_is_cleared_and_a_live_one_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let [commit] = repo_with_commits(dir.path(), 1)[..] else {
        unreachable!()
    };
    let lock = dir.path().join(".git/refs/notes/lbops.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let notes = sink(dir.path(), None);
    let status = Status::new(StatusContext::Plan, StatusState::Success, "3 changes");

    // Left behind a minute ago by a daemon killed mid-update: removed.
    let file = std::fs::File::create(&lock).unwrap();
    let minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    file.set_modified(minute_ago).unwrap();
    drop(file);
    notes.post(commit, &status).await.unwrap();
    assert!(!lock.exists());
    assert_eq!(notes.read(commit).unwrap().len(), 1);

    // Held by a live writer that finishes: waited for, not removed.
    std::fs::write(&lock, "").unwrap();
    let (released_tx, released) = std::sync::mpsc::channel();
    let writer = {
        let lock = lock.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            std::fs::remove_file(&lock).unwrap();
            released_tx.send(std::time::Instant::now()).unwrap();
        })
    };
    let done = Status::new(StatusContext::Plan, StatusState::Failure, "4 changes");
    notes.post(commit, &done).await.unwrap();
    let posted = std::time::Instant::now();
    writer.join().unwrap();
    assert!(
        released.recv().unwrap() <= posted,
        "posted while the lock was held"
    );
}

#[tokio::test]
async fn notes_written_while_the_remote_was_away_merge_with_notes_it_got_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let ids = repo_with_commits(&work, 2);
    let remote = dir.path().join("remote.git");
    let notes = pushing_sink(&work, &remote);
    let valid = Status::new(StatusContext::Validate, StatusState::Success, "valid");
    assert!(notes.post(ids[0], &valid).await.is_err(), "no remote yet");

    // The remote appears with notes of its own, unrelated to ours.
    git(
        dir.path(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    git(&work, &["push", "-q", remote.to_str().unwrap(), "main"]);
    let other = dir.path().join("other");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            remote.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    git(
        &other,
        &[
            "notes",
            "--ref=lbops",
            "add",
            "-m",
            "lbops/prod/drift: success",
            &ids[0].to_string(),
        ],
    );
    git(
        &other,
        &[
            "notes",
            "--ref=lbops",
            "add",
            "-m",
            "reviewed",
            &ids[1].to_string(),
        ],
    );
    git(&other, &["push", "-q", "origin", "refs/notes/lbops"]);

    let applied = Status::new(StatusContext::Apply, StatusState::Success, "applied");
    notes.post(ids[1], &applied).await.unwrap();
    let show = |commit: CommitId| {
        git(
            &remote,
            &["notes", "--ref=lbops", "show", &commit.to_string()],
        )
    };
    assert_eq!(
        show(ids[0]),
        "lbops/validate: success — valid\nlbops/prod/drift: success"
    );
    assert_eq!(show(ids[1]), "lbops/apply: success — applied\nreviewed");
    assert_eq!(notes.read(ids[1]).unwrap().len(), 1);
}
