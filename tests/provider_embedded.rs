//! The embedded provider against a real data plane and its admin API:
//! plans applied step by step, then observed back, converge.

mod common;

use bytes::Bytes;
use common::{catalog, Backend, Ports};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lbops::dataplane::admin::{token_sha256, AdminConfig, AdminServer};
use lbops::dataplane::Dataplane;
use lbops::model::StepOutcome;
use lbops::plan::plan;
use lbops::provider::embedded::EmbeddedProvider;
use lbops::provider::{ApplyContext, Provider};
use lbops::source::CommitId;
use lbops::spec::Catalog;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

const TOKEN: &str = "provider-test-token-not-secret";

fn repo(port: u16, stable: &[SocketAddr], canary: Option<(SocketAddr, u32)>) -> String {
    let targets: Vec<String> = stable
        .iter()
        .map(|a| format!("{{address: '{a}'}}"))
        .collect();
    let checks = "  health_check:\n    probe: {http: {path: /healthz}}\n    interval: 100ms\n    timeout: 80ms\n    healthy_threshold: 1\n";
    let mut yaml = format!(
        "kind: Pool\nname: stable\nspec:\n  targets: [{}]\n{checks}---\n",
        targets.join(", ")
    );
    let mut pools = "{pool: stable, weight: 100}".to_owned();
    if let Some((address, weight)) = canary {
        yaml.push_str(&format!(
            "kind: Pool\nname: canary\nspec:\n  targets: [{{address: '{address}'}}]\n{checks}---\n"
        ));
        pools.push_str(&format!(", {{pool: canary, weight: {weight}}}"));
    }
    yaml.push_str(&format!(
        "kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {{name: http, protocol: http, port: {port}, default_action: {{forward: {{pools: [{pools}]}}}}}}\n"
    ));
    yaml
}

async fn split(port: u16, n: usize) -> HashMap<String, usize> {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut counts = HashMap::new();
    for _ in 0..n {
        let response = client
            .get(format!("http://127.0.0.1:{port}/").parse().unwrap())
            .await
            .unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        let name = body.split(' ').next().unwrap_or_default().to_owned();
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

/// Plans `desired` against what the provider observes, applies it, and
/// checks that every step applied and that a second plan is empty.
async fn converge(provider: &EmbeddedProvider, desired: &Catalog) -> usize {
    let observed = provider.observe().await.expect("observe");
    let steps = plan(desired, &observed).steps;
    let context = ApplyContext {
        catalog: desired,
        commit: CommitId::parse("0123456789abcdef0123456789abcdef01234567").unwrap(),
        epoch: None,
        may_start: None,
    };
    let outcomes = provider.apply(&steps, context).await;
    assert!(
        outcomes.iter().all(|o| *o == StepOutcome::Applied),
        "{:#?}",
        steps.iter().zip(&outcomes).collect::<Vec<_>>()
    );
    let after = provider.observe().await.expect("observe");
    let again = plan(desired, &after);
    assert!(again.is_empty(), "plan after apply is not empty:\n{again}");
    steps.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_applied_through_the_admin_api_converge() {
    let ports = Ports::default();
    let backends = (
        Backend::named("a").await,
        Backend::named("b").await,
        Backend::named("canary").await,
    );
    let (a, b, canary) = (backends.0.address, backends.1.address, backends.2.address);
    let port = ports.hold();
    let state = tempfile::tempdir().unwrap();
    let dataplane = Arc::new(Dataplane::new());
    let admin = AdminServer::start(
        dataplane.clone(),
        AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token_sha256: token_sha256(TOKEN),
            state_dir: state.path().to_path_buf(),
        },
    )
    .await
    .unwrap();
    let provider = EmbeddedProvider::new(format!("http://{}", admin.local_addr()), TOKEN);

    // From nothing to a balancer with one pool.
    let steps = converge(&provider, &catalog(&repo(port, &[a], None))).await;
    assert!(
        steps >= 4,
        "create pool, add targets, wait, put balancer: {steps}"
    );
    let only_a = split(port, 10).await;
    assert_eq!(only_a.get("a"), Some(&10), "{only_a:?}");

    // A second target, then a canary at 25%.
    converge(&provider, &catalog(&repo(port, &[a, b], None))).await;
    let both = split(port, 20).await;
    assert_eq!((both["a"], both["b"]), (10, 10));
    converge(
        &provider,
        &catalog(&repo(port, &[a, b], Some((canary, 25)))),
    )
    .await;
    let with_canary = split(port, 100).await;
    assert_eq!(
        with_canary["canary"], 20,
        "25 of 125 weight: {with_canary:?}"
    );

    // Remove a target (drained) and the canary pool.
    converge(&provider, &catalog(&repo(port, &[b], None))).await;
    assert_eq!(split(port, 10).await.get("b"), Some(&10));

    // A wrong token is refused and nothing is applied.
    let intruder = EmbeddedProvider::new(format!("http://{}", admin.local_addr()), "wrong");
    let error = intruder.observe().await.unwrap_err().to_string();
    assert!(error.contains("(401)"), "{error}");
    admin.shutdown().await;
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lbops_plan_prints_the_steps_for_a_repository() {
    let ports = Ports::default();
    let a = Backend::named("a").await;
    let port = ports.hold();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("repo")).unwrap();
    std::fs::write(
        dir.path().join("repo/web.yaml"),
        repo(port, &[a.address], None),
    )
    .unwrap();
    let dataplane = Arc::new(Dataplane::new());
    let admin = AdminServer::start(
        dataplane.clone(),
        AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token_sha256: token_sha256(TOKEN),
            state_dir: dir.path().join("state"),
        },
    )
    .await
    .unwrap();
    let url = format!("http://{}", admin.local_addr());
    let run = |output: &'static str| {
        let url = url.clone();
        let repo = dir.path().join("repo");
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_lbops"))
                .args(["plan", "--dataplane", &url, "--output", output, "--repo"])
                .arg(repo)
                .env("LBOPS_DATAPLANE_TOKEN", TOKEN)
                .output()
                .unwrap()
        })
    };
    let text = run("text").await.unwrap();
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("1. pool/stable: create"), "{text}");
    assert!(text.contains("loadbalancer/web"), "{text}");
    let json = run("json").await.unwrap();
    let steps: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let kinds: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"create_pool"));
    assert_eq!(kinds.last(), Some(&"put_load_balancer"));
    assert!(
        dataplane.snapshot().config.load_balancers.is_empty(),
        "planning changes nothing"
    );
    admin.shutdown().await;
    dataplane.shutdown().await;
}
