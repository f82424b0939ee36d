//! The daemon's pages in a real headless browser: `lbops run` judges a
//! real repository with signed commits (one allowed, one denied), and
//! Debian's chromium renders `/` and the denied commit's page, which must
//! say who, what and why. Screenshots for the README come from here
//! (`LBOPS_UPDATE_SCREENSHOTS=1` writes them to docs/screenshots/).
//! `/metrics` is read before and after, parsed strictly as Prometheus
//! text exposition, and its counters must have moved.

mod common;

use common::estate::{access, balancer, pools, wait_for_status, Daemon, Team};
use common::git::{Author, GitRepo, Signing, SshKey};
use common::{Backend, Ports, Reply};
use lbops::spec::material::api_token::ApiToken;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use time::format_description::well_known::Rfc3339;

use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

/// GET over plain HTTP: status, content type, body.
async fn get(url: &str) -> (u16, String, String) {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let response = client
        .get(url.parse().unwrap())
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Runs headless chromium with `args` then `url`; its stdout. Fails
/// (never skips) when chromium is missing: `scripts/test` installs it.
fn chromium(args: &[&str], url: &str) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: these page tests need Debian's chromium; run `scripts/test`, \
         which installs it (or `apt-get install chromium`)"
    );
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {CHROMIUM}: {e}"));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took over 90s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "chromium {args:?} {url}: {status}\n{err}");
    out
}

/// Where screenshots go: docs/screenshots/ when asked to update them,
/// else a temporary directory, so the test leaves the tree clean.
fn screenshot_dir(temp: &Path) -> PathBuf {
    if std::env::var_os("LBOPS_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    } else {
        temp.to_path_buf()
    }
}

fn screenshot(url: &str, file: &Path) {
    let _ = std::fs::remove_file(file);
    chromium(
        &[
            &format!("--screenshot={}", file.display()),
            "--window-size=1200,900",
            "--hide-scrollbars",
        ],
        url,
    );
    let png =
        std::fs::read(file).unwrap_or_else(|e| panic!("no screenshot {}: {e}", file.display()));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} is not a screenshot of a page ({} bytes)",
        file.display(),
        png.len()
    );
}

/// The rendered DOM's text without tags, whitespace collapsed, with the
/// few entities the pages use decoded: what a reader sees.
fn visible_text(dom: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    let mut skip = false;
    let mut rest = dom;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            let lower = rest.get(..7).unwrap_or("").to_ascii_lowercase();
            if lower.starts_with("<style") {
                skip = true;
            } else if lower.starts_with("</style") {
                skip = false;
            }
            in_tag = true;
            text.push(' ');
        } else if c == '>' {
            in_tag = false;
        } else if !in_tag && !skip {
            text.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A strict reader of the Prometheus text exposition format (0.0.4):
/// `# HELP name text`, `# TYPE name type`, and `name{label="value",…} value`
/// samples, each of a family declared by a TYPE line before it. Returns
/// each sample as `name{labels}` → value.
fn parse_exposition(text: &str) -> Result<BTreeMap<String, f64>, String> {
    fn is_name(s: &str, colons: bool) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':'))
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
    }
    fn value(s: &str) -> Option<f64> {
        match s {
            "+Inf" => Some(f64::INFINITY),
            "-Inf" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            _ => s.parse().ok(),
        }
    }
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = BTreeMap::new();
    if !text.ends_with('\n') {
        return Err("the exposition must end with a newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let at = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), Some(_)) if is_name(name, true) => {}
                (Some("TYPE"), Some(name), Some(kind)) if is_name(name, true) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at("unknown type"));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(at("a second TYPE for one family"));
                    }
                }
                (Some("HELP" | "TYPE"), _, _) => return Err(at("malformed HELP/TYPE")),
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, rest) = match line.find('{') {
            Some(open) => {
                let close = line.rfind('}').ok_or_else(|| at("unclosed labels"))?;
                let name = &line[..open];
                let labels = &line[open + 1..close];
                // label="value" pairs, values with \\ \" \n escapes.
                let mut chars = labels.chars().peekable();
                loop {
                    let label: String =
                        std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
                    if label.is_empty() && chars.peek().is_none() {
                        break;
                    }
                    if !is_name(&label, false) || chars.next() != Some('=') {
                        return Err(at("bad label name"));
                    }
                    if chars.next() != Some('"') {
                        return Err(at("label value not quoted"));
                    }
                    loop {
                        match chars.next() {
                            Some('\\') => {
                                if !matches!(chars.next(), Some('\\' | '"' | 'n')) {
                                    return Err(at("bad escape in a label value"));
                                }
                            }
                            Some('"') => break,
                            Some(_) => {}
                            None => return Err(at("unterminated label value")),
                        }
                    }
                    match chars.next() {
                        Some(',') => {}
                        None => break,
                        Some(_) => return Err(at("expected , between labels")),
                    }
                }
                (format!("{name}{{{labels}}}"), &line[close + 1..])
            }
            None => {
                let space = line.find(' ').ok_or_else(|| at("no value"))?;
                (line[..space].to_owned(), &line[space..])
            }
        };
        let name = series.split('{').next().unwrap();
        if !is_name(name, true) {
            return Err(at("bad metric name"));
        }
        let family = types.get(name).map(|t| (name, t)).or_else(|| {
            ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                types
                    .get(base)
                    .filter(|t| *t == "histogram" || (*t == "summary" && *suffix != "_bucket"))
                    .map(|t| (base, t))
            })
        });
        if family.is_none() {
            return Err(at("a sample of no declared family"));
        }
        let mut fields = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("expected one space before the value"))?
            .split(' ');
        let v = fields
            .next()
            .and_then(value)
            .ok_or_else(|| at("the value is not a number"))?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| at("bad timestamp"))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing fields"));
        }
        if samples.insert(series, v).is_some() {
            return Err(at("a duplicate series"));
        }
    }
    Ok(samples)
}

async fn metrics(base: &str) -> BTreeMap<String, f64> {
    let (status, content_type, body) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    parse_exposition(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

#[test]
fn the_exposition_reader_is_strict() {
    let good =
        "# HELP a_total A counter.\n# TYPE a_total counter\na_total{x=\"1\",y=\"a\\\"b\"} 3\n\
                # TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\nh_count 1\n";
    let parsed = parse_exposition(good).unwrap();
    assert_eq!(parsed["a_total{x=\"1\",y=\"a\\\"b\"}"], 3.0);
    assert_eq!(parsed["h_count"], 1.0);
    for bad in [
        "a_total 1\n",                              // no TYPE
        "# TYPE a counter\na one\n",                // not a number
        "# TYPE a counter\na{x=1} 1\n",             // unquoted
        "# TYPE a counter\na{x=\"1\"}  1\n",        // two spaces
        "# TYPE a counter\na 1\na 2\n",             // duplicate
        "# TYPE a countr\na 1\n",                   // unknown type
        "# TYPE a counter\na 1",                    // no final newline
        "# TYPE a counter\na{x=\"1\" y=\"2\"} 1\n", // no comma
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_in_a_browser_show_statuses_and_who_what_why_and_metrics_move() {
    let ports = Ports::default();
    let (alice_key, bob_key) = (
        SshKey::new("alice@example.test"),
        SshKey::new("bob@example.test"),
    );
    let alice = Author {
        name: "Alice",
        email: "alice@example.test",
        signing: Signing::Ssh(&alice_key),
    };
    let bob = Author {
        name: "Bob",
        email: "bob@example.test",
        signing: Signing::Ssh(&bob_key),
    };
    let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let canary = Backend::start_at("canary", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let port = ports.hold();
    let repo = GitRepo::new();
    repo.write("access.yaml", &access(&alice_key, &bob_key));
    repo.write("pools.yaml", &pools(&stable, &canary, 10, 1));
    repo.write("balancers.yaml", &balancer(port));
    let first = repo.commit(&alice, "the estate");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lbops.yaml");
    std::fs::write(
        &config,
        format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
drift: {{schedule: '0 0 * * * *'}}
statuses: {{page_url: 'http://lbops.example.test'}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
            repo.path().display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();

    let daemon = Daemon::start(&config);
    let base = daemon.pages().await;
    wait_for_status(&repo, &first, "lbops/apply: success", &daemon).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, _) = get(&format!("{base}/readyz")).await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "never ready:\n{}", daemon.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    let before = metrics(&base).await;

    // bob shifts the canary (allowed), then touches the db team's pool (denied).
    repo.write("pools.yaml", &pools(&stable, &canary, 50, 1));
    let allowed = repo.commit(&bob, "canary to 50");
    wait_for_status(&repo, &allowed, "lbops/apply: success", &daemon).await;
    repo.write("pools.yaml", &pools(&stable, &canary, 90, 5));
    let denied = repo.commit(&bob, "db weight and a big canary");
    wait_for_status(&repo, &denied, "lbops/authorize: failure", &daemon).await;

    // The counters move with the reconciles (counted once a pass ends).
    let key_ok = "lbops_reconciles_total{result=\"ok\"}";
    let accepted = "lbops_decisions_total{outcome=\"accepted\"}";
    let refused = "lbops_decisions_total{outcome=\"refused\"}";
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let after = metrics(&base).await;
        if after[key_ok] >= before[key_ok] + 2.0 && after[refused] > before[refused] {
            break after;
        }
        assert!(
            Instant::now() < deadline,
            "counters did not move: {before:?} → {after:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(after[accepted] >= before[accepted] + 1.0, "{after:?}");
    assert_eq!(after[refused], before[refused] + 1.0, "{after:?}");
    assert!(
        after["lbops_apply_duration_seconds_count"] > before["lbops_apply_duration_seconds_count"]
    );
    assert!(after["lbops_last_applied_commit_age_seconds"] >= 0.0);

    // The index, as the browser renders it: both commits, with their statuses.
    let shots = tempfile::tempdir().unwrap();
    let shots = screenshot_dir(shots.path());
    let dom = chromium(&["--dump-dom"], &format!("{base}/"));
    assert!(
        dom.contains(&format!("href=\"/commits/{denied}\"")),
        "{dom}"
    );
    assert!(
        dom.contains(&format!("href=\"/commits/{allowed}\"")),
        "{dom}"
    );
    let index = visible_text(&dom);
    for expected in [
        &allowed[..12],
        &denied[..12],
        "canary to 50 bob@example.test",
        "db weight and a big canary bob@example.test",
        "accepted",
        "refused: 1 denied",
        "validate: success",
        "apply: success",
        "authorize: failure",
        "user/bob may not pool.weights.update on pool/db",
    ] {
        assert!(
            index.contains(expected),
            "index lacks {expected:?}:\n{index}"
        );
    }
    assert!(
        index.find(&denied[..12]) < index.find(&allowed[..12]),
        "newest first: {index}"
    );
    screenshot(&format!("{base}/"), &shots.join("index.png"));

    // The denied commit's page (where its statuses link): who, what, why.
    let url = format!("{base}/commits/{denied}");
    let page = visible_text(&chromium(&["--dump-dom"], &url));
    for expected in [
        "Who: user/bob — signature verified with the SSH key",
        "DENIED pool.weights.update pool/db",
        "user/bob may not pool.weights.update on pool/db: role web-oncall (via group web-team) \
         allows pool.weights.update only on pool/* with labels team=web, and pool/db has \
         team=data; held by role sre-admin (alice)",
        "allowed pool.weights.update pool/web",
        "user/bob may pool.weights.update on pool/web: rule 1 of role web-oncall (via group web-team)",
        "refused: 1 change(s) denied, nothing will be applied",
        "authorize: failure",
        "apply: failure",
    ] {
        assert!(page.contains(expected), "the denied page lacks {expected:?}:\n{page}");
    }
    screenshot(&url, &shots.join("commit-denied.png"));

    // An unknown commit is a 404 page, not an error.
    let (status, _, body) = get(&format!("{base}/commits/{}", "0".repeat(40))).await;
    assert_eq!(status, 404, "{body}");
}

/// GET with a bearer token, over plain HTTP: the status.
async fn get_with_token(url: &str, token: &ApiToken) -> u16 {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let request = hyper::Request::get(url)
        .header("authorization", format!("Bearer {}", token.expose()))
        .body(Empty::new())
        .unwrap();
    let response = client
        .request(request)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

/// The tokens page in a browser: every token of the trusted policy, the
/// expired, the expiring and the unused ones flagged and listed first,
/// and a token used through the API showing that use (time, peer, count).
/// The tokens' dates are set from today, as the daemon's clock is real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tokens_page_in_a_browser_flags_tokens_and_shows_their_use() {
    let team = Team::new();
    let ports = Ports::default();
    let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let canary = Backend::start_at("canary", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let random = |buffer: &mut [u8]| {
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buffer).unwrap();
    };
    let (ci, stale, ending, gone) = (
        ApiToken::generate(random),
        ApiToken::generate(random),
        ApiToken::generate(random),
        ApiToken::generate(random),
    );
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let rfc3339 = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap();
    let in_a_year = rfc3339(now + time::Duration::days(365));
    // An hour past five days, so that it reads "5 day(s)" for the next hour.
    let soon = rfc3339(now + time::Duration::days(5) + time::Duration::hours(1));
    let entry = |name: &str, t: &ApiToken, expires: &str, created: &str| {
        format!(
            "    - {{name: {name}, id: {}, hash: '{}', expires: '{expires}', created: '{created}', \
             scopes: [state.read]}}\n",
            t.id(),
            t.stored_hash()
        )
    };
    let bots = format!(
        "kind: Role
name: reader
spec:
  rules: [{{actions: [state.read], resources: ['*']}}]
---
kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  roles: [reader]
  tokens:
{}{}{}{}",
        entry("ci", &ci, &in_a_year, "2020-01-01"),
        entry("stale", &stale, &in_a_year, "2020-01-01"),
        entry(
            "ending",
            &ending,
            &soon,
            &rfc3339(now - time::Duration::days(1))
        ),
        entry("gone", &gone, "2021-01-01", "2020-01-01"),
    );
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access());
    repo.write("bots.yaml", &bots);
    repo.write("pools.yaml", &pools(&stable, &canary, 10, 1));
    repo.write("balancers.yaml", &balancer(ports.hold()));
    let first = repo.commit(&team.alice(), "the estate, with deploy-bot's tokens");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lbops.yaml");
    std::fs::write(
        &config,
        format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 30s, watch: false}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
            repo.path().display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&config);
    daemon.ready().await;
    let base = daemon.pages().await;

    // ci is used through the API, twice (answered); the others are not.
    for _ in 0..2 {
        assert_eq!(get_with_token(&format!("{base}/v1/pools"), &ci).await, 200);
    }

    let url = format!("{base}/tokens");
    let dom = chromium(&["--dump-dom"], &url);
    let page = visible_text(&dom);
    for expected in [
        &format!(
            "in the policy of the trusted commit {} : 4 token(s), 3 flagged",
            &first[..12]
        ),
        &format!(
            "expired {} day(s) ago deploy-bot alice gone {}",
            (now.date() - time::macros::date!(2021 - 01 - 01)).whole_days(),
            gone.id()
        ),
        &format!(
            "expires in 5 day(s) deploy-bot alice ending {}",
            ending.id()
        ),
        &format!(
            "not used since the daemon started deploy-bot alice stale {}",
            stale.id()
        ),
        &format!(
            "— deploy-bot alice ci {} state.read any its roles allow",
            ci.id()
        ),
    ] {
        assert!(
            page.contains(expected.as_str()),
            "the tokens page lacks {expected:?}:\n{page}"
        );
    }
    // Flagged first: expired, expiring, unused, then the rest.
    let at = |token: &ApiToken| page.find(token.id().as_str()).unwrap();
    assert!(
        at(&gone) < at(&ending) && at(&ending) < at(&stale) && at(&stale) < at(&ci),
        "{page}"
    );
    // ci's use: today, from this test's loopback address, 2 calls, none refused.
    let ci_row = &page[at(&ci)..];
    let today = now.date().to_string();
    assert!(ci_row.contains(&format!("{today} ")), "{ci_row}");
    assert!(ci_row.contains("from 127.0.0.1:"), "{ci_row}");
    assert!(ci_row.trim_end().ends_with(" 2 0"), "{ci_row}");
    // Reachable from every page's navigation; never a hash or a secret.
    let index = chromium(&["--dump-dom"], &format!("{base}/"));
    assert!(
        index.contains("<a href=\"/tokens\">API tokens</a>"),
        "{index}"
    );
    for token in [&ci, &stale, &ending, &gone] {
        assert!(!dom.contains(token.expose()));
        assert!(
            !dom.contains(&token.stored_hash()[7..]),
            "a hash is on the page"
        );
    }
    let shots = tempfile::tempdir().unwrap();
    screenshot(&url, &screenshot_dir(shots.path()).join("tokens.png"));
}

/// A call to the data plane's admin API: status and body.
async fn admin_call(method: &str, url: &str, token: &str, body: Option<String>) -> (u16, String) {
    use http_body_util::{BodyExt, Full};
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The `<tr …>` of the row with `id` in `page`, up to its end.
fn row<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<tr id=\"{id}\""))
        .unwrap_or_else(|| panic!("no row {id} in\n{page}"));
    let end = page[start..]
        .find("</tr>")
        .map_or(page.len(), |e| start + e);
    &page[start..end]
}

/// The estate page of a real daemon in a browser: every balancer, route,
/// pool and target; a backend killed turns its target unhealthy on the
/// page within the health check's interval (plus the page's own one
/// second of observation cache); a weight changed by hand through the
/// data plane's admin API is drift on that target and its pool, and on
/// nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_estate_page_in_a_browser_shows_every_element_live_health_and_drift() {
    use common::topology::{Topology, CHECK_INTERVAL_MS};
    let t = Topology::start().await;
    let base = t.daemon.pages().await;
    t.traffic("/", 10).await;
    t.traffic("/reports/q", 4).await;
    let url = format!("{base}/estate");
    let (stable, canary, db) = (
        Topology::row("web", &t.stable.address),
        Topology::row("web", &t.canary.address),
        Topology::row("db", &t.db.address),
    );

    // Every target checked healthy, then what a reader sees.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, page) = get(&url).await;
        assert_eq!(status, 200, "{page}");
        if [&stable, &canary, &db]
            .iter()
            .all(|id| row(&page, id).contains(">healthy<"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "never all healthy:\n{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let dom = chromium(&["--dump-dom"], &url);
    assert!(!dom.contains("<script"), "{dom}");
    assert!(dom.contains("<svg class=\"topology\""), "{dom}");
    let text = visible_text(&dom);
    for expected in [
        "Balancer edge running".to_owned(),
        format!(
            "http :{} http reports path=/reports* forward → web 75%, db 25%",
            t.port
        ),
        format!("http :{} http default * forward → web 100%", t.port),
        "Pool web".to_owned(),
        "Pool db".to_owned(),
        format!("{} healthy 90", t.stable.address),
        format!("{} healthy 10", t.canary.address),
        format!("{} healthy 1", t.db.address),
        "embedded on in-process".to_owned(),
        "not changed by a commit judged here".to_owned(),
    ] {
        assert!(
            text.contains(&expected),
            "the estate lacks {expected:?}:\n{text}"
        );
    }
    let shots = tempfile::tempdir().unwrap();
    let shots = screenshot_dir(shots.path());
    screenshot(&url, &shots.join("estate.png"));

    // The canary's backend dies: unhealthy on the page within the check
    // interval (one failure marks it down), the page's observation at
    // most a second old.
    t.canary.kill();
    let killed = Instant::now();
    let within = Duration::from_millis(CHECK_INTERVAL_MS + 200 + 1000 + 1500);
    loop {
        let (_, _, page) = get(&url).await;
        if row(&page, &canary).contains(">unhealthy<") {
            assert!(row(&page, &stable).contains(">healthy<"));
            break;
        }
        assert!(
            killed.elapsed() < within,
            "the killed target is not unhealthy after {:?}:\n{}",
            killed.elapsed(),
            row(&page, &canary)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = visible_text(&chromium(&["--dump-dom"], &url));
    assert!(
        text.contains(&format!("{} unhealthy", t.canary.address)),
        "{text}"
    );

    // Someone sets the stable target's weight by hand on the data plane.
    let admin = format!("http://{}", t.daemon.admin().await);
    let token = t.admin_token();
    let (status, body) = admin_call("GET", &format!("{admin}/v1/config"), &token, None).await;
    assert_eq!(status, 200, "{body}");
    let mut config = lbops::dataplane::config::DataplaneConfig::parse(&body).unwrap();
    config.version += 1;
    for target in &mut config.pools.get_mut("web").unwrap().targets {
        if target.address.value.to_string() == t.stable.address.to_string() {
            target.weight.value = 40;
        }
    }
    let (status, body) = admin_call(
        "PUT",
        &format!("{admin}/v1/config"),
        &token,
        Some(config.to_json()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let (_, _, page) = get(&url).await;
        if row(&page, &stable).contains("class=\"drift\"") {
            break page;
        }
        assert!(Instant::now() < deadline, "no drift shown:\n{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        row(&page, &stable).contains("(runs 40)"),
        "{}",
        row(&page, &stable)
    );
    assert!(
        !row(&page, &canary).contains("class=\"drift\""),
        "{}",
        row(&page, &canary)
    );
    assert!(
        !row(&page, &db).contains("class=\"drift\""),
        "{}",
        row(&page, &db)
    );
    assert!(page.contains("1 element(s) drifted"), "{page}");
    let dom = chromium(&["--dump-dom"], &url);
    assert!(
        dom.contains(&format!(
            " drift\"><title>{} healthy — drifted",
            t.stable.address
        )),
        "the picture outlines the drifted target:\n{dom}"
    );
    screenshot(&url, &shots.join("estate-drift.png"));
}
