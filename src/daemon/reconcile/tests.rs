//! One reconcile at a time, with real parts but the provider: a git
//! repository in a temp dir (commits by alice, who may do anything, and
//! bob, who may only change targets), statuses as git notes on it, the
//! audit log in a file, alerts to a webhook on loopback, and a provider in
//! memory that runs steps as the planner models them ([`memory`]).
//!
//! Signature checks are off (identities are claimed by author email);
//! the trusted policy still decides what each author may do.

mod memory;

use super::*;
use crate::audit::{read_records, AuditEvent, AuditLog, EventKind};
use crate::daemon::journal::Journal;
use crate::daemon::metrics::Metrics;
use crate::report::alerts::Alerter;
use crate::report::notes::{GitNotes, NotesConfig};
use crate::report::{ContextName, StatusState};
use crate::support::clock::SystemClock;
use memory::InMemory;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const ACCESS: &str = "
kind: Role
name: admin
spec:
  rules: [{actions: ['*'], resources: ['*']}]
---
kind: Role
name: targets
spec:
  rules: [{actions: [pool.targets.update], resources: ['pool/*']}]
---
kind: User
name: alice
spec: {emails: [alice@example.test], roles: [admin]}
---
kind: User
name: bob
spec: {emails: [bob@example.test], roles: [targets]}
";

/// Pool `web` with the first target at `weight`, behind balancer `edge`
/// (with `addresses`, a YAML flow list).
fn estate(weight: u32, addresses: &str) -> String {
    format!(
        "kind: Pool
name: web
spec:
  targets:
    - {{address: 127.0.0.1:9001, weight: {weight}}}
    - {{address: 127.0.0.1:9002}}
---
kind: LoadBalancer
name: edge
spec:
  addresses: {addresses}
  listeners:
    - {{name: http, protocol: http, port: 8080, default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}
"
    )
}

const ADDRESSES: &str = "[127.0.0.1]";

/// An alert webhook on loopback that keeps every alert's JSON body.
async fn alert_receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let keep = received.clone();
    let app = axum::Router::new().route(
        "/alerts",
        axum::routing::post(move |body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                keep.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap());
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

struct Estate {
    dir: tempfile::TempDir,
    reconciler: Reconciler<InMemory>,
    alerts: Arc<Mutex<Vec<serde_json::Value>>>,
    /// The pinned commit: alice's estate with weight 1, applied.
    first: CommitId,
}

impl Estate {
    /// The repository with alice's first commit, pinned in the config,
    /// and a reconciler that has applied it.
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (repo, state_dir) = (dir.path().join("repo"), dir.path().join("state"));
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::create_dir_all(&state_dir).unwrap();
        git(&repo, &[], &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("access.yaml"), ACCESS).unwrap();
        std::fs::write(repo.join("estate.yaml"), estate(1, ADDRESSES)).unwrap();
        let first = commit(&repo, "alice", "the estate");
        let (alert_url, alerts) = alert_receiver().await;
        let secret = dir.path().join("alert-secret");
        std::fs::write(&secret, "s3cret").unwrap();
        let config = format!(
            "repository: {{path: '{repo}', branch: main}}
trust: {{pinned_commit: {first}, verify_signatures: false}}
alerts: {{webhooks: [{{url: '{alert_url}', secret_file: '{secret}'}}]}}
state_dir: '{state}'
",
            repo = repo.display(),
            secret = secret.display(),
            state = state_dir.display(),
        );
        let config = DaemonConfig::parse("lbops.yaml", &config).unwrap();
        let alerter = Alerter::from_config(&config.alerts).unwrap();
        let reporter = Reporter {
            audit: Arc::new(std::sync::Mutex::new(
                AuditLog::open(&dir.path().join("audit.jsonl")).unwrap().log,
            )),
            notes: GitNotes::new(NotesConfig::new(&repo, ContextName::new(None))).unwrap(),
            forges: Vec::new(),
            outbox: Arc::new(
                crate::daemon::reporter::outbox::Outbox::open(
                    &state_dir.join(crate::daemon::reporter::outbox::FILE),
                    &[],
                )
                .unwrap(),
            ),
            alerter: Arc::new(alerter),
            journal: Arc::new(Journal::default()),
            metrics: Arc::new(Metrics::default()),
            branch: "main".to_owned(),
            page_url: None,
            clock: Arc::new(SystemClock),
            epoch: None,
        };
        let deps = Deps {
            source: GitSource::open(&repo, "main").unwrap(),
            provider: InMemory::default(),
            store: StateStore::in_dir(&state_dir),
            first_trust: TrustAnchor::Commit(first),
            api_key: None,
            reporter,
            clock: Arc::new(SystemClock),
            config,
            idp: Default::default(),
            shared: None,
        };
        let mut estate = Estate {
            dir,
            reconciler: Reconciler::new(deps, DaemonState::default()),
            alerts,
            first,
        };
        assert_eq!(estate.reconcile().await.unwrap(), Next::Idle);
        assert_eq!(estate.trusted(), Some(first));
        assert_eq!(estate.weight(), 1);
        estate
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.repo(), &[], args)
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.repo().join(file), text).unwrap();
    }

    /// Commits the work tree as `who` (`alice`, `bob`).
    fn commit(&self, who: &str, message: &str) -> CommitId {
        commit(&self.repo(), who, message)
    }

    async fn reconcile(&mut self) -> Result<Next, ReconcileError> {
        self.reconciler.reconcile().await
    }

    fn provider(&self) -> &InMemory {
        &self.reconciler.deps.provider
    }

    /// The weight of pool `web`'s first target, as the provider runs it.
    fn weight(&self) -> u32 {
        self.provider().runs().pools["web"].targets[0].weight
    }

    fn trusted(&self) -> Option<CommitId> {
        self.reconciler.state().trusted
    }

    /// The statuses on `commit`'s note: context → (state, description).
    fn statuses(&self, commit: CommitId) -> BTreeMap<String, (StatusState, String)> {
        self.reconciler
            .deps
            .reporter
            .notes
            .read(commit)
            .unwrap()
            .into_iter()
            .map(|e| (e.context, (e.state, e.description)))
            .collect()
    }

    fn status(&self, commit: CommitId, context: &str) -> (StatusState, String) {
        let statuses = self.statuses(commit);
        statuses
            .get(context)
            .unwrap_or_else(|| panic!("no {context} on {commit}: {statuses:?}"))
            .clone()
    }

    /// The audit log's events about `commit`.
    fn audit(&self, commit: CommitId) -> Vec<AuditEvent> {
        let file = std::fs::File::open(self.audit_path()).unwrap();
        read_records(std::io::BufReader::new(file))
            .map(|r| r.unwrap().event)
            .filter(|e| e.commit.as_deref() == Some(&commit.to_string()))
            .collect()
    }

    /// The first alert of `kind` received, waiting up to ten seconds.
    async fn alert(&self, kind: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .alerts
                .lock()
                .unwrap()
                .iter()
                .find(|a| a["kind"] == kind)
                .cloned();
            if let Some(alert) = found {
                return alert;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} alert: {:?}",
                self.alerts.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn git(repo: &Path, config: &[&str], args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(config)
        .args(args)
        .current_dir(repo)
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

/// Commits the work tree of `repo` as `who` (`alice`, `bob`).
fn commit(repo: &Path, who: &str, message: &str) -> CommitId {
    let email = format!("user.email={who}@example.test");
    let name = format!("user.name={who}");
    let identity = ["-c", email.as_str(), "-c", name.as_str()];
    git(repo, &identity, &["add", "-A"]);
    git(repo, &identity, &["commit", "-q", "-m", message]);
    CommitId::parse(&git(repo, &[], &["rev-parse", "HEAD"])).unwrap()
}

fn short7(commit: CommitId) -> String {
    commit.short()[..7].to_owned()
}

#[tokio::test]
async fn an_allowed_commit_is_recorded_applied_and_reported() {
    let mut e = Estate::new().await;
    e.write("estate.yaml", &estate(5, ADDRESSES));
    let head = e.commit("alice", "web: weight 5");

    assert_eq!(e.reconcile().await.unwrap(), Next::Idle);

    assert_eq!(e.weight(), 5);
    assert_eq!(e.trusted(), Some(head));
    assert_eq!(
        e.statuses(head),
        BTreeMap::from([
            (
                "lbops/validate".into(),
                (StatusState::Success, "valid; 1 change(s)".into())
            ),
            (
                "lbops/authorize".into(),
                (
                    StatusState::Success,
                    "1 change(s) allowed by the trusted policy".into()
                )
            ),
            (
                "lbops/apply".into(),
                (
                    StatusState::Success,
                    "applied: 1 step(s), balancers in line with this commit".into()
                )
            ),
        ])
    );
    let audit = e.audit(head);
    let said: Vec<(EventKind, &str, &str)> = audit
        .iter()
        .map(|e| (e.kind, e.actor.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        said,
        [
            (EventKind::Judgement, "user/alice (unverified)", "accepted"),
            (EventKind::Apply, "lbops", "applying"),
            (EventKind::Apply, "lbops", "applied"),
        ]
    );
    assert_eq!(audit[1].resources, ["pool/web"]);
    assert!(e.alerts.lock().unwrap().is_empty());
    // The state saved says the head is done.
    let saved = StateStore::in_dir(&e.state_dir()).load().unwrap();
    assert_eq!(saved.trusted, Some(head));
    assert_eq!(saved.judged(head).unwrap().outcome, HeadOutcome::Applied);

    // Nothing new: nothing to do.
    let applied = e.provider().applied();
    assert_eq!(e.reconcile().await.unwrap(), Next::Idle);
    assert_eq!(e.provider().applied(), applied);
}

#[tokio::test]
async fn a_denied_commit_changes_nothing_and_names_who_may_not_do_what() {
    let mut e = Estate::new().await;
    let applied = e.provider().applied();
    e.write("estate.yaml", &estate(9, ADDRESSES));
    let head = e.commit("bob", "web: weight 9");

    assert_eq!(e.reconcile().await.unwrap(), Next::Idle);

    assert_eq!(e.provider().applied(), applied, "nothing applied");
    assert_eq!(e.weight(), 1);
    assert_eq!(e.trusted(), Some(e.first));
    let denial = format!(
        "denied: user/bob may not pool.weights.update on pool/web (commit {})",
        short7(head)
    );
    assert_eq!(
        e.status(head, "lbops/validate"),
        (StatusState::Success, "valid; 1 change(s)".into())
    );
    assert_eq!(
        e.status(head, "lbops/authorize"),
        (StatusState::Failure, denial.clone())
    );
    assert_eq!(
        e.status(head, "lbops/apply"),
        (
            StatusState::Failure,
            "nothing applied: the balancers keep the trusted state".into()
        )
    );
    let audit = e.audit(head);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].kind, EventKind::Denial);
    assert_eq!(audit[0].actor, "user/bob (unverified)");
    assert_eq!(audit[0].outcome, "refused");
    assert_eq!(audit[0].resources, ["pool/web"]);
    assert_eq!(audit[0].detail["reason"], denial.as_str());
    let alert = e.alert("denial").await;
    assert_eq!(
        alert["title"],
        format!("Denied: commit {} by user/bob", &head.to_string()[..12]).as_str()
    );
    assert_eq!(
        alert["details"],
        format!("user/bob may not make the change in commit {head}.\n{denial}").as_str()
    );

    // Refused once is refused: the same head is not judged again.
    assert_eq!(e.reconcile().await.unwrap(), Next::Idle);
    assert_eq!(e.audit(head).len(), 1);
}

#[tokio::test]
async fn an_invalid_commit_fails_validate_at_its_line() {
    let mut e = Estate::new().await;
    let applied = e.provider().applied();
    e.write(
        "estate.yaml",
        &estate(1, ADDRESSES).replace("name: edge\n", "name: edge\ncolour: blue\n"),
    );
    let head = e.commit("alice", "edge: a colour");

    assert_eq!(e.reconcile().await.unwrap(), Next::Idle);

    assert_eq!(e.provider().applied(), applied, "nothing applied");
    let (state, text) = e.status(head, "lbops/validate");
    assert_eq!(state, StatusState::Failure);
    assert!(text.starts_with("estate.yaml:10:1: "), "{text}");
    assert!(text.contains("colour"), "{text}");
    assert!(!e.statuses(head).contains_key("lbops/authorize"));
    assert_eq!(e.status(head, "lbops/apply").0, StatusState::Failure);
    let audit = e.audit(head);
    assert_eq!(
        (audit[0].kind, audit[0].outcome.as_str()),
        (EventKind::Denial, "invalid")
    );
    let alert = e.alert("bad_config").await;
    let details = alert["details"].as_str().unwrap();
    assert!(
        details.starts_with(
            "estate.yaml:10:1: error[unknown-field] loadbalancer/edge: unknown field `colour`"
        ),
        "{details}"
    );
}

#[tokio::test]
async fn a_commit_the_provider_cannot_run_fails_validate_and_changes_nothing() {
    let mut e = Estate::new().await;
    let applied = e.provider().applied();
    e.write("estate.yaml", &estate(5, "[]"));
    let head = e.commit("alice", "edge: no addresses");

    assert_eq!(e.reconcile().await.unwrap(), Next::Idle);

    assert_eq!(e.provider().applied(), applied, "nothing applied");
    assert_eq!(e.weight(), 1);
    let (state, text) = e.status(head, "lbops/validate");
    assert_eq!(state, StatusState::Failure);
    assert!(
        text.starts_with("estate.yaml:") && text.contains("needs at least one address"),
        "{text}"
    );
    assert_eq!(
        e.status(head, "lbops/apply"),
        (
            StatusState::Failure,
            "nothing applied: the balancers keep the trusted state".into()
        )
    );
    assert_eq!(e.audit(head)[0].outcome, "invalid");
    let saved = StateStore::in_dir(&e.state_dir()).load().unwrap();
    assert_eq!(saved.judged(head).unwrap().outcome, HeadOutcome::Invalid);
}

#[tokio::test]
async fn a_branch_moved_back_to_an_old_commit_is_refused_and_alerted() {
    let mut e = Estate::new().await;
    e.write("estate.yaml", &estate(5, ADDRESSES));
    let second = e.commit("alice", "web: weight 5");
    e.reconcile().await.unwrap();
    assert_eq!(e.trusted(), Some(second));
    let applied = e.provider().applied();

    e.git(&["reset", "-q", "--hard", &e.first.to_string()]);
    assert_eq!(e.reconcile().await.unwrap(), Next::Idle);

    assert_eq!(e.provider().applied(), applied, "nothing applied");
    assert_eq!(e.weight(), 5, "the balancers keep the trusted state");
    assert_eq!(e.trusted(), Some(second));
    assert_eq!(
        e.status(e.first, "lbops/authorize"),
        (
            StatusState::Failure,
            "the branch moved back to an old commit; push a revert instead".into()
        )
    );
    assert_eq!(e.status(e.first, "lbops/apply").0, StatusState::Failure);
    let alert = e.alert("rewritten_history").await;
    assert_eq!(
        alert["title"],
        format!(
            "History rewritten on main: {} is gone, now at {}",
            &second.to_string()[..12],
            &e.first.to_string()[..12]
        )
        .as_str()
    );
    let rewound: Vec<_> = e
        .audit(e.first)
        .into_iter()
        .filter(|r| r.outcome == "rewound")
        .collect();
    assert_eq!(rewound.len(), 1);
}

#[tokio::test]
async fn a_failed_step_is_an_apply_error_that_is_tried_again() {
    let mut e = Estate::new().await;
    e.provider()
        .fail("pool/web", "injected: the pool is locked");
    e.write("estate.yaml", &estate(5, ADDRESSES));
    let head = e.commit("alice", "web: weight 5");

    let error = e.reconcile().await.unwrap_err();

    assert!(
        matches!(&error, ReconcileError::Step { index: 1, reason } if reason == "injected: the pool is locked"),
        "{error:?}"
    );
    assert_eq!(error.retry(), Retry::Transient);
    assert_eq!(e.weight(), 1);
    assert_eq!(e.trusted(), Some(e.first));
    let why = "step 1 of the plan failed: injected: the pool is locked";
    assert_eq!(
        e.status(head, "lbops/apply"),
        (StatusState::Error, why.into())
    );
    assert_eq!(e.status(head, "lbops/authorize").0, StatusState::Success);
    let alert = e.alert("apply_failure").await;
    assert_eq!(
        alert["details"],
        format!("Commit {head} could not be applied.\n{why}").as_str()
    );
    // The plan that failed was recorded before it ran; nothing says applied.
    let outcomes: Vec<String> = e.audit(head).into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["accepted", "applying"]);
    assert!(e.reconciler.waiting().is_none());
}

#[tokio::test]
async fn nothing_changes_while_the_audit_log_cannot_be_written() {
    let mut e = Estate::new().await;
    let applied = e.provider().applied();
    e.write("estate.yaml", &estate(5, ADDRESSES));
    let head = e.commit("alice", "web: weight 5");
    e.reconciler
        .deps
        .reporter
        .audit
        .lock()
        .unwrap()
        .set_disk_full(true);

    let error = e.reconcile().await.unwrap_err();

    assert!(matches!(error, ReconcileError::Audit(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("cannot write the audit log, so nothing is applied: "),
        "{message}"
    );
    assert!(message.contains("make room on its disk"), "{message}");
    assert_eq!(error.retry(), Retry::AuditWrite);
    assert_eq!(e.provider().applied(), applied, "nothing applied");
    assert_eq!(e.weight(), 1);
    assert_eq!(e.trusted(), Some(e.first));
    assert!(e.audit(head).is_empty());
    // Judged, but nothing of the judgement is reported without its record.
    assert_eq!(
        e.statuses(head),
        BTreeMap::from([(
            "lbops/validate".into(),
            (StatusState::Pending, "judging".into())
        )])
    );
    assert!(
        e.reconciler.waiting().is_none(),
        "tried again, not waited on"
    );

    // Room again: the next reconcile applies it.
    e.reconciler
        .deps
        .reporter
        .audit
        .lock()
        .unwrap()
        .set_disk_full(false);
    assert_eq!(e.reconcile().await.unwrap(), Next::Idle);
    assert_eq!(e.weight(), 5);
    assert_eq!(e.trusted(), Some(head));
    assert_eq!(e.status(head, "lbops/apply").0, StatusState::Success);
}

#[tokio::test]
async fn an_audit_log_changed_behind_the_daemon_stops_it_on_the_head_until_a_new_commit() {
    let mut e = Estate::new().await;
    let applied = e.provider().applied();
    // Someone appends to the log.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(e.audit_path())
        .unwrap();
    std::io::Write::write_all(&mut log, b"{}\n").unwrap();
    e.write("estate.yaml", &estate(5, ADDRESSES));
    let head = e.commit("alice", "web: weight 5");

    let error = e.reconcile().await.unwrap_err();

    assert_eq!(error.retry(), Retry::NeedsOperator);
    assert_eq!(e.provider().applied(), applied, "nothing applied");
    let waiting = e.reconciler.waiting().expect("waits").clone();
    assert_eq!(waiting.head, head);
    assert!(
        waiting
            .reason
            .starts_with("waiting for an operator: cannot write the audit log, so nothing is applied: the audit log"),
        "{}",
        waiting.reason
    );
    let (state, text) = e.status(head, "lbops/apply");
    assert_eq!(state, StatusState::Error);
    assert!(text.starts_with("waiting for an operator: "), "{text}");
    let alert = e.alert("apply_failure").await;
    assert!(
        alert["details"].as_str().unwrap().contains(&waiting.reason),
        "{alert}"
    );

    // The same head is not judged again.
    let statuses = e.statuses(head);
    assert_eq!(e.reconcile().await.unwrap(), Next::Idle);
    assert_eq!(e.statuses(head), statuses);
    assert_eq!(e.reconciler.waiting(), Some(&waiting));

    // A new commit is tried (and stops too: the log is still changed).
    e.write("estate.yaml", &estate(6, ADDRESSES));
    let next = e.commit("alice", "web: weight 6");
    assert!(e.reconcile().await.is_err());
    assert_eq!(e.reconciler.waiting().map(|w| w.head), Some(next));
    assert_eq!(e.provider().applied(), applied, "nothing applied");
}
