//! OIDC sign-in end to end, against a real OpenID Provider: panva's
//! `oidc-provider` (OpenID-certified), started from
//! `tests/fixtures/oidc/provider.mjs` on 127.0.0.1 with a port the
//! system picks (installed by `scripts/test` into `target/oidc-node`,
//! found through `LBOPS_OIDC_PROVIDER_DIR`). A scripted browser signs in
//! through the real authorization-code + PKCE flow (the provider's own
//! login and consent forms), the daemon's pages show who is signed in,
//! the API answers the provider's ID token as a bearer and the session
//! cookie, sign-out revokes, a key rotation is picked up, and every
//! forged or broken token is refused — as is a person with no git User.

mod common;

use common::estate::{Daemon, PinnedEstate};
use common::Ports;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT_ID: &str = "lbops";
/// The client secret: `scripts/check-test-logs` makes sure no log shows it.
const CLIENT_SECRET: &str = "oidc-test-client-secret-never-logged";
/// The identity provider's SCIM token (the suite's log check knows it).
const SCIM_TOKEN: &str = "scim-test-token-never-logged-0c4f2a9e7d1b3c85";
/// A second client of the same provider: its tokens are not for lbops.
const OTHER_CLIENT: &str = "other-app";

/// The provider, killed when dropped.
struct Provider {
    child: Child,
    issuer: String,
    _dir: tempfile::TempDir,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    /// Starts the provider for the daemon's and the test's redirect URIs.
    fn start(redirect_uris: &[String]) -> Provider {
        let installed = std::env::var_os("LBOPS_OIDC_PROVIDER_DIR").map(PathBuf::from).expect(
            "LBOPS_OIDC_PROVIDER_DIR is not set: run the suite with scripts/test, which installs \
             the pinned oidc-provider into target/oidc-node (or set it to a directory holding \
             that node_modules)",
        );
        assert!(
            installed.join("node_modules/oidc-provider").is_dir(),
            "{} has no node_modules/oidc-provider: run scripts/test",
            installed.display()
        );
        // Node finds packages beside the script: run a copy next to a link.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            installed.join("node_modules"),
            dir.path().join("node_modules"),
        )
        .unwrap();
        let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oidc");
        for file in ["provider.mjs", "package.json"] {
            std::fs::copy(fixtures.join(file), dir.path().join(file)).unwrap();
        }
        let settings = json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": redirect_uris,
            "other_client_id": OTHER_CLIENT,
            "accounts": {
                "alice": {"email": "alice@example.test", "email_verified": true},
                "bob": {"email": "bob@example.test", "email_verified": true},
                "unverified": {"email": "alice@example.test", "email_verified": false},
                "mallory": {"email": "mallory@example.test", "email_verified": true},
            },
        });
        let mut child = Command::new("node")
            .arg(dir.path().join("provider.mjs"))
            .arg(settings.to_string())
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs (Node 20 or later)");
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        // Whatever it prints later is drained, never left to fill a pipe
        // or to break one.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the provider did not start ({e}): {line:?}"));
        Provider {
            child,
            issuer: started["issuer"].as_str().unwrap().to_owned(),
            _dir: dir,
        }
    }

    /// A token with `claims`, signed with the provider's current key.
    async fn sign(&self, claims: &Value) -> String {
        http()
            .post(format!("{}/test/sign", self.issuer))
            .body(claims.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Rotates the provider's signing key; returns the new key's id.
    async fn rotate(&self) -> String {
        let answer: Value = http()
            .post(format!("{}/test/rotate", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["kid"].as_str().unwrap().to_owned()
    }
}

fn http() -> reqwest::Client {
    lbops::report::forge::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A browser: a cookie jar per origin, following redirects by hand and
/// submitting the provider's login and consent forms as a person would.
struct Browser {
    http: reqwest::Client,
    jar: BTreeMap<String, BTreeMap<String, String>>,
}

fn origin(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or_default().to_owned()
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else {
        format!("http://{}{location}", origin(base))
    }
}

/// The query parameter `name` of `url`, percent-decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| decode(v))
    })
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// What a page's first form posts to.
fn form_action(page: &str) -> String {
    let form = &page[page.find("<form").expect("a form")..];
    let action = &form[form.find("action=\"").unwrap() + 8..];
    action[..action.find('"').unwrap()].replace("&amp;", "&")
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: http(),
            jar: BTreeMap::new(),
        }
    }

    fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.jar.get(&origin(url))?.get(name).cloned()
    }

    fn cookie_header(&self, url: &str) -> String {
        self.jar
            .get(&origin(url))
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    fn keep_cookies(&mut self, url: &str, response: &reqwest::Response) {
        let jar = self.jar.entry(origin(url)).or_default();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let gone = value.is_empty()
                || set.to_ascii_lowercase().contains("max-age=0")
                || set.contains("1970");
            if gone {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.to_owned());
            }
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder, url: &str) -> reqwest::Response {
        let cookies = self.cookie_header(url);
        let request = match cookies.is_empty() {
            true => request,
            false => request.header("cookie", cookies),
        };
        let response = request.send().await.unwrap();
        self.keep_cookies(url, &response);
        response
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let request = self.http.get(url);
        self.send(request, url).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let request = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(request, url).await
    }

    /// Follows redirects from `url` as `login`, filling in the provider's
    /// forms, until a redirect goes to a URL starting with `stop` (which
    /// is returned unvisited) or a page answers that is not a form.
    async fn walk(&mut self, url: &str, login: &str, stop: &str) -> Walked {
        let mut url = url.to_owned();
        let mut response = self.get(&url).await;
        for _ in 0..20 {
            if response.status().is_redirection() {
                let location = response.headers()["location"].to_str().unwrap();
                let next = absolute(&url, location);
                if next.starts_with(stop) {
                    return Walked::Stopped(next);
                }
                url = next;
                response = self.get(&url).await;
                continue;
            }
            let status = response.status().as_u16();
            let page = response.text().await.unwrap();
            let action = if page.contains("name=\"login\"") {
                let action = absolute(&url, &form_action(&page));
                response = self
                    .post(
                        &action,
                        &[("prompt", "login"), ("login", login), ("password", "x")],
                    )
                    .await;
                action
            } else if page.contains("value=\"consent\"") {
                let action = absolute(&url, &form_action(&page));
                response = self.post(&action, &[("prompt", "consent")]).await;
                action
            } else {
                return Walked::Page(status, page);
            };
            url = action;
        }
        panic!("more than 20 steps signing in");
    }
}

enum Walked {
    Page(u16, String),
    Stopped(String),
}

/// The estate, the provider, and a daemon signing people in through it.
struct Setup {
    estate: PinnedEstate,
    provider: Provider,
    daemon: Daemon,
    pages: String,
    /// Where the test's own sign-ins are sent back to (nobody listens).
    cli_callback: String,
    /// The daemon's API signing key: a person's writes are commits too.
    _api_key: common::git::SshKey,
    _ports: Ports,
}

impl Setup {
    async fn new(oidc_extra: &str) -> Setup {
        let estate = PinnedEstate::new("").await;
        let ports = Ports::default();
        let pages = format!("http://127.0.0.1:{}", ports.hold());
        let cli_callback = format!("http://127.0.0.1:{}/cli-callback", ports.hold());
        let provider = Provider::start(&[format!("{pages}/auth/callback"), cli_callback.clone()]);
        let secret = estate.dir.path().join("oidc-client-secret");
        std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
        std::fs::write(
            estate.dir.path().join("scim-token"),
            format!("{SCIM_TOKEN}\n"),
        )
        .unwrap();
        let config = std::fs::read_to_string(estate.config_path()).unwrap();
        let listen = pages.trim_start_matches("http://");
        let api_key = common::git::SshKey::new("lbops-api");
        let config = config.replace(
            "api: {listen: '127.0.0.1:0'}",
            &format!(
                "api: {{listen: '{listen}', signing_key_file: '{}'}}",
                api_key.private_key().display()
            ),
        ) + &format!(
            "scim: {{token_file: scim-token}}\noidc: {{issuer: '{}', client_id: {CLIENT_ID}, client_secret_file: '{}', public_url: '{pages}'{oidc_extra}}}\n",
            provider.issuer,
            secret.display()
        );
        std::fs::write(estate.config_path(), config).unwrap();
        let daemon = Daemon::start(&estate.config_path());
        daemon.ready().await;
        Setup {
            estate,
            provider,
            daemon,
            pages,
            cli_callback,
            _api_key: api_key,
            _ports: ports,
        }
    }

    /// Signs `login` in to the daemon in a new browser; the browser and
    /// the page it lands on.
    async fn sign_in(&self, login: &str, page: &str) -> (Browser, u16, String) {
        let mut browser = Browser::new();
        let start = format!("{}{page}", self.pages);
        match browser.walk(&start, login, "\u{0}").await {
            Walked::Page(status, body) => (browser, status, body),
            Walked::Stopped(_) => unreachable!("no stop"),
        }
    }

    /// An ID token for `login`, as an API client gets one: its own
    /// authorization-code + PKCE sign-in as `client` at the provider.
    async fn id_token(&self, login: &str) -> String {
        let mut browser = Browser::new();
        let verifier = lbops::idp::oidc::pkce::value(&rand_bytes());
        let challenge = lbops::idp::oidc::pkce::challenge(&verifier);
        let redirect = &self.cli_callback;
        let authorize = format!(
            "{}/auth?response_type=code&client_id={CLIENT_ID}&redirect_uri={}&scope=openid%20email&state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256",
            self.provider.issuer,
            lbops::daemon::oidc::provider::encode(redirect),
        );
        let Walked::Stopped(back) = browser.walk(&authorize, login, redirect).await else {
            panic!("the provider did not send the code back");
        };
        let code = query_param(&back, "code").expect("a code");
        let form = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={verifier}",
            lbops::daemon::oidc::provider::encode(&code),
            lbops::daemon::oidc::provider::encode(redirect),
        );
        let answer: Value = http()
            .post(format!("{}/token", self.provider.issuer))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no id_token: {answer}"))
            .to_owned()
    }

    async fn api(&self, bearer: Option<&str>, cookie: Option<&str>) -> (u16, Value) {
        let mut request = http().get(format!("{}/v1/pools", self.pages));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Sets the stable target's weight in pool/web, waiting until applied.
    async fn write(&self, bearer: &str, weight: u32) -> (u16, Value) {
        self.call(
            http()
                .put(format!("{}/v1/pools/web/weights?wait=applied", self.pages))
                .json(&json!({"weights": {self.estate.stable.address.to_string(): weight}})),
            bearer,
        )
        .await
    }

    async fn call(&self, request: reqwest::RequestBuilder, bearer: &str) -> (u16, Value) {
        let response = request.bearer_auth(bearer).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A SCIM call as the identity provider makes it; the answer's JSON.
    async fn scim(&self, method: reqwest::Method, path: &str, body: &Value) -> Value {
        let response = http()
            .request(method.clone(), format!("{}/scim/v2{path}", self.pages))
            .bearer_auth(SCIM_TOKEN)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {answer}"
        );
        answer
    }

    /// The identity provider sets the account `id` (in)active.
    async fn set_active(&self, id: &str, active: bool) {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "value": {"active": active}}],
        });
        self.scim(reqwest::Method::PATCH, &format!("/Users/{id}"), &body)
            .await;
    }

    fn claims(&self, changes: Value) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut claims = json!({
            "iss": self.provider.issuer, "aud": CLIENT_ID, "sub": "alice",
            "iat": now - 5, "exp": now + 300,
            "email": "alice@example.test", "email_verified": true,
        });
        for (k, v) in changes.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }
}

fn rand_bytes() -> [u8; 32] {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).unwrap();
    bytes
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_reads_with_a_bearer_or_the_session_and_signs_out() {
    let setup = Setup::new("").await;
    // Not signed in: the pages send the browser to sign in.
    let response = http()
        .get(format!("{}/", setup.pages))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert!(response.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/auth/login"));
    // The probes never need sign-in.
    let response = http()
        .get(format!("{}/healthz", setup.pages))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let (browser, status, page) = setup.sign_in("alice", "/tokens").await;
    assert_eq!(status, 200, "{page}\n{}", setup.daemon.logs());
    assert!(
        page.contains("Signed in as <strong>user/alice</strong>"),
        "{page}"
    );
    assert!(
        page.contains("API tokens"),
        "back on the page asked for: {page}"
    );
    let session = browser
        .cookie(&setup.pages, "lbops_session")
        .expect("a session cookie");
    let cookie = format!("lbops_session={session}");

    // The session reads the API as alice.
    let (status, pools) = setup.api(None, Some(&cookie)).await;
    assert_eq!(status, 200, "{pools}");
    assert!(pools["pools"].as_array().is_some_and(|p| !p.is_empty()));

    // An API client's own ID token from the provider, as a bearer.
    let token = setup.id_token("alice").await;
    let (status, pools) = setup.api(Some(&token), None).await;
    assert_eq!(status, 200, "{pools}\n{}", setup.daemon.logs());
    // A person's write is a commit for their User, signed with the
    // daemon's API key, judged with alice's roles and applied.
    let (status, answer) = setup.write(&token, 50).await;
    assert_eq!(status, 200, "{answer}\n{}", setup.daemon.logs());
    let commit = answer["commit"].as_str().unwrap().to_owned();
    assert_eq!(answer["applied"], json!(commit), "{answer}");
    let repo = &setup.estate.repo;
    assert_eq!(repo.head(), commit);
    let shown = repo.git(
        &["show", "-s", "--format=%an <%ae>|%cn <%ce>|%B", &commit],
        &[],
    );
    assert!(
        shown.starts_with("alice <alice@user.lbops.invalid>|lbops API <api@lbops.invalid>|"),
        "{shown}"
    );
    assert!(
        shown.contains("\nLbops-User: alice\nLbops-Request: ") && !shown.contains("Lbops-Token"),
        "{shown}"
    );
    let notes = repo.git(&["notes", "--ref=lbops", "show", &commit], &[]);
    assert!(notes.contains("lbops/apply: success"), "{notes}");
    // The commit page names her, and how the call was made.
    let page = http()
        .get(format!("{}/commits/{commit}", setup.pages))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<strong>user/alice</strong> — signed in through the identity provider"),
        "{page}"
    );
    // The same weight again: already so, no second commit.
    let (status, answer) = setup.write(&token, 50).await;
    assert_eq!(
        (status, &answer["unchanged"]),
        (200, &json!(true)),
        "{answer}"
    );
    assert_eq!(repo.head(), commit);
    // bob may shift weights of team-web pools, not of the data team's:
    // his own roles, as for his signed commits.
    let bobs = setup.id_token("bob").await;
    let (status, answer) = setup.write(&bobs, 40).await;
    assert_eq!(status, 200, "{answer}\n{}", setup.daemon.logs());
    let bobs_commit = repo.head();
    assert!(repo
        .git(&["show", "-s", "--format=%B", &bobs_commit], &[])
        .contains("Lbops-User: bob"));
    let (status, answer) = setup
        .call(
            http()
                .put(format!("{}/v1/pools/db/weights", setup.pages))
                .json(&json!({"weights": {setup.estate.stable.address.to_string(): 3}})),
            &bobs,
        )
        .await;
    assert_eq!(
        (status, &answer["code"]),
        (403, &json!("forbidden")),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().unwrap().contains("user/bob"),
        "{answer}"
    );
    assert_eq!(repo.head(), bobs_commit);

    // Sign-out revokes the session: the same cookie is nobody now.
    let response = http()
        .post(format!("{}/auth/logout", setup.pages))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cleared = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("lbops_session=;") && cleared.contains("Max-Age=0"));
    let (status, refused) = setup.api(None, Some(&cookie)).await;
    assert_eq!(status, 401, "{refused}");
    let response = http()
        .get(format!("{}/", setup.pages))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);

    // Sign-in and sign-out are audit records, as is each API call; none
    // holds the session id or a token.
    let audit =
        std::fs::read_to_string(setup.estate.dir.path().join("state").join("audit.jsonl")).unwrap();
    let records: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds = |kind: &str, outcome: &str| {
        records
            .iter()
            .filter(|r| r["event"]["kind"] == kind && r["event"]["outcome"] == outcome)
            .count()
    };
    assert!(
        kinds("sign_in", "signed_in") >= 1 && kinds("sign_in", "signed_out") == 1,
        "{audit}"
    );
    assert!(audit.contains("user/alice (oidc)"), "{audit}");
    assert!(!audit.contains(&session) && !audit.contains(&token));
    // The provider rotates its key: a token signed by the new one is
    // accepted once lbops fetched the keys again.
    let kid = setup.provider.rotate().await;
    let token = setup.id_token("alice").await;
    assert!(token_kid(&token) == kid);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, answer) = setup.api(Some(&token), None).await;
        if status == 200 {
            break;
        }
        assert_eq!(answer["code"], "oidc_unknown_key", "{answer}");
        assert!(
            Instant::now() < deadline,
            "the rotated key was never picked up"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // And a sign-in after the rotation works too.
    let (_, status, page) = setup.sign_in("alice", "/").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("user/alice"));
    let _ = &setup.estate;
}

fn token_kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_broken_tokens_are_refused_each_for_its_reason() {
    let setup = Setup::new("").await;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let b64 = |v: &Value| B64.encode(v.to_string());
    let genuine = setup.provider.sign(&setup.claims(json!({}))).await;
    assert_eq!(
        setup.api(Some(&genuine), None).await.0,
        200,
        "the twin is good"
    );
    let kid = token_kid(&genuine);
    let jwks: Value = http()
        .get(format!("{}/jwks", setup.provider.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = jwks["keys"][0].to_string();

    let mut cases: Vec<(&str, String, &str)> = Vec::new();
    let setup = &setup;
    let signed = |changes: Value| {
        let claims = setup.claims(changes);
        async move { setup.provider.sign(&claims).await }
    };
    cases.push((
        "wrong issuer",
        signed(json!({"iss": "https://evil.example"})).await,
        "oidc_wrong_issuer",
    ));
    cases.push((
        "wrong audience",
        signed(json!({"aud": OTHER_CLIENT})).await,
        "oidc_wrong_audience",
    ));
    cases.push((
        "expired",
        signed(json!({"exp": now() - 3600, "iat": now() - 7200})).await,
        "oidc_expired",
    ));
    cases.push((
        "not yet valid",
        signed(json!({"nbf": now() + 3600})).await,
        "oidc_not_yet_valid",
    ));
    let claims = b64(&setup.claims(json!({})));
    let none = format!("{}.{claims}.", b64(&json!({"alg": "none", "kid": kid})));
    cases.push(("alg none", none, "oidc_algorithm"));
    let signing_input = format!("{}.{claims}", b64(&json!({"alg": "HS256", "kid": kid})));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public.as_bytes());
    let mac = ring::hmac::sign(&key, signing_input.as_bytes());
    let hs256 = format!("{signing_input}.{}", B64.encode(mac.as_ref()));
    cases.push(("HS256 with the public key", hs256, "oidc_algorithm"));
    // Signed by a key of our own, naming an id the provider never had.
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ours = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let signing_input = format!(
        "{}.{claims}",
        b64(&json!({"alg": "EdDSA", "kid": "forged-key"}))
    );
    let forged = format!(
        "{signing_input}.{}",
        B64.encode(ours.sign(signing_input.as_bytes()).as_ref())
    );
    cases.push(("unknown kid", forged, "oidc_unknown_key"));
    // The genuine token with its payload changed.
    let mut parts: Vec<String> = genuine.split('.').map(str::to_owned).collect();
    parts[1] = b64(&setup.claims(json!({"sub": "admin", "email": "root@example.test"})));
    cases.push(("payload changed", parts.join("."), "oidc_bad_signature"));
    cases.push((
        "no git User",
        signed(json!({"sub": "mallory", "email": "mallory@example.test"})).await,
        "oidc_no_git_user",
    ));
    cases.push((
        "unverified email",
        signed(json!({"email_verified": false})).await,
        "oidc_no_verified_email",
    ));
    for (what, token, code) in &cases {
        let (status, answer) = setup.api(Some(token), None).await;
        assert_eq!(status, 401, "{what}: {answer}");
        assert_eq!(answer["code"], *code, "{what}: {answer}");
        assert!(
            !answer.to_string().contains(token.as_str()),
            "{what} echoed"
        );
    }
    // The audit log names each refusal and never a token.
    let logs = setup.daemon.logs();
    for (what, token, _) in &cases {
        assert!(!logs.contains(token.as_str()), "{what} is in the log");
    }
    assert!(!logs.contains(&genuine));
    assert!(!logs.contains(CLIENT_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_with_no_git_user_gets_nothing_unless_viewers_are_allowed() {
    // Viewers not allowed (the default): the sign-in itself is refused.
    let setup = Setup::new("").await;
    let (_, status, page) = setup.sign_in("mallory", "/").await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("no User in git answers to"), "{page}");
    let token = setup.id_token("mallory").await;
    let (status, answer) = setup.api(Some(&token), None).await;
    assert_eq!((status, &answer["code"]), (401, &json!("oidc_no_git_user")));
    let (status, answer) = setup.write(&token, 50).await;
    assert_eq!((status, &answer["code"]), (401, &json!("oidc_no_git_user")));
    drop(setup);

    // Viewers allowed, and only some pages need sign-in: the others are
    // open; mallory sees the rest as a viewer, and still can do nothing
    // with the API, reading or writing, by session or by bearer.
    let setup = Setup::new(", allow_viewers: true, require_sign_in: [tokens, metrics]").await;
    let open = http()
        .get(format!("{}/", setup.pages))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status().as_u16(), 200);
    let tokens = http()
        .get(format!("{}/tokens", setup.pages))
        .send()
        .await
        .unwrap();
    assert_eq!(tokens.status().as_u16(), 303);
    let metrics = http()
        .get(format!("{}/metrics", setup.pages))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status().as_u16(), 401);
    let (browser, status, page) = setup.sign_in("mallory", "/tokens").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("API tokens"), "{page}");
    assert!(page.contains("mallory@example.test (viewer)"), "{page}");
    let session = browser.cookie(&setup.pages, "lbops_session").unwrap();
    let (status, answer) = setup
        .api(None, Some(&format!("lbops_session={session}")))
        .await;
    assert_eq!((status, &answer["code"]), (401, &json!("oidc_no_git_user")));
    let token = setup.id_token("mallory").await;
    let (status, _) = setup.write(&token, 50).await;
    assert_eq!(status, 401);
    // The head did not move: nothing was committed for her.
    assert_eq!(setup.estate.repo.head(), setup.estate.first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_the_identity_provider_deactivates_is_refused_on_the_next_request() {
    let setup = Setup::new("").await;
    let (browser, status, page) = setup.sign_in("alice", "/").await;
    assert_eq!(status, 200, "{page}");
    let session = browser.cookie(&setup.pages, "lbops_session").unwrap();
    let cookie = format!("lbops_session={session}");
    let token = setup.id_token("alice").await;
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "alice@example.test",
        "emails": [{"value": "alice@example.test", "primary": true}],
        "active": true,
    });
    let id = setup.scim(reqwest::Method::POST, "/Users", &user).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(setup.api(Some(&token), None).await.0, 200);

    // Deactivated: her bearer, her session and her writes are refused on
    // the very next request, saying why; nothing is committed.
    setup.set_active(&id, false).await;
    for (what, answer) in [
        ("bearer", setup.api(Some(&token), None).await),
        ("session", setup.api(None, Some(&cookie)).await),
        ("write", setup.write(&token, 50).await),
    ] {
        assert_eq!(
            (answer.0, &answer.1["code"]),
            (401, &json!("deprovisioned")),
            "{what}: {}",
            answer.1
        );
        assert!(
            answer.1["message"]
                .as_str()
                .unwrap()
                .contains("deprovisioned by the identity provider at"),
            "{what}: {}",
            answer.1
        );
    }
    let response = http()
        .get(format!("{}/", setup.pages))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_ne!(response.status().as_u16(), 200, "the pages refuse her too");
    assert_eq!(setup.estate.repo.head(), setup.estate.first);

    // Re-activated: exactly what git grants, at once, with the same token.
    setup.set_active(&id, true).await;
    assert_eq!(setup.api(Some(&token), None).await.0, 200);
    assert_eq!(setup.api(None, Some(&cookie)).await.0, 200);
}
