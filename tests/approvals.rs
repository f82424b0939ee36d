//! The two-person rule on real signed repositories, judged twice at every
//! step: by a real `lbops run` (its `lbops/authorize` status in the git
//! notes) and by `lbops authorize --from <trusted> --to HEAD`, which must
//! agree.
//!
//! Deleting a pool needs 2 principals who hold `pool.delete`: alice (SSH,
//! and a second, OpenPGP key) and carol (SSH) do; bob (SSH) may only shift
//! weights. alice deletes `old`, then in turn: she approves it herself,
//! with the same key and with her other key; a branch's approval by carol
//! for another deletion is merged in (a replay onto another tree); bob
//! approves; carol approves the head's tree, and it is applied.

mod common;

use common::estate::{wait_for_status, Daemon};
use common::git::{Author, GitRepo, GpgKey, Signing, SshKey};
use std::path::{Path, PathBuf};
use std::process::Command;

struct People {
    alice: SshKey,
    alice_gpg: GpgKey,
    bob: SshKey,
    carol: SshKey,
}

impl People {
    fn new() -> Self {
        People {
            alice: SshKey::new("alice@example.test"),
            alice_gpg: GpgKey::new("Alice <alice@example.test>"),
            bob: SshKey::new("bob@example.test"),
            carol: SshKey::new("carol@example.test"),
        }
    }

    fn alice(&self) -> Author<'_> {
        author("alice", Signing::Ssh(&self.alice))
    }

    /// alice again, signing with her OpenPGP key.
    fn alice_gpg(&self) -> Author<'_> {
        author("alice", Signing::Gpg(&self.alice_gpg))
    }

    fn bob(&self) -> Author<'_> {
        author("bob", Signing::Ssh(&self.bob))
    }

    fn carol(&self) -> Author<'_> {
        author("carol", Signing::Ssh(&self.carol))
    }

    fn policy(&self) -> String {
        let gpg = self.alice_gpg.public.trim().replace('\n', "\n        ");
        format!(
            "kind: Role
name: pool-keeper
spec:
  rules:
    - actions: [pool.delete, loadbalancer.delete]
      resources: ['pool/*', 'loadbalancer/*']
      approvals: {{principals: 2}}
    - actions: ['pool.*']
      resources: ['pool/*']
---
kind: Role
name: web-oncall
spec:
  rules: [{{actions: [pool.weights.update], resources: ['pool/*']}}]
---
kind: User
name: alice
spec:
  emails: [alice@example.test]
  roles: [pool-keeper]
  signing_keys:
    - ssh: '{}'
    - openpgp: |
        {gpg}
---
kind: User
name: bob
spec:
  emails: [bob@example.test]
  roles: [web-oncall]
  signing_keys: [{{ssh: '{}'}}]
---
kind: User
name: carol
spec:
  emails: [carol@example.test]
  roles: [pool-keeper]
  signing_keys: [{{ssh: '{}'}}]
",
            self.alice.public, self.bob.public, self.carol.public
        )
    }
}

fn author<'a>(name: &'a str, signing: Signing<'a>) -> Author<'a> {
    let email = match name {
        "alice" => "alice@example.test",
        "bob" => "bob@example.test",
        _ => "carol@example.test",
    };
    Author {
        name,
        email,
        signing,
    }
}

fn pool(name: &str) -> String {
    format!("kind: Pool\nname: {name}\nspec:\n  targets: [{{address: '127.0.0.1:9', weight: 1}}]\n")
}

fn tree(repo: &GitRepo) -> String {
    repo.git(&["rev-parse", "HEAD^{tree}"], &[])
}

/// An empty commit approving `tree`, as an approver makes it.
fn approve(repo: &GitRepo, approver: &Author<'_>, tree: &str) -> String {
    repo.commit(
        approver,
        &format!("Approve deleting old pools\n\nLbops-Approves: {tree}"),
    )
}

/// `lbops authorize --from <from> --to <to>`: accepted, and its output.
fn authorize(repo: &Path, from: &str, to: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(["authorize", "--repo"])
        .arg(repo)
        .args(["--from", from, "--to", to])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    match out.status.code() {
        Some(0) => (true, stdout),
        Some(1) => (false, stdout),
        code => panic!(
            "lbops authorize exited {code:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// The daemon refuses `head` with a status saying `status`, and `lbops
/// authorize` refuses it too, saying the same and, in its detail, `why`.
async fn both_refuse(
    repo: &GitRepo,
    daemon: &Daemon,
    trusted: &str,
    head: &str,
    status: &str,
    why: &str,
) {
    let note = wait_for_status(repo, head, "lbops/authorize: failure", daemon).await;
    assert!(note.contains(status), "daemon: `{status}` in\n{note}");
    let (accepted, text) = authorize(repo.path(), trusted, head);
    assert!(
        !accepted,
        "lbops authorize accepted what the daemon refused:\n{text}"
    );
    for says in ["needs 1 more approval from: carol", why] {
        assert!(text.contains(says), "lbops authorize: `{says}` in\n{text}");
    }
}

/// What every refusal's status leads with: carol is the one principal
/// who holds `pool.delete` and has not signed.
const NEEDS_CAROL: &str = "needs 1 more approval from: carol: pool.delete on pool/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_needs_a_second_principal_s_signed_approval_of_the_very_tree() {
    let people = People::new();
    let repo = GitRepo::new();
    repo.write("access.yaml", &people.policy());
    for name in ["web", "old", "spare"] {
        repo.write(&format!("pools/{name}.yaml"), &pool(name));
    }
    let trusted = repo.commit(&people.alice(), "the estate");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {trusted}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
        repo.path().display(),
        dir.path().join("state").display()
    );
    let config_path: PathBuf = dir.path().join("lbops.yaml");
    std::fs::write(&config_path, config).unwrap();
    let daemon = Daemon::start(&config_path);

    // 1. alice alone: one principal of two.
    repo.remove("pools/old.yaml");
    let deletion = repo.commit(&people.alice(), "drop the old pool");
    both_refuse(
        &repo,
        &daemon,
        &trusted,
        &deletion,
        "needs 1 more approval from: carol: pool.delete on pool/old by user/alice",
        "rule 1 of role pool-keeper asks for 2 principals; signed by alice",
    )
    .await;

    // 2. alice approves her own change, with the same key and with her
    //    other one: still alice, still one principal.
    let own = approve(&repo, &people.alice(), &tree(&repo));
    let own_text = format!(
        "the approval in commit {own} does not count: alice wrote the change, and nobody approves their own"
    );
    both_refuse(&repo, &daemon, &trusted, &own, NEEDS_CAROL, &own_text).await;
    let other_key = approve(&repo, &people.alice_gpg(), &tree(&repo));
    let other_key_text =
        format!("the approval in commit {other_key} does not count: alice wrote the change");
    both_refuse(
        &repo,
        &daemon,
        &trusted,
        &other_key,
        NEEDS_CAROL,
        &other_key_text,
    )
    .await;
    let (_, text) = authorize(repo.path(), &trusted, &other_key);
    assert!(text.contains("identity  user/alice (OpenPgp key"), "{text}");

    // 3. A replay: on a pull-request branch alice deletes `spare` and
    //    carol approves that tree — accepted there, before merge ...
    repo.git(&["checkout", "-q", "-b", "spare", &trusted], &[]);
    repo.remove("pools/spare.yaml");
    repo.commit(&people.alice(), "drop the spare pool");
    let spare_tree = tree(&repo);
    let carols = approve(&repo, &people.carol(), &spare_tree);
    let (accepted, text) = authorize(repo.path(), &trusted, &carols);
    assert!(accepted, "the approved pull request:\n{text}");
    assert!(text.contains("approved by user/carol"), "{text}");
    // ... and merged into main, where it would carry `old`'s deletion too:
    //     the head's tree is not the one carol approved.
    repo.git(&["checkout", "-q", "main"], &[]);
    // Merged without committing, so that alice's signed commit is the merge.
    repo.git(
        &[
            "-c",
            "user.name=Alice",
            "-c",
            "user.email=alice@example.test",
            "merge",
            "-q",
            "--no-ff",
            "--no-commit",
            "spare",
        ],
        &[],
    );
    let merge = repo.commit(&people.alice(), "Merge branch 'spare'");
    let replayed = format!(
        "the approval in commit {carols} does not count: it approves tree {spare_tree}, and this head's tree is {}",
        tree(&repo)
    );
    both_refuse(&repo, &daemon, &trusted, &merge, NEEDS_CAROL, &replayed).await;

    // 4. bob signs an approval of the head's tree, but may not delete pools.
    let bobs = approve(&repo, &people.bob(), &tree(&repo));
    both_refuse(
        &repo,
        &daemon,
        &trusted,
        &bobs,
        NEEDS_CAROL,
        "does not count: user/bob may not pool.delete on pool/",
    )
    .await;

    // 5. carol approves the head's tree: two principals, applied.
    let approved = approve(&repo, &people.carol(), &tree(&repo));
    let note = wait_for_status(&repo, &approved, "lbops/apply: success", &daemon).await;
    assert!(note.contains("lbops/authorize: success"), "{note}");
    let (accepted, text) = authorize(repo.path(), &trusted, &approved);
    assert!(
        accepted,
        "lbops authorize refused what the daemon applied:\n{text}"
    );
    assert!(text.contains("approved by user/carol in commit"), "{text}");
}
