//! Real repositories made with the `git` CLI in temp dirs.

use super::*;
use std::process::Command;

/// A scratch repository with a fixed identity and no global config.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Self {
        let repo = Repo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.test"])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(self.path())
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

    fn commit(&self, file: &str, text: &str, message: &str) -> CommitId {
        let path = self.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        CommitId::parse(&self.git(&["rev-parse", "HEAD"])).unwrap()
    }

    fn source(&self) -> GitSource {
        GitSource::open(self.path(), "main").unwrap()
    }
}

fn ids(commits: &[CommitInfo]) -> Vec<CommitId> {
    commits.iter().map(|c| c.id).collect()
}

#[test]
fn lists_the_commits_after_the_trusted_one_oldest_first() {
    let repo = Repo::new();
    let a = repo.commit("a.yaml", "a", "first");
    let b = repo.commit("b.yaml", "b", "second");
    let c = repo.commit("c.yaml", "c", "third");
    let source = repo.source();
    assert_eq!(source.head().unwrap(), c);
    assert_eq!(
        ids(&source.commits_between(Some(a), c, 10).unwrap()),
        [b, c]
    );
    assert_eq!(
        ids(&source.commits_between(None, c, 10).unwrap()),
        [a, b, c]
    );
    assert!(source.commits_between(Some(c), c, 10).unwrap().is_empty());
    assert!(matches!(
        source.commits_between(None, c, 2),
        Err(GitError::TooManyCommits { max: 2, .. })
    ));
    let third = source.commit(c).unwrap();
    assert_eq!(third.summary, "third");
    assert_eq!(third.parents, [b]);
    assert_eq!(third.author_email, "test@example.test");
}

#[test]
fn merges_bring_their_second_parents_commits_in_topological_order() {
    let repo = Repo::new();
    let base = repo.commit("a.yaml", "a", "base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let f1 = repo.commit("f.yaml", "1", "feature one");
    let f2 = repo.commit("f.yaml", "2", "feature two");
    repo.git(&["checkout", "-q", "main"]);
    let m1 = repo.commit("m.yaml", "1", "main one");
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge feature", "feature"]);
    let merge = CommitId::parse(&repo.git(&["rev-parse", "HEAD"])).unwrap();

    let commits = repo
        .source()
        .commits_between(Some(base), merge, 10)
        .unwrap();
    let order = ids(&commits);
    assert_eq!(order.len(), 4);
    assert_eq!(*order.last().unwrap(), merge);
    let at = |id| order.iter().position(|c| *c == id).unwrap();
    assert!(at(f1) < at(f2));
    assert!(at(m1) < at(merge) && at(f2) < at(merge));
    assert_eq!(commits.last().unwrap().parents, [m1, f2]);
}

#[test]
fn reads_a_past_tree_without_checking_it_out() {
    let repo = Repo::new();
    repo.commit(".lbopsignore", "drafts/\n", "ignore drafts");
    repo.commit("drafts/next.yaml", "draft", "a draft");
    let old = repo.commit("pools/web.yaml", "kind: Pool v1", "web v1");
    std::os::unix::fs::symlink("/etc/passwd", repo.path().join("link.yaml")).unwrap();
    repo.commit("pools/web.yaml", "kind: Pool v2", "web v2");

    let source = repo.source();
    let files = source.files_at(old).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, [".lbopsignore", "pools/web.yaml"]);
    assert_eq!(files[1].text, "kind: Pool v1");
    let now = source.files_at(source.head().unwrap()).unwrap();
    assert!(
        now.iter().all(|f| f.path != "link.yaml"),
        "symlinks are never followed"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("pools/web.yaml")).unwrap(),
        "kind: Pool v2"
    );
}

#[test]
fn a_rewritten_history_is_seen_as_such() {
    let repo = Repo::new();
    let a = repo.commit("a.yaml", "a", "first");
    let trusted = repo.commit("b.yaml", "b", "trusted");
    repo.git(&["reset", "-q", "--hard", &a.to_string()]);
    let rewritten = repo.commit("b.yaml", "other", "rewritten");
    let source = repo.source();
    assert!(source.is_ancestor(a, rewritten).unwrap());
    assert!(!source.is_ancestor(trusted, rewritten).unwrap());
    assert_eq!(source.merge_base(trusted, rewritten).unwrap(), Some(a));
}

#[test]
fn unsigned_commits_have_no_signature_and_sign_nothing_else() {
    let repo = Repo::new();
    let a = repo.commit("a.yaml", "a", "first");
    let info = repo.source().commit(a).unwrap();
    assert!(info.signature.is_none());
    let raw = repo.git(&["cat-file", "commit", &a.to_string()]);
    assert_eq!(String::from_utf8(info.signed_data).unwrap().trim(), raw);
}

#[test]
fn a_signed_commit_gives_its_signature_and_exactly_the_signed_bytes() {
    let repo = Repo::new();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("signing-key");
    let key = key.to_str().unwrap();
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f", key])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(repo.path().join("a.yaml"), "a").unwrap();
    repo.git(&["add", "-A"]);
    repo.git(&[
        "-c",
        "gpg.format=ssh",
        "-c",
        &format!("user.signingkey={key}"),
        "commit",
        "-q",
        "-S",
        "-m",
        "signed",
    ]);
    let id = repo.source().head().unwrap();
    let info = repo.source().commit(id).unwrap();
    let signature = String::from_utf8(info.signature.unwrap()).unwrap();
    assert!(
        signature.starts_with("-----BEGIN SSH SIGNATURE-----"),
        "{signature}"
    );
    let signed = String::from_utf8(info.signed_data).unwrap();
    assert!(
        !signed.contains("gpgsig") && signed.contains("\n\nsigned\n"),
        "{signed}"
    );
}

#[test]
fn fetches_a_remote_into_a_mirror_and_follows_it() {
    let upstream = Repo::new();
    let first = upstream.commit("a.yaml", "a", "first");
    let mirror = tempfile::tempdir().unwrap();
    let url = format!("file://{}", upstream.path().display());
    let source = GitSource::remote(&url, &mirror.path().join("mirror.git"), "main", None).unwrap();
    assert!(matches!(source.head(), Err(GitError::NoSuchBranch { .. })));
    source.fetch().unwrap();
    assert_eq!(source.head().unwrap(), first);
    let second = upstream.commit("a.yaml", "b", "second");
    source.fetch().unwrap();
    assert_eq!(source.head().unwrap(), second);
    assert_eq!(source.files_at(second).unwrap()[0].text, "b");
    // A force push upstream is followed too: the mirror is lbops' own copy.
    upstream.git(&["reset", "-q", "--hard", &first.to_string()]);
    let third = upstream.commit("a.yaml", "c", "rewritten");
    source.fetch().unwrap();
    assert_eq!(source.head().unwrap(), third);
}

#[test]
fn errors_say_what_to_give_instead() {
    let dir = tempfile::tempdir().unwrap();
    let err = GitSource::open(dir.path(), "main")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("not a git repository"), "{err}");
    let repo = Repo::new();
    repo.commit("a.yaml", "a", "first");
    let err = repo
        .source()
        .resolve("no-such-branch")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no-such-branch") && err.contains("branch, tag or commit id"),
        "{err}"
    );
    let err = GitSource::open(repo.path(), "prod")
        .unwrap()
        .head()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("prod") && err.contains("check the branch name"),
        "{err}"
    );
}

#[test]
fn credentials_never_show_in_urls() {
    assert_eq!(
        redact_url("https://x-access-token:ghp_secret@github.com/o/r.git"),
        "https://github.com/o/r.git"
    );
    assert_eq!(redact_url("ssh://git@host/o/r.git"), "ssh://host/o/r.git");
    assert_eq!(redact_url("/srv/repo"), "/srv/repo");
    let url = "https://x-access-token:ghp_secret@github.com/o/r.git";
    assert_eq!(
        redact_userinfo(
            "cannot redirect from 'https://x-access-token:ghp_secret@github.com/o/r.git' \
             (ghp_secret)",
            url
        ),
        "cannot redirect from 'https://github.com/o/r.git' (<redacted>)"
    );
    assert_eq!(redact_userinfo("no url here", "/srv/repo"), "no url here");
}

/// A private key padded past the limit per file: its size comes from the
/// object header, its content is never loaded, and `load` refuses the
/// commit naming the file (it used to be skipped in silence, and with it
/// the secret scan).
#[test]
fn a_blob_past_the_limit_is_refused_unread_and_fails_validation() {
    let repo = Repo::new();
    let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n";
    let padded = format!("{key}{}", " ".repeat(17 * 1024 * 1024));
    repo.commit("notes.txt", "fine\n", "first");
    let head = repo.commit("keys/tls.pem", &padded, "a key, padded");
    let files = repo.source().files_at(head).unwrap();
    let big = files.iter().find(|f| f.path == "keys/tls.pem").unwrap();
    assert_eq!(big.text, "");
    assert_eq!(
        big.refused,
        Some(crate::spec::Exceeded::FileBytes {
            size: padded.len() as u64,
            limit: crate::spec::limits::MAX_FILE_BYTES
        })
    );
    let invalid = crate::spec::load(&files, &crate::spec::Options::at(0)).unwrap_err();
    let shown: Vec<String> = invalid.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(
        shown[0].starts_with(
            "keys/tls.pem:1:1: error[too-large]: this file is 17.0 MiB (17825911 bytes), over the limit of 16 MiB per file"
        ),
        "{shown:?}"
    );
}

#[test]
fn a_tree_is_read_within_its_limits_in_path_order() {
    let repo = Repo::new();
    repo.commit("a.yaml", &"a".repeat(40), "a");
    repo.commit("b.yaml", &"b".repeat(40), "b");
    repo.commit("c/big.txt", &"c".repeat(70), "c");
    repo.commit("c/d.txt", &"d".repeat(10), "d");
    repo.commit("e.txt", &"e".repeat(10), "e");
    repo.commit("f.txt", "f", "f");
    repo.commit("g.txt", "g", "g");
    let head = repo.commit("h.txt", "h", "h");
    let limits = crate::spec::Limits {
        file_bytes: 60,
        tree_bytes: 95,
        files: 6,
        ..crate::spec::Limits::REPOSITORY
    };
    let files = repo.source().files_at_within(head, &limits).unwrap();
    let shown: Vec<String> = files
        .iter()
        .map(|f| match &f.refused {
            Some(why) => format!("{}: {why}", f.path),
            None => format!("{}: {} bytes", f.path, f.text.len()),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "a.yaml: 40 bytes",
            "b.yaml: 40 bytes",
            "c/big.txt: this file is 70 bytes, over the limit of 60 bytes per file",
            "c/d.txt: 10 bytes",
            "e.txt: this file would bring the files read so far to 100 bytes, over the limit of 95 bytes per tree",
            "f.txt: 1 bytes",
            "g.txt: this file is one more than the limit of 6 files per tree; it and the files after it were not read",
        ]
    );
}

#[test]
fn an_api_commit_is_signed_over_its_trailers_and_moves_no_ref() {
    use crate::spec::api_commit::{ApiTrailers, OnBehalf, RequestId};
    use crate::spec::material::api_token::TokenId;
    let repo = Repo::new();
    let parent = repo.commit("pools/web.yaml", "a: 1\n", "first");
    let tree = {
        let git = Repository::open(repo.path()).unwrap();
        let blob = git.blob(b"a: 2\n").unwrap();
        let base = git.find_commit(parent.0).unwrap().tree().unwrap();
        let mut pools = git
            .treebuilder(Some(
                &git.find_tree(base.get_name("pools").unwrap().id()).unwrap(),
            ))
            .unwrap();
        pools.insert("web.yaml", blob, 0o100_644).unwrap();
        let pools = pools.write().unwrap();
        let mut root = git.treebuilder(Some(&base)).unwrap();
        root.insert("pools", pools, 0o040_000).unwrap();
        root.write().unwrap()
    };
    let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[7; 32]));
    let signer = ApiSigner::new(key.clone()).unwrap();
    assert!(!format!("{signer:?}").contains("PRIVATE"));
    let trailers = ApiTrailers {
        on_behalf: OnBehalf::Token {
            account: "deploy-bot".parse().unwrap(),
            token: TokenId::parse("aaaaaaaaaaaa").unwrap(),
        },
        request: RequestId::parse("req-1").unwrap(),
    };
    let source = repo.source();
    let commit = ApiCommit {
        parent,
        tree,
        summary: "Set pool/web weights",
        trailers: &trailers,
        time: 1_800_000_000,
    };
    let id = source.write_api_commit(&commit, &signer).unwrap();
    assert_eq!(source.head().unwrap(), parent, "no ref moves");
    let info = source.commit(id).unwrap();
    assert_eq!(info.parents, [parent]);
    assert_eq!(info.author_email, "deploy-bot@serviceaccount.lbops.invalid");
    assert_eq!(info.committer_email, "api@lbops.invalid");
    assert_eq!(ApiTrailers::from_signed(&info.signed_data), Ok(trailers));
    let sig = ssh_key::SshSig::from_pem(info.signature.unwrap()).unwrap();
    assert_eq!(sig.namespace(), "git");
    key.public_key()
        .verify("git", &info.signed_data, &sig)
        .unwrap();
    let files = source.files_at(id).unwrap();
    assert_eq!(files.len(), 1);
}

#[test]
fn a_file_edit_makes_a_tree_and_the_branch_moves_only_from_where_it_was() {
    let repo = Repo::new();
    repo.commit("README.md", "hello\n", "readme");
    let parent = repo.commit("pools/web.yaml", "a: 1\n", "first");
    let source = repo.source();
    let tree = source
        .tree_with_file(parent, "pools/web.yaml", "a: 2\n")
        .unwrap();
    let git = Repository::open(repo.path()).unwrap();
    let sig = git2::Signature::now("T", "t@example.test").unwrap();
    let parent_commit = git.find_commit(parent.0).unwrap();
    let new = git
        .commit(
            None,
            &sig,
            &sig,
            "edit",
            &git.find_tree(tree).unwrap(),
            &[&parent_commit],
        )
        .unwrap();
    let new = CommitId(new);
    let files = source.files_at(new).unwrap();
    let texts: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [("README.md", "hello\n"), ("pools/web.yaml", "a: 2\n")]
    );
    // Someone pushed meanwhile: the swap refuses and nothing moves.
    let pushed = repo.commit("other.yaml", "b: 1\n", "a person's push");
    assert!(!source.advance_branch(parent, new).unwrap());
    assert_eq!(source.head().unwrap(), pushed);
    // From the head it expected, it moves.
    assert!(source.advance_branch(pushed, new).unwrap());
    assert_eq!(source.head().unwrap(), new);
}

#[test]
fn a_request_s_commit_is_found_after_the_head_it_was_made_on_within_the_bound() {
    use crate::spec::api_commit::{ApiTrailers, OnBehalf, RequestId};
    use crate::spec::material::api_token::TokenId;
    let repo = Repo::new();
    let base = repo.commit("pools/web.yaml", "a: 1\n", "base");
    let source = repo.source();
    let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[3; 32]));
    let signer = ApiSigner::new(key).unwrap();
    let other = ApiSigner::new(ssh_key::PrivateKey::from(
        ssh_key::private::Ed25519Keypair::from_seed(&[8; 32]),
    ))
    .unwrap();
    let api_commit = |request: &str, text: &str| {
        let head = source.head().unwrap();
        let tree = source.tree_with_file(head, "pools/web.yaml", text).unwrap();
        let trailers = ApiTrailers {
            on_behalf: OnBehalf::Token {
                account: "deploy-bot".parse().unwrap(),
                token: TokenId::parse("aaaaaaaaaaaa").unwrap(),
            },
            request: RequestId::parse(request).unwrap(),
        };
        let commit = ApiCommit {
            parent: head,
            tree,
            summary: "an edit",
            trailers: &trailers,
            time: 1_800_000_000,
        };
        let id = source.write_api_commit(&commit, &signer).unwrap();
        assert!(source.advance_branch(head, id).unwrap());
        id
    };
    let first = api_commit("req-1", "a: 2\n");
    let person = repo.commit("notes.yaml", "# hi\n", "a person's push");
    let second = api_commit("req-2", "a: 3\n");
    let head = source.head().unwrap();
    let request = |r: &str| RequestId::parse(r).unwrap();
    let ours = |c: &CommitInfo, _: &ApiTrailers| signer.signed(c);
    let find = |since, r: &str, max| source.find_request(since, head, &request(r), max, &ours);

    assert_eq!(find(Some(base), "req-1", 10).unwrap(), Some(first));
    assert_eq!(find(Some(base), "req-2", 10).unwrap(), Some(second));
    assert_eq!(find(None, "req-2", 10).unwrap(), Some(second));
    assert_eq!(
        find(Some(first), "req-1", 10).unwrap(),
        None,
        "before `since`"
    );
    assert_eq!(
        find(Some(base), "req-2", 2).unwrap(),
        None,
        "past the bound"
    );
    assert_eq!(find(Some(base), "req-3", 10).unwrap(), None);
    // Someone else's key (or none) is not the daemon's.
    let theirs = |c: &CommitInfo, _: &ApiTrailers| other.signed(c);
    assert_eq!(
        source
            .find_request(Some(base), head, &request("req-1"), 10, &theirs)
            .unwrap(),
        None
    );
    assert!(!signer.signed(&source.commit(person).unwrap()));
}
