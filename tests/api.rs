//! The daemon's API end to end: `lbops run` as a real process over a real
//! signed repository whose ServiceAccounts hold API tokens (made here with
//! `ApiToken::generate`, stored as hashes), called over real HTTP. Every
//! endpoint, read or write, against every way a token is refused, each
//! call one `api_call` record in the audit log and no write committing
//! anything; a read with live health from the data plane; a token revoked
//! by a signed commit; the rate limit; and no token's secret in the
//! daemon's log, the audit log or an answer.

mod common;

use common::estate::{policy, wait_for_status, Daemon, Team};
use common::git::{GitRepo, SshKey};
use common::{Backend, Ports, Reply};
use lbops::spec::material::api_token::ApiToken;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The read endpoints, each naming a resource the full token may read.
const READS: [&str; 5] = [
    "/v1/balancers",
    "/v1/balancers/edge",
    "/v1/pools",
    "/v1/pools/web",
    "/v1/pools/web/targets",
];

/// One call of the refusal matrix.
struct Endpoint {
    method: &'static str,
    path: String,
    /// Its path in the OpenAPI document.
    template: &'static str,
    body: String,
}

impl Endpoint {
    fn writes(&self) -> bool {
        self.method != "GET"
    }
}

/// Every endpoint but the public document: the reads, and each write
/// with a request that a token allowed it would commit (on `dead`, a
/// target of `web`).
fn endpoints(dead: SocketAddr) -> Vec<Endpoint> {
    let read = |path: &'static str| Endpoint {
        method: "GET",
        path: path.to_owned(),
        template: match path {
            "/v1/balancers/edge" => "/v1/balancers/{name}",
            "/v1/pools/web" => "/v1/pools/{name}",
            "/v1/pools/web/targets" => "/v1/pools/{name}/targets",
            other => other,
        },
        body: String::new(),
    };
    let target = format!(
        "/v1/pools/web/targets/{}",
        dead.to_string().replace(':', "%3A")
    );
    let write = |method, path: String, template, body: String| Endpoint {
        method,
        path,
        template,
        body,
    };
    READS
        .into_iter()
        .map(read)
        .chain([
            write(
                "POST",
                "/v1/pools/web/targets".into(),
                "/v1/pools/{name}/targets",
                r#"{"address": "127.0.0.1:9"}"#.into(),
            ),
            write(
                "DELETE",
                target.clone(),
                "/v1/pools/{name}/targets/{address}",
                String::new(),
            ),
            write(
                "POST",
                format!("{target}/drain"),
                "/v1/pools/{name}/targets/{address}/drain",
                String::new(),
            ),
            write(
                "PUT",
                "/v1/pools/web/weights".into(),
                "/v1/pools/{name}/weights",
                format!("{{\"weights\": {{\"{dead}\": 5}}}}"),
            ),
            write(
                "PUT",
                "/v1/balancers/edge/routes/app/forward".into(),
                "/v1/balancers/{name}/routes/{route}/forward",
                r#"{"pools": [{"pool": "web", "weight": 2}]}"#.into(),
            ),
        ])
        .collect()
}

/// A random fill from the operating system.
fn random(buffer: &mut [u8]) {
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buffer).unwrap();
}

/// A token whose id is drawn from `seed` (the first 64 random bytes
/// `generate` asks for) and whose secret is random: two tokens from one
/// seed share their id and differ in their secret.
fn token_from(seed: &[u8; 64]) -> ApiToken {
    let mut first = true;
    ApiToken::generate(|buffer| {
        if std::mem::take(&mut first) {
            buffer.copy_from_slice(&seed[..buffer.len()]);
        } else {
            random(buffer);
        }
    })
}

fn token() -> ApiToken {
    ApiToken::generate(random)
}

/// One `tokens:` entry.
fn entry(name: &str, token: &ApiToken, expires: &str, scopes: &str, resources: &str) -> String {
    format!(
        "    - {{name: {name}, id: {}, hash: '{}', expires: {expires}, scopes: {scopes}, resources: {resources}}}\n",
        token.id(),
        token.stored_hash()
    )
}

/// The tokens of the estate.
struct Tokens {
    /// deploy-bot, `state.read` on everything.
    full: ApiToken,
    full_seed: [u8; 64],
    /// deploy-bot, `state.read` on `pool/web*` only.
    web_only: ApiToken,
    /// deploy-bot, every action of its roles on `pool/db*` only.
    db_only: ApiToken,
    /// deploy-bot, scoped to `pool.algorithm.update` only: no read, none
    /// of the writes the API makes.
    other_scope: ApiToken,
    /// deploy-bot, expired in 2020.
    expired: ApiToken,
    /// deploy-bot, removed from git during the test.
    doomed: ApiToken,
    /// deploy-bot, for the rate limit.
    busy: ApiToken,
    /// tls-bot, whose role has neither `state.read` nor a write's action.
    no_role: ApiToken,
    // A token whose owner is disabled cannot be set up here: `validate`
    // refuses a ServiceAccount with a disabled owner (`invalid-owner`), so
    // a trusted policy never has one until an identity provider can
    // disable a User; `token_holds_action`'s unit test and the in-process
    // API test (`src/daemon/api/tests.rs`, reads and writes) cover it.
}

impl Tokens {
    fn new() -> Self {
        let mut full_seed = [0u8; 64];
        random(&mut full_seed);
        Tokens {
            full: token_from(&full_seed),
            full_seed,
            web_only: token(),
            db_only: token(),
            other_scope: token(),
            expired: token(),
            doomed: token(),
            busy: token(),
            no_role: token(),
        }
    }

    fn all(&self) -> [&ApiToken; 8] {
        [
            &self.full,
            &self.web_only,
            &self.db_only,
            &self.other_scope,
            &self.expired,
            &self.doomed,
            &self.busy,
            &self.no_role,
        ]
    }

    /// The ServiceAccounts, with `doomed` or without it.
    fn accounts(&self, with_doomed: bool) -> String {
        let later = "2099-01-01";
        let read = "[state.read]";
        let doomed = if with_doomed {
            entry("doomed", &self.doomed, later, read, "[]")
        } else {
            String::new()
        };
        format!(
            "kind: Role
name: reader
spec:
  rules: [{{actions: [state.read], resources: ['*']}}]
---
kind: Role
name: edge-routes
spec:
  rules: [{{actions: [loadbalancer.routes.update], resources: ['loadbalancer/*']}}]
---
kind: Role
name: tls-oncall
spec:
  rules: [{{actions: [loadbalancer.tls.update], resources: ['loadbalancer/*']}}]
---
kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  roles: [reader, web-oncall, edge-routes]
  tokens:
{}{}{}{}{}{doomed}{}---
kind: ServiceAccount
name: tls-bot
spec:
  owner: alice
  roles: [tls-oncall]
  tokens:
{}",
            entry("ci", &self.full, later, read, "[]"),
            entry("web", &self.web_only, later, read, "['pool/web*']"),
            entry("db", &self.db_only, later, "[]", "['pool/db*']"),
            entry(
                "other",
                &self.other_scope,
                later,
                "[pool.algorithm.update]",
                "[]"
            ),
            entry("old", &self.expired, "2020-01-01", read, "[]"),
            entry("busy", &self.busy, later, read, "[]"),
            entry("ci", &self.no_role, later, "[]", "[]"),
        )
    }
}

/// `web` (team web) checks its targets every 100 ms: the stable backend
/// answers, the dead one refuses. `db` belongs to another team.
fn pools(stable: &Backend, dead: SocketAddr) -> String {
    format!(
        "kind: Pool
name: web
labels: {{team: web}}
spec:
  targets:
    - {{address: '{}', weight: 90}}
    - {{address: '{dead}', weight: 10}}
  health_check:
    probe: {{http: {{path: /healthz}}}}
    interval: 100ms
    timeout: 80ms
    healthy_threshold: 1
    unhealthy_threshold: 1
---
kind: Pool
name: db
labels: {{team: data}}
spec:
  targets: [{{address: '{}', weight: 1}}]
",
        stable.address, stable.address
    )
}

/// A balancer on 127.0.0.1:`port`: route `app` and the default action
/// send everything to `web`.
fn balancer(port: u16) -> String {
    format!(
        "kind: LoadBalancer
name: edge
spec:
  addresses: [127.0.0.1]
  listeners:
    - name: http
      protocol: http
      port: {port}
      routes:
        - {{name: app, priority: 1, match: {{path: {{prefix: /app}}}}, action: {{forward: {{pools: [{{pool: web}}]}}}}}}
      default_action: {{forward: {{pools: [{{pool: web}}]}}}}
"
    )
}

struct Estate {
    team: Team,
    tokens: Tokens,
    repo: GitRepo,
    _stable: Backend,
    dead: SocketAddr,
    _ports: Ports,
    /// The daemon's API signing key, so that a write gets as far as its
    /// authorization.
    _api_key: SshKey,
    dir: tempfile::TempDir,
    first: String,
}

impl Estate {
    async fn new() -> Self {
        let team = Team::new();
        let tokens = Tokens::new();
        let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let ports = Ports::default();
        let port = ports.hold();
        let dead = ports.address();
        let repo = GitRepo::new();
        repo.write("access.yaml", &policy(&team.alice, &team.bob, "", ""));
        repo.write("bots.yaml", &tokens.accounts(true));
        repo.write("pools.yaml", &pools(&stable, dead));
        repo.write("balancers.yaml", &balancer(port));
        let first = repo.commit(&team.alice(), "the estate, with API tokens");
        let dir = tempfile::tempdir().unwrap();
        let api_key = SshKey::new("lbops-api");
        let config = format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0', rate_limit: {{per_second: 1, burst: 20}}, signing_key_file: '{}'}}
state_dir: '{}'
",
            repo.path().display(),
            api_key.private_key().display(),
            dir.path().join("state").display()
        );
        std::fs::write(dir.path().join("lbops.yaml"), config).unwrap();
        Estate {
            team,
            tokens,
            repo,
            _stable: stable,
            dead,
            _ports: ports,
            _api_key: api_key,
            dir,
            first,
        }
    }

    fn audit(&self) -> Vec<serde_json::Value> {
        let text =
            std::fs::read_to_string(self.dir.path().join("state").join("audit.jsonl")).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The `api_call` records, in order.
    fn api_calls(&self) -> Vec<serde_json::Value> {
        self.audit()
            .into_iter()
            .filter(|r| r["event"]["kind"] == "api_call")
            .collect()
    }
}

/// An answer: status, headers (lower-case names), JSON body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: serde_json::Value,
    text: String,
}

/// A GET over plain HTTP/1.1 from `source` (any 127/8 address: each is a
/// peer of its own for the rate limit) with `authorization` if given.
async fn get_from(
    base: SocketAddr,
    source: IpAddr,
    path: &str,
    authorization: Option<&str>,
) -> Answer {
    let auth = authorization.map_or_else(String::new, |a| format!("authorization: {a}\r\n"));
    request(base, source, "GET", path, &auth).await
}

/// `method path` with `headers` (whole lines, each ending in CRLF).
async fn request(
    base: SocketAddr,
    source: IpAddr,
    method: &str,
    path: &str,
    headers: &str,
) -> Answer {
    request_with(base, source, method, path, headers, "").await
}

/// `method path` with `headers` and `body`.
async fn request_with(
    base: SocketAddr,
    source: IpAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Answer {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    let mut stream = socket.connect(base).await.unwrap();
    stream
        .write_all(
            format!(
                "{method} {path} HTTP/1.1\r\nhost: lbops\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut raw))
        .await
        .expect("the API answers in time")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect::<BTreeMap<_, _>>();
    assert!(
        !headers.contains_key("transfer-encoding"),
        "this little client reads whole bodies only: {head}"
    );
    Answer {
        status,
        body: serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        text: text.to_owned(),
        headers,
    }
}

async fn get(base: SocketAddr, path: &str, token: Option<&ApiToken>) -> Answer {
    let bearer = token.map(|t| format!("Bearer {}", t.expose()));
    get_from(base, [127, 0, 0, 1].into(), path, bearer.as_deref()).await
}

/// The API's address, from the daemon's log.
async fn api(daemon: &Daemon) -> SocketAddr {
    daemon
        .pages()
        .await
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// The statuses the OpenAPI document lists for `method` on `template`.
fn documented(doc: &serde_json::Value, method: &str, template: &str) -> Vec<u16> {
    doc["paths"][template][method.to_ascii_lowercase()]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {template} is not documented"))
        .keys()
        .map(|k| k.parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_the_right_status_and_one_audit_record_and_no_secret_leaks() {
    let e = Estate::new().await;
    let daemon = Daemon::start(&e.dir.path().join("lbops.yaml"));
    daemon.ready().await;
    let base = api(&daemon).await;
    let doc = get(base, "/v1/openapi.json", None).await;
    assert_eq!(doc.status, 200, "{doc:?}");
    let doc = doc.body;
    let t = &e.tokens;

    // `doomed` is removed from git by a signed commit, applied before the
    // matrix (calls from a peer of their own: refusals spend its budget).
    e.repo.write("bots.yaml", &t.accounts(false));
    let revoked = e.repo.commit(&e.team.alice(), "revoke the doomed token");
    wait_for_status(&e.repo, &revoked, "lbops/apply: success", &daemon).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let poller = IpAddr::from([127, 0, 0, 9]);
    let doomed = format!("Bearer {}", t.doomed.expose());
    while get_from(base, poller, "/v1/pools", Some(&doomed))
        .await
        .status
        != 401
    {
        assert!(Instant::now() < deadline, "the revoked token still reads");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The same id as `full`, another secret (its checksum is right).
    let wrong_secret = token_from(&t.full_seed);
    assert_eq!(wrong_secret.id(), t.full.id());
    // A typo: one character of the secret changed, so the checksum fails.
    let mut typo = t.full.expose().to_owned();
    let at = typo.len() - 10;
    let swapped = if &typo[at..=at] == "A" { "B" } else { "A" };
    typo.replace_range(at..=at, swapped);
    let stranger = token();

    // (case, Authorization header, the status and code of each read, and
    // of every write). No case may write: each is refused, the last
    // because its token may only read.
    type Reads = [(u16, &'static str); 5];
    type Expected = (Reads, (u16, &'static str));
    let unauthorized = |code| ([(401, code); 5], (401, code));
    let forbidden: Expected = ([(403, "forbidden"); 5], (403, "forbidden"));
    let bearer = |t: &ApiToken| Some(format!("Bearer {}", t.expose()));
    let cases: Vec<(&str, Option<String>, Expected)> = vec![
        ("no token", None, unauthorized("token-missing")),
        (
            "not bearer",
            Some("Basic YTpi".into()),
            unauthorized("not-bearer"),
        ),
        (
            "malformed",
            Some("Bearer lbops_nonsense".into()),
            unauthorized("token-malformed"),
        ),
        (
            "wrong checksum",
            Some(format!("Bearer {typo}")),
            unauthorized("token-malformed"),
        ),
        (
            "unknown id",
            bearer(&stranger),
            unauthorized("token-invalid"),
        ),
        (
            "wrong secret",
            bearer(&wrong_secret),
            unauthorized("token-invalid"),
        ),
        ("expired", bearer(&t.expired), unauthorized("token-expired")),
        (
            "removed from git",
            bearer(&t.doomed),
            unauthorized("token-invalid"),
        ),
        ("scope missing", bearer(&t.other_scope), forbidden),
        ("role missing", bearer(&t.no_role), forbidden),
        (
            "outside the token's resources",
            bearer(&t.db_only),
            (
                [
                    (200, "ok"),
                    (404, "not-found"),
                    (200, "ok"),
                    (404, "not-found"),
                    (404, "not-found"),
                ],
                (403, "forbidden"),
            ),
        ),
        (
            "allowed to read",
            bearer(&t.full),
            ([(200, "ok"); 5], (403, "forbidden")),
        ),
    ];
    let endpoints = endpoints(e.dead);
    let head = e.repo.head();
    let before = e.api_calls().len();
    // (case, method, path, status, code)
    let mut made: Vec<(&str, &str, String, u16, &str)> = Vec::new();
    for (n, (case, authorization, (reads, writes))) in cases.iter().enumerate() {
        // Each case calls from an address of its own: refused calls spend
        // their peer's budget.
        let source = IpAddr::from([127, 0, 0, 10 + u8::try_from(n).unwrap()]);
        let auth = authorization
            .as_deref()
            .map_or_else(String::new, |a| format!("authorization: {a}\r\n"));
        let mut reads = reads.iter();
        for endpoint in &endpoints {
            let (status, code) = if endpoint.writes() {
                *writes
            } else {
                *reads.next().unwrap()
            };
            let (method, path) = (endpoint.method, &endpoint.path);
            let headers = format!("{auth}content-type: application/json\r\n");
            let answer = request_with(base, source, method, path, &headers, &endpoint.body).await;
            assert_eq!(answer.status, status, "{case}: {method} {path}: {answer:?}");
            assert!(
                documented(&doc, method, endpoint.template).contains(&status),
                "{case}: {method} {path} answered {status}, which the OpenAPI document does not list"
            );
            if status >= 400 {
                assert_eq!(
                    answer.body["code"], code,
                    "{case}: {method} {path}: {answer:?}"
                );
                assert!(
                    answer.body["message"].is_string() && answer.body["hint"].is_string(),
                    "{case}: {answer:?}"
                );
            }
            if status == 401 {
                assert!(
                    answer.headers["www-authenticate"].starts_with("Bearer"),
                    "{case}: {answer:?}"
                );
            }
            if endpoint.writes() {
                assert_eq!(e.repo.head(), head, "{case}: {method} {path} committed");
            }
            made.push((case, method, path.clone(), status, code));
        }
    }
    assert_eq!(e.repo.head(), head, "no refused write committed");

    // The token limited to `pool/web*` sees only web, and no balancer.
    let listed = get(base, "/v1/pools", Some(&t.web_only)).await;
    let names: Vec<&str> = listed.body["pools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web"], "{listed:?}");
    let hidden = get(base, "/v1/pools/db", Some(&t.web_only)).await;
    let missing = get(base, "/v1/pools/nope", Some(&t.web_only)).await;
    assert_eq!((hidden.status, missing.status), (404, 404));
    assert_eq!(
        hidden.body["message"].as_str().unwrap().replace("db", "X"),
        missing.body["message"]
            .as_str()
            .unwrap()
            .replace("nope", "X"),
        "a hidden pool reads like a missing one"
    );
    let balancers = get(base, "/v1/balancers", Some(&t.web_only)).await;
    assert_eq!(balancers.body["balancers"], serde_json::json!([]));
    for (case, path, status, code) in [
        ("web-only list", "/v1/pools", 200, "ok"),
        ("web-only db", "/v1/pools/db", 404, "not-found"),
        ("web-only nope", "/v1/pools/nope", 404, "not-found"),
        ("web-only balancers", "/v1/balancers", 200, "ok"),
    ] {
        made.push((case, "GET", path.to_owned(), status, code));
    }

    // Unknown paths and methods answer JSON too.
    let nowhere = get(base, "/v1/nowhere", Some(&t.full)).await;
    assert_eq!(
        (nowhere.status, nowhere.body["code"].as_str()),
        (404, Some("no-such-endpoint"))
    );
    made.push((
        "no route",
        "GET",
        "/v1/nowhere".into(),
        404,
        "no-such-endpoint",
    ));
    let auth = format!("authorization: Bearer {}\r\n", t.full.expose());
    let local = IpAddr::from([127, 0, 0, 1]);
    let post = request(base, local, "POST", "/v1/pools", &auth).await;
    assert_eq!(
        (post.status, post.body["code"].as_str()),
        (405, Some("method-not-allowed")),
        "{post:?}"
    );
    made.push((
        "wrong method",
        "POST",
        "/v1/pools".into(),
        405,
        "method-not-allowed",
    ));
    let padding = format!("x-padding: {}\r\n", "a".repeat(17 * 1024));
    let big = request(base, local, "GET", "/v1/pools", &format!("{auth}{padding}")).await;
    assert_eq!(
        (big.status, big.body["code"].as_str()),
        (431, Some("headers-too-large")),
        "{big:?}"
    );
    made.push((
        "big headers",
        "GET",
        "/v1/pools".into(),
        431,
        "headers-too-large",
    ));

    // Each call is one api_call record, in order, with what it was.
    let records = e.api_calls();
    let records = &records[before..];
    let shown: Vec<String> = records.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    assert_eq!(records.len(), made.len(), "{shown:#?}");
    for (record, (case, method, path, status, code)) in records.iter().zip(&made) {
        let event = &record["event"];
        let detail = &event["detail"];
        assert_eq!(detail["path"], path.as_str(), "{case}: {event}");
        assert_eq!(detail["status"], *status, "{case}: {event}");
        assert_eq!(detail["method"], *method, "{case}: {event}");
        assert!(detail["commit"].is_null(), "{case}: {event}");
        assert!(
            detail["peer"].as_str().unwrap().starts_with("127.0.0."),
            "{case}: {event}"
        );
        assert_eq!(event["outcome"], *code, "{case}: {event}");
        let reason = detail["reason"].as_str().unwrap_or_default();
        match *case {
            "allowed to read" | "outside the token's resources" | "scope missing" => {
                assert_eq!(
                    event["actor"], "serviceaccount/deploy-bot",
                    "{case}: {event}"
                );
                assert!(detail["token_id"].is_string(), "{case}: {event}");
            }
            "no token" | "malformed" | "unknown id" | "removed from git" => {
                assert_eq!(event["actor"], "anonymous", "{case}: {event}");
                assert!(detail["token_id"].is_null(), "{case}: {event}");
            }
            "wrong secret" => {
                assert_eq!(detail["token_id"], t.full.id().as_str(), "{case}: {event}");
                assert!(reason.contains("secret does not match"), "{case}: {event}");
            }
            "role missing" => {
                assert!(
                    reason.contains("no rule of role tls-oncall allows"),
                    "{case}: {event}"
                );
            }
            _ => {}
        }
        // A write outside the token's resources is refused by the token's
        // patterns, the account's roles allowing it.
        if *case == "outside the token's resources" && *method != "GET" {
            assert!(
                reason.contains("its role allows it, but token")
                    && reason.contains("may touch only pool/db*"),
                "{case}: {event}"
            );
        }
    }

    // `/metrics` counts by token id.
    let metrics = get(base, "/metrics", None).await;
    let calls = format!(
        "lbops_api_calls_total{{token=\"{}\",result=\"ok\"}}",
        t.full.id()
    );
    assert!(metrics.text.contains(&calls), "{}", metrics.text);

    // No secret anywhere: not in the daemon's log, the audit log, or an
    // answer (the secret is what follows the id).
    daemon
        .wait_for_log("the last call", |l| l.contains("/v1/nowhere"))
        .await;
    let audit = std::fs::read_to_string(e.dir.path().join("state").join("audit.jsonl")).unwrap();
    for token in t.all().into_iter().chain([&wrong_secret, &stranger]) {
        let secret = &token.expose()[19..];
        assert!(!daemon.logs().contains(secret), "a secret in the log");
        assert!(!audit.contains(secret), "a secret in the audit log");
        assert!(!metrics.text.contains(secret));
    }
    assert!(!daemon.logs().contains(&typo[19..]));
    assert!(!audit.contains(&typo[19..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_shows_weights_live_health_and_the_applied_commit_until_the_token_is_removed() {
    let e = Estate::new().await;
    let daemon = Daemon::start(&e.dir.path().join("lbops.yaml"));
    daemon.ready().await;
    let base = api(&daemon).await;
    let t = &e.tokens;

    // Live health: the stable backend becomes healthy, the dead one not.
    let deadline = Instant::now() + Duration::from_secs(20);
    let pool = loop {
        let answer = get(base, "/v1/pools/web", Some(&t.full)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let health: Vec<&str> = answer.body["pool"]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["health"].as_str().unwrap())
            .collect();
        if health == ["healthy", "unhealthy"] {
            break answer.body;
        }
        assert!(Instant::now() < deadline, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(pool["commit"], e.first);
    assert_eq!(pool["observed"], true);
    let targets = &pool["pool"]["targets"];
    assert_eq!(targets[0]["weight"], 90);
    assert_eq!(targets[1]["address"], e.dead.to_string());
    assert_eq!(targets[1]["weight"], 10);
    assert_eq!(pool["pool"]["labels"]["team"], "web");

    let edge = get(base, "/v1/balancers/edge", Some(&t.full)).await;
    assert_eq!(edge.status, 200, "{edge:?}");
    assert_eq!(edge.body["balancer"]["running"], true);
    assert_eq!(
        edge.body["balancer"]["listeners"][0]["forwards"],
        serde_json::json!([
            {"route": "app", "pool": "web", "weight": 1},
            {"route": null, "pool": "web", "weight": 1}
        ])
    );

    // Removed from git by a signed commit: refused once it is applied.
    assert_eq!(get(base, "/v1/pools", Some(&t.doomed)).await.status, 200);
    e.repo.write("bots.yaml", &t.accounts(false));
    let revoked = e.repo.commit(&e.team.alice(), "revoke the doomed token");
    wait_for_status(&e.repo, &revoked, "lbops/apply: success", &daemon).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = get(base, "/v1/pools", Some(&t.doomed)).await;
        if answer.status == 401 {
            assert_eq!(answer.body["code"], "token-invalid", "{answer:?}");
            break;
        }
        assert!(Instant::now() < deadline, "still {answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The rest still read, now from the new commit.
    let pools = get(base, "/v1/pools", Some(&t.full)).await;
    assert_eq!(pools.body["commit"], revoked);

    // The rate limit: a burst of 20, then 429 with Retry-After; another
    // token is not held up.
    let mut limited = None;
    for _ in 0..60 {
        let answer = get(base, "/v1/pools", Some(&t.busy)).await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
        assert_eq!(answer.status, 200, "{answer:?}");
    }
    let limited = limited.expect("the busy token was limited");
    assert_eq!(limited.body["code"], "rate-limited");
    let retry: u64 = limited.headers["retry-after"].parse().unwrap();
    assert!((1..=2).contains(&retry), "{limited:?}");
    assert_eq!(get(base, "/v1/pools", Some(&t.full)).await.status, 200);
    let records = e.api_calls();
    assert!(
        records
            .iter()
            .any(|r| r.to_string().contains("rate-limited")),
        "the 429 is in the audit log"
    );
}
