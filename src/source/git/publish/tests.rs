//! Real remotes: bare repositories on disk (`file://` and a plain path),
//! and the same served over HTTP by git's own `git http-backend` behind a
//! small CGI server, with Basic authentication and a redirect to another
//! host. Someone else's push lands between the write's fetch and its push.

use super::super::{CommitId, GitError, GitLocation, GitSource};
use crate::source::credentials::{Credentials, SecretRef};
use std::path::{Path, PathBuf};
use std::process::Command;

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
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A person's clone, and the bare repository everyone pushes to.
struct Remote {
    dir: tempfile::TempDir,
}

impl Remote {
    fn new() -> Remote {
        let remote = Remote {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(remote.work()).unwrap();
        git(&remote.work(), &["init", "-q", "-b", "main"]);
        remote.commit("pools/web.yaml", "a: 1\n");
        git(
            remote.dir.path(),
            &["clone", "-q", "--bare", "work", "repo.git"],
        );
        git(
            &remote.work(),
            &[
                "remote",
                "add",
                "origin",
                &remote.bare().display().to_string(),
            ],
        );
        remote
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn bare(&self) -> PathBuf {
        self.dir.path().join("repo.git")
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare().display())
    }

    /// A person's commit on the remote's head, pushed (a non-force push).
    fn commit(&self, file: &str, text: &str) -> CommitId {
        if self.bare().exists() {
            git(&self.work(), &["fetch", "-q", "origin"]);
            git(&self.work(), &["reset", "-q", "--hard", "origin/main"]);
        }
        let path = self.work().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        git(&self.work(), &["add", "-A"]);
        git(&self.work(), &["commit", "-q", "-m", file]);
        if self.bare().exists() {
            git(&self.work(), &["push", "-q", "origin", "main"]);
        }
        CommitId::parse(&git(&self.work(), &["rev-parse", "HEAD"])).unwrap()
    }

    /// Where the remote's branch is.
    fn head(&self) -> CommitId {
        CommitId::parse(&git(&self.bare(), &["rev-parse", "main"])).unwrap()
    }
}

/// lbops' side: a mirror of `url` in a temp dir.
fn mirror(url: &str, credentials: Option<Credentials>) -> (tempfile::TempDir, GitSource) {
    let dir = tempfile::tempdir().unwrap();
    let location = GitLocation::Remote {
        url: url.to_owned(),
        mirror: dir.path().join("mirror.git"),
        credentials,
    };
    let source = location.open("main").unwrap();
    (dir, source)
}

/// An edit of `parent` as lbops makes one: a commit in the mirror, no ref moved.
fn edit(source: &GitSource, parent: CommitId, text: &str) -> CommitId {
    let tree = source
        .tree_with_file(parent, "pools/web.yaml", text)
        .unwrap();
    let repo = &source.repo;
    let sig = git2::Signature::now("lbops API", "api@lbops.invalid").unwrap();
    let parent = repo.find_commit(parent.0).unwrap();
    let id = repo
        .commit(
            None,
            &sig,
            &sig,
            "an edit",
            &repo.find_tree(tree).unwrap(),
            &[&parent],
        )
        .unwrap();
    CommitId(id)
}

fn text_at(remote: &Remote, commit: CommitId) -> String {
    git(
        &remote.bare(),
        &["show", &format!("{commit}:pools/web.yaml")],
    )
}

/// The write's whole round on `url`: made on the head, pushed; a push
/// that someone else's beats is refused and nothing of theirs is lost;
/// made again on the new head, it lands, and the mirror follows.
fn a_write_lands_only_from_the_head_it_was_made_on(
    remote: &Remote,
    url: &str,
    creds: Option<Credentials>,
) {
    let (_dir, source) = mirror(url, creds);
    let head = source.latest().unwrap();
    assert_eq!(head, remote.head());
    assert!(
        matches!(source.head(), Err(GitError::NoSuchBranch { .. })),
        "fetching for a write moves no ref of the mirror"
    );
    let mine = edit(&source, head, "a: 2\n");

    // Someone pushes after the write's fetch.
    let theirs = remote.commit("other.yaml", "b: 1\n");
    assert!(!source.publish(head, mine).unwrap(), "the branch moved");
    assert_eq!(remote.head(), theirs, "their push is kept");

    let head = source.latest().unwrap();
    assert_eq!(head, theirs);
    let mine = edit(&source, head, "a: 2\n");
    assert!(source.publish(head, mine).unwrap());
    assert_eq!(remote.head(), mine);
    assert_eq!(text_at(remote, mine), "a: 2");
    assert_eq!(source.head().unwrap(), mine, "the mirror follows the push");
    // git itself finds the remote whole.
    git(&remote.bare(), &["fsck", "--strict", "--no-dangling"]);

    // A mirror the daemon's fetch already moved past is left where it is.
    let later = remote.commit("later.yaml", "c: 1\n");
    source.fetch().unwrap();
    let stale = edit(&source, mine, "a: 3\n");
    assert!(!source.publish(mine, stale).unwrap());
    assert_eq!(source.head().unwrap(), later);
}

#[test]
fn a_file_url_remote_gets_the_commit_only_from_the_head_it_was_made_on() {
    let remote = Remote::new();
    a_write_lands_only_from_the_head_it_was_made_on(&remote, &remote.url(), None);
}

#[test]
fn a_path_remote_gets_the_commit_only_from_the_head_it_was_made_on() {
    let remote = Remote::new();
    let path = remote.bare().display().to_string();
    a_write_lands_only_from_the_head_it_was_made_on(&remote, &path, None);
}

#[test]
fn an_http_remote_gets_the_commit_only_from_the_head_it_was_made_on() {
    let remote = Remote::new();
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "the-right-token\n").unwrap();
    let server = http::GitHttp::start(
        remote.dir.path(),
        Some(("x-access-token", "the-right-token")),
        None,
    );
    let creds = Credentials::Token {
        username: "x-access-token".into(),
        token: SecretRef::File(token.path().to_owned()),
    };
    a_write_lands_only_from_the_head_it_was_made_on(&remote, &server.url(""), Some(creds));
}

#[test]
fn a_refused_push_names_the_remote_without_its_credentials() {
    let remote = Remote::new();
    let (_ok_dir, ok) = mirror(&remote.url(), None);
    let head = ok.latest().unwrap();

    // The right user, a wrong token: refused, and the token is nowhere.
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), "s3cret-but-wrong\n").unwrap();
    let server = http::GitHttp::start(
        remote.dir.path(),
        Some(("x-access-token", "the-right-token")),
        None,
    );
    let creds = Credentials::Token {
        username: "x-access-token".into(),
        token: SecretRef::File(wrong.path().to_owned()),
    };
    let (_dir, source) = mirror(&server.url(""), Some(creds));
    let err = source.latest().unwrap_err().to_string();
    assert!(!err.contains("s3cret"), "{err}");
    eprintln!("{err}");
    assert!(err.contains("refused the credentials"), "{err}");

    // Credentials in the URL never show, whatever libgit2 quotes.
    let url = server.url("x-access-token:hunter2-in-url@");
    let (_dir, source) = mirror(&url, None);
    let err = source.latest().unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    // The push itself, of a commit made in a mirror that could fetch.
    let mine = edit(&ok, head, "a: 2\n");
    let (_dir, pusher) = mirror(&url, None);
    let shared = git2::Repository::open_bare(pusher.repo.path()).unwrap();
    copy_all(&ok, &shared);
    let err = pusher.publish(head, mine).unwrap_err();
    assert!(matches!(err, GitError::Push { .. }), "{err:?}");
    let err = err.to_string();
    assert!(!err.contains("hunter2"), "{err}");
    eprintln!("{err}");
    assert!(err.contains("http://127.0.0.1:"), "names the remote: {err}");
    assert_eq!(remote.head(), head, "nothing landed");
}

#[test]
fn a_push_is_never_redirected_to_another_host() {
    let remote = Remote::new();
    let elsewhere = http::GitHttp::start(remote.dir.path(), None, None);
    // `localhost` is another host than `127.0.0.1` to a client.
    let redirect = format!("http://localhost:{}", elsewhere.port);
    let server = http::GitHttp::start(remote.dir.path(), None, Some(redirect));
    let (_ok_dir, ok) = mirror(&remote.url(), None);
    let head = ok.latest().unwrap();
    let mine = edit(&ok, head, "a: 2\n");
    let (_dir, pusher) = mirror(&server.url(""), None);
    copy_all(
        &ok,
        &git2::Repository::open_bare(pusher.repo.path()).unwrap(),
    );
    let err = pusher.publish(head, mine).unwrap_err().to_string();
    eprintln!("{err}");
    assert!(err.contains("redirect"), "{err}");
    assert_eq!(remote.head(), head, "nothing landed");
    assert_eq!(elsewhere.requests(), 0, "the other host was never asked");
}

/// Installs `script` as the bare repository's pre-receive hook.
fn pre_receive(remote: &Remote, script: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let hook = remote.bare().join("hooks").join("pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_push_the_server_refuses_is_an_error_unless_the_branch_moved() {
    let remote = Remote::new();
    let server = http::GitHttp::start(remote.dir.path(), None, None);
    let (_dir, source) = mirror(&server.url(""), None);

    // A hook refuses: the branch is where it was, so it is not a race.
    pre_receive(&remote, "echo 'no pushes today' >&2; exit 1");
    let head = source.latest().unwrap();
    let mine = edit(&source, head, "a: 2\n");
    let err = source.publish(head, mine).unwrap_err();
    eprintln!("{err}");
    assert!(
        matches!(&err, GitError::Push { message, .. } if message.contains("pre-receive hook declined")),
        "{err:?}"
    );
    assert_eq!(remote.head(), head);

    // Someone's push lands after the server advertised the head and before
    // it updates the ref (the hook moves the branch once, as that push
    // would): the server's compare refuses, and it reads as "moved".
    pre_receive(&remote, "exit 0");
    let theirs = remote.commit("other.yaml", "b: 1\n");
    git(
        &remote.bare(),
        &["update-ref", "refs/heads/main", &head.to_string()],
    );
    git(
        &remote.bare(),
        &["update-ref", "refs/heads/theirs", &theirs.to_string()],
    );
    pre_receive(
        &remote,
        "[ -e moved ] || { touch moved; env -u GIT_QUARANTINE_PATH -u GIT_OBJECT_DIRECTORY \
         -u GIT_ALTERNATE_OBJECT_DIRECTORIES git update-ref refs/heads/main refs/heads/theirs; }",
    );
    assert_eq!(source.latest().unwrap(), head);
    assert!(!source.publish(head, mine).unwrap(), "the branch moved");
    assert_eq!(remote.head(), theirs, "their push is kept");
    let head = source.latest().unwrap();
    let mine = edit(&source, head, "a: 2\n");
    assert!(source.publish(head, mine).unwrap());
    assert_eq!(remote.head(), mine);
}

/// Copies every object of `from`'s repository into `to`.
fn copy_all(from: &GitSource, to: &git2::Repository) {
    let (source, target) = (from.repo.odb().unwrap(), to.odb().unwrap());
    source
        .foreach(|oid| {
            let object = source.read(*oid).unwrap();
            target.write(object.kind(), object.data()).unwrap();
            true
        })
        .unwrap();
}

#[path = "../../../../tests/common/git_http.rs"]
#[allow(dead_code)] // the integration tests count pushes; these count requests
mod http;
