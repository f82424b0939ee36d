//! Replicas on etcd, for real: Debian's `etcd-server` on loopback, two
//! `lbops run` replicas of one signed repository, and three separate
//! `lbops dataplane` nodes that outlive them (on one balancer port, which
//! their listeners share with `SO_REUSEPORT`). A leader killed with `kill -9`
//! is replaced by the standby, which applies the next commit; a leader
//! paused past its lease writes nothing when it wakes; without etcd the
//! leader stops applying (traffic keeps flowing) and resumes when etcd
//! is back. The replicas' audit logs verify joined, each decision once.

mod common;

use common::api;
use common::cluster::{http, wait_for_log, Cluster};
use common::estate::{pools, wait_for_status, Daemon};
use common::etcd::EtcdServer;
use common::git::SshKey;
use lbops::spec::material::api_token::ApiToken;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `lbops audit verify` of the given logs, joined: its output.
fn verify_joined(logs: &[&Path]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(["audit", "verify"])
        .args(logs)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Audit records of `log` whose kind is `kind`.
fn records(log: &Path, kind: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["event"]["kind"] == kind)
        .collect()
}

fn signal(daemon: &Daemon, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &daemon.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_of_the_leader_the_standby_takes_over_and_applies_the_next_commit() {
    let c = Cluster::new().await;
    let mut a = c.replica("a", 3);
    wait_for_log(&a, "taking over as leader", Duration::from_secs(30)).await;
    wait_for_status(&c.repo, &c.first, "lbops/apply: success", &a).await;
    let b = c.replica("b", 3);
    wait_for_log(&b, "a replica on etcd", Duration::from_secs(30)).await;
    assert_eq!(c.shared_trusted().await.as_deref(), Some(c.first.as_str()));

    a.kill();
    let killed = Instant::now();
    c.repo
        .write("pools.yaml", &pools(&c.stable, &c.canary, 50, 1));
    let shift = c.repo.commit(&c.team.bob(), "canary to 50");
    let note = wait_for_status(&c.repo, &shift, "lbops/apply: success", &b).await;
    let took = killed.elapsed();
    assert!(b.logs().contains("taking over as leader"), "{}", b.logs());
    // A 3 s lease, a 250 ms standby poll, and the apply.
    assert!(
        took < Duration::from_secs(3 + 10),
        "failover took {took:?}; {note}"
    );
    let share = c.canary_share().await;
    assert!((0.38..0.62).contains(&share), "canary at 50%: {share}");
    assert_eq!(c.shared_trusted().await.as_deref(), Some(shift.as_str()));

    // One chain per replica; joined, each decision and apply once.
    let (log_a, log_b) = (
        c.state_dir("a").join("audit.jsonl"),
        c.state_dir("b").join("audit.jsonl"),
    );
    let joined = verify_joined(&[&log_a, &log_b]);
    assert!(joined.contains("joined: 2 logs"), "{joined}");
    let decided_by_a: Vec<_> = records(&log_a, "decision");
    let decided_by_b: Vec<_> = records(&log_b, "decision");
    assert!(
        decided_by_a
            .iter()
            .all(|r| r["event"]["commit"] != shift.as_str()),
        "the killed leader never saw the shift"
    );
    assert_eq!(
        decided_by_b
            .iter()
            .filter(|r| r["event"]["commit"] == shift.as_str())
            .count(),
        1,
        "{decided_by_b:?}"
    );
    let epoch_b = decided_by_b[0]["event"]["epoch"].as_u64().unwrap();
    let nodes = c.nodes().await;
    assert!(
        nodes
            .iter()
            .all(|(version, epoch)| *version == nodes[0].0 && *epoch == epoch_b),
        "all three nodes run b's config under epoch {epoch_b}: {nodes:?}"
    );
    for n in 0..3 {
        let pools = &c.node(n, "/v1/config").await["pools"]["web"]["targets"];
        assert!(
            pools.to_string().contains("\"weight\":50"),
            "node {n}: {pools}"
        );
    }
    assert!(records(&log_a, "apply")
        .iter()
        .all(|r| r["event"]["epoch"].as_u64().unwrap() < epoch_b));

    // The standby's page and metrics say who leads.
    let metrics = http()
        .get(format!("{}/metrics", b.pages().await))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("lbops_replica_leading{replica=\"b\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("lbops_leader_epoch {epoch_b}")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_paused_past_its_lease_writes_nothing_when_it_wakes() {
    let c = Cluster::new().await;
    let a = c.replica("a", 2);
    wait_for_log(&a, "taking over as leader", Duration::from_secs(30)).await;
    wait_for_status(&c.repo, &c.first, "lbops/apply: success", &a).await;
    let b = c.replica("b", 2);
    wait_for_log(&b, "a replica on etcd", Duration::from_secs(30)).await;

    let under_a = c.nodes().await;
    signal(&a, "-STOP");
    wait_for_log(&b, "taking over as leader", Duration::from_secs(30)).await;
    // Before it has anything to apply, the new leader claims every node
    // under its epoch: an older leader's late PUT is refused from now on.
    wait_for_log(&b, "claimed the data-plane nodes", Duration::from_secs(30)).await;
    let claimed = c.nodes().await;
    for (n, ((_, before), (_, after))) in under_a.iter().zip(&claimed).enumerate() {
        assert!(after > before, "node {n}: epoch {before} → {after}");
    }
    c.repo
        .write("pools.yaml", &pools(&c.stable, &c.canary, 50, 1));
    let shift = c.repo.commit(&c.team.bob(), "canary to 50");
    wait_for_status(&c.repo, &shift, "lbops/apply: success", &b).await;
    let running = c.nodes().await;
    let log_a = c.state_dir("a").join("audit.jsonl");
    let recorded_by_a = std::fs::read_to_string(&log_a).unwrap();

    // a wakes with a lapsed lease, a drift check due every second and
    // the data plane running what it did not apply: it must revert nothing.
    signal(&a, "-CONT");
    wait_for_log(&a, "standing by", Duration::from_secs(30)).await;
    // Its drift schedule fires every second: give it three chances.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        assert_eq!(
            c.nodes().await,
            running,
            "no node took a config from the woken leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let share = c.canary_share().await;
    assert!(
        (0.38..0.62).contains(&share),
        "the newer config serves: {share}"
    );
    assert_eq!(c.shared_trusted().await.as_deref(), Some(shift.as_str()));
    assert_eq!(
        std::fs::read_to_string(&log_a).unwrap(),
        recorded_by_a,
        "the paused leader recorded nothing after it woke"
    );
    verify_joined(&[&log_a, &c.state_dir("b").join("audit.jsonl")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_etcd_the_leader_applies_nothing_traffic_flows_and_it_resumes_when_etcd_returns() {
    let mut c = Cluster::new().await;
    let a = c.replica("a", 2);
    wait_for_log(&a, "taking over as leader", Duration::from_secs(30)).await;
    wait_for_status(&c.repo, &c.first, "lbops/apply: success", &a).await;

    c.etcd.kill();
    wait_for_log(&a, "standing by", Duration::from_secs(30)).await;
    c.repo
        .write("pools.yaml", &pools(&c.stable, &c.canary, 50, 1));
    let shift = c.repo.commit(&c.team.bob(), "canary to 50");
    let note = wait_for_status(&c.repo, &shift, "lbops/apply: pending", &a).await;
    assert!(
        note.contains("no replica holds the leader lease") && note.contains("etcd"),
        "{note}"
    );
    let share = c.canary_share().await;
    assert!(share < 0.25, "traffic flows on the old config: {share}");

    c.etcd.run().await;
    wait_for_status(&c.repo, &shift, "lbops/apply: success", &a).await;
    let share = c.canary_share().await;
    assert!((0.38..0.62).contains(&share), "canary at 50%: {share}");
}

/// Registers `target` in pool `web` with Idempotency-Key `key`.
async fn register(
    api: std::net::SocketAddr,
    token: &ApiToken,
    key: &str,
    target: &str,
) -> (u16, serde_json::Value) {
    let headers = format!(
        "authorization: Bearer {}\r\ncontent-type: application/json\r\nidempotency-key: {key}\r\n",
        token.expose()
    );
    let body = format!("{{\"address\": \"{target}\", \"weight\": 1}}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, text) = api::call(
            api,
            "POST",
            "/v1/pools/web/targets?wait=applied&timeout=20s",
            &headers,
            &body,
        )
        .await;
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if json["code"] != "not-ready" || Instant::now() > deadline {
            return (status, json);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_through_the_leader_and_a_retry_after_a_failover_makes_no_second_commit() {
    let adder = ApiToken::generate(api::random);
    let c = Cluster::with_files(&[("bots.yaml", api::deploy_bot(&adder))]).await;
    let api_key = SshKey::new("lbops-api");
    let signing = format!(", signing_key_file: '{}'", api_key.private_key().display());
    let mut a = c.replica_with("a", 2, &signing);
    wait_for_log(&a, "taking over as leader", Duration::from_secs(30)).await;
    wait_for_status(&c.repo, &c.first, "lbops/apply: success", &a).await;
    let b = c.replica_with("b", 2, &signing);
    wait_for_log(&b, "ready (standing by)", Duration::from_secs(30)).await;

    // A standby refuses writes, naming the leader.
    let target = c.canary.address.to_string();
    let (status, refused) = register(api::address(&b).await, &adder, "deploy-1", &target).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (503, Some("not-leader")),
        "{refused}"
    );
    assert!(
        refused["message"].as_str().unwrap().contains("(a)"),
        "{refused}"
    );

    // The leader writes; then it dies, and the pipeline retries the same
    // call on the new leader: the commit the key made, not a second one.
    let (status, made) = register(api::address(&a).await, &adder, "deploy-2", "127.0.0.1:9").await;
    assert_eq!(status, 200, "{made}");
    assert!(
        made["commit"].as_str().is_some_and(|c| c.len() == 40),
        "{made}"
    );
    let commits = api::commits(&c.repo);
    a.kill();
    wait_for_log(&b, "taking over as leader", Duration::from_secs(30)).await;
    let (status, retried) =
        register(api::address(&b).await, &adder, "deploy-2", "127.0.0.1:9").await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["commit"], made["commit"], "{retried} {made}");
    assert_eq!(api::commits(&c.repo), commits, "no second commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_signs_in_to_etcd_when_its_authentication_is_on() {
    let c = Cluster::new().await;
    c.etcd.enable_auth("etcd-test-password").await;
    let password = c.state_dir("a").with_extension("etcd-password");
    std::fs::write(&password, "etcd-test-password\n").unwrap();
    let etcd = format!(", username: root, password_file: '{}'", password.display());
    let a = c.replica_configured("a", 2, "", &etcd);
    wait_for_log(&a, "taking over as leader", Duration::from_secs(30)).await;
    wait_for_status(&c.repo, &c.first, "lbops/apply: success", &a).await;
    assert!(
        !a.logs().contains("etcd-test-password"),
        "the password is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_reaches_etcd_over_tls_with_a_client_certificate() {
    let mut c = Cluster::new().await;
    c.etcd = EtcdServer::start_tls().await;
    let (cert, key) = c.etcd.client_cert();
    let tls = format!(
        ", ca_file: '{}', cert_file: '{}', key_file: '{}'",
        c.etcd.ca().display(),
        cert.display(),
        key.display()
    );
    let a = c.replica_configured("a", 2, "", &tls);
    wait_for_log(&a, "taking over as leader", Duration::from_secs(30)).await;
    wait_for_status(&c.repo, &c.first, "lbops/apply: success", &a).await;
    // Without the client certificate etcd refuses the replica.
    let refused = c.replica_configured(
        "b",
        2,
        "",
        &format!(", ca_file: '{}'", c.etcd.ca().display()),
    );
    wait_for_log(
        &refused,
        "cannot campaign for leadership",
        Duration::from_secs(30),
    )
    .await;
}
