//! `lbops targets|weights|routes`, the API client for pipelines, as a
//! pipeline runs it: the built binary as a subprocess against `lbops run`
//! over a real signed repository with the embedded data plane. A scoped
//! token registers a target and waits until the balancer routes to it
//! (exit 0); a token without the scope is denied (exit 1, naming the
//! action); a bad token file, an unreachable daemon and bad arguments
//! exit 2; `--output json` is the daemon's JSON; a 429 is waited out with
//! the same Idempotency-Key; https works through a TLS proxy with
//! `--ca-file`; a rollout sets weights, shifts a split, drains (an
//! unchanged drain exits 0 without a commit) and deregisters. No run
//! ever prints a token.

mod common;

use common::api::{commits, random, start_daemon};

use common::estate::{balancer, Team};
use common::git::{GitRepo, SshKey};
use common::{Backend, Ports, Reply};
use lbops::spec::material::api_token::{ApiToken, TOKEN_LEN};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One run of the binary.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `lbops` with `args`, the environment cleared of proxies and of
/// `LBOPS_*` (a developer's own must not leak in), plus `env`. Every
/// run's output is kept in `seen`, for the check that no token was
/// printed.
async fn lbops(seen: &Seen, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lbops"));
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("LBOPS_") || key.to_ascii_lowercase().ends_with("_proxy") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    command.stdin(std::process::Stdio::null());
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("lbops runs");
    let run = Run {
        code: out.status.code().expect("lbops exits, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    seen.lock().unwrap().push(format!(
        "lbops {}\n{}{}",
        args.join(" "),
        run.stdout,
        run.stderr
    ));
    run
}

type Seen = Arc<Mutex<Vec<String>>>;

/// Asserts that no output seen holds any of `tokens`.
fn no_token_printed(seen: &Seen, tokens: &[&ApiToken]) {
    let seen = seen.lock().unwrap();
    for output in seen.iter() {
        for token in tokens {
            assert!(
                !output.contains(token.expose()),
                "a token was printed:\n{output}"
            );
        }
    }
    common::keep_log("api-cli", &seen.join("\n"));
}

/// Writes `token` to `dir/name`, readable by its owner only.
fn token_file(dir: &Path, name: &str, token: &str) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes()).unwrap();
    path
}

/// deploy-bot (roles web-oncall and reader) with a token that may
/// register targets of `pool/web` and read, one that may only shift
/// weights, and one that may only read.
fn bots(adder: &ApiToken, weights_only: &ApiToken, reader: &ApiToken) -> String {
    let entry = |name: &str, t: &ApiToken, scopes: &str| {
        format!(
            "    - {{name: {name}, id: {}, hash: '{}', expires: 2099-01-01, scopes: {scopes}, resources: ['pool/web']}}\n",
            t.id(),
            t.stored_hash()
        )
    };
    format!(
        "kind: Role
name: reader
spec:
  rules: [{{actions: [state.read], resources: ['*']}}]
---
kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  roles: [web-oncall, reader]
  tokens:
{}{}{}",
        entry("adder", adder, "[pool.targets.update, state.read]"),
        entry("weights", weights_only, "[pool.weights.update]"),
        entry("reader", reader, "[state.read]"),
    )
}

/// `web` (team web): the stable backend, checked every 100 ms.
fn pools(stable: SocketAddr) -> String {
    format!(
        "kind: Pool
name: web
labels: {{team: web}}
spec:
  targets:
    - {{address: '{stable}', weight: 1}}
  health_check:
    probe: {{http: {{path: /healthz}}}}
    interval: 100ms
    timeout: 80ms
    healthy_threshold: 1
    unhealthy_threshold: 1
"
    )
}

/// One plain HTTP/1.1 GET, read whole: status and body.
async fn get(to: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(to).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: lbops\r\n{headers}connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (head[9..12].parse().unwrap(), body.to_owned())
}

/// A TLS proxy on 127.0.0.1 in front of `to`, with a certificate for
/// 127.0.0.1 signed by a test CA whose PEM is written to `ca_file`: what
/// an https daemon looks like to the client.
async fn tls_proxy(to: SocketAddr, ca_file: &Path) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(ca_file, ca.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut daemon) = tokio::net::TcpStream::connect(to).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut daemon).await;
            });
        }
    });
    (address, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_registers_a_target_and_waits_until_it_is_routed_and_refusals_exit_1() {
    let team = Team::new();
    let api_key = SshKey::new("lbops-api");
    let (adder, weights_only, reader, stranger) = (
        ApiToken::generate(random),
        ApiToken::generate(random),
        ApiToken::generate(random),
        ApiToken::generate(random),
    );
    let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let added = Backend::start_at("added", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let ports = Ports::default();
    let port = ports.hold();
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access());
    repo.write("bots.yaml", &bots(&adder, &weights_only, &reader));
    repo.write("pools/web.yaml", &pools(stable.address));
    repo.write("balancers.yaml", &balancer(port));
    let first = repo.commit(&team.alice(), "the estate, with deploy-bot");
    let dir = tempfile::tempdir().unwrap();
    // One call a second, five at once: a burst of calls meets a 429.
    let daemon = start_daemon(
        &repo,
        &first,
        &api_key,
        ", rate_limit: {per_second: 1, burst: 5}",
        dir.path(),
    )
    .await;
    let server = daemon.pages().await;
    let api: SocketAddr = server.trim_start_matches("http://").parse().unwrap();
    let files = tempfile::tempdir().unwrap();
    let adder_file = token_file(files.path(), "adder", adder.expose());
    let weights_file = token_file(files.path(), "weights", weights_only.expose());
    let reader_file = token_file(files.path(), "reader", reader.expose());
    let stranger_file = token_file(files.path(), "stranger", stranger.expose());
    let seen = Seen::default();
    let adder_env = [
        ("LBOPS_SERVER", server.as_str()),
        ("LBOPS_TOKEN_FILE", adder_file.to_str().unwrap()),
    ];
    let address = added.address.to_string();

    // Without pool.targets.update: denied, exit 1, the action named.
    let before = commits(&repo);
    let denied = lbops(
        &seen,
        &[
            "targets",
            "add",
            "pool/web",
            &address,
            "--wait",
            "--server",
            &server,
            "--token-file",
            weights_file.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(denied.code, 1, "{denied:?}");
    assert!(
        denied.stderr.starts_with(&format!(
            "lbops: register {address} in pool/web: denied (403 forbidden)\n"
        )),
        "{denied:?}"
    );
    assert!(denied.stderr.contains("pool.targets.update"), "{denied:?}");
    assert!(denied.stderr.contains("  hint: "), "{denied:?}");
    assert!(denied.stdout.is_empty(), "{denied:?}");
    // A token the daemon does not know: 401, exit 1.
    let unknown = lbops(
        &seen,
        &[
            "targets",
            "add",
            "web",
            &address,
            "--token-file",
            stranger_file.to_str().unwrap(),
        ],
        &[("LBOPS_SERVER", server.as_str())],
    )
    .await;
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("the token was not accepted (401 token-invalid)"),
        "{unknown:?}"
    );
    // The denial as JSON: the daemon's body.
    let denied = lbops(
        &seen,
        &[
            "targets",
            "add",
            "web",
            &address,
            "--output",
            "json",
            "--server",
            &server,
            "--token-file",
            weights_file.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(denied.code, 1, "{denied:?}");
    let body: serde_json::Value = serde_json::from_str(&denied.stdout).unwrap();
    assert_eq!(body["code"], "forbidden", "{denied:?}");
    assert_eq!(commits(&repo), before);

    // Registered, waiting until applied: exit 0, one line.
    let applied = lbops(
        &seen,
        &[
            "targets",
            "add",
            "pool/web",
            &address,
            "--weight",
            "1000",
            "--wait",
            "--timeout",
            "30s",
            "--idempotency-key",
            "deploy-42",
        ],
        &adder_env,
    )
    .await;
    assert_eq!(applied.code, 0, "{applied:?}");
    let head = repo.head();
    assert_eq!(commits(&repo), before + 1);
    assert_eq!(
        applied.stdout,
        format!(
            "applied: register {address} in pool/web as commit {}; the daemon runs it; \
             see {server}/commits/{head}\n",
            &head[..12]
        )
    );
    // The balancer sends requests to it now.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = get(SocketAddr::from(([127, 0, 0, 1], port)), "/hello", "").await;
        if status == 200 && text.starts_with("added") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the balancer never sent a request to the new target"
        );
    }

    // The same key again, as JSON: the first commit, no second one.
    let again = lbops(
        &seen,
        &[
            "targets",
            "add",
            "web",
            &address,
            "--weight",
            "1000",
            "--wait",
            "--idempotency-key",
            "deploy-42",
            "--output",
            "json",
        ],
        &adder_env,
    )
    .await;
    assert_eq!(again.code, 0, "{again:?}");
    let body: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(body["commit"], head.as_str(), "{again:?}");
    assert_eq!(body["status_url"], format!("/commits/{head}"));
    assert!(body["request_id"].is_string(), "{again:?}");
    assert_eq!(commits(&repo), before + 1);
    // Without the key, a second registration is invalid: exit 1.
    let twice = lbops(&seen, &["targets", "add", "web", &address], &adder_env).await;
    assert_eq!(twice.code, 1, "{twice:?}");
    assert!(twice.stderr.contains("invalid (422 invalid)"), "{twice:?}");
    assert!(twice.stderr.contains("is listed twice"), "{twice:?}");
    assert_eq!(commits(&repo), before + 1);

    // Not applied within --timeout: exit 1, the commit made, and how to
    // wait again without a second commit; which works. (The daemon may
    // apply a commit within the instant of `0s`: then another target is
    // tried.)
    let mut tries = 0;
    let mut late_backends = Vec::new();
    let (late, key) = loop {
        tries += 1;
        late_backends.push(Backend::named("late").await);
        let late = late_backends[tries - 1].address.to_string();
        let key = format!("rollout-{tries}");
        let run = lbops(
            &seen,
            &[
                "targets",
                "add",
                "web",
                &late,
                "--wait",
                "--timeout",
                "0s",
                "--idempotency-key",
                &key,
            ],
            &adder_env,
        )
        .await;
        if run.code == 0 {
            assert!(tries < 5, "applied at once five times: {run:?}");
            continue;
        }
        assert_eq!(run.code, 1, "{run:?}");
        let head = repo.head();
        assert!(
            run.stderr.starts_with(&format!(
                "lbops: register {late} in pool/web: committed as {} but not applied \
                 within 0s; see {server}/commits/{head}\n",
                &head[..12]
            )),
            "{run:?}"
        );
        assert!(
            run.stderr.contains(&format!(
                "to try again without committing twice, run it with --idempotency-key {key}\n"
            )),
            "{run:?}"
        );
        break (late, key);
    };
    let made = repo.head();
    let waited = lbops(
        &seen,
        &[
            "targets",
            "add",
            "web",
            &late,
            "--wait",
            "--idempotency-key",
            &key,
        ],
        &adder_env,
    )
    .await;
    assert_eq!(waited.code, 0, "{waited:?}");
    assert!(waited.stdout.contains(&made[..12]), "{waited:?}");
    assert_eq!(repo.head(), made, "no second commit");

    // Listed, with its weight (the reader token may read only).
    let list_args = [
        "targets",
        "list",
        "pool/web",
        "--server",
        &server,
        "--token-file",
        reader_file.to_str().unwrap(),
    ];
    let listed = lbops(&seen, &list_args, &[]).await;
    assert_eq!(listed.code, 0, "{listed:?}");
    let row = listed
        .stdout
        .lines()
        .find(|l| l.starts_with(&address))
        .unwrap_or_else(|| panic!("{listed:?}"));
    assert_eq!(row.split_whitespace().nth(1), Some("1000"), "{listed:?}");
    let json_list = lbops(
        &seen,
        &[&list_args[..], &["--output", "json"]].concat(),
        &[],
    )
    .await;
    assert_eq!(json_list.code, 0, "{json_list:?}");
    let body: serde_json::Value = serde_json::from_str(&json_list.stdout).unwrap();
    let targets = body["targets"]
        .as_array()
        .or_else(|| body["pool"]["targets"].as_array())
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        targets.iter().any(|t| t["address"] == address.as_str()),
        "{body}"
    );

    // Over its rate, the daemon answers 429 with Retry-After: the client
    // waits that long and asks again. Five calls empty the reader's
    // bucket; the list right after meets the 429 unless a second passed
    // in between (a loaded machine), and then the bucket is emptied again.
    let bearer = format!("authorization: Bearer {}\r\n", reader.expose());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        for _ in 0..6 {
            get(api, "/v1/pools/web", &bearer).await;
        }
        let waited = lbops(&seen, &list_args, &[]).await;
        assert_eq!(waited.code, 0, "{waited:?}");
        if waited
            .stderr
            .contains("lbops: the daemon answered 429 Too Many Requests; trying again in ")
        {
            break;
        }
        assert!(Instant::now() < deadline, "never met a 429: {waited:?}");
    }
    // With no retries left, a 429 is exit 2.
    loop {
        for _ in 0..6 {
            get(api, "/v1/pools/web", &bearer).await;
        }
        let busy = lbops(&seen, &[&list_args[..], &["--retries", "0"]].concat(), &[]).await;
        if busy.code == 2 {
            assert!(busy.stderr.contains("(429 rate-limited)"), "{busy:?}");
            break;
        }
        assert_eq!(busy.code, 0, "{busy:?}");
        assert!(Instant::now() < deadline, "never met a 429: {busy:?}");
    }

    // Over https, through a TLS proxy, trusting its CA with --ca-file.
    let ca = files.path().join("ca.pem");
    let (proxy, proxy_task) = tls_proxy(api, &ca).await;
    let https = format!("https://{proxy}");
    let over_tls = lbops(
        &seen,
        &[
            "targets",
            "list",
            "web",
            "--server",
            &https,
            "--token-file",
            reader_file.to_str().unwrap(),
            "--ca-file",
            ca.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(over_tls.code, 0, "{over_tls:?}");
    assert!(over_tls.stdout.contains(&address), "{over_tls:?}");
    // Without the CA, the proxy's certificate is not trusted: exit 2.
    let untrusted = lbops(
        &seen,
        &[
            "targets",
            "list",
            "web",
            "--server",
            &https,
            "--token-file",
            reader_file.to_str().unwrap(),
            "--retries",
            "0",
        ],
        &[],
    )
    .await;
    assert_eq!(untrusted.code, 2, "{untrusted:?}");
    assert!(
        untrusted.stderr.contains("cannot reach the daemon"),
        "{untrusted:?}"
    );
    assert!(
        untrusted
            .stderr
            .contains("invalid peer certificate: UnknownIssuer"),
        "{untrusted:?}"
    );
    assert!(
        untrusted
            .stderr
            .contains("hint: the daemon's certificate is not trusted here"),
        "{untrusted:?}"
    );
    proxy_task.abort();

    // Allowed, committed, but the daemon does not shift traffic to a target
    // that never turns healthy: 502, exit 1. (Last: every later commit
    // on this branch would carry the dead target.)
    let dead = ports.address().to_string();
    let not_applied = lbops(
        &seen,
        &["targets", "add", "web", &dead, "--wait"],
        &adder_env,
    )
    .await;
    assert_eq!(not_applied.code, 1, "{not_applied:?}");
    assert!(
        not_applied.stderr.starts_with(&format!(
            "lbops: register {dead} in pool/web: committed but not applied (502 not-applied)\n"
        )),
        "{not_applied:?}"
    );
    assert!(
        not_applied.stderr.contains("not healthy"),
        "{not_applied:?}"
    );

    no_token_printed(&seen, &[&adder, &weights_only, &reader, &stranger]);
    for token in [&adder, &weights_only, &reader, &stranger] {
        assert!(!daemon.logs().contains(token.expose()));
    }
    drop(ports);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_files_an_unreachable_daemon_and_bad_arguments_exit_2() {
    let seen = Seen::default();
    let token = ApiToken::generate(random);
    let dir = tempfile::tempdir().unwrap();
    let good = token_file(dir.path(), "good", token.expose());
    // A held port nobody listens on: connections are refused.
    let ports = Ports::default();
    let nowhere = format!("http://{}", ports.address());
    let add = |file: &Path| {
        vec![
            "targets".to_owned(),
            "add".to_owned(),
            "pool/web".to_owned(),
            "10.0.0.7:8080".to_owned(),
            "--server".to_owned(),
            nowhere.clone(),
            "--token-file".to_owned(),
            file.to_str().unwrap().to_owned(),
        ]
    };
    let run = |args: Vec<String>| {
        let seen = seen.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            lbops(&seen, &args, &[]).await
        }
    };

    // Unreachable: tried again, then exit 2 naming the server.
    let mut args = add(&good);
    args.extend(["--retries".to_owned(), "1".to_owned()]);
    let unreachable = run(args.clone()).await;
    assert_eq!(unreachable.code, 2, "{unreachable:?}");
    assert!(
        unreachable
            .stderr
            .contains("trying again in 0.25s (try 2 of 2)"),
        "{unreachable:?}"
    );
    assert!(
        unreachable.stderr.contains(&format!(
            "lbops: register 10.0.0.7:8080 in pool/web: cannot reach the daemon at {nowhere}/ (2 tries)"
        )),
        "{unreachable:?}"
    );
    assert!(
        unreachable.stderr.contains("Connection refused"),
        "{unreachable:?}"
    );
    assert!(
        unreachable.stderr.contains("--idempotency-key lbops-cli-"),
        "{unreachable:?}"
    );
    // As JSON: the client's own error object.
    args.extend(["--output".to_owned(), "json".to_owned()]);
    let unreachable = run(args).await;
    assert_eq!(unreachable.code, 2, "{unreachable:?}");
    let body: serde_json::Value = serde_json::from_str(&unreachable.stdout).unwrap();
    assert_eq!(body["code"], "cli-unreachable", "{unreachable:?}");

    // Token files: missing, open to everyone, not a token, the token twice.
    let missing = run(add(&dir.path().join("missing"))).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("cannot read it"), "{missing:?}");
    let open = dir.path().join("open");
    std::fs::write(&open, format!("{}\n", token.expose())).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let refused = run(add(&open)).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains(
            "is readable or writable by every user of this machine (mode 644): `chmod o-rwx"
        ),
        "{refused:?}"
    );
    // Group-readable is a deliberate share, and accepted (then unreachable).
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let mut args = add(&open);
    args.extend(["--retries".to_owned(), "0".to_owned()]);
    let shared = run(args).await;
    assert_eq!(shared.code, 2, "{shared:?}");
    assert!(
        shared.stderr.contains("cannot reach the daemon"),
        "{shared:?}"
    );
    let text = token.expose();
    let typo = format!(
        "{}{}",
        &text[..text.len() - 1],
        if text.ends_with('a') { 'b' } else { 'a' }
    );
    let long = format!("an lbops token is {TOKEN_LEN} characters long");
    for (name, text, why) in [
        (
            "word",
            "hunter2".to_owned(),
            "an lbops token starts with `lbops_`",
        ),
        ("twice", format!("{text}\n{text}"), long.as_str()),
        ("typo", typo, "checksum does not match"),
    ] {
        let file = token_file(dir.path(), name, &text);
        let run = run(add(&file)).await;
        assert_eq!(run.code, 2, "{name}: {run:?}");
        assert!(
            run.stderr.contains("does not hold an lbops API token"),
            "{name}: {run:?}"
        );
        assert!(run.stderr.contains(why), "{name}: {run:?}");
    }

    // Arguments: clap's usage errors and the client's own checks.
    for (args, says) in [
        (
            vec!["targets", "add", "web", "10.0.0.7:8080"],
            "--server <URL>",
        ),
        (
            vec!["targets", "add", "web", "10.0.0.7"],
            "the port is missing",
        ),
        (
            vec!["targets", "add", "db/web", "10.0.0.7:8080"],
            "`db/…` is not a pool",
        ),
        (
            vec!["targets", "add", "Web", "10.0.0.7:8080"],
            "is not a valid name",
        ),
        (
            vec!["targets", "add", "web", "10.0.0.7:8080", "--token", "x"],
            "unexpected argument '--token'",
        ),
        (
            vec!["targets", "add", "web", "10.0.0.7:8080", "--timeout", "5s"],
            "--wait",
        ),
        (
            vec!["weights", "set", "web", "10.0.0.7:8080"],
            "is not ADDRESS=WEIGHT",
        ),
        (
            vec!["routes", "split", "pool/edge", "r", "web=1"],
            "is not a loadbalancer",
        ),
        (
            vec!["routes", "split", "edge", "r", "web=-1"],
            "is not a whole number",
        ),
    ] {
        let run = lbops(
            &seen,
            &args,
            &[("LBOPS_TOKEN_FILE", good.to_str().unwrap())],
        )
        .await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(says), "{args:?}: {run:?}");
    }
    for (args, says) in [
        (
            vec!["weights", "set", "web", "10.0.0.7:80=1", "10.0.0.7:80=2"],
            "10.0.0.7:80 is given twice",
        ),
        (
            vec!["routes", "split", "edge", "r", "web=1", "pool/web=2"],
            "pool/web is given twice",
        ),
        (
            vec!["targets", "list", "web", "--server", "ftp://x"],
            "only http:// and https://",
        ),
        (
            vec!["targets", "list", "web", "--server", "http://u:p@127.0.0.1"],
            "holds a user name",
        ),
    ] {
        let run = lbops(
            &seen,
            &args,
            &[
                ("LBOPS_TOKEN_FILE", good.to_str().unwrap()),
                ("LBOPS_SERVER", &nowhere),
            ],
        )
        .await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.contains(says), "{args:?}: {run:?}");
    }

    no_token_printed(&seen, &[&token]);
    drop(ports);
}

/// The rest of a rollout with the client, each step `--wait`ed and seen
/// on the balancer: weights set, a canary split shifted (all traffic to
/// the canary), a target drained (and drained again: unchanged, exit 0,
/// no commit), then deregistered; `targets list` shows each step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_sets_weights_shifts_the_split_drains_and_removes_with_the_client() {
    let team = Team::new();
    let api_key = SshKey::new("lbops-api");
    let token = ApiToken::generate(random);
    let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let old = Backend::start_at("old", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let canary = Backend::start_at("canary", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let ports = Ports::default();
    let port = ports.hold();
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access());
    repo.write(
        "bots.yaml",
        &format!(
            "kind: Role
name: router
spec:
  rules: [{{actions: [loadbalancer.routes.update, state.read], resources: ['*']}}]
---
kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  roles: [web-oncall, router]
  tokens:
    - {{name: rollout, id: {}, hash: '{}', expires: 2099-01-01}}
",
            token.id(),
            token.stored_hash()
        ),
    );
    repo.write(
        "pools.yaml",
        &format!(
            "kind: Pool
name: web-stable
labels: {{team: web}}
spec:
  targets:
    - {{address: '{}', weight: 1}}
    - {{address: '{}', weight: 1}}   # the old version
---
kind: Pool
name: web-canary
labels: {{team: web}}
spec:
  targets: [{{address: '{}'}}]
",
            stable.address, old.address, canary.address
        ),
    );
    repo.write(
        "balancers.yaml",
        &format!(
            "kind: LoadBalancer
name: edge
spec:
  addresses: [127.0.0.1]
  listeners:
    - name: http
      protocol: http
      port: {port}
      routes:
        - name: api
          priority: 10
          match: {{path: {{prefix: /api}}}}
          action: {{forward: {{pools: [{{pool: web-stable, weight: 100}}, {{pool: web-canary, weight: 0}}]}}}}
      default_action: {{forward: {{pools: [{{pool: web-stable}}]}}}}
"
        ),
    );
    let first = repo.commit(&team.alice(), "the estate, with deploy-bot");
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(&repo, &first, &api_key, "", dir.path()).await;
    let server = daemon.pages().await;
    let files = tempfile::tempdir().unwrap();
    let token_path = token_file(files.path(), "rollout", token.expose());
    let env = [
        ("LBOPS_SERVER", server.as_str()),
        ("LBOPS_TOKEN_FILE", token_path.to_str().unwrap()),
    ];
    let seen = Seen::default();
    let balancer = SocketAddr::from(([127, 0, 0, 1], port));
    // Who answers `count` requests to `path`, by backend name.
    let answering = |path: &'static str, count: usize| async move {
        let mut names = std::collections::BTreeMap::<String, usize>::new();
        for _ in 0..count {
            let (status, body) = get(balancer, path, "").await;
            assert_eq!(status, 200, "{body}");
            let name = body.split_whitespace().next().unwrap_or("").to_owned();
            *names.entry(name).or_default() += 1;
        }
        names
    };
    let weights_of = |json: &str| -> Vec<(String, u64)> {
        let body: serde_json::Value = serde_json::from_str(json).unwrap();
        body["targets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["in_git"] != false)
            .map(|t| {
                (
                    t["address"].as_str().unwrap().to_owned(),
                    t["weight"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (stable_at, old_at) = (stable.address.to_string(), old.address.to_string());

    // Weights: the old version gets none of the default action's traffic.
    let set = lbops(
        &seen,
        &[
            "weights",
            "set",
            "pool/web-stable",
            &format!("{stable_at}=3"),
            &format!("{old_at}=0"),
            "--wait",
        ],
        &env,
    )
    .await;
    assert_eq!(set.code, 0, "{set:?}");
    assert!(set.stdout.starts_with("applied: "), "{set:?}");
    let names = answering("/", 20).await;
    assert_eq!(names.keys().collect::<Vec<_>>(), ["stable"], "{names:?}");

    // The canary split: everything under /api to the canary.
    let split = lbops(
        &seen,
        &[
            "routes",
            "split",
            "loadbalancer/edge",
            "api",
            "web-stable=0",
            "web-canary=100",
            "--wait",
        ],
        &env,
    )
    .await;
    assert_eq!(split.code, 0, "{split:?}");
    let names = answering("/api/x", 20).await;
    assert_eq!(names.keys().collect::<Vec<_>>(), ["canary"], "{names:?}");

    // Drain: already weight 0 from the weights step, so unchanged and no commit.
    let before = commits(&repo);
    let drained = lbops(
        &seen,
        &["targets", "drain", "web-stable", &old_at, "--wait"],
        &env,
    )
    .await;
    assert_eq!(drained.code, 0, "{drained:?}");
    assert!(drained.stdout.starts_with("unchanged: "), "{drained:?}");
    assert_eq!(commits(&repo), before);
    // Weight it again, then drain it for real.
    let set = lbops(
        &seen,
        &[
            "weights",
            "set",
            "web-stable",
            &format!("{old_at}=1"),
            "--wait",
        ],
        &env,
    )
    .await;
    assert_eq!(set.code, 0, "{set:?}");
    let drained = lbops(
        &seen,
        &["targets", "drain", "web-stable", &old_at, "--wait"],
        &env,
    )
    .await;
    assert_eq!(drained.code, 0, "{drained:?}");
    assert!(drained.stdout.starts_with("applied: "), "{drained:?}");
    let listed = lbops(
        &seen,
        &["targets", "list", "web-stable", "--output", "json"],
        &env,
    )
    .await;
    assert_eq!(listed.code, 0, "{listed:?}");
    assert_eq!(
        weights_of(&listed.stdout),
        [(stable_at.clone(), 3), (old_at.clone(), 0)],
        "{listed:?}"
    );

    // Deregistered: gone from git and from the list.
    let removed = lbops(
        &seen,
        &["targets", "remove", "pool/web-stable", &old_at, "--wait"],
        &env,
    )
    .await;
    assert_eq!(removed.code, 0, "{removed:?}");
    let listed = lbops(
        &seen,
        &["targets", "list", "web-stable", "--output", "json"],
        &env,
    )
    .await;
    assert_eq!(weights_of(&listed.stdout), [(stable_at, 3)], "{listed:?}");
    // Removing it again: the daemon answers 404, exit 1.
    let again = lbops(
        &seen,
        &["targets", "remove", "pool/web-stable", &old_at],
        &env,
    )
    .await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("404"), "{again:?}");
    assert_eq!(commits(&repo), before + 3, "weights, drain, remove");
    no_token_printed(&seen, &[&token]);
    drop(ports);
}
