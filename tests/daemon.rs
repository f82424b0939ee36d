//! The daemon end to end: a real git repository with commits signed by
//! ssh-keygen keys, `lbops run` as a real process with its data plane
//! in-process, real backends and a real HTTP client sending traffic
//! through the balancer, statuses read back with `git notes`.

mod common;

use common::estate::{balancer, note, pools, wait_for_status, Daemon, Team};
use common::git::GitRepo;
use common::{Backend, ChildProcess, Ports, Reply};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WEBHOOK_SECRET: &str = "daemon-test-webhook-secret";

struct Estate {
    team: Team,
    repo: GitRepo,
    stable: Backend,
    canary: Backend,
    /// The balancer's port, held for the data plane to bind.
    port: u16,
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
        repo.write("pools.yaml", &pools(&stable, &canary, 10, 1));
        repo.write("balancers.yaml", &balancer(port));
        let first = repo.commit(&team.alice(), "the estate");
        let dir = tempfile::tempdir().unwrap();
        let estate = Estate {
            team,
            repo,
            stable,
            canary,
            port,
            _ports: ports,
            dir,
            first,
        };
        std::fs::write(estate.dir.path().join("webhook-secret"), WEBHOOK_SECRET).unwrap();
        let provider = "{embedded: {admin_listen: '127.0.0.1:0'}}";
        std::fs::write(estate.config_path(), estate.config(provider)).unwrap();
        estate
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("lbops.yaml")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The daemon's config; it listens on ports of its own choosing
    /// (`:0`) and logs them (see `Daemon::admin` and the like).
    fn config(&self, provider: &str) -> String {
        format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true, webhook: {{listen: '127.0.0.1:0', secret_file: webhook-secret}}}}
trust: {{pinned_commit: {}}}
provider: {provider}
drift: {{schedule: '0 0 * * * *', kinds: {{Pool: revert}}}}
statuses: {{page_url: 'http://127.0.0.1:8712'}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
            self.repo.path().display(),
            self.first,
            self.state_dir().display()
        )
    }

    fn note(&self, commit: &str) -> Option<String> {
        note(&self.repo, commit)
    }

    async fn wait_for_status(&self, commit: &str, line: &str, daemon: &Daemon) -> String {
        wait_for_status(&self.repo, commit, line, daemon).await
    }

    /// How many of `n` requests through the balancer the canary answered.
    async fn canary_share(&self, n: usize) -> f64 {
        let client = reqwest_free_client();
        let mut canary = 0;
        for _ in 0..n {
            let body = get(&client, self.port).await;
            if body.starts_with("canary") {
                canary += 1;
            } else {
                assert!(body.starts_with("stable"), "{body}");
            }
        }
        canary as f64 / n as f64
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.state_dir().join("audit.jsonl")).unwrap_or_default()
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Empty<bytes::Bytes>,
>;

fn reqwest_free_client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new())
}

async fn get(client: &Client, port: u16) -> String {
    use http_body_util::BodyExt;
    let response = client
        .get(format!("http://127.0.0.1:{port}/").parse().unwrap())
        .await
        .expect("the balancer answers");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_judged_applied_or_refused_and_reported_on_the_commits() {
    let e = Estate::new().await;
    let daemon = Daemon::start(&e.config_path());

    // The pinned commit is trusted as is and served.
    e.wait_for_status(&e.first, "lbops/apply: success", &daemon)
        .await;
    let share = e.canary_share(300).await;
    assert!((0.03..0.2).contains(&share), "canary at 10%: {share}");

    // bob shifts the canary from 10 to 50, signed: applied.
    e.repo
        .write("pools.yaml", &pools(&e.stable, &e.canary, 50, 1));
    let shift = e.repo.commit(&e.team.bob(), "canary to 50");
    let note = e
        .wait_for_status(&shift, "lbops/apply: success", &daemon)
        .await;
    assert!(note.contains("lbops/validate: success"), "{note}");
    assert!(note.contains("lbops/authorize: success"), "{note}");
    assert!(
        note.contains(&format!("details: http://127.0.0.1:8712/commits/{shift}")),
        "{note}"
    );
    let share = e.canary_share(300).await;
    assert!((0.38..0.62).contains(&share), "canary at 50%: {share}");

    // A commit on another branch (a pull request): judged and planned, never applied.
    e.repo.git(&["checkout", "-q", "-b", "feature"], &[]);
    e.repo
        .write("pools.yaml", &pools(&e.stable, &e.canary, 80, 1));
    let proposal = e.repo.commit(&e.team.bob(), "propose canary 80");
    e.repo.git(&["checkout", "-q", "main"], &[]);
    let note = e
        .wait_for_status(&proposal, "lbops/plan: success", &daemon)
        .await;
    assert!(
        note.contains("would apply 1 step(s): pool/web: set weights"),
        "{note}"
    );
    assert!(!note.contains("lbops/apply"), "{note}");
    let share = e.canary_share(100).await;
    assert!((0.3..0.7).contains(&share), "still 50%: {share}");

    // alice breaks the YAML: validate fails at file:line, nothing applied.
    e.repo.write(
        "pools.yaml",
        "kind: Pool\nname: web\nspec:\n  targets: [}\n",
    );
    let broken = e.repo.commit(&e.team.alice(), "oops");
    let note = e
        .wait_for_status(&broken, "lbops/validate: failure", &daemon)
        .await;
    assert!(note.contains("pools.yaml:4:"), "{note}");
    e.wait_for_status(&broken, "lbops/apply: failure — nothing applied", &daemon)
        .await;
    let share = e.canary_share(100).await;
    assert!((0.3..0.7).contains(&share), "still 50%: {share}");

    // Her fix (canary back to 10) is judged with the broken commit: applied.
    e.repo
        .write("pools.yaml", &pools(&e.stable, &e.canary, 10, 1));
    let fixed = e
        .repo
        .commit(&e.team.alice(), "fix the YAML, canary back to 10");
    e.wait_for_status(&fixed, "lbops/apply: success", &daemon)
        .await;

    // bob changes the db team's pool: refused, named, audited; traffic unchanged.
    e.repo
        .write("pools.yaml", &pools(&e.stable, &e.canary, 90, 5));
    let denied = e.repo.commit(&e.team.bob(), "db weight and a big canary");
    let note = e
        .wait_for_status(&denied, "lbops/authorize: failure", &daemon)
        .await;
    assert!(
        note.contains("user/bob may not pool.weights.update on pool/db"),
        "{note}"
    );
    // The apply status follows the authorize one: wait for it, not race it.
    let note = e
        .wait_for_status(&denied, "lbops/apply: failure — nothing applied", &daemon)
        .await;
    assert!(note.contains("lbops/authorize: failure"), "{note}");
    let share = e.canary_share(300).await;
    assert!(
        (0.03..0.2).contains(&share),
        "the trusted 10% still serves: {share}"
    );
    let audit = e.audit();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"kind\":\"denial\"") && l.contains(&denied)),
        "{audit}"
    );
    let verify = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(["audit", "verify"])
        .arg(e.state_dir().join("audit.jsonl"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );

    // A push webhook with a bad signature is refused and judges nothing; a
    // signed one is accepted (and finds the refused head already judged).
    let body = format!("{{\"ref\":\"refs/heads/main\",\"after\":\"{denied}\"}}");
    let records = e.audit().lines().count();
    let hook = daemon.webhook().await;
    assert_eq!(webhook(hook, &body, "sha256=00").await, 401);
    assert_eq!(webhook(hook, &body, &github_signature(&body)).await, 202);
    // Passes run one at a time: of the next two to end, the second began
    // after the push was accepted.
    let accepted = passes(&daemon).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while passes(&daemon).await < accepted + 2 {
        assert!(Instant::now() < deadline, "no pass:\n{}", daemon.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(e.audit().lines().count(), records, "nothing judged again");
    daemon
        .wait_for_log("the refusal is logged", |l| {
            l.contains("webhook request refused") && l.contains("\"status\":401")
        })
        .await;
    let logs = daemon.logs();
    assert!(
        !logs.contains(WEBHOOK_SECRET),
        "the webhook secret is never logged"
    );
}

fn github_signature(body: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={digest}")
}

async fn webhook(address: std::net::SocketAddr, body: &str, signature: &str) -> u16 {
    use http_body_util::Full;
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let request = hyper::Request::builder()
        .method("POST")
        .uri(format!("http://{address}/hooks/git"))
        .header("x-github-event", "push")
        .header("x-hub-signature-256", signature)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.to_owned())))
        .unwrap();
    client.request(request).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_change_is_reported_as_drift_and_reverted() {
    let e = Estate::new().await;
    let daemon = Daemon::start(&e.config_path());
    e.wait_for_status(&e.first, "lbops/apply: success", &daemon)
        .await;

    // Someone shifts the canary to 90 through the data plane's admin API.
    let token = std::fs::read_to_string(e.state_dir().join("dataplane-admin-token")).unwrap();
    let admin = format!("http://{}", daemon.admin().await);
    let mut config = lbops::dataplane::config::DataplaneConfig::parse(
        &admin_call("GET", &format!("{admin}/v1/config"), &token, None)
            .await
            .1,
    )
    .unwrap();
    config.version += 1;
    for target in &mut config.pools.get_mut("web").unwrap().targets {
        target.weight.value = if target.address.value.to_string() == e.canary.address.to_string() {
            90
        } else {
            10
        };
    }
    let changed_at = Instant::now();
    let (status, _) = admin_call(
        "PUT",
        &format!("{admin}/v1/config"),
        &token,
        Some(config.to_json()),
    )
    .await;
    assert_eq!(status, 200);

    let note = e
        .wait_for_status(&e.first, "lbops/drift: failure — drift (reverted)", &daemon)
        .await;
    let reported_after = changed_at.elapsed();
    assert!(note.contains("pool/web"), "{note}");
    assert!(
        reported_after < Duration::from_secs(5),
        "drift reported after {reported_after:?}"
    );
    // Pools are in `revert` mode: git's 10% is back.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let share = e.canary_share(200).await;
        if (0.03..0.2).contains(&share) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reverted: canary at {share}\n{}",
            daemon.logs()
        );
    }
    assert!(e.audit().contains("\"kind\":\"drift\"") && e.audit().contains("\"kind\":\"revert\""));
    assert!(
        !daemon.logs().contains(token.trim()),
        "the admin token is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_a_restarted_daemon_converges_while_the_data_plane_serves_throughout() {
    let e = Estate::new().await;
    // The data plane as its own process, so it outlives the daemon.
    let token = "kill-nine-test-admin-token";
    let token_file = e.dir.path().join("admin-token");
    std::fs::write(&token_file, token).unwrap();
    let hash_file = e.dir.path().join("admin-token.sha256");
    std::fs::write(&hash_file, lbops::model::sha256_hex(token)).unwrap();
    let (_dataplane, mut stderr) = ChildProcess::lbops(|c| {
        c.args(["dataplane", "--admin-listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(e.dir.path().join("dataplane"))
            .arg("--admin-token-sha256-file")
            .arg(&hash_file)
    });
    let admin = common::admin_address(&mut stderr);
    std::thread::spawn(move || for _ in stderr.lines() {});
    let provider = format!(
        "{{embedded: {{url: 'http://{admin}', token_file: '{}'}}}}",
        token_file.display()
    );
    std::fs::write(e.config_path(), e.config(&provider)).unwrap();

    let mut daemon = Daemon::start(&e.config_path());
    e.wait_for_status(&e.first, "lbops/apply: success", &daemon)
        .await;

    // A steady request loop across everything that follows.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = e.port;
    let looping = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let client = reqwest_free_client();
            let (mut ok, mut failed) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match client
                    .get(format!("http://127.0.0.1:{port}/").parse().unwrap())
                    .await
                {
                    Ok(r) if r.status().is_success() => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        })
    };

    e.repo
        .write("pools.yaml", &pools(&e.stable, &e.canary, 50, 1));
    let shift = e.repo.commit(&e.team.bob(), "canary to 50");
    // Killed right away: before, during or after the apply. The pause is
    // the fault's timing, not a wait; every outcome must pass.
    tokio::time::sleep(Duration::from_millis(100)).await;
    daemon.kill();

    let daemon = Daemon::start(&e.config_path());
    daemon.ready().await;
    e.wait_for_status(&shift, "lbops/apply: success", &daemon)
        .await;
    let share = e.canary_share(300).await;
    assert!((0.38..0.62).contains(&share), "canary at 50%: {share}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = looping.await.unwrap();
    assert!(ok > 100, "the loop ran: {ok}");
    assert_eq!(failed, 0, "no failed request across the restart ({ok} ok)");
    let verify = Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args(["audit", "verify"])
        .arg(e.state_dir().join("audit.jsonl"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// How many reconcile passes the daemon has ended well (its `/metrics`).
async fn passes(daemon: &Daemon) -> u64 {
    let url = format!("{}/metrics", daemon.pages().await);
    let (status, metrics) = admin_call("GET", &url, "", None).await;
    assert_eq!(status, 200, "{metrics}");
    let count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("lbops_reconciles_total{result=\"ok\"} "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no pass count in:\n{metrics}"));
    count as u64
}

async fn admin_call(method: &str, url: &str, token: &str, body: Option<String>) -> (u16, String) {
    use http_body_util::{BodyExt, Full};
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {}", token.trim()))
        .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn check_config_names_every_problem_at_its_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lbops.yaml");
    std::fs::write(
        &path,
        "repository: {path: /srv/gitops}\ntrust: {pinned_commit: nope}\nstate_dir: state\nlog: {formatt: json}\n",
    )
    .unwrap();
    let run = |path: &Path| {
        Command::new(env!("CARGO_BIN_EXE_lbops"))
            .args(["run", "--check-config", "--config"])
            .arg(path)
            .output()
            .unwrap()
    };
    let out = run(&path);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lbops.yaml:4:7: unknown field `formatt`"),
        "{stderr}"
    );
    std::fs::write(
        &path,
        "repository: {path: /srv/gitops}\ntrust: {pinned_commit: nope}\nstate_dir: state\n",
    )
    .unwrap();
    let stderr = String::from_utf8_lossy(&run(&path).stderr).into_owned();
    assert!(
        stderr.contains("lbops.yaml:2:24:") && stderr.contains("40 hex digits"),
        "{stderr}"
    );
    std::fs::write(
        &path,
        format!(
            "repository: {{path: /srv/gitops}}\ntrust: {{pinned_commit: {}}}\nstate_dir: state\n",
            "a".repeat(40)
        ),
    )
    .unwrap();
    let out = run(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_example_daemon_configs_are_valid() {
    for example in ["examples/lbops.yaml", "examples/aws/lbops.yaml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(example);
        if let Err(errors) = lbops::daemon::DaemonConfig::load(&path) {
            panic!("{example}: {errors}");
        }
    }
}

/// A local server that answers every request with `status` and keeps
/// what it was sent (path, headers, body).
struct Recorder {
    address: std::net::SocketAddr,
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start(status: u16) -> Self {
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                tokio::spawn(async move {
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let log = log.clone();
                            async move {
                                use http_body_util::BodyExt;
                                let path = request.uri().path().to_owned();
                                let headers = format!("{:?}", request.headers());
                                let body = request.into_body().collect().await.unwrap().to_bytes();
                                log.lock().unwrap().push((
                                    path,
                                    headers,
                                    String::from_utf8_lossy(&body).into_owned(),
                                ));
                                let mut response = hyper::Response::new(http_body_util::Full::new(
                                    bytes::Bytes::from_static(b"{\"message\":\"Bad credentials\"}"),
                                ));
                                *response.status_mut() =
                                    hyper::StatusCode::from_u16(status).unwrap();
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Recorder {
            address,
            seen,
            _task: task,
        }
    }

    fn seen(&self) -> Vec<(String, String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forge_refusing_the_token_is_an_error_and_an_alert_not_a_crash() {
    let e = Estate::new().await;
    let forge = Recorder::start(401).await;
    let alerts = Recorder::start(200).await;
    std::fs::write(
        e.dir.path().join("forge-token"),
        "forge-test-token-not-secret",
    )
    .unwrap();
    std::fs::write(e.dir.path().join("alert-secret"), "alert-test-secret").unwrap();
    let config = e.config("{embedded: {admin_listen: '127.0.0.1:0'}}").replace(
        "statuses: {page_url: 'http://127.0.0.1:8712'}",
        &format!(
            "statuses:\n  page_url: 'http://127.0.0.1:8712'\n  forges: [{{kind: github, api_url: 'http://{}', repository: acme/balancers, token_file: forge-token}}]\n\
             alerts:\n  webhooks: [{{url: 'http://{}/alerts', secret_file: alert-secret}}]",
            forge.address, alerts.address
        ),
    );
    std::fs::write(e.config_path(), config).unwrap();
    // At debug, the alerter says of each alert whether it sent it or had
    // already: what tells when every refusal's alert has been decided.
    let daemon = Daemon::start_with(&e.config_path(), |c| c.env("LBOPS_LOG", "debug"));
    let note = e
        .wait_for_status(&e.first, "lbops/apply: success", &daemon)
        .await;

    // The forge saw GitHub-shaped posts, refused them all; one alert says so.
    let statuses = note.lines().filter(|l| l.starts_with("lbops/")).count();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = daemon.logs();
        let count = |message: &str, field: &str| {
            logs.lines()
                .filter(|l| l.contains(&format!("\"message\":\"{message}\"")) && l.contains(field))
                .count()
        };
        // The forge's refusals (git notes' lines name a context, no sink),
        // and the one alert sink's deliveries and the alerter's repeats.
        let refused = count("cannot post a status", "\"sink\":");
        let decided = count("alert sent", "") + count("alert already sent", "");
        if refused >= statuses && decided == refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{refused} of {statuses} statuses refused, {decided} alerts decided; \
             forge saw {:?}\n{logs}",
            forge.seen(),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let posted = forge.seen();
    assert!(
        posted[0].0 == format!("/repos/acme/balancers/statuses/{}", e.first),
        "{posted:?}"
    );
    let sent = alerts.seen();
    assert_eq!(
        sent.len(),
        1,
        "one alert for the refused token, not one per status: {sent:?}"
    );
    assert!(
        sent[0].2.contains("bad_config") && sent[0].2.contains("401"),
        "{:?}",
        sent[0]
    );
    assert!(
        sent[0].1.contains("x-lbops-signature-256"),
        "{:?}",
        sent[0].1
    );
    // Still running, git notes still work, and the page shows the refusal.
    assert!(e.note(&e.first).unwrap().contains("lbops/apply: success"));
    let (status, page) = admin_call(
        "GET",
        &format!("{}/commits/{}", daemon.pages().await, e.first),
        "",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("error") && page.contains("401"), "{page}");
    let logs = daemon.logs();
    assert!(!logs.contains("forge-test-token-not-secret") && !logs.contains("alert-test-secret"));
}
