//! Each write's [`Edit`] made into a commit by the writer on a real git
//! repository: the commit on the branch head, with the minimal change to
//! the file; every refusal (not allowed, not there, not valid) commits
//! nothing; a head that moves is handled; a value the head already has is
//! success without a commit.

use super::*;
use crate::daemon::api::writer::commit_edit;
use crate::daemon::api::Caller;
use crate::daemon::trusted::TrustedView;
use crate::source::{ApiSigner, CommitId, GitSource};
use crate::spec;
use crate::spec::api_commit::RequestId;
use crate::spec::material::api_token::ApiToken;
use std::process::Command;

pub(in crate::daemon::api) fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.test"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub(in crate::daemon::api) fn commit(dir: &std::path::Path, file: &str, text: &str) -> CommitId {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", file]);
    CommitId::parse(&git(dir, &["rev-parse", "HEAD"])).unwrap()
}

const POOL: &str = "kind: Pool
name: web
# comments stay
spec:
  backup_targets: [{address: '10.0.0.9:80'}]
  targets:
    - {address: '10.0.0.1:80', weight: 1}
    - address: '[::1]:8080'   # v6
      weight: 3
";

const CANARY: &str = "kind: Pool
name: canary
spec:
  targets: [{address: '10.0.1.1:80'}]
";

/// `api` is a route of both listeners; `old` redirects.
const BALANCER: &str = "kind: LoadBalancer
name: edge
spec:
  listeners:
    - name: http
      protocol: http
      port: 80
      routes:
        - name: api
          priority: 1
          action: {forward: {pools: [{pool: web, weight: 90}, {pool: canary, weight: 10}]}}
        - name: old
          priority: 2
          action: {redirect: {status: 301, to: 'https://{host}{path}'}}
    - name: alt
      protocol: http
      port: 8080
      routes:
        - name: api
          priority: 1
          action:
            forward:
              pools:
                - pool: web
";

/// A repository whose policy gives `bot` the role `oncall` (targets,
/// weights, routes), with a token per scope, and a caller for each.
struct Estate {
    dir: tempfile::TempDir,
    /// `pool.targets.update` only.
    adder: Caller,
    /// `pool.weights.update` only.
    weights: Caller,
    /// `loadbalancer.routes.update` only.
    router: Caller,
    signer: ApiSigner,
}

fn estate() -> Estate {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    let adder = ApiToken::generate(|b| b.fill(1));
    let weights = ApiToken::generate(|b| b.fill(2));
    let router = ApiToken::generate(|b| b.fill(3));
    let entry = |name: &str, t: &ApiToken, scope: &str| {
        format!(
            "{{name: {name}, id: {}, hash: '{}', expires: 2099-01-01, scopes: [{scope}]}}",
            t.id(),
            t.stored_hash()
        )
    };
    let policy = format!(
        "kind: Role
name: oncall
spec:
  rules:
    - {{actions: [pool.targets.update, pool.weights.update], resources: ['pool/*']}}
    - {{actions: [loadbalancer.routes.update], resources: ['loadbalancer/*']}}
---
kind: User
name: alice
spec: {{emails: [alice@example.test]}}
---
kind: ServiceAccount
name: bot
spec:
  owner: alice
  roles: [oncall]
  tokens: [{}, {}, {}]
",
        entry("adder", &adder, "pool.targets.update"),
        entry("weights", &weights, "pool.weights.update"),
        entry("router", &router, "loadbalancer.routes.update"),
    );
    commit(dir.path(), "access.yaml", &policy);
    commit(dir.path(), "pools/canary.yaml", CANARY);
    commit(dir.path(), "balancers/edge.yaml", BALANCER);
    let trusted = commit(dir.path(), "pools/web.yaml", POOL);
    let files = GitSource::open(dir.path(), "main")
        .unwrap()
        .files_at(trusted)
        .unwrap();
    let catalog = Arc::new(
        spec::load(&files, &spec::Options::at(1_800_000_000))
            .unwrap_or_else(|e| panic!("{:#?}", e.diagnostics))
            .catalog,
    );
    let view = Arc::new(TrustedView {
        commit: trusted,
        catalog: catalog.clone(),
    });
    let caller = |t: &ApiToken| Caller {
        who: crate::daemon::api::ApiPrincipal::Token(
            crate::identity::authenticate(&catalog, t.expose(), 1_800_000_000).unwrap(),
        ),
        view: view.clone(),
        idp: Default::default(),
    };
    let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[9; 32]));
    Estate {
        adder: caller(&adder),
        weights: caller(&weights),
        router: caller(&router),
        signer: ApiSigner::new(key).unwrap(),
        dir,
    }
}

impl Estate {
    /// Makes `edit` a commit for `caller`, racing `before_swap`.
    fn racing(
        &self,
        caller: &Caller,
        edit: &dyn Edit,
        before_swap: &mut dyn FnMut(),
    ) -> Result<Option<CommitId>, ApiError> {
        let request = RequestId::parse("req-1").unwrap();
        commit_edit(
            self.dir.path(),
            "main",
            caller,
            edit,
            &request,
            &self.signer,
            1_800_000_000,
            before_swap,
        )
    }

    fn make(&self, caller: &Caller, edit: &dyn Edit) -> Result<Option<CommitId>, ApiError> {
        self.racing(caller, edit, &mut || {})
    }

    fn source(&self) -> GitSource {
        GitSource::open(self.dir.path(), "main").unwrap()
    }

    fn head(&self) -> CommitId {
        self.source().head().unwrap()
    }

    /// `file`'s text at the branch head.
    fn text(&self, file: &str) -> String {
        let source = self.source();
        let files = source.files_at(source.head().unwrap()).unwrap();
        files.into_iter().find(|f| f.path == file).unwrap().text
    }

    /// Asserts that `answer` is a commit, on the head, on `parent`.
    fn committed(&self, answer: Result<Option<CommitId>, ApiError>, parent: CommitId) {
        let made = answer.unwrap().expect("a commit");
        assert_eq!(self.head(), made);
        assert_eq!(self.source().commit(made).unwrap().parents, [parent]);
    }
}

fn add(address: &str) -> AddTarget {
    AddTarget {
        pool: "web".into(),
        target: NewTarget {
            address: address.into(),
            weight: 2,
        },
    }
}

fn target(address: &str) -> TargetAddr {
    address.parse().unwrap()
}

fn remove(address: &str) -> RemoveTarget {
    RemoveTarget {
        pool: "web".into(),
        address: target(address),
    }
}

fn drain(address: &str) -> DrainTarget {
    DrainTarget {
        pool: "web".into(),
        address: target(address),
    }
}

fn weights(split: &[(&str, u32)]) -> SetWeights {
    SetWeights {
        pool: "web".into(),
        weights: split.iter().map(|(a, w)| (target(a), *w)).collect(),
    }
}

fn forward(route: &str, listener: Option<u32>, split: &[(&str, u32)]) -> SetForward {
    SetForward {
        balancer: "edge".into(),
        route: route.into(),
        listener,
        pools: split
            .iter()
            .map(|(p, w)| (p.parse().unwrap(), *w))
            .collect(),
    }
}

use crate::spec::units::TargetAddr;

#[test]
fn a_push_that_wins_the_race_is_kept_and_the_edit_made_again_on_it() {
    let e = estate();
    let mut pushes = 0;
    let mut last = None;
    let made = e
        .racing(&e.adder, &add("10.0.0.7:8080"), &mut || {
            if pushes < 2 {
                pushes += 1;
                last = Some(commit(
                    e.dir.path(),
                    &format!("notes/{pushes}.yaml"),
                    "# a person's push\n",
                ));
            }
        })
        .unwrap()
        .unwrap();
    let source = e.source();
    assert_eq!(source.head().unwrap(), made);
    assert_eq!(source.commit(made).unwrap().parents, [last.unwrap()]);
    let files = source.files_at(made).unwrap();
    assert!(
        files.iter().any(|f| f.path == "notes/2.yaml"),
        "no lost update"
    );
    assert!(files
        .iter()
        .any(|f| f.path == "pools/web.yaml" && f.text.contains("10.0.0.7:8080")));
}

#[test]
fn a_branch_that_keeps_moving_is_a_conflict_after_the_retries() {
    let e = estate();
    let mut n = 0;
    let answer = e.racing(&e.adder, &add("10.0.0.7:8080"), &mut || {
        n += 1;
        commit(e.dir.path(), &format!("notes/{n}.yaml"), "# push\n");
    });
    assert!(matches!(answer, Err(ApiError::Conflict(4))), "{answer:?}");
    assert_eq!(n, 4);
    assert!(!e.text("pools/web.yaml").contains("10.0.0.7:8080"));
}

#[test]
fn the_edit_is_made_on_the_branch_head_keeping_what_others_pushed() {
    let e = estate();
    // A person's push after the trusted commit, to the same file.
    let labelled = POOL.replace("# comments stay", "# comments stay\nlabels: {team: web}");
    let pushed = commit(e.dir.path(), "pools/web.yaml", &labelled);
    e.committed(e.make(&e.adder, &add("10.0.0.7:8080")), pushed);
    assert_eq!(
        e.text("pools/web.yaml"),
        labelled + "    - {address: '10.0.0.7:8080', weight: 2}\n"
    );
}

#[test]
fn a_refused_or_invalid_edit_commits_nothing() {
    let e = estate();
    let head = e.head();
    match e.make(&e.weights, &add("10.0.0.7:8080")) {
        Err(ApiError::Forbidden(denied)) => {
            assert!(
                denied.to_string().contains("pool.targets.update"),
                "{denied}"
            );
        }
        other => panic!("{other:?}"),
    }
    match e.make(&e.adder, &add("not an address")) {
        Err(ApiError::Invalid(why)) => assert!(why.contains("pools/web.yaml:"), "{why}"),
        other => panic!("{other:?}"),
    }
    match e.make(&e.adder, &add("10.0.0.1:80")) {
        Err(ApiError::Invalid(_)) => {}
        other => panic!("a target it already has: {other:?}"),
    }
    assert_eq!(e.head(), head);
}

#[test]
fn a_deregistered_target_leaves_only_its_lines() {
    let e = estate();
    let head = e.head();
    e.committed(e.make(&e.adder, &remove("[::1]:8080")), head);
    assert_eq!(
        e.text("pools/web.yaml"),
        POOL.replace("    - address: '[::1]:8080'   # v6\n      weight: 3\n", "")
    );
    // A backup target, from a one-line list.
    let head = e.head();
    e.committed(e.make(&e.adder, &remove("10.0.0.9:80")), head);
    assert!(e
        .text("pools/web.yaml")
        .contains("\n  backup_targets: []\n  targets:\n"));
}

#[test]
fn deregistering_is_refused_for_a_target_not_there_the_last_one_or_without_the_scope() {
    let e = estate();
    let head = e.head();
    match e.make(&e.adder, &remove("10.0.0.5:80")) {
        Err(ApiError::NoSuchPart {
            resource,
            part: "target",
            name,
        }) => assert_eq!(
            (resource.as_str(), name.as_str()),
            ("pool/web", "10.0.0.5:80")
        ),
        other => panic!("{other:?}"),
    }
    match e.make(&e.weights, &remove("10.0.0.1:80")) {
        Err(ApiError::Forbidden(denied)) => {
            assert!(
                denied.to_string().contains("pool.targets.update"),
                "{denied}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.head(), head);
    e.make(&e.adder, &remove("10.0.0.1:80")).unwrap().unwrap();
    let head = e.head();
    match e.make(&e.adder, &remove("[::1]:8080")) {
        Err(ApiError::Invalid(why)) => {
            assert!(why.starts_with("pools/web.yaml:"), "{why}");
            assert!(why.contains("last target"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.head(), head);
}

#[test]
fn a_drain_sets_weight_0_and_a_drained_target_is_already_so() {
    let e = estate();
    let head = e.head();
    e.committed(e.make(&e.weights, &drain("10.0.0.1:80")), head);
    assert_eq!(
        e.text("pools/web.yaml"),
        POOL.replace("weight: 1}", "weight: 0}")
    );
    // Again: nothing to commit, and that is success.
    let head = e.head();
    assert_eq!(e.make(&e.weights, &drain("10.0.0.1:80")), Ok(None));
    assert_eq!(e.head(), head);
    // ...for a caller allowed to drain only.
    match e.make(&e.adder, &drain("10.0.0.1:80")) {
        Err(ApiError::Forbidden(denied)) => {
            assert!(
                denied.to_string().contains("pool.weights.update"),
                "{denied}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A default weight gets a `weight: 0`; a backup can be drained too.
    e.make(&e.weights, &drain("10.0.0.9:80")).unwrap().unwrap();
    assert!(e
        .text("pools/web.yaml")
        .contains("[{address: '10.0.0.9:80', weight: 0}]"));
    // The last target with a weight: the validation refuses, at file:line.
    let head = e.head();
    match e.make(&e.weights, &drain("[::1]:8080")) {
        Err(ApiError::Invalid(why)) => {
            assert!(why.contains("pools/web.yaml:"), "{why}");
            assert!(why.contains("weight 0"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.head(), head);
}

#[test]
fn weights_are_set_for_the_targets_named_and_an_unknown_one_is_named_back() {
    let e = estate();
    let head = e.head();
    let set = weights(&[("[::1]:8080", 5), ("10.0.0.1:80", 2)]);
    e.committed(e.make(&e.weights, &set), head);
    assert_eq!(
        e.text("pools/web.yaml"),
        POOL.replace("weight: 1}", "weight: 2}")
            .replace("weight: 3\n", "weight: 5\n")
    );
    assert_eq!(e.make(&e.weights, &set), Ok(None));
    let head = e.head();
    match e.make(
        &e.weights,
        &weights(&[("10.0.0.1:80", 4), ("10.0.0.5:80", 1), ("10.0.0.6:80", 1)]),
    ) {
        Err(ApiError::Invalid(why)) => {
            assert!(why.starts_with("pools/web.yaml:1: "), "{why}");
            assert!(why.contains("10.0.0.5:80, 10.0.0.6:80"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    match e.make(&e.adder, &weights(&[("10.0.0.1:80", 4)])) {
        Err(ApiError::Forbidden(_)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(e.head(), head);
}

#[test]
fn a_weight_made_again_on_a_head_that_moved_keeps_the_other_push() {
    let e = estate();
    let mut pushed = None;
    let made = e
        .racing(&e.weights, &drain("10.0.0.1:80"), &mut || {
            if pushed.is_none() {
                // Someone shifts the other target's weight meanwhile.
                pushed = Some(commit(
                    e.dir.path(),
                    "pools/web.yaml",
                    &POOL.replace("weight: 3\n", "weight: 4\n"),
                ));
            }
        })
        .unwrap()
        .unwrap();
    assert_eq!(e.head(), made);
    assert_eq!(e.source().commit(made).unwrap().parents, [pushed.unwrap()]);
    assert_eq!(
        e.text("pools/web.yaml"),
        POOL.replace("weight: 3\n", "weight: 4\n")
            .replace("weight: 1}", "weight: 0}")
    );
}

#[test]
fn a_forward_split_is_set_on_the_route_named_with_its_listener_when_two_have_it() {
    let e = estate();
    let head = e.head();
    match e.make(
        &e.router,
        &forward("api", None, &[("web", 0), ("canary", 100)]),
    ) {
        Err(ApiError::Invalid(why)) => {
            assert!(why.starts_with("balancers/edge.yaml:1: "), "{why}");
            assert!(
                why.contains("80 and 8080") && why.contains("?listener="),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.head(), head);
    let shift = forward("api", Some(80), &[("web", 0), ("canary", 100)]);
    e.committed(e.make(&e.router, &shift), head);
    assert_eq!(
        e.text("balancers/edge.yaml"),
        BALANCER.replace(
            "[{pool: web, weight: 90}, {pool: canary, weight: 10}]",
            "[{pool: web, weight: 0}, {pool: canary, weight: 100}]"
        )
    );
    assert_eq!(e.make(&e.router, &shift), Ok(None));
    // Another set of pools rewrites the block list in its style.
    let head = e.head();
    let split = forward("api", Some(8080), &[("canary", 1), ("web", 3)]);
    e.committed(e.make(&e.router, &split), head);
    assert!(
        e.text("balancers/edge.yaml").ends_with(
            "              pools:\n                - {pool: canary, weight: 1}\n                - {pool: web, weight: 3}\n"
        ),
        "{}",
        e.text("balancers/edge.yaml")
    );
}

#[test]
fn a_forward_is_refused_for_a_route_not_there_not_a_forward_or_an_unknown_pool() {
    let e = estate();
    let head = e.head();
    match e.make(&e.router, &forward("nope", None, &[("web", 1)])) {
        Err(ApiError::NoSuchPart { part: "route", .. }) => {}
        other => panic!("{other:?}"),
    }
    match e.make(&e.router, &forward("api", Some(9090), &[("web", 1)])) {
        Err(ApiError::NoSuchPart {
            part: "route",
            name,
            ..
        }) => {
            assert_eq!(name, "api on port 9090");
        }
        other => panic!("{other:?}"),
    }
    match e.make(&e.router, &forward("old", None, &[("web", 1)])) {
        Err(ApiError::Invalid(why)) => {
            assert!(why.starts_with("balancers/edge.yaml:14: "), "{why}");
            assert!(why.contains("a redirect, not a forward"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    match e.make(&e.router, &forward("api", Some(80), &[("ghost", 1)])) {
        Err(ApiError::Invalid(why)) => {
            assert!(why.contains("balancers/edge.yaml:"), "{why}");
            assert!(why.contains("ghost"), "{why}");
        }
        other => panic!("{other:?}"),
    }
    match e.make(&e.weights, &forward("api", Some(80), &[("web", 1)])) {
        Err(ApiError::Forbidden(denied)) => {
            assert!(
                denied.to_string().contains("loadbalancer.routes.update"),
                "{denied}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.head(), head);
}
