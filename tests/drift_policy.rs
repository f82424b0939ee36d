//! Drift policy per field, end to end: a real `lbops run` with its data
//! plane in-process, hand changes made through the data plane's admin API
//! (as an operator or an autoscaler would), and what the daemon does about
//! each field as its config says — statuses read back with `git notes`,
//! records from the audit log.

mod common;

use common::estate::{balancer, note, wait_for_status, Daemon, Team};
use common::git::GitRepo;
use common::{Backend, Ports, Reply};
use lbops::dataplane::config::DataplaneConfig;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Weights put back except `db`'s (accepted: someone else tunes it), and
/// the targets of autoscaled pools reported and left.
const DRIFT: &str = "
drift:
  schedule: '0 0 * * * *'
  mode: report
  kinds: {Pool: revert}
  fields:
    - {kind: Pool, field: targets, mode: report, names: ['autoscaled-*']}
    - {kind: Pool, field: weights, mode: accept, names: [db]}
    - {kind: Pool, field: weights, mode: revert}
";

struct Estate {
    repo: GitRepo,
    stable: Backend,
    canary: Backend,
    _ports: Ports,
    dir: tempfile::TempDir,
    first: String,
}

impl Estate {
    async fn new() -> Self {
        let team = Team::new();
        let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let canary = Backend::start_at("canary", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let ports = Ports::default();
        let port = ports.hold();
        let repo = GitRepo::new();
        repo.write("access.yaml", &team.access());
        repo.write(
            "pools.yaml",
            &format!(
                "kind: Pool
name: web
spec:
  targets: [{{address: '{stable}', weight: 90}}, {{address: '{canary}', weight: 10}}]
---
kind: Pool
name: db
spec:
  targets: [{{address: '{stable}', weight: 1}}]
---
kind: Pool
name: autoscaled-web
spec:
  targets: [{{address: '{stable}'}}]
",
                stable = stable.address,
                canary = canary.address,
            ),
        );
        repo.write("balancers.yaml", &balancer(port));
        let first = repo.commit(&team.alice(), "the estate");
        let dir = tempfile::tempdir().unwrap();
        let estate = Estate {
            repo,
            stable,
            canary,
            _ports: ports,
            dir,
            first,
        };
        let config = format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
{DRIFT}",
            estate.repo.path().display(),
            estate.first,
            estate.state_dir().display()
        );
        std::fs::write(estate.config_path(), config).unwrap();
        estate
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("lbops.yaml")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The audit log's drift records with `outcome`, as JSON events.
    fn drift_records(&self, outcome: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state_dir().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|record| record["event"].clone())
            .filter(|event| event["kind"] == "drift" && event["outcome"] == outcome)
            .collect()
    }

    /// Waits (up to 30 s) for a drift record with `outcome` whose detail
    /// mentions `text`, and returns it.
    async fn wait_for_record(
        &self,
        outcome: &str,
        text: &str,
        daemon: &Daemon,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .drift_records(outcome)
                .into_iter()
                .find(|event| event["detail"].to_string().contains(text));
            if let Some(event) = found {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "no `{outcome}` drift record with `{text}` in {:?}\nlogs:\n{}",
                self.drift_records(outcome),
                daemon.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to 30 s) until the data plane runs what `done` wants.
    async fn wait_for_running(
        &self,
        plane: &Plane,
        what: &str,
        daemon: &Daemon,
        done: impl Fn(&DataplaneConfig) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let running = plane.running().await;
            if done(&running) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the data plane never ran {what}: {running:?}\nlogs:\n{}",
                daemon.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The in-process data plane's admin API, as someone changing it by hand.
struct Plane {
    url: String,
    token: String,
}

impl Plane {
    async fn of(e: &Estate, daemon: &Daemon) -> Self {
        let token = std::fs::read_to_string(e.state_dir().join("dataplane-admin-token")).unwrap();
        Plane {
            url: format!("http://{}/v1/config", daemon.admin().await),
            token: token.trim().to_owned(),
        }
    }

    async fn running(&self) -> DataplaneConfig {
        let (status, body) = admin_call("GET", &self.url, &self.token, None).await;
        assert_eq!(status, 200, "{body}");
        DataplaneConfig::parse(&body).unwrap()
    }

    /// One change by hand, as the next version of the running config.
    async fn change(&self, edit: impl FnOnce(&mut DataplaneConfig)) {
        let mut config = self.running().await;
        config.version += 1;
        edit(&mut config);
        let (status, body) =
            admin_call("PUT", &self.url, &self.token, Some(config.to_json())).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// The weight the data plane gives `address` in `pool`.
fn weight(config: &DataplaneConfig, pool: &str, address: &str) -> Option<u32> {
    config
        .pools
        .get(pool)?
        .targets
        .iter()
        .find_map(|t| (t.address.value.to_string() == address).then_some(t.weight.value))
}

fn set_weight(config: &mut DataplaneConfig, pool: &str, address: &str, to: u32) {
    let target = config
        .pools
        .get_mut(pool)
        .unwrap()
        .targets
        .iter_mut()
        .find(|t| t.address.value.to_string() == address)
        .unwrap();
    target.weight.value = to;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_field_drifts_as_the_config_says() {
    let e = Estate::new().await;
    let daemon = Daemon::start(&e.config_path());
    wait_for_status(&e.repo, &e.first, "lbops/apply: success", &daemon).await;
    let plane = Plane::of(&e, &daemon).await;
    let stable = e.stable.address.to_string();
    let canary = e.canary.address.to_string();

    // `db`'s weight is accepted: an audit record, no status, no revert.
    plane.change(|c| set_weight(c, "db", &stable, 5)).await;
    let record = e
        .wait_for_record("accepted", &format!("{stable} at 5, git says 1"), &daemon)
        .await;
    assert_eq!(
        record["resources"],
        serde_json::json!(["pool/db"]),
        "{record}"
    );
    let note = note(&e.repo, &e.first).unwrap_or_default();
    assert!(
        !note.contains("lbops/drift"),
        "accepted drift is no status: {note}"
    );
    assert!(e.drift_records("drift").is_empty(), "nothing reported");
    assert_eq!(weight(&plane.running().await, "db", &stable), Some(5));

    // `web`'s weights revert: put back, and the status names the field
    // and the values.
    plane.change(|c| set_weight(c, "web", &canary, 50)).await;
    let line = format!("pool/web weights: put back {canary} to 10 (was 50)");
    let note = wait_for_status(
        &e.repo,
        &e.first,
        &format!("lbops/drift: failure — drift (reverted): {line}"),
        &daemon,
    )
    .await;
    assert!(
        !note.contains("pool/db"),
        "accepted drift stays out of the status: {note}"
    );
    e.wait_for_running(&plane, "web's canary at 10 again", &daemon, |c| {
        weight(c, "web", &canary) == Some(10)
    })
    .await;
    e.wait_for_record("drift", "put back", &daemon).await;

    // An autoscaler adds a target to `autoscaled-web`: reported and left.
    plane
        .change(|c| {
            let pool = c.pools.get_mut("autoscaled-web").unwrap();
            let mut added = pool.targets[0].clone();
            added.address.value = canary.parse().unwrap();
            pool.targets.push(added);
        })
        .await;
    wait_for_status(
        &e.repo,
        &e.first,
        &format!(
            "lbops/drift: failure — drift (left as is): pool/autoscaled-web targets: {canary} running, not in git"
        ),
        &daemon,
    )
    .await;

    // Another drift check (a further hand change, accepted) leaves the
    // autoscaler's target running.
    plane.change(|c| set_weight(c, "db", &stable, 6)).await;
    e.wait_for_record("accepted", &format!("{stable} at 6, git says 1"), &daemon)
        .await;
    let running = plane.running().await;
    assert_eq!(
        running.pools["autoscaled-web"].targets.len(),
        2,
        "the autoscaler's target still runs: {running:?}"
    );
    assert_eq!(weight(&running, "web", &canary), Some(10));
    assert_eq!(
        weight(&running, "db", &stable),
        Some(6),
        "accepted, never reverted"
    );
}

async fn admin_call(method: &str, url: &str, token: &str, body: Option<String>) -> (u16, String) {
    use http_body_util::{BodyExt, Full};
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}
