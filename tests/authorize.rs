//! `lbops authorize` on real repositories: keys made by `ssh-keygen` and
//! `gpg`, commits made and signed by `git`, the decision read from the
//! command's output and exit status as a pipeline would.

mod common;

use common::git::{Author, GitRepo, GpgKey, Signing, SshKey};
use std::process::Command;

/// The people of these tests. alice and dave are SRE admins (alice signs
/// with SSH, dave with OpenPGP); bob is on the web on-call rotation;
/// mallory is nobody the policy knows.
struct Team {
    alice: SshKey,
    bob: SshKey,
    dave: GpgKey,
    mallory: SshKey,
}

impl Team {
    fn new() -> Self {
        Team {
            alice: SshKey::new("alice@example.test"),
            bob: SshKey::new("bob@example.test"),
            dave: GpgKey::new("Dave <dave@example.test>"),
            mallory: SshKey::new("mallory@example.test"),
        }
    }

    fn alice(&self) -> Author<'_> {
        Author {
            name: "Alice",
            email: "alice@example.test",
            signing: Signing::Ssh(&self.alice),
        }
    }

    fn bob(&self) -> Author<'_> {
        Author {
            name: "Bob",
            email: "bob@example.test",
            signing: Signing::Ssh(&self.bob),
        }
    }

    fn dave(&self) -> Author<'_> {
        Author {
            name: "Dave",
            email: "dave@example.test",
            signing: Signing::Gpg(&self.dave),
        }
    }

    fn mallory(&self) -> Author<'_> {
        Author {
            name: "Mallory",
            email: "mallory@example.test",
            signing: Signing::Ssh(&self.mallory),
        }
    }

    /// The shared access policy with everyone's signing keys and dave,
    /// `bob_extra` (lines at the indentation of bob's spec) added to bob's
    /// spec.
    fn access(&self, bob_extra: &str) -> String {
        let indent = |text: &str| text.trim().replace('\n', "\n        ");
        let dave = format!(
            "kind: User
name: dave
spec:
  emails: [dave@example.test]
  roles: [sre-admin]
  signing_keys:
    - openpgp: |
        {}
---
",
            indent(&self.dave.public)
        );
        common::estate::policy(&self.alice, &self.bob, &dave, bob_extra)
    }
}

fn pools(web_weight: u32, db_weight: u32, db_team: &str) -> String {
    format!(
        "kind: Pool
name: web
labels: {{team: web}}
spec:
  targets: [{{address: 127.0.0.1:9001, weight: {web_weight}}}, {{address: 127.0.0.1:9002}}]
---
kind: Pool
name: db
labels: {{team: {db_team}}}
spec:
  targets: [{{address: 127.0.0.1:9101, weight: {db_weight}}}, {{address: 127.0.0.1:9102}}]
"
    )
}

fn balancer(name: &str, address: &str) -> String {
    format!(
        "kind: LoadBalancer
name: {name}
labels: {{team: web}}
spec:
  addresses: [{address}]
  listeners:
    - {{name: http, protocol: http, port: 8080, default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}
"
    )
}

/// A repository whose first commit (by alice) is the trusted state.
struct Estate {
    team: Team,
    repo: GitRepo,
    trusted: String,
}

impl Estate {
    fn new() -> Self {
        let team = Team::new();
        let repo = GitRepo::new();
        repo.write("access.yaml", &team.access(""));
        repo.write("pools.yaml", &pools(1, 1, "data"));
        repo.write("balancers/edge.yaml", &balancer("edge", "127.0.0.1"));
        let trusted = repo.commit(&team.alice(), "initial estate");
        Estate {
            team,
            repo,
            trusted,
        }
    }

    fn authorize(&self, from: &str) -> Verdict {
        self.run(&["--from", from])
    }

    fn run(&self, extra: &[&str]) -> Verdict {
        let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
            .arg("authorize")
            .arg("--repo")
            .arg(self.repo.path())
            .args(extra)
            .output()
            .unwrap();
        Verdict {
            code: out.status.code().unwrap(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

#[derive(Debug)]
struct Verdict {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Verdict {
    #[track_caller]
    fn allowed(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected allowed:\n{}{}",
            self.stdout, self.stderr
        );
        assert!(self.stdout.contains("accepted"), "{}", self.stdout);
        self
    }

    #[track_caller]
    fn refused(&self) -> &Self {
        assert_eq!(
            self.code, 1,
            "expected refused:\n{}{}",
            self.stdout, self.stderr
        );
        assert!(self.stdout.contains("refused"), "{}", self.stdout);
        self
    }

    #[track_caller]
    fn says(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "expected `{text}` in:\n{}",
            self.stdout
        );
        self
    }
}

#[test]
fn allowed_an_on_call_engineer_shifts_web_weights_ssh_signed() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    e.repo.commit(&e.team.bob(), "canary: web to 5");
    e.authorize(&e.trusted)
        .allowed()
        .says("identity  user/bob (Ssh key SHA256:")
        .says("allowed   pool.weights.update pool/web");
}

#[test]
fn allowed_an_admin_adds_a_balancer_openpgp_signed() {
    let e = Estate::new();
    e.repo
        .write("balancers/api.yaml", &balancer("api", "127.0.0.2"));
    e.repo.commit(&e.team.dave(), "add the api balancer");
    e.authorize(&e.trusted)
        .allowed()
        .says(&format!(
            "identity  user/dave (OpenPgp key {}",
            e.team.dave.fingerprint
        ))
        .says("allowed   loadbalancer.create loadbalancer/api");
}

#[test]
fn denied_an_unsigned_commit() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    let unsigned = Author {
        signing: Signing::Unsigned,
        ..e.team.bob()
    };
    e.repo.commit(&unsigned, "unsigned canary");
    e.authorize(&e.trusted)
        .refused()
        .says("identity  none for bob@example.test")
        .says("DENIED    pool.weights.update pool/web");
}

#[test]
fn denied_a_commit_signed_with_a_key_listed_for_someone_else() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    // bob's email, alice's key: whoever holds alice's key is not bob.
    let author = Author {
        signing: Signing::Ssh(&e.team.alice),
        ..e.team.bob()
    };
    e.repo.commit(&author, "canary");
    e.authorize(&e.trusted)
        .refused()
        .says("identity  none for bob@example.test");
}

#[test]
fn denied_an_author_email_forged_to_an_admins_with_the_attackers_own_key() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(1, 9, "data"));
    let forged = Author {
        signing: Signing::Ssh(&e.team.bob),
        ..e.team.alice()
    };
    e.repo.commit(&forged, "looks like alice");
    e.authorize(&e.trusted)
        .refused()
        .says("identity  none for alice@example.test")
        .says("DENIED    pool.weights.update pool/db");
    // And with a key nobody lists.
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(1, 9, "data"));
    let forged = Author {
        signing: Signing::Ssh(&e.team.mallory),
        ..e.team.alice()
    };
    e.repo.commit(&forged, "looks like alice");
    e.authorize(&e.trusted)
        .refused()
        .says("identity  none for alice@example.test");
}

#[test]
fn denied_a_service_account_key_signing_for_someone_else() {
    // The bot's key signs commits authored as the bot; it cannot put
    // alice's name on a commit (the author shown must be who signed).
    let e = Estate::new();
    let with_bot = format!(
        "{}---\nkind: ServiceAccount\nname: bot\nspec:\n  owner: alice\n  roles: [web-oncall]\n  emails: [bot@example.test]\n  signing_keys: [{{ssh: '{}'}}]\n",
        e.team.access(""),
        e.team.mallory.public
    );
    e.repo.write("access.yaml", &with_bot);
    let trusted = e.repo.commit(&e.team.alice(), "a deploy bot");
    e.repo.write("pools.yaml", &pools(4, 1, "data"));
    let as_alice = Author {
        signing: Signing::Ssh(&e.team.mallory),
        ..e.team.alice()
    };
    e.repo.commit(&as_alice, "the bot, as alice");
    e.authorize(&trusted)
        .refused()
        .says("identity  none for alice@example.test")
        .says("serviceaccount/bot");
    e.repo.git(&["reset", "-q", "--hard", &trusted], &[]);
    e.repo.write("pools.yaml", &pools(4, 1, "data"));
    let as_bot = Author {
        name: "Bot",
        email: "bot@example.test",
        signing: Signing::Ssh(&e.team.mallory),
    };
    e.repo.commit(&as_bot, "the bot, as itself");
    e.authorize(&trusted)
        .allowed()
        .says("identity  serviceaccount/bot");
}

#[test]
fn denied_an_on_call_change_outside_the_label_scope() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(1, 5, "data"));
    e.repo.commit(&e.team.bob(), "db weights");
    e.authorize(&e.trusted)
        .refused()
        .says("identity  user/bob")
        .says("DENIED    pool.weights.update pool/db")
        .says("sre-admin");
}

#[test]
fn denied_relabelling_a_pool_into_ones_own_scope() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(1, 5, "web"));
    e.repo.commit(&e.team.bob(), "db is web now");
    e.authorize(&e.trusted)
        .refused()
        .says("DENIED    pool.labels.update pool/db")
        .says("DENIED    pool.weights.update pool/db");
}

#[test]
fn denied_granting_oneself_a_role_in_one_commit() {
    let e = Estate::new();
    e.repo
        .write("access.yaml", &e.team.access("roles: [sre-admin]"));
    e.repo.commit(&e.team.bob(), "make me admin");
    e.authorize(&e.trusted)
        .refused()
        .says("DENIED    access.users.update user/bob");
}

#[test]
fn denied_granting_oneself_a_role_and_using_it_in_the_next_commit() {
    let e = Estate::new();
    e.repo
        .write("access.yaml", &e.team.access("roles: [sre-admin]"));
    let grant = e.repo.commit(&e.team.bob(), "make me admin");
    e.repo.write("pools.yaml", &pools(1, 7, "data"));
    let usage = e.repo.commit(&e.team.bob(), "use it");
    let verdict = e.authorize(&e.trusted);
    verdict
        .refused()
        .says("DENIED    access.users.update user/bob")
        .says("DENIED    pool.weights.update pool/db");
    let usage_section = verdict
        .stdout
        .split(&format!("commit {}", &usage[..12]))
        .nth(1)
        .unwrap();
    assert!(usage_section.contains("DENIED    pool.weights.update pool/db"));
    assert!(verdict
        .stdout
        .contains(&format!("first: commit {}", &grant[..12])));
}

#[test]
fn denied_an_admin_grant_cannot_be_used_in_the_same_push() {
    let e = Estate::new();
    e.repo
        .write("access.yaml", &e.team.access("roles: [sre-admin]"));
    e.repo.commit(&e.team.alice(), "bob joins the SREs");
    e.repo.write("pools.yaml", &pools(1, 7, "data"));
    let usage = e.repo.commit(&e.team.bob(), "use it at once");
    e.authorize(&e.trusted)
        .refused()
        .says("allowed   access.users.update user/bob")
        .says(&format!("first: commit {} by user/bob", &usage[..12]));
    // Once the grant is trusted (applied), the same change is allowed.
    let granted = e.repo.git(&["rev-parse", "HEAD~1"], &[]);
    e.authorize(&granted).allowed();
}

#[test]
fn denied_deleting_a_balancer_without_loadbalancer_delete() {
    let e = Estate::new();
    e.repo.remove("balancers/edge.yaml");
    e.repo.commit(&e.team.bob(), "drop edge");
    e.authorize(&e.trusted)
        .refused()
        .says("DENIED    loadbalancer.delete loadbalancer/edge");
}

#[test]
fn denied_editing_a_role() {
    let e = Estate::new();
    let widened = e.team.access("").replace(
        "resources: ['pool/*']\n      when: {labels: {team: web}}",
        "resources: ['pool/*']",
    );
    e.repo.write("access.yaml", &widened);
    e.repo.commit(&e.team.bob(), "widen on-call");
    e.authorize(&e.trusted)
        .refused()
        .says("DENIED    access.roles.update role/web-oncall");
}

#[test]
fn denied_a_revoked_users_next_commit() {
    let e = Estate::new();
    // bob's allowed change is fine before the revocation...
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    e.repo.commit(&e.team.bob(), "canary");
    e.authorize(&e.trusted).allowed();
    // ...alice removes bob, and once that is applied his commits identify nobody.
    let access = e.team.access("");
    let without_bob = access.split("---\nkind: User\nname: bob").next().unwrap();
    e.repo.write("access.yaml", without_bob);
    let revocation = e.repo.commit(&e.team.alice(), "bob left");
    e.repo.write("pools.yaml", &pools(6, 1, "data"));
    e.repo.commit(&e.team.bob(), "one more canary");
    e.authorize(&revocation)
        .refused()
        .says("identity  none for bob@example.test")
        .says("DENIED    pool.weights.update pool/web");
}

#[test]
fn denied_rewritten_history_without_force_push() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    let trusted = e.repo.commit(&e.team.bob(), "canary");
    e.repo.git(&["reset", "-q", "--hard", &e.trusted], &[]);
    e.repo.write("pools.yaml", &pools(3, 1, "data"));
    e.repo.commit(&e.team.bob(), "canary, rewritten");
    e.authorize(&trusted)
        .refused()
        .says("history rewritten")
        .says("DENIED    repo.force_push repository");
}

#[test]
fn allowed_a_force_push_signed_by_a_holder_of_repo_force_push() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    let trusted = e.repo.commit(&e.team.bob(), "canary");
    e.repo.git(&["reset", "-q", "--hard", &e.trusted], &[]);
    e.repo.write("pools.yaml", &pools(3, 1, "data"));
    e.repo.commit(
        &e.team.alice(),
        &format!("rewrite the canary\n\nLbops-Force-Push: {trusted}"),
    );
    e.authorize(&trusted)
        .allowed()
        .says("allowed   repo.force_push repository");
}

#[test]
fn denied_a_force_push_on_an_admin_signature_not_made_for_it() {
    // alice's signed commit says nothing about replacing the trusted one:
    // her signature proves she wrote it, not that she wants it to replace
    // history that did not exist when she signed.
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    let trusted = e.repo.commit(&e.team.bob(), "canary");
    e.repo.git(&["reset", "-q", "--hard", &e.trusted], &[]);
    e.repo.write("pools.yaml", &pools(3, 1, "data"));
    e.repo.commit(&e.team.alice(), "rewrite the canary");
    e.authorize(&trusted)
        .refused()
        .says("DENIED    repo.force_push repository")
        .says(&format!("Lbops-Force-Push: {trusted}"));
}

#[test]
fn denied_replaying_a_once_trusted_head_after_history_was_rewritten() {
    // T was trusted (applied); alice rewrote history to N, signed for
    // replacing T, and N was applied. Pushing T again is not a rewrite
    // anybody signed for: T's old signature names no replacement of N.
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    let old = e.repo.commit(&e.team.alice(), "canary to 5");
    e.repo.git(&["reset", "-q", "--hard", &e.trusted], &[]);
    e.repo.write("pools.yaml", &pools(3, 1, "data"));
    let rewritten = e.repo.commit(
        &e.team.alice(),
        &format!("canary to 3 instead\n\nLbops-Force-Push: {old}"),
    );
    e.authorize(&old).allowed();
    e.repo.git(&["reset", "-q", "--hard", &old], &[]);
    e.authorize(&rewritten)
        .refused()
        .says("history rewritten")
        .says("DENIED    repo.force_push repository");
    // Re-authorized the one way that works: a new commit signed for this move.
    e.repo.commit(
        &e.team.alice(),
        &format!("back to 5 on purpose\n\nLbops-Force-Push: {rewritten}"),
    );
    e.authorize(&rewritten).allowed();
}

/// The web balancer with a maintenance route and, when `api`, a second route.
fn web_balancer(maintenance: &str, api: bool) -> String {
    let api_route = if api {
        "
        - name: api
          priority: 20
          match: {path: {prefix: /api/}}
          action: {forward: {pools: [{pool: web}]}}"
    } else {
        ""
    };
    format!(
        "kind: LoadBalancer
name: web
labels: {{team: web}}
spec:
  addresses: [127.0.0.2]
  listeners:
    - name: http
      protocol: http
      port: 8080
      routes:
        - name: maintenance
          priority: 10
          match: {{path: {{prefix: /checkout}}}}
          action: {{fixed_response: {{status: 503, body: '{maintenance}'}}}}{api_route}
      default_action: {{forward: {{pools: [{{pool: web}}]}}}}
"
    )
}

/// An unsigned merge by mallory of `parents` whose tree is `tree_of`'s,
/// made the branch's head; returns its id.
fn unsigned_merge(repo: &GitRepo, tree_of: &str, parents: [&str; 2]) -> String {
    let tree = repo.git(&["rev-parse", &format!("{tree_of}^{{tree}}")], &[]);
    let merge = repo.git(
        &[
            "-c",
            "user.name=Mallory",
            "-c",
            "user.email=mallory@example.test",
            "commit-tree",
            &tree,
            "-p",
            parents[0],
            "-p",
            parents[1],
            "-m",
            "merge",
        ],
        &[],
    );
    repo.git(&["reset", "-q", "--hard", &merge], &[]);
    merge
}

#[test]
fn denied_an_unsigned_merge_that_rolls_back_what_a_signed_commit_also_touched() {
    // c0 → T (trusted) adds the api route. alice's signed A edits only the
    // maintenance text. M, an unsigned merge of [A, c0], keeps c0's
    // balancer: the net result drops T's route and undoes alice's edit,
    // and nobody verified wrote that value.
    let e = Estate::new();
    e.repo
        .write("balancers/web.yaml", &web_balancer("down for now", false));
    let c0 = e.repo.commit(&e.team.alice(), "web balancer");
    e.repo
        .write("balancers/web.yaml", &web_balancer("down for now", true));
    let trusted = e.repo.commit(&e.team.alice(), "api route");
    e.repo
        .write("balancers/web.yaml", &web_balancer("back at 06:00", true));
    let edit = e.repo.commit(&e.team.alice(), "maintenance text");
    let merge = unsigned_merge(&e.repo, &c0, [&edit, &c0]);
    e.authorize(&trusted)
        .refused()
        .says("allowed   loadbalancer.routes.update loadbalancer/web")
        .says(&format!(
            "first: commit {} by unverified (mallory@example.test): loadbalancer.routes.update on loadbalancer/web",
            &merge[..12]
        ));
    // The same merge keeping alice's balancer is covered by her commit.
    unsigned_merge(&e.repo, &edit, [&edit, &c0]);
    e.authorize(&trusted).allowed();
}

#[test]
fn denied_commits_stacked_on_a_revocation_in_the_same_push() {
    // alice revokes bob's key; bob's commit on top, pushed together, is
    // judged by the trusted policy narrowed by that revocation.
    let e = Estate::new();
    let revoked = e.team.access("").replace(
        &format!("signing_keys: [{{ssh: '{}'}}]", e.team.bob.public),
        &format!(
            "signing_keys: [{{ssh: '{}', revoked: true}}]",
            e.team.bob.public
        ),
    );
    assert_ne!(revoked, e.team.access(""));
    e.repo.write("access.yaml", &revoked);
    let revocation = e.repo.commit(&e.team.alice(), "bob's laptop was stolen");
    e.repo.write("pools.yaml", &pools(6, 1, "data"));
    e.repo.commit(&e.team.bob(), "canary, with the stolen key");
    e.authorize(&e.trusted)
        .refused()
        .says(&format!(
            "but commit {} before it in this push took that away",
            &revocation[..12]
        ))
        .says("revoked")
        .says("DENIED    pool.weights.update pool/web");
    // A role taken away binds at once too.
    let e = Estate::new();
    let no_role = e
        .team
        .access("")
        .replace("groups: [web-team]", "groups: []");
    e.repo.write("access.yaml", &no_role);
    let revocation = e.repo.commit(&e.team.alice(), "bob leaves on-call");
    e.repo.write("pools.yaml", &pools(6, 1, "data"));
    e.repo.commit(&e.team.bob(), "one last canary");
    e.authorize(&e.trusted)
        .refused()
        .says(&format!("taken away by commit {}", &revocation[..12]))
        .says("DENIED    pool.weights.update pool/web");
}

#[test]
fn denied_a_policy_that_pads_an_email_to_impersonate() {
    // An admin-approved policy gives mallory "alice@example.test " (with a
    // space): it does not validate, so it can never be trusted.
    let e = Estate::new();
    let padded = format!(
        "{}---\nkind: User\nname: mallory\nspec:\n  emails: ['alice@example.test ']\n  signing_keys: [{{ssh: '{}'}}]\n",
        e.team.access(""),
        e.team.mallory.public
    );
    e.repo.write("access.yaml", &padded);
    e.repo.commit(&e.team.alice(), "add mallory");
    let out = e.authorize(&e.trusted);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    out.says("is not a well-formed email address");
}

#[test]
fn a_mixed_push_applies_nothing_and_names_the_bad_commit() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    e.repo.commit(&e.team.bob(), "fine");
    e.repo.write("pools.yaml", &pools(5, 5, "data"));
    let bad = e.repo.commit(&e.team.bob(), "not fine");
    e.authorize(&e.trusted)
        .refused()
        .says("allowed   pool.weights.update pool/web")
        .says(&format!(
            "first: commit {} by user/bob: pool.weights.update on pool/db",
            &bad[..12]
        ));
}

#[test]
fn bootstrap_with_admin_keys_accepts_the_admins_first_policy_and_refuses_a_stranger() {
    let team = Team::new();
    let keys = tempfile::tempdir().unwrap();
    let alice_key = keys.path().join("alice.pub");
    std::fs::write(&alice_key, &team.alice.public).unwrap();
    let dave_key = keys.path().join("dave.asc");
    std::fs::write(&dave_key, &team.dave.public).unwrap();
    let keys = [
        "--bootstrap-key",
        alice_key.to_str().unwrap(),
        "--bootstrap-key",
        dave_key.to_str().unwrap(),
    ];

    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access(""));
    repo.write("pools.yaml", &pools(1, 1, "data"));
    repo.commit(&team.alice(), "first policy");
    repo.write("balancers/edge.yaml", &balancer("edge", "127.0.0.1"));
    repo.commit(&team.dave(), "first balancer");
    let estate = Estate {
        team,
        repo,
        trusted: String::new(),
    };
    estate
        .run(&keys)
        .allowed()
        .says("identity  bootstrap admin SHA256:");

    // A stranger who pushes first gets nothing, however complete the policy.
    let team = Team::new();
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access(""));
    repo.commit(&team.mallory(), "I am first");
    let stranger = Estate {
        team,
        repo,
        trusted: String::new(),
    };
    stranger
        .run(&keys)
        .refused()
        .says("identity  none for mallory@example.test");
}

#[test]
fn bootstrap_with_a_pinned_commit_trusts_its_policy_as_is() {
    let team = Team::new();
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access(""));
    repo.write("pools.yaml", &pools(1, 1, "data"));
    // Pinned by the operator, so even an unsigned commit can be the root of trust.
    let unsigned = Author {
        signing: Signing::Unsigned,
        ..team.alice()
    };
    let pinned = repo.commit(&unsigned, "imported estate");
    repo.write("pools.yaml", &pools(4, 1, "data"));
    repo.commit(&team.bob(), "canary");
    let e = Estate {
        team,
        repo,
        trusted: pinned.clone(),
    };
    e.authorize(&pinned).allowed();
}

#[test]
fn json_output_carries_the_same_decision_for_tools() {
    let e = Estate::new();
    e.repo.write("pools.yaml", &pools(1, 5, "data"));
    e.repo.commit(&e.team.bob(), "db weights");
    let verdict = e.run(&["--from", &e.trusted, "--output", "json"]);
    assert_eq!(verdict.code, 1);
    let json: serde_json::Value = serde_json::from_str(&verdict.stdout).unwrap();
    assert_eq!(json["outcome"]["outcome"], "refused");
    let change = &json["commits"][0]["changes"][0];
    assert_eq!(change["change"]["action"], "pool.weights.update");
    assert_eq!(change["verdict"]["verdict"], "denied");
}

/// `lbops authorize --from TRUSTED --to HEAD --config CONFIG` on the
/// estate's repository: its exit code and output.
fn authorize_like_the_daemon(e: &common::estate::PinnedEstate, head: &str) -> Verdict {
    let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(["authorize", "--from", &e.first, "--to", head])
        .arg("--repo")
        .arg(e.repo.path())
        .arg("--config")
        .arg(e.config_path())
        .output()
        .unwrap();
    Verdict {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_and_the_daemon_agree_on_accepted_refused_and_provider_refused_commits() {
    use common::estate::{pools, wait_for_status, Daemon, PinnedEstate};
    let e = PinnedEstate::new("").await;
    let balancer = |addresses: &str| {
        format!(
            "kind: LoadBalancer\nname: edge\nspec:\n  addresses: {addresses}\n  listeners:\n    - {{name: http, protocol: http, port: {}, default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}\n",
            e.port
        )
    };
    // Three heads, each on its own branch from the trusted commit: one
    // accepted, one denied (bob edits a pool out of his scope), one the
    // embedded data plane refuses (a balancer with no address) although
    // every change in it is allowed and it validates without a provider.
    let branch = |name: &str, file: &str, text: &str, who: Author<'_>| {
        e.repo.git(&["checkout", "-q", "-b", name, &e.first], &[]);
        e.repo.write(file, text);
        e.repo.commit(&who, name)
    };
    let accepted = branch(
        "accepted",
        "pools.yaml",
        &pools(&e.stable, &e.canary, 30, 1),
        e.team.bob(),
    );
    let refused = branch(
        "refused",
        "pools.yaml",
        &pools(&e.stable, &e.canary, 10, 7),
        e.team.bob(),
    );
    let provider_refused = branch(
        "provider-refused",
        "balancers.yaml",
        &balancer("[]"),
        e.team.alice(),
    );
    e.repo.git(&["checkout", "-q", "main"], &[]);

    authorize_like_the_daemon(&e, &accepted).allowed();
    authorize_like_the_daemon(&e, &refused)
        .refused()
        .says("DENIED    pool.weights.update pool/db");
    let verdict = authorize_like_the_daemon(&e, &provider_refused);
    assert_eq!(verdict.code, 1, "{}{}", verdict.stdout, verdict.stderr);
    verdict
        .says("error[missing-field] loadbalancer/edge: a LoadBalancer on the embedded provider needs at least one address")
        .says("invalid:");

    // The daemon, given each head in turn on its watched branch.
    let daemon = Daemon::start(&e.config_path());
    wait_for_status(&e.repo, &e.first, "lbops/apply: success", &daemon).await;
    for (head, status, text) in [
        (
            &refused,
            "lbops/authorize: failure",
            "pool.weights.update on pool/db",
        ),
        (
            &provider_refused,
            "lbops/validate: failure",
            "needs at least one address",
        ),
        (&accepted, "lbops/apply: success", ""),
    ] {
        e.repo.git(&["reset", "-q", "--hard", head], &[]);
        let note = wait_for_status(&e.repo, head, status, &daemon).await;
        assert!(note.contains(text), "{note}");
        if status != "lbops/apply: success" {
            wait_for_status(&e.repo, head, "lbops/apply: failure", &daemon).await;
        }
    }
}

/// deploy-bot, owned by alice, on the web on-call role, with one token
/// limited to shifting weights of pool/web.
const DEPLOY_BOT: &str = "kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  roles: [web-oncall]
  tokens:
    - name: ci
      id: aaaaaaaaaaaa
      hash: sha256:0057f0d09cace7c71e89bd66d1166cbe24de9006a935a734cde61fcdb5956ea2
      expires: 2099-01-01
      scopes: [pool.weights.update]
      resources: ['pool/web']
";

/// A commit the daemon's write endpoint would make: the work tree (as
/// `edit` leaves it) written by `lbops::source::write_api_commit` on top
/// of `parent`, for deploy-bot's token. No ref moves.
fn api_commit(
    repo: &GitRepo,
    parent: &str,
    signer: &lbops::source::ApiSigner,
    summary: &str,
) -> String {
    use lbops::spec::api_commit::{ApiTrailers, RequestId};
    use lbops::spec::material::api_token::TokenId;
    repo.git(&["add", "-A"], &[]);
    let tree = repo.git(&["write-tree"], &[]);
    let trailers = ApiTrailers {
        on_behalf: lbops::spec::api_commit::OnBehalf::Token {
            account: "deploy-bot".parse().unwrap(),
            token: TokenId::parse("aaaaaaaaaaaa").unwrap(),
        },
        request: RequestId::parse("req-42").unwrap(),
    };
    let git = git2::Repository::open(repo.path()).unwrap();
    let commit = lbops::source::ApiCommit {
        parent: lbops::source::CommitId::parse(parent).unwrap(),
        tree: git2::Oid::from_str(&tree).unwrap(),
        summary,
        trailers: &trailers,
        time: 1_800_000_000,
    };
    lbops::source::write_api_commit(&git, &commit, signer)
        .unwrap()
        .to_string()
}

#[test]
fn api_commits_are_judged_as_their_token_with_the_daemon_s_key() {
    let team = Team::new();
    let daemon = SshKey::new("lbops-api");
    let signer = lbops::source::ApiSigner::read(&daemon.private_key()).unwrap();
    let api_pub = daemon.private_key().with_extension("pub");
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access(""));
    repo.write("bots.yaml", DEPLOY_BOT);
    repo.write("pools.yaml", &pools(1, 1, "web"));
    let trusted = repo.commit(&team.alice(), "initial estate with deploy-bot");
    let authorize = |to: &str, api_key: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lbops"));
        command
            .arg("authorize")
            .arg("--repo")
            .arg(repo.path())
            .args(["--from", &trusted, "--to", to]);
        if api_key {
            command.arg("--api-key").arg(&api_pub);
        }
        let out = command.output().unwrap();
        Verdict {
            code: out.status.code().unwrap(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    };

    // In scope: the token shifts pool/web's weights.
    repo.write("pools.yaml", &pools(5, 1, "web"));
    let in_scope = api_commit(&repo, &trusted, &signer, "Set pool/web weights");
    authorize(&in_scope, true)
        .allowed()
        .says("identity  serviceaccount/deploy-bot (through API token aaaaaaaaaaaa, request req-42")
        .says("allowed   pool.weights.update pool/web");
    // Without the daemon's key, nobody vouches for it.
    authorize(&in_scope, false)
        .refused()
        .says("which the trusted policy does not list");

    // Out of scope: the account may shift pool/db (team web here), the
    // token may not.
    repo.write("pools.yaml", &pools(1, 5, "web"));
    let out_of_scope = api_commit(&repo, &trusted, &signer, "Set pool/db weights");
    authorize(&out_of_scope, true)
        .refused()
        .says("pool.weights.update pool/db")
        .says("token aaaaaaaaaaaa may touch only pool/web");

    // A person's commit with the same trailers is the person's.
    repo.git(&["reset", "-q", "--hard", &trusted], &[]);
    repo.write("pools.yaml", &pools(5, 1, "web"));
    let by_bob = repo.commit(
        &team.bob(),
        "Set pool/web weights\n\nLbops-Service-Account: deploy-bot\nLbops-Token: aaaaaaaaaaaa\nLbops-Request: req-43",
    );
    authorize(&by_bob, true)
        .allowed()
        .says("identity  user/bob (Ssh key SHA256:");

    // The signature is git's own kind: ssh-keygen -Y verify accepts it
    // over the commit without its signature, as git verify-commit does.
    let git = git2::Repository::open(repo.path()).unwrap();
    let (signature, payload) = git
        .extract_signature(&git2::Oid::from_str(&in_scope).unwrap(), None)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (sig_file, allowed) = (dir.path().join("sig"), dir.path().join("allowed"));
    std::fs::write(&sig_file, &*signature).unwrap();
    std::fs::write(
        &allowed,
        format!("api@lbops.invalid namespaces=\"git\" {}\n", daemon.public),
    )
    .unwrap();
    let mut verify = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", "git", "-I", "api@lbops.invalid", "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(&sig_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    verify.stdin.take().unwrap().write_all(&payload).unwrap();
    let out = verify.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -Y verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // And git itself, with the key as an allowed signer.
    let allowed_opt = format!("gpg.ssh.allowedSignersFile={}", allowed.display());
    let shown = repo.git(
        &[
            "-c",
            &allowed_opt,
            "log",
            "-1",
            "--format=%G? %GS %an <%ae>",
            &in_scope,
        ],
        &[],
    );
    assert_eq!(
        shown,
        "G api@lbops.invalid deploy-bot <deploy-bot@serviceaccount.lbops.invalid>"
    );
}

#[test]
fn the_api_key_never_signs_for_a_person_even_when_listed_for_one() {
    let team = Team::new();
    let daemon = SshKey::new("lbops-api");
    let api_pub = daemon.private_key().with_extension("pub");
    let repo = GitRepo::new();
    // Someone listed the daemon's key as alice's (an admin's mistake, or
    // worse); the trusted commit is trusted as is.
    repo.write(
        "access.yaml",
        &common::estate::policy(&daemon, &team.bob, "", ""),
    );
    repo.write("pools.yaml", &pools(1, 1, "data"));
    let trusted = repo.commit(&team.alice(), "initial estate");
    repo.write("pools.yaml", &pools(1, 9, "data"));
    let as_alice = Author {
        name: "Alice",
        email: "alice@example.test",
        signing: Signing::Ssh(&daemon),
    };
    let head = repo.commit(&as_alice, "db to 9");
    let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .arg("authorize")
        .arg("--repo")
        .arg(repo.path())
        .args(["--from", &trusted, "--to", &head, "--api-key"])
        .arg(&api_pub)
        .output()
        .unwrap();
    let verdict = Verdict {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    verdict.refused().says(
        "is signed with the daemon's API key, but it has no `Lbops-Service-Account:` trailer",
    );
    assert!(
        !verdict.stdout.contains("identity  user/alice"),
        "{}",
        verdict.stdout
    );
}

/// A holiday freeze of every pool, over the first days of 2027 (UTC).
const HOLIDAY: &str = "kind: Freeze
name: holiday
spec:
  time_zone: Europe/Berlin
  windows:
    - absolute: {name: new-year, from: '2027-01-01T00:00:00+01:00', until: '2027-01-04T00:00:00+01:00'}
  scope: {resources: ['pool/*']}
";

/// The estate with the holiday freeze trusted.
fn frozen_estate() -> Estate {
    let e = Estate::new();
    e.repo.write("freezes.yaml", HOLIDAY);
    let trusted = e.repo.commit(&e.team.alice(), "a holiday freeze");
    Estate { trusted, ..e }
}

#[test]
fn a_freeze_refuses_a_change_in_its_window_and_lets_it_through_after() {
    let e = frozen_estate();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    e.repo.commit(&e.team.bob(), "web: shift weight");
    e.run(&["--from", &e.trusted, "--at", "2027-01-02T12:00:00Z"])
        .refused()
        .says("FROZEN")
        .says("frozen by freeze/holiday (window new-year) until 2027-01-03T23:00:00Z");
    e.run(&["--from", &e.trusted, "--at", "2027-01-03T23:00:00Z"])
        .allowed();
}

#[test]
fn a_break_glass_passes_a_freeze_only_for_who_holds_it() {
    let e = frozen_estate();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    e.repo.commit(
        &e.team.bob(),
        "web: shift weight\n\nLbops-Break-Glass: INC-7 web is down",
    );
    e.run(&["--from", &e.trusted, "--at", "2027-01-02T12:00:00Z"])
        .refused()
        .says("user/bob may not freeze.break_glass on freeze/holiday");

    let e = frozen_estate();
    e.repo.write("pools.yaml", &pools(5, 1, "data"));
    e.repo.commit(
        &e.team.alice(),
        "web: shift weight\n\nLbops-Break-Glass: INC-7 web is down",
    );
    e.run(&["--from", &e.trusted, "--at", "2027-01-02T12:00:00Z"])
        .allowed()
        .says("BREAK-GLASS")
        .says("INC-7 web is down");
}
