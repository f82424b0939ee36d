//! Commit-to-traffic: how long from `git commit` (signed) to the balancer
//! sending traffic where the commit says, with the daemon's filesystem
//! watch as the trigger. The daemon runs in this process on its embedded
//! data plane; backends and client are real, on loopback.
//!
//! `cargo bench --bench commit_to_traffic` (or `-- 50` for 50 commits).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use common::git::{Author, GitRepo, Signing, SshKey};
use common::{Backend, Ports};
use http_body_util::BodyExt;
use std::time::{Duration, Instant};

fn estate(
    admin: &SshKey,
    blue: &Backend,
    green: &Backend,
    port: u16,
    live: &str,
) -> [(String, String); 3] {
    [
        (
            "access.yaml".into(),
            format!(
                "kind: Role\nname: admin\nspec:\n  rules: [{{actions: ['*'], resources: ['*']}}]\n---\n\
                 kind: User\nname: alice\nspec: {{emails: [alice@example.test], roles: [admin], signing_keys: [{{ssh: '{}'}}]}}\n",
                admin.public
            ),
        ),
        (
            "pools.yaml".into(),
            format!(
                "kind: Pool\nname: blue\nspec:\n  targets: [{{address: '{}'}}]\n---\n\
                 kind: Pool\nname: green\nspec:\n  targets: [{{address: '{}'}}]\n",
                blue.address, green.address
            ),
        ),
        (
            "balancer.yaml".into(),
            format!(
                "kind: LoadBalancer\nname: edge\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
                 \x20   - {{name: http, protocol: http, port: {port}, default_action: {{forward: {{pools: [{{pool: {live}}}]}}}}}}\n"
            ),
        ),
    ]
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(30);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(rounds));
}

async fn run(rounds: usize) {
    let key = SshKey::new("alice@example.test");
    let alice = Author {
        name: "Alice",
        email: "alice@example.test",
        signing: Signing::Ssh(&key),
    };
    let blue = Backend::named("blue").await;
    let green = Backend::named("green").await;
    let ports = Ports::default();
    let port = ports.hold();
    let repo = GitRepo::new();
    for (file, text) in estate(&key, &blue, &green, port, "blue") {
        repo.write(&file, &text);
    }
    let first = repo.commit(&alice, "blue is live");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "repository: {{path: '{}'}}\ntrigger: {{poll: 0s, watch: true}}\ntrust: {{pinned_commit: {first}}}\nstate_dir: '{}'\n",
        repo.path().display(),
        dir.path().join("state").display()
    );
    let config = lbops::daemon::DaemonConfig::parse("bench.yaml", &config).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // The daemon's future is not `Send` (git2 handles), so it runs beside
    // the measurement in this task rather than on another thread.
    let daemon = lbops::daemon::run(config, async move {
        let _ = stopped.await;
    });
    let measure = async {
        let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let serving = |expected: &'static str| {
            let client = client.clone();
            async move {
                let uri = format!("http://127.0.0.1:{port}/").parse().unwrap();
                let Ok(response) = client.get(uri).await else {
                    return false;
                };
                let body = response.into_body().collect().await.map(|b| b.to_bytes());
                body.is_ok_and(|b| b.starts_with(expected.as_bytes()))
            }
        };
        let wait_for = |expected: &'static str| {
            let serving = &serving;
            async move {
                let started = Instant::now();
                while !serving(expected).await {
                    assert!(
                        started.elapsed() < Duration::from_secs(30),
                        "never switched to {expected}"
                    );
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        wait_for("blue").await;

        let mut times = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let live = if round % 2 == 0 { "green" } else { "blue" };
            for (file, text) in estate(&key, &blue, &green, port, live) {
                repo.write(&file, &text);
            }
            let started = Instant::now();
            repo.commit(&alice, &format!("{live} is live"));
            wait_for(live).await;
            times.push(started.elapsed());
        }
        let _ = stop.send(());
        times
    };
    let (ran, mut times) = tokio::join!(daemon, measure);
    ran.unwrap();

    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "commit-to-traffic over {rounds} signed commits (fs watch trigger, embedded data plane):"
    );
    println!(
        "  p50 {:.0} ms   p95 {:.0} ms   max {:.0} ms   mean {:.0} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
        mean.as_secs_f64() * 1e3
    );
    println!("  (from `git commit -S` starting to the first response from the new pool; includes signing)");
}
